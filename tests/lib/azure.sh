# Helpers for tests against a real, Shared Key-checking Azure Blob service:
# Azurite 3 (tests/azure, npm) under node. Source it after common.sh, once
# ckt_tmpdir has run. The account is the emulator's well-known one,
# devstoreaccount1, with its published key (engine/azure.h CKD_AZURE_DEV_KEY).
#
#   ckt_azure_start [--debug]  -> Azurite's blob service on 127.0.0.1 (a port
#                                 of its choosing), data under $CKT_TMP; exports
#                                 CKT_AZURE_URL (the path-style endpoint,
#                                 http://127.0.0.1:PORT/devstoreaccount1) and
#                                 CKT_AZURE_CONNECTION_STRING; sets
#                                 CKT_AZURE_PID, CKT_AZURE_DATA. Runs npm
#                                 install in tests/azure when its node_modules
#                                 are missing or broken. --debug: every request
#                                 and its headers go to $CKT_AZURE_DEBUG.
#   ckt_azure_stop             -> SIGTERM; fails the test unless it exits soon
#   ckt_azure_env [KEY]        -> exports AZURE_STORAGE_CONNECTION_STRING for a
#                                 client (ckptd: start it with CKT_KEEP_AZURE=1),
#                                 with KEY (base64) instead of the right one if
#                                 given; unsets the other AZURE_STORAGE_*

CKT_AZURE_ACCOUNT=devstoreaccount1
CKT_AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# Installs the emulator's node modules when they cannot be loaded. Under a
# lock (on package.json): parallel tests never see another's half-done install.
ckt_azure_install() {
    local dir=$CKPT_SRC/tests/azure
    command -v npm >/dev/null || ckt_fail "npm is missing: run tests/install-deps.sh"
    (
        flock 9
        # npm writes node_modules/.package-lock.json when an install completes.
        if [ ! -f "$dir/node_modules/azurite/dist/src/blob/main.js" ] ||
            [ ! -f "$dir/node_modules/.package-lock.json" ]; then
            npm install --no-audit --no-fund --prefix "$dir" >>"$CKT_TMP/npm.log" 2>&1
        fi
    ) 9<"$dir/package.json" || ckt_fail "npm install in tests/azure failed (see $CKT_TMP/npm.log)"
}

ckt_azure_start() {
    command -v node >/dev/null || ckt_fail "node is missing: run tests/install-deps.sh"
    ckt_azure_install
    CKT_AZURE_DATA=$CKT_TMP/azurite
    mkdir -p "$CKT_AZURE_DATA"
    local log=$CKT_TMP/azurite.log debug=()
    : >"$log"
    if [ "${1:-}" = --debug ]; then
        CKT_AZURE_DEBUG=$CKT_TMP/azurite.debug # not *.log: too long to print on failure
        debug=(--debug "$CKT_AZURE_DEBUG")
    fi
    # Port 0: the kernel picks a free one and Azurite prints it. No telemetry
    # (it would try to reach the internet); any x-ms-version is accepted.
    node "$CKPT_SRC/tests/azure/node_modules/azurite/dist/src/blob/main.js" \
        --blobHost 127.0.0.1 --blobPort 0 --location "$CKT_AZURE_DATA" \
        --silent --skipApiVersionCheck --disableTelemetry "${debug[@]}" >>"$log" 2>&1 &
    CKT_AZURE_PID=$!
    CKT_PIDS+=("$CKT_AZURE_PID")
    disown "$CKT_AZURE_PID" # the kill -9 at exit is expected: no "Killed" notice
    local i port=
    for i in $(seq 1 400); do
        port=$(sed -n 's|.*successfully listens on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log")
        [ -n "$port" ] && break
        kill -0 "$CKT_AZURE_PID" 2>/dev/null || ckt_fail "azurite exited at start"
        sleep 0.05
    done
    [ -n "$port" ] || ckt_fail "azurite did not say where it listens"
    export CKT_AZURE_URL=http://127.0.0.1:$port/$CKT_AZURE_ACCOUNT
    # Listening: any HTTP answer (an anonymous request gets an error) is ready.
    for i in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$CKT_AZURE_URL/?comp=list")" != 000 ] && break
        sleep 0.05
    done
    export CKT_AZURE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$CKT_AZURE_ACCOUNT;AccountKey=$CKT_AZURE_KEY;BlobEndpoint=$CKT_AZURE_URL;"
}

ckt_azure_stop() {
    kill -TERM "$CKT_AZURE_PID"
    local i
    for i in $(seq 1 100); do
        kill -0 "$CKT_AZURE_PID" 2>/dev/null || return 0
        sleep 0.05
    done
    ckt_fail "azurite did not exit on SIGTERM"
}

ckt_azure_env() {
    local key=${1:-$CKT_AZURE_KEY}
    export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$CKT_AZURE_ACCOUNT;AccountKey=$key;BlobEndpoint=$CKT_AZURE_URL;"
    unset AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN
}
