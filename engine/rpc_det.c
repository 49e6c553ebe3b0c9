/* The checkpoint.* methods: listing, describing and editing checkpoints on
 * the Determined master for the client, which never talks HTTP itself. */
#include "rpc_det.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "det_model.h"
#include "det_select.h"
#include "masters.h"

typedef struct det_call {
    ckd_deferred *reply;
    ckd_daemon *d;
    ckd_master *m; /* the session: kept while a request of this call is in flight */
    json_t *params;
    json_t *experiment; /* checkpoint.list on an experiment: its config */
} det_call;

static void call_free(det_call *dc)
{
    json_decref(dc->params);
    json_decref(dc->experiment);
    free(dc);
}

/* Replies with the master's error, mapped to protocol codes. */
static int reply_master_error(det_call *dc, int err, const char *msg, const char *what)
{
    if (err == 0) return 0;
    char text[900];
    if (err == -ENOENT) {
        snprintf(text, sizeof(text), "%s not found on the master", what);
        ckd_deferred_error(dc->reply, CKP_RPC_NOT_FOUND, text);
    } else {
        snprintf(text, sizeof(text), "%s: %s", what, msg ? msg : "master error");
        ckd_deferred_error(dc->reply, CKP_RPC_MASTER_ERROR, text);
    }
    call_free(dc);
    return -1;
}

static const char *param_uuid(det_call *dc)
{
    return json_string_value(json_object_get(dc->params, "uuid"));
}

/* ---- checkpoint.get ---------------------------------------------------- */

static void on_get(void *ud, int err, json_t *body, const char *msg)
{
    det_call *dc = ud;
    char what[200];
    snprintf(what, sizeof(what), "checkpoint %s", param_uuid(dc));
    if (reply_master_error(dc, err, msg, what) < 0) return;
    json_t *cp = json_object_get(body, "checkpoint");
    if (!json_is_object(cp)) {
        ckd_deferred_error(dc->reply, CKP_RPC_MASTER_ERROR, "the master's reply has no checkpoint");
    } else {
        ckd_deferred_result(dc->reply, json_pack("{s:O}", "checkpoint", cp));
    }
    call_free(dc);
}

/* ---- checkpoint.add_metadata / remove_metadata -------------------------- */

static void on_posted(void *ud, int err, json_t *body, const char *msg)
{
    det_call *dc = ud;
    char what[200];
    snprintf(what, sizeof(what), "cannot set the metadata of checkpoint %s", param_uuid(dc));
    if (reply_master_error(dc, err, msg, what) < 0) return;
    json_t *cp = json_object_get(body, "checkpoint");
    /* The master answers with the checkpoint; fall back to what we sent. */
    ckd_deferred_result(dc->reply,
                        json_pack("{s:O}", "checkpoint", json_is_object(cp) ? cp : dc->experiment));
    call_free(dc);
}

/* GET done: change the metadata map, then POST all of it back (the master
 * replaces the whole map). */
static void on_get_for_edit(void *ud, int err, json_t *body, const char *msg)
{
    det_call *dc = ud;
    char what[200];
    snprintf(what, sizeof(what), "checkpoint %s", param_uuid(dc));
    if (reply_master_error(dc, err, msg, what) < 0) return;
    json_t *cp = json_object_get(body, "checkpoint");
    json_t *md = json_object_get(cp, "metadata");
    json_t *next = json_is_object(md) ? json_deep_copy(md) : json_object();
    json_t *add = json_object_get(dc->params, "metadata");
    json_t *keys = json_object_get(dc->params, "keys");
    if (add) json_object_update(next, add);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) json_object_del(next, json_string_value(k));
    json_t *post =
        json_pack("{s:{s:s, s:O}}", "checkpoint", "uuid", param_uuid(dc), "metadata", next);
    /* Kept to answer with if the master's reply has no checkpoint. */
    dc->experiment = json_deep_copy(cp);
    json_object_set(dc->experiment, "metadata", next);
    json_decref(next);
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/checkpoints/%s/metadata", param_uuid(dc));
    int rc = ckd_master_call(dc->m, path, post, on_posted, dc);
    json_decref(post);
    if (rc < 0) {
        ckd_deferred_error(dc->reply, CKP_RPC_MASTER_ERROR, "cannot start a request to the master");
        call_free(dc);
    }
}

/* ---- checkpoint.list ----------------------------------------------------- */

/* What checkpoint.list asks for: det's list-checkpoints on an experiment
 * (every state; by end time, or --best N by the searcher metric), or a
 * trial's checkpoints with the master's sort semantics. */
static void list_query(const det_call *dc, ckd_det_query *q)
{
    json_t *best = json_object_get(dc->params, "best");
    if (json_object_get(dc->params, "experiment")) {
        json_t *searcher = json_object_get(json_object_get(dc->experiment, "config"), "searcher");
        int sib = json_object_get(searcher, "smaller_is_better") != json_false();
        ckd_det_query_list(q, sib, best ? (size_t)json_integer_value(best) : 0);
    } else {
        ckd_det_query_init(q, CKD_DET_ROUTE_TRIAL);
    }
    ckd_det_query_sort_by(q, json_string_value(json_object_get(dc->params, "sort_by")));
    const char *ob = json_string_value(json_object_get(dc->params, "order_by"));
    if (ob) ckd_det_order_parse(ob, &q->order);
    json_t *maxr = json_object_get(dc->params, "max_results");
    if (maxr) q->max_results = (size_t)json_integer_value(maxr);
}

static void on_list(void *ud, int err, json_t *body, const char *msg)
{
    det_call *dc = ud;
    json_t *exp_id = json_object_get(dc->params, "experiment");
    char what[64];
    snprintf(what, sizeof(what), "%s %lld", exp_id ? "experiment" : "trial",
             (long long)json_integer_value(exp_id ? exp_id : json_object_get(dc->params, "trial")));
    if (reply_master_error(dc, err, msg, what) < 0) return;
    json_t *arr = json_object_get(body, "checkpoints");
    size_t n = json_array_size(arr), ok = 0, nsel = 0;
    ckd_det_checkpoint *cps = calloc(n ? n : 1, sizeof(*cps));
    json_t **raw = calloc(n ? n : 1, sizeof(*raw));
    size_t *order = calloc(n ? n : 1, sizeof(*order));
    json_t *out = json_array();
    char why[1200] = "";
    if (cps && raw && order) {
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_array_get(arr, i);
            if (ckd_det_checkpoint_from_json(o, &cps[ok], why, sizeof(why)) == 0) raw[ok++] = o;
        }
        /* The same query that was sent, applied again: the answer does not
         * depend on how the master sorts. */
        ckd_det_query q;
        list_query(dc, &q);
        if (ckd_det_select(&q, cps, ok, order, &nsel) == 0)
            for (size_t i = 0; i < nsel; i++) json_array_append(out, raw[order[i]]);
    }
    json_t *res = json_pack("{s:o}", "checkpoints", out);
    if (exp_id) {
        json_t *metric = json_object_get(
            json_object_get(json_object_get(dc->experiment, "config"), "searcher"), "metric");
        json_object_set(res, "searcher_metric", metric ? metric : json_null());
        json_object_set_new(
            res, "smaller_is_better",
            json_boolean(json_object_get(
                             json_object_get(json_object_get(dc->experiment, "config"), "searcher"),
                             "smaller_is_better") != json_false()));
    }
    for (size_t i = 0; cps && i < ok; i++) ckd_det_checkpoint_release(&cps[i]);
    free(cps);
    free(raw);
    free(order);
    ckd_deferred_result(dc->reply, res);
    call_free(dc);
}

static void start_list(det_call *dc)
{
    json_t *exp_id = json_object_get(dc->params, "experiment");
    json_t *trial = json_object_get(dc->params, "trial");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/%s/%lld/checkpoints", exp_id ? "experiments" : "trials",
             (long long)json_integer_value(exp_id ? exp_id : trial));
    ckd_det_query q;
    list_query(dc, &q);
    if (ckd_master_list_all(dc->m, path, &q, on_list, dc) < 0) {
        ckd_deferred_error(dc->reply, CKP_RPC_MASTER_ERROR, "cannot start a request to the master");
        call_free(dc);
    }
}

static void on_experiment(void *ud, int err, json_t *body, const char *msg)
{
    det_call *dc = ud;
    char what[64];
    snprintf(what, sizeof(what), "experiment %lld",
             (long long)json_integer_value(json_object_get(dc->params, "experiment")));
    if (reply_master_error(dc, err, msg, what) < 0) return;
    dc->experiment = json_incref(body);
    start_list(dc);
}

/* ---- checkpoint.delete / checkpoint.rm --------------------------------------- */

/* The master accepted the deletion (it runs asynchronously there). */
static void on_deleted(void *ud, int err, json_t *body, const char *msg)
{
    det_call *dc = ud;
    (void)body;
    if (reply_master_error(dc, err, msg, "checkpoints") < 0) return;
    ckd_deferred_result(dc->reply,
                        json_pack("{s:O}", "uuids", json_object_get(dc->params, "uuids")));
    call_free(dc);
}

/* DELETE /api/v1/checkpoints (det checkpoint delete) or POST
 * /api/v1/checkpoints/rm (det checkpoint rm: files matching the globs). */
static int start_delete(det_call *dc, int rm)
{
    json_t *uuids = json_object_get(dc->params, "uuids");
    json_t *body = json_pack("{s:O}", "checkpointUuids", uuids);
    if (!body) return -ENOMEM;
    if (rm) {
        json_t *globs = json_object_get(dc->params, "globs");
        json_object_set_new(body, "checkpointGlobs", globs ? json_incref(globs) : json_array());
    }
    int rc =
        rm ? ckd_master_call(dc->m, "/api/v1/checkpoints/rm", body, on_deleted, dc)
           : ckd_master_call_method(dc->m, "DELETE", "/api/v1/checkpoints", body, on_deleted, dc);
    json_decref(body);
    return rc;
}

static int check_uuid_list(json_t *p, const char *key, int uuids, int nonempty, char *why,
                           size_t whylen)
{
    json_t *a = json_object_get(p, key);
    size_t i;
    json_t *v;
    int ok =
        (a == NULL && !nonempty) ||
        (json_is_array(a) && (!nonempty || json_array_size(a) > 0) && json_array_size(a) <= 10000);
    if (a) json_array_foreach(a, i, v)
        {
            const char *s = json_string_value(v);
            ok &= s && (uuids ? ckd_det_uuid_check(s, strlen(s)) == 0 : *s != '\0');
        }
    if (!ok)
        snprintf(why, whylen, "invalid params: '%s' must be %s", key,
                 uuids ? "a non-empty array of checkpoint uuids"
                       : "an array of non-empty glob patterns");
    return ok ? 0 : CKP_RPC_INVALID_PARAMS;
}

/* ---- dispatch -------------------------------------------------------------- */

static int check_params(const char *method, json_t *p, char *why, size_t whylen)
{
    const char *uuid = json_string_value(json_object_get(p, "uuid"));
    if (strcmp(method, "checkpoint.delete") == 0 || strcmp(method, "checkpoint.rm") == 0) {
        int rc = check_uuid_list(p, "uuids", 1, 1, why, whylen);
        if (rc == 0 && strcmp(method, "checkpoint.rm") == 0)
            rc = check_uuid_list(p, "globs", 0, 0, why, whylen);
        return rc;
    }
    if (strcmp(method, "checkpoint.list") == 0) {
        json_t *e = json_object_get(p, "experiment"), *t = json_object_get(p, "trial");
        if (!!e == !!t || !json_is_integer(e ? e : t) || json_integer_value(e ? e : t) <= 0) {
            snprintf(
                why, whylen,
                "invalid params: give exactly one of 'experiment' and 'trial' (a positive id)");
            return CKP_RPC_INVALID_PARAMS;
        }
        const char *keys[] = {"best", "max_results"};
        for (int i = 0; i < 2; i++) {
            json_t *v = json_object_get(p, keys[i]);
            if (v && (!json_is_integer(v) || json_integer_value(v) < 1)) {
                snprintf(why, whylen, "invalid params: '%s' must be a positive integer", keys[i]);
                return CKP_RPC_INVALID_PARAMS;
            }
        }
        const char *ob = json_string_value(json_object_get(p, "order_by"));
        enum ckd_det_order o;
        if (json_object_get(p, "order_by") && (!ob || ckd_det_order_parse(ob, &o) < 0)) {
            snprintf(why, whylen, "invalid params: 'order_by' must be \"asc\" or \"desc\"");
            return CKP_RPC_INVALID_PARAMS;
        }
        json_t *sb = json_object_get(p, "sort_by");
        if (sb && (!json_is_string(sb) || json_string_length(sb) == 0)) {
            snprintf(why, whylen, "invalid params: 'sort_by' must be a non-empty string");
            return CKP_RPC_INVALID_PARAMS;
        }
        return 0;
    }
    if (!uuid || ckd_det_uuid_check(uuid, strlen(uuid)) < 0) {
        snprintf(why, whylen, "invalid params: 'uuid' must be a checkpoint uuid");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (strcmp(method, "checkpoint.add_metadata") == 0 &&
        !json_is_object(json_object_get(p, "metadata"))) {
        snprintf(why, whylen, "invalid params: 'metadata' must be an object");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (strcmp(method, "checkpoint.remove_metadata") == 0) {
        json_t *keys = json_object_get(p, "keys");
        size_t i;
        json_t *k;
        int ok = json_is_array(keys) && json_array_size(keys) > 0;
        json_array_foreach(keys, i, k) ok &= json_is_string(k);
        if (!ok) {
            snprintf(why, whylen, "invalid params: 'keys' must be a non-empty array of strings");
            return CKP_RPC_INVALID_PARAMS;
        }
    }
    return 0;
}

int ckd_rpc_det(ckd_client *c, const char *method, json_t *id, json_t *params, char *why,
                size_t whylen)
{
    static const char *known[] = {"checkpoint.list",         "checkpoint.get",
                                  "checkpoint.add_metadata", "checkpoint.remove_metadata",
                                  "checkpoint.delete",       "checkpoint.rm"};
    int found = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        found |= strcmp(method, known[i]) == 0;
    if (!found) {
        snprintf(why, whylen, "method not found: '%.64s'", method);
        return CKP_RPC_METHOD_NOT_FOUND;
    }
    ckd_daemon *d = c->server->d;
    /* The master the command names (else the daemon's own) with the
     * command's login, which is not kept in the call. */
    json_t *master = json_object_get(params, "master");
    if (master && !json_is_string(master)) {
        snprintf(why, whylen, "invalid params: 'master' must be a URL");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (ckd_master_login_check(json_object_get(params, "login"), why, whylen) < 0)
        return CKP_RPC_INVALID_PARAMS;
    ckd_master *m =
        ckd_master_use(d, json_string_value(master), json_object_get(params, "login"), why, whylen);
    if (!m) return CKP_RPC_MASTER_ERROR;
    params = params ? json_deep_copy(params) : json_object();
    if (!params) {
        snprintf(why, whylen, "out of memory");
        return CKP_RPC_INTERNAL_ERROR;
    }
    json_object_del(params, "login");
    int rc = check_params(method, params, why, whylen);
    det_call *dc = rc == 0 ? calloc(1, sizeof(*dc)) : NULL;
    if (rc != 0 || !dc) {
        json_decref(params);
        if (rc == 0) snprintf(why, whylen, "out of memory");
        return rc ? rc : CKP_RPC_INTERNAL_ERROR;
    }
    dc->d = d;
    dc->m = m;
    dc->params = params;
    dc->reply = ckd_client_defer(c, id);
    char path[256];
    if (strcmp(method, "checkpoint.delete") == 0 || strcmp(method, "checkpoint.rm") == 0) {
        rc = start_delete(dc, strcmp(method, "checkpoint.rm") == 0);
    } else if (strcmp(method, "checkpoint.list") == 0) {
        json_t *e = json_object_get(params, "experiment");
        if (e) {
            snprintf(path, sizeof(path), "/api/v1/experiments/%lld",
                     (long long)json_integer_value(e));
            rc = ckd_master_call(m, path, NULL, on_experiment, dc);
        } else {
            start_list(dc);
            return 0;
        }
    } else {
        snprintf(path, sizeof(path), "/api/v1/checkpoints/%s", param_uuid(dc));
        rc = ckd_master_call(m, path, NULL,
                             strcmp(method, "checkpoint.get") == 0 ? on_get : on_get_for_edit, dc);
    }
    if (rc < 0) {
        ckd_deferred_error(dc->reply, CKP_RPC_MASTER_ERROR, "cannot start a request to the master");
        call_free(dc);
    }
    return 0;
}
