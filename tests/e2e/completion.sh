#!/usr/bin/env bash
# End to end: bash completion (contrib/completion/ckpt.bash) completes every
# command of `ckpt --help`, each command's flags as its --help lists them, and
# job ids, follow ids and setting names from a running daemon; with no daemon
# it completes no ids and starts none. zsh's (_ckpt) is checked for syntax
# when zsh is installed.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
unset CKPT_NO_AUTOSTART   # completion must never start a daemon by itself
export XDG_STATE_HOME=$CKT_TMP/xdg-state XDG_RUNTIME_DIR=$CKT_TMP/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
. "$CKPT_SRC/contrib/completion/ckpt.bash"

# comp WORD...: the completions of the last word after "ckpt WORD...".
comp() {
    COMP_WORDS=("$CKPT" --socket "$CKT_SOCK" "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _ckpt
    printf '%s\n' "${COMPREPLY[@]}" | sort -u
}
has() { grep -qx -- "$1" <<< "$2" || ckt_fail "no '$1' in the completions of $3: $(echo $2)"; }
CKT_SOCK=$CKT_TMP/ckptd.sock

ckt_log "commands and flags as --help lists them"
cmds=$(comp "")
for c in status fetch jobs job pause resume cancel watch config verify checkpoint trial experiment \
         prefetch pin unpin pins; do has "$c" "$cmds" "ckpt"; done
flags=$(comp -)
for f in --socket --json --no-autostart --help --version; do has "$f" "$flags" "ckpt -"; done
for c in "status" "fetch" "jobs" "job" "watch" "config" "verify" \
         "checkpoint download" "checkpoint describe" "checkpoint delete" "checkpoint rm" \
         "trial download" "trial list-checkpoints" "experiment download" \
         "experiment list-checkpoints" "prefetch trial" "prefetch experiment"; do
    # shellcheck disable=SC2086
    got=$(comp $c -)
    # One help text for both prefetch forms: their flags together.
    case $c in prefetch*) got=$(comp prefetch trial -; comp prefetch experiment -) ;; esac
    for f in $("$CKPT" $c --help | grep -oP '^\s+(-[a-zA-Z], )?\K--?[a-zA-Z][a-z0-9-]*|^\s+-[a-zA-Z], \K--[a-z][a-z0-9-]*' | sort -u); do
        has "$f" "$got" "'ckpt $c -'"
    done
done
has download "$(comp checkpoint "")" "ckpt checkpoint"
has list-checkpoints "$(comp trial "")" "ckpt trial"
has stop "$(comp prefetch "")" "ckpt prefetch"
has master "$(comp checkpoint download --mode "")" "--mode"
has failed "$(comp jobs --state "")" "--state"

ckt_log "no daemon: no ids, and none started"
[ -z "$(comp job "")" ] || ckt_fail "job ids without a daemon"
[ ! -e "$CKT_SOCK" ] || ckt_fail "completion started a daemon"

ckt_log "job ids and setting names from the daemon"
mkdir -p "$CKT_TMP/www"
ckt_gen_file "$CKT_TMP/www/a.bin" 1000
ckt_nginx_start "$CKT_TMP/www"
# The test's own daemon: its readiness probe must not autostart another one.
CKPT_NO_AUTOSTART=1 ckt_daemon_start
id1=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/a.bin")
id2=$(ckpt fetch --detach -o "$CKT_TMP/out2" "$CKT_BASE_URL/a.bin")
ids=$(comp job "")
has "$id1" "$ids" "ckpt job"
has "$id2" "$ids" "ckpt job"
has "$id1" "$(comp cancel "")" "ckpt cancel"
has max_connections= "$(comp config set "")" "ckpt config set"
has bandwidth_limit= "$(comp config set b)" "ckpt config set b"

if command -v zsh > /dev/null; then
    zsh -n "$CKPT_SRC/contrib/completion/_ckpt" || ckt_fail "_ckpt: zsh syntax error"
    ckt_log "zsh: _ckpt parses"
else
    ckt_log "zsh not installed: _ckpt not checked"
fi
ckt_daemon_stop
echo "completion: ok"
