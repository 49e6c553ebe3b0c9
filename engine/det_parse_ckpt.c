/* Parsing of the Determined master's REST replies: checkpoints and list
 * replies. See det_model.h; the helpers are det_parse.c's. */
#include "det_parse_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "det_model.h"

/* ---- checkpoints ---------------------------------------------------------- */

void ckd_det_checkpoint_release(ckd_det_checkpoint *cp)
{
    free(cp->uuid);
    json_decref(cp->validation_metrics);
    json_decref(cp->metadata);
    free(cp->resources);
    free(cp->paths_);
    ckd_det_storage_release(&cp->storage);
    free(cp->searcher_metric_name);
    memset(cp, 0, sizeof *cp);
    cp->smaller_is_better = 1;
}

int ckd_det_checkpoint_metric(const ckd_det_checkpoint *cp, const char *name, double *out)
{
    if (!name) return 0;
    json_t *v = det_field(cp->validation_metrics, name);
    return ckd_det_json_double(v, out) == 1;
}

static int res_cmp(const void *a, const void *b)
{
    return strcmp(((const ckd_det_resource *)a)->path, ((const ckd_det_resource *)b)->path);
}

/* Finds the resource whose path is exactly s[0..len) (res sorted). */
static const ckd_det_resource *res_find(const ckd_det_resource *res, size_t n, const char *s,
                                        size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *p = res[mid].path;
        int c = strncmp(s, p, len);
        /* Equal first len bytes: s is a prefix of p, so s sorts first
         * unless p ends right there. */
        if (c == 0) c = p[len] == '\0' ? 0 : -1;
        if (c == 0) return &res[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Parses "resources": {path: size}. Directory keys end in "/" with size
 * "0"; the slash is removed before checking, so "code/" is the path "code".
 * All paths live in one block (cp->paths_): a checkpoint with a million
 * files costs two allocations, not a million. */
static int parse_resources(const json_t *obj, ckd_det_checkpoint *cp, char *err, size_t errlen)
{
    quoted q;
    if (!obj) return 0;
    if (!json_is_object(obj)) {
        det_seterr(err, errlen, "resources of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    size_t n = json_object_size(obj);
    if (n > CKD_DET_MAX_RESOURCES) {
        det_seterr(err, errlen, "checkpoint '%s' has too many resources (%zu, limit %d)", cp->uuid,
                   n, CKD_DET_MAX_RESOURCES);
        return -E2BIG;
    }
    if (n == 0) return 0;
    size_t bytes = 0;
    const char *key;
    json_t *val;
    void *it;
    for (it = json_object_iter((json_t *)obj); it; it = json_object_iter_next((json_t *)obj, it))
        bytes += json_object_iter_key_len(it) + 1;
    cp->resources = calloc(n, sizeof *cp->resources);
    cp->paths_ = malloc(bytes);
    if (!cp->resources || !cp->paths_) {
        det_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char *p = cp->paths_;
    size_t i = 0;
    for (it = json_object_iter((json_t *)obj); it;
         it = json_object_iter_next((json_t *)obj, it), i++) {
        key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        val = json_object_iter_value(it);
        ckd_det_resource *r = &cp->resources[i];
        size_t plen = klen;
        r->is_dir = klen > 0 && key[klen - 1] == '/';
        if (r->is_dir) plen--;
        const char *why = NULL;
        if (ckp_path_check(key, plen, &why)) {
            det_seterr(err, errlen, "unsafe resource path '%s' in checkpoint '%s': %s",
                       det_quote(&q, key, klen), cp->uuid, why);
            return -EINVAL;
        }
        int64_t size = 0;
        if (det_get_int64(val, &size) != 1 || size < 0) {
            quoted qv;
            char *txt = json_dumps(val, JSON_ENCODE_ANY);
            det_seterr(err, errlen, "invalid size '%s' of '%s' in checkpoint '%s'",
                       det_quotez(&qv, txt ? txt : "?"), det_quote(&q, key, klen), cp->uuid);
            free(txt);
            return -EINVAL;
        }
        /* A directory has no bytes of its own whatever the master says. */
        r->size = r->is_dir ? 0 : size;
        if (__builtin_add_overflow(cp->total_size, r->size, &cp->total_size)) {
            det_seterr(err, errlen, "total size of checkpoint '%s' overflows", cp->uuid);
            return -EINVAL;
        }
        memcpy(p, key, plen);
        p[plen] = '\0';
        r->path = p;
        p += plen + 1;
    }
    cp->n_resources = n;
    qsort(cp->resources, n, sizeof *cp->resources, res_cmp);
    /* A path may not be both a file and a directory: "a" and "a/", or a
     * file "a" and anything under "a/". Either would make the download
     * fail half way, after other files were written. */
    for (i = 0; i < n; i++) {
        const ckd_det_resource *r = &cp->resources[i];
        const char *clash = NULL;
        if (i + 1 < n && strcmp(r->path, cp->resources[i + 1].path) == 0) clash = r->path;
        for (const char *s = strchr(r->path, '/'); s && !clash; s = strchr(s + 1, '/')) {
            const ckd_det_resource *parent =
                res_find(cp->resources, n, r->path, (size_t)(s - r->path));
            if (parent && !parent->is_dir) clash = parent->path;
        }
        if (clash) {
            det_seterr(err, errlen,
                       "resource path '%s' in checkpoint '%s' is both a file and a "
                       "directory",
                       det_quotez(&q, clash), cp->uuid);
            return -EINVAL;
        }
    }
    return 0;
}

/* Appends the checkpoint concerned to err, which holds the reason. */
static void in_checkpoint(char *err, size_t errlen, const char *uuid)
{
    if (!err || errlen == 0) return;
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", err);
    det_seterr(err, errlen, "%s in checkpoint '%s'", tmp, uuid);
}

static int checkpoint_body(const json_t *obj, ckd_det_checkpoint *cp, char *err, size_t errlen)
{
    quoted q;
    json_t *v = det_field(obj, "uuid");
    if (!json_is_string(v)) {
        det_seterr(err, errlen, "checkpoint without a uuid");
        return -EINVAL;
    }
    if (ckd_det_uuid_check(json_string_value(v), json_string_length(v))) {
        det_seterr(err, errlen, "invalid checkpoint uuid '%s'",
                   det_quote(&q, json_string_value(v), json_string_length(v)));
        return -EINVAL;
    }
    if (!(cp->uuid = strdup(json_string_value(v)))) goto nomem;

    /* Unknown states (a newer master) parse as UNSPECIFIED: never
     * downloadable, so they are skipped rather than fail the whole list. */
    v = det_field(obj, "state");
    if (json_is_string(v)) {
        enum ckd_det_state s;
        if (ckd_det_state_parse(json_string_value(v), &s) == 0) cp->state = s;
    } else if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s >= 0 && s <= CKD_DET_STATE_PARTIALLY_DELETED) cp->state = (enum ckd_det_state)s;
    } else if (v) {
        det_seterr(err, errlen, "state of checkpoint '%s' is not a string", cp->uuid);
        return -EINVAL;
    }

    v = det_field(obj, "reportTime");
    if (v) {
        if (!json_is_string(v) ||
            ckd_det_parse_time(json_string_value(v), json_string_length(v), &cp->report_time)) {
            char *txt = json_dumps(v, JSON_ENCODE_ANY);
            det_seterr(err, errlen, "invalid reportTime '%s' in checkpoint '%s'",
                       det_quotez(&q, txt ? txt : "?"), cp->uuid);
            free(txt);
            return -EINVAL;
        }
        cp->has_report_time = 1;
    }

    v = det_field(obj, "metadata");
    if (v) {
        if (!json_is_object(v)) {
            det_seterr(err, errlen, "metadata of checkpoint '%s' is not an object", cp->uuid);
            return -EINVAL;
        }
        cp->metadata = json_incref(v);
        /* Metadata is free-form JSON, where every number is a double; the
         * master sorts by it only when it is a number. A whole number is
         * kept, anything else counts as missing. */
        json_t *sc = det_field(v, "steps_completed");
        if (json_is_integer(sc)) {
            cp->steps_completed = json_integer_value(sc);
            cp->has_steps_completed = 1;
        } else if (json_is_real(sc)) {
            double d = json_real_value(sc);
            if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
                cp->steps_completed = (int64_t)d;
                cp->has_steps_completed = 1;
            }
        }
    }

    int rc = parse_resources(det_field(obj, "resources"), cp, err, errlen);
    if (rc) return rc;

    json_t *tr = det_field(obj, "training");
    if (tr && !json_is_object(tr)) {
        det_seterr(err, errlen, "training of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    int got = det_get_int64(det_field(tr, "trialId"), &cp->trial_id);
    if (got < 0) {
        det_seterr(err, errlen, "invalid trialId in checkpoint '%s'", cp->uuid);
        return -EINVAL;
    }
    cp->has_trial_id = got;
    if (det_get_int64(det_field(tr, "experimentId"), &cp->experiment_id) < 0) {
        det_seterr(err, errlen, "invalid experimentId in checkpoint '%s'", cp->uuid);
        return -EINVAL;
    }
    got = ckd_det_json_double(det_field(tr, "searcherMetric"), &cp->searcher_metric);
    if (got < 0) {
        char *txt = json_dumps(det_field(tr, "searcherMetric"), JSON_ENCODE_ANY);
        det_seterr(err, errlen, "invalid searcherMetric '%s' in checkpoint '%s'",
                   det_quotez(&q, txt ? txt : "?"), cp->uuid);
        free(txt);
        return -EINVAL;
    }
    cp->has_searcher_metric = got;

    v = det_field(tr, "validationMetrics");
    if (v && !json_is_object(v)) {
        det_seterr(err, errlen, "validationMetrics of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    json_t *avg = det_field(v, "avgMetrics");
    if (avg && !json_is_object(avg)) {
        det_seterr(err, errlen, "avgMetrics of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    if (avg) cp->validation_metrics = json_incref(avg);

    json_t *config = det_field(tr, "experimentConfig");
    if (config && !json_is_object(config)) {
        det_seterr(err, errlen, "experimentConfig of checkpoint '%s' is not an object", cp->uuid);
        return -EINVAL;
    }
    rc = det_parse_searcher(config, &cp->searcher_metric_name, &cp->smaller_is_better, err, errlen);
    if (!rc)
        rc = ckd_det_storage_from_json(det_field(config, "checkpoint_storage"), &cp->storage, err,
                                       errlen);
    if (rc) {
        if (rc == -EINVAL) in_checkpoint(err, errlen, cp->uuid);
        return rc;
    }
    return 0;

nomem:
    det_seterr(err, errlen, "out of memory");
    return -ENOMEM;
}

int ckd_det_checkpoint_from_json(const json_t *obj, ckd_det_checkpoint *cp, char *err,
                                 size_t errlen)
{
    memset(cp, 0, sizeof *cp);
    cp->smaller_is_better = 1;
    if (!json_is_object(obj)) {
        det_seterr(err, errlen, "checkpoint is not a json object");
        return -EINVAL;
    }
    int rc = checkpoint_body(obj, cp, err, errlen);
    if (rc) ckd_det_checkpoint_release(cp);
    return rc;
}

int ckd_det_parse_checkpoint(const char *body, size_t len, ckd_det_checkpoint *cp, char *err,
                             size_t errlen)
{
    int rc;
    memset(cp, 0, sizeof *cp);
    cp->smaller_is_better = 1;
    json_t *root = det_load_body(body, len, "checkpoint reply", err, errlen, &rc);
    if (!root) return rc;
    json_t *c = det_field(root, "checkpoint");
    if (!c) {
        det_seterr(err, errlen, "checkpoint reply has no checkpoint");
        rc = -EINVAL;
    } else {
        rc = ckd_det_checkpoint_from_json(c, cp, err, errlen);
    }
    json_decref(root);
    return rc;
}

/* ---- lists ---------------------------------------------------------------- */

void ckd_det_list_release(ckd_det_list *list)
{
    for (size_t i = 0; i < list->n; i++) ckd_det_checkpoint_release(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

int ckd_det_list_take(ckd_det_list *dst, ckd_det_list *src)
{
    if (src->n > CKD_DET_MAX_CHECKPOINTS - dst->n) return -E2BIG;
    if (src->n > 0) {
        ckd_det_checkpoint *items = realloc(dst->items, (dst->n + src->n) * sizeof *items);
        if (!items) return -ENOMEM;
        memcpy(items + dst->n, src->items, src->n * sizeof *items);
        dst->items = items;
        dst->n += src->n;
    }
    dst->page = src->page;
    free(src->items);
    memset(src, 0, sizeof *src);
    return 0;
}

static int parse_pagination(const json_t *p, ckd_det_pagination *pg, char *err, size_t errlen)
{
    memset(pg, 0, sizeof *pg);
    if (!p) return 0;
    if (!json_is_object(p)) {
        det_seterr(err, errlen, "pagination is not an object");
        return -EINVAL;
    }
    struct {
        const char *key;
        int64_t *dst;
    } keys[] = {{"offset", &pg->offset},
                {"limit", &pg->limit},
                {"startIndex", &pg->start_index},
                {"endIndex", &pg->end_index},
                {"total", &pg->total}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (det_get_int64(det_field(p, keys[i].key), keys[i].dst) < 0) {
            det_seterr(err, errlen, "pagination '%s' is not an integer", keys[i].key);
            return -EINVAL;
        }
    }
    if (pg->start_index < 0 || pg->end_index < pg->start_index || pg->total < pg->end_index) {
        det_seterr(err, errlen, "inconsistent pagination (start %lld, end %lld, total %lld)",
                   (long long)pg->start_index, (long long)pg->end_index, (long long)pg->total);
        return -EINVAL;
    }
    pg->present = 1;
    return 0;
}

int ckd_det_parse_list(const char *body, size_t len, ckd_det_list *list, char *err, size_t errlen)
{
    int rc;
    memset(list, 0, sizeof *list);
    json_t *root = det_load_body(body, len, "checkpoint list", err, errlen, &rc);
    if (!root) return rc;
    json_t *arr = det_field(root, "checkpoints");
    size_t n = json_array_size(arr);
    if (arr && !json_is_array(arr)) {
        det_seterr(err, errlen, "checkpoints is not an array");
        rc = -EINVAL;
    } else if (n > CKD_DET_MAX_CHECKPOINTS) {
        det_seterr(err, errlen, "too many checkpoints in one reply (%zu, limit %d)", n,
                   CKD_DET_MAX_CHECKPOINTS);
        rc = -E2BIG;
    } else if (n > 0 && !(list->items = calloc(n, sizeof *list->items))) {
        det_seterr(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = ckd_det_checkpoint_from_json(json_array_get(arr, i), &list->items[i], err, errlen);
        if (!rc) list->n++;
    }
    if (!rc) rc = parse_pagination(det_field(root, "pagination"), &list->page, err, errlen);
    if (rc) ckd_det_list_release(list);
    json_decref(root);
    return rc;
}
