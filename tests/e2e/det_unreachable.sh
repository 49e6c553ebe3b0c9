#!/usr/bin/env bash
# End to end: a job for a master that does not answer waits (state
# "waiting", a clear error) and retries with back-off; it survives a daemon
# restart, and completes once the master is up.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
port=$(ckt_free_port)
DET_MASTER=http://127.0.0.1:$port ckt_daemon_start

job_field() { ckpt --json job "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['job']['$2'])"; }

ckt_log "no master: the job waits with a clear error"
ckpt experiment download 1 --top-n 2 -o "$CKT_TMP/out" > dl.out 2>&1 &
client=$!
CKT_PIDS+=("$client")
id=
for i in $(seq 1 50); do
    id=$(ckpt --json jobs | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"]; print(j[-1]["id"] if j else "")')
    [ -n "$id" ] && [ "$(job_field "$id" state)" = waiting ] && break
    sleep 0.1
done
[ "$(job_field "$id" state)" = waiting ] || ckt_fail "job is $(job_field "$id" state), not waiting"
grep -q "cannot reach the master at 'http://127.0.0.1:$port'" <(job_field "$id" error) \
    || ckt_fail "unclear error: $(job_field "$id" error)"
kill "$client" 2>/dev/null || true

ckt_log "a daemon restart keeps the job"
ckt_daemon_stop
DET_MASTER=http://127.0.0.1:$port ckt_daemon_start
sleep 0.5
st=$(job_field "$id" state)
case "$st" in waiting|resolving|queued) ;; *) ckt_fail "after restart the job is $st" ;; esac

ckt_log "the master comes up: the job completes by itself"
ckt_detmaster_start --port "$port"
timeout 90 "$CKPT" --socket "$CKT_SOCK" watch "$id" > /dev/null || ckt_fail "job did not complete: $(job_field "$id" error)"
for u in $(ckt_det_q '" ".join(d["demo"]["top3"][:2])'); do
    diff -r -x .ckptd.xxh128 -x .ckptd.json "$CKT_DET_DATA/$u" "$CKT_TMP/out/$u" || ckt_fail "$u differs"
done
ckt_daemon_stop
echo "det_unreachable: ok"
