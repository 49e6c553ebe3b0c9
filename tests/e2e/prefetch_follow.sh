#!/usr/bin/env bash
# End to end, GPU-node prefetch: `ckpt prefetch trial 1 --latest` keeps the
# trial's newest checkpoints on disk as the stand-in master reports new
# ones. The pointer OUT/trial-1/latest reaches each new checkpoint within a
# few seconds, is replaced atomically (a reader polling through it never
# fails), exactly --keep copies remain, and stopping the follow job keeps
# them.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
cd "$CKT_TMP"
data=$CKT_DET_DATA
out=$CKT_TMP/out
dir=$out/trial-1

latest=$(ckt_det_q "$CKT_PF_LATEST_EXPR")

ckt_log "prefetch trial 1 --latest --keep 2 --interval 1: the pointer reaches the latest"
id=$(ckpt prefetch trial 1 --latest --keep 2 --interval 1 -o "$out")
[[ $id =~ ^[0-9]+$ ]] || ckt_fail "prefetch printed '$id', not a job id"
ckt_pf_wait_pointer "$dir/latest" "$latest" 20
ckt_pf_same "$dir/latest" "$latest"
ckpt job "$id" --json | grep -q '"state": *"running"' || ckt_fail "the follow job is not running"

ckt_log "a reader polls through the pointer while it moves three times"
: > "$CKT_TMP/reader.fail"
(
    while [ ! -e "$CKT_TMP/reader.stop" ]; do
        cat "$dir/latest/metadata.json" > /dev/null 2>>"$CKT_TMP/reader.fail" \
            || echo "read failed at $(date +%T.%N)" >> "$CKT_TMP/reader.fail"
        sleep 0.01
    done
) &
reader=$!
CKT_PIDS+=("$reader")
for n in 1 2 3; do
    new=$(ckt_pf_add_checkpoint 1)
    t0=$(date +%s.%N)
    ckt_pf_wait_pointer "$dir/latest" "$new" 3.5
    ckt_log "  new checkpoint $n ($new) pointed at after $(echo "$(date +%s.%N) - $t0" | bc)s"
    ckt_pf_same "$dir/latest" "$new"
done
touch "$CKT_TMP/reader.stop"
wait "$reader"
[ ! -s "$CKT_TMP/reader.fail" ] || { cat "$CKT_TMP/reader.fail"; ckt_fail "a read through the pointer failed"; }

ckt_log "retention: exactly --keep copies remain beside the pointer"
ckt_pf_wait_count "$dir" 2 5
[ -L "$dir/latest" ] || ckt_fail "the pointer is not a symlink"
case $(readlink "$dir/latest") in /*|*/*) ckt_fail "the pointer's target is not relative";; esac
ls -A "$dir" | grep -qE '\.partial|\.tmp-' && { ls -A "$dir"; ckt_fail "staging or a temporary link left behind"; }
ckpt job "$id" > job.out
grep -q "pointer 'latest' -> $new" job.out || { cat job.out; ckt_fail "the pointer move is not logged"; }
grep -q "removed checkpoint" job.out || { cat job.out; ckt_fail "the removal is not logged"; }

ckt_log "children are ordinary jobs, done, ahead of bulk downloads"
ckpt jobs --json | python3 -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
kids = [j for j in jobs if j["kind"] == "checkpoint"]
assert len(kids) == 5, [(j["id"], j["state"]) for j in kids]
assert all(j["state"] == "done" for j in kids), [(j["id"], j["state"]) for j in kids]
assert all(j["priority"] == 10 for j in kids), [j["priority"] for j in kids]
' || ckt_fail "the child jobs are not as expected"

ckt_log "prefetch list shows the follow job and where its pointer leads"
ckpt prefetch list > list.out
grep -E "^ *$id +trial 1 +latest +2 +$out +running +$new" list.out || { cat list.out; ckt_fail "prefetch list"; }

ckt_log "prefetch stop: canceled, the copies and the pointer stay"
ckpt prefetch stop "$id" | grep -q "job $id canceled" || ckt_fail "prefetch stop"
sleep 1.5
ckt_pf_same "$dir/latest" "$new"
[ "$(ckt_pf_count "$dir")" -eq 2 ] || ckt_fail "stop removed checkpoints"
ckpt prefetch list | grep -E "^ *$id .* canceled" > /dev/null || ckt_fail "stopped job not listed as canceled"

ckt_log "a prefetch of a trial the master does not know fails"
bad=$(ckpt prefetch trial 999 --best --interval 1 -o "$out")
for i in $(seq 1 50); do
    ckpt job "$bad" --json | grep -q '"state": *"failed"' && break
    sleep 0.1
done
ckpt job "$bad" | grep -q "trial 999 not found" || { ckpt job "$bad"; ckt_fail "unknown trial"; }
ckpt prefetch trial 1 -o "$out" 2>/dev/null && ckt_fail "--latest/--best not required"
ckpt prefetch experiment 1 --top-n 3 --keep 2 -o "$out" 2>/dev/null && ckt_fail "keep < top-n accepted"

ckt_log "prefetch experiment 1: the pointer 'best' follows the top checkpoint"
top1=$(ckt_det_q 'd["demo"]["top3"][0]')
eid=$(ckpt prefetch experiment 1 --interval 1 -o "$CKT_TMP/exp")
edir=$CKT_TMP/exp/experiment-1
ckt_pf_wait_pointer "$edir/best" "$top1" 20
ckt_pf_same "$edir/best" "$top1"
# validation_loss, smaller is better: a new checkpoint with a lower loss is the best.
better=$(curl -sf -X POST -d '{"searcherMetric":0.0001}' "$CKT_DET_URL/_ctl/trials/2/checkpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
ckt_pf_wait_pointer "$edir/best" "$better" 5
ckt_pf_same "$edir/best" "$better"
# a worse one (even if newer) does not move it
curl -sf -X POST -d '{"searcherMetric":99}' "$CKT_DET_URL/_ctl/trials/2/checkpoints" > /dev/null
sleep 2.5
[ "$(readlink "$edir/best")" = "$better" ] || ckt_fail "a worse checkpoint moved the pointer"
[ "$(ckt_pf_count "$edir")" -le 2 ] || ckt_fail "more than --keep copies for the experiment"

ckt_log "pause stops polling, resume starts it again"
ckpt pause "$eid" | grep -q "job $eid paused" || ckt_fail "pause"
better2=$(curl -sf -X POST -d '{"searcherMetric":0.00001}' "$CKT_DET_URL/_ctl/trials/3/checkpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
sleep 2.5
[ "$(readlink "$edir/best")" = "$better" ] || ckt_fail "a paused follow job moved the pointer"
ckpt resume "$eid" > /dev/null
ckt_pf_wait_pointer "$edir/best" "$better2" 5
ckt_pf_same "$edir/best" "$better2"

ckt_daemon_stop
echo PASS
