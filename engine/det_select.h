/* det_select: which checkpoints a job means, with the master's semantics.
 *
 * The master sorts and filters checkpoint lists itself; the daemon asks it
 * for the same sort (ckd_det_query_format) and then applies the query again
 * locally (ckd_det_select), because some intents are not expressible on the
 * wire: nulls-last on the trial route, one checkpoint per trial. Running the
 * local pass over a list the master already sorted changes nothing, since
 * the sort is stable.
 *
 * Sort semantics (shared/reference/determined-api.md, "Selection"):
 *
 *   key             value                          ties          missing
 *   NONE, TRIAL_ID  training.trialId               reportTime    first in ASC
 *   BATCH_NUMBER    metadata.steps_completed       reportTime    first in ASC
 *   END_TIME        reportTime                     input order   first in ASC
 *   UUID            uuid, bytewise                 input order   -
 *   STATE           state enum number              input order   -
 *   SEARCHER_METRIC training.searcherMetric        reportTime    first in ASC, but see below
 *   METRIC          validationMetrics.avgMetrics[name]  reportTime  first in ASC
 *
 * DESC reverses the whole comparison, ties and missing values included (so
 * missing values come last in DESC). On the experiment route with
 * SEARCHER_METRIC, checkpoints without a searcher metric come last in both
 * orders, and an unspecified order means ASC when smaller_is_better, else
 * DESC; the trial route does neither (plain ASC, nulls first). Doubles are
 * totally ordered: -Infinity < numbers < Infinity < NaN (as in PostgreSQL),
 * except that where nulls go last a NaN metric counts as null, so that it
 * is never "best" (the reference is silent on NaN, and the master's Go
 * comparison leaves it anywhere).
 *
 * Ranking ("best", "latest", "top N") is the daemon's one rule, used alike
 * by downloads (resolve.c), listings (rpc_det.c) and prefetch (follow.c):
 * build the query with ckd_det_query_pick() or ckd_det_query_list(), then
 * run ckd_det_select(). A ranking never puts a checkpoint without the value
 * it is ranked by (or with NaN) before one that has it, in either order
 * (ckd_det_query.nulls_last). */
#ifndef CKD_DET_SELECT_H
#define CKD_DET_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "det_model.h"

/* Sort keys; the wire names are the master's sortByAttr values. */
#define CKD_DET_SORT_MAP(X)                                                                        \
    X(NONE, "SORT_BY_UNSPECIFIED")                                                                 \
    X(UUID, "SORT_BY_UUID")                                                                        \
    X(TRIAL_ID, "SORT_BY_TRIAL_ID")                                                                \
    X(BATCH_NUMBER, "SORT_BY_BATCH_NUMBER")                                                        \
    X(END_TIME, "SORT_BY_END_TIME")                                                                \
    X(STATE, "SORT_BY_STATE")                                                                      \
    X(SEARCHER_METRIC, "SORT_BY_SEARCHER_METRIC")                                                  \
    X(METRIC, "sortByMetric") /* a named validation metric, see ckd_det_query.metric */

enum ckd_det_sort {
#define X(name, wire) CKD_DET_SORT_##name,
    CKD_DET_SORT_MAP(X)
#undef X
};

enum ckd_det_order {
    CKD_DET_ORDER_UNSPECIFIED = 0, /* the route's default (see above) */
    CKD_DET_ORDER_ASC = 1,
    CKD_DET_ORDER_DESC = 2,
};

/* Which list route the checkpoints come from: the two sort differently. */
enum ckd_det_route {
    CKD_DET_ROUTE_EXPERIMENT = 0, /* GET /api/v1/experiments/{id}/checkpoints */
    CKD_DET_ROUTE_TRIAL = 1,      /* GET /api/v1/trials/{id}/checkpoints */
};

typedef struct ckd_det_query {
    enum ckd_det_route route;
    enum ckd_det_sort sort;
    const char *metric; /* CKD_DET_SORT_METRIC: the validation metric's name (borrowed) */
    enum ckd_det_order order;
    int smaller_is_better; /* the experiment's searcher.smaller_is_better */
    /* Put checkpoints without the sort value (searcher metric, named
     * metric, steps_completed, trial id, report time; a NaN metric counts
     * as none) last in both orders. The master does it by itself only for
     * SEARCHER_METRIC on the experiment route. */
    int nulls_last;
    unsigned states;    /* OR of CKD_DET_STATE_BIT(); 0 = every state */
    size_t max_results; /* 0 = all */
    int per_trial;      /* keep only the first (best) checkpoint of each trial */
} ckd_det_query;

/* Wire names, and the reverse ("SORT_BY_UUID", or short forms such as
 * "uuid", "batch_number", "searcher_metric", any case). Parse returns 0 or
 * -EINVAL. CKD_DET_SORT_METRIC has no wire name of its own. */
const char *ckd_det_sort_name(enum ckd_det_sort s);
int ckd_det_sort_parse(const char *name, enum ckd_det_sort *out);
const char *ckd_det_order_name(enum ckd_det_order o);               /* "ORDER_BY_ASC", ... */
int ckd_det_order_parse(const char *name, enum ckd_det_order *out); /* also "asc"/"desc" */

/* Sets q's sort from a user's --sort-by: a preset name ("batch_number",
 * "SORT_BY_BATCH_NUMBER", ...) or else a validation metric (borrowed);
 * NULL leaves q as it is. */
void ckd_det_query_sort_by(ckd_det_query *q, const char *sort_by);

/* A query that keeps everything in the route's default order:
 * sort NONE, order unspecified, smaller_is_better 1, all states, no limit. */
void ckd_det_query_init(ckd_det_query *q, enum ckd_det_route route);

/* The intended CLI meanings (the reference CLI has bugs here):
 * trial best   = first downloadable (COMPLETED or PARTIALLY_DELETED) by
 *                searcher metric honouring smaller_is_better, nulls last
 *                (trial route);
 * trial latest = first downloadable by steps_completed descending;
 * top N        = first n COMPLETED in the experiment's default sort
 *                (searcher metric, best first, nulls last), as det's SDK
 *                asks the master (states=STATE_COMPLETED), optionally one
 *                per trial (what the CLI help promises). n = 0: all. */
void ckd_det_query_trial_best(ckd_det_query *q, int smaller_is_better);
void ckd_det_query_trial_latest(ckd_det_query *q);
void ckd_det_query_top_n(ckd_det_query *q, int smaller_is_better, size_t n, int per_trial);

/* What a download or a prefetch of a Determined source means. */
typedef struct ckd_det_pick {
    int experiment;        /* the experiment's top n, else one checkpoint of a trial */
    int latest;            /* trial: the most steps completed, else the best */
    const char *sort_by;   /* --sort-by (preset or metric, borrowed); NULL: searcher metric */
    int smaller_is_better; /* for the searcher metric, or for sort_by */
    size_t n;              /* how many; 0 = rank them all (prefetch keeps a ranking) */
    int per_trial;         /* experiment: at most one per trial */
} ckd_det_pick;

/* Reads a job source ({"kind":"experiment"|"trial", "select", "top_n",
 * "per_trial", "sort_by", "smaller_is_better"}, or a prefetch's {"kind":
 * "follow", "target":"experiment"|"trial", ...}) into p. A trial without
 * "select" means latest; an experiment without "top_n" means 1. sib is
 * the smaller_is_better to use when the source has none (the experiment's
 * searcher setting). p->sort_by borrows from source. */
void ckd_det_pick_from_source(ckd_det_pick *p, const json_t *source, int sib);

/* The ranking query for p: the intents above, with sort_by ranked in the
 * order smaller_is_better says and missing values last. */
void ckd_det_query_pick(ckd_det_query *q, const ckd_det_pick *p);

/* What `experiment list-checkpoints` shows (det's list_checkpoints): every
 * state; by end time, or with best > 0 the first best by the searcher
 * metric in the experiment's order, nulls last. */
void ckd_det_query_list(ckd_det_query *q, int smaller_is_better, size_t best);

/* The order the query applies once the route default is resolved. */
enum ckd_det_order ckd_det_query_effective_order(const ckd_det_query *q);

/* Compares two checkpoints under q: <0 when a comes first, >0 when b does,
 * 0 for a tie (which the stable sort resolves by input position). */
int ckd_det_compare(const ckd_det_query *q, const ckd_det_checkpoint *a,
                    const ckd_det_checkpoint *b);

/* Applies q to cps[0..n): states filter, stable sort, per_trial, then
 * max_results. Writes the chosen indices into cps, best first, to out
 * (room for n) and their count to *nout. Returns 0, -EINVAL for a bad query
 * (METRIC without a name), -ENOMEM. */
int ckd_det_select(const ckd_det_query *q, const ckd_det_checkpoint *cps, size_t n, size_t *out,
                   size_t *nout);

/* The index of the checkpoint with this uuid, or -ENOENT. */
int ckd_det_find_uuid(const ckd_det_checkpoint *cps, size_t n, const char *uuid, size_t *idx);

/* The query string for the list routes (no leading '?'): sortByAttr or
 * sortByMetric (percent-encoded), orderBy when set, one states= per state,
 * then offset and limit (limit 0 = all). Returns the length, -ENOSPC when
 * buf is too small, -EINVAL for a bad query. */
int ckd_det_query_format(const ckd_det_query *q, int64_t offset, int64_t limit, char *buf,
                         size_t buflen);

/* How many checkpoints the daemon needs from the master for q, in the
 * master's order: max_results when the master's sort and filter give the
 * same first results as ckd_det_select, 0 (fetch every page) when the local
 * pass needs the whole list (per_trial, or nulls last: see the .c file). */
size_t ckd_det_query_fetch_limit(const ckd_det_query *q);

#endif
