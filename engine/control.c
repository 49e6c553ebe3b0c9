/* Control: what clients and the daemon's stop ask of jobs — pause, resume,
 * cancel, and a graceful stop that journals what is on disk. See
 * control.h. */
#include "control.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ckp.h"
#include "publish.h"
#include "resolve.h"
#include "schedule.h"

int ckd_job_pause(ckd_job *j)
{
    if (j->publishing) return CKP_RPC_BAD_TRANSITION;
    switch (j->state) {
    case CKD_JOB_QUEUED:
    case CKD_JOB_RESOLVING:
    case CKD_JOB_RUNNING:
    case CKD_JOB_WAITING:
        break;
    default:
        return CKP_RPC_BAD_TRANSITION;
    }
    ckd_job_set_state(j, CKD_JOB_PAUSED, NULL);
    ckd_resolve_cancel(j);
    ckd_sched_stop_job(j);
    ckd_sched_kick(j->d);
    return 0;
}

int ckd_job_resume(ckd_job *j)
{
    if (j->state != CKD_JOB_PAUSED && j->state != CKD_JOB_FAILED) return CKP_RPC_BAD_TRANSITION;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (f->state != CKD_FILE_FAILED) continue;
        ckd_file_set_state(f, CKD_FILE_PENDING, 0);
        f->verify_attempts = f->restarts = 0;
        f->not_before_ms = 0;
        free(f->error);
        f->error = NULL;
        for (int k = 0; k < f->nsegs; k++) f->segs[k].attempts = 0, f->segs[k].first_fail_ms = 0;
        j->files_failed--;
        ckd_file_persist(f);
    }
    j->sched_from = 0;
    /* Prepare again: the staging directory may be gone (removed while the
     * job ran, was paused or failed), the target taken, the disk full. */
    j->prepared = 0;
    j->resumed = 1; /* the user's call: no space check, as before the first write */
    ckd_job_set_state(j, CKD_JOB_QUEUED, NULL);
    ckd_sched_kick(j->d);
    return 0;
}

int ckd_job_cancel(ckd_job *j)
{
    if (j->state == CKD_JOB_DONE || j->state == CKD_JOB_CANCELED || j->publishing)
        return CKP_RPC_BAD_TRANSITION;
    ckd_job_set_state(j, CKD_JOB_CANCELED, NULL);
    ckd_resolve_cancel(j);
    ckd_sched_stop_job(j);
    ckd_job_cleanup(j);
    return 0;
}

typedef struct stop_req {
    uv_work_t work;
    ckd_daemon *d;
} stop_req;

/* On a graceful stop, make what was written durable and journal it, so the
 * next start resumes from here instead of from the last journal step. */
static void stop_work(uv_work_t *req)
{
    stop_req *r = req->data;
    for (ckd_job *j = r->d->jobs; j; j = j->next) {
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (f->layout_saved != 1 || f->state == CKD_FILE_FAILED) continue;
            int dirty = 0;
            for (int k = 0; k < f->nsegs; k++) dirty |= f->segs[k].written > f->segs[k].journaled;
            if (!dirty) continue;
            int fd = f->fd;
            if (fd < 0) {
                char *path = ckd_file_staging_path(f);
                fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
                free(path);
            }
            if (fd < 0 || fdatasync(fd) != 0) {
                if (fd >= 0 && fd != f->fd) close(fd);
                for (int k = 0; k < f->nsegs; k++) f->segs[k].written = f->segs[k].journaled;
                continue;
            }
            if (fd != f->fd) close(fd);
            /* written > journaled now means "durable, row still to write". */
        }
    }
}

static void stop_done(uv_work_t *req, int status)
{
    stop_req *r = req->data;
    ckd_daemon *d = r->d;
    for (ckd_job *j = d->jobs; j; j = j->next) {
        j->busy--;
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (f->layout_saved != 1) continue;
            for (int k = 0; k < f->nsegs; k++) {
                ckd_seg *s = &f->segs[k];
                char hex[33];
                if (f->zstd) {
                    /* A stream resumes only at a frame end. */
                    if (f->frame_c <= s->journaled || !f->hash_frame) continue;
                    ckd_hash_state_hex(f->hash_frame, hex);
                    ckd_store_seg_progress(&d->store, j->id, f->idx, s->start, f->frame_c, hex,
                                           f->frame_d);
                    ckd_store_seg_durable(&d->store, j->id, f->idx, s->start, f->frame_c, hex,
                                          f->frame_d);
                    s->journaled = f->frame_c;
                    continue;
                }
                if (s->written <= s->journaled) continue;
                ckd_hash_state_hex(s->hash, hex);
                ckd_store_seg_progress(&d->store, j->id, f->idx, s->start, s->written, hex, 0);
                /* synced by stop_work: it survives a reboot too */
                ckd_store_seg_durable(&d->store, j->id, f->idx, s->start, s->written, hex, 0);
                s->journaled = s->written;
            }
        }
    }
    ckd_store_commit(&d->store);
    free(r);
}

static int jobs_quiet(ckd_daemon *d)
{
    for (ckd_job *j = d->jobs; j; j = j->next)
        if (!ckd_job_quiet(j)) return 0;
    return 1;
}

void ckd_jobs_stop_all(ckd_daemon *d)
{
    for (ckd_job *j = d->jobs; j; j = j->next) ckd_sched_stop_job(j);
}

/* Called from the daemon's tick while stopping: 1 once everything is on
 * disk and journaled and nothing is in flight. */
int ckd_jobs_idle(ckd_daemon *d)
{
    if (!jobs_quiet(d)) return 0;
    if (!d->stop_journaled) {
        d->stop_journaled = 1;
        stop_req *r = calloc(1, sizeof(*r));
        if (!r) return 1;
        r->d = d;
        r->work.data = r;
        /* Every job counts the one stop pass so jobs_quiet waits for it. */
        for (ckd_job *j = d->jobs; j; j = j->next) j->busy++;
        if (!d->jobs) {
            free(r);
            return 1;
        }
        uv_queue_work(d->loop, &r->work, stop_work, stop_done);
        return 0;
    }
    return 1;
}
