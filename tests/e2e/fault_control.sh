#!/usr/bin/env bash
# Pause, resume and cancel act on running transfers within a second: after
# `ckpt pause` the bytes the server sends stop growing within 1 s; after
# `ckpt resume` they grow again within 1 s and the job completes with correct
# bytes, continuing from what it had written (not from zero); after
# `ckpt cancel` they stop within 1 s and the staging data is removed.
# With one stream (split into ranges while it runs) and with ranges.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
size=16000000
ckt_gen_file "$www/one.bin" $size
ckt_gen_file "$www/seg.bin" $size
ckt_gen_file "$www/gone.bin" $size
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start
ckpt config set segment_threshold=8388608 max_segments=3 > /dev/null
# Every response is paced: each connection gets at most 2 MB/s, so a file
# takes well over 2 s.
ckt_fault "rate=2000000&count=-1"
active() { ckpt --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["active_transfers"])'; }
sent() { ckt_fault_stat "['per_path']['/$1']['bytes']"; }

# stops NAME WHAT: the bytes sent for NAME stop growing within 1 s.
stops() {
    sleep 1
    local b1 b2
    b1=$(sent "$1")
    sleep 0.5
    b2=$(sent "$1")
    echo "$1: $b1 bytes sent 1 s after $2, $b2 half a second later"
    [ "$b1" = "$b2" ] || ckt_fail "$1: still receiving more than 1 s after $2 ($b1 -> $b2)"
}

# pause_resume NAME FETCH-ARGS...: pause and resume a running download.
pause_resume() {
    local name=$1 id st b0 b1 done0
    shift
    ckt_log "$name: pause, resume"
    id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$@")
    sleep 1.2
    ckpt pause "$id" > /dev/null || ckt_fail "$name: cannot pause the running job"
    [ "$(ckt_job_field "$id" "['state']")" = paused ] || ckt_fail "$name: not paused"
    [ "$(sent "$name")" -gt 0 ] || ckt_fail "$name: nothing received before the pause"
    stops "$name" pause
    [ "$(active)" = 0 ] || ckt_fail "$name: transfers still active while paused"
    b0=$(sent "$name")
    done0=$(ckt_job_field "$id" "['bytes_done']")
    [ "$done0" -gt 0 ] || ckt_fail "$name: nothing written before the pause"
    [ "$done0" -lt "$size" ] || ckt_fail "$name: everything was written before the pause"
    ckpt resume "$id" > /dev/null
    sleep 1
    b1=$(sent "$name")
    echo "$name: $b0 -> $b1 bytes sent in the second after resume"
    [ "$b1" -gt "$b0" ] || ckt_fail "$name: nothing received within 1 s of resume"
    st=$(ckt_job_wait "$id" 25)
    [ "$st" = done ] || ckt_fail "$name: job $st after resume"
    [ "$(ckt_xxh128 "$CKT_TMP/out/$name")" = "$(ckt_xxh128 "$www/$name")" ] || ckt_fail "$name: content differs"
    # Resumed from what was written: the server sends the file once, plus
    # what had arrived but was not yet written when the pause dropped it.
    b1=$(sent "$name")
    echo "$name: $b1 bytes sent in all for $size; $b0 before resume, $done0 of them written"
    [ "$b1" -le $((size + b0 - done0 + 1048576)) ] || ckt_fail "$name: $b1 bytes sent: the resume fetched written bytes again"
}

pause_resume one.bin "$CKT_PROXY_URL/one.bin"   # unknown size: one stream, split while it runs
printf '%s\n  out=seg.bin\n  size=%s\n' "$CKT_PROXY_URL/seg.bin" $size > "$CKT_TMP/list"
pause_resume seg.bin -i "$CKT_TMP/list"          # known size: ranges from the start

ckt_log "gone.bin: cancel"
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_PROXY_URL/gone.bin")
sleep 1.2
ckpt cancel "$id" > /dev/null || ckt_fail "gone.bin: cannot cancel the running job"
[ "$(sent gone.bin)" -gt 0 ] || ckt_fail "gone.bin: nothing received before the cancel"
[ "$(ckt_job_field "$id" "['state']")" = canceled ] || ckt_fail "gone.bin: not canceled"
stops gone.bin cancel
[ "$(active)" = 0 ] || ckt_fail "transfers still active after cancel"
[ -z "$(ckt_staging "$CKT_TMP/out" "ckptd-$id")" ] || ckt_fail "gone.bin: staging data left after cancel"
[ ! -e "$CKT_TMP/out/gone.bin" ] || ckt_fail "gone.bin: published after cancel"

ckt_daemon_stop
echo "fault_control: ok"
