/* ckc det_render: det's output forms — Python repr and json.dumps, report
 * times, resource totals, tabulate's "presto" tables and csv rows. */
#include "det_render.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ckp.h"

/* ---- values -------------------------------------------------------------- */

void ckc_det_fmt_double(char *out, size_t outlen, double v)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, "%s", v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    /* The shortest significand that reads back as v, as repr() picks. */
    char sci[48];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v) break;
    }
    const char *p = sci;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && nd < sizeof digits) digits[nd++] = *p;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;

    char buf[64];
    size_t o = 0;
    if (neg) buf[o++] = '-';
    if (exp >= -4 && exp < 16) { /* positional, with at least one decimal */
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++) buf[o++] = (size_t)i < nd ? digits[i] : '0';
            buf[o++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t i = (size_t)exp + 1; i < nd; i++) buf[o++] = digits[i];
            else
                buf[o++] = '0';
        } else {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = 0; i < -exp - 1; i++) buf[o++] = '0';
            for (size_t i = 0; i < nd; i++) buf[o++] = digits[i];
        }
        buf[o] = '\0';
    } else {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (size_t i = 1; i < nd; i++) buf[o++] = digits[i];
        }
        snprintf(buf + o, sizeof buf - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(out, outlen, "%s", buf);
}

/* n decimal digits at *s; advances *s. Returns -1 when they are not there. */
static int take_digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i])) return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    return v;
}

static bool take_char(const char **s, const char *set)
{
    if (**s && strchr(set, **s)) {
        (*s)++;
        return true;
    }
    return false;
}

int ckc_det_fmt_time(char *out, size_t outlen, const char *s)
{
    if (outlen) out[0] = '\0';
    if (!s) return -EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int year = take_digits(&s, 4);
    if (year < 0 || !take_char(&s, "-")) return -EINVAL;
    int mon = take_digits(&s, 2);
    if (mon < 1 || mon > 12 || !take_char(&s, "-")) return -EINVAL;
    int mday = take_digits(&s, 2);
    if (mday < 1 || mday > 31 || !take_char(&s, "Tt ")) return -EINVAL;
    int hour = take_digits(&s, 2);
    if (hour < 0 || hour > 23 || !take_char(&s, ":")) return -EINVAL;
    int min = take_digits(&s, 2);
    if (min < 0 || min > 59 || !take_char(&s, ":")) return -EINVAL;
    int sec = take_digits(&s, 2);
    if (sec < 0 || sec > 60) return -EINVAL;
    if (take_char(&s, ".")) {
        if (!isdigit((unsigned char)*s)) return -EINVAL;
        while (isdigit((unsigned char)*s)) s++;
    }
    long offset = 0; /* seconds east of UTC */
    if (!take_char(&s, "Zz")) {
        int sign = *s == '+' ? 1 : *s == '-' ? -1 : 0;
        if (!sign) return -EINVAL;
        s++;
        int oh = take_digits(&s, 2);
        if (oh < 0 || oh > 23 || !take_char(&s, ":")) return -EINVAL;
        int om = take_digits(&s, 2);
        if (om < 0 || om > 59) return -EINVAL;
        offset = sign * (oh * 3600L + om * 60L);
    }
    if (*s) return -EINVAL;

    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm) - offset;
    struct tm utc;
    if (!gmtime_r(&t, &utc)) return -EINVAL;
    if (strftime(out, outlen, "%Y-%m-%d %H:%M:%S+0000", &utc) == 0) return -EINVAL;
    return 0;
}

/* Decodes one UTF-8 sequence of s[0..len); returns its length (1 for an
 * invalid byte, with U+FFFD as *cp). */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || n > len) {
        *cp = 0xfffd;
        return 1;
    }
    unsigned long v = n == 1 ? c : n == 2 ? (c & 0x1fu) : n == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3fu);
    }
    *cp = v;
    return n;
}

/* A JSON string as json.dumps writes it with ensure_ascii. */
static void put_json_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned long cp;
        i += utf8_next(u + i, len - i, &cp);
        switch (cp) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (cp >= 0x20 && cp < 0x7f) {
                fputc((int)cp, f);
            } else if (cp < 0x10000) {
                fprintf(f, "\\u%04lx", cp);
            } else {
                cp -= 0x10000;
                fprintf(f, "\\u%04lx\\u%04lx", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            }
        }
    }
    fputc('"', f);
}

static void put_indent(FILE *f, int level)
{
    fputc('\n', f);
    for (int i = 0; i < level * 4; i++) fputc(' ', f);
}

static void put_json(FILE *f, const json_t *v, int level)
{
    char num[48];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            fputs("{}", f);
            break;
        }
        const char *key;
        size_t keylen;
        json_t *val;
        bool first = true;
        fputc('{', f);
        json_object_keylen_foreach((json_t *)v, key, keylen, val)
        {
            if (!first) fputc(',', f);
            first = false;
            put_indent(f, level + 1);
            put_json_string(f, key, keylen);
            fputs(": ", f);
            put_json(f, val, level + 1);
        }
        put_indent(f, level);
        fputc('}', f);
        break;
    }
    case JSON_ARRAY: {
        if (json_array_size(v) == 0) {
            fputs("[]", f);
            break;
        }
        size_t i;
        json_t *val;
        fputc('[', f);
        json_array_foreach(v, i, val)
        {
            if (i > 0) fputc(',', f);
            put_indent(f, level + 1);
            put_json(f, val, level + 1);
        }
        put_indent(f, level);
        fputc(']', f);
        break;
    }
    case JSON_STRING:
        put_json_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        ckc_det_fmt_double(num, sizeof num, json_real_value(v));
        fputs(num, f);
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        fputs("null", f);
        break;
    }
}

char *ckc_det_json_pretty(const json_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    if (v)
        put_json(f, v, 0);
    else
        fputs("null", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *ckc_det_scalar(const json_t *v, bool *oom)
{
    char num[48];
    char *s = NULL;
    *oom = false;
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_NULL:
        return NULL;
    case JSON_STRING:
        s = strdup(json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = strdup(num);
        break;
    case JSON_REAL:
        ckc_det_fmt_double(num, sizeof num, json_real_value(v));
        s = strdup(num);
        break;
    case JSON_TRUE:
        s = strdup("True");
        break;
    case JSON_FALSE:
        s = strdup("False");
        break;
    case JSON_OBJECT:
    case JSON_ARRAY:
        s = json_dumps(v, JSON_COMPACT);
        break;
    }
    if (!s) *oom = true;
    return s;
}

int ckc_det_parse_size(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return -EINVAL;
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v)) return -EINVAL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0) return -EINVAL;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        int d = s[i] - '0';
        if (n > (INT64_MAX - d) / 10) return -ERANGE;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

static bool is_dir_key(const char *key)
{
    size_t n = strlen(key);
    return n > 0 && key[n - 1] == '/';
}

int ckc_det_resources_total(const json_t *resources, int64_t *total, size_t *files)
{
    *total = 0;
    if (files) *files = 0;
    if (!resources || json_is_null(resources)) return 0;
    if (!json_is_object(resources)) return -EINVAL;
    const char *key;
    json_t *val;
    int64_t sum = 0;
    size_t n = 0;
    json_object_foreach((json_t *)resources, key, val)
    {
        int64_t size;
        int rc = ckc_det_parse_size(val, &size);
        if (rc < 0) return rc;
        if (size > INT64_MAX - sum) return -ERANGE;
        sum += size;
        if (!is_dir_key(key)) n++;
    }
    *total = sum;
    if (files) *files = n;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj sorted bytewise (borrowed), in a malloc'd array; *n their
 * count. NULL with *n == 0 for an empty or missing object, or when out of
 * memory (*oom). */
static const char **sorted_keys(const json_t *obj, size_t *n, bool *oom)
{
    *n = 0;
    *oom = false;
    size_t count = json_is_object(obj) ? json_object_size(obj) : 0;
    if (count == 0) return NULL;
    const char **keys = malloc(count * sizeof *keys);
    if (!keys) {
        *oom = true;
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) keys[(*n)++] = key;
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

char *ckc_det_resources_list(const json_t *resources)
{
    size_t n;
    bool oom;
    const char **keys = sorted_keys(resources, &n, &oom);
    if (oom) return NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += strlen(keys[i]) + 1;
    char *out = malloc(len + 1);
    if (out) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0) out[o++] = '\n';
            size_t k = strlen(keys[i]);
            memcpy(out + o, keys[i], k);
            o += k;
        }
        out[o] = '\0';
    }
    free(keys);
    return out;
}

const char *ckc_det_state_name(const char *wire)
{
    if (!wire) return "UNSPECIFIED";
    return strncmp(wire, "STATE_", 6) == 0 ? wire + 6 : wire;
}

/* ---- checkpoints ---------------------------------------------------------- */

/* obj[key] when it is an object, else NULL. */
static json_t *jobj(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : NULL;
}

void ckc_det_sizeof_fmt(char *out, size_t outlen, double v)
{
    static const char *const units[] = {"", "K", "M", "G", "T", "P", "E", "Z"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (fabs(v) < 1024.0) {
            snprintf(out, outlen, "%3.1f%sB", v, units[i]);
            return;
        }
        v /= 1024.0;
    }
    snprintf(out, outlen, "%.1fYB", v);
}

char *ckc_det_display_path(const char *given, const char *uuid)
{
    if (!given) given = "checkpoints";
    size_t cap = strlen(given) + (uuid ? strlen(uuid) : 0) + 4;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t n = 0;
    const char *p = given;
    if (p[0] == '/') {
        /* pathlib keeps exactly two leading slashes, folds more into one */
        size_t lead = strspn(p, "/");
        n = lead == 2 ? 2 : 1;
        memcpy(out, "//", n);
        p += lead;
    }
    size_t root = n;
    while (*p) {
        size_t len = strcspn(p, "/");
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (n > root) out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        p += strspn(p, "/");
    }
    if (uuid && *uuid) {
        if (n > root) out[n++] = '/';
        memcpy(out + n, uuid, strlen(uuid));
        n += strlen(uuid);
    }
    if (n == 0) out[n++] = '.';
    out[n] = '\0';
    return out;
}

const char *ckc_det_searcher_metric(const json_t *cp)
{
    json_t *searcher = jobj(jobj(jobj(cp, "training"), "experimentConfig"), "searcher");
    json_t *metric = json_object_get(searcher, "metric");
    return json_is_string(metric) ? json_string_value(metric) : NULL;
}

/* Frees cells[0..n). */
static void free_cells(char **cells, size_t n)
{
    for (size_t i = 0; i < n; i++) free(cells[i]);
}

/* Sets *cell to the str() of v; false when out of memory. */
static bool scalar_cell(char **cell, const json_t *v)
{
    bool oom;
    *cell = ckc_det_scalar(v, &oom);
    return !oom;
}

enum { DESCRIBE_COLS = 7 };

/* The cells of det's one-row checkpoint table. */
static int checkpoint_cells(const json_t *cp, char **cells)
{
    memset(cells, 0, DESCRIBE_COLS * sizeof *cells);
    json_t *training = jobj(cp, "training");
    json_t *metadata = jobj(cp, "metadata");
    const char *when = json_string_value(json_object_get(cp, "reportTime"));
    bool ok = scalar_cell(&cells[0], json_object_get(training, "experimentId")) &&
              scalar_cell(&cells[1], json_object_get(training, "trialId")) &&
              scalar_cell(&cells[2], json_object_get(metadata, "steps_completed")) &&
              scalar_cell(&cells[4], json_object_get(cp, "uuid"));
    if (ok && when) {
        char t[64];
        /* An unreadable time is shown as the master sent it. */
        cells[3] = strdup(ckc_det_fmt_time(t, sizeof t, when) == 0 ? t : when);
        ok = cells[3] != NULL;
    }
    if (ok && training) {
        json_t *vm = jobj(training, "validationMetrics");
        json_t *empty = json_object();
        cells[5] = empty ? ckc_det_json_pretty(vm ? vm : empty) : NULL;
        json_decref(empty);
        ok = cells[5] != NULL;
    }
    if (ok) {
        json_t *empty = json_object();
        cells[6] = empty ? ckc_det_json_pretty(metadata ? metadata : empty) : NULL;
        json_decref(empty);
        ok = cells[6] != NULL;
    }
    if (!ok) {
        free_cells(cells, DESCRIBE_COLS);
        return -ENOMEM;
    }
    return 0;
}

int ckc_det_print_checkpoint(FILE *f, const json_t *cp, const char *path)
{
    static const char *const head[DESCRIBE_COLS] = {
        "Experiment ID",   "Trial ID",           "Steps Completed", "Report Time",
        "Checkpoint UUID", "Validation Metrics", "Metadata"};
    char *cells[DESCRIBE_COLS];
    ckc_dtable t;
    int rc = checkpoint_cells(cp, cells);
    if (rc < 0) return rc;
    rc = ckc_dtable_init(&t, DESCRIBE_COLS, head);
    if (rc == 0) rc = ckc_dtable_row(&t, (const char *const *)cells);
    free_cells(cells, DESCRIBE_COLS);
    if (rc == 0) {
        /* det: print(path, "\n"), a space before the line end included */
        if (path) fprintf(f, "Local checkpoint path:\n%s \n\n", path);
        rc = ckc_dtable_print(&t, f);
    }
    ckc_dtable_release(&t);
    return rc;
}

int ckc_det_print_resources(FILE *f, const json_t *cp)
{
    static const char *const head[] = {"Path", "Size"};
    json_t *resources = json_object_get(cp, "resources");
    size_t n;
    bool oom;
    const char **keys = sorted_keys(resources, &n, &oom);
    if (oom) return -ENOMEM;
    ckc_dtable t;
    int rc = ckc_dtable_init(&t, 2, head);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char size[32] = "?";
        int64_t bytes;
        if (is_dir_key(keys[i]))
            size[0] = '\0';
        else if (ckc_det_parse_size(json_object_get(resources, keys[i]), &bytes) == 0)
            snprintf(size, sizeof size, "%" PRId64, bytes);
        const char *row[] = {keys[i], size};
        rc = ckc_dtable_row(&t, row);
    }
    free(keys);
    if (rc == 0) rc = ckc_dtable_print(&t, f);
    ckc_dtable_release(&t);
    if (rc < 0) return rc;

    int64_t total;
    size_t files;
    if (ckc_det_resources_total(resources, &total, &files) == 0) {
        char b[32];
        ckp_fmt_bytes(b, sizeof b, (double)total);
        fprintf(f, "%zu file%s, %s\n", files, files == 1 ? "" : "s", b);
    } else {
        fputs("sizes unknown: the master sent a size that is not a byte count\n", f);
    }
    return 0;
}

enum { LIST_COLS = 7 };

/* The cells of one checkpoint in det's list table. */
static int list_cells(const json_t *cp, const char *metric, char **cells)
{
    memset(cells, 0, LIST_COLS * sizeof *cells);
    json_t *training = jobj(cp, "training");
    json_t *resources = json_object_get(cp, "resources");
    /* det: str(avgMetrics[metric]) when the key is there (None for null),
     * else empty; never the searcher metric in its place. */
    json_t *value = NULL;
    if (metric) {
        json_t *avg = jobj(jobj(training, "validationMetrics"), "avgMetrics");
        value = json_object_get(avg, metric);
    }
    bool none = value && json_is_null(value);

    bool ok =
        scalar_cell(&cells[0], json_object_get(training, "trialId")) &&
        scalar_cell(&cells[1], json_object_get(jobj(cp, "metadata"), "steps_completed")) &&
        (cells[2] = strdup(ckc_det_state_name(json_string_value(json_object_get(cp, "state"))))) !=
            NULL &&
        (none ? (cells[3] = strdup("None")) != NULL : scalar_cell(&cells[3], value)) &&
        scalar_cell(&cells[4], json_object_get(cp, "uuid")) &&
        (cells[5] = ckc_det_resources_list(resources)) != NULL;
    if (ok && resources && !json_is_null(resources)) {
        int64_t total;
        char b[32] = "?";
        if (ckc_det_resources_total(resources, &total, NULL) == 0)
            ckc_det_sizeof_fmt(b, sizeof b, (double)total);
        ok = (cells[6] = strdup(b)) != NULL;
    }
    if (!ok) {
        free_cells(cells, LIST_COLS);
        return -ENOMEM;
    }
    return 0;
}

int ckc_det_print_list(FILE *f, const json_t *cps, const char *metric, bool csv)
{
    static const char *const head[LIST_COLS] = {
        "Trial ID", "# of Batches", "State", "Validation Metric", "UUID", "Resources", "Size"};
    if (!metric) metric = ckc_det_searcher_metric(json_array_get(cps, 0));
    ckc_dtable t;
    int rc = ckc_dtable_init(&t, LIST_COLS, head);
    size_t i;
    json_t *cp;
    json_array_foreach(cps, i, cp)
    {
        if (rc < 0) break;
        char *cells[LIST_COLS];
        rc = list_cells(cp, metric, cells);
        if (rc == 0) {
            rc = ckc_dtable_row(&t, (const char *const *)cells);
            free_cells(cells, LIST_COLS);
        }
    }
    if (rc == 0) {
        if (csv)
            ckc_dtable_csv(&t, f);
        else
            rc = ckc_dtable_print(&t, f);
    }
    ckc_dtable_release(&t);
    return rc;
}
