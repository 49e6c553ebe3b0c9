/* ckc det_render: how the Determined-style commands show checkpoints, the
 * way `det` does.
 *
 * Pure formatting, no sockets: Python's float repr and json.dumps(indent=4),
 * det's report time, resource lists and size totals, and tables in the
 * "presto" layout of Python's tabulate (which det prints with), multi-line
 * cells and number alignment included, or as CSV like Python's csv module.
 * Built as the small library ckc_det so tests/unit/test_cli_det.c can link
 * it alone.
 *
 * Checkpoint objects are the master's (shared/reference/determined-api.md):
 * camelCase keys, int64 sizes as decimal strings, and null or missing fields
 * anywhere, which are treated alike. */
#ifndef CKC_DET_RENDER_H
#define CKC_DET_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* ---- values -------------------------------------------------------------- */

/* A double as Python's repr() writes it: the shortest digits that read back
 * as the same value, "1.0" for whole numbers, exponent form ("1e-05",
 * "1.5e+16") outside 1e-4 <= |v| < 1e16. NaN and infinities come out as
 * "NaN", "Infinity" and "-Infinity" (json.dumps' spelling). out needs 32
 * bytes. */
void ckc_det_fmt_double(char *out, size_t outlen, double v);

/* An RFC 3339 timestamp ("2024-03-01T18:22:31.123456Z", any number of
 * fraction digits, "Z" or a "+hh:mm" offset) as det's report time, in UTC:
 * "2024-03-01 18:22:31+0000". Fractions are dropped. Returns 0 or -EINVAL
 * (out is then empty). out needs 32 bytes. */
int ckc_det_fmt_time(char *out, size_t outlen, const char *rfc3339);

/* v as Python's json.dumps(v, indent=4) writes it: 4-space indents, ", " is
 * ",\n", ": " after keys, "{}" and "[]" when empty, non-ASCII as \uXXXX
 * escapes, reals as ckc_det_fmt_double. Keys keep their order. Returns a
 * malloc'd string, NULL when out of memory. */
char *ckc_det_json_pretty(const json_t *v);

/* What a cell shows for a JSON value, as Python's str() would: NULL for a
 * missing value or null, strings as they are, integers in decimal, reals as
 * ckc_det_fmt_double, "True"/"False", and objects or arrays as compact JSON.
 * Returns a malloc'd string, or NULL (missing, or out of memory: *oom is set
 * then). */
char *ckc_det_scalar(const json_t *v, bool *oom);

/* A resource size: a JSON string of decimal digits (how the master sends
 * int64), or a non-negative JSON integer. Returns 0, -EINVAL for anything
 * else (signs, spaces, empty, not a string) or -ERANGE past INT64_MAX. */
int ckc_det_parse_size(const json_t *v, int64_t *out);

/* The sum of a checkpoint's resource sizes (directories count 0). *files is
 * the number of entries not ending in '/' (may be NULL). A missing or null
 * resources object is an empty one. Returns 0, -EINVAL when resources is not
 * an object or a size does not parse, -ERANGE when the total overflows. */
int ckc_det_resources_total(const json_t *resources, int64_t *total, size_t *files);

/* The resource paths sorted bytewise (code point order) and joined by "\n",
 * as det's Resources column shows them; "" for none. malloc'd, NULL when out
 * of memory. */
char *ckc_det_resources_list(const json_t *resources);

/* A byte count as det's sizeof_fmt (common/util.py) writes it: 1024-based,
 * "%3.1f%sB" with units "", K, M, G, T, P, E, Z, then "%.1fYB": "0.0B",
 * "322.1KB", "3.1MB". out needs 32 bytes. */
void ckc_det_sizeof_fmt(char *out, size_t outlen, double v);

/* The path det prints for a download, as pathlib.Path(given) /
 * uuid writes it: given as the user gave it (NULL: "checkpoints"), "."
 * components and repeated or trailing slashes dropped, relative stays
 * relative; uuid (NULL: none) appended. malloc'd, NULL when out of memory. */
char *ckc_det_display_path(const char *given, const char *uuid);

/* A checkpoint state without its "STATE_" prefix; "UNSPECIFIED" for NULL. */
const char *ckc_det_state_name(const char *wire);

/* ---- tables ---------------------------------------------------------------
 *
 * Rows of string cells (NULL or "" for a missing value), printed like
 * tabulate(rows, headers, tablefmt="presto"):
 *
 *        Trial ID |   Validation Metric | State     | Resources
 *     ------------+---------------------+-----------+-------------
 *               1 |                0.9  | COMPLETED | code/
 *                 |                     |           | state_dict.pth
 *              12 |                0.25 | DELETED   | metadata.json
 *
 * As tabulate does: a column whose cells are all integers is right-aligned,
 * header included; one whose cells are all numbers (Python's float() reads
 * them; of infinities and NaN only "inf", "-inf" and "nan") shows each as
 * printf's %g, aligned on the decimal point; any other column is text,
 * stripped of surrounding blanks and left-aligned. Missing cells do not
 * count. A column is as wide as its widest line and at least its header
 * plus two. A row is as tall as its tallest cell. Trailing blanks of every
 * line are dropped. Widths count code points. */
typedef struct ckc_dtable {
    size_t ncols;
    char **head;  /* ncols copies */
    char **cells; /* nrows * ncols copies, NULL for missing */
    size_t nrows;
    size_t cap; /* rows allocated */
} ckc_dtable;

/* Starts a table with ncols columns named by head. Returns 0 or -ENOMEM. */
int ckc_dtable_init(ckc_dtable *t, size_t ncols, const char *const *head);
/* Appends a row of ncols cells (copied). Returns 0 or -ENOMEM. */
int ckc_dtable_row(ckc_dtable *t, const char *const *row);
/* Prints the presto layout. Returns 0 or -ENOMEM. */
int ckc_dtable_print(const ckc_dtable *t, FILE *f);
/* Prints the header and the rows as CSV the way Python's csv.writer does:
 * fields holding ',', '"', CR or LF are quoted with '"' doubled, missing
 * cells are empty, lines end in CRLF. */
void ckc_dtable_csv(const ckc_dtable *t, FILE *f);
void ckc_dtable_release(ckc_dtable *t);

/* ---- checkpoints ---------------------------------------------------------- */

/* The name of the searcher metric in a checkpoint's experiment config
 * (training.experimentConfig.searcher.metric), or NULL. */
const char *ckc_det_searcher_metric(const json_t *cp);

/* What `det checkpoint download` prints for one checkpoint: with a path,
 * "Local checkpoint path:", the path followed by " " (det's print(path,
 * "\n")) and an empty line; then the one-row
 * table Experiment ID | Trial ID | Steps Completed | Report Time |
 * Checkpoint UUID | Validation Metrics | Metadata, the two JSON columns as
 * ckc_det_json_pretty. Returns 0 or -ENOMEM. */
int ckc_det_print_checkpoint(FILE *f, const json_t *cp, const char *path);

/* The files of a checkpoint (Path | Size, sorted, directories without a
 * size) and a line with their count and total. Returns 0 or -ENOMEM. */
int ckc_det_print_resources(FILE *f, const json_t *cp);

/* What `det experiment list-checkpoints` prints for the checkpoint objects
 * in cps: Trial ID | # of Batches | State | Validation Metric | UUID |
 * Resources | Size, as a table or as CSV. metric names the validation
 * metric shown (NULL: the searcher metric of the first checkpoint's
 * config); a checkpoint without it in its validation metrics shows an
 * empty cell, as det does ("None" when the metric is there but null).
 * Size is ckc_det_sizeof_fmt of the total. Returns 0 or -ENOMEM. */
int ckc_det_print_list(FILE *f, const json_t *cps, const char *metric, bool csv);

#endif
