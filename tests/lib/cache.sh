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
