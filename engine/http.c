#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"
#include "log.h"

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    ckd_http *h = ud;
    size_t len = size * n;
    if (h->len + len > h->max) {
        h->too_big = 1;
        return 0;
    }
    if (h->len + len + 1 > h->cap) {
        size_t ncap = h->cap ? h->cap : 16384;
        while (ncap < h->len + len + 1) ncap *= 2;
        char *nb = realloc(h->body, ncap);
        if (!nb) return 0;
        h->body = nb;
        h->cap = ncap;
    }
    memcpy(h->body + h->len, ptr, len);
    h->len += len;
    h->body[h->len] = '\0';
    return len;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    ckd_http *h = ud;
    size_t len = size * n;
    /* Keep the last header block (a redirect's or a 100's come first). */
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) h->hdrs_len = 0;
    if (h->hdrs_len + len >= CKD_HTTP_MAX_HEADERS) {
        h->too_big = 1;
        return 0;
    }
    if (h->hdrs_len + len + 1 > h->hdrs_cap) {
        size_t ncap = h->hdrs_cap ? h->hdrs_cap : 4096;
        while (ncap < h->hdrs_len + len + 1) ncap *= 2;
        if (ncap > CKD_HTTP_MAX_HEADERS) ncap = CKD_HTTP_MAX_HEADERS;
        char *nb = realloc(h->hdrs, ncap);
        if (!nb) return 0;
        h->hdrs = nb;
        h->hdrs_cap = ncap;
    }
    memcpy(h->hdrs + h->hdrs_len, buf, len);
    h->hdrs_len += len;
    h->hdrs[h->hdrs_len] = '\0';
    if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
        char *end;
        double v = strtod(buf + 12, &end);
        if (end != buf + 12 && v >= 0) h->retry_after = v;
    }
    return len;
}

static void unlink_req(ckd_http *h)
{
    if (!h->prevp) return;
    *h->prevp = h->next;
    if (h->next) h->next->prevp = h->prevp;
    h->prevp = NULL;
}

static void http_free(ckd_http *h)
{
    unlink_req(h);
    curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->headers);
    free(h->body);
    free(h->hdrs);
    free(h->post);
    h->magic = 0;
    free(h);
}

int ckd_http_start(ckd_daemon *d, const char *url, const char *const *headers,
                   const char *post_body, size_t max_body, ckd_http_cb cb, void *ud, ckd_http **out)
{
    return ckd_http_start_method(d, NULL, url, headers, post_body, max_body, cb, ud, out);
}

int ckd_http_start_method(ckd_daemon *d, const char *method, const char *url,
                          const char *const *headers, const char *post_body, size_t max_body,
                          ckd_http_cb cb, void *ud, ckd_http **out)
{
    return ckd_http_start_tls(d, method, url, headers, post_body, max_body, NULL, cb, ud, out);
}

int ckd_http_start_tls(ckd_daemon *d, const char *method, const char *url,
                       const char *const *headers, const char *post_body, size_t max_body,
                       const ckd_http_tls *tls, ckd_http_cb cb, void *ud, ckd_http **out)
{
    ckd_http *h = calloc(1, sizeof(*h));
    if (!h) return -ENOMEM;
    h->magic = CKD_HTTP_MAGIC;
    h->d = d;
    h->cb = cb;
    h->ud = ud;
    h->max = max_body;
    h->retry_after = -1;
    h->easy = curl_easy_init();
    if (!h->easy) {
        free(h);
        return -ENOMEM;
    }
    for (const char *const *p = headers; p && *p; p++)
        h->headers = curl_slist_append(h->headers, *p);
    h->headers = curl_slist_append(h->headers, "Accept: application/json");
    CURL *e = h->easy;
    ckd_http_easy_defaults(e, url, tls ? tls->ca_file : d->master_ca_file);
    if (tls && tls->noverify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
    if (post_body) {
        h->post = strdup(post_body);
        if (!h->post) {
            http_free(h);
            return -ENOMEM;
        }
        h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->post);
    }
    if (method && strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    if (curl_multi_add_handle(d->http_multi, e) != CURLM_OK) {
        http_free(h);
        return -EIO;
    }
    h->next = d->http_reqs;
    if (h->next) h->next->prevp = &h->next;
    h->prevp = &d->http_reqs;
    d->http_reqs = h;
    if (out) *out = h;
    return 0;
}

static void finish(ckd_http *h, int err, const char *msg)
{
    ckd_http_resp r = {.err = err,
                       .body = h->body ? h->body : "",
                       .len = h->len,
                       .headers = h->hdrs ? h->hdrs : "",
                       .headers_len = h->hdrs_len,
                       .errmsg = msg,
                       .retry_after = h->retry_after};
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &r.status);
    unlink_req(h);
    h->cb(h->ud, &r);
    http_free(h);
}

void ckd_http_done(ckd_http *h, CURLcode rc)
{
    curl_multi_remove_handle(h->d->http_multi, h->easy);
    if (h->too_big) {
        finish(h, -E2BIG, "reply too large");
    } else if (rc != CURLE_OK) {
        const char *msg = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
        int err = rc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
                  : rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                                                   : -EIO;
        finish(h, err, msg);
    } else {
        finish(h, 0, NULL);
    }
}

void ckd_http_cancel(ckd_http *h)
{
    curl_multi_remove_handle(h->d->http_multi, h->easy);
    finish(h, -ECANCELED, "canceled");
}

void ckd_http_cancel_all(ckd_daemon *d)
{
    while (d->http_reqs) ckd_http_cancel(d->http_reqs);
}

/* ---- the loop's libcurl multi (control requests only) ------------------ */

/* One uv_poll_t per socket libcurl asks us to watch. */
typedef struct poll_ctx {
    uv_poll_t handle;
    curl_socket_t fd;
    ckd_daemon *d;
} poll_ctx;

static void drain_messages(ckd_daemon *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->http_multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        void *owner = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&owner);
        if (owner && *(uint32_t *)owner == CKD_HTTP_MAGIC) ckd_http_done(owner, msg->data.result);
    }
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
    curl_multi_socket_action(p->d->http_multi, p->fd, flags, &running);
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
            curl_multi_assign(d->http_multi, s, NULL);
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
        curl_multi_assign(d->http_multi, s, p);
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
    curl_multi_socket_action(d->http_multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_messages(d);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    ckd_daemon *d = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&d->http_timer);
    else
        uv_timer_start(&d->http_timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int ckd_http_init(ckd_daemon *d)
{
    d->http_multi = curl_multi_init();
    if (!d->http_multi) return -ENOMEM;
    uv_timer_init(d->loop, &d->http_timer);
    d->http_timer.data = d;
    curl_multi_setopt(d->http_multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->http_multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->http_multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->http_multi, CURLMOPT_TIMERDATA, d);
    /* Control requests only (transfers run in the data plane): a few
     * connections, kept for reuse. */
    curl_multi_setopt(d->http_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 8L);
    return 0;
}

void ckd_http_close(ckd_daemon *d)
{
    /* Every request is gone by now; cleanup closes cached connections,
     * which removes their sockets (and our polls) through on_socket. */
    if (!d->http_multi) return;
    curl_multi_cleanup(d->http_multi);
    d->http_multi = NULL;
    uv_close((uv_handle_t *)&d->http_timer, NULL);
}

void ckd_http_easy_defaults(CURL *e, const char *url, const char *ca_file)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)CKD_HTTP_CONNECT_TIMEOUT);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ckptd/" CKPTD_VERSION);
    if (ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
}
