/* Object-store URLs, listing pages and key selection. See objlist.h. */
#include "objlist.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- URLs ----------------------------------------------------------------- */

const char *ckd_objstore_type(enum ckd_objstore s)
{
    return s == CKD_OBJ_S3 ? "s3" : s == CKD_OBJ_GCS ? "gcs" : "azure";
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 255) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void ckd_objurl_release(ckd_objurl *u)
{
    free(u->account);
    free(u->bucket);
    free(u->key);
    memset(u, 0, sizeof(*u));
}

int ckd_objurl_parse(const char *url, ckd_objurl *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t len = strnlen(url, CKD_OBJLIST_MAX_URL + 1);
    if (len > CKD_OBJLIST_MAX_URL) {
        seterr(err, errlen, "object URL longer than %d bytes", CKD_OBJLIST_MAX_URL);
        return -EINVAL;
    }
    const char *p;
    if (strncmp(url, "s3://", 5) == 0) {
        out->store = CKD_OBJ_S3;
        p = url + 5;
    } else if (strncmp(url, "gs://", 5) == 0) {
        out->store = CKD_OBJ_GCS;
        p = url + 5;
    } else if (strncmp(url, "az://", 5) == 0) {
        out->store = CKD_OBJ_AZURE;
        p = url + 5;
    } else {
        seterr(err, errlen, "'%.200s' is not an s3://, gs:// or az:// URL", url);
        return -EINVAL;
    }
    for (const unsigned char *u = (const unsigned char *)url; *u; u++) {
        if (*u < 0x20 || *u == 0x7f) {
            seterr(err, errlen, "object URL with a control character");
            return -EINVAL;
        }
    }
    if (!ckp_utf8_valid(url, len)) {
        seterr(err, errlen, "object URL is not UTF-8");
        return -EINVAL;
    }
    if (out->store == CKD_OBJ_AZURE) {
        size_t n = strcspn(p, "/");
        if (!name_ok(p, n) || p[n] != '/') {
            seterr(err, errlen, "'%.200s': want az://ACCOUNT/CONTAINER/[PREFIX]", url);
            return -EINVAL;
        }
        if (!(out->account = strndup(p, n))) goto nomem;
        p += n + 1;
    }
    size_t n = strcspn(p, "/");
    if (!name_ok(p, n)) {
        seterr(err, errlen, "'%.200s': the %s name must be 1 to 255 of A-Z a-z 0-9 . _ -", url,
               out->store == CKD_OBJ_AZURE ? "container" : "bucket");
        ckd_objurl_release(out);
        return -EINVAL;
    }
    if (!(out->bucket = strndup(p, n))) goto nomem;
    p += n;
    if (*p == '/') p++;
    size_t klen = strlen(p);
    if (klen > CKD_OBJLIST_MAX_KEY) {
        seterr(err, errlen, "object key longer than %d bytes", CKD_OBJLIST_MAX_KEY);
        ckd_objurl_release(out);
        return -EINVAL;
    }
    if (!(out->key = strdup(p))) goto nomem;
    out->is_prefix = klen == 0 || p[klen - 1] == '/';
    return 0;
nomem:
    ckd_objurl_release(out);
    seterr(err, errlen, "out of memory");
    return -ENOMEM;
}

/* ---- a small XML reader ------------------------------------------------------ */

/* Elements are reported when they close, with the names of the open
 * elements (namespace prefixes dropped) and their own text. Attributes are
 * skipped, DOCTYPE refused (no entity definitions, so no entity bombs). */
typedef struct xml_rd {
    const char *names[CKD_OBJLIST_MAX_DEPTH];
    size_t lens[CKD_OBJLIST_MAX_DEPTH];
    int depth;
    char text[CKD_OBJLIST_MAX_TOKEN + 8];
    size_t tlen;
    int tover; /* the text passed its buffer */
    int (*close)(struct xml_rd *x, void *ud);
    void *ud;
} xml_rd;

static void text_put(xml_rd *x, const char *s, size_t n)
{
    if (x->tlen + n > CKD_OBJLIST_MAX_TOKEN) {
        x->tover = 1;
        return;
    }
    memcpy(x->text + x->tlen, s, n);
    x->tlen += n;
    x->text[x->tlen] = '\0';
}

/* UTF-8 of code point cp into out; its length, 0 when invalid. */
static size_t utf8_put(unsigned long cp, char *out)
{
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 63));
        out[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 63));
    out[2] = (char)(0x80 | (cp >> 6 & 63));
    out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Character data s[0..n) with entities decoded. -EINVAL for a bad entity. */
static int text_decode(xml_rd *x, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
        text_put(x, s + i, run);
        i += run;
        if (i == n) break;
        const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
        if (!semi) return -EINVAL;
        const char *e = s + i + 1;
        size_t el = (size_t)(semi - e);
        char buf[4];
        size_t bl = 0;
        if (el == 3 && memcmp(e, "amp", 3) == 0)
            buf[bl++] = '&';
        else if (el == 2 && memcmp(e, "lt", 2) == 0)
            buf[bl++] = '<';
        else if (el == 2 && memcmp(e, "gt", 2) == 0)
            buf[bl++] = '>';
        else if (el == 4 && memcmp(e, "quot", 4) == 0)
            buf[bl++] = '"';
        else if (el == 4 && memcmp(e, "apos", 4) == 0)
            buf[bl++] = '\'';
        else if (el >= 2 && e[0] == '#') {
            int hex = e[1] == 'x' || e[1] == 'X';
            unsigned long cp = 0;
            size_t k = hex ? 2 : 1;
            if (k == el) return -EINVAL;
            for (; k < el; k++) {
                char c = e[k];
                int d = c >= '0' && c <= '9'          ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0) return -EINVAL;
                cp = cp * (hex ? 16 : 10) + (unsigned long)d;
                if (cp > 0x10ffff) return -EINVAL;
            }
            bl = utf8_put(cp, buf);
            if (!bl) return -EINVAL;
        } else {
            return -EINVAL;
        }
        text_put(x, buf, bl);
        i = (size_t)(semi - s) + 1;
    }
    return 0;
}

static int xml_read(xml_rd *x, const char *s, size_t n)
{
    size_t i = 0;
    int seen_root = 0;
    while (i < n) {
        if (s[i] != '<') {
            const char *lt = memchr(s + i, '<', n - i);
            size_t run = lt ? (size_t)(lt - (s + i)) : n - i;
            if (x->depth == 0) {
                for (size_t k = 0; k < run; k++)
                    if (!strchr(" \t\r\n", s[i + k]) && s[i + k] != '\xef' && s[i + k] != '\xbb' &&
                        s[i + k] != '\xbf')
                        return -EINVAL; /* text outside the root (a BOM is fine) */
            } else if (text_decode(x, s + i, run) < 0) {
                return -EINVAL;
            }
            i += run;
            continue;
        }
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            const char *end = memmem(s + i + 4, n - i - 4, "-->", 3);
            if (!end) return -EINVAL;
            i = (size_t)(end - s) + 3;
            continue;
        }
        if (n - i >= 9 && memcmp(s + i, "<![CDATA[", 9) == 0) {
            const char *end = memmem(s + i + 9, n - i - 9, "]]>", 3);
            if (!end || x->depth == 0) return -EINVAL;
            text_put(x, s + i + 9, (size_t)(end - (s + i + 9)));
            i = (size_t)(end - s) + 3;
            continue;
        }
        if (n - i >= 2 && (s[i + 1] == '!')) return -EINVAL; /* DOCTYPE and the like */
        if (n - i >= 2 && s[i + 1] == '?') {
            const char *end = memmem(s + i + 2, n - i - 2, "?>", 2);
            if (!end) return -EINVAL;
            i = (size_t)(end - s) + 2;
            continue;
        }
        /* A tag: find its end, outside quoted attribute values. */
        size_t j = i + 1;
        char quote = 0;
        while (j < n && (quote || s[j] != '>')) {
            if (quote && s[j] == quote)
                quote = 0;
            else if (!quote && (s[j] == '"' || s[j] == '\''))
                quote = s[j];
            j++;
        }
        if (j == n) return -EINVAL;
        int closing = s[i + 1] == '/';
        int empty = !closing && s[j - 1] == '/';
        const char *name = s + i + 1 + closing;
        size_t nl = strcspn(name, " \t\r\n/>");
        if ((size_t)(name - s) + nl > j || nl == 0) return -EINVAL;
        const char *colon = memchr(name, ':', nl);
        if (colon) {
            nl -= (size_t)(colon + 1 - name);
            name = colon + 1;
        }
        if (closing) {
            if (x->depth == 0 || x->lens[x->depth - 1] != nl ||
                memcmp(x->names[x->depth - 1], name, nl) != 0)
                return -EINVAL;
            int rc = x->close(x, x->ud);
            if (rc < 0) return rc;
            x->depth--;
            x->tlen = 0;
            x->tover = 0;
            x->text[0] = '\0';
        } else {
            if (x->depth == 0 && seen_root) return -EINVAL;
            if (x->depth == CKD_OBJLIST_MAX_DEPTH) return -E2BIG;
            seen_root = 1;
            x->names[x->depth] = name;
            x->lens[x->depth] = nl;
            x->depth++;
            x->tlen = 0;
            x->tover = 0;
            x->text[0] = '\0';
            if (empty) {
                int rc = x->close(x, x->ud);
                if (rc < 0) return rc;
                x->depth--;
            }
        }
        i = j + 1;
    }
    return x->depth == 0 && seen_root ? 0 : -EINVAL;
}

/* 1 when the open elements are exactly the names given (from the root). */
static int at(const xml_rd *x, int n, ...)
{
    if (x->depth != n) return 0;
    va_list ap;
    va_start(ap, n);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        const char *want = va_arg(ap, const char *);
        ok = strlen(want) == x->lens[i] && memcmp(want, x->names[i], x->lens[i]) == 0;
    }
    va_end(ap);
    return ok;
}

/* ---- listing pages -------------------------------------------------------- */

typedef struct page_ctx {
    enum ckd_objstore store;
    ckd_objpage *p;
    ckd_objent cur;
    int has_size, has_trunc, has_root;
    char *last_key;
    const char *what; /* the problem, for the error message */
} page_ctx;

static int take_text(xml_rd *x, page_ctx *c, size_t cap, char **slot, const char *what)
{
    if (x->tover || x->tlen > cap) {
        c->what = what;
        return -E2BIG;
    }
    char *s = strdup(x->text);
    if (!s) return -ENOMEM;
    free(*slot);
    *slot = s;
    return 0;
}

static int parse_size(const char *s, int64_t *out)
{
    if (!*s) return -EINVAL;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10) return -EINVAL;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

static int push_entry(page_ctx *c)
{
    if (!c->cur.key || !c->has_size) {
        c->what = "an entry without a key or size";
        return -EINVAL;
    }
    size_t kl = strlen(c->cur.key);
    if (kl == 0 || kl > CKD_OBJLIST_MAX_KEY) {
        c->what = "an empty or too long key";
        return kl ? -E2BIG : -EINVAL;
    }
    for (const unsigned char *u = (const unsigned char *)c->cur.key; *u; u++) {
        if (*u < 0x20 || *u == 0x7f) {
            c->what = "a key with a control character";
            return -EINVAL;
        }
    }
    if (c->p->n == CKD_OBJLIST_MAX_ENTRIES) {
        c->what = "too many entries in one page";
        return -E2BIG;
    }
    if (c->p->n % 64 == 0) {
        ckd_objent *nv = realloc(c->p->v, (c->p->n + 64) * sizeof(*nv));
        if (!nv) return -ENOMEM;
        c->p->v = nv;
    }
    if (!c->cur.etag && !(c->cur.etag = strdup(""))) return -ENOMEM;
    if (c->cur.probe < 0) c->cur.probe = 0;
    c->p->v[c->p->n++] = c->cur;
    c->last_key = c->cur.key;
    memset(&c->cur, 0, sizeof(c->cur));
    c->has_size = 0;
    return 0;
}

static int on_close(xml_rd *x, void *ud)
{
    page_ctx *c = ud;
    if (c->store != CKD_OBJ_AZURE) {
        if (at(x, 1, "ListBucketResult")) c->has_root = 1;
        if (at(x, 3, "ListBucketResult", "Contents", "Key"))
            return take_text(x, c, CKD_OBJLIST_MAX_KEY, &c->cur.key, "a key too long");
        if (at(x, 3, "ListBucketResult", "Contents", "ETag"))
            return take_text(x, c, 512, &c->cur.etag, "an etag too long");
        if (at(x, 3, "ListBucketResult", "Contents", "Size")) {
            c->has_size = parse_size(x->text, &c->cur.size) == 0;
            if (!c->has_size) c->what = "a size that is not a number";
            return c->has_size ? 0 : -EINVAL;
        }
        if (at(x, 3, "ListBucketResult", "Contents", "ChecksumAlgorithm")) {
            /* S3 keeps a checksum the listing does not show: a HEAD can. */
            if (c->cur.probe >= 0) c->cur.probe = 1;
            return 0;
        }
        if (at(x, 3, "ListBucketResult", "Contents", "ChecksumType")) {
            /* A checksum of the parts' checksums says nothing of the bytes. */
            if (strcmp(x->text, "COMPOSITE") == 0) c->cur.probe = -1;
            return 0;
        }
        if (at(x, 2, "ListBucketResult", "Contents")) return push_entry(c);
        if (at(x, 2, "ListBucketResult", "IsTruncated")) {
            c->has_trunc = 1;
            c->p->truncated = strcmp(x->text, "true") == 0;
            return 0;
        }
        if (at(x, 2, "ListBucketResult", "NextContinuationToken") ||
            (at(x, 2, "ListBucketResult", "NextMarker") && !c->p->next))
            return take_text(x, c, CKD_OBJLIST_MAX_TOKEN, &c->p->next, "a token too long");
        return 0;
    }
    if (at(x, 1, "EnumerationResults")) c->has_root = 1;
    if (at(x, 4, "EnumerationResults", "Blobs", "Blob", "Name"))
        return take_text(x, c, CKD_OBJLIST_MAX_KEY, &c->cur.key, "a name too long");
    if (at(x, 5, "EnumerationResults", "Blobs", "Blob", "Properties", "Etag"))
        return take_text(x, c, 512, &c->cur.etag, "an etag too long");
    if (at(x, 5, "EnumerationResults", "Blobs", "Blob", "Properties", "Content-Length")) {
        c->has_size = parse_size(x->text, &c->cur.size) == 0;
        if (!c->has_size) c->what = "a size that is not a number";
        return c->has_size ? 0 : -EINVAL;
    }
    if (at(x, 5, "EnumerationResults", "Blobs", "Blob", "Properties", "Content-MD5") &&
        x->tlen > 0) {
        /* The blob's MD5, kept by the service: checked after the download. */
        if (x->tover || ckd_storehash_offer(&c->cur.hash, CKD_STOREHASH_MD5, x->text, x->tlen) < 0)
            memset(&c->cur.hash, 0, sizeof(c->cur.hash)); /* not one: nothing to check */
        return 0;
    }
    if (at(x, 3, "EnumerationResults", "Blobs", "Blob")) return push_entry(c);
    if (at(x, 2, "EnumerationResults", "NextMarker") && x->tlen > 0) {
        c->p->truncated = 1;
        return take_text(x, c, CKD_OBJLIST_MAX_TOKEN, &c->p->next, "a marker too long");
    }
    return 0;
}

void ckd_objpage_release(ckd_objpage *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].etag);
    }
    free(p->v);
    free(p->next);
    memset(p, 0, sizeof(*p));
}

int ckd_objlist_parse(enum ckd_objstore s, const char *xml, size_t len, ckd_objpage *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len > CKD_OBJLIST_MAX_BODY) {
        seterr(err, errlen, "listing page larger than %d bytes", CKD_OBJLIST_MAX_BODY);
        return -E2BIG;
    }
    xml_rd *x = calloc(1, sizeof(*x));
    if (!x) return -ENOMEM;
    page_ctx c = {.store = s, .p = out};
    x->close = on_close;
    x->ud = &c;
    int rc = xml_read(x, xml, len);
    free(x);
    if (rc == 0 && !c.has_root) {
        c.what = s == CKD_OBJ_AZURE ? "no EnumerationResults" : "no ListBucketResult";
        rc = -EINVAL;
    }
    if (rc == 0 && out->truncated && !out->next) {
        /* S3 v1 and GCS without a NextMarker: continue after the last key. */
        if (!c.last_key) {
            c.what = "a truncated page without entries or a token";
            rc = -EINVAL;
        } else if (!(out->next = strdup(c.last_key))) {
            rc = -ENOMEM;
        }
    }
    free(c.cur.key);
    free(c.cur.etag);
    if (rc < 0) {
        ckd_objpage_release(out);
        if (rc == -ENOMEM)
            seterr(err, errlen, "out of memory");
        else
            seterr(err, errlen, "bad listing page: %s",
                   c.what         ? c.what
                   : rc == -E2BIG ? "nested too deep"
                                  : "malformed XML");
    }
    return rc;
}

/* ---- error bodies ------------------------------------------------------------ */

typedef struct err_ctx {
    char code[128], msg[320];
} err_ctx;

static int on_err_close(xml_rd *x, void *ud)
{
    err_ctx *c = ud;
    if (at(x, 2, "Error", "Code"))
        ckp_fmt(c->code, sizeof(c->code), "%.127s", x->text);
    else if (at(x, 2, "Error", "Message"))
        ckp_fmt(c->msg, sizeof(c->msg), "%.319s", x->text);
    return 0;
}

void ckd_objlist_error_text(const char *xml, size_t len, char *out, size_t outlen)
{
    if (!outlen) return;
    out[0] = '\0';
    if (!xml || len == 0 || len > 1024 * 1024) return;
    xml_rd *x = calloc(1, sizeof(*x));
    err_ctx *c = calloc(1, sizeof(*c));
    if (x && c) {
        x->close = on_err_close;
        x->ud = c;
        xml_read(x, xml, len); /* what was read before an error still counts */
        /* Azure's message carries "RequestId:...\nTime:...": the first line only. */
        c->msg[strcspn(c->msg, "\r\n")] = '\0';
        if (c->code[0] || c->msg[0])
            ckp_fmt(out, outlen < 300 ? outlen : 300, "%s%s%s", c->code,
                    c->code[0] && c->msg[0] ? ": " : "", c->msg);
        for (char *p = out; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    }
    free(x);
    free(c);
}

char *ckd_objlist_etag_header(const char *etag)
{
    size_t n = strlen(etag);
    if (n == 0 || etag[0] == '"' || strncmp(etag, "W/", 2) == 0) return strdup(etag);
    char *q = malloc(n + 3);
    if (q) snprintf(q, n + 3, "\"%s\"", etag);
    return q;
}

/* ---- selection ----------------------------------------------------------------- */

int ckd_objlist_select(const char *prefix, const char *key, const char *const *includes,
                       size_t n_includes, const char *const *excludes, size_t n_excludes,
                       const char **rel, const char **why)
{
    size_t pl = strlen(prefix);
    *rel = NULL;
    *why = NULL;
    if (strncmp(key, prefix, pl) != 0) return 0; /* not under the prefix */
    const char *r = key + pl;
    size_t rl = strlen(r);
    if (rl == 0 || r[rl - 1] == '/') return 0; /* the prefix itself, a directory marker */
    if (ckp_path_check(r, rl, why) < 0) return -EINVAL;
    if (n_includes > 0) {
        size_t i = 0;
        while (i < n_includes && fnmatch(includes[i], r, 0) != 0) i++;
        if (i == n_includes) return 0;
    }
    for (size_t i = 0; i < n_excludes; i++)
        if (fnmatch(excludes[i], r, 0) == 0) return 0;
    *rel = r;
    return 1;
}
