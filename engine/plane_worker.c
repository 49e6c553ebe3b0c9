/* The data plane, worker side: one thread per worker running its own libuv
 * loop, which drives its own libcurl multi handle through the multi socket
 * API (one uv_poll_t per socket, one uv_timer_t for libcurl's timeout; as
 * curl's docs/examples/multi-uv.c, with the error checks). Commands arrive
 * through the worker's queue and its ckd_wake. */
#include "plane_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- libcurl <-> libuv glue ---------------------------------------------- */

/* Hands every finished transfer of w's multi handle to its verdict. */
static void drain_messages(pl_worker *w)
{
    CURLMsg *msg;
    int left;
    while (w->multi && (msg = curl_multi_info_read(w->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result; /* msg is invalid after the removal */
        pl_xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(w->multi, e);
        x->in_multi = 0;
        ckd__plane_xfer_done(x, rc);
    }
}

/* Runs libcurl for socket s (or its timeout), then collects what ended. */
static void socket_action(pl_worker *w, curl_socket_t s, int flags)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(w->multi, s, flags, &running);
    /* A socket libcurl already forgot is harmless; anything else (out of
     * memory) leaves the transfers to their own timeouts. */
    (void)mc;
    drain_messages(w);
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watches pp's socket for events (0: none). uv_poll_start re-registers the
 * socket with epoll every time, so only a change is passed on. */
static int poll_watch(pl_poll *pp, int events)
{
    if (events == pp->events) return 0;
    int rc = events ? uv_poll_start(&pp->h, events, on_poll) : uv_poll_stop(&pp->h);
    pp->events = rc == 0 ? events : 0;
    return rc;
}

/* A watched socket is ready (or failed): tell libcurl. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    pl_poll *pp = h->data;
    if (pp->parked) {
        /* An idle connection's socket said something (the server closed
         * it): libcurl finds out when it reuses or prunes it. */
        poll_watch(pp, 0);
        return;
    }
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    socket_action(pp->w, pp->fd, flags);
}

/* Close callback of a poll handle: frees its context. */
static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Stops watching pp's socket and frees pp once libuv is done with it. The
 * socket must still be open (libuv removes it from its epoll set). */
static void poll_close(pl_poll *pp)
{
    pl_worker *w = pp->w;
    if (pp->closing) return;
    pp->closing = 1;
    if (pp->prev)
        pp->prev->next = pp->next;
    else
        w->polls = pp->next;
    if (pp->next) pp->next->prev = pp->prev;
    uv_close((uv_handle_t *)&pp->h, on_poll_closed);
}

/* CURLOPT_CLOSESOCKETFUNCTION: libcurl may announce CURL_POLL_REMOVE only
 * after it closed a socket, and then another thread may already own the
 * number again; so the poll is closed here, before the socket is. */
int ckd__plane_close_socket(void *clientp, curl_socket_t s)
{
    pl_worker *w = clientp;
    for (pl_poll *pp = w->polls; pp; pp = pp->next) {
        if (pp->fd != s) continue;
        poll_close(pp);
        /* Out of curl's hash too; within cleanup the hash is going away
         * and a late REMOVE finds pp closing (freed only on a later turn). */
        if (!w->in_cleanup) curl_multi_assign(w->multi, s, NULL);
        break;
    }
    return close(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch socket s for what, or stop. A socket
 * libcurl lets go of stays open as an idle connection: its poll handle is
 * parked, still watching for reads, so that the next transfer on it costs
 * no epoll_ctl (two per file otherwise); it is closed with the socket
 * (ckd__plane_close_socket). */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    pl_worker *w = userp;
    pl_poll *pp = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (pp) {
            if (!w->in_cleanup) curl_multi_assign(w->multi, s, NULL);
            /* Only a socket already watched for reads alone stays
             * registered: re-arming it now would leave an epoll_ctl pending
             * for a socket libcurl may close before the loop gets to it. */
            pp->parked = 1;
            if (pp->events != UV_READABLE) poll_watch(pp, 0);
        }
        return 0;
    }
    if (!pp) {
        for (pl_poll *q = w->polls; q; q = q->next) {
            if (q->fd != s || !q->parked) continue;
            if (curl_multi_assign(w->multi, s, q) != CURLM_OK) return -1;
            q->parked = 0;
            pp = q;
            break;
        }
    }
    if (!pp) {
        pp = calloc(1, sizeof(*pp));
        if (!pp) return -1;
        pp->fd = s;
        pp->w = w;
        pp->h.data = pp;
        if (uv_poll_init_socket(&w->loop, &pp->h, s) != 0) {
            free(pp);
            return -1;
        }
        pp->next = w->polls;
        if (w->polls) w->polls->prev = pp;
        w->polls = pp;
        if (curl_multi_assign(w->multi, s, pp) != CURLM_OK) {
            poll_close(pp);
            return -1;
        }
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    return poll_watch(pp, events) == 0 ? 0 : -1;
}

/* libcurl's timeout fired. */
static void on_timeout(uv_timer_t *t)
{
    socket_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the single timer. A zero timeout
 * fires from the loop, never from inside libcurl. */
static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    pl_worker *w = userp;
    if (timeout_ms < 0) return uv_timer_stop(&w->timer) == 0 ? 0 : -1;
    return uv_timer_start(&w->timer, on_timeout, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

/* ---- bandwidth back-pressure -------------------------------------------- */

/* Unpauses every transfer the bandwidth cap paused. An unpause may hand the
 * held bytes to the write callback at once: when that ends the transfer,
 * curl_easy_pause says so and the transfer is over here. */
static void on_unpause(uv_timer_t *t)
{
    pl_worker *w = t->data;
    pl_xfer *next;
    for (pl_xfer *x = w->active; x; x = next) {
        next = x->next;
        if (!x->paused || !x->in_multi) continue;
        x->paused = 0;
        CURLcode rc = curl_easy_pause(x->f.easy, CURLPAUSE_CONT);
        if (rc != CURLE_OK) {
            curl_multi_remove_handle(w->multi, x->f.easy);
            x->in_multi = 0;
            ckd__plane_xfer_done(x, rc);
        }
    }
    drain_messages(w);
}

/* ---- commands ------------------------------------------------------------- */

static pl_xfer *find_active(pl_worker *w, uint64_t key)
{
    for (pl_xfer *x = w->active; x; x = x->next)
        if (x->f.key == key) return x;
    return NULL;
}

/* A new item from the control thread: into the multi handle. */
static void start_xfer(pl_worker *w, pl_xfer *x)
{
    x->w = w;
    curl_easy_setopt(x->f.easy, CURLOPT_CLOSESOCKETFUNCTION, ckd__plane_close_socket);
    curl_easy_setopt(x->f.easy, CURLOPT_CLOSESOCKETDATA, w);
    x->next = w->active;
    if (w->active) w->active->prev = x;
    w->active = x;
    if (w->stopping) {
        ckd__plane_xfer_end(x, CKD_FETCH_ABORTED, "aborted: the data plane is closing");
        return;
    }
    if (x->f.fd < 0 && ckd__plane_xfer_open(x) < 0) {
        ckd__plane_xfer_finish(x);
        return;
    }
    CURLMcode mc = curl_multi_add_handle(w->multi, x->f.easy);
    if (mc != CURLM_OK) {
        ckd__plane_xfer_end(x, CKD_FETCH_FAIL, curl_multi_strerror(mc));
        return;
    }
    x->in_multi = 1;
}

/* Cuts the range of key at new_end (see ckd_plane_set_end). */
static void set_end(pl_worker *w, uint64_t key, int64_t new_end)
{
    pl_xfer *x = find_active(w, key);
    if (!x || x->f.zstd) return;
    if (x->f.end >= 0 && new_end >= x->f.end) return;
    if (new_end <= x->pos + (int64_t)x->wlen) {
        /* Already there (or past it): the range ends where it is. */
        x->f.end = x->pos + (int64_t)x->wlen;
        ckd__plane_xfer_end(x, CKD_FETCH_OK, NULL);
        return;
    }
    x->f.end = new_end; /* the write callback stops there */
}

/* Ends every transfer and closes every handle: the loop then runs out and
 * the thread ends. */
static void stop_worker(pl_worker *w)
{
    if (w->stopping) return;
    w->stopping = 1;
    while (w->active)
        ckd__plane_xfer_end(w->active, CKD_FETCH_ABORTED, "aborted: the data plane is closing");
    /* Cleanup closes the cached connections; libcurl tells on_socket to
     * remove their sockets. Any it did not are closed below. */
    w->in_cleanup = 1;
    curl_multi_cleanup(w->multi);
    w->multi = NULL;
    w->in_cleanup = 0;
    while (w->polls) poll_close(w->polls);
    uv_close((uv_handle_t *)&w->timer, NULL);
    uv_close((uv_handle_t *)&w->unpause, NULL);
    ckd_wake_close(&w->wake, NULL);
}

void ckd__plane_worker_wake(ckd_wake *wk)
{
    pl_worker *w = wk->data;
    for (;;) {
        uv_mutex_lock(&w->lock);
        pl_cmd *c = w->qhead;
        enum pl_cmd_type type = PL_CMD_STOP;
        uint64_t key = 0;
        int64_t val = 0;
        pl_xfer *x = NULL;
        if (c) {
            w->qhead = c->next;
            if (!w->qhead) w->qtail = NULL;
            c->queued = 0;
            c->next = NULL;
            type = c->type;
            key = c->key;
            val = c->val;
            x = c->x;
        }
        uv_mutex_unlock(&w->lock);
        if (!c) break;
        /* From here on c may be freed by the control thread: copies only. */
        switch (type) {
        case PL_CMD_SUBMIT:
            start_xfer(w, x);
            break;
        case PL_CMD_ABORT:
            if ((x = find_active(w, key))) ckd__plane_xfer_end(x, CKD_FETCH_ABORTED, "aborted");
            break;
        case PL_CMD_END:
            set_end(w, key, val);
            break;
        case PL_CMD_STOP:
            stop_worker(w);
            break;
        }
    }
    if (!w->stopping) drain_messages(w);
}

void ckd__plane_worker_paused(pl_worker *w, int64_t wait_ms)
{
    if (uv_is_active((uv_handle_t *)&w->unpause) &&
        uv_timer_get_due_in(&w->unpause) <= (uint64_t)wait_ms)
        return; /* an earlier wake-up is due: it unpauses everyone */
    uv_timer_start(&w->unpause, on_unpause, (uint64_t)wait_ms, 0);
}

void ckd__plane_worker_main(void *arg)
{
    pl_worker *w = arg;
    /* A name per thread: `top -H`, perf and /proc/PID/task tell them apart. */
    pthread_setname_np(pthread_self(), "ckptd-plane");
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* The loop ran out: stop_worker closed every handle. */
    if (uv_loop_close(&w->loop) != 0) ckd__plane_count_loop_failure();
    ckd__plane_push_report(w->p, &w->exit_report);
}
