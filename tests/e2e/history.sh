#!/usr/bin/env bash
# History that ends: with history_max=3, finished jobs (done, failed,
# canceled) beyond the newest three disappear from job.list and from the
# database (jobs, files, units, segments, log rows), while a running and a
# paused job stay however old they are. A finished job older than
# history_days goes too, and forgotten jobs do not come back after a restart.
# `ckpt jobs` shows what is recent, `ckpt jobs --all` everything kept.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
for i in 1 2 3 4 5 6; do ckt_gen_file "$www/f$i.bin" 100000; done
ckt_gen_file "$www/slow/big.bin" 20000000
ckt_nginx_start "$www" "location /slow/ { limit_rate 200k; }"
ckt_daemon_start
db=$CKT_STATE/ckptd.db

ckpt config set history_max=3 > /dev/null
ckpt config | grep -q "history_days" || ckt_fail "ckpt config does not show history_days"
ckpt config | grep -q "history_max" || ckt_fail "ckpt config does not show history_max"

# list [PARAMS]: the ids job.list answers, one line.
list() {
    python3 - "$CKT_SOCK" "${1:-{\}}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.list",
                      "params": json.loads(sys.argv[2])}).encode() + b"\n")
print(" ".join(str(j["id"]) for j in json.loads(f.readline())["result"]["jobs"]))
PY
}
# db_ids TABLE COLUMN: the distinct job ids a table holds, one line.
db_ids() { sqlite3 "$db" "SELECT DISTINCT $2 FROM $1 ORDER BY $2" | tr '\n' ' ' | sed 's/ $//'; }

ckt_log "a running job (the oldest) and a paused one"
running=$(ckpt fetch --detach -o "$CKT_TMP/run" "$CKT_BASE_URL/slow/big.bin")
paused=$(ckpt fetch --detach -o "$CKT_TMP/pause" "$CKT_BASE_URL/slow/big.bin?p")
sleep 0.5
ckpt pause "$paused" > /dev/null

ckt_log "six done jobs, a failed one and a canceled one"
done_ids=()
for i in 1 2 3 4 5 6; do
    id=$(ckpt fetch --detach -o "$CKT_TMP/out$i" "$CKT_BASE_URL/f$i.bin")
    [ "$(ckt_job_wait "$id" 30)" = done ] || ckt_fail "job $id did not finish"
    done_ids+=("$id")
done
failed=$(ckpt fetch --detach -o "$CKT_TMP/fail" "$CKT_BASE_URL/missing.bin")
[ "$(ckt_job_wait "$failed" 30)" = failed ] || ckt_fail "job $failed did not fail"
canceled=$(ckpt fetch --detach -o "$CKT_TMP/cancel" "$CKT_BASE_URL/slow/big.bin?c")
sleep 0.3
ckpt cancel "$canceled" > /dev/null
echo "running $running, paused $paused, done ${done_ids[*]}, failed $failed, canceled $canceled"

# Kept: the running and paused jobs, and the three newest finished ones.
want="$running $paused ${done_ids[5]} $failed $canceled"
for _ in $(seq 1 250); do
    [ "$(list)" = "$want" ] && break
    sleep 0.1
done
got=$(list)
[ "$got" = "$want" ] || ckt_fail "job.list has '$got', expected '$want'"
[ "$(ckt_job_field "$running" "['state']")" = running ] || ckt_fail "the running job is not running"
[ "$(ckt_job_field "$paused" "['state']")" = paused ] || ckt_fail "the paused job is not paused"
[ "$(ckt_xxh128 "$CKT_TMP/out1/f1.bin")" = "$(ckt_xxh128 "$www/f1.bin")" ] ||
    ckt_fail "a forgotten job's published file changed"

ckt_log "the database forgot them too"
# The daemon commits once per loop iteration; give it a moment.
sleep 0.5
[ "$(db_ids jobs id)" = "$(tr ' ' '\n' <<< "$want" | sort -n | tr '\n' ' ' | sed 's/ $//')" ] ||
    ckt_fail "jobs table has '$(db_ids jobs id)', expected '$want'"
for t in files units job_log; do
    for id in "${done_ids[@]:0:5}"; do
        grep -qw "$id" <<< "$(db_ids $t job_id)" && ckt_fail "table $t still has rows of job $id"
    done
done
[ "$(sqlite3 "$db" "SELECT COUNT(*) FROM segments WHERE job_id NOT IN (SELECT id FROM jobs)")" = 0 ] ||
    ckt_fail "segments of forgotten jobs are left"

ckt_log "ckpt jobs and ckpt jobs --all"
ckpt jobs --all > "$CKT_TMP/all.out"
grep -Eq "^ *$canceled " "$CKT_TMP/all.out" || { cat "$CKT_TMP/all.out"; ckt_fail "ckpt jobs --all misses job $canceled"; }
ckpt jobs > "$CKT_TMP/recent.out"
grep -Eq "^ *$running " "$CKT_TMP/recent.out" || { cat "$CKT_TMP/recent.out"; ckt_fail "ckpt jobs misses the running job"; }
# since in the future: only jobs not finished.
[ "$(list "{\"since\": $(( $(date +%s) + 1000 ))}")" = "$running $paused" ] ||
    ckt_fail "job.list with since shows finished jobs: $(list "{\"since\": $(( $(date +%s) + 1000 ))}")"

ckt_log "a finished job older than history_days goes; nothing comes back after a restart"
ckt_daemon_stop
old=$(( $(date +%s) - 40 * 86400 ))
sqlite3 "$db" "UPDATE jobs SET updated=$old WHERE id=${done_ids[5]}"
ckt_daemon_start
want="$running $paused $failed $canceled"
for _ in $(seq 1 250); do
    [ "$(list)" = "$want" ] && break
    sleep 0.1
done
[ "$(list)" = "$want" ] || ckt_fail "after a restart job.list has '$(list)', expected '$want'"
ckpt cancel "$running" > /dev/null
ckt_daemon_stop
echo "history: ok"
