# Helpers for tests of the fleet cache tier: nginx running contrib/nginx-cache.conf
# itself (only the listen address, cache directory and origins file replaced).
# Source it after common.sh, once ckt_tmpdir has run.
#
#   ckt_cache_start HOST:PORT... -> the cache on 127.0.0.1:$CKT_CACHE_PORT, allowed
#                                   to reach those origins; sets CKT_CACHE_URL,
#                                   CKT_CACHE_PID, CKT_CACHE_DIR (its cache files),
#                                   CKT_CACHE_LOG (its access log). One process
#                                   (master_process off): kill -9 stops it all.
#   ckt_cache_kill               -> kill -9, as a crash would
#   ckt_cache_upstream_bytes     -> bytes the cache received from origins so far
#   ckt_origin_bytes LOG         -> body bytes an nginx origin sent (combined log)
#   ckt_cache_node NAME MODE UUID SETTING... -> a node: its own ckptd (socket and
#                                   state $CKT_TMP/NAME.*, DET_MASTER=$CKT_DET_URL)
#                                   takes the config SETTINGs, downloads UUID with
#                                   --mode MODE to $CKT_TMP/out-NAME, checks that
#                                   the job is done with every file verified and no
#                                   request fell back to the origin, and stops.
#                                   Credentials: export them, and CKT_KEEP_AWS=1 or
#                                   CKT_KEEP_AZURE=1, first.
#   ckt_cache_served_once BEFORE TOTAL -> fails unless the origin sent the cache
#                                   less than a tenth of TOTAL bytes since
#                                   ckt_cache_upstream_bytes said BEFORE, and the
#                                   cache logged a hit

ckt_cache_start() {
    [ $# -ge 1 ] || ckt_fail "ckt_cache_start needs at least one origin"
    local p=$CKT_TMP/cache
    mkdir -p "$p/tmp" "$p/logs" "$p/data"
    CKT_CACHE_DIR=$p/data
    CKT_CACHE_LOG=$p/logs/cache.log
    : "${CKT_CACHE_PORT:=$(ckt_free_port)}"
    local o
    : > "$p/origins.conf"
    for o in "$@"; do printf '"%s" 1;\n' "$o" >> "$p/origins.conf"; done
    sed -e "s|/var/cache/ckpt-cache|$p/data|" \
        -e "s|/etc/nginx/ckpt-cache-origins.conf|$p/origins.conf|" \
        -e "s|listen 8080;|listen 127.0.0.1:$CKT_CACHE_PORT;|" \
        -e "s|/var/log/nginx/ckpt-cache.log|$CKT_CACHE_LOG|" \
        "$CKPT_SRC/contrib/nginx-cache.conf" > "$p/cache.conf"
    cat > "$p/nginx.conf" <<NGX
daemon off;
master_process off;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    include $p/cache.conf;
}
NGX
    nginx -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log" >>"$p/logs/stderr.log" 2>&1 &
    CKT_CACHE_PID=$!
    CKT_PIDS+=("$CKT_CACHE_PID")
    disown "$CKT_CACHE_PID"
    CKT_CACHE_URL=http://127.0.0.1:$CKT_CACHE_PORT
    local i
    for i in $(seq 1 50); do
        curl -s -o /dev/null "$CKT_CACHE_URL/" && return 0
        kill -0 "$CKT_CACHE_PID" 2>/dev/null || { cat "$p/logs/error.log" >&2; ckt_fail "the cache (nginx) exited at start"; }
        sleep 0.1
    done
    ckt_fail "the cache did not answer on $CKT_CACHE_URL"
}

ckt_cache_kill() {
    kill -9 "$CKT_CACHE_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
        kill -0 "$CKT_CACHE_PID" 2>/dev/null || return 0
        sleep 0.05
    done
}

ckt_cache_upstream_bytes() {
    [ -f "$CKT_CACHE_LOG" ] || { echo 0; return; }
    # upstream=N, or "N, M" for several upstream attempts, or "-".
    grep -o 'upstream=[0-9, ]*' "$CKT_CACHE_LOG" | tr -c '0-9\n' ' ' |
        awk '{for (i = 1; i <= NF; i++) s += $i} END {printf "%.0f\n", s}'
}

ckt_origin_bytes() {
    awk '{s += $10} END {printf "%.0f\n", s}' "$1"
}

ckt_cache_node() {
    local name=$1 mode=$2 uuid=$3
    shift 3
    CKT_SOCK=$CKT_TMP/$name.sock CKT_STATE=$CKT_TMP/$name.state
    DET_MASTER=$CKT_DET_URL ckt_daemon_start
    ckpt config set "$@" > /dev/null || ckt_fail "$name: config set $*"
    ckpt checkpoint download "$uuid" --mode "$mode" -o "$CKT_TMP/out-$name" -q \
        > "$CKT_TMP/$name.dl" 2>&1 || { cat "$CKT_TMP/$name.dl"; ckt_fail "$name: the download failed"; }
    ckpt job 1 > "$CKT_TMP/$name.job"
    ckpt --json job 1 | python3 -c 'import json, sys
j = json.load(sys.stdin)["job"]
assert j["state"] == "done" and all(f["state"] == "verified" for f in j["files"]), j["files"]' ||
        ckt_fail "$name: not every file verified"
    ckt_daemon_stop
    ! grep -q "from the origin\|from the master" "$CKT_TMP/$name.job" ||
        { cat "$CKT_TMP/$name.job"; ckt_fail "$name: a request fell back to the origin"; }
}

ckt_cache_served_once() {
    local now
    now=$(ckt_cache_upstream_bytes)
    [ $((now - $1)) -lt $(($2 / 10 + 4096)) ] || ckt_fail "the origin sent $((now - $1)) more bytes"
    grep -q 'cache=HIT' "$CKT_CACHE_LOG" || ckt_fail "no cache hit"
}
