ckptd_unit_test(test_proto ckp)
