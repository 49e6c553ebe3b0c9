#!/usr/bin/env bash
# End to end: kill -9 of the daemon at five random points of a segmented
# 1 GiB download. After each restart the job continues; the final hash equals
# the source; the bytes fetched twice per restart stay within the unjournaled
# window (ranges in flight × (two journal steps + write buffers)).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
size=$((1024 * 1048576))
ckt_gen_file "$www/slow/big.bin" $size
src=$(ckt_xxh128 "$www/slow/big.bin")
ckt_nginx_start "$www" 'location /slow/ { limit_rate 5m; }'
served() { awk '$9 ~ /^20/ {s += $10} END {print s + 0}' "$CKT_NGINX_PREFIX/logs/access.log"; }

step=4194304
ckt_daemon_start
ckpt config set journal_step=$step >/dev/null   # saved: it survives the restarts
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/slow/big.bin")
for k in 1 2 3 4 5; do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.8, 2.2), 2))')"
    ckt_daemon_kill9
    sleep 0.3
    journaled=$(sqlite3 "$CKT_STATE/ckptd.db" "select coalesce(sum(done),0) from segments where job_id=$id")
    nsegs=$(sqlite3 "$CKT_STATE/ckptd.db" "select count(*) from segments where job_id=$id")
    before=$(served)
    ckt_log "kill $k: served $before, journaled $journaled in $nsegs ranges"
    ckt_daemon_start
    state=$(ckpt --json job "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')
    [ "$state" != failed ] || ckt_fail "job failed after restart $k"
    [ "$state" != done ] && [ "$journaled" -lt $size ] || break
done
ckpt watch "$id" > /dev/null || ckt_fail "job did not finish"
[ "$(ckt_xxh128 "$CKT_TMP/out/big.bin")" = "$src" ] || ckt_fail "hash differs after five crashes"
total=$(served)
wasted=$((total - size))
window=$((5 * 16 * (2 * step + 2 * 1048576)))
echo "served $total bytes for a $size-byte file: $wasted fetched twice over 5 crashes (bound $window)"
[ "$wasted" -le "$window" ] || ckt_fail "$wasted bytes fetched twice, beyond the unjournaled window $window"
ckt_daemon_stop
echo "crash_many: ok"
