/* The master's archive route, the job's side (see master_archive.h). Every
 * end, early or not, arrives once through on_end; the owner context is freed
 * in on_closed, and only then does the job stop counting the archive. */
#include "master_archive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_route.h"
#include "checksums.h"
#include "fsutil.h"
#include "log.h"
#include "masters.h"
#include "metrics.h"
#include "verify.h"

/* One archive of one unit. */
typedef struct arc_owner {
    ckd_job *job;
    size_t unit;
    ckd_tar *x;
    int via_cache; /* the archive comes through the fleet cache */
} arc_owner;

static int unit_file(const ckd_file *f, size_t u)
{
    return (size_t)f->unit == u && f->state != CKD_FILE_FAILED;
}

static void on_closed(void *ud)
{
    arc_owner *o = ud;
    ckd_job *j = o->job;
    j->busy--;
    j->d->archives--;
    free(o);
    ckd_sched_kick(j->d);
}

/* A written file: verified on the loop like a local copy. */
static void on_entry(void *ud, int tag, int err, int64_t size, const char hash[33])
{
    arc_owner *o = ud;
    ckd_job *j = o->job;
    ckd_file *f = &j->files[tag];
    if (f->state != CKD_FILE_ACTIVE || j->state != CKD_JOB_RUNNING) return;
    if (err == -ENOENT) {
        ckd_file_fail(f, "the master's archive of checkpoint %s has no '%s'",
                      j->units[o->unit].uuid, f->path);
        return;
    }
    memcpy(f->hash, hash, 33);
    ckd_metrics_fetched(j->d, f, size);
    if (!ckd_checksums_hold(f, size)) ckd_file_landed(f, size);
}

/* The body went wrong after its tar ended: the files this attempt wrote
 * (verified or not) are written again by the next one. */
static void distrust(arc_owner *o)
{
    ckd_job *j = o->job;
    ckd_unit *un = &j->units[o->unit];
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != o->unit || !ckd_tar_seen(o->x, f->idx) ||
            f->state == CKD_FILE_FAILED || f->state == CKD_FILE_PENDING)
            continue;
        if (f->state == CKD_FILE_VERIFIED) j->files_verified--, un->verified--;
        /* A FETCHED file's flush wave skips it once it is pending. */
        ckd_file_set_state(f, CKD_FILE_PENDING, 1);
        f->held = 0;
        f->reset_pending = 1;
        if ((size_t)f->idx < j->sched_from) j->sched_from = (size_t)f->idx;
    }
}

/* The archive ended (or never started): account for it, retry or fail. */
static void on_end(void *ud, const ckd_tar_end *e)
{
    arc_owner *o = ud;
    ckd_job *j = o->job;
    ckd_unit *un = &j->units[o->unit];
    un->archive = NULL;
    if (e->tail_bad) distrust(o);
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (unit_file(f, o->unit) && f->state == CKD_FILE_ACTIVE && !f->held)
            ckd_file_set_state(f, CKD_FILE_PENDING, 0);
    }
    if (e->err == 0) {
        un->arc_attempts = 0;
    } else if (e->err == -ECANCELED || j->state != CKD_JOB_RUNNING) {
        /* Paused, canceled or stopping: a resume starts it again. */
    } else if (e->err == -ENOSPC || e->err == -EIO || e->err == -EDQUOT || e->err == -EROFS) {
        ckd_job_disk_error(j, un->staging, e->err);
    } else if (o->via_cache && j->d->cache && ckd_cache_failed(j->d->cache, ckd_now_ms()) > 0 &&
               ++un->arc_attempts <= j->d->cfg.retry_max) {
        /* The cache failed: the origin now, the cache again after its rest. */
        ckd_warn("the cache %s failed for the master's archive (%s): fetching from the master",
                 j->d->cache->cfg.url, e->msg);
        ckd_job_log(j, "warn",
                    "checkpoint %s: the cache %s failed: %s; fetching the archive from "
                    "the master",
                    un->uuid, j->d->cache->cfg.url, e->msg);
    } else if (e->transient && ++un->arc_attempts <= j->d->cfg.retry_max) {
        uint64_t cap = 1000ull << (un->arc_attempts < 5 ? un->arc_attempts : 5);
        uint64_t delay = cap / 2 + (uint64_t)rand() % (cap / 2 + 1);
        un->arc_not_before_ms = ckd_now_ms() + delay;
        ckd_job_log(j, "warn", "checkpoint %s: %s; fetching the archive again in %.1fs", un->uuid,
                    e->msg, (double)delay / 1000.0);
    } else {
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (unit_file(f, o->unit) && f->state == CKD_FILE_PENDING && !f->reset_pending)
                ckd_file_fail(f, "checkpoint %s: %s", un->uuid, e->msg);
        }
    }
}

/* The master call proved the token and the checkpoint: start the thread. */
static void on_authorized(void *ud, int err, json_t *body, const char *msg)
{
    (void)body;
    arc_owner *o = ud;
    ckd_job *j = o->job;
    ckd_master *m = ckd_master_find_of(j->d, j->source);
    if (err == 0 && m) {
        char auth[4200];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", m->token ? m->token : "");
        ckd_tar_run(o->x, auth);
        explicit_bzero(auth, sizeof(auth));
        return;
    }
    if (err == 0) err = -EAGAIN; /* the session went away meanwhile */
    char why[600];
    snprintf(why, sizeof(why), "%s", msg ? msg : "cannot start the archive");
    if (err == -ENOENT)
        snprintf(why, sizeof(why), "the master does not know checkpoint %s",
                 j->units[o->unit].uuid);
    ckd_tar_fail(o->x, err, err == -EAGAIN || err == -ENOMEM, why);
}

/* The name a file has inside the archive: its resource name, which for a
 * file stored decoded is the stored name plus ".zst". */
static char *archive_name(const ckd_file *f)
{
    size_t l = strlen(f->path);
    char *s = malloc(l + 5);
    if (!s) return NULL;
    memcpy(s, f->path, l + 1);
    if (f->zstd && !(l > 4 && strcmp(f->path + l - 4, ".zst") == 0)) strcat(s, ".zst");
    return s;
}

int ckd_master_archive_start(ckd_job *j, size_t u)
{
    ckd_daemon *d = j->d;
    ckd_unit *un = &j->units[u];
    char why[300];
    ckd_master *m = ckd_master_of(d, j->source, why, sizeof(why));
    if (!m) {
        /* A restart without --master: say so instead of waiting forever. */
        for (size_t i = 0; i < j->nfiles; i++)
            if (unit_file(&j->files[i], u) && j->files[i].state == CKD_FILE_PENDING)
                ckd_file_fail(&j->files[i], "checkpoint %s comes from the master's archive: %s",
                              un->uuid, why);
        return -ENOTCONN;
    }
    arc_owner *o = calloc(1, sizeof(*o));
    ckd_tar_want *wants = calloc(un->nfiles ? un->nfiles : 1, sizeof(*wants));
    size_t ulen = strlen(m->url) + strlen(un->uuid) + 16;
    char *url = malloc(ulen);
    int ok = o && wants && url;
    if (ok) snprintf(url, ulen, "%s/checkpoints/%s", m->url, un->uuid);
    char *via = ok && ckd_cache_use(d->cache, CKD_ORIGIN_MASTER, url, ckd_now_ms())
                    ? ckd_cache_url(&d->cache->cfg, CKD_ORIGIN_MASTER, url)
                    : NULL;
    if (via) {
        free(url);
        url = via;
    }
    size_t n = 0;
    for (size_t i = 0; ok && i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (!unit_file(f, u) || n >= un->nfiles) continue;
        ckd_tar_want *w = &wants[n++];
        w->tag = f->idx;
        w->zstd = f->zstd;
        w->skip = f->state != CKD_FILE_PENDING;
        w->dst = ckd_file_staging_path(f);
        w->name = archive_name(f);
        if (!w->dst || !w->name) ok = 0;
    }
    ckd_tar_spec spec = {.url = url,
                         .ca_file = m->ca_file,
                         .noverify = m->noverify,
                         .dir = un->staging,
                         .low_speed_limit = d->cfg.low_speed_limit,
                         .low_speed_time = d->cfg.low_speed_time,
                         .max_speed = d->cfg.bandwidth_limit,
                         .wants = wants,
                         .n = n};
    static const ckd_tar_cbs cbs = {.entry = on_entry, .end = on_end, .closed = on_closed};
    if (ok && ckd_tar_new(d->loop, &spec, &cbs, o, &o->x) < 0) ok = 0;
    for (size_t i = 0; i < n; i++) {
        free((char *)wants[i].dst);
        free((char *)wants[i].name);
    }
    free(wants);
    free(url);
    if (!ok) {
        free(o);
        return -ENOMEM;
    }
    o->job = j;
    o->unit = u;
    o->via_cache = via != NULL;
    j->busy++;
    d->archives++;
    un->archive = o->x;
    size_t kept = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (!unit_file(f, u)) continue;
        if (f->state != CKD_FILE_PENDING) {
            kept++;
            continue;
        }
        ckd_file_set_state(f, CKD_FILE_ACTIVE, 0);
        f->hash[0] = '\0';
    }
    if (kept)
        ckd_job_log(j, "info",
                    "checkpoint %s: fetching the master's archive again (%zu verified file%s kept, "
                    "not rewritten)",
                    un->uuid, kept, kept == 1 ? "" : "s");
    else
        ckd_job_log(j, "info", "checkpoint %s: fetching the master's archive%s%s", un->uuid,
                    o->via_cache ? " through the cache " : "",
                    o->via_cache ? d->cache->cfg.url : "");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/checkpoints/%s", un->uuid);
    if (ckd_master_call(m, path, NULL, on_authorized, o) < 0)
        ckd_tar_fail(o->x, -ENOMEM, 1, "cannot start a request to the master");
    return 0;
}
