#!/usr/bin/env bash
# Fault: servers that make a file start again from zero, over and over — a
# new ETag on every response, a 206 whose total changes on every request, a
# 200 that is cut and then ignores ranges. Each restart waits a back-off
# with jitter, and after CKD_RESTART_MAX (5) restarts the file fails with a
# message naming the cause; the proxy counts the requests (before the
# budget such a server got thousands of requests a minute, never failing).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/big.bin" 24000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start
# Files of 8 MiB and more are split into ranges while their first stream runs.
ckpt config set segment_threshold=8388608 split_below=0 > /dev/null

# run NAME RULE CAUSE: fetch big.bin under RULE (always armed); the job must
# fail within 90 s naming CAUSE, after at most 6 starts from zero.
run() {
    local name=$1 rule=$2 cause=$3 id state t0
    ckt_log "$name"
    ckt_fault_clear
    ckt_fault "$rule&count=-1"
    t0=$(ckt_now)
    id=$(ckpt fetch --detach -o "$CKT_TMP/$name" "$CKT_PROXY_URL/big.bin")
    state=$(ckt_job_wait "$id" 90)
    local took requests
    took=$(ckt_since "$t0")
    requests=$(ckt_fault_stat "['requests']")
    ckt_job_log "$id" > "$CKT_TMP/$name.log"
    local error
    error=$(ckt_job_field "$id" "['error']")
    echo "$name: $state after ${took}s, $requests requests: $error"
    [ "$state" = failed ] || { cat "$CKT_TMP/$name.log"; ckt_fail "$name: job $state"; }
    grep -q "after 5 restarts from zero" <<< "$error" || ckt_fail "$name: the error does not say the restarts ran out"
    grep -q -- "$cause" <<< "$error" || ckt_fail "$name: the error does not name the cause ($cause)"
    local restarts
    restarts=$(grep -c "restarting 'big.bin' from zero in" "$CKT_TMP/$name.log" || true)
    [ "$restarts" -eq 5 ] || { cat "$CKT_TMP/$name.log"; ckt_fail "$name: $restarts restarts logged, expected 5"; }
    # Six starts from zero, each a stream and a few ranges (and a retry or two).
    ckt_check "$requests <= 80" "$name: $requests requests: the server was hammered"
    [ ! -e "$CKT_TMP/$name/big.bin" ] || ckt_fail "$name: a file was published"
}

# Every stream is cut, so a resume (a range with If-Range) is always needed.
run etag "etag_churn=1&cut_after=5000000" "changed on the server"
run total "rate=4000000&total_churn=1" "changed size"
run norange "strip_range=1&cut_after=2000000" "ignored the range"

ckt_log "a resume gets a fresh budget: the server behaves again, the file completes"
ckt_fault_clear
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
ckpt resume "$id" > /dev/null
[ "$(ckt_job_wait "$id" 60)" = done ] || ckt_fail "the resumed job did not finish"
[ "$(ckt_xxh128 "$CKT_TMP/norange/big.bin")" = "$(ckt_xxh128 "$www/big.bin")" ] || ckt_fail "content differs"
ckt_daemon_stop
echo "fault_restart_budget: ok"
