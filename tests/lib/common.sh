# Shared helpers for end-to-end tests, the demo and the benchmarks.
# Source it from bash; it uses set -euo pipefail friendly code only.
#
#   ckt_tmpdir            -> $CKT_TMP (the working directory), removed at exit (unless CKT_KEEP=1)
#   ckt_free_port         -> prints a free TCP port on 127.0.0.1
#   ckt_nginx_start ROOT  -> serves ROOT on 127.0.0.1:$CKT_NGINX_PORT
#   ckt_daemon_start [ARGS...] -> ckptd on $CKT_SOCK with state in $CKT_STATE
#   ckt_daemon_kill9 / ckt_daemon_stop
#   ckt_fail MSG          -> prints and exits 1

: "${CKPTD:=ckptd}"
: "${CKPT:=ckpt}"
# Tests start their daemons themselves: a ckpt that finds none must say so,
# not start one (tests/e2e/autostart.sh unsets this).
export CKPT_NO_AUTOSTART=1
CKT_PIDS=()

ckt_fail() { echo "FAIL: $*" >&2; exit 1; }
ckt_log() { echo "--- $*" >&2; }

ckt_cleanup() {
    local rc=$?
    if [ -n "${CKT_NGINX_PREFIX:-}" ] && [ -f "$CKT_NGINX_PREFIX/nginx.pid" ]; then
        kill "$(cat "$CKT_NGINX_PREFIX/nginx.pid")" 2>/dev/null || true
    fi
    for p in "${CKT_PIDS[@]}"; do
        { kill -9 "$p" && wait "$p"; } 2>/dev/null || true
    done
    if [ $rc -ne 0 ] && [ -n "${CKT_TMP:-}" ]; then
        for f in "$CKT_TMP"/*.log; do
            [ -f "$f" ] || continue
            echo "=== $f (last 40 lines)" >&2; tail -n 40 "$f" >&2
        done
    fi
    if [ -n "${CKT_TMP:-}" ] && [ "${CKT_KEEP:-0}" != 1 ]; then rm -rf "$CKT_TMP"; fi
    return $rc
}

ckt_tmpdir() {
    CKT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckt.XXXXXX")
    chmod 755 "$CKT_TMP"
    trap ckt_cleanup EXIT
    # Relative scratch files (job1.out, ...) land here, never in ctest's
    # shared working directory where a concurrent test writes the same name.
    cd "$CKT_TMP"
}

ckt_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ckt_nginx_start ROOT [EXTRA_SERVER_CONFIG]
ckt_nginx_start() {
    local root=$1 extra=${2:-}
    CKT_NGINX_PREFIX=$CKT_TMP/nginx
    mkdir -p "$CKT_NGINX_PREFIX/tmp" "$CKT_NGINX_PREFIX/logs"
    CKT_NGINX_PORT=$(ckt_free_port)
    cat > "$CKT_NGINX_PREFIX/nginx.conf" <<NGX
worker_processes 2;
pid $CKT_NGINX_PREFIX/nginx.pid;
error_log $CKT_NGINX_PREFIX/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $CKT_NGINX_PREFIX/logs/access.log;
    client_body_temp_path $CKT_NGINX_PREFIX/tmp/body;
    proxy_temp_path $CKT_NGINX_PREFIX/tmp/proxy;
    fastcgi_temp_path $CKT_NGINX_PREFIX/tmp/fastcgi;
    uwsgi_temp_path $CKT_NGINX_PREFIX/tmp/uwsgi;
    scgi_temp_path $CKT_NGINX_PREFIX/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$CKT_NGINX_PORT;
        root $root;
        $extra
    }
}
NGX
    nginx -p "$CKT_NGINX_PREFIX" -c "$CKT_NGINX_PREFIX/nginx.conf" -e "$CKT_NGINX_PREFIX/logs/error.log" \
        || ckt_fail "nginx did not start"
    CKT_BASE_URL=http://127.0.0.1:$CKT_NGINX_PORT
    local i
    for i in $(seq 1 50); do
        curl -s -o /dev/null "$CKT_BASE_URL/" && return 0
        sleep 0.1
    done
    ckt_fail "nginx did not answer on $CKT_BASE_URL"
}

# ckt_daemon_start [EXTRA ARGS]: starts ckptd in the background and waits for its socket.
ckt_daemon_start() {
    : "${CKT_SOCK:=$CKT_TMP/ckptd.sock}"
    : "${CKT_STATE:=$CKT_TMP/state}"
    # Hermetic: no credentials from the machine unless a test exports them
    # and sets CKT_KEEP_AWS=1 (s3) or CKT_KEEP_AZURE=1 (azure).
    local aws=(-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE
               AWS_SHARED_CREDENTIALS_FILE=/nonexistent)
    [ "${CKT_KEEP_AWS:-0}" = 1 ] && aws=()
    local azure=(-u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_KEY
                 -u AZURE_STORAGE_SAS_TOKEN)
    local gcs=(-u GCS_HMAC_ACCESS_ID -u GCS_HMAC_SECRET -u GOOGLE_OAUTH_ACCESS_TOKEN
               -u CLOUDSDK_AUTH_ACCESS_TOKEN -u GOOGLE_OAUTH_ACCESS_TOKEN_FILE -u CKPTD_GCS_ENDPOINT)
    [ "${CKT_KEEP_AZURE:-0}" = 1 ] && azure=()
    # Options before assignments: env takes what follows a NAME=VALUE as the command.
    env "${gcs[@]}" "${azure[@]}" "${aws[@]}" "$CKPTD" --socket "$CKT_SOCK" --state-dir "$CKT_STATE" \
        --log-level "${CKT_LOG_LEVEL:-info}" "$@" >>"$CKT_TMP/ckptd.log" 2>&1 &
    CKT_DAEMON_PID=$!
    CKT_PIDS+=("$CKT_DAEMON_PID")
    local i
    for i in $(seq 1 100); do
        if "$CKPT" --socket "$CKT_SOCK" status >/dev/null 2>&1; then return 0; fi
        kill -0 "$CKT_DAEMON_PID" 2>/dev/null || ckt_fail "ckptd exited at start"
        sleep 0.05
    done
    ckt_fail "ckptd did not come up on $CKT_SOCK"
}

ckt_daemon_kill9() {
    kill -9 "$CKT_DAEMON_PID" 2>/dev/null || true
    wait "$CKT_DAEMON_PID" 2>/dev/null || true
}

# Graceful stop; fails the test when the daemon does not exit 0.
ckt_daemon_stop() {
    kill -TERM "$CKT_DAEMON_PID"
    local rc=0
    wait "$CKT_DAEMON_PID" || rc=$?
    [ $rc -eq 0 ] || ckt_fail "ckptd exited with status $rc on SIGTERM"
}

ckpt() { "$CKPT" --socket "$CKT_SOCK" "$@"; }

# ckt_gen_file PATH BYTES: pseudo-random content, fast.
ckt_gen_file() {
    mkdir -p "$(dirname "$1")"
    head -c "$2" /dev/urandom > "$1"
    chmod 644 "$1"
}

# ckt_staging DIR STEM: the staging directory ckptd made for STEM
# (".STEM-<random>.partial") inside DIR, or beside it (a file set whose
# output did not exist yet), or nothing.
ckt_staging() {
    find "$1" "$(dirname "$1")" -maxdepth 1 -name ".$2-*.partial" -print -quit 2>/dev/null || true
}

ckt_xxh128() { xxhsum -H2 "$1" 2>/dev/null | awk '{print $1}'; }
