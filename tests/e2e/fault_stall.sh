#!/usr/bin/env bash
# Fault: a server that stops sending mid-body but keeps the connection open
# is detected by low_speed_limit/low_speed_time, dropped and retried with a
# Range request; the job completes with correct bytes.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
size=10000000
ckt_gen_file "$www/a.bin" $size
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start
ckpt config set low_speed_time=2 > /dev/null
[ "$(ckpt --json config | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["low_speed_time"])')" = 2 ] \
    || ckt_fail "low_speed_time not set"

ckt_log "stall after 3 MB, once"
ckt_fault "stall_after=3000000&path=/a.bin"
t0=$(ckt_now)
ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/a.bin" > "$CKT_TMP/fetch.out" 2>&1 \
    || { cat "$CKT_TMP/fetch.out"; ckt_fail "fetch after a stall failed"; }
took=$(ckt_since "$t0")
[ "$(ckt_xxh128 "$CKT_TMP/out/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "content differs"
reqs=$(ckt_fault_stat "['per_path']['/a.bin']['requests']")
sent=$(ckt_fault_stat "['bytes_sent']")
echo "took ${took}s; $reqs requests; $sent bytes sent for $size"
ckt_check "$took >= 1.8" "finished in ${took}s: the stall was not waited out (low_speed_time=2)"
# libcurl judges the speed over its last ~5 s of samples, so after a fast
# burst a stall is seen about 5 s + low_speed_time later, not at once.
ckt_check "$took < 14" "took ${took}s: the stall was not detected after low_speed_time=2"
[ "$reqs" = 2 ] || ckt_fail "expected 2 requests (stalled, then resumed), saw $reqs"
[ "$sent" -le $((size + 1048576)) ] || ckt_fail "$sent bytes sent: the retry started from zero"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
ckt_job_log "$id" > "$CKT_TMP/job.log"
grep -q "retrying 'a.bin'" "$CKT_TMP/job.log" || { cat "$CKT_TMP/job.log"; ckt_fail "the job's log does not mention the retry"; }
grep -qi "too slow\|timed out\|timeout" "$CKT_TMP/job.log" || { cat "$CKT_TMP/job.log"; ckt_fail "the job's log does not say the transfer was too slow"; }

cat "$CKT_TMP/job.log"
ckt_log "a stall at the very first byte is detected too"
ckt_fault_clear
ckt_fault "stall_after=0&path=/a.bin"
t0=$(ckt_now)
ckpt fetch -o "$CKT_TMP/out0" "$CKT_PROXY_URL/a.bin" > /dev/null 2>&1 || ckt_fail "fetch after a stall at 0 failed"
[ "$(ckt_xxh128 "$CKT_TMP/out0/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "content differs (stall at 0)"
took=$(ckt_since "$t0")
echo "stall at byte 0: took ${took}s"
ckt_check "$took >= 1.8 && $took < 6" "stall at byte 0: took ${took}s with low_speed_time=2"

ckpt config set low_speed_time=10 > /dev/null
ckt_daemon_stop
echo "fault_stall: ok"
