#!/usr/bin/env bash
# Small files: how fast can a durable download be on this machine? For
# 2,000 x 16 KiB from nginx on loopback, in ROUNDS interleaved rounds:
#   curl -Z (16 parallel), curl then `sync -f`, ckptd publish (the default
#   durability: every byte synced before the files appear), ckptd background
#   (published from the verified bytes, synced afterwards), and background
#   followed by `sync -f` (the download plus all the writeback a durable
#   publish pays for).
# Each is timed (wall) and the whole machine's busy CPU over it is read from
# /proc/stat (every core; nginx, the kernel's writeback and the loop device
# included). Medians are printed, then the bound: a durable download cannot
# end before
#     busy CPU of (background + sync) / cores,
# however well the sync overlaps the download.
#
#   bench/small_floor.sh [ROUNDS]      (default 11; BENCH_WORK as bench/run.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CKPT_SRC=$here
: "${CKPTD:=$here/build/engine/ckptd}"
: "${CKPT:=$here/build/cli/ckpt}"
export CKPTD CKPT
. "$here/tests/lib/common.sh"
rounds=${1:-11}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "small_floor: ROUNDS must be a positive integer" >&2; exit 2; }
work=${BENCH_WORK:-$here/bench/work}
# bench/run.sh's small scenario, with its stamp: made here only when missing.
data=$work/data/full/small
stamp=$work/data/full/.small.ok
if [ "$(cat "$stamp" 2>/dev/null)" != "2000 16384" ]; then
    rm -rf "$data" "$stamp"
    mkdir -p "$data"
    python3 - "$data" <<'PY'
import os, sys
for i in range(2000):
    p = os.path.join(sys.argv[1], f"file-{i:04d}.bin")
    with open(p, "wb") as f:
        f.write(os.urandom(16384))
    os.chmod(p, 0o644)  # nginx workers run as nobody
PY
    echo "2000 16384" > "$stamp"
fi
chmod 755 "$work" "$work/data" "$work/data/full" "$data"
export TMPDIR=$work   # downloads land on the disk under test
ckt_tmpdir
ckt_nginx_start "$data"
CKT_LOG_LEVEL=warn ckt_daemon_start
(cd "$data" && ls file-*.bin) | sed "s|^|$CKT_BASE_URL/|" > "$CKT_TMP/list"
ckpt fetch -o "$CKT_TMP/warm" -i "$CKT_TMP/list" > /dev/null
cores=$(nproc)
hz=$(getconf CLK_TCK)

busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }  # user nice system irq softirq
ms() { echo $(($(date +%s%N) / 1000000)); }
# timed LABEL CMD...: one timed run, appended to $CKT_TMP/res as "LABEL wall_ms busy_ms".
timed() {
    local label=$1 b0 t0 t1 b1
    shift
    b0=$(busy); t0=$(ms)
    "$@" > /dev/null 2>&1 || ckt_fail "$label failed"
    t1=$(ms); b1=$(busy)
    echo "$label $((t1 - t0)) $(((b1 - b0) * 1000 / hz))" >> "$CKT_TMP/res"
}
urls=$(tr '\n' ' ' < "$CKT_TMP/list")
: > "$CKT_TMP/res"
for r in $(seq 1 "$rounds"); do
    sync; sleep 0.2
    mkdir -p "$CKT_TMP/c$r" "$CKT_TMP/s$r"
    # shellcheck disable=SC2086  # the URLs are words on purpose
    (cd "$CKT_TMP/c$r" && timed curl curl -Z --parallel-max 16 -s -S -f --remote-name-all $urls)
    sync; sleep 0.2
    # shellcheck disable=SC2086
    (cd "$CKT_TMP/s$r" && timed curl+sync sh -c 'curl -Z --parallel-max 16 -s -S -f --remote-name-all "$@" && sync -f .' sh $urls)
    sync; sleep 0.2
    timed publish ckpt fetch -o "$CKT_TMP/p$r" -i "$CKT_TMP/list"
    sync; sleep 0.2
    timed background ckpt fetch --durability background -o "$CKT_TMP/b$r" -i "$CKT_TMP/list"
    sync; sleep 0.2
    timed background+sync sh -c '"$1" --socket "$2" fetch --durability background -o "$3" -i "$4" &&
        sync -f "$3"' sh "$CKPT" "$CKT_SOCK" "$CKT_TMP/d$r" "$CKT_TMP/list"
    rm -rf "$CKT_TMP/c$r" "$CKT_TMP/s$r" "$CKT_TMP/p$r" "$CKT_TMP/b$r" "$CKT_TMP/d$r"
done
ckt_daemon_stop

python3 - "$CKT_TMP/res" "$cores" "$rounds" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
cores, rounds = int(sys.argv[2]), int(sys.argv[3])
def med(label, col):
    return statistics.median(int(r[col]) for r in rows if r[0] == label)
labels = ["curl", "curl+sync", "publish", "background", "background+sync"]
print(f"2,000 x 16 KiB, {cores} cores, medians of {rounds} interleaved rounds")
print(f"{'':24} {'wall ms':>8} {'busy CPU ms':>12} {'cores busy':>11}")
for l in labels:
    w, b = med(l, 1), med(l, 2)
    print(f"{l:24} {w:8.0f} {b:12.0f} {b / w if w else 0:11.2f}")
curl, bg, pub = med("curl", 1), med("background", 1), med("publish", 1)
floor = med("background+sync", 2) / cores
print(f"ckptd vs curl: background {curl / bg:.2f}x, publish {curl / pub:.2f}x")
print(f"background keeps {med('background', 2) / (bg * cores):.0%} of the machine busy; "
      f"with its sync it takes {med('background+sync', 2):.0f} ms of CPU: a durable download "
      f"cannot end before {floor:.0f} ms on {cores} cores (at most {curl / floor:.2f}x curl)")
print(f"small_floor: curl_ms={curl:.0f} background_ms={bg:.0f} publish_ms={pub:.0f} "
      f"background_ratio={curl / bg:.2f} publish_ratio={curl / pub:.2f} "
      f"publish_bound_ms={floor:.0f} publish_bound_ratio={curl / floor:.2f}")
PY
