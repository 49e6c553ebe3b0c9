#!/usr/bin/env bash
# bench/plane_bench.sh — the data plane (engine/plane.c) alone against a local
# nginx: 64 x 32 MiB and 1 x 2 GiB (in ranges), over a matrix of buffer sizes
# and worker counts, and curl -Z / rclone on the same files for comparison.
#
#   bench/plane_bench.sh [BUILD_DIR] [OUT_DIR]
#
# OUT_DIR (default: a directory under the work dir, on disk) receives the
# downloads; give a tmpfs to take the disk out of the measurement. Files are
# generated once under $BENCH_WORK (default /tmp/plane-bench, 4 GiB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CKPT_SRC=$(dirname "$here")
build=${1:-$CKPT_SRC/build}
. "$CKPT_SRC/tests/lib/common.sh"
work=${BENCH_WORK:-/tmp/plane-bench}
data=$work/data
out=${2:-$work/out}
mkdir -p "$data/many32" "$out"
chmod 755 "$work" "$data" "$data/many32"
for i in $(seq -w 0 63); do
    [ -s "$data/many32/f$i.bin" ] || ckt_gen_file "$data/many32/f$i.bin" $((32 << 20))
done
[ -s "$data/big2g.bin" ] || ckt_gen_file "$data/big2g.bin" $((2 << 30))
cat "$data"/many32/* "$data/big2g.bin" > /dev/null # into the page cache
ckt_tmpdir
ckt_nginx_start "$data" "autoindex on;"
bench=$build/tests/plane_bench
run() { rm -f "$out"/*; sync; "$bench" "$CKT_BASE_URL" "$out" "$@"; }

echo "== buffer size (2 workers, 64 at once)"
for b in 65536 131072 262144 524288 1048576; do
    run many -w 2 -b $b -c 64
    run big -w 2 -b $b -c 64 -r 32
done
echo "== workers (256 KiB)"
for w in 1 2 4; do
    run many -w $w -c 64
    run big -w $w -c 64 -r 32
done
echo "== range size and concurrency (2 workers, 256 KiB)"
for r in 16 64; do run big -w 2 -c 64 -r $r; done
run many -w 2 -c 16
run big -w 2 -c 16 -r 32

peer() { # name command...: wall, CPU and max RSS of a peer
    local name=$1
    shift
    rm -rf "${out:?}"/*
    sync
    /usr/bin/time -f "$name: %e s wall, cpu %U+%S s, max rss %M KiB" "$@" 2>&1 >/dev/null | tail -1
}
echo "== peers (same files, same out dir)"
if command -v curl >/dev/null; then
    list=$CKT_TMP/curl.list
    for i in $(seq -w 0 63); do echo "url = \"$CKT_BASE_URL/many32/f$i.bin\""; echo "output = \"f$i.bin\""; done > "$list"
    peer "curl -Z 64 x 32 MiB (parallel-max 64)" curl -Z --parallel-max 64 -s -S -f --output-dir "$out" -K "$list"
    peer "curl 2 GiB (one stream)" curl -s -S -f -o "$out/big.bin" "$CKT_BASE_URL/big2g.bin"
fi
if command -v rclone >/dev/null; then
    : > "$CKT_TMP/rclone.conf"
    peer "rclone 64 x 32 MiB (--transfers 64)" rclone copy --config "$CKT_TMP/rclone.conf" \
        --http-url "$CKT_BASE_URL/many32/" :http: "$out" --transfers 64
    peer "rclone 2 GiB (--multi-thread-streams 64)" rclone copy --config "$CKT_TMP/rclone.conf" \
        --http-url "$CKT_BASE_URL/" :http: "$out" --include big2g.bin --multi-thread-streams 64
fi
rm -rf "${out:?}"/*
