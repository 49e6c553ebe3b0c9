#!/usr/bin/env bash
# End to end, local checks: `ckpt verify` on a checkpoint ckptd downloaded
# (all OK; a flipped byte, a truncated and a removed file reported as
# FAILED/MISSING, exit 1; a shipped checksums.xxh128 in GNU and BSD form; a
# 64-bit line refused), and `ckpt checkpoint seal`: a damaged copy is refused,
# a fresh one puts every file's XXH3-128 (equal to `xxhsum -H2`) into the
# checkpoint's metadata under "ckptd.xxh128", and a later download still
# verifies against them.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
u=$(ckt_det_q 'd["demo"]["top3"][0]')
cd "$CKT_TMP"

# The files a manifest lists (unescaped names do here: the demo has none
# with a newline or a backslash).
listed() { sed -E 's/^[0-9a-f]{32}  //' "$1/.ckptd.xxh128"; }
# flip_byte FILE: inverts the middle byte in place.
flip_byte() {
    python3 -c 'import os,sys
p=sys.argv[1]; n=os.path.getsize(p); f=open(p,"r+b"); f.seek(n//2); b=f.read(1); f.seek(n//2); f.write(bytes([b[0]^0xff])); f.close()' "$1"
}

ckt_log "verify a fresh download: every file OK, exit 0"
out=$(ckpt checkpoint download "$u" -o "$CKT_TMP/copy" -q)
[ "$out" = "$CKT_TMP/copy" ] || ckt_fail "download -q printed '$out'"
n=$(listed copy | wc -l)
[ "$n" -ge 3 ] || ckt_fail "the demo checkpoint has only $n files"
ckpt verify copy > v.out 2> v.err || { cat v.out v.err; ckt_fail "verify of a fresh copy failed"; }
[ ! -s v.err ] || { cat v.err; ckt_fail "verify of a fresh copy wrote to stderr"; }
grep -qx "all $n files in 'copy' match '.ckptd.xxh128'" v.out || { cat v.out; ckt_fail "summary"; }
ckpt verify -v copy > vv.out
[ "$(grep -c ': OK$' vv.out)" -eq "$n" ] || { cat vv.out; ckt_fail "-v does not list every file OK"; }
ckpt --json verify copy | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["verified"] is True and r["manifest"] == ".ckptd.xxh128", r
assert r["ok"] == int(sys.argv[1]) and r["failed"] == r["missing"] == r["bad_lines"] == 0, r
assert all(f["status"] == "ok" and len(f["xxh128"]) == 32 for f in r["files"]), r
' "$n" || ckt_fail "verify --json"

# Three non-empty files to damage, largest first.
mapfile -t victims < <(cd copy && listed . | while IFS= read -r f; do
    [ -s "$f" ] && printf '%s\t%s\n' "$(stat -c %s "$f")" "$f"; done | sort -rn | cut -f2 | head -3)
[ "${#victims[@]}" -eq 3 ] || ckt_fail "fewer than three non-empty files: ${victims[*]}"
flipped=${victims[0]} truncated=${victims[1]} removed=${victims[2]}

ckt_log "a flipped byte in '$flipped': FAILED, exit 1"
flip_byte "copy/$flipped"
rc=0; ckpt verify copy > f.out 2> f.err || rc=$?
[ $rc -eq 1 ] || { cat f.out f.err; ckt_fail "verify exited $rc after a flipped byte, expected 1"; }
grep -qxF "$flipped: FAILED" f.out || { cat f.out; ckt_fail "the flipped file is not named FAILED"; }
[ "$(wc -l < f.out)" -eq 1 ] || { cat f.out; ckt_fail "files that match were listed without -v"; }
grep -q "'copy' does not match '.ckptd.xxh128' ($n files listed): 1 failed" f.err \
    || { cat f.err; ckt_fail "failure summary"; }
(cd copy && xxhsum -q -c .ckptd.xxh128 > /dev/null 2>&1) && ckt_fail "xxhsum -c disagrees: it passes"

ckt_log "'$truncated' truncated and '$removed' removed: FAILED and MISSING"
truncate -s 1 "copy/$truncated"
rm "copy/$removed"
rc=0; ckpt verify copy > t.out 2> t.err || rc=$?
[ $rc -eq 1 ] || ckt_fail "verify exited $rc, expected 1"
grep -qxF "$flipped: FAILED" t.out && grep -qxF "$truncated: FAILED" t.out \
    && grep -qxF "$removed: MISSING" t.out || { cat t.out; ckt_fail "per-file report"; }
grep -q "2 failed, 1 missing" t.err || { cat t.err; ckt_fail "summary counts"; }
ckpt --json verify copy > t.json && ckt_fail "verify --json exited 0 for a damaged copy"
python3 -c '
import json, sys
r = json.load(open("t.json"))
by = {f["path"]: f for f in r["files"]}
assert r["verified"] is False and r["failed"] == 2 and r["missing"] == 1, r
assert by[sys.argv[1]]["status"] == "failed" and by[sys.argv[1]]["actual"] != by[sys.argv[1]]["xxh128"]
assert by[sys.argv[2]]["status"] == "failed" and by[sys.argv[3]]["status"] == "missing"
' "$flipped" "$truncated" "$removed" || ckt_fail "verify --json of a damaged copy"

ckt_log "usage errors and a directory without a manifest exit 2"
rc=0; ckpt verify > /dev/null 2>&1 || rc=$?; [ $rc -eq 2 ] || ckt_fail "no DIR: exit $rc"
rc=0; ckpt verify copy extra > /dev/null 2>&1 || rc=$?; [ $rc -eq 2 ] || ckt_fail "two DIRs: exit $rc"
rc=0; ckpt verify --bogus copy > /dev/null 2>&1 || rc=$?; [ $rc -eq 2 ] || ckt_fail "bad option: exit $rc"
mkdir -p bare
rc=0; ckpt verify bare > /dev/null 2> b.err || rc=$?
[ $rc -eq 2 ] && grep -q "'bare' has no checksum manifest" b.err || { cat b.err; ckt_fail "no manifest: exit $rc"; }
rc=0; ckpt verify nowhere > /dev/null 2>&1 || rc=$?; [ $rc -eq 2 ] || ckt_fail "no such DIR: exit $rc"

ckt_log "a shipped checksums.xxh128: GNU and BSD lines; 64-bit lines are unsupported"
ckpt checkpoint download "$u" -o "$CKT_TMP/shipped" -q > /dev/null
mv shipped/.ckptd.xxh128 gnu.list
(cd shipped && sed -E 's/^([0-9a-f]{32})  (.*)$/XXH128 (\2) = \1/' ../gnu.list | head -2 > checksums.xxh128 \
    && tail -n +3 ../gnu.list | sed 's/$/\r/' >> checksums.xxh128)
grep -q "match 'checksums.xxh128'" <(ckpt verify shipped) || ckt_fail "a shipped GNU/BSD/CRLF manifest"
(cd shipped && xxhsum -H1 "$flipped" 2> /dev/null >> checksums.xxh128)
rc=0; ckpt verify shipped > s.out 2> s.err || rc=$?
[ $rc -eq 1 ] && grep -q "line $((n + 1)): 64-bit hash (XXH64 or XXH3_64) is not supported" s.err \
    || { cat s.out s.err; ckt_fail "a 64-bit line: exit $rc"; }
echo "../../etc/passwd" | sed "s/^/$(ckt_xxh128 /etc/passwd)  /" > shipped/checksums.xxh128
rc=0; ckpt verify shipped > s.out 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -qF "../../etc/passwd: FAILED (unsafe path: '..' segment)" s.out \
    || { cat s.out; ckt_fail "a path out of DIR: exit $rc"; }

ckt_log "seal refuses a copy that does not verify, and a directory without .ckptd.xxh128"
rc=0; ckpt checkpoint seal "$u" copy > r.out 2> r.err || rc=$?
[ $rc -eq 1 ] && grep -q "refusing to seal '$u'" r.err && grep -qF "$removed: MISSING" r.err \
    || { cat r.out r.err; ckt_fail "seal of a damaged copy: exit $rc"; }
rc=0; ckpt checkpoint seal "$u" shipped > /dev/null 2> r.err || rc=$?
[ $rc -eq 2 ] && grep -q "no '.ckptd.xxh128' manifest" r.err || { cat r.err; ckt_fail "seal without manifest: exit $rc"; }
d=$(ckpt --json checkpoint describe "$u")
grep -q '"ckptd.xxh128"' <<< "$d" && ckt_fail "a refused seal stored hashes"

ckt_log "seal a fresh copy: every file's xxhsum -H2 in the metadata under ckptd.xxh128"
ckpt checkpoint download "$u" -o "$CKT_TMP/copy2" -q > /dev/null
ckpt verify copy2 > /dev/null || ckt_fail "the fresh copy does not verify"
out=$(ckpt checkpoint seal "$u" copy2)
[ "$out" = "sealed $u: $n files" ] || ckt_fail "seal printed '$out'"
listed copy2 | while IFS= read -r f; do printf '%s\t%s\n' "$f" "$(ckt_xxh128 "copy2/$f")"; done > want.tsv
[ "$(wc -l < want.tsv)" -eq "$n" ] || ckt_fail "xxhsum hashed $(wc -l < want.tsv) of $n files"
check_sealed() { # FILE: a checkpoint.get/add_metadata result or describe --json
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
cp = r.get("checkpoint", r)
got = cp["metadata"]["ckptd.xxh128"]
want = dict(l.rstrip("\n").split("\t") for l in open("want.tsv"))
assert got == want, (got, want)
assert cp["metadata"].get("framework"), "other metadata lost"
' "$1"
}
ckpt --json checkpoint describe "$u" > d.json
check_sealed d.json || ckt_fail "describe does not show every file's hash under ckptd.xxh128"

ckt_log "seal --json prints the daemon's reply; the default DIR is checkpoints/UUID"
ckpt checkpoint download "$u" -q > /dev/null
[ -f "checkpoints/$u/.ckptd.xxh128" ] || ckt_fail "the default download target"
ckpt --json checkpoint seal "$u" > sj.json
check_sealed sj.json || ckt_fail "seal --json"

ckt_log "a download after sealing is checked against the sealed hashes and verifies"
ckpt checkpoint download "$u" -o "$CKT_TMP/copy3" -q > /dev/null
ckpt verify copy3 > /dev/null || ckt_fail "a download after sealing does not verify"

ckt_daemon_stop
echo "verify_seal: ok"
