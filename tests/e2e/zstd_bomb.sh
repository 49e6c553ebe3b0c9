#!/usr/bin/env bash
# End to end, zstd: a small "bomb" (200 MB of zeros in a few KB of zstd)
# fetched with --decompress from an -i list that gives size=1000 fails
# quickly, naming the decoded size; nothing is published, the staging holds
# at most the limit's worth of bytes and goes with `ckpt cancel`. The same
# list with the true decoded size passes.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
mkdir -p "$www/z"
head -c 200000000 /dev/zero | zstd -q -19 -c > "$www/z/bomb.bin.zst"
chmod 644 "$www/z/bomb.bin.zst"
zsize=$(stat -c %s "$www/z/bomb.bin.zst")
ckt_nginx_start "$www"
ckt_daemon_start
printf '%s/z/bomb.bin.zst\n  out=bomb.bin.zst\n  size=1000\n' "$CKT_BASE_URL" > "$CKT_TMP/list"

ckt_log "size=1000 for a $zsize-byte bomb that decodes to 200000000 bytes: fails quickly"
t0=$SECONDS rc=0
timeout 30 "$CKPT" --socket "$CKT_SOCK" fetch --decompress -o "$CKT_TMP/out" -i "$CKT_TMP/list" \
    > "$CKT_TMP/bomb.out" 2>&1 || rc=$?
took=$((SECONDS - t0))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$CKT_TMP/bomb.out"; ckt_fail "the bomb did not fail (exit $rc)"; }
[ $took -le 10 ] || ckt_fail "the bomb took ${took}s to fail"
id=$(ckpt --json jobs | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][-1]["id"])')
ckpt job "$id" > "$CKT_TMP/job.out"
ckpt --json job "$id" | python3 -c 'import json,sys; s=json.load(sys.stdin)["job"]["state"]; assert s=="failed", s' \
    || { cat "$CKT_TMP/job.out"; ckt_fail "the job is not failed"; }
grep -qiE "decod[a-z]* .*(size|bytes)|(size|bytes).*decod" "$CKT_TMP/bomb.out" "$CKT_TMP/job.out" \
    || { cat "$CKT_TMP/bomb.out" "$CKT_TMP/job.out"; ckt_fail "no message about the decoded size"; }
[ ! -e "$CKT_TMP/out" ] || { find "$CKT_TMP/out"; ckt_fail "something was published in $CKT_TMP/out"; }
# A failed job keeps its staging (it can be resumed) until it is canceled;
# the decoder stopped at the limit: nothing near 200 MB was written.
st=$(ckt_staging "$CKT_TMP/out" "ckptd-$id")
[ -n "$st" ] || ckt_fail "the failed job has no staging directory"
staged=$(find "$st" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
[ "$staged" -le 1048576 ] || ckt_fail "$staged bytes written to staging for a 1000-byte file"
ckpt cancel "$id" > /dev/null || ckt_fail "cancel of the failed job"
for _ in $(seq 1 50); do
    [ -z "$(ckt_staging "$CKT_TMP/out" "ckptd-$id")" ] && break
    sleep 0.1
done
left=$(find "$CKT_TMP" -path "$CKT_TMP/state" -prune -o -name '.*.partial' -print | head -5)
[ -z "$left" ] || ckt_fail "staging left behind after cancel: $left"
ckt_log "  failed in ${took}s: $(grep -iE 'decod' "$CKT_TMP/bomb.out" "$CKT_TMP/job.out" | head -1)"

ckt_log "the true decoded size passes"
sed -i 's/size=1000$/size=200000000/' "$CKT_TMP/list"
ckpt fetch --decompress -o "$CKT_TMP/ok" -i "$CKT_TMP/list" > /dev/null || ckt_fail "a correct size failed"
[ "$(stat -c %s "$CKT_TMP/ok/bomb.bin")" = 200000000 ] || ckt_fail "decoded size"
[ -z "$(tr -d '\0' < "$CKT_TMP/ok/bomb.bin" | head -c 1)" ] || ckt_fail "decoded bytes are not zeros"
[ ! -e "$CKT_TMP/ok/bomb.bin.zst" ] || ckt_fail "the compressed file was stored"
left=$(find "$CKT_TMP/ok" -name '.*.partial' | head -5)
[ -z "$left" ] || ckt_fail "staging left behind: $left"
ckt_daemon_stop
echo "zstd_bomb: ok (bomb $zsize bytes failed in ${took}s)"
