#!/usr/bin/env bash
# End to end, what survives a reboot (simulated: the boot id is read from a
# file the test rewrites, CKPTD_BOOT_ID_FILE):
# - durability "background" publishes once the files are verified and syncs
#   right after; bad values are refused;
# - after a reboot only the ranges a sync proved are trusted: bytes that
#   were journaled but not synced are fetched again, synced ones are kept;
# - a copy published but not yet synced when the machine went down is
#   checked again after the reboot, and a damaged file is fetched again.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
export CKPTD_BOOT_ID_FILE=$CKT_TMP/boot_id
boot() { echo "$1" > "$CKPTD_BOOT_ID_FILE"; }
boot 11111111-aaaa
ckt_gen_file "$www/fast/a.bin" 700000
ckt_gen_file "$www/fast/b.bin" 1300000
size=40000000
ckt_gen_file "$www/slow/big.bin" $size
ckt_nginx_start "$www" 'location /slow/ { limit_rate 1m; }'
src=$(ckt_xxh128 "$www/slow/big.bin")
log=$CKT_NGINX_PREFIX/logs/access.log
bytes_served() { awk -v p="$1" '$7 ~ p && $9 ~ /^20/ {s += $10} END {print s + 0}' "$log"; }
db() { sqlite3 "$CKT_STATE/ckptd.db" "$1"; }

ckt_daemon_start
ckt_log "durability: named values, bad ones refused"
ckpt config set durability=background > /dev/null
ckpt config | grep -q 'durability.*background' || ckt_fail "config does not show durability=background"
ckpt config set durability=publish > /dev/null
rc=0; ckpt config set durability=sometimes > c.err 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q '"publish" or "background"' c.err || { cat c.err; ckt_fail "a bad durability was not refused clearly"; }
rc=0; ckpt fetch --durability never -o "$CKT_TMP/x" "$CKT_BASE_URL/fast/a.bin" > f.err 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "--durability never was accepted"

ckt_log "background: published once verified, synced right after"
ckpt fetch --durability background -o "$CKT_TMP/bg" "$CKT_BASE_URL/fast/a.bin" "$CKT_BASE_URL/fast/b.bin" \
    > /dev/null || ckt_fail "background fetch failed"
cmp -s "$www/fast/a.bin" "$CKT_TMP/bg/a.bin" && cmp -s "$www/fast/b.bin" "$CKT_TMP/bg/b.bin" \
    || ckt_fail "background copy differs"
for i in $(seq 1 50); do
    ckpt job 1 | grep -q "is on disk (synced" && break
    sleep 0.1
done
ckpt job 1 | grep -q "is on disk (synced" || ckt_fail "the job's log does not say the copy was synced"
[ "$(db "select durable from units where job_id=1")" = 1 ] || ckt_fail "unit not recorded as durable"

ckt_log "reboot mid-download: synced ranges are kept, journaled-only bytes fetched again"
ckpt config set journal_step=1048576 segment_threshold=8388608 max_segments=4 sync_interval_ms=300 > /dev/null
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/slow/big.bin")
sleep 2.5
# No more syncs from here: what is journaled next is in the page cache only.
ckpt config set sync_interval_ms=3600000 > /dev/null
sleep 2.5
ckt_daemon_kill9
sleep 0.3
journaled=$(db "select coalesce(sum(done),0) from segments where job_id=$id")
synced=$(db "select coalesce(sum(ddone),0) from segments where job_id=$id")
echo "journaled $journaled, synced $synced of $size"
[ "$synced" -gt 0 ] || ckt_fail "no range was recorded as synced"
[ "$journaled" -gt "$synced" ] || ckt_fail "nothing journaled beyond the last sync: the test proves nothing"
[ "$journaled" -lt $size ] || ckt_fail "the crash came too late to test anything"
before=$(bytes_served big.bin)
boot 22222222-bbbb
ckt_daemon_start
ckpt watch "$id" > /dev/null || ckt_fail "the job did not finish after the reboot"
[ "$(ckt_xxh128 "$CKT_TMP/out/big.bin")" = "$src" ] || ckt_fail "big.bin differs after the reboot"
grep -q "machine restarted since the journal was written" "$CKT_TMP/ckptd.log" \
    || ckt_fail "the daemon did not notice the reboot"
refetched=$(($(bytes_served big.bin) - before))
echo "fetched again after the reboot: $refetched (not synced: $((size - synced)))"
[ "$refetched" -ge $((size - synced)) ] || ckt_fail "bytes that were never synced were trusted after a reboot"
[ "$refetched" -le $((size - synced)) ] || ckt_fail "synced bytes were fetched again after the reboot"

ckt_log "background: kill -9 at random moments of a segmented download (same boot)"
ckt_gen_file "$www/slow/bg.bin" $size
src_bg=$(ckt_xxh128 "$www/slow/bg.bin")
ckpt config set sync_interval_ms=2000 > /dev/null
id=$(ckpt fetch --detach --durability background -o "$CKT_TMP/bgk" "$CKT_BASE_URL/slow/bg.bin")
for k in 1 2 3; do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.8, 2.0), 2))')"
    ckt_daemon_kill9
    ckt_daemon_start
done
ckpt watch "$id" > /dev/null || ckt_fail "the background job did not finish after three kills"
[ "$(ckt_xxh128 "$CKT_TMP/bgk/bg.bin")" = "$src_bg" ] || ckt_fail "bg.bin differs after the kills"
sent=$(bytes_served bg.bin)
nsegs=$(db "select count(*) from segments where job_id=$id")
# Per kill and range at most a journal step, a write buffer and what was in flight.
bound=$((size + 3 * 4 * (1048576 + 262144 + 1048576)))
echo "bg.bin: $sent bytes sent for $size ($nsegs ranges, bound $bound)"
[ "$sent" -le "$bound" ] || ckt_fail "the kills cost more than the journal allows: $sent bytes sent"

ckt_log "published, not yet synced, then a reboot: checked again, the damaged file fetched again"
ckt_daemon_stop
CKPTD_TEST_SETTLE_DELAY_MS=60000 ckt_daemon_start
id=$(ckpt fetch --detach --durability background -o "$CKT_TMP/nd" "$CKT_BASE_URL/fast/a.bin" \
    "$CKT_BASE_URL/fast/b.bin")
ckpt watch "$id" > /dev/null || ckt_fail "background fetch failed"
[ "$(db "select durable from units where job_id=$id")" = 0 ] || ckt_fail "the unit claims to be synced already"
ckt_daemon_kill9
printf 'X' | dd of="$CKT_TMP/nd/b.bin" bs=1 seek=5000 conv=notrunc status=none
gets_a=$(grep -c 'GET /fast/a.bin' "$log")
boot 33333333-cccc
ckt_daemon_start
ckpt watch "$id" > /dev/null || ckt_fail "the checked job did not end done"
ckpt job "$id" | grep -q "published but not yet synced when the machine restarted" \
    || ckt_fail "the job's log does not say why it was checked again"
cmp -s "$www/fast/b.bin" "$CKT_TMP/nd/b.bin" || ckt_fail "the damaged b.bin was not fetched again"
cmp -s "$www/fast/a.bin" "$CKT_TMP/nd/a.bin" || ckt_fail "a.bin differs"
[ "$(grep -c 'GET /fast/a.bin' "$log")" = "$gets_a" ] || ckt_fail "the intact a.bin was fetched again"

ckt_log "published, not yet synced, restart in the same boot: synced now"
ckt_daemon_stop
CKPTD_TEST_SETTLE_DELAY_MS=60000 ckt_daemon_start
id=$(ckpt fetch --detach --durability background -o "$CKT_TMP/sb" "$CKT_BASE_URL/fast/a.bin")
ckpt watch "$id" > /dev/null || ckt_fail "background fetch failed"
ckt_daemon_kill9
ckt_daemon_start
for i in $(seq 1 50); do
    [ "$(db "select durable from units where job_id=$id")" = 1 ] && break
    sleep 0.1
done
[ "$(db "select durable from units where job_id=$id")" = 1 ] || ckt_fail "the copy was not synced after a restart"
ckt_daemon_stop
echo "durability: ok"
