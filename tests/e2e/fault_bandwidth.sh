#!/usr/bin/env bash
# bandwidth_limit caps the daemon's receive rate over all transfers, is
# applied to running transfers at once, and 0 lifts it again.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/fault.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/a.bin" 20000000
ckt_gen_file "$www/b.bin" 20000000
ckt_gen_file "$www/c.bin" 30000000
ckt_nginx_start "$www"
ckt_proxy_start
ckt_daemon_start
cfg() { ckpt --json config | python3 -c "import json,sys; print(json.load(sys.stdin)['config']['$1'])"; }

ckt_log "5 MB/s cap, 20 MB in one stream"
ckpt config set bandwidth_limit=5000000 > /dev/null
[ "$(cfg bandwidth_limit)" = 5000000 ] || ckt_fail "bandwidth_limit not set"
t0=$(ckt_now)
ckpt fetch -o "$CKT_TMP/out" "$CKT_PROXY_URL/a.bin" > /dev/null
took=$(ckt_since "$t0")
echo "a.bin: 20 MB in ${took}s at 5 MB/s"
ckt_check "$took >= 3.2" "20 MB at a 5 MB/s cap took only ${took}s"
ckt_check "$took < 8" "20 MB at a 5 MB/s cap took ${took}s"
[ "$(ckt_xxh128 "$CKT_TMP/out/a.bin")" = "$(ckt_xxh128 "$www/a.bin")" ] || ckt_fail "a.bin differs"

ckt_log "the cap is over all transfers: 20 MB in ranges plus 20 MB in another job"
ckpt config set segment_threshold=8388608 > /dev/null
t0=$(ckt_now)
id1=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_PROXY_URL/b.bin")
id2=$(ckpt fetch --detach -o "$CKT_TMP/out2" "$CKT_PROXY_URL/a.bin")
[ "$(ckt_job_wait "$id1" 25)" = done ] && [ "$(ckt_job_wait "$id2" 25)" = done ] || ckt_fail "capped jobs did not complete"
took=$(ckt_since "$t0")
echo "b.bin + a.bin: 40 MB in ${took}s at 5 MB/s"
ckt_check "$took >= 6.5" "40 MB at a 5 MB/s cap took only ${took}s"
ckt_check "$took < 11" "40 MB at a 5 MB/s cap took ${took}s: the cap is not used fully"
[ "$(ckt_xxh128 "$CKT_TMP/out/b.bin")" = "$(ckt_xxh128 "$www/b.bin")" ] || ckt_fail "b.bin differs"

ckt_log "lifting the cap applies to a running transfer"
id=$(ckpt fetch --detach -o "$CKT_TMP/out3" "$CKT_PROXY_URL/c.bin")
sleep 1
ckpt config set bandwidth_limit=0 > /dev/null
[ "$(cfg bandwidth_limit)" = 0 ] || ckt_fail "bandwidth_limit not reset"
t0=$(ckt_now)
[ "$(ckt_job_wait "$id" 20)" = done ] || ckt_fail "c.bin did not complete"
took=$(ckt_since "$t0")
echo "c.bin: the rest of 30 MB in ${took}s after lifting the cap"
ckt_check "$took < 2.5" "after lifting the cap the rest of c.bin took ${took}s"
[ "$(ckt_xxh128 "$CKT_TMP/out3/c.bin")" = "$(ckt_xxh128 "$www/c.bin")" ] || ckt_fail "c.bin differs"

ckt_log "no cap: 20 MB is quick"
t0=$(ckt_now)
ckpt fetch -o "$CKT_TMP/out4" "$CKT_PROXY_URL/a.bin" > /dev/null
took=$(ckt_since "$t0")
echo "a.bin uncapped: ${took}s"
ckt_check "$took < 2.5" "uncapped 20 MB took ${took}s"

ckt_daemon_stop
echo "fault_bandwidth: ok"
