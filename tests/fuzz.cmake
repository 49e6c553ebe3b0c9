# libFuzzer targets, built with clang when asked (CKPTD_FUZZ=ON): the protocol
# parser, the master's JSON, xxhsum lines, the config parser, object-store
# listings, content-hash headers and URLs, and the archive
# entry path check with the text helpers. Each test runs its target for a
# bounded time (about 20 s; about two minutes in all).
if(CKPTD_FUZZ)
  # Every target below, for CI: cmake --build B --target fuzz_all.
  add_custom_target(fuzz_all)
  function(ckptd_fuzz_target name seconds)
    add_executable(fuzz_${name} fuzz/fuzz_${name}.c)
    add_dependencies(fuzz_all fuzz_${name})
    target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    ckptd_target_defaults(fuzz_${name})
    # New inputs go to the first directory (in the build tree); the committed
    # seeds in the second are only read.
    set(seeds ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus-${name})
    if(name STREQUAL "proto")
      set(seeds ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)
    endif()
    file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus-${name})
    add_test(NAME fuzz.${name} COMMAND fuzz_${name} -max_total_time=${seconds} -max_len=8192
      -rss_limit_mb=1024 ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus-${name} ${seeds})
  endfunction()
  ckptd_fuzz_target(proto 30 ckp)
  ckptd_fuzz_target(det 25 ckd_det)
  ckptd_fuzz_target(xxhsum 20 ckp)
  ckptd_fuzz_target(config 20 ckd)
  ckptd_fuzz_target(path 20 ckp)
  ckptd_fuzz_target(objects 20 ckd_cloud)
endif()
