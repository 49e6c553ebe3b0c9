/* ckc input: URLs and aria2-style lists into a checked list of files. */
#include "input.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"

/* Longest URL accepted; a submit line must fit in CKP_MAX_LINE anyway. */
#define INPUT_MAX_URL (64 * 1024)

void ckc_input_init(ckc_input *in)
{
    in->v = NULL;
    in->n = 0;
    in->cap = 0;
}

void ckc_input_release(ckc_input *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->v[i].url);
        free(in->v[i].path);
    }
    free(in->v);
    ckc_input_init(in);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "'list.txt' line 3: " or "" for an entry from the command line. */
static void where(char *out, size_t outlen, const char *origin, unsigned line)
{
    if (origin)
        snprintf(out, outlen, "'%s' line %u: ", origin, line);
    else
        out[0] = '\0';
}

/* Why url cannot be a URL, or NULL when it looks like one: a scheme, "://",
 * no whitespace or control characters. The daemon judges the rest. */
static const char *url_problem(const char *url, size_t len)
{
    if (len == 0) return "empty url";
    if (len > INPUT_MAX_URL) return "url longer than 64 KiB";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch == 0x7f) return "url contains whitespace or a control character";
    }
    if (!ckp_utf8_valid(url, len)) return "url is not valid UTF-8";
    const char *sep = memmem(url, len, "://", 3);
    if (!sep || sep == url) return "not a url (expected scheme://host/path)";
    for (const char *p = url; p < sep; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (p > url && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'));
        if (!ok) return "not a url (bad scheme)";
    }
    return NULL;
}

static int append(ckc_input *in, const char *url, size_t urllen, ckc_entry **e)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        ckc_entry *v = realloc(in->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        in->v = v;
        in->cap = cap;
    }
    char *copy = strndup(url, urllen);
    if (!copy) return -ENOMEM;
    ckc_entry *x = &in->v[in->n++];
    memset(x, 0, sizeof *x);
    x->url = copy;
    x->size = -1;
    *e = x;
    return 0;
}

int ckc_input_add_url(ckc_input *in, const char *url, ckc_entry **e, char *err, size_t errlen)
{
    const char *why = url_problem(url, strlen(url));
    if (why) {
        set_err(err, errlen, "'%s': %s", url, why);
        return -EINVAL;
    }
    int rc = append(in, url, strlen(url), e);
    if (rc < 0) set_err(err, errlen, "out of memory");
    return rc;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Applies one "key=value" option line to e. Returns 0 or -EINVAL with the
 * reason (without location) in err, or -ENOMEM. */
static int apply_option(ckc_entry *e, const char *key, size_t keylen, const char *val,
                        size_t vallen, char *err, size_t errlen)
{
    if (keylen == 3 && memcmp(key, "out", 3) == 0) {
        if (e->path) {
            set_err(err, errlen, "'out' given twice for one url");
            return -EINVAL;
        }
        if (vallen == 0) {
            set_err(err, errlen, "empty 'out'");
            return -EINVAL;
        }
        e->path = strndup(val, vallen);
        if (!e->path) return -ENOMEM;
        return 0;
    }
    if (keylen == 6 && memcmp(key, "xxh128", 6) == 0) {
        if (e->xxh128[0]) {
            set_err(err, errlen, "'xxh128' given twice for one url");
            return -EINVAL;
        }
        if (vallen != CKC_XXH128_HEX) {
            set_err(err, errlen, "xxh128 '%.*s' is not %d hex digits", (int)vallen, val,
                    CKC_XXH128_HEX);
            return -EINVAL;
        }
        for (size_t i = 0; i < vallen; i++) {
            int h = ckp_hexval(val[i]);
            if (h < 0) {
                set_err(err, errlen, "xxh128 '%.*s' is not %d hex digits", (int)vallen, val,
                        CKC_XXH128_HEX);
                return -EINVAL;
            }
            e->xxh128[i] = "0123456789abcdef"[h];
        }
        e->xxh128[vallen] = '\0';
        return 0;
    }
    if (keylen == 4 && memcmp(key, "size", 4) == 0) {
        if (e->size >= 0) {
            set_err(err, errlen, "'size' given twice for one url");
            return -EINVAL;
        }
        int64_t n = 0;
        bool ok = vallen > 0;
        for (size_t i = 0; ok && i < vallen; i++) {
            if (val[i] < '0' || val[i] > '9' || n > (INT64_MAX - (val[i] - '0')) / 10)
                ok = false;
            else
                n = n * 10 + (val[i] - '0');
        }
        if (!ok) {
            set_err(err, errlen, "size '%.*s' is not a byte count", (int)vallen, val);
            return -EINVAL;
        }
        e->size = n;
        return 0;
    }
    set_err(err, errlen, "unsupported option '%.*s' (known: out, xxh128, size)", (int)keylen, key);
    return -EINVAL;
}

int ckc_entry_set(ckc_entry *e, const char *key, const char *value, char *err, size_t errlen)
{
    return apply_option(e, key, strlen(key), value, strlen(value), err, errlen);
}

int ckc_input_parse_list(ckc_input *in, const char *origin, const char *text, size_t len, char *err,
                         size_t errlen)
{
    char reason[512];
    size_t pos = 0;
    unsigned lineno = 0;
    size_t current = SIZE_MAX; /* index of the entry option lines apply to */

    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        if (memchr(line, '\0', n)) {
            set_err(err, errlen, "'%s' line %u: contains a NUL byte", origin, lineno);
            return -EINVAL;
        }
        while (n > 0 && (line[n - 1] == '\r' || is_blank(line[n - 1]))) n--;

        size_t lead = 0;
        while (lead < n && is_blank(line[lead])) lead++;
        if (lead == n || line[lead] == '#') continue; /* blank or comment */

        if (lead == 0) { /* a URL line */
            if (memchr(line, '\t', n)) {
                set_err(err, errlen,
                        "'%s' line %u: several urls on one line (mirrors) are not supported",
                        origin, lineno);
                return -EINVAL;
            }
            const char *why = url_problem(line, n);
            if (why) {
                set_err(err, errlen, "'%s' line %u: '%.*s': %s", origin, lineno, (int)n, line, why);
                return -EINVAL;
            }
            ckc_entry *e;
            int rc = append(in, line, n, &e);
            if (rc < 0) return rc;
            e->origin = origin;
            e->line = lineno;
            current = in->n - 1;
            continue;
        }

        /* An option line of the URL above. */
        const char *opt = line + lead;
        size_t optlen = n - lead;
        if (current == SIZE_MAX) {
            set_err(err, errlen, "'%s' line %u: option line before any url", origin, lineno);
            return -EINVAL;
        }
        const char *eq = memchr(opt, '=', optlen);
        if (!eq || eq == opt) {
            set_err(err, errlen, "'%s' line %u: expected KEY=VALUE, got '%.*s'", origin, lineno,
                    (int)optlen, opt);
            return -EINVAL;
        }
        size_t keylen = (size_t)(eq - opt);
        int rc = apply_option(&in->v[current], opt, keylen, eq + 1, optlen - keylen - 1, reason,
                              sizeof reason);
        if (rc == -EINVAL) set_err(err, errlen, "'%s' line %u: %s", origin, lineno, reason);
        if (rc < 0) return rc;
    }
    return 0;
}

struct path_ref {
    const char *path;
    size_t idx;
};

static int path_ref_cmp(const void *a, const void *b)
{
    const struct path_ref *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int ckc_input_finish(ckc_input *in, char *err, size_t errlen)
{
    char loc[4200];
    for (size_t i = 0; i < in->n; i++) {
        ckc_entry *e = &in->v[i];
        const char *why;
        if (!e->path) {
            int rc = ckp_url_filename(e->url, &e->path, &why);
            if (rc == -EINVAL) {
                where(loc, sizeof loc, e->origin, e->line);
                set_err(err, errlen, "%scannot name the file of '%s': %s; %s", loc, e->url, why,
                        e->origin ? "give it an 'out=' line" : "name it with --out");
            }
            if (rc < 0) return rc;
            e->named_by_url = 1;
        } else {
            /* An 'out=' that repeats the URL's own name (aria2 lists often
             * do) needs no path in the request either. */
            char *name = NULL;
            if (ckp_url_filename(e->url, &name, &why) == 0 && strcmp(name, e->path) == 0)
                e->named_by_url = 1;
            free(name);
        }
        if (ckp_path_check(e->path, strlen(e->path), &why) < 0) {
            where(loc, sizeof loc, e->origin, e->line);
            set_err(err, errlen, "%sunsafe path '%s' for '%s': %s", loc, e->path, e->url, why);
            return -EINVAL;
        }
    }

    if (in->n < 2) return 0;
    struct path_ref *refs = malloc(in->n * sizeof *refs);
    if (!refs) return -ENOMEM;
    for (size_t i = 0; i < in->n; i++) {
        refs[i].path = in->v[i].path;
        refs[i].idx = i;
    }
    qsort(refs, in->n, sizeof *refs, path_ref_cmp);
    int rc = 0;
    for (size_t i = 1; i < in->n; i++) {
        if (strcmp(refs[i - 1].path, refs[i].path) == 0) {
            const ckc_entry *a = &in->v[refs[i - 1].idx], *b = &in->v[refs[i].idx];
            set_err(err, errlen, "'%s' and '%s' would both be written to '%s'", a->url, b->url,
                    a->path);
            rc = -EINVAL;
            break;
        }
    }
    free(refs);
    return rc;
}

json_t *ckc_entry_json(const ckc_entry *e, int url_names)
{
    /* A list of strings costs both sides far less to build and parse. */
    if (url_names && e->named_by_url && e->size < 0 && !e->xxh128[0]) return json_string(e->url);
    json_t *f = json_pack("{s:s,s:s}", "url", e->url, "path", e->path);
    if (f && e->size >= 0 && json_object_set_new(f, "size", json_integer(e->size)) < 0) goto fail;
    if (f && e->xxh128[0] && json_object_set_new(f, "xxh128", json_string(e->xxh128)) < 0)
        goto fail;
    return f;
fail:
    json_decref(f);
    return NULL;
}

int ckc_resolve_dir(const char *cwd, const char *dir, char **out)
{
    *out = NULL;
    if (!dir || !*dir) return -EINVAL;
    bool absolute = dir[0] == '/';
    if (!absolute && (!cwd || cwd[0] != '/')) return -EINVAL;

    size_t cap = strlen(dir) + (absolute ? 0 : strlen(cwd)) + 2;
    char *o = malloc(cap);
    if (!o) return -ENOMEM;
    size_t ol = 0;         /* o holds "/seg/seg..." without a trailing slash */
    size_t climbable = 0;  /* trailing segments of o that came from cwd */
    bool user_seg = false; /* the user's dir has put a segment into o */

    for (int pass = absolute ? 1 : 0; pass < 2; pass++) {
        const char *p = pass == 0 ? cwd : dir;
        while (*p) {
            size_t n = strcspn(p, "/");
            const char *seg = p;
            p += n;
            if (*p == '/') p++;
            if (n == 0 || (n == 1 && seg[0] == '.')) continue;
            if (n == 2 && seg[0] == '.' && seg[1] == '.') {
                if (!user_seg && climbable > 0) {
                    while (ol > 0 && o[ol - 1] != '/') ol--;
                    if (ol > 0) ol--;
                    climbable--;
                    continue;
                }
                if (!user_seg && ol == 0) continue; /* the parent of "/" is "/" */
            }
            o[ol++] = '/';
            memcpy(o + ol, seg, n);
            ol += n;
            if (pass == 0)
                climbable++;
            else
                user_seg = true;
        }
    }
    if (ol == 0) o[ol++] = '/';
    o[ol] = '\0';
    *out = o;
    return 0;
}
