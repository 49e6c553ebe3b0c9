#!/usr/bin/env bash
# End to end, the master's archive route (GET /checkpoints/{uuid} as a tar,
# unpacked through libarchive): --mode master equals the storage; "auto"
# falls back to it for s3 storage without credentials, and the job record
# says which route served each checkpoint; an archive that breaks off is
# fetched again without rewriting the files verified the first time; an
# archive carrying an unsafe entry fails cleanly with nothing written
# outside the target; azure storage is refused with --mode master.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
data=$CKT_DET_DATA
read -r u1 u2 u3 <<< "$(ckt_det_q '" ".join(d["demo"]["top3"])')"
cd "$CKT_TMP"

last_job() { ckpt --json jobs | python3 -c 'import json,sys; print(max(j["id"] for j in json.load(sys.stdin)["jobs"]))'; }
via() { ckpt --json job "$1" | python3 -c 'import json,sys; print(" ".join(c["via"] for c in json.load(sys.stdin)["job"]["checkpoints"]))'; }
archive_count() { curl -sf "$CKT_DET_URL/_ctl/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("GET /checkpoints/{uuid}", 0))'; }
token=$(curl -sf -X POST -d '{"username":"determined","password":""}' "$CKT_DET_URL/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# reference UUID DIR: what `curl | tar -x` makes of the same archive
reference() {
    mkdir -p "$2"
    curl -sf -H "Authorization: Bearer $token" -H "Accept: application/x-tar" \
        "$CKT_DET_URL/checkpoints/$1" | tar -x -C "$2"
}
same() { # DIR REF: equal files, and the manifest holds
    diff -r -x .ckptd.xxh128 -x .ckptd.json "$2" "$1" || ckt_fail "$1 differs from $2"
    (cd "$1" && xxhsum -q -c .ckptd.xxh128) || ckt_fail "$1 fails its manifest"
}

ckt_log "--mode master: one archive request, files equal to the storage"
before=$(archive_count)
ckpt checkpoint download "$u1" --mode master -o "$CKT_TMP/m1" -q > /dev/null
same "$CKT_TMP/m1" "$data/$u1"
[ "$(archive_count)" -eq $((before + 1)) ] || ckt_fail "expected one archive request"
[ "$(via "$(last_job)")" = master ] || ckt_fail "the job does not record the master route"
grep -qE "^$u1 +fetched +shared_fs +master " <(ckpt job "$(last_job)") || ckt_fail "ckpt job does not show the route"

ckt_log "auto: s3 and gcs storage without credentials fall back to the master"
s3=$(ckt_det_q '[c["uuid"] for c in d["checkpoints"] if c["experimentId"]==4 and c["state"]=="STATE_COMPLETED"][0]')
ckpt checkpoint download "$s3" -o "$CKT_TMP/s3" -q > /dev/null || ckt_fail "auto did not fall back"
reference "$s3" "$CKT_TMP/ref-s3"
same "$CKT_TMP/s3" "$CKT_TMP/ref-s3"
job=$(last_job)
[ "$(via "$job")" = master ] || ckt_fail "the s3 job does not record the master route"
grep -q "no s3 credentials.*downloading it through the master" <(ckpt job "$job") \
    || ckt_fail "the job log does not say why the master served it"
gcs=$(ckt_det_q '[c["uuid"] for c in d["checkpoints"] if c["experimentId"]==7][0]')
ckpt checkpoint download "$gcs" -o "$CKT_TMP/gcs" -q > /dev/null || ckt_fail "auto did not fall back for gcs"
reference "$gcs" "$CKT_TMP/ref-gcs"
same "$CKT_TMP/gcs" "$CKT_TMP/ref-gcs"
grep -q "no gcs credentials.*downloading it through the master" <(ckpt job "$(last_job)") \
    || ckt_fail "the gcs fallback is not logged"
rc=0; ckpt checkpoint download "$gcs" --mode direct -o "$CKT_TMP/gcs-direct" > gd.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "no gcs credentials" gd.out || { cat gd.out; ckt_fail "gcs --mode direct without credentials"; }
ckpt checkpoint download "$u1" -o "$CKT_TMP/d1" -q > /dev/null
[ "$(via "$(last_job)")" = direct ] || ckt_fail "mounted storage should be served directly in auto"

ckt_log "--mode master --decompress: a .zst entry is decoded while it streams"
zu=$(curl -sf -X POST -d '{"files":{"w.bin.zst":1000,"plain.txt":500}}' "$CKT_DET_URL/_ctl/trials/1/checkpoints" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])')
head -c 3000000 /dev/urandom > "$CKT_TMP/w.bin"
zstd -q -c "$CKT_TMP/w.bin" > "$data/$zu/w.bin.zst"
ckpt checkpoint download "$zu" --mode master --decompress -o "$CKT_TMP/z" -q > /dev/null
cmp "$CKT_TMP/w.bin" "$CKT_TMP/z/w.bin" || ckt_fail "the decoded file differs from the original"
[ ! -e "$CKT_TMP/z/w.bin.zst" ] || ckt_fail "the compressed name was kept"
cmp "$data/$zu/plain.txt" "$CKT_TMP/z/plain.txt" || ckt_fail "plain.txt differs"

ckt_log "an archive that breaks off is fetched again; verified files are kept"
reference "$u2" "$CKT_TMP/ref-u2"
# Cut inside the last entry's data: every file before it arrives whole.
cut=$(curl -sf -H "Authorization: Bearer $token" "$CKT_DET_URL/checkpoints/$u2" | python3 -c '
import sys, tarfile, io
t = tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()))
files = [m for m in t.getmembers() if m.isfile()]
print(files[-1].offset_data + files[-1].size // 2)')
curl -sf -X POST "$CKT_DET_URL/_ctl/archive?cut=$cut" > /dev/null
before=$(archive_count)
ckpt checkpoint download "$u2" --mode master -o "$CKT_TMP/m2" -q > /dev/null || ckt_fail "no recovery from a cut archive"
same "$CKT_TMP/m2" "$CKT_TMP/ref-u2"
[ "$(archive_count)" -eq $((before + 2)) ] || ckt_fail "expected exactly two archive requests"
job=$(last_job)
ckpt job "$job" > m2.log
grep -q "broke off\|not the .* announced" m2.log || { cat m2.log; ckt_fail "the cut is not in the job log"; }
kept=$(grep -o "again ([0-9]* verified files\? kept" m2.log | grep -o "[0-9]*" || true)
nfiles=$(find "$CKT_TMP/ref-u2" -type f | wc -l)
[ -n "$kept" ] && [ "$kept" -eq $((nfiles - 1)) ] \
    || { cat m2.log; ckt_fail "expected $((nfiles - 1)) files kept on the second attempt, got '$kept'"; }

ckt_log "an archive carrying '../evil' fails cleanly; nothing outside the target"
mkdir -p "$CKT_TMP/h"
curl -sf -X POST "$CKT_DET_URL/_ctl/archive?extra=../evil" > /dev/null
rc=0; ckpt checkpoint download "$u3" --mode master -o "$CKT_TMP/h/x" > h.out 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "an unsafe archive entry was accepted"
grep -q "unsafe path '../evil'" h.out || { cat h.out; ckt_fail "the unsafe entry is not named"; }
[ ! -e "$CKT_TMP/h/x" ] && [ ! -e "$CKT_TMP/h/evil" ] && [ ! -e "$CKT_TMP/evil" ] \
    || ckt_fail "something was published or written outside the target"

ckt_log "the same checkpoint again, now clean: it downloads"
ckpt checkpoint download "$u3" --mode master -o "$CKT_TMP/h/x" -q > /dev/null
same "$CKT_TMP/h/x" "$data/$u3"

grep -q "Bearer" "$CKT_TMP/ckptd.log" && ckt_fail "a token reached the log"
ckt_daemon_stop
echo "master_archive: ok (cut at byte $cut; on the retry $kept verified file(s) kept)"
