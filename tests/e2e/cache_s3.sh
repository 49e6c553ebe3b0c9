#!/usr/bin/env bash
# End to end, S3 through the fleet cache: s3rver (SigV4-checking) as the
# origin, the cache running contrib/nginx-cache.conf, ckptd with
# cache={"origins":["s3"]}. Shown here:
#   - s3rver checks query-string (presigned) signatures: a presigned URL made
#     independently (Python, below) gets 200, the same URL with a tampered
#     signature or signed with a wrong secret gets 403;
#   - a checkpoint of the Determined stand-in downloads through the cache
#     with presigned, ranged requests; bytes equal the objects; no secret in
#     the cache's log, ckptd's log or the job records;
#   - a second node (own state) is served from the cache: the origin sees
#     (almost) no more bytes;
#   - the cache's key leaves the signature out: a request with a garbage
#     signature is served from the cache on a hit (why the cache must stay
#     on the cluster network, contrib/README.md), and goes to the origin,
#     which refuses it, on a miss.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/s3.sh"
. "$CKPT_SRC/tests/lib/cache.sh"
ckt_tmpdir
ckt_s3_start b
s3hp=${CKT_S3_URL#http://}

# An independent presigner (AWS's documented algorithm, not ckptd's code).
presign() { # URL SECRET -> presigned URL, signed now for 600 s
    python3 - "$1" "$2" <<'PY'
import datetime, hashlib, hmac, sys, urllib.parse as up
url, secret = sys.argv[1], sys.argv[2]
u = up.urlsplit(url)
t = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
scope = f"{t[:8]}/us-east-1/s3/aws4_request"
q = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"S3RVER/{scope}",
     "X-Amz-Date": t, "X-Amz-Expires": "600", "X-Amz-SignedHeaders": "host"}
cq = "&".join(f"{k}={up.quote(v, safe='-_.~')}" for k, v in sorted(q.items()))
cr = f"GET\n{u.path}\n{cq}\nhost:{u.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
sts = f"AWS4-HMAC-SHA256\n{t}\n{scope}\n{hashlib.sha256(cr.encode()).hexdigest()}"
k = ("AWS4" + secret).encode()
for part in (t[:8], "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
print(f"{url}?{cq}&X-Amz-Signature={hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()}")
PY
}

ckt_log "s3rver checks query-string signatures"
ckt_gen_file "$CKT_TMP/probe.bin" 1000
ckt_s3_put b probe.bin "$CKT_TMP/probe.bin"
good=$(presign "$CKT_S3_URL/b/probe.bin" S3RVER)
code=$(curl -s -o probe.out -w '%{http_code}' "$good")
[ "$code" = 200 ] && cmp -s probe.out "$CKT_TMP/probe.bin" || ckt_fail "a good presigned URL got HTTP $code"
tampered=${good%?}0; [ "$tampered" != "$good" ] || tampered=${good%?}1
code=$(curl -s -o /dev/null -w '%{http_code}' "$tampered")
[ "$code" = 403 ] || ckt_fail "a tampered query signature got HTTP $code, not 403"
code=$(curl -s -o /dev/null -w '%{http_code}' "$(presign "$CKT_S3_URL/b/probe.bin" wrong)")
[ "$code" = 403 ] || ckt_fail "a query signature with a wrong secret got HTTP $code, not 403"

ckt_detmaster_start --s3-endpoint "$CKT_S3_URL" --s3-bucket b --s3-prefix /ckpts
uuids=$(ckt_det_q '" ".join(c["uuid"] for c in d["checkpoints"] if c["experimentId"]==4 and c["state"] in ("STATE_COMPLETED","STATE_PARTIALLY_DELETED"))')
[ -n "$uuids" ] || ckt_fail "no s3 checkpoints in the stand-in"
u=${uuids%% *}
ckt_cache_start "$s3hp"

ckt_log "node 1: the checkpoint through the cache, presigned and ranged"
ckt_s3_env
CKT_SOCK=$CKT_TMP/n1.sock CKT_STATE=$CKT_TMP/n1.state
CKT_KEEP_AWS=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt config set segment_threshold=1048576 "cache={\"url\":\"$CKT_CACHE_URL\",\"origins\":[\"s3\"]}" > /dev/null
ckpt checkpoint download "$u" --mode direct -o "$CKT_TMP/out1" -q > dl1.out 2>&1 || { cat dl1.out; ckt_fail "download through the cache failed"; }
ckpt job 1 > job1.out
grep -q "from the origin" job1.out && { cat job1.out; ckt_fail "a request fell back to the origin (job log)"; }
ckt_daemon_stop
ref=$CKT_TMP/ref
mkdir -p "$ref"
(cd "$CKT_TMP/out1" && find . -type f ! -name '.ckptd.*' ! -name metadata.json) | sed 's|^\./||' > files.txt
[ -s files.txt ] || ckt_fail "nothing downloaded"
total=0
while IFS= read -r rel; do
    mkdir -p "$(dirname "$ref/$rel")"
    ckt_s3_curl -f -o "$ref/$rel" "$(ckt_s3_url b "ckpts/$u/$rel")" || ckt_fail "reference GET of '$rel'"
    cmp -s "$ref/$rel" "$CKT_TMP/out1/$rel" || ckt_fail "'$rel' differs from the object"
    total=$((total + $(stat -c %s "$ref/$rel")))
done < files.txt
grep -q "\"GET /s3/http/$s3hp/b/ckpts/$u/" "$CKT_CACHE_LOG" || ckt_fail "no request went through the cache"
grep -q 'range="bytes=' "$CKT_CACHE_LOG" || ckt_fail "no ranged request reached the cache"
grep -q 'cache=MISS' "$CKT_CACHE_LOG" || ckt_fail "no miss went to the origin"
grep -q "the cache .* failed\|came through the cache" "$CKT_TMP/ckptd.log" && ckt_fail "a request fell back to the origin"
grep -q "S3RVER\|X-Amz-Signature" "$CKT_TMP/ckptd.log" && ckt_fail "a credential or signature reached ckptd's log"
grep -q "X-Amz-Signature" <(sqlite3 "$CKT_TMP/n1.state/ckptd.db" .dump) && ckt_fail "a signature reached the job records"
grep -q "X-Amz-Signature" "$CKT_CACHE_LOG" && ckt_fail "the cache's log format leaks signatures"
up1=$(ckt_cache_upstream_bytes)
ckt_log "origin -> cache: $up1 bytes for $total bytes of files"

ckt_log "node 2 (its own state): served by the cache"
CKT_KEEP_AWS=1 ckt_cache_node n2 direct "$u" segment_threshold=1048576 \
    "cache={\"url\":\"$CKT_CACHE_URL\",\"origins\":[\"s3\"]}"
diff -r -x .ckptd.xxh128 -x .ckptd.json "$CKT_TMP/out1" "$CKT_TMP/out-n2" || ckt_fail "node 2's copy differs"
ckt_cache_served_once "$up1" "$total"

ckt_log "the key leaves the signature out: a hit needs none, a miss is checked by the origin"
rel=$(head -1 files.txt)
key=$(python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe="/"))' "ckpts/$u/$rel")
code=$(curl -s -o hit.bin -w '%{http_code}' "$CKT_CACHE_URL/s3/http/$s3hp/b/$key?X-Amz-Signature=garbage")
[ "$code" = 200 ] && cmp -s hit.bin "$ref/$rel" || ckt_fail "a cached object was not served (HTTP $code)"
via_cache() { sed "s|^$CKT_S3_URL|$CKT_CACHE_URL/s3/http/$s3hp|"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$(echo "$tampered" | via_cache)")
[ "$code" = 403 ] || ckt_fail "a miss with a tampered signature got HTTP $code from the origin, not 403"
code=$(curl -s -o /dev/null -w '%{http_code}' "$(presign "$CKT_S3_URL/b/probe.bin" S3RVER | via_cache)")
[ "$code" = 200 ] || ckt_fail "a good presigned URL through the cache got HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$CKT_CACHE_URL/s3/http/127.0.0.2:1/b/x")
[ "$code" = 403 ] || ckt_fail "the cache reached an origin not on its list (HTTP $code)"
echo "cache_s3: ok"
