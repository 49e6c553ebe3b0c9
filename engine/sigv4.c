/* SigV4-family request signing (AWS4 / GOOG4). See sigv4.h. */
#include "sigv4.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cred_util.h"

static const char HEX[] = "0123456789abcdef";

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void ckd_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    /* EVP_Digest fails only when out of memory inside OpenSSL; an all-zero
     * digest then simply yields a signature the server rejects. */
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, sizeof(md));
    hex_encode(md, 32, out);
}

int ckd_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32])
{
    unsigned int outlen = 0;
    if (keylen > (size_t)2147483647) return -EINVAL; /* HMAC() takes an int */
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) || outlen != 32)
        return -EINVAL;
    return 0;
}

/* ---- checks --------------------------------------------------------------- */

/* 0 when s is set and at most max bytes, -E2BIG past max, -EINVAL for NULL. */
static int capped(const char *s, size_t max)
{
    if (!s) return -EINVAL;
    return strnlen(s, max + 1) > max ? -E2BIG : 0;
}

/* 1 when every byte of s is in the set described by the flags. */
static int all_of(const char *s, int upper, int lower, int digit, const char *extra)
{
    if (!*s) return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if ((upper && c >= 'A' && c <= 'Z') || (lower && c >= 'a' && c <= 'z') ||
            (digit && c >= '0' && c <= '9') || (extra && strchr(extra, c)))
            continue;
        return 0;
    }
    return 1;
}

static int has_ctl(const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u == 0x7f) return 1;
    return 0;
}

/* Header values may hold tabs (they are canonicalised away), nothing else
 * below 0x20: a CR or LF would split the header line. */
static int value_ok(const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if ((*u < 0x20 && *u != '\t') || *u == 0x7f) return 0;
    return 1;
}

static int timestamp_ok(const char *t)
{
    if (strlen(t) != 16 || t[8] != 'T' || t[15] != 'Z') return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (t[i] < '0' || t[i] > '9')) return 0;
    return 1;
}

static int payload_hash_ok(const char *h)
{
    if (strcmp(h, "UNSIGNED-PAYLOAD") == 0) return 1;
    return strlen(h) == 64 && all_of(h, 0, 0, 1, "abcdef");
}

/* Everything about req that does not depend on the headers' values. */
static int check_req(const ckd_sigv4_req *r)
{
    const char *fields[] = {r->method,  r->uri,         r->payload_hash, r->timestamp, r->region,
                            r->service, r->algo_prefix, r->request_type, r->key_id,    r->secret};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int rc = capped(fields[i], CKD_SIGV4_MAX_FIELD);
        if (rc) return rc;
    }
    if (r->query) {
        int rc = capped(r->query, CKD_SIGV4_MAX_FIELD);
        if (rc) return rc;
    }
    if (r->n_headers > CKD_SIGV4_MAX_HEADERS) return -E2BIG;
    if (r->n_headers > 0 && !r->headers) return -EINVAL;
    if (!all_of(r->method, 1, 0, 0, NULL)) return -EINVAL;
    /* The URI and query go into the canonical request verbatim; a space or
     * a newline there would make a different request than the one sent. */
    if (r->uri[0] != '/' || has_ctl(r->uri) || strchr(r->uri, ' ')) return -EINVAL;
    if (r->query && (has_ctl(r->query) || strchr(r->query, ' '))) return -EINVAL;
    if (!payload_hash_ok(r->payload_hash) || !timestamp_ok(r->timestamp)) return -EINVAL;
    /* The scope is '/'-separated: no part may hold a '/'. */
    if (!all_of(r->region, 0, 1, 1, "-_") || !all_of(r->service, 0, 1, 1, "-_") ||
        !all_of(r->request_type, 0, 1, 1, "-_") || !all_of(r->algo_prefix, 1, 0, 1, NULL) ||
        strlen(r->algo_prefix) > 16)
        return -EINVAL;
    if (!*r->key_id || has_ctl(r->key_id) || strpbrk(r->key_id, "/, ")) return -EINVAL;
    if (has_ctl(r->secret)) return -EINVAL;
    for (size_t i = 0; i < r->n_headers; i++) {
        const ckd_sigv4_header *h = &r->headers[i];
        int rc = capped(h->name, CKD_SIGV4_MAX_NAME);
        if (!rc) rc = capped(h->value, CKD_SIGV4_MAX_FIELD);
        if (rc) return rc;
        if (!all_of(h->name, 0, 1, 1, "-") || !value_ok(h->value)) return -EINVAL;
        if (i > 0 && strcmp(r->headers[i - 1].name, h->name) >= 0) return -EINVAL;
    }
    return 0;
}

/* ---- building ------------------------------------------------------------- */

/* A header value trimmed, with inner runs of spaces and tabs as one space. */
static void put_trimmed(ckd_wbuf *w, const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    int pending_space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            pending_space = 1;
            continue;
        }
        if (pending_space) ckd_wbuf_put(w, " ", 1);
        pending_space = 0;
        ckd_wbuf_put(w, v, 1);
    }
}

static void put_signed_headers(ckd_wbuf *w, const ckd_sigv4_req *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        if (i) ckd_wbuf_put(w, ";", 1);
        ckd_wbuf_puts(w, r->headers[i].name);
    }
}

static int finish(const ckd_wbuf *w)
{
    return w->over ? -ENAMETOOLONG : (int)w->len;
}

int ckd_sigv4_canonical_request(const ckd_sigv4_req *r, char *out, size_t cap)
{
    int rc = check_req(r);
    if (rc) return rc;
    ckd_wbuf w = {out, cap, 0, 0};
    if (cap) out[0] = '\0';
    ckd_wbuf_puts(&w, r->method);
    ckd_wbuf_put(&w, "\n", 1);
    ckd_wbuf_puts(&w, r->uri);
    ckd_wbuf_put(&w, "\n", 1);
    ckd_wbuf_puts(&w, r->query ? r->query : "");
    ckd_wbuf_put(&w, "\n", 1);
    for (size_t i = 0; i < r->n_headers; i++) {
        ckd_wbuf_puts(&w, r->headers[i].name);
        ckd_wbuf_put(&w, ":", 1);
        put_trimmed(&w, r->headers[i].value);
        ckd_wbuf_put(&w, "\n", 1);
    }
    ckd_wbuf_put(&w, "\n", 1);
    put_signed_headers(&w, r);
    ckd_wbuf_put(&w, "\n", 1);
    ckd_wbuf_puts(&w, r->payload_hash);
    return finish(&w);
}

/* An upper bound of the canonical request's length, from the caps. */
static size_t canonical_bound(const ckd_sigv4_req *r)
{
    size_t n = strlen(r->method) + strlen(r->uri) + (r->query ? strlen(r->query) : 0) +
               strlen(r->payload_hash) + 16;
    for (size_t i = 0; i < r->n_headers; i++)
        n += 2 * strlen(r->headers[i].name) + strlen(r->headers[i].value) + 4;
    return n;
}

static void put_scope(ckd_wbuf *w, const ckd_sigv4_req *r)
{
    ckd_wbuf_put(w, r->timestamp, 8);
    ckd_wbuf_put(w, "/", 1);
    ckd_wbuf_puts(w, r->region);
    ckd_wbuf_put(w, "/", 1);
    ckd_wbuf_puts(w, r->service);
    ckd_wbuf_put(w, "/", 1);
    ckd_wbuf_puts(w, r->request_type);
}

int ckd_sigv4_string_to_sign(const ckd_sigv4_req *r, char *out, size_t cap)
{
    int rc = check_req(r);
    if (rc) return rc;
    /* check_req bounded every input, so this allocation is bounded too
     * (about 300 KiB at the very worst). */
    size_t ccap = canonical_bound(r);
    char *canon = malloc(ccap);
    if (!canon) return -ENOMEM;
    int clen = ckd_sigv4_canonical_request(r, canon, ccap);
    if (clen < 0) {
        free(canon);
        return clen;
    }
    char hash[65];
    ckd_sha256_hex(canon, (size_t)clen, hash);
    free(canon);

    ckd_wbuf w = {out, cap, 0, 0};
    if (cap) out[0] = '\0';
    ckd_wbuf_puts(&w, r->algo_prefix);
    ckd_wbuf_puts(&w, "-HMAC-SHA256\n");
    ckd_wbuf_puts(&w, r->timestamp);
    ckd_wbuf_put(&w, "\n", 1);
    put_scope(&w, r);
    ckd_wbuf_put(&w, "\n", 1);
    ckd_wbuf_puts(&w, hash);
    return finish(&w);
}

int ckd_sigv4_signing_key(const ckd_sigv4_req *r, unsigned char key[32])
{
    int rc = check_req(r);
    if (rc) return rc;
    /* kSecret = prefix + secret; both capped, so this fits. */
    size_t plen = strlen(r->algo_prefix), slen = strlen(r->secret);
    unsigned char ksecret[16 + CKD_SIGV4_MAX_FIELD];
    memcpy(ksecret, r->algo_prefix, plen);
    memcpy(ksecret + plen, r->secret, slen);
    unsigned char k1[32], k2[32], k3[32];
    rc = ckd_hmac_sha256(ksecret, plen + slen, r->timestamp, 8, k1);
    if (!rc) rc = ckd_hmac_sha256(k1, 32, r->region, strlen(r->region), k2);
    if (!rc) rc = ckd_hmac_sha256(k2, 32, r->service, strlen(r->service), k3);
    if (!rc) rc = ckd_hmac_sha256(k3, 32, r->request_type, strlen(r->request_type), key);
    OPENSSL_cleanse(ksecret, plen + slen);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    if (rc) OPENSSL_cleanse(key, 32);
    return rc;
}

int ckd_sigv4_sign(const ckd_sigv4_req *r, char *auth_out, size_t cap)
{
    int rc = check_req(r);
    if (rc) return rc;
    /* The string to sign is four short lines: prefix, timestamp, scope
     * (three capped fields) and a hash. */
    size_t scap = 64 + strlen(r->algo_prefix) + strlen(r->region) + strlen(r->service) +
                  strlen(r->request_type) + 64 + 16;
    char *sts = malloc(scap);
    if (!sts) return -ENOMEM;
    int slen = ckd_sigv4_string_to_sign(r, sts, scap);
    if (slen < 0) {
        free(sts);
        return slen;
    }
    unsigned char key[32], sig[32];
    rc = ckd_sigv4_signing_key(r, key);
    if (!rc) rc = ckd_hmac_sha256(key, 32, sts, (size_t)slen, sig);
    OPENSSL_cleanse(key, sizeof(key));
    free(sts);
    if (rc) return rc;
    char sighex[65];
    hex_encode(sig, 32, sighex);

    ckd_wbuf w = {auth_out, cap, 0, 0};
    if (cap) auth_out[0] = '\0';
    ckd_wbuf_puts(&w, r->algo_prefix);
    ckd_wbuf_puts(&w, "-HMAC-SHA256 Credential=");
    ckd_wbuf_puts(&w, r->key_id);
    ckd_wbuf_put(&w, "/", 1);
    put_scope(&w, r);
    ckd_wbuf_puts(&w, ",SignedHeaders=");
    put_signed_headers(&w, r);
    ckd_wbuf_puts(&w, ",Signature=");
    ckd_wbuf_puts(&w, sighex);
    rc = finish(&w);
    if (rc < 0 && cap) auth_out[0] = '\0';
    return rc;
}

int ckd_http_url_split(const char *url, const char **host, size_t *host_len, const char **path)
{
    const char *h;
    if (strncmp(url, "https://", 8) == 0)
        h = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        h = url + 7;
    else
        return -EINVAL;
    for (const unsigned char *u = (const unsigned char *)url; *u; u++)
        if (*u <= 0x20 || *u == 0x7f || *u == '?' || *u == '#') return -EINVAL;
    const char *p = strchr(h, '/');
    if (!p || p == h) return -EINVAL;
    if (memchr(h, '@', (size_t)(p - h))) return -EINVAL;
    *host = h;
    *host_len = (size_t)(p - h);
    *path = p;
    return 0;
}
