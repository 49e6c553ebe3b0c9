/* ckc render: how ckpt shows things — JSON lines, tables, and the short
 * forms of durations, rates and job outcomes. Progress lines are in
 * progress.h. */
#ifndef CKC_RENDER_H
#define CKC_RENDER_H

#include <stdio.h>
#include <jansson.h>

/* ---- reading protocol objects -------------------------------------------- */

/* obj[key] as a number (integer or real); dflt when missing, null or not a
 * number. */
double ckc_jnum(const json_t *obj, const char *key, double dflt);
/* obj[key] as an integer; dflt when missing or not an integer. */
json_int_t ckc_jint(const json_t *obj, const char *key, json_int_t dflt);
/* obj[key] as a string; dflt when missing or not a string. */
const char *ckc_jstr(const json_t *obj, const char *key, const char *dflt);

/* Whether a job state is final for a watcher: done, failed or canceled. */
int ckc_state_is_final(const char *state);

/* ---- output -------------------------------------------------------------- */

/* Prints v on stdout as one compact JSON line and flushes. */
void ckc_print_json(const json_t *v);

/* "0.05s", "0.4s", "12s", "3m04s", "2h05m"; "-" for a negative value. */
void ckc_fmt_duration(char *out, size_t outlen, double seconds);
/* ckp_fmt_bytes per second: "850.0MB/s". */
void ckc_fmt_rate(char *out, size_t outlen, double bytes_per_s);

/* strerror(err) starting lowercase, as ckpt's messages do. The text stays
 * valid until the next call. */
const char *ckc_strerror(int err);

/* Parses a protocol timestamp "2026-11-29T17:02:15Z" (fractions allowed)
 * into seconds since the epoch. Returns 0 or -EINVAL. */
int ckc_parse_time(const char *s, double *t);

/* The one-line outcome of a finished job summary or detail:
 *   "job 7 done: 3 files, 3.1MB in 0.4s (7.8MB/s) -> /abs/out"
 *   "job 7 failed: <error>"   "job 7 canceled"
 * elapsed is the wall time the caller measured, or negative to take it from
 * the job's created/updated timestamps. */
void ckc_fmt_job_end(char *out, size_t outlen, const json_t *job, double elapsed);

/* ---- tables -------------------------------------------------------------- */

/* Columns sized to their widest cell, two spaces apart, the last one not
 * padded. */
typedef struct ckc_table {
    size_t ncols;
    unsigned right; /* bit i set: column i is right-aligned */
    char **cells;   /* nrows * ncols copies, the header first */
    size_t nrows;
    size_t cap; /* rows allocated */
} ckc_table;

/* Starts a table with ncols columns named by head. Returns 0 or -ENOMEM. */
int ckc_table_init(ckc_table *t, size_t ncols, unsigned right, const char *const *head);
/* Appends a row of ncols strings (copied; NULL shows as "-"). */
int ckc_table_row(ckc_table *t, const char *const *row);
void ckc_table_print(const ckc_table *t, FILE *f);
void ckc_table_release(ckc_table *t);

#endif
