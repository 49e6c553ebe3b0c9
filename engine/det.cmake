# The Determined master's data model: pure parsing and selection, no I/O;
# s3.c: S3 keys, URLs and credentials (reads only the shared credentials file);
# cred_util.c: helpers it shares with gcs.c and azure.c.
# Kept apart from ckd so that unit tests and fuzz targets link only this.
add_library(ckd_det STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/det_parse.c
  ${CMAKE_CURRENT_SOURCE_DIR}/det_parse_ckpt.c
  ${CMAKE_CURRENT_SOURCE_DIR}/det_select.c
  ${CMAKE_CURRENT_SOURCE_DIR}/s3.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cred_util.c
)
target_include_directories(ckd_det PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ckd_det PUBLIC ckp PkgConfig::JANSSON PkgConfig::CURL m)
ckptd_target_defaults(ckd_det)
