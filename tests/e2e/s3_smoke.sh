#!/usr/bin/env bash
# Smoke test of the S3 test server (tests/s3/s3server.js: @20minutes/s3rver 5,
# which checks SigV4 signatures) and of the SigV4 signing ckptd relies on:
#   - curl --aws-sigv4 uploads keys with spaces, '+', '~' and UTF-8, and they
#     land under exactly those keys; whole and ranged GETs return the bytes;
#   - a wrong secret gets 403 SignatureDoesNotMatch, quickly; a request
#     without x-amz-content-sha256 is refused;
#   - libcurl through engine/s3.c (test_s3 in live mode): credentials from the
#     environment, key and URL from a storage config, CURLOPT_AWS_SIGV4;
#   - the Determined stand-in with --s3-endpoint uploads experiment 4;
#   - the server exits 0 on SIGTERM and prints nothing.
# Needs node + npm (tests/s3, installed on first use), curl, python3.
set -euo pipefail
SRC=${CKPT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CKPT_SRC=$SRC
. "$SRC/tests/lib/common.sh"
. "$SRC/tests/lib/s3.sh"
. "$SRC/tests/lib/detmaster.sh"
ckt_tmpdir

ckt_s3_start b other
ckt_log "s3rver on $CKT_S3_URL"

U=7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a
KEYS=("ckpts/$U/données/poids ü.bin" "ckpts/$U/a b+c~(1).bin" "ckpts/$U/state_dict.pth"
      "$U/no prefix.txt")
SIZES=(300001 4096 1048576 250)
mkdir -p "$CKT_TMP/up" "$CKT_TMP/down"
for i in "${!KEYS[@]}"; do
    ckt_gen_file "$CKT_TMP/up/$i" "${SIZES[$i]}"
    ckt_s3_put b "${KEYS[$i]}" "$CKT_TMP/up/$i"
done

ckt_log "keys are stored exactly as given"
for i in "${!KEYS[@]}"; do
    stored="$CKT_S3_DATA/b/${KEYS[$i]}._S3rver_object"
    [ -f "$stored" ] || ckt_fail "no object '${KEYS[$i]}' on the server (encoding mismatch?)"
    cmp -s "$stored" "$CKT_TMP/up/$i" || ckt_fail "object '${KEYS[$i]}' differs on the server"
done

ckt_log "whole and ranged GETs"
for i in "${!KEYS[@]}"; do
    code=$(ckt_s3_curl -o "$CKT_TMP/down/$i" -w '%{http_code}' "$(ckt_s3_url b "${KEYS[$i]}")")
    [ "$code" = 200 ] || ckt_fail "GET '${KEYS[$i]}': HTTP $code"
    cmp -s "$CKT_TMP/down/$i" "$CKT_TMP/up/$i" || ckt_fail "GET '${KEYS[$i]}': bytes differ"
done
URL0=$(ckt_s3_url b "${KEYS[0]}")
[[ "$URL0" == "$CKT_S3_URL/b/ckpts/$U/donn%C3%A9es/poids%20%C3%BC.bin" ]] || ckt_fail "url $URL0"
code=$(ckt_s3_curl -D "$CKT_TMP/h" -o "$CKT_TMP/range" -w '%{http_code}' -r 100-199 "$URL0")
[ "$code" = 206 ] || ckt_fail "ranged GET: HTTP $code"
grep -qi '^content-range: bytes 100-199/300001' "$CKT_TMP/h" || ckt_fail "ranged GET: $(cat "$CKT_TMP/h")"
cmp -s "$CKT_TMP/range" <(tail -c +101 "$CKT_TMP/up/0" | head -c 100) || ckt_fail "ranged GET: bytes differ"
code=$(ckt_s3_curl -o /dev/null -w '%{http_code}' "$(ckt_s3_url b "ckpts/$U/missing")")
[ "$code" = 404 ] || ckt_fail "missing key: HTTP $code, want 404"

ckt_log "wrong secret: 403, quickly"
t0=$(date +%s%N)
code=$(CKT_S3_SECRET=wrong ckt_s3_curl -o "$CKT_TMP/denied" -w '%{http_code}' --max-time 5 "$URL0")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$code" = 403 ] || ckt_fail "wrong secret: HTTP $code, want 403"
grep -q SignatureDoesNotMatch "$CKT_TMP/denied" || ckt_fail "wrong secret: $(cat "$CKT_TMP/denied")"
[ "$ms" -lt 3000 ] || ckt_fail "wrong secret took ${ms} ms"
code=$(CKT_S3_SECRET=wrong ckt_s3_curl -o /dev/null -w '%{http_code}' -T "$CKT_TMP/up/3" \
    "$(ckt_s3_url b "ckpts/$U/intruder")")
[ "$code" = 403 ] || ckt_fail "wrong secret PUT: HTTP $code, want 403"
[ ! -e "$CKT_S3_DATA/b/ckpts/$U/intruder._S3rver_object" ] || ckt_fail "a refused PUT was stored"
# Signed, but without x-amz-content-sha256: s3rver (like S3) refuses it.
code=$(curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user S3RVER:S3RVER "$URL0")
[ "$code" = 400 ] || ckt_fail "no x-amz-content-sha256: HTTP $code, want 400"

ckt_log "libcurl via engine/s3.c (test_s3, live mode)"
TEST_S3=${CKPT_BUILD:-$SRC/build}/tests/test_s3
[ -x "$TEST_S3" ] || ckt_fail "test_s3 not built at $TEST_S3"
(
    ckt_s3_env
    export CKT_S3_ENDPOINT=$CKT_S3_URL/ CKT_S3_BUCKET=b CKT_S3_PREFIX=/ckpts/ CKT_S3_UUID=$U \
        CKT_S3_REL="données/poids ü.bin" CKT_S3_FILE=$CKT_TMP/up/0
    "$TEST_S3"
) >"$CKT_TMP/test_s3.log" 2>&1 || { cat "$CKT_TMP/test_s3.log" >&2; ckt_fail "test_s3 live mode failed"; }
grep -q '^1 passed, 0 failed$' "$CKT_TMP/test_s3.log" || ckt_fail "test_s3 live mode: $(cat "$CKT_TMP/test_s3.log")"

ckt_log "the Determined stand-in uploads experiment 4 with --s3-endpoint"
ckt_detmaster_start --s3-endpoint "$CKT_S3_URL" --s3-bucket other --s3-prefix /team/ckpts/
ckt_det_dataset >"$CKT_TMP/dataset.json"
python3 - "$CKT_TMP/dataset.json" "$CKT_S3_URL" >"$CKT_TMP/exp4.tsv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
st = next(e["storage"] for e in d["experiments"] if e["id"] == 4)
want = {"type": "s3", "bucket": "other", "prefix": "/team/ckpts/", "endpoint_url": sys.argv[2],
        "access_key": None, "secret_key": None}
assert {k: st.get(k) for k in want} == want, st
cps = [c for c in d["checkpoints"] if c["experimentId"] == 4]
assert cps and all(c["s3Prefix"] == f"team/ckpts/{c['uuid']}/" for c in cps), cps
assert all("s3Prefix" not in c for c in d["checkpoints"] if c["experimentId"] != 4)
rels = [r for r in cps[0]["resources"] if not r.endswith("/")]
assert "données/poids ü.bin" in rels and "notes/run 1+2 ~é.txt" in rels, rels
for c in cps:
    for rel, size in c["resources"].items():
        if not rel.endswith("/"):
            print(f"{c['s3Prefix']}{rel}\t{size}")
PY
n=0
while IFS=$'\t' read -r key size; do
    got=$(ckt_s3_curl -o /dev/null -w '%{http_code} %{size_download}' "$(ckt_s3_url other "$key")")
    [ "$got" = "200 $size" ] || ckt_fail "stand-in object '$key': got '$got', want '200 $size'"
    n=$((n + 1))
done <"$CKT_TMP/exp4.tsv"
[ "$n" -ge 5 ] || ckt_fail "only $n objects for experiment 4"
# The archive route serves the same bytes as the bucket.
TOK=$(curl -sS -X POST "$CKT_DET_URL/api/v1/auth/login" -d '{"username":"determined","password":""}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
E4=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["uuid"] for c in d["checkpoints"] if c["experimentId"]==4))' "$CKT_TMP/dataset.json")
mkdir -p "$CKT_TMP/archive"
curl -sS -H "Authorization: Bearer $TOK" -H 'Accept: application/x-tar' "$CKT_DET_URL/checkpoints/$E4" |
    tar -xf - -C "$CKT_TMP/archive"
for rel in "notes/run 1+2 ~é.txt" "metadata.json" "big/shard 0.bin"; do
    ckt_s3_curl -o "$CKT_TMP/obj" "$(ckt_s3_url other "team/ckpts/$E4/$rel")"
    cmp -s "$CKT_TMP/obj" "$CKT_TMP/archive/$rel" || ckt_fail "archive and bucket differ for '$rel'"
done
# A checkpoint added later goes to the bucket too.
NEW=$(curl -sS -X POST "$CKT_DET_URL/_ctl/trials/7/checkpoints" -d '{"files":{"w 1.bin":1000}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
got=$(ckt_s3_curl -o /dev/null -w '%{http_code} %{size_download}' "$(ckt_s3_url other "team/ckpts/$NEW/w 1.bin")")
[ "$got" = "200 1000" ] || ckt_fail "added checkpoint: got '$got'"

ckt_log "clean exit on SIGTERM, silent"
mkdir -p "$CKT_TMP/s3b"
node "$SRC/tests/s3/s3server.js" --port-file "$CKT_TMP/s3b/port" --directory "$CKT_TMP/s3b/data" \
    --bucket x >"$CKT_TMP/s3b/out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -s "$CKT_TMP/s3b/port" ] && break; sleep 0.05; done
[ -s "$CKT_TMP/s3b/port" ] || ckt_fail "second s3server did not start"
ckt_s3_curl -o /dev/null "http://127.0.0.1:$(cat "$CKT_TMP/s3b/port")/x/k" -T "$CKT_TMP/up/3"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] || ckt_fail "s3server exited with $rc on SIGTERM"
[ ! -s "$CKT_TMP/s3b/out" ] || ckt_fail "s3server printed: $(cat "$CKT_TMP/s3b/out")"
ckt_s3_stop

echo "s3 smoke: ok"
