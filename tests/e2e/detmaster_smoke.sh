#!/usr/bin/env bash
# Smoke test of the Determined master stand-in (tests/detmaster/detmaster.py),
# driven with curl: login, bearer auth, both list routes with their sort
# difference, paging, errors, metadata, the archive route, the dataset on
# disk, and the /_ctl/ test controls. Needs python3 and curl only.
set -euo pipefail
SRC=${CKPT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/common.sh"
ckt_tmpdir

DATA=$CKT_TMP/data
python3 "$SRC/tests/detmaster/detmaster.py" --port-file "$CKT_TMP/port" --data "$DATA" \
    --max-page 4 >"$CKT_TMP/detmaster.log" 2>&1 &
CKT_PIDS+=("$!")
disown "$!" # killed by ckt_cleanup; no job-control notice
for _ in $(seq 1 100); do [ -s "$CKT_TMP/port" ] && break; sleep 0.1; done
[ -s "$CKT_TMP/port" ] || ckt_fail "detmaster did not write its port file"
B=http://127.0.0.1:$(cat "$CKT_TMP/port")

# py EXPR: evaluates a Python assertion block with the JSON on stdin as d.
py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
# req [curl args]: prints the body, then the status code on its own line.
req() { curl -sS -w '\n%{http_code}' "$@"; }
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
expect() { # expect STATUS RESPONSE
    [ "$(status_of "$2")" = "$1" ] || ckt_fail "want HTTP $1, got $(status_of "$2"): $(body_of "$2")"
}

ckt_log "auth"
r=$(req "$B/api/v1/experiments/1")
expect 401 "$r"
[ "$(body_of "$r")" = '{"error":{"code":16,"reason":"Unauthenticated","error":"invalid credentials"}}' ] ||
    ckt_fail "unexpected 401 body: $(body_of "$r")"
r=$(req -X POST "$B/api/v1/auth/login" -d '{"username":"determined","password":"","isHashed":true}')
expect 200 "$r"
TOK=$(body_of "$r" | py 'print(d["token"])')
H="Authorization: Bearer $TOK"
HASH=$(printf '%s' 'GubPEmmotfiK9TMD6Zdwsecret' | sha512sum | cut -d' ' -f1)
expect 200 "$(req -X POST "$B/api/v1/auth/login" -d "{\"username\":\"alice\",\"password\":\"$HASH\",\"isHashed\":true}")"
expect 200 "$(req -X POST "$B/api/v1/auth/login" -d '{"username":"alice","password":"secret","isHashed":false}')"
expect 401 "$(req -X POST "$B/api/v1/auth/login" -d '{"username":"alice","password":"secret","isHashed":true}')"
expect 401 "$(req -X POST "$B/api/v1/auth/login" -d '{"username":"mallory","password":""}')"
expect 401 "$(req -H "Authorization: Bearer nope" "$B/api/v1/experiments/1")"

ckt_log "experiment and the dataset on disk"
DS=$(curl -sS "$B/_ctl/dataset")
r=$(req -H "$H" "$B/api/v1/experiments/1")
expect 200 "$r"
body_of "$r" | py '
c = d["config"]
assert d["experiment"]["id"] == 1 and c["searcher"]["metric"] == "validation_loss", d
assert c["searcher"]["smaller_is_better"] is True
assert c["checkpoint_storage"]["type"] == "shared_fs" and c["checkpoint_storage"]["storage_path"] is None
assert isinstance(d["experiment"]["checkpointSize"], str)'
printf '%s' "$DS" >"$CKT_TMP/dataset.json"
python3 - "$DATA" "$CKT_TMP" <<'PY'
import json, os, sys
data, tmp = sys.argv[1], sys.argv[2]
d = json.load(open(os.path.join(tmp, "dataset.json")))
assert len(d["checkpoints"]) >= 20, len(d["checkpoints"])
total = 0
for c in d["checkpoints"]:
    for rel, size in c["resources"].items():
        assert isinstance(size, str), (rel, size)  # int64 as strings
        if c["state"] not in ("STATE_COMPLETED", "STATE_PARTIALLY_DELETED") or not c["dir"]:
            continue
        if c["uuid"] == d["hostile"] and rel == "../evil":
            continue
        p = os.path.join(c["dir"], rel)
        if rel.endswith("/"):
            assert size == "0" and os.path.isdir(p), p
        else:
            assert os.path.getsize(p) == int(size), (p, size)
            total += int(size)
assert not os.path.exists(os.path.join(tmp, "evil")), "hostile file written outside"
assert not os.path.exists(os.path.join(data, "evil"))
assert total < 30 * 1024 * 1024, total
names = [r for c in d["checkpoints"] for r in c["resources"]]
assert "données/poids ü.bin" in names and "optimizer/shard/" in names
PY

ckt_log "list routes: default sort, paging, route difference"
# The experiment's default sort pages through --max-page 4: 9 downloadable.
all=""
off=0
while :; do
    r=$(req -H "$H" "$B/api/v1/experiments/1/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&states=STATE_COMPLETED&offset=$off")
    expect 200 "$r"
    page=$(body_of "$r")
    all+=$(py 'print(" ".join(c["uuid"] for c in d["checkpoints"]), end=" ")' <<<"$page")
    read -r off total < <(py 'p=d["pagination"]; assert p["endIndex"]-p["startIndex"] <= 4; print(p["endIndex"], p["total"])' <<<"$page")
    [ "$off" -ge "$total" ] && break
done
[ "$total" = 8 ] || ckt_fail "demo has $total completed checkpoints, want 8"
top3=$(py 'print(" ".join(d["demo"]["top3"]))' <<<"$DS")
[ "$(cut -d' ' -f1-3 <<<"$all")" = "$top3" ] || ckt_fail "top 3 '$all' != '$top3'"
# A null searcher metric: last on the experiment route even in ASC, first
# on the trial route.
r=$(req -H "$H" "$B/api/v1/experiments/1/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&orderBy=ORDER_BY_ASC&states=STATE_COMPLETED")
body_of "$r" | py 'assert d["checkpoints"][0]["training"]["searcherMetric"] is not None'
r=$(req -H "$H" "$B/api/v1/experiments/1/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&orderBy=ORDER_BY_ASC&offset=-1")
body_of "$r" | py 'assert d["checkpoints"][-1]["training"]["searcherMetric"] is None; assert d["pagination"]["startIndex"] == 11, d["pagination"]'
r=$(req -H "$H" "$B/api/v1/trials/1/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&orderBy=ORDER_BY_ASC")
expect 200 "$r"
body_of "$r" | py 'assert [c["training"]["searcherMetric"] for c in d["checkpoints"]] == [None, 0.31, 0.55, 0.9], d'
r=$(req -H "$H" "$B/api/v1/trials/1/checkpoints?sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC&limit=1")
body_of "$r" | py 'assert d["checkpoints"][0]["metadata"]["steps_completed"] == 400 and d["pagination"]["total"] == 4'
# By a named metric, DESC: NaN first (greatest), a missing metric last.
Q="sortByMetric=accuracy&orderBy=ORDER_BY_DESC"
curl -sS -H "$H" "$B/api/v1/experiments/2/checkpoints?$Q" |
    py 'assert d["checkpoints"][0]["training"]["validationMetrics"]["avgMetrics"]["accuracy"] == "NaN"'
curl -sS -H "$H" "$B/api/v1/experiments/2/checkpoints?$Q&offset=-1" |
    py 'assert d["checkpoints"][0]["training"].get("validationMetrics") is None, d'
expect 400 "$(req -H "$H" "$B/api/v1/experiments/1/checkpoints?offset=99")"
expect 400 "$(req -H "$H" "$B/api/v1/experiments/1/checkpoints?sortByAttr=SORT_BY_COLOUR")"
expect 404 "$(req -H "$H" "$B/api/v1/experiments/42/checkpoints")"
expect 404 "$(req -H "$H" "$B/api/v1/trials/42/checkpoints")"

ckt_log "one checkpoint, metadata"
U=$(cut -d' ' -f1 <<<"$top3")
r=$(req -H "$H" "$B/api/v1/checkpoints/$U")
expect 200 "$r"
body_of "$r" | py 'c = d["checkpoint"]; assert c["uuid"] and c["reportTime"].endswith("Z") and c["training"]["trialId"] == 3'
r=$(req -H "$H" "$B/api/v1/checkpoints/nope")
expect 404 "$r"
body_of "$r" | py 'assert d["error"]["code"] == 5 and "nope" in d["error"]["error"]'
r=$(req -H "$H" -X POST "$B/api/v1/checkpoints/$U/metadata" -d "{\"checkpoint\":{\"uuid\":\"$U\",\"metadata\":{\"k\":1}}}")
expect 200 "$r"
body_of "$r" | py 'assert d["checkpoint"]["metadata"] == {"k": 1}'
curl -sS -H "$H" "$B/api/v1/checkpoints/$U" | py 'assert d["checkpoint"]["metadata"] == {"k": 1}'

ckt_log "archive"
HOSTILE=$(py 'print(d["hostile"])' <<<"$DS")
curl -sS -D "$CKT_TMP/h" -o "$CKT_TMP/a.tar" -H "$H" -H 'Accept: application/x-tar' "$B/checkpoints/$U"
grep -qi '^content-length:' "$CKT_TMP/h" || ckt_fail "tar reply without Content-Length"
tar -tf "$CKT_TMP/a.tar" > "$CKT_TMP/a.lst"   # not piped into grep -q: SIGPIPE + pipefail
grep -qx 'metadata.json' "$CKT_TMP/a.lst" || ckt_fail "tar lacks metadata.json"
curl -sS -o "$CKT_TMP/h.tgz" -H "$H" -H 'Accept: application/gzip' "$B/checkpoints/$HOSTILE"
tar -tzf "$CKT_TMP/h.tgz" > "$CKT_TMP/h.lst" 2>/dev/null || true
grep -qx '../evil' "$CKT_TMP/h.lst" || ckt_fail "hostile archive lacks ../evil"
r=$(req -H "$H" -H 'Accept: text/html' "$B/checkpoints/$U")
expect 415 "$r"
body_of "$r" | py 'assert "message" in d'

ckt_log "controls: failures, new checkpoints, token expiry, stats"
curl -sS -X POST "$B/_ctl/fail?n=2&status=503" >/dev/null
expect 503 "$(req -H "$H" "$B/api/v1/experiments/1")"
expect 503 "$(req -H "$H" "$B/api/v1/experiments/1")"
expect 200 "$(req -H "$H" "$B/api/v1/experiments/1")"
r=$(req -X POST "$B/_ctl/trials/2/checkpoints" -d '{"searcherMetric":0.01,"files":{"w.bin":1000}}')
expect 200 "$r"
NEW=$(body_of "$r" | py 'print(d["checkpoint"]["uuid"])')
[ "$(stat -c %s "$DATA/$NEW/w.bin")" = 1000 ] || ckt_fail "new checkpoint file missing"
curl -sS -H "$H" "$B/api/v1/experiments/1/checkpoints?sortByAttr=SORT_BY_SEARCHER_METRIC&limit=1" |
    py "assert d['checkpoints'][0]['uuid'] == '$NEW'"

ckt_log "what det asks first, and det's deletions"
curl -sS "$B/info" | py 'assert d["version"] and "clusterId" in d'
r=$(req -H "$H" "$B/api/v1/trials/2")
expect 200 "$r"
body_of "$r" | py 'assert d["trial"]["id"] == 2 and d["trial"]["experimentId"] == 1, d'
expect 404 "$(req -H "$H" "$B/api/v1/trials/42")"
expect 401 "$(req "$B/api/v1/trials/2")"
r=$(req -X POST "$B/_ctl/trials/2/checkpoints" -d '{"searcherMetric":0.9,"files":{"a.bin":10,"b.txt":5}}')
RM=$(body_of "$r" | py 'print(d["checkpoint"]["uuid"])')
expect 200 "$(req -X POST -H "$H" "$B/api/v1/checkpoints/rm" -d "{\"checkpointUuids\":[\"$RM\"],\"checkpointGlobs\":[\"*.bin\"]}")"
[ ! -e "$DATA/$RM/a.bin" ] && [ -e "$DATA/$RM/b.txt" ] || ckt_fail "rm removed the wrong files"
curl -sS -H "$H" "$B/api/v1/checkpoints/$RM" |
    py 'c = d["checkpoint"]; assert c["state"] == "STATE_PARTIALLY_DELETED" and "a.bin" not in c["resources"], c'
expect 404 "$(req -X DELETE -H "$H" "$B/api/v1/checkpoints" -d '{"checkpointUuids":["nope"]}')"
expect 200 "$(req -X DELETE -H "$H" "$B/api/v1/checkpoints" -d "{\"checkpointUuids\":[\"$RM\"]}")"
[ ! -e "$DATA/$RM" ] || ckt_fail "delete left the files"
curl -sS -H "$H" "$B/api/v1/checkpoints/$RM" | py 'assert d["checkpoint"]["state"] == "STATE_DELETED"'

curl -sS -X POST "$B/_ctl/expire-tokens" | py 'assert d["expired"] >= 1'
expect 401 "$(req -H "$H" "$B/api/v1/experiments/1")"
curl -sS "$B/_ctl/stats" | py '
assert d["POST /api/v1/auth/login"] >= 5, d
assert d["GET /api/v1/experiments/{id}/checkpoints"] >= 3, d
assert d["GET /checkpoints/{uuid}"] == 3, d'

ckt_log "token lifetime"
python3 "$SRC/tests/detmaster/detmaster.py" --port-file "$CKT_TMP/port2" --data "$CKT_TMP/data2" \
    --token-ttl 1 --quiet >"$CKT_TMP/detmaster2.log" 2>&1 &
CKT_PIDS+=("$!")
disown "$!"
for _ in $(seq 1 100); do [ -s "$CKT_TMP/port2" ] && break; sleep 0.1; done
B2=http://127.0.0.1:$(cat "$CKT_TMP/port2")
T2=$(curl -sS -X POST "$B2/api/v1/auth/login" -d '{"username":"determined","password":""}' | py 'print(d["token"])')
expect 200 "$(req -H "Authorization: Bearer $T2" "$B2/api/v1/trials/1/checkpoints")"
sleep 1.2
expect 401 "$(req -H "Authorization: Bearer $T2" "$B2/api/v1/trials/1/checkpoints")"
# Same seed, same dataset.
[ "$(curl -sS "$B2/_ctl/dataset" | py 'print(d["demo"]["top3"])')" = "$(py 'print(d["demo"]["top3"])' <<<"$DS")" ] ||
    ckt_fail "the dataset is not deterministic"

echo "detmaster smoke: ok"
