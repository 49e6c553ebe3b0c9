/* Object stores' content hashes: parsing and computing them. See
 * storehash.h. */
#include "storehash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

static const struct {
    const char *name;
    size_t len;
} ALGOS[CKD_STOREHASH_NALGOS] = {[CKD_STOREHASH_NONE] = {"none", 0},
#define X(name, wire, len) [CKD_STOREHASH_##name] = {wire, len},
                                 CKD_STOREHASH_MAP(X)
#undef X
};

const char *ckd_storehash_algo_name(enum ckd_storehash_algo a)
{
    return (unsigned)a < CKD_STOREHASH_NALGOS ? ALGOS[a].name : "?";
}

size_t ckd_storehash_digest_len(enum ckd_storehash_algo a)
{
    return (unsigned)a < CKD_STOREHASH_NALGOS ? ALGOS[a].len : 0;
}

int ckd_storehash_algo_parse(const char *name, size_t len)
{
    for (int a = 1; a < CKD_STOREHASH_NALGOS; a++)
        if (strlen(ALGOS[a].name) == len && strncasecmp(ALGOS[a].name, name, len) == 0) return a;
    return -EINVAL;
}

/* ---- base64 (RFC 4648, with padding) ----------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char ch)
{
    const char *p = ch ? strchr(B64, ch) : NULL;
    return p ? (int)(p - B64) : -1;
}

/* Decodes exactly want bytes from s[0..len) (padded to a multiple of 4). */
static int b64_decode(const char *s, size_t len, unsigned char *out, size_t want)
{
    if (len == 0 || len % 4 != 0 || (len / 4) * 3 < want || (len / 4) * 3 - want > 2)
        return -EINVAL;
    size_t pad = (len / 4) * 3 - want, o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            size_t at = i + (size_t)k;
            if (at >= len - pad) {
                if (s[at] != '=') return -EINVAL;
                v[k] = 0;
            } else if ((v[k] = b64_val(s[at])) < 0) {
                return -EINVAL;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char b[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        for (int k = 0; k < 3 && o < want; k++) out[o++] = b[k];
        /* Bits under the padding must be zero (one spelling per digest). */
        if (i + 4 == len && pad && (w & ((1u << (8 * pad)) - 1))) return -EINVAL;
    }
    return 0;
}

static int b64_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    size_t need = (n + 2) / 3 * 4 + 1, o = 0;
    if (outlen < need) return -E2BIG;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < n) w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) w |= in[i + 2];
        out[o++] = B64[(w >> 18) & 63];
        out[o++] = B64[(w >> 12) & 63];
        out[o++] = i + 1 < n ? B64[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? B64[w & 63] : '=';
    }
    out[o] = '\0';
    return 0;
}

/* ---- what the stores say ---------------------------------------------------- */

int ckd_storehash_offer(ckd_storehash *best, enum ckd_storehash_algo algo, const char *b64,
                        size_t len)
{
    if ((unsigned)algo >= CKD_STOREHASH_NALGOS || algo == CKD_STOREHASH_NONE ||
        len > CKD_STOREHASH_MAX_VALUE)
        return -EINVAL;
    while (len > 0 && (*b64 == ' ' || *b64 == '\t')) b64++, len--;
    while (len > 0 && (b64[len - 1] == ' ' || b64[len - 1] == '\t' || b64[len - 1] == '\r' ||
                       b64[len - 1] == '\n'))
        len--;
    /* A composite (multipart) checksum ends in "-<parts>". */
    const char *dash = memchr(b64, '-', len);
    if (dash && dash + 1 < b64 + len) {
        const char *q = dash + 1;
        while (q < b64 + len && *q >= '0' && *q <= '9') q++;
        if (q == b64 + len) return -ENOTSUP;
    }
    ckd_storehash h = {.algo = algo};
    if (b64_decode(b64, len, h.digest, ALGOS[algo].len) < 0) return -EINVAL;
    if (best->algo != CKD_STOREHASH_NONE && best->algo <= algo) return 0;
    *best = h;
    return 1;
}

int ckd_storehash_header(ckd_storehash *best, const char *name, size_t nlen, const char *value,
                         size_t vlen)
{
    static const char AMZ[] = "x-amz-checksum-";
    const size_t amzlen = sizeof(AMZ) - 1;
    if (vlen > CKD_STOREHASH_MAX_VALUE) return -EINVAL;
    if (nlen > amzlen && strncasecmp(name, AMZ, amzlen) == 0) {
        int a = ckd_storehash_algo_parse(name + amzlen, nlen - amzlen);
        /* x-amz-checksum-mode, -type, and algorithms unknown here. */
        if (a < 0 || a == CKD_STOREHASH_MD5) return 0;
        return ckd_storehash_offer(best, (enum ckd_storehash_algo)a, value, vlen);
    }
    if (nlen != 11 || strncasecmp(name, "x-goog-hash", 11) != 0) return 0;
    /* "crc32c=<b64>,md5=<b64>": the best part decides. */
    int ret = 0;
    const char *p = value, *end = value + vlen;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        while (p < stop && (*p == ' ' || *p == '\t')) p++;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq) {
            int a = ckd_storehash_algo_parse(p, (size_t)(eq - p));
            if (a == CKD_STOREHASH_CRC32C || a == CKD_STOREHASH_MD5) {
                int rc = ckd_storehash_offer(best, (enum ckd_storehash_algo)a, eq + 1,
                                             (size_t)(stop - eq - 1));
                if (rc < 0) return rc;
                if (rc > ret) ret = rc;
            }
        }
        p = comma ? comma + 1 : end;
    }
    return ret;
}

int ckd_storehash_b64(const ckd_storehash *h, char *out, size_t outlen)
{
    if (h->algo == CKD_STOREHASH_NONE || (unsigned)h->algo >= CKD_STOREHASH_NALGOS) return -EINVAL;
    return b64_encode(h->digest, ALGOS[h->algo].len, out, outlen);
}

int ckd_storehash_format(const ckd_storehash *h, char *out, size_t outlen)
{
    char b[CKD_STOREHASH_TEXT_MAX];
    int rc = ckd_storehash_b64(h, b, sizeof(b));
    if (rc < 0) return rc;
    int n = snprintf(out, outlen, "%s:%s", ALGOS[h->algo].name, b);
    return n < 0 || (size_t)n >= outlen ? -E2BIG : 0;
}

int ckd_storehash_parse(const char *text, ckd_storehash *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strnlen(text, CKD_STOREHASH_TEXT_MAX);
    const char *colon = memchr(text, ':', len);
    if (len >= CKD_STOREHASH_TEXT_MAX || !colon) return -EINVAL;
    int a = ckd_storehash_algo_parse(text, (size_t)(colon - text));
    if (a < 0) return -EINVAL;
    ckd_storehash h = {0};
    int rc = ckd_storehash_offer(&h, (enum ckd_storehash_algo)a, colon + 1,
                                 len - (size_t)(colon + 1 - text));
    if (rc < 0) return -EINVAL;
    *out = h;
    return 0;
}

int ckd_storehash_eq(const ckd_storehash *a, const ckd_storehash *b)
{
    return a->algo == b->algo && a->algo != CKD_STOREHASH_NONE &&
           memcmp(a->digest, b->digest, ckd_storehash_digest_len(a->algo)) == 0;
}

/* ---- CRCs: reflected, slice-by-8 ------------------------------------------- */

/* t[k][b]: the register after byte b and k zero bytes. 32-bit CRCs use the
 * low half: the same code serves them. */
typedef uint64_t crc_table[8][256];
static crc_table T_CRC32C, T_CRC32, T_CRC64NVME;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static int have_sse42;

static void table_fill(crc_table t, uint64_t poly)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ poly : c >> 1;
        t[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++) t[k][i] = t[0][t[k - 1][i] & 0xff] ^ (t[k - 1][i] >> 8);
}

static void tables_init(void)
{
    table_fill(T_CRC32C, 0x82f63b78u);              /* Castagnoli, reflected */
    table_fill(T_CRC32, 0xedb88320u);               /* ISO-HDLC (zlib), reflected */
    table_fill(T_CRC64NVME, 0x9a6c9329ac4bc9b5ull); /* NVMe (0xad93d23594c93659 reflected) */
#if defined(__x86_64__)
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint64_t crc_sliced(const crc_table t, uint64_t crc, const unsigned char *p, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^
              t[4][(w >> 24) & 0xff] ^ t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^
              t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
        p += 8;
        n -= 8;
    }
#endif
    while (n--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint64_t crc32c_sse42(uint64_t crc, const unsigned char *p,
                                                               size_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = _mm_crc32_u64(crc, w);
        p += 8;
        n -= 8;
    }
    while (n--) crc = _mm_crc32_u8((uint32_t)crc, *p++);
    return crc;
}
#endif

/* ---- computing ------------------------------------------------------------- */

int ckd_storehash_init(ckd_storehash_ctx *c, enum ckd_storehash_algo algo)
{
    memset(c, 0, sizeof(*c));
    pthread_once(&tables_once, tables_init);
    const EVP_MD *md = NULL;
    switch (algo) {
    case CKD_STOREHASH_CRC32C:
    case CKD_STOREHASH_CRC32:
        c->crc = 0xffffffffu;
        break;
    case CKD_STOREHASH_CRC64NVME:
        c->crc = ~0ull;
        break;
    case CKD_STOREHASH_MD5:
        md = EVP_md5();
        break;
    case CKD_STOREHASH_SHA1:
        md = EVP_sha1();
        break;
    case CKD_STOREHASH_SHA256:
        md = EVP_sha256();
        break;
    default:
        return -EINVAL;
    }
    if (md) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (!m) return -ENOMEM;
        if (EVP_DigestInit_ex(m, md, NULL) != 1) {
            EVP_MD_CTX_free(m);
            return -ENOMEM;
        }
        c->md = m;
    }
    c->algo = algo;
    return 0;
}

void ckd_storehash_update(ckd_storehash_ctx *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    switch (c->algo) {
    case CKD_STOREHASH_CRC32C:
#if defined(__x86_64__)
        if (have_sse42) {
            c->crc = crc32c_sse42(c->crc, p, len);
            break;
        }
#endif
        c->crc = crc_sliced(T_CRC32C, c->crc, p, len);
        break;
    case CKD_STOREHASH_CRC32:
        c->crc = crc_sliced(T_CRC32, c->crc, p, len);
        break;
    case CKD_STOREHASH_CRC64NVME:
        c->crc = crc_sliced(T_CRC64NVME, c->crc, p, len);
        break;
    default:
        if (c->md) EVP_DigestUpdate(c->md, buf, len);
        break;
    }
}

int ckd_storehash_final(ckd_storehash_ctx *c, ckd_storehash *out)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    size_t n = ckd_storehash_digest_len(c->algo);
    if (c->md) {
        unsigned int got = 0;
        if (EVP_DigestFinal_ex(c->md, out->digest, &got) != 1 || got != n) rc = -EIO;
    } else if (n == 4 || n == 8) {
        uint64_t v = ~c->crc & (n == 4 ? 0xffffffffull : ~0ull);
        for (size_t i = 0; i < n; i++) out->digest[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    } else {
        rc = -EINVAL;
    }
    if (rc == 0) out->algo = c->algo;
    ckd_storehash_release(c);
    return rc;
}

void ckd_storehash_release(ckd_storehash_ctx *c)
{
    if (c->md) EVP_MD_CTX_free(c->md);
    c->md = NULL;
    c->algo = CKD_STOREHASH_NONE;
}
