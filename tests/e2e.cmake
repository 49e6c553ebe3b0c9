ckptd_e2e_test(fetch_basic)
ckptd_e2e_test(watch_control)
ckptd_e2e_test(crash_resume)
ckptd_e2e_test(protocol_abuse)
