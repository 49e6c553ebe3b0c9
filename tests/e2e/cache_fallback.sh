#!/usr/bin/env bash
# End to end, the fleet cache failing: (1) the cache dies in the middle of a
# job: the job completes from the origin, the log says so, and once the
# cache's rest is over requests go through it again; (2) the cache serves a
# corrupted object (a byte flipped in nginx's own cache file): the hash
# check catches it, the file is fetched again from the origin, and the job's
# log names the file and the cache.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/cache.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/ckpt/big.bin" $((24 * 1024 * 1024 + 5))
ckt_gen_file "$www/ckpt/c.bin" $((2 * 1024 * 1024 + 3))
ckt_nginx_start "$www" "limit_rate 2m;"
origin_log=$CKT_NGINX_PREFIX/logs/access.log
ckt_cache_start "127.0.0.1:$CKT_NGINX_PORT"
entry() { printf '%s\n  out=%s\n  xxh128=%s\n' "$CKT_BASE_URL/ckpt/$1" "$1" "$(ckt_xxh128 "$www/ckpt/$1")"; }
setting="cache={\"url\":\"$CKT_CACHE_URL\",\"origins\":[\"$CKT_BASE_URL\"]}"

ckt_log "the cache dies in the middle of a job: the job completes from the origin"
CKT_SOCK=$CKT_TMP/a.sock CKT_STATE=$CKT_TMP/a.state
ckt_daemon_start
ckpt config set segment_threshold=4194304 "$setting" > /dev/null
entry big.bin > big.txt
ckpt fetch -i big.txt -o "$CKT_TMP/out1" -d > /dev/null
# Some bytes have arrived through the cache, most have not.
for i in $(seq 1 200); do
    got=$(ckpt --json job 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"].get("bytes_done", 0))')
    [ "$got" -gt $((2 * 1024 * 1024)) ] && break
    sleep 0.05
done
[ "$got" -lt $((20 * 1024 * 1024)) ] || ckt_fail "too late to kill the cache: $got bytes done"
before=$(grep -c 'GET /ckpt/big.bin' "$origin_log" || true)
ckt_cache_kill
ckpt watch 1 > watch1.out 2>&1 || { cat watch1.out; ckpt job 1; ckt_fail "the job did not complete without the cache"; }
cmp -s "$www/ckpt/big.bin" "$CKT_TMP/out1/big.bin" || ckt_fail "big.bin differs"
ckpt job 1 > job1.out; [ -z "${CKT_SHOW:-}" ] || cat job1.out >&2
grep -q "the cache $CKT_CACHE_URL failed: .*fetching from the origin, the cache again in 5s" job1.out ||
    { cat job1.out; ckt_fail "the job log does not say the cache failed"; }
grep -q "the cache $CKT_CACHE_URL failed" "$CKT_TMP/ckptd.log" || ckt_fail "no daemon log line"
after=$(grep -c 'GET /ckpt/big.bin' "$origin_log" || true)
[ "$after" -gt "$before" ] || ckt_fail "no request went straight to the origin after the cache died"

ckt_log "the cache is back: after its rest, requests go through it again"
ckt_cache_start "127.0.0.1:$CKT_NGINX_PORT"   # same port, same cache directory
sleep 5
entry c.bin > c.txt
ckpt fetch -i c.txt -o "$CKT_TMP/out2" > /dev/null || ckt_fail "c.bin through the cache"
grep -q '"GET /http/http/127.0.0.1:[0-9]*/ckpt/c.bin" 206 .*cache=MISS' "$CKT_CACHE_LOG" ||
    ckt_fail "the daemon did not go back to the cache"
ckt_daemon_stop

ckt_log "the cache serves a corrupted object: caught by its hash, refetched from the origin"
f=$(grep -l -a "KEY: http/http/127.0.0.1:$CKT_NGINX_PORT/ckpt/c.bin" -r "$CKT_CACHE_DIR" | head -1)
[ -n "$f" ] || ckt_fail "c.bin is not in the cache"
python3 - "$f" <<'PY'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as fh:
    fh.seek(-1000, os.SEEK_END)
    b = fh.read(1)
    fh.seek(-1000, os.SEEK_END)
    fh.write(bytes([b[0] ^ 0xFF]))
PY
curl -s "$CKT_CACHE_URL/http/http/127.0.0.1:$CKT_NGINX_PORT/ckpt/c.bin" -o served.bin
cmp -s served.bin "$www/ckpt/c.bin" && ckt_fail "the cache still serves the right bytes"
origin_c=$(grep -c 'GET /ckpt/c.bin' "$origin_log" || true)
CKT_SOCK=$CKT_TMP/b.sock CKT_STATE=$CKT_TMP/b.state
ckt_daemon_start
ckpt config set "$setting" > /dev/null
ckpt fetch -i c.txt -o "$CKT_TMP/out3" > fetch3.out 2>&1 || { cat fetch3.out; ckt_fail "the corrupted object was not refetched"; }
cmp -s "$www/ckpt/c.bin" "$CKT_TMP/out3/c.bin" || ckt_fail "c.bin differs after the refetch"
ckpt job 1 > job3.out; [ -z "${CKT_SHOW:-}" ] || cat job3.out >&2
grep -q "xxh128 mismatch for 'c.bin'" job3.out || { cat job3.out; ckt_fail "no mismatch in the log"; }
grep -q "'c.bin' came through the cache $CKT_CACHE_URL: xxh128 mismatch.*; fetching it from the origin" job3.out ||
    { cat job3.out; ckt_fail "the log does not say the file is refetched from the origin"; }
[ "$(grep -c 'GET /ckpt/c.bin' "$origin_log")" -gt "$origin_c" ] ||
    ckt_fail "c.bin was not fetched from the origin"
ckt_daemon_stop
echo "cache_fallback: ok"
