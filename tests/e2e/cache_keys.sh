#!/usr/bin/env bash
# End to end, the keys contrib/nginx-cache.conf computes for the URLs ckptd
# sends it (their exact form is unit-tested in tests/unit/test_cache.c):
# for s3, gcs and azure the key is kind, scheme, host, path and range slice,
# never the query that carries the per-node signature; for plain HTTP
# sources the query is part of the key. There is no GCS server here: GCS is
# covered at the URL level only, with the GOOG4 query of test_cache's
# vector, here in front of a plain nginx origin (which checks nothing; it
# only stands where the bytes come from, so that the cache's own key shows).
set -euo pipefail
. "$CKPT_SRC/tests/lib/common.sh"
. "$CKPT_SRC/tests/lib/cache.sh"
ckt_tmpdir
www=$CKT_TMP/www
ckt_gen_file "$www/test-bucket/ckpts/u 1/model.bin" $((9 * 1024 * 1024))
ckt_gen_file "$www/devstoreaccount1/ckpts/u/a b.bin" 1000
ckt_gen_file "$www/b/ckpts/u/x.bin" 1000
ckt_gen_file "$www/plain/x.bin" 1000
ckt_nginx_start "$www"
hp=127.0.0.1:$CKT_NGINX_PORT
ckt_cache_start "$hp"
cd "$CKT_TMP"

# GET PATH?QUERY [RANGE] -> "<status> <X-Cache-Status>"
get() {
    local r=() out
    [ -n "${2:-}" ] && r=(-H "Range: bytes=$2")
    out=$(curl -s -o /dev/null -D - "${r[@]}" "$CKT_CACHE_URL$1" | tr -d '\r')
    echo "$(echo "$out" | awk 'NR==1 {print $2}') $(echo "$out" | sed -n 's/^X-Cache-Status: //Ip')"
}
# The KEY lines of the cache's files, sorted.
keys() { grep -a -h '^KEY: ' -r "$CKT_CACHE_DIR" | sed 's/^KEY: //' | sort; }
expect() { # WHAT GOT WANT
    [ "$2" = "$3" ] || ckt_fail "$1: got '$2', want '$3'"
}

ckt_log "gcs: GOOG4 signed URLs of two nodes at two moments, one entry per slice"
g4() { # DATE SIGNATURE -> the query ckptd makes (test_cache.c's vector, its date and signature varied)
    printf '%s' "X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=GOOGTS7C7FUP3AIRVJTE2BCDKINBTES3HC2GY5CBFJDCQ2SYHV6A6XXVTJFSA%2F${1%T*}%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=$1&X-Goog-Expires=3600&X-Goog-SignedHeaders=host&X-Goog-Signature=$2"
}
gpath=/gcs/http/$hp/test-bucket/ckpts/u%201/model.bin
expect "node 1" "$(get "$gpath?$(g4 20190201T090000Z c627ac19d70b46671fb871d42be2911afe69a12aaf7c24f3d3b918a30671dc6d)" 0-99)" "206 MISS"
expect "node 2" "$(get "$gpath?$(g4 20190201T090731Z 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef)" 100-199)" "206 HIT"
expect "node 2, second slice" "$(get "$gpath?$(g4 20190201T090731Z 00)" 8388608-8388708)" "206 MISS"
expect "node 1, second slice" "$(get "$gpath?$(g4 20190201T090000Z 11)" 9000000-9000100)" "206 HIT"

ckt_log "s3 and azure: the signature in the query is not in the key either"
expect "s3 node 1" "$(get "/s3/http/$hp/b/ckpts/u/x.bin?X-Amz-Date=20260101T000000Z&X-Amz-Signature=aa" 0-9)" "206 MISS"
expect "s3 node 2" "$(get "/s3/http/$hp/b/ckpts/u/x.bin?X-Amz-Date=20260101T000100Z&X-Amz-Signature=bb" 0-9)" "206 HIT"
apath=/azure/http/$hp/devstoreaccount1/ckpts/u/a%20b.bin
expect "azure node 1" "$(get "$apath?sv=2021-08-06&se=2026-12-07T10%3A00%3A00Z&sr=b&sp=r&sig=AA%3D" 0-9)" "206 MISS"
expect "azure node 2" "$(get "$apath?sv=2021-08-06&se=2026-12-07T10%3A05%3A00Z&sr=b&sp=r&sig=BB%3D" 0-9)" "206 HIT"

ckt_log "plain HTTP sources: the query selects the object, so it is in the key"
expect "http ?v=1" "$(get "/http/http/$hp/plain/x.bin?v=1" 0-9)" "206 MISS"
expect "http ?v=1 again" "$(get "/http/http/$hp/plain/x.bin?v=1" 0-9)" "206 HIT"
expect "http ?v=2" "$(get "/http/http/$hp/plain/x.bin?v=2" 0-9)" "206 MISS"

expect "the cache's keys" "$(keys | tr '\n' ' ')" \
    "azure/http/$hp/devstoreaccount1/ckpts/u/a%20b.bin?|bytes=0-8388607 gcs/http/$hp/test-bucket/ckpts/u%201/model.bin?|bytes=0-8388607 gcs/http/$hp/test-bucket/ckpts/u%201/model.bin?|bytes=8388608-16777215 http/http/$hp/plain/x.bin?v=1|bytes=0-8388607 http/http/$hp/plain/x.bin?v=2|bytes=0-8388607 s3/http/$hp/b/ckpts/u/x.bin?|bytes=0-8388607 "
grep -q "Signature\|sig=" "$CKT_CACHE_LOG" && ckt_fail "a signature reached the cache's log"
echo "cache_keys: ok"
