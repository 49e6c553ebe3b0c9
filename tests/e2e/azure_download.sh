#!/usr/bin/env bash
# End to end, azure storage: a checkpoint of the stand-in kept in Azurite (the
# Azure Storage emulator, which checks Shared Key signatures) is downloaded by
# GETs signed with the range in a signed x-ms-range header: blob names with
# spaces, '+', '~', '%', '#', ';', '&', '=' and UTF-8, an empty blob, a 12 MiB
# blob in three ranges; bytes equal to the stand-in's archive, the manifest
# verifies. The key (from AZURE_STORAGE_CONNECTION_STRING) reaches neither the
# log nor the job records. A wrong key fails within seconds with a clear 403,
# once per file, and nothing goes to the master, which has no archive of azure
# checkpoints; no credentials at all and --mode master are refused up front.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/azure.sh"
ckt_tmpdir
ckt_azure_start --debug # the request log tells ranges and statuses
ckt_detmaster_start --azure-endpoint "$CKT_AZURE_URL" --azure-container ckpts
u=$(ckt_det_q '[c["uuid"] for c in d["checkpoints"] if c["experimentId"]==6 and c["state"]=="STATE_COMPLETED"][0]')
[ "$(ckt_det_q "[c.get('azureBlobPrefix') for c in d['checkpoints'] if c['uuid']=='$u'][0]")" = "$u/" ] ||
    ckt_fail "checkpoint $u was not uploaded to azurite"

# The reference: the stand-in's archive of the checkpoint, the bytes it uploaded.
ref=$CKT_TMP/ref
ckt_det_reference "$u" "$ref"
for f in 'notes/run 1+2 ~é.txt' 'notes/50% α=β&γ;δ#1.txt' 'notes/empty' 'big/shard 1.bin'; do
    [ -f "$ref/$f" ] || ckt_fail "the archive lacks '$f'"
done
nfiles=$(find "$ref" -type f | wc -l)
nbytes=$(find "$ref" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
nonempty=$(find "$ref" -type f -size +0 | wc -l)
curl -sf -X POST "$CKT_DET_URL/_ctl/stats/reset" > /dev/null
# Archive requests the stand-in has served since the reset.
archive_gets() { curl -sf "$CKT_DET_URL/_ctl/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("GET /checkpoints/{uuid}", 0))'; }

# Azurite's requests from line $1 of its debug log on, one per line:
# METHOD STATUS RANGE PATH (RANGE "-" when none; a ranged GET's RANGE must
# be in what it signed, else "unsigned-range").
azurite_requests() {
    tail -n +"$1" "$CKT_AZURE_DEBUG" | python3 -c '
import json, re, sys
reqs, order = {}, []
for line in sys.stdin:
    m = re.match(r"\S+ (\S+) \w+: (.*)", line)
    if not m:
        continue
    rid, msg = m.groups()
    r = reqs.setdefault(rid, {})
    if rid not in order:
        order.append(rid)
    m = re.match(r"BlobStorageContextMiddleware: RequestMethod=(\S+) RequestURL=http://[^/]+(\S*) RequestHeaders:(\{.*?\}) ClientIP", msg)
    if m:
        r["method"], r["path"] = m.group(1), m.group(2)
        r["range"] = json.loads(m.group(3)).get("x-ms-range", "-")
    m = re.match(r"BlobSharedKeyAuthenticator:validate\(\) \[STRING TO SIGN\]:(.*)", msg)
    if m:
        r["signed"] = m.group(1)
    m = re.match(r"EndMiddleware: End response\. \S+ StatusCode=(\d+)", msg)
    if m:
        r["status"] = m.group(1)
for rid in order:
    r = reqs[rid]
    if "method" not in r:
        continue
    rng = r["range"]
    if rng != "-" and "x-ms-range:" + rng not in r.get("signed", ""):
        rng = "unsigned-range"
    print(r["method"], r.get("status", "?"), rng, r["path"])
'
}

# azurite_settled MARK FILE: azurite_requests into FILE once every request
# has its answer logged (the log is written asynchronously), 3 s at most.
azurite_settled() {
    local _
    for _ in $(seq 1 60); do
        azurite_requests "$1" > "$2"
        [ -z "$(awk '$2 == "?"' "$2")" ] && return 0
        sleep 0.05
    done
}

ckt_log "signed ranged GETs from azurite, the key from AZURE_STORAGE_CONNECTION_STRING"
ckt_azure_env
CKT_KEEP_AZURE=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt config set segment_threshold=1048576 split_below=0 > /dev/null # the 12 MiB blob goes in ranges at once
mark=$(($(wc -l < "$CKT_AZURE_DEBUG") + 1))
t0=$(date +%s.%N)
ckpt checkpoint download "$u" -o "$CKT_TMP/out" -q > /dev/null || ckt_fail "azure download failed"
t1=$(date +%s.%N)
diff -r -x .ckptd.xxh128 -x .ckptd.json "$ref" "$CKT_TMP/out" || ckt_fail "bytes differ from the uploaded ones"
(cd "$CKT_TMP/out" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "the manifest does not verify"
[ "$(wc -l < "$CKT_TMP/out/.ckptd.xxh128")" = "$nfiles" ] || ckt_fail "the manifest does not list $nfiles files"
ckpt --json job 1 | python3 -c '
import json, sys
j = json.load(sys.stdin)["job"]
url, u, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
assert j["state"] == "done" and j["error"] is None, (j["state"], j["error"])
cps = j["checkpoints"]
assert [(c["uuid"], c["storage"], c["via"]) for c in cps] == [(u, "azure", "direct")], cps
assert len(j["files"]) == n and all(f["state"] == "verified" for f in j["files"]), j["files"]
for f in j["files"]:  # the blob URL, never a SAS or other query
    assert f["url"].startswith(url + "/ckpts/" + u + "/") and "?" not in f["url"], f["url"]
' "$CKT_AZURE_URL" "$u" "$nfiles" || ckt_fail "job 1 does not record an azure, direct, verified download"
azurite_settled "$mark" "$CKT_TMP/ok.req"
# One GET per non-empty blob, three for the 12 MiB one, every range signed,
# all answered 206; the master's archive route never asked.
[ "$(grep -c '^GET 206 bytes=' "$CKT_TMP/ok.req")" = $((nonempty + 2)) ] &&
    [ "$(wc -l < "$CKT_TMP/ok.req")" = $((nonempty + 2)) ] ||
    { cat "$CKT_TMP/ok.req"; ckt_fail "expected $((nonempty + 2)) signed ranged GETs, all 206"; }
python3 - "$CKT_TMP/ok.req" "$((12 * 1024 * 1024 + 17))" <<'PY' || ckt_fail "the 12 MiB blob is not covered by three ranges"
import sys
ranges = sorted(tuple(map(int, l.split()[2][6:].split("-"))) for l in open(sys.argv[1])
                if l.rstrip().endswith("/big/shard%201.bin"))
size = int(sys.argv[2])
assert len(ranges) == 3, ranges
assert ranges[0][0] == 0 and ranges[-1][1] == size - 1, ranges
assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:])), ranges
PY
[ "$(archive_gets)" = 0 ] || ckt_fail "the master's archive route was used"
grep -qF "$CKT_AZURE_KEY" "$CKT_TMP/ckptd.log" && ckt_fail "the account key reached the log"
grep -qF "$CKT_AZURE_KEY" <(sqlite3 "$CKT_STATE/ckptd.db" .dump) && ckt_fail "the account key reached the job records"
grep -qi "AccountKey" <(sqlite3 "$CKT_STATE/ckptd.db" .dump) && ckt_fail "the connection string reached the job records"
ckt_daemon_stop
rm -rf "$CKT_TMP/out" # else the checkpoint is copied from there, not fetched

ckt_log "a wrong AccountKey, auto (the default): a 403 within seconds, no master, no retries"
wrong=$(head -c 64 /dev/urandom | base64 -w0)
ckt_azure_env "$wrong"
CKT_KEEP_AZURE=1 DET_MASTER=$CKT_DET_URL ckt_daemon_start
mark=$(($(wc -l < "$CKT_AZURE_DEBUG") + 1))
t2=$(date +%s.%N)
rc=0; ckpt checkpoint download "$u" -o "$CKT_TMP/bad" > "$CKT_TMP/bad.out" 2>&1 || rc=$?
t3=$(date +%s.%N)
[ $rc -ne 0 ] || ckt_fail "a wrong key was accepted"
grep -q "http 403 for '$CKT_AZURE_URL/ckpts/$u/.*': the azure server refused the credentials or the signature" \
    "$CKT_TMP/bad.out" || { cat "$CKT_TMP/bad.out"; ckt_fail "no clear 403 message"; }
[ "$(echo "$t3 - $t2 < 10" | bc)" = 1 ] || ckt_fail "took $(echo "$t3 - $t2" | bc) s to fail"
[ ! -e "$CKT_TMP/bad" ] || [ -z "$(ls -A "$CKT_TMP/bad")" ] || ckt_fail "something was published"
job=$(ckpt --json jobs | python3 -c 'import json,sys; print(max(j["id"] for j in json.load(sys.stdin)["jobs"]))')
ckpt --json job "$job" | python3 -c '
import json, sys
j = json.load(sys.stdin)["job"]
assert j["state"] == "failed", j["state"]
assert [(c["storage"], c["via"]) for c in j["checkpoints"]] == [("azure", "direct")], j["checkpoints"]
assert not any("master" in l["message"] for l in j["log"]), j["log"]
' || ckt_fail "job $job is not a failed direct azure download"
[ "$(archive_gets)" = 0 ] || ckt_fail "the master's archive route was used for an azure checkpoint"
azurite_settled "$mark" "$CKT_TMP/bad.req"
# Each range of each blob asked at most once, every answer 403: a refusal is
# not retried.
grep -qv '^GET 403 ' "$CKT_TMP/bad.req" && { cat "$CKT_TMP/bad.req"; ckt_fail "a request that was not a refused GET"; }
[ -s "$CKT_TMP/bad.req" ] && [ -z "$(awk '{print $3, $4}' "$CKT_TMP/bad.req" | sort | uniq -d)" ] ||
    { cat "$CKT_TMP/bad.req"; ckt_fail "a refused range was asked again"; }
grep -q "retrying" "$CKT_TMP/ckptd.log" && ckt_fail "a 403 was retried"
grep -qF "$wrong" "$CKT_TMP/ckptd.log" && ckt_fail "the wrong key reached the log"
grep -qF "$wrong" <(sqlite3 "$CKT_STATE/ckptd.db" .dump) && ckt_fail "the wrong key reached the job records"

ckt_log "--mode master: refused, the master has no archive of azure checkpoints"
rc=0; ckpt checkpoint download "$u" --mode master -o "$CKT_TMP/m" > "$CKT_TMP/m.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "--mode master was accepted for an azure checkpoint"
grep -q "checkpoint $u is on azure storage, which the master cannot serve as an archive: use --mode direct" \
    "$CKT_TMP/m.out" || { cat "$CKT_TMP/m.out"; ckt_fail "no clear --mode master message"; }
[ ! -e "$CKT_TMP/m" ] || ckt_fail "something was written for --mode master"
[ "$(archive_gets)" = 0 ] || ckt_fail "--mode master reached the master's archive route"
ckt_daemon_stop

ckt_log "no azure credentials anywhere, auto: refused up front, not sent to the master"
unset AZURE_STORAGE_CONNECTION_STRING
DET_MASTER=$CKT_DET_URL ckt_daemon_start
rc=0; ckpt checkpoint download "$u" -o "$CKT_TMP/none" > "$CKT_TMP/none.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "a download without credentials succeeded"
grep -q "checkpoint $u: no azure credentials: .*AZURE_STORAGE_CONNECTION_STRING is not set" "$CKT_TMP/none.out" ||
    { cat "$CKT_TMP/none.out"; ckt_fail "no clear missing-credentials message"; }
[ ! -e "$CKT_TMP/none" ] || ckt_fail "something was written without credentials"
[ "$(archive_gets)" = 0 ] || ckt_fail "the master's archive route was used without credentials"
ckt_daemon_stop
printf 'azure_download: ok (%d files, %d bytes in %.2f s; a wrong key failed in %.2f s)\n' \
    "$nfiles" "$nbytes" "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)"
