/* objlist: object URLs, listing pages (S3 ListObjectsV2, the GCS XML list,
 * azure List Blobs), error bodies and key selection. GCS has no server in
 * the tests: its listing is covered here, from pages shaped as its XML API
 * sends them. */
#include "objlist.h"

#include <errno.h>

#include "ckt_test.h"

static void test_urls(void)
{
    ckd_objurl u;
    char err[300];
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("s3://models/llama/", &u, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(u.store, CKD_OBJ_S3);
    CKT_ASSERT_STR_EQ(u.bucket, "models");
    CKT_ASSERT_STR_EQ(u.key, "llama/");
    CKT_ASSERT_INT_EQ(u.is_prefix, 1);
    ckd_objurl_release(&u);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("gs://b", &u, err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(u.key, "");
    CKT_ASSERT_INT_EQ(u.is_prefix, 1);
    ckd_objurl_release(&u);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("gs://b/dir/one file+1.bin", &u, err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(u.key, "dir/one file+1.bin");
    CKT_ASSERT_INT_EQ(u.is_prefix, 0);
    ckd_objurl_release(&u);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("az://acct/cont/p/", &u, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(u.store, CKD_OBJ_AZURE);
    CKT_ASSERT_STR_EQ(u.account, "acct");
    CKT_ASSERT_STR_EQ(u.bucket, "cont");
    CKT_ASSERT_STR_EQ(u.key, "p/");
    ckd_objurl_release(&u);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("az://acct", &u, err, sizeof err), -EINVAL);
    CKT_ASSERT(strstr(err, "az://ACCOUNT/CONTAINER"));
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("http://x/y", &u, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("s3://bad bucket/x", &u, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("s3:///x", &u, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("s3://b/a\nb", &u, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_objurl_parse("s3://b/\xff", &u, err, sizeof err), -EINVAL);
}

static const char s3_page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
    "<Prefix>p/</Prefix><NextContinuationToken>1dh+/x==</NextContinuationToken>"
    "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>p/a &amp; b+c.bin</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
    "<ETag>&quot;764efa883dda1e11db47671c4a3bbd9e&quot;</ETag><Size>3</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>p/d&#233;j&#xE0;/x</Key><ETag>\"e\"</ETag><Size>1099511627776</Size>"
    "</Contents></ListBucketResult>";

static void test_s3_page(void)
{
    ckd_objpage p;
    char err[300];
    CKT_ASSERT_INT_EQ(ckd_objlist_parse(CKD_OBJ_S3, s3_page, strlen(s3_page), &p, err, sizeof err),
                      0);
    CKT_ASSERT_INT_EQ(p.n, 2);
    CKT_ASSERT_STR_EQ(p.v[0].key, "p/a & b+c.bin");
    CKT_ASSERT_STR_EQ(p.v[0].etag, "\"764efa883dda1e11db47671c4a3bbd9e\"");
    CKT_ASSERT_INT_EQ(p.v[0].size, 3);
    CKT_ASSERT_STR_EQ(p.v[1].key, "p/d\xc3\xa9j\xc3\xa0/x");
    CKT_ASSERT_INT_EQ(p.v[1].size, 1099511627776LL);
    CKT_ASSERT_INT_EQ(p.truncated, 1);
    CKT_ASSERT_STR_EQ(p.next, "1dh+/x==");
    ckd_objpage_release(&p);
}

/* ListObjectsV2 naming the checksums S3 keeps (not their values): a HEAD
 * reads those, except a COMPOSITE one (of the parts' checksums). */
static const char s3_sums[] =
    "<ListBucketResult><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a</Key><ETag>\"1\"</ETag><Size>1</Size>"
    "<ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
    "</Contents><Contents><Key>b</Key><ETag>\"2-3\"</ETag><Size>2</Size>"
    "<ChecksumAlgorithm>CRC32C</ChecksumAlgorithm><ChecksumType>COMPOSITE</ChecksumType>"
    "</Contents><Contents><Key>c</Key><Size>3</Size><ChecksumType>COMPOSITE</ChecksumType>"
    "<ChecksumAlgorithm>SHA256</ChecksumAlgorithm></Contents>"
    "<Contents><Key>d</Key><Size>4</Size></Contents></ListBucketResult>";

static void test_s3_checksums(void)
{
    ckd_objpage p;
    char err[300];
    CKT_ASSERT_INT_EQ(ckd_objlist_parse(CKD_OBJ_S3, s3_sums, strlen(s3_sums), &p, err, sizeof err),
                      0);
    CKT_ASSERT_INT_EQ(p.n, 4);
    CKT_ASSERT_INT_EQ(p.v[0].probe, 1);
    CKT_ASSERT_INT_EQ(p.v[1].probe, 0);
    CKT_ASSERT_INT_EQ(p.v[2].probe, 0);
    CKT_ASSERT_INT_EQ(p.v[3].probe, 0);
    for (size_t i = 0; i < p.n; i++) CKT_ASSERT_INT_EQ(p.v[i].hash.algo, CKD_STOREHASH_NONE);
    ckd_objpage_release(&p);
}

/* The GCS XML API's list (V1 paging: NextMarker, or none at all). */
static const char gcs_page[] =
    "<?xml version='1.0' encoding='UTF-8'?>"
    "<ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'><Name>bkt</Name>"
    "<Prefix>m/</Prefix><Marker></Marker><NextMarker>m/b</NextMarker>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>m/a</Key><Generation>1700000000000000</Generation>"
    "<MetaGeneration>1</MetaGeneration><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
    "<ETag>\"5d41402abc4b2a76b9719d911017c592\"</ETag><Size>5</Size></Contents>"
    "<Contents><Key>m/b</Key><ETag>\"x\"</ETag><Size>0</Size></Contents>"
    "</ListBucketResult>";
static const char gcs_last[] =
    "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult>"
    "<IsTruncated>true</IsTruncated><Contents><Key>m/c</Key><Size>1</Size></Contents>"
    "</ListBucketResult>";

static void test_gcs_page(void)
{
    ckd_objpage p;
    char err[300];
    CKT_ASSERT_INT_EQ(
        ckd_objlist_parse(CKD_OBJ_GCS, gcs_page, strlen(gcs_page), &p, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(p.n, 2);
    CKT_ASSERT_STR_EQ(p.v[0].key, "m/a");
    CKT_ASSERT_INT_EQ(p.v[1].size, 0);
    CKT_ASSERT_STR_EQ(p.next, "m/b");
    ckd_objpage_release(&p);
    /* Truncated without a NextMarker: the next page starts after the last key. */
    CKT_ASSERT_INT_EQ(
        ckd_objlist_parse(CKD_OBJ_GCS, gcs_last, strlen(gcs_last), &p, err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(p.next, "m/c");
    CKT_ASSERT_STR_EQ(p.v[0].etag, "");
    ckd_objpage_release(&p);
}

static const char az_page[] =
    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" "
    "ContainerName=\"c\"><Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs>"
    "<Blob><Name>p/one two</Name><Properties><Creation-Time>x</Creation-Time>"
    "<Content-Length>12</Content-Length><Etag>0x8DBFFFFFFFFFFFF</Etag>"
    "<Content-MD5>abc=</Content-MD5></Properties><OrMetadata/></Blob>"
    "<Blob><Name><![CDATA[p/<raw>]]></Name><Properties><Content-Length>0</Content-Length>"
    "</Properties></Blob></Blobs><NextMarker>2!80!xyz</NextMarker></EnumerationResults>";

static void test_azure_page(void)
{
    ckd_objpage p;
    char err[300];
    CKT_ASSERT_INT_EQ(
        ckd_objlist_parse(CKD_OBJ_AZURE, az_page, strlen(az_page), &p, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(p.n, 2);
    CKT_ASSERT_STR_EQ(p.v[0].key, "p/one two");
    CKT_ASSERT_INT_EQ(p.v[0].size, 12);
    CKT_ASSERT_STR_EQ(p.v[0].etag, "0x8DBFFFFFFFFFFFF");
    CKT_ASSERT_INT_EQ(p.v[0].hash.algo, CKD_STOREHASH_NONE); /* "abc=" is no MD5 */
    CKT_ASSERT_STR_EQ(p.v[1].key, "p/<raw>");
    CKT_ASSERT_INT_EQ(p.truncated, 1);
    CKT_ASSERT_STR_EQ(p.next, "2!80!xyz");
    ckd_objpage_release(&p);
    /* A Content-MD5 the service keeps: the entry's hash, nothing to probe. */
    static const char md5_page[] =
        "<EnumerationResults><Blobs><Blob><Name>x</Name><Properties>"
        "<Content-Length>9</Content-Length><Content-MD5>JfnnlDI7RTiF9RgfG2JNCw==</Content-MD5>"
        "</Properties></Blob></Blobs></EnumerationResults>";
    CKT_ASSERT_INT_EQ(
        ckd_objlist_parse(CKD_OBJ_AZURE, md5_page, strlen(md5_page), &p, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(p.n, 1);
    CKT_ASSERT_INT_EQ(p.v[0].hash.algo, CKD_STOREHASH_MD5);
    CKT_ASSERT_INT_EQ(p.v[0].probe, 0);
    char t[CKD_STOREHASH_TEXT_MAX];
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&p.v[0].hash, t, sizeof t), 0);
    CKT_ASSERT_STR_EQ(t, "md5:JfnnlDI7RTiF9RgfG2JNCw==");
    ckd_objpage_release(&p);
    char *h = ckd_objlist_etag_header("0x8DB");
    CKT_ASSERT_STR_EQ(h, "\"0x8DB\"");
    free(h);
    h = ckd_objlist_etag_header("\"abc\"");
    CKT_ASSERT_STR_EQ(h, "\"abc\"");
    free(h);
}

static void expect_bad(enum ckd_objstore s, const char *xml, int want)
{
    ckd_objpage p;
    char err[300] = "";
    int rc = ckd_objlist_parse(s, xml, strlen(xml), &p, err, sizeof err);
    if (rc != want) CKT_FAIL("'%s': %d, want %d (%s)", xml, rc, want, err);
    CKT_ASSERT(err[0]);
    CKT_ASSERT_INT_EQ(p.n, 0);
    CKT_ASSERT(p.v == NULL && p.next == NULL);
}

static void test_bad_pages(void)
{
    expect_bad(CKD_OBJ_S3, "", -EINVAL);
    expect_bad(CKD_OBJ_S3, "<ListBucketResult>", -EINVAL);
    expect_bad(CKD_OBJ_S3, "<Other></Other>", -EINVAL);
    expect_bad(CKD_OBJ_S3, "<ListBucketResult></Wrong>", -EINVAL);
    expect_bad(CKD_OBJ_S3, "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
               -EINVAL); /* no size */
    expect_bad(CKD_OBJ_S3,
               "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
               "</ListBucketResult>",
               -EINVAL);
    expect_bad(CKD_OBJ_S3,
               "<ListBucketResult><Contents><Key>a&#1;b</Key><Size>1</Size></Contents>"
               "</ListBucketResult>",
               -EINVAL); /* a control byte in a key */
    expect_bad(CKD_OBJ_S3,
               "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
               "</ListBucketResult>",
               -EINVAL);
    expect_bad(CKD_OBJ_S3, "<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult/>", -EINVAL);
    expect_bad(CKD_OBJ_S3, "<ListBucketResult/><ListBucketResult/>", -EINVAL);
    expect_bad(CKD_OBJ_S3, "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
               -EINVAL); /* truncated, nothing to continue from */
    expect_bad(CKD_OBJ_AZURE, "<ListBucketResult/>", -EINVAL);
    /* Caps: nesting, a key past 1024 bytes, a page past the entry cap. */
    char deep[400] = "";
    for (int i = 0; i < 20; i++) strcat(deep, "<a>");
    expect_bad(CKD_OBJ_S3, deep, -E2BIG);
    size_t big = 64 + CKD_OBJLIST_MAX_KEY + 10;
    char *x = malloc(big + 100);
    strcpy(x, "<ListBucketResult><Contents><Key>");
    size_t o = strlen(x);
    memset(x + o, 'k', CKD_OBJLIST_MAX_KEY + 1);
    strcpy(x + o + CKD_OBJLIST_MAX_KEY + 1, "</Key><Size>1</Size></Contents></ListBucketResult>");
    expect_bad(CKD_OBJ_S3, x, -E2BIG);
    free(x);
    const char *ent = "<Contents><Key>k</Key><Size>1</Size></Contents>";
    size_t n = (size_t)CKD_OBJLIST_MAX_ENTRIES + 1;
    x = malloc(n * strlen(ent) + 64);
    strcpy(x, "<ListBucketResult>");
    o = strlen(x);
    for (size_t i = 0; i < n; i++, o += strlen(ent)) memcpy(x + o, ent, strlen(ent));
    strcpy(x + o, "</ListBucketResult>");
    expect_bad(CKD_OBJ_S3, x, -E2BIG);
    free(x);
}

static void test_error_text(void)
{
    char out[400];
    const char *s3 = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The "
                     "specified bucket does not exist</Message></Error>";
    ckd_objlist_error_text(s3, strlen(s3), out, sizeof out);
    CKT_ASSERT_STR_EQ(out, "NoSuchBucket: The specified bucket does not exist");
    const char *az = "<Error><Code>AuthenticationFailed</Code><Message>Server failed.\n"
                     "RequestId:1\nTime:2</Message></Error>";
    ckd_objlist_error_text(az, strlen(az), out, sizeof out);
    CKT_ASSERT_STR_EQ(out, "AuthenticationFailed: Server failed.");
    ckd_objlist_error_text("not xml", 7, out, sizeof out);
    CKT_ASSERT_STR_EQ(out, "");
}

static void test_select(void)
{
    const char *rel, *why;
    const char *inc[] = {"*.bin", "cfg/*"};
    const char *exc[] = {"tmp/*"};
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "p/a/b.bin", NULL, 0, NULL, 0, &rel, &why), 1);
    CKT_ASSERT_STR_EQ(rel, "a/b.bin");
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "q/a.bin", NULL, 0, NULL, 0, &rel, &why), 0);
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "p/dir/", NULL, 0, NULL, 0, &rel, &why), 0);
    CKT_ASSERT_INT_EQ(ckd_objlist_select("", "x", NULL, 0, NULL, 0, &rel, &why), 1);
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "p/a/b.bin", inc, 2, exc, 1, &rel, &why), 1);
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "p/cfg/x.json", inc, 2, exc, 1, &rel, &why), 1);
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "p/x.json", inc, 2, exc, 1, &rel, &why), 0);
    CKT_ASSERT_INT_EQ(ckd_objlist_select("p/", "p/tmp/x.bin", inc, 2, exc, 1, &rel, &why), 0);
    /* Unsafe paths are refused whatever the globs say. */
    const char *unsafe[] = {"p/../x", "p//abs", "p/a/./b", "p/a/..", "p/a\xff"};
    for (size_t i = 0; i < sizeof unsafe / sizeof *unsafe; i++) {
        int rc = ckd_objlist_select("p/", unsafe[i], NULL, 0, exc, 1, &rel, &why);
        if (rc != -EINVAL || !why) CKT_FAIL("'%s' was not refused (%d)", unsafe[i], rc);
    }
    CKT_ASSERT_INT_EQ(ckd_objlist_select("", "/abs", NULL, 0, NULL, 0, &rel, &why), -EINVAL);
}

int main(void)
{
    CKT_RUN(test_urls);
    CKT_RUN(test_s3_page);
    CKT_RUN(test_s3_checksums);
    CKT_RUN(test_gcs_page);
    CKT_RUN(test_azure_page);
    CKT_RUN(test_bad_pages);
    CKT_RUN(test_error_text);
    CKT_RUN(test_select);
    printf("%d passed\n", ckt_passed_);
    return 0;
}
