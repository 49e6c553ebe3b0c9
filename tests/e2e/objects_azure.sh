#!/usr/bin/env bash
# End to end, an azure prefix as a job source: `ckpt fetch az://ACCOUNT/C/p/`
# against Azurite (Shared Key checked), listed in several pages (2 blobs a
# page, NextMarker), names with spaces, '+' and UTF-8, nested; bytes equal to
# the blobs; a second fetch fetches nothing; a changed blob is fetched again;
# a blob whose Content-MD5 lies (set with Set Blob Properties) is fetched
# twice, then fails naming the file and both hashes, and the new output is
# not published (its good blob neither);
# credentials for another account are refused by name.
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/azure.sh"
ckt_tmpdir
cd "$CKT_TMP"
ckt_azure_start

src=$CKT_TMP/src
names=("p/a.bin" "p/sub dir/b+c.bin" "p/ünï/deep/d.bin" "p/e.txt" "p/big.bin" "q/outside.bin")
for n in "${names[@]}"; do
    case "$n" in
    */big.bin) ckt_gen_file "$src/$n" $((5 * 1024 * 1024 + 3)) ;;
    *) ckt_gen_file "$src/$n" $((RANDOM + 1)) ;;
    esac
done
# Uploads with the stand-in's Shared Key client (tests/detmaster).
upload() {
    python3 - "$CKT_AZURE_URL" "$src" "$@" <<'PY'
import os, sys
sys.path.insert(0, os.environ["CKPT_SRC"] + "/tests/detmaster")
from detmaster import AzureTarget
t = AzureTarget(sys.argv[1], "models")
for name in sys.argv[3:]:
    with open(sys.argv[2] + "/" + name, "rb") as f:
        t.put(name, f.read())
PY
}
upload "${names[@]}"

ckt_azure_env
export CKPTD_OBJECTS_PAGE_SIZE=2
CKT_KEEP_AZURE=1 ckt_daemon_start
ckpt config set segment_threshold=1048576 >/dev/null   # big.bin in ranges (x-ms-range)

ckt_log "a paged azure prefix: every blob under it"
out=$CKT_TMP/out
ckpt fetch "az://$CKT_AZURE_ACCOUNT/models/p/" -o "$out" > f1.out 2>&1 || { cat f1.out; ckt_fail "azure prefix fetch failed"; }
diff -r "$src/p" "$out" || ckt_fail "bytes differ from the blobs"
grep -q "5 objects in 3 pages, 5 taken, 5 to fetch" f1.out || { cat f1.out; ckt_fail "not paged as asked"; }

ckt_log "again: nothing fetched; a changed blob: fetched again"
ckpt fetch "az://$CKT_AZURE_ACCOUNT/models/p/" -o "$out" > f2.out 2>&1 || { cat f2.out; ckt_fail "second fetch failed"; }
grep -q "skipped 5 objects already here" f2.out || { cat f2.out; ckt_fail "no skip"; }
ckt_gen_file "$src/p/e.txt" 777
upload "p/e.txt"
ckpt fetch "az://$CKT_AZURE_ACCOUNT/models/p/" -o "$out" > f3.out 2>&1 || { cat f3.out; ckt_fail "third fetch failed"; }
grep -q "5 taken, 1 to fetch" f3.out || { cat f3.out; ckt_fail "not just the changed blob"; }
diff -r "$src/p" "$out" || ckt_fail "the changed blob is not the new version"

ckt_log "a Content-MD5 that lies: refetched once, then the file fails, not published"
ckt_gen_file "$src/w/bad.bin" 50000
ckt_gen_file "$src/w/good.bin" 3000
upload "w/bad.bin" "w/good.bin"
python3 - "$CKT_AZURE_URL" <<'PY'
import os, sys
sys.path.insert(0, os.environ["CKPT_SRC"] + "/tests/detmaster")
from detmaster import AzureTarget
t = AzureTarget(sys.argv[1], "models")
# Set Blob Properties: the store now records a wrong MD5 for the same bytes.
t.request("PUT", f"{t.base}/models/w/bad.bin", [("comp", "properties")], b"",
          {"x-ms-blob-content-md5": "AAAAAAAAAAAAAAAAAAAAAA=="}, (200,))
PY
want=$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.md5(open(sys.argv[1], "rb").read()).digest()).decode())' "$src/w/bad.bin")
bad=$CKT_TMP/bad
rc=0; ckpt fetch "az://$CKT_AZURE_ACCOUNT/models/w/" -o "$bad" > f4.out 2>&1 || rc=$?
[ $rc -ne 0 ] || { cat f4.out; ckt_fail "a lying Content-MD5 was accepted"; }
msg="md5 mismatch for 'bad.bin' (the store's content hash): got $want, expected AAAAAAAAAAAAAAAAAAAAAA=="
grep -qF "$msg" "$CKT_TMP/ckptd.log" || { cat f4.out; grep bad.bin "$CKT_TMP/ckptd.log"; ckt_fail "no clear mismatch message"; }
[ "$(grep -cF "$msg" "$CKT_TMP/ckptd.log")" -ge 2 ] || ckt_fail "not refetched once before failing"
grep -qF "1 of 2 files failed; first: $msg" f4.out || { cat f4.out; ckt_fail "the client does not say which file failed"; }
# A new output appears whole or not at all: good.bin waits with bad.bin.
[ ! -e "$bad" ] || { find "$bad"; ckt_fail "something of the failed prefix was published"; }

ckt_log "credentials of another account are refused by name"
rc=0; ckpt fetch "az://otheraccount/models/p/" -o "$CKT_TMP/x" > x.out 2>&1 || rc=$?
[ $rc -ne 0 ] || ckt_fail "another account's URL was accepted"
grep -q "the azure credentials are for account '$CKT_AZURE_ACCOUNT', not 'otheraccount'" x.out ||
    { cat x.out; ckt_fail "account message"; }
grep -q "$CKT_AZURE_KEY" "$CKT_TMP/ckptd.log" && ckt_fail "the key reached the log"
grep -q "$CKT_AZURE_KEY" <(sqlite3 "$CKT_STATE/ckptd.db" .dump) && ckt_fail "the key reached the job records"
ckt_daemon_stop
echo "objects_azure: ok"
