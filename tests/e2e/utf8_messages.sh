#!/usr/bin/env bash
# End to end: long non-ASCII text, cut by the daemon wherever it bounds a
# message, reaches the client through every method and event: a reply for
# every request (never silence), the job in job.list, job.get and its events,
# the bytes that were not UTF-8 escaped rather than dropped.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
mkdir -p "$CKT_TMP/www"
ckt_nginx_start "$CKT_TMP/www"
ckt_daemon_start
python3 - "$CKT_SOCK" "$CKT_BASE_URL" "$CKT_TMP" <<'PY'
import json, socket, sys, time
sock, base, tmp = sys.argv[1:4]

class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(sock)
        self.s.settimeout(10)  # silence is the failure this test looks for
        self.f = self.s.makefile("rb")
        self.n = 0
        self.events = []

    def line(self):
        raw = self.f.readline()
        assert raw, "the daemon closed the connection"
        return json.loads(raw)  # also proves the line is valid UTF-8 JSON

    def ask(self, method, params=None):
        self.n += 1
        req = {"jsonrpc": "2.0", "id": self.n, "method": method}
        if params is not None:
            req["params"] = params
        self.s.sendall(json.dumps(req, ensure_ascii=False).encode() + b"\n")
        while True:
            try:
                r = self.line()
            except socket.timeout:
                raise AssertionError("no reply to %.80r" % method)
            if r.get("id") == self.n:
                return r
            self.events.append(r)

e, euro = "\u00e9", "\u20ac"
c, ev = Conn(), Conn()
assert "result" in ev.ask("events.subscribe", {"progress_interval_ms": 50})

# A method name cut at 64 bytes, inside a character.
r = c.ask("x" + e * 100)
assert r["error"]["code"] == -32601, r
assert r["error"]["message"].startswith("method not found: 'x" + e), r

# Error messages cut inside a character: submit errors of every kind.
r = c.ask("job.submit", {"source": {"kind": "x" + e * 700}, "output": tmp + "/o"})
assert r["error"]["code"] == -32602, r
r = c.ask("job.submit", {"source": {"kind": "urls", "files": [
    {"url": base + "/a", "path": "x" + euro * 1300 + "/../x"}]}, "output": tmp + "/o"})
assert r["error"]["code"] == -32004, r
r = c.ask("job.submit", {"source": {"kind": "urls", "files": [{"url": "ftp://" + e * 900, "path": "a"}]},
                         "output": tmp + "/o"})
assert "error" in r, r
r = c.ask("config.set", {"x" + e * 300: 1})
assert r["error"]["code"] == -32602, r
r = c.ask("pins.add", {"uuid": e * 2000})
assert r["error"]["code"] == -32602, r
r = c.ask("job.list", {"states": ["x" + e * 800]})
assert r["error"]["code"] == -32602, r

# A job whose files fail with long non-ASCII URLs and paths, in a long
# non-ASCII output directory: its errors are cut by the daemon.
out = tmp + "/" + "x" + euro * 60
# (A path component stays within NAME_MAX: the staging file is created
# before the request, and a name the filesystem refuses fails on its own.)
files = [{"url": base + "/missing/" + "x" + e * 700 + "/%d" % i, "path": "x" + euro * 80 + "/" + euro * 80 + "/%d" % i}
         for i in range(3)]
r = c.ask("job.submit", {"source": {"kind": "urls", "files": files}, "output": out})
assert "result" in r, r
jid = r["result"]["job"]["id"]
deadline = time.time() + 30
state = None
while time.time() < deadline:
    state = c.ask("job.get", {"id": jid})["result"]["job"]["state"]
    if state in ("failed", "done", "canceled"):
        break
    time.sleep(0.2)
assert state == "failed", state

job = c.ask("job.get", {"id": jid})["result"]["job"]
assert job["error"], job
assert all(f["error"] for f in job["files"]), job["files"]
assert job["files"][0]["path"].startswith("x" + euro), job["files"][0]
assert any(j["id"] == jid for j in c.ask("job.list")["result"]["jobs"]), "job missing from job.list"
assert any(j["id"] == jid for j in c.ask("job.list", {"states": ["failed"]})["result"]["jobs"])
for m in ("job.pause", "job.resume", "job.cancel"):
    r = c.ask(m, {"id": jid})
    assert "result" in r or "error" in r, r

# The subscriber heard about the job, up to its end.
ev.ask("daemon.status")
deadline = time.time() + 5
while time.time() < deadline and not any(x.get("method") == "event.job" and x["params"]["job"]["id"] == jid
                                         and x["params"]["job"]["state"] == "failed" for x in ev.events):
    try:
        ev.events.append(ev.line())
    except socket.timeout:
        break
assert any(x.get("method") == "event.job" and x["params"]["job"]["id"] == jid and
           x["params"]["job"]["state"] == "failed" for x in ev.events), "no event for the failed job"
# The daemon cuts its own messages at a character boundary: the URL's start
# is kept, and no half character is left to escape.
assert "http 404 for 'http://127.0.0.1" in job["error"], job["error"]
assert "\\x" not in job["error"], job["error"]
print("utf8 messages ok: job %d" % jid)
PY
ckpt jobs >/dev/null || ckt_fail "ckpt jobs failed"
ckpt job 1 >/dev/null || ckt_fail "ckpt job failed"
echo "utf8_messages: ok"
