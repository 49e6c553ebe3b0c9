/* ckc render: JSON lines, tables and the short forms of numbers. */
#include "render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckp.h"

double ckc_jnum(const json_t *obj, const char *key, double dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

json_int_t ckc_jint(const json_t *obj, const char *key, json_int_t dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *ckc_jstr(const json_t *obj, const char *key, const char *dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

int ckc_state_is_final(const char *state)
{
    return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "canceled") == 0;
}

void ckc_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

void ckc_fmt_duration(char *out, size_t outlen, double s)
{
    if (s < 0)
        snprintf(out, outlen, "-");
    else if (s < 0.095)
        snprintf(out, outlen, "%.2fs", s);
    else if (s < 9.95)
        snprintf(out, outlen, "%.1fs", s);
    else if (s < 59.5)
        snprintf(out, outlen, "%.0fs", s);
    else if (s < 3599.5) {
        long t = (long)(s + 0.5);
        snprintf(out, outlen, "%ldm%02lds", t / 60, t % 60);
    } else {
        long t = (long)(s / 60 + 0.5);
        snprintf(out, outlen, "%ldh%02ldm", t / 60, t % 60);
    }
}

void ckc_fmt_rate(char *out, size_t outlen, double bps)
{
    char b[24];
    ckp_fmt_bytes(b, sizeof b, bps > 0 ? bps : 0);
    snprintf(out, outlen, "%s/s", b);
}

const char *ckc_strerror(int err)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s", strerror(err));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] += 'a' - 'A';
    return buf;
}

int ckc_parse_time(const char *s, double *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s) return -EINVAL;
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) return -EINVAL;
    double frac = 0;
    if (*end == '.') {
        char *e2;
        frac = strtod(end, &e2);
        end = e2;
    }
    if (strcmp(end, "Z") != 0) return -EINVAL;
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1) return -EINVAL;
    *t = (double)secs + frac;
    return 0;
}

void ckc_fmt_job_end(char *out, size_t outlen, const json_t *job, double elapsed)
{
    json_int_t id = ckc_jint(job, "id", 0);
    const char *state = ckc_jstr(job, "state", "?");
    if (strcmp(state, "failed") == 0) {
        snprintf(out, outlen, "job %" JSON_INTEGER_FORMAT " failed: %s", id,
                 ckc_jstr(job, "error", "no reason given"));
        return;
    }
    if (strcmp(state, "done") != 0) {
        snprintf(out, outlen, "job %" JSON_INTEGER_FORMAT " %s", id, state);
        return;
    }

    if (elapsed < 0) {
        double t0, t1;
        if (ckc_parse_time(ckc_jstr(job, "created", NULL), &t0) == 0 &&
            ckc_parse_time(ckc_jstr(job, "updated", NULL), &t1) == 0 && t1 >= t0)
            elapsed = t1 - t0;
    }
    json_int_t files = ckc_jint(job, "files_total", 0);
    double bytes = ckc_jnum(job, "bytes_done", 0);
    char b[32], d[32], r[48] = "";
    ckp_fmt_bytes(b, sizeof b, bytes);
    ckc_fmt_duration(d, sizeof d, elapsed);
    if (elapsed > 0) {
        char rate[32];
        ckc_fmt_rate(rate, sizeof rate, bytes / elapsed);
        snprintf(r, sizeof r, " (%s)", rate);
    }
    snprintf(out, outlen,
             "job %" JSON_INTEGER_FORMAT " done: %" JSON_INTEGER_FORMAT " file%s, %s%s%s%s -> %s",
             id, files, files == 1 ? "" : "s", b, elapsed >= 0 ? " in " : "", elapsed >= 0 ? d : "",
             r, ckc_jstr(job, "output", "?"));
}

int ckc_table_init(ckc_table *t, size_t ncols, unsigned right, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->right = right;
    return ckc_table_row(t, head);
}

int ckc_table_row(ckc_table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (!cells) return -ENOMEM;
        t->cells = cells;
        t->cap = cap;
    }
    char **dst = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        dst[i] = strdup(row[i] ? row[i] : "-");
        if (!dst[i]) {
            while (i-- > 0) free(dst[i]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

/* Columns a UTF-8 string takes on a terminal, counting code points. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

void ckc_table_print(const ckc_table *t, FILE *f)
{
    size_t *width = calloc(t->ncols, sizeof *width);
    if (!width) return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = text_width(t->cells[r * t->ncols + c]);
            if (w > width[c]) width[c] = w;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t pad = width[c] - text_width(cell);
            if (t->right & (1u << c)) {
                fprintf(f, "%*s%s", (int)pad, "", cell);
            } else {
                fputs(cell, f);
                if (c + 1 < t->ncols) fprintf(f, "%*s", (int)pad, "");
            }
            if (c + 1 < t->ncols) fputs("  ", f);
        }
        fputc('\n', f);
    }
    free(width);
}

void ckc_table_release(ckc_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
