#!/usr/bin/env bash
# End to end: kill -9 while the master's archive streams. The archive route
# cannot resume, so after the restart the job fetches the archive again, but
# the files it verified before the kill are kept, not written again (same
# inode, same mtime), and every file ends equal to the storage.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
data=$CKT_DET_DATA
cd "$CKT_TMP"

files=$(python3 -c 'import json; print(json.dumps({"files": {"f%d.bin" % i: 1000000 for i in range(1, 9)}}))')
u=$(curl -sf -X POST -d "$files" "$CKT_DET_URL/_ctl/trials/1/checkpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
curl -sf -X POST "$CKT_DET_URL/_ctl/archive?rate=1500000" > /dev/null   # ~6 s for 8 MB

ckt_log "a slow archive; kill -9 once a few files are verified"
ckpt checkpoint download "$u" --mode master -o "$CKT_TMP/out" -q > dl.out 2>&1 & client=$!
job='' done_files=0
for _ in $(seq 1 200); do
    read -r job done_files < <(ckpt --json jobs | python3 -c '
import json, sys
js = [j for j in json.load(sys.stdin)["jobs"] if j["kind"] == "checkpoint"]
print(js[-1]["id"], js[-1]["files_done"]) if js else print("", 0)') || true
    [ "${done_files:-0}" -ge 3 ] && break
    sleep 0.05
done
[ "${done_files:-0}" -ge 3 ] || ckt_fail "no file was verified while the archive streamed"
stage=$(ckt_staging "$CKT_TMP" out)   # -o DIR: the files go in DIR itself
[ -f "$stage/f1.bin" ] || ckt_fail "f1.bin is not staged"
before=$(stat -c '%i %Y.%y' "$stage/f1.bin")
ckt_daemon_kill9
kill "$client" 2>/dev/null || true
wait "$client" 2>/dev/null || true
[ ! -e "$CKT_TMP/out" ] || ckt_fail "a partial checkpoint was published"

ckt_log "restart: the archive is fetched again, the verified files are kept"
DET_MASTER=$CKT_DET_URL ckt_daemon_start
timeout 20 "$CKPT" --socket "$CKT_SOCK" watch "$job" > /dev/null || { ckpt job "$job"; ckt_fail "the job did not finish after the restart"; }
diff -r -x .ckptd.xxh128 -x .ckptd.json "$data/$u" "$CKT_TMP/out" || ckt_fail "the copy differs from the storage"
(cd "$CKT_TMP/out" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "the copy fails its manifest"
after=$(stat -c '%i %Y.%y' "$CKT_TMP/out/f1.bin")
[ "$before" = "$after" ] || ckt_fail "f1.bin was written again ($before, then $after)"
kept=$(grep -o "again ([0-9]* verified files\? kept" <(ckpt job "$job") | grep -o "[0-9]*" || true)
[ -n "$kept" ] && [ "$kept" -ge 3 ] || { ckpt job "$job"; ckt_fail "expected at least 3 files kept, got '$kept'"; }
ckt_daemon_stop
echo "master_archive_crash: ok ($done_files files verified at the kill; $kept kept on the second archive)"
