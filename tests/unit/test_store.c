/* Unit tests for the store: a database file that is not a sound ckptd
 * database stops the open (never started over), no storage secret is
 * written into a unit's checkpoint record, and marks of verified files
 * round-trip. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckt_test.h"
#include "fsutil.h"
#include "storage_auth.h"
#include "store.h"

static char tmpdir[] = "/tmp/ckd-test-store.XXXXXX";

static char *path_in(const char *name)
{
    char *p = ckd_path_join(tmpdir, name);
    CKT_ASSERT(p != NULL);
    return p;
}

static void test_open_refuses_bad_files(void)
{
    ckd_store s;
    /* Empty (0 bytes). */
    char *empty = path_in("empty.db");
    ckt_write_file(empty, "");
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, empty), -EINVAL);
    /* Not SQLite at all. */
    char *junk = path_in("junk.db");
    ckt_write_file(junk, "this is not a database, but it is long enough to look like one......"
                         "................................................................");
    CKT_ASSERT(ckd_store_open(&s, junk) < 0);
    /* Someone else's SQLite database. */
    char *foreign = path_in("foreign.db");
    sqlite3 *db;
    CKT_ASSERT_INT_EQ(sqlite3_open(foreign, &db), SQLITE_OK);
    CKT_ASSERT_INT_EQ(
        sqlite3_exec(db, "CREATE TABLE photos(x); INSERT INTO photos VALUES(1);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, foreign), -EINVAL);
    /* A sound one, made by the store, opens again; then truncated, it does not. */
    char *good = path_in("good.db");
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, good), 0);
    for (int i = 0; i < 200; i++) {
        ckd_store_log(&s, 1, 0, "info",
                      "a log line long enough to fill a few pages of the database file......");
    }
    ckd_store_commit(&s);
    ckd_store_close(&s);
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, good), 0);
    ckd_store_close(&s);
    char *wal = path_in("good.db-wal");
    unlink(wal);
    CKT_ASSERT_INT_EQ(truncate(good, 4096 * 3), 0);
    CKT_ASSERT(ckd_store_open(&s, good) < 0);
    /* A path with no file is a new database. */
    char *fresh = path_in("fresh.db");
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, fresh), 0);
    ckd_store_close(&s);
    free(empty);
    free(junk);
    free(foreign);
    free(good);
    free(wal);
    free(fresh);
}

static int find_checkpoint(void *ud, const ckd_unit_row *r)
{
    *(char **)ud = r->checkpoint ? strdup(r->checkpoint) : NULL;
    return 0;
}

static void test_no_secret_stored(void)
{
    ckd_store s;
    char *p = path_in("units.db");
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, p), 0);
    const char *cp =
        "{\"uuid\":\"u1\",\"training\":{\"experimentConfig\":{\"checkpoint_storage\":{"
        "\"type\":\"azure\",\"container\":\"c\",\"account_key\":\"KEY\","
        "\"account_url\":\"https://acct.blob.core.windows.net/?sv=2024&sig=SASSECRET\","
        "\"connection_string\":\"AccountKey=KEY2\"}}}}";
    ckd_unit_row r = {.job_id = 1,
                      .idx = 0,
                      .kind = 1,
                      .target = "/t",
                      .staging = "/s",
                      .storage = "azure",
                      .checkpoint = cp};
    CKT_ASSERT_INT_EQ(ckd_store_unit_insert(&s, &r), 0);
    ckd_store_commit(&s);
    char *got = NULL;
    ckd_store_each_unit(&s, 1, find_checkpoint, &got);
    CKT_ASSERT(got != NULL);
    CKT_ASSERT(strstr(got, "SASSECRET") == NULL && strstr(got, "sig=") == NULL);
    CKT_ASSERT(strstr(got, "KEY") == NULL);
    CKT_ASSERT(strstr(got, "\"account_url\":\"https://acct.blob.core.windows.net/\"") != NULL);
    free(got);
    ckd_store_close(&s);
    free(p);
    /* The helper: userinfo too. */
    json_t *st = json_pack("{s:s, s:s}", "endpoint_url", "http://u:pw@h:9/p?x=1", "type", "s3");
    ckd_storage_scrub(st);
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(st, "endpoint_url")), "http://***@h:9/p");
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(st, "type")), "s3");
    json_decref(st);
}

/* Marks: many verified files per row, read back in order; hostile lines
 * in a row are skipped; a validator that would break a line is refused;
 * deleting the job removes its marks. */
struct marks_seen {
    int n;
    char text[1024];
};

static int marks_cb(void *ud, int idx, int64_t size, const char *hash, const char *validator)
{
    struct marks_seen *m = ud;
    size_t l = strlen(m->text);
    snprintf(m->text + l, sizeof(m->text) - l, "%d:%lld:%.4s:%s;", idx, (long long)size, hash,
             validator ? validator : "-");
    m->n++;
    return 0;
}

static void test_marks(void)
{
    ckd_store s;
    char *p = path_in("marks.db");
    CKT_ASSERT_INT_EQ(ckd_store_open(&s, p), 0);
    const char *h = "0123456789abcdef0123456789abcdef";
    CKT_ASSERT_INT_EQ(ckd_store_mark_verified(&s, 7, 0, 16384, h, "\"etag-0\""), 0);
    CKT_ASSERT_INT_EQ(ckd_store_mark_verified(&s, 7, 5, 0, h, NULL), 0);
    CKT_ASSERT_INT_EQ(ckd_store_mark_verified(&s, 8, 1, 1, h, NULL), 0); /* another job */
    CKT_ASSERT_INT_EQ(ckd_store_mark_verified(&s, 7, 2, 3, h, "a\tb"), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_store_mark_verified(&s, 7, 2, 3, "xyz", NULL), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_store_commit(&s), 0);
    CKT_ASSERT_INT_EQ(sqlite3_exec(s.db,
                                   "INSERT INTO file_marks(job_id, data) VALUES(7, "
                                   "'x\t1\t0123456789abcdef0123456789abcdef\n"
                                   "-1\t1\t0123456789abcdef0123456789abcdef\n"
                                   "3\t-5\t0123456789abcdef0123456789abcdef\n"
                                   "3\t5\tshort\n\n3\t9\t0123456789abcdef0123456789abcdef')",
                                   NULL, NULL, NULL),
                      SQLITE_OK);
    struct marks_seen m = {0};
    CKT_ASSERT_INT_EQ(ckd_store_each_mark(&s, 7, marks_cb, &m), 0);
    CKT_ASSERT_STR_EQ(m.text, "0:16384:0123:\"etag-0\";5:0:0123:-;3:9:0123:-;");
    CKT_ASSERT_INT_EQ(ckd_store_job_delete(&s, 7), 0);
    CKT_ASSERT_INT_EQ(ckd_store_commit(&s), 0);
    struct marks_seen none = {0}, other = {0};
    CKT_ASSERT_INT_EQ(ckd_store_each_mark(&s, 7, marks_cb, &none), 0);
    CKT_ASSERT_INT_EQ(none.n, 0);
    CKT_ASSERT_INT_EQ(ckd_store_each_mark(&s, 8, marks_cb, &other), 0);
    CKT_ASSERT_STR_EQ(other.text, "1:1:0123:-;");
    ckd_store_close(&s);
    free(p);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) CKT_FAIL("mkdtemp");
    CKT_RUN(test_open_refuses_bad_files);
    CKT_RUN(test_no_secret_stored);
    CKT_RUN(test_marks);
    ckd_rm_rf(tmpdir);
    CKT_DONE();
}
