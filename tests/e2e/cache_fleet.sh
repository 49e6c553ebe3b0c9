#!/usr/bin/env bash
# End to end, the fleet cache tier (light CI version of bench/fleet.sh, on
# 127.0.0.1 ports instead of network namespaces): an nginx origin limited in
# bandwidth, the cache (contrib/nginx-cache.conf, real nginx), and 3 ckptd
# daemons (own socket, own state) downloading the same URL set at the same
# moment through the cache. The origin serves each byte about once (<= 1.1x
# the set's size), every node's copy is verified against the set's hashes,
# and the cache held every request (no node fell back to the origin).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/cache.sh"
ckt_tmpdir
N=3
www=$CKT_TMP/www
for i in 1 2 3 4 5 6; do ckt_gen_file "$www/ckpt/shard-$i.bin" $((1024 * 1024 + i * 4099)); done
ckt_gen_file "$www/ckpt/big.bin" $((20 * 1024 * 1024 + 17))
total=$(du -cb "$www"/ckpt/* | tail -1 | cut -f1)
ckt_nginx_start "$www" "limit_rate 8m;"
ckt_cache_start "127.0.0.1:$CKT_NGINX_PORT"

list=$CKT_TMP/list.txt
for f in "$www"/ckpt/*; do
    printf '%s\n  out=%s\n  xxh128=%s\n' "$CKT_BASE_URL/ckpt/${f##*/}" "${f##*/}" "$(ckt_xxh128 "$f")"
done > "$list"

ckt_log "$N daemons, each with its own socket and state, routed through the cache"
socks=() pids=()
for n in $(seq 1 $N); do
    CKT_SOCK=$CKT_TMP/n$n.sock CKT_STATE=$CKT_TMP/n$n.state ckt_daemon_start
    socks+=("$CKT_TMP/n$n.sock") pids+=("$CKT_DAEMON_PID")
    "$CKPT" --socket "$CKT_TMP/n$n.sock" config set segment_threshold=4194304 \
        "cache={\"url\":\"$CKT_CACHE_URL\",\"origins\":[\"$CKT_BASE_URL/ckpt\"]}" > /dev/null ||
        ckt_fail "config set cache on node $n"
done
"$CKPT" --socket "${socks[0]}" --json config | grep -q "\"url\": *\"$CKT_CACHE_URL\"" ||
    ckt_fail "config does not show the cache setting"
rc=0; "$CKPT" --socket "${socks[0]}" config set 'cache={"url":"ftp://x","origins":["s3"]}' > bad.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "cache: 'url' must be an http" bad.out || { cat bad.out; ckt_fail "a bad cache setting was taken"; }

t0=$(date +%s.%N)
fpids=()
for n in $(seq 1 $N); do
    "$CKPT" --socket "${socks[$((n - 1))]}" fetch -i "$list" -o "$CKT_TMP/out$n" > "fetch$n.out" 2>&1 &
    fpids+=($!)
done
for n in $(seq 1 $N); do
    wait "${fpids[$((n - 1))]}" || { cat "fetch$n.out"; ckt_fail "node $n's download failed"; }
done
t1=$(date +%s.%N)

for n in $(seq 1 $N); do
    for f in "$www"/ckpt/*; do
        cmp -s "$f" "$CKT_TMP/out$n/${f##*/}" || ckt_fail "node $n: ${f##*/} differs"
    done
    "$CKPT" --socket "${socks[$((n - 1))]}" --json job 1 |
        python3 -c 'import json,sys; j=json.load(sys.stdin)["job"]; fs=j["files"]
assert j["state"]=="done", j["state"]
assert all(f["state"]=="verified" and f["xxh128"] for f in fs), [(f["path"],f["state"]) for f in fs]' ||
        ckt_fail "node $n: not every file verified"
    grep -q "through the cache\|the cache .* failed" <("$CKPT" --socket "${socks[$((n - 1))]}" job 1) &&
        ckt_fail "node $n fell back to the origin"
done
origin=$(ckt_origin_bytes "$CKT_NGINX_PREFIX/logs/access.log")
ratio=$(python3 -c "print(f'{$origin / $total:.3f}')")
ckt_log "origin served $origin bytes for a $total-byte set fetched by $N nodes: ${ratio}x ($(python3 -c "print(f'{$t1 - $t0:.1f}')")s)"
python3 -c "import sys; sys.exit(0 if $origin <= 1.1 * $total else 1)" ||
    ckt_fail "the origin served ${ratio}x the set (want <= 1.1)"
python3 -c "import sys; sys.exit(0 if $origin >= $total else 1)" || ckt_fail "origin log incomplete"
grep -q '"GET /http/http/127.0.0.1:[0-9]*/ckpt/big.bin" 206' "$CKT_CACHE_LOG" ||
    ckt_fail "no ranged request for big.bin reached the cache"
grep -q 'cache=HIT' "$CKT_CACHE_LOG" || ckt_fail "no cache hit"

for n in $(seq 1 $N); do kill -TERM "${pids[$((n - 1))]}"; wait "${pids[$((n - 1))]}" || ckt_fail "node $n exit"; done
echo "cache_fleet: ok"
