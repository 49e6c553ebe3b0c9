#!/usr/bin/env bash
# Smoke test of tests/faultproxy.py: nginx behind the proxy, each fault checked
# with curl. Needs nginx, curl, python3 and xxhsum; no ckptd.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/common.sh"

ckt_tmpdir
WWW=$CKT_TMP/www
ckt_gen_file "$WWW/a.bin" 1048576
ckt_gen_file "$WWW/b.bin" 262144
ckt_nginx_start "$WWW" "autoindex on;"  # the listing is a chunked response

# --- start the proxy and wait for both port files
python3 "$HERE/../faultproxy.py" --upstream "127.0.0.1:$CKT_NGINX_PORT" \
    --listen-port-file "$CKT_TMP/proxy.port" --control-port-file "$CKT_TMP/control.port" -v \
    >>"$CKT_TMP/faultproxy.log" 2>&1 &
PROXY_PID=$!
CKT_PIDS+=("$PROXY_PID")
for _ in $(seq 1 100); do
    [ -s "$CKT_TMP/proxy.port" ] && [ -s "$CKT_TMP/control.port" ] && break
    kill -0 "$PROXY_PID" 2>/dev/null || ckt_fail "faultproxy exited at start"
    sleep 0.05
done
[ -s "$CKT_TMP/proxy.port" ] || ckt_fail "faultproxy did not write its port file"
P=http://127.0.0.1:$(cat "$CKT_TMP/proxy.port")
C=http://127.0.0.1:$(cat "$CKT_TMP/control.port")
OUT=$CKT_TMP/out
mkdir -p "$OUT"

fault() { curl -sf -X POST "$C/_fault/set?$1" >/dev/null || ckt_fail "could not set fault $1"; }
stat_field() { curl -sf "$C/_fault/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
fsize() { stat -c %s "$1"; }
# get URL FILE [CURL ARGS...]: prints curl's exit status (never fails the script)
get() { local url=$1 file=$2; shift 2; local rc=0; curl -s -o "$file" "$@" "$url" || rc=$?; echo "$rc"; }

ckt_log "plain relay, keep-alive, stats"
curl -sf -X POST "$C/_fault/clear?stats=1" >/dev/null
conns=$(curl -sf -o "$OUT/a1" -o "$OUT/a2" -w '%{num_connects} ' "$P/a.bin" "$P/a.bin")
cmp -s "$OUT/a1" "$WWW/a.bin" || ckt_fail "relayed body differs"
cmp -s "$OUT/a1" "$OUT/a2" || ckt_fail "second keep-alive response differs"
[ "$conns" = "1 0 " ] || ckt_fail "keep-alive not reused (num_connects: $conns)"
[ "$(stat_field "['requests']")" = 2 ] || ckt_fail "stats.requests != 2"
[ "$(stat_field "['bytes_sent']")" = $((2 * 1048576)) ] || ckt_fail "stats.bytes_sent wrong"
[ "$(stat_field "['per_path']['/a.bin']['bytes']")" = $((2 * 1048576)) ] || ckt_fail "per_path bytes wrong"
# the control API also answers on the proxy port
curl -sf "$P/_fault/stats" | grep -q '"requests": 2' || ckt_fail "/_fault/ on proxy port"

ckt_log "range pass-through"
code=$(curl -sf -o "$OUT/r" -w '%{http_code}' -r 100-199 "$P/a.bin")
[ "$code" = 206 ] && [ "$(fsize "$OUT/r")" = 100 ] || ckt_fail "range: code $code"
cmp -s "$OUT/r" <(tail -c +101 "$WWW/a.bin" | head -c 100) || ckt_fail "range bytes differ"
[ "$(stat_field "['range_requests']")" = 1 ] || ckt_fail "stats.range_requests != 1"

ckt_log "cut_after gives a short body"
fault "cut_after=1000"
rc=$(get "$P/a.bin" "$OUT/cut")
[ "$rc" = 18 ] || ckt_fail "cut: curl exit $rc, expected 18 (partial file)"
[ "$(fsize "$OUT/cut")" = 1000 ] || ckt_fail "cut: got $(fsize "$OUT/cut") bytes"
rc=$(get "$P/a.bin" "$OUT/after-cut")  # count=1: the next one is whole
[ "$rc" = 0 ] && [ "$(fsize "$OUT/after-cut")" = 1048576 ] || ckt_fail "fault outlived count=1"

ckt_log "reset_after sends RST"
fault "reset_after=5000"
rc=$(get "$P/a.bin" "$OUT/reset")
[ "$rc" = 56 ] || ckt_fail "reset: curl exit $rc, expected 56 (recv failure)"
[ "$(fsize "$OUT/reset")" -le 5000 ] || ckt_fail "reset: more than 5000 bytes"

ckt_log "stall_after holds the connection"
fault "stall_after=3000"
t0=$(date +%s.%N)
rc=$(get "$P/a.bin" "$OUT/stall" --max-time 1.5)
t=$(python3 -c "import time; print(time.time() - $t0)")
[ "$rc" = 28 ] || ckt_fail "stall: curl exit $rc, expected 28 (timeout)"
[ "$(fsize "$OUT/stall")" = 3000 ] || ckt_fail "stall: got $(fsize "$OUT/stall") bytes"
python3 -c "import sys; sys.exit(not $t >= 1.4)" || ckt_fail "stall ended after ${t}s"

ckt_log "flip_byte changes exactly one byte"
fault "flip_byte=12345"
curl -sf -o "$OUT/flip" "$P/a.bin"
diffs=$(cmp -l "$OUT/flip" "$WWW/a.bin" || true)
[ "$(echo "$diffs" | wc -l)" = 1 ] && [ "$(echo "$diffs" | awk '{print $1}')" = 12346 ] \
    || ckt_fail "flip: differences: $diffs"

ckt_log "flip_byte in a chunked body hits the payload, not the framing"
curl -sf -o "$OUT/index" "$P/"
fault "flip_byte=2"
curl -sf -o "$OUT/index-flip" "$P/" || ckt_fail "chunked flip broke the framing"
[ "$(cmp -l "$OUT/index" "$OUT/index-flip" | awk '{print $1}')" = 3 ] || ckt_fail "chunked flip"

ckt_log "status=503 with Retry-After, without upstream"
before=$(wc -l < "$CKT_NGINX_PREFIX/logs/access.log")
fault "status=503&retry_after=7"
code=$(curl -s -D "$OUT/h503" -o /dev/null -w '%{http_code}' "$P/a.bin")
[ "$code" = 503 ] || ckt_fail "status: got $code"
grep -qi '^Retry-After: 7' "$OUT/h503" || ckt_fail "status: no Retry-After header"
[ "$(wc -l < "$CKT_NGINX_PREFIX/logs/access.log")" = "$before" ] || ckt_fail "status fault reached nginx"

ckt_log "strip_range makes the server ignore ranges"
fault "strip_range=1"
code=$(curl -s -D "$OUT/hstrip" -o "$OUT/strip" -w '%{http_code}' -r 0-99 "$P/a.bin")
[ "$code" = 200 ] && [ "$(fsize "$OUT/strip")" = 1048576 ] || ckt_fail "strip_range: code $code"
! grep -qi '^Accept-Ranges' "$OUT/hstrip" || ckt_fail "strip_range: Accept-Ranges still there"

ckt_log "delay and rate"
fault "delay=400"
t=$(curl -sf -o /dev/null -w '%{time_starttransfer}' "$P/b.bin")
python3 -c "import sys; sys.exit(not $t >= 0.39)" || ckt_fail "delay: first byte after ${t}s"
fault "rate=262144"  # b.bin is 256 KiB: about one second
t=$(curl -sf -o "$OUT/rate" -w '%{time_total}' "$P/b.bin")
python3 -c "import sys; sys.exit(not 0.8 <= $t <= 3)" || ckt_fail "rate: took ${t}s"
cmp -s "$OUT/rate" "$WWW/b.bin" || ckt_fail "rate: body differs"

ckt_log "path match, count=K and count=-1"
fault "status=500&count=2&path=b.bin"
for want in 200:a.bin 500:b.bin 500:b.bin 200:b.bin; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$P/${want#*:}")
    [ "$code" = "${want%%:*}" ] || ckt_fail "count/path: ${want#*:} gave $code, expected ${want%%:*}"
done
fault "status=429&count=-1"
for _ in 1 2 3; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$P/a.bin")" = 429 ] || ckt_fail "count=-1"
done
curl -sf -X POST "$C/_fault/clear" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$P/a.bin")" = 200 ] || ckt_fail "clear"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$C/_fault/set?bogus=1")
[ "$code" = 400 ] || ckt_fail "bad rule accepted ($code)"

ckt_log "SIGTERM closes open connections"
fault "stall_after=0"
curl -s -o /dev/null --max-time 30 "$P/a.bin" &
CURL_PID=$!
CKT_PIDS+=("$CURL_PID")
sleep 0.3
kill -TERM "$PROXY_PID"
for _ in $(seq 1 40); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$PROXY_PID" 2>/dev/null || ckt_fail "faultproxy still running 2 s after SIGTERM"
wait "$PROXY_PID" || ckt_fail "faultproxy exited with status $? on SIGTERM"
rc=0; wait "$CURL_PID" || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 28 ] || ckt_fail "stalled client not disconnected by SIGTERM (exit $rc)"

echo "PASS faultproxy_smoke"
