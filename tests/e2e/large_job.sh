#!/usr/bin/env bash
# End to end: a job of 100,000 files (the documented limit) through
# `ckpt fetch -i LIST`: the list is larger than one 1 MiB request, so the
# client sends it in job.add_files requests before job.submit; job.get pages
# the files (offset/limit), every page far below the client's cap; every file
# arrives equal to its source, and `ckpt job` lists all of them.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
N=100000
# Under ASan+UBSan, job.c's ckd_job_add_file grows the file array one entry
# at a time and ASan's realloc always copies: 100,000 files are quadratic
# there (hours). The sanitizer run takes 20,000, still several requests.
if ldd "$CKPTD" 2>/dev/null | grep -q libasan; then N=20000; fi
mkdir -p "$www/s"
python3 - "$www/s" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(10):
    os.makedirs(os.path.join(root, "d%d" % d), exist_ok=True)
    with open(os.path.join(root, "d%d" % d, "blob"), "wb") as f:
        f.write(("file set %d\n" % d).encode())
PY
chmod -R a+rX "$www"
ckt_nginx_start "$www"
ckt_daemon_start
# Long paths make the list several MiB: 100,000 entries, 10 sources.
python3 - "$CKT_BASE_URL" "$N" > "$CKT_TMP/list" <<'PY'
import sys
base, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    print("%s/s/d%d/blob\n  out=dir%03d/file-%06d-with-a-longer-name-so-the-list-is-large.txt" % (base, i % 10, i % 1000, i))
PY
[ "$(stat -c %s "$CKT_TMP/list")" -gt $((3 * 1048576 / 2)) ] || ckt_fail "the list should span several requests"
ckpt fetch -o "$CKT_TMP/out" -i "$CKT_TMP/list" --detach > "$CKT_TMP/id" || ckt_fail "the submit failed"
id=$(cat "$CKT_TMP/id")
ckpt watch "$id" > /dev/null || ckt_fail "the job did not complete"
n=$(find "$CKT_TMP/out" -type f -name 'file-*' | wc -l)
[ "$n" -eq "$N" ] || ckt_fail "expected $N files, found $n"
python3 - "$CKT_TMP/out" "$N" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(0, n, 997):
    p = "%s/dir%03d/file-%06d-with-a-longer-name-so-the-list-is-large.txt" % (out, i % 1000, i)
    assert open(p, "rb").read() == ("file set %d\n" % (i % 10)).encode(), p
PY
ckt_log "job.get pages: every page well under the cap, all pages cover every file once"
python3 - "$CKT_SOCK" "$id" "$N" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
jid, n = int(sys.argv[2]), int(sys.argv[3])
def ask(i, params):
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": i, "method": "job.get", "params": params}).encode() + b"\n")
    line = f.readline()
    assert len(line) < 16 << 20, "a %d-byte reply" % len(line)
    return json.loads(line)
seen, off, i = set(), 0, 0
while off is not None:
    i += 1
    job = ask(i, {"id": jid, "offset": off, "limit": 10000})["result"]["job"]
    assert job["files_total"] == n and job["files_offset"] == off, job["files_offset"]
    seen.update(x["path"] for x in job["files"])
    off = job["files_next"]
    assert off is None or off > job["files_offset"]
assert len(seen) == n, len(seen)
assert isinstance(job["source"]["files"], int), "the detail repeats the whole file list"
r = ask(i + 1, {"id": jid, "limit": 0})
assert r["error"]["code"] == -32602, r
print("%d pages" % i)
PY
[ "$(ckpt job "$id" | grep -c 'file-')" -eq "$N" ] || ckt_fail "ckpt job does not list every file"
ckt_log "add_files beyond the limit is refused and the files dropped"
python3 - "$CKT_SOCK" "$CKT_BASE_URL" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
def ask(i, m, p):
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}).encode() + b"\n")
    return json.loads(f.readline())
files = [{"url": sys.argv[2] + "/x", "path": "p%06d" % i} for i in range(12500)]
for k in range(8):
    r = ask(k, "job.add_files", {"files": files})
    assert r["result"]["pending"] == 12500 * (k + 1), r
r = ask(9, "job.add_files", {"files": files[:1]})
assert r["error"]["code"] == -32602, r
r = ask(10, "job.submit", {"source": {"kind": "urls", "files": files[:1]}, "output": "/tmp/ckt-large-x",
                           "options": {"priority": -9}})
assert r["result"]["job"]["files_total"] == 1, r
ask(11, "job.cancel", {"id": r["result"]["job"]["id"]})
PY
echo "large_job: ok"
