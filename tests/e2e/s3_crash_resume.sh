#!/usr/bin/env bash
# End to end, s3 storage: kill -9 of the daemon in the middle of a ranged,
# signed download of a 240 MiB object from a SigV4-checking S3 server
# (s3rver); a restart on the same state directory finishes the job with the
# object's bytes, fetching again only what was not journaled. The fault proxy
# in front of s3rver counts the bytes the storage served before and after.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/s3.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
cd "$CKT_TMP"
size=251658240   # 240 MiB: over segment_threshold (64 MiB), so fetched in ranges
# (the stand-in makes an object with one randbytes() call: under 256 MiB)
rel=model/shard.bin
ckt_s3_start b
CKT_NGINX_PORT=${CKT_S3_URL##*:} ckt_proxy_start
ckt_detmaster_start --s3-endpoint "$CKT_PROXY_URL" --s3-bucket b --s3-prefix ckpts

ckt_log "a checkpoint of trial 7 (s3 storage) with a $size-byte object"
u=$(curl -sf -X POST --data "{\"files\": {\"model/\": 0, \"$rel\": $size}}" \
    "$CKT_DET_URL/_ctl/trials/7/checkpoints" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])') ||
    ckt_fail "the stand-in did not add the checkpoint"
# The reference: the object as s3rver stores it, fetched straight from it.
ckt_s3_curl -f -o ref.bin "$(ckt_s3_url b "ckpts/$u/$rel")" || ckt_fail "reference GET of the object"
[ "$(stat -c %s ref.bin)" = $size ] || ckt_fail "the reference has $(stat -c %s ref.bin) bytes"
src=$(ckt_xxh128 ref.bin)
obj=/b/ckpts/$u/$rel   # the object's path as the proxy counts it
served() {  # bytes of the object the proxy relayed to ckptd so far
    curl -sf "$CKT_FAULT_URL/_fault/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["per_path"].get(sys.argv[1], {}).get("bytes", 0))' "$obj"
}

ckt_s3_env
CKT_KEEP_AWS=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt config set journal_step=1048576 >/dev/null   # small journal steps
# A slow server (2.5 MB/s per range, 16 ranges: ~40 MB/s), so the kill lands
# mid-download. Slow at the server, not in ckptd: what the proxy counts as
# served is then what reached ckptd, not what waits in socket buffers.
ckt_fault_clear
ckt_fault "rate=2500000&count=-1&path=$rel"
ckpt checkpoint download "$u" -o "$CKT_TMP/out" --mode direct -q > dl1.out 2>&1 & client=$!

# Waits until a good part of the object is journaled, then kills the daemon.
db() { sqlite3 -cmd '.timeout 2000' "$CKT_STATE/ckptd.db" "$1"; }
journaled() {
    db "select coalesce(sum(s.done),0) from segments s join files f
        on f.job_id = s.job_id and f.idx = s.idx where f.size = $size" 2>/dev/null || echo 0
}
t0=$(ckt_now)
while :; do
    j=$(journaled)
    [ "${j:-0}" -ge $((size / 3)) ] && break
    ckt_check "$(ckt_since "$t0") < 40" "only ${j:-0} bytes journaled after 40 s"
    kill -0 "$CKT_DAEMON_PID" 2>/dev/null || ckt_fail "ckptd exited during the download"
    sleep 0.1
done
ckt_log "kill -9 mid-download (${j} bytes journaled)"
ckt_daemon_kill9
for _ in $(seq 1 100); do kill -0 $client 2>/dev/null || break; sleep 0.1; done
kill -0 $client 2>/dev/null && ckt_fail "the client still runs 10 s after the daemon died"
wait $client 2>/dev/null && ckt_fail "the client reported success although the daemon died"
sleep 0.3   # the proxy notices the cut connections
before=$(served)
id=$(db "select job_id from files where size = $size")
journaled=$(journaled)
nsegs=$(db "select count(*) from segments s join files f
    on f.job_id = s.job_id and f.idx = s.idx where f.size = $size")
[ "$nsegs" -gt 1 ] || ckt_fail "the object was not fetched in ranges ($nsegs)"
[ "$journaled" -lt $size ] || ckt_fail "the crash came too late to test anything"
[ ! -e "$CKT_TMP/out/$rel" ] || ckt_fail "a partial object was published"

ckt_log "restart on the same state directory: job $id continues from its journal"
CKT_KEEP_AWS=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
curl -sf -X POST "$CKT_FAULT_URL/_fault/clear" >/dev/null || ckt_fail "could not clear the rate"  # keeps the stats
ckpt watch "$id" >/dev/null || { ckt_job_log "$id" >&2; ckt_fail "job $id did not finish after the restart"; }
[ "$(ckt_job_field "$id" "['state']")" = "done" ] || ckt_fail "job $id is not done"
cmp ref.bin "$CKT_TMP/out/$rel" || ckt_fail "the object's bytes differ after the resume"
[ "$(ckt_xxh128 "$CKT_TMP/out/$rel")" = "$src" ] || ckt_fail "xxh128 differs after the resume"
(cd "$CKT_TMP/out" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "the copy fails its manifest"

after=$(served)
refetched=$((after - before))
max=$((size - journaled))
wasted=$((after - size))   # served twice: in flight or on disk but not journaled at the kill
window=$((nsegs * (2 * 1048576 + 4194304)))
echo "object: $size bytes in $nsegs ranges; journaled at the kill: $journaled;" \
     "served before the kill: $before; after the restart: $refetched" \
     "($((refetched * 100 / size))% of the object); served twice: $wasted (window $window)"
[ "$refetched" -gt 0 ] || ckt_fail "nothing was fetched after the restart"
[ "$refetched" -le "$max" ] || ckt_fail "fetched $refetched bytes again, more than the $max not journaled"
[ "$refetched" -lt $((size * 3 / 4)) ] || ckt_fail "fetched $refetched of $size bytes after the restart: no resume"
[ "$wasted" -le "$window" ] || ckt_fail "$wasted bytes fetched twice, beyond the unjournaled window $window"
grep -q '"storage": *"s3"' <(ckpt --json job "$id") || ckt_fail "the job does not record s3 storage"
ckt_daemon_stop
echo "s3_crash_resume: ok"
