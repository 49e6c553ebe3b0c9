#!/usr/bin/env bash
# The .deb round trip (CI, as root, on a machine where nothing else installed
# a package named ckptd): cpack -G DEB in BUILD, dpkg -i, the installed
# binaries (ckpt --version; a short ckpt fetch from a throwaway nginx, with
# the daemon started by ckpt's autostart: /usr/bin/ckptd next to
# /usr/bin/ckpt), the package's dependencies and files, then dpkg -r.
#   tests/deb_roundtrip.sh BUILD
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: deb_roundtrip.sh BUILD}" && pwd)
[ "$(id -u)" = 0 ] || { echo "deb_roundtrip: needs root (dpkg -i)" >&2; exit 2; }
if dpkg-query -W -f='${Status}' ckptd 2>/dev/null | grep -q installed; then
    echo "deb_roundtrip: a ckptd package is installed already; not touching it" >&2
    exit 2
fi
CKPT=/usr/bin/ckpt CKPTD=/usr/bin/ckptd
. "$src/tests/lib/common.sh"
ckt_tmpdir
installed=0
remove() {
    local rc=$?
    if [ $installed = 1 ]; then dpkg -r ckptd > /dev/null || rc=1; fi
    return $rc
}
trap 'remove; ckt_cleanup' EXIT

(cd "$build" && cpack -G DEB > "$CKT_TMP/cpack.log" 2>&1) || { cat "$CKT_TMP/cpack.log"; ckt_fail "cpack -G DEB"; }
deb=$(ls "$build"/ckptd_*.deb | head -n 1)
ckt_log "built $(basename "$deb")"
deps=$(dpkg-deb -f "$deb" Depends)
for lib in libuv1 libcurl4 libzstd1 libjansson4 libsqlite3-0 libarchive13 libxxhash0 libssl3; do
    grep -q "\b$lib\b" <<< "$deps" || ckt_fail "Depends has no $lib: $deps"
done
dpkg -i "$deb" > "$CKT_TMP/dpkg.log" 2>&1 || { cat "$CKT_TMP/dpkg.log"; ckt_fail "dpkg -i"; }
installed=1
for f in /usr/bin/ckpt /usr/bin/ckptd /usr/share/bash-completion/completions/ckpt \
         /usr/share/zsh/vendor-completions/_ckpt /usr/share/doc/ckptd/README.md; do
    [ -f "$f" ] || ckt_fail "the package did not install $f"
done
dpkg -L ckptd | grep -q 'systemd/user/ckptd.socket$' || ckt_fail "no user socket unit in the package"
dpkg -L ckptd | grep -q 'systemd/system/ckptd@.service$' || ckt_fail "no system unit in the package"
grep -rqx "ExecStart=/usr/bin/ckptd --socket %t/ckptd.sock" $(dpkg -L ckptd | grep 'systemd/user/ckptd.service$') \
    || ckt_fail "the packaged user unit does not run /usr/bin/ckptd"
if [ -f "$build/man/ckpt.1.gz" ]; then
    [ -f /usr/share/man/man1/ckpt.1.gz ] && [ -f /usr/share/man/man8/ckptd.8.gz ] || ckt_fail "no man pages"
fi

/usr/bin/ckpt --version | grep -qx "ckpt [0-9.]*" || ckt_fail "installed ckpt --version"
mkdir -p "$CKT_TMP/www"
ckt_gen_file "$CKT_TMP/www/a.bin" 500000
ckt_nginx_start "$CKT_TMP/www"
unset CKPT_NO_AUTOSTART CKPTD_SOCKET
export XDG_STATE_HOME=$CKT_TMP/xdg-state XDG_RUNTIME_DIR=$CKT_TMP/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
/usr/bin/ckpt fetch -o "$CKT_TMP/out" "$CKT_BASE_URL/a.bin" > /dev/null 2> "$CKT_TMP/fetch.err" \
    || { cat "$CKT_TMP/fetch.err"; ckt_fail "installed ckpt fetch"; }
pid=$(/usr/bin/ckpt --no-autostart --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
CKT_PIDS+=("$pid")
[ "$(readlink "/proc/$pid/exe")" = /usr/bin/ckptd ] || ckt_fail "the daemon is not /usr/bin/ckptd"
cmp "$CKT_TMP/www/a.bin" "$CKT_TMP/out/a.bin" || ckt_fail "the fetched file differs"
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done

dpkg -r ckptd > /dev/null || ckt_fail "dpkg -r"
installed=0
[ ! -e /usr/bin/ckpt ] && [ ! -e /usr/bin/ckptd ] || ckt_fail "dpkg -r left the binaries"
echo "deb_roundtrip: ok"
