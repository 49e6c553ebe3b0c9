#!/usr/bin/env bash
# End to end, the global disk budget over follow jobs' checkpoints: lowering
# disk_budget with `ckpt config set` evicts the least recently used
# checkpoint (by the files' access/modify times, not by training step);
# pinned and pointed-at checkpoints survive; while new checkpoints arrive the
# managed bytes (sampled every 30 ms, staging included) never exceed the
# budget plus one checkpoint in flight; with nothing left to evict, one
# checkpoint is still downloaded over the budget and the log says why.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_pf_start # sets out (the prefetch output) and dir (trial 1 in it)

# Trial 1's four COMPLETED checkpoints, by steps: s100 .. s400 (s400 is the latest).
read -r s100 s200 s300 s400 < <(ckt_det_q '" ".join(c["uuid"] for c in sorted([c for c in d["checkpoints"] if c["trialId"]==1 and c["state"]=="STATE_COMPLETED"], key=lambda c: c["stepsCompleted"]))')
[ -n "$s400" ] || ckt_fail "the stand-in's trial 1 is not as expected"

ckt_log "follow trial 1 --keep 10 (retention never removes), no budget yet"
[ "$(ckpt config --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["disk_budget"])')" = 0 ] \
    || ckt_fail "disk_budget does not default to 0"
grep -qE '^ *disk_budget +0$' <(ckpt config) || { ckpt config; ckt_fail "ckpt config does not show disk_budget"; }
id=$(ckpt prefetch trial 1 --latest --keep 10 --interval 1 -o "$out")
ckt_pf_wait_pointer "$dir/latest" "$s400" 20
ckt_pf_wait_count "$dir" 4 10

ckt_log "last uses: s100 3 h ago (pinned), s300 2 h ago, s200 1 h ago; s400 is pointed at"
ckpt pin "$s100" > /dev/null
find "$dir/$s100" -type f -exec touch -d '3 hours ago' {} +
find "$dir/$s300" -type f -exec touch -d '2 hours ago' {} +
find "$dir/$s200" -type f -exec touch -d '1 hour ago' {} +
b100=$(ckt_pf_bytes "$dir/$s100")
b200=$(ckt_pf_bytes "$dir/$s200")
b300=$(ckt_pf_bytes "$dir/$s300")
b400=$(ckt_pf_bytes "$dir/$s400")
slack=65536
budget=$((b100 + b200 + b400 + slack))
ckt_log "  sizes s100 $b100, s200 $b200, s300 $b300, s400 $b400; budget $budget"

ckt_log "config set disk_budget: the least recently used (s300, not the older s200) goes"
ckpt config set disk_budget=$budget > /dev/null
ckt_pf_wait_log "$id" "evicted checkpoint $s300 from '$dir' (LRU, budget $budget)" 5
sleep 2.5 # two more polls: an evicted checkpoint is not fetched again, nothing else goes
for u in "$s100" "$s200" "$s400"; do [ -d "$dir/$u" ] || ckt_fail "$u was removed"; done
[ ! -e "$dir/$s300" ] || ckt_fail "the evicted checkpoint came back"
[ "$(grep -c 'evicted checkpoint' <(ckpt job "$id"))" = 1 ] || { ckpt job "$id"; ckt_fail "more than s300 evicted"; }
[ "$(ckt_pf_bytes "$dir")" -le "$budget" ] || ckt_fail "over the budget after the eviction"

ckt_log "a daemon restart does not bring the evicted checkpoint back"
ckt_daemon_stop
DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckt_pf_wait_log "$id" "following trial 1" 5
sleep 2.5 # two polls
[ ! -e "$dir/$s300" ] || ckt_fail "the evicted checkpoint was fetched again after the restart"
grep -q "removed by ckptd: evicted under the disk budget" <(ckpt jobs) || { ckpt jobs; ckt_fail "the child does not record its eviction"; }

ckt_log "three new checkpoints while sampling the managed bytes and reading through 'latest'"
w=700000
python3 - "$dir" "$CKT_TMP/sample" <<'PY' &
import os, sys, time
d, outp = sys.argv[1], sys.argv[2]
peak = n = 0
while not os.path.exists(outp + ".stop"):
    total = 0
    for root, dirs, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    peak, n = max(peak, total), n + 1
    time.sleep(0.03)
with open(outp, "w") as f:
    f.write(f"{peak} {n}\n")
PY
sampler=$!
CKT_PIDS+=("$sampler")
: > reader.fail
(
    while [ ! -e reader.stop ]; do
        cat "$dir/latest/metadata.json" > /dev/null 2>>reader.fail || echo "read failed at $(date +%T.%N)" >> reader.fail
        sleep 0.01
    done
) &
reader=$!
CKT_PIDS+=("$reader")
news=()
for n in 1 2 3; do
    u=$(curl -sf -X POST -d "{\"files\":{\"w.bin\":$w}}" "$CKT_DET_URL/_ctl/trials/1/checkpoints" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
    news+=("$u")
    ckt_pf_wait_pointer "$dir/latest" "$u" 5
    ckt_pf_same "$dir/latest" "$u"
done
sleep 1.5 # the cleanup pass after the last one
touch sample.stop reader.stop
wait "$sampler" "$reader"
[ ! -s reader.fail ] || { cat reader.fail; ckt_fail "a read through the pointer failed"; }
read -r peak samples < sample
wbytes=$(ckt_pf_bytes "$dir/${news[2]}")
ckt_log "  peak $peak bytes over $samples samples; budget $budget + one checkpoint ($wbytes) = $((budget + wbytes))"
[ "$samples" -ge 20 ] || ckt_fail "only $samples samples"
[ "$peak" -le $((budget + wbytes)) ] || ckt_fail "peak $peak exceeds the budget plus one checkpoint in flight"
[ "$(ckt_pf_bytes "$dir")" -le "$budget" ] || ckt_fail "over the budget at rest: $(ckt_pf_bytes "$dir") > $budget"
ckpt job "$id" > job.out
# The order of the evictions is the order of last use: s300, s200 (1 h ago), then s400
# (pointed at until the first new one arrived) before any of the new ones.
order=$(grep -o 'evicted checkpoint [0-9a-f-]*' job.out | awk '{print $3}' | tr '\n' ' ')
ckt_log "  evicted, in order: $order"
expect="$s300 $s200 "
[ "${order:0:${#expect}}" = "$expect" ] || { cat job.out; ckt_fail "not evicted LRU first"; }
case " $order " in *" ${news[2]} "*) ckt_fail "the pointer's target was evicted";; esac
idx_s400=$(echo "$order" | tr ' ' '\n' | grep -n "$s400" | cut -d: -f1 || true)
idx_n1=$(echo "$order" | tr ' ' '\n' | grep -n "${news[0]}" | cut -d: -f1 || true)
if [ -n "$idx_n1" ]; then
    [ -n "$idx_s400" ] && [ "$idx_s400" -lt "$idx_n1" ] || { cat job.out; ckt_fail "${news[0]} evicted before s400"; }
fi
[ -d "$dir/$s100" ] || ckt_fail "the pinned checkpoint was evicted"
ckt_pf_same "$dir/$s100" "$s100"

ckt_log "a budget nothing fits in: all but the pinned and the pointed-at go; one new still comes"
ckpt config set disk_budget=1000 > /dev/null
for i in $(seq 1 50); do [ "$(ckt_pf_count "$dir")" -eq 2 ] && break; sleep 0.1; done
[ "$(ckt_pf_count "$dir")" -eq 2 ] || { ls -la "$dir"; ckt_fail "not down to the pinned and the pointed-at"; }
[ -d "$dir/$s100" ] && [ -d "$dir/${news[2]}" ] || { ls -la "$dir"; ckt_fail "the wrong ones are left"; }
last=$(curl -sf -X POST -d "{\"files\":{\"w.bin\":$w}}" "$CKT_DET_URL/_ctl/trials/1/checkpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
ckt_pf_wait_pointer "$dir/latest" "$last" 5
ckt_pf_same "$dir/latest" "$last"
grep -qF "downloading checkpoint $last" <(ckpt job "$id") || { ckpt job "$id"; ckt_fail "the over-budget download is not explained"; }
# the previous target is no longer pointed at: evicted by the cleanup pass
for i in $(seq 1 30); do [ -d "$dir/${news[2]}" ] || break; sleep 0.1; done
[ ! -d "$dir/${news[2]}" ] || ckt_fail "the previous target stayed over the budget"
[ -d "$dir/$s100" ] || ckt_fail "the pinned checkpoint was evicted"

ckt_log "budget 0 again: nothing more is removed"
ckpt config set disk_budget=0 > /dev/null
n=$(grep -c 'evicted checkpoint' <(ckpt job "$id"))
sleep 1.5
[ "$(grep -c 'evicted checkpoint' <(ckpt job "$id"))" = "$n" ] || ckt_fail "evicted with no budget"
ckpt prefetch stop "$id" > /dev/null
ckt_daemon_stop
echo "prefetch_budget: ok (peak $peak of budget $budget + $wbytes, $samples samples; evicted $order)"
