ckptd_unit_test(test_job ckd)
