#!/usr/bin/env bash
# The master's archive is checked against its Content-Length before any of
# its checkpoint is published: an archive that holds the whole tar but
# announces more bytes (and then holds the connection before closing it)
# publishes nothing while the body is open, fails as short, and is fetched
# again, none of its files kept; the files come out equal to the storage.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
data=$CKT_DET_DATA
read -r u1 _ <<< "$(ckt_det_q '" ".join(d["demo"]["top3"])')"
last_job() { ckpt --json jobs | python3 -c 'import json,sys; print(max([j["id"] for j in json.load(sys.stdin)["jobs"]] or [0]))'; }

ckt_log "an archive that announces 1000 bytes more than the tar, then waits 4 s"
curl -sf -X POST "$CKT_DET_URL/_ctl/archive?pad=1000&hold=4000" > /dev/null
ckpt checkpoint download "$u1" --mode master -o "$CKT_TMP/out" -q > "$CKT_TMP/dl.out" 2>&1 &
dl=$!
for _ in $(seq 50); do [ "$(last_job)" != 0 ] && break; sleep 0.1; done
id=$(last_job)
# The tar is sent at once; the body stays open for 4 s.
sleep 2
state=$(ckt_job_field "$id" "['state']")
echo "2 s in, with the body still open: job $id is $state"
[ "$state" = running ] || ckt_fail "job $id is $state while the archive's body is still open"
[ ! -e "$CKT_TMP/out" ] || ckt_fail "the checkpoint was published before the archive's body ended"
wait "$dl" || { cat "$CKT_TMP/dl.out"; ckt_fail "the download failed"; }
diff -r -x .ckptd.xxh128 -x .ckptd.json "$data/$u1" "$CKT_TMP/out" || ckt_fail "files differ from the storage"
ckt_job_log "$id" > "$CKT_TMP/job.log"
grep -q "broke off\|not the .* announced" "$CKT_TMP/job.log" || { cat "$CKT_TMP/job.log"; ckt_fail "the short archive is not in the job's log"; }
# Nothing the short archive wrote is trusted: the next one writes it all again.
! grep -q "verified files\? kept" "$CKT_TMP/job.log" || { cat "$CKT_TMP/job.log"; ckt_fail "files of the short archive were kept"; }
ckt_daemon_stop
echo "master_archive_count: ok"
