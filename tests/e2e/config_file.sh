#!/usr/bin/env bash
# End to end: the daemon's settings file. A bad key and a wrong type (or
# range) each stop the daemon at start with a message naming the key, as do
# a missing --config file and a file that is not JSON. A good file found
# through $XDG_CONFIG_HOME sets settings and start options; the command line
# beats the file; values set with `ckpt config set` beat the file and survive
# a restart, while the keys never set keep following the file.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
unset DET_MASTER
export XDG_CONFIG_HOME=$CKT_TMP/xdg-config
mkdir -p "$XDG_CONFIG_HOME/ckptd"
cfg=$XDG_CONFIG_HOME/ckptd/config.json

# refuses FILE-CONTENT WORDS...: ckptd --config exits 2 at once, naming them.
refuses() {
    local content=$1; shift
    printf '%s\n' "$content" > "$CKT_TMP/bad.json"
    local rc=0
    timeout 10 "$CKPTD" --config "$CKT_TMP/bad.json" --socket "$CKT_TMP/bad.sock" \
        --state-dir "$CKT_TMP/bad-state" > "$CKT_TMP/bad.out" 2>&1 || rc=$?
    [ $rc -eq 2 ] || { cat "$CKT_TMP/bad.out"; ckt_fail "ckptd did not stop on $content (rc $rc)"; }
    [ ! -e "$CKT_TMP/bad.sock" ] || ckt_fail "ckptd bound its socket despite $content"
    local w
    for w in "$@"; do
        grep -qF -- "$w" "$CKT_TMP/bad.out" || { cat "$CKT_TMP/bad.out"; ckt_fail "no '$w' in the error for $content"; }
    done
}
ckt_log "bad files stop the daemon, naming the key"
refuses '{"max_conections": 4}' "unknown config key 'max_conections'" "$CKT_TMP/bad.json"
refuses '{"max_connections": "many"}' "'max_connections' must be an integer from 1 to 256"
refuses '{"max_connections": 4.5}' "'max_connections' must be an integer"
refuses '{"max_connections": 9999}' "'max_connections' must be an integer from 1 to 256"
refuses '{"socket": 5}' "'socket' must be a non-empty string"
refuses '{"metrics_interval": 0}' "'metrics_interval' must be an integer from 1 to 3600"
refuses '{"log_level": "loud"}' "unknown log_level 'loud'"
refuses '[1, 2]' "is not a JSON object"
refuses '{"retry_max": 3,' "bad.json' line"
refuses '{"retry_max": 3, "retry_max": 4}' "retry_max"
rc=0; "$CKPTD" --config "$CKT_TMP/none.json" --socket "$CKT_TMP/x.sock" --state-dir "$CKT_TMP/x" \
    > "$CKT_TMP/none.out" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q "cannot read '$CKT_TMP/none.json'" "$CKT_TMP/none.out" \
    || { cat "$CKT_TMP/none.out"; ckt_fail "a missing --config file must stop the daemon"; }

ckt_log "a good file from \$XDG_CONFIG_HOME"
cat > "$cfg" <<EOF
{"max_connections": 3, "retry_max": 7, "log_level": "debug",
 "metrics_file": "$CKT_TMP/from-file.prom", "metrics_interval": 1,
 "socket": "$CKT_TMP/from-file.sock"}
EOF
CKT_LOG_LEVEL=warn ckt_daemon_start   # --socket and --log-level given: they win
conf() { ckpt --json config | python3 -c "import json,sys; print(json.load(sys.stdin)['config']['$1'])"; }
[ "$(conf max_connections)" = 3 ] || ckt_fail "max_connections did not come from the file"
[ "$(conf retry_max)" = 7 ] || ckt_fail "retry_max did not come from the file"
[ ! -e "$CKT_TMP/from-file.sock" ] || ckt_fail "the file's socket beat --socket"
grep -q "settings from '$cfg'" "$CKT_TMP/ckptd.log" && ckt_fail "--log-level warn did not beat the file's debug"
for _ in $(seq 1 30); do [ -f "$CKT_TMP/from-file.prom" ] && break; sleep 0.1; done
[ -f "$CKT_TMP/from-file.prom" ] || ckt_fail "metrics_file from the settings file not written"

ckt_log "config set beats the file, across a restart; other keys follow the file"
ckpt config set max_connections=5 > /dev/null
ckt_daemon_stop
cat > "$cfg" <<EOF
{"max_connections": 2, "retry_max": 9, "log_level": "info"}
EOF
ckt_daemon_start
[ "$(conf max_connections)" = 5 ] || ckt_fail "the value set with config set did not survive the restart"
[ "$(conf retry_max)" = 9 ] || ckt_fail "retry_max no longer follows the file after a config set"
grep -q "settings from '$cfg'" "$CKT_TMP/ckptd.log" || ckt_fail "the daemon did not log which file it read"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d == {"max_connections": 5} else 1)' \
    "$CKT_TMP/state/config.json" || ckt_fail "config.set persisted more than the key it set: $(cat "$CKT_TMP/state/config.json")"
ckt_daemon_stop
echo "config_file: ok"
