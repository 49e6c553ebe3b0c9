/* Unit tests for the job state machine and submit validation, on a real
 * loop and a real SQLite store in a temporary directory. Each test ends with
 * every handle closed and uv_loop_close() == 0. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckp.h"
#include "ckt_test.h"
#include "control.h"
#include "fsutil.h"
#include "job.h"
#include "outcome.h"
#include "schedule.h"
#include "submit.h"
#include "xfer.h"

static char tmpdir[] = "/tmp/ckd-test-job.XXXXXX";

static void setup(ckd_daemon *d, uv_loop_t *loop)
{
    memset(d, 0, sizeof(*d));
    CKT_ASSERT_INT_EQ(uv_loop_init(loop), 0);
    d->loop = loop;
    ckd_config_init(&d->cfg);
    char *db = ckd_path_join(tmpdir, "t.db");
    CKT_ASSERT_INT_EQ(ckd_store_open(&d->store, db), 0);
    free(db);
    CKT_ASSERT_INT_EQ(ckd_xfer_engine_init(d, ckd_outcome_report), 0);
    uv_timer_init(loop, &d->kick);
    ckd_sched_init(d);
}

static void teardown(ckd_daemon *d)
{
    d->stopping = 1; /* the pending kick must not start anything */
    ckd_xfer_engine_close(d);
    uv_close((uv_handle_t *)&d->kick, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);
    ckd_jobs_free(d);
    ckd_store_close(&d->store);
    CKT_ASSERT_INT_EQ(uv_loop_close(d->loop), 0);
}

static int submit(ckd_daemon *d, const char *json, ckd_job **j, char *why)
{
    json_t *p = json_loads(json, 0, NULL);
    CKT_ASSERT(p != NULL);
    json_t *data = NULL;
    int rc = ckd_job_submit(d, p, j, why, 256, &data);
    json_decref(p);
    json_decref(data);
    return rc;
}

#define URL_JOB(files)                                                                             \
    "{\"source\":{\"kind\":\"urls\",\"files\":[" files "]},\"output\":\"/tmp/x\"}"

static void test_transitions(void)
{
    uv_loop_t loop;
    ckd_daemon d;
    setup(&d, &loop);
    char why[256];
    ckd_job *j;
    CKT_ASSERT_INT_EQ(
        submit(&d, URL_JOB("{\"url\":\"http://127.0.0.1:1/a\",\"path\":\"a\"}"), &j, why), 0);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_QUEUED);
    CKT_ASSERT_INT_EQ(ckd_job_pause(j), 0);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_PAUSED);
    CKT_ASSERT_INT_EQ(ckd_job_pause(j), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_resume(j), 0);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_QUEUED);
    CKT_ASSERT_INT_EQ(ckd_job_resume(j), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_cancel(j), 0);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_CANCELED);
    CKT_ASSERT_INT_EQ(ckd_job_cancel(j), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_resume(j), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_pause(j), CKP_RPC_BAD_TRANSITION);

    /* failed: resumable; done: final */
    ckd_job *k;
    CKT_ASSERT_INT_EQ(
        submit(&d, URL_JOB("{\"url\":\"http://127.0.0.1:1/b\",\"path\":\"b\"}"), &k, why), 0);
    ckd_job_set_state(k, CKD_JOB_FAILED, "boom");
    CKT_ASSERT_STR_EQ(k->error, "boom");
    CKT_ASSERT_INT_EQ(ckd_job_pause(k), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_resume(k), 0);
    CKT_ASSERT(k->error == NULL);
    /* Only a running job can be done; the table refuses the shortcut. */
    CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_QUEUED, CKD_JOB_DONE), 0);
    CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_DONE, CKD_JOB_RUNNING), 0);
    CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_CANCELED, CKD_JOB_RUNNING), 0);
    CKT_ASSERT_INT_EQ(ckd_file_transition_ok(CKD_FILE_VERIFIED, CKD_FILE_ACTIVE), 0);
    CKT_ASSERT_INT_EQ(ckd_file_transition_ok(CKD_FILE_FETCHED, CKD_FILE_VERIFIED), 1);
    CKT_ASSERT_INT_EQ(ckd_job_set_state(k, CKD_JOB_RUNNING, NULL), 0);
    CKT_ASSERT_INT_EQ(ckd_job_set_state(k, CKD_JOB_DONE, NULL), 0);
    CKT_ASSERT_INT_EQ(ckd_job_pause(k), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_resume(k), CKP_RPC_BAD_TRANSITION);
    CKT_ASSERT_INT_EQ(ckd_job_cancel(k), CKP_RPC_BAD_TRANSITION);

    /* Every transition was persisted. */
    ckd_store_commit(&d.store);
    sqlite3_stmt *st;
    CKT_ASSERT_INT_EQ(
        sqlite3_prepare_v2(d.store.db, "SELECT state FROM jobs ORDER BY id", -1, &st, NULL),
        SQLITE_OK);
    CKT_ASSERT_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CKT_ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "canceled");
    CKT_ASSERT_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    CKT_ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "done");
    sqlite3_finalize(st);
    teardown(&d);
}

static void test_submit_validation(void)
{
    uv_loop_t loop;
    ckd_daemon d;
    setup(&d, &loop);
    struct {
        const char *json;
        int code;
        const char *why;
    } cases[] = {
        {"{\"source\":{\"kind\":\"urls\",\"files\":[{\"url\":\"http://h/"
         "a\",\"path\":\"a\"}]},\"output\":\"rel\"}",
         CKP_RPC_INVALID_PARAMS, "'output' must be an absolute path"},
        {URL_JOB("{\"url\":\"http://h/a\",\"path\":\"../a\"}"), CKP_RPC_UNSAFE_PATH,
         "unsafe path '../a': '..' segment"},
        {URL_JOB("{\"url\":\"http://h/a\",\"path\":\"/etc/a\"}"), CKP_RPC_UNSAFE_PATH,
         "unsafe path '/etc/a': absolute path"},
        {URL_JOB("{\"url\":\"http://h/a\",\"path\":\"a\"},{\"url\":\"http://h/b\",\"path\":\"a\"}"),
         CKP_RPC_INVALID_PARAMS, "two files share the path 'a'"},
        {URL_JOB(
             "{\"url\":\"http://h/a\",\"path\":\"a\"},{\"url\":\"http://h/b\",\"path\":\"a/b\"}"),
         CKP_RPC_INVALID_PARAMS, "'a' is both a file and a directory"},
        {URL_JOB("{\"url\":\"ftp://h/a\",\"path\":\"a\"}"), CKP_RPC_INVALID_PARAMS,
         "file 0: only http and https URLs are supported"},
        {URL_JOB("{\"url\":\"http://h/a\",\"path\":\"a\",\"xxh128\":\"xyz\"}"),
         CKP_RPC_INVALID_PARAMS, "file 0: 'xxh128' must be 32 hex digits"},
        {URL_JOB("{\"url\":\"http://h/a\",\"path\":\"a\",\"size\":-1}"), CKP_RPC_INVALID_PARAMS,
         "file 0: 'size' must be a non-negative integer"},
        {URL_JOB(""), CKP_RPC_INVALID_PARAMS,
         "'source.files' must be an array of 1 to 100000 files"},
        {"{\"source\":{\"kind\":\"urls\",\"files\":[{\"url\":\"http://h/a\",\"path\":\"x\"},"
         "{\"url\":\"http://h/b.zst\",\"path\":\"x.zst\"}]},\"output\":\"/tmp/x\","
         "\"options\":{\"decompress\":true}}",
         CKP_RPC_INVALID_PARAMS, "two files share the path 'x'"},
        {"{\"source\":{\"kind\":\"nope\"},\"output\":\"/tmp/x\"}", CKP_RPC_INVALID_PARAMS,
         "unknown source kind 'nope'"},
        {"{\"source\":{\"kind\":\"checkpoint\",\"uuid\":\"abc-1\"},\"output\":\"/tmp/x\"}",
         CKP_RPC_INVALID_PARAMS,
         "no Determined master: give -m/--master URL or DET_MASTER, or start ckptd with "
         "--master URL or DET_MASTER"},
        {"{\"source\":{\"kind\":\"checkpoint\",\"uuid\":\"../x\"},\"output\":\"/tmp/x\"}",
         CKP_RPC_INVALID_PARAMS, "'uuid' must be a checkpoint uuid"},
        {"{\"source\":{\"kind\":\"trial\",\"id\":3,\"select\":\"worst\"},\"output\":\"/tmp/x\"}",
         CKP_RPC_INVALID_PARAMS, "'select' must be \"best\", \"latest\" or \"uuid\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char why[256] = "";
        ckd_job *j = NULL;
        int rc = submit(&d, cases[i].json, &j, why);
        if (rc != cases[i].code)
            CKT_FAIL("case %zu: got %d want %d (%s)", i, rc, cases[i].code, why);
        CKT_ASSERT_STR_EQ(why, cases[i].why);
        CKT_ASSERT(j == NULL);
    }
    /* Nothing was recorded for refused jobs. */
    CKT_ASSERT(d.jobs == NULL);
    teardown(&d);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) CKT_FAIL("mkdtemp");
    CKT_RUN(test_transitions);
    CKT_RUN(test_submit_validation);
    ckd_rm_rf(tmpdir);
    CKT_DONE();
}
