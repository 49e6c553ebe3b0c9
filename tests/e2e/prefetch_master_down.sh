#!/usr/bin/env bash
# End to end, GPU-node prefetch with the master gone: the follow job stays
# running (it backs off, logs the trouble once, shows it as the job's
# error), and once the master is back on the same port a new checkpoint is
# picked up.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_tmpdir
ckt_detmaster_start
port=$(cat "$CKT_TMP/det.port")
DET_MASTER=$CKT_DET_URL ckt_daemon_start
cd "$CKT_TMP"
out=$CKT_TMP/out
dir=$out/trial-1
latest=$(ckt_det_q "$CKT_PF_LATEST_EXPR")

id=$(ckpt prefetch trial 1 --latest --interval 1 -o "$out")
ckt_pf_wait_pointer "$dir/latest" "$latest" 20

ckt_log "the master goes away: the follow job keeps running"
kill "$CKT_DET_PID"
wait "$CKT_DET_PID" 2>/dev/null || true
sleep 5
ckpt job "$id" --json > job.json
python3 - job.json <<'PY' || { cat job.json; ckt_fail "follow job while the master is down"; }
import json, sys
j = json.load(open(sys.argv[1]))["job"]
assert j["state"] == "running", j["state"]
assert "master" in (j["error"] or ""), j["error"]
msgs = [l["message"] for l in j["log"]]
trouble = [m for m in msgs if "polling again with back-off" in m]
assert len(trouble) == 1, trouble          # once per failure streak
assert "master" in trouble[0], trouble
PY
ckt_pf_same "$dir/latest" "$latest"       # the copy and the pointer stay

ckt_log "the master is back on port $port: a new checkpoint is picked up"
ckt_detmaster_start --port "$port"
new=$(ckt_pf_add_checkpoint 1)
ckt_pf_wait_pointer "$dir/latest" "$new" 20
ckt_pf_same "$dir/latest" "$new"
ckpt job "$id" > job.out
grep -q "the master answers again" job.out || { cat job.out; ckt_fail "recovery not logged"; }
ckpt job "$id" --json | python3 -c '
import json, sys
j = json.load(sys.stdin)["job"]
assert j["state"] == "running" and j["error"] is None, (j["state"], j["error"])
' || ckt_fail "the error stays after recovery"
ckt_daemon_stop
echo PASS
