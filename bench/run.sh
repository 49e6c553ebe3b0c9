#!/usr/bin/env bash
# bench/run.sh — ckptd against curl, aria2c and rclone, same machine, same servers.
#
#   bench/run.sh [--quick] [--runs N] [--scenario NAME[,NAME]] [--tools T[,T]]
#                [--timed-sync] [--work DIR]
#
# Scenarios: large (1 x 2 GiB), medium (64 x 32 MiB), small (2,000 x 16 KiB)
# from nginx; s3 (64 x 32 MiB objects in s3rver, a SigV4-checking S3 server);
# archive (16 x 32 MiB as the Determined stand-in's tar archive route, ckptd
# --mode master against curl | tar -x);
# --quick shrinks each file 8x (1 x 256 MiB, 64 x 4 MiB, 2,000 x 2 KiB, 64 x 4 MiB,
# 16 x 4 MiB).
# Tools: ckptd (durability publish, the default) ckptd-bg (durability background)
# curl aria2c rclone rclone+sync (rclone, then sync) (a missing one is skipped
# with a note; ckptd-bg runs in the URL scenarios only).
# Environment: CKPTD, CKPT (default build/engine/ckptd, build/cli/ckpt under the
# repository), BENCH_WORK (default bench/work: generated data, downloads, logs).
# Output: a Markdown table on stdout, also written to
# bench/results/<date>-<set>.md and bench/results/latest.md. See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CKPTD=${CKPTD:-$REPO/build/engine/ckptd}
CKPT=${CKPT:-$REPO/build/cli/ckpt}
. "$REPO/tests/lib/common.sh"

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "bench: $*" >&2; exit 2; }
say() { echo "bench: $*" >&2; }

# ------------------------------------------------------------------ options
RUNS=3 QUICK=0 TIMED_SYNC=0
SCENARIOS=(large medium small s3 archive)
TOOLS=(ckptd ckptd-bg curl aria2c rclone rclone+sync)
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
    case $sc in large|medium|small|s3|archive) ;; *) die "unknown scenario '$sc' (large, medium, small, s3, archive, all)" ;; esac
done
for t in "${TOOLS[@]}"; do
    case $t in
        ckptd|ckptd-bg|curl|aria2c|rclone|rclone+sync) ;;
        *) die "unknown tool '$t' (ckptd, ckptd-bg, curl, aria2c, rclone, rclone+sync)" ;;
    esac
done

# Geometry: "count size" per scenario.
declare -A GEOM
if [ $QUICK = 1 ]; then
    SET=quick; GEOM=([large]="1 268435456" [medium]="64 4194304" [small]="2000 2048" [s3]="64 4194304"
                     [archive]="16 4194304")
else
    SET=full;  GEOM=([large]="1 2147483648" [medium]="64 33554432" [small]="2000 16384" [s3]="64 33554432"
                     [archive]="16 33554432")
fi
LABEL=$SET-$(IFS=+; echo "${SCENARIOS[*]}")
[ ${#SCENARIOS[@]} = 5 ] && LABEL=$SET-all
# What a run must produce, "files bytes" per scenario: count x size, except for
# s3 whose checkpoint also holds the stand-in's few extra objects (s3_setup).
declare -A EXPECT
for sc in "${SCENARIOS[@]}"; do read -r c s <<<"${GEOM[$sc]}"; EXPECT[$sc]="$c $((c * s))"; done

human() {  # human BYTES -> "2 GiB", "16 KiB"
    awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u, " "); i = 1;
        while (b >= 1024 && b % 1024 == 0 && i < 4) { b /= 1024; i++ } printf "%d %s", b, u[i] }'
}
describe() {
    local c s; read -r c s <<<"${GEOM[$1]}"; printf "%s × %s" "$c" "$(human "$s")"
    [ "$1" != s3 ] || printf " in s3rver"
}

# --------------------------------------------------------- tools available
NOTES=()
note() { NOTES+=("$*"); say "$*"; }
CLK_TCK=$(getconf CLK_TCK)
declare -A HAVE
for t in "${TOOLS[@]}"; do
    case $t in
        ckptd|ckptd-bg)
            if [ -x "$CKPTD" ] && [ -x "$CKPT" ]; then HAVE[$t]=1
            else note "$t skipped: '$CKPTD' or '$CKPT' is not an executable (build first, or set CKPTD/CKPT)"; fi ;;
        rclone+sync)
            if command -v rclone >/dev/null; then HAVE[$t]=1; fi ;;
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
HTTP_SCENARIOS=()
for sc in "${SCENARIOS[@]}"; do [ "$sc" = s3 ] || [ "$sc" = archive ] || HTTP_SCENARIOS+=("$sc"); done
# s3 needs node and s3rver's modules (tests/s3, installed as the tests do);
# without them the scenario is skipped with a note.
S3_SKIP=''
if [ ${#HTTP_SCENARIOS[@]} != ${#SCENARIOS[@]} ]; then
    CKPT_SRC=$REPO
    . "$REPO/tests/lib/s3.sh"
    . "$REPO/tests/lib/detmaster.sh"
fi
if [[ " ${SCENARIOS[*]} " == *" s3 "* ]]; then
    if ! command -v node >/dev/null; then S3_SKIP="node is not installed (tests/install-deps.sh)"
    elif ! (ckt_s3_install) 2>/dev/null; then S3_SKIP="cannot load @20minutes/s3rver (npm install --prefix tests/s3)"
    fi
fi
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

for sc in "${HTTP_SCENARIOS[@]}"; do gen_scenario "$sc"; done
if [ ${#HTTP_SCENARIOS[@]} -gt 0 ]; then
    ckt_nginx_start "$DATA" "autoindex on;"  # autoindex: rclone's http backend lists directories
    BASE=$CKT_BASE_URL
    first=$BASE/$SET/${HTTP_SCENARIOS[0]}/file-0000.bin
    curl -sfI -o /dev/null "$first" \
        || die "nginx cannot serve $first (workers run as nobody: is $WORK world-readable? try BENCH_WORK=/tmp/ckpt-bench)"
fi
printf '' >"$WORK/rclone.conf"  # an empty config keeps rclone from reading ~/.config

# ------------------------------------------------------------ s3 server
# s3_setup: s3rver (tests/s3, SigV4-checking; data under $CKT_TMP), the
# Determined stand-in (tests/detmaster) with experiment 4's storage there, and
# one checkpoint of its trial 7 whose files are the scenario's count x size
# objects, uploaded by the stand-in (signed PUTs). The stand-in adds its usual
# few small s3 objects (metadata.json, a 777-byte note, a 3 MiB shard): every
# tool fetches the same keys. Sets S3_UUID, EXPECT[s3], the curl list and the
# rclone config. ckptd reaches S3 only through a checkpoint (no s3:// fetch),
# so it runs `ckpt checkpoint download`; rclone and curl get the same keys.
S3_KEYS="AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1"
s3_setup() {
    local count size got t0
    read -r count size <<<"${GEOM[s3]}"
    ckt_s3_start b
    ckt_detmaster_start --s3-endpoint "$CKT_S3_URL" --s3-bucket b --s3-prefix ckpts
    say "s3: uploading $(describe s3) through the Determined stand-in"
    t0=$(date +%s)
    got=$(python3 - "$CKT_DET_URL" "$count" "$size" "$CKT_S3_URL" "$WORK/lists/$SET-s3.curl" <<'PY'
import json, sys, urllib.parse, urllib.request
det, n, size, s3, curl_list = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
body = json.dumps({"files": {f"file-{i:04d}.bin": size for i in range(n)}}).encode()
req = urllib.request.Request(det + "/_ctl/trials/7/checkpoints", data=body, method="POST")
cp = json.load(urllib.request.urlopen(req, timeout=900))["checkpoint"]
files = {rel: int(sz) for rel, sz in cp["resources"].items() if not rel.endswith("/")}
with open(curl_list, "w") as f:  # every key of the checkpoint, as curl -K lines
    for rel in sorted(files):
        f.write('url = "%s/b/%s"\noutput = "%s"\n'
                % (s3, urllib.parse.quote(f"ckpts/{cp['uuid']}/{rel}", safe="/"), rel))
print(cp["uuid"], len(files), sum(files.values()))
PY
) || return 1
    read -r S3_UUID count size <<<"$got"
    EXPECT[s3]="$count $size"
    say "s3: checkpoint $S3_UUID, $count objects, $size bytes, uploaded in $(($(date +%s) - t0)) s"
    cat >"$CKT_TMP/rclone-s3.conf" <<CONF
[s3bench]
type = s3
provider = Other
access_key_id = S3RVER
secret_access_key = S3RVER
region = us-east-1
endpoint = $CKT_S3_URL
force_path_style = true
CONF
}
s3_teardown() {
    kill -TERM "$CKT_DET_PID" 2>/dev/null || true
    (ckt_s3_stop) 2>/dev/null || kill -9 "$CKT_S3_PID" 2>/dev/null || true
    rm -rf "$CKT_S3_DATA"
}
# s3_ceiling: what s3rver alone can serve: curl's 16 parallel SigV4 GETs of every
# key to /dev/null (no disk writes), once, outside the table. Goes to the notes.
s3_ceiling() {
    local t0 s0 wall cpu bytes
    read -r _ bytes <<<"${EXPECT[s3]}"
    sed 's|^output = .*|output = "/dev/null"|' "$WORK/lists/$SET-s3.curl" >"$CKT_TMP/s3-null.curl"
    s0=$(proc_cpu_ticks "$CKT_S3_PID")
    t0=$(date +%s.%N)
    curl -Z --parallel-max 16 -s -S -f --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -K "$CKT_TMP/s3-null.curl" >"$WORK/logs/$SET-s3-ceiling.log" 2>&1 ||
        { note "s3rver ceiling not measured: curl failed (log $WORK/logs/$SET-s3-ceiling.log)"; return 0; }
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v d=$(($(proc_cpu_ticks "$CKT_S3_PID") - s0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
    note "s3rver ceiling: $(awk -v b="$bytes" -v w="$wall" 'BEGIN { printf "%.0f", b / 1e6 / w }') MB/s" \
         "(curl, 16 parallel SigV4 GETs to /dev/null, ${wall}s; s3rver CPU: ${cpu}s, main thread plus fs thread pool)"
}
# s3_hash REL SIZE: XXH128 of the bytes the stand-in generated for that file.
s3_hash() {
    python3 -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import detmaster
sys.stdout.buffer.write(detmaster.content(1, sys.argv[2], sys.argv[3], int(sys.argv[4])))' \
        "$REPO/tests/detmaster" "$S3_UUID" "$1" "$2" | xxhsum -H2 - 2>/dev/null | awk '{print $1}'
}

# ------------------------------------------------------- master archive
# archive_setup: the Determined stand-in (tests/detmaster) with one checkpoint
# of its trial 1 (shared_fs storage) whose files are the scenario's count x
# size (plus its metadata.json), served by its archive route as one tar: ckptd
# with --mode master against `curl | tar -x` of the same route. The stand-in
# builds each archive in memory (Python), a cost both tools pay alike.
archive_setup() {
    local count size got
    read -r count size <<<"${GEOM[archive]}"
    CKT_DET_DATA=$CKT_TMP/arcdata ckt_detmaster_start
    say "archive: writing $(describe archive) through the Determined stand-in"
    got=$(python3 - "$CKT_DET_URL" "$count" "$size" <<'PY'
import json, sys, urllib.request
det, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"files": {f"file-{i:04d}.bin": size for i in range(n)}}).encode()
req = urllib.request.Request(det + "/_ctl/trials/1/checkpoints", data=body, method="POST")
cp = json.load(urllib.request.urlopen(req, timeout=900))["checkpoint"]
files = {rel: int(sz) for rel, sz in cp["resources"].items() if not rel.endswith("/")}
login = urllib.request.Request(det + "/api/v1/auth/login", method="POST",
                               data=b'{"username":"determined","password":""}')
token = json.load(urllib.request.urlopen(login))["token"]
print(cp["uuid"], len(files), sum(files.values()), token)
PY
) || return 1
    read -r ARC_UUID count size ARC_TOKEN <<<"$got"
    EXPECT[archive]="$count $size"
    say "archive: checkpoint $ARC_UUID, $count files, $size bytes"
}
archive_teardown() {
    kill -TERM "$CKT_DET_PID" 2>/dev/null || true
    rm -rf "$CKT_TMP/arcdata"
}

# ------------------------------------------------------------ ckptd daemon
DPID='' DSOCK=''
# daemon_start NAME: fresh state per scenario, so VmHWM is per scenario. For s3:
# the stand-in as its master and s3rver's keys in its environment.
daemon_start() {
    local extra=() envs=()
    DSOCK=$CKT_TMP/ckptd-$1.sock
    rm -rf "$CKT_TMP/state-$1"
    [ "$1" = archive ] && extra=(--master "$CKT_DET_URL")
    if [ "$1" = s3 ]; then
        extra=(--master "$CKT_DET_URL")
        # shellcheck disable=SC2206
        envs=(env -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_CA_BUNDLE
              AWS_SHARED_CREDENTIALS_FILE=/nonexistent $S3_KEYS)
    fi
    "${envs[@]}" "$CKPTD" --socket "$DSOCK" --state-dir "$CKT_TMP/state-$1" --log-level warn "${extra[@]}" \
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
    if [ "$sc" = archive ]; then   # the master's tar: ckptd's route against curl | tar
        case $tool in
            ckptd) CMD=("$CKPT" --socket "$DSOCK" checkpoint download "$ARC_UUID" -o "$out" -q --mode master) ;;
            curl) CMD=(sh -c 'curl -s -S -f -H "Authorization: Bearer $1" -H "Accept: application/x-tar" "$2" | tar -x -C "$3"'
                       sh "$ARC_TOKEN" "$CKT_DET_URL/checkpoints/$ARC_UUID" "$out") ;;
        esac
        return 0
    fi
    if [ "$sc" = s3 ]; then   # same keys, same credentials, same server; no aria2c
        case $tool in
            ckptd) CMD=("$CKPT" --socket "$DSOCK" checkpoint download "$S3_UUID" -o "$out" -q --mode direct) ;;
            curl) CMD=(curl -Z --parallel-max 16 -s -S -f --create-dirs --output-dir "$out"
                       --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER
                       -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -K "$WORK/lists/$SET-s3.curl") ;;
            # AWS_CA_BUNDLE (set on some machines): rclone 1.60 fails at start, LoadCustomCABundleError.
            rclone) CMD=(env -u AWS_CA_BUNDLE rclone copy --config "$CKT_TMP/rclone-s3.conf"
                         "s3bench:b/ckpts/$S3_UUID/" "$out" --transfers 16 --multi-thread-streams 16 -q) ;;
        esac
        return 0
    fi
    case $tool in
        ckptd) CMD=("$CKPT" --socket "$DSOCK" fetch -o "$out" -i "$WORK/lists/$SET-$sc.aria2") ;;
        ckptd-bg) CMD=("$CKPT" --socket "$DSOCK" fetch --durability background -o "$out"
                       -i "$WORK/lists/$SET-$sc.aria2") ;;
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
        rclone+sync) CMD=(sh -c 'rclone copy --config "$1" --http-url "$2" :http: "$3" --transfers 16 \
                              --multi-thread-streams 16 -q && sync' sh "$WORK/rclone.conf" "$BASE/$SET/$sc/" "$out") ;;
    esac
}

# verify SCENARIO OUTDIR DEEP: file count and total bytes; DEEP=1 also hashes samples.
verify() {
    local sc=$1 out=$2 deep=$3 count bytes got name path
    read -r count bytes <<<"${EXPECT[$sc]}"
    # .ckptd.xxh128: the manifest ckptd writes beside a checkpoint
    got=$(find "$out" -type f ! -name .ckptd.xxh128 -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %.0f", n, b }')
    [ "$got" = "$count $bytes" ] \
        || { VERIFY_MSG="expected $count files / $bytes bytes, found ${got/ / files \/ } bytes"; return 1; }
    [ "$deep" = 1 ] || return 0
    for name in $SAMPLES; do
        path=$(find "$out" -type f -name "$name" -print -quit)
        [ -n "$path" ] || { VERIFY_MSG="$name missing"; return 1; }
        [ "$(xxhsum -H2 "$path" 2>/dev/null | awk '{print $1}')" = "${HASH[$name]}" ] \
            || { VERIFY_MSG="$name: xxh128 differs from the source"; return 1; }
    done
}

declare -A WALLS CPUS RSSS FAILED SRVCPUS
run_once() {  # run_once TOOL SCENARIO RUN
    local tool=$1 sc=$2 run=$3 out=$WORK/out/$1 log=$WORK/logs/$SET-$2-$1-$3.log
    local tf=$CKT_TMP/time.out t0 t1 rc=0 c0=0 c1=0 s0=0 s1=0 user sys rss cpu wall
    rm -rf "$out"; mkdir -p "$out"; sync   # fresh target, old dirty pages gone (not timed)
    tool_cmd "$tool" "$sc" "$out"
    [[ $tool == ckptd* ]] && c0=$(proc_cpu_ticks "$DPID")
    [ "$sc" = s3 ] && s0=$(proc_cpu_ticks "$CKT_S3_PID")   # is the (node) server the limit?
    t0=$(date +%s.%N)
    "${TIMER[@]}" "$tf" "${CMD[@]}" >"$log" 2>&1 || rc=$?
    [ $TIMED_SYNC = 1 ] && sync
    t1=$(date +%s.%N)
    [ "$sc" = s3 ] && s1=$(proc_cpu_ticks "$CKT_S3_PID" 2>/dev/null || echo "$s0")
    read -r user sys rss < <(tail -n 1 "$tf" 2>/dev/null || echo "0 0 0") || true
    if [[ $tool == ckptd* ]]; then   # client CPU + daemon CPU; the daemon's peak RSS
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
    [ "$sc" != s3 ] || SRVCPUS[$sc/$tool]+="$(awk -v d=$((s1 - s0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }') "
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
    SAMPLES="file-0000.bin $(printf 'file-%04d.bin' $((count - 1)))"
    if [ "$sc" = s3 ]; then
        if [ -n "$S3_SKIP" ]; then note "s3 skipped: $S3_SKIP"; continue; fi
        if ! s3_setup; then
            note "s3 skipped: the upload through the stand-in failed (logs in $CKT_TMP)"
            continue
        fi
        for name in $SAMPLES; do HASH[$name]=$(s3_hash "$name" "$size"); done
        find "$CKT_S3_DATA" -type f -exec cat {} + >/dev/null   # page cache, as for nginx
        s3_ceiling
    elif [ "$sc" = archive ]; then
        if ! archive_setup; then
            note "archive skipped: the stand-in's checkpoint could not be made (logs in $CKT_TMP)"
            continue
        fi
        for name in $SAMPLES; do
            HASH[$name]=$(xxhsum -H2 "$CKT_TMP/arcdata/$ARC_UUID/$name" 2>/dev/null | awk '{print $1}')
        done
        cat "$CKT_TMP/arcdata/$ARC_UUID"/* >/dev/null
    else
        make_lists "$sc"
        for name in $SAMPLES; do HASH[$name]=$(xxhsum -H2 "$DATA/$SET/$sc/$name" 2>/dev/null | awk '{print $1}'); done
        cat "$DATA/$SET/$sc"/* >/dev/null   # the server reads from page cache in every run
    fi
    ACTIVE=()
    for t in "${TOOLS[@]}"; do
        [ "$sc:$t" != s3:aria2c ] || continue   # aria2 has no SigV4
        [ "$sc" != archive ] || [ "$t" = ckptd ] || [ "$t" = curl ] || continue
        [ "$sc" != s3 ] || [ "$t" != ckptd-bg ] || continue   # checkpoint downloads: publish mode
        [ "$sc" != s3 ] || [ "$t" != rclone+sync ] || continue
        [ -n "${HAVE[$t]:-}" ] && ACTIVE+=("$t")
    done
    if [ -n "${HAVE[ckptd]:-}${HAVE[ckptd-bg]:-}" ] && ! daemon_start "$sc"; then
        note "ckptd skipped on $sc: the daemon did not come up (log $WORK/logs/$LABEL-ckptd-daemon.log)"
        ACTIVE=("${ACTIVE[@]/#ckptd*}")
    fi
    for ((run = 1; run <= RUNS; run++)); do      # tools interleaved within each run
        for t in "${ACTIVE[@]}"; do
            [ -n "$t" ] && [ -z "${FAILED[$sc/$t]:-}" ] || continue
            run_once "$t" "$sc" "$run" || FAILED[$sc/$t]=1
        done
    done
    daemon_stop
    [ "$sc" != s3 ] || s3_teardown
    [ "$sc" != archive ] || archive_teardown
    rm -rf "$WORK/out"/*; sync
done

# ------------------------------------------------------------------ report
REPORT=$CKT_TMP/report.md
{
    echo "# ckptd vs peers — $SET set, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)," \
         "$(df -T "$WORK" | awk 'NR == 2 { print $2 }') under $WORK; nginx $(nginx -v 2>&1 | sed 's|.*/||') on loopback$(
         [[ " ${SCENARIOS[*]} " != *" s3 "* ]] || echo "; s3: @20minutes/s3rver 5.0.0 on node $(node --version 2>/dev/null), one process")."
    echo "Median of $RUNS runs; MB = 10^6 bytes; wall time of the client command$([ $TIMED_SYNC = 1 ] && echo ' plus sync')."
    echo "CPU s = user + system of the tool (for ckptd: client + daemon). Ratio = ckptd throughput / this tool's."
    echo "Peak RSS: the daemon's VmHWM for ckptd (one daemon per scenario), max RSS of the process for the peers."
    echo
    echo "| scenario | tool | MB/s (small: files/s) | CPU s | CPU s/GB | ckptd (publish) vs this tool | ckptd-bg (background) vs this tool | peak RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for sc in "${SCENARIOS[@]}"; do
        read -r count bytes <<<"${EXPECT[$sc]}"
        ck=''
        [ -n "${WALLS[$sc/ckptd]:-}" ] && [ -z "${FAILED[$sc/ckptd]:-}" ] && ck=$(median "${WALLS[$sc/ckptd]}")
        bg=''
        [ -n "${WALLS[$sc/ckptd-bg]:-}" ] && [ -z "${FAILED[$sc/ckptd-bg]:-}" ] && bg=$(median "${WALLS[$sc/ckptd-bg]}")
        for t in "${TOOLS[@]}"; do
            if [ "$sc:$t" = s3:aria2c ]; then
                echo "| $sc ($(describe "$sc")) | $t | n/a (no S3 support) | — | — | — | — | — |"
                continue
            elif [ "$sc" = archive ] && [ "$t" != ckptd ] && [ "$t" != curl ]; then
                continue   # the master's archive: ckptd against curl | tar only
            elif [ -n "${FAILED[$sc/$t]:-}" ]; then
                echo "| $sc ($(describe "$sc")) | $t | failed (see notes) | — | — | — | — | — |"
                continue
            elif [ -z "${WALLS[$sc/$t]:-}" ]; then
                echo "| $sc ($(describe "$sc")) | $t | skipped | — | — | — | — | — |"
                continue
            fi
            w=$(median "${WALLS[$sc/$t]}") c=$(median "${CPUS[$sc/$t]}") r=$(maxof "${RSSS[$sc/$t]}")
            awk -v sc="$sc ($(describe "$sc"))" -v t="$t" -v w="$w" -v c="$c" -v r="$r" -v b="$bytes" \
                -v n="$count" -v small="$([ "$sc" = small ] && echo 1 || echo 0)" -v ck="$ck" -v bg="$bg" 'BEGIN {
                tp = small ? sprintf("%.0f files/s", n / w) : sprintf("%.0f", b / 1e6 / w)
                ratio = ck == "" ? "n/a" : sprintf("%.2f×", w / ck)
                rbg = bg == "" ? "n/a" : sprintf("%.2f×", w / bg)
                printf "| %s | %s | %s | %.2f | %.2f | %s | %s | %d |\n", sc, t, tp, c, c / (b / 1e9), ratio, rbg, r }'
        done
    done
    echo
    echo "Wall seconds of each run:"
    for sc in "${SCENARIOS[@]}"; do
        for t in "${TOOLS[@]}"; do
            [ -z "${WALLS[$sc/$t]:-}" ] || echo "- $sc / $t: ${WALLS[$sc/$t]% }$(
                [ -z "${SRVCPUS[$sc/$t]:-}" ] || echo " (s3rver CPU s: ${SRVCPUS[$sc/$t]% })")"
        done
    done
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "Notes:"
        for n in "${NOTES[@]}"; do echo "- $n"; done
    fi
    echo
    echo "Commands: \`ckpt fetch -o DIR -i LIST\` (daemon already running; ckptd-bg adds \`--durability background\`: published once verified, synced right after, outside the timed command), rclone+sync: rclone then \`sync\`, \`curl -Z --parallel-max 16 --output-dir DIR -K LIST\`," \
         "\`aria2c -x16 -s16\` (one file) / \`aria2c -j16 -i LIST\` (sets) with \`--console-log-level=warn --summary-interval=0\`," \
         "\`rclone copy --http-url URL :http: DIR --transfers 16 --multi-thread-streams 16\`."
    [[ " ${SCENARIOS[*]} " != *" s3 "* ]] ||
        echo "s3: \`ckpt checkpoint download UUID -o DIR -q --mode direct\` (the stand-in as master, keys in the daemon's" \
             "environment), \`curl -Z --parallel-max 16 --aws-sigv4 aws:amz:us-east-1:s3 --output-dir DIR -K LIST\`," \
             "\`rclone copy s3bench:b/ckpts/UUID/ DIR --transfers 16 --multi-thread-streams 16\` (provider Other," \
             "force_path_style); same keys, same credentials. s3rver CPU s: the server's user + system time over the run."
    [[ " ${SCENARIOS[*]} " != *" archive "* ]] ||
        echo "archive: \`ckpt checkpoint download UUID -o DIR -q --mode master\` (libarchive, streamed into staging, hashed," \
             "flushed before publish) against \`curl -H 'Accept: application/x-tar' MASTER/checkpoints/UUID | tar -x -C DIR\`" \
             "(the curl row); the stand-in builds each tar in memory."
    # sed, not head: head's early exit would fail the pipe (SIGPIPE) and add the fallback
    echo "Versions: $(curl --version | sed -n 1p | cut -d' ' -f1-2); $(aria2c --version 2>/dev/null | sed -n 1p || echo 'aria2c -');" \
         "$(rclone version 2>/dev/null | sed -n 1p || echo 'rclone -'); $(timeout 5 "$CKPTD" --version 2>/dev/null | sed -n 1p || echo 'ckptd -')."
} >"$REPORT"
STAMP=$(date +%Y-%m-%d-%H%M%S)
cp "$REPORT" "$REPO/bench/results/$STAMP-$LABEL.md"
cp "$REPORT" "$REPO/bench/results/latest.md"
cat "$REPORT"
say "written to bench/results/$STAMP-$LABEL.md and bench/results/latest.md"
