/* Parsing of the Determined master's REST replies. See det_model.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "det_model.h"

/* ---- messages ----------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s[0..len) (strict: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (len < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Quotes untrusted bytes for a message. Control bytes and bytes that are
 * not valid UTF-8 become \xNN: a NUL from "\u0000" stays visible, no
 * escape sequence reaches a terminal, and the message can always go into a
 * JSON string. Long values are cut with "...". Returns the text. */
#define QUOTE_MAX 160
typedef struct quoted {
    char s[QUOTE_MAX * 4 + 8];
} quoted;

static const char *quote(quoted *q, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t o = 0, i = 0;
    if (!s) len = 0;
    while (i < len) {
        if (i >= QUOTE_MAX) {
            memcpy(q->s + o, "...", 3);
            o += 3;
            break;
        }
        size_t n = utf8_seq(u + i, len - i);
        if (n == 1 && u[i] >= 0x20 && u[i] != 0x7f) {
            q->s[o++] = (char)u[i++];
        } else if (n > 1) {
            memcpy(q->s + o, u + i, n);
            o += n, i += n;
        } else {
            o += (size_t)snprintf(q->s + o, 5, "\\x%02x", u[i++]);
        }
    }
    q->s[o] = '\0';
    return q->s;
}

static const char *quotez(quoted *q, const char *s)
{
    return quote(q, s, s ? strlen(s) : 0);
}

/* ---- scalars ------------------------------------------------------------ */

int ckd_det_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') neg = 1, i = 1;
    if (i == len) return -EINVAL;
    /* Accumulate as a negative number: INT64_MIN has no positive twin. */
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10) return -ERANGE;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN) return -ERANGE;
        v = -v;
    }
    *out = v;
    return 0;
}

int ckd_det_json_double(const json_t *v, double *out)
{
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else
            return -EINVAL;
        return 1;
    }
    return -EINVAL;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ckd_det_parse_time(const char *s, size_t len, int64_t *ns)
{
    /* YYYY-MM-DDTHH:MM:SS is 19 bytes, then [.f{1,9}], then Z or +hh:mm. */
    int y, mo, d, h, mi, sec;
    if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -EINVAL;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60) /* 60: a leap second, as RFC 3339 allows */
        return -EINVAL;
    size_t i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 9)
            frac = frac * 10 + (s[i++] - '0');
        size_t n = i - start;
        if (n == 0 || (i < len && s[i] >= '0' && s[i] <= '9')) return -EINVAL;
        for (; n < 9; n++) frac *= 10;
    }
    int64_t off = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -EINVAL;
    }
    /* Local time minus the offset is UTC. */
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    /* For times before 1970 borrow a second first, so that the last
     * representable instant (1677-09-21T00:12:43.145224192Z) does not
     * overflow on its way to a value that fits. */
    if (secs < 0 && frac > 0) secs += 1, frac -= 1000000000;
    int64_t r;
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &r) ||
        __builtin_add_overflow(r, frac, &r))
        return -EINVAL;
    *ns = r;
    return 0;
}

int ckd_det_uuid_check(const char *uuid, size_t len)
{
    if (!uuid || len == 0 || len > CKD_DET_MAX_UUID) return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = uuid[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return -EINVAL;
    }
    return 0;
}

/* ---- states ------------------------------------------------------------- */

const char *ckd_det_state_name(enum ckd_det_state s)
{
    switch (s) {
#define X(name, num, wire)                                                                         \
    case CKD_DET_STATE_##name:                                                                     \
        return wire;
        CKD_DET_STATE_MAP(X)
#undef X
    }
    return "STATE_UNSPECIFIED";
}

int ckd_det_state_parse(const char *name, enum ckd_det_state *out)
{
#define X(n, num, wire)                                                                            \
    if (strcmp(name, wire) == 0) {                                                                 \
        *out = CKD_DET_STATE_##n;                                                                  \
        return 0;                                                                                  \
    }
    CKD_DET_STATE_MAP(X)
#undef X
    return -EINVAL;
}

int ckd_det_state_downloadable(enum ckd_det_state s)
{
    return s == CKD_DET_STATE_COMPLETED || s == CKD_DET_STATE_PARTIALLY_DELETED;
}

/* ---- JSON field helpers --------------------------------------------------- */

/* The master omits unset scalars and sends null for unset messages; both
 * read as "missing" here. */
static json_t *field(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* An int64 that may come as a JSON integer or, the proto3 JSON way, as a
 * decimal string. Returns 1 with *out, 0 when missing, -EINVAL. */
static int get_int64(const json_t *v, int64_t *out)
{
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_string(v))
        return ckd_det_parse_int64(json_string_value(v), json_string_length(v), out) ? -EINVAL : 1;
    return -EINVAL;
}

/* A string field copied out; missing or null -> NULL. Returns 0, -EINVAL
 * for another type or an over-long value, -ENOMEM. */
static int get_string(const json_t *obj, const char *key, char **out, const char *what, char *err,
                      size_t errlen)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v)) {
        seterr(err, errlen, "%s '%s' is not a string", what, key);
        return -EINVAL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len > CKD_DET_MAX_STRING || memchr(s, '\0', len)) {
        quoted q;
        seterr(err, errlen, "%s '%s' has an invalid value '%s'", what, key, quote(&q, s, len));
        return -EINVAL;
    }
    *out = strdup(s);
    if (!*out) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* Reads a reply body: size cap first, then JSON, then "must be an object". */
static json_t *load_body(const char *body, size_t len, const char *what, char *err, size_t errlen,
                         int *rc)
{
    if (len > CKD_DET_MAX_BODY) {
        seterr(err, errlen, "%s is too large (%zu bytes, limit %u)", what, len, CKD_DET_MAX_BODY);
        *rc = -E2BIG;
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* jansson quotes the offending token ("near '...'"), which names a
         * resource key with a NUL byte, so its text is worth passing on. */
        seterr(err, errlen, "invalid json in %s: %s", what, je.text);
        *rc = -EINVAL;
        return NULL;
    }
    if (!json_is_object(root)) {
        seterr(err, errlen, "%s is not a json object", what);
        json_decref(root);
        *rc = -EINVAL;
        return NULL;
    }
    *rc = 0;
    return root;
}

/* ---- storage ------------------------------------------------------------ */

void ckd_det_storage_release(ckd_det_storage *st)
{
    char **f[] = {&st->type,       &st->host_path, &st->storage_path,      &st->container_path,
                  &st->bucket,     &st->prefix,    &st->endpoint_url,      &st->access_key,
                  &st->secret_key, &st->container, &st->connection_string, &st->account_url};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
}

int ckd_det_storage_from_json(const json_t *obj, ckd_det_storage *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (!obj || json_is_null(obj)) return 0;
    if (!json_is_object(obj)) {
        seterr(err, errlen, "checkpoint_storage is not an object");
        return -EINVAL;
    }
    struct {
        const char *key;
        char **dst;
    } keys[] = {
        {"type", &st->type},
        {"host_path", &st->host_path},
        {"storage_path", &st->storage_path},
        {"container_path", &st->container_path},
        {"bucket", &st->bucket},
        {"prefix", &st->prefix},
        {"endpoint_url", &st->endpoint_url},
        {"access_key", &st->access_key},
        {"secret_key", &st->secret_key},
        {"container", &st->container},
        {"connection_string", &st->connection_string},
        {"account_url", &st->account_url},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int rc = get_string(obj, keys[i].key, keys[i].dst, "checkpoint_storage", err, errlen);
        if (rc) {
            ckd_det_storage_release(st);
            return rc;
        }
    }
    if (!st->type) {
        seterr(err, errlen, "checkpoint_storage has no type");
        ckd_det_storage_release(st);
        return -EINVAL;
    }
    return 0;
}

/* Appends "/part" (or "part" to an empty buffer) with trailing slashes of
 * the buffer collapsed, so "/data/" + "x" gives "/data/x". */
static int path_append(char *buf, size_t cap, size_t *len, const char *part)
{
    while (*len > 1 && buf[*len - 1] == '/') (*len)--;
    size_t plen = strlen(part);
    size_t need = *len + (*len > 0 && buf[*len - 1] != '/') + plen;
    if (need >= cap) return -ENAMETOOLONG;
    if (*len > 0 && buf[*len - 1] != '/') buf[(*len)++] = '/';
    memcpy(buf + *len, part, plen);
    *len += plen;
    buf[*len] = '\0';
    return 0;
}

int ckd_det_storage_local_path(const ckd_det_storage *st, const char *uuid, const char *rel,
                               char **out, char *err, size_t errlen)
{
    quoted q1, q2;
    *out = NULL;
    if (!st || !st->type) {
        seterr(err, errlen, "no checkpoint storage configured");
        return -EINVAL;
    }
    if (!uuid || ckd_det_uuid_check(uuid, strlen(uuid))) {
        seterr(err, errlen, "invalid checkpoint uuid '%s'", quotez(&q1, uuid));
        return -EINVAL;
    }
    const char *why = NULL;
    if (rel && *rel && ckp_path_check(rel, strlen(rel), &why)) {
        seterr(err, errlen, "unsafe resource path '%s' in checkpoint '%s': %s", quotez(&q1, rel),
               uuid, why);
        return -EINVAL;
    }
    const char *base, *sub = NULL, *base_key;
    if (strcmp(st->type, "shared_fs") == 0) {
        base = st->host_path, base_key = "host_path";
        sub = st->storage_path;
    } else if (strcmp(st->type, "directory") == 0) {
        base = st->container_path, base_key = "container_path";
    } else {
        seterr(err, errlen, "storage type '%s' is not supported yet", quotez(&q1, st->type));
        return -ENOTSUP;
    }
    if (!base || base[0] != '/') {
        seterr(err, errlen, "%s storage needs an absolute %s, got '%s'", st->type, base_key,
               quotez(&q1, base));
        return -EINVAL;
    }
    char buf[CKP_MAX_PATH * 2 + 256];
    size_t len = 0;
    buf[0] = '\0';
    int rc = 0;
    if (sub && sub[0] == '/') {
        /* Like the SDK: an absolute storage_path must be host_path or below
         * it, and then names the directory itself. */
        size_t blen = strlen(base);
        while (blen > 1 && base[blen - 1] == '/') blen--;
        if (!(strncmp(sub, base, blen) == 0 &&
              (sub[blen] == '\0' || sub[blen] == '/' || blen == 1))) {
            seterr(err, errlen, "storage_path '%s' is not under host_path '%s'", quotez(&q1, sub),
                   quotez(&q2, base));
            return -EINVAL;
        }
        rc = path_append(buf, sizeof buf, &len, sub);
    } else {
        rc = path_append(buf, sizeof buf, &len, base);
        if (!rc && sub && *sub) rc = path_append(buf, sizeof buf, &len, sub);
    }
    if (!rc) rc = path_append(buf, sizeof buf, &len, uuid);
    if (!rc && rel && *rel) rc = path_append(buf, sizeof buf, &len, rel);
    if (rc) {
        seterr(err, errlen, "local path of '%s' in checkpoint '%s' is too long", quotez(&q1, rel),
               uuid);
        return rc;
    }
    *out = strdup(buf);
    if (!*out) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* ---- checkpoints ---------------------------------------------------------- */

void ckd_det_checkpoint_release(ckd_det_checkpoint *cp)
{
    free(cp->uuid);
    json_decref(cp->validation_metrics);
    json_decref(cp->metadata);
    free(cp->resources);
    free(cp->paths_);
    ckd_det_storage_release(&cp->storage);
    free(cp->searcher_metric_name);
    memset(cp, 0, sizeof *cp);
    cp->smaller_is_better = 1;
}

int ckd_det_checkpoint_metric(const ckd_det_checkpoint *cp, const char *name, double *out)
{
    if (!name) return 0;
    json_t *v = field(cp->validation_metrics, name);
    return ckd_det_json_double(v, out) == 1;
}

static int res_cmp(const void *a, const void *b)
{
    return strcmp(((const ckd_det_resource *)a)->path, ((const ckd_det_resource *)b)->path);
}

/* Finds the resource whose path is exactly s[0..len) (res sorted). */
static const ckd_det_resource *res_find(const ckd_det_resource *res, size_t n, const char *s,
                                        size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *p = res[mid].path;
        int c = strncmp(s, p, len);
        /* Equal first len bytes: s is a prefix of p, so s sorts first
         * unless p ends right there. */
        if (c == 0) c = p[len] == '\0' ? 0 : -1;
        if (c == 0) return &res[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Parses "resources": {path: size}. Directory keys end in "/" with size
 * "0"; the slash is removed before checking, so "code/" is the path "code".
 * All paths live in one block (cp->paths_): a checkpoint with a million
 * files costs two allocations, not a million. */
static int parse_resources(const json_t *obj, ckd_det_checkpoint *cp, char *err, size_t errlen)
{
    quoted q;
    if (!obj) return 0;
    if (!json_is_object(obj)) {
        seterr(err, errlen, "resources of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    size_t n = json_object_size(obj);
    if (n > CKD_DET_MAX_RESOURCES) {
        seterr(err, errlen, "checkpoint '%s' has too many resources (%zu, limit %d)", cp->uuid, n,
               CKD_DET_MAX_RESOURCES);
        return -E2BIG;
    }
    if (n == 0) return 0;
    size_t bytes = 0;
    const char *key;
    json_t *val;
    void *it;
    for (it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it))
        bytes += json_object_iter_key_len(it) + 1;
    cp->resources = calloc(n, sizeof *cp->resources);
    cp->paths_ = malloc(bytes);
    if (!cp->resources || !cp->paths_) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char *p = cp->paths_;
    size_t i = 0;
    for (it = json_object_iter((json_t *)obj); it;
         it = json_object_iter_next((json_t *)obj, it), i++) {
        key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        val = json_object_iter_value(it);
        ckd_det_resource *r = &cp->resources[i];
        size_t plen = klen;
        r->is_dir = klen > 0 && key[klen - 1] == '/';
        if (r->is_dir) plen--;
        const char *why = NULL;
        if (ckp_path_check(key, plen, &why)) {
            seterr(err, errlen, "unsafe resource path '%s' in checkpoint '%s': %s",
                   quote(&q, key, klen), cp->uuid, why);
            return -EINVAL;
        }
        int64_t size = 0;
        if (get_int64(val, &size) != 1 || size < 0) {
            quoted qv;
            char *txt = json_dumps(val, JSON_ENCODE_ANY);
            seterr(err, errlen, "invalid size '%s' of '%s' in checkpoint '%s'",
                   quotez(&qv, txt ? txt : "?"), quote(&q, key, klen), cp->uuid);
            free(txt);
            return -EINVAL;
        }
        /* A directory has no bytes of its own whatever the master says. */
        r->size = r->is_dir ? 0 : size;
        if (__builtin_add_overflow(cp->total_size, r->size, &cp->total_size)) {
            seterr(err, errlen, "total size of checkpoint '%s' overflows", cp->uuid);
            return -EINVAL;
        }
        memcpy(p, key, plen);
        p[plen] = '\0';
        r->path = p;
        p += plen + 1;
    }
    cp->n_resources = n;
    qsort(cp->resources, n, sizeof *cp->resources, res_cmp);
    /* A path may not be both a file and a directory: "a" and "a/", or a
     * file "a" and anything under "a/". Either would make the download
     * fail half way, after other files were written. */
    for (i = 0; i < n; i++) {
        const ckd_det_resource *r = &cp->resources[i];
        const char *clash = NULL;
        if (i + 1 < n && strcmp(r->path, cp->resources[i + 1].path) == 0) clash = r->path;
        for (const char *s = strchr(r->path, '/'); s && !clash; s = strchr(s + 1, '/')) {
            const ckd_det_resource *parent =
                res_find(cp->resources, n, r->path, (size_t)(s - r->path));
            if (parent && !parent->is_dir) clash = parent->path;
        }
        if (clash) {
            seterr(err, errlen,
                   "resource path '%s' in checkpoint '%s' is both a file and a "
                   "directory",
                   quotez(&q, clash), cp->uuid);
            return -EINVAL;
        }
    }
    return 0;
}

/* The searcher settings of an experiment config (checkpoint or experiment). */
static int parse_searcher(const json_t *config, char **metric, int *smaller_is_better, char *err,
                          size_t errlen)
{
    *smaller_is_better = 1;
    json_t *searcher = field(config, "searcher");
    if (!searcher) return 0;
    if (!json_is_object(searcher)) {
        seterr(err, errlen, "searcher config is not an object");
        return -EINVAL;
    }
    int rc = get_string(searcher, "metric", metric, "searcher", err, errlen);
    if (rc) return rc;
    json_t *sib = field(searcher, "smaller_is_better");
    if (sib && !json_is_boolean(sib)) {
        seterr(err, errlen, "searcher 'smaller_is_better' is not a boolean");
        return -EINVAL;
    }
    if (sib) *smaller_is_better = json_is_true(sib);
    return 0;
}

/* Appends the checkpoint concerned to err, which holds the reason. */
static void in_checkpoint(char *err, size_t errlen, const char *uuid)
{
    if (!err || errlen == 0) return;
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", err);
    seterr(err, errlen, "%s in checkpoint '%s'", tmp, uuid);
}

static int checkpoint_body(const json_t *obj, ckd_det_checkpoint *cp, char *err, size_t errlen)
{
    quoted q;
    json_t *v = field(obj, "uuid");
    if (!json_is_string(v)) {
        seterr(err, errlen, "checkpoint without a uuid");
        return -EINVAL;
    }
    if (ckd_det_uuid_check(json_string_value(v), json_string_length(v))) {
        seterr(err, errlen, "invalid checkpoint uuid '%s'",
               quote(&q, json_string_value(v), json_string_length(v)));
        return -EINVAL;
    }
    if (!(cp->uuid = strdup(json_string_value(v)))) goto nomem;

    /* Unknown states (a newer master) parse as UNSPECIFIED: never
     * downloadable, so they are skipped rather than fail the whole list. */
    v = field(obj, "state");
    if (json_is_string(v)) {
        enum ckd_det_state s;
        if (ckd_det_state_parse(json_string_value(v), &s) == 0) cp->state = s;
    } else if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s >= 0 && s <= CKD_DET_STATE_PARTIALLY_DELETED) cp->state = (enum ckd_det_state)s;
    } else if (v) {
        seterr(err, errlen, "state of checkpoint '%s' is not a string", cp->uuid);
        return -EINVAL;
    }

    v = field(obj, "reportTime");
    if (v) {
        if (!json_is_string(v) ||
            ckd_det_parse_time(json_string_value(v), json_string_length(v), &cp->report_time)) {
            char *txt = json_dumps(v, JSON_ENCODE_ANY);
            seterr(err, errlen, "invalid reportTime '%s' in checkpoint '%s'",
                   quotez(&q, txt ? txt : "?"), cp->uuid);
            free(txt);
            return -EINVAL;
        }
        cp->has_report_time = 1;
    }

    v = field(obj, "metadata");
    if (v) {
        if (!json_is_object(v)) {
            seterr(err, errlen, "metadata of checkpoint '%s' is not an object", cp->uuid);
            return -EINVAL;
        }
        cp->metadata = json_incref(v);
        /* Metadata is free-form JSON, where every number is a double; the
         * master sorts by it only when it is a number. A whole number is
         * kept, anything else counts as missing. */
        json_t *sc = field(v, "steps_completed");
        if (json_is_integer(sc)) {
            cp->steps_completed = json_integer_value(sc);
            cp->has_steps_completed = 1;
        } else if (json_is_real(sc)) {
            double d = json_real_value(sc);
            if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
                cp->steps_completed = (int64_t)d;
                cp->has_steps_completed = 1;
            }
        }
    }

    int rc = parse_resources(field(obj, "resources"), cp, err, errlen);
    if (rc) return rc;

    json_t *tr = field(obj, "training");
    if (tr && !json_is_object(tr)) {
        seterr(err, errlen, "training of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    int got = get_int64(field(tr, "trialId"), &cp->trial_id);
    if (got < 0) {
        seterr(err, errlen, "invalid trialId in checkpoint '%s'", cp->uuid);
        return -EINVAL;
    }
    cp->has_trial_id = got;
    if (get_int64(field(tr, "experimentId"), &cp->experiment_id) < 0) {
        seterr(err, errlen, "invalid experimentId in checkpoint '%s'", cp->uuid);
        return -EINVAL;
    }
    got = ckd_det_json_double(field(tr, "searcherMetric"), &cp->searcher_metric);
    if (got < 0) {
        char *txt = json_dumps(field(tr, "searcherMetric"), JSON_ENCODE_ANY);
        seterr(err, errlen, "invalid searcherMetric '%s' in checkpoint '%s'",
               quotez(&q, txt ? txt : "?"), cp->uuid);
        free(txt);
        return -EINVAL;
    }
    cp->has_searcher_metric = got;

    v = field(tr, "validationMetrics");
    if (v && !json_is_object(v)) {
        seterr(err, errlen, "validationMetrics of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    json_t *avg = field(v, "avgMetrics");
    if (avg && !json_is_object(avg)) {
        seterr(err, errlen, "avgMetrics of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    if (avg) cp->validation_metrics = json_incref(avg);

    json_t *config = field(tr, "experimentConfig");
    if (config && !json_is_object(config)) {
        seterr(err, errlen, "experimentConfig of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    rc = parse_searcher(config, &cp->searcher_metric_name, &cp->smaller_is_better, err, errlen);
    if (!rc)
        rc = ckd_det_storage_from_json(field(config, "checkpoint_storage"), &cp->storage, err,
                                       errlen);
    if (rc) {
        if (rc == -EINVAL) in_checkpoint(err, errlen, cp->uuid);
        return rc;
    }
    return 0;

nomem:
    seterr(err, errlen, "out of memory");
    return -ENOMEM;
}

int ckd_det_checkpoint_from_json(const json_t *obj, ckd_det_checkpoint *cp, char *err,
                                 size_t errlen)
{
    memset(cp, 0, sizeof *cp);
    cp->smaller_is_better = 1;
    if (!json_is_object(obj)) {
        seterr(err, errlen, "checkpoint is not a json object");
        return -EINVAL;
    }
    int rc = checkpoint_body(obj, cp, err, errlen);
    if (rc) ckd_det_checkpoint_release(cp);
    return rc;
}

int ckd_det_parse_checkpoint(const char *body, size_t len, ckd_det_checkpoint *cp, char *err,
                             size_t errlen)
{
    int rc;
    memset(cp, 0, sizeof *cp);
    cp->smaller_is_better = 1;
    json_t *root = load_body(body, len, "checkpoint reply", err, errlen, &rc);
    if (!root) return rc;
    json_t *c = field(root, "checkpoint");
    if (!c) {
        seterr(err, errlen, "checkpoint reply has no checkpoint");
        rc = -EINVAL;
    } else {
        rc = ckd_det_checkpoint_from_json(c, cp, err, errlen);
    }
    json_decref(root);
    return rc;
}

/* ---- lists ---------------------------------------------------------------- */

void ckd_det_list_release(ckd_det_list *list)
{
    for (size_t i = 0; i < list->n; i++) ckd_det_checkpoint_release(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

int ckd_det_list_take(ckd_det_list *dst, ckd_det_list *src)
{
    if (src->n > CKD_DET_MAX_CHECKPOINTS - dst->n) return -E2BIG;
    if (src->n > 0) {
        ckd_det_checkpoint *items = realloc(dst->items, (dst->n + src->n) * sizeof *items);
        if (!items) return -ENOMEM;
        memcpy(items + dst->n, src->items, src->n * sizeof *items);
        dst->items = items;
        dst->n += src->n;
    }
    dst->page = src->page;
    free(src->items);
    memset(src, 0, sizeof *src);
    return 0;
}

static int parse_pagination(const json_t *p, ckd_det_pagination *pg, char *err, size_t errlen)
{
    memset(pg, 0, sizeof *pg);
    if (!p) return 0;
    if (!json_is_object(p)) {
        seterr(err, errlen, "pagination is not an object");
        return -EINVAL;
    }
    struct {
        const char *key;
        int64_t *dst;
    } keys[] = {{"offset", &pg->offset},
                {"limit", &pg->limit},
                {"startIndex", &pg->start_index},
                {"endIndex", &pg->end_index},
                {"total", &pg->total}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (get_int64(field(p, keys[i].key), keys[i].dst) < 0) {
            seterr(err, errlen, "pagination '%s' is not an integer", keys[i].key);
            return -EINVAL;
        }
    }
    if (pg->start_index < 0 || pg->end_index < pg->start_index || pg->total < pg->end_index) {
        seterr(err, errlen, "inconsistent pagination (start %lld, end %lld, total %lld)",
               (long long)pg->start_index, (long long)pg->end_index, (long long)pg->total);
        return -EINVAL;
    }
    pg->present = 1;
    return 0;
}

int ckd_det_parse_list(const char *body, size_t len, ckd_det_list *list, char *err, size_t errlen)
{
    int rc;
    memset(list, 0, sizeof *list);
    json_t *root = load_body(body, len, "checkpoint list", err, errlen, &rc);
    if (!root) return rc;
    json_t *arr = field(root, "checkpoints");
    size_t n = json_array_size(arr);
    if (arr && !json_is_array(arr)) {
        seterr(err, errlen, "checkpoints is not an array");
        rc = -EINVAL;
    } else if (n > CKD_DET_MAX_CHECKPOINTS) {
        seterr(err, errlen, "too many checkpoints in one reply (%zu, limit %d)", n,
               CKD_DET_MAX_CHECKPOINTS);
        rc = -E2BIG;
    } else if (n > 0 && !(list->items = calloc(n, sizeof *list->items))) {
        seterr(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = ckd_det_checkpoint_from_json(json_array_get(arr, i), &list->items[i], err, errlen);
        if (!rc) list->n++;
    }
    if (!rc) rc = parse_pagination(field(root, "pagination"), &list->page, err, errlen);
    if (rc) ckd_det_list_release(list);
    json_decref(root);
    return rc;
}

/* ---- experiments ---------------------------------------------------------- */

void ckd_det_experiment_release(ckd_det_experiment *exp)
{
    free(exp->name);
    free(exp->searcher_metric_name);
    ckd_det_storage_release(&exp->storage);
    memset(exp, 0, sizeof *exp);
    exp->smaller_is_better = 1;
}

int ckd_det_parse_experiment(const char *body, size_t len, ckd_det_experiment *exp, char *err,
                             size_t errlen)
{
    int rc;
    memset(exp, 0, sizeof *exp);
    exp->smaller_is_better = 1;
    json_t *root = load_body(body, len, "experiment reply", err, errlen, &rc);
    if (!root) return rc;
    json_t *e = field(root, "experiment");
    /* The full config sits beside the experiment; older masters nest it. */
    json_t *config = field(root, "config");
    if (!config) config = field(e, "config");
    if (!json_is_object(e) || get_int64(field(e, "id"), &exp->id) != 1) {
        seterr(err, errlen, "experiment reply has no experiment id");
        rc = -EINVAL;
    } else if (config && !json_is_object(config)) {
        seterr(err, errlen, "config of experiment %lld is not an object", (long long)exp->id);
        rc = -EINVAL;
    }
    if (!rc) rc = get_string(e, "name", &exp->name, "experiment", err, errlen);
    if (!rc)
        rc = parse_searcher(config, &exp->searcher_metric_name, &exp->smaller_is_better, err,
                            errlen);
    if (!rc)
        rc = ckd_det_storage_from_json(field(config, "checkpoint_storage"), &exp->storage, err,
                                       errlen);
    if (rc) ckd_det_experiment_release(exp);
    json_decref(root);
    return rc;
}

/* ---- login and errors ----------------------------------------------------- */

int ckd_det_parse_login(const char *body, size_t len, char **token, char *err, size_t errlen)
{
    int rc;
    *token = NULL;
    json_t *root = load_body(body, len, "login reply", err, errlen, &rc);
    if (!root) return rc;
    json_t *t = field(root, "token");
    if (!json_is_string(t) || json_string_length(t) == 0 ||
        json_string_length(t) > CKD_DET_MAX_STRING ||
        memchr(json_string_value(t), '\0', json_string_length(t))) {
        seterr(err, errlen, "login reply has no valid token");
        rc = -EINVAL;
    } else if (!(*token = strdup(json_string_value(t)))) {
        seterr(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    json_decref(root);
    return rc;
}

int ckd_det_parse_error(const char *body, size_t len, int *code, char *msg, size_t msglen)
{
    int rc;
    *code = 0;
    if (msg && msglen) msg[0] = '\0';
    json_t *root = load_body(body, len, "error reply", NULL, 0, &rc);
    if (!root) return rc;
    json_t *e = field(root, "error");
    json_t *text = NULL;
    rc = 0;
    if (json_is_object(e)) {
        json_t *c = field(e, "code");
        if (json_is_integer(c)) *code = (int)json_integer_value(c);
        text = field(e, "error");
        if (!json_is_string(text) || json_string_length(text) == 0) text = field(e, "reason");
        if (!json_is_string(text) || json_string_length(text) == 0) text = field(e, "message");
    } else if (json_is_string(e)) {
        text = e; /* older masters: {"error":"..."} */
    } else {
        text = field(root, "message");
    }
    if (json_is_string(text)) {
        quoted q;
        if (msg && msglen)
            snprintf(msg, msglen, "%s",
                     quote(&q, json_string_value(text), json_string_length(text)));
    } else {
        rc = -EINVAL;
    }
    json_decref(root);
    return rc;
}
