#!/usr/bin/env bash
# End to end, the master's checkpoint archive through the fleet cache: the
# Determined stand-in as the origin (GET /checkpoints/{uuid}, a tar, not
# ranged), the cache running contrib/nginx-cache.conf (the archive cached
# whole, keyed on path and Accept), ckptd with cache={"origins":["master"]}.
# Shown:
#   - three nodes (own socket and state) downloading one checkpoint with
#     --mode master at the same moment, the origin sending its archive
#     slowly: the master serves the archive once (proxy_cache_lock), every
#     node's copy equals the stored files and is verified;
#   - a later node is a cache hit: the master serves nothing more;
#   - the key holds Accept: another media type is another entry (the master
#     is asked again and answers a zip);
#   - the cache down: the job completes from the master, the job log and the
#     daemon's log say so.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/cache.sh"
ckt_tmpdir
ckt_detmaster_start
cd "$CKT_TMP"
# A checkpoint of 3 MiB in five files, stored by the stand-in (shared_fs).
u=$(curl -sf -X POST "$CKT_DET_URL/_ctl/trials/1/checkpoints" -d '{"files":{"model.bin":2097152,
    "opt/state 1.bin":1048576,"opt/state 2.bin":12345,"config.json":321,"empty":0}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
ref=$CKT_TMP/ref
ckt_det_reference "$u" "$ref"
ckt_cache_start "${CKT_DET_URL#http://}"
setting="cache={\"url\":\"$CKT_CACHE_URL\",\"origins\":[\"master\"]}"
archive_gets() { curl -sf "$CKT_DET_URL/_ctl/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("GET /checkpoints/{uuid}", 0))'; }
curl -sf -X POST "$CKT_DET_URL/_ctl/stats/reset" > /dev/null
same() { # DIR: equal to the stored files, and the manifest holds
    diff -r -x .ckptd.xxh128 -x .ckptd.json "$ref" "$1" || ckt_fail "$1 differs from the stored files"
    (cd "$1" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "$1 fails its manifest"
}

ckt_log "three nodes at once, the archive sent at 1 MB/s: one archive from the master"
curl -sf -X POST "$CKT_DET_URL/_ctl/archive?rate=1000000" > /dev/null # the next archive only
socks=() pids=() fpids=()
for n in 1 2 3; do
    CKT_SOCK=$CKT_TMP/n$n.sock CKT_STATE=$CKT_TMP/n$n.state
    DET_MASTER=$CKT_DET_URL ckt_daemon_start
    socks+=("$CKT_SOCK") pids+=("$CKT_DAEMON_PID")
    ckpt config set "$setting" > /dev/null
done
for n in 1 2 3; do
    "$CKPT" --socket "${socks[$((n - 1))]}" checkpoint download "$u" --mode master -o "$CKT_TMP/out$n" -q \
        > "dl$n.out" 2>&1 &
    fpids+=($!)
done
for n in 1 2 3; do wait "${fpids[$((n - 1))]}" || { cat "dl$n.out"; ckt_fail "node $n's download failed"; }; done
for n in 1 2 3; do
    same "$CKT_TMP/out$n"
    "$CKPT" --socket "${socks[$((n - 1))]}" --json job 1 | python3 -c 'import json, sys
j = json.load(sys.stdin)["job"]
assert j["state"] == "done", j["state"]
assert [c["via"] for c in j["checkpoints"]] == ["master"], j["checkpoints"]
assert all(f["state"] == "verified" for f in j["files"]), j["files"]' || ckt_fail "node $n: not a verified master download"
    "$CKPT" --socket "${socks[$((n - 1))]}" job 1 > "job$n.out"
    grep -q "fetching the master's archive through the cache $CKT_CACHE_URL" "job$n.out" ||
        { cat "job$n.out"; ckt_fail "node $n: the job log does not say the archive came through the cache"; }
    grep -q "from the master" "job$n.out" && { cat "job$n.out"; ckt_fail "node $n fell back to the master"; }
    kill -TERM "${pids[$((n - 1))]}"
    wait "${pids[$((n - 1))]}" || ckt_fail "node $n exit"
done
[ "$(archive_gets)" = 1 ] || ckt_fail "the master served the archive $(archive_gets) times for three nodes"
[ "$(grep -c "\"GET /master/http/${CKT_DET_URL#http://}/checkpoints/$u\" 200" "$CKT_CACHE_LOG")" = 3 ] ||
    { cat "$CKT_CACHE_LOG"; ckt_fail "expected three archive requests through the cache"; }
grep -q 'cache=MISS' "$CKT_CACHE_LOG" || ckt_fail "no miss went to the master"
for f in "$CKT_CACHE_LOG" "$CKT_TMP/ckptd.log"; do
    grep -qi "bearer" "$f" && ckt_fail "a token reached $f"
done

ckt_log "a later node: a hit, nothing from the master"
ckt_cache_node n4 master "$u" "$setting"
same "$CKT_TMP/out-n4"
[ "$(archive_gets)" = 1 ] || ckt_fail "a hit reached the master"
tail -1 "$CKT_CACHE_LOG" | grep -q 'cache=HIT' || ckt_fail "the last archive was not a hit"

ckt_log "the key holds Accept: a zip is another entry"
tok=$(curl -sf -X POST -d '{"username":"determined","password":""}' "$CKT_DET_URL/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sf -o a.zip -H "Authorization: Bearer $tok" -H 'Accept: application/zip' \
    "$CKT_CACHE_URL/master/http/${CKT_DET_URL#http://}/checkpoints/$u" || ckt_fail "zip through the cache"
python3 -c 'import sys, zipfile; sys.exit(0 if "model.bin" in zipfile.ZipFile("a.zip").namelist() else 1)' ||
    ckt_fail "the cache answered a zip request with another entry"
[ "$(archive_gets)" = 2 ] || ckt_fail "a zip request did not reach the master"

ckt_log "the cache down: the archive comes from the master, the logs say so"
ckt_cache_kill
CKT_SOCK=$CKT_TMP/n5.sock CKT_STATE=$CKT_TMP/n5.state
DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt config set "$setting" > /dev/null
ckpt checkpoint download "$u" --mode master -o "$CKT_TMP/out5" -q > dl5.out 2>&1 ||
    { cat dl5.out; ckt_fail "the download failed with the cache down"; }
same "$CKT_TMP/out5"
ckpt job 1 > job5.out
grep -q "the cache $CKT_CACHE_URL failed: .*; fetching the archive from the master" job5.out ||
    { cat job5.out; ckt_fail "the job log does not say the archive came from the master"; }
grep -q "the cache $CKT_CACHE_URL failed for the master's archive" "$CKT_TMP/ckptd.log" ||
    ckt_fail "no daemon log line for the fallback"
ckt_daemon_stop
[ "$(archive_gets)" = 3 ] || ckt_fail "the master did not serve the fallback ($(archive_gets) archives)"
echo "cache_master: ok"
