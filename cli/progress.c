/* ckc progress: in-place progress block on a terminal, throttled lines
 * elsewhere. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ckp.h"
#include "render.h"

#define BAR_WIDTH      20  /* cells of a full-size bar */
#define BAR_MIN_WIDTH  6   /* narrower than this, no bar */
#define TTY_INTERVAL   0.1 /* seconds between redraws */
#define PLAIN_INTERVAL 1.0 /* seconds between a job's progress lines */
#define LINE_MAX_BYTES 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void ckc_progress_init(ckc_progress *p, bool tty)
{
    memset(p, 0, sizeof *p);
    p->tty = tty;
}

void ckc_progress_release(ckc_progress *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->jobs[i].error);
    free(p->jobs);
    p->jobs = NULL;
    p->n = p->cap = 0;
}

ckc_job_view *ckc_progress_find(ckc_progress *p, json_int_t id)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->jobs[i].id == id) return &p->jobs[i];
    return NULL;
}

/* One line for a job. On a terminal (tty) the columns line up and a bar of
 * bar_width cells (none when 0) shows the fraction done; plain lines are for
 * reading and grep. */
static void job_line(const ckc_job_view *v, bool tty, int bar_width, char *out, size_t outlen)
{
    const char *sep = tty ? "  " : " ";
    char pct[8] = "  ?%", done[32], total[32] = "?", tail[LINE_MAX_BYTES] = "";
    double frac = -1;
    if (v->bytes_total > 0)
        frac = v->bytes_done / v->bytes_total;
    else if (v->bytes_total == 0)
        frac = v->files_total > 0 ? (double)v->files_done / (double)v->files_total : 0;
    if (frac > 1) frac = 1;
    if (frac >= 0) snprintf(pct, sizeof pct, "%3d%%", (int)(frac * 100));
    ckp_fmt_bytes(done, sizeof done, v->bytes_done);
    if (v->bytes_total >= 0) ckp_fmt_bytes(total, sizeof total, v->bytes_total);

    char bar[BAR_WIDTH + 8] = "";
    if (tty && bar_width > 0) {
        if (bar_width > BAR_WIDTH) bar_width = BAR_WIDTH;
        int fill = frac >= 0 ? (int)(frac * bar_width) : 0;
        bar[0] = '[';
        for (int i = 0; i < bar_width; i++)
            bar[1 + i] = i < fill ? '=' : (i == fill && frac > 0) ? '>' : ' ';
        memcpy(bar + 1 + bar_width, "]  ", 4);
    }

    if (strcmp(v->state, "running") == 0) {
        char rate[32], eta[48] = "";
        ckc_fmt_rate(rate, sizeof rate, v->rate);
        if (v->eta >= 0) {
            char d[32];
            ckc_fmt_duration(d, sizeof d, v->eta);
            snprintf(eta, sizeof eta, "%sETA %s", sep, d);
        }
        snprintf(tail, sizeof tail, tty ? "%s%9s%s" : "%s%s%s", sep, rate, eta);
    } else if (v->error) {
        snprintf(tail, sizeof tail, "%s(%s)", sep, v->error);
    }
    if (tty)
        snprintf(out, outlen, "job %" JSON_INTEGER_FORMAT "  %-9s%s  %s%7s / %-7s%s", v->id,
                 v->state, pct, bar, done, total, tail);
    else
        snprintf(out, outlen, "job %" JSON_INTEGER_FORMAT " %s %s %s / %s%s", v->id, v->state,
                 pct + strspn(pct, " "), done, total, tail);
}

static void replace_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? strdup(src) : NULL;
}

static void print_plain(ckc_job_view *v)
{
    char line[LINE_MAX_BYTES];
    job_line(v, false, 0, line, sizeof line);
    printf("%s\n", line);
    fflush(stdout);
    v->printed = now_s();
    v->changed = false;
}

ckc_job_view *ckc_progress_job(ckc_progress *p, const json_t *summary)
{
    json_int_t id = ckc_jint(summary, "id", -1);
    if (id < 0) return NULL;
    ckc_job_view *v = ckc_progress_find(p, id);
    bool news = false;
    if (!v) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 8;
            ckc_job_view *jobs = realloc(p->jobs, cap * sizeof *jobs);
            if (!jobs) return NULL;
            p->jobs = jobs;
            p->cap = cap;
        }
        v = &p->jobs[p->n++];
        memset(v, 0, sizeof *v);
        v->id = id;
        news = true;
    }
    const char *state = ckc_jstr(summary, "state", "?");
    if (strcmp(v->state, state) != 0) news = true;
    snprintf(v->state, sizeof v->state, "%s", state);
    replace_str(&v->error, ckc_jstr(summary, "error", NULL));
    v->bytes_done = ckc_jnum(summary, "bytes_done", 0);
    v->bytes_total = ckc_jnum(summary, "bytes_total", -1);
    v->files_done = ckc_jint(summary, "files_done", 0);
    v->files_total = ckc_jint(summary, "files_total", 0);
    v->rate = ckc_jnum(summary, "rate", 0);
    v->eta = ckc_jnum(summary, "eta", -1);
    v->changed = true;
    p->dirty = true;
    if (!p->tty && news && !ckc_state_is_final(v->state)) print_plain(v);
    return v;
}

void ckc_progress_update(ckc_progress *p, const json_t *params)
{
    ckc_job_view *v = ckc_progress_find(p, ckc_jint(params, "id", -1));
    if (!v) return;
    v->bytes_done = ckc_jnum(params, "bytes_done", v->bytes_done);
    v->bytes_total = ckc_jnum(params, "bytes_total", -1);
    v->files_done = ckc_jint(params, "files_done", v->files_done);
    v->files_total = ckc_jint(params, "files_total", v->files_total);
    v->rate = ckc_jnum(params, "rate", 0);
    v->eta = ckc_jnum(params, "eta", -1);
    v->changed = true;
    p->dirty = true;
}

void ckc_progress_remove(ckc_progress *p, json_int_t id)
{
    ckc_job_view *v = ckc_progress_find(p, id);
    if (!v) return;
    free(v->error);
    size_t i = (size_t)(v - p->jobs);
    memmove(v, v + 1, (p->n - i - 1) * sizeof *v);
    p->n--;
    p->dirty = true;
}

/* Terminal size, with a sane fallback. */
static void term_size(int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        if (ws.ws_col > 0) *cols = ws.ws_col;
        if (ws.ws_row > 0) *rows = ws.ws_row;
    }
}

/* Cuts line to at most cols-1 terminal columns so it never wraps (a wrapped
 * line would throw the cursor-up arithmetic off). */
static void fit(char *line, int cols)
{
    int w = 0;
    for (char *s = line; *s; s++) {
        if (((unsigned char)*s & 0xc0) == 0x80) continue;
        if (++w >= cols) {
            *s = '\0';
            return;
        }
    }
}

/* A job's line that fits in cols-1 columns. Numbers have fixed widths on a
 * terminal and the bar is sized for the longest (running) layout, so it keeps
 * its size while numbers and states change; on a narrow terminal it shrinks,
 * then goes, then the line is cut. */
static void tty_line(const ckc_job_view *v, int cols, char *line, size_t linelen)
{
    char id[24];
    int idlen = snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, v->id);
    /* "job ID  STATE____100%  [" BAR "]  999.9kB / 999.9kB  999.9kB/s  ETA 59m59s" */
    int fixed = 4 + idlen + 2 + 9 + 4 + 2 + 1 + 1 + 2 + 7 + 3 + 7 + 2 + 9 + 2 + 4 + 6;
    int room = cols - 1 - fixed;
    job_line(v, true, room >= BAR_MIN_WIDTH ? room : 0, line, linelen);
    fit(line, cols);
}

/* Appends to f the escape codes that move from the end of the block to its
 * first column and erase it. */
static void erase_block(FILE *f, int drawn)
{
    if (drawn <= 0) return;
    if (drawn > 1) fprintf(f, "\x1b[%dA", drawn - 1);
    fputs("\r\x1b[J", f);
}

static void draw_tty(ckc_progress *p)
{
    char *frame = NULL;
    size_t framelen = 0;
    FILE *f = open_memstream(&frame, &framelen);
    if (!f) return;

    int cols, rows;
    term_size(&cols, &rows);
    size_t room = rows > 3 ? (size_t)rows - 2 : 1;
    size_t shown = p->n <= room ? p->n : room - 1;

    erase_block(f, p->drawn);
    int lines = 0;
    char line[LINE_MAX_BYTES];
    for (size_t i = 0; i < shown; i++) {
        tty_line(&p->jobs[i], cols, line, sizeof line);
        fprintf(f, "%s%s", lines ? "\n" : "", line);
        lines++;
    }
    if (shown < p->n) {
        snprintf(line, sizeof line, "... and %zu more jobs", p->n - shown);
        fit(line, cols);
        fprintf(f, "%s%s", lines ? "\n" : "", line);
        lines++;
    }
    fclose(f);
    fwrite(frame, 1, framelen, stdout);
    fflush(stdout);
    free(frame);
    p->drawn = lines;
    p->drawn_at = now_s();
    p->dirty = false;
}

void ckc_progress_draw(ckc_progress *p, bool force)
{
    double now = now_s();
    if (p->tty) {
        if (!p->dirty && !force) return;
        if (!force && now - p->drawn_at < TTY_INTERVAL) return;
        draw_tty(p);
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        ckc_job_view *v = &p->jobs[i];
        if (v->changed && (force || now - v->printed >= PLAIN_INTERVAL)) print_plain(v);
    }
}

int ckc_progress_wait_ms(const ckc_progress *p)
{
    double now = now_s(), wait = 1.0;
    if (p->tty) {
        if (p->dirty) wait = p->drawn_at + TTY_INTERVAL - now;
    } else {
        for (size_t i = 0; i < p->n; i++) {
            const ckc_job_view *v = &p->jobs[i];
            if (v->changed && v->printed + PLAIN_INTERVAL - now < wait)
                wait = v->printed + PLAIN_INTERVAL - now;
        }
    }
    if (wait < 0) wait = 0;
    return (int)(wait * 1000) + 1;
}

void ckc_progress_clear(ckc_progress *p)
{
    if (!p->tty || p->drawn == 0) return;
    erase_block(stdout, p->drawn);
    fflush(stdout);
    p->drawn = 0;
    p->dirty = true;
}

void ckc_progress_keep(ckc_progress *p)
{
    if (!p->tty || p->drawn == 0) return;
    fputc('\n', stdout);
    fflush(stdout);
    p->drawn = 0;
    p->dirty = true;
}

void ckc_progress_print(ckc_progress *p, FILE *f, const char *line)
{
    ckc_progress_clear(p);
    if (f != stdout) fflush(stdout);
    fprintf(f, "%s\n", line);
    fflush(f);
    p->dirty = true;
    p->drawn_at = 0;
}
