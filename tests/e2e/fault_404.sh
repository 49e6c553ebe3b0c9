#!/usr/bin/env bash
# Fault: a 404 fails the job at once (well within a second), without any
# retry, with a message naming the URL; nothing is published. A 403 from the
# proxy (no upstream) behaves the same.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
mkdir -p "$www"
ckt_gen_file "$www/here.bin" 1000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start

ckt_log "404 from nginx"
url=$CKT_PROXY_URL/missing.bin
t0=$(ckt_now)
rc=0
ckpt fetch -o "$CKT_TMP/out" "$url" > "$CKT_TMP/404.out" 2>&1 || rc=$?
took=$(ckt_since "$t0")
cat "$CKT_TMP/404.out"
echo "404 job ended after ${took}s"
[ $rc -ne 0 ] || ckt_fail "fetch of a 404 succeeded"
ckt_check "$took < 1" "a 404 took ${took}s to fail"
grep -q "http 404 for '$url'" "$CKT_TMP/404.out" || ckt_fail "the message does not name the URL"
n=$(ckt_fault_stat "['per_path']['/missing.bin']['requests']")
[ "$n" = 1 ] || ckt_fail "a 404 was requested $n times, expected once (no retry)"
[ "$(grep -c 'GET /missing.bin' "$CKT_NGINX_PREFIX/logs/access.log")" = 1 ] || ckt_fail "nginx saw more than one request"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
[ "$(ckt_job_field "$id" "['state']")" = failed ] || ckt_fail "job not failed"
grep -q "http 404 for '$url'" <(ckt_job_field "$id" "['error']") || ckt_fail "job error does not name the URL"
ckt_job_log_has "$id" retrying && ckt_fail "the job's log shows a retry of a 404"
[ ! -e "$CKT_TMP/out/missing.bin" ] || ckt_fail "something was published"

ckt_log "403 from the proxy, within a set whose other file is fine"
ckt_fault "status=403&path=/here.bin&count=-1"
printf '%s\n  out=a\n%s\n  out=b\n' "$CKT_BASE_URL/here.bin" "$CKT_PROXY_URL/here.bin" > "$CKT_TMP/list"
t0=$(ckt_now)
rc=0
ckpt fetch -o "$CKT_TMP/out2" -i "$CKT_TMP/list" > "$CKT_TMP/403.out" 2>&1 || rc=$?
took=$(ckt_since "$t0")
[ $rc -ne 0 ] || ckt_fail "fetch of a 403 succeeded"
ckt_check "$took < 1" "a 403 took ${took}s to fail"
grep -q "http 403 for '$CKT_PROXY_URL/here.bin'" "$CKT_TMP/403.out" || { cat "$CKT_TMP/403.out"; ckt_fail "403 message"; }
[ "$(ckt_fault_stat "['per_path']['/here.bin']['requests']")" = 1 ] || ckt_fail "a 403 was retried"
[ ! -e "$CKT_TMP/out2/b" ] && [ ! -e "$CKT_TMP/out2/a" ] || ckt_fail "a failed job published files"

ckt_daemon_stop
echo "fault_404: ok"
