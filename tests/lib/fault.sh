# Helpers for the fault tests (tests/e2e/fault_*.sh): the fault proxy in front
# of the suite's nginx, its control API, and waiting on jobs. Source it after
# common.sh, once ckt_tmpdir and ckt_nginx_start have run.
#
#   ckt_proxy_start [PORT] -> tests/faultproxy.py in front of nginx (or of the
#                             server on 127.0.0.1:PORT); sets
#                             CKT_PROXY_URL (use it instead of CKT_BASE_URL)
#                             and CKT_FAULT_URL (its control port)
#   ckt_fault QUERY        -> arms one rule, e.g. ckt_fault "cut_after=1000&count=1"
#   ckt_fault_clear        -> removes every rule and zeroes the statistics
#   ckt_fault_stat EXPR    -> a value of the stats, e.g. ckt_fault_stat "['bytes_sent']"
#   ckt_job_field ID EXPR  -> a value of `ckpt --json job ID`, e.g. "['state']"
#   ckt_job_wait ID SECS   -> waits until the job is done, failed or canceled;
#                             prints the state (fails the test on timeout)
#   ckt_job_log ID         -> the job's log messages, one a line
#   ckt_job_log_has ID RE  -> true when a line of the job's log matches RE
#   ckt_now / ckt_since T0 -> wall clock, seconds since T0 (two decimals)
#   ckt_hostile_master ROUTES.py -> tests/hostile_master.py with those routes;
#                             sets CKT_HOSTILE_PORT; its log (one "GET path"
#                             a request) is $CKT_TMP/master.log

ckt_hostile_master() {
    CKT_HOSTILE_PORT=$(ckt_free_port)
    python3 "$CKPT_SRC/tests/hostile_master.py" "$CKT_HOSTILE_PORT" "$1" >"$CKT_TMP/master.log" 2>&1 &
    CKT_PIDS+=($!)
    local i
    for i in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$CKT_HOSTILE_PORT/" && return 0
        sleep 0.05
    done
    ckt_fail "the hostile master did not start (log: $(cat "$CKT_TMP/master.log"))"
}

ckt_proxy_start() {
    python3 "$CKPT_SRC/tests/faultproxy.py" --upstream "127.0.0.1:${1:-$CKT_NGINX_PORT}" \
        --listen-port-file "$CKT_TMP/proxy.port" --control-port-file "$CKT_TMP/control.port" -v \
        >>"$CKT_TMP/faultproxy.log" 2>&1 &
    CKT_PROXY_PID=$!
    CKT_PIDS+=("$CKT_PROXY_PID")
    disown "$CKT_PROXY_PID" # the kill -9 at exit is expected: no "Killed" notice
    local i
    for i in $(seq 1 100); do
        [ -s "$CKT_TMP/proxy.port" ] && [ -s "$CKT_TMP/control.port" ] && break
        kill -0 "$CKT_PROXY_PID" 2>/dev/null || ckt_fail "faultproxy exited at start"
        sleep 0.05
    done
    [ -s "$CKT_TMP/proxy.port" ] || ckt_fail "faultproxy did not write its port file"
    CKT_PROXY_URL=http://127.0.0.1:$(cat "$CKT_TMP/proxy.port")
    CKT_FAULT_URL=http://127.0.0.1:$(cat "$CKT_TMP/control.port")
}

ckt_fault() { curl -sf -X POST "$CKT_FAULT_URL/_fault/set?$1" >/dev/null || ckt_fail "could not set fault $1"; }
ckt_fault_clear() { curl -sf -X POST "$CKT_FAULT_URL/_fault/clear?stats=1" >/dev/null || ckt_fail "could not clear faults"; }
ckt_fault_stat() {
    curl -sf "$CKT_FAULT_URL/_fault/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"
}

ckt_job_field() {
    ckpt --json job "$1" | python3 -c "import json,sys; v=json.load(sys.stdin)['job']$2; print('' if v is None else v)"
}

ckt_job_log() {
    ckpt --json job "$1" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["job"]["log"]:
    print(e["level"], e["message"])'
}

# Not `ckt_job_log | grep -q`: grep's early exit would fail the pipe (pipefail).
ckt_job_log_has() { grep -q -- "$2" <<< "$(ckt_job_log "$1")"; }

ckt_job_wait() {
    local id=$1 secs=$2 state i
    for i in $(seq 1 $((secs * 10))); do
        state=$(ckt_job_field "$id" "['state']")
        case $state in done|failed|canceled) echo "$state"; return 0 ;; esac
        sleep 0.1
    done
    ckt_job_log "$id" >&2 || true
    ckt_fail "job $id still '$state' after ${secs}s"
}

ckt_now() { date +%s.%N; }
ckt_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
# ckt_check "EXPR" MSG: fails with MSG unless the awk expression is true.
ckt_check() { awk "BEGIN { exit !($1) }" || ckt_fail "$2"; }
