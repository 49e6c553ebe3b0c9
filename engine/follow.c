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
 * Lifetimes: j->follow (struct ckd_follow) is freed only in its timer's
 * close callback. A master request or a pool work item in flight holds a
 * small token whose `f` is cleared by ckd_follow_stop(), so an answer that
 * arrives after a stop touches nothing but the token. Everything is on the
 * loop thread except tidy_work(), which sees only its own request. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckp.h"
#include "det_model.h"
#include "det_select.h"
#include "follow.h"
#include "fsutil.h"
#include "log.h"
#include "master.h"

#define FOLLOW_MAX_KEEP     1000
#define FOLLOW_MAX_TOP_N    1000
#define FOLLOW_MAX_INTERVAL 86400.0
#define FOLLOW_BACKOFF_MAX  10 /* times the interval */

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
    json_t *removed;    /* uuid -> true: directories already removed */
    json_t *pinned;     /* uuid -> true: "pinned" already logged */
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

int ckd_follow_check_source(const json_t *source, char *why, size_t whylen)
{
    const char *target = src_str(source, "target");
    json_t *id = json_object_get(source, "id");
    const char *select = src_str(source, "select");
    const char *pointer = src_str(source, "pointer");
    json_t *topn = json_object_get(source, "top_n");
    json_t *keep = json_object_get(source, "keep");
    json_t *interval = json_object_get(source, "interval");
    if (!target || (strcmp(target, "trial") && strcmp(target, "experiment"))) {
        snprintf(why, whylen, "'target' must be \"trial\" or \"experiment\"");
        return -EINVAL;
    }
    int exp = strcmp(target, "experiment") == 0;
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        snprintf(why, whylen, "'id' must be a positive integer");
        return -EINVAL;
    }
    if (!exp && (!select || (strcmp(select, "latest") && strcmp(select, "best")))) {
        snprintf(why, whylen, "'select' must be \"latest\" or \"best\"");
        return -EINVAL;
    }
    if (exp && json_object_get(source, "select") && (!select || strcmp(select, "best"))) {
        snprintf(why, whylen,
                 "an experiment is followed by its best checkpoints: 'select' "
                 "must be \"best\" or absent");
        return -EINVAL;
    }
    if (topn && (!exp || !json_is_integer(topn) || json_integer_value(topn) < 1 ||
                 json_integer_value(topn) > FOLLOW_MAX_TOP_N)) {
        snprintf(why, whylen, "'top_n' must be an integer from 1 to %d, for an experiment",
                 FOLLOW_MAX_TOP_N);
        return -EINVAL;
    }
    if (keep && (!json_is_integer(keep) || json_integer_value(keep) < 1 ||
                 json_integer_value(keep) > FOLLOW_MAX_KEEP)) {
        snprintf(why, whylen, "'keep' must be an integer from 1 to %d", FOLLOW_MAX_KEEP);
        return -EINVAL;
    }
    if (exp && keep && (size_t)json_integer_value(keep) < src_top_n(source)) {
        snprintf(why, whylen, "'keep' (%lld) must be at least 'top_n' (%zu)",
                 (long long)json_integer_value(keep), src_top_n(source));
        return -EINVAL;
    }
    if (interval && (!json_is_number(interval) || !(json_number_value(interval) >= 1.0) ||
                     json_number_value(interval) > FOLLOW_MAX_INTERVAL)) {
        snprintf(why, whylen, "'interval' must be a number of seconds from 1 to %.0f",
                 FOLLOW_MAX_INTERVAL);
        return -EINVAL;
    }
    if (json_object_get(source, "pointer") &&
        (!pointer || (strcmp(pointer, "latest") && strcmp(pointer, "best")))) {
        snprintf(why, whylen, "'pointer' must be \"latest\" or \"best\"");
        return -EINVAL;
    }
    return 0;
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
    return j->kind && strcmp(j->kind, "follow") == 0;
}

/* The follow job a checkpoint job was submitted by, or 0. */
static int64_t child_parent(const ckd_job *c)
{
    if (!c->kind || strcmp(c->kind, "checkpoint") != 0) return 0;
    json_t *p = json_object_get(c->options, "parent");
    return json_is_integer(p) ? (int64_t)json_integer_value(p) : 0;
}

static const char *child_uuid(const ckd_job *c)
{
    return src_str(c->source, "uuid");
}

static ckd_job *find_child(ckd_daemon *d, int64_t parent, const char *uuid)
{
    for (ckd_job *c = d->jobs; c; c = c->next)
        if (child_parent(c) == parent && child_uuid(c) && strcmp(child_uuid(c), uuid) == 0)
            return c;
    return NULL;
}

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

/* Whether dir/uuid is listed in the pins file (a uuid or a path a line). */
static int pinned(const char *pins, const char *dir, const char *uuid)
{
    FILE *fp = pins ? fopen(pins, "re") : NULL;
    if (!fp) return 0;
    char line[PATH_MAX + 2], full[PATH_MAX + 2];
    snprintf(full, sizeof(full), "%s/%s", dir, uuid);
    int hit = 0;
    while (!hit && fgets(line, sizeof(line), fp)) {
        size_t n = strcspn(line, "\r\n");
        while (n > 1 && line[n - 1] == '/') n--;
        line[n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0' || *s == '#') continue;
        hit = strcmp(s, uuid) == 0 || strcmp(s, full) == 0;
    }
    fclose(fp);
    return hit;
}

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
        } else if (pinned(r->pins, r->dir, r->remove[i])) {
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
        if (f && (o == 0 || o == 1)) json_object_set_new(f->removed, u, json_true());
        if (f && o == 2) json_object_set_new(f->pinned, u, json_true());
    }
    if (f) {
        f->tidy = NULL;
        if (r->gone) {
            /* Choose among the others; its child stays done, its copy is gone. */
            json_object_set_new(f->removed, r->target, json_true());
            f->tidy_again = 1;
        } else if (r->ptr_err == 0 && r->target) {
            free(f->pointer_at);
            f->pointer_at = strdup(r->target);
        }
        if (f->tidy_again) {
            f->tidy_again = 0;
            follow_tidy(f);
        }
    }
    tidy_free(r);
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
    if (f->tidy) {
        f->tidy_again = 1; /* one at a time: the next sees this one's result */
        return;
    }
    size_t n = 0, cap = 0;
    done_child *v = NULL;
    for (ckd_job *c = j->d->jobs; c; c = c->next) {
        const char *u = child_uuid(c);
        if (child_parent(c) != j->id || c->state != CKD_JOB_DONE || !u) continue;
        if (json_object_get(f->removed, u)) continue;
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
        r->pins = j->d->state_dir ? ckd_path_join(j->d->state_dir, "pins") : NULL;
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

static int has_sort_value(const ckd_det_query *q, const ckd_det_checkpoint *cp)
{
    if (q->sort == CKD_DET_SORT_SEARCHER_METRIC)
        return cp->has_searcher_metric && !isnan(cp->searcher_metric);
    if (q->sort == CKD_DET_SORT_BATCH_NUMBER) return cp->has_steps_completed;
    return 1;
}

/* The ranking of a list reply, best (or newest) first, as a JSON array of
 * uuids: resolve.c's semantics over the whole list, so that a checkpoint's
 * rank stays meaningful for retention after it left the top. */
static json_t *rank(ckd_job *j, json_t *body)
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
    int sib = ok > 0 ? cps[0].smaller_is_better : 1;
    if (is_experiment(j->source))
        ckd_det_query_top_n(&q, sib, 0, 0);
    else if (strcmp(src_select(j->source), "latest") == 0)
        ckd_det_query_trial_latest(&q);
    else
        ckd_det_query_trial_best(&q, sib);
    q.max_results = 0;
    size_t nsel = 0;
    if (ckd_det_select(&q, cps, ok, order, &nsel) < 0) goto done;
    out = json_array();
    /* Those without the value they are ranked by go after all the others. */
    for (int pass = 0; out && pass < 2; pass++)
        for (size_t i = 0; i < nsel; i++)
            if (has_sort_value(&q, &cps[order[i]]) == (pass == 0))
                json_array_append_new(out, json_string(cps[order[i]].uuid));
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
    json_t *ranked = rank(j, body);
    if (!ranked) {
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
    size_t want = is_experiment(j->source) ? src_top_n(j->source) : src_keep(j->source);
    if (json_array_size(ranked) == 0 && !f->said_empty) {
        ckd_job_log(j, "info", "no downloadable checkpoint yet; polling");
        f->said_empty = 1;
    }
    char *dir = follow_dir(j);
    for (size_t i = 0; dir && i < want && i < json_array_size(ranked); i++) {
        const char *u = json_string_value(json_array_get(ranked, i));
        if (find_child(j->d, j->id, u)) continue;
        /* A copy already on disk (a previous follow, a manual download) is
         * adopted through a child too: it reports it present after checking
         * its manifest, without fetching it again. */
        submit_child(j, dir, u);
        if (f->state == FOLLOW_CLOSING) break;
    }
    free(dir);
    if (f->state == FOLLOW_CLOSING) return;
    follow_tidy(f);
    schedule_next(f);
}

static void follow_poll(struct ckd_follow *f)
{
    ckd_job *j = f->job;
    char path[128];
    int exp = is_experiment(j->source);
    snprintf(path, sizeof(path), "/api/v1/%s/%lld/checkpoints", exp ? "experiments" : "trials",
             src_id(j->source));
    /* The sort resolve.c asks for; rank() sorts again whatever comes. */
    ckd_det_query q;
    if (exp)
        ckd_det_query_top_n(&q, 1, 0, 0);
    else
        ckd_det_query_trial_latest(&q);
    q.max_results = 0;
    q.states = CKD_DET_STATES_DOWNLOADABLE;
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
    if (ckd_follow_check_source(j->source, why, sizeof(why)) < 0) {
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
    if (!f || !(f->removed = json_object()) || !(f->pinned = json_object())) {
        if (f) json_decref(f->removed);
        free(f);
        ckd_job_set_state(j, CKD_JOB_FAILED, "out of memory");
        return;
    }
    f->job = j;
    f->state = FOLLOW_IDLE;
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
    free(f->pointer_at);
    free(f);
}

void ckd_follow_stop(ckd_job *j)
{
    struct ckd_follow *f = j->follow;
    if (!f) return;
    j->follow = NULL;
    f->state = FOLLOW_CLOSING;
    /* Answers still on their way find a token that leads nowhere. */
    if (f->poll) f->poll->f = NULL;
    if (f->tidy) f->tidy->tok.f = NULL;
    f->poll = NULL;
    f->tidy = NULL;
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
        follow_tidy(p->follow);
    } else if (j->state == CKD_JOB_FAILED) {
        ckd_job_log(p, "warn", "the download of checkpoint %s (job %lld) failed: %s", u ? u : "?",
                    (long long)j->id, j->error ? j->error : "?");
    }
}
