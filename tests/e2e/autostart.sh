#!/usr/bin/env bash
# End to end: ckpt starts ckptd when none answers (as gpg starts gpg-agent).
# --no-autostart and CKPT_NO_AUTOSTART=1 keep the old error and start
# nothing; without them `ckpt status` starts one (the ckptd next to ckpt),
# says once on stderr where its log goes, and answers; four clients racing on
# a fresh socket end with exactly one daemon. Every daemon started here is
# killed at the end (its pid comes from `ckpt status --json`).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
unset CKPT_NO_AUTOSTART CKPTD_SOCKET DET_MASTER DET_USER DET_PASS DET_USER_TOKEN
export XDG_STATE_HOME=$CKT_TMP/xdg-state XDG_RUNTIME_DIR=$CKT_TMP/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
sock=$XDG_RUNTIME_DIR/ckptd.sock
log=$XDG_STATE_HOME/ckptd/ckptd.log
[ -x "$(dirname "$CKPT")/ckptd" ] || ckt_fail "no ckptd next to '$CKPT'"

# The daemons (not children of this shell) serving a socket, by /proc.
daemons_on() {
    python3 - "$1" <<'PY'
import os, sys
sock = sys.argv[1]
n = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        continue
    if argv and os.path.basename(argv[0]) == b"ckptd" and sock.encode() in argv:
        n += 1
print(n)
PY
}
# Registers the daemon answering on socket $1 for the cleanup (not in a
# subshell: CKT_PIDS must see it); its pid in $adopted.
adopt() {
    adopted=$("$CKPT" --no-autostart --socket "$1" --json status |
              python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    CKT_PIDS+=("$adopted")
}

ckt_log "--no-autostart and CKPT_NO_AUTOSTART=1: the old error, nothing started"
rc=0; "$CKPT" --no-autostart status > "$CKT_TMP/off.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "cannot reach ckptd at '$sock': is it running?" "$CKT_TMP/off.out" \
    || { cat "$CKT_TMP/off.out"; ckt_fail "--no-autostart: expected the old error"; }
rc=0; CKPT_NO_AUTOSTART=1 "$CKPT" status > "$CKT_TMP/off2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "is it running?" "$CKT_TMP/off2.out" \
    || { cat "$CKT_TMP/off2.out"; ckt_fail "CKPT_NO_AUTOSTART=1: expected the old error"; }
[ ! -e "$sock" ] && [ "$(daemons_on "$sock")" = 0 ] || ckt_fail "a daemon was started anyway"

ckt_log "no daemon: ckpt status starts one and answers"
"$CKPT" status > "$CKT_TMP/first.out" 2> "$CKT_TMP/first.err" \
    || { cat "$CKT_TMP/first.err"; ckt_fail "ckpt status with autostart failed"; }
adopt "$sock"; pid=$adopted
grep -q "^ckptd .*pid $pid" "$CKT_TMP/first.out" || { cat "$CKT_TMP/first.out"; ckt_fail "no status"; }
grep -q "^ckpt: started ckptd (pid $pid); its log is '$log'$" "$CKT_TMP/first.err" \
    || { cat "$CKT_TMP/first.err"; ckt_fail "no word of where the log goes"; }
[ "$(wc -l < "$CKT_TMP/first.err")" = 1 ] || { cat "$CKT_TMP/first.err"; ckt_fail "more than one line"; }
grep -q "ready (pid $pid)" "$log" || ckt_fail "the daemon's log is not in '$log'"
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$(dirname "$CKPT")/ckptd")" ] \
    || ckt_fail "the daemon started is not the one next to ckpt"
[ -d "$XDG_STATE_HOME/ckptd" ] && [ -f "$XDG_STATE_HOME/ckptd/ckptd.db" ] \
    || ckt_fail "the started daemon does not keep its state in \$XDG_STATE_HOME/ckptd"
"$CKPT" status > /dev/null 2> "$CKT_TMP/second.err"
[ ! -s "$CKT_TMP/second.err" ] || { cat "$CKT_TMP/second.err"; ckt_fail "said it again"; }
[ "$(daemons_on "$sock")" = 1 ] || ckt_fail "expected one daemon on '$sock'"
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && ckt_fail "the started daemon did not stop on SIGTERM"

ckt_log "four clients at once on a fresh socket: exactly one daemon"
race=$CKT_TMP/race/ckptd.sock   # its directory does not exist yet either
pids=()
for k in 1 2 3 4; do
    "$CKPT" --socket "$race" --json status > "$CKT_TMP/race$k.out" 2> "$CKT_TMP/race$k.err" &
    pids+=($!)
done
for k in 1 2 3 4; do
    wait "${pids[$((k - 1))]}" || { cat "$CKT_TMP/race$k.err"; ckt_fail "racing client $k failed"; }
done
adopt "$race"; rpid=$adopted
[ "$(daemons_on "$race")" = 1 ] || ckt_fail "racing clients left $(daemons_on "$race") daemons"
started=$(cat "$CKT_TMP"/race?.err | grep -c "^ckpt: started ckptd (pid $rpid)" || true)
[ "$started" = 1 ] || { cat "$CKT_TMP"/race?.err; ckt_fail "expected one 'started', got $started"; }
for k in 1 2 3 4; do
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$CKT_TMP/race$k.out")
    [ "$got" = "$rpid" ] || ckt_fail "client $k talked to pid $got, not $rpid"
done

ckt_log "a daemon that cannot start: a clear error naming its log"
bad=$CKT_TMP/bad/ckptd.sock
mkdir -p "$CKT_TMP/bad"
rc=0; XDG_STATE_HOME=/proc/nonexistent "$CKPT" --socket "$bad" status > "$CKT_TMP/bad.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "but it exited with status 1; see its log '$bad.log'" "$CKT_TMP/bad.out" \
    || { cat "$CKT_TMP/bad.out"; ckt_fail "a daemon that exits at start: expected a clear error"; }
grep -q "cannot" "$bad.log" || ckt_fail "the failed daemon's log says nothing"
echo "autostart: ok"
