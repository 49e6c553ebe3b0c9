#!/usr/bin/env bash
# End to end: systemd-style socket activation. A launcher binds and listens
# on the socket, passes it as fd 3 with LISTEN_FDS/LISTEN_PID, and execs
# ckptd, which serves on it (and leaves the path to its owner at exit).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
CKT_SOCK=$CKT_TMP/activated.sock
python3 - "$CKT_SOCK" "$CKPTD" "$CKT_TMP/state" "$CKT_TMP/ckptd.log" <<'PY' &
import os, socket, sys
path, daemon, state, log = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
old = os.umask(0o177)
s.bind(path)
os.umask(old)
s.listen(16)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the pid
fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(fd, 1)
os.dup2(fd, 2)
os.execv(daemon, [daemon, "--socket", path + ".unused", "--state-dir", state])
PY
CKT_DAEMON_PID=$!
CKT_PIDS+=("$CKT_DAEMON_PID")
for i in $(seq 1 100); do
    ckpt status > /dev/null 2>&1 && break
    sleep 0.05
done
ckpt status | grep -q "ckptd" || ckt_fail "the activated daemon does not answer"
grep -q "passed by the service manager" "$CKT_TMP/ckptd.log" || ckt_fail "the daemon did not use the passed socket"
[ ! -e "$CKT_SOCK.unused" ] || ckt_fail "the daemon bound its own socket too"
ckt_daemon_stop
[ -S "$CKT_SOCK" ] || ckt_fail "the daemon removed a socket it did not create"
echo "socket_activation: ok"
