/* The protocol's methods. Each handler fills a reply: a result, or an error
 * code with a message (and optional data). See proto/PROTOCOL.md. */
#include "rpc.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_route.h"
#include "control.h"
#include "follow.h"
#include "job_view.h"
#include "metrics.h"
#include "submit.h"
#include "xfer.h"
#include "fsutil.h"
#include "log.h"
#include "det_model.h"
#include "pins.h"
#include "rpc_det.h"

typedef struct reply {
    json_t *result;
    int code;
    char msg[1024];
    json_t *data;
} reply;

static void fail(reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(reply *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    r->code = code;
}

static ckd_job *job_param(ckd_client *c, json_t *params, reply *r)
{
    json_t *id = json_object_get(params, "id");
    if (!json_is_integer(id)) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'id' must be an integer");
        return NULL;
    }
    ckd_job *j = ckd_job_find(c->server->d, json_integer_value(id));
    if (!j) fail(r, CKP_RPC_UNKNOWN_JOB, "unknown job %lld", (long long)json_integer_value(id));
    return j;
}

static void m_hello(ckd_client *c, json_t *params, reply *r)
{
    json_t *versions = json_object_get(params, "protocol");
    if (versions && !json_is_array(versions)) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'protocol' must be an array of integers");
        return;
    }
    if (versions) {
        int ok = 0;
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v) ok |= json_integer_value(v) == CKP_PROTOCOL_VERSION;
        if (!ok) {
            fail(r, CKP_RPC_UNSUPPORTED_VERSION,
                 "unsupported protocol version: this daemon speaks version %d",
                 CKP_PROTOCOL_VERSION);
            r->data = json_pack("{s:[i]}", "supported", CKP_PROTOCOL_VERSION);
            return;
        }
    }
    /* features: what this daemon takes beyond the version's base (see
     * PROTOCOL.md): "url_names", a URL set entry that is the URL alone. */
    r->result = json_pack("{s:i, s:s, s:[s]}", "protocol", CKP_PROTOCOL_VERSION, "daemon",
                          "ckptd " CKPTD_VERSION, "features", "url_names");
}

static void m_status(ckd_client *c, json_t *params, reply *r)
{
    ckd_daemon *d = c->server->d;
    int counts[CKD_JOB_NSTATES] = {0};
    for (ckd_job *j = d->jobs; j; j = j->next) counts[j->state]++;
    json_t *jobs = json_object();
    for (int i = 0; i < CKD_JOB_NSTATES; i++)
        json_object_set_new(jobs, ckd_job_state_name(i), json_integer(counts[i]));
    r->result = json_pack("{s:s, s:i, s:i, s:f, s:o, s:i, s:f, s:I, s:s, s:s, s:o}", "version",
                          CKPTD_VERSION, "protocol", CKP_PROTOCOL_VERSION, "pid", (int)getpid(),
                          "uptime", (double)(ckd_now_ms() - d->start_ms) / 1000.0, "jobs", jobs,
                          "active_transfers", d->xe.active, "throughput", d->throughput,
                          "buffered_bytes", (json_int_t)0, "socket", d->socket_path, "state_dir",
                          d->state_dir, "metrics", ckd_metrics_json(d));
}

static void drop_pending(ckd_client *c)
{
    json_decref(c->pending_files);
    c->pending_files = NULL;
    c->pending_bytes = 0;
}

/* job.add_files: a URL job's files in several requests, for lists larger
 * than one line; the connection's next job.submit takes them before its own
 * source.files. They are checked when the job is submitted. */
static void m_add_files(ckd_client *c, json_t *params, reply *r)
{
    json_t *files = json_object_get(params, "files");
    if (!json_is_array(files) || json_array_size(files) == 0) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'files' must be a non-empty array");
        return;
    }
    size_t have = json_array_size(c->pending_files);
    if (have + json_array_size(files) > CKD_PENDING_MAX_FILES ||
        c->pending_bytes + c->line_len > CKD_PENDING_MAX_BYTES) {
        drop_pending(c);
        fail(r, CKP_RPC_INVALID_PARAMS,
             "invalid params: more than %d files (or %u MiB) added for one job; the files added "
             "so far are dropped",
             CKD_PENDING_MAX_FILES, CKD_PENDING_MAX_BYTES >> 20);
        return;
    }
    if (!c->pending_files) c->pending_files = json_array();
    if (!c->pending_files || json_array_extend(c->pending_files, files) < 0) {
        drop_pending(c);
        fail(r, CKP_RPC_INTERNAL_ERROR, "internal error: out of memory");
        return;
    }
    c->pending_bytes += c->line_len;
    r->result = json_pack("{s:I}", "pending", (json_int_t)json_array_size(c->pending_files));
}

/* The submit params with the connection's added files in front of
 * source.files (a new object; params is not changed). */
static json_t *with_pending(ckd_client *c, json_t *params, reply *r)
{
    json_t *source = json_object_get(params, "source");
    const char *kind = json_string_value(json_object_get(source, "kind"));
    json_t *own = json_object_get(source, "files");
    if (!kind || strcmp(kind, "urls") != 0 || (own && !json_is_array(own))) {
        fail(r, CKP_RPC_INVALID_PARAMS,
             "invalid params: files added with job.add_files need a 'urls' source");
        return NULL;
    }
    json_t *all = json_copy(c->pending_files);
    json_t *src = json_copy(source);
    json_t *p = json_copy(params);
    if (!all || !src || !p || (own && json_array_extend(all, own) < 0) ||
        json_object_set_new(src, "files", all) < 0) {
        json_decref(src);
        json_decref(p);
        fail(r, CKP_RPC_INTERNAL_ERROR, "internal error: out of memory");
        return NULL;
    }
    json_object_set_new(p, "source", src);
    return p;
}

static void m_submit(ckd_client *c, json_t *params, reply *r)
{
    ckd_job *j;
    if (!params) {
        drop_pending(c);
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'source' and 'output' are required");
        return;
    }
    json_t *merged = NULL;
    if (c->pending_files) {
        merged = with_pending(c, params, r);
        drop_pending(c);
        if (!merged) return;
        params = merged;
    }
    int rc = ckd_job_submit(c->server->d, params, &j, r->msg, sizeof(r->msg), &r->data);
    json_decref(merged);
    if (rc != 0) {
        r->code = rc;
        return;
    }
    r->result = json_pack("{s:o}", "job", ckd_job_summary(j));
}

static void m_list(ckd_client *c, json_t *params, reply *r)
{
    json_t *states = json_object_get(params, "states");
    if (states && !json_is_array(states)) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'states' must be an array");
        return;
    }
    int want[CKD_JOB_NSTATES];
    for (int i = 0; i < CKD_JOB_NSTATES; i++) want[i] = states == NULL;
    size_t i;
    json_t *v;
    json_array_foreach(states, i, v)
    {
        int s = ckd_job_state_parse(json_string_value(v));
        if (s < 0) {
            fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: unknown state '%s'",
                 json_string_value(v) ? json_string_value(v) : "?");
            return;
        }
        want[s] = 1;
    }
    /* since: finished jobs last updated before it are left out. */
    json_t *since = json_object_get(params, "since");
    if (since && !json_is_integer(since)) {
        fail(r, CKP_RPC_INVALID_PARAMS,
             "invalid params: 'since' must be an integer (unix seconds)");
        return;
    }
    int64_t from = since ? (int64_t)json_integer_value(since) : INT64_MIN;
    json_t *jobs = json_array();
    for (ckd_job *j = c->server->d->jobs; j; j = j->next)
        if (want[j->state] && (!ckd_job_terminal(j) || j->updated >= from))
            json_array_append_new(jobs, ckd_job_summary(j));
    r->result = json_pack("{s:o}", "jobs", jobs);
}

static void m_get(ckd_client *c, json_t *params, reply *r)
{
    json_t *off = json_object_get(params, "offset"), *lim = json_object_get(params, "limit");
    if ((off && (!json_is_integer(off) || json_integer_value(off) < 0)) ||
        (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                 json_integer_value(lim) > CKD_JOB_GET_MAX_LIMIT))) {
        fail(r, CKP_RPC_INVALID_PARAMS,
             "invalid params: 'offset' must be an integer from 0 and 'limit' one from 1 to %d",
             CKD_JOB_GET_MAX_LIMIT);
        return;
    }
    ckd_job *j = job_param(c, params, r);
    if (!j) return;
    size_t offset = off ? (size_t)json_integer_value(off) : 0;
    size_t limit = lim ? (size_t)json_integer_value(lim) : CKD_JOB_GET_DEFAULT_LIMIT;
    r->result = json_pack("{s:o}", "job", ckd_job_detail_page(j, offset, limit));
}

static void control(ckd_client *c, json_t *params, reply *r, int (*op)(ckd_job *), const char *verb)
{
    ckd_job *j = job_param(c, params, r);
    if (!j) return;
    if (op(j) != 0) {
        fail(r, CKP_RPC_BAD_TRANSITION, "cannot %s job %lld: it is %s%s", verb, (long long)j->id,
             ckd_job_state_name(j->state), j->publishing ? " and publishing" : "");
        r->data = json_pack("{s:s}", "state", ckd_job_state_name(j->state));
        return;
    }
    r->result = json_pack("{s:o}", "job", ckd_job_summary(j));
}

static void m_pause(ckd_client *c, json_t *params, reply *r)
{
    control(c, params, r, ckd_job_pause, "pause");
}

static void m_resume(ckd_client *c, json_t *params, reply *r)
{
    control(c, params, r, ckd_job_resume, "resume");
}

static void m_cancel(ckd_client *c, json_t *params, reply *r)
{
    control(c, params, r, ckd_job_cancel, "cancel");
}

static void m_subscribe(ckd_client *c, json_t *params, reply *r)
{
    json_t *jobs = json_object_get(params, "jobs");
    json_t *interval = json_object_get(params, "progress_interval_ms");
    if (jobs && !json_is_array(jobs)) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'jobs' must be an array of job ids");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(jobs, i, v)
    {
        if (!json_is_integer(v)) {
            fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'jobs' must be an array of job ids");
            return;
        }
    }
    if (interval && (!json_is_integer(interval) || json_integer_value(interval) < 50 ||
                     json_integer_value(interval) > 3600000)) {
        fail(r, CKP_RPC_INVALID_PARAMS,
             "invalid params: 'progress_interval_ms' must be an integer from 50 to 3600000");
        return;
    }
    json_decref(c->sub_jobs);
    c->sub_jobs = jobs ? json_incref(jobs) : NULL;
    c->progress_ms = interval ? (uint64_t)json_integer_value(interval) : 250;
    c->subscribed = 1;
    c->last_progress = 0;
    r->result = json_pack("{s:b}", "subscribed", 1);
}

static void m_unsubscribe(ckd_client *c, json_t *params, reply *r)
{
    c->subscribed = 0;
    json_decref(c->sub_jobs);
    c->sub_jobs = NULL;
    r->result = json_pack("{s:b}", "subscribed", 0);
}

static void m_config_get(ckd_client *c, json_t *params, reply *r)
{
    r->result = json_pack("{s:o}", "config", ckd_config_to_json(&c->server->d->cfg));
}

static void m_config_set(ckd_client *c, json_t *params, reply *r)
{
    ckd_daemon *d = c->server->d;
    if (!params) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: give at least one config key");
        return;
    }
    char why[256];
    if (ckd_config_set_json(&d->cfg, params, why, sizeof(why)) < 0) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: %s", why);
        return;
    }
    ckd_xfer_engine_apply_config(d);
    if (json_object_get(params, "cache") && d->cache &&
        ckd_cache_configure(d->cache, d->cfg.cache, why, sizeof(why)) == 0)
        ckd_info("fleet cache: %s", d->cache->cfg.url ? d->cache->cfg.url : "off");
    char *path = ckd_path_join(d->state_dir, "config.json");
    if (!path || ckd_config_save(params, path) < 0)
        ckd_warn("cannot save the settings to '%s'; they last until the daemon stops",
                 path ? path : d->state_dir);
    free(path);
    if (json_object_get(params, "disk_budget")) ckd_follow_budget_changed(d);
    ckd_sched_kick(d);
    r->result = json_pack("{s:o}", "config", ckd_config_to_json(&d->cfg));
}

/* ---- pins: checkpoints retention never removes ------------------------ */

/* The pins file (pins.c): one checkpoint uuid (or directory) a line, read
 * by follow jobs before they remove anything. */
static json_t *pins_read(ckd_daemon *d)
{
    char *path = ckd_path_join(d->state_dir, CKD_PINS_FILE);
    json_t *list = path ? ckd_pins_read(path) : NULL;
    free(path);
    return list ? list : json_array();
}

static int pins_write(ckd_daemon *d, const json_t *list)
{
    char *path = ckd_path_join(d->state_dir, CKD_PINS_FILE);
    int rc = path ? ckd_pins_write(path, list) : -ENOMEM;
    free(path);
    return rc;
}

static void pins_change(ckd_client *c, json_t *params, reply *r, int add)
{
    const char *uuid = json_string_value(json_object_get(params, "uuid"));
    if (!uuid || ckd_det_uuid_check(uuid, strlen(uuid)) < 0) {
        fail(r, CKP_RPC_INVALID_PARAMS, "invalid params: 'uuid' must be a checkpoint uuid");
        return;
    }
    ckd_daemon *d = c->server->d;
    json_t *list = pins_read(d), *next = json_array();
    size_t i;
    json_t *v;
    int had = 0;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), uuid) == 0)
            had = 1;
        else
            json_array_append(next, v);
    }
    if (add) json_array_append_new(next, json_string(uuid));
    if ((add || had) && pins_write(d, next) < 0)
        fail(r, CKP_RPC_INTERNAL_ERROR, "cannot write the pins file in '%s'", d->state_dir);
    else
        r->result = json_pack("{s:O}", "pins", next);
    json_decref(list);
    json_decref(next);
}

static void m_pin(ckd_client *c, json_t *params, reply *r)
{
    pins_change(c, params, r, 1);
}

static void m_unpin(ckd_client *c, json_t *params, reply *r)
{
    pins_change(c, params, r, 0);
}

static void m_pins(ckd_client *c, json_t *params, reply *r)
{
    r->result = json_pack("{s:o}", "pins", pins_read(c->server->d));
}

static const struct method {
    const char *name;
    void (*fn)(ckd_client *, json_t *, reply *);
} methods[] = {
    {"daemon.hello", m_hello},
    {"daemon.status", m_status},
    {"job.submit", m_submit},
    {"job.add_files", m_add_files},
    {"job.list", m_list},
    {"job.get", m_get},
    {"job.pause", m_pause},
    {"job.resume", m_resume},
    {"job.cancel", m_cancel},
    {"events.subscribe", m_subscribe},
    {"events.unsubscribe", m_unsubscribe},
    {"config.get", m_config_get},
    {"config.set", m_config_set},
    {"pins.add", m_pin},
    {"pins.remove", m_unpin},
    {"pins.list", m_pins},
};

char *ckd_rpc_handle(ckd_client *c, ckp_msg *m, size_t *len)
{
    reply r = {0};
    const struct method *fn = NULL;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, m->method) == 0) fn = &methods[i];
    if (!fn && strncmp(m->method, "checkpoint.", 11) == 0) {
        int rc = ckd_rpc_det(c, m->method, m->id, m->params, r.msg, sizeof(r.msg));
        if (rc == 0) return NULL; /* answered later */
        r.code = rc;
    } else if (!fn) {
        size_t n = ckp_utf8_cut(m->method, strlen(m->method), 64);
        fail(&r, CKP_RPC_METHOD_NOT_FOUND, "method not found: '%.*s'", (int)n, m->method);
    } else {
        fn->fn(c, m->params, &r);
    }
    char *line;
    if (r.code != 0 || !r.result) {
        json_decref(r.result);
        line = ckp_msg_error(m->id, r.code ? r.code : CKP_RPC_INTERNAL_ERROR,
                             r.msg[0] ? r.msg : NULL, r.data, len);
    } else {
        line = ckp_msg_result(m->id, r.result, len);
    }
    return line ? line : ckd_reply_unencodable(m->id, m->method, len);
}
