#!/usr/bin/env bash
# End to end, Azure Blob through the fleet cache with an account key: Azurite
# (which checks service SAS signatures) as the origin, the cache running
# contrib/nginx-cache.conf, ckptd with cache={"origins":["azure"]} and the
# key from AZURE_STORAGE_CONNECTION_STRING. Shared Key signs headers, which a
# cache cannot share between nodes; ckptd sends a service SAS instead (one
# blob, read only, an hour), made per request (engine/azure_sas.c). Shown:
#   - Azurite checks service SAS signatures: a SAS made independently
#     (Python, Microsoft's string to sign) gets 200; the same SAS with a
#     tampered signature, or signed with another key, gets 403 (straight and
#     through the cache on a miss: a refusal is not cached);
#   - a checkpoint of the stand-in (blob names with spaces, '+', '%', '#',
#     UTF-8; a 12 MiB blob in ranges) downloads through the cache, every
#     request authorized by ckptd's SAS (Azurite's log: SAS validations
#     passed, no Shared Key request), bytes equal to the uploaded ones; no key
#     or signature in ckptd's log, the job records or the cache's log;
#   - a second node (own state) is served by the cache: the origin sees
#     (almost) no more bytes, the copy is verified;
#   - the cache's key leaves the SAS out: a hit is served whatever the
#     signature (why the cache must stay on the cluster network,
#     contrib/README.md).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/azure.sh"
. "$CKPT_SRC/tests/lib/cache.sh"
ckt_tmpdir
ckt_azure_start --debug # the debug log says how each request was authorized
ckt_detmaster_start --azure-endpoint "$CKT_AZURE_URL" --azure-container ckpts
u=$(ckt_det_q '[c["uuid"] for c in d["checkpoints"] if c["experimentId"]==6 and c["state"]=="STATE_COMPLETED"][0]')
azhp=${CKT_AZURE_URL#http://}
azhp=${azhp%%/*}
ckt_cache_start "$azhp"
cd "$CKT_TMP"

# The reference: the stand-in's archive of the checkpoint, the bytes it uploaded.
ref=$CKT_TMP/ref
ckt_det_reference "$u" "$ref"
[ -f "$ref/big/shard 1.bin" ] && [ -f "$ref/notes/50% α=β&γ;δ#1.txt" ] || ckt_fail "unexpected checkpoint"
total=$(find "$ref" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

# An independent service SAS (Microsoft's "Create a service SAS", sv
# 2021-08-06): BLOB (decoded name) KEY [LIFETIME] -> the SAS URL.
sas_url() {
    python3 - "$CKT_AZURE_URL" "$1" "$2" "${3:-600}" <<'PY'
import base64, datetime, hashlib, hmac, sys, urllib.parse as up
endpoint, blob, key, life = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3]), int(sys.argv[4])
se = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=life)).strftime("%Y-%m-%dT%H:%M:%SZ")
sts = "\n".join(["r", "", se, f"/blob/devstoreaccount1/ckpts/{blob}", "", "", "", "2021-08-06", "b",
                 "", "", "", "", "", "", ""])
sig = base64.b64encode(hmac.new(key, sts.encode(), hashlib.sha256).digest()).decode()
q = up.urlencode({"sv": "2021-08-06", "se": se, "sr": "b", "sp": "r", "sig": sig}, quote_via=up.quote, safe="")
print(f"{endpoint}/ckpts/{up.quote(blob, safe='/')}?{q}")
PY
}
via_cache() { sed "s|^http://$azhp|$CKT_CACHE_URL/azure/http/$azhp|"; }
get() { curl -s -o "${2:-/dev/null}" -w '%{http_code}' -H 'x-ms-version: 2021-08-06' "$1"; }

ckt_log "Azurite checks service SAS signatures"
probe="$u/notes/run 1+2 ~é.txt"
good=$(sas_url "$probe" "$CKT_AZURE_KEY")
code=$(get "$good" probe.out)
[ "$code" = 200 ] && cmp -s probe.out "$ref/notes/run 1+2 ~é.txt" || ckt_fail "a good SAS got HTTP $code"
# Flip one character of the signature (base64, percent-encoded at the end).
tampered=$(python3 -c 'import sys; u = sys.argv[1]; i = u.rindex("sig=") + 4; c = u[i]
print(u[:i] + ("B" if c != "B" else "C") + u[i + 1:])' "$good")
code=$(get "$tampered")
[ "$code" = 403 ] || ckt_fail "a tampered SAS signature got HTTP $code, not 403"
code=$(get "$(sas_url "$probe" "$(head -c 64 /dev/urandom | base64 -w0)")")
[ "$code" = 403 ] || ckt_fail "a SAS signed with another key got HTTP $code, not 403"
code=$(get "$(sas_url "$u/big/shard 1.bin" "$CKT_AZURE_KEY")")
[ "$code" = 200 ] || ckt_fail "a SAS for another blob got HTTP $code"
code=$(get "$(sas_url "$u/big/shard 1.bin" "$CKT_AZURE_KEY" | sed 's|/big/shard%201.bin|/notes/empty|')")
[ "$code" = 403 ] || ckt_fail "a SAS used for another blob than its own got HTTP $code, not 403"
ckt_log "a miss through the cache with a tampered SAS: refused by Azurite, not cached"
code=$(get "$(echo "$tampered" | via_cache)")
[ "$code" = 403 ] || ckt_fail "a tampered SAS through the cache got HTTP $code, not 403"
code=$(get "$(echo "$tampered" | via_cache)")
[ "$code" = 403 ] || ckt_fail "a refusal was cached (HTTP $code)"
# Azurite writes its debug log asynchronously: the refusals above must land
# before the mark, or they would count as refusals of ckptd's requests.
prev=-1 n=0
for _ in $(seq 50); do
    n=$(wc -l < "$CKT_AZURE_DEBUG")
    [ "$n" = "$prev" ] && break
    prev=$n
    sleep 0.2
done
mark=$((n + 1))

setting="cache={\"url\":\"$CKT_CACHE_URL\",\"origins\":[\"azure\"]}"
ckt_log "node 1: the checkpoint through the cache, with a service SAS per request"
ckt_azure_env
export CKT_KEEP_AZURE=1
ckt_cache_node n1 direct "$u" segment_threshold=1048576 split_below=0 "$setting"
diff -r -x .ckptd.xxh128 -x .ckptd.json "$ref" "$CKT_TMP/out-n1" || ckt_fail "bytes differ from the uploaded ones"
grep -q "\"GET /azure/http/$azhp/devstoreaccount1/ckpts/$u/big/shard 1.bin\" 206" "$CKT_CACHE_LOG" ||
    ckt_fail "no ranged request for the 12 MiB blob went through the cache"
grep -q 'cache=MISS' "$CKT_CACHE_LOG" || ckt_fail "no miss went to the origin"
sleep 0.3 # Azurite writes its debug log asynchronously
tail -n +"$mark" "$CKT_AZURE_DEBUG" > az1.log
passed=$(grep -c 'BlobSASAuthenticator:validate() Blob service SAS validation successfully' az1.log || true)
[ "$passed" -gt 0 ] || ckt_fail "Azurite validated no service SAS"
grep -q 'BlobSharedKeyAuthenticator:validate() \[STRING TO SIGN\]' az1.log && ckt_fail "a Shared Key request reached Azurite"
if grep 'validation failed\|Validate signature based account key1 and key2 failed' az1.log > refused.log; then
    cat refused.log >&2
    ckt_fail "Azurite refused a SAS of ckptd's"
fi
grep -q 'StatusCode=403' az1.log && ckt_fail "Azurite answered 403"
(cd "$CKT_TMP/out-n1" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "the manifest does not verify"
sqlite3 "$CKT_TMP/n1.state/ckptd.db" .dump > n1.dump
for f in "$CKT_TMP/ckptd.log" "$CKT_CACHE_LOG" n1.dump; do
    grep -qF "$CKT_AZURE_KEY" "$f" && ckt_fail "the account key leaked"
    grep -q "sig=\|AccountKey" "$f" && ckt_fail "a signature or the connection string leaked"
done
up1=$(ckt_cache_upstream_bytes)
ckt_log "origin -> cache: $up1 bytes for $total bytes of files, $passed SAS validated"

ckt_log "node 2 (its own state): served by the cache"
ckt_cache_node n2 direct "$u" segment_threshold=1048576 split_below=0 "$setting"
diff -r -x .ckptd.xxh128 -x .ckptd.json "$ref" "$CKT_TMP/out-n2" || ckt_fail "node 2's copy differs"
ckt_cache_served_once "$up1" "$total"

ckt_log "the key leaves the SAS out: a hit is served whatever the signature"
code=$(get "$(echo "$tampered" | via_cache)" hit.out)
[ "$code" = 200 ] && cmp -s hit.out "$ref/notes/run 1+2 ~é.txt" ||
    ckt_fail "a cached blob was not served (HTTP $code)"
echo "cache_azure: ok ($total bytes; the origin sent $(ckt_cache_upstream_bytes) bytes for two nodes)"
