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
 * tidy_work() and scan_work(), which see only their own requests. */
#include "follow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckp.h"
#include "det_model.h"
#include "det_select.h"
#include "submit.h"
#include "pins.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "master.h"

#define FOLLOW_BACKOFF_MAX 10 /* times the interval */

/* The one state of a follow; ckd_follow_stop() ends every one of them. */
enum follow_state {
    FOLLOW_IDLE,    /* the timer is armed for the next poll */
    FOLLOW_POLLING, /* a list request is at the master */
    FOLLOW_CLOSING, /* stopped; the timer is closing and frees the struct */
};

struct ckd_follow;

/* Outlives the follow until the master (or the pool) answers. */
typedef struct follow_token {
    struct ckd_follow *f; /* NULL once the follow stopped */
} follow_token;

typedef struct tidy_req tidy_req;

struct ckd_follow {
    ckd_job *job;
    uv_timer_t timer;
    enum follow_state state;
    int failures;       /* polls failed in a row: the back-off exponent */
    int polled_ok;      /* some poll succeeded since the start */
    int said_empty;     /* "no downloadable checkpoint yet" was logged */
    json_t *ranked;     /* uuids, best (or newest) first, of the last poll; NULL before */
    follow_token *poll; /* the list request in flight */
    tidy_req *tidy;     /* the pointer/retention work in flight */
    int tidy_again;     /* a child finished while tidy work was in flight */
    char *pointer_at;   /* the uuid the pointer was last seen to reach */
    json_t *removed;    /* uuid -> true: directories ckptd removed (keep, budget) */
    json_t *gone;       /* uuid -> true: directories that vanished otherwise; fetched again */
    json_t *pinned;     /* uuid -> true: "pinned" already logged */
    json_t *sizes;      /* uuid -> bytes of its files, from the last poll */
    json_t *said_room;  /* uuid -> true: "waits for room" (or "over the budget") logged */
};

/* ---- the source ------------------------------------------------------------ */

static const char *src_str(const json_t *source, const char *key)
{
    return json_string_value(json_object_get(source, key));
}

static int is_experiment(const json_t *source)
{
    const char *t = src_str(source, "target");
    return t && strcmp(t, "experiment") == 0;
}

static long long src_id(const json_t *source)
{
    return (long long)json_integer_value(json_object_get(source, "id"));
}

static size_t src_top_n(const json_t *source)
{
    json_t *v = json_object_get(source, "top_n");
    return json_is_integer(v) ? (size_t)json_integer_value(v) : 1;
}

/* Experiments keep at least their top N, else every poll would fetch again
 * what the previous tidy removed. */
static size_t src_keep(const json_t *source)
{
    json_t *v = json_object_get(source, "keep");
    if (json_is_integer(v)) return (size_t)json_integer_value(v);
    size_t n = is_experiment(source) ? src_top_n(source) : 1;
    return n > 2 ? n : 2;
}

static double src_interval(const json_t *source)
{
    json_t *v = json_object_get(source, "interval");
    return json_is_number(v) ? json_number_value(v) : 30.0;
}

/* "latest" or "best": how a trial ranks; experiments rank by the metric. */
static const char *src_select(const json_t *source)
{
    if (is_experiment(source)) return "best";
    const char *s = src_str(source, "select");
    return s ? s : "latest";
}

static const char *src_pointer(const json_t *source)
{
    const char *p = src_str(source, "pointer");
    return p ? p : src_select(source);
}

/* <output>/trial-<id> (or experiment-<id>), malloc'd. */
static char *follow_dir(const ckd_job *j)
{
    char name[64];
    snprintf(name, sizeof(name), "%s-%lld", is_experiment(j->source) ? "experiment" : "trial",
             src_id(j->source));
    return ckd_path_join(j->output, name);
}

static int is_follow(const ckd_job *j)
{
    return j->spec.kind == CKD_KIND_FOLLOW;
}

/* The follow job a checkpoint job was submitted by, or 0. */
static int64_t child_parent(const ckd_job *c)
{
    if (!c->kind || strcmp(c->kind, "checkpoint") != 0) return 0;
    json_t *p = json_object_get(c->options, "parent");
    return json_is_integer(p) ? (int64_t)json_integer_value(p) : 0;
}

int64_t ckd_follow_parent(const ckd_job *c)
{
    return child_parent(c);
}

static const char *child_uuid(const ckd_job *c)
{
    return src_str(c->source, "uuid");
}

/* A done child whose directory ckptd removed carries this in its error, so
 * that after a restart the follow job does not fetch it again. */
#define REMOVED_MARK "removed by ckptd: "

/* Remembers that ckptd removed checkpoint uuid of follow job j (why: the
 * retention or the budget), in memory and in the child's record. */
static void mark_removed(ckd_job *j, struct ckd_follow *f, const char *uuid, const char *why)
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

static void budget_pass(ckd_daemon *d);

/* ---- pointer and retention (pool work) ------------------------------------ */

struct tidy_req {
    uv_work_t work;
    follow_token tok;
    ckd_daemon *d;
    int64_t job_id;
    char *dir;     /* <output>/trial-<id> */
    char *pointer; /* the symlink's name in dir */
    char *target;  /* the uuid it must reach */
    char *pins;    /* <state-dir>/pins */
    char **remove; /* uuids whose directories go */
    size_t nremove;
    /* results, read on the loop after the work */
    int moved;   /* 1: the pointer was (re)placed */
    int gone;    /* the target's directory is not there: not pointed at */
    int ptr_err; /* negative errno of the pointer update */
    char old[PATH_MAX];
    int *outcome; /* per remove: 1 removed, 0 absent, 2 pinned, 3 the pointer's target, <0 error */
};

/* Points dir/name at target (relative) in one rename, so a reader sees the
 * old target or the new one, never nothing. 1 moved, 0 already there. */
static int pointer_set(const char *dir, const char *name, const char *target, char *old,
                       size_t oldlen)
{
    char link[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(link, sizeof(link), "%s/%s", dir, name) >= sizeof(link) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%d", dir, name, (int)getpid()) >=
            sizeof(tmp))
        return -ENAMETOOLONG;
    ssize_t n = readlink(link, old, oldlen - 1);
    old[n > 0 ? n : 0] = '\0';
    /* A link to a directory that is not there would break every reader. */
    struct stat st;
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s/%s", dir, target);
    if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode)) return -ENOENT;
    if (n > 0 && strcmp(old, target) == 0) return 0;
    unlink(tmp); /* a leftover of a crash between symlink and rename */
    if (symlink(target, tmp) != 0) return -errno;
    if (rename(tmp, link) != 0) {
        int rc = -errno;
        unlink(tmp);
        return rc;
    }
    int rc = ckd_fsync_dir(dir);
    return rc < 0 ? rc : 1;
}

static void tidy_work(uv_work_t *req)
{
    tidy_req *r = req->data;
    if (r->target) {
        int rc = pointer_set(r->dir, r->pointer, r->target, r->old, sizeof(r->old));
        r->moved = rc == 1;
        r->gone = rc == -ENOENT;
        r->ptr_err = rc < 0 && rc != -ENOENT ? rc : 0;
    }
    /* What the pointer reaches now, whatever happened above: never removed. */
    char cur[PATH_MAX] = "", link[PATH_MAX];
    snprintf(link, sizeof(link), "%s/%s", r->dir, r->pointer);
    ssize_t n = readlink(link, cur, sizeof(cur) - 1);
    cur[n > 0 ? n : 0] = '\0';
    for (size_t i = 0; i < r->nremove; i++) {
        struct stat st;
        char *path = ckd_path_join(r->dir, r->remove[i]);
        if (!path) {
            r->outcome[i] = -ENOMEM;
        } else if (strcmp(cur, r->remove[i]) == 0) {
            r->outcome[i] = 3;
        } else if (ckd_pins_has(r->pins, r->dir, r->remove[i])) {
            r->outcome[i] = 2;
        } else if (lstat(path, &st) != 0) {
            r->outcome[i] = 0;
        } else {
            int rc = ckd_rm_rf(path);
            r->outcome[i] = rc < 0 ? rc : 1;
        }
        free(path);
    }
    if (r->nremove > 0) ckd_fsync_dir(r->dir);
}

static void tidy_free(tidy_req *r)
{
    for (size_t i = 0; i < r->nremove; i++) free(r->remove[i]);
    free(r->remove);
    free(r->outcome);
    free(r->dir);
    free(r->pointer);
    free(r->target);
    free(r->pins);
    free(r);
}

static void follow_tidy(struct ckd_follow *f);

static void tidy_done(uv_work_t *req, int status)
{
    tidy_req *r = req->data;
    (void)status;
    struct ckd_follow *f = r->tok.f;
    ckd_job *j = ckd_job_find(r->d, r->job_id);
    if (j) j->busy--;
    r->d->follow_budget.tidies--;
    /* The log is the job's whether or not it still follows: these happened. */
    if (j && r->ptr_err < 0)
        ckd_job_log(j, "warn", "cannot point '%s/%s' at %s: %s", r->dir, r->pointer, r->target,
                    strerror(-r->ptr_err));
    if (j && r->moved)
        ckd_job_log(j, "info", "pointer '%s' -> %s%s%s%s", r->pointer, r->target,
                    r->old[0] ? " (was " : "", r->old, r->old[0] ? ")" : "");
    if (j && r->gone)
        ckd_job_log(j, "warn", "checkpoint %s is no longer in '%s': not pointing at it", r->target,
                    r->dir);
    for (size_t i = 0; i < r->nremove; i++) {
        const char *u = r->remove[i];
        int o = r->outcome[i];
        if (j && o == 1)
            ckd_job_log(j, "info", "removed checkpoint %s from '%s' (beyond keep %zu)", u, r->dir,
                        src_keep(j->source));
        else if (j && o < 0)
            ckd_job_log(j, "warn", "cannot remove '%s/%s': %s", r->dir, u, strerror(-o));
        else if (j && o == 2 && f && !json_object_get(f->pinned, u))
            ckd_job_log(j, "info", "keeping checkpoint %s: it is pinned", u);
        if (j && (o == 0 || o == 1))
            mark_removed(j, f, u, "beyond --keep");
        else if (f && (o == 0 || o == 1))
            json_object_set_new(f->removed, u, json_true());
        if (f && o == 2) json_object_set_new(f->pinned, u, json_true());
    }
    if (f) {
        f->tidy = NULL;
        if (r->gone) {
            /* Choose among the others meanwhile; the budget pass fetches it
             * again while it qualifies. */
            json_object_set_new(f->gone, r->target, json_true());
            f->tidy_again = 1;
            r->d->follow_budget.again = 1;
        } else if (r->ptr_err == 0 && r->target) {
            free(f->pointer_at);
            f->pointer_at = strdup(r->target);
        }
        if (f->tidy_again) {
            f->tidy_again = 0;
            follow_tidy(f);
        }
    }
    ckd_daemon *d = r->d;
    tidy_free(r);
    if (d->follow_budget.again && d->follow_budget.tidies == 0) budget_pass(d);
}

typedef struct done_child {
    const char *uuid;
    size_t rank; /* position in the last ranking; SIZE_MAX when no longer listed */
    int64_t id;
} done_child;

static int cmp_done(const void *a, const void *b)
{
    const done_child *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id; /* newer job first */
}

static size_t rank_of(const json_t *ranked, const char *uuid)
{
    size_t i;
    json_t *v;
    json_array_foreach(ranked, i, v) if (strcmp(json_string_value(v), uuid) == 0) return i;
    return SIZE_MAX;
}

/* Points at the best done child and removes done children beyond keep. Runs
 * after each poll and each child that finished; needs a ranking. */
static void follow_tidy(struct ckd_follow *f)
{
    ckd_job *j = f->job;
    if (!f->ranked || f->state == FOLLOW_CLOSING) return;
    if (f->tidy || j->d->follow_budget.inflight) {
        f->tidy_again = 1; /* one at a time: the next sees this one's result */
        return;
    }
    size_t n = 0, cap = 0;
    done_child *v = NULL;
    for (ckd_job *c = j->d->jobs; c; c = c->next) {
        const char *u = child_uuid(c);
        if (child_parent(c) != j->id || c->state != CKD_JOB_DONE || !u) continue;
        if (json_object_get(f->removed, u) || json_object_get(f->gone, u)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            done_child *nv = realloc(v, cap * sizeof(*nv));
            if (!nv) {
                free(v);
                return;
            }
            v = nv;
        }
        v[n++] = (done_child){.uuid = u, .rank = rank_of(f->ranked, u), .id = c->id};
    }
    size_t keep = src_keep(j->source);
    if (n == 0) {
        free(v);
        return;
    }
    qsort(v, n, sizeof(*v), cmp_done);
    /* A checkpoint fetched again after it vanished has two done children:
     * one copy on disk, counted once (the newer job, sorted first). */
    json_t *seen = json_object();
    size_t m = 0;
    for (size_t i = 0; seen && i < n; i++) {
        if (json_object_get(seen, v[i].uuid)) continue;
        json_object_set_new(seen, v[i].uuid, json_true());
        v[m++] = v[i];
    }
    json_decref(seen);
    if (seen) n = m;
    if (n <= keep && f->pointer_at && strcmp(f->pointer_at, v[0].uuid) == 0) {
        free(v);
        return; /* nothing to move, nothing to remove */
    }
    tidy_req *r = calloc(1, sizeof(*r));
    size_t nrm = n > keep ? n - keep : 0;
    if (r) {
        r->remove = calloc(nrm ? nrm : 1, sizeof(*r->remove));
        r->outcome = calloc(nrm ? nrm : 1, sizeof(*r->outcome));
        r->dir = follow_dir(j);
        r->pointer = strdup(src_pointer(j->source));
        r->target = strdup(v[0].uuid);
        r->pins = j->d->state_dir ? ckd_path_join(j->d->state_dir, CKD_PINS_FILE) : NULL;
    }
    int ok = r && r->remove && r->outcome && r->dir && r->pointer && r->target;
    for (size_t i = 0; ok && i < nrm; i++)
        if (!(r->remove[r->nremove++] = strdup(v[keep + i].uuid))) ok = 0;
    free(v);
    if (!ok) {
        if (r) tidy_free(r);
        ckd_job_log(j, "warn", "cannot update the pointer: out of memory");
        return;
    }
    r->tok.f = f;
    r->d = j->d;
    r->job_id = j->id;
    r->work.data = r;
    if (uv_queue_work(j->d->loop, &r->work, tidy_work, tidy_done) != 0) {
        tidy_free(r);
        return;
    }
    f->tidy = r;
    j->d->follow_budget.tidies++;
    j->busy++; /* a daemon stop waits for the removal to finish */
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

/* A child checkpoint job for uuid, downloading to dir, ahead of bulk jobs. */
static void submit_child(ckd_job *j, const char *dir, const char *uuid)
{
    int prio = j->priority + 10;
    if (prio > 1000) prio = 1000;
    json_t *params =
        json_pack("{s:{s:s, s:s}, s:s, s:{s:I, s:i}}", "source", "kind", "checkpoint", "uuid", uuid,
                  "output", dir, "options", "parent", (json_int_t)j->id, "priority", prio);
    char why[600] = "";
    json_t *err_data = NULL;
    ckd_job *c = NULL;
    int rc = params ? ckd_job_submit(j->d, params, &c, why, sizeof(why), &err_data)
                    : CKP_RPC_INTERNAL_ERROR;
    json_decref(params);
    json_decref(err_data);
    if (rc != 0 || !c)
        ckd_job_log(j, "warn", "cannot submit a download of checkpoint %s: %s", uuid,
                    why[0] ? why : "out of memory");
    else
        ckd_job_log(j, "info", "checkpoint %s qualifies: job %lld downloads it", uuid,
                    (long long)c->id);
}

/* ---- the disk budget and vanished copies (pool work) ----------------------- */

/* Follow jobs whose children the budget counts and may evict: all but the
 * stopped ones (`prefetch stop` leaves its copies to the user). */
static int managed_follow(const ckd_job *p)
{
    return is_follow(p) && p->state != CKD_JOB_CANCELED;
}

/* A child that will write a checkpoint: queued, resolving, running, waiting. */
static int child_in_flight(const ckd_job *c)
{
    return c->state == CKD_JOB_QUEUED || c->state == CKD_JOB_RESOLVING ||
           c->state == CKD_JOB_RUNNING || c->state == CKD_JOB_WAITING;
}

/* The bytes uuid will take: its resolved files, else the master's
 * resources from the last poll, else 0 (not known yet). */
static int64_t child_bytes(const ckd_job *p, const ckd_job *c, const char *uuid)
{
    int64_t t = c && c->nunits > 0 ? ckd_job_bytes_total(c) : -1;
    if (t >= 0) return t;
    json_t *v = p->follow ? json_object_get(p->follow->sizes, uuid) : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Whether uuid needs a new child: none yet, or its newest child is done but
 * its directory vanished (someone removed it). Never one ckptd removed (it
 * would come back on every poll), nor one whose newest child failed or was
 * canceled (a resume is the user's call). */
static int wants_child(const struct ckd_follow *f, const char *uuid)
{
    if (json_object_get(f->removed, uuid)) return 0;
    const ckd_job *newest = NULL;
    for (const ckd_job *c = f->job->d->jobs; c; c = c->next)
        if (child_parent(c) == f->job->id && child_uuid(c) && strcmp(child_uuid(c), uuid) == 0)
            newest = c; /* jobs are by id */
    if (!newest) return 1;
    return newest->state == CKD_JOB_DONE && json_object_get(f->gone, uuid) != NULL;
}

static size_t src_want(const json_t *source)
{
    return is_experiment(source) ? src_top_n(source) : src_keep(source);
}

enum scan_outcome {
    SCAN_PRESENT,   /* there; may be evicted */
    SCAN_PROTECTED, /* there, and a pointer reaches it or it is pinned */
    SCAN_MISSING,   /* its directory is not there */
    SCAN_EVICTED,   /* removed to stay under the budget */
    SCAN_FAILED,    /* the removal failed: err */
};

typedef struct scan_item {
    int64_t job_id; /* the follow job whose child it is */
    char *dir;      /* that job's directory */
    char *uuid;
    enum scan_outcome outcome;
    int64_t bytes; /* apparent size of its regular files */
    int64_t used;  /* last use, ns since the epoch */
    int err;
} scan_item;

typedef struct scan_link {
    char *dir;     /* a follow job's directory ... */
    char *pointer; /* ... and its pointer's name there */
    char *target;  /* what it reaches (read by the work), or NULL */
} scan_link;

typedef struct scan_req {
    uv_work_t work;
    ckd_daemon *d;
    int64_t holder;   /* the job whose busy count keeps a daemon stop waiting */
    int64_t limit;    /* disk_budget; 0: only look for vanished directories */
    int64_t inflight; /* bytes of the children in flight */
    int64_t reserve;  /* room to make for the next child */
    char *pins;
    scan_link *links;
    size_t nlinks, capl;
    scan_item *items;
    size_t n, capi;
    int64_t total; /* result: bytes of the checkpoints still there */
} scan_req;

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Adds the apparent sizes of the regular files under the directory fd to
 * *bytes and raises *used to their newest atime or mtime. Directories' own
 * times are no use: this walk itself updates their atime. Closes fd. */
static void tree_usage(int fd, int depth, int64_t *bytes, int64_t *used)
{
    DIR *dp = fdopendir(fd);
    if (!dp) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(st.st_mode)) {
            *bytes += st.st_size;
            int64_t a = ts_ns(&st.st_atim), m = ts_ns(&st.st_mtim);
            if (a > *used) *used = a;
            if (m > *used) *used = m;
        } else if (S_ISDIR(st.st_mode) && depth < 64) {
            int sub = openat(dirfd(dp), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) tree_usage(sub, depth + 1, bytes, used);
        }
    }
    closedir(dp);
}

/* ckptd's own record of a use, which noatime (or relatime after the first
 * read) would not keep: the manifest's atime set to now, its mtime kept. */
static void mark_used(const char *path)
{
    char m[PATH_MAX];
    if ((size_t)snprintf(m, sizeof(m), "%s/%s", path, CKD_MANIFEST_NAME) >= sizeof(m)) return;
    struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
    utimensat(AT_FDCWD, m, ts, AT_SYMLINK_NOFOLLOW);
}

static int cmp_lru(const void *a, const void *b)
{
    const scan_item *x = *(scan_item *const *)a, *y = *(scan_item *const *)b;
    if (x->used != y->used) return x->used < y->used ? -1 : 1;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->uuid, y->uuid);
}

static void scan_work(uv_work_t *req)
{
    scan_req *r = req->data;
    for (size_t i = 0; i < r->nlinks; i++) {
        char t[PATH_MAX], link[PATH_MAX];
        if ((size_t)snprintf(link, sizeof(link), "%s/%s", r->links[i].dir, r->links[i].pointer) >=
            sizeof(link))
            continue;
        ssize_t n = readlink(link, t, sizeof(t) - 1);
        if (n <= 0) continue;
        t[n] = '\0';
        r->links[i].target = strdup(t);
    }
    size_t nev = 0;
    scan_item **ev = calloc(r->n ? r->n : 1, sizeof(*ev));
    for (size_t i = 0; i < r->n; i++) {
        scan_item *it = &r->items[i];
        char path[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", it->dir, it->uuid) >= sizeof(path) ||
            lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            it->outcome = SCAN_MISSING;
            continue;
        }
        int pointed = 0;
        for (size_t k = 0; k < r->nlinks && !pointed; k++)
            pointed = r->links[k].target && strcmp(r->links[k].dir, it->dir) == 0 &&
                      strcmp(r->links[k].target, it->uuid) == 0;
        if (pointed) mark_used(path);
        if (r->limit > 0) {
            int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) tree_usage(fd, 0, &it->bytes, &it->used);
        }
        r->total += it->bytes;
        if (pointed || ckd_pins_has(r->pins, it->dir, it->uuid)) {
            it->outcome = SCAN_PROTECTED;
        } else {
            it->outcome = SCAN_PRESENT;
            if (ev) ev[nev++] = it;
        }
    }
    if (r->limit > 0 && ev && r->total + r->inflight + r->reserve > r->limit) {
        qsort(ev, nev, sizeof(*ev), cmp_lru);
        for (size_t k = 0; k < nev && r->total + r->inflight + r->reserve > r->limit; k++) {
            scan_item *it = ev[k];
            char *path = ckd_path_join(it->dir, it->uuid);
            int rc = path ? ckd_rm_rf(path) : -ENOMEM;
            free(path);
            if (rc < 0) {
                it->outcome = SCAN_FAILED;
                it->err = rc;
                continue;
            }
            it->outcome = SCAN_EVICTED;
            r->total -= it->bytes;
            ckd_fsync_dir(it->dir);
        }
    }
    free(ev);
}

static void scan_free(scan_req *r)
{
    for (size_t i = 0; i < r->nlinks; i++) {
        free(r->links[i].dir);
        free(r->links[i].pointer);
        free(r->links[i].target);
    }
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].dir);
        free(r->items[i].uuid);
    }
    free(r->links);
    free(r->items);
    free(r->pins);
    free(r);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * size);
    if (!p) return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

/* What the pass looks at, from the loop's view of the jobs; NULL when there
 * is no follow job (or no memory). */
static scan_req *scan_build(ckd_daemon *d)
{
    scan_req *r = calloc(1, sizeof(*r));
    json_t *seen = json_object();
    if (!r || !seen) goto fail;
    r->d = d;
    r->limit = d->cfg.disk_budget;
    if (d->state_dir && !(r->pins = ckd_path_join(d->state_dir, CKD_PINS_FILE))) goto fail;
    for (ckd_job *p = d->jobs; p; p = p->next) {
        if (!managed_follow(p)) continue;
        if (!r->holder) r->holder = p->id;
        if (grow((void **)&r->links, &r->capl, r->nlinks, sizeof(*r->links)) < 0) goto fail;
        scan_link *l = &r->links[r->nlinks++];
        *l = (scan_link){follow_dir(p), strdup(src_pointer(p->source)), NULL};
        if (!l->dir || !l->pointer) goto fail;
    }
    if (!r->holder) goto fail;
    for (ckd_job *c = d->jobs; c; c = c->next) {
        int64_t pid = child_parent(c);
        const char *u = child_uuid(c);
        ckd_job *p = pid && u ? ckd_job_find(d, pid) : NULL;
        if (!p || !managed_follow(p)) continue;
        if (child_in_flight(c)) {
            r->inflight += child_bytes(p, c, u);
            continue;
        }
        struct ckd_follow *f = p->follow;
        if (c->state != CKD_JOB_DONE) continue;
        if (f && (json_object_get(f->removed, u) || json_object_get(f->gone, u))) continue;
        char *dir = follow_dir(p);
        char *path = dir ? ckd_path_join(dir, u) : NULL;
        /* Two follow jobs of one target into one place share the copies. */
        int dup = !path || json_object_get(seen, path);
        if (path) json_object_set_new(seen, path, json_true());
        free(path);
        if (dup) {
            free(dir);
            if (!path) goto fail;
            continue;
        }
        if (grow((void **)&r->items, &r->capi, r->n, sizeof(*r->items)) < 0) {
            free(dir);
            goto fail;
        }
        scan_item *it = &r->items[r->n++];
        *it = (scan_item){.job_id = p->id, .dir = dir, .uuid = strdup(u)};
        if (!it->uuid) goto fail;
    }
    /* Room for the first child some follow job would submit next. */
    for (ckd_job *p = d->jobs; p && r->limit > 0 && r->reserve == 0; p = p->next) {
        struct ckd_follow *f = p->follow;
        if (!f || !f->ranked) continue;
        size_t want = src_want(p->source);
        for (size_t i = 0; i < want && i < json_array_size(f->ranked); i++) {
            const char *u = json_string_value(json_array_get(f->ranked, i));
            if (!wants_child(f, u)) continue;
            r->reserve = child_bytes(p, NULL, u);
            break;
        }
    }
    json_decref(seen);
    return r;
fail:
    json_decref(seen);
    if (r) scan_free(r);
    return NULL;
}

/* Submits the children of f that qualify and fit: room->inflight grows by
 * each. Over the budget, a child still starts when nothing is in flight at
 * all (nothing more could be evicted for it): at most one over the budget. */
static void follow_submit(struct ckd_follow *f, int64_t limit, int64_t complete, int64_t *inflight)
{
    ckd_job *j = f->job;
    if (!f->ranked || f->state == FOLLOW_CLOSING) return;
    size_t want = src_want(j->source);
    char *dir = follow_dir(j);
    for (size_t i = 0; dir && i < want && i < json_array_size(f->ranked); i++) {
        const char *u = json_string_value(json_array_get(f->ranked, i));
        if (!wants_child(f, u)) continue;
        int64_t size = child_bytes(j, NULL, u);
        int said = json_object_get(f->said_room, u) != NULL;
        if (limit > 0 && complete + *inflight + size > limit) {
            if (*inflight > 0) {
                /* The best first: the others wait behind it. */
                if (!said)
                    ckd_job_log(j, "info",
                                "checkpoint %s (%lld bytes) waits for room under the disk budget "
                                "(%lld bytes; %lld on disk, %lld in flight)",
                                u, (long long)size, (long long)limit, (long long)complete,
                                (long long)*inflight);
                json_object_set_new(f->said_room, u, json_true());
                break;
            }
            ckd_job_log(j, "warn",
                        "disk budget %lld bytes: the %lld bytes on disk are pinned, pointed at "
                        "or in use and cannot be evicted; downloading checkpoint %s (%lld bytes) "
                        "anyway, the one checkpoint allowed in flight over the budget",
                        (long long)limit, (long long)complete, u, (long long)size);
        }
        json_object_del(f->said_room, u);
        if (json_object_get(f->gone, u))
            ckd_job_log(j, "info",
                        "checkpoint %s is no longer in '%s' (removed by hand?): downloading it "
                        "again",
                        u, dir);
        submit_child(j, dir, u);
        *inflight += size;
        if (f->state == FOLLOW_CLOSING || j->follow != f) break;
    }
    free(dir);
}

static void scan_done(uv_work_t *req, int status)
{
    scan_req *r = req->data;
    ckd_daemon *d = r->d;
    (void)status;
    ckd_job *h = ckd_job_find(d, r->holder);
    if (h) h->busy--;
    d->follow_budget.inflight = 0;
    for (size_t i = 0; i < r->n; i++) {
        scan_item *it = &r->items[i];
        ckd_job *p = ckd_job_find(d, it->job_id);
        struct ckd_follow *f = p ? p->follow : NULL;
        if (it->outcome == SCAN_EVICTED) {
            if (p)
                ckd_job_log(p, "info", "evicted checkpoint %s from '%s' (LRU, budget %lld)",
                            it->uuid, it->dir, (long long)r->limit);
            if (p) {
                char why[96];
                snprintf(why, sizeof(why), "evicted under the disk budget (%lld bytes)",
                         (long long)r->limit);
                mark_removed(p, f, it->uuid, why);
            }
        } else if (it->outcome == SCAN_FAILED && p) {
            ckd_job_log(p, "warn", "cannot evict '%s/%s': %s", it->dir, it->uuid,
                        strerror(-it->err));
        } else if (it->outcome == SCAN_MISSING && f) {
            json_object_set_new(f->gone, it->uuid, json_true());
        }
    }
    if (!d->stopping) {
        /* In flight as of the pass: a child that finished meanwhile still
         * counts once, never twice, and never not at all. */
        int64_t inflight = r->inflight;
        for (ckd_job *p = d->jobs; p; p = p->next) {
            struct ckd_follow *f = p->follow;
            if (!f) continue;
            follow_submit(f, d->cfg.disk_budget, r->total, &inflight);
            if (p->follow != f) continue;
            f->tidy_again = 0;
            follow_tidy(f);
        }
    }
    scan_free(r);
    if (d->follow_budget.again) budget_pass(d);
}

/* Asks for a budget pass: now, or when the one in flight (or a tidy) ends. */
static void budget_pass(ckd_daemon *d)
{
    if (d->stopping) return;
    if (d->follow_budget.inflight || d->follow_budget.tidies > 0) {
        d->follow_budget.again = 1;
        return;
    }
    d->follow_budget.again = 0;
    scan_req *r = scan_build(d);
    if (!r) return;
    r->work.data = r;
    if (uv_queue_work(d->loop, &r->work, scan_work, scan_done) != 0) {
        scan_free(r);
        return;
    }
    d->follow_budget.inflight = 1;
    ckd_job_find(d, r->holder)->busy++; /* a daemon stop waits for the removals */
}

void ckd_follow_budget_changed(ckd_daemon *d)
{
    budget_pass(d);
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
    budget_pass(j->d);
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
    follow_token *t = calloc(1, sizeof(*t));
    int rc = t ? ckd_master_list_all(j->d->master, path, &q, on_list, t) : -ENOMEM;
    if (rc < 0) {
        free(t);
        if (!poll_failed(f, -EAGAIN, "cannot start a request to the master")) schedule_next(f);
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
    if (!j->d->master || !j->d->master->url) {
        ckd_job_set_state(j, CKD_JOB_FAILED,
                          "no Determined master is configured: start ckptd "
                          "with --master URL or DET_MASTER");
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
    if (f->tidy) f->tidy->tok.f = NULL;
    f->poll = NULL;
    f->tidy = NULL;
    if (poll) {
        poll->f = NULL;
        if (j->d->master) ckd_master_cancel_owner(j->d->master, poll);
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
        budget_pass(d); /* a cleanup pass: the budget, and the next child's turn */
    } else if (j->state == CKD_JOB_FAILED) {
        ckd_job_log(p, "warn", "the download of checkpoint %s (job %lld) failed: %s", u ? u : "?",
                    (long long)j->id, j->error ? j->error : "?");
    }
}
