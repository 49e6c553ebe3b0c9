#!/usr/bin/env bash
# End to end, the store's content hash of objects fetched from a prefix
# (s3): objects uploaded with x-amz-checksum-crc32c, -crc32, -crc64nvme,
# -sha1 and -sha256 (values computed here, independently of ckptd, by
# Python: zlib, hashlib and table-driven CRCs), one without, one large
# enough to go in ranges. s3rver 5 keeps no checksums; tests/s3/s3server.js
# adds what S3 does (stored on PUT, returned on HEAD/GET with
# x-amz-checksum-mode: ENABLED, named in ListObjectsV2), so the daemon's
# HEAD probes and verification run against real HTTP. Every hash is
# checked; then the store's record of one object is made wrong on disk: the
# file is fetched twice, fails naming the file, the algorithm, the value
# expected and the one computed, and nothing of it is published.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/s3.sh"
ckt_tmpdir
cd "$CKT_TMP"
ckt_s3_start sums

cat > sums.py <<'EOF'
import base64, hashlib, sys, zlib
def table(poly):
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t
def crc(data, poly, width):
    t, m = table(poly), (1 << width) - 1
    c = m
    for b in data:
        c = t[(c ^ b) & 0xff] ^ (c >> 8)
    return (c ^ m).to_bytes(width // 8, "big")
algo, path = sys.argv[1], sys.argv[2]
d = open(path, "rb").read()
f = {"crc32": lambda: zlib.crc32(d).to_bytes(4, "big"),
     "crc32c": lambda: crc(d, 0x82F63B78, 32),
     "crc64nvme": lambda: crc(d, 0x9A6C9329AC4BC9B5, 64),
     "sha1": lambda: hashlib.sha1(d).digest(),
     "sha256": lambda: hashlib.sha256(d).digest()}[algo]
print(base64.b64encode(f()).decode())
EOF
# The self-check: the CRC catalogue's check values.
printf 123456789 > check.txt
[ "$(python3 sums.py crc32c check.txt)" = 4waSgw== ] || ckt_fail "sums.py crc32c"
[ "$(python3 sums.py crc64nvme check.txt)" = rosUhgp5mIg= ] || ckt_fail "sums.py crc64nvme"

# put_sum BUCKET KEY FILE ALGO: uploads FILE with its checksum.
put_sum() {
    local v code
    v=$(python3 sums.py "$4" "$3")
    code=$(ckt_s3_curl -o /dev/null -w '%{http_code}' -H "x-amz-checksum-$4: $v" -T "$3" \
        "$(ckt_s3_url "$1" "$2")") || ckt_fail "s3 put $1/$2: curl failed"
    [ "$code" = 200 ] || ckt_fail "s3 put $1/$2: HTTP $code"
}

src=$CKT_TMP/src
mkdir -p "$src/m/sub"
ckt_gen_file "$src/m/a.bin" 100003
ckt_gen_file "$src/m/b.bin" 70001
ckt_gen_file "$src/m/sub/c.bin" 5
ckt_gen_file "$src/m/d.bin" 3333
ckt_gen_file "$src/m/e.bin" 9
ckt_gen_file "$src/m/plain.bin" 4444
ckt_gen_file "$src/m/big.bin" $((2 * 1024 * 1024 + 11))
put_sum sums m/a.bin "$src/m/a.bin" crc32c
put_sum sums m/b.bin "$src/m/b.bin" crc32
put_sum sums m/sub/c.bin "$src/m/sub/c.bin" crc64nvme
put_sum sums m/d.bin "$src/m/d.bin" sha1
put_sum sums m/e.bin "$src/m/e.bin" sha256
ckt_s3_put sums m/plain.bin "$src/m/plain.bin"
put_sum sums m/big.bin "$src/m/big.bin" crc64nvme

ckt_log "the stand-in answers as S3 does"
ckt_s3_curl -I -H 'x-amz-checksum-mode: ENABLED' "$(ckt_s3_url sums m/a.bin)" > head.txt
grep -qi "^x-amz-checksum-crc32c: $(python3 sums.py crc32c "$src/m/a.bin")" head.txt ||
    { cat head.txt; ckt_fail "HEAD with checksum mode: no x-amz-checksum-crc32c"; }
ckt_s3_curl -I "$(ckt_s3_url sums m/a.bin)" > head2.txt
grep -qi "^x-amz-checksum" head2.txt && ckt_fail "a checksum without x-amz-checksum-mode"
ckt_s3_curl "$CKT_S3_URL/sums?list-type=2&prefix=m%2F" > list.xml
grep -q "<Key>m/a.bin</Key>.*<ChecksumAlgorithm>CRC32C</ChecksumAlgorithm>" <(tr -d '\n' < list.xml | sed 's/<Contents>/\n/g') ||
    { cat list.xml; ckt_fail "the listing names no ChecksumAlgorithm"; }

ckt_s3_env
CKT_KEEP_AWS=1 ckt_daemon_start
ckpt config set segment_threshold=1048576 >/dev/null   # big.bin goes in ranges
export AWS_ENDPOINT_URL_S3=$CKT_S3_URL

ckt_log "every store hash is read and checked"
out=$CKT_TMP/out
ckpt fetch "s3://sums/m/" -o "$out" > f1.out 2>&1 || { cat f1.out; ckt_fail "fetch failed"; }
diff -r "$src/m" "$out" || ckt_fail "bytes differ from the objects"
grep -q "6 of 7 objects to fetch carry the store's content hash" f1.out ||
    { cat f1.out; ckt_fail "not every object's store hash was read"; }
grep -q "mismatch" "$CKT_TMP/ckptd.log" && ckt_fail "a mismatch where there is none"

ckt_log "a wrong store hash: refetched once, then the file fails, nothing published"
ckt_gen_file "$src/bad.bin" 50000
put_sum sums w/bad.bin "$src/bad.bin" crc32c
ckt_s3_put sums w/good.bin "$src/m/d.bin"
sumfile=$(find "$CKT_S3_DATA/sums/w" -name 'bad.bin._S3rver_checksum.json')
[ -f "$sumfile" ] || ckt_fail "the stand-in kept no checksum file"
want=$(python3 sums.py crc32c "$src/bad.bin")
printf '{"algo":"crc32c","value":"AAAAAA=="}' > "$sumfile"   # the store now lies
bad=$CKT_TMP/bad
rc=0; ckpt fetch "s3://sums/w/" -o "$bad" > f2.out 2>&1 || rc=$?
[ $rc -ne 0 ] || { cat f2.out; ckt_fail "a wrong store hash was accepted"; }
msg="crc32c mismatch for 'bad.bin' (the store's content hash): got $want, expected AAAAAA=="
grep -qF "$msg" "$CKT_TMP/ckptd.log" || { cat f2.out; grep bad.bin "$CKT_TMP/ckptd.log"; ckt_fail "no clear mismatch message"; }
[ "$(grep -cF "$msg" "$CKT_TMP/ckptd.log")" -ge 2 ] || ckt_fail "not refetched once before failing"
ckpt job 2 > job2.txt 2>&1 || true
grep -qF "crc32c mismatch for 'bad.bin'" job2.txt || { cat job2.txt; ckt_fail "the job does not name the mismatch"; }
[ ! -e "$bad/bad.bin" ] || ckt_fail "the file with the wrong hash was published"

ckt_log "the store hash fixed: the same prefix fetches"
printf '{"algo":"crc32c","value":"%s"}' "$want" > "$sumfile"
ckpt fetch "s3://sums/w/" -o "$bad" > f3.out 2>&1 || { cat f3.out; ckt_fail "fetch after the fix failed"; }
cmp "$src/bad.bin" "$bad/bad.bin" || ckt_fail "bad.bin bytes"
ckt_daemon_stop
echo "objects_checksum: ok"
