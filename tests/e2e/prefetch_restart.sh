#!/usr/bin/env bash
# End to end, GPU-node prefetch across daemon restarts: a follow job stopped
# by SIGTERM mid-follow (a child download just submitted) and by kill -9 is
# started again after the restart, its children continue as ordinary jobs,
# and the pointer and retention carry on with new checkpoints.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_pf_start # sets out (the prefetch output) and dir (trial 1 in it)
latest=$(ckt_det_q "$CKT_PF_LATEST_EXPR")

id=$(ckpt prefetch trial 1 --latest --keep 2 --interval 1 -o "$out")
ckt_pf_wait_pointer "$dir/latest" "$latest" 20

ckt_log "SIGTERM right after a new checkpoint appears, then restart"
new=$(ckt_pf_add_checkpoint 1)
sleep 1.1   # about one poll: the child may be queued, running or done
ckt_daemon_stop
DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckt_pf_wait_pointer "$dir/latest" "$new" 10
ckt_pf_same "$dir/latest" "$new"
ckpt job "$id" > job.out
grep -q "continuing after a daemon restart" job.out || { cat job.out; ckt_fail "no restart in the log"; }
ckpt job "$id" --json | grep -q '"state": *"running"' || ckt_fail "the follow job is not running after the restart"

ckt_log "after the restart a new checkpoint still moves the pointer"
new=$(ckt_pf_add_checkpoint 1)
ckt_pf_wait_pointer "$dir/latest" "$new" 3.5
ckt_pf_same "$dir/latest" "$new"
ckt_pf_wait_count "$dir" 2 5

ckt_log "kill -9, restart, one more checkpoint"
ckt_daemon_kill9
DET_MASTER=$CKT_DET_URL ckt_daemon_start
new=$(ckt_pf_add_checkpoint 1)
ckt_pf_wait_pointer "$dir/latest" "$new" 10
ckt_pf_same "$dir/latest" "$new"
ckt_pf_wait_count "$dir" 2 5
# One follow job, one child per checkpoint: a restart does not submit twice.
ckpt jobs --json | python3 -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
assert sum(j["kind"] == "follow" for j in jobs) == 1
kids = [j for j in jobs if j["kind"] == "checkpoint"]
assert len(kids) == 5, [(j["id"], j["state"]) for j in kids]
assert all(j["state"] == "done" for j in kids), [(j["id"], j["state"]) for j in kids]
' || ckt_fail "children after restarts"
ckt_daemon_stop
echo PASS
