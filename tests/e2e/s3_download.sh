#!/usr/bin/env bash
# End to end, s3 storage: checkpoints of the stand-in kept in a SigV4-checking
# S3 server (s3rver) are downloaded by ranged, signed GETs; keys with spaces,
# '+', '~' and UTF-8; bytes equal to the objects. A wrong secret fails at once
# with a clear authentication error, not a retry storm.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/s3.sh"
ckt_tmpdir
ckt_s3_start b
ckt_detmaster_start --s3-endpoint "$CKT_S3_URL" --s3-bucket b --s3-prefix /ckpts
uuids=$(ckt_det_q '" ".join(c["uuid"] for c in d["checkpoints"] if c["experimentId"]==4 and c["state"] in ("STATE_COMPLETED","STATE_PARTIALLY_DELETED"))')
[ -n "$uuids" ] || ckt_fail "no s3 checkpoints in the stand-in"
u=${uuids%% *}

# The objects, fetched independently with curl, are the reference.
ref=$CKT_TMP/ref
python3 - "$CKT_DET_URL" "$u" > "$CKT_TMP/files.txt" <<'PY'
import json, sys, urllib.request
base, uuid = sys.argv[1], sys.argv[2]
tok = json.load(urllib.request.urlopen(urllib.request.Request(base + "/api/v1/auth/login",
      data=b'{"username":"determined","password":"","isHashed":false}', method="POST")))["token"]
req = urllib.request.Request(base + "/api/v1/checkpoints/" + uuid, headers={"Authorization": "Bearer " + tok})
cp = json.load(urllib.request.urlopen(req))["checkpoint"]
for rel in sorted(cp["resources"]):
    if not rel.endswith("/"):
        print(rel)
PY
while IFS= read -r rel; do
    mkdir -p "$(dirname "$ref/$rel")"
    ckt_s3_curl -f -o "$ref/$rel" "$(ckt_s3_url b "ckpts/$u/$rel")" || ckt_fail "reference GET of '$rel'"
done < "$CKT_TMP/files.txt"
grep -q ' ' "$CKT_TMP/files.txt" || ckt_fail "expected a key with a space"

ckt_log "signed ranged GETs from s3rver, with credentials from the environment"
ckt_s3_env
CKT_KEEP_AWS=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt config set segment_threshold=1048576 >/dev/null   # the 3 MiB shard goes in ranges
ckpt checkpoint download "$u" -o "$CKT_TMP/out" -q > /dev/null || ckt_fail "s3 download failed"
diff -r -x .ckptd.xxh128 -x .ckptd.json -x metadata.json "$ref" "$CKT_TMP/out" || ckt_fail "bytes differ from the objects"
grep -q '"storage": *"s3"' <(ckpt --json job 1) || ckt_fail "the job does not record s3 storage"
grep -q "S3RVER" "$CKT_TMP/ckptd.log" && ckt_fail "a credential reached the log"
grep -q "S3RVER" <(sqlite3 "$CKT_STATE/ckptd.db" .dump) && ckt_fail "a credential reached the job records"
ckt_daemon_stop

ckt_log "a wrong secret, --mode direct: a clear authentication error within seconds, no retries"
rm -rf "$CKT_TMP/out" # else the checkpoint is copied from there, not fetched
export AWS_SECRET_ACCESS_KEY=wrong
CKT_KEEP_AWS=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
t0=$(date +%s)
rc=0; ckpt checkpoint download "$u" --mode direct -o "$CKT_TMP/bad" > bad.out 2>&1 || rc=$?
t1=$(date +%s)
[ $rc -ne 0 ] || ckt_fail "a wrong secret was accepted"
grep -q "http 403 for .*the s3 server refused the credentials" bad.out || { cat bad.out; ckt_fail "auth message"; }
[ $((t1 - t0)) -le 10 ] || ckt_fail "took $((t1 - t0))s to fail"
grep -q "retrying" "$CKT_TMP/ckptd.log" && ckt_fail "a 403 was retried"
[ ! -e "$CKT_TMP/bad" ] || [ -z "$(ls -A "$CKT_TMP/bad")" ] || ckt_fail "something was published"

ckt_log "a wrong secret, auto (the default): the 403 sends the checkpoint through the master"
ckpt checkpoint download "$u" -o "$CKT_TMP/auto" -q > auto.out 2>&1 || { cat auto.out; ckt_fail "auto did not fall back"; }
diff -r -x .ckptd.xxh128 -x .ckptd.json -x metadata.json "$ref" "$CKT_TMP/auto" || ckt_fail "bytes through the master differ"
job=$(ckpt --json jobs | python3 -c 'import json,sys; print(max(j["id"] for j in json.load(sys.stdin)["jobs"]))')
grep -q '"via": *"master"' <(ckpt --json job "$job") || ckt_fail "the job does not record the master route"
grep -q "http 403.*downloading it through the master instead" <(ckpt job "$job") || ckt_fail "the fallback is not logged"
grep -q "wrong" "$CKT_TMP/ckptd.log" && ckt_fail "a credential reached the log"
ckt_daemon_stop
echo "s3_download: ok"
