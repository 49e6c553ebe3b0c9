#!/usr/bin/env bash
# End to end, checkpoints: every det-style ckpt command against the
# Determined stand-in (paged lists, bearer auth), bytes equal to the storage,
# det's output shapes, hostile resource paths, unsupported storage, an
# expired token, and "present" copies.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
ckt_detmaster_start --max-page 4     # small pages: the daemon must follow them
DET_MASTER=$CKT_DET_URL ckt_daemon_start
data=$CKT_DET_DATA
top3=$(ckt_det_q '" ".join(d["demo"]["top3"])')
cd "$CKT_TMP"

same_as_storage() { # DIR UUID: the copy equals the storage, manifest aside
    diff -r -x .ckptd.xxh128 -x .ckptd.json "$data/$2" "$1" || ckt_fail "$1 differs from the storage of $2"
    (cd "$1" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "$1 fails its manifest"
}

ckt_log "experiment list-checkpoints --best 3: det's columns, best first, any state"
ckpt experiment list-checkpoints 1 --best 3 > lc.out
head -1 lc.out | grep -q "Trial ID .*# of Batches .*State .*Validation Metric .*UUID .*Resources .*Size" \
    || { cat lc.out; ckt_fail "list-checkpoints header"; }
got=$(grep -oE '[0-9a-f]{8}-[0-9a-f-]{27}' lc.out | tr '\n' ' ' | sed 's/ $//')
best3=$(ckt_det_q '" ".join(c["uuid"] for c in sorted([c for c in d["checkpoints"] if c["experimentId"]==1 and c["searcherMetric"] is not None], key=lambda c: c["searcherMetric"])[:3])')
[ "$got" = "$best3" ] || ckt_fail "best 3 are '$got', expected '$best3'"
ckpt experiment list-checkpoints 1 --best 3 --csv | head -1 | grep -q "^Trial ID,# of Batches,State" \
    || ckt_fail "csv header"

ckt_log "experiment download --top-n 3: three checkpoints, each equal to its storage"
ckpt experiment download 1 --top-n 3 -o "$CKT_TMP/top" > top.out
[ "$(grep -c '^Local checkpoint path:' top.out)" -eq 3 ] || { cat top.out; ckt_fail "det output"; }
for u in $top3; do same_as_storage "$CKT_TMP/top/$u" "$u"; done
grep -q partial <(ls -A "$CKT_TMP/top") && ckt_fail "staging left behind"

ckt_log "checkpoint download: default target checkpoints/<uuid>, then 'present'"
u1=${top3%% *}
ckpt checkpoint download "$u1" > cd.out
grep -q "Experiment ID .*Trial ID .*Steps Completed .*Report Time .*Checkpoint UUID .*Validation Metrics .*Metadata" cd.out \
    || { cat cd.out; ckt_fail "checkpoint table"; }
same_as_storage "$CKT_TMP/checkpoints/$u1" "$u1"
ckpt checkpoint download "$u1" > cd2.out 2> cd2.err
grep -q "already present" cd2.err || { cat cd2.err; ckt_fail "second download did not report present"; }

ckt_log "checkpoint download -o DIR -q: files directly in DIR, path only"
out=$(ckpt checkpoint download "$u1" -o "$CKT_TMP/direct" -q)
[ "$out" = "$CKT_TMP/direct" ] || ckt_fail "-q printed '$out'"
same_as_storage "$CKT_TMP/direct" "$u1"

ckt_log "a partial copy without a manifest is not trusted and not overwritten; completed once the odd file goes"
mkdir -p "$CKT_TMP/partial"
cp -r "$data/$u1/." "$CKT_TMP/partial/"
big=$(cd "$data/$u1" && find . -type f -size +1k | head -1)
truncate -s 10 "$CKT_TMP/partial/$big"
rc=0; ckpt checkpoint download "$u1" -o "$CKT_TMP/partial" -q > /dev/null 2> partial.err || rc=$?
[ $rc -ne 0 ] && grep -qF "partial/${big#./}' exists and is not part of ckptd's copy" partial.err \
    || { cat partial.err; ckt_fail "a foreign file of another size was not refused (exit $rc)"; }
[ "$(stat -c %s "$CKT_TMP/partial/$big")" = 10 ] || ckt_fail "the foreign file was replaced"
rm "$CKT_TMP/partial/$big"
ckpt checkpoint download "$u1" -o "$CKT_TMP/partial" -q > /dev/null # equal files are kept as they are
same_as_storage "$CKT_TMP/partial" "$u1"

ckt_log "trial download --latest and --best pick det's checkpoints"
latest=$(ckt_det_q '[c["uuid"] for c in sorted([c for c in d["checkpoints"] if c["trialId"]==1 and c["state"] in ("STATE_COMPLETED","STATE_PARTIALLY_DELETED") and c.get("stepsCompleted") is not None], key=lambda c: -c["stepsCompleted"])][0]')
p=$(ckpt trial download 1 --latest -q -o "$CKT_TMP/latest")
same_as_storage "$CKT_TMP/latest" "$latest"
ckpt trial download 1 --best -o "$CKT_TMP/best" > best.out
grep -q "^Local checkpoint path:" best.out || ckt_fail "trial download output"

ckt_log "trial list-checkpoints with sort, order and max results"
ckpt trial list-checkpoints 1 --sort-by batch_number --order-by desc --max-results 2 > tlc.out
[ "$(grep -cE '[0-9a-f]{8}-[0-9a-f-]{27}' tlc.out)" -eq 2 ] || { cat tlc.out; ckt_fail "max results"; }

ckt_log "describe, add-metadata, remove-metadata (GET, merge, POST)"
grep -q "$u1" <(ckpt checkpoint describe "$u1") || ckt_fail "describe"
ckpt checkpoint add-metadata "$u1" '{"stage":"prod","owner":"ml"}' > /dev/null
grep -q '"stage": *"prod"' <(ckpt --json checkpoint describe "$u1") || ckt_fail "metadata not added"
ckpt checkpoint remove-metadata "$u1" stage > /dev/null
m=$(ckpt --json checkpoint describe "$u1")
echo "$m" | grep -q '"stage"' && ckt_fail "metadata key not removed"
echo "$m" | grep -q '"owner": *"ml"' || ckt_fail "other metadata lost"

ckt_log "hashes sealed in the checkpoint's metadata are checked: a wrong one fails the file"
f1=$(cd "$data/$u1" && find . -type f -size +1k | sed 's|^\./||' | head -1)
good=$(ckt_xxh128 "$data/$u1/$f1")
ckpt checkpoint add-metadata "$u1" "{\"ckptd.xxh128\":{\"$f1\":\"$good\"}}" > /dev/null
ckpt checkpoint download "$u1" -o "$CKT_TMP/sealed" -q > /dev/null || ckt_fail "a correctly sealed checkpoint failed"
ckpt checkpoint add-metadata "$u1" "{\"ckptd.xxh128\":{\"$f1\":\"00000000000000000000000000000000\"}}" > /dev/null
rc=0; ckpt checkpoint download "$u1" -o "$CKT_TMP/badseal" > badseal.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "xxh128 mismatch for '$f1'" badseal.out || { cat badseal.out; ckt_fail "sealed mismatch"; }
[ ! -e "$CKT_TMP/badseal" ] || ckt_fail "a checkpoint with a wrong sealed hash was published"
ckpt checkpoint remove-metadata "$u1" ckptd.xxh128 > /dev/null

ckt_log "a hostile resource path is refused and nothing is written"
hostile=$(ckt_det_q 'd["hostile"]')
rc=0; ckpt checkpoint download "$hostile" -o "$CKT_TMP/h/x" > h.out 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "hostile checkpoint accepted"
grep -q "unsafe resource path '../evil' in checkpoint '$hostile'" h.out || { cat h.out; ckt_fail "hostile message"; }
[ ! -e "$CKT_TMP/h" ] && [ ! -e "$CKT_TMP/evil" ] || ckt_fail "something was written for the hostile checkpoint"

ckt_log "s3 storage without credentials, --mode direct: a clear error, nothing written"
s3=$(ckt_det_q '[c["uuid"] for c in d["checkpoints"] if c["experimentId"]==4 and c["state"]=="STATE_COMPLETED"][0]')
rc=0; ckpt checkpoint download "$s3" --mode direct -o "$CKT_TMP/s3" > s3.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "no s3 credentials" s3.out || { cat s3.out; ckt_fail "s3 message"; }
[ ! -e "$CKT_TMP/s3" ] || ckt_fail "something was written without credentials"

ckt_log "an expired token leads to exactly one re-login"
curl -sf -X POST "$CKT_DET_URL/_ctl/expire-tokens" > /dev/null
ckpt checkpoint describe "$u1" > /dev/null || ckt_fail "describe after token expiry"
grep -qx 2 <(grep -c "logged in to the master" "$CKT_TMP/ckptd.log") || ckt_fail "expected exactly two logins in the daemon log"
grep -q "Bearer" "$CKT_TMP/ckptd.log" && ckt_fail "a token reached the log"
[ "$(stat -c %a "$CKT_STATE/master-token")" = 600 ] || ckt_fail "the token cache is not private"

ckt_daemon_stop
echo "det_commands: ok"
