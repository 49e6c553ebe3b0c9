/* The scheduler: one pass (on the next loop iteration after a kick) hands
 * connections to jobs by priority, lays files out in ranges, starts the
 * fetch sources, stops work that is no longer wanted, starts prepare and
 * publish passes and ends jobs. See sched.h. */
#include "schedule.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksums.h"
#include "copy.h"
#include "follow.h"
#include "fsutil.h"
#include "log.h"
#include "master_archive.h"
#include "outcome.h"
#include "prepare.h"
#include "publish.h"
#include "resolve.h"
#include "verify.h"
#include "xfer.h"

#define MIN_SEGMENT (4 << 20)
/* How far past the bytes already received a running stream is cut. */
#define SPLIT_SLACK (1 << 20)

/* Opening a staging file in the pool: the work sees only this request,
 * never the file (the loop may read the file meanwhile). */
typedef struct open_req {
    uv_work_t work;
    ckd_file *file; /* for the loop's half only */
    char *path;     /* staging dir/rel */
    char *dir;
    char *rel;
    int64_t size; /* preallocated when known */
    int fd;
    int err;
} open_req;

static void stop_files(ckd_job *j);
static void sched_run(ckd_daemon *d);
static void file_open_work(uv_work_t *req);
static void file_open_done(uv_work_t *req, int status);
static int copy_start(ckd_daemon *d, ckd_file *f, const char *src, int twin);
static int worker_opens(const ckd_file *f);
static int file_open_start(ckd_daemon *d, ckd_file *f);

static void on_kick(uv_timer_t *t)
{
    sched_run(t->data);
}

void ckd_sched_init(ckd_daemon *d)
{
    d->kick.data = d;
    d->run_sched = on_kick;
}

void ckd_sched_stop_job(ckd_job *j)
{
    j->stop_pending = 0;
    j->fd_cleanup = 1;
    for (size_t u = 0; u < j->nunits; u++) ckd_tar_abort(j->units[u].archive);
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
        if (f->state == CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_PENDING, 0);
        f->held = 0; /* written but unverified: written again on resume */
    }
}

/* A running job's files that failed, restart from zero, or moved to the
 * master's archive: their transfers stop. */
static void stop_files(ckd_job *j)
{
    j->stop_pending = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        int via_master = j->units[f->unit].via == CKD_VIA_MASTER;
        if (f->state != CKD_FILE_FAILED && !f->reset_pending && !via_master) continue;
        for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
    }
}

/* A local copy (mounted storage, or a verified copy published elsewhere):
 * the whole file in the pool; its outcome comes back as a value. */
static int copy_start(ckd_daemon *d, ckd_file *f, const char *src, int twin)
{
    char *dst = ckd_file_staging_path(f);
    if (!dst) return -ENOMEM;
    ckd_copy_spec c = {.job = f->job->id,
                       .file = f->idx,
                       .src = src,
                       .dst = dst,
                       .dir = ckd_file_staging_dir(f),
                       .rel = f->path,
                       .twin = twin};
    int rc = ckd_copy_start(d->loop, &c, d, ckd_outcome_report);
    free(dst);
    if (rc < 0) return rc;
    f->twin = twin;
    if (f->state != CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_ACTIVE, 0);
    f->hash[0] = '\0';
    f->io++;
    f->job->busy++;
    d->copies++;
    return 0;
}

/* How a large file is cut into ranges. Ranges pay for a slow connection
 * (an object store gives 50-100 MB/s per connection), but each costs a
 * connection, writes that contend for one file, and the read-back pass that
 * hashes a file fetched in ranges (from where the first range ends, whose
 * stream hashed its own bytes: verify.c). So a large file starts in one
 * range per data-plane worker, each on its own core (on loopback, 2 GiB:
 * one stream 1.3-1.5 s, two 0.95-1.15 s, sixteen slower than one at twice
 * the CPU); after SPLIT_PROBE_MS, when a connection carries less than
 * split_below bytes/s, the network is the limit and the running ranges are
 * cut further, up to max_segments. split_below 0: max_segments at once. */
#define SPLIT_PROBE_MS 500

static int64_t bytes_written(const ckd_file *f)
{
    int64_t n = 0;
    for (int k = 0; k < f->nsegs; k++) n += f->segs[k].written;
    return n;
}

static int first_ranges(const ckd_daemon *d)
{
    const ckd_config *cfg = &d->cfg;
    int n = cfg->split_below == 0 ? (int)cfg->max_segments : d->xe.nworkers;
    return n < cfg->max_segments ? n : (int)cfg->max_segments;
}

/* Decides how a file is cut into ranges before its first transfer. */
static int file_layout(ckd_file *f)
{
    const ckd_config *cfg = &f->job->d->cfg;
    int n = 1;
    if (f->zstd && ckd_file_zstd_init(f) < 0) return -ENOMEM;
    if (f->size >= cfg->segment_threshold && !f->no_ranges && !f->zstd) {
        int64_t by_size = f->size / MIN_SEGMENT, first = first_ranges(f->job->d);
        n = (int)(by_size < first ? by_size : first);
        if (n < 1) n = 1;
    }
    if (ckd_file_segs_alloc(f, n) < 0) return -ENOMEM;
    int64_t step = f->size >= 0 ? f->size / n : 0;
    for (int i = 0; i < n; i++) {
        f->segs[i].start = (int64_t)i * step;
        f->segs[i].end = i == n - 1 ? f->size : (int64_t)(i + 1) * step;
    }
    if (f->zstd) f->segs[0].end = -1; /* the stream's length is not the file's */
    /* Journal rows for anything big enough to be worth resuming (a file of
     * unknown size gets them once its size shows it is: xfer.c). */
    f->layout_saved = 0;
    if (n > 1 || f->size >= cfg->journal_step || f->zstd) ckd_file_save_layout(f);
    return 0;
}

/* Cuts the rest of running range k into up to `pieces` ranges: k ends
 * earlier, the new ones are appended (ranges are found by index, never
 * moved). The number added. */
static int split_seg(ckd_file *f, int k, int pieces)
{
    ckd_seg *s = &f->segs[k];
    if (!s->xfer || s->end < 0) return 0;
    int64_t at = s->start + s->written + (int64_t)SPLIT_SLACK;
    int64_t rest = s->end - at;
    int n = rest > 0 ? (int)(rest / MIN_SEGMENT) : 0;
    if (n > pieces - 1) n = pieces - 1;
    if (n < 1) return 0;
    ckd_seg *ns = realloc(f->segs, (size_t)(f->nsegs + n) * sizeof(*ns));
    if (!ns) return 0;
    f->segs = ns;
    s = &f->segs[k];
    int64_t step = rest / (n + 1), end = s->end;
    s->end = at + step;
    ckd_xfer_set_end(s, s->end);
    ckd_seg_save(f, s);
    int64_t from = s->end;
    for (int i = 0; i < n; i++) {
        ckd_seg *t = &f->segs[f->nsegs + i];
        memset(t, 0, sizeof(*t));
        t->file = f;
        t->start = from;
        t->end = i == n - 1 ? end : from + step;
        from = t->end;
        t->hash = XXH3_createState();
        XXH3_128bits_reset(t->hash);
        ckd_seg_save(f, t);
    }
    f->nsegs += n;
    f->layout_saved = 1;
    return n;
}

/* Splits a large file's running ranges (see first_ranges). A file of
 * unknown size that turned out large is cut at once, like one laid out
 * knowing its size; after SPLIT_PROBE_MS, slow connections cut further. */
static void file_probe(ckd_file *f, uint64_t now)
{
    ckd_daemon *d = f->job->d;
    const ckd_config *cfg = &d->cfg;
    if (f->split_done || !f->probe_ms || f->size < cfg->segment_threshold || f->no_ranges ||
        f->zstd || f->nsegs >= cfg->max_segments)
        return;
    if (f->fd < 0) {
        /* Its worker opened it: ranges need the file open here too. */
        if (!f->opening) file_open_start(d, f);
        return;
    }
    if (f->nsegs == 1 && first_ranges(d) > 1) {
        if (f->segs[0].end < 0) return; /* the size is not known yet */
        if (split_seg(f, 0, first_ranges(d)) > 0) return;
    }
    uint64_t ms = now - f->probe_ms;
    if (ms < SPLIT_PROBE_MS) return;
    int running = 0;
    for (int k = 0; k < f->nsegs; k++) running += !!f->segs[k].xfer;
    double rate =
        (double)(bytes_written(f) - f->probe_from) * 1000.0 / (double)ms / (running ? running : 1);
    f->split_done = 1;
    if (cfg->split_below == 0 || rate >= (double)cfg->split_below) return;
    int pieces = (int)cfg->max_segments / (f->nsegs ? f->nsegs : 1), added = 0;
    for (int k = 0, n = f->nsegs; k < n && f->nsegs < cfg->max_segments; k++)
        added += split_seg(f, k, pieces);
    if (added)
        ckd_job_log(f->job, "debug", "'%s': %.0f MB/s per connection: %d ranges", f->path,
                    rate / 1e6, f->nsegs);
}

/* No file of unit u has a transfer or pool work in flight. */
static int unit_idle(const ckd_job *j, int u)
{
    for (size_t i = 0; i < j->nfiles; i++)
        if (j->files[i].unit == u && !ckd_file_idle(&j->files[i])) return 0;
    return 1;
}

/* After a restart an object-store unit has no credentials in memory (they
 * are never stored): find them again from the environment or the files. */
static int unit_find_creds(ckd_file *f)
{
    ckd_unit *un = &f->job->units[f->unit];
    json_t *cfg = json_object_get(
        json_object_get(json_object_get(un->checkpoint, "training"), "experimentConfig"),
        "checkpoint_storage");
    ckd_det_storage st = {0};
    char err[600] = "";
    int rc = ckd_det_storage_from_json(cfg, &st, err, sizeof(err));
    if (rc == 0) rc = ckd_storage_auth_resolve(&un->auth, &st, err, sizeof(err));
    ckd_det_storage_release(&st);
    if (rc < 0) {
        ckd_file_fail(f, "checkpoint %s: %s", un->uuid, err[0] ? err : "out of memory");
        return rc;
    }
    return 0;
}

/* The same checkpoint wanted in another place: 1 while an earlier job still
 * fetches it there (wait, then copy it locally); 0 with *src set to a
 * verified copy of f that ckptd published there (and f->expect set to its
 * hash); -1 when f must come from its source. */
static int twin_source(const ckd_file *f, char **src, char expect[33])
{
    const ckd_job *j = f->job;
    const ckd_unit *un = &j->units[f->unit];
    *src = NULL;
    if (un->kind != CKD_UNIT_CHECKPOINT || f->no_twin) return -1;
    int wait = 0;
    for (const ckd_job *k = j->d->jobs; k; k = k->next) {
        for (size_t v = 0; v < k->nunits; v++) {
            const ckd_unit *o = &k->units[v];
            if (o == un || o->kind != CKD_UNIT_CHECKPOINT || strcmp(o->uuid, un->uuid) != 0 ||
                strcmp(o->target, un->target) == 0)
                continue;
            if (o->status == CKD_UNIT_PENDING) {
                /* Only earlier jobs are waited for: two never wait for each other. */
                wait |= k->id < j->id && !ckd_job_terminal(k) && k->state != CKD_JOB_PAUSED;
                continue;
            }
            for (size_t i = 0; i < k->nfiles; i++) {
                const ckd_file *g = &k->files[i];
                if ((size_t)g->unit != v || g->state != CKD_FILE_VERIFIED ||
                    strcmp(g->path, f->path) != 0 || (f->expect[0] && strcmp(f->expect, g->hash)))
                    continue;
                /* A copy removed since (one access(2) here is cheap) is no source. */
                char *path = ckd_path_join(o->target, f->path);
                if (!path || access(path, R_OK) != 0) {
                    free(path);
                    break;
                }
                *src = path;
                memcpy(expect, g->hash, 33);
                return 0;
            }
        }
    }
    return wait ? 1 : -1;
}

/* Starts what a file can start; returns the connections it took. */
static int sched_file(ckd_daemon *d, ckd_file *f, int slots, uint64_t now)
{
    if (f->reset_pending) {
        /* A restart from zero waits until nothing of the file is in flight. */
        if (!ckd_file_idle(f)) return 0;
        ckd_file_reset(f);
    }
    if (f->not_before_ms > now) return 0; /* restart back-off */
    if (f->state != CKD_FILE_PENDING && f->state != CKD_FILE_ACTIVE) return 0;
    ckd_unit *un = &f->job->units[f->unit];
    /* A checkpoint's checksums.xxh128 comes first (the archive brings it
     * along with the rest, holding early files until it is applied). */
    if (ckd_checksums_gate(f) && un->via != CKD_VIA_MASTER) return 0;
    if (f->state == CKD_FILE_PENDING && ckd_file_idle(f) && !un->archive) {
        /* Fetched once, copied to every other place that wants it. */
        char *src, expect[33];
        int t = twin_source(f, &src, expect);
        if (t == 1) return 0;
        if (t == 0) {
            memcpy(f->expect, expect, sizeof(f->expect));
            if (!un->twin_logged)
                ckd_job_log(f->job, "info",
                            "checkpoint %s: copying its files from '%.*s', a verified copy here",
                            un->uuid, (int)(strlen(src) - strlen(f->path) - 1), src);
            un->twin_logged = 1;
            int rc = copy_start(d, f, src, 1);
            free(src);
            return rc == 0 ? 1 : 0;
        }
    }
    if (f->twin) return 0; /* its local copy is in flight */
    if (un->via == CKD_VIA_MASTER) {
        /* One archive brings every pending file of the checkpoint. */
        if (un->archive || f->state != CKD_FILE_PENDING || now < un->arc_not_before_ms ||
            !unit_idle(f->job, f->unit))
            return 0;
        return ckd_master_archive_start(f->job, (size_t)f->unit) == 0 ? 1 : 0;
    }
    if (strncmp(f->url, "file://", 7) == 0) {
        /* Mounted storage: one local copy, no ranges. */
        if (f->state != CKD_FILE_PENDING || !ckd_file_idle(f)) return 0;
        return copy_start(d, f, f->url + strlen("file://"), 0) == 0 ? 1 : 0;
    }
    if (ckd_storage_is_object_store(un->storage) && !ckd_storage_auth_ready(&un->auth) &&
        unit_find_creds(f) < 0)
        return 0;
    if (f->nsegs == 0 && file_layout(f) < 0) return 0;
    if (f->state == CKD_FILE_PENDING && ckd_file_all_written(f) && ckd_file_idle(f)) {
        /* Empty files, and files whose ranges were all re-proven. */
        ckd_file_finish(f);
        return 0;
    }
    if (f->probe_ms && !f->split_done) file_probe(f, now);
    /* The data plane writes into an open fd shared by a file's ranges: a
     * file in ranges (or one that may be split) is opened in the pool before
     * any range starts; a smaller file's one range is opened by the worker
     * that fetches it, without a trip through the pool. An open in flight
     * holds a connection slot, so that no more files are open than
     * transfers may run. */
    if (f->fd < 0 && !worker_opens(f)) {
        if (f->opening || !ckd_file_idle(f) || slots <= 0) return 0;
        return file_open_start(d, f);
    }
    int taken = 0;
    for (int i = 0; i < f->nsegs && taken < slots; i++) {
        ckd_seg *s = &f->segs[i];
        if (s->xfer || s->inflight || s->not_before_ms > now) continue;
        if (s->end >= 0 && s->start + s->written >= s->end) continue;
        if (ckd_xfer_start(d, s) == 0) {
            taken++;
            if (!f->probe_ms) f->probe_ms = now, f->probe_from = bytes_written(f);
            if (f->state != CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_ACTIVE, 0);
        }
    }
    return taken;
}

/* One range of a file below segment_threshold (or of unknown size, not
 * zstd): its worker opens it. */
static int worker_opens(const ckd_file *f)
{
    return f->nsegs == 1 && !f->zstd && f->size < f->job->d->cfg.segment_threshold;
}

/* Opens f's staging file in the pool (file_open_done takes the fd). 1 when
 * queued. */
static int file_open_start(ckd_daemon *d, ckd_file *f)
{
    open_req *r = calloc(1, sizeof(*r));
    if (r) {
        r->file = f;
        r->path = ckd_file_staging_path(f);
        r->dir = strdup(ckd_file_staging_dir(f));
        r->rel = strdup(f->path);
        r->size = f->size;
    }
    if (!r || !r->path || !r->dir || !r->rel) {
        if (r) {
            free(r->path);
            free(r->dir);
            free(r->rel);
        }
        free(r);
        return 0;
    }
    f->opening = 1;
    r->work.data = r;
    f->job->busy++;
    d->opening++;
    uv_queue_work(d->loop, &r->work, file_open_work, file_open_done);
    return 1;
}

/* Another, earlier job that is still going writes the same checkpoint to
 * the same place: wait for it and take its copy (publish_done re-checks),
 * instead of downloading it twice. */
static int unit_has_twin(const ckd_job *j, int u)
{
    const ckd_unit *un = &j->units[u];
    if (un->kind != CKD_UNIT_CHECKPOINT || un->status != CKD_UNIT_PENDING) return 0;
    for (const ckd_job *k = j->d->jobs; k && k->id < j->id; k = k->next) {
        if (ckd_job_terminal(k) || k->state == CKD_JOB_PAUSED) continue;
        for (size_t v = 0; v < k->nunits; v++)
            if (k->units[v].status == CKD_UNIT_PENDING && k->units[v].kind == CKD_UNIT_CHECKPOINT &&
                strcmp(k->units[v].target, un->target) == 0)
                return 1;
    }
    return 0;
}

static int file_wants_sched(const ckd_file *f)
{
    return f->state == CKD_FILE_PENDING || f->state == CKD_FILE_ACTIVE || f->reset_pending;
}

/* Closes the staging fds of files that stopped (failed, or their job was
 * paused or failed) once nothing of theirs is in flight. */
static void job_close_idle_fds(ckd_job *j)
{
    if (!j->fd_cleanup) return;
    int left = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        int stopped = f->state == CKD_FILE_FAILED || j->state != CKD_JOB_RUNNING;
        if (f->fd < 0 || !stopped) continue;
        if (ckd_file_idle(f)) {
            close(f->fd);
            f->fd = -1;
        } else {
            left = 1;
        }
    }
    j->fd_cleanup = left;
}

static int cmp_priority(const void *a, const void *b)
{
    const ckd_job *x = *(ckd_job *const *)a, *y = *(ckd_job *const *)b;
    if (x->priority != y->priority) return y->priority - x->priority;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Publishes units whose files are all verified, one at a time; ends the
 * job when every unit is out or nothing more can happen. */
static void job_check_end(ckd_job *j)
{
    if (j->state != CKD_JOB_RUNNING || !j->prepared || j->publishing) return;
    size_t out = 0;
    for (size_t u = 0; u < j->nunits; u++) {
        ckd_unit *un = &j->units[u];
        if (un->status != CKD_UNIT_PENDING) {
            out++;
        } else if (un->verified == un->nfiles) {
            ckd_unit_publish(j, u);
            return;
        }
    }
    if (out == j->nunits) {
        ckd_job_set_state(j, CKD_JOB_DONE, NULL);
        return;
    }
    if (j->files_verified + j->files_failed < j->nfiles || !ckd_job_quiet(j)) return;
    const ckd_file *first = NULL;
    for (size_t i = 0; i < j->nfiles && !first; i++)
        if (j->files[i].state == CKD_FILE_FAILED) first = &j->files[i];
    char msg[1400];
    snprintf(msg, sizeof(msg), "%zu of %zu files failed; first: %s", j->files_failed, j->nfiles,
             first && first->error ? first->error : "?");
    ckd_job_set_state(j, CKD_JOB_FAILED, msg);
}

/* Starts up to budget transfers of one job; returns how many. */
static int sched_job_files(ckd_daemon *d, ckd_job *j, int budget, uint64_t now)
{
    /* Files before sched_from are fetched, verified or failed: skip
     * them, so a pass costs the files in flight, not the whole job. */
    while (j->sched_from < j->nfiles && !file_wants_sched(&j->files[j->sched_from]))
        j->sched_from++;
    int taken = 0;
    for (size_t i = j->sched_from; i < j->nfiles && taken < budget; i++) {
        ckd_file *f = &j->files[i];
        if (file_wants_sched(f) && !unit_has_twin(j, f->unit))
            taken += sched_file(d, f, budget - taken, now);
    }
    return taken;
}

static void sched_run(ckd_daemon *d)
{
    if (d->stopping) return;
    size_t n = 0;
    for (ckd_job *j = d->jobs; j; j = j->next) n++;
    ckd_job **order = malloc((n ? n : 1) * sizeof(*order));
    if (!order) {
        /* Out of memory: try again on the next iteration rather than
         * leave a queued job waiting for an event that may not come. */
        uv_timer_start(&d->kick, d->run_sched, 10, 0);
        return;
    }
    n = 0;
    uint64_t now0 = ckd_now_ms();
    for (ckd_job *j = d->jobs; j; j = j->next) {
        if (j->state == CKD_JOB_WAITING && j->nunits == 0 && now0 >= j->not_before_ms) {
            ckd_job_set_state(j, CKD_JOB_RESOLVING, j->error);
            ckd_resolve_start(j);
        } else if (j->state == CKD_JOB_WAITING && j->nunits > 0 && now0 >= j->not_before_ms &&
                   ckd_job_quiet(j)) {
            ckd_job_set_state(j, CKD_JOB_QUEUED, j->error); /* look at the free space again */
        }
        if (j->state == CKD_JOB_QUEUED || j->state == CKD_JOB_RUNNING) order[n++] = j;
    }
    qsort(order, n, sizeof(*order), cmp_priority);
    uint64_t now = ckd_now_ms();
    int slots = (int)d->cfg.max_connections - d->xe.active - d->copies - d->archives - d->opening;
    /* No starvation: a running job with nothing in flight gets one
     * connection before higher priorities take the rest. */
    for (size_t k = 0; k < n && slots > 1; k++) {
        ckd_job *j = order[k];
        if (j->state == CKD_JOB_RUNNING && j->prepared && j->xfers == 0 && j->busy == 0)
            slots -= sched_job_files(d, j, 1, now);
    }
    for (size_t k = 0; k < n; k++) {
        ckd_job *j = order[k];
        if (j->state == CKD_JOB_QUEUED && j->spec.kind == CKD_KIND_FOLLOW) {
            ckd_follow_start(j); /* polls; its downloads are child jobs */
            continue;
        }
        if (j->state == CKD_JOB_QUEUED && j->nunits == 0) {
            /* A checkpoint job: ask the master what it means first. */
            ckd_job_set_state(j, CKD_JOB_RESOLVING, NULL);
            ckd_resolve_start(j);
            continue;
        }
        if (j->state == CKD_JOB_QUEUED) {
            if (slots <= 0) continue;
            ckd_job_set_state(j, CKD_JOB_RUNNING, NULL);
            ckd_job_prepare(j);
            continue;
        }
        if (j->stop_pending) stop_files(j);
        if (!j->prepared) {
            if (j->state == CKD_JOB_RUNNING && j->nunits > 0) ckd_job_prepare(j);
            continue;
        }
        slots -= sched_job_files(d, j, slots, now);
        job_close_idle_fds(j);
        job_check_end(j);
    }
    free(order);
    /* Jobs that stopped (paused, failed, canceled) and went quiet. */
    for (ckd_job *j = d->jobs; j; j = j->next) {
        if (j->stop_pending && j->state != CKD_JOB_RUNNING && j->state != CKD_JOB_QUEUED)
            ckd_sched_stop_job(j);
        if (j->state == CKD_JOB_CANCELED && !j->cleaned && ckd_job_quiet(j)) ckd_job_cleanup(j);
        if (j->state == CKD_JOB_PAUSED || j->state == CKD_JOB_FAILED) job_close_idle_fds(j);
    }
}

static void file_open_work(uv_work_t *req)
{
    open_req *r = req->data;
    r->fd = -1;
    int rc = ckd_mkdir_parents(r->dir, r->rel);
    if (rc == 0) {
        r->fd = open(r->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (r->fd < 0) rc = -errno;
    }
    if (rc == 0 && r->size >= CKD_PREALLOC_MIN) {
        /* Preallocate: fewer extents, and ENOSPC now rather than midway.
         * Not small files: their blocks come in one piece anyway, and
         * preallocated (unwritten) extents cost a conversion at writeback. */
        struct stat st;
        if (fstat(r->fd, &st) == 0 && st.st_size < r->size &&
            posix_fallocate(r->fd, 0, r->size) != 0 && ftruncate(r->fd, r->size) != 0) {
            close(r->fd);
            r->fd = -1;
            rc = -ENOSPC;
        }
    }
    r->err = rc;
}

static void file_open_done(uv_work_t *req, int status)
{
    open_req *r = req->data;
    ckd_file *f = r->file;
    f->opening = 0;
    f->job->busy--;
    f->job->d->opening--;
    f->fd = r->fd;
    int err = r->err;
    if (f->fd < 0) {
        if (err == -ENAMETOOLONG || err == -ENOTDIR || err == -EISDIR || err == -EEXIST ||
            err == -EINVAL)
            /* This file's name cannot be made here: it fails, the rest go on. */
            ckd_file_fail(f, "cannot create '%s': %s", r->path, strerror(-err));
        else
            ckd_job_disk_error(f->job, r->path, err < 0 ? err : -EIO);
    }
    free(r->path);
    free(r->dir);
    free(r->rel);
    free(r);
    ckd_sched_kick(f->job->d);
}
