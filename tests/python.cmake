# The Python client (contrib/python) against a real daemon, nginx and the
# Determined stand-in (its tests: contrib/python/tests/test_client.py).
ckptd_e2e_test(python_client)
