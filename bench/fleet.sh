#!/usr/bin/env bash
# bench/fleet.sh: N nodes pulling one checkpoint, through the fleet cache and
# without it, on this machine with Linux network namespaces.
#
#   sudo bench/fleet.sh [--nodes N] [--files F] [--file-mib M] [--big-mib B]
#                       [--rate 1gbit] [--build DIR] [--work DIR] [--out DIR]...
#                       [--keep]
#
# Topology (all inside namespaces this script creates, removed on exit;
# nothing leaves the machine, nothing touches the host's own network):
#   <p>-sw      a bridge, 10.77.0.0/24
#   <p>-origin  10.77.0.1: nginx serving the checkpoint; its link is shaped
#               to --rate (tc tbf, default 1 Gbit/s): the origin is the
#               bottleneck, as in a real cluster
#   <p>-cache   10.77.0.2: nginx running contrib/nginx-cache.conf
#   <p>-nI      10.77.0.(10+I): ckptd with its own socket and state
# The checkpoint: F files of M MiB and one of B MiB (default 64 x 32 MiB and
# 2048 MiB, as in the issue), listed with their XXH3-128 so that every copy
# is verified. Every node downloads it at the same moment, first through the
# cache (cache={"url": "http://10.77.0.2:8080", "origins": [origin]}), then
# straight from the origin. Reported: bytes the origin sent / checkpoint
# size, and the time until the last node holds a verified copy.
# Disk: the checkpoint and the cache's copy under --work, and N copies per
# round: --out DIR (repeatable) spreads the nodes' copies over several disks,
# node I in the ((I-1) mod count)-th (default: under --work). Each round's
# copies, and the cache's after its round, are removed when it is measured.
# Last line:
#   fleet: nodes=N origin_ratio=R cached_s=T direct_s=D direct_origin_ratio=R0
# Needs root (ip netns, tc), nginx with the slice module, xxhsum.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
N=8 F=64 M=32 B=2048 RATE=1gbit BUILD=$src/build WORK=$here/work/fleet KEEP=0 OUTS=()
while [ $# -gt 0 ]; do
    case $1 in
    --nodes) N=$2; shift 2 ;;
    --files) F=$2; shift 2 ;;
    --file-mib) M=$2; shift 2 ;;
    --big-mib) B=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --out) OUTS+=("$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "fleet.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root (ip netns, tc)" >&2; exit 2; }
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 200 ] || { echo "fleet.sh: --nodes 1..200" >&2; exit 2; }
CKPTD=$BUILD/engine/ckptd CKPT=$BUILD/cli/ckpt
[ -x "$CKPTD" ] && [ -x "$CKPT" ] || { echo "fleet.sh: build first ($BUILD)" >&2; exit 2; }
for t in ip tc nginx xxhsum python3; do command -v $t >/dev/null || { echo "fleet.sh: $t missing" >&2; exit 2; }; done

[ ${#OUTS[@]} -gt 0 ] || OUTS=("$WORK/run")
# Where node I's copy goes (its state stays under --work).
out_of() { echo "${OUTS[$((($1 - 1) % ${#OUTS[@]}))]}/fleet-n$1"; }
drop_copies() { local i; for i in $(seq 1 "$N"); do rm -rf "$(out_of "$i")"; done; }

P=ckf$$                         # this run's namespaces: ckf<pid>-*
PIDS=()
NSS=()
log() { echo "fleet: $*" >&2; }
cleanup() {
    local p ns
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ "$KEEP" != 1 ]; then rm -rf "$WORK/run"; drop_copies; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the network -----------------------------------------------------------
sw=$P-sw
ip netns add "$sw"; NSS+=("$sw")
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
ip -n "$sw" link set lo up
port=0
attach() { # NAME ADDRESS
    local ns=$P-$1
    port=$((port + 1))
    ip netns add "$ns"; NSS+=("$ns")
    ip link add eth0 netns "$ns" type veth peer name "p$port" netns "$sw"
    ip -n "$sw" link set "p$port" master br0 up
    ip -n "$ns" addr add "$2/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
}
attach origin 10.77.0.1
attach cache 10.77.0.2
for i in $(seq 1 "$N"); do attach "n$i" "10.77.0.$((10 + i))"; done
# The origin's uplink: --rate, token bucket.
ip netns exec "$P-origin" tc qdisc add dev eth0 root tbf rate "$RATE" burst 1mb latency 200ms

# ---- the checkpoint ------------------------------------------------------------
data=$WORK/data
mkdir -p "$data" "$WORK/run"
want="$F x $M MiB + $B MiB"
if [ "$(cat "$data/.made" 2>/dev/null)" != "$want" ]; then
    log "making the checkpoint: $want"
    rm -rf "$data/ckpt"
    mkdir -p "$data/ckpt"
    for i in $(seq 1 "$F"); do head -c $((M << 20)) /dev/urandom > "$data/ckpt/shard-$i.bin"; done
    [ "$B" -gt 0 ] && head -c $((B << 20)) /dev/urandom > "$data/ckpt/big.bin"
    (cd "$data/ckpt" && xxhsum -H2 -- * > ../sums 2>/dev/null)
    echo "$want" > "$data/.made"
fi
chmod -R a+rX "$WORK"
total=$(du -cb "$data"/ckpt/* | tail -1 | cut -f1)
list=$WORK/run/list.txt
while read -r h f; do
    printf 'http://10.77.0.1:8000/ckpt/%s\n  out=%s\n  xxh128=%s\n  size=%s\n' "$f" "$f" "$h" \
        "$(stat -c %s "$data/ckpt/$f")"
done < "$data/sums" > "$list"

# ---- origin and cache ----------------------------------------------------------
run=$WORK/run
nginx_conf() { # DIR BODY
    mkdir -p "$1/tmp" "$1/logs"
    cat > "$1/nginx.conf" <<NGX
daemon off;
worker_processes 2;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    $2
}
NGX
}
start_nginx() { # NS DIR
    ip netns exec "$1" nginx -p "$2" -c "$2/nginx.conf" -e "$2/logs/error.log" &
    PIDS+=($!)
}
wait_http() { # NS URL
    local i
    for i in $(seq 1 100); do
        ip netns exec "$1" curl -s -o /dev/null "$2" && return 0
        sleep 0.1
    done
    log "no answer from $2"; exit 1
}
nginx_conf "$run/origin" "access_log $run/origin/logs/access.log;
    server { listen 10.77.0.1:8000; root $data; }"
start_nginx "$P-origin" "$run/origin"
wait_http "$P-n1" http://10.77.0.1:8000/

start_cache() {
    rm -rf "$run/cache"
    mkdir -p "$run/cache/data"
    echo '"10.77.0.1:8000" 1;' > "$run/cache/origins.conf"
    sed -e "s|/var/cache/ckpt-cache|$run/cache/data|" \
        -e "s|/etc/nginx/ckpt-cache-origins.conf|$run/cache/origins.conf|" \
        -e "s|listen 8080;|listen 10.77.0.2:8080;|" \
        -e "s|/var/log/nginx/ckpt-cache.log|$run/cache/logs/cache.log|" \
        "$src/contrib/nginx-cache.conf" > "$run/cache.conf"
    nginx_conf "$run/cache" "include $run/cache.conf;"
    start_nginx "$P-cache" "$run/cache"
    wait_http "$P-n1" http://10.77.0.2:8080/
}

# ---- one round: every node fetches the checkpoint at once ------------------------
SOCKS=()
start_nodes() { # CACHE_SETTING
    SOCKS=()
    local i
    for i in $(seq 1 "$N"); do
        local d=$run/n$i
        rm -rf "$d"
        mkdir -p "$d"
        ip netns exec "$P-n$i" "$CKPTD" --socket "$d/sock" --state-dir "$d/state" \
            --log-level warn >> "$d/ckptd.log" 2>&1 &
        PIDS+=($!)
        SOCKS+=("$d/sock")
    done
    for i in $(seq 1 "$N"); do
        local k
        for k in $(seq 1 100); do "$CKPT" --socket "${SOCKS[$((i - 1))]}" status >/dev/null 2>&1 && break; sleep 0.05; done
        "$CKPT" --socket "${SOCKS[$((i - 1))]}" config set "cache=$1" >/dev/null
    done
}
stop_nodes() {
    # The daemons are this script's children: stop them by pid.
    local p kept=()
    for p in "${PIDS[@]}"; do
        if ps -o args= -p "$p" 2>/dev/null | grep -q "$CKPTD"; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; else kept+=("$p"); fi
    done
    PIDS=("${kept[@]}")
}
round() { # NAME -> sets R_S (seconds) and R_BYTES (origin bytes)
    local before
    before=$(awk '{s += $10} END {printf "%.0f", s}' "$run/origin/logs/access.log")
    local t0 t1 i fp=()
    t0=$(date +%s.%N)
    for i in $(seq 1 "$N"); do
        mkdir -p "$(dirname "$(out_of "$i")")"
        "$CKPT" --socket "${SOCKS[$((i - 1))]}" fetch -i "$list" -o "$(out_of "$i")" > "$run/n$i/fetch.out" 2>&1 &
        fp+=($!)
    done
    local bad=0
    for i in $(seq 1 "$N"); do wait "${fp[$((i - 1))]}" || { log "node $i failed ($1):"; tail -5 "$run/n$i/fetch.out" >&2; bad=1; }; done
    t1=$(date +%s.%N)
    [ $bad = 0 ] || exit 1
    for i in $(seq 1 "$N"); do
        "$CKPT" --socket "${SOCKS[$((i - 1))]}" --json job 1 | python3 -c 'import json,sys
j = json.load(sys.stdin)["job"]
assert j["state"] == "done" and all(f["state"] == "verified" for f in j["files"]), "not verified"' ||
            { log "node $i: copy not verified ($1)"; exit 1; }
    done
    sleep 0.5 # the origin's log lines of the last responses
    R_BYTES=$(( $(awk '{s += $10} END {printf "%.0f", s}' "$run/origin/logs/access.log") - before ))
    R_S=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
    log "$1: $N nodes verified in ${R_S}s; origin sent $R_BYTES bytes ($(python3 -c "print(f'{$R_BYTES / $total:.2f}')") x $total)"
}

log "$N nodes, checkpoint $want ($total bytes), origin link $RATE"
start_cache
start_nodes '{"url":"http://10.77.0.2:8080","origins":["http://10.77.0.1:8000"]}'
round cached
cached_s=$R_S cached_bytes=$R_BYTES
stop_nodes
drop_copies
rm -rf "$run/cache/data" # the direct round does not use the cache

start_nodes null
round direct
direct_s=$R_S direct_bytes=$R_BYTES
stop_nodes
drop_copies

ratio=$(python3 -c "print(f'{$cached_bytes / $total:.3f}')")
ratio0=$(python3 -c "print(f'{$direct_bytes / $total:.3f}')")
echo "fleet: nodes=$N origin_ratio=$ratio cached_s=$cached_s direct_s=$direct_s direct_origin_ratio=$ratio0"
