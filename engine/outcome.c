/* Outcomes of fetch work, interpreted. See outcome.h. */
#include "outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_route.h"
#include "fsutil.h"
#include "log.h"
#include "masters.h"
#include "metrics.h"
#include "verify.h"

void ckd_unit_use_master(ckd_job *j, int u, const char *why)
{
    ckd_unit *un = &j->units[u];
    un->via = CKD_VIA_MASTER;
    ckd_job_log(j, "warn", "checkpoint %s: %s; downloading it through the master instead", un->uuid,
                why);
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (f->unit != u || (f->state != CKD_FILE_PENDING && f->state != CKD_FILE_ACTIVE)) continue;
        /* The archive writes whole files: what the direct route left goes
         * (the scheduler stops the direct transfers first). */
        if (f->state == CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_PENDING, 0);
        f->reset_pending = 1;
        if ((size_t)f->idx < j->sched_from) j->sched_from = (size_t)f->idx;
    }
    j->stop_pending = 1;
    ckd_store_unit_status(&j->d->store, j->id, u, un->status, un->via);
    ckd_sched_kick(j->d);
}

/* The storage refused access: with mode auto the unit moves to the
 * master's archive (never azure's: the master has no archive of those),
 * otherwise the file fails. */
static void access_denied(ckd_file *f, const char *msg)
{
    ckd_job *j = f->job;
    const ckd_unit *un = &j->units[f->unit];
    char why[300];
    if (un->kind != CKD_UNIT_CHECKPOINT || un->via != CKD_VIA_DIRECT ||
        j->spec.mode != CKD_MODE_AUTO || !ckd_master_of(j->d, j->source, why, sizeof(why)) ||
        (un->storage && strcmp(un->storage, "azure") == 0)) {
        ckd_file_fail(f, "%s", msg);
        return;
    }
    ckd_unit_use_master(j, f->unit, msg);
}

/* Transient failure of a segment: back off with full jitter (or as the
 * server asked), within the retry budget. */
static void seg_retry(ckd_seg *s, double retry_after_s, const char *why)
{
    ckd_file *f = s->file;
    ckd_daemon *d = f->job->d;
    uint64_t now = ckd_now_ms();
    if (s->first_fail_ms == 0) s->first_fail_ms = now;
    s->attempts++;
    if (s->attempts > d->cfg.retry_max ||
        (int64_t)(now - s->first_fail_ms) > d->cfg.retry_budget * 1000) {
        ckd_file_fail(f, "%s (gave up after %d attempts)", why, s->attempts);
        return;
    }
    uint64_t delay;
    if (retry_after_s >= 0) {
        delay = (uint64_t)(retry_after_s * 1000.0);
        if (delay > 600000) delay = 600000;
    } else {
        delay = ckd_backoff_ms(s->attempts);
    }
    s->not_before_ms = now + delay;
    if (f->state == CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_PENDING, 0);
    ckd_job_log(f->job, "warn", "retrying '%s' in %.1fs (attempt %d): %s", f->path,
                (double)delay / 1000.0, s->attempts + 1, why);
}

/* A segment's range is complete; the file goes on once all are. */
static void seg_finished(ckd_seg *s)
{
    ckd_file *f = s->file;
    s->attempts = 0;
    s->first_fail_ms = 0;
    if (f->state == CKD_FILE_FAILED || f->reset_pending) return;
    if (ckd_file_all_written(f)) ckd_file_finish(f);
}

/* Whole-file work (a local copy) ended: its bookkeeping, then the outcome.
 * 0 when the outcome still applies to the file. */
static int copy_ended(ckd_job *j, ckd_file *f, const ckd_outcome *o)
{
    j->d->copies--;
    j->busy--;
    f->io--;
    int twin = f->twin;
    if (f->state != CKD_FILE_ACTIVE || j->state != CKD_JOB_RUNNING) {
        /* Paused, canceled or failed meanwhile: the copy is simply redone. */
        if (f->state == CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_PENDING, 0);
        f->twin = 0;
        return -1;
    }
    if (o->kind == CKD_OUT_REFETCH || (twin && o->kind != CKD_OUT_OK && o->kind != CKD_OUT_DISK)) {
        /* The other copy went away: fetch this file from its source. */
        ckd_job_log(j, "warn", "%s: fetching it instead", o->message);
        f->twin = 0;
        f->no_twin = 1;
        ckd_file_set_state(f, CKD_FILE_PENDING, 0);
        return -1;
    }
    return 0;
}

/* A transfer through the fleet cache ended badly: the cache is down or
 * answered 5xx (it rests, requests go to the origins meanwhile), or it
 * refused or changed this object (the object comes from its origin from
 * now on). The segment is retried at once, from the origin. 1 when handled
 * here; a changed object (RESTART) still restarts the file. */
static int cache_failed(ckd_daemon *d, ckd_file *f, ckd_seg *s, const ckd_outcome *o)
{
    ckd_cache *c = d->cache;
    if (!c || o->src != CKD_SRC_HTTP || o->kind == CKD_OUT_OK || o->kind == CKD_OUT_DISK ||
        o->kind == CKD_OUT_REFETCH || !ckd_cache_said(c, o->message))
        return 0;
    ckd_job *j = f->job;
    uint64_t now = ckd_now_ms();
    if (o->kind == CKD_OUT_RETRY) {
        uint64_t rest = ckd_cache_failed(c, now);
        if (rest) {
            ckd_warn(
                "the cache %s failed (%s): fetching from the origins, the cache again in %.0fs",
                c->cfg.url, o->message, (double)rest / 1000.0);
            ckd_job_log(j, "warn",
                        "the cache %s failed: %s; fetching from the origin, the cache "
                        "again in %.0fs",
                        c->cfg.url, o->message, (double)rest / 1000.0);
        }
    } else {
        ckd_cache_bypass(c, f->url, now);
        ckd_job_log(j, "warn", "'%s' through the cache %s: %s; fetching it from the origin",
                    f->path, c->cfg.url, o->message);
        if (o->kind == CKD_OUT_RESTART) return 0; /* from zero: the cache's bytes go */
    }
    if (s && f->state != CKD_FILE_FAILED && !f->reset_pending) seg_retry(s, 0, o->message);
    return 1;
}

static void report(ckd_daemon *d, const ckd_outcome *o)
{
    ckd_job *j = ckd_job_find(d, o->job);
    if (!j || o->file < 0 || (size_t)o->file >= j->nfiles) return;
    ckd_file *f = &j->files[o->file];
    ckd_sched_kick(d);
    if (o->src == CKD_SRC_COPY && copy_ended(j, f, o) < 0) return;
    ckd_seg *s = o->seg >= 0 && o->seg < f->nsegs ? &f->segs[o->seg] : NULL;
    if (cache_failed(d, f, s, o)) return;
    switch (o->kind) {
    case CKD_OUT_OK:
        if (o->seg < 0) {
            memcpy(f->hash, o->hash, sizeof(f->hash));
            ckd_file_landed(f, o->bytes);
        } else if (s) {
            seg_finished(s);
        }
        break;
    case CKD_OUT_RETRY:
        if (s && f->state != CKD_FILE_FAILED && !f->reset_pending)
            seg_retry(s, o->retry_after_s, o->message);
        break;
    case CKD_OUT_RESTART:
        if (f->state != CKD_FILE_FAILED) ckd_file_restart(f, o->message);
        break;
    case CKD_OUT_FAIL:
        ckd_file_fail(f, "%s", o->message);
        break;
    case CKD_OUT_DENIED:
        /* A direct transfer that was in flight when another file's denial
         * moved its unit to the master's archive: the archive fetches it. */
        if (o->src == CKD_SRC_HTTP && j->units[f->unit].via == CKD_VIA_MASTER) break;
        if (f->state != CKD_FILE_FAILED) access_denied(f, o->message);
        break;
    case CKD_OUT_DISK:
        ckd_job_disk_error(j, o->message, o->err);
        break;
    case CKD_OUT_REFETCH:
        break;
    }
}

void ckd_outcome_report(ckd_daemon *d, const ckd_outcome *o)
{
    ckd_metrics_outcome(d, o, 0);
    report(d, o);
    ckd_metrics_outcome(d, o, 1);
}
