#!/usr/bin/env bash
# Resume after a lost staging directory: a job whose staging directory is
# removed while it is paused, or while it runs (it then fails), prepares
# again on resume — a new staging directory, the lost files fetched again —
# and completes with correct files, without a daemon restart.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/slow/a.bin" 6000000
ckt_gen_file "$www/slow/b.bin" 3000000
ckt_gen_file "$www/c.bin" 1000000
ckt_nginx_start "$www" "location /slow/ { limit_rate 1m; }"
ckt_daemon_start

# staging_of OUT: the job's staging directory (beside or inside OUT).
staging_of() { ckt_staging "$1" "ckptd-*"; }
wait_bytes() { # ID BYTES: until the job has written BYTES
    for _ in $(seq 100); do
        [ "$(ckt_job_field "$1" "['bytes_done']")" -ge "$2" ] && return 0
        sleep 0.1
    done
    ckt_fail "job $1 did not get $2 bytes"
}
check() { # OUT
    for f in a b c; do
        src=$www/$f.bin; [ -f "$src" ] || src=$www/slow/$f.bin
        [ "$(ckt_xxh128 "$1/$f.bin")" = "$(ckt_xxh128 "$src")" ] || ckt_fail "$1/$f.bin differs"
    done
}

ckt_log "paused, staging removed, resumed"
out=$CKT_TMP/p
id=$(ckpt fetch --detach -o "$out" "$CKT_BASE_URL/slow/a.bin" "$CKT_BASE_URL/slow/b.bin" "$CKT_BASE_URL/c.bin")
wait_bytes "$id" 2000000
ckpt pause "$id" > /dev/null
st=$(staging_of "$out")
[ -n "$st" ] && [ -d "$st" ] || { ls -la "$out" "$CKT_TMP" >&2; ckt_fail "no staging directory found for job $id"; }
echo "removing $st"
rm -rf "$st"
ckpt resume "$id" > /dev/null
state=$(ckt_job_wait "$id" 60)
ckt_job_log "$id" > "$CKT_TMP/p.log"
[ "$state" = done ] || { cat "$CKT_TMP/p.log"; ckt_fail "job $id $state after the resume"; }
check "$out"
grep -q "staging directory .* was gone" "$CKT_TMP/p.log" || { cat "$CKT_TMP/p.log"; ckt_fail "the job's log does not say its staging was gone"; }

ckt_log "staging removed while running: the job fails, a resume completes it"
out=$CKT_TMP/r
id=$(ckpt fetch --detach -o "$out" "$CKT_BASE_URL/slow/a.bin" "$CKT_BASE_URL/slow/b.bin" "$CKT_BASE_URL/c.bin")
wait_bytes "$id" 2000000
st=$(staging_of "$out")
[ -n "$st" ] || ckt_fail "no staging directory found for job $id"
rm -rf "$st"
state=$(ckt_job_wait "$id" 60)
echo "job $id: $state after its staging was removed"
if [ "$state" != done ]; then
    ckpt resume "$id" > /dev/null
    state=$(ckt_job_wait "$id" 60)
fi
ckt_job_log "$id" > "$CKT_TMP/r.log"
[ "$state" = done ] || { cat "$CKT_TMP/r.log"; ckt_fail "job $id $state after the resume"; }
check "$out"
[ -z "$(staging_of "$out")" ] || ckt_fail "a staging directory is left behind"
ckt_daemon_stop
echo "staging_lost: ok"
