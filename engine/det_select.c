/* Checkpoint selection with the master's sort semantics. See det_select.h. */
#include "det_select.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names -------------------------------------------------------------- */

const char *ckd_det_sort_name(enum ckd_det_sort s)
{
    switch (s) {
#define X(name, wire)                                                                              \
    case CKD_DET_SORT_##name:                                                                      \
        return wire;
        CKD_DET_SORT_MAP(X)
#undef X
    }
    return "SORT_BY_UNSPECIFIED";
}

int ckd_det_sort_parse(const char *name, enum ckd_det_sort *out)
{
    static const char *shorts[] = {
#define X(n, wire) #n,
        CKD_DET_SORT_MAP(X)
#undef X
    };
    for (int s = CKD_DET_SORT_NONE; s < CKD_DET_SORT_METRIC; s++) {
        /* "SORT_BY_UUID" exactly, or "uuid" / "UUID" / "trial_id". */
        if (strcmp(name, ckd_det_sort_name((enum ckd_det_sort)s)) == 0 ||
            strcasecmp(name, shorts[s]) == 0) {
            *out = (enum ckd_det_sort)s;
            return 0;
        }
    }
    return -EINVAL;
}

const char *ckd_det_order_name(enum ckd_det_order o)
{
    switch (o) {
    case CKD_DET_ORDER_ASC:
        return "ORDER_BY_ASC";
    case CKD_DET_ORDER_DESC:
        return "ORDER_BY_DESC";
    case CKD_DET_ORDER_UNSPECIFIED:
        break;
    }
    return "ORDER_BY_UNSPECIFIED";
}

int ckd_det_order_parse(const char *name, enum ckd_det_order *out)
{
    if (strcmp(name, "ORDER_BY_ASC") == 0 || strcasecmp(name, "asc") == 0)
        *out = CKD_DET_ORDER_ASC;
    else if (strcmp(name, "ORDER_BY_DESC") == 0 || strcasecmp(name, "desc") == 0)
        *out = CKD_DET_ORDER_DESC;
    else if (strcmp(name, "ORDER_BY_UNSPECIFIED") == 0)
        *out = CKD_DET_ORDER_UNSPECIFIED;
    else
        return -EINVAL;
    return 0;
}

/* ---- queries ------------------------------------------------------------ */

void ckd_det_query_init(ckd_det_query *q, enum ckd_det_route route)
{
    memset(q, 0, sizeof *q);
    q->route = route;
    q->smaller_is_better = 1;
}

void ckd_det_query_trial_best(ckd_det_query *q, int smaller_is_better)
{
    ckd_det_query_init(q, CKD_DET_ROUTE_TRIAL);
    q->sort = CKD_DET_SORT_SEARCHER_METRIC;
    q->smaller_is_better = smaller_is_better;
    /* The trial route has no default order for the searcher metric and
     * puts nulls first in ASC: send the order, put nulls last here. */
    q->order = smaller_is_better ? CKD_DET_ORDER_ASC : CKD_DET_ORDER_DESC;
    q->nulls_last = 1;
    q->states = CKD_DET_STATES_DOWNLOADABLE;
    q->max_results = 1;
}

void ckd_det_query_trial_latest(ckd_det_query *q)
{
    ckd_det_query_init(q, CKD_DET_ROUTE_TRIAL);
    q->sort = CKD_DET_SORT_BATCH_NUMBER;
    q->order = CKD_DET_ORDER_DESC; /* missing steps_completed come last */
    q->nulls_last = 1;
    q->states = CKD_DET_STATES_DOWNLOADABLE;
    q->max_results = 1;
}

void ckd_det_query_top_n(ckd_det_query *q, int smaller_is_better, size_t n, int per_trial)
{
    ckd_det_query_init(q, CKD_DET_ROUTE_EXPERIMENT);
    /* What the SDK's Experiment.list_checkpoints() sends: the searcher
     * metric with no order, so the master picks it from smaller_is_better,
     * and COMPLETED checkpoints only. */
    q->sort = CKD_DET_SORT_SEARCHER_METRIC;
    q->smaller_is_better = smaller_is_better;
    q->nulls_last = 1;
    q->states = CKD_DET_STATE_BIT(CKD_DET_STATE_COMPLETED);
    q->max_results = n;
    q->per_trial = per_trial;
}

void ckd_det_query_sort_by(ckd_det_query *q, const char *sort_by)
{
    static const struct {
        const char *name;
        enum ckd_det_sort sort;
    } presets[] = {
        {"uuid", CKD_DET_SORT_UUID},
        {"trial_id", CKD_DET_SORT_TRIAL_ID},
        {"batch_number", CKD_DET_SORT_BATCH_NUMBER},
        {"end_time", CKD_DET_SORT_END_TIME},
        {"state", CKD_DET_SORT_STATE},
        {"searcher_metric", CKD_DET_SORT_SEARCHER_METRIC},
    };
    if (!sort_by) return;
    q->metric = NULL;
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(sort_by, presets[i].name) == 0) {
            q->sort = presets[i].sort;
            return;
        }
    }
    enum ckd_det_sort s;
    if (ckd_det_sort_parse(sort_by, &s) == 0 && s != CKD_DET_SORT_METRIC) {
        q->sort = s;
        return;
    }
    q->sort = CKD_DET_SORT_METRIC;
    q->metric = sort_by;
}

void ckd_det_pick_from_source(ckd_det_pick *p, const json_t *source, int sib)
{
    memset(p, 0, sizeof *p);
    const char *kind = json_string_value(json_object_get(source, "kind"));
    if (kind && strcmp(kind, "follow") == 0) /* prefetch: what it follows */
        kind = json_string_value(json_object_get(source, "target"));
    const char *select = json_string_value(json_object_get(source, "select"));
    json_t *top_n = json_object_get(source, "top_n");
    json_t *sib_o = json_object_get(source, "smaller_is_better");
    p->experiment = kind && strcmp(kind, "experiment") == 0;
    p->latest = !p->experiment && (!select || strcmp(select, "latest") == 0);
    p->sort_by = json_string_value(json_object_get(source, "sort_by"));
    p->smaller_is_better = json_is_boolean(sib_o) ? json_is_true(sib_o) : sib;
    p->n = p->experiment && json_is_integer(top_n) && json_integer_value(top_n) > 0
               ? (size_t)json_integer_value(top_n)
               : 1;
    p->per_trial = p->experiment && json_is_true(json_object_get(source, "per_trial"));
}

void ckd_det_query_pick(ckd_det_query *q, const ckd_det_pick *p)
{
    int sib = p->smaller_is_better;
    if (p->experiment)
        ckd_det_query_top_n(q, sib, p->n, p->per_trial);
    else if (p->latest)
        ckd_det_query_trial_latest(q);
    else
        ckd_det_query_trial_best(q, sib);
    q->max_results = p->n;
    if (p->sort_by && !p->latest) {
        ckd_det_query_sort_by(q, p->sort_by);
        q->order = sib ? CKD_DET_ORDER_ASC : CKD_DET_ORDER_DESC;
        q->nulls_last = 1;
    }
}

void ckd_det_query_list(ckd_det_query *q, int smaller_is_better, size_t best)
{
    if (best == 0) {
        ckd_det_query_init(q, CKD_DET_ROUTE_EXPERIMENT);
        q->sort = CKD_DET_SORT_END_TIME;
        return;
    }
    ckd_det_query_top_n(q, smaller_is_better, best, 0);
    q->states = 0; /* det lists every state, and --best ranks them all */
}

/* Nulls last in both orders: the experiment route does it by itself. */
static int nulls_last(const ckd_det_query *q)
{
    return q->nulls_last ||
           (q->sort == CKD_DET_SORT_SEARCHER_METRIC && q->route == CKD_DET_ROUTE_EXPERIMENT);
}

enum ckd_det_order ckd_det_query_effective_order(const ckd_det_query *q)
{
    if (q->order != CKD_DET_ORDER_UNSPECIFIED) return q->order;
    if (q->route == CKD_DET_ROUTE_EXPERIMENT && q->sort == CKD_DET_SORT_SEARCHER_METRIC)
        return q->smaller_is_better ? CKD_DET_ORDER_ASC : CKD_DET_ORDER_DESC;
    return CKD_DET_ORDER_ASC;
}

static int query_valid(const ckd_det_query *q)
{
    if ((unsigned)q->sort > CKD_DET_SORT_METRIC || (unsigned)q->order > CKD_DET_ORDER_DESC)
        return 0;
    return q->sort != CKD_DET_SORT_METRIC || (q->metric && *q->metric);
}

/* ---- comparison ----------------------------------------------------------- */

/* A checkpoint with its sort key pulled out once, so that a named metric
 * is looked up n times rather than n log n times. */
typedef struct item {
    const ckd_det_checkpoint *cp;
    double dkey; /* SEARCHER_METRIC, METRIC */
    int has_key;
    int valued; /* has the value it is sorted by (a NaN metric is none) */
} item;

static void item_init(item *it, const ckd_det_query *q, const ckd_det_checkpoint *cp)
{
    it->cp = cp;
    it->dkey = 0;
    it->has_key = 0;
    if (q->sort == CKD_DET_SORT_SEARCHER_METRIC) {
        it->dkey = cp->searcher_metric;
        it->has_key = cp->has_searcher_metric;
    } else if (q->sort == CKD_DET_SORT_METRIC) {
        it->has_key = ckd_det_checkpoint_metric(cp, q->metric, &it->dkey);
    }
    switch (q->sort) {
    case CKD_DET_SORT_SEARCHER_METRIC:
    case CKD_DET_SORT_METRIC:
        it->valued = it->has_key && !isnan(it->dkey);
        break;
    case CKD_DET_SORT_BATCH_NUMBER:
        it->valued = cp->has_steps_completed;
        break;
    case CKD_DET_SORT_NONE:
    case CKD_DET_SORT_TRIAL_ID:
        it->valued = cp->has_trial_id;
        break;
    case CKD_DET_SORT_END_TIME:
        it->valued = cp->has_report_time;
        break;
    case CKD_DET_SORT_UUID:
    case CKD_DET_SORT_STATE:
        it->valued = 1;
        break;
    }
}

/* Missing values first, then the values. */
static int cmp_opt_i64(int ha, int64_t a, int hb, int64_t b)
{
    if (ha != hb) return ha ? 1 : -1;
    if (!ha) return 0;
    return (a > b) - (a < b);
}

/* A total order on doubles: -inf < ... < +inf < NaN, NaN == NaN. */
static int cmp_double(double a, double b)
{
    int na = isnan(a), nb = isnan(b);
    if (na || nb) return na - nb;
    return (a > b) - (a < b);
}

static int cmp_items(const ckd_det_query *q, const item *ia, const item *ib)
{
    const ckd_det_checkpoint *a = ia->cp, *b = ib->cp;
    /* A NaN metric is no metric: never "best" in either order. */
    if (nulls_last(q) && ia->valued != ib->valued) return ia->valued ? -1 : 1;

    int c = 0, by_time = 1; /* equal keys fall back to reportTime */
    switch (q->sort) {
    case CKD_DET_SORT_NONE:
    case CKD_DET_SORT_TRIAL_ID:
        c = cmp_opt_i64(a->has_trial_id, a->trial_id, b->has_trial_id, b->trial_id);
        break;
    case CKD_DET_SORT_BATCH_NUMBER:
        c = cmp_opt_i64(a->has_steps_completed, a->steps_completed, b->has_steps_completed,
                        b->steps_completed);
        break;
    case CKD_DET_SORT_END_TIME:
        c = cmp_opt_i64(a->has_report_time, a->report_time, b->has_report_time, b->report_time);
        by_time = 0;
        break;
    case CKD_DET_SORT_UUID:
        c = strcmp(a->uuid ? a->uuid : "", b->uuid ? b->uuid : "");
        by_time = 0;
        break;
    case CKD_DET_SORT_STATE:
        c = ((int)a->state > (int)b->state) - ((int)a->state < (int)b->state);
        by_time = 0;
        break;
    case CKD_DET_SORT_SEARCHER_METRIC:
    case CKD_DET_SORT_METRIC:
        if (ia->has_key != ib->has_key)
            c = ia->has_key ? 1 : -1;
        else if (ia->has_key)
            c = cmp_double(ia->dkey, ib->dkey);
        break;
    }
    if (c == 0 && by_time)
        c = cmp_opt_i64(a->has_report_time, a->report_time, b->has_report_time, b->report_time);
    c = (c > 0) - (c < 0);
    return ckd_det_query_effective_order(q) == CKD_DET_ORDER_DESC ? -c : c;
}

int ckd_det_compare(const ckd_det_query *q, const ckd_det_checkpoint *a,
                    const ckd_det_checkpoint *b)
{
    item ia, ib;
    item_init(&ia, q, a);
    item_init(&ib, q, b);
    return cmp_items(q, &ia, &ib);
}

/* Stable top-down merge sort of v[0..n) using tmp[0..n). qsort is not
 * stable, and ties (same uuid order, same state) must keep the master's
 * order so the local pass agrees with it. */
static void merge_sort(const ckd_det_query *q, item *v, item *tmp, size_t n)
{
    if (n < 2) return;
    if (n <= 8) { /* insertion sort: stable, and cheaper on short runs */
        for (size_t i = 1; i < n; i++) {
            item x = v[i];
            size_t j = i;
            for (; j > 0 && cmp_items(q, &v[j - 1], &x) > 0; j--) v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    size_t mid = n / 2;
    merge_sort(q, v, tmp, mid);
    merge_sort(q, v + mid, tmp, n - mid);
    if (cmp_items(q, &v[mid - 1], &v[mid]) <= 0) return; /* already in order */
    memcpy(tmp, v, n * sizeof *v);
    size_t i = 0, j = mid, k = 0;
    while (i < mid && j < n) v[k++] = cmp_items(q, &tmp[j], &tmp[i]) < 0 ? tmp[j++] : tmp[i++];
    while (i < mid) v[k++] = tmp[i++];
    while (j < n) v[k++] = tmp[j++];
}

typedef struct trial_pos {
    int64_t trial_id;
    size_t pos; /* position in the sorted list */
} trial_pos;

static int trial_pos_cmp(const void *a, const void *b)
{
    const trial_pos *x = a, *y = b;
    if (x->trial_id != y->trial_id) return x->trial_id < y->trial_id ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Marks keep[i] for the first item of each trial in sorted order. Items
 * without a trial id cannot be grouped and are all kept. */
static int first_per_trial(const item *v, size_t n, unsigned char *keep)
{
    trial_pos *tp = malloc((n ? n : 1) * sizeof *tp);
    if (!tp) return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        keep[i] = !v[i].cp->has_trial_id;
        if (v[i].cp->has_trial_id) tp[m++] = (trial_pos){v[i].cp->trial_id, i};
    }
    qsort(tp, m, sizeof *tp, trial_pos_cmp);
    for (size_t i = 0; i < m; i++)
        if (i == 0 || tp[i].trial_id != tp[i - 1].trial_id) keep[tp[i].pos] = 1;
    free(tp);
    return 0;
}

int ckd_det_select(const ckd_det_query *q, const ckd_det_checkpoint *cps, size_t n, size_t *out,
                   size_t *nout)
{
    *nout = 0;
    if (!query_valid(q)) return -EINVAL;
    if (n == 0) return 0;
    item *v = malloc(n * sizeof *v), *tmp = malloc(n * sizeof *tmp);
    unsigned char *keep = q->per_trial ? malloc(n) : NULL;
    int rc = 0;
    if (!v || !tmp || (q->per_trial && !keep)) {
        rc = -ENOMEM;
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned st = (unsigned)cps[i].state;
        if (q->states && (st > 31 || !(q->states & CKD_DET_STATE_BIT(st)))) continue;
        item_init(&v[m++], q, &cps[i]);
    }
    merge_sort(q, v, tmp, m);
    if (q->per_trial && (rc = first_per_trial(v, m, keep))) goto done;
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (q->max_results && k == q->max_results) break;
        if (keep && !keep[i]) continue;
        out[k++] = (size_t)(v[i].cp - cps);
    }
    *nout = k;
done:
    free(v);
    free(tmp);
    free(keep);
    return rc;
}

int ckd_det_find_uuid(const ckd_det_checkpoint *cps, size_t n, const char *uuid, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        if (cps[i].uuid && strcmp(cps[i].uuid, uuid) == 0) {
            *idx = i;
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- the wire query ------------------------------------------------------- */

typedef struct qbuf {
    char *buf;
    size_t cap, len;
    int overflow;
} qbuf;

static void qb_put(qbuf *b, const char *s, size_t n)
{
    if (b->overflow || n >= b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void qb_str(qbuf *b, const char *s)
{
    qb_put(b, s, strlen(s));
}

/* Appends "&key=" (no '&' first) and the value, percent-encoded: metric
 * names are user strings and may hold '&', '=', spaces or UTF-8. */
static void qb_param(qbuf *b, const char *key, const char *val)
{
    if (b->len > 0) qb_str(b, "&");
    qb_str(b, key);
    qb_str(b, "=");
    for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            qb_put(b, (const char *)p, 1);
        } else {
            char hex[4];
            snprintf(hex, sizeof hex, "%%%02X", *p);
            qb_put(b, hex, 3);
        }
    }
}

int ckd_det_query_format(const ckd_det_query *q, int64_t offset, int64_t limit, char *buf,
                         size_t buflen)
{
    if (!query_valid(q) || limit < 0) return -EINVAL;
    if (buflen == 0) return -ENOSPC;
    qbuf b = {buf, buflen, 0, 0};
    buf[0] = '\0';
    if (q->sort == CKD_DET_SORT_METRIC)
        qb_param(&b, "sortByMetric", q->metric);
    else if (q->sort != CKD_DET_SORT_NONE)
        qb_param(&b, "sortByAttr", ckd_det_sort_name(q->sort));
    /* An unspecified order stays unspecified on the wire: on the
     * experiment route that is what lets the master choose it from
     * smaller_is_better. */
    if (q->order != CKD_DET_ORDER_UNSPECIFIED)
        qb_param(&b, "orderBy", ckd_det_order_name(q->order));
    for (int s = 0; s <= CKD_DET_STATE_PARTIALLY_DELETED; s++)
        if (q->states & CKD_DET_STATE_BIT(s))
            qb_param(&b, "states", ckd_det_state_name((enum ckd_det_state)s));
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)offset);
    qb_param(&b, "offset", num);
    snprintf(num, sizeof num, "%lld", (long long)limit);
    qb_param(&b, "limit", num);
    if (b.overflow) return -ENOSPC;
    return (int)b.len;
}

size_t ckd_det_query_fetch_limit(const ckd_det_query *q)
{
    /* One per trial needs every checkpoint of every trial. With nulls last
     * the master may disagree: ASC puts nulls first (but on the experiment
     * route's searcher metric), and no route knows that NaN is no metric
     * (the master's Go sort leaves NaN anywhere). Lists are small next to
     * the files; ask for all of it. */
    if (q->per_trial) return 0;
    if (nulls_last(q) &&
        (q->sort == CKD_DET_SORT_SEARCHER_METRIC || q->sort == CKD_DET_SORT_METRIC ||
         ckd_det_query_effective_order(q) != CKD_DET_ORDER_DESC))
        return 0;
    return q->max_results;
}
