#!/usr/bin/env bash
# End to end: two clients download the same checkpoint to the same place at
# the same time: one set of requests reaches the storage; the second job
# waits for the first and takes its verified copy. The same checkpoint
# wanted in other places is copied locally from a verified copy, whether
# that copy is done already or still being downloaded.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/s3.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
cd "$CKT_TMP"
ckt_s3_start b
# The fault proxy in front of s3rver counts what reaches the storage.
CKT_NGINX_PORT=${CKT_S3_URL##*:} ckt_proxy_start
ckt_detmaster_start --s3-endpoint "$CKT_PROXY_URL" --s3-bucket b --s3-prefix ckpts
u=$(ckt_det_q '[c["uuid"] for c in d["checkpoints"] if c["experimentId"]==4 and c["state"]=="STATE_COMPLETED"][0]')
nfiles=$(python3 - "$CKT_DET_URL" "$u" <<'PY'
import json, sys, urllib.request
base, uuid = sys.argv[1], sys.argv[2]
tok = json.load(urllib.request.urlopen(urllib.request.Request(base + "/api/v1/auth/login",
      data=b'{"username":"determined","password":"","isHashed":false}', method="POST")))["token"]
cp = json.load(urllib.request.urlopen(urllib.request.Request(base + "/api/v1/checkpoints/" + uuid,
     headers={"Authorization": "Bearer " + tok})))["checkpoint"]
print(sum(1 for k in cp["resources"] if not k.endswith("/")))
PY
)
ckt_s3_env
CKT_KEEP_AWS=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt config set bandwidth_limit=1500000 >/dev/null   # slow enough for the two to overlap
ckt_fault_clear

ckt_log "two downloads of $u into one place, 0.3 s apart"
ckpt checkpoint download "$u" -o "$CKT_TMP/shared" -q > a.out 2>&1 & a=$!
sleep 0.3
ckpt checkpoint download "$u" -o "$CKT_TMP/shared" -q > b.out 2>&1 & b=$!
wait $a || { cat a.out; ckt_fail "first download failed"; }
wait $b || { cat b.out; ckt_fail "second download failed"; }
(cd "$CKT_TMP/shared" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "the copy fails its manifest"

gets=$(curl -sf "$CKT_FAULT_URL/_fault/stats" | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(sum(v['requests'] for p, v in s['per_path'].items() if '/$u/' in p))")
echo "files: $nfiles, object requests: $gets"
[ "$gets" -eq "$nfiles" ] || ckt_fail "$gets requests for $nfiles files: the checkpoint was fetched twice"
grep -q "checking its copy" <(ckpt --json job 2) || ckt_fail "the second job did not wait for the first"
grep -q '"status": *"present"' <(ckpt --json job 2) || ckt_fail "the second job did not take the first's copy"
object_gets() {
    curl -sf "$CKT_FAULT_URL/_fault/stats" | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(sum(v['requests'] for p, v in s['per_path'].items() if '/$u/' in p))"
}
last_job() { ckpt --json jobs | python3 -c 'import json,sys; print(max(j["id"] for j in json.load(sys.stdin)["jobs"]))'; }

ckt_log "the same checkpoint wanted in another place: a local copy, no storage request"
ckt_fault_clear
ckpt checkpoint download "$u" -o "$CKT_TMP/elsewhere" -q > c.out 2>&1 || { cat c.out; ckt_fail "third download failed"; }
diff -r "$CKT_TMP/shared" "$CKT_TMP/elsewhere" || ckt_fail "the local copy differs"
[ "$(object_gets)" -eq 0 ] || { curl -sf "$CKT_FAULT_URL/_fault/stats"; ckt_fail "$(object_gets) storage requests for a checkpoint already here"; }
grep -q "copying its files from '$CKT_TMP/shared'" <(ckpt job "$(last_job)") || ckt_fail "the job did not say where it copied from"

ckt_log "two new places at once: one download, the later job copies from the first"
rm -rf "$CKT_TMP/shared" "$CKT_TMP/elsewhere"
ckt_fault_clear
ckpt checkpoint download "$u" -o "$CKT_TMP/p1" -q > d.out 2>&1 & d=$!
sleep 0.3
ckpt checkpoint download "$u" -o "$CKT_TMP/p2" -q > e.out 2>&1 & e=$!
wait $d || { cat d.out; ckt_fail "download to p1 failed"; }
wait $e || { cat e.out; ckt_fail "download to p2 failed"; }
diff -r "$CKT_TMP/p1" "$CKT_TMP/p2" || ckt_fail "p2 differs from p1"
(cd "$CKT_TMP/p2" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "p2 fails its manifest"
gets=$(object_gets)
[ "$gets" -eq "$nfiles" ] || ckt_fail "$gets requests for $nfiles files: fetched more than once"
grep -q "copying its files from '$CKT_TMP/p1'" <(ckpt job "$(last_job)") || ckt_fail "p2 was not copied from p1"

ckt_daemon_stop
echo "dedup: ok"
