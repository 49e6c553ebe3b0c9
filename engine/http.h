/* Small in-memory HTTP requests (the master's JSON API) on the loop's own
 * libcurl multi handle (file transfers run in the data plane, plane.h, so
 * neither waits behind the other). The body is capped. Also the one place
 * for the options every libcurl handle of ckptd starts from. */
#ifndef CKD_HTTP_H
#define CKD_HTTP_H

#include "daemon.h"

#define CKD_HTTP_MAGIC 0x68747470u
/* A header block larger than this fails the request (-E2BIG). */
#define CKD_HTTP_MAX_HEADERS (64 * 1024)

typedef struct ckd_http_resp {
    int err;          /* 0, or negative errno: transport failure, cap exceeded, canceled */
    long status;      /* HTTP status, 0 when none arrived */
    const char *body; /* NUL-terminated */
    size_t len;
    const char *headers; /* the final response's header lines as received (status line
                          * first, CRLF each), NUL-terminated; "" when none */
    size_t headers_len;
    const char *errmsg; /* for err != 0 */
    double retry_after; /* seconds, -1 when absent */
} ckd_http_resp;

typedef void (*ckd_http_cb)(void *ud, const ckd_http_resp *r);

typedef struct ckd_http {
    uint32_t magic;
    ckd_daemon *d;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len, cap, max;
    char *hdrs; /* the last header block (NUL-terminated), at most CKD_HTTP_MAX_HEADERS */
    size_t hdrs_len, hdrs_cap;
    char *post;
    double retry_after;
    int too_big;
    ckd_http_cb cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
    struct ckd_http *next, **prevp; /* the daemon's list, for cancel at stop */
} ckd_http;

/* Starts a request. headers is a NULL-terminated list of "Name: value"
 * (may be NULL); post_body non-NULL makes it a POST with a JSON body. The
 * callback fires exactly once, on the loop, unless this returns an error.
 * The caller must not free *out; it is freed after the callback. */
int ckd_http_start(ckd_daemon *d, const char *url, const char *const *headers,
                   const char *post_body, size_t max_body, ckd_http_cb cb, void *ud,
                   ckd_http **out);
/* As ckd_http_start, with another method than GET or POST ("DELETE",
 * "HEAD": no body expected; NULL: GET, or POST with a body). A body goes
 * with any method but HEAD. */
int ckd_http_start_method(ckd_daemon *d, const char *method, const char *url,
                          const char *const *headers, const char *body, size_t max_body,
                          ckd_http_cb cb, void *ud, ckd_http **out);
/* TLS settings of a request. */
typedef struct ckd_http_tls {
    const char *ca_file; /* CA bundle, NULL: the system's */
    int noverify;        /* no peer or host verification (det's "noverify") */
} ckd_http_tls;
/* As ckd_http_start_method with TLS settings (NULL: the daemon's
 * --master-ca, verified). */
int ckd_http_start_tls(ckd_daemon *d, const char *method, const char *url,
                       const char *const *headers, const char *body, size_t max_body,
                       const ckd_http_tls *tls, ckd_http_cb cb, void *ud, ckd_http **out);
/* Stops a request; its callback fires with -ECANCELED. */
void ckd_http_cancel(ckd_http *h);
void ckd_http_cancel_all(ckd_daemon *d);
/* Called when libcurl finished h. */
void ckd_http_done(ckd_http *h, CURLcode rc);

/* The loop's multi handle for these requests: set up, and closed at stop
 * (after every request ended). */
int ckd_http_init(ckd_daemon *d);
void ckd_http_close(ckd_daemon *d);

/* Connect timeout of every connection ckptd makes, seconds. */
#define CKD_HTTP_CONNECT_TIMEOUT 15
/* The options every easy handle of ckptd starts from: URL, http(s) only
 * (redirects too), no signals, connect timeout, keep-alive, user agent, CA
 * bundle (NULL: the system's). */
void ckd_http_easy_defaults(CURL *e, const char *url, const char *ca_file);

#endif
