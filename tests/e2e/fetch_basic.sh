#!/usr/bin/env bash
# End to end: a URL set from the suite's nginx through `ckpt fetch`; every
# file equal to its source; a 404 fails cleanly naming the URL; a wrong
# expected hash is refetched once, then fails naming the file, publishing
# nothing; unsafe paths are refused at submit.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/a.bin" 1000000
ckt_gen_file "$www/nested/dir/b.bin" 3000000
ckt_gen_file "$www/seg.bin" 90000000        # above the 64 MiB segment threshold
ckt_gen_file "$www/données/poids ü.bin" 12345
: > "$www/empty"; chmod 644 "$www/empty"
for i in $(seq 1 40); do ckt_gen_file "$www/small/f$i" $((i * 1000)); done
ckt_nginx_start "$www"
ckt_daemon_start

list=$CKT_TMP/list.txt
{
    echo "$CKT_BASE_URL/a.bin"
    echo "  out=a.bin"
    echo "  size=1000000"
    echo "  xxh128=$(ckt_xxh128 "$www/a.bin")"
    echo "$CKT_BASE_URL/nested/dir/b.bin"
    echo "  out=nested/dir/b.bin"
    echo "$CKT_BASE_URL/seg.bin"
    echo "  out=seg.bin"
    echo "$CKT_BASE_URL/donn%C3%A9es/poids%20%C3%BC.bin"
    echo "  out=données/poids ü.bin"
    echo "$CKT_BASE_URL/empty"
    echo "  out=empty"
    for i in $(seq 1 40); do echo "$CKT_BASE_URL/small/f$i"; echo "  out=small/f$i"; done
} > "$list"

ckt_log "a mixed set downloads and every file equals its source"
ckpt fetch -o "$CKT_TMP/out" -i "$list" > "$CKT_TMP/fetch.out"
grep -q "done" "$CKT_TMP/fetch.out" || ckt_fail "fetch did not report done"
(cd "$www" && find . -type f | sort) > "$CKT_TMP/src.lst"
(cd "$CKT_TMP/out" && find . -type f | sort) > "$CKT_TMP/dst.lst"
diff "$CKT_TMP/src.lst" "$CKT_TMP/dst.lst" || ckt_fail "file sets differ"
while read -r f; do
    [ "$(ckt_xxh128 "$www/$f")" = "$(ckt_xxh128 "$CKT_TMP/out/$f")" ] || ckt_fail "content differs: $f"
done < "$CKT_TMP/src.lst"
grep -q partial <(ls -A "$CKT_TMP/out") && ckt_fail "staging directory left behind"

ckt_log "the job record carries each file's xxh128, also once the list may have left memory"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
sleep 0.6 # past the daemon's next tick, which may drop a finished set's list (test_engine checks it)
ckpt --json job "$id" > "$CKT_TMP/job.json"
python3 - "$CKT_TMP/job.json" "$www" <<'PY'
import json, subprocess, sys
job = json.load(open(sys.argv[1]))["job"]
assert job["state"] == "done", job["state"]
assert job["files_total"] == 45 == len(job["files"]), (job["files_total"], len(job["files"]))
assert job["source"]["files"] == 45, job["source"]
assert job["bytes_total"] == job["bytes_done"] == 1000000 + 3000000 + 90000000 + 12345 + sum(
    i * 1000 for i in range(1, 41)), job
for f in job["files"]:
    assert f["state"] == "verified", f
    want = subprocess.check_output(["xxhsum", "-H2", sys.argv[2] + "/" + f["path"]]).split()[0].decode()
    assert f["xxh128"] == want, (f["path"], f["xxh128"], want)
PY

ckt_log "a 404 fails within the job, naming the URL"
rc=0
ckpt fetch -o "$CKT_TMP/out404" "$CKT_BASE_URL/missing.bin" > "$CKT_TMP/404.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "fetch of a 404 succeeded"
grep -q "http 404 for '$CKT_BASE_URL/missing.bin'" "$CKT_TMP/404.out" || { cat "$CKT_TMP/404.out"; ckt_fail "404 message"; }

ckt_log "a wrong expected hash is refetched once, then fails naming the file"
printf '%s\n  out=x.bin\n  xxh128=%s\n' "$CKT_BASE_URL/a.bin" 00000000000000000000000000000000 > "$CKT_TMP/bad.txt"
rc=0
ckpt fetch -o "$CKT_TMP/outbad" -i "$CKT_TMP/bad.txt" > "$CKT_TMP/bad.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "hash mismatch accepted"
grep -q "xxh128 mismatch for 'x.bin'" "$CKT_TMP/bad.out" || { cat "$CKT_TMP/bad.out"; ckt_fail "mismatch message"; }
[ ! -e "$CKT_TMP/outbad/x.bin" ] || ckt_fail "unverified file was published"
n=$(grep -c '"GET /a.bin' "$CKT_NGINX_PREFIX/logs/access.log")
[ "$n" -eq 3 ] || ckt_fail "expected 1 + 2 requests for a.bin (one refetch), saw $n"

ckt_log "a wrong expected size fails naming the file"
printf '%s\n  out=y.bin\n  size=5\n' "$CKT_BASE_URL/a.bin" > "$CKT_TMP/size.txt"
rc=0
ckpt fetch -o "$CKT_TMP/outsize" -i "$CKT_TMP/size.txt" > "$CKT_TMP/size.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "size mismatch accepted"
grep -q "size mismatch for 'y.bin'" "$CKT_TMP/size.out" || { cat "$CKT_TMP/size.out"; ckt_fail "size message"; }

ckt_log "unsafe paths are refused at submit"
for bad in "../evil" "/etc/passwd" "a/../../b" ""; do
    printf '%s\n  out=%s\n' "$CKT_BASE_URL/a.bin" "$bad" > "$CKT_TMP/evil.txt"
    rc=0
    ckpt fetch -o "$CKT_TMP/outevil" -i "$CKT_TMP/evil.txt" > "$CKT_TMP/evil.out" 2>&1 || rc=$?
    [ $rc -ne 0 ] || ckt_fail "unsafe path '$bad' accepted"
done
[ ! -e "$CKT_TMP/evil" ] || ckt_fail "wrote outside the target"

ckt_daemon_stop
echo "fetch_basic: ok"
