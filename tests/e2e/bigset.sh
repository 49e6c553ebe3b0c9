#!/usr/bin/env bash
# End to end: a 200-file, 1 GiB URL set (a few files large enough to be
# fetched in ranges) through `ckpt fetch`, every file equal to its source by
# xxhsum -H2.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
mkdir -p "$www/set"
# 192 × 2 MiB and 8 × 80 MiB: 1,056,964,608 bytes.
head -c $((192 * 2 * 1048576 + 8 * 80 * 1048576)) /dev/urandom > "$CKT_TMP/blob"
python3 - "$CKT_TMP/blob" "$www/set" <<'PY'
import os, sys
blob, out = sys.argv[1], sys.argv[2]
with open(blob, "rb") as f:
    for i in range(200):
        size = 2 * 1048576 if i < 192 else 80 * 1048576
        d = os.path.join(out, "d%02d" % (i % 10))
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "f%03d.bin" % i)
        with open(p, "wb") as g:
            g.write(f.read(size))
        os.chmod(p, 0o644)
PY
rm -f "$CKT_TMP/blob"
chmod -R a+rX "$www"
ckt_nginx_start "$www"
ckt_daemon_start
(cd "$www/set" && find . -type f | sed 's|^\./||' | sort) | while read -r f; do
    printf '%s/set/%s\n  out=%s\n' "$CKT_BASE_URL" "$f" "$f"
done > "$CKT_TMP/list"
[ "$(grep -c '^http' "$CKT_TMP/list")" -eq 200 ] || ckt_fail "expected 200 files"
ckpt fetch -o "$CKT_TMP/out" -i "$CKT_TMP/list" | tail -1
(cd "$www/set" && find . -type f -exec xxhsum -H2 {} + 2>/dev/null | sort -k2) > "$CKT_TMP/src.sum"
(cd "$CKT_TMP/out" && find . -type f -exec xxhsum -H2 {} + 2>/dev/null | sort -k2) > "$CKT_TMP/out.sum"
diff "$CKT_TMP/src.sum" "$CKT_TMP/out.sum" || ckt_fail "downloaded files differ from their sources"
[ "$(wc -l < "$CKT_TMP/out.sum")" -eq 200 ] || ckt_fail "not 200 files"
ckt_daemon_stop
echo "bigset: 200 files, $(du -sb "$CKT_TMP/out" | cut -f1) bytes, all equal"
