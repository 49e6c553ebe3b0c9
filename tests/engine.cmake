ckptd_unit_test(test_job ckd)
ckptd_unit_test(test_store ckd)
# Cloud signing (engine/sigv4.c, gcs.c, azure.c): AWS's and Microsoft's
# published examples, GOOG4 against independently computed values,
# credentials, names, URLs and request headers.
ckptd_unit_test(test_gcs ckd_cloud)
ckptd_unit_test(test_azure ckd_cloud)
