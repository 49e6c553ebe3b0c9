# Helpers for tests against a real, SigV4-checking S3 server: @20minutes/s3rver 5
# under node (tests/s3/s3server.js). Source it after common.sh, once ckt_tmpdir
# has run. Credentials are s3rver's defaults, S3RVER / S3RVER, region us-east-1.
#
#   ckt_s3_start BUCKET...     -> the server on 127.0.0.1 with those buckets (with
#                                 CKT_S3_PAGING=1, paged ListObjectsV2 works); sets
#                                 CKT_S3_URL (the endpoint_url), CKT_S3_PID,
#                                 CKT_S3_DATA. Runs npm install in tests/s3
#                                 when its node_modules are missing or broken.
#   ckt_s3_stop                -> SIGTERM; fails the test unless it exits soon
#   ckt_s3_env                 -> exports AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
#                                 AWS_REGION for a client (ckptd)
#   ckt_s3_url BUCKET KEY      -> prints the path-style URL, key encoded as SigV4
#                                 wants it (all but A-Za-z0-9-._~ and '/')
#   ckt_s3_curl [CURL ARGS]    -> curl signing with SigV4 (secret: $CKT_S3_SECRET,
#                                 default S3RVER)
#   ckt_s3_put BUCKET KEY FILE -> uploads FILE; fails the test unless HTTP 200

CKT_S3_ACCESS_KEY=S3RVER
CKT_S3_REGION=us-east-1

# Installs the server's node modules when they cannot be loaded. Under a lock
# (on package.json): parallel tests never see another's half-done install.
ckt_s3_install() {
    local dir=$CKPT_SRC/tests/s3
    command -v npm >/dev/null || ckt_fail "npm is missing: run tests/install-deps.sh"
    (
        flock 9
        if ! node -e 'require(process.argv[1])' "$dir/node_modules/@20minutes/s3rver" 2>/dev/null; then
            npm install --no-audit --no-fund --prefix "$dir" >>"$CKT_TMP/npm.log" 2>&1
        fi
    ) 9<"$dir/package.json" || ckt_fail "npm install in tests/s3 failed (see $CKT_TMP/npm.log)"
}

ckt_s3_start() {
    [ $# -ge 1 ] || ckt_fail "ckt_s3_start needs at least one bucket"
    command -v node >/dev/null || ckt_fail "node is missing: run tests/install-deps.sh"
    ckt_s3_install
    CKT_S3_DATA=$CKT_TMP/s3data
    rm -f "$CKT_TMP/s3.port"
    local args=() b
    for b in "$@"; do args+=(--bucket "$b"); done
    # CKT_S3_PAGING=1: OpenSSL's legacy provider, for s3rver's ListObjectsV2
    # continuation tokens (DES, which OpenSSL 3 only has there; without it a
    # second listing page is a 500). Only the tests that page ask for it.
    local legacy=(); [ "${CKT_S3_PAGING:-0}" = 1 ] && legacy=(--openssl-legacy-provider)
    node "${legacy[@]}" "$CKPT_SRC/tests/s3/s3server.js" --port-file "$CKT_TMP/s3.port" \
        --directory "$CKT_S3_DATA" "${args[@]}" >>"$CKT_TMP/s3server.log" 2>&1 &
    CKT_S3_PID=$!
    CKT_PIDS+=("$CKT_S3_PID")
    disown "$CKT_S3_PID" # the kill -9 at exit is expected: no "Killed" notice
    local i
    for i in $(seq 1 200); do
        [ -s "$CKT_TMP/s3.port" ] && break
        kill -0 "$CKT_S3_PID" 2>/dev/null || ckt_fail "s3server exited at start"
        sleep 0.05
    done
    [ -s "$CKT_TMP/s3.port" ] || ckt_fail "s3server did not write its port file"
    CKT_S3_URL=http://127.0.0.1:$(cat "$CKT_TMP/s3.port")
}

ckt_s3_stop() {
    kill -TERM "$CKT_S3_PID"
    local i
    for i in $(seq 1 100); do
        kill -0 "$CKT_S3_PID" 2>/dev/null || return 0
        sleep 0.05
    done
    ckt_fail "s3server did not exit on SIGTERM"
}

ckt_s3_env() {
    export AWS_ACCESS_KEY_ID=$CKT_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=S3RVER
    export AWS_REGION=$CKT_S3_REGION
    unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE AWS_DEFAULT_REGION
}

ckt_s3_url() {
    python3 -c 'import sys, urllib.parse as u; print(sys.argv[1] + "/" + u.quote(sys.argv[2], safe="") + "/" + u.quote(sys.argv[3], safe="/"))' \
        "$CKT_S3_URL" "$1" "$2"
}

ckt_s3_curl() {
    curl -sS --aws-sigv4 "aws:amz:$CKT_S3_REGION:s3" --user "$CKT_S3_ACCESS_KEY:${CKT_S3_SECRET:-S3RVER}" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

ckt_s3_put() {
    local code
    code=$(ckt_s3_curl -o /dev/null -w '%{http_code}' -T "$3" "$(ckt_s3_url "$1" "$2")") ||
        ckt_fail "s3 put $1/$2: curl failed"
    [ "$code" = 200 ] || ckt_fail "s3 put $1/$2: HTTP $code"
}
