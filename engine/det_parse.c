/* Parsing of the Determined master's REST replies. See det_model.h. This
 * file: messages, scalars, states, the JSON field helpers, storage configs,
 * experiments, login and errors; det_parse_ckpt.c: checkpoints and list
 * replies. */
#include "det_parse_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "det_model.h"

/* ---- messages ----------------------------------------------------------- */

void det_seterr(char *err, size_t errlen, const char *fmt, ...)
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
const char *det_quote(quoted *q, const char *s, size_t len)
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

const char *det_quotez(quoted *q, const char *s)
{
    return det_quote(q, s, s ? strlen(s) : 0);
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
json_t *det_field(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* An int64 that may come as a JSON integer or, the proto3 JSON way, as a
 * decimal string. Returns 1 with *out, 0 when missing, -EINVAL. */
int det_get_int64(const json_t *v, int64_t *out)
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
int det_get_string(const json_t *obj, const char *key, char **out, const char *what, char *err,
                   size_t errlen)
{
    json_t *v = det_field(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v)) {
        det_seterr(err, errlen, "%s '%s' is not a string", what, key);
        return -EINVAL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len > CKD_DET_MAX_STRING || memchr(s, '\0', len)) {
        quoted q;
        det_seterr(err, errlen, "%s '%s' has an invalid value '%s'", what, key,
                   det_quote(&q, s, len));
        return -EINVAL;
    }
    *out = strdup(s);
    if (!*out) {
        det_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* Reads a reply body: size cap first, then JSON, then "must be an object". */
json_t *det_load_body(const char *body, size_t len, const char *what, char *err, size_t errlen,
                      int *rc)
{
    if (len > CKD_DET_MAX_BODY) {
        det_seterr(err, errlen, "%s is too large (%zu bytes, limit %u)", what, len,
                   CKD_DET_MAX_BODY);
        *rc = -E2BIG;
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* jansson quotes the offending token ("near '...'"), which names a
         * resource key with a NUL byte, so its text is worth passing on. */
        det_seterr(err, errlen, "invalid json in %s: %s", what, je.text);
        *rc = -EINVAL;
        return NULL;
    }
    if (!json_is_object(root)) {
        det_seterr(err, errlen, "%s is not a json object", what);
        json_decref(root);
        *rc = -EINVAL;
        return NULL;
    }
    *rc = 0;
    return root;
}

/* The searcher settings of an experiment config (checkpoint or experiment). */
int det_parse_searcher(const json_t *config, char **metric, int *smaller_is_better, char *err,
                       size_t errlen)
{
    *smaller_is_better = 1;
    json_t *searcher = det_field(config, "searcher");
    if (!searcher) return 0;
    if (!json_is_object(searcher)) {
        det_seterr(err, errlen, "searcher config is not an object");
        return -EINVAL;
    }
    int rc = det_get_string(searcher, "metric", metric, "searcher", err, errlen);
    if (rc) return rc;
    json_t *sib = det_field(searcher, "smaller_is_better");
    if (sib && !json_is_boolean(sib)) {
        det_seterr(err, errlen, "searcher 'smaller_is_better' is not a boolean");
        return -EINVAL;
    }
    if (sib) *smaller_is_better = json_is_true(sib);
    return 0;
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
        det_seterr(err, errlen, "checkpoint_storage is not an object");
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
        int rc = det_get_string(obj, keys[i].key, keys[i].dst, "checkpoint_storage", err, errlen);
        if (rc) {
            ckd_det_storage_release(st);
            return rc;
        }
    }
    if (!st->type) {
        det_seterr(err, errlen, "checkpoint_storage has no type");
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
        det_seterr(err, errlen, "no checkpoint storage configured");
        return -EINVAL;
    }
    if (!uuid || ckd_det_uuid_check(uuid, strlen(uuid))) {
        det_seterr(err, errlen, "invalid checkpoint uuid '%s'", det_quotez(&q1, uuid));
        return -EINVAL;
    }
    const char *why = NULL;
    if (rel && *rel && ckp_path_check(rel, strlen(rel), &why)) {
        det_seterr(err, errlen, "unsafe resource path '%s' in checkpoint '%s': %s",
                   det_quotez(&q1, rel), uuid, why);
        return -EINVAL;
    }
    const char *base, *sub = NULL, *base_key;
    if (strcmp(st->type, "shared_fs") == 0) {
        base = st->host_path, base_key = "host_path";
        sub = st->storage_path;
    } else if (strcmp(st->type, "directory") == 0) {
        base = st->container_path, base_key = "container_path";
    } else {
        det_seterr(err, errlen, "storage type '%s' is not supported yet",
                   det_quotez(&q1, st->type));
        return -ENOTSUP;
    }
    if (!base || base[0] != '/') {
        det_seterr(err, errlen, "%s storage needs an absolute %s, got '%s'", st->type, base_key,
                   det_quotez(&q1, base));
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
            det_seterr(err, errlen, "storage_path '%s' is not under host_path '%s'",
                       det_quotez(&q1, sub), det_quotez(&q2, base));
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
        det_seterr(err, errlen, "local path of '%s' in checkpoint '%s' is too long",
                   det_quotez(&q1, rel), uuid);
        return rc;
    }
    *out = strdup(buf);
    if (!*out) {
        det_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
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
    json_t *root = det_load_body(body, len, "experiment reply", err, errlen, &rc);
    if (!root) return rc;
    json_t *e = det_field(root, "experiment");
    /* The full config sits beside the experiment; older masters nest it. */
    json_t *config = det_field(root, "config");
    if (!config) config = det_field(e, "config");
    if (!json_is_object(e) || det_get_int64(det_field(e, "id"), &exp->id) != 1) {
        det_seterr(err, errlen, "experiment reply has no experiment id");
        rc = -EINVAL;
    } else if (config && !json_is_object(config)) {
        det_seterr(err, errlen, "config of experiment %lld is not an object", (long long)exp->id);
        rc = -EINVAL;
    }
    if (!rc) rc = det_get_string(e, "name", &exp->name, "experiment", err, errlen);
    if (!rc)
        rc = det_parse_searcher(config, &exp->searcher_metric_name, &exp->smaller_is_better, err,
                                errlen);
    if (!rc)
        rc = ckd_det_storage_from_json(det_field(config, "checkpoint_storage"), &exp->storage, err,
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
    json_t *root = det_load_body(body, len, "login reply", err, errlen, &rc);
    if (!root) return rc;
    json_t *t = det_field(root, "token");
    if (!json_is_string(t) || json_string_length(t) == 0 ||
        json_string_length(t) > CKD_DET_MAX_STRING ||
        memchr(json_string_value(t), '\0', json_string_length(t))) {
        det_seterr(err, errlen, "login reply has no valid token");
        rc = -EINVAL;
    } else if (!(*token = strdup(json_string_value(t)))) {
        det_seterr(err, errlen, "out of memory");
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
    json_t *root = det_load_body(body, len, "error reply", NULL, 0, &rc);
    if (!root) return rc;
    json_t *e = det_field(root, "error");
    json_t *text = NULL;
    rc = 0;
    if (json_is_object(e)) {
        json_t *c = det_field(e, "code");
        if (json_is_integer(c)) *code = (int)json_integer_value(c);
        text = det_field(e, "error");
        if (!json_is_string(text) || json_string_length(text) == 0) text = det_field(e, "reason");
        if (!json_is_string(text) || json_string_length(text) == 0) text = det_field(e, "message");
    } else if (json_is_string(e)) {
        text = e; /* older masters: {"error":"..."} */
    } else {
        text = det_field(root, "message");
    }
    if (json_is_string(text)) {
        quoted q;
        if (msg && msglen)
            snprintf(msg, msglen, "%s",
                     det_quote(&q, json_string_value(text), json_string_length(text)));
    } else {
        rc = -EINVAL;
    }
    json_decref(root);
    return rc;
}
