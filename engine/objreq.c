/* Signed listing and HEAD requests of the objects source, and the HEAD
 * probes of content hashes. See objreq.h. */
#include "objreq.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "azure.h"
#include "ckp.h"
#include "cred_util.h"
#include "gcs.h"
#include "http.h"
#include "s3.h"
#include "sigv4.h"

#define OBJPROBE_MAGIC 0x6f627072u

/* ---- signing ------------------------------------------------------------------ */

static int amz_timestamp(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) return -EINVAL;
    return 0;
}

static int add_line(struct curl_slist **h, const char *line)
{
    struct curl_slist *l = curl_slist_append(*h, line);
    if (!l) return -ENOMEM;
    *h = l;
    return 0;
}

int ckd_objreq_sign(const ckd_storage_auth *a, const char *method, const char *url,
                    const char *query, int checksum_mode, struct curl_slist **h)
{
    if (a->gcs && a->gcs->kind == CKD_GCS_AUTH_BEARER) {
        char *line = NULL;
        if (asprintf(&line, "Authorization: Bearer %s", a->gcs->token) < 0) return -ENOMEM;
        int rc = add_line(h, line);
        ckd_cred_free_secret(line);
        return rc;
    }
    if (!a->s3 && !a->gcs) return -ENOTSUP;
    const char *host, *path;
    size_t hl;
    char *base = strndup(url, strcspn(url, "?"));
    if (!base) return -ENOMEM;
    int rc = ckd_http_url_split(base, &host, &hl, &path);
    char ts[17];
    if (rc == 0) rc = amz_timestamp(ts);
    char *hostz = rc == 0 ? strndup(host, hl) : NULL;
    if (rc == 0 && !hostz) rc = -ENOMEM;
    int gcs = a->gcs != NULL;
    const char *tok = gcs ? NULL : a->s3->session_token;
    /* Sorted by name, as SigV4 wants them. */
    ckd_sigv4_header hdrs[5];
    size_t nh = 0;
    hdrs[nh++] = (ckd_sigv4_header){"host", hostz};
    if (checksum_mode && !gcs) hdrs[nh++] = (ckd_sigv4_header){"x-amz-checksum-mode", "ENABLED"};
    hdrs[nh++] = (ckd_sigv4_header){gcs ? "x-goog-content-sha256" : "x-amz-content-sha256",
                                    "UNSIGNED-PAYLOAD"};
    hdrs[nh++] = (ckd_sigv4_header){gcs ? "x-goog-date" : "x-amz-date", ts};
    if (tok) hdrs[nh++] = (ckd_sigv4_header){"x-amz-security-token", tok};
    ckd_sigv4_req req = {
        .method = method,
        .uri = path,
        .query = query ? query : "",
        .headers = hdrs,
        .n_headers = nh,
        .payload_hash = "UNSIGNED-PAYLOAD",
        .timestamp = ts,
        .region = gcs ? "auto" : a->s3->region,
        .service = gcs ? "storage" : "s3",
        .algo_prefix = gcs ? "GOOG4" : "AWS4",
        .request_type = gcs ? "goog4_request" : "aws4_request",
        .key_id = gcs ? a->gcs->access_id : a->s3->access_key,
        .secret = gcs ? a->gcs->secret : a->s3->secret_key,
    };
    char auth[1536];
    if (rc == 0 && ckd_sigv4_sign(&req, auth, sizeof(auth)) < 0) rc = -EINVAL;
    char line[CKD_SIGV4_MAX_FIELD + 64];
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        snprintf(line, sizeof(line), "%s: %s", i == 0 ? "Host" : hdrs[i].name, hdrs[i].value);
        rc = add_line(h, line);
    }
    if (rc == 0) {
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        rc = add_line(h, line);
    }
    explicit_bzero(line, sizeof(line));
    explicit_bzero(auth, sizeof(auth));
    free(hostz);
    free(base);
    return rc;
}

/* ---- object and listing URLs ---------------------------------------------------- */

char *ckd_objreq_object_url(const ckd_det_storage *st, const ckd_storage_auth *a, const char *key)
{
    if (a->s3) return ckd_s3_object_url(st, a->s3->region, key);
    if (a->gcs) return ckd_gcs_object_url(st, key);
    char *url = ckd_azure_blob_url(a->azure, st->container, key);
    char *q = url ? strchr(url, '?') : NULL;
    if (q) explicit_bzero(q, strlen(q));
    return url;
}

static int page_size(void)
{
    const char *v = ckd_cred_env(CKD_OBJREQ_ENV_PAGE_SIZE);
    long n = v ? strtol(v, NULL, 10) : 0;
    return n >= 1 && n <= 1000 ? (int)n : 1000;
}

/* Appends "&name=value" (no '&' first), the value encoded for a query. */
static int query_add(char **q, const char *name, const char *value)
{
    char *ev = ckd_s3_uri_encode(value, 0);
    char *nq = NULL;
    int n = ev ? asprintf(&nq, "%s%s%s=%s", *q ? *q : "", *q && **q ? "&" : "", name, ev) : -1;
    free(ev);
    if (n < 0) return -ENOMEM;
    free(*q);
    *q = nq;
    return 0;
}

/* The URL of the bucket or container, without query: an object's URL for
 * key "x", less the "x" and, path-style, the '/' before it (as the AWS SDKs
 * send a listing: "/bucket?list-type=2", "/" for a virtual host). */
static char *base_url(const ckd_det_storage *st, const ckd_storage_auth *a)
{
    if (a->azure) {
        char *econt = ckd_s3_uri_encode(st->container, 0);
        char *u = NULL;
        if (econt && asprintf(&u, "%s/%s", a->azure->endpoint, econt) < 0) u = NULL;
        free(econt);
        return u;
    }
    char *u = ckd_objreq_object_url(st, a, "x");
    if (!u) return NULL;
    size_t n = strlen(u) - 1;
    const char *path = strchr(strstr(u, "://") + 3, '/');
    if (n > (size_t)(path - u) + 1) n--; /* path-style: drop the '/' too */
    u[n] = '\0';
    return u;
}

int ckd_objreq_list(const ckd_objurl *u, const ckd_det_storage *st, const ckd_storage_auth *a,
                    const char *next, char **url_out, struct curl_slist **h)
{
    *url_out = NULL;
    *h = NULL;
    char n[16];
    snprintf(n, sizeof(n), "%d", u->is_prefix ? page_size() : 1);
    char *q = NULL, *base = base_url(st, a), *url = NULL;
    int rc = base ? 0 : -ENOMEM;
    /* Each store's own parameters, in canonical (sorted) order. */
    if (a->s3) {
        if (!rc && next) rc = query_add(&q, "continuation-token", next);
        if (!rc) rc = query_add(&q, "list-type", "2");
        if (!rc) rc = query_add(&q, "max-keys", n);
        if (!rc) rc = query_add(&q, "prefix", u->key);
    } else if (a->gcs) {
        if (!rc && next) rc = query_add(&q, "marker", next);
        if (!rc) rc = query_add(&q, "max-keys", n);
        if (!rc) rc = query_add(&q, "prefix", u->key);
    } else {
        if (!rc) rc = query_add(&q, "restype", "container");
        if (!rc) rc = query_add(&q, "comp", "list");
        if (!rc) rc = query_add(&q, "prefix", u->key);
        if (!rc && next) rc = query_add(&q, "marker", next);
        if (!rc) rc = query_add(&q, "maxresults", n);
    }
    if (!rc && asprintf(&url, "%s?%s", base, q) < 0) rc = -ENOMEM;
    if (!rc && !a->azure) {
        rc = ckd_objreq_sign(a, "GET", url, q, 0, h);
    } else if (!rc) {
        rc = ckd_azure_request_headers(a->azure, url, time(NULL), -1, -1, h);
        if (!rc && a->azure->kind == CKD_AZURE_AUTH_SAS) {
            char *full = NULL;
            if (asprintf(&full, "%s&%s", url, a->azure->sas) < 0) rc = -ENOMEM;
            free(url);
            url = full;
        }
    }
    free(q);
    free(base);
    if (rc < 0) {
        if (url) ckd_cred_free_secret(url);
        curl_slist_free_all(*h);
        *h = NULL;
        return rc;
    }
    *url_out = url;
    return 0;
}

/* ---- probes -------------------------------------------------------------------- */

typedef struct probe_slot {
    struct ckd_objprobe *p;
    size_t idx;
    ckd_http *req; /* in flight, or NULL */
} probe_slot;

struct ckd_objprobe {
    uint32_t magic;
    ckd_daemon *d;
    const ckd_storage_auth *a;
    ckd_objprobe_item *items;
    size_t n, next;
    probe_slot slots[CKD_OBJREQ_PROBES_INFLIGHT];
    int inflight;
    int stopping; /* canceling the others: their callbacks only count down */
    int err;
    char msg[700];
    ckd_objprobe_cb cb;
    void *ud;
};

static void on_head(void *ud, const ckd_http_resp *r);

static int head_start(ckd_objprobe *p, probe_slot *s, size_t idx)
{
    struct curl_slist *h = NULL;
    const char *url = p->items[idx].url;
    int rc = ckd_objreq_sign(p->a, "HEAD", url, NULL, 1, &h);
    size_t nh = 0;
    for (struct curl_slist *l = h; l; l = l->next) nh++;
    const char **lines = rc == 0 ? calloc(nh + 1, sizeof(*lines)) : NULL;
    if (rc == 0 && !lines) rc = -ENOMEM;
    nh = 0;
    for (struct curl_slist *l = h; lines && l; l = l->next) lines[nh++] = l->data;
    if (rc == 0) rc = ckd_http_start_method(p->d, "HEAD", url, lines, NULL, 0, on_head, s, &s->req);
    /* ckd_http_start copies the headers; wipe ours (signatures, tokens). */
    for (struct curl_slist *l = h; l; l = l->next) explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(h);
    free(lines);
    if (rc < 0) return rc;
    s->p = p;
    s->idx = idx;
    p->inflight++;
    return 0;
}

/* What one answer's headers tell of its object. */
static int read_headers(ckd_objprobe_item *it, const char *hdrs, size_t len)
{
    const char *p = hdrs, *end = hdrs + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            size_t nlen = (size_t)(colon - p);
            const char *v = colon + 1;
            size_t vlen = (size_t)(le - v);
            while (vlen > 0 && (*v == ' ' || *v == '\t')) v++, vlen--;
            while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ')) vlen--;
            if (nlen == 4 && strncasecmp(p, "etag", 4) == 0 && vlen > 0 && vlen < 512) {
                free(it->etag);
                if (!(it->etag = strndup(v, vlen))) return -ENOMEM;
            } else if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
                char num[24];
                if (vlen > 0 && vlen < sizeof(num)) {
                    memcpy(num, v, vlen);
                    num[vlen] = '\0';
                    char *e;
                    long long sz = strtoll(num, &e, 10);
                    if (*e == '\0' && sz >= 0) it->size = sz;
                }
            } else {
                int rc = ckd_storehash_header(&it->hash, p, nlen, v, vlen);
                if (rc == -EINVAL) it->hash_bad = 1;
            }
        }
        p = le + 1;
    }
    if (it->hash_bad) memset(&it->hash, 0, sizeof(it->hash)); /* a store that lies: check none */
    return 0;
}

static void probe_finish(ckd_objprobe *p)
{
    ckd_objprobe_cb cb = p->cb;
    void *ud = p->ud;
    int err = p->err;
    char msg[sizeof(p->msg)];
    memcpy(msg, p->msg, sizeof(msg));
    p->magic = 0;
    free(p);
    cb(ud, err, err ? msg : NULL);
}

static void stop_others(ckd_objprobe *p)
{
    p->stopping = 1;
    for (int i = 0; i < CKD_OBJREQ_PROBES_INFLIGHT; i++)
        if (p->slots[i].req) ckd_http_cancel(p->slots[i].req); /* on_head runs now */
}

static void on_head(void *ud, const ckd_http_resp *r)
{
    probe_slot *s = ud;
    ckd_objprobe *p = s->p;
    assert(p->magic == OBJPROBE_MAGIC);
    s->req = NULL;
    p->inflight--;
    if (p->stopping) return;
    ckd_objprobe_item *it = &p->items[s->idx];
    if (r->err == -ECANCELED) {
        p->err = -ECANCELED;
    } else if (r->err < 0 || r->status == 0 || r->status == 408 || r->status == 429 ||
               r->status >= 500) {
        char what[300];
        if (r->err < 0 || r->status == 0)
            ckp_fmt(what, sizeof(what), "%s", r->errmsg ? r->errmsg : "no answer");
        else
            ckp_fmt(what, sizeof(what), "http %ld", r->status);
        ckp_fmt(p->msg, sizeof(p->msg), "cannot read the content hash of '%s': %s", it->url, what);
        p->err = -EAGAIN;
    } else {
        it->status = r->status;
        if (r->status == 200 && read_headers(it, r->headers, r->headers_len) < 0) {
            ckp_fmt(p->msg, sizeof(p->msg), "cannot read the content hash of '%s': out of memory",
                    it->url);
            p->err = -EAGAIN;
        }
    }
    if (!p->err && p->next < p->n) {
        int rc = head_start(p, s, p->next);
        if (rc == 0) {
            p->next++;
        } else {
            ckp_fmt(p->msg, sizeof(p->msg), "cannot read the content hash of '%s': %s",
                    p->items[p->next].url, rc == -ENOMEM ? "out of memory" : "cannot sign");
            p->err = -EAGAIN;
        }
    }
    if (p->err && p->inflight > 0) stop_others(p);
    if (p->inflight == 0) probe_finish(p);
}

int ckd_objprobe_start(ckd_daemon *d, const ckd_storage_auth *a, ckd_objprobe_item *items, size_t n,
                       ckd_objprobe_cb cb, void *ud, ckd_objprobe **out)
{
    *out = NULL;
    if (n == 0) return -EINVAL;
    ckd_objprobe *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    *p = (ckd_objprobe){
        .magic = OBJPROBE_MAGIC, .d = d, .a = a, .items = items, .n = n, .cb = cb, .ud = ud};
    for (size_t i = 0; i < n; i++) {
        items[i].status = 0;
        items[i].size = -1;
        items[i].etag = NULL;
        items[i].hash_bad = 0;
        memset(&items[i].hash, 0, sizeof(items[i].hash));
    }
    int rc = 0;
    for (int i = 0; i < CKD_OBJREQ_PROBES_INFLIGHT && p->next < n && rc == 0; i++) {
        rc = head_start(p, &p->slots[i], p->next);
        if (rc == 0) p->next++;
    }
    if (rc < 0) {
        stop_others(p); /* no callback of ours fires: free */
        p->magic = 0;
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void ckd_objprobe_cancel(ckd_objprobe *p)
{
    assert(p->magic == OBJPROBE_MAGIC);
    p->err = -ECANCELED;
    stop_others(p);
    probe_finish(p);
}

void ckd_objprobe_items_release(ckd_objprobe_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].etag);
        items[i].etag = NULL;
    }
}
