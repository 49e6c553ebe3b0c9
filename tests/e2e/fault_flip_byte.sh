#!/usr/bin/env bash
# Fault: one byte of the body flipped in transit, for a file whose expected
# xxh128 is given in the list. Flipped once: the mismatch is caught, the file
# is fetched again once, and the job ends done with correct bytes. Flipped
# every time: the job fails naming the file, and nothing is published.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/a.bin" 3000000
ckt_gen_file "$www/ok.bin" 100000
ckt_gen_file "$www/seg.bin" 20000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start

# list FILE...: an aria2-style list through the proxy, with out= and xxh128=.
list() {
    local f
    for f in "$@"; do
        printf '%s\n  out=%s\n  xxh128=%s\n' "$CKT_PROXY_URL/$f" "$f" "$(ckt_xxh128 "$www/$f")"
    done
}

ckt_log "one flipped byte, once: refetched, done"
list a.bin > "$CKT_TMP/list1"
ckt_fault "flip_byte=1234567&path=/a.bin"
ckpt fetch -o "$CKT_TMP/out1" -i "$CKT_TMP/list1" > "$CKT_TMP/f1.out" 2>&1 \
    || { cat "$CKT_TMP/f1.out"; ckt_fail "fetch with one flipped byte failed"; }
[ "$(ckt_xxh128 "$CKT_TMP/out1/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "content differs"
[ "$(ckt_fault_stat "['per_path']['/a.bin']['requests']")" = 2 ] || ckt_fail "expected 2 requests (bad, then good)"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
ckt_job_log "$id" > "$CKT_TMP/job1.log"
cat "$CKT_TMP/job1.log"
grep -q "xxh128 mismatch for 'a.bin'" "$CKT_TMP/job1.log" || ckt_fail "the job's log does not mention the mismatch"
grep -q partial <(ls -A "$CKT_TMP/out1") && ckt_fail "staging directory left behind"

ckt_log "one flipped byte in a file fetched in ranges: refetched, done"
ckpt config set segment_threshold=8388608 > /dev/null
ckt_fault_clear
list seg.bin > "$CKT_TMP/list2"
ckt_fault "flip_byte=100&path=/seg.bin"
ckpt fetch -o "$CKT_TMP/out2" -i "$CKT_TMP/list2" > "$CKT_TMP/f2.out" 2>&1 \
    || { cat "$CKT_TMP/f2.out"; ckt_fail "ranged fetch with one flipped byte failed"; }
[ "$(ckt_xxh128 "$CKT_TMP/out2/seg.bin")" = "$(ckt_xxh128 "$www/seg.bin")" ] || ckt_fail "seg.bin content differs"
ckpt config set segment_threshold=67108864 > /dev/null

ckt_log "flipped every time: fails naming the file, publishes nothing"
ckt_fault_clear
ckt_fault "flip_byte=10&count=-1&path=/a.bin"
list a.bin ok.bin > "$CKT_TMP/list3"
rc=0
ckpt fetch -o "$CKT_TMP/out3" -i "$CKT_TMP/list3" > "$CKT_TMP/f3.out" 2>&1 || rc=$?
cat "$CKT_TMP/f3.out"
[ $rc -ne 0 ] || ckt_fail "a file that never matches its hash was accepted"
grep -q "xxh128 mismatch for 'a.bin'" "$CKT_TMP/f3.out" || ckt_fail "the failure does not name the file"
n=$(ckt_fault_stat "['per_path']['/a.bin']['requests']")
[ "$n" = 2 ] || ckt_fail "expected the first fetch and one refetch, saw $n requests"
[ ! -e "$CKT_TMP/out3/a.bin" ] || ckt_fail "the corrupt file was published"
[ ! -e "$CKT_TMP/out3/ok.bin" ] || ckt_fail "a file of the failed job was published"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
[ "$(ckt_job_field "$id" "['state']")" = failed ] || ckt_fail "job not failed"
ckpt --json job "$id" > "$CKT_TMP/job3.json"
python3 - "$CKT_TMP/job3.json" <<'PY' || ckt_fail "the job record of the failed file"
import json, sys
job = json.load(open(sys.argv[1]))["job"]
files = {f["path"]: f for f in job["files"]}
a = files["a.bin"]
assert a["state"] == "failed", a
assert "xxh128 mismatch for 'a.bin'" in (a["error"] or ""), a
assert a["xxh128"] is None, a
PY

ckt_daemon_stop
echo "fault_flip_byte: ok"
