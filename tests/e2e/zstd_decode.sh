#!/usr/bin/env bash
# End to end, zstd: with --decompress a multi-frame .zst download is decoded
# while streaming and stored without the suffix; a kill -9 mid-download
# resumes at a frame boundary and decodes to the exact original; a corrupt
# frame fails cleanly; a frame asking for an oversized window is refused.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
mkdir -p "$www/slow"
# 12 frames of 2 MiB each: compressible text, concatenated frames.
python3 - "$CKT_TMP/orig.bin" <<'PY'
import random, sys
r = random.Random(7)
words = [("w%d" % i).encode() for i in range(5000)]
with open(sys.argv[1], "wb") as f:
    n = 0
    while n < 24 * 1048576:
        line = b" ".join(r.choice(words) for _ in range(12)) + b"\n"
        f.write(line)
        n += len(line)
PY
split -b 2097152 -d -a 3 "$CKT_TMP/orig.bin" "$CKT_TMP/part."
for p in "$CKT_TMP"/part.*; do zstd -q -3 -c "$p"; done > "$www/slow/model.bin.zst"
chmod 644 "$www/slow/model.bin.zst"
orig=$(ckt_xxh128 "$CKT_TMP/orig.bin")
ckt_nginx_start "$www" 'location /slow/ { limit_rate 1m; }'
ckt_daemon_start
ckpt config set journal_step=1048576 >/dev/null

ckt_log "decoded while streaming, stored without .zst; kill -9 midway resumes at a frame end"
id=$(ckpt fetch --detach --decompress -o "$CKT_TMP/out" "$CKT_BASE_URL/slow/model.bin.zst")
sleep 2.5
ckt_daemon_kill9
journaled=$(sqlite3 "$CKT_STATE/ckptd.db" "select coalesce(max(decoded),0) from segments where job_id=$id")
resume_at=$(sqlite3 "$CKT_STATE/ckptd.db" "select coalesce(max(done),0) from segments where job_id=$id")
[ "$journaled" -gt 0 ] || ckt_fail "no frame end was journaled before the crash"
sleep 0.3
lines_before=$(wc -l < "$CKT_NGINX_PREFIX/logs/access.log")
ckt_daemon_start
ckpt watch "$id" > /dev/null || ckt_fail "job did not finish after the restart"
[ -f "$CKT_TMP/out/model.bin" ] || ckt_fail "decoded file missing (or stored with .zst)"
[ ! -e "$CKT_TMP/out/model.bin.zst" ] || ckt_fail "the compressed file was stored"
[ "$(ckt_xxh128 "$CKT_TMP/out/model.bin")" = "$orig" ] || ckt_fail "decoded bytes differ from the original"
grep -q "re-proved" <(ckpt --json job "$id") || ckt_fail "the job log does not mention the re-proven frames"
# After the restart the stream must continue at the journaled frame end,
# not from byte 0: what nginx served then is at most the rest of the file.
zsize=$(stat -c %s "$www/slow/model.bin.zst")
after=$(tail -n +$((lines_before + 1)) "$CKT_NGINX_PREFIX/logs/access.log" | awk '$9 ~ /^20/ {s += $10} END {print s + 0}')
echo "compressed $zsize bytes; resumed at $resume_at; served after the restart: $after"
[ "$after" -le $((zsize - resume_at)) ] || ckt_fail "the resume fetched $after bytes, more than the $((zsize - resume_at)) after the last frame end"

ckt_log "the job's xxh128 is the decoded file's"
grep -q "\"xxh128\": *\"$orig\"" <(ckpt --json job "$id") || ckt_fail "job hash is not the decoded one"

ckt_log "a corrupt frame fails cleanly, nothing published"
cp "$www/slow/model.bin.zst" "$www/bad.bin.zst"
python3 - "$www/bad.bin.zst" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(3000000)
    b = f.read(1)
    f.seek(3000000)
    f.write(bytes([b[0] ^ 0x55]))
PY
rc=0; ckpt fetch --decompress -o "$CKT_TMP/bad" "$CKT_BASE_URL/bad.bin.zst" > bad.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "cannot decode the zstd stream of '.*bad.bin" bad.out || { cat bad.out; ckt_fail "corrupt frame"; }
[ ! -e "$CKT_TMP/bad/bad.bin" ] || ckt_fail "a corrupt stream was published"

ckt_log "a frame asking for a 1 GiB window is refused"
head -c 1048576 "$CKT_TMP/orig.bin" | zstd -q --long=30 -c > "$www/huge.bin.zst"
chmod 644 "$www/huge.bin.zst"
rc=0; ckpt fetch --decompress -o "$CKT_TMP/huge" "$CKT_BASE_URL/huge.bin.zst" > huge.out 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -qi "cannot decode the zstd stream of '.*huge.bin[^']*'.*\(memory\|window\)" huge.out \
    || { cat huge.out; ckt_fail "oversized window"; }
ckt_daemon_stop
echo "zstd_decode: ok"
