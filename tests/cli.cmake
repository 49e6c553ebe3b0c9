# The client's pure logic: input lists, URL file names, output directories.
ckptd_unit_test(test_cli_input ckc_input)
# det's output forms: tables, JSON, report times, resource sizes.
ckptd_unit_test(test_cli_det ckc_det)
# Checksum lines for ckpt verify: GNU, BSD, escapes, bad and 64-bit hashes.
ckptd_unit_test(test_cli_verify ckp)
ckptd_e2e_test(verify_seal)
