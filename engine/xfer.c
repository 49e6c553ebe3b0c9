/* HTTP segment transfers, the loop's side: a segment becomes a work item of
 * the data plane (plane.h) — its worker threads write the body straight
 * into the staging file at its offset and hash it — and the plane's reports
 * come back here, on the loop, as progress (journaled) and one final report
 * (turned into a ckd_outcome). See xfer.h. */
#include "xfer.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckp.h"
#include "durable.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "plane.h"

/* One transfer in the plane; its address is the plane's key. */
typedef struct ckd_xfer {
    uint32_t magic;
    ckd_daemon *d;
    int64_t job; /* the segment, by index (arrays may move meanwhile) */
    int file;
    int seg;
    int detached; /* aborted: no longer the segment's transfer */
} ckd_xfer;

static ckd_seg *xfer_seg(ckd_daemon *d, const ckd_xfer *x, ckd_file **fp)
{
    ckd_job *j = ckd_job_find(d, x->job);
    if (!j || x->file < 0 || (size_t)x->file >= j->nfiles) return NULL;
    ckd_file *f = &j->files[x->file];
    if (x->seg < 0 || x->seg >= f->nsegs) return NULL;
    *fp = f;
    return &f->segs[x->seg];
}

/* Bytes written (and hashed) so far: the segment resumes from here. */
static void take_progress(ckd_daemon *d, ckd_file *f, ckd_seg *s, const ckd_fetch_report *r)
{
    int64_t written = r->written;
    if (s->end >= 0 && s->start + written > s->end) {
        /* Cut short after the stream had passed the new end: the bytes past
         * it are the next range's, and the hash covers them too. */
        written = s->end - s->start;
        s->hash_past = 1;
    }
    if (written > s->written) d->xe.bytes_total += written - s->written;
    s->written = written;
    if (r->hash) XXH3_copyState(s->hash, r->hash);
    if (f->zstd) {
        f->frame_c = written;
        f->dec = f->frame_d = r->decoded;
        if (f->hash_frame && r->hash) XXH3_copyState(f->hash_frame, r->hash);
    }
}

/* Progress rows: the range's bytes from its start and their hash. They are
 * in the page cache, not necessarily on disk: after a restart prepare.c
 * re-hashes them before they are trusted. */
static void journal(ckd_daemon *d, ckd_file *f, ckd_seg *s)
{
    if (f->layout_saved != 1 || s->written <= s->journaled) return;
    char hex[33];
    ckd_hash_state_hex(s->hash, hex);
    ckd_store_seg_progress(&d->store, f->job->id, f->idx, s->start, s->written, hex,
                           f->zstd ? f->dec : 0);
    s->journaled = s->written;
    memcpy(s->jhash, hex, sizeof(s->jhash));
    s->jdecoded = f->zstd ? f->dec : 0;
}

/* What the response told of the file: its validator and size. A file
 * that turned out large enough to be worth resuming gets its journal rows;
 * the file's row is written where a resume needs it (the validator). */
static void learn(ckd_daemon *d, ckd_file *f, const ckd_fetch_report *r)
{
    int changed = 0;
    if (!f->validator && r->validator[0]) {
        f->validator = strdup(r->validator);
        changed = 1;
    }
    if (f->size < 0 && !f->zstd && r->object_size >= 0) {
        f->size = r->object_size;
        /* The one range of a file of unknown size now ends there (and may
         * be split, schedule.c). */
        if (f->nsegs == 1 && f->segs[0].start == 0 && f->segs[0].end < 0) f->segs[0].end = f->size;
        if (f->layout_saved != 1 && f->size >= d->cfg.journal_step) ckd_file_save_layout(f);
        changed = 1;
    }
    if (changed && f->layout_saved == 1) ckd_file_persist(f);
}

static void outcome_of(ckd_daemon *d, ckd_file *f, ckd_seg *s, const ckd_fetch_report *r,
                       ckd_outcome *o)
{
    const ckd_unit *un = &f->job->units[f->unit];
    o->kind = CKD_OUT_RETRY;
    o->retry_after_s = -1;
    snprintf(o->message, sizeof(o->message), "%s", r->message);
    switch (r->end) {
    case CKD_FETCH_OK:
        if (s->end < 0) {
            /* No length was announced: the body ended where the file ends. */
            s->end = s->start + s->written;
            if (f->nsegs == 1 && !f->zstd && !f->size_given) f->size = s->end;
        }
        if (s->start + s->written < s->end) {
            snprintf(o->message, sizeof(o->message), "the server closed the connection early");
            break;
        }
        o->kind = CKD_OUT_OK;
        if (f->zstd && !f->size_given) f->size = f->dec;
        if (f->nsegs == 1 && s->start == 0) {
            /* One stream from byte 0 hashed the whole file in order: no
             * read-back pass (verify.c takes f->hash with the fd closed). */
            ckd_hash_state_hex(s->hash, f->hash);
            if (f->fd >= 0) close(f->fd);
            f->fd = -1;
        }
        break;
    case CKD_FETCH_RETRY:
        o->retry_after_s = r->retry_after_s;
        break;
    case CKD_FETCH_RESTART:
        o->kind = CKD_OUT_RESTART;
        if (f->size_given && !f->zstd && r->object_size >= 0 && r->object_size != f->size) {
            /* Not a change on the server: the job's size is wrong. */
            o->kind = CKD_OUT_FAIL;
            snprintf(o->message, sizeof(o->message),
                     "size mismatch for '%s': server has %lld bytes, expected %lld", f->path,
                     (long long)r->object_size, (long long)f->size);
        } else if (r->http_status == 200) {
            /* The server ignores Range: one stream from zero from now on. */
            f->no_ranges = 1;
        }
        break;
    case CKD_FETCH_DENIED:
        o->kind = ckd_storage_auth_ready(&un->auth) ? CKD_OUT_DENIED : CKD_OUT_FAIL;
        if (un->storage && ckd_storage_auth_ready(&un->auth))
            snprintf(o->message, sizeof(o->message),
                     "%s: the %s server refused the credentials or the signature", r->message,
                     un->storage);
        break;
    case CKD_FETCH_FAIL:
        o->kind = CKD_OUT_FAIL;
        if (r->err < 0) {
            char *path = ckd_file_staging_path(f);
            o->kind = CKD_OUT_DISK;
            o->err = r->err;
            snprintf(o->message, sizeof(o->message), "%s", path ? path : f->path);
            free(path);
        }
        break;
    case CKD_FETCH_ABORTED:
        break;
    }
}

static void on_report(void *ud, const ckd_fetch_report *r)
{
    ckd_daemon *d = ud;
    ckd_xfer *x = (ckd_xfer *)(uintptr_t)r->key;
    assert(x && x->magic == CKD_XFER_MAGIC);
    ckd_file *f = NULL;
    ckd_seg *s = xfer_seg(d, x, &f);
    if (x->detached) {
        /* Stopped by us (pause, restart, stop): keep what reached the file
         * unless the file starts over; the segment may run again now. */
        if (!r->final) return;
        if (s) {
            s->inflight = 0;
            if (!f->reset_pending && f->state != CKD_FILE_FAILED && r->written > s->written)
                take_progress(d, f, s, r);
            f->job->xfers--;
        }
        d->xe.active--;
        x->magic = 0;
        free(x);
        ckd_sched_kick(d);
        return;
    }
    assert(s && s->xfer == x);
    take_progress(d, f, s, r);
    learn(d, f, r);
    journal(d, f, s);
    if (!r->final) {
        /* A large stream of unknown size may now be cut into ranges. */
        if (f->nsegs == 1 && !f->no_ranges && f->size >= d->cfg.segment_threshold)
            ckd_sched_kick(d);
        return;
    }
    s->xfer = NULL;
    f->job->xfers--;
    d->xe.active--;
    ckd_outcome o = {.src = CKD_SRC_HTTP, .job = x->job, .file = x->file, .seg = x->seg};
    outcome_of(d, f, s, r, &o);
    x->magic = 0;
    free(x);
    d->xe.report(d, &o);
}

int ckd_xfer_engine_init(ckd_daemon *d, ckd_outcome_fn report)
{
    ckd_xfer_engine *xe = &d->xe;
    memset(xe, 0, sizeof(*xe));
    xe->report = report;
    long n = d->cfg.workers > 0 ? (long)d->cfg.workers : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    int rc = ckd_plane_init(&xe->plane, d->loop, (int)n, on_report, d);
    if (rc < 0) return rc;
    xe->nworkers = (int)n;
    ckd_xfer_engine_apply_config(d);
    return 0;
}

void ckd_xfer_engine_apply_config(ckd_daemon *d)
{
    if (!d->xe.plane) return;
    ckd_plane_set_rate(d->xe.plane, d->cfg.bandwidth_limit);
    /* buffer_cap bounds libcurl's receive buffers over all transfers. */
    long per =
        (long)(d->cfg.buffer_cap / (d->cfg.max_connections > 0 ? d->cfg.max_connections : 1));
    ckd_plane_set_buffer_size(d->xe.plane,
                              per < CKD_PLANE_BUFFER_SIZE ? per : CKD_PLANE_BUFFER_SIZE);
}

void ckd_xfer_engine_close(ckd_daemon *d)
{
    /* Every transfer ended already (the stop waited for quiet); the plane
     * joins its workers and frees itself. */
    if (d->xe.plane) ckd_plane_close(d->xe.plane, NULL, NULL);
    d->xe.plane = NULL;
}

int ckd_xfer_start(ckd_daemon *d, ckd_seg *s)
{
    ckd_file *f = s->file;
    ckd_job *j = f->job;
    /* Without an fd (one range of a file not yet open) the worker opens it. */
    assert(!s->xfer && !s->inflight && (f->fd >= 0 || f->nsegs == 1));
    ckd_xfer *x = calloc(1, sizeof(*x));
    CURL *e = ckd_plane_easy(d->xe.plane);
    if (!x || !e) {
        free(x);
        if (e) curl_easy_cleanup(e);
        return -ENOMEM;
    }
    x->magic = CKD_XFER_MAGIC;
    x->d = d;
    x->job = j->id;
    x->file = f->idx;
    x->seg = (int)(s - f->segs);
    int64_t off = s->start + s->written;
    if (f->zstd) off = f->frame_c; /* a stream resumes at a frame end */
    ckd_http_easy_defaults(e, f->url, NULL);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)d->cfg.low_speed_limit);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)d->cfg.low_speed_time);
    /* Waiting to multiplex only pays where HTTP/2 is possible (TLS here). */
    if (strncmp(f->url, "https://", 8) == 0) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Object stores: the signature or token (and azure's signed range). */
    struct curl_slist *headers = NULL;
    const ckd_unit *un = &j->units[f->unit];
    int range_set = ckd_storage_auth_signs_range(&un->auth);
    if (ckd_storage_auth_apply(&un->auth, e, f->url, off, s->end >= 0 ? s->end - 1 : -1, &headers) <
        0) {
        curl_easy_cleanup(e);
        curl_slist_free_all(headers);
        free(x);
        return -ENOMEM;
    }
    if (headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    ckd_fetch w = {.key = (uint64_t)(uintptr_t)x,
                   .easy = e,
                   .headers = headers,
                   .fd = f->fd,
                   .start = s->start,
                   .off = off,
                   .end = s->end,
                   .hash = s->hash,
                   .step = d->cfg.journal_step,
                   .expect_size = f->zstd ? -1 : f->size,
                   .range_set = range_set,
                   .zstd = f->zstd,
                   .dec_off = f->zstd ? f->dec : 0,
                   .dec_max = f->zstd && f->size_given ? f->size : -1,
                   /* durability "background" leaves writeback to the kernel */
                   .writeback = ckd_job_durability(f->job) == CKD_DURABLE_PUBLISH};
    /* Every range of a file must come from the same version of the object:
     * the validator is checked on each response (and sent as If-Range when
     * a range resumes). */
    if (f->validator) snprintf(w.validator, sizeof(w.validator), "%s", f->validator);
    char *path = NULL;
    if (f->fd < 0) {
        w.path = path = ckd_file_staging_path(f);
        w.path_base = ckd_file_staging_dir(f);
        w.prealloc = f->size >= CKD_PREALLOC_MIN ? f->size : 0;
    }
    int rc = path || f->fd >= 0 ? ckd_plane_submit(d->xe.plane, &w) : -ENOMEM;
    free(path);
    if (rc < 0) {
        curl_easy_cleanup(e);
        curl_slist_free_all(headers);
        free(x);
        return rc;
    }
    d->xe.active++;
    j->xfers++;
    s->xfer = x;
    return 0;
}

void ckd_xfer_abort(ckd_seg *s)
{
    ckd_xfer *x = s->xfer;
    if (!x) return;
    s->xfer = NULL;
    s->inflight = 1; /* until the plane's final report: the fd stays open */
    x->detached = 1;
    ckd_plane_abort(x->d->xe.plane, (uint64_t)(uintptr_t)x);
}

void ckd_xfer_set_end(ckd_seg *s, int64_t end)
{
    if (s->xfer) ckd_plane_set_end(s->xfer->d->xe.plane, (uint64_t)(uintptr_t)s->xfer, end);
}
