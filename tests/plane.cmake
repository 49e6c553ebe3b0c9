# The data plane (engine/plane.c): tests/unit/test_plane.c against nginx and
# tests/faultproxy.py, started by tests/e2e/plane.sh.
add_executable(test_plane unit/test_plane.c)
target_include_directories(test_plane PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_plane PRIVATE ckd)
ckptd_target_defaults(test_plane)
add_test(NAME e2e.plane COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/plane.sh)
set_tests_properties(e2e.plane PROPERTIES
  ENVIRONMENT "TEST_PLANE=$<TARGET_FILE:test_plane>;CKPT_SRC=${PROJECT_SOURCE_DIR}"
  TIMEOUT 300)
# bench/plane_bench.c: the plane alone against nginx (bench/plane_bench.sh).
add_executable(plane_bench ${PROJECT_SOURCE_DIR}/bench/plane_bench.c)
target_link_libraries(plane_bench PRIVATE ckd)
ckptd_target_defaults(plane_bench)
