/* Metrics: what the daemon has done, for node monitoring.
 *
 * Counters are gathered on the loop thread from a few hooks: every source
 * outcome (outcome.c, before and after it is applied), every file the
 * master's archive writes (master_archive.c), every job state change
 * (engine.c). Gauges (jobs and files by state, transfers, the disk budget)
 * are read from the model when a snapshot is taken. One snapshot feeds both
 * forms: Prometheus text (--metrics-file, for node_exporter's textfile
 * collector, rewritten every few seconds through a temporary file and a
 * rename) and JSON (`ckpt status --json`, key "metrics"). Counters start at
 * zero with each daemon start (ckptd_start_time_seconds says when). */
#ifndef CKD_METRICS_H
#define CKD_METRICS_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

struct ckd_daemon;
struct ckd_outcome;
struct ckd_job;
struct ckd_file;

/* How a file's bytes came: X(enum suffix, label). */
#define CKD_METRICS_ROUTE_MAP(X)                                                                   \
    X(DIRECT, "direct")         /* from its storage or URL (mounted storage: a local read) */      \
    X(MASTER, "master")         /* the master's archive */                                         \
    X(LOCAL_COPY, "local_copy") /* copied from a verified copy published elsewhere */

/* Where a file lives: the checkpoint storage's type, "http" for plain URLs. */
#define CKD_METRICS_STORAGE_MAP(X)                                                                 \
    X(HTTP, "http")                                                                                \
    X(S3, "s3")                                                                                    \
    X(GCS, "gcs")                                                                                  \
    X(AZURE, "azure")                                                                              \
    X(SHARED_FS, "shared_fs")                                                                      \
    X(DIRECTORY, "directory")                                                                      \
    X(OTHER, "other")

/* Why a source's piece of work did not simply succeed. */
#define CKD_METRICS_CAUSE_MAP(X)                                                                   \
    X(NETWORK, "network")               /* connection refused, reset, DNS */                       \
    X(TIMEOUT, "timeout")               /* timed out, or too slow (low_speed_limit) */             \
    X(HTTP_4XX, "http_4xx")             /* a 4xx status other than 401/403 */                      \
    X(HTTP_5XX, "http_5xx")             /* a 5xx status */                                         \
    X(TRUNCATED, "truncated")           /* the body ended early */                                 \
    X(SOURCE_CHANGED, "source_changed") /* the object changed, or ignored a range */               \
    X(DENIED, "denied")                 /* the storage refused the credentials */                  \
    X(DISK, "disk")                     /* writing here failed (ENOSPC, EIO) */                    \
    X(LOCAL_COPY, "local_copy")         /* a verified copy elsewhere could not be used */          \
    X(VERIFY, "verify")                 /* the bytes' size or hash did not match */                \
    X(OTHER, "other")

#define X(name, label) CKD_MROUTE_##name,
enum ckd_metrics_route { CKD_METRICS_ROUTE_MAP(X) CKD_MROUTE_N };
#undef X
#define X(name, label) CKD_MSTORE_##name,
enum ckd_metrics_storage { CKD_METRICS_STORAGE_MAP(X) CKD_MSTORE_N };
#undef X
#define X(name, label) CKD_MCAUSE_##name,
enum ckd_metrics_cause { CKD_METRICS_CAUSE_MAP(X) CKD_MCAUSE_N };
#undef X

/* Seconds between writes of the metrics file by default. */
#define CKD_METRICS_INTERVAL_S 5

typedef struct ckd_metrics {
    int64_t fetched[CKD_MROUTE_N][CKD_MSTORE_N]; /* bytes of finished pieces */
    int64_t local_copy_bytes;                    /* of those, from verified copies here */
    int64_t retries[CKD_MCAUSE_N];               /* pieces tried again */
    int64_t failures[CKD_MCAUSE_N];              /* files (or, for disk, jobs) failed */
    int64_t lag_count;                           /* prefetched checkpoints made ready */
    double lag_sum_s;                            /* ... seconds from reportTime to ready */
    double lag_last_s;                           /* the last one's, -1 before any */
    /* Between the two outcome hooks: what the outcome's file was before. */
    int64_t pending_job;
    int pending_file;
    int pending_file_failed;
    int pending_job_failed;
    char *path;       /* the metrics file, or NULL */
    uv_timer_t timer; /* writes the file (data: the daemon) */
    int timer_inited;
    int write_errors; /* failed writes logged so far (a few, then quiet) */
} ckd_metrics;

/* Allocates d->metrics; with path, starts writing it every interval_s
 * seconds (0: CKD_METRICS_INTERVAL_S). -ENOMEM. */
int ckd_metrics_open(struct ckd_daemon *d, const char *path, int interval_s);
/* Writes the file once more and closes the timer (the daemon's stop). */
void ckd_metrics_stop(struct ckd_daemon *d);
/* Frees d->metrics, after the loop closed the timer. */
void ckd_metrics_free(struct ckd_daemon *d);

/* Hooks. outcome: phase 0 before the outcome is applied, 1 after. */
void ckd_metrics_outcome(struct ckd_daemon *d, const struct ckd_outcome *o, int phase);
/* A whole file written by a source that reports no outcome (the archive). */
void ckd_metrics_fetched(struct ckd_daemon *d, const struct ckd_file *f, int64_t bytes);
/* A file's size or hash did not match: fetched again (0) or failed (1). */
void ckd_metrics_verify_failed(struct ckd_daemon *d, int failed);
/* A job changed state (from: its state before). */
void ckd_metrics_job_changed(struct ckd_daemon *d, const struct ckd_job *j, int from);

/* The snapshot as JSON (for daemon.status), and as Prometheus text into
 * out (malloc'd, NUL-terminated). */
json_t *ckd_metrics_json(struct ckd_daemon *d);
int ckd_metrics_text(struct ckd_daemon *d, char **out);
/* Writes the text to path atomically (path.tmp, then rename). 0 or -errno. */
int ckd_metrics_write(struct ckd_daemon *d, const char *path);

#endif
