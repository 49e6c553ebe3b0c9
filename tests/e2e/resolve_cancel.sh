#!/usr/bin/env bash
# Cancel stops resolution at once: against a master that takes 20 s to
# answer, checkpoint jobs canceled or paused while they resolve, and follow
# jobs stopped while their listing is out, give their master calls up at
# once. The daemon runs at most 3 master calls at a time
# (CKD_MASTER_MAX_ACTIVE), so calls left behind would hold every one of
# them: a later master call (checkpoint describe) answers at once only when
# they were canceled.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
cat > "$CKT_TMP/routes.py" <<'PY'
import time
def route(h, path, q):
    if path.startswith("/api/v1/checkpoints/51") or path == "/api/v1/trials/9/checkpoints":
        time.sleep(20)  # a master that does not answer for a long time
    h.reply(404, {"error": {"error": "no such thing"}})
PY
ckt_hostile_master "$CKT_TMP/routes.py"
port=$CKT_HOSTILE_PORT
DET_MASTER=http://127.0.0.1:$port DET_USER_TOKEN=t ckt_daemon_start

# submit SOURCE_JSON [OUTPUT]: a job through job.submit; prints its id.
submit() {
    python3 - "$CKT_SOCK" "$1" "$CKT_TMP/${2:-out}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.submit",
                      "params": {"source": json.loads(sys.argv[2]),
                                 "output": sys.argv[3]}}).encode() + b"\n")
r = json.loads(f.readline())
print(r["result"]["job"]["id"]) if "result" in r else sys.exit(str(r))
PY
}
# wait_requests N PATTERN: until the master has seen N requests matching PATTERN.
wait_requests() {
    for _ in $(seq 100); do
        [ "$(grep -c -- "$2" "$CKT_TMP/master.log" || true)" -ge "$1" ] && return 0
        sleep 0.1
    done
    cat "$CKT_TMP/master.log"
    ckt_fail "the master did not get $1 requests for $2"
}
# a master call must be answered at once: 3 slots, none held by stopped jobs.
describe_at_once() {
    local t0 rc=0
    t0=$(ckt_now)
    timeout 15 "$CKPT" --socket "$CKT_SOCK" checkpoint describe 00000000-0000-0000-0000-000000000001 \
        > "$CKT_TMP/describe.out" 2>&1 || rc=$?
    local took
    took=$(ckt_since "$t0")
    echo "$1: describe answered in ${took}s (status $rc)"
    [ "$rc" -ne 124 ] || ckt_fail "$1: describe timed out: the stopped jobs' master calls are still out"
    grep -qi "not found\|no such" "$CKT_TMP/describe.out" || { cat "$CKT_TMP/describe.out"; ckt_fail "$1: unexpected answer"; }
    ckt_check "$took < 3" "$1: describe waited ${took}s behind master calls of stopped jobs"
}

ckt_log "checkpoint jobs canceled and paused while resolving"
a=$(submit '{"kind":"checkpoint","uuid":"51000000-0000-0000-0000-00000000000a"}')
b=$(submit '{"kind":"checkpoint","uuid":"51000000-0000-0000-0000-00000000000b"}')
c=$(submit '{"kind":"checkpoint","uuid":"51000000-0000-0000-0000-00000000000c"}')
wait_requests 3 "/api/v1/checkpoints/51"
for id in $a $b $c; do
    [ "$(ckt_job_field "$id" "['state']")" = resolving ] || ckt_fail "job $id is not resolving"
done
ckpt cancel "$a" > /dev/null
ckpt cancel "$b" > /dev/null
ckpt pause "$c" > /dev/null
describe_at_once "resolving jobs"
[ "$(ckt_job_field "$a" "['state']")" = canceled ] || ckt_fail "job $a is not canceled"
[ "$(ckt_job_field "$c" "['state']")" = paused ] || ckt_fail "job $c is not paused"
ckt_log "the paused job resolves again on resume, and cancels again"
ckpt resume "$c" > /dev/null
wait_requests 4 "/api/v1/checkpoints/51"
[ "$(ckt_job_field "$c" "['state']")" = resolving ] || ckt_fail "job $c does not resolve again"
ckpt cancel "$c" > /dev/null
describe_at_once "a resumed job"

ckt_log "follow jobs stopped while their listing is out"
f1=$(submit '{"kind":"follow","target":"trial","id":9,"select":"latest"}')
f2=$(submit '{"kind":"follow","target":"trial","id":9,"select":"latest"}' out2)
f3=$(submit '{"kind":"follow","target":"trial","id":9,"select":"latest"}' out3)
wait_requests 3 "/api/v1/trials/9/checkpoints"
ckpt cancel "$f1" > /dev/null
ckpt pause "$f2" > /dev/null
ckpt cancel "$f3" > /dev/null
describe_at_once "follow jobs"
ckt_daemon_stop
echo "resolve_cancel: ok"
