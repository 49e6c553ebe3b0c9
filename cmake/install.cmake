# Install and package: `cmake --install build [--prefix P]` and `cpack -G DEB`.
# Every destination is relative to the install prefix, so --prefix at install
# time (and CPack's /usr) moves everything, systemd units included.
include(GNUInstallDirs)

install(TARGETS ckptd ckpt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# systemd unit directories: systemd.pc's, relative to its prefix; else the
# places systemd searches under any prefix.
function(ckptd_systemd_dir var pcvar fallback)
  set(dir ${fallback})
  if(PKG_CONFIG_FOUND)
    execute_process(
      COMMAND ${PKG_CONFIG_EXECUTABLE} --define-variable=prefix=/PREFIX
              --define-variable=root_prefix=/PREFIX --define-variable=rootprefix=/PREFIX
              --variable=${pcvar} systemd
      OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND out MATCHES "^/PREFIX/(.+)$")
      set(dir ${CMAKE_MATCH_1})
    endif()
  endif()
  set(${var} ${dir} CACHE STRING "systemd ${pcvar}, relative to the install prefix")
  message(STATUS "ckptd: ${pcvar}: <prefix>/${${var}}")
endfunction()
ckptd_systemd_dir(CKPTD_SYSTEMD_USER_UNIT_DIR systemduserunitdir lib/systemd/user)
ckptd_systemd_dir(CKPTD_SYSTEMD_SYSTEM_UNIT_DIR systemdsystemunitdir lib/systemd/system)

# The units name the installed ckptd: filled in at install time, when the
# prefix is final.
set(units_in ${PROJECT_SOURCE_DIR}/contrib)
set(units_out ${PROJECT_BINARY_DIR}/units)
install(CODE "
  set(CKPTD_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  configure_file(\"${units_in}/ckptd.service.in\" \"${units_out}/ckptd.service\" @ONLY)
  configure_file(\"${units_in}/ckptd@.service.in\" \"${units_out}/ckptd@.service\" @ONLY)
")
install(FILES ${units_out}/ckptd.service ${units_in}/ckptd.socket
        DESTINATION ${CKPTD_SYSTEMD_USER_UNIT_DIR})
install(FILES ${units_out}/ckptd@.service ${units_in}/ckptd@.socket
        DESTINATION ${CKPTD_SYSTEMD_SYSTEM_UNIT_DIR})

# Shell completion.
set(CKPTD_BASH_COMPLETION_DIR ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
    CACHE STRING "bash completions, relative to the install prefix")
set(CKPTD_ZSH_COMPLETION_DIR ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions
    CACHE STRING "zsh completions, relative to the install prefix")
install(FILES contrib/completion/ckpt.bash DESTINATION ${CKPTD_BASH_COMPLETION_DIR} RENAME ckpt)
install(FILES contrib/completion/_ckpt DESTINATION ${CKPTD_ZSH_COMPLETION_DIR})

# Man pages: scdoc sources, turned into roff by the build (gzip'd as Debian
# keeps them).
find_program(SCDOC scdoc)
find_program(GZIP gzip)
if(SCDOC AND GZIP)
  set(pages)
  foreach(page ckpt.1 ckptd.8)
    string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
    set(src ${PROJECT_SOURCE_DIR}/contrib/man/${page}.scd)
    set(out ${PROJECT_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND ${SCDOC} < ${src} > ${out}
      COMMAND ${GZIP} -9nf -k ${out}
      DEPENDS ${src} VERBATIM)
    list(APPEND pages ${out}.gz)
    install(FILES ${out}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(man ALL DEPENDS ${pages})
else()
  message(STATUS "ckptd: scdoc (or gzip) not found: man pages are not built or installed "
                 "(apt-get install scdoc)")
endif()

# Docs.
install(FILES README.md ARCHITECTURE.md proto/PROTOCOL.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES contrib/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME README.contrib.md)
install(FILES contrib/config.json.example DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        RENAME config.json)

# cpack -G DEB: the runtime libraries' packages come from dpkg-shlibdeps
# (dpkg-dev); no hand-written file or dependency lists.
set(CPACK_PACKAGE_NAME ckptd)
set(CPACK_PACKAGE_VENDOR "ckptd")
set(CPACK_PACKAGE_CONTACT "ckptd maintainers <ckptd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "checkpoint download daemon (ckptd) and its client (ckpt)")
set(CPACK_PACKAGE_DESCRIPTION
    "A node-local daemon that downloads ML training checkpoints (Determined) and files: "
    "concurrent, resumable, checksummed (XXH3-128), published atomically, driven over a "
    "private Unix socket by the thin client ckpt.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "xxhash")
set(CPACK_STRIP_FILES ON)
include(CPack)
