/* Follow jobs: the disk budget and vanished copies. Over all follow jobs, a
 * budget pass (scan_work, in the pool) looks at every done child's
 * directory: one that vanished without ckptd removing it is downloaded again
 * while it qualifies, and with a disk_budget the least recently used
 * unpinned, unpointed checkpoints are evicted until the rest plus the
 * children in flight plus the next child fit. New children are submitted
 * only after that pass (follow_submit), so that they are admitted against
 * it. See follow.c. */
#include "follow_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckp.h"
#include "submit.h"
#include "pins.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"

/* A child checkpoint job for uuid, downloading to dir, ahead of bulk jobs. */
static void submit_child(ckd_job *j, const char *dir, const char *uuid)
{
    int prio = j->priority + 10;
    if (prio > 1000) prio = 1000;
    json_t *params =
        json_pack("{s:{s:s, s:s}, s:s, s:{s:I, s:i}}", "source", "kind", "checkpoint", "uuid", uuid,
                  "output", dir, "options", "parent", (json_int_t)j->id, "priority", prio);
    json_t *master = json_object_get(j->source, "master");
    if (params && master) json_object_set(json_object_get(params, "source"), "master", master);
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
    if (r->limit > 0) d->follow_budget.measured = 1, d->follow_budget.used = r->total;
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
                follow_mark_removed(p, f, it->uuid, why);
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
    if (d->follow_budget.again) follow_budget_pass(d);
}

/* Asks for a budget pass: now, or when the one in flight (or a tidy) ends. */
void follow_budget_pass(ckd_daemon *d)
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
    follow_budget_pass(d);
}
