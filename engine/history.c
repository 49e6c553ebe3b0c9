/* History: finished jobs are forgotten by age and count. See history.h. */
#include "history.h"

#include <stdlib.h>

#include "durable.h"
#include "follow.h"
#include "fsutil.h"
#include "job.h"
#include "log.h"
#include "publish.h"

/* Whether id is in the sorted array ids[0..n). */
static int has_id(const int64_t *ids, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id) return 1;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int ckd_history_prune(ckd_daemon *d, int64_t now_s)
{
    size_t finished = 0, nfollow = 0;
    ckd_job *last = NULL;
    for (ckd_job *j = d->jobs; j; j = j->next) {
        finished += ckd_job_terminal(j) != 0;
        nfollow += j->spec.kind == CKD_KIND_FOLLOW;
        last = j;
    }
    int64_t horizon = now_s - d->cfg.history_days * 86400;
    size_t max = (size_t)d->cfg.history_max;
    if (finished <= max) {
        /* Only age can take jobs: is any finished job old enough? */
        int old = 0;
        for (ckd_job *j = d->jobs; j && !old; j = j->next)
            old = ckd_job_terminal(j) && j->updated < horizon;
        if (!old) return 0;
    }
    /* The follow jobs kept (by id, as the list is): their children stay. */
    int64_t *follows = malloc((nfollow ? nfollow : 1) * sizeof(*follows));
    if (!follows) return 0;
    nfollow = 0;
    for (ckd_job *j = d->jobs; j; j = j->next)
        if (j->spec.kind == CKD_KIND_FOLLOW) follows[nfollow++] = j->id;
    int gone = 0;
    for (ckd_job *j = d->jobs, *next; j; j = next) {
        next = j->next;
        if (!ckd_job_terminal(j) || j == last) continue;
        if (j->updated >= horizon && finished <= max) continue;
        int64_t parent = ckd_follow_parent(j);
        if (parent && has_id(follows, nfollow, parent)) continue;
        if (j->state == CKD_JOB_FAILED && !j->cleaned) {
            ckd_job_cleanup(j); /* its staging goes first; the job on a later pass */
            continue;
        }
        if (ckd_job_forget(j) == 0) {
            finished--;
            gone++;
        }
    }
    free(follows);
    if (gone > 0)
        ckd_info("history: forgot %d finished job%s (history_days %lld, history_max %lld)", gone,
                 gone == 1 ? "" : "s", (long long)d->cfg.history_days,
                 (long long)d->cfg.history_max);
    return gone;
}

void ckd_history_tick(ckd_daemon *d, uint64_t now_ms)
{
    if (d->history_ms && now_ms - d->history_ms < CKD_HISTORY_INTERVAL_MS) return;
    d->history_ms = now_ms;
    ckd_history_prune(d, ckd_wall_s());
}

void ckd_history_drop_files(ckd_job *j)
{
    if (j->dropped_files || j->nfiles == 0 || j->spec.kind != CKD_KIND_URLS || j->nunits != 1 ||
        j->state != CKD_JOB_DONE || !ckd_job_quiet(j) || j->publishing || j->flushing ||
        j->preparing || j->nfetched > 0 || !ckd_job_durable(j) ||
        (j->files_read_ms && ckd_now_ms() - j->files_read_ms < CKD_HISTORY_KEEP_READ_MS))
        return;
    int64_t bytes = ckd_job_bytes_total(j);
    if (bytes < 0) return;
    /* The view shows the source with a count in place of the list. */
    json_t *src = json_is_array(json_object_get(j->source, "files")) ? json_copy(j->source) : NULL;
    if (src && json_object_set_new(src, "files", json_integer((json_int_t)j->nfiles)) == 0) {
        json_decref(j->source);
        j->source = src;
    } else {
        json_decref(src);
    }
    j->dropped_files = j->nfiles;
    j->dropped_bytes = bytes;
    ckd_job_files_release(j);
    j->sched_from = 0;
}
