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
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ckptd/" CKPTD_VERSION);
    if (d->master_ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, d->master_ca_file);
    if (post_body) {
        h->post = strdup(post_body);
        if (!h->post) {
            http_free(h);
            return -ENOMEM;
        }
        h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->post);
    }
    if (method) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    if (curl_multi_add_handle(d->xe.multi, e) != CURLM_OK) {
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
                       .errmsg = msg,
                       .retry_after = h->retry_after};
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &r.status);
    unlink_req(h);
    h->cb(h->ud, &r);
    http_free(h);
}

void ckd_http_done(ckd_http *h, CURLcode rc)
{
    curl_multi_remove_handle(h->d->xe.multi, h->easy);
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
    curl_multi_remove_handle(h->d->xe.multi, h->easy);
    finish(h, -ECANCELED, "canceled");
}

void ckd_http_cancel_all(ckd_daemon *d)
{
    while (d->http_reqs) ckd_http_cancel(d->http_reqs);
}
