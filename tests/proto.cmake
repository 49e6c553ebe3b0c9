ckptd_unit_test(test_proto ckp)
# det's master URL form, token store and login choice (proto/detlogin.c).
ckptd_unit_test(test_detlogin ckp)
