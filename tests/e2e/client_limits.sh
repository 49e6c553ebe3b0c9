#!/usr/bin/env bash
# End to end: client connections are bounded. Beyond max_clients a new
# connection gets a too_many_clients error reply and is closed, while the
# others keep working; a connection that leaves a request line unfinished is
# closed after client_timeout with a timeout reply; memory held for clients
# that sent large unfinished lines goes back to the system when they leave.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
ckt_daemon_start
ckpt config set max_clients=8 client_timeout=1 >/dev/null || ckt_fail "config set"
pid=$CKT_DAEMON_PID
asan=0
ldd "$CKPTD" 2>/dev/null | grep -q libasan && asan=1
python3 - "$CKT_SOCK" "$pid" "$asan" <<'PY'
import json, socket, sys, time
path, pid, asan = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(10)
    return s, s.makefile("rb")

def status(s, f, i=1):
    s.sendall(b'{"jsonrpc":"2.0","id":%d,"method":"daemon.status"}\n' % i)
    return json.loads(f.readline())

def rss():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

held = [conn() for _ in range(8)]
for s, f in held:
    assert "result" in status(s, f)
s, f = conn()
r = json.loads(f.readline())
assert r["error"]["code"] == -32007 and r["error"]["data"]["name"] == "too_many_clients", r
assert f.readline() == b"", "a refused connection stayed open"
assert "result" in status(*held[0], i=2), "a connection within the limit stopped working"
s, f = held.pop()
f.close()
s.close()
time.sleep(0.2)
s, f = conn()
assert "result" in status(s, f), "no room after a client left"
held.append((s, f))

# A partial line and nothing more: a timeout reply, then the close.
s, f = held[1]
s.sendall(b'{"jsonrpc":"2.0","id":5,"method":"daemon.st')
t0 = time.time()
r = json.loads(f.readline())
assert r["error"]["code"] == -32008, r
assert f.readline() == b"", "the idle connection stayed open"
assert 0.5 < time.time() - t0 < 5, time.time() - t0
assert "result" in status(*held[0], i=3), "a quiet, complete connection was closed"
for s, f in held:
    f.close()
    s.close()
time.sleep(0.3)

# Large unfinished lines from clients that then leave.
s, f = conn()
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"config.set","params":{"max_clients":100}}\n')
assert "result" in json.loads(f.readline())
f.close()
s.close()
base = rss()
for round_ in range(4):
    many = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"p":"')
        many.append(s)
    # Interleaved, so the daemon grows every buffer a little at a time.
    for piece in range(16):
        for s in many:
            s.sendall(b"y" * (62 * 1024))
        time.sleep(0.02)
    time.sleep(0.3)
    for s in many:
        s.close()
time.sleep(0.8)
after = rss()
print("rss before %.1f MB, after %.1f MB" % (base / 1e6, after / 1e6))
if not asan:
    assert after < base + 8e6, "%d bytes still held after the clients left" % (after - base)
s, f = conn()
assert "result" in status(s, f)
PY
echo "client_limits: ok"
