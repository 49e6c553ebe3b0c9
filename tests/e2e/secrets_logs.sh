#!/usr/bin/env bash
# End to end: URLs in the log and in job errors lose their userinfo and query
# string; a newline in a URL or a name cannot forge a log line; a database
# file that is not a sound ckptd database (empty, foreign, garbage) stops the
# daemon with an error naming the file, and is left as it was.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
mkdir -p "$CKT_TMP/www"
ckt_nginx_start "$CKT_TMP/www"
ckt_daemon_start
hostport=${CKT_BASE_URL#http://}
python3 - "$CKT_SOCK" "$hostport" "$CKT_TMP/out" <<'PY'
import json, socket, sys, time
sock, hostport, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.settimeout(10); f = s.makefile("rb")
def ask(i, m, p):
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}).encode() + b"\n")
    return json.loads(f.readline())
forged = "\n2026-01-01T00:00:00.000Z ckptd error: FORGED LINE"
files = [{"url": "http://alice:hunter2pw@%s/missing/a?token=QSECRET" % hostport, "path": "a" + forged},
         {"url": "http://%s/missing/b%s" % (hostport, forged.replace(" ", "%20")), "path": "b"}]
r = ask(1, "job.submit", {"source": {"kind": "urls", "files": files}, "output": out + forged})
assert "result" in r, r
jid = r["result"]["job"]["id"]
for _ in range(100):
    job = ask(2, "job.get", {"id": jid})["result"]["job"]
    if job["state"] == "failed":
        break
    time.sleep(0.1)
assert job["state"] == "failed", job["state"]
text = json.dumps([job["error"], [x["error"] for x in job["files"]], job["log"]])
assert "hunter2pw" not in text and "QSECRET" not in text, text
assert "***@" in text, text
PY
ckt_daemon_stop
stored=$(sqlite3 "$CKT_STATE/ckptd.db" "select error from jobs union all select error from files union all select message from job_log")
! grep -q "hunter2pw\|QSECRET" <<< "$stored" || ckt_fail "a secret was stored in an error or log row"
log=$CKT_TMP/ckptd.log
! grep -q "hunter2pw\|QSECRET" "$log" || { grep "hunter2pw\|QSECRET" "$log"; ckt_fail "a secret reached the log"; }
! grep -q '^2026-01-01\|^FORGED' "$log" || ckt_fail "a newline forged a log line"
grep -q 'FORGED' "$log" || ckt_fail "the name with a newline was not logged at all"
bad=$(grep -cv '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:.]*Z ckptd [a-z]*: ' "$log" || true)
[ "$bad" -eq 0 ] || ckt_fail "$bad log lines do not start with a timestamp"

ckt_log "a database that is not a ckptd database stops the daemon"
for kind in empty foreign garbage; do
    st=$CKT_TMP/state-$kind
    mkdir -p "$st"
    case $kind in
    empty) : > "$st/ckptd.db" ;;
    foreign) python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table notes(x)"); c.commit()' "$st/ckptd.db" ;;
    garbage) head -c 8192 /dev/urandom > "$st/ckptd.db" ;;
    esac
    before=$(sha256sum < "$st/ckptd.db")
    rc=0
    timeout 10 "$CKPTD" --socket "$CKT_TMP/$kind.sock" --state-dir "$st" > "$CKT_TMP/db-$kind.out" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || ckt_fail "ckptd started on a $kind database (status $rc)"
    grep -q "'$st/ckptd.db' is .*not a .*ckptd database" "$CKT_TMP/db-$kind.out" ||
        { cat "$CKT_TMP/db-$kind.out"; ckt_fail "no clear error for a $kind database"; }
    [ "$(sha256sum < "$st/ckptd.db")" = "$before" ] || ckt_fail "the $kind database was changed"
done
echo "secrets_logs: ok"
