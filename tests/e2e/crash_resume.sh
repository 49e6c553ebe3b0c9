#!/usr/bin/env bash
# End to end: kill -9 of the daemon mid-job, then a restart, finishes the
# job with correct bytes, fetching again only what was not journaled; a
# corrupted journaled range is detected and refetched; SIGTERM exits 0.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
size=48000000
ckt_gen_file "$www/slow/big.bin" $size
ckt_nginx_start "$www" 'location /slow/ { limit_rate 1m; }'
src=$(ckt_xxh128 "$www/slow/big.bin")
bytes_served() { awk '$9 ~ /^20/ {s += $10} END {print s + 0}' "$CKT_NGINX_PREFIX/logs/access.log"; }

ckt_daemon_start
# Small ranges and a small journal step, so a slow server shows many of both.
ckpt config set journal_step=1048576 segment_threshold=8388608 >/dev/null
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/slow/big.bin")
sleep 1.5
ckt_log "kill -9 mid-download"
ckt_daemon_kill9
sleep 0.3   # nginx logs the cut requests when it notices
before=$(bytes_served)
journaled=$(sqlite3 "$CKT_STATE/ckptd.db" "select coalesce(sum(done),0) from segments where job_id=$id")
nsegs=$(sqlite3 "$CKT_STATE/ckptd.db" "select count(*) from segments where job_id=$id")
[ "$journaled" -gt 0 ] || ckt_fail "nothing was journaled before the crash"
[ "$journaled" -lt $size ] || ckt_fail "the crash came too late to test anything"

ckt_log "restart: the job continues from its journal"
ckt_daemon_start
ckpt watch "$id" >/dev/null || ckt_fail "job did not finish after restart"
[ "$(ckt_xxh128 "$CKT_TMP/out/big.bin")" = "$src" ] || ckt_fail "hash differs after resume"
after=$(bytes_served)
refetched=$((after - before))
max=$((size - journaled))
# Bytes served twice: what was in flight or written but not yet journaled.
wasted=$((after - size))
window=$((nsegs * (2 * 1048576 + 4194304)))
echo "ranges: $nsegs; journaled before crash: $journaled; served before: $before; after restart: $refetched; served twice: $wasted (window $window)"
[ "$refetched" -le "$max" ] || ckt_fail "fetched $refetched bytes again, more than the $max not journaled"
[ "$wasted" -le "$window" ] || ckt_fail "$wasted bytes fetched twice, beyond the unjournaled window $window"

ckt_log "a corrupted journaled range is detected and refetched"
ckt_gen_file "$www/slow/c.bin" 40000000
src_c=$(ckt_xxh128 "$www/slow/c.bin")
ckpt config set journal_step=1048576 segment_threshold=8388608 >/dev/null
id=$(ckpt fetch --detach -o "$CKT_TMP/outc" "$CKT_BASE_URL/slow/c.bin")
sleep 1.5
ckt_daemon_stop     # graceful: journals what is on disk
row=$(sqlite3 "$CKT_STATE/ckptd.db" "select start, done from segments where job_id=$id and done > 0 limit 1")
[ -n "$row" ] || ckt_fail "no journaled range to corrupt"
start=${row%|*}
python3 - "$(ckt_staging "$CKT_TMP/outc" "ckptd-$id")/c.bin" "$start" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]) + 10)
    b = f.read(1)
    f.seek(int(sys.argv[2]) + 10)
    f.write(bytes([b[0] ^ 0xff]))
PY
ckt_daemon_start
ckpt watch "$id" >/dev/null || ckt_fail "job did not finish after corruption"
[ "$(ckt_xxh128 "$CKT_TMP/outc/c.bin")" = "$src_c" ] || ckt_fail "corruption survived"
grep -q "did not match" <(ckpt --json job "$id") || ckt_fail "the job's log does not mention the rejected range"

ckt_log "a URL set killed midway: verified files are kept, the rest rebuilt from the job's record"
for i in 1 2 3 4 5; do ckt_gen_file "$www/s$i.bin" 20000; done
ckt_gen_file "$www/slow/last.bin" 3000000
urls=$(for i in 1 2 3 4 5; do echo "$CKT_BASE_URL/s$i.bin"; done; echo "$CKT_BASE_URL/slow/last.bin")
id=$(ckpt fetch --detach -o "$CKT_TMP/set" $urls)
for _ in $(seq 100); do
    [ "$(sqlite3 "$CKT_STATE/ckptd.db" "select count(*) from files where job_id=$id and state='verified'")" = 5 ] && break
    sleep 0.05
done
ckt_daemon_kill9
sleep 0.3
gets() { grep -c "GET /s$1.bin" "$CKT_NGINX_PREFIX/logs/access.log" || true; }
before=$(gets 3)
ckt_daemon_start
ckpt watch "$id" >/dev/null || ckt_fail "the URL set did not finish after the restart"
for i in 1 2 3 4 5; do cmp -s "$www/s$i.bin" "$CKT_TMP/set/s$i.bin" || ckt_fail "set/s$i.bin differs"; done
cmp -s "$www/slow/last.bin" "$CKT_TMP/set/last.bin" || ckt_fail "set/last.bin differs"
[ "$(gets 3)" = "$before" ] || ckt_fail "a file verified before the kill was fetched again"
[ "$(ckpt --json job "$id" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["job"]["files"]))')" = 6 ] \
    || ckt_fail "the restarted job does not list its 6 files"

ckt_daemon_stop
echo "crash_resume: ok"
