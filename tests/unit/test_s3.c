/* Unit tests of engine/s3.c: object keys, URL encoding, credential
 * precedence (storage config, environment, shared credentials file with
 * profiles), the region default and the libcurl parameters.
 *
 * With CKT_S3_ENDPOINT set (tests/e2e/s3_smoke.sh does), it instead checks
 * the whole path against a real SigV4-checking server: credentials from the
 * environment, key and URL from the storage config, libcurl's
 * CURLOPT_AWS_SIGV4 with ckd_s3_curl_params() -> a full GET and a ranged
 * GET return the object's bytes, a session token is signed too, and a wrong
 * secret gets 403. Variables: CKT_S3_ENDPOINT, CKT_S3_BUCKET, CKT_S3_PREFIX,
 * CKT_S3_UUID, CKT_S3_REL, CKT_S3_FILE (the object's expected bytes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckt_test.h"
#include "s3.h"

static const char *UUID = "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a";

static char tmpdir[64];
static char credfile[128];

static const char *ENV_VARS[] = {"AWS_ACCESS_KEY_ID",  "AWS_SECRET_ACCESS_KEY",
                                 "AWS_SESSION_TOKEN",  "AWS_SHARED_CREDENTIALS_FILE",
                                 "AWS_PROFILE",        "AWS_REGION",
                                 "AWS_DEFAULT_REGION", "HOME"};

/* Every AWS variable unset, and HOME pointing at an empty directory, so
 * that the tester's own ~/.aws/credentials never leaks in. */
static void clean_env(void)
{
    for (size_t i = 0; i < sizeof(ENV_VARS) / sizeof(ENV_VARS[0]); i++) unsetenv(ENV_VARS[i]);
    setenv("HOME", tmpdir, 1);
}

static ckd_det_storage storage(char *bucket, char *prefix, char *endpoint)
{
    ckd_det_storage st;
    memset(&st, 0, sizeof(st));
    st.type = (char *)"s3";
    st.bucket = bucket;
    st.prefix = prefix;
    st.endpoint_url = endpoint;
    return st;
}

static void check_key(char *prefix, const char *rel, const char *want)
{
    ckd_det_storage st = storage((char *)"b", prefix, NULL);
    char *key = ckd_s3_object_key(&st, UUID, rel);
    CKT_ASSERT_STR_EQ(key, want);
    free(key);
}

static void test_object_key(void)
{
    check_key(NULL, "state_dict.pth", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/state_dict.pth");
    check_key((char *)"", "a/b.bin", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/a/b.bin");
    check_key((char *)"/", "x", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_key((char *)"///", "x", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_key((char *)"prod", "x", "prod/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_key((char *)"/prod", "x", "prod/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_key((char *)"//prod/", "x", "prod/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_key((char *)"team/ckpts//", "données/poids ü.bin",
              "team/ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/données/poids ü.bin");
    check_key((char *)"p", NULL, "p/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/");
    check_key((char *)"p", "", "p/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/");
    /* No storage at all: no prefix. */
    char *key = ckd_s3_object_key(NULL, "u", "r");
    CKT_ASSERT_STR_EQ(key, "u/r");
    free(key);
    ckd_det_storage st = storage((char *)"b", NULL, NULL);
    CKT_ASSERT(ckd_s3_object_key(&st, NULL, "r") == NULL);
    CKT_ASSERT(ckd_s3_object_key(&st, "", "r") == NULL);
}

static void check_enc(const char *in, int keep_slash, const char *want)
{
    char *e = ckd_s3_uri_encode(in, keep_slash);
    CKT_ASSERT_STR_EQ(e, want);
    free(e);
}

static void test_uri_encode(void)
{
    check_enc("", 1, "");
    check_enc("AZaz09-._~/", 1, "AZaz09-._~/");
    check_enc("a/b", 0, "a%2Fb");
    check_enc("a b", 1, "a%20b");
    check_enc("a+b", 1, "a%2Bb");
    check_enc("données/poids ü.bin", 1, "donn%C3%A9es/poids%20%C3%BC.bin");
    check_enc("!*'();:@&=$,?#[]%\"<>\\^`{|}", 1,
              "%21%2A%27%28%29%3B%3A%40%26%3D%24%2C%3F%23%5B%5D%25%22%3C%3E%5C%5E%60%7B%7C%7D");
    check_enc("\x01\x7f\xff", 1, "%01%7F%FF");
}

static void check_url(char *bucket, char *prefix, char *endpoint, const char *region,
                      const char *rel, const char *want)
{
    ckd_det_storage st = storage(bucket, prefix, endpoint);
    char *key = ckd_s3_object_key(&st, UUID, rel);
    CKT_ASSERT(key != NULL);
    char *url = ckd_s3_object_url(&st, region, key);
    CKT_ASSERT_STR_EQ(url, want);
    free(url);
    free(key);
}

static void test_object_url(void)
{
    check_url((char *)"det-ckpts", (char *)"prod", NULL, "eu-west-1", "state_dict.pth",
              "https://det-ckpts.s3.eu-west-1.amazonaws.com/prod/"
              "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/state_dict.pth");
    check_url((char *)"det-ckpts", NULL, NULL, NULL, "données/poids ü.bin",
              "https://det-ckpts.s3.us-east-1.amazonaws.com/"
              "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/donn%C3%A9es/poids%20%C3%BC.bin");
    check_url((char *)"b", (char *)"/ckpts/", (char *)"http://127.0.0.1:9000/", "us-east-1",
              "a b+c~d.bin",
              "http://127.0.0.1:9000/b/ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/"
              "a%20b%2Bc~d.bin");
    check_url((char *)"b", NULL, (char *)"http://minio:9000/s3//", NULL, "x",
              "http://minio:9000/s3/b/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    /* Buckets that cannot be a TLS host label go path-style. */
    check_url((char *)"my.dotted.bucket", NULL, NULL, "us-west-2", "x",
              "https://s3.us-west-2.amazonaws.com/my.dotted.bucket/"
              "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    check_url(
        (char *)"Old_Bucket", NULL, NULL, "us-east-1", "x",
        "https://s3.us-east-1.amazonaws.com/Old_Bucket/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/x");
    ckd_det_storage st = storage(NULL, NULL, NULL);
    CKT_ASSERT(ckd_s3_object_url(&st, NULL, "k") == NULL);
    st.bucket = (char *)"b";
    CKT_ASSERT(ckd_s3_object_url(&st, NULL, "") == NULL);
    CKT_ASSERT(ckd_s3_object_url(NULL, NULL, "k") == NULL);
}

static const char *CREDS_TEXT = "\xef\xbb\xbf# a comment line\n"
                                "; another comment\n"
                                "[default]\n"
                                "aws_access_key_id = AKIDDEFAULT\n"
                                "aws_secret_access_key=defaultsecret/+abc   # inline comment\n"
                                "\n"
                                "[  other  ]\r\n"
                                "  AWS_ACCESS_KEY_ID: AKIDOTHER\r\n"
                                "aws_secret_access_key = other#secret;x\r\n"
                                "aws_session_token = TOKEN/OTHER== ; trailing comment\r\n"
                                "region = eu-central-1\r\n"
                                "[partial]\n"
                                "aws_access_key_id = AKIDPARTIAL\n"
                                "[later]\n"
                                "aws_access_key_id = AKIDFIRST\n"
                                "aws_secret_access_key = first\n"
                                "aws_access_key_id = AKIDSECOND\n";

static void resolve_ok(const ckd_det_storage *st, const char *ak, const char *sk, const char *tok,
                       const char *region)
{
    ckd_s3_creds c;
    char err[256] = "";
    int rc = ckd_s3_creds_resolve(st, &c, err, sizeof(err));
    if (rc != 0) CKT_FAIL("resolve: %d %s", rc, err);
    CKT_ASSERT_STR_EQ(c.access_key, ak);
    CKT_ASSERT_STR_EQ(c.secret_key, sk);
    if (tok)
        CKT_ASSERT_STR_EQ(c.session_token, tok);
    else
        CKT_ASSERT(c.session_token == NULL);
    CKT_ASSERT_STR_EQ(c.region, region);
    ckd_s3_creds_release(&c);
    CKT_ASSERT(c.access_key == NULL && c.secret_key == NULL && c.region == NULL);
}

static void resolve_fails(const ckd_det_storage *st, int want_rc, const char *want_msg)
{
    ckd_s3_creds c;
    char err[256] = "";
    int rc = ckd_s3_creds_resolve(st, &c, err, sizeof(err));
    CKT_ASSERT_INT_EQ(rc, want_rc);
    CKT_ASSERT(c.access_key == NULL && c.secret_key == NULL && c.session_token == NULL &&
               c.region == NULL);
    if (strstr(err, want_msg) == NULL) CKT_FAIL("message '%s' lacks '%s'", err, want_msg);
}

static void test_creds_precedence(void)
{
    clean_env();
    ckd_det_storage st = storage((char *)"b", NULL, NULL);

    resolve_fails(&st, -ENOKEY,
                  "no s3 credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a shared "
                  "credentials file, or access_key/secret_key in the checkpoint storage");
    resolve_fails(NULL, -ENOKEY, "no s3 credentials");

    /* The shared file, default profile, from AWS_SHARED_CREDENTIALS_FILE. */
    ckt_write_file(credfile, CREDS_TEXT);
    setenv("AWS_SHARED_CREDENTIALS_FILE", credfile, 1);
    resolve_ok(&st, "AKIDDEFAULT", "defaultsecret/+abc", NULL, "us-east-1");
    /* Another profile: ':' separator, key names in capitals, CRLF, '#'
     * and ';' inside a value are not comments, " ;" is. */
    setenv("AWS_PROFILE", "other", 1);
    resolve_ok(&st, "AKIDOTHER", "other#secret;x", "TOKEN/OTHER==", "us-east-1");
    setenv("AWS_PROFILE", "later", 1);
    resolve_ok(&st, "AKIDSECOND", "first", NULL, "us-east-1");
    setenv("AWS_PROFILE", "partial", 1);
    resolve_fails(&st, -ENOKEY, "no s3 credentials");
    setenv("AWS_PROFILE", "missing", 1);
    resolve_fails(&st, -ENOKEY, "no s3 credentials");
    unsetenv("AWS_PROFILE");

    /* $HOME/.aws/credentials when AWS_SHARED_CREDENTIALS_FILE is unset. */
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    resolve_fails(&st, -ENOKEY, "no s3 credentials");
    char dir[160], home_creds[192];
    snprintf(dir, sizeof(dir), "%s/.aws", tmpdir);
    CKT_ASSERT(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(home_creds, sizeof(home_creds), "%s/credentials", dir);
    ckt_write_file(home_creds,
                   "[default]\naws_access_key_id=AKIDHOME\naws_secret_access_key=home\n");
    resolve_ok(&st, "AKIDHOME", "home", NULL, "us-east-1");
    /* A file named by the variable wins over $HOME's, even when missing. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ckptd-test/credentials", 1);
    resolve_fails(&st, -ENOKEY, "no s3 credentials");
    setenv("AWS_SHARED_CREDENTIALS_FILE", credfile, 1);

    /* The environment beats the file; a half-set environment does not count. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    resolve_ok(&st, "AKIDDEFAULT", "defaultsecret/+abc", NULL, "us-east-1");
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    resolve_ok(&st, "AKIDDEFAULT", "defaultsecret/+abc", NULL, "us-east-1");
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    resolve_ok(&st, "AKIDENV", "envsecret", NULL, "us-east-1");
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    resolve_ok(&st, "AKIDENV", "envsecret", "envtoken", "us-east-1");

    /* The storage config beats both, and takes no token from the environment. */
    st.access_key = (char *)"AKIDCONFIG";
    resolve_ok(&st, "AKIDENV", "envsecret", "envtoken", "us-east-1"); /* half: skipped */
    st.secret_key = (char *)"configsecret";
    resolve_ok(&st, "AKIDCONFIG", "configsecret", NULL, "us-east-1");
    st.access_key = (char *)"";
    resolve_ok(&st, "AKIDENV", "envsecret", "envtoken", "us-east-1");
    clean_env();
}

static void test_region(void)
{
    clean_env();
    ckd_det_storage st = storage((char *)"b", NULL, NULL);
    st.access_key = (char *)"AK";
    st.secret_key = (char *)"SK";
    resolve_ok(&st, "AK", "SK", NULL, "us-east-1");
    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    resolve_ok(&st, "AK", "SK", NULL, "eu-west-3");
    setenv("AWS_REGION", "ap-south-1", 1);
    resolve_ok(&st, "AK", "SK", NULL, "ap-south-1");
    setenv("AWS_REGION", "", 1); /* empty = unset */
    resolve_ok(&st, "AK", "SK", NULL, "eu-west-3");
    setenv("AWS_REGION", "us-east-1:evil", 1);
    resolve_fails(&st, -EINVAL, "invalid aws region");
    clean_env();
}

static void test_bad_creds(void)
{
    clean_env();
    ckd_det_storage st = storage((char *)"b", NULL, NULL);
    st.access_key = (char *)"AK:X";
    st.secret_key = (char *)"TOPSECRET";
    char err[256] = "";
    ckd_s3_creds c;
    CKT_ASSERT_INT_EQ(ckd_s3_creds_resolve(&st, &c, err, sizeof(err)), -EINVAL);
    CKT_ASSERT(strstr(err, "access key") != NULL);
    CKT_ASSERT(strstr(err, "TOPSECRET") == NULL && strstr(err, "AK:X") == NULL);

    st.access_key = st.secret_key = NULL;
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "TOPSECRET", 1);
    setenv("AWS_SESSION_TOKEN", "tok\r\nX-Injected: 1", 1);
    CKT_ASSERT_INT_EQ(ckd_s3_creds_resolve(&st, &c, err, sizeof(err)), -EINVAL);
    CKT_ASSERT(strstr(err, "session token in the environment") != NULL);
    CKT_ASSERT(strstr(err, "Injected") == NULL && strstr(err, "TOPSECRET") == NULL);
    clean_env();
}

static void test_curl_params(void)
{
    ckd_s3_creds c = {0};
    c.access_key = (char *)"S3RVER";
    c.secret_key = (char *)"se:cret";
    c.region = (char *)"eu-west-1";
    char sig[64];
    char *up = (char *)1;
    struct curl_slist *h = (struct curl_slist *)1;
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(&c, sig, sizeof(sig), &up, &h), 0);
    CKT_ASSERT_STR_EQ(sig, "aws:amz:eu-west-1:s3");
    CKT_ASSERT_STR_EQ(up, "S3RVER:se:cret");
    CKT_ASSERT(h != NULL && h->next == NULL);
    CKT_ASSERT_STR_EQ(h->data, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    free(up);
    curl_slist_free_all(h);

    c.session_token = (char *)"FwoGZXIvYXdzE/+token==";
    c.region = NULL; /* default */
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(&c, sig, sizeof(sig), &up, &h), 0);
    CKT_ASSERT_STR_EQ(sig, "aws:amz:us-east-1:s3");
    CKT_ASSERT(h != NULL && h->next != NULL && h->next->next == NULL);
    CKT_ASSERT_STR_EQ(h->data, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    CKT_ASSERT_STR_EQ(h->next->data, "x-amz-security-token: FwoGZXIvYXdzE/+token==");
    free(up);
    curl_slist_free_all(h);

    char small[8];
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(&c, small, sizeof(small), &up, &h), -ENAMETOOLONG);
    CKT_ASSERT(up == NULL && h == NULL);
    c.session_token = (char *)"a\nb";
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(&c, sig, sizeof(sig), &up, &h), -EINVAL);
    c.session_token = NULL;
    c.access_key = (char *)"a:b";
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(&c, sig, sizeof(sig), &up, &h), -EINVAL);
    c.access_key = NULL;
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(&c, sig, sizeof(sig), &up, &h), -EINVAL);
    CKT_ASSERT(up == NULL && h == NULL);
}

/* ---- live mode ------------------------------------------------------------ */

typedef struct membuf {
    char *data;
    size_t len;
} membuf;

static size_t membuf_write(char *p, size_t size, size_t n, void *ud)
{
    membuf *b = ud;
    size_t add = size * n;
    char *d = realloc(b->data, b->len + add + 1);
    if (!d) return 0;
    memcpy(d + b->len, p, add);
    b->data = d;
    b->len += add;
    d[b->len] = '\0';
    return add;
}

/* GET url signed with c; range NULL for the whole object. Returns the HTTP
 * status; the body in *body (malloc'd). */
static long live_get(const ckd_s3_creds *c, const char *url, const char *range, membuf *body)
{
    char sigv4[128];
    char *userpwd;
    struct curl_slist *headers;
    CKT_ASSERT_INT_EQ(ckd_s3_curl_params(c, sigv4, sizeof(sigv4), &userpwd, &headers), 0);
    CURL *h = curl_easy_init();
    CKT_ASSERT(h != NULL);
    memset(body, 0, sizeof(*body));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    if (range) curl_easy_setopt(h, CURLOPT_RANGE, range);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) CKT_FAIL("GET %s: %s", url, curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    explicit_bzero(userpwd, strlen(userpwd));
    free(userpwd);
    return status;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) CKT_FAIL("cannot open %s", path);
    membuf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        CKT_ASSERT(membuf_write(chunk, 1, n, &b) == n);
    fclose(f);
    *len = b.len;
    return b.data;
}

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) CKT_FAIL("live mode needs %s", name);
    return v;
}

static void test_live_s3(void)
{
    ckd_det_storage st = storage((char *)need_env("CKT_S3_BUCKET"), getenv("CKT_S3_PREFIX"),
                                 (char *)need_env("CKT_S3_ENDPOINT"));
    size_t want_len;
    char *want = read_all(need_env("CKT_S3_FILE"), &want_len);
    CKT_ASSERT(want_len >= 200);

    ckd_s3_creds c;
    char err[256] = "";
    int rc = ckd_s3_creds_resolve(&st, &c, err, sizeof(err));
    if (rc != 0) CKT_FAIL("resolve: %s", err);
    char *key = ckd_s3_object_key(&st, need_env("CKT_S3_UUID"), need_env("CKT_S3_REL"));
    char *url = ckd_s3_object_url(&st, c.region, key);
    CKT_ASSERT(key && url);
    printf("# live: GET %s\n", url);

    membuf body;
    CKT_ASSERT_INT_EQ(live_get(&c, url, NULL, &body), 200);
    CKT_ASSERT(body.len == want_len && memcmp(body.data, want, want_len) == 0);
    free(body.data);
    CKT_ASSERT_INT_EQ(live_get(&c, url, "100-199", &body), 206);
    CKT_ASSERT_MEM_EQ(body.data, body.len, want + 100, (size_t)100);
    free(body.data);

    /* A session token goes into a signed header; the signature still holds. */
    char *tok = strdup("FwoGZXIvYXdzEXAMPLE/+token==");
    CKT_ASSERT(tok != NULL);
    c.session_token = tok;
    CKT_ASSERT_INT_EQ(live_get(&c, url, "0-9", &body), 206);
    CKT_ASSERT_MEM_EQ(body.data, body.len, want, (size_t)10);
    free(body.data);

    /* A wrong secret is refused. */
    char *good = c.secret_key;
    c.secret_key = strdup("not-the-secret");
    CKT_ASSERT(c.secret_key != NULL);
    long status = live_get(&c, url, NULL, &body);
    CKT_ASSERT_INT_EQ(status, 403);
    CKT_ASSERT(body.data && strstr(body.data, "SignatureDoesNotMatch") != NULL);
    free(body.data);
    free(c.secret_key);
    c.secret_key = good;

    ckd_s3_creds_release(&c);
    free(key);
    free(url);
    free(want);
}

static void cleanup(void)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/.aws/credentials", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/.aws", tmpdir);
    rmdir(path);
    unlink(credfile);
    rmdir(tmpdir);
}

int main(void)
{
    if (getenv("CKT_S3_ENDPOINT")) {
        CKT_ASSERT(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
        CKT_RUN(test_live_s3);
        curl_global_cleanup();
        CKT_DONE();
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/ckt-s3.XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
    CKT_ASSERT(mkdtemp(tmpdir) != NULL);
    snprintf(credfile, sizeof(credfile), "%s/credentials", tmpdir);
    atexit(cleanup);

    CKT_RUN(test_object_key);
    CKT_RUN(test_uri_encode);
    CKT_RUN(test_object_url);
    CKT_RUN(test_creds_precedence);
    CKT_RUN(test_region);
    CKT_RUN(test_bad_creds);
    CKT_RUN(test_curl_params);
    CKT_DONE();
}
