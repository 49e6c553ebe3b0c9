/* Unit tests of engine/storehash.c: the stores' content hashes.
 *
 * Known vectors: the CRC catalogue's check values over "123456789"
 * (CRC-32C 0xE3069283, CRC-32/ISO-HDLC 0xCBF43926, CRC-64/NVME
 * 0xAE8B14860A799888); the other values were computed independently with
 * Python (zlib.crc32, hashlib, and a bitwise CRC of each polynomial):
 *
 *   def crc(d, poly, w):
 *       m = (1 << w) - 1; c = m
 *       for b in d:
 *           c ^= b
 *           for _ in range(8): c = (c >> 1) ^ poly if c & 1 else c >> 1
 *       return c ^ m
 *   base64.b64encode(crc(d, 0x82f63b78, 32).to_bytes(4, 'big'))
 *
 * Then S3's x-amz-checksum-* and GCS's x-goog-hash headers (GCS's documented
 * example value), the cheapest algorithm kept, composite checksums and
 * malformed base64 refused, and the text form round trip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckt_test.h"
#include "storehash.h"

static void b64_of(const void *data, size_t len, enum ckd_storehash_algo a, size_t split, char *out,
                   size_t outlen)
{
    ckd_storehash_ctx c;
    CKT_ASSERT_INT_EQ(ckd_storehash_init(&c, a), 0);
    /* In two pieces, the first of odd length: incremental, unaligned. */
    if (split > len) split = len;
    ckd_storehash_update(&c, data, split);
    ckd_storehash_update(&c, (const char *)data + split, len - split);
    ckd_storehash h;
    CKT_ASSERT_INT_EQ(ckd_storehash_final(&c, &h), 0);
    CKT_ASSERT_INT_EQ(h.algo, a);
    CKT_ASSERT_INT_EQ(ckd_storehash_b64(&h, out, outlen), 0);
}

static void check(const void *data, size_t len, enum ckd_storehash_algo a, const char *want)
{
    char got[64];
    size_t splits[] = {0, 1, 3, 7, 9, 13, len};
    for (size_t i = 0; i < sizeof(splits) / sizeof(*splits); i++) {
        b64_of(data, len, a, splits[i], got, sizeof(got));
        if (strcmp(got, want) != 0)
            CKT_FAIL("%s over %zu bytes (split at %zu): got %s, expected %s",
                     ckd_storehash_algo_name(a), len, splits[i], got, want);
    }
}

static void test_vectors(void)
{
    const char *s = "123456789";
    check(s, 9, CKD_STOREHASH_CRC32C, "4waSgw==");        /* 0xE3069283 */
    check(s, 9, CKD_STOREHASH_CRC32, "y/Q5Jg==");         /* 0xCBF43926 */
    check(s, 9, CKD_STOREHASH_CRC64NVME, "rosUhgp5mIg="); /* 0xAE8B14860A799888 */
    check(s, 9, CKD_STOREHASH_SHA1, "98O8HYCOBHMq32eZZczDTKeuNEE=");
    check(s, 9, CKD_STOREHASH_SHA256, "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=");
    check(s, 9, CKD_STOREHASH_MD5, "JfnnlDI7RTiF9RgfG2JNCw==");
    check("", 0, CKD_STOREHASH_CRC32C, "AAAAAA==");
    check("", 0, CKD_STOREHASH_CRC64NVME, "AAAAAAAAAAA=");
    check("Hello world", 11, CKD_STOREHASH_CRC32C, "crUfeA==");
    check("Hello world", 11, CKD_STOREHASH_CRC32, "i9aeUg==");
    check("Hello world", 11, CKD_STOREHASH_CRC64NVME, "OOJZ0D8xKts=");
    /* bytes(range(256)) * 5 + b"abc": the sliced loops, and their tails. */
    unsigned char big[1283];
    for (int i = 0; i < 1280; i++) big[i] = (unsigned char)(i & 0xff);
    memcpy(big + 1280, "abc", 3);
    check(big, sizeof(big), CKD_STOREHASH_CRC32C, "zT7f3w==");
    check(big, sizeof(big), CKD_STOREHASH_CRC32, "auMiKA==");
    check(big, sizeof(big), CKD_STOREHASH_CRC64NVME, "BtOKoTjYT5s=");
    check(big, sizeof(big), CKD_STOREHASH_SHA256, "V6iPkATiJj/r42Yf2w8V2SDuQcPD5UC45vA+yh8VV1E=");
    check(big, sizeof(big), CKD_STOREHASH_MD5, "ULJw04djBaaLKjKfBd848Q==");
    /* Unaligned start. */
    check(big + 1, sizeof(big) - 1, CKD_STOREHASH_CRC32C, "vD8skw==");
}

static void test_names(void)
{
    CKT_ASSERT_INT_EQ(ckd_storehash_algo_parse("CRC64NVME", 9), CKD_STOREHASH_CRC64NVME);
    CKT_ASSERT_INT_EQ(ckd_storehash_algo_parse("crc32c", 6), CKD_STOREHASH_CRC32C);
    CKT_ASSERT_INT_EQ(ckd_storehash_algo_parse("crc32", 5), CKD_STOREHASH_CRC32);
    CKT_ASSERT_INT_EQ(ckd_storehash_algo_parse("crc3", 4), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_storehash_algo_parse("none", 4), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_storehash_digest_len(CKD_STOREHASH_SHA256), 32);
    CKT_ASSERT_STR_EQ(ckd_storehash_algo_name(CKD_STOREHASH_SHA1), "sha1");
}

static int hdr(ckd_storehash *h, const char *name, const char *value)
{
    return ckd_storehash_header(h, name, strlen(name), value, strlen(value));
}

static void test_s3_headers(void)
{
    ckd_storehash h = {0};
    char t[CKD_STOREHASH_TEXT_MAX];
    /* Not checksums: ignored. */
    CKT_ASSERT_INT_EQ(hdr(&h, "x-amz-checksum-mode", "ENABLED"), 0);
    CKT_ASSERT_INT_EQ(hdr(&h, "x-amz-checksum-type", "FULL_OBJECT"), 0);
    CKT_ASSERT_INT_EQ(hdr(&h, "ETag", "\"abc\""), 0);
    CKT_ASSERT_INT_EQ(hdr(&h, "x-amz-checksum-crc128", "AAAA"), 0);
    CKT_ASSERT_INT_EQ(h.algo, CKD_STOREHASH_NONE);
    /* sha256, then crc64nvme (cheaper: replaces it), then sha1 (kept out). */
    CKT_ASSERT_INT_EQ(
        hdr(&h, "x-amz-checksum-sha256", " FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=\r\n"), 1);
    CKT_ASSERT_INT_EQ(hdr(&h, "X-Amz-Checksum-CRC64NVME", "rosUhgp5mIg="), 1);
    CKT_ASSERT_INT_EQ(hdr(&h, "x-amz-checksum-sha1", "98O8HYCOBHMq32eZZczDTKeuNEE="), 0);
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&h, t, sizeof(t)), 0);
    CKT_ASSERT_STR_EQ(t, "crc64nvme:rosUhgp5mIg=");
    /* Composite (multipart) checksums are not of the bytes. */
    ckd_storehash c = {0};
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32", "y/Q5Jg==-3"), -ENOTSUP);
    CKT_ASSERT_INT_EQ(c.algo, CKD_STOREHASH_NONE);
    /* Malformed: wrong length, bad alphabet, nonzero padding bits, empty. */
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32", "y/Q5Jg=="), 1);
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32c", "rosUhgp5mIg="), -EINVAL);
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32c", "4waSg*=="), -EINVAL);
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32c", "4waSgx=="), -EINVAL);
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32c", "4waSgw="), -EINVAL);
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32c", ""), -EINVAL);
    CKT_ASSERT_INT_EQ(c.algo, CKD_STOREHASH_CRC32);
    /* Past the cap, before looking at it. */
    char *huge = malloc(CKD_STOREHASH_MAX_VALUE + 2);
    CKT_ASSERT(huge);
    memset(huge, 'A', CKD_STOREHASH_MAX_VALUE + 1);
    huge[CKD_STOREHASH_MAX_VALUE + 1] = '\0';
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-crc32c", huge), -EINVAL);
    CKT_ASSERT_INT_EQ(hdr(&c, "x-goog-hash", huge), -EINVAL);
    free(huge);
    /* md5 is no S3 checksum (Content-MD5 is an upload check only). */
    CKT_ASSERT_INT_EQ(hdr(&c, "x-amz-checksum-md5", "JfnnlDI7RTiF9RgfG2JNCw=="), 0);
}

static void test_gcs_headers(void)
{
    ckd_storehash h = {0};
    char t[CKD_STOREHASH_TEXT_MAX];
    /* GCS's documented example: crc32c preferred over md5. */
    CKT_ASSERT_INT_EQ(hdr(&h, "x-goog-hash", "crc32c=n03x6A==,md5=Ojk9c3dhfxgoKVVHYwFbHQ=="), 1);
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&h, t, sizeof(t)), 0);
    CKT_ASSERT_STR_EQ(t, "crc32c:n03x6A==");
    /* One per header line, md5 first: crc32c still wins. */
    ckd_storehash g = {0};
    CKT_ASSERT_INT_EQ(hdr(&g, "X-Goog-Hash", "md5=JfnnlDI7RTiF9RgfG2JNCw=="), 1);
    CKT_ASSERT_INT_EQ(g.algo, CKD_STOREHASH_MD5);
    CKT_ASSERT_INT_EQ(hdr(&g, "x-goog-hash", "crc32c=4waSgw=="), 1);
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&g, t, sizeof(t)), 0);
    CKT_ASSERT_STR_EQ(t, "crc32c:4waSgw==");
    /* A composite object has crc32c alone; unknown parts are skipped. */
    ckd_storehash k = {0};
    CKT_ASSERT_INT_EQ(hdr(&k, "x-goog-hash", "foo=bar, crc32c=4waSgw=="), 1);
    CKT_ASSERT_INT_EQ(k.algo, CKD_STOREHASH_CRC32C);
    ckd_storehash bad = {0};
    CKT_ASSERT_INT_EQ(hdr(&bad, "x-goog-hash", "crc32c=4waS"), -EINVAL);
    CKT_ASSERT_INT_EQ(hdr(&bad, "x-goog-hash", ""), 0);
    CKT_ASSERT_INT_EQ(bad.algo, CKD_STOREHASH_NONE);
}

static void test_text(void)
{
    ckd_storehash h, g;
    CKT_ASSERT_INT_EQ(
        ckd_storehash_parse("sha256:FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=", &h), 0);
    CKT_ASSERT_INT_EQ(h.algo, CKD_STOREHASH_SHA256);
    char t[CKD_STOREHASH_TEXT_MAX];
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&h, t, sizeof(t)), 0);
    CKT_ASSERT_STR_EQ(t, "sha256:FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=");
    CKT_ASSERT_INT_EQ(ckd_storehash_parse(t, &g), 0);
    CKT_ASSERT(ckd_storehash_eq(&h, &g));
    g.digest[31] ^= 1;
    CKT_ASSERT(!ckd_storehash_eq(&h, &g));
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&h, t, 20), -E2BIG);
    CKT_ASSERT_INT_EQ(ckd_storehash_parse("crc32c", &g), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_storehash_parse("xx:4waSgw==", &g), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_storehash_parse("crc32c:4waSgw==-2", &g), -EINVAL);
    CKT_ASSERT_INT_EQ(g.algo, CKD_STOREHASH_NONE);
    ckd_storehash none = {0};
    CKT_ASSERT(!ckd_storehash_eq(&none, &none));
    CKT_ASSERT_INT_EQ(ckd_storehash_format(&none, t, sizeof(t)), -EINVAL);
    ckd_storehash_ctx c;
    CKT_ASSERT_INT_EQ(ckd_storehash_init(&c, CKD_STOREHASH_NONE), -EINVAL);
    /* Released without final, twice: no leak, no double free. */
    CKT_ASSERT_INT_EQ(ckd_storehash_init(&c, CKD_STOREHASH_SHA1), 0);
    ckd_storehash_release(&c);
    ckd_storehash_release(&c);
}

int main(void)
{
    CKT_RUN(test_vectors);
    CKT_RUN(test_names);
    CKT_RUN(test_s3_headers);
    CKT_RUN(test_gcs_headers);
    CKT_RUN(test_text);
    printf("%d passed\n", ckt_passed_);
    return 0;
}
