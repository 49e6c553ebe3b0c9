# Fault tests of the transfer engine: nginx behind tests/faultproxy.py, the
# daemon driven by ckpt, final bytes checked with xxh128 (tests/lib/fault.sh).
ckptd_e2e_test(fault_retry_after)
ckptd_e2e_test(fault_404)
ckptd_e2e_test(fault_cut_resume)
ckptd_e2e_test(fault_stall)
ckptd_e2e_test(fault_no_ranges)
ckptd_e2e_test(fault_file_changed)
ckptd_e2e_test(fault_flip_byte)
ckptd_e2e_test(fault_enospc)
ckptd_e2e_test(fault_control)
ckptd_e2e_test(fault_parallel)
ckptd_e2e_test(fault_bandwidth)
ckptd_e2e_test(fault_restart_budget)
