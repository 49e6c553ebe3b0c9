/* Metrics: counters from hooks, gauges from the model. See metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "det_model.h"
#include "fetch.h"
#include "follow.h"
#include "fsutil.h"
#include "job.h"
#include "log.h"

static const char *const route_label[] = {
#define X(name, label) label,
    CKD_METRICS_ROUTE_MAP(X)
#undef X
};
static const char *const storage_label[] = {
#define X(name, label) label,
    CKD_METRICS_STORAGE_MAP(X)
#undef X
};
static const char *const cause_label[] = {
#define X(name, label) label,
    CKD_METRICS_CAUSE_MAP(X)
#undef X
};

/* ---- attribution ----------------------------------------------------------- */

static int storage_of(const ckd_file *f)
{
    const ckd_unit *un = &f->job->units[f->unit];
    if (!un->storage) return CKD_MSTORE_HTTP;
    for (int i = 0; i < CKD_MSTORE_N; i++)
        if (strcmp(un->storage, storage_label[i]) == 0) return i;
    return CKD_MSTORE_OTHER;
}

static int route_of(const ckd_file *f)
{
    if (f->twin) return CKD_MROUTE_LOCAL_COPY;
    return f->job->units[f->unit].via == CKD_VIA_MASTER ? CKD_MROUTE_MASTER : CKD_MROUTE_DIRECT;
}

static void count_bytes(ckd_metrics *m, const ckd_file *f, int64_t bytes)
{
    if (bytes <= 0) return;
    int route = route_of(f);
    m->fetched[route][storage_of(f)] += bytes;
    if (route == CKD_MROUTE_LOCAL_COPY) m->local_copy_bytes += bytes;
}

/* The cause an outcome names, from its kind and, for a source's own
 * verdicts, its message ("http 503 for ...", "cannot fetch ...: timed out"). */
static int cause_of(const ckd_outcome *o)
{
    switch (o->kind) {
    case CKD_OUT_RESTART:
        return CKD_MCAUSE_SOURCE_CHANGED;
    case CKD_OUT_DENIED:
        return CKD_MCAUSE_DENIED;
    case CKD_OUT_DISK:
        return CKD_MCAUSE_DISK;
    case CKD_OUT_REFETCH:
        return CKD_MCAUSE_LOCAL_COPY;
    default:
        break;
    }
    const char *msg = o->message;
    if (strncmp(msg, "http ", 5) == 0 && msg[5] >= '1' && msg[5] <= '9')
        return msg[5] == '5'   ? CKD_MCAUSE_HTTP_5XX
               : msg[5] == '4' ? CKD_MCAUSE_HTTP_4XX
                               : CKD_MCAUSE_OTHER;
    if (strstr(msg, "timed out") || strstr(msg, "too slow") || strstr(msg, "timeout"))
        return CKD_MCAUSE_TIMEOUT;
    if (strstr(msg, "ended the body") || strstr(msg, "closed the connection early"))
        return CKD_MCAUSE_TRUNCATED;
    if (strncmp(msg, "cannot fetch", 12) == 0) return CKD_MCAUSE_NETWORK;
    if (strstr(msg, "changed on the server")) return CKD_MCAUSE_SOURCE_CHANGED;
    return CKD_MCAUSE_OTHER;
}

static ckd_file *outcome_file(ckd_daemon *d, const ckd_outcome *o)
{
    ckd_job *j = ckd_job_find(d, o->job);
    if (!j || o->file < 0 || (size_t)o->file >= j->nfiles) return NULL;
    return &j->files[o->file];
}

void ckd_metrics_outcome(ckd_daemon *d, const ckd_outcome *o, int phase)
{
    ckd_metrics *m = d->metrics;
    if (!m) return;
    ckd_file *f = outcome_file(d, o);
    if (phase == 0) {
        m->pending_job = f ? o->job : 0;
        m->pending_file = o->file;
        m->pending_file_failed = f && f->state == CKD_FILE_FAILED;
        m->pending_job_failed = f && f->job->state == CKD_JOB_FAILED;
        if (!f || o->kind != CKD_OUT_OK || f->state == CKD_FILE_FAILED) return;
        if (o->seg < 0) {
            count_bytes(m, f, o->bytes); /* whole-file work: a local copy */
        } else if (o->seg < f->nsegs) {
            const ckd_seg *s = &f->segs[o->seg];
            count_bytes(m, f, s->end >= 0 ? s->end - s->start : s->written);
        }
        return;
    }
    if (!f || m->pending_job != o->job || m->pending_file != o->file) return;
    m->pending_job = 0;
    if (o->kind == CKD_OUT_OK) return;
    int cause = cause_of(o);
    if (o->kind == CKD_OUT_DISK) {
        if (!m->pending_job_failed && f->job->state == CKD_JOB_FAILED) m->failures[cause]++;
    } else if (!m->pending_file_failed && f->state == CKD_FILE_FAILED) {
        m->failures[cause]++;
    } else if (!m->pending_file_failed) {
        m->retries[cause]++; /* tried again: back-off, from zero, another route */
    }
}

void ckd_metrics_verify_failed(ckd_daemon *d, int failed)
{
    ckd_metrics *m = d->metrics;
    if (!m) return;
    if (failed)
        m->failures[CKD_MCAUSE_VERIFY]++;
    else
        m->retries[CKD_MCAUSE_VERIFY]++;
}

void ckd_metrics_fetched(ckd_daemon *d, const ckd_file *f, int64_t bytes)
{
    if (d->metrics) count_bytes(d->metrics, f, bytes);
}

/* A follow job's child done: seconds since the master reported the
 * checkpoint (its reportTime). */
void ckd_metrics_job_changed(ckd_daemon *d, const ckd_job *j, int from)
{
    ckd_metrics *m = d->metrics;
    if (!m || from == CKD_JOB_DONE || j->state != CKD_JOB_DONE || ckd_follow_parent(j) == 0) return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double now_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    for (size_t u = 0; u < j->nunits; u++) {
        json_t *t = json_object_get(j->units[u].checkpoint, "reportTime");
        int64_t ns;
        if (!json_is_string(t) ||
            ckd_det_parse_time(json_string_value(t), json_string_length(t), &ns) < 0)
            continue;
        double lag = now_s - (double)ns / 1e9;
        if (lag < 0) lag = 0; /* clocks apart */
        m->lag_count++;
        m->lag_sum_s += lag;
        m->lag_last_s = lag;
    }
}

/* ---- the snapshot ------------------------------------------------------------ */

typedef struct snapshot {
    int64_t jobs[CKD_JOB_NSTATES];
    int64_t files[CKD_FILE_FAILED + 1]; /* of jobs not finished */
    int64_t active;                     /* transfers, copies, archives in flight */
    int64_t received;                   /* HTTP body bytes written, as they arrive */
    int64_t budget, budget_used;        /* budget_used -1: not measured yet */
} snapshot;

static void take(ckd_daemon *d, snapshot *s)
{
    memset(s, 0, sizeof *s);
    for (ckd_job *j = d->jobs; j; j = j->next) {
        s->jobs[j->state]++;
        if (ckd_job_terminal(j)) continue;
        for (size_t i = 0; i < j->nfiles; i++) s->files[j->files[i].state]++;
    }
    s->active = d->xe.active + d->copies + d->archives;
    s->received = d->xe.bytes_total;
    s->budget = d->cfg.disk_budget;
    s->budget_used = d->follow_budget.measured ? d->follow_budget.used : -1;
}

json_t *ckd_metrics_json(ckd_daemon *d)
{
    ckd_metrics *m = d->metrics;
    snapshot s;
    take(d, &s);
    json_t *o = json_object(), *fetched = json_array(), *files = json_object();
    json_t *retries = json_object(), *failures = json_object();
    for (int r = 0; m && r < CKD_MROUTE_N; r++)
        for (int k = 0; k < CKD_MSTORE_N; k++)
            if (m->fetched[r][k])
                json_array_append_new(fetched, json_pack("{s:s, s:s, s:I}", "route", route_label[r],
                                                         "storage", storage_label[k], "bytes",
                                                         (json_int_t)m->fetched[r][k]));
    for (int i = 0; i <= CKD_FILE_FAILED; i++)
        json_object_set_new(files, ckd_file_state_name(i), json_integer(s.files[i]));
    for (int c = 0; c < CKD_MCAUSE_N; c++) {
        json_object_set_new(retries, cause_label[c], json_integer(m ? m->retries[c] : 0));
        json_object_set_new(failures, cause_label[c], json_integer(m ? m->failures[c] : 0));
    }
    json_object_set_new(o, "fetched_bytes", fetched);
    json_object_set_new(o, "received_bytes", json_integer(s.received));
    json_object_set_new(o, "local_copy_bytes", json_integer(m ? m->local_copy_bytes : 0));
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "active_transfers", json_integer(s.active));
    json_object_set_new(o, "retries", retries);
    json_object_set_new(o, "failures", failures);
    json_object_set_new(o, "disk_budget_bytes", json_integer(s.budget));
    json_object_set_new(o, "disk_budget_used_bytes",
                        s.budget_used >= 0 ? json_integer(s.budget_used) : json_null());
    json_object_set_new(o, "prefetch_lag_seconds",
                        json_pack("{s:I, s:f, s:o}", "count", (json_int_t)(m ? m->lag_count : 0),
                                  "sum", m ? m->lag_sum_s : 0.0, "last",
                                  m && m->lag_count ? json_real(m->lag_last_s) : json_null()));
    return o;
}

/* A growing text buffer; an allocation failure sticks. */
typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    for (int tries = 0; !b->oom && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static void head(buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int ckd_metrics_text(ckd_daemon *d, char **out)
{
    ckd_metrics *m = d->metrics;
    snapshot s;
    take(d, &s);
    buf b = {0};
    head(&b, "ckptd_info", "gauge", "Always 1; the daemon's version as a label.");
    put(&b, "ckptd_info{version=\"%s\"} 1\n", CKPTD_VERSION);
    head(&b, "ckptd_start_time_seconds", "gauge",
         "When the daemon started (Unix time); counters start at zero then.");
    put(&b, "ckptd_start_time_seconds %lld\n",
        (long long)(ckd_wall_s() - (int64_t)((ckd_now_ms() - d->start_ms) / 1000)));
    head(&b, "ckptd_fetched_bytes_total", "counter",
         "Bytes of files (or ranges) fetched completely, by route and storage.");
    for (int r = 0; r < CKD_MROUTE_N; r++)
        for (int k = 0; k < CKD_MSTORE_N; k++)
            put(&b, "ckptd_fetched_bytes_total{route=\"%s\",storage=\"%s\"} %lld\n", route_label[r],
                storage_label[k], (long long)(m ? m->fetched[r][k] : 0));
    head(&b, "ckptd_received_bytes_total", "counter",
         "HTTP body bytes written to staging files, counted as they arrive.");
    put(&b, "ckptd_received_bytes_total %lld\n", (long long)s.received);
    head(&b, "ckptd_local_copy_bytes_total", "counter",
         "Bytes copied from verified copies already on this node instead of fetched.");
    put(&b, "ckptd_local_copy_bytes_total %lld\n", (long long)(m ? m->local_copy_bytes : 0));
    head(&b, "ckptd_jobs", "gauge", "Jobs the daemon keeps, by state.");
    for (int i = 0; i < CKD_JOB_NSTATES; i++)
        put(&b, "ckptd_jobs{state=\"%s\"} %lld\n", ckd_job_state_name(i), (long long)s.jobs[i]);
    head(&b, "ckptd_files", "gauge", "Files of jobs not finished, by state.");
    for (int i = 0; i <= CKD_FILE_FAILED; i++)
        put(&b, "ckptd_files{state=\"%s\"} %lld\n", ckd_file_state_name(i), (long long)s.files[i]);
    head(&b, "ckptd_active_transfers", "gauge",
         "Transfers, local copies and master archives in flight.");
    put(&b, "ckptd_active_transfers %lld\n", (long long)s.active);
    head(&b, "ckptd_retries_total", "counter",
         "Pieces of work tried again (after a back-off, from zero, or by another route), by "
         "cause.");
    for (int c = 0; c < CKD_MCAUSE_N; c++)
        put(&b, "ckptd_retries_total{cause=\"%s\"} %lld\n", cause_label[c],
            (long long)(m ? m->retries[c] : 0));
    head(&b, "ckptd_failures_total", "counter",
         "Files that failed as their sources reported (jobs, for disk errors), by cause.");
    for (int c = 0; c < CKD_MCAUSE_N; c++)
        put(&b, "ckptd_failures_total{cause=\"%s\"} %lld\n", cause_label[c],
            (long long)(m ? m->failures[c] : 0));
    head(&b, "ckptd_disk_budget_bytes", "gauge",
         "The disk budget of prefetched checkpoints (disk_budget), 0 when unlimited.");
    put(&b, "ckptd_disk_budget_bytes %lld\n", (long long)s.budget);
    if (s.budget_used >= 0) {
        head(&b, "ckptd_disk_budget_used_bytes", "gauge",
             "Bytes of prefetched checkpoints on disk at the last budget pass.");
        put(&b, "ckptd_disk_budget_used_bytes %lld\n", (long long)s.budget_used);
    }
    head(&b, "ckptd_prefetch_lag_seconds", "summary",
         "Seconds from a checkpoint's report on the master to its prefetched copy being ready.");
    put(&b, "ckptd_prefetch_lag_seconds_sum %.3f\nckptd_prefetch_lag_seconds_count %lld\n",
        m ? m->lag_sum_s : 0.0, (long long)(m ? m->lag_count : 0));
    if (m && m->lag_count) {
        head(&b, "ckptd_prefetch_last_lag_seconds", "gauge",
             "The prefetch lag of the last checkpoint made ready.");
        put(&b, "ckptd_prefetch_last_lag_seconds %.3f\n", m->lag_last_s);
    }
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    return 0;
}

int ckd_metrics_write(ckd_daemon *d, const char *path)
{
    char *text;
    int rc = ckd_metrics_text(d, &text);
    if (rc < 0) return rc;
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        free(text);
        return -ENOMEM;
    }
    snprintf(tmp, n, "%s.tmp", path);
    /* Readable by node_exporter, which runs as another user. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) rc = -errno;
    size_t len = strlen(text), off = 0;
    while (rc == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0)
            rc = -errno;
        else
            off += (size_t)w;
    }
    if (fd >= 0 && close(fd) < 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0) rc = -errno;
    if (rc < 0 && fd >= 0) unlink(tmp);
    free(tmp);
    free(text);
    return rc;
}

/* ---- the file's timer ------------------------------------------------------------ */

static void write_now(ckd_daemon *d)
{
    ckd_metrics *m = d->metrics;
    int rc = ckd_metrics_write(d, m->path);
    if (rc < 0 && m->write_errors++ < 3)
        ckd_warn("cannot write the metrics file '%s': %s", m->path, strerror(-rc));
    else if (rc == 0)
        m->write_errors = 0;
}

static void on_timer(uv_timer_t *t)
{
    write_now(t->data);
}

int ckd_metrics_open(ckd_daemon *d, const char *path, int interval_s)
{
    ckd_metrics *m = calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    m->lag_last_s = -1;
    d->metrics = m;
    if (!path) return 0;
    if (!(m->path = strdup(path))) return -ENOMEM;
    uint64_t ms = (uint64_t)(interval_s > 0 ? interval_s : CKD_METRICS_INTERVAL_S) * 1000;
    uv_timer_init(d->loop, &m->timer);
    m->timer.data = d;
    m->timer_inited = 1;
    uv_timer_start(&m->timer, on_timer, 0, ms);
    return 0;
}

void ckd_metrics_stop(ckd_daemon *d)
{
    ckd_metrics *m = d->metrics;
    if (!m || !m->timer_inited || uv_is_closing((uv_handle_t *)&m->timer)) return;
    write_now(d); /* the last figures */
    uv_close((uv_handle_t *)&m->timer, NULL);
}

void ckd_metrics_free(ckd_daemon *d)
{
    ckd_metrics *m = d->metrics;
    if (!m) return;
    free(m->path);
    free(m);
    d->metrics = NULL;
}
