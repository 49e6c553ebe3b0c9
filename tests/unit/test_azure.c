/* Unit tests of engine/azure.c.
 *
 * The string to sign reproduces Microsoft's documented example (Azure
 * Storage REST API, "Authorize with Shared Key" / "Call REST API
 * operations with Shared Key authorization": Get Container Metadata,
 * GET https://myaccount.blob.core.windows.net/mycontainer?restype=container
 * &comp=metadata&timeout=20 with x-ms-date Fri, 26 Jun 2015 23:39:12 GMT and
 * x-ms-version 2015-02-21) byte for byte. Signatures use the emulator's
 * published account key (devstoreaccount1) and are checked against values
 * computed independently with the openssl command line:
 *
 *   KEYHEX=$(printf '%s' "$CKD_AZURE_DEV_KEY" | base64 -d | od -An -tx1 -v | tr -d ' \n')
 *   printf '%s' "$STRING_TO_SIGN" \
 *     | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEYHEX -binary | base64
 *
 * with STRING_TO_SIGN the DOC_STS and RANGED_STS strings below (bash $'...'
 * quoting for the '\n's).
 *
 * Then: connection strings (pieces, defaults, errors, -ENOKEY), account
 * URLs with the environment, blob names, URL encoding, SAS appending, and
 * the request headers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure.h"
#include "ckt_test.h"

static const char *UUID = "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a";

static const char *ENV_VARS[] = {CKD_AZURE_ENV_CONNSTR, CKD_AZURE_ENV_ACCOUNT, CKD_AZURE_ENV_KEY,
                                 CKD_AZURE_ENV_SAS};

static void clean_env(void)
{
    for (size_t i = 0; i < sizeof(ENV_VARS) / sizeof(ENV_VARS[0]); i++) unsetenv(ENV_VARS[i]);
}

#define DOC_STS                                                                                    \
    "GET\n\n\n\n\n\n\n\n\n\n\n\n"                                                                  \
    "x-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n"                           \
    "/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20"
#define DOC_SIG "1u9lui2jDxj0+fpbHjQ5m5NnastJRSYM+PSmfi8TXx4="

#define RANGED_STS                                                                                 \
    "GET\n\n\n\n\n\n\n\n\n\n\n\n"                                                                  \
    "x-ms-date:Fri, 01 Mar 2024 12:00:00 GMT\nx-ms-range:bytes=0-1023\n"                           \
    "x-ms-version:2021-08-06\n"                                                                    \
    "/devstoreaccount1/devstoreaccount1/ckpts/7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/"               \
    "state%20dict.bin"
#define RANGED_SIG "1nAHEkR5odc9kgVojEyjVB9+lU4nN4mjlq+chaCh9eI="

/* The dev account, decoded, through the parser. */
static ckd_azure_creds dev_creds(void)
{
    ckd_azure_creds c;
    char err[256];
    CKT_ASSERT_INT_EQ(
        ckd_azure_parse_connection_string("UseDevelopmentStorage=true", &c, err, sizeof(err)), 0);
    CKT_ASSERT_INT_EQ(c.key_len, 64);
    return c;
}

/* ---- signing ---------------------------------------------------------------- */

static void test_doc_example(void)
{
    /* Out of order and mixed case: canonicalisation sorts and lowercases. */
    const ckd_azure_header h[] = {{"X-MS-Version", "2015-02-21"},
                                  {"x-ms-date", " Fri, 26 Jun 2015 23:39:12 GMT "}};
    ckd_azure_sign_req r = {
        "GET",
        "myaccount",
        "https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata"
        "&timeout=20",
        NULL,
        h,
        2};
    char buf[512];
    int n = ckd_azure_string_to_sign(&r, buf, sizeof(buf));
    CKT_ASSERT_STR_EQ(buf, DOC_STS);
    CKT_ASSERT_INT_EQ(n, strlen(DOC_STS));

    ckd_azure_creds c = dev_creds();
    char sig[64];
    CKT_ASSERT_INT_EQ(ckd_azure_sign(&r, c.key, c.key_len, sig, sizeof(sig)), 44);
    CKT_ASSERT_STR_EQ(sig, DOC_SIG);
    CKT_ASSERT_INT_EQ(ckd_azure_sign(&r, c.key, c.key_len, sig, 44), -ENAMETOOLONG);
    ckd_azure_creds_release(&c);
}

static void test_canonical_resource(void)
{
    char buf[512];
    const ckd_azure_header h[] = {{"x-ms-version", "2021-08-06"}};
    /* Documented: several values of one parameter, sorted, comma-joined;
     * names lowercased; values %-decoded. */
    ckd_azure_sign_req r = {
        "GET",
        "myaccount",
        "https://myaccount.blob.core.windows.net/mycontainer?restype=container"
        "&comp=list&include=snapshots&include=metadata&include=uncommittedblobs",
        NULL,
        h,
        1};
    CKT_ASSERT(ckd_azure_string_to_sign(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT(strstr(buf,
                      "\n/myaccount/mycontainer\ncomp:list\n"
                      "include:metadata,snapshots,uncommittedblobs\nrestype:container") != NULL);
    r.url = "https://a.blob.core.windows.net/c/my%20blob?Prefix=a%2Fb&marker=";
    CKT_ASSERT(ckd_azure_string_to_sign(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT(strstr(buf, "\n/myaccount/c/my%20blob\nmarker:\nprefix:a/b") != NULL);
    /* A standard Range header goes into its own slot. */
    r.url = "https://a.blob.core.windows.net/c/b";
    r.range = "bytes=0-9";
    CKT_ASSERT(ckd_azure_string_to_sign(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT_STR_EQ(buf, "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-9\nx-ms-version:2021-08-06\n"
                           "/myaccount/c/b");

    /* Rejections. */
    r.range = NULL;
    r.url = "https://a/c/b?x=%zz";
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    r.url = "https://a/c/b?x=%0a";
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    r.url = "https://a/c/b?x=%4";
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    r.url = "ftp://a/c/b";
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    r.url = "https://a/c/b";
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, 20), -ENAMETOOLONG);
    CKT_ASSERT_STR_EQ(buf, "");
    const ckd_azure_header bad1[] = {{"content-type", "x"}};
    r.headers = bad1;
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    const ckd_azure_header bad2[] = {{"x-ms-a", "1"}, {"X-MS-A", "2"}};
    r.headers = bad2;
    r.n_headers = 2;
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    const ckd_azure_header bad3[] = {{"x-ms-a", "1\r\nx-ms-b: 2"}};
    r.headers = bad3;
    r.n_headers = 1;
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    r.n_headers = CKD_AZURE_MAX_HEADERS + 1;
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -E2BIG);
    r.headers = h;
    r.n_headers = 1;
    r.account = "my/account";
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -EINVAL);
    /* Too many query parameters. */
    char url[1024] = "https://a/c/b?";
    for (int i = 0; i <= CKD_AZURE_MAX_QUERY; i++) strcat(url, "a=1&");
    r.account = "myaccount";
    r.url = url;
    CKT_ASSERT_INT_EQ(ckd_azure_string_to_sign(&r, buf, sizeof(buf)), -E2BIG);
}

/* ---- connection strings -------------------------------------------------------- */

static void parse_ok(const char *cs, enum ckd_azure_auth kind, const char *account,
                     const char *endpoint, const char *sas)
{
    ckd_azure_creds c;
    char err[256] = "";
    int rc = ckd_azure_parse_connection_string(cs, &c, err, sizeof(err));
    if (rc) CKT_FAIL("parse '%s': %d %s", cs, rc, err);
    CKT_ASSERT_INT_EQ(c.kind, kind);
    if (account)
        CKT_ASSERT_STR_EQ(c.account, account);
    else
        CKT_ASSERT(c.account == NULL);
    CKT_ASSERT_STR_EQ(c.endpoint, endpoint);
    if (kind == CKD_AZURE_AUTH_SAS) {
        CKT_ASSERT_STR_EQ(c.sas, sas);
        CKT_ASSERT(c.key == NULL);
    } else {
        CKT_ASSERT(c.sas == NULL && c.key != NULL);
    }
    ckd_azure_creds_release(&c);
    CKT_ASSERT(c.key == NULL && c.account == NULL && c.kind == CKD_AZURE_AUTH_NONE);
}

static void parse_fails(const char *cs, int want_rc, const char *want_msg)
{
    ckd_azure_creds c;
    char err[256] = "";
    CKT_ASSERT_INT_EQ(ckd_azure_parse_connection_string(cs, &c, err, sizeof(err)), want_rc);
    if (!strstr(err, want_msg)) CKT_FAIL("message '%s' lacks '%s'", err, want_msg);
    /* Never a secret in a message. */
    CKT_ASSERT(strstr(err, "Eby8") == NULL && strstr(err, "sig=") == NULL);
    CKT_ASSERT(c.key == NULL && c.account == NULL && c.endpoint == NULL && c.sas == NULL);
}

static void test_connection_string(void)
{
    parse_ok("DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" CKD_AZURE_DEV_KEY
             ";EndpointSuffix=core.windows.net",
             CKD_AZURE_AUTH_SHARED_KEY, "myacct", "https://myacct.blob.core.windows.net", NULL);
    /* Defaults, case-insensitive names, spaces and stray ';'s. */
    parse_ok(" accountname = myacct ;;ACCOUNTKEY=" CKD_AZURE_DEV_KEY ";", CKD_AZURE_AUTH_SHARED_KEY,
             "myacct", "https://myacct.blob.core.windows.net", NULL);
    parse_ok("DefaultEndpointsProtocol=http;AccountName=a1;AccountKey=" CKD_AZURE_DEV_KEY
             ";EndpointSuffix=core.chinacloudapi.cn",
             CKD_AZURE_AUTH_SHARED_KEY, "a1", "http://a1.blob.core.chinacloudapi.cn", NULL);
    /* The emulator's own documented string; BlobEndpoint wins. */
    parse_ok(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" CKD_AZURE_DEV_KEY
        ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
        CKD_AZURE_AUTH_SHARED_KEY, "devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1",
        NULL);
    parse_ok("UseDevelopmentStorage=true", CKD_AZURE_AUTH_SHARED_KEY, "devstoreaccount1",
             CKD_AZURE_DEV_ENDPOINT, NULL);
    /* SAS: values keep their '='s; a leading '?' is dropped. */
    parse_ok("BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=?sv=2021-08-06&"
             "ss=b&sig=abc%2B%3D",
             CKD_AZURE_AUTH_SAS, NULL, "https://x.blob.core.windows.net",
             "sv=2021-08-06&ss=b&sig=abc%2B%3D");
    parse_ok("AccountName=x;SharedAccessSignature=sv=1&sig=a=", CKD_AZURE_AUTH_SAS, "x",
             "https://x.blob.core.windows.net", "sv=1&sig=a=");
    /* A key wins over a SAS, as in the SDKs. */
    parse_ok("AccountName=x;SharedAccessSignature=sv=1&sig=a;AccountKey=" CKD_AZURE_DEV_KEY,
             CKD_AZURE_AUTH_SHARED_KEY, "x", "https://x.blob.core.windows.net", NULL);
    /* Unknown names are ignored. */
    parse_ok("AccountName=x;QueueEndpoint=https://q;AccountKey=" CKD_AZURE_DEV_KEY,
             CKD_AZURE_AUTH_SHARED_KEY, "x", "https://x.blob.core.windows.net", NULL);

    parse_fails("AccountName=x;AccountKey", -EINVAL, "a part has no '='");
    parse_fails("AccountKey=" CKD_AZURE_DEV_KEY, -EINVAL, "neither AccountName nor BlobEndpoint");
    parse_fails("BlobEndpoint=https://x.blob.core.windows.net;AccountKey=" CKD_AZURE_DEV_KEY,
                -EINVAL, "an account key but no account name");
    parse_fails("AccountName=x;AccountKey=Eby8vdM02xNOcqFl!", -EINVAL, "not base64");
    parse_fails("AccountName=x;AccountKey=Eby8v", -EINVAL, "not base64");
    parse_fails("AccountName=x;AccountKey=Eby8====", -EINVAL, "not base64");
    parse_fails("DefaultEndpointsProtocol=ftp;AccountName=x;AccountKey=" CKD_AZURE_DEV_KEY, -EINVAL,
                "http or https");
    parse_fails("AccountName=x y;AccountKey=" CKD_AZURE_DEV_KEY, -EINVAL, "bad AccountName");
    parse_fails("BlobEndpoint=ftp://x;SharedAccessSignature=sv=1", -EINVAL,
                "invalid blob endpoint");
    parse_fails("BlobEndpoint=https://u:p@x;SharedAccessSignature=sv=1", -EINVAL,
                "invalid blob endpoint");
    parse_fails("AccountName=x;SharedAccessSignature=sv=1&sig=a b", -EINVAL,
                "invalid shared access signature");
    parse_fails("AccountName=x;EndpointSuffix=core.windows.net", -ENOKEY,
                "neither an account key nor a shared access signature");
    parse_fails("AccountName=x;AccountKey=;SharedAccessSignature=", -ENOKEY, "neither");
    parse_fails("", -EINVAL, "neither AccountName nor BlobEndpoint");
    parse_fails(NULL, -EINVAL, "missing");
    char *big = malloc(CKD_AZURE_MAX_CONNSTR + 2);
    CKT_ASSERT(big != NULL);
    memset(big, 'a', CKD_AZURE_MAX_CONNSTR + 1);
    big[CKD_AZURE_MAX_CONNSTR + 1] = '\0';
    parse_fails(big, -EINVAL, "longer than");
    free(big);

    /* The key decodes to the published bytes (first and last four). */
    ckd_azure_creds c = dev_creds();
    static const unsigned char head[] = {0x11, 0xbc, 0xbc, 0xbd},
                               tail[] = {0xa4, 0xb2, 0x81, 0x8c, 0x1b};
    CKT_ASSERT(memcmp(c.key, head, 4) == 0 && memcmp(c.key + 59, tail, 5) == 0);
    ckd_azure_creds_release(&c);
}

/* ---- storage resolution ------------------------------------------------------ */

static ckd_det_storage storage(char *container, char *connstr, char *account_url)
{
    ckd_det_storage st;
    memset(&st, 0, sizeof(st));
    st.type = (char *)"azure";
    st.container = container;
    st.connection_string = connstr;
    st.account_url = account_url;
    return st;
}

static void resolve_ok(const ckd_det_storage *st, enum ckd_azure_auth kind, const char *account,
                       const char *endpoint, const char *sas)
{
    ckd_azure_creds c;
    char err[256] = "";
    int rc = ckd_azure_creds_resolve(st, &c, err, sizeof(err));
    if (rc) CKT_FAIL("resolve: %d %s", rc, err);
    CKT_ASSERT_INT_EQ(c.kind, kind);
    if (account)
        CKT_ASSERT_STR_EQ(c.account, account);
    else
        CKT_ASSERT(c.account == NULL);
    CKT_ASSERT_STR_EQ(c.endpoint, endpoint);
    if (sas) CKT_ASSERT_STR_EQ(c.sas, sas);
    ckd_azure_creds_release(&c);
}

static void resolve_fails(const ckd_det_storage *st, int want_rc, const char *want_msg)
{
    ckd_azure_creds c;
    char err[256] = "";
    CKT_ASSERT_INT_EQ(ckd_azure_creds_resolve(st, &c, err, sizeof(err)), want_rc);
    if (!strstr(err, want_msg)) CKT_FAIL("message '%s' lacks '%s'", err, want_msg);
    CKT_ASSERT(c.key == NULL && c.endpoint == NULL);
}

static void test_resolve(void)
{
    clean_env();
    ckd_det_storage st = storage((char *)"ckpts", NULL, NULL);
    resolve_fails(&st, -ENOKEY, "no azure credentials");
    resolve_fails(NULL, -ENOKEY, "AZURE_STORAGE_CONNECTION_STRING");
    setenv(CKD_AZURE_ENV_CONNSTR, "UseDevelopmentStorage=true", 1);
    resolve_ok(&st, CKD_AZURE_AUTH_SHARED_KEY, "devstoreaccount1", CKD_AZURE_DEV_ENDPOINT, NULL);

    /* account_url beats the environment's connection string. */
    st.account_url = (char *)"https://acct1.blob.core.windows.net/";
    resolve_fails(&st, -ENOKEY, "AZURE_STORAGE_KEY");
    setenv(CKD_AZURE_ENV_SAS, "?sv=1&sig=env", 1);
    resolve_ok(&st, CKD_AZURE_AUTH_SAS, "acct1", "https://acct1.blob.core.windows.net",
               "sv=1&sig=env");
    /* A SAS on the URL beats the variable; the key beats both. */
    st.account_url = (char *)"https://acct1.blob.core.windows.net?sv=1&sig=url";
    resolve_ok(&st, CKD_AZURE_AUTH_SAS, "acct1", "https://acct1.blob.core.windows.net",
               "sv=1&sig=url");
    setenv(CKD_AZURE_ENV_KEY, CKD_AZURE_DEV_KEY, 1);
    resolve_ok(&st, CKD_AZURE_AUTH_SHARED_KEY, "acct1", "https://acct1.blob.core.windows.net",
               NULL);
    /* Path-style (emulator) URLs name the account in the path. */
    st.account_url = (char *)"http://127.0.0.1:10000/devstoreaccount1";
    resolve_ok(&st, CKD_AZURE_AUTH_SHARED_KEY, "devstoreaccount1",
               "http://127.0.0.1:10000/devstoreaccount1", NULL);
    setenv(CKD_AZURE_ENV_ACCOUNT, "other", 1);
    resolve_ok(&st, CKD_AZURE_AUTH_SHARED_KEY, "other", "http://127.0.0.1:10000/devstoreaccount1",
               NULL);
    setenv(CKD_AZURE_ENV_KEY, "not base64!", 1);
    resolve_fails(&st, -EINVAL, "not base64");
    setenv(CKD_AZURE_ENV_KEY, CKD_AZURE_DEV_KEY, 1);
    st.account_url = (char *)"acct1.blob.core.windows.net";
    resolve_fails(&st, -EINVAL, "invalid blob endpoint in the azure account_url");

    /* The storage's connection string beats everything. */
    st.connection_string = (char *)"AccountName=cs;SharedAccessSignature=sv=1&sig=cs";
    resolve_ok(&st, CKD_AZURE_AUTH_SAS, "cs", "https://cs.blob.core.windows.net", "sv=1&sig=cs");
    st.connection_string = (char *)"AccountName=cs";
    resolve_fails(&st, -ENOKEY, "neither an account key nor a shared access signature");
    clean_env();
}

/* ---- names and URLs ---------------------------------------------------------- */

static void test_blob_url(void)
{
    char *name = ckd_azure_blob_name(UUID, "dir/state dict+é.bin");
    CKT_ASSERT_STR_EQ(name, "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/dir/state dict+é.bin");
    char *none = ckd_azure_blob_name(UUID, NULL);
    CKT_ASSERT_STR_EQ(none, "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/");
    free(none);
    CKT_ASSERT(ckd_azure_blob_name("", "x") == NULL);

    ckd_azure_creds c = dev_creds();
    char *url = ckd_azure_blob_url(&c, "ckpts", name);
    CKT_ASSERT_STR_EQ(url, "http://127.0.0.1:10000/devstoreaccount1/ckpts/"
                           "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/dir/state%20dict%2B%C3%A9.bin");
    free(url);
    url = ckd_azure_blob_url(&c, "a/b", "x?y#z");
    CKT_ASSERT_STR_EQ(url, "http://127.0.0.1:10000/devstoreaccount1/a%2Fb/x%3Fy%23z");
    free(url);
    CKT_ASSERT(ckd_azure_blob_url(&c, "", name) == NULL);
    CKT_ASSERT(ckd_azure_blob_url(&c, "ckpts", "") == NULL);
    CKT_ASSERT(ckd_azure_blob_url(NULL, "ckpts", name) == NULL);
    ckd_azure_creds_release(&c);

    ckd_azure_creds s;
    char err[128];
    CKT_ASSERT_INT_EQ(ckd_azure_parse_connection_string(
                          "AccountName=acct;SharedAccessSignature=sv=2021-08-06&sr=c&sig=a%2Bb%3D",
                          &s, err, sizeof(err)),
                      0);
    url = ckd_azure_blob_url(&s, "ckpts", "u/r.bin");
    CKT_ASSERT_STR_EQ(url, "https://acct.blob.core.windows.net/ckpts/u/r.bin?sv=2021-08-06&sr=c&"
                           "sig=a%2Bb%3D");
    free(url);
    ckd_azure_creds_release(&s);
    CKT_ASSERT(ckd_azure_blob_url(&s, "ckpts", "x") == NULL); /* released */
    free(name);
}

/* ---- request headers ------------------------------------------------------- */

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
    ckd_azure_creds c = dev_creds();
    char *url =
        ckd_azure_blob_url(&c, "ckpts", "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a/state dict.bin");
    CKT_ASSERT(url != NULL);
    struct curl_slist *l = NULL;
    /* 1709294400 is Fri, 01 Mar 2024 12:00:00 GMT: RANGED_STS's request. */
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, url, 1709294400, 0, 1023, &l), 0);
    const char *want[] = {"x-ms-date: Fri, 01 Mar 2024 12:00:00 GMT", "x-ms-range: bytes=0-1023",
                          "x-ms-version: " CKD_AZURE_VERSION,
                          "Authorization: SharedKey devstoreaccount1:" RANGED_SIG};
    check_list(l, want, 4);
    curl_slist_free_all(l);
    /* And the string to sign behind it is the one signed with openssl. */
    const ckd_azure_header h[] = {{"x-ms-date", "Fri, 01 Mar 2024 12:00:00 GMT"},
                                  {"x-ms-range", "bytes=0-1023"},
                                  {"x-ms-version", CKD_AZURE_VERSION}};
    ckd_azure_sign_req r = {"GET", "devstoreaccount1", url, NULL, h, 3};
    char buf[512];
    CKT_ASSERT(ckd_azure_string_to_sign(&r, buf, sizeof(buf)) > 0);
    CKT_ASSERT_STR_EQ(buf, RANGED_STS);

    /* The range is signed: another range, another signature. */
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, url, 1709294400, 1024, -1, &l), 0);
    CKT_ASSERT_STR_EQ(l->next->data, "x-ms-range: bytes=1024-");
    CKT_ASSERT(strcmp(l->next->next->next->data, want[3]) != 0);
    curl_slist_free_all(l);
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, url, 1709294400, -1, -1, &l), 0);
    CKT_ASSERT_STR_EQ(l->next->data, "x-ms-version: " CKD_AZURE_VERSION);
    curl_slist_free_all(l);

    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, url, 1709294400, 10, 9, &l), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, "ftp://x/c/b", 1709294400, -1, -1, &l),
                      -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, url, -5, -1, -1, &l), -EINVAL);
    CKT_ASSERT(l == NULL);
    free(url);
    ckd_azure_creds_release(&c);
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&c, "http://x/c/b", 0, -1, -1, &l), -EINVAL);

    /* SAS: no date and no Authorization; the URL carries the signature. */
    ckd_azure_creds s;
    char err[128];
    CKT_ASSERT_INT_EQ(ckd_azure_parse_connection_string("AccountName=a;SharedAccessSignature=sv=1&"
                                                        "sig=x",
                                                        &s, err, sizeof(err)),
                      0);
    url = ckd_azure_blob_url(&s, "c", "b");
    CKT_ASSERT_INT_EQ(ckd_azure_request_headers(&s, url, 1709294400, 5, 9, &l), 0);
    const char *want_sas[] = {"x-ms-range: bytes=5-9", "x-ms-version: " CKD_AZURE_VERSION};
    check_list(l, want_sas, 2);
    curl_slist_free_all(l);
    free(url);
    ckd_azure_creds_release(&s);
}

int main(void)
{
    clean_env();
    CKT_RUN(test_doc_example);
    CKT_RUN(test_canonical_resource);
    CKT_RUN(test_connection_string);
    CKT_RUN(test_resolve);
    CKT_RUN(test_blob_url);
    CKT_RUN(test_request_headers);
    CKT_DONE();
}
