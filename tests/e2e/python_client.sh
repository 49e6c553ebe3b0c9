#!/usr/bin/env bash
# The Python client (contrib/python, package ckptd) against the real daemon,
# nginx and the Determined stand-in: submit, wait with progress, an error per
# exception type, a checkpoint download, latest_path while a prefetch moves
# the pointer. The test itself is contrib/python/tests/test_client.py.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
cd "$CKT_TMP"
mkdir -p www
ckt_gen_file www/big.bin $((16 * 1024 * 1024))
ckt_gen_file www/small.bin 1000
ckt_nginx_start "$CKT_TMP/www"
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
export CKPTD_SOCKET=$CKT_SOCK CKT_BASE_URL CKT_DET_URL CKT_TMP
PYTHONPATH=$CKPT_SRC/contrib/python:$CKPT_SRC/contrib/python/tests python3 -B -m unittest -v test_client 2> py.log ||
    { cat py.log; ckt_fail "the python client's tests failed"; }
cat py.log
grep -q "^OK$" py.log || ckt_fail "unittest did not report OK"
grep -q "skipped" py.log && ckt_fail "a test was skipped"
ckt_daemon_stop
echo "python_client: ok"
