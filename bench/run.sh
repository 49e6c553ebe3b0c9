#!/usr/bin/env bash
# bench/run.sh — ckptd against curl, aria2c and rclone, same machine, same nginx.
#
#   bench/run.sh [--quick] [--runs N] [--scenario NAME[,NAME]] [--tools T[,T]]
#                [--timed-sync] [--work DIR]
#
# Scenarios: large (1 x 2 GiB), medium (64 x 32 MiB), small (2,000 x 16 KiB);
# --quick shrinks each file 8x (1 x 256 MiB, 64 x 4 MiB, 2,000 x 2 KiB).
# Tools: ckptd curl aria2c rclone (a missing one is skipped with a note).
# Environment: CKPTD, CKPT (default build/engine/ckptd, build/cli/ckpt under the
# repository), BENCH_WORK (default bench/work: generated data, downloads, logs).
# Output: a Markdown table on stdout, also written to
# bench/results/<date>-<set>.md and bench/results/latest.md. See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CKPTD=${CKPTD:-$REPO/build/engine/ckptd}
CKPT=${CKPT:-$REPO/build/cli/ckpt}
. "$REPO/tests/lib/common.sh"

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "bench: $*" >&2; exit 2; }
say() { echo "bench: $*" >&2; }

# ------------------------------------------------------------------ options
RUNS=3 QUICK=0 TIMED_SYNC=0
SCENARIOS=(large medium small)
TOOLS=(ckptd curl aria2c rclone)
WORK=${BENCH_WORK:-$REPO/bench/work}
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --runs) RUNS=${2:?--runs needs N}; shift ;;
        --scenario) [ "${2:?--scenario needs a name}" = all ] || IFS=, read -ra SCENARIOS <<<"$2"; shift ;;
        --tools) IFS=, read -ra TOOLS <<<"${2:?--tools needs a list}"; shift ;;
        --timed-sync) TIMED_SYNC=1 ;;
        --work) WORK=${2:?--work needs a directory}; shift ;;
        -h|--help) usage ;;
        *) echo "bench: unknown argument $1" >&2; usage 2 ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive integer"
for sc in "${SCENARIOS[@]}"; do
    case $sc in large|medium|small) ;; *) die "unknown scenario '$sc' (large, medium, small, all)" ;; esac
done
for t in "${TOOLS[@]}"; do
    case $t in ckptd|curl|aria2c|rclone) ;; *) die "unknown tool '$t' (ckptd, curl, aria2c, rclone)" ;; esac
done

# Geometry: "count size" per scenario.
declare -A GEOM
if [ $QUICK = 1 ]; then
    SET=quick; GEOM=([large]="1 268435456" [medium]="64 4194304" [small]="2000 2048")
else
    SET=full;  GEOM=([large]="1 2147483648" [medium]="64 33554432" [small]="2000 16384")
fi
LABEL=$SET-$(IFS=+; echo "${SCENARIOS[*]}")
[ ${#SCENARIOS[@]} = 3 ] && LABEL=$SET-all

human() {  # human BYTES -> "2 GiB", "16 KiB"
    awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u, " "); i = 1;
        while (b >= 1024 && b % 1024 == 0 && i < 4) { b /= 1024; i++ } printf "%d %s", b, u[i] }'
}
describe() { local c s; read -r c s <<<"${GEOM[$1]}"; printf "%s × %s" "$c" "$(human "$s")"; }

# --------------------------------------------------------- tools available
NOTES=()
note() { NOTES+=("$*"); say "$*"; }
CLK_TCK=$(getconf CLK_TCK)
declare -A HAVE
for t in "${TOOLS[@]}"; do
    case $t in
        ckptd)
            if [ -x "$CKPTD" ] && [ -x "$CKPT" ]; then HAVE[ckptd]=1
            else note "ckptd skipped: '$CKPTD' or '$CKPT' is not an executable (build first, or set CKPTD/CKPT)"; fi ;;
        *)
            if command -v "$t" >/dev/null; then HAVE[$t]=1
            else note "$t skipped: not installed (apt-get install ${t/aria2c/aria2})"; fi ;;
    esac
done
for need in nginx xxhsum python3; do
    command -v "$need" >/dev/null || die "$need is required"
done
if [ -x /usr/bin/time ]; then
    TIMER=(/usr/bin/time -f '%U %S %M' -o)
else  # same output as GNU time: "user sys maxrss_kb" on the last line of the file
    TIMER=(python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime} {r.ru_stime} {r.ru_maxrss}\n")
sys.exit(rc)')
    note "/usr/bin/time not found: CPU and RSS of peers measured with a python wrapper"
fi

# ------------------------------------------------------------ data and lists
ckt_tmpdir
trap 'exit 130' INT
trap 'exit 143' TERM
DATA=$WORK/data
mkdir -p "$DATA/$SET" "$WORK/out" "$WORK/lists" "$WORK/logs" "$REPO/bench/results"
chmod 755 "$WORK" "$DATA" "$DATA/$SET"

# gen_scenario NAME: random files under $DATA/$SET/NAME, reused when the stamp says so.
gen_scenario() {
    local sc=$1 dir=$DATA/$SET/$1 stamp=$DATA/$SET/.$1.ok
    if [ "$(cat "$stamp" 2>/dev/null)" = "${GEOM[$sc]}" ]; then return 0; fi
    say "generating $sc ($(describe "$sc")) in $dir"
    rm -rf "$dir" "$stamp"
    python3 - "$dir" ${GEOM[$sc]} <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
os.chmod(d, 0o755)
for i in range(n):
    p = os.path.join(d, f"file-{i:04d}.bin")
    with open(p, "wb") as f:
        left = size
        while left:
            k = min(left, 8 << 20)
            f.write(os.urandom(k))
            left -= k
    os.chmod(p, 0o644)  # nginx workers run as nobody
PY
    echo "${GEOM[$sc]}" >"$stamp"
}

# make_lists NAME: the aria2-style list (ckptd, aria2c) and a curl config file.
make_lists() {
    local sc=$1 count i name
    read -r count _ <<<"${GEOM[$sc]}"
    : >"$WORK/lists/$SET-$sc.aria2"
    : >"$WORK/lists/$SET-$sc.curl"
    for ((i = 0; i < count; i++)); do
        name=$(printf 'file-%04d.bin' "$i")
        printf '%s\n  out=%s\n' "$BASE/$SET/$sc/$name" "$name" >>"$WORK/lists/$SET-$sc.aria2"
        printf 'url = "%s"\noutput = "%s"\n' "$BASE/$SET/$sc/$name" "$name" >>"$WORK/lists/$SET-$sc.curl"
    done
}

for sc in "${SCENARIOS[@]}"; do gen_scenario "$sc"; done
ckt_nginx_start "$DATA" "autoindex on;"  # autoindex: rclone's http backend lists directories
BASE=$CKT_BASE_URL
first=$BASE/$SET/${SCENARIOS[0]}/file-0000.bin
curl -sfI -o /dev/null "$first" \
    || die "nginx cannot serve $first (workers run as nobody: is $WORK world-readable? try BENCH_WORK=/tmp/ckpt-bench)"
printf '' >"$WORK/rclone.conf"  # an empty config keeps rclone from reading ~/.config

# ------------------------------------------------------------ ckptd daemon
DPID='' DSOCK=''
daemon_start() {  # daemon_start NAME: fresh state per scenario, so VmHWM is per scenario
    DSOCK=$CKT_TMP/ckptd-$1.sock
    rm -rf "$CKT_TMP/state-$1"
    "$CKPTD" --socket "$DSOCK" --state-dir "$CKT_TMP/state-$1" --log-level warn \
        >>"$WORK/logs/$LABEL-ckptd-daemon.log" 2>&1 &
    DPID=$!
    CKT_PIDS+=("$DPID")
    local i
    for i in $(seq 1 100); do
        "$CKPT" --socket "$DSOCK" status >/dev/null 2>&1 && return 0
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.05
    done
    daemon_stop
    return 1
}
daemon_stop() {
    [ -n "$DPID" ] || return 0
    kill -TERM "$DPID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DPID" 2>/dev/null || true
    wait "$DPID" 2>/dev/null || true
    DPID=''
}
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime
proc_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------- one run
# tool_cmd TOOL SCENARIO OUTDIR: the command line, in array CMD.
tool_cmd() {
    local tool=$1 sc=$2 out=$3 count
    read -r count _ <<<"${GEOM[$sc]}"
    case $tool in
        ckptd) CMD=("$CKPT" --socket "$DSOCK" fetch -o "$out" -i "$WORK/lists/$SET-$sc.aria2") ;;
        curl) CMD=(curl -Z --parallel-max 16 -s -S -f --create-dirs --output-dir "$out"
                   -K "$WORK/lists/$SET-$sc.curl") ;;
        aria2c)
            if [ "$count" = 1 ]; then
                CMD=(aria2c -x16 -s16 -d "$out" -o file-0000.bin
                     --console-log-level=warn --summary-interval=0 "$BASE/$SET/$sc/file-0000.bin")
            else
                CMD=(aria2c -j16 -d "$out" -i "$WORK/lists/$SET-$sc.aria2"
                     --console-log-level=warn --summary-interval=0)
            fi ;;
        rclone) CMD=(rclone copy --config "$WORK/rclone.conf" --http-url "$BASE/$SET/$sc/" :http: "$out"
                     --transfers 16 --multi-thread-streams 16 -q) ;;
    esac
}

# verify SCENARIO OUTDIR DEEP: file count and total bytes; DEEP=1 also hashes samples.
verify() {
    local sc=$1 out=$2 deep=$3 count size got name path
    read -r count size <<<"${GEOM[$sc]}"
    got=$(find "$out" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %.0f", n, b }')
    [ "$got" = "$count $((count * size))" ] \
        || { VERIFY_MSG="expected $count files / $((count * size)) bytes, found ${got/ / files \/ } bytes"; return 1; }
    [ "$deep" = 1 ] || return 0
    for name in $SAMPLES; do
        path=$(find "$out" -type f -name "$name" -print -quit)
        [ -n "$path" ] || { VERIFY_MSG="$name missing"; return 1; }
        [ "$(xxhsum -H2 "$path" 2>/dev/null | awk '{print $1}')" = "${HASH[$name]}" ] \
            || { VERIFY_MSG="$name: xxh128 differs from the source"; return 1; }
    done
}

declare -A WALLS CPUS RSSS FAILED
run_once() {  # run_once TOOL SCENARIO RUN
    local tool=$1 sc=$2 run=$3 out=$WORK/out/$1 log=$WORK/logs/$SET-$2-$1-$3.log
    local tf=$CKT_TMP/time.out t0 t1 rc=0 c0=0 c1=0 user sys rss cpu wall
    rm -rf "$out"; mkdir -p "$out"; sync   # fresh target, old dirty pages gone (not timed)
    tool_cmd "$tool" "$sc" "$out"
    [ "$tool" = ckptd ] && c0=$(proc_cpu_ticks "$DPID")
    t0=$(date +%s.%N)
    "${TIMER[@]}" "$tf" "${CMD[@]}" >"$log" 2>&1 || rc=$?
    [ $TIMED_SYNC = 1 ] && sync
    t1=$(date +%s.%N)
    read -r user sys rss < <(tail -n 1 "$tf" 2>/dev/null || echo "0 0 0") || true
    if [ "$tool" = ckptd ]; then   # client CPU + daemon CPU; the daemon's peak RSS
        if ! kill -0 "$DPID" 2>/dev/null; then   # report how the daemon ended
            local st=0; wait "$DPID" || st=$?
            echo "ckptd: the daemon exited with status $st$( ((st > 128)) && echo " (signal $((st - 128)))")" >>"$log"
            DPID='' rc=99
        fi
        c1=$(proc_cpu_ticks "$DPID" 2>/dev/null || echo "$c0")
        rss=$(proc_hwm_kb "$DPID" 2>/dev/null || echo 0)
    fi
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v u="$user" -v s="$sys" -v d=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", u + s + d / hz }')
    if [ $rc != 0 ]; then
        note "$tool failed on $sc run $run (exit $rc); log $log: $(tail -n 3 "$log" | tr '\n' ' ')"
        return 1
    fi
    VERIFY_MSG=''
    if ! verify "$sc" "$out" "$([ "$run" = 1 ] && echo 1 || echo 0)"; then
        note "$tool gave wrong output on $sc run $run: $VERIFY_MSG"
        return 1
    fi
    say "$sc run $run/$RUNS $tool: ${wall}s wall, ${cpu}s CPU, $((rss / 1024)) MiB peak"
    WALLS[$sc/$tool]+="$wall "
    CPUS[$sc/$tool]+="$cpu "
    RSSS[$sc/$tool]+="$((rss / 1024)) "
}

# ---------------------------------------------------------------- main loop
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -n 1; }

declare -A HASH
for sc in "${SCENARIOS[@]}"; do
    read -r count size <<<"${GEOM[$sc]}"
    make_lists "$sc"
    SAMPLES="file-0000.bin $(printf 'file-%04d.bin' $((count - 1)))"
    for name in $SAMPLES; do HASH[$name]=$(xxhsum -H2 "$DATA/$SET/$sc/$name" 2>/dev/null | awk '{print $1}'); done
    cat "$DATA/$SET/$sc"/* >/dev/null   # the server reads from page cache in every run
    ACTIVE=()
    for t in "${TOOLS[@]}"; do [ -n "${HAVE[$t]:-}" ] && ACTIVE+=("$t"); done
    if [ -n "${HAVE[ckptd]:-}" ] && ! daemon_start "$sc"; then
        note "ckptd skipped on $sc: the daemon did not come up (log $WORK/logs/$LABEL-ckptd-daemon.log)"
        ACTIVE=("${ACTIVE[@]/ckptd}")
    fi
    for ((run = 1; run <= RUNS; run++)); do      # tools interleaved within each run
        for t in "${ACTIVE[@]}"; do
            [ -n "$t" ] && [ -z "${FAILED[$sc/$t]:-}" ] || continue
            run_once "$t" "$sc" "$run" || FAILED[$sc/$t]=1
        done
    done
    daemon_stop
    rm -rf "$WORK/out"/*; sync
done

# ------------------------------------------------------------------ report
REPORT=$CKT_TMP/report.md
{
    echo "# ckptd vs peers — $SET set, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)," \
         "$(df -T "$WORK" | awk 'NR == 2 { print $2 }') under $WORK; nginx $(nginx -v 2>&1 | sed 's|.*/||') on loopback."
    echo "Median of $RUNS runs; MB = 10^6 bytes; wall time of the client command$([ $TIMED_SYNC = 1 ] && echo ' plus sync')."
    echo "CPU s = user + system of the tool (for ckptd: client + daemon). Ratio = ckptd throughput / this tool's."
    echo "Peak RSS: the daemon's VmHWM for ckptd (one daemon per scenario), max RSS of the process for the peers."
    echo
    echo "| scenario | tool | MB/s (small: files/s) | CPU s | CPU s/GB | ckptd ratio vs this tool | peak RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for sc in "${SCENARIOS[@]}"; do
        read -r count size <<<"${GEOM[$sc]}"
        bytes=$((count * size))
        ck=''
        [ -n "${WALLS[$sc/ckptd]:-}" ] && [ -z "${FAILED[$sc/ckptd]:-}" ] && ck=$(median "${WALLS[$sc/ckptd]}")
        for t in "${TOOLS[@]}"; do
            if [ -n "${FAILED[$sc/$t]:-}" ]; then
                echo "| $sc ($(describe "$sc")) | $t | failed (see notes) | — | — | — | — |"
                continue
            elif [ -z "${WALLS[$sc/$t]:-}" ]; then
                echo "| $sc ($(describe "$sc")) | $t | skipped | — | — | — | — |"
                continue
            fi
            w=$(median "${WALLS[$sc/$t]}") c=$(median "${CPUS[$sc/$t]}") r=$(maxof "${RSSS[$sc/$t]}")
            awk -v sc="$sc ($(describe "$sc"))" -v t="$t" -v w="$w" -v c="$c" -v r="$r" -v b="$bytes" \
                -v n="$count" -v small="$([ "$sc" = small ] && echo 1 || echo 0)" -v ck="$ck" 'BEGIN {
                tp = small ? sprintf("%.0f files/s", n / w) : sprintf("%.0f", b / 1e6 / w)
                ratio = ck == "" ? "n/a" : sprintf("%.2f×", w / ck)
                printf "| %s | %s | %s | %.2f | %.2f | %s | %d |\n", sc, t, tp, c, c / (b / 1e9), ratio, r }'
        done
    done
    echo
    echo "Wall seconds of each run:"
    for sc in "${SCENARIOS[@]}"; do
        for t in "${TOOLS[@]}"; do
            [ -z "${WALLS[$sc/$t]:-}" ] || echo "- $sc / $t: ${WALLS[$sc/$t]% }"
        done
    done
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "Notes:"
        for n in "${NOTES[@]}"; do echo "- $n"; done
    fi
    echo
    echo "Commands: \`ckpt fetch -o DIR -i LIST\` (daemon already running), \`curl -Z --parallel-max 16 --output-dir DIR -K LIST\`," \
         "\`aria2c -x16 -s16\` (one file) / \`aria2c -j16 -i LIST\` (sets) with \`--console-log-level=warn --summary-interval=0\`," \
         "\`rclone copy --http-url URL :http: DIR --transfers 16 --multi-thread-streams 16\`."
    echo "Versions: $(curl --version | head -n 1 | cut -d' ' -f1-2); $(aria2c --version 2>/dev/null | head -n 1 || echo 'aria2c -');" \
         "$(rclone version 2>/dev/null | head -n 1 || echo 'rclone -'); $(timeout 5 "$CKPTD" --version 2>/dev/null | head -n 1 || echo 'ckptd -')."
} >"$REPORT"
STAMP=$(date +%Y-%m-%d-%H%M%S)
cp "$REPORT" "$REPO/bench/results/$STAMP-$LABEL.md"
cp "$REPORT" "$REPO/bench/results/latest.md"
cat "$REPORT"
say "written to bench/results/$STAMP-$LABEL.md and bench/results/latest.md"
