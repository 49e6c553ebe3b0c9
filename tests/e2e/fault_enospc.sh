#!/usr/bin/env bash
# Fault: the output filesystem fills up (a 20 MB tmpfs, a 40 MB file). The
# job fails with the system's message ("No space left on device") and the
# path it could not write; a job into another directory, submitted at the
# same time, completes; nothing is published into the full filesystem. Once
# the space is there, `ckpt resume` finishes the failed job with correct bytes.
# Needs root (mount); skips when mounting is not permitted.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
mnt=$CKT_TMP/small
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=20m tmpfs "$mnt" 2>"$CKT_TMP/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here ($(cat "$CKT_TMP/mount.err")); fault_enospc not run"
    exit 0
fi
# Stop the daemon before unmounting (its open files keep the mount busy).
fault_enospc_cleanup() {
    local rc=$?
    [ -z "${CKT_DAEMON_PID:-}" ] || { kill -9 "$CKT_DAEMON_PID" 2>/dev/null || true; wait "$CKT_DAEMON_PID" 2>/dev/null || true; }
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    (exit $rc)
    ckt_cleanup
}
trap fault_enospc_cleanup EXIT

www=$CKT_TMP/www
ckt_gen_file "$www/big.bin" 40000000
ckt_gen_file "$www/big2.bin" 40000000
ckt_gen_file "$www/other.bin" 30000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start
# The other job is paced so that it surely runs while the first one fails.
ckt_fault "rate=20000000&path=/other.bin"

# check_enospc ID FILE: the job failed for lack of space, naming FILE's path.
check_enospc() {
    local id=$1 file=$2 state err
    state=$(ckt_job_wait "$id" 20)
    err=$(ckt_job_field "$id" "['error']")
    echo "job $id: $state: $err"
    [ "$state" = failed ] || ckt_fail "job $id into a full filesystem ended $state"
    case $err in *"No space left on device"*) ;; *) ckt_fail "job $id: error lacks strerror(ENOSPC)" ;; esac
    case $err in *"$mnt/"*"$file"*) ;; *) ckt_fail "job $id: error does not name the path under $mnt" ;; esac
    [ ! -e "$mnt/$file" ] || ckt_fail "job $id: '$file' was published into the full filesystem"
}

ckt_log "single stream into a 20 MB tmpfs, another job elsewhere at the same time"
a=$(ckpt fetch --detach -o "$mnt" "$CKT_PROXY_URL/big.bin")
b=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_PROXY_URL/other.bin")
check_enospc "$a" big.bin
[ "$(ckt_job_field "$b" "['state']")" = running ] || ckt_fail "the other job was not running when the first failed"
[ "$(ckt_job_wait "$b" 20)" = done ] || ckt_fail "the other job did not complete"
[ "$(ckt_xxh128 "$CKT_TMP/out/other.bin")" = "$(ckt_xxh128 "$www/other.bin")" ] || ckt_fail "the other job's bytes differ"

ckt_log "after making room, resume finishes the job with correct bytes"
mount -o remount,size=100m "$mnt" || ckt_fail "cannot grow the tmpfs"
ckpt resume "$a" > /dev/null
[ "$(ckt_job_wait "$a" 20)" = done ] || ckt_fail "resumed job did not complete"
[ "$(ckt_xxh128 "$mnt/big.bin")" = "$(ckt_xxh128 "$www/big.bin")" ] || ckt_fail "resumed job's bytes differ"
rm -f "$mnt/big.bin"
mount -o remount,size=20m "$mnt" || ckt_fail "cannot shrink the tmpfs"

ckt_log "known size: the free-space check makes the job wait instead of filling the disk"
ckpt config set segment_threshold=8388608 > /dev/null
printf '%s\n  out=big2.bin\n  size=40000000\n' "$CKT_PROXY_URL/big2.bin" > "$CKT_TMP/list"
c=$(ckpt fetch --detach -o "$mnt" -i "$CKT_TMP/list")
for i in $(seq 1 50); do
    [ "$(ckt_job_field "$c" "['state']")" = waiting ] && break
    sleep 0.1
done
[ "$(ckt_job_field "$c" "['state']")" = waiting ] || ckt_fail "job $c did not wait for space"
grep -q "not enough free space in '$mnt'" <(ckt_job_field "$c" "['error']") || ckt_fail "unclear wait reason"
[ ! -e "$mnt/big2.bin" ] || ckt_fail "published while short of space"
ckpt cancel "$c" > /dev/null

ckt_daemon_stop
echo "fault_enospc: ok"
