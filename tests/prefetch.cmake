# GPU-node prefetch (follow jobs): the Determined stand-in, ckptd and ckpt.
# tests/e2e/prefetch_lib.sh holds their shared helpers (not a test).
ckptd_e2e_test(prefetch_follow)
ckptd_e2e_test(prefetch_restart)
ckptd_e2e_test(prefetch_master_down)
ckptd_e2e_test(prefetch_pin)
ckptd_e2e_test(prefetch_budget)
ckptd_e2e_test(prefetch_redownload)
ckptd_e2e_test(prefetch_priority)
