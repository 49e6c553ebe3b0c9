#!/usr/bin/env bash
# End to end: a checkpoint that ships its own checksums.xxh128 (xxhsum -H2,
# GNU lines and BSD lines) is checked against it, through the storage and
# through the master's archive. A wrong line on the server makes the named
# file be fetched once more, then the job fails naming it, and nothing is
# published.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/detmaster.sh"
ckt_tmpdir
ckt_detmaster_start
DET_MASTER=$CKT_DET_URL ckt_daemon_start
data=$CKT_DET_DATA
cd "$CKT_TMP"

# new_checkpoint MANIFEST_BYTES: a checkpoint of trial 1 with two data files
# and a checksums.xxh128 of that size (filled in by the caller).
new_checkpoint() {
    curl -sf -X POST -d "{\"files\":{\"a.bin\":150000,\"sub/\":0,\"sub/b.bin\":250000,\"checksums.xxh128\":$1}}" \
        "$CKT_DET_URL/_ctl/trials/1/checkpoints" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["uuid"])'
}
last_job() { ckpt --json jobs | python3 -c 'import json,sys; print(max(j["id"] for j in json.load(sys.stdin)["jobs"]))'; }

# GNU lines: "<hex>  a.bin\n" is 32 + 2 + 5 + 1 bytes, "sub/b.bin" 4 more.
good=$(new_checkpoint 84)
(cd "$data/$good" && xxhsum -H2 a.bin sub/b.bin > checksums.xxh128)
[ "$(stat -c %s "$data/$good/checksums.xxh128")" = 84 ] || ckt_fail "manifest size"
# BSD lines: "XXH128 (a.bin) = <hex>\n" is 7 + 7 + 3 + 32 + 1 bytes, 4 more for sub/.
bsd=$(new_checkpoint 104)
(cd "$data/$bsd" && xxhsum -H2 --tag a.bin sub/b.bin > checksums.xxh128)
[ "$(stat -c %s "$data/$bsd/checksums.xxh128")" = 104 ] || ckt_fail "bsd manifest size"
bad=$(new_checkpoint 84)
# The right hash of a.bin; a wrong one for sub/b.bin (one digit changed).
(cd "$data/$bad" && xxhsum -H2 a.bin sub/b.bin \
    | awk 'NR == 2 { $0 = (substr($0, 1, 1) == "0" ? "1" : "0") substr($0, 2) } 1' > checksums.xxh128)

for mode in direct master; do
    rm -rf "$CKT_TMP/direct" # else the master run copies the direct run's verified copies
    ckt_log "$mode: GNU and BSD manifests are applied"
    for u in "$good" "$bsd"; do
        ckpt checkpoint download "$u" --mode "$mode" -o "$CKT_TMP/$mode/$u" -q > /dev/null
        diff -r -x .ckptd.xxh128 -x .ckptd.json "$data/$u" "$CKT_TMP/$mode/$u" || ckt_fail "$mode copy of $u differs"
        grep -q "checksums.xxh128 lists 2 of its files" <(ckpt job "$(last_job)") \
            || { ckpt job "$(last_job)"; ckt_fail "$mode: the manifest of $u was not applied"; }
    done

    ckt_log "$mode: a wrong line: one refetch, then the job fails naming the file"
    rc=0; ckpt checkpoint download "$bad" --mode "$mode" -o "$CKT_TMP/$mode/bad" > bad.out 2>&1 || rc=$?
    [ $rc -ne 0 ] || ckt_fail "$mode: a file that contradicts checksums.xxh128 was accepted"
    grep -q "xxh128 mismatch for 'sub/b.bin'" bad.out || { cat bad.out; ckt_fail "$mode: the file is not named"; }
    ckpt job "$(last_job)" > bad.log
    [ "$(grep -c "restarting 'sub/b.bin'" bad.log)" -eq 1 ] || { cat bad.log; ckt_fail "$mode: expected exactly one refetch"; }
    [ ! -e "$CKT_TMP/$mode/bad" ] || ckt_fail "$mode: a checkpoint that failed its manifest was published"
done

ckt_daemon_stop
echo "checkpoint_checksums: ok"
