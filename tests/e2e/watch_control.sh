#!/usr/bin/env bash
# End to end: a second client sees and watches a running job; pause keeps
# staging data and resume finishes; cancel removes staging data.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/slow/a.bin" 6000000
ckt_gen_file "$www/slow/b.bin" 6000000
ckt_nginx_start "$www" 'location /slow/ { limit_rate 2m; }'
ckt_daemon_start
src_a=$(ckt_xxh128 "$www/slow/a.bin")

ckt_log "submit detached; a second client lists and watches it"
id=$(ckpt fetch --detach -o "$CKT_TMP/out" "$CKT_BASE_URL/slow/a.bin" "$CKT_BASE_URL/slow/b.bin")
[[ "$id" =~ ^[0-9]+$ ]] || ckt_fail "--detach printed '$id'"
ckpt jobs | grep -Eq "^ *$id +(queued|running)" || ckt_fail "job not listed as running"
ckpt --json watch "$id" > "$CKT_TMP/watch.json" &
watcher=$!
CKT_PIDS+=("$watcher")

sleep 1
ckt_log "pause keeps staging data"
ckpt pause "$id" >/dev/null
sleep 0.5
state=$(ckpt --json job "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')
[ "$state" = paused ] || ckt_fail "state after pause is $state"
[ -d "$(ckt_staging "$CKT_TMP/out" "ckptd-$id")" ] || ckt_fail "pause removed staging data"
rc=0; ckpt pause "$id" > "$CKT_TMP/pause2.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "cannot pause job $id: it is paused" "$CKT_TMP/pause2.out" || ckt_fail "double pause not refused"

ckt_log "resume finishes with correct bytes"
ckpt resume "$id" >/dev/null
wait "$watcher" || ckt_fail "watch exited non-zero"
[ "$(ckt_xxh128 "$CKT_TMP/out/a.bin")" = "$src_a" ] || ckt_fail "a.bin differs"
python3 - "$CKT_TMP/watch.json" "$id" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
states = [l["params"]["job"]["state"] for l in lines if l.get("method") == "event.job"]
progress = [l for l in lines if l.get("method") == "event.progress"]
assert "paused" in states and states[-1] == "done", states
assert len(progress) >= 2, "too few progress events: %d" % len(progress)
PY

ckt_log "cancel removes staging data"
id2=$(ckpt fetch --detach -o "$CKT_TMP/out2" "$CKT_BASE_URL/slow/a.bin")
sleep 0.7
ckpt cancel "$id2" >/dev/null
for i in $(seq 1 50); do [ -n "$(ckt_staging "$CKT_TMP/out2" "ckptd-$id2")" ] || break; sleep 0.1; done
[ -z "$(ckt_staging "$CKT_TMP/out2" "ckptd-$id2")" ] || ckt_fail "cancel left staging data"
[ ! -e "$CKT_TMP/out2/a.bin" ] || ckt_fail "a canceled job published"
rc=0; ckpt resume "$id2" >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "a canceled job was resumed"

ckt_daemon_stop
echo "watch_control: ok"
