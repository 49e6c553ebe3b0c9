/* Follow jobs (GPU-node prefetch).
 *
 * A follow job never transfers anything itself. Every `interval` seconds it
 * lists its trial's (or experiment's) checkpoints at the master, ranks them
 * with resolve.c's semantics, and submits an ordinary checkpoint job (a
 * "child", options.parent = the follow job's id) for each of the first
 * `keep` (trial) or `top_n` (experiment) that has none yet. When a child is
 * done, the pointer symlink <dir>/<pointer> is moved to the best-ranked done
 * child, then the follow job's done children beyond `keep` are removed.
 *
 * Over all follow jobs, a budget pass (scan_work) looks at every done
 * child's directory after each poll, each child that finished and each
 * change of `disk_budget`: a directory that vanished without ckptd removing
 * it is downloaded again while it qualifies, and with a budget the least
 * recently used unpinned, unpointed checkpoints are evicted until the rest
 * plus the children in flight plus the next child fit. New children are
 * submitted only after that pass, so that they are admitted against it.
 *
 * Lifetimes: j->follow (struct ckd_follow) is freed only in its timer's
 * close callback. A master request or a pool work item in flight holds a
 * small token whose `f` is cleared by ckd_follow_stop(), so an answer that
 * arrives after a stop touches nothing but the token; the budget pass names
 * follow jobs by id instead. Everything is on the loop thread except
 * tidy_work() and scan_work(), which see only their own requests.
 *
 * The files: follow.c (this: the source, the polling state machine, the
 * API), follow_tidy.c (the pointer and retention, tidy_work), follow_budget.c
 * (the disk budget and vanished copies, scan_work); follow_int.h holds what
 * they share. */
#include "follow_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "det_model.h"
#include "det_select.h"
#include "submit.h"
#include "fsutil.h"
#include "log.h"
#include "masters.h"

#define FOLLOW_BACKOFF_MAX 10 /* times the interval */

/* ---- the source and the children ----------------------------------------- */

/* <output>/trial-<id> (or experiment-<id>), malloc'd. */
char *follow_dir(const ckd_job *j)
{
    char name[64];
    snprintf(name, sizeof(name), "%s-%lld", is_experiment(j->source) ? "experiment" : "trial",
             src_id(j->source));
    return ckd_path_join(j->output, name);
}

int64_t ckd_follow_parent(const ckd_job *c)
{
    return child_parent(c);
}

/* A done child whose directory ckptd removed carries this in its error, so
 * that after a restart the follow job does not fetch it again. */
#define REMOVED_MARK "removed by ckptd: "

/* Remembers that ckptd removed checkpoint uuid of follow job j (why: the
 * retention or the budget), in memory and in the child's record. */
void follow_mark_removed(ckd_job *j, struct ckd_follow *f, const char *uuid, const char *why)
{
    if (f) json_object_set_new(f->removed, uuid, json_true());
    for (ckd_job *c = j->d->jobs; c; c = c->next) {
        const char *cu = child_uuid(c);
        if (child_parent(c) != j->id || c->state != CKD_JOB_DONE || !cu || strcmp(cu, uuid) != 0)
            continue;
        char msg[300];
        snprintf(msg, sizeof(msg), REMOVED_MARK "%s", why);
        free(c->error);
        c->error = strdup(msg);
        c->updated = ckd_wall_s();
        ckd_store_job_update(&j->d->store, c->id, ckd_job_state_name(c->state), c->error,
                             c->updated);
        j->d->job_changed(j->d, c, (int)c->state); /* tell subscribers */
    }
}

/* The children ckptd removed before a restart. */
static void load_removed(ckd_job *j, struct ckd_follow *f)
{
    for (ckd_job *c = j->d->jobs; c; c = c->next)
        if (child_parent(c) == j->id && c->state == CKD_JOB_DONE && child_uuid(c) && c->error &&
            strncmp(c->error, REMOVED_MARK, strlen(REMOVED_MARK)) == 0)
            json_object_set_new(f->removed, child_uuid(c), json_true());
}

/* ---- polling --------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static uint64_t interval_ms(const ckd_job *j)
{
    return (uint64_t)(src_interval(j->source) * 1000.0);
}

/* The next poll: interval ±10% so that many nodes do not ask in step;
 * after failures, doubled per failure up to 10× the interval. */
static void schedule_next(struct ckd_follow *f)
{
    uint64_t base = interval_ms(f->job);
    if (f->failures > 0) {
        int shift = f->failures < 8 ? f->failures : 8;
        uint64_t b = base << shift;
        base = b < base * FOLLOW_BACKOFF_MAX ? b : base * FOLLOW_BACKOFF_MAX;
    }
    double jitter = 0.9 + 0.2 * ((double)rand() / (double)RAND_MAX);
    uint64_t delay = (uint64_t)((double)base * jitter);
    f->state = FOLLOW_IDLE;
    uv_timer_start(&f->timer, on_timer, delay ? delay : 1, 0);
}

/* A poll that did not work. Transient trouble (and anything after a first
 * success) backs off and keeps the job running; a target the master never
 * knew fails the job. Returns 1 when the follow ended. */
static int poll_failed(struct ckd_follow *f, int err, const char *msg)
{
    ckd_job *j = f->job;
    char what[64];
    snprintf(what, sizeof(what), "%s %lld", is_experiment(j->source) ? "experiment" : "trial",
             src_id(j->source));
    if (!f->polled_ok && (err == -ENOENT || err == -EACCES || err == -EINVAL)) {
        char why[900];
        if (err == -ENOENT)
            snprintf(why, sizeof(why), "%s not found on the master", what);
        else
            snprintf(why, sizeof(why), "cannot list the checkpoints of %s: %s", what,
                     msg ? msg : "master error");
        ckd_job_set_state(j, CKD_JOB_FAILED, why); /* stops the follow (on_job_state) */
        return 1;
    }
    f->failures++;
    if (f->failures == 1) {
        /* Once per streak: a master down for hours must not flood the log. */
        ckd_job_log(j, "warn", "cannot list the checkpoints of %s: %s; polling again with back-off",
                    what, msg ? msg : "master error");
        char why[900];
        snprintf(why, sizeof(why), "master: %s", msg ? msg : "error");
        ckd_job_set_state(j, CKD_JOB_RUNNING, why); /* shown in `ckpt jobs`; still running */
    }
    return 0;
}

/* The ranking of a list reply, best (or newest) first, as a JSON array of
 * uuids: resolve.c's semantics over the whole list, so that a checkpoint's
 * rank stays meaningful for retention after it left the top. */
static json_t *rank(ckd_job *j, json_t *body, json_t *sizes)
{
    json_t *arr = json_object_get(body, "checkpoints");
    size_t n = json_array_size(arr), ok = 0;
    ckd_det_checkpoint *cps = calloc(n ? n : 1, sizeof(*cps));
    size_t *order = calloc(n ? n : 1, sizeof(*order));
    json_t *out = NULL;
    if (!cps || !order) goto done;
    for (size_t i = 0; i < n; i++) {
        char why[1200];
        if (ckd_det_checkpoint_from_json(json_array_get(arr, i), &cps[ok], why, sizeof(why)) < 0)
            continue; /* never chosen; the checkpoint job would refuse it anyway */
        ok++;
    }
    ckd_det_query q;
    ckd_det_pick pick;
    ckd_det_pick_from_source(&pick, j->source, ok > 0 ? cps[0].smaller_is_better : 1);
    pick.n = 0; /* the whole ranking */
    ckd_det_query_pick(&q, &pick);
    size_t nsel = 0;
    if (ckd_det_select(&q, cps, ok, order, &nsel) < 0) goto done;
    out = json_array();
    for (size_t i = 0; out && i < nsel; i++) {
        json_array_append_new(out, json_string(cps[order[i]].uuid));
        json_object_set_new(sizes, cps[order[i]].uuid,
                            json_integer((json_int_t)cps[order[i]].total_size));
    }
done:
    for (size_t i = 0; cps && i < ok; i++) ckd_det_checkpoint_release(&cps[i]);
    free(cps);
    free(order);
    return out;
}

static void on_list(void *ud, int err, json_t *body, const char *msg)
{
    follow_token *t = ud;
    struct ckd_follow *f = t->f;
    free(t);
    if (!f) return; /* stopped meanwhile */
    f->poll = NULL;
    f->state = FOLLOW_IDLE;
    ckd_job *j = f->job;
    if (err == -ECANCELED || j->d->stopping) return; /* ckd_follow_stop() is on its way */
    if (err < 0) {
        if (poll_failed(f, err, msg)) return;
        schedule_next(f);
        return;
    }
    json_t *sizes = json_object();
    json_t *ranked = sizes ? rank(j, body, sizes) : NULL;
    if (!ranked) {
        json_decref(sizes);
        if (poll_failed(f, -ENOMEM, "out of memory")) return;
        schedule_next(f);
        return;
    }
    if (f->failures > 0) {
        ckd_job_log(j, "info", "the master answers again after %d failed poll%s", f->failures,
                    f->failures == 1 ? "" : "s");
        ckd_job_set_state(j, CKD_JOB_RUNNING, NULL);
    }
    f->failures = 0;
    f->polled_ok = 1;
    json_decref(f->ranked);
    f->ranked = ranked;
    json_decref(f->sizes);
    f->sizes = sizes;
    if (json_array_size(ranked) == 0 && !f->said_empty) {
        ckd_job_log(j, "info", "no downloadable checkpoint yet; polling");
        f->said_empty = 1;
    }
    /* The budget pass submits the qualifying checkpoints that have no child
     * (or whose copy vanished) once it made room, then tidies. A copy
     * already on disk (a previous follow, a manual download) is adopted
     * through a child too: it reports it present after checking its
     * manifest, without fetching it again. */
    follow_budget_pass(j->d);
    schedule_next(f);
}

static void follow_poll(struct ckd_follow *f)
{
    ckd_job *j = f->job;
    char path[128];
    int exp = is_experiment(j->source);
    snprintf(path, sizeof(path), "/api/v1/%s/%lld/checkpoints", exp ? "experiments" : "trials",
             src_id(j->source));
    /* The ranking rank() applies (its states, its sort); rank() sorts
     * again whatever comes. */
    ckd_det_query q;
    ckd_det_pick pick;
    ckd_det_pick_from_source(&pick, j->source, 1);
    pick.n = 0;
    ckd_det_query_pick(&q, &pick);
    char why[300] = "cannot start a request to the master";
    ckd_master *m = ckd_master_of(j->d, j->source, why, sizeof(why));
    follow_token *t = m ? calloc(1, sizeof(*t)) : NULL;
    int rc = t ? ckd_master_list_all(m, path, &q, on_list, t) : -ENOMEM;
    if (rc < 0) {
        free(t);
        if (!poll_failed(f, -EAGAIN, why)) schedule_next(f);
        return;
    }
    t->f = f;
    f->poll = t;
    f->state = FOLLOW_POLLING;
}

static void on_timer(uv_timer_t *t)
{
    struct ckd_follow *f = t->data;
    if (f->state == FOLLOW_IDLE && !f->job->d->stopping) follow_poll(f);
}

/* ---- the API ---------------------------------------------------------------- */

void ckd_follow_start(ckd_job *j)
{
    if (j->follow) return;
    char why[300];
    if (ckd_spec_check_follow(j->source, why, sizeof(why)) < 0) {
        ckd_job_set_state(j, CKD_JOB_FAILED, why);
        return;
    }
    if (!ckd_master_of(j->d, j->source, why, sizeof(why))) {
        ckd_job_set_state(j, CKD_JOB_FAILED, why);
        return;
    }
    struct ckd_follow *f = calloc(1, sizeof(*f));
    if (!f || !(f->removed = json_object()) || !(f->pinned = json_object()) ||
        !(f->gone = json_object()) || !(f->said_room = json_object())) {
        if (f) {
            json_decref(f->removed);
            json_decref(f->pinned);
            json_decref(f->gone);
        }
        free(f);
        ckd_job_set_state(j, CKD_JOB_FAILED, "out of memory");
        return;
    }
    f->job = j;
    f->state = FOLLOW_IDLE;
    load_removed(j, f);
    uv_timer_init(j->d->loop, &f->timer);
    f->timer.data = f;
    ckd_job_set_state(j, CKD_JOB_RUNNING, NULL);
    j->follow = f;
    char *dir = follow_dir(j);
    ckd_job_log(j, "info", "following %s %lld (%s, keep %zu, every %gs) into '%s', pointer '%s'",
                is_experiment(j->source) ? "experiment" : "trial", src_id(j->source),
                src_select(j->source), src_keep(j->source), src_interval(j->source),
                dir ? dir : j->output, src_pointer(j->source));
    free(dir);
    follow_poll(f);
}

static void on_close(uv_handle_t *h)
{
    struct ckd_follow *f = h->data;
    json_decref(f->ranked);
    json_decref(f->removed);
    json_decref(f->pinned);
    json_decref(f->gone);
    json_decref(f->sizes);
    json_decref(f->said_room);
    free(f->pointer_at);
    free(f);
}

void ckd_follow_stop(ckd_job *j)
{
    struct ckd_follow *f = j->follow;
    if (!f) return;
    j->follow = NULL;
    f->state = FOLLOW_CLOSING;
    /* Answers still on their way find a token that leads nowhere; the
     * listing is canceled now (its callback frees the token). */
    follow_token *poll = f->poll;
    if (f->tidy) follow_tidy_detach(f->tidy);
    f->poll = NULL;
    f->tidy = NULL;
    if (poll) {
        poll->f = NULL;
        ckd_master *m = ckd_master_find_of(j->d, j->source);
        if (m) ckd_master_cancel_owner(m, poll);
    }
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_close);
}

void ckd_follow_on_job_state(ckd_daemon *d, ckd_job *j)
{
    if (is_follow(j)) {
        /* Failed (or any state but running) ends the polling; pause, cancel
         * and stop call ckd_follow_stop() themselves too. */
        if (j->state != CKD_JOB_RUNNING) ckd_follow_stop(j);
        return;
    }
    int64_t pid = child_parent(j);
    if (pid == 0) return;
    ckd_job *p = ckd_job_find(d, pid);
    if (!p || !is_follow(p) || !p->follow || p->state != CKD_JOB_RUNNING) return;
    const char *u = child_uuid(j);
    if (j->state == CKD_JOB_DONE) {
        if (u) json_object_del(p->follow->gone, u); /* it is back */
        follow_tidy(p->follow);
        follow_budget_pass(d); /* a cleanup pass: the budget, and the next child's turn */
    } else if (j->state == CKD_JOB_FAILED) {
        ckd_job_log(p, "warn", "the download of checkpoint %s (job %lld) failed: %s", u ? u : "?",
                    (long long)j->id, j->error ? j->error : "?");
    }
}
