#!/usr/bin/env bash
# End to end: a prefetch's downloads outrank bulk downloads. A bulk job of
# 32 slow files (600 kB at nginx limit_rate 300k: the first second's worth
# comes at once, the rest takes 1 s) holds both connections
# (max_connections=2); a `ckpt prefetch trial 1 --latest` submitted later
# needs slots too (its checkpoint's files are local copies from the
# stand-in's shared_fs, and each copy takes a slot). At its default
# priority (+10) its checkpoint is done while most of the bulk job is still
# to come. The control run, the same prefetch at --priority -10 (its
# download at 0, as bulk), shares the connections with the bulk job (the
# scheduler's no-starvation rule gives a job with nothing in flight one
# connection) and finishes clearly later: the difference is the priority,
# not the local copies being fast.
# Measured: bulk files not yet started when the prefetch's checkpoint was
# done. Master requests (poll, resolution) have connections of their own
# beyond max_connections, so they never wait behind bulk transfers.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_tmpdir
www=$CKT_TMP/www
nbulk=32
for i in $(seq 1 $nbulk); do ckt_gen_file "$www/slow/bulk$i" 600000; done
ckt_nginx_start "$www" 'location /slow/ { limit_rate 300k; }'
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
cd "$CKT_TMP"
ckpt config set max_connections=2 max_per_host=2 > /dev/null
latest=$(ckt_det_q "$CKT_PF_LATEST_EXPR")
urls=$(for i in $(seq 1 $nbulk); do printf '%s/slow/bulk%s ' "$CKT_BASE_URL" "$i"; done)

# race OUT PRIORITY: a bulk job, then (once it holds both connections) a
# prefetch of trial 1 into OUT at PRIORITY; prints how many of the bulk
# job's files had not started yet (state pending) when the prefetch's
# checkpoint job was done, and the bulk job's state then.
race() {
    local bulk fid kid kstate i
    # shellcheck disable=SC2086
    bulk=$(ckpt fetch --detach -o "$CKT_TMP/bulk$2" $urls)
    for i in $(seq 1 50); do
        [ "$(ckpt status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["active_transfers"])')" -ge 2 ] && break
        sleep 0.1
    done
    fid=$(ckpt prefetch trial 1 --latest --keep 1 --interval 1 --priority "$2" -o "$1")
    for i in $(seq 1 600); do
        # the bulk job first: a file it has not started then had not started when the child finished
        ckpt job "$bulk" --json > bulk.json
        read -r kid kstate < <(ckpt jobs --json | python3 -c '
import json, sys
kids = [j for j in json.load(sys.stdin)["jobs"] if j["kind"] == "checkpoint" and j["output"] == sys.argv[1]]
print(kids[-1]["id"], kids[-1]["state"]) if kids else print(0, "none")' "$1/trial-1")
        [ "$kstate" = done ] && break
        [ "$kstate" = failed ] && ckt_fail "the prefetch download failed"
        sleep 0.05
    done
    [ "$kstate" = done ] || ckt_fail "the prefetch download did not finish"
    python3 -c '
import json, sys
j = json.load(open("bulk.json"))["job"]
print(sum(1 for f in j["files"] if f["state"] == "pending"), j["state"])'
    ckpt prefetch stop "$fid" > /dev/null
    ckpt cancel "$bulk" > /dev/null 2>&1 || true
    ckpt jobs --json | python3 -c 'import json,sys; j=[j for j in json.load(sys.stdin)["jobs"] if j["id"]=='"$kid"'][0]; assert j["priority"]=='"$(($2 + 10))"', j["priority"]' \
        || ckt_fail "the prefetch's download is not at priority $(($2 + 10))"
}

ckt_log "prefetch at the default priority against a bulk job holding both connections"
race "$CKT_TMP/hi" 0 > hi.res
read -r hi_done hi_state < hi.res
ckt_log "  the prefetch's checkpoint was done with $hi_done of $nbulk bulk files not started ($hi_state)"
ckt_pf_same "$CKT_TMP/hi/trial-1/$latest" "$latest"
[ "$hi_state" = running ] || ckt_fail "the bulk job was $hi_state, not running"
[ "$hi_done" -ge $((nbulk / 2)) ] || ckt_fail "the prefetch waited for the bulk job to start $((nbulk - hi_done)) files"

ckt_log "control: the same prefetch at --priority -10 (its download at 0, like the bulk job)"
for i in $(seq 1 50); do
    [ "$(ckpt status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["active_transfers"])')" -eq 0 ] && break
    sleep 0.1
done
race "$CKT_TMP/lo" -10 > lo.res
read -r lo_done lo_state < lo.res
ckt_log "  the control's checkpoint was done with $lo_done of $nbulk bulk files not started ($lo_state)"
# At equal priority the later job still gets a connection whenever it has
# none in flight (no starvation), so it is not last; but priority must make
# a clear difference.
[ "$hi_done" -gt "$lo_done" ] \
    || ckt_fail "priority made no clear difference: $hi_done bulk files not started at +10, $lo_done at equal priority"
ckt_daemon_stop
echo "prefetch_priority: ok (bulk files not started when the prefetch finished: $hi_done of $nbulk at +10, $lo_done at equal priority)"
