#!/usr/bin/env bash
# Transfers run in parallel from the first second: each response is paced at
# 1 MB/s by the proxy, so N connections must move about N MB/s. Once for a
# file of known size fetched in 4 ranges, once for 8 small files in one job,
# each time against a host the daemon has not talked to yet (a new proxy).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/seg.bin" 16777216
for i in 1 2 3 4 5 6 7 8; do ckt_gen_file "$www/small/f$i" 2000000; done
ckt_nginx_start "$www"
ckt_daemon_start
ckpt config set segment_threshold=8388608 max_segments=4 > /dev/null

# fresh: a new proxy (a new host:port for the daemon), every response paced.
fresh() {
    [ -z "${CKT_PROXY_PID:-}" ] || kill "$CKT_PROXY_PID" 2>/dev/null || true
    rm -f "$CKT_TMP/proxy.port" "$CKT_TMP/control.port"
    ckt_proxy_start
    ckt_fault "rate=1000000&count=-1"
}

# run LIST WHAT: 16 MB over 4 (or 8) connections at 1 MB/s each: after 2 s
# twice what one connection moves must have arrived, and all of it in far
# less than one connection would take. Both cases run before any verdict.
bad=()
run() {
    local list=$1 what=$2 id t0 b2 took st
    t0=$(ckt_now)
    id=$(ckpt fetch --detach -o "$CKT_TMP/out-$what" -i "$list")
    sleep 2
    b2=$(ckt_fault_stat "['bytes_sent']")
    st=$(ckt_job_wait "$id" 25)
    took=$(ckt_since "$t0")
    echo "$what: $b2 bytes after 2 s; $st after ${took}s"
    [ "$st" = done ] || ckt_fail "$what: job $st"
    [ "$b2" -ge 4000000 ] || bad+=("$what: only $b2 bytes in the first 2 s at 1 MB/s per connection: the transfers did not run in parallel")
    awk "BEGIN { exit !($took < 7.5) }" || bad+=("$what: took ${took}s for 16 MB over several 1 MB/s connections")
}

ckt_log "known size, 4 ranges"
fresh
printf '%s\n  out=seg.bin\n  size=16777216\n' "$CKT_PROXY_URL/seg.bin" > "$CKT_TMP/list1"
run "$CKT_TMP/list1" ranges
[ "$(ckt_xxh128 "$CKT_TMP/out-ranges/seg.bin")" = "$(ckt_xxh128 "$www/seg.bin")" ] || ckt_fail "seg.bin differs"

ckt_log "8 files of 2 MB in one job"
fresh
for i in 1 2 3 4 5 6 7 8; do printf '%s\n  out=f%s\n' "$CKT_PROXY_URL/small/f$i" $i; done > "$CKT_TMP/list2"
run "$CKT_TMP/list2" files
for i in 1 2 3 4 5 6 7 8; do
    [ "$(ckt_xxh128 "$CKT_TMP/out-files/f$i")" = "$(ckt_xxh128 "$www/small/f$i")" ] || ckt_fail "f$i differs"
done

ckt_daemon_stop
[ ${#bad[@]} = 0 ] || ckt_fail "$(printf '%s; ' "${bad[@]}")"
echo "fault_parallel: ok"
