/* Follow jobs: the pointer symlink and retention. After each poll and each
 * child that finished, follow_tidy() moves <dir>/<pointer> to the best-ranked
 * done child and removes the follow job's done children beyond keep, in the
 * pool (tidy_work), one request per follow job at a time. See follow.c. */
#include "follow_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "fsutil.h"
#include "log.h"
#include "pins.h"

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
        (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-ckptd", dir, name) >= sizeof(tmp))
        return -ENAMETOOLONG;
    ssize_t n = readlink(link, old, oldlen - 1);
    old[n > 0 ? n : 0] = '\0';
    /* A link to a directory that is not there would break every reader. */
    struct stat st;
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s/%s", dir, target);
    if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode)) return -ENOENT;
    if (n > 0 && strcmp(old, target) == 0) return 0;
    /* A leftover of a crash between symlink and rename: the name is fixed
     * (not per process), so a restarted daemon finds and replaces it. */
    unlink(tmp);
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
            follow_mark_removed(j, f, u, "beyond --keep");
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
    if (d->follow_budget.again && d->follow_budget.tidies == 0) follow_budget_pass(d);
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
void follow_tidy(struct ckd_follow *f)
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
        if (!ckd_job_durable(c)) continue; /* the pointer waits for its sync */
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

void follow_tidy_detach(tidy_req *r)
{
    r->tok.f = NULL;
}
