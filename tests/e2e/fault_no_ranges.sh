#!/usr/bin/env bash
# Fault: a file interrupted mid-body on a server that turns out not to
# support ranges (Range ignored, whole body again) is restarted from zero:
# the final bytes are correct, with no mix of the two answers, and the job's
# log says it restarted.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
size=12000000
ckt_gen_file "$www/a.bin" $size
ckt_gen_file "$www/seg.bin" 40000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start

ckt_log "single stream: cut after 5 MB, then ranges are ignored"
ckt_fault "cut_after=5000000&strip_range=1&path=/a.bin"
ckt_fault "strip_range=1&count=-1"
ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/a.bin" > "$CKT_TMP/fetch.out" 2>&1 \
    || { cat "$CKT_TMP/fetch.out"; ckt_fail "fetch without range support failed"; }
[ "$(ckt_xxh128 "$CKT_TMP/out/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "content differs"
[ "$(stat -c %s "$CKT_TMP/out/a.bin")" = $size ] || ckt_fail "size differs"
awk '$7 == "/a.bin" && $9 != 200 { bad = 1 } END { exit bad }' "$CKT_NGINX_PREFIX/logs/access.log" \
    || ckt_fail "nginx answered a range although the proxy stripped it"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
ckt_job_log "$id" > "$CKT_TMP/job.log"
cat "$CKT_TMP/job.log"
grep -q "restarting 'a.bin' from zero" "$CKT_TMP/job.log" || ckt_fail "the job's log does not say the file restarted"
sent=$(ckt_fault_stat "['bytes_sent']")
echo "$sent bytes sent for $size"
[ "$sent" -ge $((size + 5000000)) ] || ckt_fail "only $sent bytes sent: the file cannot have restarted from zero"

ckt_log "ranged file (segment_threshold lowered) on a server without ranges"
ckt_fault_clear
ckpt config set segment_threshold=8388608 > /dev/null
ckt_fault "strip_range=1&count=-1"
ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/seg.bin" > "$CKT_TMP/seg.out" 2>&1 \
    || { cat "$CKT_TMP/seg.out"; ckt_fail "ranged fetch without range support failed"; }
[ "$(ckt_xxh128 "$CKT_TMP/out/seg.bin")" = "$(ckt_xxh128 "$www/seg.bin")" ] || ckt_fail "seg.bin content differs"

ckt_daemon_stop
echo "fault_no_ranges: ok"
