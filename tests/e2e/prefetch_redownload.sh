#!/usr/bin/env bash
# End to end: a followed checkpoint whose directory is deleted by hand is
# downloaded again within a couple of poll intervals while it still
# qualifies; `latest` stays readable throughout when another copy is the
# target, and when the target itself is deleted the pointer moves to a
# present copy until the target is back. A checkpoint retention removed is
# not fetched again.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_pf_start # sets out (the prefetch output) and dir (trial 1 in it)
read -r s300 s400 < <(ckt_det_q '" ".join(c["uuid"] for c in sorted([c for c in d["checkpoints"] if c["trialId"]==1 and c["state"]=="STATE_COMPLETED"], key=lambda c: c["stepsCompleted"])[2:])')

id=$(ckpt prefetch trial 1 --latest --keep 2 --interval 1 -o "$out")
ckt_pf_wait_pointer "$dir/latest" "$s400" 20
ckt_pf_wait_count "$dir" 2 10
[ -d "$dir/$s300" ] || ckt_fail "the second newest is not there"

# wait_back UUID SECONDS: until DIR/UUID is a complete copy again; prints the seconds.
wait_back() {
    local t0 i
    t0=$(date +%s.%N)
    for i in $(seq 1 $(($2 * 20))); do
        if [ -f "$dir/$1/.ckptd.xxh128" ]; then
            echo "$(date +%s.%N) - $t0" | bc
            return 0
        fi
        sleep 0.05
    done
    ckpt job "$id" >&2
    ckt_fail "$1 was not downloaded again within $2 s"
}

ckt_log "rm -rf a copy that is not the pointer's target, while reading through 'latest'"
: > reader.fail
(
    while [ ! -e reader.stop ]; do
        cat "$dir/latest/metadata.json" > /dev/null 2>>reader.fail || echo "read failed at $(date +%T.%N)" >> reader.fail
        sleep 0.01
    done
) &
reader=$!
CKT_PIDS+=("$reader")
rm -rf "${dir:?}/$s300"
took=$(wait_back "$s300" 3)
ckt_log "  back after ${took}s"
ckt_pf_same "$dir/$s300" "$s300"
grep -qF "checkpoint $s300 is no longer in '$dir' (removed by hand?): downloading it again" <(ckpt job "$id") \
    || { ckpt job "$id"; ckt_fail "the new download is not logged"; }
touch reader.stop
wait "$reader"
[ ! -s reader.fail ] || { cat reader.fail; ckt_fail "a read through the pointer failed"; }
[ "$(readlink "$dir/latest")" = "$s400" ] || ckt_fail "the pointer moved"

ckt_log "rm -rf the pointer's target: the pointer moves to the other copy until it is back"
rm -rf "${dir:?}/$s400"
took2=$(wait_back "$s400" 3)
ckt_log "  back after ${took2}s"
ckt_pf_wait_pointer "$dir/latest" "$s400" 3
ckt_pf_same "$dir/latest" "$s400"
ckpt job "$id" > job.out
grep -qF "pointer 'latest' -> $s300 (was $s400)" job.out || { cat job.out; ckt_fail "the pointer did not move to the present copy"; }
grep -qF "pointer 'latest' -> $s400 (was $s300)" job.out || { cat job.out; ckt_fail "the pointer did not come back"; }
[ "$(ckt_pf_count "$dir")" -eq 2 ] || { ls -la "$dir"; ckt_fail "not --keep copies"; }

ckt_log "a checkpoint retention removed is not downloaded again"
new=$(ckt_pf_add_checkpoint 1)
ckt_pf_wait_pointer "$dir/latest" "$new" 5
for i in $(seq 1 30); do [ -d "$dir/$s300" ] || break; sleep 0.1; done
[ ! -d "$dir/$s300" ] || ckt_fail "retention kept $s300"
sleep 2.5
[ ! -e "$dir/$s300" ] || ckt_fail "a checkpoint retention removed came back"
kids=$(ckpt jobs --json | python3 -c 'import json,sys; print(sum(1 for j in json.load(sys.stdin)["jobs"] if j["kind"]=="checkpoint"))')
[ "$kids" -eq 5 ] || { ckpt jobs; ckt_fail "$kids child jobs, not 5 (two first, two again, one new)"; }
ckpt prefetch stop "$id" > /dev/null
ckt_daemon_stop
echo "prefetch_redownload: ok (back after ${took}s and ${took2}s, interval 1 s)"
