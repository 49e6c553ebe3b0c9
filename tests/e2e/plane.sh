#!/usr/bin/env bash
# The data plane (engine/plane.c) against a real nginx and the fault proxy:
# tests/unit/test_plane.c does the work; this serves its fixtures.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
: "${TEST_PLANE:?the test_plane binary}"
ckt_tmpdir
www=$CKT_TMP/www
mkdir -p "$www/slow" "$www/many" "$CKT_TMP/out"
ckt_gen_file "$www/big.bin" $((8 << 20))
ckt_gen_file "$www/slow/slow.bin" $((8 << 20))
for i in $(seq -w 0 63); do ckt_gen_file "$www/many/f$i.bin" $((1 << 20)); done
: > "$www/empty.bin"
# 8 MiB of compressible text in frames of 1 MiB (decoded), concatenated.
python3 - "$www/model.bin" <<'PY'
import random, sys
r = random.Random(7)
words = [("w%d" % i).encode() for i in range(5000)]
with open(sys.argv[1], "wb") as f:
    buf = bytearray()
    while len(buf) < 8 * 1048576:
        buf += b" ".join(r.choice(words) for _ in range(12)) + b"\n"
    f.write(buf[:8 * 1048576])
PY
split -b 1048576 -d -a 3 "$www/model.bin" "$CKT_TMP/part."
for p in "$CKT_TMP"/part.*; do zstd -q -3 -c "$p"; done > "$www/model.bin.zst"
rm -f "$CKT_TMP"/part.*
cp "$www/model.bin.zst" "$www/slow/model.bin.zst"
# A corrupt stream: bytes flipped inside the second frame.
cp "$www/model.bin.zst" "$www/bad.zst"
python3 - "$www/bad.zst" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(400000)
    b = bytearray(f.read(64))
    f.seek(400000)
    f.write(bytes(x ^ 0x5A for x in b))
PY
# A bomb: 1 GiB of zeros.
head -c $((1 << 30)) /dev/zero | zstd -q -1 -c > "$www/bomb.zst"
chmod -R a+rX "$www"
ckt_nginx_start "$www" 'location /slow/ { limit_rate 1m; }
        location = /date503 { add_header Retry-After "Fri, 01 Jan 2100 00:00:00 GMT" always; return 503; }
        location = /redir { return 302 /big.bin; }'
ckt_proxy_start
# A 1 MiB tmpfs for ENOSPC, when this machine lets us mount one.
tmpfs=$CKT_TMP/tmpfs
mkdir -p "$tmpfs"
if mount -t tmpfs -o size=1m tmpfs "$tmpfs" 2>/dev/null; then
    trap 'umount "$tmpfs" 2>/dev/null || true; ckt_cleanup' EXIT
else
    ckt_log "no tmpfs here: ENOSPC is covered by RLIMIT_FSIZE (EFBIG) only"
    tmpfs=
fi
XXH_BIG=$(ckt_xxh128 "$www/big.bin") "$TEST_PLANE" "$CKT_BASE_URL" "$CKT_PROXY_URL" "$CKT_FAULT_URL" \
    "$www" "$CKT_TMP/out" "$tmpfs"
