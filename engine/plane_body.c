/* The data plane, one transfer: the request's range and validator, the
 * response's headers and what they mean, the body written and hashed in
 * place (or decoded first, for zstd), progress reports, and the verdict. */
#include "plane_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckp.h"
#include "fsutil.h"

/* ---- messages ----------------------------------------------------------- */

/* The URL for messages: without user:pass@, query string and fragment
 * (presigned URLs carry secrets there). "" before the transfer started.
 * Made when a message first needs it: a transfer that succeeds never does. */
static const char *msg_url(pl_xfer *x)
{
    if (!x->msg_url[0]) {
        char *url = NULL;
        curl_easy_getinfo(x->f.easy, CURLINFO_EFFECTIVE_URL, &url);
        ckp_url_redact(x->msg_url, sizeof(x->msg_url), url ? url : ""); /* the one rule */
    }
    return x->msg_url;
}

void ckd__plane_decide(pl_xfer *x, enum ckd_fetch_end end, int err, const char *fmt, ...)
{
    if (x->decided) return;
    x->decided = 1;
    x->final.r.end = end;
    x->final.r.err = err;
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(x->final.r.message, sizeof(x->final.r.message), fmt, ap);
    va_end(ap);
}

/* strerror(-err) with a lowercase first letter, as messages are. */
static void errno_text(int err, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", strerror(-err));
    if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z')) out[0] += 'a' - 'A';
}

/* ---- progress and the end ------------------------------------------------ */

static int flush_body(pl_xfer *x);

static int64_t written_now(const pl_xfer *x)
{
    return x->f.zstd ? x->frame_c : x->pos - x->f.start;
}

/* A progress report when `written` crossed a multiple of step since the last. */
static void progress(pl_xfer *x)
{
    if (x->f.step <= 0) return;
    int64_t written = written_now(x);
    int64_t idx = written / x->f.step;
    if (idx <= x->step_idx) return;
    x->step_idx = idx;
    if (x->f.writeback && !x->f.zstd && x->pos > x->wb_off) {
        /* Writeback of what this step wrote starts now, not at the flush. */
        sync_file_range(x->f.fd, x->wb_off, x->pos - x->wb_off, SYNC_FILE_RANGE_WRITE);
        x->wb_off = x->pos;
    }
    pl_report *r = malloc(sizeof(*r));
    XXH3_state_t *h = XXH3_createState();
    if (!r || !h) { /* progress is advisory: the next step or the final tells */
        free(r);
        XXH3_freeState(h);
        return;
    }
    r->next = NULL;
    r->state = h;
    r->x = NULL;
    r->w = NULL;
    r->kind = PL_REP_PROGRESS;
    r->r = x->final.r; /* the response's facts so far */
    r->r.key = x->f.key;
    r->r.final = 0;
    r->r.end = CKD_FETCH_OK;
    r->r.written = written;
    r->r.decoded = x->f.zstd ? x->frame_d : 0;
    r->r.http_status = x->status;
    r->r.retry_after_s = -1;
    r->r.err = 0;
    r->r.message[0] = '\0';
    XXH3_copyState(r->state, x->f.zstd ? x->frame_hash : x->hash);
    ckd__plane_push_report(x->w->p, r);
}

void ckd__plane_xfer_finish(pl_xfer *x)
{
    pl_worker *w = x->w;
    if (x->prev)
        x->prev->next = x->next;
    else
        w->active = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    if (x->in_multi) {
        curl_multi_remove_handle(w->multi, x->f.easy);
        x->in_multi = 0;
    }
    ckd_fetch_report *r = &x->final.r;
    r->key = x->f.key;
    r->final = 1;
    r->written = written_now(x);
    r->decoded = x->f.zstd ? x->frame_d : 0;
    r->http_status = x->status;
    r->retry_after_s = r->end == CKD_FETCH_RETRY ? x->retry_after : -1;
    XXH3_copyState(x->final.state, x->f.zstd ? x->frame_hash : x->hash);
    curl_easy_reset(x->f.easy); /* back to the control thread, for ckd_plane_easy */
    x->spent = x->f.easy;
    x->f.easy = NULL;
    curl_slist_free_all(x->f.headers);
    x->f.headers = NULL;
    ZSTD_freeDCtx(x->zd);
    x->zd = NULL;
    free(x->zout);
    x->zout = NULL;
    free(x->wbuf);
    x->wbuf = NULL;
    x->wlen = 0;
    if (x->path && x->f.fd >= 0) { /* the worker opened it */
        close(x->f.fd);
        x->f.fd = -1;
    }
    XXH3_freeState(x->frame_hash);
    x->frame_hash = NULL;
    ckd__plane_push_report(w->p, &x->final); /* x is the control thread's now */
}

int ckd__plane_xfer_open(pl_xfer *x)
{
    /* path lies below path_base: make the directories in between. */
    size_t nb = strlen(x->path_base);
    int rc = strncmp(x->path, x->path_base, nb) == 0 && x->path[nb] == '/'
                 ? ckd_mkdir_parents(x->path_base, x->path + nb + 1)
                 : -EINVAL;
    int fd = rc == 0 ? open(x->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (rc == 0 && fd < 0) rc = -errno;
    if (rc == 0 && x->f.prealloc > 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size < x->f.prealloc &&
            posix_fallocate(fd, 0, x->f.prealloc) != 0 && ftruncate(fd, x->f.prealloc) != 0)
            rc = -ENOSPC;
    }
    if (rc < 0) {
        if (fd >= 0) close(fd);
        char text[128];
        errno_text(rc, text, sizeof(text));
        /* A name that cannot be made here fails this file; anything else is
         * the disk's (err set: the owner decides what the job does). */
        int name = rc == -ENAMETOOLONG || rc == -ENOTDIR || rc == -EISDIR || rc == -EEXIST ||
                   rc == -EINVAL;
        ckd__plane_decide(x, CKD_FETCH_FAIL, name ? 0 : rc, "cannot create '%s': %s", x->path,
                          text);
        return rc;
    }
    x->f.fd = fd;
    return 0;
}

void ckd__plane_xfer_end(pl_xfer *x, enum ckd_fetch_end end, const char *why)
{
    flush_body(x); /* bytes taken are written: the report claims them */
    ckd__plane_decide(x, end, 0, "%s", why ? why : "");
    ckd__plane_xfer_finish(x);
}

/* ---- headers ---------------------------------------------------------------- */

static int64_t parse_int64(const char *s, const char **end)
{
    int64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            *end = s;
            return -1;
        }
        v = v * 10 + (*p++ - '0');
    }
    *end = p;
    return p == s ? -1 : v;
}

/* "bytes 100-199/1000" (or "bytes 100-199/" and a star); a malformed one leaves cr_start -1. */
static void parse_content_range(pl_xfer *x, const char *v)
{
    const char *p;
    x->cr_start = x->cr_end = x->cr_total = -1;
    if (strncasecmp(v, "bytes ", 6) != 0) return;
    if (v[6] == '*' &&
        v[7] == '/') { /* a 416 names only the size: an asterisk, a slash, the size */
        int64_t total = parse_int64(v + 8, &p);
        if (*p == '\0') x->cr_total = total;
        return;
    }
    int64_t a = parse_int64(v + 6, &p);
    if (a < 0 || *p != '-') return;
    int64_t b = parse_int64(p + 1, &p);
    if (b < a || *p != '/') return;
    int64_t total = -1;
    if (p[1] != '*') {
        total = parse_int64(p + 1, &p);
        if (total < 0 || *p != '\0' || b >= total) return;
    }
    x->cr_start = a;
    x->cr_end = b;
    x->cr_total = total;
}

/* A header value without surrounding blanks and CRLF, truncated to fit. */
static void copy_header_value(char *dst, size_t dstlen, const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) v++, len--;
    while (len > 0 &&
           (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len >= dstlen) len = dstlen - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* An error status decides the verdict: 1 when it did. */
static int status_verdict(pl_xfer *x)
{
    long st = x->status;
    if (st == 401 || st == 403)
        ckd__plane_decide(x, CKD_FETCH_DENIED, 0, "http %ld for '%s'", st, msg_url(x));
    else if (st == 408 || st == 429 || st >= 500)
        ckd__plane_decide(x, CKD_FETCH_RETRY, 0, "http %ld for '%s'", st, msg_url(x));
    else if (st >= 400)
        ckd__plane_decide(x, CKD_FETCH_FAIL, 0, "http %ld for '%s'", st, msg_url(x));
    else if (st != 200 && st != 206)
        ckd__plane_decide(x, CKD_FETCH_FAIL, 0, "unexpected http status %ld for '%s'", st,
                          msg_url(x));
    return x->decided;
}

/* The final response's headers are in: is its body the range asked for, of
 * the object expected? 0 (and a verdict) when not. */
static int headers_done(pl_xfer *x)
{
    ckd_fetch_report *r = &x->final.r;
    const char *v = x->etag[0] && strncmp(x->etag, "W/", 2) != 0 ? x->etag : x->lastmod;
    snprintf(r->validator, sizeof(r->validator), "%s", v);
    int at_end = x->status == 416 && x->f.end < 0 && x->cr_total >= 0 && x->cr_total == x->pos;
    if (!at_end && status_verdict(x)) return 0;
    if (x->f.validator[0] && v[0] && strcmp(x->f.validator, v) != 0) {
        ckd__plane_decide(x, CKD_FETCH_RESTART, 0, "'%s' changed on the server (%s, was %s)",
                          msg_url(x), v, x->f.validator);
        return 0;
    }
    if (at_end) {
        /* Asked for the rest from where the object ends (a resume after
         * everything was written): nothing is missing. */
        r->object_size = x->cr_total;
        if (x->f.expect_size >= 0 && x->cr_total != x->f.expect_size)
            ckd__plane_decide(x, CKD_FETCH_RESTART, 0,
                              "'%s' has %lld bytes on the server, expected %lld", msg_url(x),
                              (long long)x->cr_total, (long long)x->f.expect_size);
        else
            ckd__plane_decide(x, CKD_FETCH_OK, 0, "%s", "");
        return 0;
    }
    int64_t total;
    if (x->status == 206) {
        if (x->cr_start < 0 || x->cr_start != x->pos) {
            ckd__plane_decide(x, CKD_FETCH_FAIL, 0,
                              "bad content-range from '%s': asked for byte %lld, got %lld",
                              msg_url(x), (long long)x->pos, (long long)x->cr_start);
            return 0;
        }
        total = x->cr_total;
    } else {
        if (x->ranged) {
            ckd__plane_decide(x, CKD_FETCH_RESTART, 0,
                              "'%s' ignored the range request and sent the whole object (no "
                              "range support, or it changed)",
                              msg_url(x));
            return 0;
        }
        total = x->clen;
    }
    r->object_size = total;
    if (total >= 0 && x->f.expect_size >= 0 && total != x->f.expect_size) {
        ckd__plane_decide(x, CKD_FETCH_RESTART, 0,
                          "'%s' changed size on the server: %lld bytes, expected %lld", msg_url(x),
                          (long long)total, (long long)x->f.expect_size);
        return 0;
    }
    if (total >= 0 && x->f.end > total) {
        ckd__plane_decide(x, CKD_FETCH_RESTART, 0,
                          "'%s' has %lld bytes on the server, less than the range's end %lld",
                          msg_url(x), (long long)total, (long long)x->f.end);
        return 0;
    }
    x->hdr_ok = 1;
    return 1;
}

/* Retry-After as seconds from now: delta-seconds or an HTTP date; -1 when
 * unparsable. */
static double parse_retry_after(const char *v)
{
    char *end;
    double secs = strtod(v, &end);
    if (end != v && *end == '\0') return secs >= 0 ? secs : 0;
    time_t when = curl_getdate(v, NULL);
    if (when <= 0) return -1;
    double d = difftime(when, time(NULL));
    return d > 0 ? d : 0;
}

/* CURLOPT_HEADERFUNCTION: collects what headers_done needs. */
static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    pl_xfer *x = ud;
    size_t len = size * n;
    if (x->decided) return 0;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response: redirects and 100-continue come before the final one. */
        const char *sp = memchr(buf, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->etag[0] = x->lastmod[0] = '\0';
        x->cr_start = x->cr_end = x->cr_total = x->clen = -1;
        x->retry_after = -1;
        x->hdr_final = x->hdr_ok = 0;
        return len;
    }
    if (x->hdr_final) return len; /* trailers */
    if (len <= 2) {
        /* The blank line ending a header block; interim ones and redirects
         * (followed or not: a body of one is refused in on_body) go on. */
        if (x->status < 200 || (x->status >= 300 && x->status < 400)) return len;
        x->hdr_final = 1;
        return headers_done(x) ? len : 0;
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
    } else if (klen == 14 && strncasecmp(buf, "content-length", 14) == 0) {
        copy_header_value(tmp, sizeof(tmp), v, vlen);
        const char *e;
        x->clen = parse_int64(tmp, &e);
        if (*e != '\0') x->clen = -1;
    } else if (klen == 11 && strncasecmp(buf, "retry-after", 11) == 0) {
        copy_header_value(tmp, sizeof(tmp), v, vlen);
        x->retry_after = parse_retry_after(tmp);
    }
    return len;
}

/* ---- the body ------------------------------------------------------------------ */

/* pwrite()s all of buf at off; *done counts what the kernel took, even when
 * an error ends it. 0 or -errno. */
static int write_at(int fd, const char *buf, size_t len, int64_t off, size_t *done)
{
    *done = 0;
    while (*done < len) {
        ssize_t w = pwrite(fd, buf + *done, len - *done, off + (int64_t)*done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        if (w == 0) return -EIO;
        *done += (size_t)w;
    }
    return 0;
}

static void write_failed(pl_xfer *x, int err, int64_t at)
{
    char text[128];
    errno_text(err, text, sizeof(text));
    ckd__plane_decide(x, CKD_FETCH_FAIL, err, "cannot write '%s' at byte %lld: %s", msg_url(x),
                      (long long)at, text);
}

/* Writes the gathered body bytes at pos and hashes what the kernel took.
 * 0, or -errno with the verdict decided (what was not written is dropped). */
static int flush_body(pl_xfer *x)
{
    if (x->wlen == 0) return 0;
    size_t done;
    int err = write_at(x->f.fd, (const char *)x->wbuf, x->wlen, x->pos, &done);
    if (done > 0) {
        XXH3_128bits_update(x->hash, x->wbuf, done);
        x->pos += (int64_t)done;
    }
    x->wlen = 0;
    if (err < 0) {
        write_failed(x, err, x->pos);
        return err;
    }
    progress(x);
    return 0;
}

/* Plain body bytes: gathered into wbuf and written when it is full; without
 * a buffer (no memory), written and hashed in place. 0 to stop (a verdict). */
static int take_body(pl_xfer *x, const char *ptr, size_t len)
{
    if (!x->wbuf && x->wcap > 0) x->wbuf = malloc(x->wcap);
    if (!x->wbuf) {
        size_t done;
        int err = write_at(x->f.fd, ptr, len, x->pos, &done);
        if (done > 0) {
            XXH3_128bits_update(x->hash, ptr, done);
            x->pos += (int64_t)done;
        }
        if (err < 0) {
            write_failed(x, err, x->pos);
            return 0;
        }
        progress(x);
        return 1;
    }
    while (len > 0) {
        size_t n = x->wcap - x->wlen < len ? x->wcap - x->wlen : len;
        memcpy(x->wbuf + x->wlen, ptr, n);
        x->wlen += n;
        ptr += n;
        len -= n;
        if (x->wlen == x->wcap && flush_body(x) < 0) return 0;
    }
    return 1;
}

/* zstd: decodes ptr[0, len) into the file at the decoded offset, hashing
 * the decoded bytes; every frame end is remembered (offsets and hash) as
 * the point a resume may start from. 0 to stop the transfer (a verdict). */
static int zstd_feed(pl_xfer *x, const char *ptr, size_t len)
{
    ZSTD_inBuffer in = {ptr, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {x->zout, x->zout_cap, 0};
        size_t rc = ZSTD_decompressStream(x->zd, &out, &in);
        if (ZSTD_isError(rc)) {
            ckd__plane_decide(x, CKD_FETCH_FAIL, 0, "cannot decode the zstd stream of '%s': %s",
                              msg_url(x), ZSTD_getErrorName(rc));
            return 0;
        }
        if (out.pos > 0) {
            if (x->f.dec_max >= 0 && x->dec + (int64_t)out.pos > x->f.dec_max) {
                ckd__plane_decide(x, CKD_FETCH_FAIL, 0,
                                  "the zstd stream of '%s' decodes to more than %lld bytes",
                                  msg_url(x), (long long)x->f.dec_max);
                return 0;
            }
            size_t done;
            int err = write_at(x->f.fd, (const char *)x->zout, out.pos, x->dec, &done);
            if (err < 0) {
                write_failed(x, err, x->dec + (int64_t)done);
                return 0;
            }
            XXH3_128bits_update(x->hash, x->zout, out.pos);
            x->dec += (int64_t)out.pos;
        }
        if (rc == 0) { /* a frame ends exactly here */
            x->frame_c = x->pos + (int64_t)in.pos;
            x->frame_d = x->dec;
            XXH3_copyState(x->frame_hash, x->hash);
            progress(x);
        }
        if (in.pos == in.size && out.pos < out.size) break;
    }
    x->pos += (int64_t)len;
    return 1;
}

/* CURLOPT_WRITEFUNCTION: writes and hashes libcurl's buffer in place, cut at
 * f.end; pauses for the bandwidth cap. */
static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    pl_xfer *x = ud;
    size_t len = size * n;
    if (x->decided) return 0;
    if (!x->hdr_ok) {
        /* A body of a response we did not accept (a redirect not followed). */
        status_verdict(x);
        ckd__plane_decide(x, CKD_FETCH_FAIL, 0, "unexpected http status %ld for '%s'", x->status,
                          msg_url(x));
        return 0;
    }
    size_t take = len;
    if (x->f.end >= 0) {
        int64_t room = x->f.end - x->pos - (int64_t)x->wlen;
        if (room <= 0) {
            x->reached_end = 1;
            return 0;
        }
        if ((int64_t)take > room) take = (size_t)room;
    }
    int64_t wait = ckd__plane_rate_take(x->w->p, take);
    if (wait > 0) {
        x->paused = 1;
        ckd__plane_worker_paused(x->w, wait);
        return CURL_WRITEFUNC_PAUSE; /* the same bytes come again after the unpause */
    }
    if (x->f.zstd) {
        if (!zstd_feed(x, ptr, take)) return 0;
    } else if (!take_body(x, ptr, take)) {
        return 0;
    }
    if (take < len) {
        x->reached_end = 1; /* the short count stops the transfer: we have it all */
        return take;
    }
    return len;
}

/* ---- the verdict ---------------------------------------------------------------- */

static int transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_AGAIN:
    case CURLE_ABORTED_BY_CALLBACK: /* our socket or timer callback failed (no memory,
                                     * no poll handle): nothing wrong with the server */
    case CURLE_WRITE_ERROR:         /* a stop without a verdict: should not happen */
        return 1;
    default:
        return 0;
    }
}

/* The verdict of a transfer libcurl ended with rc, when none was reached
 * before. */
static void verdict(pl_xfer *x, CURLcode rc)
{
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->reached_end)) {
        if (!x->hdr_ok) {
            if (!status_verdict(x))
                ckd__plane_decide(x, CKD_FETCH_FAIL, 0, "no response body from '%s'", msg_url(x));
        } else if (x->f.zstd && x->frame_c != x->pos) {
            ckd__plane_decide(x, CKD_FETCH_FAIL, 0,
                              "the zstd stream of '%s' ends inside a frame (truncated)",
                              msg_url(x));
        } else if (!x->f.zstd && x->f.end >= 0 && x->pos < x->f.end) {
            ckd__plane_decide(x, CKD_FETCH_RETRY, 0,
                              "'%s' ended the body at byte %lld, before the range's end %lld",
                              msg_url(x), (long long)x->pos, (long long)x->f.end);
        } else {
            ckd__plane_decide(x, CKD_FETCH_OK, 0, "%s", "");
            if (x->f.end < 0) x->final.r.object_size = x->pos;
        }
        return;
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR && status_verdict(x)) return;
    char text[CURL_ERROR_SIZE];
    snprintf(text, sizeof(text), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z'))
        text[0] += 'a' - 'A';
    ckd__plane_decide(x, transient_curl(rc) ? CKD_FETCH_RETRY : CKD_FETCH_FAIL, 0,
                      "cannot fetch '%s': %s", msg_url(x), text);
}

void ckd__plane_xfer_done(pl_xfer *x, CURLcode rc)
{
    flush_body(x); /* the verdict looks at what is in the file */
    if (!x->decided) verdict(x, rc);
    ckd__plane_xfer_finish(x);
}

/* ---- setup (control thread, in submit) --------------------------------------------- */

int ckd__plane_xfer_setup(ckd_plane *p, pl_xfer *x)
{
    ckd_fetch *f = &x->f;
    CURL *e = f->easy;
    x->cr_start = x->cr_end = x->cr_total = x->clen = -1;
    x->retry_after = -1;
    x->pos = x->wb_off = f->off;
    /* A gathering buffer pays for itself once a body spans several of
     * libcurl's 16 KiB pieces; never larger than what the range wants. */
    x->wcap = f->zstd ? 0 : (size_t)p->bufsize;
    if (f->end >= 0 && f->end - f->off < (int64_t)x->wcap) x->wcap = (size_t)(f->end - f->off);
    if (x->wcap <= CURL_MAX_WRITE_SIZE) x->wcap = 0;
    x->final.r.object_size = -1;
    x->final.r.retry_after_s = -1;
    if (f->zstd) {
        x->dec = x->frame_d = f->dec_off;
        x->frame_c = f->off;
    }
    if (f->step > 0) x->step_idx = (f->zstd ? f->off : f->off - f->start) / f->step;
    /* Nothing to ask for when the whole object is wanted: a server without
     * ranges serves that too. */
    x->ranged = f->range_set || !(f->off == 0 && (f->end < 0 || f->end == f->expect_size));
    if (x->ranged && !f->range_set) {
        char range[64];
        if (f->end >= 0)
            snprintf(range, sizeof(range), "%lld-%lld", (long long)f->off, (long long)f->end - 1);
        else
            snprintf(range, sizeof(range), "%lld-", (long long)f->off);
        if (curl_easy_setopt(e, CURLOPT_RANGE, range) != CURLE_OK) return -ENOMEM;
    }
    if (f->off > f->start && f->validator[0]) {
        /* Only the same version of the object may continue what we have. */
        char hdr[300];
        snprintf(hdr, sizeof(hdr), "If-Range: %s", f->validator);
        struct curl_slist *l = curl_slist_append(f->headers, hdr);
        if (!l) {
            if (x->ranged && !f->range_set) curl_easy_setopt(e, CURLOPT_RANGE, NULL);
            return -ENOMEM;
        }
        f->headers = l;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 0L);
    /* A small body needs no large receive buffer (each one is allocated and
     * touched per transfer): its size plus room for the headers. */
    long bufsize = p->bufsize;
    if (f->end >= 0 && f->end - f->off + 16384 < bufsize) bufsize = (long)(f->end - f->off) + 16384;
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, bufsize);
    return 0;
}
