# The protocol parser's fuzz target, built with clang's libFuzzer when asked.
if(CKPTD_FUZZ)
  add_executable(fuzz_proto fuzz/fuzz_proto.c)
  target_link_libraries(fuzz_proto PRIVATE ckp)
  target_compile_options(fuzz_proto PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_proto PRIVATE -fsanitize=fuzzer,address,undefined)
  ckptd_target_defaults(fuzz_proto)
  # New inputs go to the first directory (in the build tree); the committed
  # seeds in the second are only read.
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus)
  add_test(NAME fuzz.proto COMMAND fuzz_proto -max_total_time=30 -max_len=8192
    -rss_limit_mb=1024 ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)
endif()
