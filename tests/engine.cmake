ckptd_unit_test(test_job ckd)
ckptd_unit_test(test_store ckd)
# Cloud signing (engine/sigv4.c, gcs.c, azure.c): AWS's and Microsoft's
# published examples, GOOG4 against independently computed values,
# credentials, names, URLs and request headers.
ckptd_unit_test(test_gcs ckd_cloud)
ckptd_unit_test(test_azure ckd_cloud)
# The fleet cache: presigned URLs (AWS's published example, GOOG4 against
# Google's conformance query and an independent HMAC), routing, rest periods.
ckptd_unit_test(test_cache ckd_cloud)
ckptd_unit_test(test_objlist ckd_cloud)
# Object stores' content hashes (engine/storehash.c): the CRC catalogue's check
# values, independently computed digests, S3 and GCS headers.
ckptd_unit_test(test_storehash ckd_cloud)
# The job core in process: a real loop and store, the test playing the fetch
# source (outcomes through ckd_outcome_report), the copy source for file://.
# Allocations are wrapped so that the test can fail the Nth one.
ckptd_unit_test(test_engine ckd)
target_link_options(test_engine PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup)
# print_stacktrace: the allocation sweep names the function of a crash.
set_tests_properties(unit.test_engine PROPERTIES TIMEOUT 600
  ENVIRONMENT "UBSAN_OPTIONS=print_stacktrace=1")
# The engine's import rules (tests/check_includes.py): no include cycle,
# each .c includes its own header first, no .c over 800 lines, fetch
# sources include nothing of the job core; today's exceptions are listed
# exactly in tests/include_cycles.allow. The checker's own test first.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME lint.check_includes_selftest
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/check_includes.py --self-test)
  add_test(NAME lint.check_includes
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/check_includes.py
      ${PROJECT_SOURCE_DIR}/engine ${CMAKE_CURRENT_SOURCE_DIR}/include_cycles.allow)
endif()
