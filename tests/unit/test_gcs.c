/* Unit tests of engine/sigv4.c and engine/gcs.c.
 *
 * The signer reproduces AWS's published "Example: GET Object" of the S3 API
 * reference (Signature Version 4, header-based auth) byte for byte: the
 * canonical request, the string to sign and the Authorization header.
 *
 * Google publishes no V4 HMAC example with fixed inputs (its conformance
 * file v4_signatures.json covers RSA service-account signing only), so the
 * GOOG4 case is checked against values computed independently with the
 * openssl command line, not with this code:
 *
 *   hm() { openssl dgst -sha256 -mac HMAC -macopt "$1" | sed 's/^.*= //'; }
 *   SECRET='bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ'
 *   CR=$'GET\n/example-bucket/ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/'\
 *   $'state%20dict%2B%C3%A9.bin\n\nhost:storage.googleapis.com\n'\
 *   $'x-goog-content-sha256:UNSIGNED-PAYLOAD\nx-goog-date:20240301T120000Z\n\n'\
 *   $'host;x-goog-content-sha256;x-goog-date\nUNSIGNED-PAYLOAD'
 *   H=$(printf '%s' "$CR" | openssl dgst -sha256 | sed 's/^.*= //')
 *   K1=$(printf '%s' 20240301 | hm "key:GOOG4$SECRET")     # kDate
 *   K2=$(printf '%s' auto | hm "hexkey:$K1")               # kRegion
 *   K3=$(printf '%s' storage | hm "hexkey:$K2")            # kService
 *   K4=$(printf '%s' goog4_request | hm "hexkey:$K3")      # kSigning
 *   printf 'GOOG4-HMAC-SHA256\n20240301T120000Z\n20240301/auto/storage/goog4_request\n%s' \
 *     "$H" | hm "hexkey:$K4"                               # the signature
 *
 * Then: object names and URL encoding, the endpoint override, credential
 * precedence (storage, HMAC variables, token variables, token file),
 * missing credentials as -ENOKEY, and the request headers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckt_test.h"
#include "gcs.h"
#include "sigv4.h"

static const char *UUID = "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a";
static const char *G_SECRET = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ";

static char tmpdir[64];
static char tokfile[128];

static const char *ENV_VARS[] = {CKD_GCS_ENV_HMAC_ID,    CKD_GCS_ENV_HMAC_SECRET,
                                 CKD_GCS_ENV_TOKEN,      CKD_GCS_ENV_SDK_TOKEN,
                                 CKD_GCS_ENV_TOKEN_FILE, CKD_GCS_ENV_ENDPOINT};

static void clean_env(void)
{
    for (size_t i = 0; i < sizeof(ENV_VARS) / sizeof(ENV_VARS[0]); i++) unsetenv(ENV_VARS[i]);
}

static ckd_det_storage storage(char *bucket, char *prefix, char *endpoint)
{
    ckd_det_storage st;
    memset(&st, 0, sizeof(st));
    st.type = (char *)"gcs";
    st.bucket = bucket;
    st.prefix = prefix;
    st.endpoint_url = endpoint;
    return st;
}

/* ---- the signer ------------------------------------------------------------- */

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const ckd_sigv4_header AWS_HDRS[] = {
    {"host", "examplebucket.s3.amazonaws.com"},
    {"range", "bytes=0-9"},
    {"x-amz-content-sha256", EMPTY_SHA256},
    {"x-amz-date", "20130524T000000Z"},
};

static ckd_sigv4_req aws_example(void)
{
    ckd_sigv4_req r = {
        .method = "GET",
        .uri = "/test.txt",
        .query = "",
        .headers = AWS_HDRS,
        .n_headers = 4,
        .payload_hash = EMPTY_SHA256,
        .timestamp = "20130524T000000Z",
        .region = "us-east-1",
        .service = "s3",
        .algo_prefix = "AWS4",
        .request_type = "aws4_request",
        .key_id = "AKIAIOSFODNN7EXAMPLE",
        .secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };
    return r;
}

/* AWS S3 API reference, "Signature Calculations for the Authorization
 * Header", Example: GET Object (first 10 bytes of test.txt). */
static void test_aws_get_object_example(void)
{
    ckd_sigv4_req r = aws_example();
    char buf[1024];
    int n = ckd_sigv4_canonical_request(&r, buf, sizeof(buf));
    const char *want_cr = "GET\n"
                          "/test.txt\n"
                          "\n"
                          "host:examplebucket.s3.amazonaws.com\n"
                          "range:bytes=0-9\n"
                          "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                          "x-amz-date:20130524T000000Z\n"
                          "\n"
                          "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256;
    CKT_ASSERT_STR_EQ(buf, want_cr);
    CKT_ASSERT_INT_EQ(n, strlen(want_cr));

    n = ckd_sigv4_string_to_sign(&r, buf, sizeof(buf));
    CKT_ASSERT_STR_EQ(buf, "AWS4-HMAC-SHA256\n"
                           "20130524T000000Z\n"
                           "20130524/us-east-1/s3/aws4_request\n"
                           "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    CKT_ASSERT(n > 0);

    n = ckd_sigv4_sign(&r, buf, sizeof(buf));
    const char *want = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                       "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                       "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    CKT_ASSERT_STR_EQ(buf, want);
    CKT_ASSERT_INT_EQ(n, strlen(want));

    /* Header values are trimmed and inner runs collapsed: same signature. */
    ckd_sigv4_header spaced[4];
    memcpy(spaced, AWS_HDRS, sizeof(spaced));
    spaced[0].value = "  examplebucket.s3.amazonaws.com\t ";
    r.headers = spaced;
    char again[1024];
    CKT_ASSERT(ckd_sigv4_sign(&r, again, sizeof(again)) > 0);
    CKT_ASSERT_STR_EQ(again, want);
    spaced[1].value = "bytes=0-9 ";
    CKT_ASSERT(ckd_sigv4_sign(&r, again, sizeof(again)) > 0);
    CKT_ASSERT_STR_EQ(again, want);
    spaced[1].value = "bytes=0-8";
    CKT_ASSERT(ckd_sigv4_sign(&r, again, sizeof(again)) > 0);
    CKT_ASSERT(strcmp(again, want) != 0);
    /* Collapsing: "a  b" and "a b" canonicalise alike. */
    spaced[1].value = "a  \t b";
    CKT_ASSERT(ckd_sigv4_canonical_request(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT(strstr(buf, "\nrange:a b\n") != NULL);
}

static void test_sigv4_rejects(void)
{
    char buf[1024];
    ckd_sigv4_req r = aws_example();
    /* Output too small: an error and an empty string, never a cut header. */
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, 40), -ENAMETOOLONG);
    CKT_ASSERT_STR_EQ(buf, "");
    CKT_ASSERT_INT_EQ(ckd_sigv4_canonical_request(&r, buf, 10), -ENAMETOOLONG);

    ckd_sigv4_header h[4];
    memcpy(h, AWS_HDRS, sizeof(h));
    r.headers = h;
    h[0] = AWS_HDRS[1]; /* unsorted */
    h[1] = AWS_HDRS[0];
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    memcpy(h, AWS_HDRS, sizeof(h));
    h[1].name = "host"; /* duplicate */
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    memcpy(h, AWS_HDRS, sizeof(h));
    h[0].name = "Host"; /* not lowercase */
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    memcpy(h, AWS_HDRS, sizeof(h));
    h[1].value = "bytes=0-9\r\nx-evil: 1"; /* header injection */
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);

    r = aws_example();
    r.timestamp = "20130524T000000";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.key_id = "AKIA/EXAMPLE";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.region = "us-east-1/x";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.uri = "test.txt";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.uri = "/a b";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.payload_hash = "E3B0";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.method = "get";
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.secret = NULL;
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -EINVAL);
    r = aws_example();
    r.n_headers = CKD_SIGV4_MAX_HEADERS + 1;
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -E2BIG);

    /* Past the cap: refused before anything is built. */
    size_t big = CKD_SIGV4_MAX_FIELD + 1;
    char *longuri = malloc(big + 1);
    CKT_ASSERT(longuri != NULL);
    memset(longuri, 'a', big);
    longuri[0] = '/';
    longuri[big] = '\0';
    r = aws_example();
    r.uri = longuri;
    CKT_ASSERT_INT_EQ(ckd_sigv4_sign(&r, buf, sizeof(buf)), -E2BIG);
    longuri[big - 1] = '\0'; /* exactly at the cap: fine */
    CKT_ASSERT(ckd_sigv4_sign(&r, buf, sizeof(buf)) > 0);
    free(longuri);
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", in[i]);
}

static const ckd_sigv4_header GOOG_HDRS[] = {
    {"host", "storage.googleapis.com"},
    {"x-goog-content-sha256", "UNSIGNED-PAYLOAD"},
    {"x-goog-date", "20240301T120000Z"},
};

#define GOOG_PATH                                                                                  \
    "/example-bucket/ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/state%20dict%2B%C3%A9.bin"
#define GOOG_SIG "a3514723dbabd1666a78b24564a117647f20918fb68a897813f209b4999b3cd9"

/* GOOG4: the values of the openssl commands at the top of this file. */
static void test_goog4_independent(void)
{
    ckd_sigv4_req r = {
        .method = "GET",
        .uri = GOOG_PATH,
        .query = NULL,
        .headers = GOOG_HDRS,
        .n_headers = 3,
        .payload_hash = "UNSIGNED-PAYLOAD",
        .timestamp = "20240301T120000Z",
        .region = "auto",
        .service = "storage",
        .algo_prefix = "GOOG4",
        .request_type = "goog4_request",
        .key_id = "GOOG1EXAMPLEID",
        .secret = G_SECRET,
    };
    char buf[1024];
    CKT_ASSERT(ckd_sigv4_string_to_sign(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT_STR_EQ(buf, "GOOG4-HMAC-SHA256\n20240301T120000Z\n"
                           "20240301/auto/storage/goog4_request\n"
                           "51f2c47400044ae4aaf20709a171d7da573a1e86cce1e9763e0fc5b432ad400e");
    unsigned char key[32];
    char hex[65];
    CKT_ASSERT_INT_EQ(ckd_sigv4_signing_key(&r, key), 0);
    to_hex(key, 32, hex);
    CKT_ASSERT_STR_EQ(hex, "6b06d8b2f59b7a1965719f84ca8e5262402d6d497e54bb8fd043cbb9b4ce51e3");
    /* kDate alone, from the helper: the first link of the chain. */
    char ksecret[64];
    snprintf(ksecret, sizeof(ksecret), "GOOG4%s", G_SECRET);
    CKT_ASSERT_INT_EQ(ckd_hmac_sha256(ksecret, strlen(ksecret), "20240301", 8, key), 0);
    to_hex(key, 32, hex);
    CKT_ASSERT_STR_EQ(hex, "47de7bc4712ed20489a4da1ca06a84d74e53477b863d6c82eab75b24133b7bd1");

    CKT_ASSERT(ckd_sigv4_sign(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT_STR_EQ(buf, "GOOG4-HMAC-SHA256 Credential=GOOG1EXAMPLEID/20240301/auto/storage/"
                           "goog4_request,SignedHeaders=host;x-goog-content-sha256;x-goog-date,"
                           "Signature=" GOOG_SIG);

    ckd_sha256_hex("", 0, hex);
    CKT_ASSERT_STR_EQ(hex, EMPTY_SHA256);
}

/* ---- names and URLs --------------------------------------------------------- */

static void check_name(char *prefix, const char *rel, const char *want)
{
    ckd_det_storage st = storage((char *)"b", prefix, NULL);
    char *name = ckd_gcs_object_name(&st, UUID, rel);
    CKT_ASSERT_STR_EQ(name, want);
    free(name);
}

static void test_object_name(void)
{
    check_name(NULL, "state_dict.pth", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/state_dict.pth");
    check_name((char *)"", "a/b.bin", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/a/b.bin");
    check_name((char *)"prod", "x", "prod/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_name((char *)"/prod", "x", "prod/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_name((char *)"//team/ckpts/", "x", "team/ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_name((char *)"p", NULL, "p/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/");
    CKT_ASSERT(ckd_gcs_object_name(NULL, "", "x") == NULL);
    char *n = ckd_gcs_object_name(NULL, UUID, "x");
    CKT_ASSERT_STR_EQ(n, "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    free(n);
}

static void check_url(char *bucket, char *endpoint, const char *object, const char *want)
{
    ckd_det_storage st = storage(bucket, NULL, endpoint);
    char *url = ckd_gcs_object_url(&st, object);
    if (want)
        CKT_ASSERT_STR_EQ(url, want);
    else
        CKT_ASSERT(url == NULL);
    free(url);
}

static void test_object_url(void)
{
    clean_env();
    check_url((char *)"example-bucket", NULL, "ckpts/u/state dict+é.bin",
              "https://storage.googleapis.com/example-bucket/ckpts/u/state%20dict%2B%C3%A9.bin");
    check_url((char *)"b", NULL, "a~b_c-d.e/f", "https://storage.googleapis.com/b/a~b_c-d.e/f");
    check_url((char *)"b", NULL, "q?x#y%z&=:@",
              "https://storage.googleapis.com/b/q%3Fx%23y%25z%26%3D%3A%40");
    check_url((char *)"b", (char *)"http://127.0.0.1:4443/", "k", "http://127.0.0.1:4443/b/k");
    /* The operator's variable wins over the storage's endpoint_url. */
    setenv(CKD_GCS_ENV_ENDPOINT, "http://localhost:9/gcs//", 1);
    check_url((char *)"b", (char *)"http://127.0.0.1:4443", "k", "http://localhost:9/gcs/b/k");
    CKT_ASSERT_STR_EQ(ckd_gcs_endpoint(NULL), "http://localhost:9/gcs//");
    clean_env();
    CKT_ASSERT_STR_EQ(ckd_gcs_endpoint(NULL), CKD_GCS_DEFAULT_ENDPOINT);
    check_url(NULL, NULL, "k", NULL);
    check_url((char *)"", NULL, "k", NULL);
    check_url((char *)"b", NULL, "", NULL);
    check_url((char *)"b", NULL, NULL, NULL);
    CKT_ASSERT(ckd_gcs_object_url(NULL, "k") == NULL);
}

/* ---- credentials ------------------------------------------------------------ */

static void resolve_ok(const ckd_det_storage *st, enum ckd_gcs_auth kind, const char *a,
                       const char *b)
{
    ckd_gcs_creds c;
    char err[256] = "";
    int rc = ckd_gcs_creds_resolve(st, &c, err, sizeof(err));
    if (rc != 0) CKT_FAIL("resolve: %d %s", rc, err);
    CKT_ASSERT_INT_EQ(c.kind, kind);
    if (kind == CKD_GCS_AUTH_HMAC) {
        CKT_ASSERT_STR_EQ(c.access_id, a);
        CKT_ASSERT_STR_EQ(c.secret, b);
        CKT_ASSERT(c.token == NULL);
    } else {
        CKT_ASSERT_STR_EQ(c.token, a);
        CKT_ASSERT(c.access_id == NULL && c.secret == NULL);
    }
    ckd_gcs_creds_release(&c);
    CKT_ASSERT(c.kind == CKD_GCS_AUTH_NONE && c.token == NULL && c.secret == NULL);
}

/* Fails with want_rc, a message containing want_msg and never secret. */
static void resolve_fails(const ckd_det_storage *st, int want_rc, const char *want_msg,
                          const char *secret)
{
    ckd_gcs_creds c;
    char err[256] = "";
    CKT_ASSERT_INT_EQ(ckd_gcs_creds_resolve(st, &c, err, sizeof(err)), want_rc);
    if (!strstr(err, want_msg)) CKT_FAIL("message '%s' lacks '%s'", err, want_msg);
    if (secret && strstr(err, secret)) CKT_FAIL("message '%s' quotes the secret", err);
    CKT_ASSERT(c.kind == CKD_GCS_AUTH_NONE && c.access_id == NULL && c.secret == NULL &&
               c.token == NULL);
}

static void test_creds(void)
{
    clean_env();
    ckd_det_storage st = storage((char *)"b", NULL, NULL);
    resolve_fails(&st, -ENOKEY, "no gcs credentials", NULL);
    resolve_fails(NULL, -ENOKEY, "GCS_HMAC_ACCESS_ID", NULL);

    /* Token file: first line, trimmed. */
    ckt_write_file(tokfile, "  ya29.file-token\r\nsecond line\n");
    setenv(CKD_GCS_ENV_TOKEN_FILE, tokfile, 1);
    resolve_ok(&st, CKD_GCS_AUTH_BEARER, "ya29.file-token", NULL);
    ckt_write_file(tokfile, "ya29.no-newline");
    resolve_ok(&st, CKD_GCS_AUTH_BEARER, "ya29.no-newline", NULL);
    ckt_write_file(tokfile, "\nya29.second-line-does-not-count\n");
    resolve_fails(&st, -EINVAL, "cannot read an access token", "ya29");
    ckt_write_file(tokfile, "");
    resolve_fails(&st, -EINVAL, "GOOGLE_OAUTH_ACCESS_TOKEN_FILE", NULL);
    ckt_write_file(tokfile, "ya29.has space\n");
    resolve_fails(&st, -EINVAL, "invalid gcs access token", "ya29");
    setenv(CKD_GCS_ENV_TOKEN_FILE, "/nonexistent/ckptd-test/token", 1);
    resolve_fails(&st, -EINVAL, "/nonexistent/ckptd-test/token", NULL);
    setenv(CKD_GCS_ENV_TOKEN_FILE, tmpdir, 1); /* a directory */
    resolve_fails(&st, -EINVAL, "cannot read", NULL);
    ckt_write_file(tokfile, "ya29.file-token\n");
    setenv(CKD_GCS_ENV_TOKEN_FILE, tokfile, 1);

    /* The token variables beat the file; GOOGLE_ beats CLOUDSDK_. */
    setenv(CKD_GCS_ENV_SDK_TOKEN, "ya29.sdk", 1);
    resolve_ok(&st, CKD_GCS_AUTH_BEARER, "ya29.sdk", NULL);
    setenv(CKD_GCS_ENV_TOKEN, "ya29.env", 1);
    resolve_ok(&st, CKD_GCS_AUTH_BEARER, "ya29.env", NULL);
    setenv(CKD_GCS_ENV_TOKEN, "", 1); /* empty = unset */
    resolve_ok(&st, CKD_GCS_AUTH_BEARER, "ya29.sdk", NULL);
    setenv(CKD_GCS_ENV_TOKEN, "ya29.evil\r\nX-Injected: 1", 1);
    resolve_fails(&st, -EINVAL, "invalid gcs access token in GOOGLE_OAUTH_ACCESS_TOKEN", "evil");
    setenv(CKD_GCS_ENV_TOKEN, "ya29.env", 1);

    /* HMAC variables beat tokens; only one of them is an error. */
    setenv(CKD_GCS_ENV_HMAC_ID, "GOOG1ENVID", 1);
    resolve_fails(&st, -EINVAL, "GCS_HMAC_SECRET is not", NULL);
    unsetenv(CKD_GCS_ENV_HMAC_ID);
    setenv(CKD_GCS_ENV_HMAC_SECRET, "envsecret", 1);
    resolve_fails(&st, -EINVAL, "GCS_HMAC_ACCESS_ID is not", "envsecret");
    setenv(CKD_GCS_ENV_HMAC_ID, "GOOG1ENVID", 1);
    resolve_ok(&st, CKD_GCS_AUTH_HMAC, "GOOG1ENVID", "envsecret");
    setenv(CKD_GCS_ENV_HMAC_ID, "GOOG1/ID", 1);
    resolve_fails(&st, -EINVAL, "invalid gcs hmac access id", "envsecret");
    setenv(CKD_GCS_ENV_HMAC_ID, "GOOG1ENVID", 1);
    setenv(CKD_GCS_ENV_HMAC_SECRET, "zqx\nzqx", 1);
    resolve_fails(&st, -EINVAL, "invalid gcs hmac secret in the environment", "zqx");
    setenv(CKD_GCS_ENV_HMAC_SECRET, "envsecret", 1);

    /* The storage's keys beat everything. */
    st.access_key = (char *)"GOOG1STID";
    st.secret_key = (char *)"stsecret";
    resolve_ok(&st, CKD_GCS_AUTH_HMAC, "GOOG1STID", "stsecret");
    st.secret_key = (char *)"";
    resolve_ok(&st, CKD_GCS_AUTH_HMAC, "GOOG1ENVID", "envsecret");
    clean_env();
    unlink(tokfile);
}

/* ---- request headers -------------------------------------------------------- */

static void check_list(struct curl_slist *l, const char *const *want, size_t n)
{
    size_t i = 0;
    for (; l; l = l->next, i++) {
        if (i >= n) CKT_FAIL("extra header '%s'", l->data);
        CKT_ASSERT_STR_EQ(l->data, want[i]);
    }
    CKT_ASSERT_INT_EQ(i, n);
}

static void test_request_headers(void)
{
    clean_env();
    ckd_gcs_creds c = {CKD_GCS_AUTH_HMAC, (char *)"GOOG1EXAMPLEID", (char *)G_SECRET, NULL};
    ckd_det_storage st = storage((char *)"example-bucket", NULL, NULL);
    char *url =
        ckd_gcs_object_url(&st, "ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/state dict+é.bin");
    CKT_ASSERT(url != NULL);
    struct curl_slist *l = NULL;
    /* 1709294400 is 2024-03-01T12:00:00Z: the request of the openssl
     * commands at the top, so the signature is the same. */
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, url, 1709294400, 0, 1023, &l), 0);
    const char *want[] = {
        "Host: storage.googleapis.com",
        "x-goog-content-sha256: UNSIGNED-PAYLOAD",
        "x-goog-date: 20240301T120000Z",
        "Authorization: GOOG4-HMAC-SHA256 Credential=GOOG1EXAMPLEID/20240301/auto/storage/"
        "goog4_request,SignedHeaders=host;x-goog-content-sha256;x-goog-date,Signature=" GOOG_SIG,
        "Range: bytes=0-1023",
    };
    check_list(l, want, 5);
    curl_slist_free_all(l);
    /* The range is not signed: another range, the same first four lines. */
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, url, 1709294400, 4096, -1, &l), 0);
    const char *want_open[] = {want[0], want[1], want[2], want[3], "Range: bytes=4096-"};
    check_list(l, want_open, 5);
    curl_slist_free_all(l);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, url, 1709294400, -1, -1, &l), 0);
    check_list(l, want, 4);
    curl_slist_free_all(l);
    free(url);

    /* A port is part of Host, and of what is signed. */
    CKT_ASSERT_INT_EQ(
        ckd_gcs_request_headers(&c, "http://127.0.0.1:4443/b/k", 1709294400, -1, -1, &l), 0);
    CKT_ASSERT_STR_EQ(l->data, "Host: 127.0.0.1:4443");
    curl_slist_free_all(l);

    ckd_gcs_creds t = {CKD_GCS_AUTH_BEARER, NULL, NULL, (char *)"ya29.tok"};
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&t, "https://h/b/k", 0, 10, 19, &l), 0);
    const char *want_b[] = {"Authorization: Bearer ya29.tok", "Range: bytes=10-19"};
    check_list(l, want_b, 2);
    curl_slist_free_all(l);

    ckd_gcs_creds none = {CKD_GCS_AUTH_NONE, NULL, NULL, NULL};
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&none, "https://h/b/k", 0, -1, -1, &l), -EINVAL);
    CKT_ASSERT(l == NULL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&t, "https://h/b/k", 0, 20, 19, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, "ftp://h/b/k", 0, -1, -1, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, "https://h", 0, -1, -1, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, "https://h/b/k?x=1", 0, -1, -1, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, "https://u:p@h/b/k", 0, -1, -1, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, "https://h/b/k\r\nX: y", 0, -1, -1, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_gcs_request_headers(&c, "https://h/b/k", -1, -1, -1, &l), -EINVAL);
    CKT_ASSERT(l == NULL);
}

static void cleanup(void)
{
    unlink(tokfile);
    rmdir(tmpdir);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/ckt-gcs.XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
    CKT_ASSERT(mkdtemp(tmpdir) != NULL);
    snprintf(tokfile, sizeof(tokfile), "%s/token", tmpdir);
    atexit(cleanup);

    CKT_RUN(test_aws_get_object_example);
    CKT_RUN(test_sigv4_rejects);
    CKT_RUN(test_goog4_independent);
    CKT_RUN(test_object_name);
    CKT_RUN(test_object_url);
    CKT_RUN(test_creds);
    CKT_RUN(test_request_headers);
    CKT_DONE();
}
