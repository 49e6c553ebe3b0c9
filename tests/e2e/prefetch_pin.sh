#!/usr/bin/env bash
# End to end: `ckpt pin UUID` keeps a followed checkpoint through retention
# (--keep 1 would remove it); `ckpt unpin` lets the next cleanup take it.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
. "$CKPT_SRC/tests/e2e/prefetch_lib.sh"
ckt_pf_start # sets out (the prefetch output) and dir (trial 1 in it)
first=$(ckt_det_q "$CKT_PF_LATEST_EXPR")

ckt_log "pin the current latest, then let the follow job move past it"
grep -q "$first pinned" <(ckpt pin "$first") || ckt_fail "pin output"
grep -qx "$first" <(ckpt pins) || ckt_fail "pins does not list it"
id=$(ckpt prefetch trial 1 --latest --keep 1 --interval 1 -o "$out")
ckt_pf_wait_pointer "$dir/latest" "$first" 20
new=$(ckt_pf_add_checkpoint 1)
ckt_pf_wait_pointer "$dir/latest" "$new" 5
sleep 1.5
[ -d "$dir/$first" ] || ckt_fail "a pinned checkpoint was removed by retention"

ckt_log "unpin: the next cleanup removes it"
ckpt unpin "$first" > /dev/null
grep -q "$first" <(ckpt pins) && ckt_fail "still pinned"
newer=$(ckt_pf_add_checkpoint 1)
ckt_pf_wait_pointer "$dir/latest" "$newer" 5
for i in $(seq 1 30); do [ -d "$dir/$first" ] || break; sleep 0.2; done
[ ! -d "$dir/$first" ] || ckt_fail "an unpinned old checkpoint was kept beyond --keep"
ckpt prefetch stop "$id" > /dev/null
ckt_daemon_stop
echo "prefetch_pin: ok"
