#!/usr/bin/env bash
# End to end: connections go to higher priority first. With a bulk job
# holding every connection, a higher-priority job submitted later finishes
# first, and the bulk job keeps making progress (no starvation).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
for i in $(seq 1 24); do ckt_gen_file "$www/slow/bulk$i" 1000000; done
for i in 1 2; do ckt_gen_file "$www/slow/hot$i" 1000000; done
ckt_nginx_start "$www" 'location /slow/ { limit_rate 400k; }'
ckt_daemon_start
ckpt config set max_connections=4 max_per_host=4 >/dev/null
state() { ckpt --json job "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])'; }

urls=$(for i in $(seq 1 24); do printf '%s/slow/bulk%s ' "$CKT_BASE_URL" "$i"; done)
bulk=$(ckpt fetch --detach -o "$CKT_TMP/bulk" $urls)
sleep 1
hot=$(ckpt fetch --detach --priority 10 -o "$CKT_TMP/hot" "$CKT_BASE_URL/slow/hot1" "$CKT_BASE_URL/slow/hot2")
timeout 60 "$CKPT" --socket "$CKT_SOCK" watch "$hot" > /dev/null || ckt_fail "the priority job failed"
[ "$(state "$bulk")" = running ] || ckt_fail "the bulk job is $(state "$bulk") when the priority job finished"
done_bytes=$(ckpt --json job "$bulk" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["bytes_done"])')
[ "$done_bytes" -gt 0 ] || ckt_fail "the bulk job made no progress"
ckpt cancel "$bulk" > /dev/null
ckt_daemon_stop
echo "priority: ok (bulk had $done_bytes bytes when the priority job finished)"
