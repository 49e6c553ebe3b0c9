# Fault-injection tests: tests/faultproxy.py (an HTTP proxy that delays, throttles,
# cuts, resets, stalls, corrupts or refuses responses) and its own smoke test.
add_test(NAME e2e.faultproxy_smoke COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/faultproxy_smoke.sh)
set_tests_properties(e2e.faultproxy_smoke PROPERTIES TIMEOUT 120)
