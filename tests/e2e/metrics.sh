#!/usr/bin/env bash
# End to end: ckptd --metrics-file writes Prometheus text (node_exporter's
# textfile collector) every second here. The file parses with a strict
# parser written for the test (tests/lib/promtext.py) and, when promtool is
# there (Debian's prometheus package; $PROMTOOL or PATH), with `promtool
# check metrics`; its byte counter moves while a rate-limited download runs
# and ends at the job's size; a URL that always answers 503 counts one retry
# and one failure with cause http_5xx; `ckpt status --json` carries the same
# figures; no temporary file is left behind.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
prom=$CKT_TMP/ckptd.prom
pt() { python3 "$CKPT_SRC/tests/lib/promtext.py" "$prom" "$@"; }

mkdir -p "$CKT_TMP/www/slow"
n=6 size=400000
for i in $(seq 1 $n); do ckt_gen_file "$CKT_TMP/www/slow/f$i.bin" $size; done
ckt_nginx_start "$CKT_TMP/www" '
    location /slow/ { limit_rate 200k; }
    location /busy/ { add_header Retry-After 1 always; return 503; }'
ckt_daemon_start --metrics-file "$prom" --metrics-interval 1
ckpt config set max_connections=2 retry_max=1 > /dev/null

for _ in $(seq 1 40); do [ -f "$prom" ] && break; sleep 0.1; done
[ -f "$prom" ] || ckt_fail "no metrics file after 4 s"
pt > /dev/null || ckt_fail "the metrics file does not parse"
[ "$(stat -c %a "$prom")" = 644 ] || ckt_fail "the metrics file is not readable by others (node_exporter)"
[ "$(pt ckptd_fetched_bytes_total route=direct storage=http)" = 0 ] || ckt_fail "bytes before any job"

ckt_log "counters move during a download"
urls=()
for i in $(seq 1 $n); do urls+=("$CKT_BASE_URL/slow/f$i.bin"); done
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "${urls[@]}")
total=$((n * size)) moving=0 last=0
for _ in $(seq 1 300); do
    v=$(pt ckptd_fetched_bytes_total route=direct storage=http)
    state=$(ckpt --json job "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')
    [ "$v" -ge "$last" ] || ckt_fail "the byte counter went down: $last -> $v"
    if [ "$v" -gt 0 ] && [ "$v" -lt "$total" ] && [ "$state" = running ]; then moving=1; fi
    last=$v
    [ "$state" = done ] && [ "$v" = "$total" ] && break
    sleep 0.1
done
[ "$state" = done ] || ckt_fail "the job did not finish: $state"
[ "$moving" = 1 ] || ckt_fail "the byte counter never moved while the job ran"
[ "$last" = "$total" ] || ckt_fail "fetched bytes $last, expected $total"
recv=$(pt ckptd_received_bytes_total)
[ "$recv" -ge "$total" ] || ckt_fail "received bytes $recv < $total"
[ "$(pt ckptd_jobs state=done)" = 1 ] || ckt_fail "jobs{state=done} is not 1"

ckt_log "a 503 that never ends: one retry, then one failure, both http_5xx"
rc=0; ckpt fetch -o "$CKT_TMP/out2" "$CKT_BASE_URL/busy/x.bin" > /dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || ckt_fail "the 503 download did not fail (rc $rc)"
for _ in $(seq 1 30); do [ "$(pt ckptd_failures_total cause=http_5xx)" = 1 ] && break; sleep 0.1; done
[ "$(pt ckptd_failures_total cause=http_5xx)" = 1 ] || ckt_fail "failures{http_5xx} is not 1"
[ "$(pt ckptd_retries_total cause=http_5xx)" = 1 ] || ckt_fail "retries{http_5xx} is not 1"

ckt_log "bytes that do not match their hash: one retry, then one failure, both verify"
rc=0; ckpt fetch -o "$CKT_TMP/out3" --xxh128 00000000000000000000000000000000 \
    "$CKT_BASE_URL/slow/f1.bin" > /dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "a file with the wrong hash was accepted"
for _ in $(seq 1 30); do [ "$(pt ckptd_failures_total cause=verify)" = 1 ] && break; sleep 0.1; done
[ "$(pt ckptd_failures_total cause=verify)" = 1 ] || ckt_fail "failures{verify} is not 1"
[ "$(pt ckptd_retries_total cause=verify)" = 1 ] || ckt_fail "retries{verify} is not 1"
[ "$(pt ckptd_jobs state=failed)" = 2 ] || ckt_fail "jobs{state=failed} is not 2 (the 503 and the bad hash)"
[ "$(pt ckptd_active_transfers)" = 0 ] || ckt_fail "transfers still active"

ckt_log "ckpt status --json carries the same figures"
sleep 1.2   # one more write: nothing moves now
ckpt --json status > "$CKT_TMP/status.json"
python3 - "$CKT_TMP/status.json" "$prom" "$CKPT_SRC/tests/lib" <<'PY' || ckt_fail "status --json and the file disagree"
import json, sys
sys.path.insert(0, sys.argv[3])
import promtext
m = json.load(open(sys.argv[1]))["metrics"]
s = promtext.parse(open(sys.argv[2]).read())
def v(name, **labels):
    return s[(name, tuple(sorted(labels.items())))]
fetched = {(e["route"], e["storage"]): e["bytes"] for e in m["fetched_bytes"]}
for (name, labels), val in s.items():
    l = dict(labels)
    if name == "ckptd_fetched_bytes_total":
        assert fetched.get((l["route"], l["storage"]), 0) == val, (l, val, fetched)
    elif name == "ckptd_retries_total":
        assert m["retries"][l["cause"]] == val, (l, val)
    elif name == "ckptd_failures_total":
        assert m["failures"][l["cause"]] == val, (l, val)
    elif name == "ckptd_files":
        assert m["files"][l["state"]] == val, (l, val)
assert m["received_bytes"] == v("ckptd_received_bytes_total")
assert m["local_copy_bytes"] == v("ckptd_local_copy_bytes_total")
assert m["active_transfers"] == v("ckptd_active_transfers")
assert m["disk_budget_bytes"] == v("ckptd_disk_budget_bytes")
assert m["prefetch_lag_seconds"]["count"] == v("ckptd_prefetch_lag_seconds_count")
PY

if [ -z "${PROMTOOL:-}" ]; then PROMTOOL=$(command -v promtool || true); fi
if [ -n "$PROMTOOL" ]; then
    "$PROMTOOL" check metrics < "$prom" || ckt_fail "promtool check metrics refused the file"
    ckt_log "promtool check metrics: ok"
else
    ckt_log "promtool not found: checked with the test's own parser only"
fi
ckt_daemon_stop
pt > /dev/null || ckt_fail "the file written at stop does not parse"
[ -z "$(find "$CKT_TMP" -maxdepth 1 -name 'ckptd.prom.tmp')" ] || ckt_fail "a temporary file was left"
echo "metrics: ok"
