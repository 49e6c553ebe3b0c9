#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "det_select.h"

#include "ckp.h"

#define MASTER_MAX_BODY (256u << 20)
#define PASSWORD_SALT   "GubPEmmotfiK9TMD6Zdw"

struct ckd_master_req {
    ckd_master *m;
    char *path;
    char *post;         /* JSON text, or NULL for GET */
    const char *method; /* NULL: GET or POST; else a static string ("DELETE") */
    ckd_master_cb cb;
    void *ud;
    int relogged;
    ckd_http *http;
    ckd_master_req *next;
};

static void send_req(ckd_master_req *r);
static void login(ckd_master *m);

void ckd_master_hash_password(const char *password, char out[129])
{
    unsigned char md[64];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha512(), NULL);
    EVP_DigestUpdate(ctx, PASSWORD_SALT, strlen(PASSWORD_SALT));
    EVP_DigestUpdate(ctx, password, strlen(password));
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 64; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[128] = '\0';
}

static char *read_small_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

/* The cache holds "url user token" so a token is only reused for the master
 * and user it was issued for. Written 0600 via a temporary file. */
static void cache_token(ckd_master *m)
{
    if (!m->token_file || !m->own) return;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", m->token_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    dprintf(fd, "%s %s %s\n", m->url, m->user, m->token);
    fsync(fd);
    close(fd);
    if (rename(tmp, m->token_file) != 0) unlink(tmp);
}

static void load_cached_token(ckd_master *m)
{
    char *s = read_small_file(m->token_file);
    if (!s) return;
    char url[2048], user[256], token[4096];
    if (sscanf(s, "%2047s %255s %4095s", url, user, token) == 3 && strcmp(url, m->url) == 0 &&
        strcmp(user, m->user) == 0)
        m->token = strdup(token);
    free(s);
}

int ckd_master_init(ckd_master *m, ckd_daemon *d, const char *url)
{
    memset(m, 0, sizeof(*m));
    m->d = d;
    if (!url || !url[0]) return 0;
    m->url = strdup(url);
    if (!m->url) return -ENOMEM;
    size_t n = strlen(m->url);
    while (n > 0 && m->url[n - 1] == '/') m->url[--n] = '\0';
    return 0;
}

static void wipe(char **s)
{
    if (*s) explicit_bzero(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int ckd_master_set_login(ckd_master *m, const char *user, const char *token, const char *password,
                         int own)
{
    int changed = !same(user, m->user) || (password && !same(password, m->password)) ||
                  (token && !same(token, m->token));
    m->own = own;
    if (!changed) return 0;
    char *u = strdup(user);
    char *t = token ? strdup(token) : NULL;
    char *p = password ? strdup(password) : NULL;
    if (!u || (token && !t) || (password && !p)) {
        free(u);
        wipe(&t);
        wipe(&p);
        return -ENOMEM;
    }
    free(m->user);
    wipe(&m->token);
    wipe(&m->password);
    m->user = u;
    m->token = t;
    m->password = p;
    if (m->own && !m->token && m->token_file) load_cached_token(m);
    return 0;
}

int ckd_master_idle(const ckd_master *m)
{
    return !m->waiting && !m->active && !m->queued && !m->pagers && !m->logging_in;
}

static void req_free(ckd_master_req *r)
{
    free(r->path);
    free(r->post);
    free(r);
}

static void unlink_active(ckd_master_req *r)
{
    for (ckd_master_req **pp = &r->m->active; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            return;
        }
    }
}

static void complete(ckd_master_req *r, int err, json_t *body, const char *msg)
{
    r->cb(r->ud, err, body, msg);
    req_free(r);
}

static void start_req(ckd_master_req *r);

/* Starts queued requests while connections are free. */
static void pump(ckd_master *m)
{
    while (m->queued && m->nactive < CKD_MASTER_MAX_ACTIVE) {
        ckd_master_req *r = m->queued;
        m->queued = r->next;
        start_req(r);
    }
}

void ckd_master_cancel_all(ckd_master *m)
{
    while (m->waiting) {
        ckd_master_req *r = m->waiting;
        m->waiting = r->next;
        complete(r, -ECANCELED, NULL, "canceled");
    }
    while (m->queued) {
        ckd_master_req *r = m->queued;
        m->queued = r->next;
        complete(r, -ECANCELED, NULL, "canceled");
    }
    /* Canceling an http request runs its callback, which unlinks it. */
    while (m->active) ckd_http_cancel(m->active->http);
}

void ckd_master_release(ckd_master *m)
{
    ckd_master_cancel_all(m);
    free(m->url);
    free(m->user);
    if (m->password) explicit_bzero(m->password, strlen(m->password));
    free(m->password);
    if (m->token) explicit_bzero(m->token, strlen(m->token));
    free(m->token);
    free(m->token_file);
    free(m->ca_file);
    memset(m, 0, sizeof(*m));
}

/* The master's error body: {"error":{"error":"..."}} or {"message":"..."}. */
static void error_text(const char *body, size_t len, long status, char *out, size_t outlen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *msg = NULL;
    if (j) {
        json_t *e = json_object_get(j, "error");
        msg = json_string_value(json_object_get(e, "error"));
        if (!msg) msg = json_string_value(json_object_get(e, "reason"));
        if (!msg) msg = json_string_value(json_object_get(j, "message"));
    }
    snprintf(out, outlen, "http %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
    json_decref(j);
}

static void reply_done(ckd_master_req *r, const ckd_http_resp *resp);

static void on_reply(void *ud, const ckd_http_resp *resp)
{
    ckd_master_req *r = ud;
    ckd_master *m = r->m;
    unlink_active(r);
    r->http = NULL;
    m->nactive--;
    reply_done(r, resp);
    pump(m);
}

static void reply_done(ckd_master_req *r, const ckd_http_resp *resp)
{
    ckd_master *m = r->m;
    char msg[600];
    if (resp->err == -ECANCELED) {
        complete(r, -ECANCELED, NULL, "canceled");
        return;
    }
    if (resp->err < 0) {
        snprintf(msg, sizeof(msg), "cannot reach the master at '%s': %s", m->url, resp->errmsg);
        complete(r, -EAGAIN, NULL, msg);
        return;
    }
    if (resp->status == 401 && !m->password) {
        snprintf(msg, sizeof(msg),
                 "the master at '%s' refused the token of '%s' (expired or revoked?): log in "
                 "again with `det user login %s`, or set DET_USER and DET_PASS",
                 m->url, m->user ? m->user : "?", m->user ? m->user : "USER");
        complete(r, -EACCES, NULL, msg);
        return;
    }
    if (resp->status == 401 && !r->relogged) {
        /* The token expired or was revoked: log in once more, then resend. */
        r->relogged = 1;
        if (m->token) explicit_bzero(m->token, strlen(m->token));
        free(m->token);
        m->token = NULL;
        r->next = m->waiting;
        m->waiting = r;
        login(m);
        return;
    }
    if (resp->status >= 400 || resp->status < 200) {
        error_text(resp->body, resp->len, resp->status, msg, sizeof(msg));
        int err = resp->status == 404                          ? -ENOENT
                  : resp->status == 401 || resp->status == 403 ? -EACCES
                  : resp->status == 400                        ? -EINVAL
                                                               : -EAGAIN;
        complete(r, err, NULL, msg);
        return;
    }
    json_error_t je;
    json_t *body = json_loadb(resp->body, resp->len, 0, &je);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        snprintf(msg, sizeof(msg), "the master's reply to '%s' is not a JSON object", r->path);
        complete(r, -EPROTO, NULL, msg);
        return;
    }
    complete(r, 0, body, NULL);
    json_decref(body);
}

/* Sends r now, or queues it behind the requests already waiting for a
 * connection. */
static void send_req(ckd_master_req *r)
{
    ckd_master *m = r->m;
    if (m->queued || m->nactive >= CKD_MASTER_MAX_ACTIVE) {
        r->next = NULL;
        ckd_master_req **pp = &m->queued;
        while (*pp) pp = &(*pp)->next;
        *pp = r;
        return;
    }
    start_req(r);
}

static void start_req(ckd_master_req *r)
{
    ckd_master *m = r->m;
    char url[4096 + 512];
    snprintf(url, sizeof(url), "%s%s", m->url, r->path);
    char auth[4200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", m->token ? m->token : "");
    const char *headers[] = {auth, NULL};
    r->next = m->active;
    m->active = r;
    m->nactive++;
    ckd_http_tls tls = {.ca_file = m->ca_file, .noverify = m->noverify};
    m->used_ms = ckd_now_ms();
    int rc = ckd_http_start_tls(m->d, r->method, url, headers, r->post, MASTER_MAX_BODY, &tls,
                                on_reply, r, &r->http);
    explicit_bzero(auth, sizeof(auth));
    if (rc < 0) {
        unlink_active(r);
        m->nactive--;
        complete(r, -EAGAIN, NULL, "cannot start a request to the master");
    }
}

static void flush_waiting(ckd_master *m, int err, const char *msg)
{
    ckd_master_req *list = m->waiting;
    m->waiting = NULL;
    while (list) {
        ckd_master_req *r = list;
        list = r->next;
        if (err)
            complete(r, err, NULL, msg);
        else
            send_req(r);
    }
}

typedef struct login_ctx {
    ckd_master *m;
} login_ctx;

static void on_login(void *ud, const ckd_http_resp *resp)
{
    login_ctx *c = ud;
    ckd_master *m = c->m;
    free(c);
    m->logging_in = 0;
    char msg[600];
    if (resp->err < 0) {
        snprintf(msg, sizeof(msg), "cannot reach the master at '%s': %s", m->url,
                 resp->err == -ECANCELED ? "canceled" : resp->errmsg);
        flush_waiting(m, resp->err == -ECANCELED ? -ECANCELED : -EAGAIN, msg);
        return;
    }
    if (resp->status != 200) {
        error_text(resp->body, resp->len, resp->status, msg, sizeof(msg));
        char full[900];
        snprintf(full, sizeof(full), "cannot log in to the master as '%s': %s%s", m->user, msg,
                 m->password ? ""
                             : " (no token nor password for this user: log in with `det user "
                               "login`, or set DET_USER and DET_PASS)");
        flush_waiting(m, resp->status >= 500 ? -EAGAIN : -EACCES, full);
        return;
    }
    json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
    const char *token = json_string_value(json_object_get(j, "token"));
    if (!token || !token[0]) {
        json_decref(j);
        flush_waiting(m, -EPROTO, "the master's login reply has no token");
        return;
    }
    m->token = strdup(token);
    json_decref(j);
    cache_token(m);
    ckd_info("logged in to the master at '%s' as '%s'", m->url, m->user);
    flush_waiting(m, 0, NULL);
}

static void login(ckd_master *m)
{
    if (m->logging_in) return;
    /* Without a password (a token alone, now refused or missing) the
     * login is tried with the empty one: the master's answer, on the loop
     * like any other, says whether that is the user's. */
    /* The CLI's salted hash; an empty password is sent as "" unhashed. */
    char hashed[129] = "";
    if (m->password && m->password[0]) ckd_master_hash_password(m->password, hashed);
    json_t *body = json_pack("{s:s, s:s, s:b}", "username", m->user ? m->user : "", "password",
                             hashed, "isHashed", 1);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    explicit_bzero(hashed, sizeof(hashed));
    char url[4200];
    snprintf(url, sizeof(url), "%s/api/v1/auth/login", m->url);
    login_ctx *c = calloc(1, sizeof(*c));
    int rc = -ENOMEM;
    if (c && text) {
        c->m = m;
        m->logging_in = 1;
        ckd_http_tls tls = {.ca_file = m->ca_file, .noverify = m->noverify};
        rc = ckd_http_start_tls(m->d, NULL, url, NULL, text, 1 << 20, &tls, on_login, c, NULL);
    }
    if (text) explicit_bzero(text, strlen(text));
    free(text);
    if (rc < 0) {
        free(c);
        m->logging_in = 0;
        flush_waiting(m, -EAGAIN, "cannot start the login request");
    }
}

int ckd_master_call(ckd_master *m, const char *path, json_t *post, ckd_master_cb cb, void *ud)
{
    return ckd_master_call_method(m, NULL, path, post, cb, ud);
}

int ckd_master_call_method(ckd_master *m, const char *method, const char *path, json_t *post,
                           ckd_master_cb cb, void *ud)
{
    if (!m->url) return -ENOTCONN;
    ckd_master_req *r = calloc(1, sizeof(*r));
    if (!r) return -ENOMEM;
    r->m = m;
    r->method = method;
    r->path = strdup(path);
    r->post = post ? json_dumps(post, JSON_COMPACT) : NULL;
    r->cb = cb;
    r->ud = ud;
    if (!r->path || (post && !r->post)) {
        req_free(r);
        return -ENOMEM;
    }
    if (!m->token) {
        r->next = m->waiting;
        m->waiting = r;
        login(m);
    } else {
        send_req(r);
    }
    return 0;
}

/* ---- all pages of a list ---------------------------------------------- */

typedef struct ckd_pager {
    struct ckd_pager *next; /* in m->pagers */
    int64_t offset;         /* of the page asked for */
    char *path;
    ckd_det_query q;
    char *metric; /* q.metric points here */
    json_t *all;
    ckd_master_cb cb;
    void *ud;
    ckd_master *m;
} pager;

static void next_page(pager *p, int64_t offset);

static void pager_done(pager *p, int err, const char *msg)
{
    for (pager **pp = &p->m->pagers; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    json_t *res = err ? NULL : json_pack("{s:O}", "checkpoints", p->all);
    p->cb(p->ud, err, res, msg);
    json_decref(res);
    json_decref(p->all);
    free(p->path);
    free(p->metric);
    free(p);
}

static void on_page(void *ud, int err, json_t *body, const char *msg)
{
    pager *p = ud;
    if (err) {
        pager_done(p, err, msg);
        return;
    }
    json_t *cps = json_object_get(body, "checkpoints");
    if (!json_is_array(cps) && !json_is_null(cps) && cps) {
        pager_done(p, -EPROTO, "the master's list reply has no checkpoint array");
        return;
    }
    if (cps) json_array_extend(p->all, cps);
    int64_t cap = p->m->d->cfg.master_list_max;
    char why[256];
    if ((int64_t)json_array_size(p->all) > cap) {
        ckp_fmt(why, sizeof(why),
                "the master lists more than %lld checkpoints (the master_list_max setting)",
                (long long)cap);
        pager_done(p, -E2BIG, why);
        return;
    }
    json_t *pg = json_object_get(body, "pagination");
    json_int_t end = json_integer_value(json_object_get(pg, "endIndex"));
    json_int_t total = json_integer_value(json_object_get(pg, "total"));
    if (!pg || json_is_null(pg) || end >= total || json_array_size(cps) == 0) {
        pager_done(p, 0, NULL);
        return;
    }
    if (end <= p->offset) {
        ckp_fmt(why, sizeof(why),
                "the master's pagination does not advance (asked from %lld, it ends at %lld of "
                "%lld)",
                (long long)p->offset, (long long)end, (long long)total);
        pager_done(p, -EPROTO, why);
        return;
    }
    next_page(p, end);
}

static int request_page(pager *p, int64_t offset)
{
    char query[2048], path[4096];
    int n = ckd_det_query_format(&p->q, offset, (int64_t)ckd_det_query_fetch_limit(&p->q), query,
                                 sizeof(query));
    if (n < 0) return n;
    p->offset = offset;
    snprintf(path, sizeof(path), "%s?%s", p->path, query);
    return ckd_master_call(p->m, path, NULL, on_page, p);
}

static void next_page(pager *p, int64_t offset)
{
    int rc = request_page(p, offset);
    if (rc < 0) pager_done(p, -EAGAIN, "cannot start a request to the master");
}

int ckd_master_list_all(ckd_master *m, const char *path, const ckd_det_query *q, ckd_master_cb cb,
                        void *ud)
{
    if (!m->url) return -ENOTCONN;
    pager *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    p->m = m;
    p->path = strdup(path);
    p->q = *q;
    p->metric = q->metric ? strdup(q->metric) : NULL;
    p->q.metric = p->metric;
    p->all = json_array();
    p->cb = cb;
    p->ud = ud;
    int rc = p->path && p->all ? request_page(p, 0) : -ENOMEM;
    if (rc == 0) {
        p->next = m->pagers;
        m->pagers = p;
    }
    if (rc < 0) {
        json_decref(p->all);
        free(p->path);
        free(p->metric);
        free(p);
    }
    return rc;
}

/* Cancels one request made for ud wherever it is: waiting for a login or a
 * connection, or in flight (its callback runs at once either way). */
static int cancel_one(ckd_master *m, void *ud)
{
    ckd_master_req **lists[] = {&m->waiting, &m->queued};
    for (int i = 0; i < 2; i++) {
        for (ckd_master_req **pp = lists[i]; *pp; pp = &(*pp)->next) {
            if ((*pp)->ud != ud) continue;
            ckd_master_req *r = *pp;
            *pp = r->next;
            complete(r, -ECANCELED, NULL, "canceled");
            return 1;
        }
    }
    for (ckd_master_req *r = m->active; r; r = r->next) {
        if (r->ud != ud) continue;
        ckd_http_cancel(r->http);
        return 1;
    }
    return 0;
}

void ckd_master_cancel_owner(ckd_master *m, void *ud)
{
    /* A list walk's requests belong to its pager; canceling the one in
     * flight ends the walk with -ECANCELED to its owner. */
    for (struct ckd_pager *p = m->pagers; p;) {
        if (p->ud == ud && cancel_one(m, p)) {
            p = m->pagers; /* the list changed */
            continue;
        }
        p = p->next;
    }
    while (cancel_one(m, ud)) {
    }
}
