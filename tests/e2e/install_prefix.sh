#!/usr/bin/env bash
# End to end: `cmake --install BUILD --prefix P` into a temporary prefix puts
# the binaries, the systemd units (naming P's ckptd), completion, man pages
# (when the build had scdoc) and docs where Debian and systemd expect them;
# the installed ckpt starts the installed ckptd (the one next to it) and
# fetches a file from nginx with it.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
p=$CKT_TMP/prefix
cmake --install "$CKPT_BUILD" --prefix "$p" > "$CKT_TMP/install.log" 2>&1 \
    || { cat "$CKT_TMP/install.log"; ckt_fail "cmake --install failed"; }

ckt_log "the files, where they belong"
sysdir=$(sed -n 's/^CKPTD_SYSTEMD_SYSTEM_UNIT_DIR:[A-Z]*=//p' "$CKPT_BUILD/CMakeCache.txt")
userdir=$(sed -n 's/^CKPTD_SYSTEMD_USER_UNIT_DIR:[A-Z]*=//p' "$CKPT_BUILD/CMakeCache.txt")
for f in bin/ckpt bin/ckptd "$userdir/ckptd.service" "$userdir/ckptd.socket" \
         "$sysdir/ckptd@.service" "$sysdir/ckptd@.socket" \
         share/bash-completion/completions/ckpt share/zsh/vendor-completions/_ckpt \
         share/doc/ckptd/README.md share/doc/ckptd/examples/config.json; do
    [ -f "$p/$f" ] || ckt_fail "not installed: $f"
done
[ -x "$p/bin/ckpt" ] && [ -x "$p/bin/ckptd" ] || ckt_fail "the binaries are not executable"
grep -qx "ExecStart=$p/bin/ckptd --socket %t/ckptd.sock" "$p/$userdir/ckptd.service" \
    || ckt_fail "the user unit does not run the installed ckptd: $(grep ExecStart "$p/$userdir/ckptd.service")"
grep -q "^ExecStart=$p/bin/ckptd " "$p/$sysdir/ckptd@.service" || ckt_fail "the system unit does not run the installed ckptd"
if command -v systemd-analyze > /dev/null; then
    # Unit syntax (the binaries exist, so ExecStart checks pass too).
    mkdir -p "$CKT_TMP/units" && cp "$p/$sysdir/ckptd@.service" "$CKT_TMP/units/ckptd@nobody.service"
    cp "$p/$sysdir/ckptd@.socket" "$CKT_TMP/units/ckptd@nobody.socket"
    for u in "$p/$userdir/ckptd.service" "$p/$userdir/ckptd.socket" "$CKT_TMP/units/ckptd@nobody.service" \
             "$CKT_TMP/units/ckptd@nobody.socket"; do
        out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$u" 2>&1 | grep -F "$(basename "$u")" \
              | grep -v "Failed to \|Unit .* not found\|bpf\|audit" || true)
        [ -z "$out" ] || ckt_fail "systemd-analyze verify $u: $out"
    done
fi
if [ -f "$CKPT_BUILD/man/ckpt.1.gz" ]; then
    for m in share/man/man1/ckpt.1.gz share/man/man8/ckptd.8.gz; do
        [ -f "$p/$m" ] || ckt_fail "not installed: $m"
    done
    zcat "$p/share/man/man1/ckpt.1.gz" | grep -q '^\.TH "ckpt" "1"' || ckt_fail "ckpt.1 is not roff"
    zcat "$p/share/man/man8/ckptd.8.gz" | grep -q '^\.TH "ckptd" "8"' || ckt_fail "ckptd.8 is not roff"
else
    ckt_log "the build had no scdoc: no man pages to check"
fi

ckt_log "the installed binaries"
"$p/bin/ckpt" --version | grep -qx "ckpt [0-9.]*" || ckt_fail "installed ckpt --version"
"$p/bin/ckptd" --version | grep -qx "ckptd [0-9.]*" || ckt_fail "installed ckptd --version"
mkdir -p "$CKT_TMP/www"
ckt_gen_file "$CKT_TMP/www/a.bin" 300000
ckt_nginx_start "$CKT_TMP/www"
unset CKPT_NO_AUTOSTART CKPTD_SOCKET
export XDG_STATE_HOME=$CKT_TMP/xdg-state XDG_RUNTIME_DIR=$CKT_TMP/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
"$p/bin/ckpt" fetch -o "$CKT_TMP/out" "$CKT_BASE_URL/a.bin" > "$CKT_TMP/fetch.out" 2> "$CKT_TMP/fetch.err" \
    || { cat "$CKT_TMP/fetch.err"; ckt_fail "installed ckpt fetch failed"; }
pid=$("$p/bin/ckpt" --no-autostart --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
CKT_PIDS+=("$pid")
[ "$(readlink "/proc/$pid/exe")" = "$p/bin/ckptd" ] || ckt_fail "ckpt started $(readlink "/proc/$pid/exe"), not $p/bin/ckptd"
grep -q "started ckptd (pid $pid)" "$CKT_TMP/fetch.err" || ckt_fail "no word of the started daemon"
cmp "$CKT_TMP/www/a.bin" "$CKT_TMP/out/a.bin" || ckt_fail "the fetched file differs"
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
echo "install_prefix: ok"
