#!/usr/bin/env bash
# The README's demo: a throwaway nginx serving generated demo data, a
# throwaway ckptd, one job end to end with live progress, then everything
# stopped and removed. Usage: tests/demo.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
export CKPTD=$build/engine/ckptd CKPT=$build/cli/ckpt
CKPT_SRC=$src
. "$src/tests/lib/common.sh"
. "$src/tests/lib/detmaster.sh"
ckt_tmpdir

echo "== demo data: three checkpoints of a toy model, served by nginx on 127.0.0.1"
www=$CKT_TMP/www
for step in 1000 2000 3000; do
    d=$www/ckpt-$step
    ckt_gen_file "$d/state_dict.pth" 120000000
    ckt_gen_file "$d/optimizer.pt" 40000000
    for i in $(seq 1 20); do ckt_gen_file "$d/code/module_$i.py" $((i * 700)); done
    printf '{"steps_completed": %d, "framework": "torch"}\n' "$step" > "$d/metadata.json"
    chmod 644 "$d/metadata.json"
done
ckt_nginx_start "$www"
list=$CKT_TMP/list.txt
(cd "$www" && find . -type f | sed 's|^\./||' | sort) | while read -r f; do
    printf '%s/%s\n  out=%s\n  xxh128=%s\n' "$CKT_BASE_URL" "$f" "$f" "$(ckt_xxh128 "$www/$f")"
done > "$list"

echo "== a stand-in Determined master on 127.0.0.1 (experiments, trials, checkpoints on shared_fs)"
ckt_detmaster_start

echo "== starting a throwaway ckptd (DET_MASTER=$CKT_DET_URL)"
DET_MASTER=$CKT_DET_URL ckt_daemon_start
ckpt status

echo "== ckpt experiment list-checkpoints 1 --best 3"
ckpt experiment list-checkpoints 1 --best 3

echo "== ckpt experiment download 1 --top-n 3 -o checkpoints"
ckpt experiment download 1 --top-n 3 -o "$CKT_TMP/checkpoints"
for d in "$CKT_TMP"/checkpoints/*/; do
    (cd "$d" && xxhsum -q -c .ckptd.xxh128) && echo "verified $(basename "$d") against its manifest"
done

echo "== ckpt fetch -i list.txt -o out   ($(grep -c '^http' "$list") files)"
ckpt fetch -i "$list" -o "$CKT_TMP/out"

echo "== verifying every file against its source with xxhsum -H2"
(cd "$www" && find . -type f -exec xxhsum -H2 {} + 2>/dev/null | sort -k2) > "$CKT_TMP/src.sum"
(cd "$CKT_TMP/out" && find . -type f -exec xxhsum -H2 {} + 2>/dev/null | sort -k2) > "$CKT_TMP/out.sum"
diff "$CKT_TMP/src.sum" "$CKT_TMP/out.sum" && echo "all $(wc -l < "$CKT_TMP/out.sum") files identical"
ckpt jobs
ckt_daemon_stop
echo "== demo done; nginx, the stand-in master, ckptd and the demo files are removed"
