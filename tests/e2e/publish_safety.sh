#!/usr/bin/env bash
# End to end, what publishing may touch: downloads into a directory that
# already holds the user's files (det's `-o DIR`) never delete or replace
# them; a copy is "present" only when it is of the same checkpoint and agrees
# with the checkpoint's sealed hashes; staging directories have names nobody
# can take first, and a symlink or a user's directory in a staging-like
# place is never followed or removed.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
data=$CKT_DET_DATA
cd "$CKT_TMP"

add_cp() { # FILES_JSON: a new COMPLETED checkpoint of trial 1; prints its uuid
    curl -sf -X POST -d "{\"files\":$1}" "$CKT_DET_URL/_ctl/trials/1/checkpoints" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])'
}
same_files() { # DIR UUID: every file of the checkpoint's storage is in DIR, equal
    (cd "$data/$2" && find . -type f) | while IFS= read -r f; do
        cmp -s "$data/$2/$f" "$1/$f" || ckt_fail "$1/$f is not checkpoint $2's"
    done
}
no_staging() { # DIR...
    ! find "$@" -maxdepth 1 -name '.*partial*' | grep -q . || ckt_fail "a staging directory was left in $*"
}

ua=$(add_cp '{"w.bin":300000,"sub/x.bin":5000}')
ub=$(add_cp '{"w.bin":300000,"sub/x.bin":5000}') # same names and sizes, other bytes
uc=$(add_cp '{"w.bin":400000,"sub/x.bin":5000}') # same names, another size
cmp -s "$data/$ua/w.bin" "$data/$ub/w.bin" && ckt_fail "the stand-in gave two checkpoints the same bytes"

ckt_log "-o DIR holding a user's file: the checkpoint lands beside it"
mkdir D
echo "four years of work" > D/thesis.txt
ckpt checkpoint download "$ua" -o "$CKT_TMP/D" -q > /dev/null || ckt_fail "first download into D failed"
same_files D "$ua"
[ "$(cat D/thesis.txt)" = "four years of work" ] || ckt_fail "thesis.txt changed"
grep -q "\"$ua\"" D/.ckptd.json || ckt_fail "D/.ckptd.json does not name $ua"

ckt_log "another checkpoint with other sizes into the same D: refused before fetching, nothing lost"
rc=0; ckpt checkpoint download "$uc" -o "$CKT_TMP/D" > c.out 2> c.err || rc=$?
[ $rc -ne 0 ] || ckt_fail "a download over another checkpoint's files succeeded"
grep -q "is not part of ckptd's copy of this checkpoint" c.err || { cat c.err; ckt_fail "the error does not say why"; }
[ -f D/thesis.txt ] && [ "$(cat D/thesis.txt)" = "four years of work" ] || ckt_fail "thesis.txt lost"
same_files D "$ua"
no_staging D "$CKT_TMP"

ckt_log "a checkpoint with the same names and sizes is not 'present'; publishing it over D is refused"
rc=0; ckpt checkpoint download "$ub" -o "$CKT_TMP/D" > b.out 2> b.err || rc=$?
grep -q "already present" b.err && ckt_fail "checkpoint $ub reported present in a copy of $ua"
[ $rc -ne 0 ] || ckt_fail "a download over another checkpoint's bytes succeeded"
grep -q "is not part of ckptd's copy of this checkpoint" b.err || { cat b.err; ckt_fail "the error does not say why"; }
same_files D "$ua"
[ "$(cat D/thesis.txt)" = "four years of work" ] || ckt_fail "thesis.txt changed"

ckt_log "the same checkpoint again into D: present, thesis.txt kept"
ckpt checkpoint download "$ua" -o "$CKT_TMP/D" > a2.out 2> a2.err || { cat a2.err; ckt_fail "re-download failed"; }
grep -q "already present" a2.err || { cat a2.err; ckt_fail "ckptd's own copy was not found present"; }
[ "$(cat D/thesis.txt)" = "four years of work" ] || ckt_fail "thesis.txt changed"

ckt_log "a damaged copy of ours beside a user's file: repaired in place, the user's file kept"
printf 'X' | dd of=D/w.bin bs=1 seek=1000 conv=notrunc status=none
ckpt checkpoint download "$ua" -o "$CKT_TMP/D" -q > /dev/null || ckt_fail "repair failed"
same_files D "$ua"
[ "$(cat D/thesis.txt)" = "four years of work" ] || ckt_fail "thesis.txt lost by the repair"

ckt_log "a copy that disagrees with the checkpoint's sealed hashes is not 'present'"
# A copy of ua laid out as ckptd's own (a directory named by the uuid, with
# a manifest of its files) under ub's uuid; ub's real hashes are sealed.
mkdir -p old
ckpt checkpoint download "$ua" -o "$CKT_TMP/old/$ub" -q > /dev/null
rm old/"$ub"/.ckptd.json # as copies published before .ckptd.json existed
sealed=$(cd "$data/$ub" && find . -type f | sed 's|^\./||' | while IFS= read -r f; do
    printf '"%s":"%s",' "$f" "$(ckt_xxh128 "$f")"; done)
ckpt checkpoint add-metadata "$ub" "{\"ckptd.xxh128\":{${sealed%,}}}" > /dev/null
ckpt checkpoint download "$ub" -o "$CKT_TMP/old/$ub" > s.out 2> s.err || { cat s.err; ckt_fail "download of $ub failed"; }
grep -q "already present" s.err && ckt_fail "a copy of $ua was reported present for sealed $ub"
same_files "old/$ub" "$ub"

ckt_log "a symlink where a checkpoint's staging used to be (.<name>.partial) is not followed"
mkdir victim && echo keep > victim/keep.txt
ln -s "$CKT_TMP/victim" "$CKT_TMP/.E.partial"
ckpt checkpoint download "$ua" -o "$CKT_TMP/E" -q > /dev/null || ckt_fail "download to E failed"
same_files E "$ua"
[ "$(ls -A victim)" = "keep.txt" ] && [ "$(cat victim/keep.txt)" = keep ] || ckt_fail "the symlink's target was written"
[ -L .E.partial ] || ckt_fail "the user's symlink was removed"

ckt_log "URL sets: directories and symlinks named like old staging directories are left alone"
mkdir -p www F
ckt_gen_file www/a.bin 200000
ckt_gen_file www/slow/s.bin 3000000
ckt_nginx_start "$CKT_TMP/www" "location /slow/ { limit_rate 2m; }"
for i in $(seq 1 30); do
    if [ $((i % 2)) = 0 ]; then ln -s "$CKT_TMP/victim" "F/.ckptd-$i.partial"
    else mkdir "F/.ckptd-$i.partial" && echo mine > "F/.ckptd-$i.partial/mine.txt"; fi
done
ckpt fetch -o "$CKT_TMP/F" "http://127.0.0.1:$CKT_NGINX_PORT/a.bin" > /dev/null || ckt_fail "fetch failed"
cmp -s www/a.bin F/a.bin || ckt_fail "F/a.bin differs"
[ "$(ls -A victim)" = "keep.txt" ] || ckt_fail "a symlinked staging name was followed"
for i in $(seq 1 2 29); do
    [ "$(cat "F/.ckptd-$i.partial/mine.txt")" = mine ] || ckt_fail "the user's F/.ckptd-$i.partial was touched"
done
[ "$(find F -maxdepth 1 -name '.ckptd-*' | wc -l)" = 30 ] || ckt_fail "ckptd left or removed a staging-like entry in F"

ckt_log "a URL set into a new directory: staged beside it, published in one rename, with mkdir's mode"
mkdir -p www/n/sub && ckt_gen_file www/n/b.bin 100000 && ckt_gen_file www/n/sub/c.bin 3000
base="http://127.0.0.1:$CKT_NGINX_PORT"
ckpt fetch -o "$CKT_TMP/G/new" "$base/n/b.bin" "$base/n/sub/c.bin" > /dev/null || ckt_fail "fetch to G/new failed"
cmp -s www/n/b.bin G/new/b.bin && cmp -s www/n/sub/c.bin G/new/c.bin || ckt_fail "G/new differs"
mkdir G/ref
[ "$(stat -c %a G/new)" = "$(stat -c %a G/ref)" ] || ckt_fail "G/new has mode $(stat -c %a G/new), mkdir gives $(stat -c %a G/ref)"
no_staging G G/new

ckt_log "... and into an empty directory the user made: the same, its mode kept"
mkdir -m 750 G/empty
ckpt fetch -o "$CKT_TMP/G/empty" "$base/n/b.bin" > /dev/null || ckt_fail "fetch to G/empty failed"
cmp -s www/n/b.bin G/empty/b.bin || ckt_fail "G/empty/b.bin differs"
[ "$(stat -c %a G/empty)" = 750 ] || ckt_fail "G/empty has mode $(stat -c %a G/empty), not the user's 750"
no_staging G G/empty

if [ "$(id -u)" = 0 ]; then
    ckt_log "... but an empty directory of another user (a shared one made for us) keeps its owner: files moved in"
    mkdir -m 777 G/shared && chown nobody G/shared
    ckpt fetch -o "$CKT_TMP/G/shared" "$base/n/b.bin" > /dev/null || ckt_fail "fetch to G/shared failed"
    cmp -s www/n/b.bin G/shared/b.bin || ckt_fail "G/shared/b.bin differs"
    [ "$(stat -c %U G/shared)" = nobody ] || ckt_fail "G/shared was replaced: owner $(stat -c %U G/shared)"
    no_staging G G/shared
fi

ckt_log "... and when the user makes that directory (with a file) during the download: moved in file by file"
id=$(ckpt fetch --detach -o "$CKT_TMP/H" "$base/n/b.bin" "$base/slow/s.bin")
mkdir H && echo "notes" > H/notes.txt
[ "$(ckt_job_wait "$id" 60)" = done ] || { ckt_job_log "$id"; ckt_fail "job $id did not finish"; }
cmp -s www/n/b.bin H/b.bin && cmp -s www/slow/s.bin H/s.bin || ckt_fail "H differs"
[ "$(cat H/notes.txt)" = notes ] || ckt_fail "the user's H/notes.txt was lost"
no_staging H
[ -z "$(ckt_staging "$CKT_TMP/H" "ckptd-$id")" ] || ckt_fail "job $id left its staging directory"

ckt_daemon_stop
echo "PASS"
