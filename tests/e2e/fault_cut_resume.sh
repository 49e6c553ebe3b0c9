#!/usr/bin/env bash
# Fault: a connection closed (FIN) or reset (RST) mid-body is retried with a
# Range request from where it stopped: the job completes with correct bytes
# and the server sends about one file's worth of bytes, not one and a half.
# Both for a single stream and for a file fetched in ranges.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
size=16000000
ckt_gen_file "$www/cut.bin" $size
ckt_gen_file "$www/reset.bin" $size
ckt_gen_file "$www/seg.bin" 40000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start
# Bytes the proxy wrote but the daemon never got (a reset discards what sits
# in socket buffers) come twice: allow some per fault. Every fault comes well
# after this many bytes, so a retry from zero would exceed it.
slack=4718592

# case NAME RULE: fetch NAME through the proxy with RULE armed once.
case_one() {
    local name=$1 rule=$2 fsize
    fsize=$(stat -c %s "$www/$name")
    ckt_log "$name with $rule"
    ckt_fault_clear
    ckt_fault "$rule&path=/$name"
    ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/$name" > "$CKT_TMP/$name.out" 2>&1 \
        || { cat "$CKT_TMP/$name.out"; ckt_fail "$name: fetch failed"; }
    [ "$(ckt_xxh128 "$CKT_TMP/out/$name")" = "$(ckt_xxh128 "$www/$name")" ] || ckt_fail "$name: content differs"
    local sent reqs ranges id
    sent=$(ckt_fault_stat "['bytes_sent']")
    reqs=$(ckt_fault_stat "['requests']")
    ranges=$(ckt_fault_stat "['range_requests']")
    id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
    echo "$name: $reqs requests, $ranges with Range, $sent bytes sent for $fsize"
    [ "$(curl -sf "$CKT_FAULT_URL/_fault/rules")" = "[]" ] || ckt_fail "$name: the fault never fired"
    [ "$reqs" -ge 2 ] || ckt_fail "$name: no retry request"
    [ "$ranges" = "$reqs" ] || ckt_fail "$name: a request without Range ($ranges of $reqs had one)"
    # Every answer was a range (206), none the whole file again (200); with
    # the byte count below that proves the retry continued where it stopped.
    awk -v p="/$name" '$7 == p && $9 != 206 { bad = 1 } END { exit bad }' "$CKT_NGINX_PREFIX/logs/access.log" \
        || ckt_fail "$name: nginx answered a request with something else than 206"
    [ "$sent" -le $((fsize + slack)) ] || ckt_fail "$name: $sent bytes sent for a $fsize-byte file: refetched from zero?"
    ckt_job_log_has "$id" "retrying '$name'" || ckt_fail "$name: the job's log does not mention the retry"
    ckt_job_log_has "$id" "from zero" && ckt_fail "$name: the file was restarted from zero"
    return 0
}

case_one cut.bin "cut_after=8000000"
case_one reset.bin "reset_after=8000000"
# Two ranges of 20 MB (the stream is split while it runs).
ckpt config set segment_threshold=8388608 max_segments=2 split_below=0 > /dev/null
case_one seg.bin "cut_after=10000000"
ckt_fault_clear
ckt_fault "reset_after=8000000&path=/seg.bin&count=3"
ckt_log "seg.bin with three resets"
rm -rf "$CKT_TMP/out/seg.bin"
ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/seg.bin" > /dev/null 2>&1 || ckt_fail "seg.bin: fetch after 3 resets failed"
[ "$(ckt_xxh128 "$CKT_TMP/out/seg.bin")" = "$(ckt_xxh128 "$www/seg.bin")" ] || ckt_fail "seg.bin: content differs after 3 resets"
sent=$(ckt_fault_stat "['bytes_sent']")
[ "$sent" -le $((40000000 + 3 * slack)) ] || ckt_fail "seg.bin: $sent bytes sent after 3 resets"

ckt_daemon_stop
echo "fault_cut_resume: ok"
