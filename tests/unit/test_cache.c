/* Unit tests of engine/presign.c and engine/cache_route.c: query-string
 * signatures and the fleet cache's routing.
 *
 * SigV4 presigning reproduces AWS's published example of a presigned URL
 * (S3 API reference, "Authenticating Requests: Using Query Parameters",
 * GET examplebucket/test.txt on 2013-05-24, 86400 s): the canonical query
 * and the signature aeeed9bb...f604d404, byte for byte.
 *
 * GOOG4: Google's conformance file (googleapis/conformance-tests,
 * storage/v1/v4_signatures.json, "Simple GET") publishes the signed URL of
 * GET test-bucket/test-object at 2019-02-01T09:00:00Z for 10 s; its query
 * up to the signature is reproduced here with the algorithm named
 * GOOG4-HMAC-SHA256 instead of GOOG4-RSA-SHA256 (the file signs with an RSA
 * service-account key, which ckptd does not use). The HMAC signature of
 * that request is checked against a value computed independently with the
 * openssl command line, not with this code:
 *
 *   hm() { openssl dgst -sha256 -mac HMAC -macopt "$1" | sed 's/^.*= //'; }
 *   SECRET='bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ'
 *   Q=<the query below, up to SignedHeaders=host>
 *   CR=$'GET\n/test-bucket/test-object\n'"$Q"$'\nhost:storage.googleapis.com\n\nhost\nUNSIGNED-PAYLOAD'
 *   H=$(printf '%s' "$CR" | openssl dgst -sha256 | sed 's/^.*= //')
 *   K1=$(printf '%s' 20190201 | hm "key:GOOG4$SECRET"); K2=$(printf auto | hm "hexkey:$K1")
 *   K3=$(printf storage | hm "hexkey:$K2"); K4=$(printf goog4_request | hm "hexkey:$K3")
 *   printf 'GOOG4-HMAC-SHA256\n20190201T090000Z\n20190201/auto/storage/goog4_request\n%s' \
 *     "$H" | hm "hexkey:$K4"
 *
 * Requests through the cache, at the URL level (ckd_cache_req_url, the very
 * URL ckptd sends to the cache; no GCS or Azure server is involved): GCS
 * with an HMAC key presigned with GOOG4, GCS with a bearer token (header,
 * no query), Azure with an account key through a service SAS, Azure with a
 * SAS of its own. The expected GOOG4 and SAS signatures were computed
 * independently with Python's hmac, not with this code:
 *
 *   GOOG4: the algorithm of tests/e2e/cache_s3.sh's presign() with
 *   "GOOG4", "auto", "storage", "goog4_request", X-Goog-* and 3600 s.
 *   SAS:   key = base64decode(CKD_AZURE_DEV_KEY)
 *          sts = "\n".join(["r", "", se, "/blob/<account>/<container>/<blob>",
 *                "", "", spr, "2021-08-06", "b", "", "", "", "", "", "", ""])
 *          sig = base64(hmac.new(key, sts.encode(), sha256).digest())
 *
 * tests/e2e/cache_azure.sh proves the SAS against Azurite, which checks it
 * (and refuses a tampered one); tests/e2e/cache_keys.sh shows the key that
 * contrib/nginx-cache.conf computes for these URLs leaves the signature out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure.h"
#include "azure_sas.h"
#include "cache_req.h"
#include "cache_route.h"
#include "ckt_test.h"
#include "gcs.h"
#include "presign.h"

static const char *AWS_Q =
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
    "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
    "X-Amz-SignedHeaders=host";

static ckd_presign_req aws_example(void)
{
    return (ckd_presign_req){.url = "https://examplebucket.s3.amazonaws.com/test.txt",
                             .algo_prefix = "AWS4",
                             .region = "us-east-1",
                             .service = "s3",
                             .key_id = "AKIAIOSFODNN7EXAMPLE",
                             .secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             .timestamp = "20130524T000000Z",
                             .expires_s = 86400};
}

static void test_aws_presigned_example(void)
{
    ckd_presign_req r = aws_example();
    char q[1024], url[2048], want[2048];
    CKT_ASSERT_INT_EQ(ckd_presign_query(&r, q, sizeof(q)), (int)strlen(AWS_Q));
    CKT_ASSERT_STR_EQ(q, AWS_Q);
    snprintf(want, sizeof(want),
             "https://examplebucket.s3.amazonaws.com/test.txt?%s&X-Amz-Signature="
             "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
             AWS_Q);
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, url, sizeof(url)), (int)strlen(want));
    CKT_ASSERT_STR_EQ(url, want);
    CKT_ASSERT(strstr(url, "wJalr") == NULL); /* the secret never shows */
}

static void test_aws_session_token(void)
{
    ckd_presign_req r = aws_example();
    r.session_token = "tok/en+=";
    char q[1024];
    CKT_ASSERT(ckd_presign_query(&r, q, sizeof(q)) > 0);
    /* Signed, in name order between Expires and SignedHeaders, encoded. */
    CKT_ASSERT(strstr(q, "X-Amz-Expires=86400&X-Amz-Security-Token=tok%2Fen%2B%3D&"
                         "X-Amz-SignedHeaders=host") != NULL);
    char url[2048];
    CKT_ASSERT(ckd_presign_url(&r, url, sizeof(url)) > 0);
    CKT_ASSERT(strstr(url, "aeeed9bb") == NULL); /* the token changed the signature */
    /* GOOG4 has no session tokens. */
    r.algo_prefix = "GOOG4";
    CKT_ASSERT_INT_EQ(ckd_presign_query(&r, q, sizeof(q)), -EINVAL);
}

static void test_goog4(void)
{
    ckd_presign_req r = {.url = "https://storage.googleapis.com/test-bucket/test-object",
                         .algo_prefix = "GOOG4",
                         .region = "auto",
                         .service = "storage",
                         .key_id = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com",
                         .secret = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ",
                         .timestamp = "20190201T090000Z",
                         .expires_s = 10};
    /* The conformance file's query, the algorithm's name aside. */
    const char *q_want =
        "X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=test-iam-credentials%40"
        "dummy-project-id.iam.gserviceaccount.com%2F20190201%2Fauto%2Fstorage%2Fgoog4_request&"
        "X-Goog-Date=20190201T090000Z&X-Goog-Expires=10&X-Goog-SignedHeaders=host";
    char q[1024], url[2048], want[2048];
    CKT_ASSERT(ckd_presign_query(&r, q, sizeof(q)) > 0);
    CKT_ASSERT_STR_EQ(q, q_want);
    snprintf(want, sizeof(want),
             "https://storage.googleapis.com/test-bucket/test-object?%s&X-Goog-Signature="
             "c2a765a1a9990ee488afd6a65220b27d317a73ea1d6c904d1f42f894f54dfd61",
             q_want);
    CKT_ASSERT(ckd_presign_url(&r, url, sizeof(url)) > 0);
    CKT_ASSERT_STR_EQ(url, want);
}

static void test_presign_rejects(void)
{
    char out[4096];
    ckd_presign_req r = aws_example();
    r.url = "https://h/k?x=1"; /* a query already */
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r.url = "ftp://h/k";
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r.url = "https://u:p@h/k";
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r = aws_example();
    r.expires_s = 0;
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r.expires_s = CKD_PRESIGN_MAX_EXPIRES + 1;
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r = aws_example();
    r.timestamp = "20130524T0000Z";
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r = aws_example();
    r.algo_prefix = "AWS5";
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r = aws_example();
    r.secret = "a\nb";
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -EINVAL);
    r = aws_example();
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, 40), -ENAMETOOLONG);
    char *big = malloc(CKD_PRESIGN_MAX_URL + 16);
    CKT_ASSERT(big != NULL);
    memset(big, 'a', CKD_PRESIGN_MAX_URL + 15);
    big[CKD_PRESIGN_MAX_URL + 15] = '\0';
    r.key_id = big;
    CKT_ASSERT_INT_EQ(ckd_presign_url(&r, out, sizeof(out)), -E2BIG);
    free(big);
    char ts[17];
    CKT_ASSERT_INT_EQ(ckd_presign_timestamp(1369353600, ts), 0);
    CKT_ASSERT_STR_EQ(ts, "20130524T000000Z");
    CKT_ASSERT_INT_EQ(ckd_presign_timestamp(-1, ts), -EINVAL);
}

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    CKT_ASSERT(v != NULL);
    return v;
}

static int parse(const char *text, ckd_cache_cfg *c, char *why)
{
    json_t *v = js(text);
    int rc = ckd_cache_cfg_parse(v, c, why, 256);
    json_decref(v);
    return rc;
}

static void test_cfg(void)
{
    ckd_cache_cfg c;
    char why[256];
    CKT_ASSERT_INT_EQ(parse("null", &c, why), 0);
    CKT_ASSERT(c.url == NULL);
    CKT_ASSERT(!ckd_cache_cfg_routes(&c, CKD_ORIGIN_S3, "https://b.s3/k"));
    CKT_ASSERT_INT_EQ(parse("{\"url\":\"http://cache:8080/\",\"origins\":[\"s3\",\"master\","
                            "\"http://models.internal/ckpts\"]}",
                            &c, why),
                      0);
    CKT_ASSERT_STR_EQ(c.url, "http://cache:8080");
    CKT_ASSERT(ckd_cache_cfg_routes(&c, CKD_ORIGIN_S3, "https://x/b/k"));
    CKT_ASSERT(ckd_cache_cfg_routes(&c, CKD_ORIGIN_MASTER, "http://m:8080/checkpoints/u"));
    CKT_ASSERT(!ckd_cache_cfg_routes(&c, CKD_ORIGIN_GCS, "https://x/b/k"));
    CKT_ASSERT(!ckd_cache_cfg_routes(&c, CKD_ORIGIN_AZURE, "https://x/b/k"));
    CKT_ASSERT(ckd_cache_cfg_routes(&c, CKD_ORIGIN_HTTP, "http://models.internal/ckpts/a.bin"));
    CKT_ASSERT(ckd_cache_cfg_routes(&c, CKD_ORIGIN_HTTP, "http://models.internal/ckpts"));
    /* A prefix ends at a path boundary. */
    CKT_ASSERT(!ckd_cache_cfg_routes(&c, CKD_ORIGIN_HTTP, "http://models.internal/ckpts2/a"));
    CKT_ASSERT(!ckd_cache_cfg_routes(&c, CKD_ORIGIN_HTTP, "http://other/ckpts/a"));

    char *u = ckd_cache_url(&c, CKD_ORIGIN_S3, "http://127.0.0.1:9000/b/k%20x?X-Amz-Signature=1");
    CKT_ASSERT_STR_EQ(u, "http://cache:8080/s3/http/127.0.0.1:9000/b/k%20x?X-Amz-Signature=1");
    free(u);
    u = ckd_cache_url(&c, CKD_ORIGIN_MASTER, "https://det.example/checkpoints/abc");
    CKT_ASSERT_STR_EQ(u, "http://cache:8080/master/https/det.example/checkpoints/abc");
    free(u);
    CKT_ASSERT(ckd_cache_url(&c, CKD_ORIGIN_HTTP, "http://u:p@h/x") == NULL);
    CKT_ASSERT(ckd_cache_url(&c, CKD_ORIGIN_HTTP, "http://h") == NULL);
    CKT_ASSERT(ckd_cache_url(&c, CKD_ORIGIN_HTTP, "http://h/x#f") == NULL);
    CKT_ASSERT(ckd_cache_url(&c, CKD_ORIGIN_HTTP, "file:///x") == NULL);
    ckd_cache_cfg_release(&c);

    const char *bad[] = {
        "1",
        "{\"url\":\"http://c\"}",
        "{\"url\":\"http://c\",\"origins\":[]}",
        "{\"url\":\"ftp://c\",\"origins\":[\"s3\"]}",
        "{\"url\":\"http://u:p@c\",\"origins\":[\"s3\"]}",
        "{\"url\":\"http://c?x=1\",\"origins\":[\"s3\"]}",
        "{\"url\":\"http://c\",\"origins\":[\"s4\"]}",
        "{\"url\":\"http://c\",\"origins\":[7]}",
        "{\"url\":\"http://c\",\"origins\":[\"s3\"],\"ttl\":3}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        CKT_ASSERT_INT_EQ(parse(bad[i], &c, why), -EINVAL);
        CKT_ASSERT(why[0] != '\0');
        CKT_ASSERT(c.url == NULL && c.prefixes == NULL);
    }
    CKT_ASSERT(parse("{\"url\":\"http://c\",\"origins\":[\"s4\"]}", &c, why) < 0);
    CKT_ASSERT(strstr(why, "neither s3, gcs, azure, master") != NULL);
}

static void test_rest_and_bypass(void)
{
    ckd_cache c;
    ckd_cache_init(&c);
    char why[256];
    json_t *v = js("{\"url\":\"http://cache:8080\",\"origins\":[\"s3\",\"http://o\"]}");
    CKT_ASSERT_INT_EQ(ckd_cache_configure(&c, v, why, sizeof(why)), 0);
    json_decref(v);
    const char *k = "http://o/ckpt/a.bin";
    uint64_t t = 1000000;
    CKT_ASSERT(ckd_cache_use(&c, CKD_ORIGIN_HTTP, k, t));
    CKT_ASSERT(ckd_cache_use(&c, CKD_ORIGIN_S3, "https://s3/b/k", t));
    /* Down: it rests 5 s; a second failure meanwhile is an echo. */
    CKT_ASSERT_INT_EQ((int)ckd_cache_failed(&c, t), CKD_CACHE_BACKOFF_MIN_MS);
    CKT_ASSERT_INT_EQ((int)ckd_cache_failed(&c, t + 10), 0);
    CKT_ASSERT(!ckd_cache_use(&c, CKD_ORIGIN_HTTP, k, t + 4999));
    CKT_ASSERT(ckd_cache_use(&c, CKD_ORIGIN_HTTP, k, t + 5000));
    /* Failures in a row double the rest, up to the cap. */
    CKT_ASSERT_INT_EQ((int)ckd_cache_failed(&c, t + 5000), 2 * CKD_CACHE_BACKOFF_MIN_MS);
    uint64_t now = t + 5000;
    for (int i = 0; i < 10; i++) now = c.down_until_ms, ckd_cache_failed(&c, now);
    CKT_ASSERT_INT_EQ((int)(c.down_until_ms - now), CKD_CACHE_BACKOFF_MAX_MS);
    /* After a calm spell the count starts over. */
    now = c.down_until_ms + CKD_CACHE_CALM_MS + 1;
    CKT_ASSERT_INT_EQ((int)ckd_cache_failed(&c, now), CKD_CACHE_BACKOFF_MIN_MS);
    now += CKD_CACHE_BACKOFF_MIN_MS;
    /* A bypassed object comes from its origin for an hour. */
    CKT_ASSERT_INT_EQ(ckd_cache_bypass(&c, k, now), 0);
    CKT_ASSERT(!ckd_cache_use(&c, CKD_ORIGIN_HTTP, k, now + 1));
    CKT_ASSERT(ckd_cache_use(&c, CKD_ORIGIN_HTTP, "http://o/ckpt/b.bin", now + 1));
    CKT_ASSERT(ckd_cache_use(&c, CKD_ORIGIN_HTTP, k, now + CKD_CACHE_BYPASS_MS));
    /* More bypasses than slots: the oldest go, nothing leaks (ASan). */
    for (int i = 0; i < CKD_CACHE_MAX_BYPASS + 3; i++) {
        char u[64];
        snprintf(u, sizeof(u), "http://o/f%d", i);
        CKT_ASSERT_INT_EQ(ckd_cache_bypass(&c, u, now), 0);
    }
    CKT_ASSERT(ckd_cache_use(&c, CKD_ORIGIN_HTTP, "http://o/f0", now + 1));
    CKT_ASSERT(!ckd_cache_use(&c, CKD_ORIGIN_HTTP, "http://o/f5", now + 1));
    /* Messages that quote a URL of the cache. */
    CKT_ASSERT(ckd_cache_said(&c, "cannot fetch 'http://cache:8080/s3/http/h/b/k': refused"));
    CKT_ASSERT(!ckd_cache_said(&c, "cannot fetch 'http://cache:80801/s3/x': refused"));
    CKT_ASSERT(!ckd_cache_said(&c, "cannot fetch 'http://o/ckpt/a.bin': refused"));
    CKT_ASSERT(!ckd_cache_said(&c, NULL));
    /* A bad setting leaves the old one; null turns it off. */
    v = js("{\"url\":\"gopher://x\",\"origins\":[\"s3\"]}");
    CKT_ASSERT_INT_EQ(ckd_cache_configure(&c, v, why, sizeof(why)), -EINVAL);
    json_decref(v);
    CKT_ASSERT_STR_EQ(c.cfg.url, "http://cache:8080");
    v = json_null();
    CKT_ASSERT_INT_EQ(ckd_cache_configure(&c, v, why, sizeof(why)), 0);
    json_decref(v);
    CKT_ASSERT(!ckd_cache_use(&c, CKD_ORIGIN_S3, "https://s3/b/k", now));
    ckd_cache_release(&c);
}

/* 2026-12-07T09:00:00Z: the SAS expires an hour later. */
#define T_SAS 1796634000

static void azure_creds(const char *cs, ckd_azure_creds *c)
{
    char err[256];
    CKT_ASSERT_INT_EQ(ckd_azure_parse_connection_string(cs, c, err, sizeof(err)), 0);
    CKT_ASSERT_INT_EQ(c->kind, CKD_AZURE_AUTH_SHARED_KEY);
}

static void test_azure_sas(void)
{
    char out[1024], e[21];
    CKT_ASSERT_INT_EQ(ckd_azure_sas_expiry(T_SAS + 3600, e), 0);
    CKT_ASSERT_STR_EQ(e, "2026-12-07T10:00:00Z");
    CKT_ASSERT_INT_EQ(ckd_azure_sas_expiry(-1, e), -EINVAL);

    ckd_azure_sas_req r = {"devstoreaccount1", "ckpts", "0c3f/notes/run 1+2 ~\xc3\xa9.txt",
                           "2026-12-07T10:00:00Z", 0};
    const char *sts = "r\n\n2026-12-07T10:00:00Z\n/blob/devstoreaccount1/ckpts/"
                      "0c3f/notes/run 1+2 ~\xc3\xa9.txt\n\n\n\n2021-08-06\nb\n\n\n\n\n\n\n";
    CKT_ASSERT_INT_EQ(ckd_azure_sas_string_to_sign(&r, out, sizeof(out)), (int)strlen(sts));
    CKT_ASSERT_STR_EQ(out, sts);

    ckd_azure_creds c = {0};
    azure_creds("UseDevelopmentStorage=true", &c);
    const char *q = "sv=2021-08-06&se=2026-12-07T10%3A00%3A00Z&sr=b&sp=r&"
                    "sig=EQ%2BB%2Bg4IUYn5e9p4jCjozhF%2FYSmyOMU86AFkT6O5ZoA%3D";
    CKT_ASSERT_INT_EQ(ckd_azure_sas_query(&r, c.key, c.key_len, out, sizeof(out)), (int)strlen(q));
    CKT_ASSERT_STR_EQ(out, q);
    CKT_ASSERT_INT_EQ(ckd_azure_sas_query(&r, c.key, c.key_len, out, 40), -ENAMETOOLONG);
    CKT_ASSERT_INT_EQ(ckd_azure_sas_query(&r, c.key, 0, out, sizeof(out)), -EINVAL);

    /* From the blob URL ckptd makes: the names decoded again for signing. */
    char *url = ckd_azure_blob_url(&c, "ckpts", "0c3f/notes/run 1+2 ~\xc3\xa9.txt");
    CKT_ASSERT_STR_EQ(url, CKD_AZURE_DEV_ENDPOINT "/ckpts/0c3f/notes/run%201%2B2%20~%C3%A9.txt");
    int rc;
    char *s = ckd_azure_sas_url(&c, url, T_SAS, 3600, &rc);
    CKT_ASSERT_INT_EQ(rc, 0);
    snprintf(out, sizeof(out), "%s?%s", url, q);
    CKT_ASSERT_STR_EQ(s, out);
    CKT_ASSERT(strstr(s, CKD_AZURE_DEV_KEY) == NULL && strstr(s, "Eby8") == NULL);
    free(s);

    /* Refused: not under the endpoint, a query already, no blob, a bad
     * escape or a decoded NUL or newline, a lifetime out of range. */
    const char *bad[] = {
        "http://127.0.0.1:10000/other/ckpts/a", CKD_AZURE_DEV_ENDPOINT "/ckpts/a?x=1",
        CKD_AZURE_DEV_ENDPOINT "/ckpts/",       CKD_AZURE_DEV_ENDPOINT "/ckpts",
        CKD_AZURE_DEV_ENDPOINT "//a",           CKD_AZURE_DEV_ENDPOINT "/ckpts/a%zz",
        CKD_AZURE_DEV_ENDPOINT "/ckpts/a%2",    CKD_AZURE_DEV_ENDPOINT "/ckpts/a%00b",
        CKD_AZURE_DEV_ENDPOINT "/ckpts/a%0Ab",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = 1;
        CKT_ASSERT(ckd_azure_sas_url(&c, bad[i], T_SAS, 3600, &rc) == NULL);
        CKT_ASSERT_INT_EQ(rc, -EINVAL);
    }
    CKT_ASSERT(ckd_azure_sas_url(&c, url, T_SAS, 0, &rc) == NULL && rc == -EINVAL);
    CKT_ASSERT(ckd_azure_sas_url(&c, url, T_SAS, CKD_AZURE_SAS_MAX_LIFETIME + 1, &rc) == NULL);
    r.expiry = "2026-12-07 10:00:00Z";
    CKT_ASSERT_INT_EQ(ckd_azure_sas_string_to_sign(&r, out, sizeof(out)), -EINVAL);
    r.expiry = "2026-12-07T10:00:00Z";
    r.blob = "";
    CKT_ASSERT_INT_EQ(ckd_azure_sas_string_to_sign(&r, out, sizeof(out)), -EINVAL);
    free(url);
    ckd_azure_creds_release(&c);

    /* An https endpoint: the SAS says so (spr=https, signed). */
    azure_creds(
        "DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=" CKD_AZURE_DEV_KEY, &c);
    url = ckd_azure_blob_url(&c, "ckpts", "u/model.bin");
    s = ckd_azure_sas_url(&c, url, T_SAS, 3600, &rc);
    CKT_ASSERT_STR_EQ(s, "https://myaccount.blob.core.windows.net/ckpts/u/model.bin?sv=2021-08-06&"
                         "spr=https&se=2026-12-07T10%3A00%3A00Z&sr=b&sp=r&sig=plK%2BSzLLYYyn9H9aG%"
                         "2F3c%2F1V4zsv4zwqwBxKoQwDETW0%3D");
    free(s);
    free(url);
    ckd_azure_creds_release(&c);

    /* SAS credentials have no key to sign with. */
    char err[256];
    CKT_ASSERT_INT_EQ(ckd_azure_parse_connection_string(
                          "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=x",
                          &c, err, sizeof(err)),
                      0);
    CKT_ASSERT(ckd_azure_sas_url(&c, "https://a.blob.core.windows.net/c/b", T_SAS, 3600, &rc) ==
               NULL);
    CKT_ASSERT_INT_EQ(rc, -EINVAL);
    ckd_azure_creds_release(&c);
}

static void cache_on(ckd_cache *c, const char *origins)
{
    char why[256], text[256];
    snprintf(text, sizeof(text), "{\"url\":\"http://cache:8080\",\"origins\":%s}", origins);
    ckd_cache_init(c);
    json_t *v = js(text);
    CKT_ASSERT_INT_EQ(ckd_cache_configure(c, v, why, sizeof(why)), 0);
    json_decref(v);
}

/* The header lines of a list, joined by '|'. */
static void joined(const struct curl_slist *h, char *out, size_t cap)
{
    out[0] = '\0';
    for (; h; h = h->next) {
        strncat(out, h->data, cap - strlen(out) - 1);
        if (h->next) strncat(out, "|", cap - strlen(out) - 1);
    }
}

static void test_gcs_via_cache(void)
{
    ckd_cache c;
    cache_on(&c, "[\"gcs\"]");
    ckd_gcs_creds g = {.kind = CKD_GCS_AUTH_HMAC,
                       .access_id = "GOOGTS7C7FUP3AIRVJTE2BCDKINBTES3HC2GY5CBFJDCQ2SYHV6A6XXVTJFSA",
                       .secret = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ"};
    ckd_cache_creds cr = {.gcs = &g};
    const char *url = "https://storage.googleapis.com/test-bucket/ckpts/u%201/model.bin";
    int rc = 1;
    char *via = ckd_cache_req_url(&c, &cr, url, 1549011600, 1000, &rc);
    CKT_ASSERT_INT_EQ(rc, 0);
    /* The cache's path names the kind, scheme, host and object path; the
     * GOOG4 query (an hour) follows as the origin needs it. */
    CKT_ASSERT_STR_EQ(
        via, "http://cache:8080/gcs/https/storage.googleapis.com/test-bucket/ckpts/u%201/model.bin"
             "?X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=GOOGTS7C7FUP3AIRVJTE2BCDKINB"
             "TES3HC2GY5CBFJDCQ2SYHV6A6XXVTJFSA%2F20190201%2Fauto%2Fstorage%2Fgoog4_request&X-Go"
             "og-Date=20190201T090000Z&X-Goog-Expires=3600&X-Goog-SignedHeaders=host&X-Goog-Sign"
             "ature=c627ac19d70b46671fb871d42be2911afe69a12aaf7c24f3d3b918a30671dc6d");
    CKT_ASSERT(strstr(via, g.secret) == NULL);
    free(via);

    /* The range travels as a Range header the cache slices; nothing else. */
    CURL *e = curl_easy_init();
    CKT_ASSERT(e != NULL);
    struct curl_slist *h = NULL;
    char hs[512];
    CKT_ASSERT_INT_EQ(ckd_cache_req_apply(&c, &cr, e, url, 0, 99, 1549011600, 1000, &h), 1);
    joined(h, hs, sizeof(hs));
    CKT_ASSERT_STR_EQ(hs, "Range: bytes=0-99");
    curl_slist_free_all(h);
    h = NULL;

    /* A bearer token: no query, the token in Authorization. */
    ckd_gcs_creds b = {.kind = CKD_GCS_AUTH_BEARER, .token = "ya29.tok"};
    cr.gcs = &b;
    via = ckd_cache_req_url(&c, &cr, url, 1549011600, 1000, &rc);
    CKT_ASSERT_STR_EQ(via, "http://cache:8080/gcs/https/storage.googleapis.com/test-bucket/ckpts/"
                           "u%201/model.bin");
    free(via);
    CKT_ASSERT_INT_EQ(ckd_cache_req_apply(&c, &cr, e, url, 100, -1, 1549011600, 1000, &h), 1);
    joined(h, hs, sizeof(hs));
    CKT_ASSERT_STR_EQ(hs, "Range: bytes=100-|Authorization: Bearer ya29.tok");
    curl_slist_free_all(h);
    h = NULL;

    /* Not routed (the cache resting, s3 not listed): the origin's own way. */
    ckd_cache_failed(&c, 1000);
    CKT_ASSERT(ckd_cache_req_url(&c, &cr, url, 1549011600, 1001, &rc) == NULL && rc == 0);
    CKT_ASSERT_INT_EQ(ckd_cache_req_apply(&c, &cr, e, url, 0, 9, 1549011600, 1001, &h), 0);
    CKT_ASSERT(h == NULL);
    ckd_gcs_creds none = {0};
    cr.gcs = &none;
    CKT_ASSERT(ckd_cache_req_url(&c, &cr, url, 1549011600, 1000000, &rc) == NULL && rc == 0);
    curl_easy_cleanup(e);
    ckd_cache_release(&c);
}

static void test_azure_via_cache(void)
{
    ckd_cache c;
    cache_on(&c, "[\"azure\"]");
    ckd_azure_creds a = {0};
    azure_creds("UseDevelopmentStorage=true", &a);
    ckd_cache_creds cr = {.azure = &a};
    char *url = ckd_azure_blob_url(&a, "ckpts", "0c3f/notes/run 1+2 ~\xc3\xa9.txt");
    int rc = 1;
    char *via = ckd_cache_req_url(&c, &cr, url, T_SAS, 1000, &rc);
    CKT_ASSERT_INT_EQ(rc, 0);
    CKT_ASSERT_STR_EQ(via, "http://cache:8080/azure/http/127.0.0.1:10000/devstoreaccount1/ckpts/"
                           "0c3f/notes/run%201%2B2%20~%C3%A9.txt?sv=2021-08-06&se=2026-12-07T10%"
                           "3A00%3A00Z&sr=b&sp=r&sig=EQ%2BB%2Bg4IUYn5e9p4jCjozhF%2FYSmyOMU86AFkT6"
                           "O5ZoA%3D");
    free(via);
    CURL *e = curl_easy_init();
    CKT_ASSERT(e != NULL);
    struct curl_slist *h = NULL;
    char hs[512];
    CKT_ASSERT_INT_EQ(ckd_cache_req_apply(&c, &cr, e, url, 0, 8388607, T_SAS, 1000, &h), 1);
    joined(h, hs, sizeof(hs));
    /* No Shared Key header, no x-ms-date, no x-ms-range: the SAS is all. */
    CKT_ASSERT_STR_EQ(hs, "Range: bytes=0-8388607|x-ms-version: " CKD_AZURE_VERSION);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    ckd_azure_creds_release(&a);

    /* A SAS of the credentials' own travels as it is. */
    char err[256];
    CKT_ASSERT_INT_EQ(
        ckd_azure_parse_connection_string("BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
                                          "SharedAccessSignature=sv=2021-08-06&sig=abc",
                                          &a, err, sizeof(err)),
        0);
    via = ckd_cache_req_url(&c, &cr, url, T_SAS, 1000, &rc);
    CKT_ASSERT_STR_EQ(via, "http://cache:8080/azure/http/127.0.0.1:10000/devstoreaccount1/ckpts/"
                           "0c3f/notes/run%201%2B2%20~%C3%A9.txt?sv=2021-08-06&sig=abc");
    free(via);
    ckd_azure_creds_release(&a);
    free(url);
    ckd_cache_release(&c);
}

int main(void)
{
    CKT_RUN(test_aws_presigned_example);
    CKT_RUN(test_aws_session_token);
    CKT_RUN(test_goog4);
    CKT_RUN(test_presign_rejects);
    CKT_RUN(test_cfg);
    CKT_RUN(test_rest_and_bypass);
    CKT_RUN(test_azure_sas);
    CKT_RUN(test_gcs_via_cache);
    CKT_RUN(test_azure_via_cache);
    CKT_DONE();
}
