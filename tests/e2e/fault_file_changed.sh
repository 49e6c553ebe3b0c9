#!/usr/bin/env bash
# Fault: the file is replaced on the server (new content, same size, new
# ETag) while it downloads, and the connection is then cut so a resume is
# needed. The resume's If-Range no longer matches, the server answers with
# the whole new file, and the daemon must restart the file from zero: the
# final bytes equal the NEW file, never a mix of old and new.
# Once for a single stream, once for a file fetched in ranges.
#
# The first response is paced by the proxy (rate=, exact) rather than by
# nginx's limit_rate, whose first-second burst makes the time of the cut
# depend on where in a wall-clock second the request started.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start

# run NAME SIZE CUT: serve NAME's first response at 2 MB/s, replace the file
# after 1 s, cut that response after CUT body bytes (CUT / 2 MB/s > 1 s).
run() {
    local name=$1 size=$2 cut=$3 file=$www/$1
    ckt_gen_file "$file" "$size"
    # An mtime well in the past: nginx's ETag (mtime-size) surely changes.
    touch -d "@$(( $(date +%s) - 100 ))" "$file"
    local old new id
    old=$(ckt_xxh128 "$file")
    ckt_gen_file "$CKT_TMP/new.bin" "$size"
    new=$(ckt_xxh128 "$CKT_TMP/new.bin")
    [ "$old" != "$new" ] || ckt_fail "the two versions are equal"
    curl -sfI "$CKT_BASE_URL/$name" | grep -i '^etag' | tr -d '\r' > "$CKT_TMP/etag.old"

    ckt_fault_clear
    ckt_fault "rate=2000000&cut_after=$cut&path=/$name"
    id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_PROXY_URL/$name")
    sleep 1
    [ "$(ckt_job_field "$id" "['state']")" = running ] || ckt_fail "$name: the job is not running after 1 s"
    [ "$(curl -sf "$CKT_FAULT_URL/_fault/rules")" = "[]" ] || ckt_fail "$name: the paced response has not started"
    mv "$CKT_TMP/new.bin" "$file"
    curl -sfI "$CKT_BASE_URL/$name" | grep -i '^etag' | tr -d '\r' > "$CKT_TMP/etag.new"
    ! cmp -s "$CKT_TMP/etag.old" "$CKT_TMP/etag.new" || ckt_fail "$name: nginx's ETag did not change"
    ckt_log "$name: replaced on the server ($(cat "$CKT_TMP/etag.old") -> $(cat "$CKT_TMP/etag.new"))"
    ! ckt_job_log_has "$id" retrying || ckt_fail "$name: the cut came before the replacement (test too slow?)"
    local state
    state=$(ckt_job_wait "$id" 25)
    ckt_job_log "$id" > "$CKT_TMP/job.log"
    cat "$CKT_TMP/job.log"
    [ "$state" = done ] || ckt_fail "$name: job $state"
    [ "$(curl -sf "$CKT_FAULT_URL/_fault/rules")" = "[]" ] || ckt_fail "$name: the cut never fired"
    local got
    got=$(ckt_xxh128 "$CKT_TMP/out/$name")
    [ "$got" != "$old" ] || ckt_fail "$name: got the OLD file"
    [ "$got" = "$new" ] || ckt_fail "$name: got neither version (mixed content)"
    [ "$(ckt_job_field "$id" "['files'][0]['xxh128']")" = "$new" ] || ckt_fail "$name: job records the wrong hash"
    grep -q "restarting '$name' from zero" "$CKT_TMP/job.log" || ckt_fail "$name: the job's log does not say it restarted"
    grep -q "changed\|ignored the range" "$CKT_TMP/job.log" || ckt_fail "$name: the job's log does not say why"
}

ckt_log "single stream"
run one.bin 8000000 5000000
ckt_log "in ranges"
ckpt config set segment_threshold=8388608 > /dev/null
run seg.bin 16777216 5000000

ckt_daemon_stop
echo "fault_file_changed: ok"
