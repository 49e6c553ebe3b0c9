/* Unit tests for the Determined data model: parsing (det_parse.c) and
 * selection (det_select.c). Fixtures are JSON as the master sends it. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckt_test.h"
#include "det_model.h"
#include "det_select.h"

#define CKT_ASSERT_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        const char *ckt_h_ = (hay), *ckt_n_ = (needle);                                            \
        if (!strstr(ckt_h_, ckt_n_)) CKT_FAIL("\"%s\" does not contain \"%s\"", ckt_h_, ckt_n_);   \
    } while (0)

/* ---- fixtures ------------------------------------------------------------ */

/* A checkpoint in a few words. JSON snippets are pasted as is; NULL means
 * the field is left out. trial 0 = no trialId; t < 0 = no reportTime. */
typedef struct fx {
    const char *uuid;
    int trial;
    const char *state; /* without the STATE_ prefix */
    int t;             /* reportTime, seconds after 2024-03-01T00:00:00Z */
    const char *steps; /* metadata.steps_completed */
    const char *searcher;
    const char *avg; /* members of validationMetrics.avgMetrics */
} fx;

static char *fx_json(const fx *f)
{
    char trial[32] = "", time[64] = "", meta[64] = "", val[256] = "null";
    if (f->trial) snprintf(trial, sizeof trial, "\"trialId\":%d,", f->trial);
    if (f->t >= 0)
        snprintf(time, sizeof time, "\"reportTime\":\"2024-03-01T00:%02d:%02d.5Z\",", f->t / 60,
                 f->t % 60);
    if (f->steps) snprintf(meta, sizeof meta, "\"steps_completed\":%s", f->steps);
    if (f->avg) snprintf(val, sizeof val, "{\"avgMetrics\":{%s},\"batchMetrics\":[]}", f->avg);
    size_t cap = 2048;
    char *s = malloc(cap);
    snprintf(s, cap,
             "{\"uuid\":\"%s\",\"state\":\"STATE_%s\",%s\"metadata\":{%s},"
             "\"resources\":{\"metadata.json\":\"2\"},"
             "\"training\":{%s\"experimentId\":7,\"searcherMetric\":%s,"
             "\"validationMetrics\":%s}}",
             f->uuid, f->state, time, meta, trial, f->searcher ? f->searcher : "null", val);
    return s;
}

static void fx_build(const fx *f, size_t n, ckd_det_checkpoint *cps)
{
    for (size_t i = 0; i < n; i++) {
        char *s = fx_json(&f[i]);
        json_error_t je;
        json_t *j = json_loads(s, 0, &je);
        if (!j) CKT_FAIL("fixture %s: %s", s, je.text);
        char err[256] = "";
        int rc = ckd_det_checkpoint_from_json(j, &cps[i], err, sizeof err);
        if (rc) CKT_FAIL("fixture %s: %s", f[i].uuid, err);
        json_decref(j);
        free(s);
    }
}

static void fx_free(ckd_det_checkpoint *cps, size_t n)
{
    for (size_t i = 0; i < n; i++) ckd_det_checkpoint_release(&cps[i]);
}

/* Runs the selection and compares the uuids, space separated. */
static void expect_sel(const ckd_det_query *q, const ckd_det_checkpoint *cps, size_t n,
                       const char *want, int line)
{
    size_t idx[64], k = 0;
    CKT_ASSERT(n <= 64);
    int rc = ckd_det_select(q, cps, n, idx, &k);
    if (rc) CKT_FAIL("line %d: select failed: %d", line, rc);
    char got[1024] = "";
    for (size_t i = 0; i < k; i++) {
        if (i) strcat(got, " ");
        strcat(got, cps[idx[i]].uuid);
    }
    if (strcmp(got, want) != 0) CKT_FAIL("line %d: selected \"%s\", want \"%s\"", line, got, want);
}
#define EXPECT_SEL(q, cps, n, want) expect_sel(q, cps, n, want, __LINE__)

static ckd_det_query query(enum ckd_det_route route, enum ckd_det_sort sort,
                           enum ckd_det_order order)
{
    ckd_det_query q;
    ckd_det_query_init(&q, route);
    q.sort = sort;
    q.order = order;
    return q;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define EXP  CKD_DET_ROUTE_EXPERIMENT
#define TRI  CKD_DET_ROUTE_TRIAL
#define ASC  CKD_DET_ORDER_ASC
#define DESC CKD_DET_ORDER_DESC
#define UNSP CKD_DET_ORDER_UNSPECIFIED

/* ---- sort table: one test per row ------------------------------------- */

static void test_sort_trial_id(void)
{
    static const fx f[] = {
        {"A", 2, "COMPLETED", 10, NULL, NULL, NULL},
        {"B", 1, "COMPLETED", 30, NULL, NULL, NULL},
        {"C", 1, "COMPLETED", 20, NULL, NULL, NULL},
        {"D", 0, "COMPLETED", 40, NULL, NULL, NULL}, /* no trial id */
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    for (int r = EXP; r <= TRI; r++) {
        ckd_det_query q = query(r, CKD_DET_SORT_TRIAL_ID, ASC);
        EXPECT_SEL(&q, c, N(f), "D C B A"); /* missing first, ties by reportTime */
        q.order = DESC;
        EXPECT_SEL(&q, c, N(f), "A B C D");    /* all reversed, ties too */
        q = query(r, CKD_DET_SORT_NONE, UNSP); /* none = trial id, ASC */
        EXPECT_SEL(&q, c, N(f), "D C B A");
    }
    fx_free(c, N(f));
}

static void test_sort_batch_number(void)
{
    static const fx f[] = {
        {"A", 1, "COMPLETED", 10, "200", NULL, NULL},
        {"B", 1, "COMPLETED", 20, "100", NULL, NULL},
        {"C", 1, "COMPLETED", 5, "200", NULL, NULL},
        {"D", 1, "COMPLETED", 1, NULL, NULL, NULL},      /* missing */
        {"E", 1, "COMPLETED", 3, "150.0", NULL, NULL},   /* metadata numbers are doubles */
        {"F", 1, "COMPLETED", 2, "\"300\"", NULL, NULL}, /* not a number: missing */
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    CKT_ASSERT(c[4].has_steps_completed && c[4].steps_completed == 150);
    CKT_ASSERT(!c[5].has_steps_completed);
    ckd_det_query q = query(TRI, CKD_DET_SORT_BATCH_NUMBER, ASC);
    EXPECT_SEL(&q, c, N(f), "D F B E C A");
    q.order = DESC;
    EXPECT_SEL(&q, c, N(f), "A C E B F D");
    fx_free(c, N(f));
}

static void test_sort_end_time(void)
{
    static const fx f[] = {
        {"A", 1, "COMPLETED", 30, NULL, NULL, NULL},
        {"B", 1, "COMPLETED", 10, NULL, NULL, NULL},
        {"C", 1, "COMPLETED", 20, NULL, NULL, NULL},
        {"D", 1, "COMPLETED", -1, NULL, NULL, NULL}, /* no reportTime */
        {"E", 1, "COMPLETED", 10, NULL, NULL, NULL}, /* same time as B */
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    ckd_det_query q = query(EXP, CKD_DET_SORT_END_TIME, ASC);
    EXPECT_SEL(&q, c, N(f), "D B E C A");
    q.order = DESC; /* equal times keep input order in both directions */
    EXPECT_SEL(&q, c, N(f), "A C B E D");
    fx_free(c, N(f));
}

static void test_sort_uuid(void)
{
    static const fx f[] = {
        {"b", 1, "COMPLETED", 1, NULL, NULL, NULL},
        {"a", 1, "COMPLETED", 2, NULL, NULL, NULL},
        {"c", 1, "COMPLETED", 3, NULL, NULL, NULL},
        {"B", 1, "COMPLETED", 4, NULL, NULL, NULL},
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    ckd_det_query q = query(EXP, CKD_DET_SORT_UUID, ASC);
    EXPECT_SEL(&q, c, N(f), "B a b c"); /* bytewise */
    q.order = DESC;
    EXPECT_SEL(&q, c, N(f), "c b a B");
    fx_free(c, N(f));
}

static void test_sort_state(void)
{
    static const fx f[] = {
        {"A", 1, "COMPLETED", 1, NULL, NULL, NULL},
        {"B", 1, "ACTIVE", 2, NULL, NULL, NULL},
        {"C", 1, "PARTIALLY_DELETED", 3, NULL, NULL, NULL},
        {"D", 1, "DELETED", 4, NULL, NULL, NULL},
        {"E", 1, "ERROR", 5, NULL, NULL, NULL},
        {"F", 1, "COMPLETED", 0, NULL, NULL, NULL}, /* ties keep input order */
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    ckd_det_query q = query(TRI, CKD_DET_SORT_STATE, ASC);
    EXPECT_SEL(&q, c, N(f), "B A F E D C");
    q.order = DESC;
    EXPECT_SEL(&q, c, N(f), "C D E A F B");
    fx_free(c, N(f));
}

/* The searcher metric fixture: nulls, a tie broken by reportTime, and the
 * three special doubles. */
static const fx searcher_fx[] = {
    {"A", 1, "COMPLETED", 1, NULL, "0.5", NULL},
    {"B", 1, "COMPLETED", 2, NULL, NULL, NULL}, /* null */
    {"C", 1, "COMPLETED", 3, NULL, "0.2", NULL},
    {"D", 1, "COMPLETED", 0, NULL, "0.5", NULL},
    {"E", 1, "COMPLETED", 4, NULL, "\"NaN\"", NULL},
    {"F", 1, "COMPLETED", 5, NULL, "\"-Infinity\"", NULL},
    {"G", 1, "COMPLETED", 6, NULL, "\"Infinity\"", NULL},
};

static void test_sort_searcher_trial_route(void)
{
    ckd_det_checkpoint c[N(searcher_fx)];
    fx_build(searcher_fx, N(searcher_fx), c);
    /* Plain: nulls first in ASC, and no default order from
     * smaller_is_better. NaN sorts after Infinity. */
    ckd_det_query q = query(TRI, CKD_DET_SORT_SEARCHER_METRIC, ASC);
    EXPECT_SEL(&q, c, N(c), "B F C D A G E");
    q.order = DESC;
    EXPECT_SEL(&q, c, N(c), "E G A D C F B");
    q.order = UNSP;
    q.smaller_is_better = 0;
    EXPECT_SEL(&q, c, N(c), "B F C D A G E");
    /* The client-side fix for "best": nulls last in both orders, and a NaN
     * counts as null (the two keep their plain order among themselves). */
    q.nulls_last = 1;
    q.order = ASC;
    EXPECT_SEL(&q, c, N(c), "F C D A G B E");
    q.order = DESC;
    EXPECT_SEL(&q, c, N(c), "G A D C F E B");
    fx_free(c, N(c));
}

static void test_sort_searcher_experiment_route(void)
{
    ckd_det_checkpoint c[N(searcher_fx)];
    fx_build(searcher_fx, N(searcher_fx), c);
    /* Nulls (and NaN) last whatever the order. */
    ckd_det_query q = query(EXP, CKD_DET_SORT_SEARCHER_METRIC, ASC);
    EXPECT_SEL(&q, c, N(c), "F C D A G B E");
    q.order = DESC;
    EXPECT_SEL(&q, c, N(c), "G A D C F E B");
    /* No order: from smaller_is_better. */
    q.order = UNSP;
    q.smaller_is_better = 1;
    CKT_ASSERT_INT_EQ(ckd_det_query_effective_order(&q), ASC);
    EXPECT_SEL(&q, c, N(c), "F C D A G B E");
    q.smaller_is_better = 0;
    CKT_ASSERT_INT_EQ(ckd_det_query_effective_order(&q), DESC);
    EXPECT_SEL(&q, c, N(c), "G A D C F E B");
    /* The same list on the trial route, same query: differs. */
    q.route = TRI;
    CKT_ASSERT_INT_EQ(ckd_det_query_effective_order(&q), ASC);
    EXPECT_SEL(&q, c, N(c), "B F C D A G E");
    fx_free(c, N(c));
}

static void test_sort_metric_name(void)
{
    static const fx f[] = {
        {"A", 1, "COMPLETED", 1, NULL, NULL, "\"loss\":0.3"},
        {"B", 1, "COMPLETED", 2, NULL, NULL, NULL},          /* no validation */
        {"C", 1, "COMPLETED", 3, NULL, NULL, "\"acc\":0.9"}, /* other metric only */
        {"D", 1, "COMPLETED", 4, NULL, NULL, "\"loss\":0.1"},
        {"E", 1, "COMPLETED", 0, NULL, NULL, "\"loss\":0.3"},
        {"F", 1, "COMPLETED", 5, NULL, NULL, "\"loss\":\"NaN\""},
        {"G", 1, "COMPLETED", 6, NULL, NULL, "\"loss\":\"high\""}, /* not numeric: missing */
        {"H", 1, "COMPLETED", 7, NULL, NULL, "\"loss\":\"-Infinity\""},
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    for (int r = EXP; r <= TRI; r++) { /* no route difference for named metrics */
        ckd_det_query q = query(r, CKD_DET_SORT_METRIC, ASC);
        q.metric = "loss";
        EXPECT_SEL(&q, c, N(f), "B C G H D E A F"); /* missing first in ASC */
        q.order = DESC;
        EXPECT_SEL(&q, c, N(f), "F A E D H G C B"); /* missing last in DESC */
    }
    ckd_det_query q = query(EXP, CKD_DET_SORT_METRIC, ASC);
    size_t idx[8], k;
    CKT_ASSERT_INT_EQ(ckd_det_select(&q, c, N(f), idx, &k), -EINVAL); /* no name */
    fx_free(c, N(f));
}

/* ---- filters and limits ---------------------------------------------------- */

static void test_states_and_max_results(void)
{
    static const fx f[] = {
        {"A", 1, "COMPLETED", 1, NULL, NULL, NULL},
        {"B", 1, "ACTIVE", 2, NULL, NULL, NULL},
        {"C", 1, "PARTIALLY_DELETED", 3, NULL, NULL, NULL},
        {"D", 1, "DELETED", 4, NULL, NULL, NULL},
        {"E", 1, "ERROR", 5, NULL, NULL, NULL},
        {"F", 1, "COMPLETED", 0, NULL, NULL, NULL},
    };
    ckd_det_checkpoint c[N(f)];
    fx_build(f, N(f), c);
    ckd_det_query q = query(EXP, CKD_DET_SORT_STATE, ASC);
    q.states = CKD_DET_STATES_DOWNLOADABLE;
    EXPECT_SEL(&q, c, N(f), "A F C");
    q.states = CKD_DET_STATE_BIT(CKD_DET_STATE_ERROR) | CKD_DET_STATE_BIT(CKD_DET_STATE_ACTIVE);
    EXPECT_SEL(&q, c, N(f), "B E");
    q.states = 0;
    q.max_results = 2;
    EXPECT_SEL(&q, c, N(f), "B A");
    q.max_results = 100;
    EXPECT_SEL(&q, c, N(f), "B A F E D C");
    q.states = CKD_DET_STATE_BIT(CKD_DET_STATE_UNSPECIFIED);
    EXPECT_SEL(&q, c, N(f), "");
    CKT_ASSERT(ckd_det_state_downloadable(CKD_DET_STATE_COMPLETED));
    CKT_ASSERT(ckd_det_state_downloadable(CKD_DET_STATE_PARTIALLY_DELETED));
    CKT_ASSERT(!ckd_det_state_downloadable(CKD_DET_STATE_ACTIVE));
    CKT_ASSERT(!ckd_det_state_downloadable(CKD_DET_STATE_ERROR));
    CKT_ASSERT(!ckd_det_state_downloadable(CKD_DET_STATE_DELETED));
    fx_free(c, N(f));
}

/* The demo experiment of tests/detmaster: three trials of four. */
static const fx demo_fx[] = {
    {"t1s100", 1, "COMPLETED", 1, "100", "0.90", "\"validation_loss\":0.90"},
    {"t1s200", 1, "COMPLETED", 2, "200", "0.55", "\"validation_loss\":0.55"},
    {"t1s300", 1, "COMPLETED", 3, "300", "0.31", "\"validation_loss\":0.31"},
    {"t1s400", 1, "COMPLETED", 4, "400", NULL, NULL},
    {"t2s100", 2, "COMPLETED", 5, "100", "0.80", "\"validation_loss\":0.80"},
    {"t2s200", 2, "COMPLETED", 6, "200", "0.42", "\"validation_loss\":0.42"},
    {"t2s300", 2, "DELETED", 7, "300", "0.12", "\"validation_loss\":0.12"},
    {"t2s400", 2, "PARTIALLY_DELETED", 8, "400", "0.25", "\"validation_loss\":0.25"},
    {"t3s100", 3, "COMPLETED", 9, "100", "0.70", "\"validation_loss\":0.70"},
    {"t3s200", 3, "ERROR", 10, "200", "0.35", "\"validation_loss\":0.35"},
    {"t3s300", 3, "COMPLETED", 11, "300", "0.20", "\"validation_loss\":0.20"},
    {"t3s400", 3, "ACTIVE", 12, "400", "0.05", "\"validation_loss\":0.05"},
};

static void test_top_n(void)
{
    ckd_det_checkpoint c[N(demo_fx)];
    fx_build(demo_fx, N(demo_fx), c);
    ckd_det_query q;
    /* COMPLETED only, as det's SDK asks: t2s400 (PARTIALLY_DELETED, 0.25)
     * is never among the top N. */
    ckd_det_query_top_n(&q, 1, 3, 0);
    EXPECT_SEL(&q, c, N(c), "t3s300 t1s300 t2s200");
    ckd_det_query_top_n(&q, 1, 5, 0); /* trials repeat without per_trial */
    EXPECT_SEL(&q, c, N(c), "t3s300 t1s300 t2s200 t1s200 t3s100");
    ckd_det_query_top_n(&q, 1, 5, 1); /* one per trial: only three trials */
    EXPECT_SEL(&q, c, N(c), "t3s300 t1s300 t2s200");
    ckd_det_query_top_n(&q, 1, 2, 1);
    EXPECT_SEL(&q, c, N(c), "t3s300 t1s300");
    ckd_det_query_top_n(&q, 1, 0, 0); /* all completed, null last */
    EXPECT_SEL(&q, c, N(c), "t3s300 t1s300 t2s200 t1s200 t3s100 t2s100 t1s100 t1s400");
    ckd_det_query_top_n(&q, 0, 3, 0); /* bigger is better */
    EXPECT_SEL(&q, c, N(c), "t1s100 t2s100 t3s100");
    ckd_det_query_top_n(&q, 0, 0, 1);
    EXPECT_SEL(&q, c, N(c), "t1s100 t2s100 t3s100");
    fx_free(c, N(c));
}

static void test_trial_best_latest_uuid(void)
{
    ckd_det_checkpoint c[N(demo_fx)];
    fx_build(demo_fx, N(demo_fx), c);
    ckd_det_query q;
    /* Trial 1 alone, as the trial route returns it. */
    ckd_det_query_trial_best(&q, 1);
    EXPECT_SEL(&q, c, 4, "t1s300"); /* not the null one, which ASC puts first */
    ckd_det_query_trial_best(&q, 0);
    EXPECT_SEL(&q, c, 4, "t1s100");
    ckd_det_query_trial_best(&q, 1);
    EXPECT_SEL(&q, c + 4, 4, "t2s400"); /* t2s300 is better but DELETED */
    ckd_det_query_trial_latest(&q);
    EXPECT_SEL(&q, c, 4, "t1s400");
    EXPECT_SEL(&q, c + 8, 4, "t3s300"); /* s400 ACTIVE, s200 ERROR */
    EXPECT_SEL(&q, c + 4, 4, "t2s400");
    size_t i = 99;
    CKT_ASSERT_INT_EQ(ckd_det_find_uuid(c, N(c), "t2s200", &i), 0);
    CKT_ASSERT_INT_EQ(i, 5);
    CKT_ASSERT_INT_EQ(ckd_det_find_uuid(c, N(c), "nope", &i), -ENOENT);
    fx_free(c, N(c));

    /* latest: a checkpoint without steps_completed is never "latest". */
    static const fx f[] = {
        {"old", 1, "COMPLETED", 1, "100", NULL, NULL},
        {"nosteps", 1, "COMPLETED", 9, NULL, NULL, NULL},
        {"new", 1, "COMPLETED", 5, "200", NULL, NULL},
        {"newer", 1, "PARTIALLY_DELETED", 6, "200", NULL, NULL},
    };
    ckd_det_checkpoint d[N(f)];
    fx_build(f, N(f), d);
    ckd_det_query_trial_latest(&q);
    EXPECT_SEL(&q, d, N(f), "newer"); /* same steps: later reportTime first in DESC */
    fx_free(d, N(f));
}

/* The one ranking rule: download (resolve.c), list (rpc_det.c) and prefetch
 * (follow.c) build their queries here, from a job source or list params. */
static void expect_pick(const char *source, int sib, size_t n_override, const ckd_det_checkpoint *c,
                        size_t n, const char *want, int line)
{
    json_error_t je;
    json_t *src = json_loads(source, 0, &je);
    if (!src) CKT_FAIL("line %d: bad source %s", line, source);
    ckd_det_pick p;
    ckd_det_query q;
    ckd_det_pick_from_source(&p, src, sib);
    if (n_override != (size_t)-1) p.n = n_override;
    ckd_det_query_pick(&q, &p);
    expect_sel(&q, c, n, want, line);
    json_decref(src);
}
#define EXPECT_PICK(src, sib, n, c, cn, want) expect_pick(src, sib, n, c, cn, want, __LINE__)

static void test_one_ranking_rule(void)
{
    ckd_det_checkpoint c[N(demo_fx)];
    fx_build(demo_fx, N(demo_fx), c);
    /* experiment download --top-n 3 and prefetch experiment (n = 0: the
     * whole ranking) agree, COMPLETED only. */
    EXPECT_PICK("{\"kind\":\"experiment\",\"id\":1,\"top_n\":3}", 1, (size_t)-1, c, N(c),
                "t3s300 t1s300 t2s200");
    EXPECT_PICK("{\"kind\":\"experiment\",\"id\":1}", 1, (size_t)-1, c, N(c), "t3s300");
    EXPECT_PICK("{\"kind\":\"experiment\",\"id\":1,\"top_n\":3}", 1, 0, c, N(c),
                "t3s300 t1s300 t2s200 t1s200 t3s100 t2s100 t1s100 t1s400");
    /* --sort-by a metric with smaller_is_better true: the checkpoint without
     * validation metrics (t1s400) is last, not first as plain ASC has it. */
    EXPECT_PICK("{\"kind\":\"trial\",\"id\":1,\"select\":\"best\","
                "\"sort_by\":\"validation_loss\",\"smaller_is_better\":true}",
                0, 0, c, 4, "t1s300 t1s200 t1s100 t1s400");
    EXPECT_PICK("{\"kind\":\"trial\",\"id\":1,\"select\":\"best\","
                "\"sort_by\":\"validation_loss\",\"smaller_is_better\":false}",
                1, 0, c, 4, "t1s100 t1s200 t1s300 t1s400");
    /* trial best without sort_by follows the experiment's sib; trial
     * downloads take PARTIALLY_DELETED too. */
    EXPECT_PICK("{\"kind\":\"trial\",\"id\":2,\"select\":\"best\"}", 1, (size_t)-1, c + 4, 4,
                "t2s400");
    /* prefetch sources name their target */
    EXPECT_PICK("{\"kind\":\"follow\",\"target\":\"experiment\",\"id\":1,\"top_n\":2}", 1, 0, c,
                N(c), "t3s300 t1s300 t2s200 t1s200 t3s100 t2s100 t1s100 t1s400");
    EXPECT_PICK("{\"kind\":\"follow\",\"target\":\"trial\",\"id\":1,\"select\":\"best\"}", 1,
                (size_t)-1, c, 4, "t1s300");
    /* a trial without select (prefetch) is latest; latest ignores sort_by */
    EXPECT_PICK("{\"kind\":\"trial\",\"id\":3}", 1, 0, c + 8, 4, "t3s300 t3s100");
    EXPECT_PICK("{\"kind\":\"trial\",\"id\":3,\"select\":\"latest\","
                "\"sort_by\":\"validation_loss\",\"smaller_is_better\":true}",
                1, (size_t)-1, c + 8, 4, "t3s300");

    /* experiment list-checkpoints: every state; --best N by the searcher
     * metric over all of them, as det. */
    ckd_det_query q;
    ckd_det_query_list(&q, 1, 3);
    EXPECT_SEL(&q, c, N(c), "t3s400 t2s300 t3s300");
    ckd_det_query_list(&q, 1, 0);
    EXPECT_SEL(&q, c, N(c),
               "t1s100 t1s200 t1s300 t1s400 t2s100 t2s200 t2s300 t2s400 t3s100 t3s200 t3s300 "
               "t3s400");
    /* The list's ranking, COMPLETED rows only, is the download's ranking. */
    ckd_det_query_list(&q, 1, 100);
    size_t idx[N(demo_fx)], k = 0;
    CKT_ASSERT_INT_EQ(ckd_det_select(&q, c, N(c), idx, &k), 0);
    char got[512] = "";
    for (size_t i = 0; i < k; i++) {
        if (c[idx[i]].state != CKD_DET_STATE_COMPLETED) continue;
        if (got[0]) strcat(got, " ");
        strcat(got, c[idx[i]].uuid);
    }
    CKT_ASSERT_STR_EQ(got, "t3s300 t1s300 t2s200 t1s200 t3s100 t2s100 t1s100 t1s400");
    fx_free(c, N(c));

    /* nulls_last holds for a named metric too: missing and NaN last. */
    static const fx f[] = {
        {"A", 1, "COMPLETED", 1, NULL, NULL, "\"loss\":0.3"},
        {"B", 1, "COMPLETED", 2, NULL, NULL, NULL},
        {"C", 1, "COMPLETED", 3, NULL, NULL, "\"acc\":0.9"},
        {"D", 1, "COMPLETED", 4, NULL, NULL, "\"loss\":0.1"},
        {"E", 1, "COMPLETED", 0, NULL, NULL, "\"loss\":0.3"},
        {"F", 1, "COMPLETED", 5, NULL, NULL, "\"loss\":\"NaN\""},
        {"G", 1, "COMPLETED", 6, NULL, NULL, "\"loss\":\"high\""},
        {"H", 1, "COMPLETED", 7, NULL, NULL, "\"loss\":\"-Infinity\""},
    };
    ckd_det_checkpoint m[N(f)];
    fx_build(f, N(f), m);
    q = query(TRI, CKD_DET_SORT_METRIC, ASC);
    q.metric = "loss";
    q.nulls_last = 1;
    EXPECT_SEL(&q, m, N(f), "H D E A B C G F");
    q.order = DESC;
    EXPECT_SEL(&q, m, N(f), "A E D H F G C B");
    CKT_ASSERT_INT_EQ(ckd_det_query_fetch_limit(&q), 0);
    fx_free(m, N(f));

    /* presets and metric names for --sort-by */
    ckd_det_query_init(&q, TRI);
    ckd_det_query_sort_by(&q, "batch_number");
    CKT_ASSERT_INT_EQ(q.sort, CKD_DET_SORT_BATCH_NUMBER);
    ckd_det_query_sort_by(&q, "SORT_BY_END_TIME");
    CKT_ASSERT_INT_EQ(q.sort, CKD_DET_SORT_END_TIME);
    ckd_det_query_sort_by(&q, "val loss");
    CKT_ASSERT_INT_EQ(q.sort, CKD_DET_SORT_METRIC);
    CKT_ASSERT_STR_EQ(q.metric, "val loss");
    ckd_det_query_sort_by(&q, NULL);
    CKT_ASSERT_INT_EQ(q.sort, CKD_DET_SORT_METRIC);
}

static void test_compare_and_names(void)
{
    ckd_det_checkpoint c[N(searcher_fx)];
    fx_build(searcher_fx, N(searcher_fx), c);
    ckd_det_query q = query(EXP, CKD_DET_SORT_SEARCHER_METRIC, ASC);
    CKT_ASSERT(ckd_det_compare(&q, &c[2], &c[0]) < 0); /* 0.2 before 0.5 */
    CKT_ASSERT(ckd_det_compare(&q, &c[0], &c[1]) < 0); /* value before null */
    CKT_ASSERT(ckd_det_compare(&q, &c[3], &c[0]) < 0); /* tie: earlier time first */
    CKT_ASSERT(ckd_det_compare(&q, &c[0], &c[0]) == 0);
    fx_free(c, N(c));

    enum ckd_det_sort s;
    CKT_ASSERT_INT_EQ(ckd_det_sort_parse("SORT_BY_BATCH_NUMBER", &s), 0);
    CKT_ASSERT_INT_EQ(s, CKD_DET_SORT_BATCH_NUMBER);
    CKT_ASSERT_INT_EQ(ckd_det_sort_parse("searcher_metric", &s), 0);
    CKT_ASSERT_INT_EQ(s, CKD_DET_SORT_SEARCHER_METRIC);
    CKT_ASSERT_INT_EQ(ckd_det_sort_parse("bogus", &s), -EINVAL);
    CKT_ASSERT_STR_EQ(ckd_det_sort_name(CKD_DET_SORT_END_TIME), "SORT_BY_END_TIME");
    enum ckd_det_order o;
    CKT_ASSERT_INT_EQ(ckd_det_order_parse("desc", &o), 0);
    CKT_ASSERT_INT_EQ(o, DESC);
    CKT_ASSERT_INT_EQ(ckd_det_order_parse("up", &o), -EINVAL);
    enum ckd_det_state st;
    CKT_ASSERT_INT_EQ(ckd_det_state_parse("STATE_PARTIALLY_DELETED", &st), 0);
    CKT_ASSERT_INT_EQ(st, 5);
    CKT_ASSERT_STR_EQ(ckd_det_state_name(CKD_DET_STATE_ERROR), "STATE_ERROR");
    CKT_ASSERT_INT_EQ(ckd_det_state_parse("COMPLETED", &st), -EINVAL);
}

static void test_query_format(void)
{
    char buf[512];
    ckd_det_query q;
    ckd_det_query_top_n(&q, 1, 3, 0);
    int n = ckd_det_query_format(&q, 0, 3, buf, sizeof buf);
    CKT_ASSERT_STR_EQ(buf, "sortByAttr=SORT_BY_SEARCHER_METRIC&states=STATE_COMPLETED"
                           "&offset=0&limit=3");
    CKT_ASSERT_INT_EQ(n, strlen(buf));
    CKT_ASSERT_INT_EQ(ckd_det_query_fetch_limit(&q), 0); /* NaN: the master may disagree */
    q = query(EXP, CKD_DET_SORT_END_TIME, DESC);
    q.max_results = 4;
    CKT_ASSERT_INT_EQ(ckd_det_query_fetch_limit(&q), 4);
    q.per_trial = 1;
    CKT_ASSERT_INT_EQ(ckd_det_query_fetch_limit(&q), 0); /* per trial: needs the whole list */

    ckd_det_query_trial_best(&q, 0);
    ckd_det_query_format(&q, 10, 0, buf, sizeof buf);
    CKT_ASSERT_STR_EQ(buf, "sortByAttr=SORT_BY_SEARCHER_METRIC&orderBy=ORDER_BY_DESC"
                           "&states=STATE_COMPLETED&states=STATE_PARTIALLY_DELETED"
                           "&offset=10&limit=0");
    CKT_ASSERT_INT_EQ(ckd_det_query_fetch_limit(&q), 0); /* nulls last on the trial route */
    ckd_det_query_trial_latest(&q);
    ckd_det_query_format(&q, 0, 1, buf, sizeof buf);
    CKT_ASSERT_STR_EQ(buf, "sortByAttr=SORT_BY_BATCH_NUMBER&orderBy=ORDER_BY_DESC"
                           "&states=STATE_COMPLETED&states=STATE_PARTIALLY_DELETED"
                           "&offset=0&limit=1");
    CKT_ASSERT_INT_EQ(ckd_det_query_fetch_limit(&q), 1);

    q = query(TRI, CKD_DET_SORT_METRIC, ASC);
    q.metric = "val loss/\xc3\xa9&x=1";
    ckd_det_query_format(&q, -5, 0, buf, sizeof buf);
    CKT_ASSERT_STR_EQ(buf, "sortByMetric=val%20loss%2F%C3%A9%26x%3D1&orderBy=ORDER_BY_ASC"
                           "&offset=-5&limit=0");
    q = query(EXP, CKD_DET_SORT_NONE, UNSP);
    ckd_det_query_format(&q, 0, 0, buf, sizeof buf);
    CKT_ASSERT_STR_EQ(buf, "offset=0&limit=0");
    CKT_ASSERT_INT_EQ(ckd_det_query_format(&q, 0, 0, buf, 10), -ENOSPC);
    CKT_ASSERT_INT_EQ(ckd_det_query_format(&q, 0, -1, buf, sizeof buf), -EINVAL);
    q.sort = CKD_DET_SORT_METRIC; /* without a name */
    CKT_ASSERT_INT_EQ(ckd_det_query_format(&q, 0, 0, buf, sizeof buf), -EINVAL);
}

/* ---- parsing: scalars ----------------------------------------------------- */

static void test_int64(void)
{
    int64_t v = 0;
#define I64(s) ckd_det_parse_int64(s, strlen(s), &v)
    CKT_ASSERT_INT_EQ(I64("0"), 0);
    CKT_ASSERT_INT_EQ(v, 0);
    CKT_ASSERT_INT_EQ(I64("9007199254740993"), 0); /* 2^53 + 1: not a double */
    CKT_ASSERT(v == 9007199254740993LL);
    CKT_ASSERT_INT_EQ(I64("9223372036854775807"), 0);
    CKT_ASSERT(v == INT64_MAX);
    CKT_ASSERT_INT_EQ(I64("-9223372036854775808"), 0);
    CKT_ASSERT(v == INT64_MIN);
    CKT_ASSERT_INT_EQ(I64("9223372036854775808"), -ERANGE);
    CKT_ASSERT_INT_EQ(I64("-9223372036854775809"), -ERANGE);
    CKT_ASSERT_INT_EQ(I64("99999999999999999999999"), -ERANGE);
    CKT_ASSERT_INT_EQ(I64(""), -EINVAL);
    CKT_ASSERT_INT_EQ(I64("-"), -EINVAL);
    CKT_ASSERT_INT_EQ(I64("+1"), -EINVAL);
    CKT_ASSERT_INT_EQ(I64(" 1"), -EINVAL);
    CKT_ASSERT_INT_EQ(I64("1a"), -EINVAL);
    CKT_ASSERT_INT_EQ(I64("1e3"), -EINVAL);
#undef I64
}

static void test_time(void)
{
    int64_t ns = 0;
#define T(s) ckd_det_parse_time(s, strlen(s), &ns)
    const int64_t base = 1709317351LL * 1000000000; /* 2024-03-01T18:22:31Z */
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31Z"), 0);
    CKT_ASSERT_INT_EQ(ns, base);
    /* 1 to 9 fraction digits. */
    static const char *fr[] = {"1",      "12",      "123",      "1234",     "12345",
                               "123456", "1234567", "12345678", "123456789"};
    static const int64_t frns[] = {100000000, 120000000, 123000000, 123400000, 123450000,
                                   123456000, 123456700, 123456780, 123456789};
    for (size_t i = 0; i < N(fr); i++) {
        char s[64];
        snprintf(s, sizeof s, "2024-03-01T18:22:31.%sZ", fr[i]);
        CKT_ASSERT_INT_EQ(T(s), 0);
        CKT_ASSERT_INT_EQ(ns, base + frns[i]);
    }
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31.1234567890Z"), -EINVAL); /* 10 digits */
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31.Z"), -EINVAL);
    /* Offsets: local time minus offset is UTC. */
    CKT_ASSERT_INT_EQ(T("2024-03-01T20:22:31+02:00"), 0);
    CKT_ASSERT_INT_EQ(ns, base);
    CKT_ASSERT_INT_EQ(T("2024-03-01T12:52:31.5-05:30"), 0);
    CKT_ASSERT_INT_EQ(ns, base + 500000000);
    CKT_ASSERT_INT_EQ(T("2024-03-01t18:22:31z"), 0);
    CKT_ASSERT_INT_EQ(ns, base);
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31+00:00"), 0);
    CKT_ASSERT_INT_EQ(ns, base);
    CKT_ASSERT_INT_EQ(T("1970-01-01T00:00:00Z"), 0);
    CKT_ASSERT_INT_EQ(ns, 0);
    CKT_ASSERT_INT_EQ(T("1969-12-31T23:59:59.5Z"), 0);
    CKT_ASSERT_INT_EQ(ns, -500000000);
    CKT_ASSERT_INT_EQ(T("2024-02-29T00:00:00Z"), 0);
    /* The ends of int64 nanoseconds, and just past them. */
    CKT_ASSERT_INT_EQ(T("2262-04-11T23:47:16.854775807Z"), 0);
    CKT_ASSERT(ns == INT64_MAX);
    CKT_ASSERT_INT_EQ(T("1677-09-21T00:12:43.145224192Z"), 0);
    CKT_ASSERT(ns == INT64_MIN);
    CKT_ASSERT_INT_EQ(T("2262-04-11T23:47:16.854775808Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("1677-09-21T00:12:43.145224191Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("9999-12-31T23:59:59Z"), -EINVAL);
    /* Bad syntax and bad dates. */
    CKT_ASSERT_INT_EQ(T("2023-02-29T00:00:00Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("2024-04-31T00:00:00Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("2024-13-01T00:00:00Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("2024-03-01T24:00:00Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31"), -EINVAL);       /* no zone */
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31+0200"), -EINVAL);  /* no colon */
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31+24:00"), -EINVAL); /* bad offset */
    CKT_ASSERT_INT_EQ(T("2024-03-01T18:22:31Zjunk"), -EINVAL);
    CKT_ASSERT_INT_EQ(T("2024-3-01T18:22:31Z"), -EINVAL);
    CKT_ASSERT_INT_EQ(T(""), -EINVAL);
#undef T
}

static void test_doubles(void)
{
    double d = 0;
    json_t *v = json_string("NaN");
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), 1);
    CKT_ASSERT(isnan(d));
    json_decref(v);
    v = json_string("Infinity");
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), 1);
    CKT_ASSERT(isinf(d) && d > 0);
    json_decref(v);
    v = json_string("-Infinity");
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), 1);
    CKT_ASSERT(isinf(d) && d < 0);
    json_decref(v);
    v = json_string("nan");
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), -EINVAL);
    json_decref(v);
    v = json_integer(3);
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), 1);
    CKT_ASSERT(d == 3.0);
    json_decref(v);
    v = json_null();
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), 0);
    CKT_ASSERT_INT_EQ(ckd_det_json_double(NULL, &d), 0);
    v = json_true();
    CKT_ASSERT_INT_EQ(ckd_det_json_double(v, &d), -EINVAL);
}

/* ---- parsing: checkpoints -------------------------------------------------- */

/* The reference's example checkpoint, plus a UTF-8 name and a big file. */
static const char *ref_checkpoint =
    "{\"checkpoint\":{\"uuid\":\"7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a\",\"taskId\":\"12.0f5b\","
    "\"allocationId\":\"12.0f5b.1\",\"reportTime\":\"2024-03-01T18:22:31.123456Z\","
    "\"state\":\"STATE_COMPLETED\",\"storageId\":1,"
    "\"resources\":{\"code/\":\"0\",\"code/model_def.py\":\"5123\",\"metadata.json\":\"142\","
    "\"state_dict.pth\":\"1379564\",\"donn\\u00e9es/\":\"0\","
    "\"donn\xc3\xa9\x65s/poids \xc3\xbc.bin\":\"9007199254740993\",\"empty\":\"0\"},"
    "\"metadata\":{\"determined_version\":\"0.38.1\",\"steps_completed\":1000,"
    "\"framework\":\"torch-2.3.1\",\"format\":\"pickle\"},"
    "\"training\":{\"trialId\":34,\"experimentId\":12,\"searcherMetric\":0.0312,"
    "\"experimentConfig\":{\"searcher\":{\"metric\":\"validation_loss\","
    "\"smaller_is_better\":false},\"checkpoint_storage\":{\"type\":\"s3\","
    "\"bucket\":\"det-ckpts\",\"prefix\":\"prod\",\"save_trial_best\":1}},"
    "\"hparams\":{\"lr\":0.01},"
    "\"trainingMetrics\":{\"avgMetrics\":{\"loss\":0.041},\"batchMetrics\":[]},"
    "\"validationMetrics\":{\"avgMetrics\":{\"validation_loss\":0.0312,\"accuracy\":0.9899},"
    "\"batchMetrics\":[]}}}}";

static void test_checkpoint_reference(void)
{
    ckd_det_checkpoint cp;
    char err[256] = "";
    int rc = ckd_det_parse_checkpoint(ref_checkpoint, strlen(ref_checkpoint), &cp, err, sizeof err);
    if (rc) CKT_FAIL("parse: %s", err);
    CKT_ASSERT_STR_EQ(cp.uuid, "7e0bad2d-7a1a-4ad6-9fd0-5f9d1c3c0f2a");
    CKT_ASSERT_INT_EQ(cp.state, CKD_DET_STATE_COMPLETED);
    CKT_ASSERT(cp.has_report_time);
    CKT_ASSERT_INT_EQ(cp.report_time, 1709317351LL * 1000000000 + 123456000);
    CKT_ASSERT(cp.has_trial_id);
    CKT_ASSERT_INT_EQ(cp.trial_id, 34);
    CKT_ASSERT_INT_EQ(cp.experiment_id, 12);
    CKT_ASSERT(cp.has_steps_completed);
    CKT_ASSERT_INT_EQ(cp.steps_completed, 1000);
    CKT_ASSERT(cp.has_searcher_metric && cp.searcher_metric == 0.0312);
    double acc = 0;
    CKT_ASSERT_INT_EQ(ckd_det_checkpoint_metric(&cp, "accuracy", &acc), 1);
    CKT_ASSERT(acc == 0.9899);
    CKT_ASSERT_INT_EQ(ckd_det_checkpoint_metric(&cp, "loss", &acc), 0); /* training metric */
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(cp.metadata, "framework")), "torch-2.3.1");
    CKT_ASSERT_STR_EQ(cp.searcher_metric_name, "validation_loss");
    CKT_ASSERT_INT_EQ(cp.smaller_is_better, 0);
    CKT_ASSERT_STR_EQ(cp.storage.type, "s3");
    CKT_ASSERT_STR_EQ(cp.storage.bucket, "det-ckpts");
    CKT_ASSERT_STR_EQ(cp.storage.prefix, "prod");
    CKT_ASSERT(cp.storage.host_path == NULL);
    /* Resources: sorted, directories without their slash. */
    CKT_ASSERT_INT_EQ(cp.n_resources, 7);
    static const char *paths[] = {
        "code",  "code/model_def.py", "donn\xc3\xa9\x65s", "donn\xc3\xa9\x65s/poids \xc3\xbc.bin",
        "empty", "metadata.json",     "state_dict.pth"};
    static const int dirs[] = {1, 0, 1, 0, 0, 0, 0};
    static const int64_t sizes[] = {0, 5123, 0, 9007199254740993LL, 0, 142, 1379564};
    int64_t total = 0;
    for (size_t i = 0; i < N(paths); i++) {
        CKT_ASSERT_STR_EQ(cp.resources[i].path, paths[i]);
        CKT_ASSERT_INT_EQ(cp.resources[i].is_dir, dirs[i]);
        CKT_ASSERT(cp.resources[i].size == sizes[i]);
        total += sizes[i];
    }
    CKT_ASSERT(cp.total_size == total);
    ckd_det_checkpoint_release(&cp);
    CKT_ASSERT(cp.uuid == NULL && cp.resources == NULL);
}

static int parse_one(const char *json, ckd_det_checkpoint *cp, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    if (!j) CKT_FAIL("bad test json %s: %s", json, je.text);
    int rc = ckd_det_checkpoint_from_json(j, cp, err, errlen);
    json_decref(j);
    return rc;
}

static void test_null_and_missing(void)
{
    /* Everything optional missing. */
    ckd_det_checkpoint a, b;
    char err[256] = "";
    CKT_ASSERT_INT_EQ(parse_one("{\"uuid\":\"u1\"}", &a, err, sizeof err), 0);
    /* Everything optional null. */
    CKT_ASSERT_INT_EQ(parse_one("{\"uuid\":\"u2\",\"state\":null,\"reportTime\":null,"
                                "\"resources\":null,\"metadata\":null,\"training\":null}",
                                &b, err, sizeof err),
                      0);
    ckd_det_checkpoint *both[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        ckd_det_checkpoint *c = both[i];
        CKT_ASSERT_INT_EQ(c->state, CKD_DET_STATE_UNSPECIFIED);
        CKT_ASSERT(!c->has_report_time && !c->has_trial_id && !c->has_steps_completed);
        CKT_ASSERT(!c->has_searcher_metric);
        CKT_ASSERT(c->metadata == NULL && c->validation_metrics == NULL);
        CKT_ASSERT_INT_EQ(c->n_resources, 0);
        CKT_ASSERT(c->storage.type == NULL && c->searcher_metric_name == NULL);
        CKT_ASSERT_INT_EQ(c->smaller_is_better, 1);
        ckd_det_checkpoint_release(c);
    }
    /* Null inside training, and in the storage config. */
    CKT_ASSERT_INT_EQ(
        parse_one("{\"uuid\":\"u3\",\"training\":{\"trialId\":\"5\",\"searcherMetric\":null,"
                  "\"validationMetrics\":{\"avgMetrics\":null},"
                  "\"experimentConfig\":{\"searcher\":{\"metric\":\"m\","
                  "\"smaller_is_better\":null},\"checkpoint_storage\":{\"type\":\"shared_fs\","
                  "\"host_path\":\"/data\",\"storage_path\":null}}}}",
                  &a, err, sizeof err),
        0);
    CKT_ASSERT(a.has_trial_id && a.trial_id == 5); /* an int as a string is fine */
    CKT_ASSERT(!a.has_searcher_metric && a.validation_metrics == NULL);
    CKT_ASSERT_INT_EQ(a.smaller_is_better, 1);
    CKT_ASSERT_STR_EQ(a.storage.host_path, "/data");
    CKT_ASSERT(a.storage.storage_path == NULL);
    ckd_det_checkpoint_release(&a);
    /* Unknown or numeric states. */
    CKT_ASSERT_INT_EQ(
        parse_one("{\"uuid\":\"u4\",\"state\":\"STATE_FROZEN\"}", &a, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(a.state, CKD_DET_STATE_UNSPECIFIED);
    ckd_det_checkpoint_release(&a);
    CKT_ASSERT_INT_EQ(parse_one("{\"uuid\":\"u5\",\"state\":2}", &a, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(a.state, CKD_DET_STATE_COMPLETED);
    ckd_det_checkpoint_release(&a);
    /* steps_completed that is not a whole number counts as missing. */
    CKT_ASSERT_INT_EQ(
        parse_one("{\"uuid\":\"u6\",\"metadata\":{\"steps_completed\":10.5}}", &a, err, sizeof err),
        0);
    CKT_ASSERT(!a.has_steps_completed);
    ckd_det_checkpoint_release(&a);
    /* Special doubles in the searcher metric and in validation metrics. */
    CKT_ASSERT_INT_EQ(
        parse_one("{\"uuid\":\"u7\",\"training\":{\"searcherMetric\":\"Infinity\","
                  "\"validationMetrics\":{\"avgMetrics\":{\"l\":\"NaN\",\"m\":\"-Infinity\"}}}}",
                  &a, err, sizeof err),
        0);
    CKT_ASSERT(a.has_searcher_metric && isinf(a.searcher_metric) && a.searcher_metric > 0);
    double d = 0;
    CKT_ASSERT_INT_EQ(ckd_det_checkpoint_metric(&a, "l", &d), 1);
    CKT_ASSERT(isnan(d));
    CKT_ASSERT_INT_EQ(ckd_det_checkpoint_metric(&a, "m", &d), 1);
    CKT_ASSERT(isinf(d) && d < 0);
    ckd_det_checkpoint_release(&a);
}

/* Parses a checkpoint that must fail; checks every needle is in the message. */
static void expect_fail(const char *json, int want_rc, ...)
{
    ckd_det_checkpoint cp;
    char err[512] = "";
    int rc = parse_one(json, &cp, err, sizeof err);
    if (rc != want_rc) CKT_FAIL("%s: rc %d, want %d (%s)", json, rc, want_rc, err);
    CKT_ASSERT(cp.uuid == NULL && cp.resources == NULL); /* left released */
    va_list ap;
    va_start(ap, want_rc);
    for (const char *n; (n = va_arg(ap, const char *));) CKT_ASSERT_CONTAINS(err, n);
    va_end(ap);
}

static void test_bad_checkpoints(void)
{
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":\"-1\"}}", -EINVAL, "'a'", "'u'", NULL);
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":1.5}}", -EINVAL, "invalid size", NULL);
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":\"1e3\"}}", -EINVAL, "'\"1e3\"'", NULL);
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":\"9223372036854775808\"}}", -EINVAL,
                "invalid size", NULL);
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":\"9223372036854775807\","
                "\"b\":\"1\"}}",
                -EINVAL, "overflows", NULL);
    expect_fail("{\"uuid\":\"u\",\"resources\":[]}", -EINVAL, "not an object", NULL);
    /* A path that is a file and a directory at once. */
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":\"1\",\"a/\":\"0\"}}", -EINVAL, "'a'",
                "both a file and a directory", NULL);
    expect_fail("{\"uuid\":\"u\",\"resources\":{\"a\":\"1\",\"a/b/c\":\"1\",\"a-b\":\"1\"}}",
                -EINVAL, "'a'", NULL);
    /* Bad scalars. */
    expect_fail("{\"uuid\":\"u\",\"reportTime\":\"yesterday\"}", -EINVAL,
                "invalid reportTime '\"yesterday\"' in checkpoint 'u'", NULL);
    expect_fail("{\"uuid\":\"u\",\"training\":{\"searcherMetric\":\"nan\"}}", -EINVAL,
                "searcherMetric", NULL);
    expect_fail("{\"uuid\":\"u\",\"training\":{\"trialId\":\"x\"}}", -EINVAL, "trialId", NULL);
    expect_fail("{\"uuid\":\"u\",\"metadata\":[1]}", -EINVAL, "metadata", NULL);
    expect_fail("{\"uuid\":\"u\",\"training\":{\"experimentConfig\":{\"checkpoint_storage\":"
                "{\"type\":\"s3\",\"bucket\":7}}}}",
                -EINVAL, "'bucket'", "checkpoint 'u'", NULL);
    expect_fail("{\"uuid\":\"u\",\"training\":{\"experimentConfig\":{\"searcher\":"
                "{\"smaller_is_better\":\"yes\"}}}}",
                -EINVAL, "smaller_is_better", NULL);
    /* The uuid becomes a directory name. */
    expect_fail("{\"uuid\":\"../x\"}", -EINVAL, "invalid checkpoint uuid '../x'", NULL);
    expect_fail("{\"uuid\":\"\"}", -EINVAL, "uuid", NULL);
    expect_fail("{\"state\":\"STATE_COMPLETED\"}", -EINVAL, "without a uuid", NULL);
}

static void test_unsafe_paths(void)
{
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"ok\":\"1\",\"../evil\":\"5\"}}", -EINVAL,
                "unsafe resource path '../evil' in checkpoint 'U'", NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"/etc/passwd\":\"5\"}}", -EINVAL, "'/etc/passwd'",
                "absolute", NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"a/../../b\":\"5\"}}", -EINVAL, "'a/../../b'",
                NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"\":\"5\"}}", -EINVAL,
                "unsafe resource path '' in checkpoint 'U'", NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"/\":\"0\"}}", -EINVAL, "'/'", NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"a//b\":\"5\"}}", -EINVAL, "'a//b'", NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"./a\":\"5\"}}", -EINVAL, "'./a'", NULL);
    expect_fail("{\"uuid\":\"U\",\"resources\":{\"..//\":\"0\"}}", -EINVAL, "'..//'", NULL);

    /* NUL and invalid UTF-8 cannot come through json_loads, but a caller
     * may build objects itself: the key length is honoured. */
    json_t *res = json_object(), *obj = json_pack("{s:s}", "uuid", "U");
    CKT_ASSERT(json_object_setn_new_nocheck(res, "a\0b", 3, json_string("1")) == 0);
    json_object_set_new(obj, "resources", res);
    ckd_det_checkpoint cp;
    char err[256] = "";
    CKT_ASSERT_INT_EQ(ckd_det_checkpoint_from_json(obj, &cp, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "unsafe resource path 'a\\x00b' in checkpoint 'U'");
    json_object_clear(res);
    CKT_ASSERT(json_object_set_new_nocheck(res, "bad\xff", json_string("1")) == 0);
    CKT_ASSERT_INT_EQ(ckd_det_checkpoint_from_json(obj, &cp, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "UTF-8");
    json_decref(obj);

    /* In a reply body, a "\u0000" key is refused while reading the JSON; the
     * message still shows the key. */
    const char *body = "{\"checkpoints\":[{\"uuid\":\"U\",\"resources\":{\"a\\u0000b\":\"1\"}}],"
                       "\"pagination\":null}";
    ckd_det_list list;
    CKT_ASSERT_INT_EQ(ckd_det_parse_list(body, strlen(body), &list, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "a\\u0000b");
    CKT_ASSERT(list.n == 0 && list.items == NULL);
}

/* ---- parsing: replies ----------------------------------------------------- */

static void test_list_envelope(void)
{
    const char *body = "{\"checkpoints\":[{\"uuid\":\"a\",\"state\":\"STATE_COMPLETED\"},"
                       "{\"uuid\":\"b\",\"state\":\"STATE_ERROR\"}],"
                       "\"pagination\":{\"offset\":0,\"limit\":2,\"startIndex\":0,"
                       "\"endIndex\":2,\"total\":3}}";
    char err[256] = "";
    ckd_det_list all, page;
    memset(&all, 0, sizeof all);
    CKT_ASSERT_INT_EQ(ckd_det_parse_list(body, strlen(body), &page, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(page.n, 2);
    CKT_ASSERT(page.page.present);
    CKT_ASSERT_INT_EQ(page.page.end_index, 2);
    CKT_ASSERT_INT_EQ(page.page.total, 3);
    CKT_ASSERT_INT_EQ(ckd_det_list_take(&all, &page), 0);
    CKT_ASSERT(page.n == 0 && page.items == NULL);
    body = "{\"checkpoints\":[{\"uuid\":\"c\"}],\"pagination\":{\"offset\":2,\"limit\":2,"
           "\"startIndex\":2,\"endIndex\":3,\"total\":3}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_list(body, strlen(body), &page, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(ckd_det_list_take(&all, &page), 0);
    CKT_ASSERT_INT_EQ(all.n, 3);
    CKT_ASSERT_STR_EQ(all.items[2].uuid, "c");
    CKT_ASSERT_INT_EQ(all.page.end_index, 3);
    ckd_det_list_release(&all);

    /* Empty: no checkpoints key at all, no pagination. */
    CKT_ASSERT_INT_EQ(ckd_det_parse_list("{}", 2, &page, err, sizeof err), 0);
    CKT_ASSERT(page.n == 0 && !page.page.present);
    ckd_det_list_release(&page);

    /* One bad checkpoint fails the whole page. */
    body = "{\"checkpoints\":[{\"uuid\":\"a\"},{\"uuid\":\"b\",\"resources\":"
           "{\"../evil\":\"1\"}}]}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_list(body, strlen(body), &page, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "unsafe resource path '../evil' in checkpoint 'b'");
    CKT_ASSERT(page.n == 0 && page.items == NULL);

    body = "{\"checkpoints\":[],\"pagination\":{\"startIndex\":3,\"endIndex\":2,\"total\":1}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_list(body, strlen(body), &page, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "pagination");
    CKT_ASSERT_INT_EQ(ckd_det_parse_list("[1]", 3, &page, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "not a json object");
    CKT_ASSERT_INT_EQ(ckd_det_parse_list("{\"checkpoints\":", 15, &page, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "invalid json in checkpoint list");
    /* The size cap is checked before the body is read. */
    CKT_ASSERT_INT_EQ(
        ckd_det_parse_list("{}", (size_t)CKD_DET_MAX_BODY + 1, &page, err, sizeof err), -E2BIG);
    CKT_ASSERT_CONTAINS(err, "too large");
}

static void test_experiment(void)
{
    const char *body =
        "{\"experiment\":{\"id\":1,\"name\":\"demo\",\"state\":\"STATE_COMPLETED\"},"
        "\"jobSummary\":null,\"config\":{\"searcher\":{\"name\":\"single\","
        "\"metric\":\"validation_loss\"},\"checkpoint_storage\":{\"type\":\"shared_fs\","
        "\"host_path\":\"/data\",\"storage_path\":null,\"save_experiment_best\":0}}}";
    ckd_det_experiment e;
    char err[256] = "";
    CKT_ASSERT_INT_EQ(ckd_det_parse_experiment(body, strlen(body), &e, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(e.id, 1);
    CKT_ASSERT_STR_EQ(e.name, "demo");
    CKT_ASSERT_STR_EQ(e.searcher_metric_name, "validation_loss");
    CKT_ASSERT_INT_EQ(e.smaller_is_better, 1); /* default */
    CKT_ASSERT_STR_EQ(e.storage.type, "shared_fs");
    CKT_ASSERT_STR_EQ(e.storage.host_path, "/data");
    CKT_ASSERT(e.storage.storage_path == NULL);
    ckd_det_experiment_release(&e);

    body = "{\"experiment\":{\"id\":\"2\"},\"config\":{\"searcher\":{\"metric\":\"accuracy\","
           "\"smaller_is_better\":false},\"checkpoint_storage\":{\"type\":\"directory\","
           "\"container_path\":\"/mnt/ckpt\"}}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_experiment(body, strlen(body), &e, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(e.id, 2);
    CKT_ASSERT(e.name == NULL);
    CKT_ASSERT_INT_EQ(e.smaller_is_better, 0);
    CKT_ASSERT_STR_EQ(e.storage.container_path, "/mnt/ckpt");
    ckd_det_experiment_release(&e);

    body = "{\"experiment\":{\"name\":\"x\"},\"config\":{}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_experiment(body, strlen(body), &e, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "no experiment id");
    body = "{\"experiment\":{\"id\":3},\"config\":{\"checkpoint_storage\":{\"bucket\":\"b\"}}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_experiment(body, strlen(body), &e, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "no type");
}

static void test_login_and_errors(void)
{
    char *tok = NULL, err[256] = "", msg[128];
    const char *body = "{\"token\":\"v2.public.abc\",\"user\":{\"username\":\"determined\"}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_login(body, strlen(body), &tok, err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(tok, "v2.public.abc");
    free(tok);
    CKT_ASSERT_INT_EQ(ckd_det_parse_login("{\"token\":\"\"}", 12, &tok, err, sizeof err), -EINVAL);
    CKT_ASSERT(tok == NULL);

    int code = -1;
    body = "{\"error\":{\"code\":16,\"reason\":\"Unauthenticated\",\"error\":\"invalid "
           "credentials\"}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_error(body, strlen(body), &code, msg, sizeof msg), 0);
    CKT_ASSERT_INT_EQ(code, 16);
    CKT_ASSERT_STR_EQ(msg, "invalid credentials");
    body = "{\"error\":{\"code\":5,\"reason\":\"Not Found\",\"error\":\"\"}}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_error(body, strlen(body), &code, msg, sizeof msg), 0);
    CKT_ASSERT_STR_EQ(msg, "Not Found");
    body = "{\"message\":\"checkpoint not found\"}";
    CKT_ASSERT_INT_EQ(ckd_det_parse_error(body, strlen(body), &code, msg, sizeof msg), 0);
    CKT_ASSERT_INT_EQ(code, 0);
    CKT_ASSERT_STR_EQ(msg, "checkpoint not found");
    CKT_ASSERT_INT_EQ(ckd_det_parse_error("<html>", 6, &code, msg, sizeof msg), -EINVAL);
}

/* ---- storage paths -------------------------------------------------------- */

static void expect_path(ckd_det_storage *st, const char *rel, const char *want)
{
    char *out = NULL, err[256] = "";
    int rc = ckd_det_storage_local_path(st, "U-1", rel, &out, err, sizeof err);
    if (rc) CKT_FAIL("local path of '%s': %d %s", rel ? rel : "(null)", rc, err);
    CKT_ASSERT_STR_EQ(out, want);
    free(out);
}

static void test_storage_paths(void)
{
    ckd_det_storage st;
    memset(&st, 0, sizeof st);
    char *out = NULL, err[256] = "";
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "U", "a", &out, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "no checkpoint storage");

    st.type = "shared_fs";
    st.host_path = "/data";
    expect_path(&st, "a/b.bin", "/data/U-1/a/b.bin");
    expect_path(&st, NULL, "/data/U-1");
    expect_path(&st, "donn\xc3\xa9\x65s/poids \xc3\xbc.bin",
                "/data/U-1/donn\xc3\xa9\x65s/poids \xc3\xbc.bin");
    st.host_path = "/data//";
    expect_path(&st, "x", "/data/U-1/x");
    st.storage_path = "sub/dir";
    expect_path(&st, "x", "/data/sub/dir/U-1/x"); /* relative to host_path */
    st.host_path = "/data";
    st.storage_path = "/data/sub"; /* absolute, under host_path */
    expect_path(&st, "x", "/data/sub/U-1/x");
    st.storage_path = "/data";
    expect_path(&st, "x", "/data/U-1/x");
    st.storage_path = "/database"; /* a prefix, not a parent */
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "U", "x", &out, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "storage_path '/database' is not under host_path '/data'");
    st.host_path = "/";
    expect_path(&st, "x", "/database/U-1/x");
    st.storage_path = NULL;
    expect_path(&st, "x", "/U-1/x");
    st.host_path = "relative";
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "U", "x", &out, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "absolute host_path");
    st.host_path = NULL;
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "U", "x", &out, err, sizeof err), -EINVAL);

    st.type = "directory";
    st.container_path = "/mnt/c/";
    expect_path(&st, "m.json", "/mnt/c/U-1/m.json");

    /* Unsafe input is refused even though the parser already checks it. */
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "U", "../x", &out, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "unsafe resource path '../x' in checkpoint 'U'");
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "..", "x", &out, err, sizeof err), -EINVAL);
    CKT_ASSERT_CONTAINS(err, "invalid checkpoint uuid '..'");
    CKT_ASSERT(out == NULL);

    st.type = "s3";
    st.bucket = "b";
    CKT_ASSERT_INT_EQ(ckd_det_storage_local_path(&st, "U", "x", &out, err, sizeof err), -ENOTSUP);
    CKT_ASSERT_STR_EQ(err, "storage type 's3' is not supported yet");
}

int main(void)
{
    CKT_RUN(test_sort_trial_id);
    CKT_RUN(test_sort_batch_number);
    CKT_RUN(test_sort_end_time);
    CKT_RUN(test_sort_uuid);
    CKT_RUN(test_sort_state);
    CKT_RUN(test_sort_searcher_trial_route);
    CKT_RUN(test_sort_searcher_experiment_route);
    CKT_RUN(test_sort_metric_name);
    CKT_RUN(test_states_and_max_results);
    CKT_RUN(test_top_n);
    CKT_RUN(test_one_ranking_rule);
    CKT_RUN(test_trial_best_latest_uuid);
    CKT_RUN(test_compare_and_names);
    CKT_RUN(test_query_format);
    CKT_RUN(test_int64);
    CKT_RUN(test_time);
    CKT_RUN(test_doubles);
    CKT_RUN(test_checkpoint_reference);
    CKT_RUN(test_null_and_missing);
    CKT_RUN(test_bad_checkpoints);
    CKT_RUN(test_unsafe_paths);
    CKT_RUN(test_list_envelope);
    CKT_RUN(test_experiment);
    CKT_RUN(test_login_and_errors);
    CKT_RUN(test_storage_paths);
    CKT_DONE();
}
