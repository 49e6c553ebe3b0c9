#!/usr/bin/env bash
# End to end: 15 kill -9 of the daemon at random moments over a multi-file
# segmented job (rate-limited nginx), so the kills land in every phase the
# job goes through: transferring ranges, flushing, verifying, publishing,
# and just after. After the last restart the job completes; every published
# file equals its source, and no staging directory (.ckptd-*.partial or a
# .*.partial name) is left in the output or beside it.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
# Four files fetched in ranges, eight small ones, some in subdirectories.
for i in 1 2 3 4; do ckt_gen_file "$www/set/big$i.bin" $((24 * 1048576)); done
for i in 1 2 3 4 5 6 7 8; do ckt_gen_file "$www/set/sub$((i % 3))/small$i.bin" $((i * 70000)); done
ckt_nginx_start "$www" 'location /set/ { limit_rate 2m; }'
(cd "$www/set" && find . -type f | sed 's|^\./||' | sort) | while read -r f; do
    printf '%s/set/%s\n  out=%s\n' "$CKT_BASE_URL" "$f" "$f"
done > "$CKT_TMP/list"

ckt_daemon_start
ckpt config set segment_threshold=8388608 journal_step=1048576 > /dev/null
id=$(ckpt fetch --detach -o "$CKT_TMP/out" -i "$CKT_TMP/list")
kills=0
deadline=$((SECONDS + 45))
while [ $kills -lt 15 ] && [ $SECONDS -lt $deadline ]; do
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.2, 1.6), 2))')"
    ckt_daemon_kill9
    kills=$((kills + 1))
    ckt_daemon_start
    state=$(ckpt --json job "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')
    ckt_log "kill $kills: the job is $state"
    [ "$state" != failed ] || ckt_fail "the job failed after kill $kills"
    if [ "$state" = done ]; then
        # Done early: a new job over the same output keeps the kills coming
        # through publishing into a directory that already holds files.
        rm -rf "$CKT_TMP/out2"
        id=$(ckpt fetch --detach -o "$CKT_TMP/out2" -i "$CKT_TMP/list")
    fi
done
[ $kills -ge 15 ] || ckt_fail "only $kills kills in the time allowed"
ckpt watch "$id" > /dev/null || ckt_fail "the job did not finish after $kills kills"
ckt_daemon_stop
for out in "$CKT_TMP/out" "$CKT_TMP/out2"; do
    [ -d "$out" ] || continue
    (cd "$www/set" && find . -type f -exec xxhsum -H2 {} + 2>/dev/null | sort -k2) > "$CKT_TMP/src.sum"
    (cd "$out" && find . -type f ! -name '.ckptd.xxh128' -exec xxhsum -H2 {} + 2>/dev/null | sort -k2) > "$CKT_TMP/out.sum"
    if [ "$out" = "$CKT_TMP/out" ] || [ -s "$CKT_TMP/out.sum" ]; then
        diff "$CKT_TMP/src.sum" "$CKT_TMP/out.sum" || ckt_fail "a published file in $out differs from its source"
    fi
    left=$(find "$out" -name '.ckptd-*.partial' -o -name '.*.partial' | head -5)
    [ -z "$left" ] || ckt_fail "staging left behind after $kills kills: $left"
done
# A set whose output did not exist is staged beside it, in $CKT_TMP.
left=$(find "$CKT_TMP" -maxdepth 1 -name '.ckptd-*.partial' | head -5)
[ -z "$left" ] || ckt_fail "staging left beside the outputs after $kills kills: $left"
echo "crash_consistency: $kills kills, every file equal, no staging left"
