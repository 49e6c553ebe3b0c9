# Determined resolution: the pure parser/selection unit test, and a smoke
# test of the master stand-in (tests/detmaster/detmaster.py) driven by curl.
ckptd_unit_test(test_det ckd_det)

# A plain add_test rather than ckptd_e2e_test: the stand-in needs neither
# ckptd nor ckpt, so this test must not depend on those targets existing.
add_test(NAME e2e.detmaster_smoke
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/detmaster_smoke.sh)
set_tests_properties(e2e.detmaster_smoke PROPERTIES
  ENVIRONMENT "CKPT_SRC=${PROJECT_SOURCE_DIR};CKPT_BUILD=${PROJECT_BINARY_DIR}"
  TIMEOUT 120)

# The pins file (engine/pins.c): the reading rule shared by `ckpt pin` and
# prefetch retention.
ckptd_unit_test(test_pins ckd)
ckptd_e2e_test(det_parity)
# Master and login per command (-m/--master, DET_MASTER, det's token store,
# DET_USER with DET_PASS, DET_MASTER_CERT_FILE): three stand-ins, one daemon.
ckptd_e2e_test(det_login)
