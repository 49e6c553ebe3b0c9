#!/usr/bin/env bash
# End to end, against a small hostile master on 127.0.0.1: many slow master
# calls in flight do not stall a URL download (master calls have their own
# connections), a listing whose pagination never advances is an error at
# once, and a listing longer than master_list_max is refused.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
ckt_gen_file "$CKT_TMP/www/f.bin" 2000000
ckt_nginx_start "$CKT_TMP/www"
cat > "$CKT_TMP/routes.py" <<'PY'
import time
def route(h, path, q):
    if path.startswith("/api/v1/checkpoints/"):
        time.sleep(2)  # a slow master
        return h.reply(404, {"error": {"error": "no such checkpoint"}})
    if path == "/api/v1/trials/1/checkpoints":  # never advances
        off = int(q.get("offset", ["0"])[0])
        return h.reply(200, {"checkpoints": [{"uuid": "x"}],
                             "pagination": {"offset": off, "limit": 1, "startIndex": 0,
                                            "endIndex": 1, "total": 1000}})
    if path == "/api/v1/trials/2/checkpoints":  # advances, but is long
        off = int(q.get("offset", ["0"])[0])
        return h.reply(200, {"checkpoints": [{"uuid": "x"}] * 100,
                             "pagination": {"offset": off, "limit": 100, "startIndex": off,
                                            "endIndex": off + 100, "total": 10 ** 6}})
PY
ckt_hostile_master "$CKT_TMP/routes.py"
port=$CKT_HOSTILE_PORT
DET_MASTER=http://127.0.0.1:$port DET_USER_TOKEN=t ckt_daemon_start
ckpt config set master_list_max=1000 > /dev/null

ckt_log "20 slow master calls in flight; a URL download still runs at once"
python3 - "$CKT_SOCK" > "$CKT_TMP/slow.out" 2>&1 <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
for i in range(20):
    uuid = "00000000-0000-0000-0000-0000000000%02d" % i
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": i, "method": "checkpoint.get",
                          "params": {"uuid": uuid}}).encode() + b"\n")
codes = [json.loads(f.readline())["error"]["code"] for _ in range(20)]
print("slow calls answered:", codes)
PY
slow=$!
sleep 0.5
t0=$(date +%s.%N)
timeout 20 "$CKPT" --socket "$CKT_SOCK" fetch -o "$CKT_TMP/out" "$CKT_BASE_URL/f.bin" > /dev/null ||
    ckt_fail "the download failed"
t1=$(date +%s.%N)
cmp "$CKT_TMP/www/f.bin" "$CKT_TMP/out/f.bin" || ckt_fail "bytes differ"
took=$(python3 -c "print(round($t1 - $t0, 2))")
echo "the download took ${took}s beside 20 slow master calls"
python3 -c "import sys; sys.exit(0 if $took < 3 else 1)" || ckt_fail "the download waited for the master (${took}s)"
wait "$slow" || { cat "$CKT_TMP/slow.out"; ckt_fail "the slow calls were not all answered"; }

ckt_log "pagination that does not advance is an error at once"
rc=0
timeout 10 "$CKPT" --socket "$CKT_SOCK" trial list-checkpoints 1 > "$CKT_TMP/list1.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$CKT_TMP/list1.out"; ckt_fail "no error for a listing that does not advance (status $rc)"; }
grep -q "pagination does not advance" "$CKT_TMP/list1.out" || { cat "$CKT_TMP/list1.out"; ckt_fail "unclear error"; }

ckt_log "a listing longer than master_list_max is refused"
rc=0
timeout 20 "$CKPT" --socket "$CKT_SOCK" trial list-checkpoints 2 > "$CKT_TMP/list2.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$CKT_TMP/list2.out"; ckt_fail "no error for a long listing (status $rc)"; }
grep -q "more than 1000 checkpoints" "$CKT_TMP/list2.out" || { cat "$CKT_TMP/list2.out"; ckt_fail "unclear error"; }
echo "master_limits: ok"
