#!/usr/bin/env bash
# End to end: raw malformed lines on the socket get error replies while
# another client's job completes; oversize lines are refused and the
# connection closed; the socket is private; a second daemon on a live socket
# exits with a clear error; a stale socket is replaced.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/slow/a.bin" 3000000
ckt_nginx_start "$www" 'location /slow/ { limit_rate 3m; }'
ckt_daemon_start

[ "$(stat -c %a "$CKT_SOCK")" = 600 ] || ckt_fail "socket mode is $(stat -c %a "$CKT_SOCK")"

ckt_log "a job runs while another client sends garbage"
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/slow/a.bin")
python3 - "$CKT_SOCK" <<'PY'
import json, socket, sys

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    return s, s.makefile("rb")

s, f = conn()
def ask(raw):
    s.sendall(raw)
    return json.loads(f.readline())

cases = [
    (b"this is not json\n", -32700),
    (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"\n", -32700),
    (b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\xff\xfe\"}\n", -32700),
    (b"[1,2,3]\n", -32600),
    (b"{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"daemon.status\"}\n", -32600),
    (b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"no.such\"}\n", -32601),
    (b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"job.get\",\"params\":{\"id\":\"x\"}}\n", -32602),
    (b"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"job.get\",\"params\":{\"id\":999}}\n", -32001),
    (b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.submit\",\"params\":{\"source\":{\"kind\":\"urls\",\"files\":[{\"url\":\"http://127.0.0.1/\",\"path\":\"../x\"}]},\"output\":\"/tmp/x\"}}\n", -32004),
    (b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"job.submit\",\"params\":{\"source\":{\"kind\":\"urls\",\"files\":[]},\"output\":\"rel\"}}\n", -32602),
    (b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"daemon.hello\",\"params\":{\"protocol\":[99]}}\n", -32003),
]
for raw, code in cases:
    r = ask(raw)
    assert r["error"]["code"] == code, (raw, r)
    assert r["error"]["message"], r
# URL-only entries ("url_names"): the daemon names the file from the URL and
# refuses a URL that names none, or names '..' or a path once decoded.
hello = ask(b"{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"daemon.hello\",\"params\":{\"protocol\":[1]}}\n")
assert "url_names" in hello["result"]["features"], hello
def submit(files):
    req = {"jsonrpc": "2.0", "id": 12, "method": "job.submit",
           "params": {"source": {"kind": "urls", "files": files}, "output": "/tmp/never-made"}}
    return ask(json.dumps(req).encode() + b"\n")
for files, code, words in [
    (["http://127.0.0.1/dir/"], -32602, "cannot name the file of 'http://127.0.0.1/dir/': the url ends with '/'"),
    (["http://127.0.0.1/%2e%2e"], -32602, "the name is '.' or '..'"),
    (["http://127.0.0.1/a%2Fb"], -32602, "contains '/' once decoded"),
    (["http://127.0.0.1/a.bin", {"url": "http://127.0.0.1/b/a.bin", "path": "a.bin"}], -32602, "two files share the path 'a.bin'"),
    ([42], -32602, "file 0 must be a URL or have string 'url' and 'path'"),
    (["ftp://127.0.0.1/a.bin"], -32602, "only http and https"),
]:
    r = submit(files)
    assert r["error"]["code"] == code and words in r["error"]["message"], (files, r)
# Split writes of one valid request still work on the same connection.
s.sendall(b"{\"jsonrpc\":\"2.0\",\"id\":10,")
s.sendall(b"\"method\":\"daemon.status\"}\n")
r = json.loads(f.readline())
assert r["id"] == 10 and "version" in r["result"], r

# An oversize line: error reply, then the daemon closes the connection.
s2, f2 = conn()
try:
    s2.sendall(b"{\"a\":\"" + b"x" * (1024 * 1024 + 10))
except (BrokenPipeError, ConnectionResetError):
    pass
r = json.loads(f2.readline())
assert r["error"]["code"] == -32005, r
assert f2.readline() == b"", "connection stayed open"

# A client that asks and never reads: once more than 8 MiB of replies wait
# for it, the daemon drops it (and serves everyone else).
files = [{"url": "http://127.0.0.1:9/never/%05d" % i, "path": "d/%05d-%s" % (i, "p" * 150)}
         for i in range(3000)]
r = ask(json.dumps({"jsonrpc": "2.0", "id": 11, "method": "job.submit",
                    "params": {"source": {"kind": "urls", "files": files}, "output": "/tmp/ckt-never",
                               "options": {"priority": -5}}}).encode() + b"\n")
big = r["result"]["job"]["id"]
s3, f3 = conn()
req = json.dumps({"jsonrpc": "2.0", "id": 12, "method": "job.get", "params": {"id": big}}).encode()
try:
    s3.sendall((req + b"\n") * 40)  # ~40 replies of ~0.6 MB each, none read yet
except (BrokenPipeError, ConnectionResetError):
    pass
import time
time.sleep(1)
got = 0
while True:
    try:
        line = f3.readline()
    except ConnectionResetError:
        break
    if not line:
        break
    got += 1
assert got < 40, "a client that never read got all %d replies" % got
r = ask(b"{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"job.cancel\",\"params\":{\"id\":%d}}\n" % big)
assert "result" in r, r
print("protocol cases ok; the slow reader got %d of 40 replies before it was dropped" % got)
PY
grep -q "dropping a subscriber that is more than" "$CKT_TMP/ckptd.log" || ckt_fail "the slow reader was not dropped"
ckpt watch "$id" >/dev/null || ckt_fail "the other client's job did not complete"
cmp "$www/slow/a.bin" "$CKT_TMP/out/a.bin" || ckt_fail "bytes differ"

ckt_log "a second daemon on a live socket exits with a clear error"
rc=0
"$CKPTD" --socket "$CKT_SOCK" --state-dir "$CKT_TMP/state2" > "$CKT_TMP/second.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "second daemon started"
grep -q "another ckptd is already listening on '$CKT_SOCK'" "$CKT_TMP/second.log" || ckt_fail "second daemon message"

ckt_log "SIGTERM exits 0; a stale socket file is replaced"
ckt_daemon_stop
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$CKT_SOCK"
[ -S "$CKT_SOCK" ] || ckt_fail "could not make a stale socket"
ckt_daemon_start
ckpt status >/dev/null || ckt_fail "daemon did not replace the stale socket"

ckt_log "no daemon: a clear message"
ckt_daemon_stop
rc=0; ckpt status > "$CKT_TMP/nodaemon.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "cannot reach ckptd at '$CKT_SOCK': is it running?" "$CKT_TMP/nodaemon.out" \
    || { cat "$CKT_TMP/nodaemon.out"; ckt_fail "no-daemon message"; }
echo "protocol_abuse: ok"
