/* Azure Blob credentials, blob URLs and Shared Key signing. See azure.h. */
#include "azure.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "cred_util.h"
#include "s3.h"
#include "sigv4.h"

void ckd_azure_creds_release(ckd_azure_creds *c)
{
    if (!c) return;
    free(c->account);
    free(c->endpoint);
    if (c->key) {
        OPENSSL_cleanse(c->key, c->key_len);
        free(c->key);
    }
    ckd_cred_free_secret(c->sas);
    memset(c, 0, sizeof(*c));
}

/* 1 when s has a byte below 0x21 or 0x7f, or one of the extra bytes. */
static int has_ctl_or_space(const char *s, const char *extra)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u <= 0x20 || *u == 0x7f || (extra && strchr(extra, *u))) return 1;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* ---- base64 --------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

/* Strict standard base64 (padding required, no whitespace) into a malloc'd
 * buffer. -EINVAL for anything else, -ENOMEM. */
static int b64_decode(const char *s, unsigned char **out, size_t *out_len)
{
    size_t n = strlen(s);
    *out = NULL;
    *out_len = 0;
    if (n == 0 || n % 4 != 0) return -EINVAL;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    unsigned char *buf = malloc(n / 4 * 3);
    if (!buf) return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int last = i + 4 == n;
        for (int j = 0; j < 4; j++) {
            if (last && s[i + (size_t)j] == '=' && (size_t)j >= 4 - pad) {
                v[j] = 0;
                continue;
            }
            v[j] = b64_value(s[i + (size_t)j]);
            if (v[j] < 0) {
                OPENSSL_cleanse(buf, n / 4 * 3);
                free(buf);
                return -EINVAL;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[o++] = (unsigned char)(w >> 16);
        if (!(last && pad == 2)) buf[o++] = (unsigned char)(w >> 8);
        if (!(last && pad >= 1)) buf[o++] = (unsigned char)w;
    }
    *out = buf;
    *out_len = o;
    return 0;
}

/* Base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes). */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < n) w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) w |= in[i + 2];
        out[o++] = B64[w >> 18 & 63];
        out[o++] = B64[w >> 12 & 63];
        out[o++] = i + 1 < n ? B64[w >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[w & 63] : '=';
    }
    out[o] = '\0';
}

/* ---- credentials ------------------------------------------------------------- */

/* Account names go into a host name and the signed resource: letters,
 * digits, '-', '_', '.' only (real ones are [a-z0-9]{3,24}; emulators and
 * proxies are laxer). */
static int account_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > 255) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = a[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

/* An endpoint is http(s)://host[/path], no query, fragment or credentials. */
static int endpoint_ok(const char *e)
{
    const char *h = strncmp(e, "https://", 8) == 0  ? e + 8
                    : strncmp(e, "http://", 7) == 0 ? e + 7
                                                    : NULL;
    if (!h || *h == '/' || *h == '\0') return 0;
    return !has_ctl_or_space(e, "?#@");
}

/* Fills out from the pieces found by either source. what names the source
 * for messages. */
static int assemble(ckd_azure_creds *out, const char *account, const char *endpoint,
                    size_t endpoint_len, const char *key_b64, const char *sas, const char *what,
                    char *err, size_t errlen)
{
    char *ep = strndup(endpoint, endpoint_len);
    if (!ep) goto nomem;
    size_t elen = strlen(ep);
    while (elen > 0 && ep[elen - 1] == '/') ep[--elen] = '\0';
    if (!endpoint_ok(ep)) {
        ckd_cred_seterr(err, errlen, "invalid blob endpoint in %s: want http(s)://host[/path]",
                        what);
        free(ep);
        return -EINVAL;
    }
    out->endpoint = ep;
    if (account && !account_ok(account)) {
        ckd_cred_seterr(err, errlen,
                        "invalid azure account name in %s: want letters, digits, '-', '_' "
                        "or '.'",
                        what);
        goto inval;
    }
    if (key_b64) {
        if (!account) {
            ckd_cred_seterr(err, errlen, "%s has an account key but no account name", what);
            goto inval;
        }
        if (strnlen(key_b64, CKD_AZURE_MAX_KEY + 1) > CKD_AZURE_MAX_KEY) {
            ckd_cred_seterr(err, errlen, "invalid azure account key in %s: longer than %d bytes",
                            what, CKD_AZURE_MAX_KEY);
            goto inval;
        }
        int rc = b64_decode(key_b64, &out->key, &out->key_len);
        if (rc == -ENOMEM) goto nomem;
        if (rc < 0) {
            ckd_cred_seterr(err, errlen, "invalid azure account key in %s: it is not base64", what);
            goto inval;
        }
        out->kind = CKD_AZURE_AUTH_SHARED_KEY;
    } else if (sas) {
        while (*sas == '?') sas++;
        if (!*sas || strnlen(sas, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL ||
            has_ctl_or_space(sas, "#")) {
            ckd_cred_seterr(err, errlen,
                            "invalid shared access signature in %s: empty, too long, or it "
                            "has a space, '#' or a control character",
                            what);
            goto inval;
        }
        if (!(out->sas = strdup(sas))) goto nomem;
        out->kind = CKD_AZURE_AUTH_SAS;
    } else {
        ckd_cred_seterr(err, errlen, "%s has neither an account key nor a shared access signature",
                        what);
        ckd_azure_creds_release(out);
        return -ENOKEY;
    }
    if (account && !(out->account = strdup(account))) goto nomem;
    return 0;
nomem:
    ckd_cred_seterr(err, errlen, "out of memory");
    ckd_azure_creds_release(out);
    return -ENOMEM;
inval:
    ckd_azure_creds_release(out);
    return -EINVAL;
}

int ckd_azure_parse_connection_string(const char *cs, ckd_azure_creds *out, char *err,
                                      size_t errlen)
{
    static const char what[] = "the azure connection string";
    memset(out, 0, sizeof(*out));
    if (!cs || strnlen(cs, CKD_AZURE_MAX_CONNSTR + 1) > CKD_AZURE_MAX_CONNSTR) {
        ckd_cred_seterr(err, errlen,
                        "invalid azure connection string: missing or longer than %d bytes",
                        CKD_AZURE_MAX_CONNSTR);
        return -EINVAL;
    }
    char *copy = strdup(cs);
    if (!copy) {
        ckd_cred_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    const char *proto = NULL, *account = NULL, *key = NULL, *blob_ep = NULL, *suffix = NULL,
               *sas = NULL;
    int dev = 0, rc = 0;
    for (char *part = copy; part && rc == 0;) {
        char *next = strchr(part, ';');
        if (next) *next++ = '\0';
        char *s = trim(part);
        part = next;
        if (*s == '\0') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            /* Do not quote the part: it may be a piece of the key. */
            ckd_cred_seterr(err, errlen, "invalid azure connection string: a part has no '='");
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        if (*value == '\0') continue; /* empty means unset */
        if (strcasecmp(name, "DefaultEndpointsProtocol") == 0)
            proto = value;
        else if (strcasecmp(name, "AccountName") == 0)
            account = value;
        else if (strcasecmp(name, "AccountKey") == 0)
            key = value;
        else if (strcasecmp(name, "BlobEndpoint") == 0)
            blob_ep = value;
        else if (strcasecmp(name, "EndpointSuffix") == 0)
            suffix = value;
        else if (strcasecmp(name, "SharedAccessSignature") == 0)
            sas = value;
        else if (strcasecmp(name, "UseDevelopmentStorage") == 0)
            dev = strcasecmp(value, "true") == 0;
    }
    char *built = NULL;
    if (rc == 0 && dev) {
        account = CKD_AZURE_DEV_ACCOUNT;
        key = CKD_AZURE_DEV_KEY;
        if (!blob_ep) blob_ep = CKD_AZURE_DEV_ENDPOINT;
    }
    if (rc == 0 && proto && strcasecmp(proto, "https") != 0 && strcasecmp(proto, "http") != 0) {
        ckd_cred_seterr(err, errlen,
                        "invalid azure connection string: DefaultEndpointsProtocol must be "
                        "http or https");
        rc = -EINVAL;
    }
    if (rc == 0 && !blob_ep) {
        if (!account) {
            ckd_cred_seterr(err, errlen,
                            "invalid azure connection string: it has neither AccountName "
                            "nor BlobEndpoint");
            rc = -EINVAL;
        } else if (!account_ok(account) || (suffix && has_ctl_or_space(suffix, "/?#@"))) {
            ckd_cred_seterr(err, errlen,
                            "invalid azure connection string: bad AccountName or "
                            "EndpointSuffix");
            rc = -EINVAL;
        } else if (asprintf(&built, "%s://%s.blob.%s",
                            proto && strcasecmp(proto, "http") == 0 ? "http" : "https", account,
                            suffix ? suffix : "core.windows.net") < 0) {
            built = NULL;
            ckd_cred_seterr(err, errlen, "out of memory");
            rc = -ENOMEM;
        }
        blob_ep = built;
    }
    if (rc == 0) rc = assemble(out, account, blob_ep, strlen(blob_ep), key, sas, what, err, errlen);
    free(built);
    explicit_bzero(copy, strlen(cs));
    free(copy);
    return rc;
}

/* The account name of an account URL: the first path segment when there is
 * one (path-style, emulators), else the host's first label. Into buf. */
static void account_from_url(const char *url, size_t len, char *buf, size_t cap)
{
    buf[0] = '\0';
    const char *h = strstr(url, "://");
    if (!h || (size_t)(h - url) + 3 > len) return;
    h += 3;
    const char *end = url + len;
    const char *slash = memchr(h, '/', (size_t)(end - h));
    const char *seg = slash ? slash + 1 : end;
    size_t seglen = slash ? strcspn(seg, "/") : 0;
    if (seg + seglen > end) seglen = (size_t)(end - seg);
    if (seglen == 0) {
        seg = h;
        seglen = strcspn(h, ".:/");
        if (seg + seglen > end) seglen = (size_t)(end - seg);
    }
    if (seglen >= cap) return;
    memcpy(buf, seg, seglen);
    buf[seglen] = '\0';
}

static int from_account_url(const char *url, ckd_azure_creds *out, char *err, size_t errlen)
{
    static const char what[] = "the azure account_url";
    if (strnlen(url, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL) {
        ckd_cred_seterr(err, errlen, "invalid azure account_url: longer than %d bytes",
                        CKD_AZURE_MAX_URL);
        return -EINVAL;
    }
    const char *q = strchr(url, '?');
    size_t base_len = q ? (size_t)(q - url) : strlen(url);
    const char *url_sas = q && q[1] ? q + 1 : NULL;
    char derived[256];
    const char *account = ckd_cred_env(CKD_AZURE_ENV_ACCOUNT);
    if (!account) {
        account_from_url(url, base_len, derived, sizeof(derived));
        account = ckd_cred_nonempty(derived);
    }
    const char *key = ckd_cred_env(CKD_AZURE_ENV_KEY);
    const char *sas = url_sas ? url_sas : ckd_cred_env(CKD_AZURE_ENV_SAS);
    int rc = assemble(out, account, url, base_len, key, key ? NULL : sas, what, err, errlen);
    if (rc == -ENOKEY)
        ckd_cred_seterr(err, errlen,
                        "no azure credentials for the account_url: set %s or %s, or use a "
                        "connection_string",
                        CKD_AZURE_ENV_KEY, CKD_AZURE_ENV_SAS);
    return rc;
}

int ckd_azure_creds_resolve(const ckd_det_storage *st, ckd_azure_creds *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (st && ckd_cred_nonempty(st->connection_string))
        return ckd_azure_parse_connection_string(st->connection_string, out, err, errlen);
    if (st && ckd_cred_nonempty(st->account_url))
        return from_account_url(st->account_url, out, err, errlen);
    if (ckd_cred_env(CKD_AZURE_ENV_CONNSTR))
        return ckd_azure_parse_connection_string(ckd_cred_env(CKD_AZURE_ENV_CONNSTR), out, err,
                                                 errlen);
    ckd_cred_seterr(err, errlen,
                    "no azure credentials: the checkpoint storage has no connection_string "
                    "nor account_url, and %s is not set",
                    CKD_AZURE_ENV_CONNSTR);
    return -ENOKEY;
}

/* ---- names and URLs ----------------------------------------------------------- */

char *ckd_azure_blob_name(const char *uuid, const char *rel)
{
    /* No storage: no prefix, which is Azure's layout. */
    return ckd_s3_object_key(NULL, uuid, rel);
}

char *ckd_azure_blob_url(const ckd_azure_creds *c, const char *container, const char *blob)
{
    if (!c || !c->endpoint || c->kind == CKD_AZURE_AUTH_NONE || !ckd_cred_nonempty(container) ||
        !ckd_cred_nonempty(blob) || (c->kind == CKD_AZURE_AUTH_SAS && !c->sas))
        return NULL;
    if (strnlen(container, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL ||
        strnlen(blob, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL)
        return NULL;
    char *econt = ckd_s3_uri_encode(container, 0);
    char *eblob = ckd_s3_uri_encode(blob, 1);
    char *url = NULL;
    if (econt && eblob) {
        int n = c->kind == CKD_AZURE_AUTH_SAS
                    ? asprintf(&url, "%s/%s/%s?%s", c->endpoint, econt, eblob, c->sas)
                    : asprintf(&url, "%s/%s/%s", c->endpoint, econt, eblob);
        if (n < 0) url = NULL;
    }
    free(econt);
    free(eblob);
    if (url && strlen(url) > CKD_AZURE_MAX_URL) {
        ckd_cred_free_secret(url);
        url = NULL;
    }
    return url;
}

/* ---- the string to sign ----------------------------------------------------- */

/* A value without surrounding spaces and tabs. */
static void put_trimmed(ckd_wbuf *w, const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    ckd_wbuf_put(w, v, n);
}

static void put_lower(ckd_wbuf *w, const char *s)
{
    for (; *s; s++) {
        char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        ckd_wbuf_put(w, &ch, 1);
    }
}

typedef struct qparam {
    char *name, *value;
} qparam;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* %XX-decodes s[0..n) into out (NUL-terminated); lower lowercases ASCII.
 * -EINVAL for a bad escape or a decoded control byte. */
static int pct_decode(const char *s, size_t n, char *out, int lower)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n) return -EINVAL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -EINVAL;
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f) return -EINVAL;
        if (lower && ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch - 'A' + 'a');
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

/* Appends "\nname:v1,v2" per distinct parameter of query (sorted). */
static int put_query(ckd_wbuf *w, const char *query)
{
    size_t qlen = strlen(query);
    if (qlen == 0) return 0;
    qparam params[CKD_AZURE_MAX_QUERY];
    size_t n = 0;
    /* Decoding never lengthens: two NULs per parameter are the slack. */
    char *scratch = malloc(qlen + 2 * (CKD_AZURE_MAX_QUERY + 1));
    if (!scratch) return -ENOMEM;
    char *o = scratch;
    int rc = 0;
    for (const char *p = query; *p && rc == 0;) {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            if (n == CKD_AZURE_MAX_QUERY) {
                rc = -E2BIG;
                break;
            }
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            /* On a decoding error o is not terminated: stop at once. */
            params[n].name = o;
            rc = pct_decode(p, nlen, o, 1);
            if (rc) break;
            o += strlen(o) + 1;
            params[n].value = o;
            rc = pct_decode(eq ? eq + 1 : p + len, eq ? len - nlen - 1 : 0, o, 0);
            if (rc) break;
            o += strlen(o) + 1;
            n++;
        }
        p += len;
        if (*p == '&') p++;
    }
    if (rc == 0) {
        qsort(params, n, sizeof(params[0]), qparam_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && strcmp(params[i - 1].name, params[i].name) == 0) {
                ckd_wbuf_put(w, ",", 1);
            } else {
                ckd_wbuf_put(w, "\n", 1);
                ckd_wbuf_puts(w, params[i].name);
                ckd_wbuf_put(w, ":", 1);
            }
            ckd_wbuf_puts(w, params[i].value);
        }
    }
    free(scratch);
    return rc;
}

static int header_name_ok(const char *name)
{
    if (strncasecmp(name, "x-ms-", 5) != 0 || strlen(name) > 128) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return 0;
    return 1;
}

static int header_cmp(const void *a, const void *b)
{
    const ckd_azure_header *const *x = a, *const *y = b;
    return strcasecmp((*x)->name, (*y)->name);
}

static int value_ok(const char *v)
{
    if (!v || strnlen(v, CKD_AZURE_MAX_FIELD + 1) > CKD_AZURE_MAX_FIELD) return 0;
    for (const unsigned char *u = (const unsigned char *)v; *u; u++)
        if ((*u < 0x20 && *u != '\t') || *u == 0x7f) return 0;
    return 1;
}

int ckd_azure_string_to_sign(const ckd_azure_sign_req *r, char *out, size_t cap)
{
    if (cap) out[0] = '\0';
    if (!r || !r->method || !r->account || !r->url || (r->n_headers && !r->headers)) return -EINVAL;
    if (r->n_headers > CKD_AZURE_MAX_HEADERS) return -E2BIG;
    if (strnlen(r->url, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL) return -E2BIG;
    if (!*r->method || strlen(r->method) > 16 ||
        strspn(r->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(r->method))
        return -EINVAL;
    if (!account_ok(r->account) || (r->range && !value_ok(r->range))) return -EINVAL;

    const ckd_azure_header *sorted[CKD_AZURE_MAX_HEADERS];
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!r->headers[i].name || !header_name_ok(r->headers[i].name) ||
            !value_ok(r->headers[i].value))
            return -EINVAL;
        sorted[i] = &r->headers[i];
    }
    qsort(sorted, r->n_headers, sizeof(sorted[0]), header_cmp);
    for (size_t i = 1; i < r->n_headers; i++)
        if (strcasecmp(sorted[i - 1]->name, sorted[i]->name) == 0) return -EINVAL;

    /* The path as sent (still encoded), and the query apart. */
    const char *q = strchr(r->url, '?');
    size_t base_len = q ? (size_t)(q - r->url) : strlen(r->url);
    char *base = strndup(r->url, base_len);
    if (!base) return -ENOMEM;
    const char *host, *path;
    size_t host_len;
    if (ckd_http_url_split(base, &host, &host_len, &path) < 0 ||
        (q && has_ctl_or_space(q + 1, "#"))) {
        free(base);
        return -EINVAL;
    }

    ckd_wbuf w = {out, cap, 0, 0};
    ckd_wbuf_puts(&w, r->method);
    ckd_wbuf_put(&w, "\n", 1);
    /* Content-Encoding, -Language, -Length, -MD5, -Type, Date,
     * If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since:
     * never sent by this module. */
    for (int i = 0; i < 10; i++) ckd_wbuf_put(&w, "\n", 1);
    if (r->range) put_trimmed(&w, r->range);
    ckd_wbuf_put(&w, "\n", 1);
    for (size_t i = 0; i < r->n_headers; i++) {
        put_lower(&w, sorted[i]->name);
        ckd_wbuf_put(&w, ":", 1);
        put_trimmed(&w, sorted[i]->value);
        ckd_wbuf_put(&w, "\n", 1);
    }
    ckd_wbuf_put(&w, "/", 1);
    ckd_wbuf_puts(&w, r->account);
    ckd_wbuf_puts(&w, path);
    free(base);
    int rc = q ? put_query(&w, q + 1) : 0;
    if (rc < 0) {
        if (cap) out[0] = '\0';
        return rc;
    }
    if (w.over) {
        if (cap) out[0] = '\0';
        return -ENAMETOOLONG;
    }
    return (int)w.len;
}

int ckd_azure_sign(const ckd_azure_sign_req *r, const unsigned char *key, size_t key_len, char *out,
                   size_t cap)
{
    if (cap) out[0] = '\0';
    if (!r || !key || key_len == 0 || !r->url || !r->account || !r->method) return -EINVAL;
    if (r->n_headers > CKD_AZURE_MAX_HEADERS) return -E2BIG;
    if (strnlen(r->url, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL ||
        strnlen(r->account, 256) > 255 || strnlen(r->method, 17) > 16)
        return -E2BIG;
    /* A bound of the string to sign from the (capped) inputs: the query
     * part at most doubles when each parameter gains "\n" and ":". */
    size_t bound = strlen(r->method) + strlen(r->account) + 3 * strlen(r->url) + 64;
    if (r->range) bound += strnlen(r->range, CKD_AZURE_MAX_FIELD + 1);
    for (size_t i = 0; r->headers && i < r->n_headers; i++)
        bound += (r->headers[i].name ? strnlen(r->headers[i].name, 129) : 0) +
                 (r->headers[i].value ? strnlen(r->headers[i].value, CKD_AZURE_MAX_FIELD + 1) : 0) +
                 2;
    char *sts = malloc(bound);
    if (!sts) return -ENOMEM;
    int n = ckd_azure_string_to_sign(r, sts, bound);
    if (n < 0) {
        free(sts);
        return n;
    }
    unsigned char mac[32];
    int rc = ckd_hmac_sha256(key, key_len, sts, (size_t)n, mac);
    free(sts);
    if (rc) return rc;
    if (cap < 45) return -ENAMETOOLONG;
    b64_encode(mac, sizeof(mac), out);
    return (int)strlen(out);
}

/* ---- request headers -------------------------------------------------------- */

/* RFC 1123 in GMT, with English names whatever the locale. */
static int rfc1123(time_t t, char out[32])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (t < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999) return -EINVAL;
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return 0;
}

static int append(struct curl_slist **list, const char *name, const char *value)
{
    char *line = NULL;
    int n = asprintf(&line, "%s: %s", name, value);
    if (n < 0) return -ENOMEM;
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (!l) return -ENOMEM;
    *list = l;
    return 0;
}

int ckd_azure_request_headers(const ckd_azure_creds *c, const char *url, time_t now,
                              int64_t range_start, int64_t range_end, struct curl_slist **out)
{
    *out = NULL;
    if (!c || !url) return -EINVAL;
    int shared = c->kind == CKD_AZURE_AUTH_SHARED_KEY;
    if (shared ? !c->key || !c->account : c->kind != CKD_AZURE_AUTH_SAS) return -EINVAL;
    if (strnlen(url, CKD_AZURE_MAX_URL + 1) > CKD_AZURE_MAX_URL) return -E2BIG;
    if (range_start >= 0 && range_end >= 0 && range_end < range_start) return -EINVAL;

    char date[32], range[64];
    ckd_azure_header h[3];
    size_t n = 0;
    if (shared) {
        if (rfc1123(now, date) < 0) return -EINVAL;
        h[n++] = (ckd_azure_header){"x-ms-date", date};
    }
    if (range_start >= 0) {
        if (range_end >= 0)
            snprintf(range, sizeof(range), "bytes=%" PRId64 "-%" PRId64, range_start, range_end);
        else
            snprintf(range, sizeof(range), "bytes=%" PRId64 "-", range_start);
        h[n++] = (ckd_azure_header){"x-ms-range", range};
    }
    h[n++] = (ckd_azure_header){"x-ms-version", CKD_AZURE_VERSION};

    char auth[512] = "";
    if (shared) {
        const ckd_azure_sign_req req = {"GET", c->account, url, NULL, h, n};
        char sig[64];
        int rc = ckd_azure_sign(&req, c->key, c->key_len, sig, sizeof(sig));
        if (rc < 0) return rc == -ENOMEM || rc == -E2BIG ? rc : -EINVAL;
        snprintf(auth, sizeof(auth), "SharedKey %s:%s", c->account, sig);
    } else {
        /* Still check the URL's shape, as the Shared Key path does. */
        const char *q = strchr(url, '?');
        char *base = strndup(url, q ? (size_t)(q - url) : strlen(url));
        if (!base) return -ENOMEM;
        const char *host, *path;
        size_t host_len;
        int bad = ckd_http_url_split(base, &host, &host_len, &path) < 0;
        free(base);
        if (bad) return -EINVAL;
    }

    struct curl_slist *list = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = append(&list, h[i].name, h[i].value);
    if (!rc && shared) rc = append(&list, "Authorization", auth);
    if (rc) {
        curl_slist_free_all(list);
        return rc;
    }
    *out = list;
    return 0;
}
