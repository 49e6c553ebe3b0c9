#!/usr/bin/env bash
# The s3prefix scenario: a prefix of COUNT x SIZE objects (default 64 x 32 MiB)
# in s3rver (tests/s3, SigV4-checking), fetched by
#   ckptd   `ckpt fetch s3://b/data/ -o DIR` (daemon already running, keys in its environment)
#   rclone  `rclone copy` with an S3 remote built from environment variables
#   aws     `aws s3 cp --recursive` (the packaged AWS CLI, classic transfer client)
#   aws-crt the same with `s3.preferred_transfer_client = crt`, when that CLI has it
# RUNS rounds (default 3), tools in turn within a round, output removed and
# the page cache written back between runs; medians, ratios to the best peer,
# client CPU per GB (ckptd: the daemon's and the client's), s3rver's CPU.
#
#   bench/s3prefix.sh [--build DIR] [--runs N] [--count N] [--size BYTES] [--out FILE]
#
# Prints a markdown table (also to --out, default bench/results/<date>-s3prefix.md).
# bench/run.sh calls it for --scenario s3prefix.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build RUNS=3 COUNT=64 SIZE=$((32 * 1024 * 1024)) OUT=
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift ;;
    --runs) RUNS=$2; shift ;;
    --count) COUNT=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "usage: $0 [--build DIR] [--runs N] [--count N] [--size BYTES] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
export CKPTD=$BUILD/engine/ckptd CKPT=$BUILD/cli/ckpt CKPT_SRC=$REPO
[ -x "$CKPTD" ] && [ -x "$CKPT" ] || { echo "build first: no $CKPTD" >&2; exit 1; }
. "$REPO/tests/lib/common.sh"
. "$REPO/tests/lib/s3.sh"
ckt_tmpdir
say() { echo "s3prefix: $*" >&2; }
CLK_TCK=$(getconf CLK_TCK)
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# The peers. The packaged AWS CLI is /usr/bin/aws (Debian's awscli); another
# aws on PATH is used when that is missing.
AWS=/usr/bin/aws; [ -x "$AWS" ] || AWS=$(command -v aws || true)
TOOLS=(ckptd)
command -v rclone >/dev/null && TOOLS+=(rclone) || say "rclone missing: not measured"
NOTES=()
if [ -n "$AWS" ]; then
    TOOLS+=(aws)
    mkdir -p "$CKT_TMP/awscrt"
    printf '[default]\ns3 =\n    preferred_transfer_client = crt\n' >"$CKT_TMP/awscrt/config"
else
    say "aws missing: not measured"
fi

ckt_s3_start b
say "uploading $COUNT x $SIZE bytes"
mkdir -p "$CKT_TMP/src"
for i in $(seq -w 1 "$COUNT"); do head -c "$SIZE" /dev/urandom >"$CKT_TMP/src/shard-$i.bin"; done
for i in $(seq -w 1 "$COUNT"); do
    printf 'upload-file = "%s"\nurl = "%s/b/data/shard-%s.bin"\n' "$CKT_TMP/src/shard-$i.bin" "$CKT_S3_URL" "$i"
done >"$CKT_TMP/put.curl"
curl -Z --parallel-max 8 -s -S -f --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -K "$CKT_TMP/put.curl" >/dev/null 2>&1 ||
    ckt_fail "upload failed"
rm -rf "$CKT_TMP/src"
BYTES=$((COUNT * SIZE))

ckt_s3_env
export AWS_ENDPOINT_URL_S3=$CKT_S3_URL
CKT_KEEP_AWS=1 ckt_daemon_start
DPID=$CKT_DAEMON_PID

# aws-crt only where this CLI knows the CRT transfer client (aws-cli v2).
if [ -n "$AWS" ]; then
    mkdir -p "$CKT_TMP/probe"
    if AWS_CONFIG_FILE=$CKT_TMP/awscrt/config "$AWS" --endpoint-url "$CKT_S3_URL" s3 cp \
        "s3://b/data/shard-$(seq -w 1 "$COUNT" | head -1).bin" "$CKT_TMP/probe/x" --only-show-errors \
        >"$CKT_TMP/crt-probe.log" 2>&1 && "$AWS" --version 2>&1 | grep -q '^aws-cli/2'; then
        TOOLS+=(aws-crt)
    else
        NOTES+=("aws-crt not measured: with \`s3.preferred_transfer_client = crt\`, $("$AWS" --version 2>&1 | cut -d' ' -f1) failed against s3rver: $(tail -1 "$CKT_TMP/crt-probe.log" | cut -c1-200)")
    fi
    rm -rf "$CKT_TMP/probe"
fi

# run_tool TOOL DIR: one fetch into DIR; prints "wall cpu s3cpu".
run_tool() {
    local tool=$1 dir=$2 t0 t1 c0 c1 s0 s1 u=0 s=0
    s0=$(proc_cpu_ticks "$CKT_S3_PID")
    c0=$(proc_cpu_ticks "$DPID")
    t0=$(date +%s.%N)
    case $tool in
    ckptd) /usr/bin/time -f '%U %S' -o "$CKT_TMP/t" "$CKPT" --socket "$CKT_SOCK" fetch "s3://b/data/" -o "$dir" ;;
    rclone)
        # No AWS_CA_BUNDLE: rclone's SDK refuses one on its own transport (plain http here).
        env -u AWS_CA_BUNDLE RCLONE_CONFIG_S3P_TYPE=s3 RCLONE_CONFIG_S3P_PROVIDER=Other RCLONE_CONFIG_S3P_ACCESS_KEY_ID=S3RVER \
        RCLONE_CONFIG_S3P_SECRET_ACCESS_KEY=S3RVER RCLONE_CONFIG_S3P_REGION=us-east-1 \
        RCLONE_CONFIG_S3P_ENDPOINT=$CKT_S3_URL RCLONE_CONFIG_S3P_FORCE_PATH_STYLE=true \
            /usr/bin/time -f '%U %S' -o "$CKT_TMP/t" rclone copy s3p:b/data/ "$dir" \
            --transfers 16 --multi-thread-streams 16 --config /dev/null ;;
    aws) AWS_CONFIG_FILE=/dev/null /usr/bin/time -f '%U %S' -o "$CKT_TMP/t" "$AWS" --endpoint-url "$CKT_S3_URL" \
            s3 cp --recursive s3://b/data/ "$dir" --only-show-errors ;;
    aws-crt) AWS_CONFIG_FILE=$CKT_TMP/awscrt/config /usr/bin/time -f '%U %S' -o "$CKT_TMP/t" "$AWS" \
            --endpoint-url "$CKT_S3_URL" s3 cp --recursive s3://b/data/ "$dir" --only-show-errors ;;
    esac >"$CKT_TMP/$tool.log" 2>&1 || { cat "$CKT_TMP/$tool.log" >&2; ckt_fail "$tool failed"; }
    t1=$(date +%s.%N)
    c1=$(proc_cpu_ticks "$DPID")
    s1=$(proc_cpu_ticks "$CKT_S3_PID")
    read -r u s <"$CKT_TMP/t" || true
    local n b
    n=$(find "$dir" -type f ! -name '.*' | wc -l)
    b=$(find "$dir" -type f ! -name '.*' -printf '%s\n' | awk '{ t += $1 } END { printf "%.0f\n", t }')
    [ "$n" -eq "$COUNT" ] && [ "$b" -eq "$BYTES" ] || ckt_fail "$tool: $n files, $b bytes; want $COUNT, $BYTES"
    local daemon=0; [ "$tool" = ckptd ] && daemon=$((c1 - c0))
    awk -v a="$t0" -v b="$t1" -v u="$u" -v s="$s" -v d="$daemon" -v hz="$CLK_TCK" -v s0="$s0" -v s1="$s1" \
        'BEGIN { printf "%.3f %.2f %.2f\n", b - a, u + s + d / hz, (s1 - s0) / hz }'
}

declare -A WALL CPU SCPU
for r in $(seq 1 "$RUNS"); do
    for tool in "${TOOLS[@]}"; do
        dir=$CKT_TMP/out-$tool
        rm -rf "$dir"
        sync
        read -r w c sc < <(run_tool "$tool" "$dir")
        WALL[$tool]+="$w "
        CPU[$tool]+="$c "
        SCPU[$tool]+="$sc "
        say "run $r $tool: ${w}s, client CPU ${c}s, s3rver CPU ${sc}s"
        rm -rf "$dir"
    done
done
ckt_daemon_stop

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best_peer=
for tool in "${TOOLS[@]}"; do
    [ "$tool" = ckptd ] && continue
    m=$(median <<<"${WALL[$tool]}")
    if [ -z "$best_peer" ] || awk -v a="$m" -v b="$(median <<<"${WALL[$best_peer]}")" 'BEGIN { exit !(a < b) }'; then best_peer=$tool; fi
done
[ -n "$OUT" ] || OUT=$REPO/bench/results/$(date +%Y-%m-%d-%H%M%S)-s3prefix.md
{
    echo "## s3prefix: $COUNT × $((SIZE / 1048576)) MiB in s3rver ($RUNS runs, medians)"
    echo
    echo "| tool | MB/s | wall s | client CPU s / GB | s3rver CPU s | speed vs best peer (${best_peer:-none}) |"
    echo "|---|---|---|---|---|---|"
    for tool in "${TOOLS[@]}"; do
        w=$(median <<<"${WALL[$tool]}")
        c=$(median <<<"${CPU[$tool]}")
        sc=$(median <<<"${SCPU[$tool]}")
        ratio="—"
        [ -n "$best_peer" ] && ratio=$(awk -v a="$(median <<<"${WALL[$best_peer]}")" -v b="$w" 'BEGIN { printf "%.2f×", a / b }')
        awk -v t="$tool" -v w="$w" -v c="$c" -v sc="$sc" -v by="$BYTES" -v r="$ratio" \
            'BEGIN { printf "| %s | %.0f | %.2f | %.2f | %.2f | %s |\n", t, by / w / 1e6, w, c / (by / 1e9), sc, r }'
    done
    echo
    echo "Wall seconds of each run:"
    for tool in "${TOOLS[@]}"; do echo "- $tool: ${WALL[$tool]}(s3rver CPU s: ${SCPU[$tool]})"; done
    echo
    echo "Commands: \`ckpt fetch s3://b/data/ -o DIR\` (daemon running, keys in its environment, endpoint from AWS_ENDPOINT_URL_S3);" \
        "\`rclone copy s3p:b/data/ DIR --transfers 16 --multi-thread-streams 16\` (remote from RCLONE_CONFIG_S3P_* variables, provider Other, path style);" \
        "\`aws --endpoint-url URL s3 cp --recursive s3://b/data/ DIR\` (no config; aws-crt: \`s3.preferred_transfer_client = crt\`)."
    echo "Client CPU: user + system of the command; for ckptd also the daemon's. Machine: $(nproc) cores, shared."
    echo "Versions: $("$CKPTD" --version 2>&1 | head -1); $(rclone version 2>/dev/null | head -1); $([ -n "$AWS" ] && "$AWS" --version 2>&1 | head -1)."
    for n in "${NOTES[@]}"; do echo "- $n"; done
} | tee "$OUT"
