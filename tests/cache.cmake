# The fleet cache tier: real nginx running contrib/nginx-cache.conf in front
# of an nginx origin, s3rver or Azurite (service SAS from an account key); unit tests of presigning and routing are in
# engine.cmake (test_cache).
ckptd_e2e_test(cache_fleet)
ckptd_e2e_test(cache_fallback)
ckptd_e2e_test(cache_s3)
ckptd_e2e_test(cache_azure)
ckptd_e2e_test(cache_master)
ckptd_e2e_test(cache_keys)
