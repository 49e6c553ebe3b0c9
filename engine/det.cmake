# The Determined master's data model: pure parsing and selection, no I/O.
# Kept apart from ckd so that unit tests and fuzz targets link only this.
add_library(ckd_det STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/det_parse.c
  ${CMAKE_CURRENT_SOURCE_DIR}/det_select.c
)
target_include_directories(ckd_det PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ckd_det PUBLIC ckp PkgConfig::JANSSON m)
ckptd_target_defaults(ckd_det)
