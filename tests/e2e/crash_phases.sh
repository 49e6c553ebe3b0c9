#!/usr/bin/env bash
# End to end, crash consistency of checkpoint jobs and a follow job: kill -9
# of the daemon at random moments in every phase a checkpoint job goes
# through, against the Determined stand-in:
#  A. checkpoint downloads of many small files (and a few larger ones), by
#     the master's archive (slowed) and by a direct copy; some submitted
#     while the master answers 503 so that the kill lands while the job
#     resolves (waits to retry); others land while files transfer, around
#     the flush and the publish, and after done;
#  B. a follow job (`ckpt prefetch trial 1 --latest`) killed as new
#     checkpoints appear, so kills land while it downloads a child, publishes
#     it and moves its `latest` pointer. After every kill the pointer leads
#     to a complete copy that passes its manifest, never to a partial one.
# After all the kills: every job is done (the follow job running), every
# copy equals the storage, and no staging directory (.*-*.partial) nor a
# temporary pointer (.latest.tmp-*) is left anywhere in the output tree.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_tmpdir
ckt_detmaster_start --max-page 4
DET_MASTER=$CKT_DET_URL ckt_daemon_start
cd "$CKT_TMP"
data=$CKT_DET_DATA
ck=$CKT_TMP/ck
mkdir -p "$ck"
restart() { ckt_daemon_kill9; DET_MASTER=$CKT_DET_URL ckt_daemon_start; }
rnd() { python3 -c "import random; print(round(random.uniform($1, $2), 2))"; }
job_state() { ckpt --json job "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])'; }
# A checkpoint of trial 1 (or $2): N small files in a few directories, and 4 of 1 MB.
add_ckpt() {
    python3 -c '
import json, sys
n = int(sys.argv[1])
f = {"d%d/s%03d.bin" % (i % 5, i): 3000 + 37 * i for i in range(n)}
f.update({"big/%d.bin" % i: 1000000 for i in range(4)})
print(json.dumps({"files": f}))' "$1" \
        | curl -sf -X POST -d @- "$CKT_DET_URL/_ctl/trials/${2:-1}/checkpoints" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])'
}
no_leftovers() { # DIR...: no staging, no temporary pointer
    local left
    left=$(find "$@" \( -name '.*-*.partial' -o -name '.*.partial' -o -name '.*.tmp-*' \) -print 2>/dev/null | head -5)
    [ -z "$left" ] || ckt_fail "left behind: $left"
}

kills=0
declare -A phases=()
ckt_log "A: checkpoint jobs, kills while resolving, transferring, flushing, publishing"
uuids=() jobs=() modes=()
n=0
job='' u='' mode=''
submit() {
    n=$((n + 1))
    u=$(add_ckpt $([ $((n % 2)) = 1 ] && echo 120 || echo 400) 2)
    mode=$([ $((n % 2)) = 1 ] && echo master || echo direct)
    # every third job is submitted while the master answers 503: it waits to retry
    [ $((n % 3)) = 1 ] && curl -sf -X POST "$CKT_DET_URL/_ctl/fail?n=2&status=503" > /dev/null
    [ "$mode" = master ] && curl -sf -X POST "$CKT_DET_URL/_ctl/archive?rate=2500000" > /dev/null
    ckpt checkpoint download "$u" --mode "$mode" -o "$ck/$u" -q > /dev/null 2>&1 &
    local client=$! i
    CKT_PIDS+=("$client")
    job=''
    for i in $(seq 1 100); do
        job=$(ckpt --json jobs | python3 -c '
import json, sys
js = [j for j in json.load(sys.stdin)["jobs"] if j["kind"] == "checkpoint"]
print(js[-1]["id"] if len(js) >= int(sys.argv[1]) else "")' "$n")
        [ -n "$job" ] && break
        sleep 0.02
    done
    [ -n "$job" ] || ckt_fail "checkpoint job $n was not submitted"
    uuids+=("$u") jobs+=("$job") modes+=("$mode")
}
submit
deadline=$((SECONDS + 40))
while [ $kills -lt 10 ] && [ $SECONDS -lt $deadline ]; do
    # a direct copy is quick: kill it early (flush and publish), the archive later
    if [ "$mode" = direct ]; then sleep "$(rnd 0.05 0.5)"; else sleep "$(rnd 0.1 1.2)"; fi
    before=$(job_state "$job")
    files=$(ckpt --json job "$job" | python3 -c 'import json,sys; j=json.load(sys.stdin)["job"]; print(j.get("files_done", "?"))')
    restart
    kills=$((kills + 1))
    phases[$before]=$(( ${phases[$before]:-0} + 1 ))
    state=$(job_state "$job")
    ckt_log "kill $kills: job $job ($mode) was $before ($files files done), now $state"
    [ "$state" != failed ] || { ckpt job "$job"; ckt_fail "job $job failed after kill $kills"; }
    # The copy is either absent or complete, never partial.
    if [ -e "$ck/$u" ]; then
        (cd "$ck/$u" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "a partial copy of $u was published (kill $kills)"
    fi
    # (the archive is slow only on its first attempt: a job fetched again
    # from byte 0 after every kill would never end)
    [ "$state" = done ] && submit
done
[ $kills -ge 10 ] || ckt_fail "only $kills kills in part A"
for i in "${!jobs[@]}"; do
    timeout 30 "$CKPT" --socket "$CKT_SOCK" watch "${jobs[$i]}" > /dev/null \
        || { ckpt job "${jobs[$i]}"; ckt_fail "job ${jobs[$i]} did not finish"; }
    diff -r -x .ckptd.xxh128 -x .ckptd.json "$data/${uuids[$i]}" "$ck/${uuids[$i]}" \
        || ckt_fail "the copy of ${uuids[$i]} (${modes[$i]}) differs from the storage"
    (cd "$ck/${uuids[$i]}" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "${uuids[$i]} fails its manifest"
done
no_leftovers "$ck"
ckt_log "A: ${#jobs[@]} checkpoints, $kills kills, phases at the kills: $(for p in "${!phases[@]}"; do printf '%s=%s ' "$p" "${phases[$p]}"; done)"

ckt_log "B: a follow job, kills while it downloads, publishes and moves its pointer"
out=$CKT_TMP/pf
dir=$out/trial-1
latest=$(ckt_det_q "$CKT_PF_LATEST_EXPR")
fid=$(ckpt prefetch trial 1 --latest --keep 2 --interval 1 -o "$out")
ckt_pf_wait_pointer "$dir/latest" "$latest" 20
pointer_ok() { # the pointer leads to a complete copy
    local t
    t=$(readlink "$dir/latest") || ckt_fail "no pointer after kill $kills"
    case $t in .*|*partial*|*/*) ckt_fail "the pointer leads to '$t' after kill $kills";; esac
    [ -f "$dir/$t/.ckptd.xxh128" ] || ckt_fail "the pointer leads to '$t', which has no manifest (kill $kills)"
    # through the target, not the link: the restarted daemon may move it meanwhile
    (cd "$dir/$t" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "the pointer leads to an incomplete copy $t (kill $kills)"
    ckt_pf_same "$dir/$t" "$t"
}
bkills=0 new=$latest moved=0
while [ $bkills -lt 6 ] || [ $kills -lt 15 ]; do
    new=$(add_ckpt 80 1)
    sleep "$(rnd 0.3 2.0)"   # a poll each second, then the child: download, publish, pointer
    was=$(readlink "$dir/latest" || true)
    restart
    kills=$((kills + 1)) bkills=$((bkills + 1))
    [ "$was" = "$new" ] && moved=$((moved + 1))
    ckt_log "kill $kills: the pointer was at $([ "$was" = "$new" ] && echo "the new $new" || echo "the old $was")"
    pointer_ok
    [ $bkills -lt 12 ] || break
done
ckt_pf_wait_pointer "$dir/latest" "$new" 20
pointer_ok
ckt_pf_wait_count "$dir" 2 10
ckpt --json job "$fid" | grep -q '"state": *"running"' || ckt_fail "the follow job is not running"

ckt_log "after $kills kills: every job done, every copy equal, nothing left behind"
ckpt jobs --json | python3 -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
bad = [(j["id"], j["kind"], j["state"]) for j in jobs
       if (j["kind"] == "follow" and j["state"] != "running") or (j["kind"] != "follow" and j["state"] != "done")]
assert not bad, bad
' || { ckpt jobs; ckt_fail "not every job is done"; }
for d in "$dir"/*/; do
    d=${d%/}
    [ ! -L "$d" ] || continue
    ckt_pf_same "$d" "$(basename "$d")"
done
no_leftovers "$ck" "$out"
ckt_daemon_stop
echo "crash_phases: $kills kills ($bkills of the follow job; $moved after the pointer had moved); phases: $(for p in "${!phases[@]}"; do printf '%s=%s ' "$p" "${phases[$p]}"; done)"
