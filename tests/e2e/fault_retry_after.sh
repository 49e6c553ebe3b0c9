#!/usr/bin/env bash
# Fault: a 503 with "Retry-After: 2" is retried after the time the server
# asked for, not before; the job completes with correct bytes and its log
# tells about the retry.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/a.bin" 2000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start

# Record when each request reaches the proxy (its stats have no times): a
# poller that prints "N TIME" when the request count becomes N, starting
# with "0 TIME" once it polls, before anything is fetched.
python3 - "$CKT_FAULT_URL/_fault/stats" > "$CKT_TMP/arrivals" <<'PY' &
import json, sys, time, urllib.request
seen, end = -1, time.time() + 20
while time.time() < end and seen < 2:
    n = json.load(urllib.request.urlopen(sys.argv[1]))["requests"]
    if n > seen:
        print(n, time.time(), flush=True)
        seen = n
    time.sleep(0.005)
PY
poller=$!
CKT_PIDS+=("$poller")
for _ in $(seq 1 100); do [ -s "$CKT_TMP/arrivals" ] && break; sleep 0.05; done
[ "$(head -c 2 "$CKT_TMP/arrivals")" = "0 " ] || ckt_fail "the request poller did not start"

ckt_log "503 + Retry-After: 2, then the real file"
ckt_fault "status=503&retry_after=2&path=/a.bin"
t0=$(ckt_now)
ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/a.bin" > "$CKT_TMP/fetch.out" 2>&1 \
    || { cat "$CKT_TMP/fetch.out"; ckt_fail "fetch after a 503 failed"; }
took=$(ckt_since "$t0")
wait "$poller" || true
[ "$(ckt_xxh128 "$CKT_TMP/out/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "content differs"
[ "$(ckt_fault_stat "['per_path']['/a.bin']['requests']")" = 2 ] || ckt_fail "expected exactly 2 requests (503, then 200)"
gap=$(awk '$1 == 1 { a = $2 } $1 == 2 { printf "%.2f", $2 - a }' "$CKT_TMP/arrivals")
echo "fetch took ${took}s; second request ${gap:-?}s after the first"
[ -n "$gap" ] || ckt_fail "did not see two requests arrive"
ckt_check "$gap >= 1.8" "second request came ${gap}s after the first, before Retry-After's 2 s"
ckt_check "$gap <= 4" "second request came ${gap}s after the first: waited far longer than asked"
ckt_check "$took >= 1.8" "fetch took only ${took}s"

id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
ckt_job_log "$id" > "$CKT_TMP/job.log"
grep -q "retrying 'a.bin' in 2.0s.*http 503" "$CKT_TMP/job.log" \
    || { cat "$CKT_TMP/job.log"; ckt_fail "the job's log does not tell about the retry after 2 s"; }

ckt_log "a 429 without Retry-After is retried with back-off"
ckt_fault "status=429&path=/a.bin"
ckpt fetch -o "$CKT_TMP/out429" "$CKT_PROXY_URL/a.bin" > /dev/null 2>&1 || ckt_fail "fetch after a 429 failed"
[ "$(ckt_xxh128 "$CKT_TMP/out429/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "content differs after 429"

ckt_daemon_stop
echo "fault_retry_after: ok"
