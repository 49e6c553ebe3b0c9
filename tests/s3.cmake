# S3: keys, URLs, credentials and libcurl SigV4 parameters (engine/s3.c), and
# a smoke test of the SigV4-checking S3 server the e2e tests run
# (tests/s3/s3server.js, @20minutes/s3rver 5 under node).
ckptd_unit_test(test_s3 ckd_det)
ckptd_e2e_test(s3_smoke)
ckptd_e2e_test(s3_download)
ckptd_e2e_test(s3_crash_resume)
ckptd_e2e_test(dedup)
# Object-store prefixes as job sources (engine/objects.c, objlist.c): paged
# listings, include/exclude, skips, unsafe keys, against s3rver.
ckptd_e2e_test(objects_s3)
# The store's content hashes (S3 checksums through the stand-in's additions,
# tests/s3/s3server.js): every algorithm checked, a wrong one refused.
ckptd_e2e_test(objects_checksum)
# An object overwritten while it downloads (fault proxy in front of s3rver).
ckptd_e2e_test(objects_changed)
