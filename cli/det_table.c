/* ckc det_table: tables in the "presto" layout of Python's tabulate, as det
 * prints them, and CSV rows as Python's csv module writes them. Part of the
 * ckc_det library; declared in det_render.h. */
#include "det_render.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables -------------------------------------------------------------- */

int ckc_dtable_init(ckc_dtable *t, size_t ncols, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->head = calloc(ncols, sizeof *t->head);
    if (!t->head) return -ENOMEM;
    for (size_t c = 0; c < ncols; c++) {
        t->head[c] = strdup(head[c] ? head[c] : "");
        if (!t->head[c]) {
            ckc_dtable_release(t);
            return -ENOMEM;
        }
    }
    return 0;
}

int ckc_dtable_row(ckc_dtable *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (!cells) return -ENOMEM;
        t->cells = cells;
        t->cap = cap;
    }
    char **dst = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        dst[c] = NULL;
        if (row[c] && !(dst[c] = strdup(row[c]))) {
            while (c-- > 0) free(dst[c]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

void ckc_dtable_release(ckc_dtable *t)
{
    if (t->head)
        for (size_t c = 0; c < t->ncols; c++) free(t->head[c]);
    free(t->head);
    if (t->cells)
        for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* tabulate's column types, from least to most generic. */
enum cell_type { T_NONE, T_BOOL, T_INT, T_FLOAT, T_STR };

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* s without leading and trailing whitespace, as a malloc'd string. */
static char *strip_dup(const char *s)
{
    while (is_space(*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) n--;
    return strndup(s, n);
}

/* Python's int(s) accepts it (surrounding blanks, a sign, decimal digits). */
static bool looks_int(const char *s)
{
    while (is_space(*s)) s++;
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s)) s++;
    while (is_space(*s)) s++;
    return *s == '\0';
}

/* Python's float(s) accepts it and, for infinities and NaN, tabulate counts
 * it as a number (only the spellings "inf", "-inf" and "nan"). *v is the
 * value. */
static bool looks_number(const char *s, double *v)
{
    if (strpbrk(s, "xXpP(")) return false; /* hex floats, nan(...) are C-only */
    const char *p = s;
    while (is_space(*p)) p++;
    if (!*p) return false;
    char *end;
    double x = strtod(p, &end);
    if (end == p) return false;
    while (is_space(*end)) end++;
    if (*end) return false;
    if (isinf(x) || isnan(x)) {
        if (strcasecmp(s, "inf") != 0 && strcasecmp(s, "-inf") != 0 && strcasecmp(s, "nan") != 0)
            return false;
    }
    *v = x;
    return true;
}

static enum cell_type cell_type(const char *s)
{
    double v;
    if (!s || !*s) return T_NONE;
    if (strcmp(s, "True") == 0 || strcmp(s, "False") == 0) return T_BOOL;
    if (looks_int(s)) return T_INT;
    if (looks_number(s, &v)) return T_FLOAT;
    return T_STR;
}

/* Characters after the decimal point (or the exponent's 'e') of a number,
 * -1 for integers and text: tabulate's _afterpoint. */
static int after_point(const char *s)
{
    double v;
    if (!looks_number(s, &v) || looks_int(s)) return -1;
    const char *dot = strrchr(s, '.');
    if (!dot) {
        dot = strrchr(s, 'e');
        if (!dot) dot = strrchr(s, 'E');
    }
    return dot ? (int)strlen(dot + 1) : -1;
}

/* Columns of a line on a terminal, counting code points (as len() does). */
static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) w++;
    return w;
}

/* The widest line of a cell. */
static size_t cell_width(const char *s)
{
    size_t best = 0;
    for (;;) {
        size_t n = strcspn(s, "\n");
        size_t w = text_width(s, n);
        if (w > best) best = w;
        if (!s[n]) return best;
        s += n + 1;
    }
}

/* Line i of a cell (0-based) as a pointer and length; false past its end. */
static bool cell_line(const char *s, size_t i, const char **line, size_t *len)
{
    if (!*s) return false;
    for (; i > 0; i--) {
        const char *nl = strchr(s, '\n');
        if (!nl || !nl[1]) return false; /* a final "\n" ends no new line */
        s = nl + 1;
    }
    *line = s;
    *len = strcspn(s, "\n");
    return true;
}

static size_t cell_lines(const char *s)
{
    size_t n = 0;
    const char *line;
    size_t len;
    while (cell_line(s, n, &line, &len)) n++;
    return n;
}

/* Appends text[0..n) to a line buffer. */
typedef struct linebuf {
    char *s;
    size_t len, cap;
} linebuf;

static int lb_put(linebuf *b, const char *text, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) return -ENOMEM;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int lb_pad(linebuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lb_put(b, " ", 1) < 0) return -ENOMEM;
    return 0;
}

/* Prints the line without its trailing blanks, and empties it. */
static void lb_flush(linebuf *b, FILE *f)
{
    size_t n = b->len;
    while (n > 0 && b->s[n - 1] == ' ') n--;
    fwrite(b->s, 1, n, f);
    fputc('\n', f);
    b->len = 0;
}

/* One column, laid out: its cells as shown, its alignment and width. */
typedef struct column {
    char **shown; /* nrows strings */
    bool numeric; /* right-aligned (decimal point lined up beforehand) */
    size_t width;
} column;

/* Computes what a column shows, as tabulate's _format and _align_column do. */
static int layout_column(const ckc_dtable *t, size_t c, column *col)
{
    col->shown = calloc(t->nrows ? t->nrows : 1, sizeof *col->shown);
    if (!col->shown) return -ENOMEM;
    enum cell_type type = T_BOOL;
    for (size_t r = 0; r < t->nrows; r++) {
        enum cell_type ct = cell_type(t->cells[r * t->ncols + c]);
        if (ct > type) type = ct;
    }
    col->numeric = type == T_INT || type == T_FLOAT;

    int maxpoint = -1;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *cell = t->cells[r * t->ncols + c];
        char num[48];
        double v;
        if (!cell) cell = "";
        if (type == T_FLOAT && *cell && looks_number(cell, &v)) {
            if (isnan(v))
                snprintf(num, sizeof num, "nan");
            else if (isinf(v))
                snprintf(num, sizeof num, "%s", v < 0 ? "-inf" : "inf");
            else
                snprintf(num, sizeof num, "%g", v);
            col->shown[r] = strdup(num);
        } else if (col->numeric) {
            col->shown[r] = strdup(cell);
        } else {
            col->shown[r] = strip_dup(cell);
        }
        if (!col->shown[r]) return -ENOMEM;
        if (col->numeric) {
            int ap = after_point(col->shown[r]);
            if (ap > maxpoint) maxpoint = ap;
        }
    }
    if (col->numeric) { /* pad on the right so the decimal points line up */
        for (size_t r = 0; r < t->nrows; r++) {
            int pad = maxpoint - after_point(col->shown[r]);
            if (pad <= 0) continue;
            size_t n = strlen(col->shown[r]);
            char *s = realloc(col->shown[r], n + (size_t)pad + 1);
            if (!s) return -ENOMEM;
            memset(s + n, ' ', (size_t)pad);
            s[n + (size_t)pad] = '\0';
            col->shown[r] = s;
        }
    }
    col->width = text_width(t->head[c], strlen(t->head[c])) + 2;
    for (size_t r = 0; r < t->nrows; r++) {
        size_t w = cell_width(col->shown[r]);
        if (w > col->width) col->width = w;
    }
    return 0;
}

/* Appends " text " padded to the column's width. */
static int put_cell(linebuf *b, const column *col, const char *text, size_t n)
{
    size_t pad = col->width - text_width(text, n);
    if (lb_put(b, " ", 1) < 0) return -ENOMEM;
    if (col->numeric && lb_pad(b, pad) < 0) return -ENOMEM;
    if (lb_put(b, text, n) < 0) return -ENOMEM;
    if (!col->numeric && lb_pad(b, pad) < 0) return -ENOMEM;
    return lb_put(b, " ", 1);
}

static int print_rows(const ckc_dtable *t, const column *cols, FILE *f)
{
    linebuf b = {NULL, 0, 0};
    int rc = 0;
    for (size_t c = 0; c < t->ncols && rc == 0; c++) {
        if (c > 0) rc = lb_put(&b, "|", 1);
        if (rc == 0) rc = put_cell(&b, &cols[c], t->head[c], strlen(t->head[c]));
    }
    if (rc == 0) lb_flush(&b, f);
    for (size_t c = 0; c < t->ncols && rc == 0; c++) {
        if (c > 0) rc = lb_put(&b, "+", 1);
        for (size_t i = 0; i < cols[c].width + 2 && rc == 0; i++) rc = lb_put(&b, "-", 1);
    }
    if (rc == 0) lb_flush(&b, f);

    for (size_t r = 0; r < t->nrows && rc == 0; r++) {
        size_t height = 1;
        for (size_t c = 0; c < t->ncols; c++) {
            size_t h = cell_lines(cols[c].shown[r]);
            if (h > height) height = h;
        }
        for (size_t i = 0; i < height && rc == 0; i++) {
            for (size_t c = 0; c < t->ncols && rc == 0; c++) {
                const char *line = "";
                size_t len = 0;
                cell_line(cols[c].shown[r], i, &line, &len);
                if (c > 0) rc = lb_put(&b, "|", 1);
                if (rc == 0) rc = put_cell(&b, &cols[c], line, len);
            }
            if (rc == 0) lb_flush(&b, f);
        }
    }
    free(b.s);
    return rc;
}

int ckc_dtable_print(const ckc_dtable *t, FILE *f)
{
    column *cols = calloc(t->ncols, sizeof *cols);
    if (!cols) return -ENOMEM;
    int rc = 0;
    for (size_t c = 0; c < t->ncols && rc == 0; c++) rc = layout_column(t, c, &cols[c]);
    if (rc == 0) rc = print_rows(t, cols, f);
    for (size_t c = 0; c < t->ncols; c++) {
        if (cols[c].shown)
            for (size_t r = 0; r < t->nrows; r++) free(cols[c].shown[r]);
        free(cols[c].shown);
    }
    free(cols);
    return rc;
}

static void put_csv_field(FILE *f, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_csv_row(FILE *f, char *const *fields, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        if (c > 0) fputc(',', f);
        put_csv_field(f, fields[c]);
    }
    fputs("\r\n", f);
}

void ckc_dtable_csv(const ckc_dtable *t, FILE *f)
{
    put_csv_row(f, t->head, t->ncols);
    for (size_t r = 0; r < t->nrows; r++) put_csv_row(f, t->cells + r * t->ncols, t->ncols);
}
