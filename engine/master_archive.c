/* The master's archive route (see master_archive.h).
 *
 * Lifetime: ckd_archive_start() authenticates with one small master call
 * (GET the checkpoint: it logs in or re-logs in when needed and proves the
 * checkpoint is still there), then starts the thread. Every end, early or
 * not, goes through arc_finish() on the loop, which closes the async handle;
 * the struct is freed in its close callback and only then does the job stop
 * counting it as busy. The thread reads nothing of the job: what it needs is
 * copied into the struct before it starts. */
#include "master_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checksums.h"
#include "ckp.h"
#include "fsutil.h"
#include "log.h"
#include "master.h"
#include "verify.h"

#define ARC_BUF        (1 << 20) /* one read handed to libarchive */
#define ARC_IO         (1 << 20) /* one write to a staging file */
#define ARC_ERRBODY    512       /* bytes of an error reply kept for the message */
#define ARC_POLL_MS    200       /* how often an idle thread looks at the abort flag */
#define ARC_WINDOW_LOG 27        /* zstd: refuse frames asking for more window */

typedef struct arc_entry {
    const char *name; /* the resource name inside the archive */
    char *dst;        /* its staging path */
    int idx;          /* the file's index in the job */
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

struct ckd_archive {
    ckd_job *job;
    size_t unit;
    uv_async_t async;
    uv_thread_t thread;
    int thread_started;
    int finishing; /* arc_finish() ran: the handle is closing */
    char *url;
    char *auth;
    char *ca_file;
    char *staging;
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

static int arc_fail(ckd_archive *x, int err, int transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int arc_fail(ckd_archive *x, int err, int transient, const char *fmt, ...)
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

static void arc_push(ckd_archive *x, const arc_event *ev)
{
    uv_mutex_lock(&x->lock);
    x->events[x->nevents++] = *ev;
    uv_mutex_unlock(&x->lock);
    uv_async_send(&x->async);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    ckd_archive *x = ud;
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
    return atomic_load(&((ckd_archive *)ud)->abort) ? 1 : 0;
}

/* Runs curl until it delivered some bytes or ended. */
static void pump(ckd_archive *x)
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
static int transfer_error(ckd_archive *x)
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
    ckd_archive *x = ud;
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
static int write_entry(ckd_archive *x, struct archive *a, arc_entry *e, arc_event *ev)
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
static int take_entry(ckd_archive *x, struct archive *a, struct archive_entry *ae)
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

static int arc_setup(ckd_archive *x)
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
    curl_multi_add_handle(x->multi, e);
    return 0;
}

static void arc_run(ckd_archive *x)
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
    ckd_archive *x = arg;
    arc_run(x);
    uv_mutex_lock(&x->lock);
    x->done = 1;
    uv_mutex_unlock(&x->lock);
    uv_async_send(&x->async);
}

/* ---- the loop side ------------------------------------------------------- */

static void arc_free(ckd_archive *x)
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

static void on_closed(uv_handle_t *h)
{
    ckd_archive *x = h->data;
    ckd_job *j = x->job;
    j->busy--;
    j->d->archives--;
    arc_free(x);
    ckd_sched_kick(j->d);
}

static int unit_file(const ckd_file *f, size_t u)
{
    return (size_t)f->unit == u && f->state != CKD_FILE_FAILED;
}

/* A written file: verified on the loop like a local copy. */
static void arc_file_done(ckd_archive *x, const arc_event *ev)
{
    ckd_job *j = x->job;
    ckd_file *f = &j->files[ev->idx];
    if (f->state != CKD_FILE_ACTIVE || j->state != CKD_JOB_RUNNING) return;
    if (ev->err == -ENOENT) {
        ckd_file_fail(f, "the master's archive of checkpoint %s has no '%s'",
                      j->units[x->unit].uuid, f->path);
        return;
    }
    ckd_hash_hex(ev->digest, f->hash);
    if (!ckd_checksums_hold(f, ev->size)) ckd_file_landed(f, ev->size);
}

static void arc_drain(ckd_archive *x)
{
    for (;;) {
        uv_mutex_lock(&x->lock);
        int have = x->taken < x->nevents;
        arc_event ev = have ? x->events[x->taken++] : (arc_event){0};
        uv_mutex_unlock(&x->lock);
        if (!have) return;
        arc_file_done(x, &ev);
    }
}

/* The body went wrong after its tar ended: the files this attempt wrote
 * (verified or not) are written again by the next one. */
static void arc_distrust(ckd_archive *x)
{
    ckd_job *j = x->job;
    ckd_unit *un = &j->units[x->unit];
    for (size_t i = 0; i < x->n; i++) {
        const arc_entry *e = &x->entries[i];
        ckd_file *f = &j->files[e->idx];
        if (!e->seen || e->skip || f->state == CKD_FILE_FAILED || f->state == CKD_FILE_PENDING)
            continue;
        if (f->state == CKD_FILE_VERIFIED) j->files_verified--, un->verified--;
        /* A FETCHED file's flush wave skips it once it is pending. */
        ckd_file_set_state(f, CKD_FILE_PENDING, 1);
        f->held = 0;
        f->reset_pending = 1;
        if ((size_t)f->idx < j->sched_from) j->sched_from = (size_t)f->idx;
    }
}

/* The archive ended (or never started): account for it, retry or fail. */
static void arc_finish(ckd_archive *x)
{
    ckd_job *j = x->job;
    ckd_unit *un = &j->units[x->unit];
    x->finishing = 1;
    un->archive = NULL;
    if (x->tail_bad) arc_distrust(x);
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (unit_file(f, x->unit) && f->state == CKD_FILE_ACTIVE && !f->held)
            ckd_file_set_state(f, CKD_FILE_PENDING, 0);
    }
    if (x->err == 0) {
        un->arc_attempts = 0;
    } else if (x->err == -ECANCELED || j->state != CKD_JOB_RUNNING) {
        /* Paused, canceled or stopping: a resume starts it again. */
    } else if (x->err == -ENOSPC || x->err == -EIO || x->err == -EDQUOT || x->err == -EROFS) {
        ckd_job_disk_error(j, un->staging, x->err);
    } else if (x->transient && ++un->arc_attempts <= j->d->cfg.retry_max) {
        uint64_t cap = 1000ull << (un->arc_attempts < 5 ? un->arc_attempts : 5);
        uint64_t delay = cap / 2 + (uint64_t)rand() % (cap / 2 + 1);
        un->arc_not_before_ms = ckd_now_ms() + delay;
        ckd_job_log(j, "warn", "checkpoint %s: %s; fetching the archive again in %.1fs", un->uuid,
                    x->msg, (double)delay / 1000.0);
    } else {
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (unit_file(f, x->unit) && f->state == CKD_FILE_PENDING && !f->reset_pending)
                ckd_file_fail(f, "checkpoint %s: %s", un->uuid, x->msg);
        }
    }
    uv_close((uv_handle_t *)&x->async, on_closed);
}

static void on_async(uv_async_t *h)
{
    ckd_archive *x = h->data;
    if (x->finishing) return;
    arc_drain(x);
    uv_mutex_lock(&x->lock);
    int done = x->done;
    uv_mutex_unlock(&x->lock);
    if (!done) return;
    uv_thread_join(&x->thread);
    arc_drain(x);
    arc_finish(x);
}

/* The master call proved the token and the checkpoint: start the thread. */
static void on_authorized(void *ud, int err, json_t *body, const char *msg)
{
    (void)body;
    ckd_archive *x = ud;
    ckd_job *j = x->job;
    ckd_master *m = j->d->master;
    if (err == 0 && atomic_load(&x->abort)) err = -ECANCELED;
    if (err == 0) {
        char auth[4200];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", m->token ? m->token : "");
        x->auth = strdup(auth);
        explicit_bzero(auth, sizeof(auth));
        if (!x->auth) err = -ENOMEM;
    }
    if (err == 0 && uv_thread_create(&x->thread, arc_thread, x) == 0) {
        x->thread_started = 1;
        return;
    }
    if (err == 0) err = -EAGAIN;
    x->err = err;
    x->transient = err == -EAGAIN || err == -ENOMEM;
    snprintf(x->msg, sizeof(x->msg), "%s", msg ? msg : "cannot start the archive");
    if (err == -ENOENT)
        snprintf(x->msg, sizeof(x->msg), "the master does not know checkpoint %s",
                 j->units[x->unit].uuid);
    arc_finish(x);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const arc_entry *)a)->name, ((const arc_entry *)b)->name);
}

/* The name a file has inside the archive: its resource name, which for a
 * file stored decoded is the stored name plus ".zst". */
static char *archive_name(const ckd_file *f)
{
    size_t l = strlen(f->path);
    char *s = malloc(l + 5);
    if (!s) return NULL;
    memcpy(s, f->path, l + 1);
    if (f->zstd && !(l > 4 && strcmp(f->path + l - 4, ".zst") == 0)) strcat(s, ".zst");
    return s;
}

int ckd_archive_start(ckd_job *j, size_t u)
{
    ckd_daemon *d = j->d;
    ckd_unit *un = &j->units[u];
    if (!d->master || !d->master->url) {
        /* A restart without --master: say so instead of waiting forever. */
        for (size_t i = 0; i < j->nfiles; i++)
            if (unit_file(&j->files[i], u) && j->files[i].state == CKD_FILE_PENDING)
                ckd_file_fail(&j->files[i],
                              "checkpoint %s comes from the master's archive, but no master is "
                              "configured: start ckptd with --master URL or DET_MASTER",
                              un->uuid);
        return -ENOTCONN;
    }
    ckd_archive *x = calloc(1, sizeof(*x));
    if (!x) return -ENOMEM;
    x->job = j;
    x->unit = u;
    x->low_speed_limit = d->cfg.low_speed_limit;
    x->low_speed_time = d->cfg.low_speed_time;
    x->max_speed = d->cfg.bandwidth_limit;
    if (uv_mutex_init(&x->lock) != 0) {
        free(x);
        return -ENOMEM;
    }
    x->entries = calloc(un->nfiles ? un->nfiles : 1, sizeof(*x->entries));
    x->events = calloc(un->nfiles ? un->nfiles : 1, sizeof(*x->events));
    x->staging = strdup(un->staging);
    x->ca_file = d->master_ca_file ? strdup(d->master_ca_file) : NULL;
    size_t ulen = strlen(d->master->url) + strlen(un->uuid) + 16;
    x->url = malloc(ulen);
    int ok = x->entries && x->events && x->staging && x->url && (x->ca_file || !d->master_ca_file);
    if (ok) snprintf(x->url, ulen, "%s/checkpoints/%s", d->master->url, un->uuid);
    for (size_t i = 0; ok && i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (!unit_file(f, u) || x->n >= un->nfiles) continue;
        arc_entry *e = &x->entries[x->n];
        e->idx = f->idx;
        e->zstd = f->zstd;
        e->skip = f->state != CKD_FILE_PENDING;
        e->dst = ckd_file_staging_path(f);
        char *name = archive_name(f);
        if (!e->dst || !name) {
            free(name);
            ok = 0;
            break;
        }
        /* The name lives at the end of the same allocation as dst. */
        size_t dl = strlen(e->dst), nl = strlen(name);
        char *both = realloc(e->dst, dl + nl + 2);
        if (!both) {
            free(name);
            ok = 0;
            break;
        }
        memcpy(both + dl + 1, name, nl + 1);
        free(name);
        e->dst = both;
        e->name = both + dl + 1;
        x->n++;
    }
    if (!ok) {
        x->n = x->entries ? un->nfiles : 0; /* frees every dst made so far */
        arc_free(x);
        return -ENOMEM;
    }
    qsort(x->entries, x->n, sizeof(*x->entries), cmp_entry);
    uv_async_init(d->loop, &x->async, on_async);
    x->async.data = x;
    j->busy++;
    d->archives++;
    un->archive = x;
    size_t kept = 0;
    for (size_t i = 0; i < x->n; i++) {
        if (x->entries[i].skip) {
            kept++;
            continue;
        }
        ckd_file *f = &j->files[x->entries[i].idx];
        ckd_file_set_state(f, CKD_FILE_ACTIVE, 0);
        f->hash[0] = '\0';
    }
    if (kept)
        ckd_job_log(j, "info",
                    "checkpoint %s: fetching the master's archive again (%zu verified file%s kept, "
                    "not rewritten)",
                    un->uuid, kept, kept == 1 ? "" : "s");
    else
        ckd_job_log(j, "info", "checkpoint %s: fetching the master's archive", un->uuid);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/checkpoints/%s", un->uuid);
    if (ckd_master_call(d->master, path, NULL, on_authorized, x) < 0) {
        x->err = -ENOMEM;
        x->transient = 1;
        snprintf(x->msg, sizeof(x->msg), "cannot start a request to the master");
        arc_finish(x);
    }
    return 0;
}

void ckd_archive_abort(ckd_archive *a)
{
    if (a) atomic_store(&a->abort, 1);
}

int64_t ckd_archive_progress(const ckd_archive *a)
{
    return a ? atomic_load(&((ckd_archive *)a)->cur_bytes) : 0;
}
