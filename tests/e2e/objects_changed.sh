#!/usr/bin/env bash
# End to end, an object that changes on the store while it is downloaded
# (s3, through the fault proxy in front of s3rver, which throttles and cuts
# the first response). The listing's ETag is each file's validator: every
# response must carry it (a resumed range sends it as If-Range), so once the
# object is overwritten the next request sees a new ETag and the file
# restarts from zero (the old bytes, and the content hash read for the old
# version, are dropped).
#   - same size: the job ends with exactly the new version, and says the
#     old version's store hash was not checked;
#   - another size: the listing's size is what the job promised, so once the
#     restarted file's first answer names another size it fails at once with
#     a clear error, nothing of it published; a new fetch lists again and
#     gets the new version.
# And a job canceled while its HEADs read the content hashes ends cleanly.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/s3.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
cd "$CKT_TMP"
ckt_s3_start live
ckt_proxy_start "$(cat "$CKT_TMP/s3.port")"

# put_v BUCKET KEY FILE: uploads FILE with its sha256 checksum (S3's way).
put_v() {
    local v code
    v=$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())' "$3")
    code=$(ckt_s3_curl -o /dev/null -w '%{http_code}' -H "x-amz-checksum-sha256: $v" -T "$3" \
        "$(ckt_s3_url "$1" "$2")") || ckt_fail "s3 put $1/$2: curl failed"
    [ "$code" = 200 ] || ckt_fail "s3 put $1/$2: HTTP $code"
}
# wait_bytes N: until the proxy relayed N body bytes.
wait_bytes() {
    local i
    for i in $(seq 1 300); do
        [ "$(ckt_fault_stat "['bytes_sent']")" -ge "$1" ] && return 0
        sleep 0.05
    done
    ckt_fail "the download did not start"
}

size=$((6 * 1024 * 1024 + 5))
ckt_gen_file v1.bin $size
ckt_gen_file v2.bin $size
put_v live same/big.bin v1.bin

ckt_s3_env
CKT_KEEP_AWS=1 ckt_daemon_start
ckpt config set segment_threshold=1048576 >/dev/null
export AWS_ENDPOINT_URL_S3=$CKT_PROXY_URL

# change_midway PREFIX NAME OUT NEW: fetches s3://live/PREFIX/ into OUT
# detached, overwrites PREFIX/NAME with the file NEW once the download is
# under way; prints the job id. The first GET (count 2: the HEAD reading the
# checksum takes one) is throttled and cut after 2 MB; all are throttled.
change_midway() {
    ckt_fault "rate=1048576&cut_after=2000000&count=2&path=$2"
    ckt_fault "rate=2097152&count=-1&path=$2"
    local job
    job=$(ckpt fetch -d "s3://live/$1/" -o "$3")
    wait_bytes 300000
    put_v live "$1/$2" "$4"
    echo "$job"
}

ckt_log "overwritten with the same size mid-download: ends with the new version"
id=$(change_midway same big.bin "$CKT_TMP/out" v2.bin)
[ "$(ckt_job_wait "$id" 120)" = done ] || { ckt_job_log "$id"; ckt_fail "job $id did not end done"; }
cmp v2.bin "$CKT_TMP/out/big.bin" || ckt_fail "the file is not exactly the new version"
ckt_job_log_has "$id" "restarting 'big.bin' from zero.*changed on the server" ||
    { ckt_job_log "$id"; ckt_fail "no restart for the change"; }
ckt_job_log_has "$id" "'big.bin' changed on the store since its content hash was read" ||
    { ckt_job_log "$id"; ckt_fail "the old version's hash: no word"; }
ckt_fault_clear

ckt_log "overwritten with another size: a clear error, nothing published; a new fetch gets it"
ckt_gen_file w1.bin $size
ckt_gen_file w2.bin $((size - 1000))
put_v live other/w.bin w1.bin
id=$(change_midway other w.bin "$CKT_TMP/out2" w2.bin)
[ "$(ckt_job_wait "$id" 120)" = failed ] || { ckt_job_log "$id"; ckt_fail "job $id did not fail"; }
ckt_job_log_has "$id" "size mismatch for 'w.bin': server has $((size - 1000)) bytes, expected $size" ||
    { ckt_job_log "$id"; ckt_fail "no clear error for the size change"; }
[ ! -e "$CKT_TMP/out2/w.bin" ] || ckt_fail "a file of the old listing was published"
ckt_fault_clear
ckpt fetch "s3://live/other/" -o "$CKT_TMP/out2" > f3.out 2>&1 || { cat f3.out; ckt_fail "the new fetch failed"; }
cmp w2.bin "$CKT_TMP/out2/w.bin" || ckt_fail "the new fetch did not get the new version"
ckt_log "canceled while it reads the content hashes: the HEAD is dropped, nothing written"
ckt_fault "delay=3000&count=1&path=big.bin"
id=$(ckpt fetch -d "s3://live/same/" -o "$CKT_TMP/out3")
for i in $(seq 1 50); do
    [ "$(curl -sf "$CKT_FAULT_URL/_fault/rules")" = "[]" ] && break   # the HEAD took the rule
    sleep 0.05
done
[ "$(ckt_job_field "$id" "['state']")" = resolving ] || ckt_fail "job $id is not reading the hashes"
ckpt cancel "$id" >/dev/null
[ "$(ckt_job_wait "$id" 20)" = canceled ] || ckt_fail "job $id was not canceled"
[ ! -e "$CKT_TMP/out3" ] || [ -z "$(ls -A "$CKT_TMP/out3")" ] || ckt_fail "a canceled job wrote"
ckpt status >/dev/null || ckt_fail "the daemon is gone"
ckt_fault_clear
ckt_daemon_stop
echo "objects_changed: ok"
