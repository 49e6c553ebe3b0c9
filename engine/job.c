/* The job model and its state machines. See job.h. */
#include "job.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_route.h"
#include "ckp.h"
#include "fsutil.h"
#include "log.h"

static const char *job_state_names[] = {
#define X(name, wire) wire,
    CKD_JOB_STATE_MAP(X)
#undef X
};
static const char *file_state_names[] = {
#define X(name, wire) wire,
    CKD_FILE_STATE_MAP(X)
#undef X
};

const char *ckd_job_state_name(enum ckd_job_state s)
{
    return job_state_names[s];
}

int ckd_job_state_parse(const char *name)
{
    for (int i = 0; i < CKD_JOB_NSTATES; i++)
        if (name && strcmp(name, job_state_names[i]) == 0) return i;
    return -EINVAL;
}

const char *ckd_file_state_name(enum ckd_file_state s)
{
    return file_state_names[s];
}

int ckd_file_state_parse(const char *name)
{
    for (int i = 0; i <= CKD_FILE_FAILED; i++)
        if (name && strcmp(name, file_state_names[i]) == 0) return i;
    return -EINVAL;
}

int ckd_job_terminal(const ckd_job *j)
{
    return j->state == CKD_JOB_DONE || j->state == CKD_JOB_CANCELED || j->state == CKD_JOB_FAILED;
}

/* Pool work of the job or its transfers still running. */
int ckd_job_quiet(const ckd_job *j)
{
    return j->busy == 0 && j->xfers == 0;
}

void ckd_job_log(ckd_job *j, const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int lvl = ckd_log_parse_level(level);
    ckd_log(lvl < 0 ? CKD_LOG_INFO : (enum ckd_log_level)lvl, "job %lld: %s", (long long)j->id,
            msg);
    ckd_store_log(&j->d->store, j->id, ckd_wall_s(), level, msg);
}

/* Allowed job transitions: allowed[from] is a bit set of targets. */
#define B(s) (1u << CKD_JOB_##s)
static const unsigned job_next[CKD_JOB_NSTATES] = {
    [CKD_JOB_QUEUED] = B(RESOLVING) | B(RUNNING) | B(WAITING) | B(PAUSED) | B(FAILED) | B(CANCELED),
    [CKD_JOB_RESOLVING] = B(QUEUED) | B(RUNNING) | B(WAITING) | B(PAUSED) | B(FAILED) | B(CANCELED),
    [CKD_JOB_RUNNING] = B(QUEUED) | B(WAITING) | B(PAUSED) | B(DONE) | B(FAILED) | B(CANCELED),
    [CKD_JOB_WAITING] = B(QUEUED) | B(RESOLVING) | B(PAUSED) | B(FAILED) | B(CANCELED),
    [CKD_JOB_PAUSED] = B(QUEUED) | B(CANCELED),
    [CKD_JOB_DONE] = B(QUEUED), /* published, not known durable, and the machine restarted:
                                 * checked again (durable.c) */
    [CKD_JOB_FAILED] = B(QUEUED) | B(CANCELED),
    [CKD_JOB_CANCELED] = 0,
};
#undef B

int ckd_job_transition_ok(enum ckd_job_state from, enum ckd_job_state to)
{
    if (from >= CKD_JOB_NSTATES || to >= CKD_JOB_NSTATES) return 0;
    return from == to || (job_next[from] & (1u << to)) != 0;
}

#define F(s) (1u << CKD_FILE_##s)
static const unsigned file_next[] = {
    [CKD_FILE_PENDING] = F(ACTIVE) | F(FETCHED) | F(VERIFIED) | F(FAILED),
    [CKD_FILE_ACTIVE] = F(PENDING) | F(FETCHED) | F(FAILED),
    [CKD_FILE_FETCHED] = F(PENDING) | F(VERIFIED) | F(FAILED),
    [CKD_FILE_VERIFIED] = F(PENDING),
    [CKD_FILE_FAILED] = F(PENDING),
};
#undef F

int ckd_file_transition_ok(enum ckd_file_state from, enum ckd_file_state to)
{
    if ((unsigned)from > CKD_FILE_FAILED || (unsigned)to > CKD_FILE_FAILED) return 0;
    return from == to || (file_next[from] & (1u << to)) != 0;
}

int ckd_job_set_state(ckd_job *j, enum ckd_job_state to, const char *error)
{
    enum ckd_job_state from = j->state;
    if (!ckd_job_transition_ok(from, to)) {
        ckd_error("job %lld: refusing the transition %s -> %s", (long long)j->id,
                  ckd_job_state_name(from), ckd_job_state_name(to));
        assert(!"job state transition not allowed");
        return -EINVAL;
    }
    if (error != j->error) {
        free(j->error);
        j->error = error ? strdup(error) : NULL;
    }
    j->state = to;
    j->updated = ckd_wall_s();
    if (from != to)
        ckd_job_log(j, to == CKD_JOB_FAILED ? "error" : "info", "%s -> %s%s%s",
                    ckd_job_state_name(from), ckd_job_state_name(to), error ? ": " : "",
                    error ? error : "");
    /* A finished job keeps what its view shows (paths, sizes, hashes), not
     * the ranges' hash states: a history of large jobs stays small. */
    if (to == CKD_JOB_DONE && j->xfers == 0)
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file_segs_free(&j->files[i]);
            ckd_file_zstd_release(&j->files[i]);
        }
    ckd_store_job_update(&j->d->store, j->id, ckd_job_state_name(to), j->error, j->updated);
    /* A job's state is journaled before anyone hears of it (few per job). */
    ckd_store_commit(&j->d->store);
    if (j->d->job_changed) j->d->job_changed(j->d, j, from);
    return 0;
}

int ckd_file_set_state(ckd_file *f, enum ckd_file_state to, int persist)
{
    enum ckd_file_state from = f->state;
    if (!ckd_file_transition_ok(from, to)) {
        ckd_error("job %lld: file '%s': refusing the transition %s -> %s", (long long)f->job->id,
                  f->path, ckd_file_state_name(from), ckd_file_state_name(to));
        assert(!"file state transition not allowed");
        return -EINVAL;
    }
    f->state = to;
    if (persist) ckd_file_persist(f);
    return 0;
}

void ckd_seg_save(ckd_file *f, const ckd_seg *s)
{
    ckd_seg_row r = {.job_id = f->job->id,
                     .idx = f->idx,
                     .start = s->start,
                     .end = s->end,
                     .done = s->jhash[0] ? s->journaled : 0,
                     .hash = s->jhash[0] ? s->jhash : NULL};
    ckd_store_seg_insert(&f->job->d->store, &r);
}

void ckd_file_save_layout(ckd_file *f)
{
    ckd_store_seg_delete(&f->job->d->store, f->job->id, f->idx);
    for (int i = 0; i < f->nsegs; i++) ckd_seg_save(f, &f->segs[i]);
    f->layout_saved = 1;
}

int ckd_file_persist(ckd_file *f)
{
    f->row_pending = f->state == CKD_FILE_PENDING && !f->error;
    const char *hash = f->state == CKD_FILE_VERIFIED ? f->hash : NULL;
    /* A URL set's file verified before it needed a row: a mark (one row
     * for many files) is enough, the source gives the rest back. */
    if (!f->has_row && hash && f->job->spec.kind == CKD_KIND_URLS &&
        ckd_store_mark_verified(&f->job->d->store, f->job->id, f->idx, f->size, hash,
                                f->validator) == 0)
        return 0;
    if (f->has_row)
        return ckd_store_file_update(&f->job->d->store, f->job->id, f->idx,
                                     ckd_file_state_name(f->state), f->size, hash, f->validator,
                                     f->error);
    ckd_file_row fr = {.job_id = f->job->id,
                       .idx = f->idx,
                       .unit = f->unit,
                       .url = f->url,
                       .path = f->path,
                       .size = f->size,
                       .size_given = f->size_given,
                       .expect = f->expect[0] ? f->expect : NULL,
                       .hash = hash,
                       .state = ckd_file_state_name(f->state),
                       .validator = f->validator,
                       .error = f->error,
                       .zstd = f->zstd};
    int rc = ckd_store_file_insert(&f->job->d->store, &fr);
    if (rc == 0) f->has_row = 1;
    return rc;
}

/* ---- model helpers --------------------------------------------------------- */

static int64_t file_bytes_done(const ckd_file *f)
{
    if ((f->state == CKD_FILE_VERIFIED || f->state == CKD_FILE_FETCHED) && f->size >= 0)
        return f->size;
    int64_t n = 0;
    for (int i = 0; i < f->nsegs; i++) n += f->segs[i].written;
    return n;
}

int64_t ckd_job_bytes_done(const ckd_job *j)
{
    if (j->dropped_files) return j->dropped_bytes;
    int64_t n = 0;
    for (size_t i = 0; i < j->nfiles; i++) n += file_bytes_done(&j->files[i]);
    for (size_t u = 0; u < j->nunits; u++) n += j->units[u].arc_bytes;
    return n;
}

int64_t ckd_job_bytes_total(const ckd_job *j)
{
    if (j->dropped_files) return j->dropped_bytes;
    int64_t n = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        if (j->files[i].size < 0) return -1;
        n += j->files[i].size;
    }
    return n;
}

size_t ckd_job_nfiles(const ckd_job *j)
{
    return j->dropped_files ? j->dropped_files : j->nfiles;
}

void ckd_file_segs_free(ckd_file *f)
{
    for (int i = 0; i < f->nsegs; i++) XXH3_freeState(f->segs[i].hash);
    free(f->segs);
    f->segs = NULL;
    f->nsegs = 0;
}

int ckd_file_segs_alloc(ckd_file *f, int n)
{
    ckd_file_segs_free(f);
    f->segs = calloc((size_t)n, sizeof(ckd_seg));
    if (!f->segs) return -ENOMEM;
    f->nsegs = n;
    for (int i = 0; i < n; i++) {
        f->segs[i].file = f;
        f->segs[i].hash = XXH3_createState();
        if (!f->segs[i].hash) return -ENOMEM;
        XXH3_128bits_reset(f->segs[i].hash);
    }
    return 0;
}

void ckd_file_zstd_release(ckd_file *f)
{
    XXH3_freeState(f->hash_frame);
    f->hash_frame = NULL;
    f->dec = f->frame_c = f->frame_d = 0;
}

int ckd_file_zstd_init(ckd_file *f)
{
    ckd_file_zstd_release(f);
    f->hash_frame = XXH3_createState();
    if (!f->hash_frame) return -ENOMEM;
    XXH3_128bits_reset(f->hash_frame);
    return 0;
}

void ckd_file_release(ckd_file *f)
{
    ckd_file_segs_free(f);
    ckd_file_zstd_release(f);
    if (f->fd >= 0) close(f->fd);
    free(f->url);
    free(f->path);
    free(f->validator);
    free(f->error);
}

void ckd_unit_release(ckd_unit *u)
{
    ckd_storage_auth_release(&u->auth);
    free(u->uuid);
    free(u->target);
    free(u->staging);
    free(u->storage);
    json_decref(u->checkpoint);
    json_decref(u->dirs);
}

void ckd_job_free(ckd_job *j)
{
    assert(!j->follow); /* stopped (follow.c) before the job goes */
    for (size_t i = 0; i < j->nfiles; i++) ckd_file_release(&j->files[i]);
    free(j->files);
    free(j->fetched);
    free(j->kind);
    json_decref(j->source);
    json_decref(j->options);
    free(j->output);
    for (size_t i = 0; i < j->nunits; i++) ckd_unit_release(&j->units[i]);
    free(j->units);
    free(j->error);
    j->magic = 0;
    free(j);
}

/* The directory a file is written to until its unit is published. */
const char *ckd_file_staging_dir(const ckd_file *f)
{
    return f->job->units[f->unit].staging;
}

char *ckd_file_staging_path(const ckd_file *f)
{
    return ckd_path_join(ckd_file_staging_dir(f), f->path);
}

const char *ckd_job_source_str(const ckd_job *j, const char *key)
{
    return json_string_value(json_object_get(j->source, key));
}

void ckd_job_link(ckd_daemon *d, ckd_job *j)
{
    ckd_job **pp = &d->jobs;
    while (*pp && (*pp)->id < j->id) pp = &(*pp)->next;
    j->next = *pp;
    *pp = j;
}

ckd_job *ckd_job_find(ckd_daemon *d, int64_t id)
{
    for (ckd_job *j = d->jobs; j; j = j->next)
        if (j->id == id) return j;
    return NULL;
}

ckd_job *ckd_job_new(ckd_daemon *d)
{
    ckd_job *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->magic = CKD_JOB_MAGIC;
    j->d = d;
    return j;
}

int ckd_job_add_unit(ckd_job *j, const ckd_unit *u)
{
    ckd_unit *nu = realloc(j->units, (j->nunits + 1) * sizeof(*nu));
    if (!nu) return -ENOMEM;
    j->units = nu;
    ckd_unit *x = &j->units[j->nunits];
    *x = *u;
    x->uuid = u->uuid ? strdup(u->uuid) : NULL;
    x->target = strdup(u->target);
    x->staging = strdup(u->staging);
    x->storage = u->storage ? strdup(u->storage) : NULL;
    x->checkpoint = u->checkpoint ? json_incref(u->checkpoint) : NULL;
    x->dirs = u->dirs ? json_incref(u->dirs) : json_array();
    x->auth = u->auth; /* ownership moves to the job */
    x->auth.cache = j->d ? j->d->cache : NULL;
    x->archive = NULL;
    x->sums_file = -1;
    x->sums_state = 0; /* CKD_CHECKSUMS_UNREAD */
    x->nfiles = x->verified = 0;
    x->durable = 1; /* nothing published yet: nothing to sync */
    j->nunits++;
    if (!x->target || !x->staging) return -ENOMEM;
    char *cp = x->checkpoint ? json_dumps(x->checkpoint, JSON_COMPACT) : NULL;
    char *dirs = json_dumps(x->dirs, JSON_COMPACT);
    ckd_unit_row r = {.job_id = j->id,
                      .idx = (int)j->nunits - 1,
                      .kind = x->kind,
                      .status = x->status,
                      .uuid = x->uuid,
                      .target = x->target,
                      .staging = x->staging,
                      .storage = x->storage,
                      .checkpoint = cp,
                      .dirs = dirs,
                      .write_metadata = x->write_metadata,
                      .via = x->via};
    int rc = ckd_store_unit_insert(&j->d->store, &r);
    free(cp);
    free(dirs);
    return rc;
}

static int add_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                    const char *expect, int zstd, int record)
{
    if (j->nfiles == j->files_cap) {
        /* Doubling: 100,000 files are added one by one. */
        size_t ncap = j->files_cap ? j->files_cap * 2 : 16;
        ckd_file *nf = realloc(j->files, ncap * sizeof(*nf));
        if (!nf) return -ENOMEM;
        j->files = nf;
        j->files_cap = ncap;
    }
    ckd_file *f = &j->files[j->nfiles];
    memset(f, 0, sizeof(*f));
    f->job = j;
    f->idx = (int)j->nfiles;
    f->unit = unit;
    f->fd = -1;
    f->url = strdup(url);
    f->path = strdup(path);
    f->size = size; /* zstd: the decoded size (the stream's is not known) */
    f->size_given = size >= 0;
    f->zstd = zstd;
    f->state = CKD_FILE_PENDING;
    if (expect)
        for (int k = 0; k < 33; k++) f->expect[k] = (char)tolower((unsigned char)expect[k]);
    j->nfiles++;
    j->units[unit].nfiles++;
    if (j->units[unit].kind == CKD_UNIT_CHECKPOINT && strcmp(path, CKD_CHECKSUMS_NAME) == 0)
        j->units[unit].sums_file = f->idx;
    if (!f->url || !f->path) return -ENOMEM;
    f->row_pending = 1;
    return record ? ckd_file_persist(f) : 0;
}

int ckd_job_add_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                     const char *expect, int zstd)
{
    return add_file(j, unit, url, path, size, expect, zstd, 1);
}

int ckd_job_add_source_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                            const char *expect, int zstd)
{
    return add_file(j, unit, url, path, size, expect, zstd, 0);
}

int ckd_file_all_written(const ckd_file *f)
{
    if (f->nsegs == 0) return 0;
    for (int i = 0; i < f->nsegs; i++) {
        const ckd_seg *s = &f->segs[i];
        if (s->xfer || s->inflight || s->end < 0 || s->start + s->written != s->end) return 0;
    }
    return 1;
}

void ckd_job_files_release(ckd_job *j)
{
    for (size_t i = 0; i < j->nfiles; i++) ckd_file_release(&j->files[i]);
    free(j->files);
    j->files = NULL;
    j->nfiles = j->files_cap = 0;
}

void ckd_job_forget_resolution(ckd_job *j)
{
    ckd_job_files_release(j);
    j->files_verified = j->files_failed = 0;
    for (size_t i = 0; i < j->nunits; i++) ckd_unit_release(&j->units[i]);
    free(j->units);
    j->units = NULL;
    j->nunits = 0;
    ckd_store_job_forget_files(&j->d->store, j->id);
}

void ckd_job_resolve_later(ckd_job *j, const char *msg)
{
    j->resolve_attempts++;
    uint64_t delay = 1000ull << (j->resolve_attempts < 6 ? j->resolve_attempts : 6);
    if (delay > 60000) delay = 60000;
    delay = delay / 2 + (uint64_t)rand() % (delay / 2 + 1);
    j->not_before_ms = ckd_now_ms() + delay;
    char why[900];
    ckp_fmt(why, sizeof(why), "%s; retrying in %.0fs", msg, (double)delay / 1000.0);
    ckd_job_set_state(j, CKD_JOB_WAITING, why);
}

void ckd_job_resolved(ckd_job *j)
{
    j->resolve_attempts = 0;
    ckd_store_commit(&j->d->store);
    j->prepared = 0; /* the scheduler starts the prepare pass */
    ckd_job_set_state(j, CKD_JOB_RUNNING, NULL);
    ckd_sched_kick(j->d);
}

int ckd_file_idle(const ckd_file *f)
{
    if (f->opening || f->io) return 0;
    for (int i = 0; i < f->nsegs; i++)
        if (f->segs[i].xfer || f->segs[i].inflight) return 0;
    return 1;
}

/* Back to nothing: used when the server's copy changed or a hash was wrong. */
void ckd_file_reset(ckd_file *f)
{
    ckd_file_segs_free(f);
    ckd_file_zstd_release(f);
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    /* A later open must not find old bytes: remove the staging file now. A
     * single unlink of a small path is cheap enough for the loop. */
    char *path = ckd_file_staging_path(f);
    if (path) unlink(path);
    free(path);
    f->hash[0] = '\0';
    if (!f->size_given) f->size = -1;
    f->layout_saved = 0;
    f->reset_pending = 0;
    f->probe_ms = 0; /* the new first stream is probed again */
    f->probe_from = 0;
    f->split_done = 0;
    /* no_ranges stays: a server that ignored a range does so again (a file
     * laid out in ranges would otherwise restart until its budget ends). */
    ckd_store_seg_delete(&f->job->d->store, f->job->id, f->idx);
    ckd_file_persist(f);
}

void ckd_job_tick_rate(ckd_job *j, uint64_t now)
{
    /* A ring of (time, bytes) samples; the rate spans the oldest to now. */
    int64_t bytes = ckd_job_bytes_done(j);
    int n = j->rate_n < 16 ? j->rate_n : 16;
    int slot = j->rate_n % 16;
    j->rate_bytes[slot] = bytes;
    j->rate_ms[slot] = now;
    j->rate_n++;
    n = j->rate_n < 16 ? j->rate_n : 16;
    int oldest = j->rate_n <= 16 ? 0 : j->rate_n % 16;
    uint64_t dt = now - j->rate_ms[oldest];
    j->rate = (n > 1 && dt > 0) ? (double)(bytes - j->rate_bytes[oldest]) * 1000.0 / (double)dt : 0;
    if (j->rate < 0) j->rate = 0;
}

void ckd_jobs_free(ckd_daemon *d)
{
    while (d->jobs) {
        ckd_job *j = d->jobs;
        d->jobs = j->next;
        ckd_job_free(j);
    }
}

int ckd_job_forget(ckd_job *j)
{
    if (!ckd_job_terminal(j) || !ckd_job_quiet(j) || j->publishing || j->follow || j->preparing ||
        j->flushing || (j->state != CKD_JOB_DONE && !j->cleaned))
        return -EBUSY;
    for (size_t u = 0; u < j->nunits; u++)
        if (j->units[u].archive) return -EBUSY;
    ckd_daemon *d = j->d;
    for (ckd_job **pp = &d->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    ckd_store_job_delete(&d->store, j->id);
    ckd_debug("job %lld: forgotten (%s, last updated %lld)", (long long)j->id,
              ckd_job_state_name(j->state), (long long)j->updated);
    ckd_job_free(j);
    return 0;
}

void ckd_file_fail(ckd_file *f, const char *fmt, ...)
{
    ckd_job *j = f->job;
    if (f->state == CKD_FILE_FAILED) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(f->error);
    f->error = strdup(msg);
    ckd_file_set_state(f, CKD_FILE_FAILED, 1);
    j->files_failed++;
    j->fd_cleanup = 1;
    j->stop_pending = 1; /* the scheduler stops its transfers */
    ckd_job_log(j, "error", "%s", msg);
    ckd_sched_kick(j->d);
}

uint64_t ckd_backoff_ms(int attempt)
{
    uint64_t cap = 250ull << (attempt < 8 ? (attempt > 0 ? attempt : 0) : 8);
    if (cap > 30000) cap = 30000;
    return (uint64_t)rand() % (cap + 1);
}

void ckd_file_restart(ckd_file *f, const char *why)
{
    /* The other transfers of a file that is restarting report the same
     * change (or its echo, a refused If-Range): one restart, counted once. */
    if (f->reset_pending) return;
    free(f->validator);
    f->validator = NULL;
    const ckd_unit *un = &f->job->units[f->unit];
    if (f->url && ckd_storage_auth_via_cache(&un->auth, f->url)) {
        /* Its bytes came through the fleet cache: not from there again. */
        ckd_cache_bypass(un->auth.cache, f->url, ckd_now_ms());
        ckd_job_log(f->job, "warn",
                    "'%s' came through the cache %s: %s; fetching it from the origin", f->path,
                    un->auth.cache->cfg.url, why);
    }
    /* The scheduler stops its transfers; the reset itself waits until
     * nothing of the file is in flight (also for a file that fails here:
     * a resume starts it from zero). */
    f->reset_pending = 1;
    f->job->stop_pending = 1;
    if ((size_t)f->idx < f->job->sched_from) f->job->sched_from = (size_t)f->idx;
    if (++f->restarts > CKD_RESTART_MAX) {
        ckd_file_fail(f, "gave up on '%s' after %d restarts from zero: %s", f->path,
                      CKD_RESTART_MAX, why);
        return;
    }
    uint64_t delay = ckd_backoff_ms(f->restarts);
    f->not_before_ms = ckd_now_ms() + delay;
    ckd_job_log(f->job, "warn", "restarting '%s' from zero in %.1fs (restart %d of %d): %s",
                f->path, (double)delay / 1000.0, f->restarts, CKD_RESTART_MAX, why);
    if (f->state != CKD_FILE_PENDING) ckd_file_set_state(f, CKD_FILE_PENDING, 0);
    ckd_sched_kick(f->job->d);
}

void ckd_job_disk_error(ckd_job *j, const char *path, int err)
{
    if (ckd_job_terminal(j) || j->state == CKD_JOB_PAUSED) return;
    char msg[1200];
    snprintf(msg, sizeof(msg), "cannot write '%s': %s", path, strerror(-err));
    ckd_job_set_state(j, CKD_JOB_FAILED, msg);
    ckd_sched_kick(j->d);
}
