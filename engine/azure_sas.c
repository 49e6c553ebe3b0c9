/* Azure Blob service SAS from an account key (see azure_sas.h). */
#include "azure_sas.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "azure.h"
#include "cred_util.h"
#include "sigv4.h"

/* 1 when s holds a byte below 0x20 or 0x7f. */
static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ", digits where digits belong. */
static int expiry_ok(const char *e)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(e) != sizeof(shape) - 1) return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (e[i] < '0' || e[i] > '9') : e[i] != shape[i]) return 0;
    return 1;
}

static int check(const ckd_azure_sas_req *r)
{
    if (!r || !r->account || !r->container || !r->blob || !r->expiry) return -EINVAL;
    const char *names[] = {r->account, r->container, r->blob};
    for (size_t i = 0; i < 3; i++) {
        if (strnlen(names[i], CKD_AZURE_SAS_MAX_NAME + 1) > CKD_AZURE_SAS_MAX_NAME) return -E2BIG;
        if (!names[i][0] || has_ctl(names[i])) return -EINVAL;
    }
    return expiry_ok(r->expiry) ? 0 : -EINVAL;
}

int ckd_azure_sas_string_to_sign(const ckd_azure_sas_req *r, char *out, size_t cap)
{
    if (cap) out[0] = '\0';
    int rc = check(r);
    if (rc < 0) return rc;
    ckd_wbuf w = {out, cap, 0, 0};
    ckd_wbuf_puts(&w, "r\n\n"); /* signedPermissions, signedStart (none) */
    ckd_wbuf_puts(&w, r->expiry);
    ckd_wbuf_puts(&w, "\n/blob/");
    ckd_wbuf_puts(&w, r->account);
    ckd_wbuf_puts(&w, "/");
    ckd_wbuf_puts(&w, r->container);
    ckd_wbuf_puts(&w, "/");
    ckd_wbuf_puts(&w, r->blob);
    ckd_wbuf_puts(&w, "\n\n\n"); /* signedIdentifier, signedIP: none */
    ckd_wbuf_puts(&w, r->https_only ? "https" : "");
    ckd_wbuf_puts(&w, "\n" CKD_AZURE_SAS_VERSION "\nb\n");
    /* Snapshot time, encryption scope, rscc, rscd, rsce, rscl, rsct: none. */
    ckd_wbuf_puts(&w, "\n\n\n\n\n\n");
    if (w.over) {
        if (cap) out[0] = '\0';
        return -ENAMETOOLONG;
    }
    return (int)w.len; /* ckd_wbuf keeps out NUL-terminated */
}

/* Percent-encodes s (all but A-Za-z0-9-._~) onto w. */
static void put_encoded(ckd_wbuf *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            ckd_wbuf_put(w, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            ckd_wbuf_put(w, e, 3);
        }
    }
}

int ckd_azure_sas_query(const ckd_azure_sas_req *r, const unsigned char *key, size_t key_len,
                        char *out, size_t cap)
{
    if (cap) out[0] = '\0';
    if (!key || key_len == 0 || key_len > CKD_AZURE_MAX_KEY) return -EINVAL;
    int rc = check(r);
    if (rc < 0) return rc;
    size_t bound = strlen(r->account) + strlen(r->container) + strlen(r->blob) + 128;
    char *sts = malloc(bound);
    if (!sts) return -ENOMEM;
    int n = ckd_azure_sas_string_to_sign(r, sts, bound);
    unsigned char mac[32];
    rc = n < 0 ? n : ckd_hmac_sha256(key, key_len, sts, (size_t)n, mac);
    free(sts);
    if (rc < 0) return rc;
    char sig[48];
    EVP_EncodeBlock((unsigned char *)sig, mac, sizeof(mac)); /* 44 characters and a NUL */
    ckd_wbuf w = {out, cap, 0, 0};
    ckd_wbuf_puts(&w, "sv=" CKD_AZURE_SAS_VERSION);
    if (r->https_only) ckd_wbuf_puts(&w, "&spr=https");
    ckd_wbuf_puts(&w, "&se=");
    put_encoded(&w, r->expiry);
    ckd_wbuf_puts(&w, "&sr=b&sp=r&sig=");
    put_encoded(&w, sig);
    explicit_bzero(mac, sizeof(mac));
    if (w.over) {
        if (cap) out[0] = '\0';
        return -ENAMETOOLONG;
    }
    return (int)w.len; /* ckd_wbuf keeps out NUL-terminated */
}

int ckd_azure_sas_expiry(time_t t, char out[21])
{
    struct tm tm;
    if (t < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999) return -EINVAL;
    return strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20 ? 0 : -EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The first n bytes of s %XX-decoded, malloc'd; NULL for a bad escape, a
 * decoded NUL, or out of memory (*rc says which). */
static char *decode(const char *s, size_t n, int *rc)
{
    char *d = malloc(n + 1);
    if (!d) {
        *rc = -ENOMEM;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[o++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            *rc = -EINVAL;
            return NULL;
        }
        d[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    d[o] = '\0';
    return d;
}

char *ckd_azure_sas_url(const struct ckd_azure_creds *c, const char *url, time_t now,
                        long lifetime_s, int *rc)
{
    *rc = -EINVAL;
    if (!c || c->kind != CKD_AZURE_AUTH_SHARED_KEY || !c->key || !c->account || !c->endpoint ||
        !url || lifetime_s < 1 || lifetime_s > CKD_AZURE_SAS_MAX_LIFETIME)
        return NULL;
    if (strnlen(url, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL) {
        *rc = -E2BIG;
        return NULL;
    }
    size_t el = strlen(c->endpoint);
    if (strncmp(url, c->endpoint, el) != 0 || url[el] != '/' || strpbrk(url, "?#")) return NULL;
    const char *cont = url + el + 1;
    const char *slash = strchr(cont, '/');
    if (!slash || slash == cont || !slash[1]) return NULL;
    char expiry[21];
    if (ckd_azure_sas_expiry(now + lifetime_s, expiry) < 0) return NULL;
    char *container = decode(cont, (size_t)(slash - cont), rc);
    char *blob = container ? decode(slash + 1, strlen(slash + 1), rc) : NULL;
    char *out = NULL;
    if (blob) {
        ckd_azure_sas_req r = {c->account, container, blob, expiry,
                               strncmp(c->endpoint, "https://", 8) == 0};
        char q[256];
        int n = ckd_azure_sas_query(&r, c->key, c->key_len, q, sizeof(q));
        size_t ul = strlen(url);
        if (n < 0) {
            *rc = n;
        } else if (!(out = malloc(ul + (size_t)n + 2))) {
            *rc = -ENOMEM;
        } else {
            memcpy(out, url, ul);
            out[ul] = '?';
            memcpy(out + ul + 1, q, (size_t)n + 1);
            *rc = 0;
        }
        explicit_bzero(q, sizeof(q));
    }
    free(container);
    free(blob);
    return out;
}
