/* The transfer engine: libcurl's multi socket API driven by the libuv loop,
 * and the coalescing write path that moves bytes to disk off the loop. */
#include "xfer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ckp.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"

/* A write buffer: libcurl hands us at most CURLOPT_BUFFERSIZE bytes per
 * callback; we hand the disk this much at a time. */
#define XFER_BUF_SIZE   (1 << 20)
#define CURL_CHUNK_SIZE (128 << 10)

/* One uv_poll_t per socket libcurl asks us to watch. */
typedef struct poll_ctx {
    uv_poll_t handle;
    curl_socket_t fd;
    ckd_daemon *d;
} poll_ctx;

static uv_mutex_t create_lock;
static void xfer_finish(ckd_xfer *x);
static void xfer_curl_ended(ckd_xfer *x, CURLcode rc);
static void xfer_unpause(ckd_xfer *x);
static void submit_write(ckd_xfer *x);
static void bandwidth_apply(ckd_daemon *d);
static void pool_drain(ckd_xfer_engine *xe);

/* ---- libcurl <-> libuv glue ------------------------------------------- */

static void drain_messages(ckd_daemon *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->xe.multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        void *owner = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&owner);
        if (owner && *(uint32_t *)owner == CKD_HTTP_MAGIC) {
            ckd_http_done(owner, msg->data.result);
            continue;
        }
        ckd_xfer *x = owner;
        assert(x && x->magic == CKD_XFER_MAGIC);
        xfer_curl_ended(x, msg->data.result);
    }
}

/* libcurl is done with x (finished, failed, or stopped by our callback). */
static void xfer_curl_ended(ckd_xfer *x, CURLcode rc)
{
    x->result = rc;
    if (x->in_multi) {
        curl_multi_remove_handle(x->d->xe.multi, x->easy);
        x->in_multi = 0;
        x->d->xe.active--;
    }
    x->curl_done = 1;
    /* Bytes already received are good bytes of the range: write them
     * even when the transfer failed, so a retry resumes after them. */
    if (x->fill > 0 && !x->wbusy && !x->detached && !x->restart && !x->fatal)
        submit_write(x);
    else if (!x->wbusy)
        xfer_finish(x);
}

/* Unpausing hands libcurl's held bytes to on_body at once; when that ends
 * the transfer (a short count at a range's end), libcurl reports it only
 * here, not through the multi handle. */
static void xfer_unpause(ckd_xfer *x)
{
    x->paused = 0;
    CURLcode rc = curl_easy_pause(x->easy, CURLPAUSE_CONT);
    if (rc != CURLE_OK && !x->curl_done) xfer_curl_ended(x, rc);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    poll_ctx *p = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(p->d->xe.multi, p->fd, flags, &running);
    drain_messages(p->d);
}

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    ckd_daemon *d = userp;
    poll_ctx *p = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (p) {
            uv_poll_stop(&p->handle);
            uv_close((uv_handle_t *)&p->handle, on_poll_closed);
            curl_multi_assign(d->xe.multi, s, NULL);
        }
        return 0;
    }
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p) return -1;
        p->fd = s;
        p->d = d;
        p->handle.data = p;
        if (uv_poll_init_socket(d->loop, &p->handle, s) != 0) {
            free(p);
            return -1;
        }
        curl_multi_assign(d->xe.multi, s, p);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    uv_poll_start(&p->handle, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    ckd_daemon *d = t->data;
    int running;
    curl_multi_socket_action(d->xe.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_messages(d);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    ckd_daemon *d = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&d->xe.timer);
    else
        uv_timer_start(&d->xe.timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int ckd_xfer_engine_init(ckd_daemon *d, ckd_outcome_fn report)
{
    ckd_xfer_engine *xe = &d->xe;
    memset(xe, 0, sizeof(*xe));
    xe->report = report;
    if (uv_mutex_init(&create_lock) != 0) return -ENOMEM;
    xe->multi = curl_multi_init();
    if (!xe->multi) return -ENOMEM;
    uv_timer_init(d->loop, &xe->timer);
    xe->timer.data = d;
    uv_timer_init(d->loop, &xe->refill);
    xe->refill.data = d;
    curl_multi_setopt(xe->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(xe->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(xe->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(xe->multi, CURLMOPT_TIMERDATA, d);
    ckd_xfer_engine_apply_config(d);
    return 0;
}

#define CKD_CONTROL_CONNECTIONS 4

void ckd_xfer_engine_apply_config(ckd_daemon *d)
{
    /* The scheduler keeps transfers within max_connections; the headroom is
     * for the master's API (polls, resolution, login), which must not queue
     * inside libcurl behind a bulk download. */
    curl_multi_setopt(d->xe.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      (long)d->cfg.max_connections + CKD_CONTROL_CONNECTIONS);
    curl_multi_setopt(d->xe.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)d->cfg.max_per_host);
    /* Keep enough idle connections for reuse by the next files. */
    curl_multi_setopt(d->xe.multi, CURLMOPT_MAXCONNECTS, (long)d->cfg.max_connections * 2);
    bandwidth_apply(d);
}

void ckd_xfer_engine_close(ckd_daemon *d)
{
    /* Every transfer is gone by now; cleanup closes cached connections,
     * which removes their sockets (and our polls) through on_socket. */
    curl_multi_cleanup(d->xe.multi);
    d->xe.multi = NULL;
    pool_drain(&d->xe);
    uv_mutex_destroy(&create_lock);
    uv_close((uv_handle_t *)&d->xe.timer, NULL);
    uv_close((uv_handle_t *)&d->xe.refill, NULL);
}

/* ---- buffers and back-pressure ----------------------------------------- */

/* ---- bandwidth: a token bucket refilled every 50 ms --------------------- */

#define REFILL_MS 50

static void mem_wake(ckd_daemon *d);

static void on_refill(uv_timer_t *t)
{
    ckd_daemon *d = t->data;
    ckd_xfer_engine *xe = &d->xe;
    int64_t limit = d->cfg.bandwidth_limit;
    if (limit <= 0) {
        uv_timer_stop(t);
        xe->tokens = 0;
        mem_wake(d);
        return;
    }
    uint64_t now = uv_now(d->loop);
    uint64_t dt = now - xe->refill_ms;
    xe->refill_ms = now;
    /* Burst of at most 100 ms worth, so a pause cannot bank a flood. */
    int64_t burst = limit / 10 > 16384 ? limit / 10 : 16384;
    xe->tokens += limit * (int64_t)dt / 1000;
    if (xe->tokens > burst) xe->tokens = burst;
    if (xe->tokens > 0 && xe->waiting) mem_wake(d);
}

/* Starts or stops the bucket after a config change. */
static void bandwidth_apply(ckd_daemon *d)
{
    ckd_xfer_engine *xe = &d->xe;
    if (d->cfg.bandwidth_limit > 0 && !uv_is_active((uv_handle_t *)&xe->refill)) {
        xe->refill_ms = uv_now(d->loop);
        xe->tokens = d->cfg.bandwidth_limit / 10;
        uv_timer_start(&xe->refill, on_refill, REFILL_MS, REFILL_MS);
    } else if (d->cfg.bandwidth_limit <= 0 && uv_is_active((uv_handle_t *)&xe->refill)) {
        on_refill(&xe->refill); /* stops it and releases the waiting */
    }
}

/* Full-size buffers are kept on a free list for the next transfer: no
 * allocator churn, and memory stays at what the cap allowed. Buffered
 * bytes count every buffer handed out, pooled ones not. */
static char *pool_take(ckd_xfer_engine *xe)
{
    char *b = xe->pool;
    if (b) {
        memcpy(&xe->pool, b, sizeof(char *));
        xe->npool--;
    }
    return b;
}

static void pool_give(ckd_daemon *d, char *b, size_t cap)
{
    ckd_xfer_engine *xe = &d->xe;
    int64_t keep = d->cfg.max_connections * 2;
    if (cap != XFER_BUF_SIZE || xe->npool >= keep) {
        free(b);
        return;
    }
    memcpy(b, &xe->pool, sizeof(char *));
    xe->pool = b;
    xe->npool++;
}

static void pool_drain(ckd_xfer_engine *xe)
{
    char *b;
    while ((b = pool_take(xe))) free(b);
}

static int buf_alloc(ckd_xfer *x, int i)
{
    ckd_xfer_engine *xe = &x->d->xe;
    /* Always allow one buffer when nothing is buffered, so progress is
     * possible whatever the cap. */
    if (xe->buffered > 0 && xe->buffered + (int64_t)x->cap > x->d->cfg.buffer_cap) return -ENOBUFS;
    x->buf[i] = x->cap == XFER_BUF_SIZE ? pool_take(xe) : NULL;
    if (!x->buf[i]) x->buf[i] = malloc(x->cap);
    if (!x->buf[i]) return -ENOMEM;
    xe->buffered += (int64_t)x->cap;
    return 0;
}

static void mem_wait(ckd_xfer *x)
{
    if (x->mem_wait) return;
    x->mem_wait = 1;
    x->next_wait = x->d->xe.waiting;
    x->d->xe.waiting = x;
}

static void mem_unwait(ckd_xfer *x)
{
    if (!x->mem_wait) return;
    for (ckd_xfer **pp = &x->d->xe.waiting; *pp; pp = &(*pp)->next_wait) {
        if (*pp == x) {
            *pp = x->next_wait;
            break;
        }
    }
    x->mem_wait = 0;
}

/* Buffer memory was freed: let the waiting transfers try again. */
static void mem_wake(ckd_daemon *d)
{
    ckd_xfer *list = d->xe.waiting;
    d->xe.waiting = NULL;
    while (list) {
        ckd_xfer *x = list;
        list = x->next_wait;
        x->mem_wait = 0;
        xfer_unpause(x);
    }
}

/* ---- the pool write ----------------------------------------------------- */

/* zstd: decodes this buffer into the staging file at the decoded offset,
 * hashing the decoded bytes. At each frame end the state is remembered
 * (offsets and a copy of the hash) so a resume can restart there; frames
 * far enough apart are made durable and journaled. Pool thread. */
#define ZSTD_OUT (1 << 20)

static void zstd_decode(ckd_xfer *x, ckd_file *f)
{
    ZSTD_inBuffer in = {x->buf[x->wbuf], x->wlen, 0};
    for (;;) {
        ZSTD_outBuffer out = {f->zout, ZSTD_OUT, 0};
        size_t r = ZSTD_decompressStream(f->zd, &out, &in);
        if (ZSTD_isError(r)) {
            x->zerr = r;
            x->werr = -EBADMSG;
            return;
        }
        if (out.pos > 0) {
            int rc = ckd_pwrite_all(f->fd, f->zout, out.pos, f->dec);
            if (rc < 0) {
                x->werr = rc;
                return;
            }
            XXH3_128bits_update(x->whash, f->zout, out.pos);
            f->dec += (int64_t)out.pos;
        }
        if (r == 0) { /* a frame ends exactly here */
            f->frame_c = x->woff + (int64_t)in.pos;
            f->frame_d = f->dec;
            XXH3_copyState(f->hash_frame, x->whash);
            if (f->frame_c - x->wframe_journaled >= x->d->cfg.journal_step) {
                if (fdatasync(f->fd) != 0) {
                    x->werr = -errno;
                    return;
                }
                x->wframe = 1;
                x->wframe_c = f->frame_c;
                x->wframe_d = f->frame_d;
                ckd_hash_state_hex(f->hash_frame, x->wframe_hex);
                x->wframe_journaled = f->frame_c;
            }
        }
        if (in.pos == in.size && out.pos < out.size) break;
    }
}

/* Runs on a pool thread. Touches the staging file, the segment's hash state
 * and the file's fd (only one writer per file may open it: single-segment
 * files open here, segmented ones are opened before their transfers start). */
static void work_write(uv_work_t *req)
{
    /* Only what submit_write copied into x, and the file (whose address
     * never changes): the segment array may be reallocated meanwhile. */
    ckd_xfer *x = req->data;
    ckd_file *f = x->wfile;
    x->werr = 0;
    if (f->fd < 0) {
        char *path = ckd_file_staging_path(f);
        if (!path) {
            x->werr = -ENOMEM;
            return;
        }
        /* One creator at a time: many pool threads creating files in one
         * directory contend on its lock and spin, which costs more than
         * it gains. */
        uv_mutex_lock(&create_lock);
        int rc = ckd_mkdir_parents(f->job->units[f->unit].staging, f->path);
        int fd = rc == 0 ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
        if (fd < 0 && rc == 0) rc = -errno;
        uv_mutex_unlock(&create_lock);
        free(path);
        if (rc < 0) {
            x->werr = rc;
            return;
        }
        f->fd = fd;
    }
    if (f->zstd) {
        zstd_decode(x, f);
    } else if (x->wlen > 0) {
        int rc = ckd_pwrite_all(f->fd, x->buf[x->wbuf], x->wlen, x->woff);
        if (rc < 0) {
            x->werr = rc;
            return;
        }
        XXH3_128bits_update(x->whash, x->buf[x->wbuf], x->wlen);
    }
    if (x->werr) return;
    if (f->layout_saved == 1 && x->wlen > 0 && !f->zstd) {
        /* Start writing these pages back now rather than in one burst at
         * the end; this does not wait. */
        sync_file_range(f->fd, x->woff, (off64_t)x->wlen, SYNC_FILE_RANGE_WRITE);
    }
    if (x->wjournal && x->wclaim_len > 0) {
        /* The range marked one step ago has had a step's time to reach the
         * disk: wait for it (usually done already), then it may be claimed. */
        if (sync_file_range(f->fd, x->wclaim_off, x->wclaim_len,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
            x->werr = -errno;
            return;
        }
    }
    if (x->wjournal || x->wclose) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(x->whash));
        memcpy(x->wdigest, c.digest, 16);
    }
    if (x->wclose) {
        close(f->fd);
        f->fd = -1;
    }
}

static void after_write(uv_work_t *req, int status)
{
    ckd_xfer *x = req->data;
    ckd_seg *s = x->seg;
    ckd_file *f = s->file;
    s->inflight = 0;
    if (x->wframe) {
        /* A zstd frame end made durable: journal it (compressed offset, decoded
         * offset, hash of the decoded bytes). */
        x->wframe = 0;
        ckd_store_seg_progress(&x->d->store, f->job->id, f->idx, s->start, x->wframe_c,
                               x->wframe_hex, x->wframe_d);
        s->journaled = x->wframe_c;
    }
    if (x->werr == -EBADMSG && f->zstd && !x->detached) {
        /* A corrupt or hostile stream: refetching will not help. */
        x->fatal = 1;
        snprintf(x->why, sizeof(x->why), "cannot decode the zstd stream of '%s': %s", f->path,
                 ZSTD_getErrorName(x->zerr));
        x->fill = 0;
        x->werr = 0;
        if (x->in_multi) {
            curl_multi_remove_handle(x->d->xe.multi, x->easy);
            x->in_multi = 0;
            x->d->xe.active--;
            x->curl_done = 1;
            x->result = CURLE_WRITE_ERROR;
        }
    }
    if (status == 0 && x->werr == 0) {
        s->written += (int64_t)x->wlen;
        if (x->wjournal) {
            /* Journal the range marked last time (now on disk), and mark
             * this one with its digest for the next step. */
            if (x->wclaim_len > 0) {
                ckd_store_seg_progress(&x->d->store, f->job->id, f->idx, s->start, s->mark,
                                       s->mark_hash, 0);
                s->journaled = s->mark;
            }
            s->mark = s->written;
            ckd_hash_hex(x->wdigest, s->mark_hash);
        }
        if (x->wclose) ckd_hash_hex(x->wdigest, f->hash);
    } else if (!x->detached) {
        char *path = ckd_file_staging_path(f);
        /* x is still marked busy here, so the abort this causes cannot
         * free it under us; it is finished below. */
        ckd_job_disk_error(f->job, path ? path : f->path, x->werr ? x->werr : status);
        free(path);
    }
    x->wbusy = 0;
    /* A large stream of unknown size may now be cut into ranges. */
    if (f->nsegs == 1 && !f->no_ranges && f->size >= x->d->cfg.segment_threshold && !x->curl_done)
        ckd_sched_kick(x->d);
    if (x->curl_done || x->detached) {
        if (x->fill > 0 && !x->detached && !x->restart && !x->fatal && x->werr == 0)
            submit_write(x);
        else
            xfer_finish(x);
        return;
    }
    if (x->paused) xfer_unpause(x);
}

/* Hands the filling buffer to the pool. The caller made sure no write of
 * this segment is in flight. */
static void submit_write(ckd_xfer *x)
{
    assert(!x->wbusy); /* one uv_work_t per transfer: never queued twice */
    ckd_seg *s = x->seg;
    ckd_file *f = s->file;
    const ckd_config *cfg = &x->d->cfg;
    x->wbuf = x->cur;
    x->wlen = x->fill;
    x->woff = s->start + s->written;
    x->cur ^= 1;
    x->fill = 0;
    int64_t after = s->written + (int64_t)x->wlen;
    int last = x->curl_done;
    /* Journal rows exist only for files that can resume by segment. */
    /* Journaling lags one step: at each step boundary the previous mark is
     * waited for on disk and claimed, and a new mark is taken. */
    x->wjournal = f->layout_saved == 1 && !f->zstd && after - s->mark >= cfg->journal_step;
    x->wclaim_off = s->start + s->journaled;
    x->wclaim_len = s->mark > s->journaled ? s->mark - s->journaled : 0;
    x->wclose = last && f->nsegs == 1;
    x->wfile = f;
    x->whash = s->hash;
    x->wframe_journaled = s->journaled;
    x->wbusy = 1;
    s->inflight = 1;
    x->work.data = x;
    uv_queue_work(x->d->loop, &x->work, work_write, after_write);
}

/* ---- libcurl callbacks (never call back into the job logic here) ------- */

static int64_t parse_int64(const char *s, const char **end)
{
    int64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && v < INT64_MAX / 10) v = v * 10 + (*p++ - '0');
    *end = p;
    return p == s ? -1 : v;
}

/* "Content-Range: bytes 100-199/1000" */
static void parse_content_range(ckd_xfer *x, const char *v)
{
    const char *p;
    while (*v == ' ') v++;
    if (strncasecmp(v, "bytes ", 6) != 0) return;
    x->cr_start = parse_int64(v + 6, &p);
    if (*p != '-') return;
    parse_int64(p + 1, &p);
    if (*p != '/') return;
    x->cr_total = parse_int64(p + 1, &p);
}

static void copy_header_value(char *dst, size_t dstlen, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) v++, len--;
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
    if (len >= dstlen) len = dstlen - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* The final response's headers are in: decide whether its body is the range
 * we asked for, from the same version of the file. Returns 0 to abort. */
static int check_headers(ckd_xfer *x)
{
    ckd_seg *s = x->seg;
    ckd_file *f = s->file;
    if (x->status >= 400 || x->status < 200) return 1; /* FAILONERROR reports it */
    const char *v = x->etag[0] && strncmp(x->etag, "W/", 2) != 0 ? x->etag : x->lastmod;
    if (f->validator && v[0] && strcmp(f->validator, v) != 0) {
        x->restart = 1;
        snprintf(x->why, sizeof(x->why), "'%s' changed on the server", f->path);
        return 0;
    }
    if (!f->validator && v[0]) f->validator = strdup(v);
    curl_off_t clen = -1;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    int64_t total = -1;
    if (x->status == 206) {
        if (x->cr_start != x->req_off) {
            snprintf(x->why, sizeof(x->why), "server sent a range at %lld, asked for %lld",
                     (long long)x->cr_start, (long long)x->req_off);
            return 0; /* transient: retried */
        }
        total = x->cr_total;
    } else {
        /* 200: the whole body. Fine for a first request from zero; after that
         * the server ignores ranges or If-Range found the file changed. */
        if (x->req_off > 0 || f->nsegs > 1) {
            x->restart = 1;
            f->no_ranges = 1;
            snprintf(
                x->why, sizeof(x->why),
                "server ignored the range request for '%s' (no range support, or the file changed)",
                f->path);
            return 0;
        }
        f->no_ranges = 1;
        total = clen;
    }
    if (total >= 0 && f->zstd) {
        /* The size announced is the compressed one; the decoded size is
         * known when the stream ends. */
        if (s->end < 0) s->end = total;
    } else if (total >= 0) {
        if (f->size >= 0 && total != f->size) {
            if (f->size_given) {
                x->fatal = 1;
                snprintf(x->why, sizeof(x->why),
                         "size mismatch for '%s': server has %lld bytes, expected %lld", f->path,
                         (long long)total, (long long)f->size);
            } else {
                x->restart = 1;
                snprintf(x->why, sizeof(x->why), "'%s' changed size on the server", f->path);
            }
            return 0;
        }
        f->size = total;
        if (s->end < 0 && f->nsegs == 1) s->end = total;
    }
    return 1;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    ckd_xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (redirects and 100-continue come first). */
        const char *sp = memchr(buf, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->etag[0] = x->lastmod[0] = '\0';
        x->retry_after = -1;
        x->cr_start = x->cr_total = -1;
        return len;
    }
    if (len <= 2) { /* the blank line ending a header block */
        int interim = x->status < 200 || (x->status >= 300 && x->status < 400);
        if (interim) return len;
        x->headers_done = 1;
        return check_headers(x) ? len : 0;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = len - klen - 1;
    char tmp[256];
    if (klen == 4 && strncasecmp(buf, "etag", 4) == 0) {
        copy_header_value(x->etag, sizeof(x->etag), v, vlen);
    } else if (klen == 13 && strncasecmp(buf, "last-modified", 13) == 0) {
        copy_header_value(x->lastmod, sizeof(x->lastmod), v, vlen);
    } else if (klen == 13 && strncasecmp(buf, "content-range", 13) == 0) {
        copy_header_value(tmp, sizeof(tmp), v, vlen);
        parse_content_range(x, tmp);
    } else if (klen == 11 && strncasecmp(buf, "retry-after", 11) == 0) {
        copy_header_value(tmp, sizeof(tmp), v, vlen);
        char *end;
        double secs = strtod(tmp, &end);
        if (end != tmp && *end == '\0' && secs >= 0) {
            x->retry_after = secs;
        } else {
            time_t when = curl_getdate(tmp, NULL);
            if (when > 0) x->retry_after = (double)(when - ckd_wall_s());
            if (x->retry_after < 0) x->retry_after = 0;
        }
    }
    return len;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    ckd_xfer *x = ud;
    ckd_seg *s = x->seg;
    size_t len = size * n;
    if (x->detached || x->restart || x->fatal) return 0;
    size_t take = len;
    if (s->end >= 0) {
        int64_t room = s->end - (x->req_off + x->received);
        if (room <= 0) {
            x->reached_end = 1;
            return 0;
        }
        if ((int64_t)take > room) take = (size_t)room;
    }
    if (x->d->cfg.bandwidth_limit > 0 && x->d->xe.tokens <= 0) {
        mem_wait(x); /* woken by the next refill */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (!x->buf[x->cur] && buf_alloc(x, x->cur) < 0) {
        mem_wait(x);
        return CURL_WRITEFUNC_PAUSE;
    }
    if (x->fill + take >= x->cap) {
        /* The filling buffer fills up: it must go to disk, which needs the
         * previous write done and the other buffer free. Decide before
         * consuming anything, as a paused callback gets the same bytes again. */
        if (x->wbusy) {
            x->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        if (!x->buf[!x->cur] && buf_alloc(x, !x->cur) < 0) {
            mem_wait(x);
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    const char *p = ptr;
    size_t left = take;
    while (left > 0) {
        size_t room = x->cap - x->fill;
        size_t c = left < room ? left : room;
        memcpy(x->buf[x->cur] + x->fill, p, c);
        x->fill += c;
        p += c;
        left -= c;
        if (x->fill == x->cap) submit_write(x);
    }
    x->received += (int64_t)take;
    x->d->xe.tokens -= (int64_t)take;
    if (take < len) {
        x->reached_end = 1; /* a short count makes libcurl stop this transfer */
        return take;
    }
    return len;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int is_transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_WRITE_ERROR: /* our own early stop without a reason */
        return 1;
    default:
        return 0;
    }
}

/* URLs in messages lose their query string: presigned URLs carry secrets. */

static void xfer_free(ckd_xfer *x)
{
    assert(!x->wbusy);
    ckd_daemon *d = x->d;
    mem_unwait(x);
    if (x->in_multi) {
        curl_multi_remove_handle(d->xe.multi, x->easy);
        d->xe.active--;
    }
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    int freed = 0;
    for (int i = 0; i < 2; i++) {
        if (x->buf[i]) {
            pool_give(d, x->buf[i], x->cap);
            d->xe.buffered -= (int64_t)x->cap;
            freed = 1;
        }
    }
    x->job->xfers--;
    x->magic = 0;
    free(x);
    if (freed && d->xe.waiting) mem_wake(d);
}

/* The transfer is over and its writes have drained: report its outcome. */
static void xfer_finish(ckd_xfer *x)
{
    ckd_seg *s = x->seg;
    ckd_file *f = s->file;
    ckd_job *j = x->job;
    ckd_daemon *d = x->d;
    if (x->detached) {
        xfer_free(x);
        ckd_sched_kick(d);
        return;
    }
    s->xfer = NULL;
    ckd_outcome o = {.src = CKD_SRC_HTTP,
                     .job = j->id,
                     .file = f->idx,
                     .seg = (int)(s - f->segs),
                     .retry_after_s = -1};
    char url[512];
    ckp_url_redact(url, sizeof(url), f->url);
    CURLcode rc = x->result;
    if (x->restart) {
        o.kind = CKD_OUT_RESTART;
        snprintf(o.message, sizeof(o.message), "%s", x->why);
    } else if (x->fatal) {
        o.kind = CKD_OUT_FAIL;
        snprintf(o.message, sizeof(o.message), "%s", x->why);
    } else if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->reached_end)) {
        int ok = 1;
        if (s->end < 0) {
            /* No length was announced: the body ended where the file ends. */
            s->end = s->start + s->written;
            if (f->nsegs == 1 && !f->zstd) f->size = s->end;
        } else if (s->start + s->written < s->end) {
            ok = 0;
        }
        if (ok && f->zstd && f->frame_c != s->written) {
            o.kind = CKD_OUT_FAIL;
            snprintf(o.message, sizeof(o.message),
                     "the zstd stream of '%s' ends inside a frame (truncated)", f->path);
        } else if (ok) {
            if (f->zstd) f->size = f->dec;
            o.kind = CKD_OUT_OK;
        } else {
            o.kind = CKD_OUT_RETRY;
            snprintf(o.message, sizeof(o.message), "the server closed the connection early");
        }
    } else if (rc == CURLE_HTTP_RETURNED_ERROR) {
        long status = x->status;
        if (status == 429 || status >= 500) {
            o.kind = CKD_OUT_RETRY;
            o.retry_after_s = x->retry_after;
            snprintf(o.message, sizeof(o.message), "http %ld for '%s'", status, url);
        } else if ((status == 403 || status == 401) &&
                   ckd_storage_auth_ready(&j->units[f->unit].auth)) {
            o.kind = CKD_OUT_DENIED;
            snprintf(o.message, sizeof(o.message),
                     "http %ld for '%s': the %s server refused the credentials or the signature",
                     status, url, j->units[f->unit].storage);
        } else {
            o.kind = CKD_OUT_FAIL;
            snprintf(o.message, sizeof(o.message), "http %ld for '%s'", status, url);
        }
    } else {
        snprintf(o.message, sizeof(o.message), "cannot fetch '%s': %s", url,
                 x->errbuf[0] ? x->errbuf : (x->why[0] ? x->why : curl_easy_strerror(rc)));
        o.kind = is_transient_curl(rc) || x->why[0] ? CKD_OUT_RETRY : CKD_OUT_FAIL;
    }
    xfer_free(x);
    d->xe.report(d, &o);
}

int ckd_xfer_start(ckd_daemon *d, ckd_seg *s)
{
    ckd_file *f = s->file;
    assert(!s->xfer && !s->inflight);
    if (f->zstd && s->written != f->frame_c) {
        /* A zstd stream can only restart where a frame starts: drop what was
         * decoded after the last complete frame. */
        s->written = f->frame_c;
        f->dec = f->frame_d;
        XXH3_copyState(s->hash, f->hash_frame);
        ZSTD_DCtx_reset(f->zd, ZSTD_reset_session_only);
    }
    ckd_xfer *x = calloc(1, sizeof(*x));
    if (!x) return -ENOMEM;
    x->magic = CKD_XFER_MAGIC;
    x->d = d;
    x->seg = s;
    x->job = f->job;
    x->req_off = s->start + s->written;
    x->cr_start = x->cr_total = -1;
    x->retry_after = -1;
    int64_t remaining = s->end >= 0 ? s->end - x->req_off : -1;
    x->cap = XFER_BUF_SIZE;
    if (remaining >= 0 && remaining < (int64_t)x->cap)
        x->cap = remaining > 4096 ? (size_t)remaining : 4096;
    x->easy = curl_easy_init();
    if (!x->easy) {
        free(x);
        return -ENOMEM;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, f->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)CURL_CHUNK_SIZE);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)d->cfg.low_speed_limit);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)d->cfg.low_speed_time);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Waiting to multiplex only pays where HTTP/2 is possible (TLS here);
     * on plain http it would start a new host's transfers one at a time. */
    if (strncmp(f->url, "https://", 8) == 0) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ckptd/" CKPTD_VERSION);
    if (f->validator && x->req_off > 0) {
        /* Only the same version of the file may continue what we have. */
        char hdr[320];
        snprintf(hdr, sizeof(hdr), "If-Range: %s", f->validator);
        x->headers = curl_slist_append(x->headers, hdr);
    }
    /* The range, and for object stores the signature or token. */
    const ckd_unit *un = &f->job->units[f->unit];
    if (ckd_storage_auth_apply(&un->auth, e, f->url, x->req_off, s->end >= 0 ? s->end - 1 : -1,
                               &x->headers) < 0) {
        curl_easy_cleanup(e);
        curl_slist_free_all(x->headers);
        free(x);
        return -ENOMEM;
    }
    if (x->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    if (curl_multi_add_handle(d->xe.multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(x->headers);
        free(x);
        return -EIO;
    }
    x->in_multi = 1;
    d->xe.active++;
    f->job->xfers++;
    s->xfer = x;
    return 0;
}

void ckd_xfer_abort(ckd_seg *s)
{
    ckd_xfer *x = s->xfer;
    if (!x) return;
    s->xfer = NULL;
    x->detached = 1;
    x->fill = 0; /* bytes not yet handed to the disk are dropped */
    mem_unwait(x);
    if (x->in_multi) {
        curl_multi_remove_handle(x->d->xe.multi, x->easy);
        x->in_multi = 0;
        x->d->xe.active--;
    }
    if (!x->wbusy) xfer_finish(x);
}
