#!/usr/bin/env bash
# End to end, det parity: what ckpt prints on stdout for the commands it
# mirrors is what det prints for the same master state, byte for byte.
#
# The golden files under tests/e2e/golden/det/ were written from det's
# cli/checkpoint.py, cli/experiment.py, cli/trial.py, cli/render.py and
# common/util.py (tabulate "presto", csv.writer, sizeof_fmt, print(path,
# "\n")) for the stand-in's dataset with --seed 1; the CSV is also checked
# here against an independent rendering of det's list_checkpoints in
# Python. They cover every state (ACTIVE, ERROR, DELETED, PARTIALLY_DELETED),
# a checkpoint without validation metrics, NaN and Infinity metrics.
# CKT_UPDATE_GOLDEN=1 rewrites them (review the diff against det's code).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
ckt_detmaster_start --max-page 5
DET_MASTER=$CKT_DET_URL ckt_daemon_start
golden=$CKPT_SRC/tests/e2e/golden/det
cd "$CKT_TMP"

# check NAME: stdout.NAME equals the golden file NAME.
check() {
    if [ "${CKT_UPDATE_GOLDEN:-0}" = 1 ]; then cp "out.$1" "$golden/$1"; return 0; fi
    cmp -s "out.$1" "$golden/$1" || { diff "$golden/$1" "out.$1" | head -40; ckt_fail "$1 differs from det's output"; }
}
uuid_of() { # TRIAL STEPS
    ckt_det_q "[c['uuid'] for c in d['checkpoints'] if c['trialId']==$1 and c['stepsCompleted']==$2][0]"
}
pd=$(uuid_of 2 400)       # PARTIALLY_DELETED, 0.25: det's top N never has it
noval=$(uuid_of 1 400)    # COMPLETED, no validation metrics

ckt_log "experiment list-checkpoints: every state, table and csv"
ckpt experiment list-checkpoints 1 > out.exp1_list.txt
check exp1_list.txt
ckpt experiment list-checkpoints 1 --csv > out.exp1_list.csv
check exp1_list.csv
ckpt experiment list-checkpoints 1 --best 4 > out.exp1_best4.txt
check exp1_best4.txt
ckpt experiment list-checkpoints 2 > out.exp2_list.txt
check exp2_list.txt
ckpt e lc 2 --csv > out.exp2_list.csv
check exp2_list.csv

ckt_log "the csv against det's list_checkpoints, rendered independently"
for e in 1 2; do
    ckt_det_dataset > ds.json
    curl -sf "$CKT_DET_URL/api/v1/auth/login" -d '{"username":"determined","password":""}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' > tok
    python3 - "$CKT_DET_URL/api/v1/experiments/$e/checkpoints" "$(cat tok)" "out.exp${e}_list.csv" <<'PY'
import csv, io, json, sys, urllib.request
def sizeof_fmt(val):  # determined/common/util.py
    val = float(val)
    for unit in ("", "K", "M", "G", "T", "P", "E", "Z"):
        if abs(val) < 1024.0:
            return "%3.1f%sB" % (val, unit)
        val /= 1024.0
    return "%.1f%sB" % (val, "Y")
cps, off = [], 0
while True:  # det asks for one page; the stand-in makes clients page
    req = urllib.request.Request(f"{sys.argv[1]}?sortByAttr=SORT_BY_END_TIME&offset={off}",
                                 headers={"Authorization": "Bearer " + sys.argv[2]})
    page = json.load(urllib.request.urlopen(req))
    cps += page["checkpoints"]
    off = page["pagination"]["endIndex"]
    if off >= page["pagination"]["total"]:
        break
metric = cps[0]["training"]["experimentConfig"]["searcher"]["metric"]
def metric_cell(c):
    v = ((c["training"].get("validationMetrics") or {}).get("avgMetrics") or {})
    return str(v[metric]) if metric in v else ""
want = [["Trial ID", "# of Batches", "State", "Validation Metric", "UUID", "Resources", "Size"]]
for c in cps:
    steps = c["metadata"].get("steps_completed")
    want.append([str(c["training"]["trialId"]), "" if steps is None else str(steps),
                 c["state"][len("STATE_"):], metric_cell(c), c["uuid"],
                 "\n".join(sorted(c["resources"])),
                 sizeof_fmt(sum(map(float, c["resources"].values())))])
got = list(csv.reader(io.StringIO(open(sys.argv[3], newline="").read())))
assert got == want, f"\n got {got}\nwant {want}"
PY
done

ckt_log "checkpoint describe: det's one table, nothing after it"
ckpt checkpoint describe "$noval" > out.describe_noval.txt
check describe_noval.txt
ckpt checkpoint describe "$noval" --files | grep -q "^Resources:" || ckt_fail "--files shows no files"

ckt_log "checkpoint download of a PARTIALLY_DELETED checkpoint: what remains, said on stderr"
ckpt checkpoint download "$pd" > out.download_pd.txt 2> pd.err
check download_pd.txt
grep -q "partially deleted" pd.err || { cat pd.err; ckt_fail "no word of the partial deletion"; }
[ -f "checkpoints/$pd/metadata.json" ] && [ ! -e "checkpoints/$pd/state_dict.pth" ] ||
    ckt_fail "the partially deleted checkpoint's remaining files"

ckt_log "-q prints the path as given; nothing else reaches stdout"
[ "$(ckpt checkpoint download "$noval" -q)" = "checkpoints/$noval" ] || ckt_fail "-q default path"
[ "$(ckpt checkpoint download "$noval" -q -o ./here//x/)" = "here/x" ] || ckt_fail "-q -o path"
ckpt trial download 1 --latest -o rel/latest > out.trial_latest.txt 2>/dev/null
head -2 out.trial_latest.txt | diff - <(printf 'Local checkpoint path:\nrel/latest \n') ||
    ckt_fail "trial download path"

ckt_log "experiment download --top-n 3: COMPLETED only (det's SDK), paths under checkpoints/"
ckpt experiment download 1 --top-n 3 -q > out.top3.txt 2> top3.err
want=$(ckt_det_q '"\n".join("checkpoints/" + u for u in d["demo"]["top3"])')
[ "$(cat out.top3.txt)" = "$want" ] || { cat out.top3.txt top3.err; ckt_fail "top 3 paths"; }
grep -q "$pd" out.top3.txt && ckt_fail "a PARTIALLY_DELETED checkpoint among det's top N"
ckpt experiment download 1 --top-n 2 > out.top2.txt 2> top2.err
grep -qE "^job [0-9]+|queued|resolving" out.top2.txt && ckt_fail "progress on stdout"
[ "$(grep -c '^Local checkpoint path:$' out.top2.txt)" = 2 ] || ckt_fail "top 2 output"
tail -1 out.top2.txt | grep -qx "" || ckt_fail "det prints an empty line after each checkpoint"

ckt_log "checkpoint delete and rm: det's prompt, --yes, the master's routes"
state_of() { ckpt --json checkpoint describe "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["state"])'; }
new_cp() { curl -sf -X POST "$CKT_DET_URL/_ctl/trials/3/checkpoints" -d '{"files":{"a.bin":10,"b.txt":5}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])'; }
d1=$(new_cp); d2=$(new_cp)
echo n | ckpt checkpoint delete "$d1,$d2" > out.del_no.txt
printf '%s' "Deleting checkpoints will result in deletion of all data associated
with each checkpoint in the checkpoint storage. Do you still want to proceed? [y/n]: Stopping deletion of checkpoints.
" | cmp -s - out.del_no.txt || { cat -A out.del_no.txt; ckt_fail "delete prompt, answered no"; }
[ "$(state_of "$d1")" = STATE_COMPLETED ] || ckt_fail "deleted after 'no'"
printf 'maybe\nyes\n' | ckpt checkpoint delete "$d1" > out.del_yes.txt
prompt="Deleting checkpoints will result in deletion of all data associated
with each checkpoint in the checkpoint storage. Do you still want to proceed? [y/n]: "
printf "%sPlease respond with 'y'/'yes' or 'n'/'no'\n%s%s\n" "$prompt" "$prompt" \
    "Deletion of checkpoints $d1 is in progress" | cmp -s - out.del_yes.txt ||
    { cat -A out.del_yes.txt; ckt_fail "delete prompt, answered yes"; }
[ "$(state_of "$d1")" = STATE_DELETED ] && [ ! -e "$CKT_DET_DATA/$d1" ] || ckt_fail "not deleted"
rc=0; ckpt checkpoint delete "$d2,not-a-uuid!" --yes > bad.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "uuids" bad.out || { cat bad.out; ckt_fail "a bad uuid list"; }
[ "$(ckpt checkpoint rm "$d2" --glob '*.bin' < /dev/null | tail -1)" = "Stopping removal of files from checkpoints." ] ||
    ckt_fail "rm without an answer"
[ "$(ckpt checkpoint rm "$d2" --glob '*.bin' --yes)" = "Removal of files from checkpoints $d2 is in progress." ] ||
    ckt_fail "rm --yes output"
[ "$(state_of "$d2")" = STATE_PARTIALLY_DELETED ] && [ ! -e "$CKT_DET_DATA/$d2/a.bin" ] &&
    [ -e "$CKT_DET_DATA/$d2/b.txt" ] || ckt_fail "rm removed the wrong files"
[ "$(ckpt checkpoint rm "$d2")" = "No glob patterns provided, refreshing resources of checkpoints $d2 is in progress." ] ||
    ckt_fail "rm without globs: no prompt, det's message"
ckpt checkpoint download "$d2" -q -o dl-d2 > /dev/null 2> d2.err && [ -e dl-d2/b.txt ] && [ ! -e dl-d2/a.bin ] ||
    ckt_fail "what remains of a checkpoint after rm"
ckt_daemon_stop

ckt_log "shared_fs: host_path not mounted here, the task container's mount point is"
CKT_DET_DATA=$CKT_TMP/sfs ckt_detmaster_start --host-path /nonexistent/det-host
u=$(ckt_det_q 'd["demo"]["top3"][0]')
CKT_STATE=$CKT_TMP/state2 DET_MASTER=$CKT_DET_URL ckt_daemon_start
rc=0; ckpt checkpoint download "$u" --mode direct -o "$CKT_TMP/nofs" > nofs.out 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "a direct download from a storage mounted nowhere succeeded"
ckt_daemon_stop
CKT_STATE=$CKT_TMP/state3 CKPTD_SHARED_FS_ROOT=$CKT_TMP/sfs DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt checkpoint download "$u" --mode direct -o "$CKT_TMP/sfsdl" -q > /dev/null ||
    ckt_fail "no direct download through the shared_fs fallback"
diff -r -x .ckptd.xxh128 -x .ckptd.json "$CKT_TMP/sfs/$u" "$CKT_TMP/sfsdl" || ckt_fail "the fallback copy differs"
ckt_daemon_stop
echo "det_parity: ok"
