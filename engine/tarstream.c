/* The master's archive as a fetch source (see archive.h).
 *
 * Lifetime: ckd_tar_new() copies what the thread needs; the owner then
 * runs it (or fails it). Every end, early or not, is reported once on the
 * loop, then the async handle closes; the struct is freed in its close
 * callback, after which the owner's closed() runs. */
#include "tarstream.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <zstd.h>

#include "ckp.h"
#include "fsutil.h"
#include "hash.h"

#define ARC_BUF        (1 << 20) /* one read handed to libarchive */
#define ARC_IO         (1 << 20) /* one write to a staging file */
#define ARC_ERRBODY    512       /* bytes of an error reply kept for the message */
#define ARC_POLL_MS    200       /* how often an idle thread looks at the abort flag */
#define ARC_WINDOW_LOG 27        /* zstd: refuse frames asking for more window */

typedef struct arc_entry {
    const char *name; /* the name inside the archive */
    char *dst;        /* where it is written (name lives in the same allocation) */
    int idx;          /* the owner's tag */
    int skip;         /* verified by an earlier attempt: not rewritten */
    int zstd;         /* stored decoded */
    int seen;
} arc_entry;

typedef struct arc_event {
    int idx;
    int err; /* 0: written; -ENOENT: absent from the archive; else a write error */
    int64_t size;
    unsigned char digest[16];
} arc_event;

struct ckd_tar {
    ckd_tar_cbs cbs;
    void *ud;
    uv_async_t async;
    uv_thread_t thread;
    int thread_started;
    int finishing; /* arc_finish() ran: the handle is closing */
    char *url;
    char *auth;
    char *ca_file;
    int noverify;       /* no TLS verification (det's DET_MASTER_CERT_FILE=noverify) */
    char *staging;      /* the directory every dst is under */
    arc_entry *entries; /* sorted by name */
    size_t n;
    int64_t low_speed_limit, low_speed_time;
    int64_t max_speed; /* bandwidth_limit when it started (0: none) */
    atomic_int abort;
    _Atomic int64_t cur_bytes; /* the entry being written */
    /* filled by the thread, read by the loop under lock */
    uv_mutex_t lock;
    arc_event *events;
    size_t nevents, taken;
    int done;
    /* the outcome, valid once done */
    int err;       /* 0, or why the archive failed */
    int transient; /* worth another attempt */
    int tail_bad;  /* the tar ended, then the body did not (short, broken, miscounted):
                      nothing this attempt wrote is trusted */
    char msg[600];
    /* thread only */
    CURL *easy;
    CURLM *multi;
    char *buf;
    size_t have;
    int curl_done;
    CURLcode cres;
    long status;
    int64_t received;
    char errbody[ARC_ERRBODY + 1];
    size_t errlen;
    char *io;
    ZSTD_DStream *zd;
};

/* ---- the thread ------------------------------------------------------------ */

static int arc_fail(ckd_tar *x, int err, int transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int arc_fail(ckd_tar *x, int err, int transient, const char *fmt, ...)
{
    if (x->err) return x->err; /* the first cause wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
    va_end(ap);
    x->err = err;
    x->transient = transient;
    return err;
}

static void arc_push(ckd_tar *x, const arc_event *ev)
{
    uv_mutex_lock(&x->lock);
    x->events[x->nevents++] = *ev;
    uv_mutex_unlock(&x->lock);
    uv_async_send(&x->async);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    ckd_tar *x = ud;
    size_t n = size * nmemb;
    if (x->status == 0) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status != 200) {
        /* An error reply: keep its start for the message, not for libarchive. */
        size_t keep = ARC_ERRBODY - x->errlen < n ? ARC_ERRBODY - x->errlen : n;
        memcpy(x->errbody + x->errlen, p, keep);
        x->errlen += keep;
        x->errbody[x->errlen] = '\0';
        return n;
    }
    if (x->have + n > ARC_BUF) return CURL_WRITEFUNC_PAUSE; /* read() drains it first */
    memcpy(x->buf + x->have, p, n);
    x->have += n;
    x->received += n;
    return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(&((ckd_tar *)ud)->abort) ? 1 : 0;
}

/* Runs curl until it delivered some bytes or ended. */
static void pump(ckd_tar *x)
{
    curl_easy_pause(x->easy, CURLPAUSE_CONT);
    while (x->have == 0 && !x->curl_done) {
        int running = 0;
        curl_multi_perform(x->multi, &running);
        if (running == 0) {
            int left;
            CURLMsg *m;
            while ((m = curl_multi_info_read(x->multi, &left)))
                if (m->msg == CURLMSG_DONE) x->cres = m->data.result;
            x->curl_done = 1;
            break;
        }
        if (x->have == 0) curl_multi_poll(x->multi, NULL, 0, ARC_POLL_MS, NULL);
    }
}

/* Names the way the transfer ended, for a message; 0 when it did not fail. */
static int transfer_error(ckd_tar *x)
{
    if (atomic_load(&x->abort)) return arc_fail(x, -ECANCELED, 0, "stopped");
    if (!x->curl_done) return 0;
    if (x->cres != CURLE_OK)
        return arc_fail(x, -ECONNRESET, 1, "the master's archive broke off after %lld bytes: %s",
                        (long long)x->received, curl_easy_strerror(x->cres));
    if (x->status != 200) {
        /* The archive route answers errors as {"message": "..."}. */
        json_t *j = json_loadb(x->errbody, x->errlen, 0, NULL);
        const char *m = json_string_value(json_object_get(j, "message"));
        char text[ARC_ERRBODY + 1];
        snprintf(text, sizeof(text), "%s", m ? m : "");
        json_decref(j);
        int transient = x->status == 429 || x->status >= 500 || x->status == 401;
        return arc_fail(x, x->status == 404 ? -ENOENT : -EPROTO, transient,
                        "the master's archive route answered http %ld%s%s", x->status,
                        text[0] ? ": " : "", text);
    }
    return 0;
}

static la_ssize_t arc_read(struct archive *a, void *ud, const void **out)
{
    ckd_tar *x = ud;
    x->have = 0; /* libarchive is done with the previous block */
    pump(x);
    if (x->have == 0 && transfer_error(x) < 0) {
        archive_set_error(a, EIO, "%s", x->msg);
        return ARCHIVE_FATAL;
    }
    *out = x->buf;
    return (la_ssize_t)x->have;
}

static int cmp_entry_name(const void *key, const void *e)
{
    return strcmp(key, ((const arc_entry *)e)->name);
}

/* Writes one entry's data at dst, hashing what is written. */
static int write_entry(ckd_tar *x, struct archive *a, arc_entry *e, arc_event *ev)
{
    int rc = ckd_mkdir_parents(x->staging, e->dst + strlen(x->staging) + 1);
    int fd =
        rc == 0 ? open(e->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
    if (fd < 0) return arc_fail(x, rc < 0 ? rc : -errno, 0, "cannot create '%s'", e->dst);
    XXH3_state_t *h = XXH3_createState();
    if (!h) {
        close(fd);
        return arc_fail(x, -ENOMEM, 0, "out of memory");
    }
    XXH3_128bits_reset(h);
    if (e->zstd) {
        ZSTD_DCtx_reset(x->zd, ZSTD_reset_session_only);
        ZSTD_DCtx_setParameter(x->zd, ZSTD_d_windowLogMax, ARC_WINDOW_LOG);
    }
    int64_t off = 0;
    size_t zend = 1; /* 0 once a zstd frame ended exactly */
    atomic_store(&x->cur_bytes, 0);
    for (;;) {
        la_ssize_t n = archive_read_data(a, x->io, ARC_IO);
        if (n == 0) break;
        if (n < 0) {
            rc = x->err ? x->err
                        : arc_fail(x, -EPROTO, 1, "the master's archive is damaged: %s",
                                   archive_error_string(a));
            break;
        }
        if (atomic_load(&x->abort)) {
            rc = arc_fail(x, -ECANCELED, 0, "stopped");
            break;
        }
        const char *data = x->io;
        size_t len = (size_t)n;
        ZSTD_inBuffer in = {x->io, len, 0};
        do {
            char *dec = x->io + ARC_IO;
            if (e->zstd) {
                ZSTD_outBuffer out = {dec, ARC_IO, 0};
                zend = ZSTD_decompressStream(x->zd, &out, &in);
                if (ZSTD_isError(zend)) {
                    rc = arc_fail(x, -EBADMSG, 0, "'%s' is not a valid zstd stream: %s", e->name,
                                  ZSTD_getErrorName(zend));
                    break;
                }
                data = dec;
                len = out.pos;
            }
            rc = ckd_pwrite_all(fd, data, len, off);
            if (rc < 0) {
                arc_fail(x, rc, 0, "cannot write '%s': %s", e->dst, strerror(-rc));
                break;
            }
            XXH3_128bits_update(h, data, len);
            off += (int64_t)len;
            atomic_store(&x->cur_bytes, off);
        } while (e->zstd && (in.pos < in.size || len == ARC_IO));
        if (rc < 0) break;
    }
    if (rc == 0 && e->zstd && zend != 0)
        rc = arc_fail(x, -EBADMSG, 0, "the zstd stream of '%s' ends inside a frame (truncated)",
                      e->name);
    if (close(fd) != 0 && rc == 0) rc = arc_fail(x, -errno, 0, "cannot write '%s'", e->dst);
    if (rc == 0) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
        memcpy(ev->digest, c.digest, 16);
        ev->size = off;
    }
    XXH3_freeState(h);
    return rc;
}

/* One header: a directory, a file of the checkpoint, or something refused. */
static int take_entry(ckd_tar *x, struct archive *a, struct archive_entry *ae)
{
    const char *name = archive_entry_pathname(ae);
    if (!name) return arc_fail(x, -EPROTO, 0, "the master's archive has an entry without a name");
    while (strncmp(name, "./", 2) == 0) name += 2;
    char path[CKP_MAX_PATH + 2];
    size_t len = strlen(name);
    if (len > CKP_MAX_PATH) return arc_fail(x, -EINVAL, 0, "an archive entry's path is too long");
    memcpy(path, name, len + 1);
    while (len > 0 && path[len - 1] == '/') path[--len] = '\0';
    if (len == 0) return archive_read_data_skip(a) == ARCHIVE_OK ? 0 : -EPROTO; /* "./" */
    const char *why = NULL;
    if (ckp_path_check(path, len, &why) < 0)
        return arc_fail(x, -EINVAL, 0, "the master's archive holds an unsafe path '%s' (%s)", path,
                        why);
    mode_t type = archive_entry_filetype(ae);
    if (type == AE_IFDIR) return archive_read_data_skip(a) == ARCHIVE_OK ? 0 : -EPROTO;
    if (type != AE_IFREG || archive_entry_hardlink(ae))
        return arc_fail(x, -EINVAL, 0,
                        "the master's archive holds '%s', which is not a regular file", path);
    arc_entry *e = bsearch(path, x->entries, x->n, sizeof(*e), cmp_entry_name);
    if (!e || e->skip || e->seen) {
        /* Not one of the checkpoint's resources, or verified already. */
        if (e) e->seen = 1;
        return archive_read_data_skip(a) == ARCHIVE_OK ? 0 : -EPROTO;
    }
    e->seen = 1;
    arc_event ev = {.idx = e->idx};
    int rc = write_entry(x, a, e, &ev);
    if (rc == 0) arc_push(x, &ev);
    atomic_store(&x->cur_bytes, 0); /* the file counts as a whole from here */
    return rc;
}

static int arc_setup(ckd_tar *x)
{
    x->buf = malloc(ARC_BUF);
    x->io = malloc(2 * ARC_IO);
    x->easy = curl_easy_init();
    x->multi = curl_multi_init();
    x->zd = ZSTD_createDStream();
    if (!x->buf || !x->io || !x->easy || !x->multi || !x->zd) return -ENOMEM;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ckptd/" CKPTD_VERSION);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)x->low_speed_limit);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)x->low_speed_time);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    /* The daemon's bandwidth cap, as set when the archive started. */
    if (x->max_speed > 0)
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)x->max_speed);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
    if (x->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, x->ca_file);
    if (x->noverify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_multi_add_handle(x->multi, e);
    return 0;
}

static void arc_run(ckd_tar *x)
{
    struct curl_slist *headers = NULL;
    struct archive *a = NULL;
    if (arc_setup(x) < 0) {
        arc_fail(x, -ENOMEM, 1, "out of memory");
        goto out;
    }
    headers = curl_slist_append(headers, "Accept: application/x-tar");
    headers = curl_slist_append(headers, x->auth);
    explicit_bzero(x->auth, strlen(x->auth));
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, headers);
    a = archive_read_new();
    if (!a || !headers) {
        arc_fail(x, -ENOMEM, 1, "out of memory");
        goto out;
    }
    archive_read_support_format_tar(a);
    if (archive_read_open(a, x, NULL, arc_read, NULL) != ARCHIVE_OK) {
        if (!x->err) arc_fail(x, -EPROTO, 1, "%s", archive_error_string(a));
        goto out;
    }
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            if (!x->err)
                arc_fail(x, -EPROTO, 1, "the master's archive is damaged: %s",
                         archive_error_string(a));
            goto out;
        }
        if (take_entry(x, a, ae) < 0) {
            if (!x->err) arc_fail(x, -EPROTO, 1, "the master's archive is damaged");
            goto out;
        }
    }
    /* The tar ended; the body must end with it, at its announced length
     * (or the chunked stream's proper end, which curl checks). */
    do {
        x->have = 0;
        pump(x);
    } while (x->have > 0);
    if (transfer_error(x) < 0) {
        x->tail_bad = 1;
        goto out;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl >= 0 && cl != x->received) {
        x->tail_bad = 1;
        arc_fail(x, -EPROTO, 1, "the master's archive has %lld bytes, not the %lld announced",
                 (long long)x->received, (long long)cl);
        goto out;
    }
    for (size_t i = 0; i < x->n; i++) {
        if (x->entries[i].seen || x->entries[i].skip) continue;
        arc_event ev = {.idx = x->entries[i].idx, .err = -ENOENT};
        arc_push(x, &ev);
    }
out:
    if (a) archive_read_free(a);
    curl_slist_free_all(headers);
    if (x->multi && x->easy) curl_multi_remove_handle(x->multi, x->easy);
    if (x->easy) curl_easy_cleanup(x->easy);
    if (x->multi) curl_multi_cleanup(x->multi);
    ZSTD_freeDStream(x->zd);
    free(x->buf);
    free(x->io);
    x->easy = NULL, x->multi = NULL, x->zd = NULL, x->buf = x->io = NULL;
}

static void arc_thread(void *arg)
{
    ckd_tar *x = arg;
    arc_run(x);
    uv_mutex_lock(&x->lock);
    x->done = 1;
    uv_mutex_unlock(&x->lock);
    uv_async_send(&x->async);
}

/* ---- the loop side ------------------------------------------------------- */

static void arc_free(ckd_tar *x)
{
    for (size_t i = 0; i < x->n; i++) free(x->entries[i].dst);
    free(x->entries);
    free(x->events);
    free(x->url);
    if (x->auth) explicit_bzero(x->auth, strlen(x->auth));
    free(x->auth);
    free(x->ca_file);
    free(x->staging);
    uv_mutex_destroy(&x->lock);
    free(x);
}

/* ---- the loop's side ---------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    ckd_tar *x = h->data;
    ckd_tar_cbs cbs = x->cbs;
    void *ud = x->ud;
    arc_free(x);
    cbs.closed(ud);
}

static void drain(ckd_tar *x)
{
    for (;;) {
        uv_mutex_lock(&x->lock);
        int have = x->taken < x->nevents;
        arc_event ev = have ? x->events[x->taken++] : (arc_event){0};
        uv_mutex_unlock(&x->lock);
        if (!have) return;
        char hex[33] = "";
        if (ev.err == 0) ckd_hash_hex(ev.digest, hex);
        x->cbs.entry(x->ud, ev.idx, ev.err, ev.size, hex);
    }
}

/* The one end: reported, then the handle closes. */
static void finish(ckd_tar *x)
{
    x->finishing = 1;
    ckd_tar_end e = {
        .err = x->err, .transient = x->transient, .tail_bad = x->tail_bad, .msg = x->msg};
    x->cbs.end(x->ud, &e);
    uv_close((uv_handle_t *)&x->async, on_closed);
}

static void on_async(uv_async_t *h)
{
    ckd_tar *x = h->data;
    if (x->finishing) return;
    drain(x);
    uv_mutex_lock(&x->lock);
    int done = x->done;
    uv_mutex_unlock(&x->lock);
    if (!done) return;
    uv_thread_join(&x->thread);
    drain(x);
    finish(x);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const arc_entry *)a)->name, ((const arc_entry *)b)->name);
}

int ckd_tar_new(uv_loop_t *loop, const ckd_tar_spec *s, const ckd_tar_cbs *cbs, void *ud,
                ckd_tar **out)
{
    *out = NULL;
    ckd_tar *x = calloc(1, sizeof(*x));
    if (!x) return -ENOMEM;
    if (uv_mutex_init(&x->lock) != 0) {
        free(x);
        return -ENOMEM;
    }
    x->cbs = *cbs;
    x->ud = ud;
    x->low_speed_limit = s->low_speed_limit;
    x->low_speed_time = s->low_speed_time;
    x->max_speed = s->max_speed;
    x->entries = calloc(s->n ? s->n : 1, sizeof(*x->entries));
    x->events = calloc(s->n ? s->n : 1, sizeof(*x->events));
    x->staging = strdup(s->dir);
    x->url = strdup(s->url);
    x->ca_file = s->ca_file ? strdup(s->ca_file) : NULL;
    x->noverify = s->noverify;
    int ok = x->entries && x->events && x->staging && x->url && (x->ca_file || !s->ca_file);
    for (size_t i = 0; ok && i < s->n; i++) {
        const ckd_tar_want *w = &s->wants[i];
        arc_entry *e = &x->entries[i];
        /* The name lives at the end of the same allocation as dst. */
        size_t dl = strlen(w->dst), nl = strlen(w->name);
        char *both = malloc(dl + nl + 2);
        if (!both) {
            ok = 0;
            break;
        }
        memcpy(both, w->dst, dl + 1);
        memcpy(both + dl + 1, w->name, nl + 1);
        e->dst = both;
        e->name = both + dl + 1;
        e->idx = w->tag;
        e->skip = w->skip;
        e->zstd = w->zstd;
        x->n++;
    }
    if (!ok) {
        arc_free(x);
        return -ENOMEM;
    }
    qsort(x->entries, x->n, sizeof(*x->entries), cmp_entry);
    uv_async_init(loop, &x->async, on_async);
    x->async.data = x;
    *out = x;
    return 0;
}

void ckd_tar_run(ckd_tar *x, const char *auth_header)
{
    if (atomic_load(&x->abort)) {
        ckd_tar_fail(x, -ECANCELED, 0, "canceled");
        return;
    }
    x->auth = auth_header ? strdup(auth_header) : NULL;
    if ((auth_header && !x->auth) || uv_thread_create(&x->thread, arc_thread, x) != 0) {
        ckd_tar_fail(x, x->auth || !auth_header ? -EAGAIN : -ENOMEM, 1, "cannot start the archive");
        return;
    }
    x->thread_started = 1;
}

void ckd_tar_fail(ckd_tar *x, int err, int transient, const char *msg)
{
    x->err = err;
    x->transient = transient;
    snprintf(x->msg, sizeof(x->msg), "%s", msg ? msg : "cannot start the archive");
    finish(x);
}

void ckd_tar_abort(ckd_tar *a)
{
    if (a) atomic_store(&a->abort, 1);
}

int64_t ckd_tar_progress(const ckd_tar *a)
{
    return a ? atomic_load(&((ckd_tar *)a)->cur_bytes) : 0;
}

int ckd_tar_seen(const ckd_tar *x, int tag)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->entries[i].idx == tag) return x->entries[i].seen && !x->entries[i].skip;
    return 0;
}
