/* The data plane, control side: submitting work to the least busy worker,
 * the registry of active keys, delivering reports on the control loop, the
 * shared bandwidth bucket and the orderly shutdown. */
#include "plane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plane_int.h"

static atomic_int loop_close_failures;

void ckd__plane_count_loop_failure(void)
{
    atomic_fetch_add(&loop_close_failures, 1);
}

int ckd__plane_loop_close_failures(void)
{
    return atomic_load(&loop_close_failures);
}

/* ---- registry of active keys (control thread) --------------------------- */

static size_t key_bucket(const ckd_plane *p, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (p->nbuckets - 1);
}

/* The active xfer of key, or NULL. */
static pl_xfer *registry_find(const ckd_plane *p, uint64_t key)
{
    for (pl_xfer *x = p->buckets[key_bucket(p, key)]; x; x = x->hnext)
        if (x->f.key == key) return x;
    return NULL;
}

/* Doubles the table when it is fuller than one entry per bucket; a failed
 * growth leaves it as it was (longer chains, still correct). */
static void registry_grow(ckd_plane *p)
{
    size_t n = p->nbuckets * 2;
    pl_xfer **b = calloc(n, sizeof(*b));
    if (!b) return;
    pl_xfer **old = p->buckets;
    size_t oldn = p->nbuckets;
    p->buckets = b;
    p->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        pl_xfer *x = old[i];
        while (x) {
            pl_xfer *next = x->hnext;
            size_t k = key_bucket(p, x->f.key);
            x->hnext = b[k];
            b[k] = x;
            x = next;
        }
    }
    free(old);
}

/* Registers x under its key (the caller checked it is free). */
static void registry_add(ckd_plane *p, pl_xfer *x)
{
    if ((size_t)p->nactive >= p->nbuckets) registry_grow(p);
    size_t k = key_bucket(p, x->f.key);
    x->hnext = p->buckets[k];
    p->buckets[k] = x;
    p->nactive++;
}

/* Forgets x: its key may be submitted again. */
static void registry_remove(ckd_plane *p, pl_xfer *x)
{
    for (pl_xfer **pp = &p->buckets[key_bucket(p, x->f.key)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == x) {
            *pp = x->hnext;
            p->nactive--;
            return;
        }
    }
}

/* ---- command queues ------------------------------------------------------ */

/* Appends c to w's queue (once) and wakes the worker. Control thread.
 * Only a push into an empty queue wakes it: the worker takes commands until
 * it finds the queue empty, so it reaches any pushed behind another. */
static void cmd_push(pl_worker *w, pl_cmd *c)
{
    uv_mutex_lock(&w->lock);
    int wake = w->qhead == NULL;
    if (!c->queued) {
        c->queued = 1;
        c->next = NULL;
        if (w->qtail)
            w->qtail->next = c;
        else
            w->qhead = c;
        w->qtail = c;
    }
    uv_mutex_unlock(&w->lock);
    if (wake) ckd_wake_send(&w->wake);
}

/* Takes c out of w's queue if it is still there. Caller holds w->lock. */
static void cmd_unlink_locked(pl_worker *w, pl_cmd *c)
{
    if (!c->queued) return;
    pl_cmd *prev = NULL;
    for (pl_cmd *q = w->qhead; q; prev = q, q = q->next) {
        if (q != c) continue;
        if (prev)
            prev->next = q->next;
        else
            w->qhead = q->next;
        if (w->qtail == q) w->qtail = prev;
        break;
    }
    c->queued = 0;
    c->next = NULL;
}

/* ---- reports --------------------------------------------------------------- */

/* As cmd_push: only a report into an empty queue wakes the control loop,
 * which takes the whole queue at once. */
void ckd__plane_push_report(ckd_plane *p, pl_report *r)
{
    r->next = NULL;
    uv_mutex_lock(&p->rlock);
    int wake = p->rhead == NULL;
    if (p->rtail)
        p->rtail->next = r;
    else
        p->rhead = r;
    p->rtail = r;
    uv_mutex_unlock(&p->rlock);
    if (wake) ckd_wake_send(&p->reports);
}

/* Close callback of the report wake-up: the very end; done(ud) last. */
static void plane_free(ckd_wake *wk)
{
    ckd_plane *p = wk->data;
    void (*done)(void *) = p->done;
    void *ud = p->done_ud;
    free(p);
    if (done) done(ud);
}

/* Frees an item that never reached a worker, or a kept one. */
static void xfer_free_parts(pl_xfer *x)
{
    XXH3_freeState(x->hash);
    XXH3_freeState(x->final.state);
    ZSTD_freeDCtx(x->zd);
    free(x->zout);
    XXH3_freeState(x->frame_hash);
    free(x->path);
    free(x->path_base);
    free(x);
}

CURL *ckd_plane_easy(ckd_plane *p)
{
    return p->nspare > 0 ? p->spare[--p->nspare] : curl_easy_init();
}

/* Every worker has exited and been joined: free what is left. */
static void plane_teardown(ckd_plane *p)
{
    p->torn_down = 1;
    while (p->nspare > 0) curl_easy_cleanup(p->spare[--p->nspare]);
    while (p->nspare_x > 0) xfer_free_parts(p->spare_x[--p->nspare_x]);
    for (int i = 0; i < p->nworkers; i++) uv_mutex_destroy(&p->w[i].lock);
    free(p->w);
    p->w = NULL;
    free(p->buckets);
    p->buckets = NULL;
    uv_mutex_destroy(&p->rlock);
    uv_mutex_destroy(&p->block);
    ckd_wake_close(&p->reports, plane_free);
}

/* Delivers x's final report and frees x (or keeps it for the next item),
 * after unlinking its commands. */
static void deliver_final(ckd_plane *p, pl_report *r)
{
    pl_xfer *x = r->x;
    pl_worker *w = &p->w[x->widx];
    registry_remove(p, x);
    uv_mutex_lock(&w->lock);
    cmd_unlink_locked(w, &x->abort_cmd);
    cmd_unlink_locked(w, &x->end_cmd);
    uv_mutex_unlock(&w->lock);
    w->nactive--;
    if (x->spent && p->nspare < PL_SPARE_EASY && !p->closing)
        p->spare[p->nspare++] = x->spent;
    else if (x->spent)
        curl_easy_cleanup(x->spent);
    r->r.hash = r->state;
    p->cb(p->ud, &r->r);
    free(x->path);
    free(x->path_base);
    x->path = x->path_base = NULL;
    if (p->nspare_x < PL_SPARE_EASY && !p->closing)
        p->spare_x[p->nspare_x++] = x;
    else
        xfer_free_parts(x);
}

/* The report async: delivers every queued report in order, joins exited
 * workers, and tears the plane down once all have exited after a close. */
static void on_reports(ckd_wake *wk)
{
    ckd_plane *p = wk->data;
    uv_mutex_lock(&p->rlock);
    pl_report *list = p->rhead;
    p->rhead = p->rtail = NULL;
    uv_mutex_unlock(&p->rlock);
    while (list) {
        pl_report *r = list;
        list = r->next;
        switch (r->kind) {
        case PL_REP_PROGRESS:
            r->r.hash = r->state;
            p->cb(p->ud, &r->r);
            XXH3_freeState(r->state);
            free(r);
            break;
        case PL_REP_FINAL:
            deliver_final(p, r);
            break;
        case PL_REP_EXIT:
            /* The worker queued this as its last act: the join is short. */
            uv_thread_join(&r->w->thread);
            r->w->started = 0;
            p->exited++;
            break;
        }
    }
    if (p->closing && p->exited == p->nworkers && !p->torn_down) plane_teardown(p);
}

/* ---- bandwidth ------------------------------------------------------------- */

int64_t ckd__plane_rate_take(ckd_plane *p, size_t n)
{
    int64_t rate = atomic_load_explicit(&p->rate, memory_order_relaxed);
    if (rate <= 0) return 0;
    uv_mutex_lock(&p->block);
    uint64_t now = uv_hrtime();
    double burst = (double)rate / 10 > 65536 ? (double)rate / 10 : 65536;
    p->tokens += (double)rate * (double)(now - p->refill_ns) / 1e9;
    p->refill_ns = now;
    if (p->tokens > burst) p->tokens = burst;
    int64_t wait = 0;
    if (p->tokens > 0)
        p->tokens -= (double)n; /* may go into debt: the next ones wait it off */
    else
        wait = (int64_t)(-p->tokens * 1000 / (double)rate) + 1;
    uv_mutex_unlock(&p->block);
    return wait > PL_RATE_MAX_WAIT_MS ? PL_RATE_MAX_WAIT_MS : wait;
}

void ckd_plane_set_rate(ckd_plane *p, int64_t bytes_per_s)
{
    if (bytes_per_s < 0) bytes_per_s = 0;
    uv_mutex_lock(&p->block);
    p->refill_ns = uv_hrtime();
    p->tokens = (double)bytes_per_s / 10;
    atomic_store(&p->rate, bytes_per_s);
    uv_mutex_unlock(&p->block);
}

void ckd_plane_set_buffer_size(ckd_plane *p, long bytes)
{
    if (bytes < 16384) bytes = 16384;
    if (bytes > 10L << 20) bytes = 10L << 20;
    p->bufsize = bytes;
}

/* ---- life cycle ------------------------------------------------------------ */

/* Sets up worker i's loop, handles and multi handle (not its thread).
 * On failure everything of it is undone. */
static int worker_init(ckd_plane *p, int i)
{
    pl_worker *w = &p->w[i];
    w->p = p;
    w->idx = i;
    w->stop_cmd.type = PL_CMD_STOP;
    w->exit_report.kind = PL_REP_EXIT;
    w->exit_report.w = w;
    int rc = uv_mutex_init(&w->lock);
    if (rc < 0) return rc;
    rc = uv_loop_init(&w->loop);
    if (rc < 0) goto fail_lock;
    w->multi = curl_multi_init();
    if (!w->multi) {
        rc = -ENOMEM;
        goto fail_loop;
    }
    rc = ckd_wake_init(&w->loop, &w->wake, ckd__plane_worker_wake); /* an eventfd: EMFILE */
    if (rc < 0) {
        curl_multi_cleanup(w->multi);
        goto fail_loop;
    }
    uv_timer_init(&w->loop, &w->timer); /* never fails */
    uv_timer_init(&w->loop, &w->unpause);
    w->wake.data = w->timer.data = w->unpause.data = w;
    return 0;
fail_loop:
    uv_loop_close(&w->loop);
fail_lock:
    uv_mutex_destroy(&w->lock);
    return rc;
}

/* Undoes worker_init for a worker whose thread never ran. */
static void worker_uninit(pl_worker *w)
{
    curl_multi_cleanup(w->multi);
    ckd_wake_close(&w->wake, NULL);
    uv_close((uv_handle_t *)&w->timer, NULL);
    uv_close((uv_handle_t *)&w->unpause, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0) ckd__plane_count_loop_failure();
    uv_mutex_destroy(&w->lock);
}

int ckd_plane_init(ckd_plane **out, uv_loop_t *control, int nworkers, ckd_plane_report_cb cb,
                   void *ud)
{
    *out = NULL;
    if (nworkers < 1 || !cb || !control) return -EINVAL;
    ckd_plane *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->control = control;
    p->cb = cb;
    p->ud = ud;
    p->nworkers = nworkers;
    p->bufsize = CKD_PLANE_BUFFER_SIZE;
    p->nbuckets = 64;
    atomic_init(&p->rate, 0);
    int rc = -ENOMEM;
    p->buckets = calloc(p->nbuckets, sizeof(*p->buckets));
    size_t wsize = (size_t)nworkers * sizeof(pl_worker);
    p->w = p->buckets ? calloc(1, wsize) : NULL;
    if (!p->w) goto fail_mem;
    if ((rc = uv_mutex_init(&p->rlock)) < 0) goto fail_mem;
    if ((rc = uv_mutex_init(&p->block)) < 0) goto fail_rlock;
    if ((rc = ckd_wake_init(control, &p->reports, on_reports)) < 0) goto fail_block;
    p->reports.data = p;
    int n = 0;
    for (; n < nworkers; n++)
        if ((rc = worker_init(p, n)) < 0) break;
    for (int i = 0; rc == 0 && i < nworkers; i++) {
        rc = uv_thread_create(&p->w[i].thread, ckd__plane_worker_main, &p->w[i]);
        if (rc == 0) p->w[i].started = 1;
    }
    if (rc == 0) {
        *out = p;
        return 0;
    }
    /* Stop the threads that run (they have no work: quick), undo the rest. */
    for (int i = 0; i < n; i++) {
        pl_worker *w = &p->w[i];
        if (w->started) {
            cmd_push(w, &w->stop_cmd);
            uv_thread_join(&w->thread);
            uv_mutex_destroy(&w->lock);
        } else {
            worker_uninit(w);
        }
    }
    /* Exit markers of the stopped workers may be queued: they hold nothing. */
    p->rhead = p->rtail = NULL;
    free(p->w);
    free(p->buckets);
    uv_mutex_destroy(&p->block);
    uv_mutex_destroy(&p->rlock);
    p->done = NULL;
    ckd_wake_close(&p->reports, plane_free);
    return rc;
fail_block:
    uv_mutex_destroy(&p->block);
fail_rlock:
    uv_mutex_destroy(&p->rlock);
fail_mem:
    free(p->w);
    free(p->buckets);
    free(p);
    return rc;
}

/* The worker with the fewest active items; ties go round-robin. */
static int pick_worker(ckd_plane *p)
{
    int best = -1;
    for (int k = 0; k < p->nworkers; k++) {
        int i = (p->rr + k) % p->nworkers;
        if (best < 0 || p->w[i].nactive < p->w[best].nactive) best = i;
    }
    p->rr = (best + 1) % p->nworkers;
    return best;
}

/* 1 when f describes a range the plane can fetch. */
static int fetch_valid(const ckd_fetch *f)
{
    if (!f->easy || (f->fd < 0 && (!f->path || !f->path_base)) || f->start < 0 ||
        f->off < f->start || f->step < 0 || f->prealloc < 0)
        return 0;
    if (f->end >= 0 && f->end <= f->off) return 0;
    if (f->end < -1) return 0;
    if (!memchr(f->validator, '\0', sizeof(f->validator))) return 0;
    if (f->zstd && (f->start != 0 || f->dec_off < 0)) return 0;
    if (!f->hash && (f->off != f->start || (f->zstd && f->dec_off != 0))) return 0;
    return 1;
}

/* Frees an xfer that was never submitted. */

/* A cleared item with its two hash states: a kept one, or a new one. */
static pl_xfer *xfer_new(ckd_plane *p)
{
    if (p->nspare_x > 0) {
        pl_xfer *x = p->spare_x[--p->nspare_x];
        XXH3_state_t *h = x->hash, *fin = x->final.state;
        memset(x, 0, sizeof(*x));
        x->hash = h;
        x->final.state = fin;
        return x;
    }
    pl_xfer *x = calloc(1, sizeof(*x));
    if (x) {
        x->hash = XXH3_createState();
        x->final.state = XXH3_createState();
    }
    return x;
}

int ckd_plane_submit(ckd_plane *p, const ckd_fetch *f)
{
    if (p->closing) return -ESHUTDOWN;
    if (!fetch_valid(f)) return -EINVAL;
    if (registry_find(p, f->key)) return -EEXIST;
    pl_xfer *x = xfer_new(p);
    if (!x) return -ENOMEM;
    x->f = *f;
    x->f.hash = NULL;
    x->f.path = x->f.path_base = NULL;
    if (f->fd < 0) {
        x->path = strdup(f->path);
        x->path_base = strdup(f->path_base);
    }
    if (!x->hash || !x->final.state || (f->fd < 0 && (!x->path || !x->path_base))) {
        xfer_free_parts(x);
        return -ENOMEM;
    }
    if (f->hash)
        XXH3_copyState(x->hash, f->hash);
    else
        XXH3_128bits_reset(x->hash);
    if (f->zstd) {
        x->zd = ZSTD_createDCtx();
        x->zout_cap = ZSTD_DStreamOutSize();
        x->zout = malloc(x->zout_cap);
        x->frame_hash = XXH3_createState();
        if (!x->zd || !x->zout || !x->frame_hash) {
            xfer_free_parts(x);
            return -ENOMEM;
        }
        ZSTD_DCtx_setParameter(x->zd, ZSTD_d_windowLogMax, PL_ZSTD_WINDOW_LOG_MAX);
        XXH3_copyState(x->frame_hash, x->hash);
    }
    int rc = ckd__plane_xfer_setup(p, x);
    if (rc < 0) {
        xfer_free_parts(x);
        return rc;
    }
    x->widx = pick_worker(p);
    x->submit_cmd.type = PL_CMD_SUBMIT;
    x->submit_cmd.x = x;
    x->abort_cmd.type = PL_CMD_ABORT;
    x->abort_cmd.key = f->key;
    x->end_cmd.type = PL_CMD_END;
    x->end_cmd.key = f->key;
    x->final.kind = PL_REP_FINAL;
    x->final.x = x;
    registry_add(p, x);
    p->w[x->widx].nactive++;
    cmd_push(&p->w[x->widx], &x->submit_cmd);
    return 0;
}

void ckd_plane_abort(ckd_plane *p, uint64_t key)
{
    if (p->closing) return; /* close aborts everything anyway */
    pl_xfer *x = registry_find(p, key);
    if (x) cmd_push(&p->w[x->widx], &x->abort_cmd);
}

void ckd_plane_set_end(ckd_plane *p, uint64_t key, int64_t new_end)
{
    if (p->closing || new_end < 0) return;
    pl_xfer *x = registry_find(p, key);
    if (!x || x->f.zstd) return;
    pl_worker *w = &p->w[x->widx];
    uv_mutex_lock(&w->lock);
    /* Two cuts before the worker looks: the shorter one holds. */
    if (!x->end_cmd.queued || new_end < x->end_cmd.val) x->end_cmd.val = new_end;
    uv_mutex_unlock(&w->lock);
    cmd_push(w, &x->end_cmd);
}

int ckd_plane_active(const ckd_plane *p)
{
    return p->nactive;
}

void ckd_plane_close(ckd_plane *p, void (*done)(void *ud), void *ud)
{
    if (p->closing) return;
    p->closing = 1;
    p->done = done;
    p->done_ud = ud;
    for (int i = 0; i < p->nworkers; i++) cmd_push(&p->w[i], &p->w[i].stop_cmd);
}
