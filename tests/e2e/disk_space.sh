#!/usr/bin/env bash
# End to end: before writing, a job checks free space against what it still
# has to write plus the reserve; when short it waits, visibly, instead of
# filling the disk, and continues once space appears (or fails at once when
# it asked to). Needs root to mount a small tmpfs; skips otherwise.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
mnt=$CKT_TMP/small
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=20m tmpfs "$mnt" 2>/dev/null; then
    echo "disk_space: skipped (cannot mount a tmpfs here)"
    exit 0
fi
trap 'umount "$mnt" 2>/dev/null || true; ckt_cleanup' EXIT
www=$CKT_TMP/www
ckt_gen_file "$www/big.bin" 30000000
ckt_nginx_start "$www"
ckt_daemon_start
ckpt config set disk_reserve=1048576 >/dev/null
printf '%s/big.bin\n  out=big.bin\n  size=30000000\n' "$CKT_BASE_URL" > "$CKT_TMP/list"

ckt_log "short of space: the job waits and says why; nothing is written"
id=$(ckpt fetch --detach -i "$CKT_TMP/list" -o "$mnt/out")
for i in $(seq 1 50); do
    st=$(ckpt --json job "$id" | python3 -c 'import json,sys; j=json.load(sys.stdin)["job"]; print(j["state"])')
    [ "$st" = waiting ] && break
    sleep 0.1
done
[ "$st" = waiting ] || ckt_fail "job is $st, not waiting"
err=$(ckpt --json job "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["error"])')
echo "$err" | grep -q "not enough free space in '$mnt/out'" || ckt_fail "unclear reason: $err"
[ "$(du -sb "$mnt" | cut -f1)" -lt 1000000 ] || ckt_fail "the job wrote while short of space"
grep -q "$CKT_BASE_URL/big.bin" "$CKT_NGINX_PREFIX/logs/access.log" && ckt_fail "the job fetched while short of space"

ckt_log "space appears: the job continues by itself"
mount -o remount,size=100m "$mnt"
timeout 60 "$CKPT" --socket "$CKT_SOCK" watch "$id" > /dev/null || ckt_fail "job did not finish once space appeared"
cmp "$www/big.bin" "$mnt/out/big.bin" || ckt_fail "bytes differ"

ckt_log "on_no_space=fail: fails at once instead"
rm -rf "$mnt/out"
mount -o remount,size=20m "$mnt"
python3 - "$CKT_SOCK" "$CKT_BASE_URL/big.bin" "$mnt/out2" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
def rpc(i, m, p):
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p}) + "\n").encode())
    return json.loads(f.readline())
r = rpc(1, "job.submit", {"source": {"kind": "urls", "files": [{"url": sys.argv[2], "path": "big.bin", "size": 30000000}]},
                          "output": sys.argv[3], "options": {"on_no_space": "fail"}})
jid = r["result"]["job"]["id"]
for _ in range(50):
    j = rpc(2, "job.get", {"id": jid})["result"]["job"]
    if j["state"] in ("failed", "done"):
        break
    time.sleep(0.1)
assert j["state"] == "failed" and "not enough free space" in j["error"], j
PY
ckt_daemon_stop
echo "disk_space: ok"
