/* In-process engine tests: the job core on a real libuv loop and a real
 * SQLite store in a temporary directory, opened and closed through
 * ckd_engine_open/stop/close (no socket, no nginx, no python).
 *
 * The test plays the fetch source. With d->cfg.max_connections = 0 the
 * scheduler starts no source at all (no HTTP transfer, copy or archive),
 * so the test lays a file out as the scheduler would before starting a
 * transfer, writes the bytes into the file's staging path and delivers
 * plain ckd_outcome values through ckd_outcome_report, as every source
 * does. Where the scheduler's own steps are under test (a reset before a
 * refetch, honouring a segment's back-off) the test opens connections for
 * files whose URLs are file://: those the scheduler hands to the real,
 * cheap local copy source (copy.c), never to HTTP.
 *
 * Every test ends with ckd_engine_close() == 0, i.e. every handle closed
 * and uv_loop_close() == 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckp.h"
#include "ckt_test.h"
#include "copy.h"
#include "engine.h"
#include "fsutil.h"
#include "hash.h"
#include "history.h"
#include "job.h"
#include "job_view.h"
#include "log.h"
#include "masters.h"
#include "outcome.h"
#include "spec.h"
#include "submit.h"

static char tmpdir[] = "/tmp/ckd-test-engine.XXXXXX";

/* ---- failing allocations ------------------------------------------------
 * The test executable is linked with -Wl,--wrap for malloc, calloc, realloc
 * and strdup, so every allocation made by the engine's objects (the static
 * library ckd) and by this file comes through here. Off (0) by default;
 * fail_at = N makes the Nth allocation from then on return NULL, once.
 * Counted with atomics: pool threads allocate too. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static atomic_long alloc_count;   /* allocations since the mode was armed */
static atomic_long alloc_fail_at; /* 0: never fail */
static atomic_int alloc_failed;   /* the one failure happened */

static int alloc_should_fail(void)
{
    long at = atomic_load(&alloc_fail_at);
    if (at == 0) return 0;
    if (atomic_fetch_add(&alloc_count, 1) + 1 != at) return 0;
    atomic_store(&alloc_failed, 1);
    errno = ENOMEM;
    return 1;
}

void *__wrap_malloc(size_t n)
{
    return alloc_should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return alloc_should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return alloc_should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return alloc_should_fail() ? NULL : __real_strdup(s);
}

static void alloc_arm(long fail_at)
{
    atomic_store(&alloc_count, 0);
    atomic_store(&alloc_failed, 0);
    atomic_store(&alloc_fail_at, fail_at);
}

/* ---- the engine under test --------------------------------------------- */

typedef struct eng {
    uv_loop_t loop;
    ckd_daemon d;
    char dir[512];   /* this test's directory */
    char state[600]; /* the state directory (ckptd.db) */
    char out[600];   /* jobs' output */
    char src[600];   /* files served through file:// */
} eng;

static void mkdir_or_die(const char *p)
{
    CKT_ASSERT_INT_EQ(ckd_mkdir_p(p), 0);
}

static void eng_open_opts(eng *e, const char *name, const char *master_url)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "%s/%s", tmpdir, name);
    snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
    snprintf(e->out, sizeof(e->out), "%s/out", e->dir);
    snprintf(e->src, sizeof(e->src), "%s/src", e->dir);
    mkdir_or_die(e->dir);
    mkdir_or_die(e->src);
    CKT_ASSERT_INT_EQ(uv_loop_init(&e->loop), 0);
    e->d.loop = &e->loop;
    e->d.state_dir = e->state;
    ckd_engine_opts o = {.state_dir = e->state, .socket_path = NULL, .master_url = master_url};
    CKT_ASSERT_INT_EQ(ckd_engine_open(&e->d, &o), 0);
    e->d.cfg.max_connections = 0; /* the test is the source */
    e->d.cfg.disk_reserve = 0;
}

static void eng_open(eng *e, const char *name)
{
    eng_open_opts(e, name, NULL);
}

static void eng_close(eng *e)
{
    ckd_engine_stop(&e->d);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    CKT_ASSERT_INT_EQ(ckd_engine_close(&e->d), 0);
}

static void dump(eng *e)
{
    for (ckd_job *j = e->d.jobs; j; j = j->next) {
        fprintf(stderr, "job %lld: %s prepared=%d busy=%d xfers=%d error=%s\n", (long long)j->id,
                ckd_job_state_name(j->state), j->prepared, j->busy, j->xfers,
                j->error ? j->error : "-");
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            fprintf(stderr, "  file %zu '%s': %s reset_pending=%d io=%d error=%s\n", i, f->path,
                    ckd_file_state_name(f->state), f->reset_pending, f->io,
                    f->error ? f->error : "-");
        }
    }
}

/* Runs the loop until cond holds; fails the test after ms milliseconds.
 * The engine's tick (250 ms) bounds how long one iteration can block. */
#define RUN_UNTIL(e, cond, ms)                                                                     \
    do {                                                                                           \
        uint64_t ckt_dl_ = ckd_now_ms() + (ms);                                                    \
        while (!(cond)) {                                                                          \
            if (ckd_now_ms() > ckt_dl_) {                                                          \
                dump(e);                                                                           \
                CKT_FAIL("timed out after %d ms waiting for %s", (int)(ms), #cond);                \
            }                                                                                      \
            uv_run(&(e)->loop, UV_RUN_ONCE);                                                       \
        }                                                                                          \
    } while (0)

static void run_for(eng *e, uint64_t ms)
{
    uint64_t end = ckd_now_ms() + ms;
    while (ckd_now_ms() < end) uv_run(&e->loop, UV_RUN_ONCE);
}

/* Nothing of the HTTP source is running (the test plays it). */
static void assert_no_transfers(eng *e, ckd_job *j)
{
    CKT_ASSERT_INT_EQ(e->d.xe.active, 0);
    CKT_ASSERT_INT_EQ(j->xfers, 0);
    for (size_t i = 0; i < j->nfiles; i++)
        for (int k = 0; k < j->files[i].nsegs; k++) CKT_ASSERT(j->files[i].segs[k].xfer == NULL);
}

/* The scheduler admits a queued job (queued -> running, prepare pass) only
 * with a free connection: one pass with one connection, run without
 * waiting so the prepare pass cannot end and be followed by a scheduling
 * pass in the same iteration; then no connections again. */
static void admit(eng *e, ckd_job *j)
{
    /* One pass admits every queued job: j may be running already. */
    CKT_ASSERT(j->state == CKD_JOB_QUEUED || j->state == CKD_JOB_RUNNING);
    e->d.cfg.max_connections = 1;
    ckd_sched_kick(&e->d);
    uint64_t dl = ckd_now_ms() + 5000;
    while (j->state == CKD_JOB_QUEUED && ckd_now_ms() < dl) uv_run(&e->loop, UV_RUN_NOWAIT);
    e->d.cfg.max_connections = 0;
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_RUNNING);
    RUN_UNTIL(e, j->prepared, 5000);
    assert_no_transfers(e, j);
}

/* ---- building jobs ------------------------------------------------------ */

static int submit(eng *e, const char *json, ckd_job **j)
{
    json_t *p = json_loads(json, 0, NULL);
    CKT_ASSERT(p != NULL);
    json_t *data = NULL;
    char why[256] = "";
    int rc = ckd_job_submit(&e->d, p, j, why, sizeof(why), &data);
    if (rc != 0) fprintf(stderr, "submit: %s\n", why);
    json_decref(p);
    json_decref(data);
    return rc;
}

/* A job built by hand, as submit.c builds URL sets and resolve.c resolved
 * checkpoints: needed for file:// sources (submit takes http(s) only) and
 * for checkpoint units without a master to resolve them. */
static ckd_job *new_job(eng *e, enum ckd_job_kind kind, enum ckd_route_mode mode)
{
    ckd_job *j = ckd_job_new(&e->d);
    CKT_ASSERT(j != NULL);
    j->state = CKD_JOB_QUEUED;
    j->spec.kind = kind;
    j->spec.mode = mode;
    j->kind = strdup(ckd_spec_kind_name(kind));
    j->source = json_pack("{s:s}", "kind", j->kind);
    j->options = json_object();
    j->output = strdup(e->out);
    j->created = j->updated = ckd_wall_s();
    ckd_job_row row = {.state = "queued",
                       .kind = j->kind,
                       .source = "{}",
                       .output = e->out,
                       .options = "{}",
                       .created = j->created,
                       .updated = j->updated};
    CKT_ASSERT_INT_EQ(ckd_store_job_insert(&e->d.store, &row, &j->id), 0);
    return j;
}

static void add_files_unit(eng *e, ckd_job *j)
{
    char stem[32];
    snprintf(stem, sizeof(stem), "ckptd-%lld", (long long)j->id);
    char *staging = ckd_staging_path(e->out, stem);
    CKT_ASSERT(staging != NULL);
    ckd_unit u = {.kind = CKD_UNIT_FILES, .target = e->out, .staging = staging};
    CKT_ASSERT_INT_EQ(ckd_job_add_unit(j, &u), 0);
    free(staging);
}

static void add_ckpt_unit(eng *e, ckd_job *j, const char *uuid, const char *storage)
{
    char *target = ckd_path_join(e->out, uuid);
    char *staging = ckd_staging_path(e->out, uuid);
    CKT_ASSERT(target && staging);
    ckd_unit u = {.kind = CKD_UNIT_CHECKPOINT,
                  .uuid = (char *)uuid,
                  .target = target,
                  .staging = staging,
                  .storage = (char *)storage};
    CKT_ASSERT_INT_EQ(ckd_job_add_unit(j, &u), 0);
    free(target);
    free(staging);
}

static void add_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                     const char *expect)
{
    CKT_ASSERT_INT_EQ(ckd_job_add_file(j, unit, url, path, size, expect, 0), 0);
}

/* A source file under e->src; its file:// URL in url. */
static void src_file(eng *e, const char *name, const char *text, char *url, size_t urllen)
{
    char path[900];
    snprintf(path, sizeof(path), "%s/%s", e->src, name);
    ckt_write_file(path, text);
    snprintf(url, urllen, "file://%s", path);
}

static void link_job(eng *e, ckd_job *j)
{
    CKT_ASSERT_INT_EQ(ckd_store_commit(&e->d.store), 0);
    ckd_job_link(&e->d, j);
    ckd_sched_kick(&e->d);
}

/* ---- the fake source ----------------------------------------------------- */

static void hash_hex(const void *buf, size_t len, char out[33])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
    ckd_hash_hex(c.digest, out);
}

/* What the scheduler does before it starts a source on a file: n ranges
 * over size bytes (journal rows with journal), the file active. */
static void layout(eng *e, ckd_file *f, int n, int64_t size, int journal)
{
    CKT_ASSERT_INT_EQ(ckd_file_segs_alloc(f, n), 0);
    int64_t step = size / n;
    for (int i = 0; i < n; i++) {
        f->segs[i].start = (int64_t)i * step;
        f->segs[i].end = i == n - 1 ? size : (int64_t)(i + 1) * step;
        if (journal) {
            ckd_seg_row r = {.job_id = f->job->id,
                             .idx = f->idx,
                             .start = f->segs[i].start,
                             .end = f->segs[i].end};
            CKT_ASSERT_INT_EQ(ckd_store_seg_insert(&e->d.store, &r), 0);
        }
    }
    f->layout_saved = journal;
    if (f->size < 0) f->size = size; /* learnt from the response, as a source does */
    CKT_ASSERT_INT_EQ(ckd_file_set_state(f, CKD_FILE_ACTIVE, 0), 0);
}

/* The source writes bytes at off into the file's staging path. */
static void stage_write(ckd_file *f, int64_t off, const void *buf, size_t len)
{
    char *path = ckd_file_staging_path(f);
    CKT_ASSERT(path != NULL);
    CKT_ASSERT_INT_EQ(ckd_mkdir_parents(ckd_file_staging_dir(f), f->path), 0);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    CKT_ASSERT(fd >= 0);
    CKT_ASSERT_INT_EQ(ckd_pwrite_all(fd, buf, len, off), 0);
    close(fd);
    free(path);
}

/* One segment's bytes land: written into staging, recorded as written. */
static void seg_land(ckd_file *f, int seg, const char *bytes)
{
    ckd_seg *s = &f->segs[seg];
    stage_write(f, s->start, bytes + s->start, (size_t)(s->end - s->start));
    s->written = s->end - s->start;
    /* as a transfer leaves it: the range's hash covers what it wrote */
    XXH3_128bits_reset(s->hash);
    XXH3_128bits_update(s->hash, bytes + s->start, (size_t)(s->end - s->start));
}

static void report_full(eng *e, const ckd_job *j, int file, int seg, enum ckd_outcome_kind kind,
                        double retry_after_s, int64_t bytes, const char *hash, const char *msg)
{
    ckd_outcome o = {.src = CKD_SRC_HTTP,
                     .job = j->id,
                     .file = file,
                     .seg = seg,
                     .kind = kind,
                     .retry_after_s = retry_after_s,
                     .bytes = bytes};
    if (hash) snprintf(o.hash, sizeof(o.hash), "%s", hash);
    snprintf(o.message, sizeof(o.message), "%s", msg ? msg : "");
    ckd_outcome_report(&e->d, &o);
}

static void report(eng *e, const ckd_job *j, int file, int seg, enum ckd_outcome_kind kind,
                   const char *msg)
{
    report_full(e, j, file, seg, kind, -1, 0, NULL, msg);
}

/* Whole-file work done: bytes written into staging, OK with size and hash. */
static void file_land(eng *e, ckd_file *f, const char *bytes, size_t len)
{
    char hex[33];
    stage_write(f, 0, bytes, len);
    hash_hex(bytes, len, hex);
    report_full(e, f->job, f->idx, -1, CKD_OUT_OK, -1, (int64_t)len, hex, NULL);
}

/* ---- looking at the results ---------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    struct stat st;
    CKT_ASSERT_INT_EQ(fstat(fileno(fp), &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    CKT_ASSERT(buf != NULL);
    *len = fread(buf, 1, (size_t)st.st_size + 1, fp);
    fclose(fp);
    return buf;
}

static void assert_file_text(const char *dir, const char *rel, const char *want)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    size_t len = 0;
    char *got = slurp(path, &len);
    if (!got) CKT_FAIL("'%s' is missing", path);
    CKT_ASSERT_MEM_EQ(got, len, want, strlen(want));
    free(got);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The first column of the first row of q (?1 = a, ?2 = b), or NULL. */
static char *sql_text(eng *e, const char *q, int64_t a, int64_t b)
{
    sqlite3_stmt *st;
    CKT_ASSERT_INT_EQ(sqlite3_prepare_v2(e->d.store.db, q, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) > 1) sqlite3_bind_int64(st, 2, b);
    char *r = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        r = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return r;
}

static int64_t sql_int(eng *e, const char *q, int64_t a, int64_t b)
{
    char *t = sql_text(e, q, a, b);
    CKT_ASSERT(t != NULL);
    int64_t v = strtoll(t, NULL, 10);
    free(t);
    return v;
}

#define ASSERT_SQL_STR(e, q, a, b, want)                                                           \
    do {                                                                                           \
        char *ckt_s_ = sql_text(e, q, a, b);                                                       \
        CKT_ASSERT_STR_EQ(ckt_s_, want);                                                           \
        free(ckt_s_);                                                                              \
    } while (0)

/* Lines of the job's log (the store's job_log) that contain needle. */
static int log_count(eng *e, const ckd_job *j, const char *needle)
{
    sqlite3_stmt *st;
    CKT_ASSERT_INT_EQ(sqlite3_prepare_v2(e->d.store.db,
                                         "SELECT count(*) FROM job_log WHERE job_id = ?1 AND "
                                         "instr(message, ?2) > 0",
                                         -1, &st, NULL),
                      SQLITE_OK);
    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_text(st, 2, needle, -1, SQLITE_STATIC);
    CKT_ASSERT_INT_EQ(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

#define ASSERT_LOG(e, j, needle)                                                                   \
    do {                                                                                           \
        if (log_count(e, j, needle) == 0) CKT_FAIL("no log line of job contains \"%s\"", needle);  \
    } while (0)

/* The hash the store holds for a verified file: its row's, or else the
 * last mark of it (a URL set's file verified before it had a row). */
struct mark_find {
    int idx;
    char hash[33];
};

static int mark_find_cb(void *ud, int idx, int64_t size, const char *hash, const char *validator)
{
    struct mark_find *m = ud;
    if (idx == m->idx) snprintf(m->hash, sizeof(m->hash), "%s", hash);
    return 0;
}

static void assert_stored_hash(eng *e, int64_t job, int idx, const char *want)
{
    char *row = sql_text(e,
                         "SELECT hash FROM files WHERE job_id = ?1 AND idx = ?2 AND "
                         "state = 'verified'",
                         job, idx);
    struct mark_find m = {.idx = idx};
    CKT_ASSERT_INT_EQ(ckd_store_each_mark(&e->d.store, job, mark_find_cb, &m), 0);
    CKT_ASSERT_STR_EQ(row ? row : m.hash, want);
    free(row);
}

#define JOB_STATE  "SELECT state FROM jobs WHERE id = ?1"
#define JOB_ERROR  "SELECT error FROM jobs WHERE id = ?1"
#define FILE_STATE "SELECT state FROM files WHERE job_id = ?1 AND idx = ?2"
#define FILE_HASH  "SELECT hash FROM files WHERE job_id = ?1 AND idx = ?2"
#define FILE_ERROR "SELECT error FROM files WHERE job_id = ?1 AND idx = ?2"
#define SEG_ROWS   "SELECT count(*) FROM segments WHERE job_id = ?1 AND idx = ?2"

static void assert_job_end(eng *e, ckd_job *j, enum ckd_job_state want, const char *error)
{
    CKT_ASSERT_STR_EQ(ckd_job_state_name(j->state), ckd_job_state_name(want));
    if (error)
        CKT_ASSERT_STR_EQ(j->error, error);
    else
        CKT_ASSERT(j->error == NULL);
    CKT_ASSERT_INT_EQ(ckd_store_commit(&e->d.store), 0);
    ASSERT_SQL_STR(e, JOB_STATE, j->id, 0, ckd_job_state_name(want));
    char *err = sql_text(e, JOB_ERROR, j->id, 0);
    if (error)
        CKT_ASSERT_STR_EQ(err, error);
    else
        CKT_ASSERT(err == NULL);
    free(err);
}

/* ---- the tests ------------------------------------------------------------ */

#define URL_JOB(out, files)                                                                        \
    "{\"output\":\"%s\",\"source\":{\"kind\":\"urls\",\"files\":[" files "]}}", out

static int submit_fmt(eng *e, ckd_job **j, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int submit_fmt(eng *e, ckd_job **j, const char *fmt, ...)
{
    char json[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    return submit(e, json, j);
}

/* A submitted URL set: ranges and whole files written by the test, OK
 * outcomes, then the real verify (read-back hash), flush and publish. */
static void test_urls_done(void)
{
    eng e;
    eng_open(&e, "urls_done");
    static char big[3 << 20];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)(i * 7 + (i >> 12));
    ckd_job *j;
    CKT_ASSERT_INT_EQ(submit_fmt(&e, &j,
                                 URL_JOB(e.out, "{\"url\":\"http://127.0.0.1:1/a\",\"path\":\"a\","
                                                "\"size\":5},"
                                                "{\"url\":\"http://127.0.0.1:1/b\",\"path\":"
                                                "\"dir/b\",\"size\":3145728},"
                                                "{\"url\":\"http://127.0.0.1:1/c\",\"path\":\"c\"},"
                                                "{\"url\":\"http://127.0.0.1:1/e\",\"path\":"
                                                "\"empty\",\"size\":0}")),
                      0);
    CKT_ASSERT_INT_EQ(j->nfiles, 4);
    ASSERT_SQL_STR(&e, JOB_STATE, j->id, 0, "queued");
    admit(&e, j);
    ckd_file *a = &j->files[0], *b = &j->files[1], *c = &j->files[2], *em = &j->files[3];
    CKT_ASSERT_STR_EQ(b->path, "dir/b");

    layout(&e, a, 1, 5, 0);
    seg_land(a, 0, "hello");
    report(&e, j, 0, 0, CKD_OUT_OK, NULL);

    /* three ranges, finishing out of order */
    layout(&e, b, 3, (int64_t)sizeof(big), 1);
    CKT_ASSERT_INT_EQ(sql_int(&e, SEG_ROWS, j->id, 1), 3);
    for (int k = 2; k >= 0; k--) {
        CKT_ASSERT(b->state == CKD_FILE_ACTIVE);
        seg_land(b, k, big);
        report(&e, j, 1, k, CKD_OUT_OK, NULL);
    }
    /* whole-file work of unknown size: its size and hash in the outcome */
    file_land(&e, c, "whole file\n", 11);
    CKT_ASSERT_INT_EQ(c->size, 11);
    layout(&e, em, 1, 0, 0);
    report(&e, j, 3, 0, CKD_OUT_OK, NULL);
    /* outcomes for jobs or files that do not exist are dropped */
    report(&e, j, 99, 0, CKD_OUT_FAIL, "nobody");
    ckd_outcome stray = {.job = j->id + 100, .file = 0, .seg = 0, .kind = CKD_OUT_FAIL};
    ckd_outcome_report(&e.d, &stray);

    RUN_UNTIL(&e, j->state == CKD_JOB_DONE, 10000);
    assert_no_transfers(&e, j);
    assert_job_end(&e, j, CKD_JOB_DONE, NULL);
    CKT_ASSERT_INT_EQ(j->files_verified, 4);
    CKT_ASSERT_INT_EQ(j->files_failed, 0);
    assert_file_text(e.out, "a", "hello");
    assert_file_text(e.out, "c", "whole file\n");
    assert_file_text(e.out, "empty", "");
    char path[1200];
    snprintf(path, sizeof(path), "%s/dir/b", e.out);
    size_t len = 0;
    char *got = slurp(path, &len);
    CKT_ASSERT(got != NULL);
    CKT_ASSERT_INT_EQ(len, sizeof(big));
    CKT_ASSERT(memcmp(got, big, sizeof(big)) == 0);
    free(got);
    CKT_ASSERT(!exists(j->units[0].staging)); /* staging removed after publish */
    char want[33];
    hash_hex(big, sizeof(big), want);
    CKT_ASSERT_STR_EQ(b->hash, want);
    /* verified without rows of their own: marks, all four in one row */
    assert_stored_hash(&e, j->id, 1, want);
    char want_b[33];
    memcpy(want_b, want, sizeof(want_b));
    for (int i = 0; i < 4; i++) CKT_ASSERT(strlen(j->files[i].hash) == 32);
    for (int i = 0; i < 4; i++) assert_stored_hash(&e, j->id, i, j->files[i].hash);
    CKT_ASSERT_INT_EQ(sql_int(&e, "SELECT count(*) FROM file_marks WHERE job_id = ?1", j->id, 0),
                      1);
    hash_hex("hello", 5, want);
    assert_stored_hash(&e, j->id, 0, want);
    ASSERT_LOG(&e, j, "published 4 files to");
    int64_t id = j->id;
    eng_close(&e);

    /* The store says so after a restart too. */
    eng_open(&e, "urls_done");
    j = ckd_job_find(&e.d, id);
    CKT_ASSERT(j != NULL);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_DONE);
    /* A finished URL set keeps its file list in the store only: the
     * summary counts it, the view brings it back, then lets it go again. */
    CKT_ASSERT_INT_EQ(j->nfiles, 0);
    CKT_ASSERT_INT_EQ(ckd_job_nfiles(j), 4);
    CKT_ASSERT_INT_EQ(ckd_job_bytes_total(j), 5 + (int64_t)sizeof(big) + 11);
    json_t *view = ckd_job_detail(j);
    CKT_ASSERT(view != NULL);
    CKT_ASSERT_INT_EQ(j->nfiles, 4); /* read back, kept while it is being read */
    ckd_history_drop_files(j);
    CKT_ASSERT_INT_EQ(j->nfiles, 4);
    j->files_read_ms -= CKD_HISTORY_KEEP_READ_MS;
    ckd_history_drop_files(j);
    CKT_ASSERT_INT_EQ(j->nfiles, 0);
    CKT_ASSERT_INT_EQ(ckd_job_nfiles(j), 4);
    CKT_ASSERT_INT_EQ(json_integer_value(json_object_get(view, "files_total")), 4);
    CKT_ASSERT_INT_EQ(json_integer_value(json_object_get(json_object_get(view, "source"), "files")),
                      4);
    json_t *vf = json_object_get(view, "files");
    CKT_ASSERT_INT_EQ(json_array_size(vf), 4);
    for (size_t i = 0; i < 4; i++)
        CKT_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(vf, i), "state")),
                          "verified");
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(vf, 0), "xxh128")), want);
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(vf, 1), "xxh128")), want_b);
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(vf, 1), "path")), "dir/b");
    CKT_ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(vf, 2), "size")), 11);
    json_decref(view);
    eng_close(&e);
}

/* xxh128 given in the spec (in capitals): the computed hash agrees, both
 * for ranges hashed by reading back and for a whole file's reported hash. */
static void test_expected_hash(void)
{
    eng e;
    eng_open(&e, "expect");
    const char *x = "expected bytes, two ranges", *y = "whole";
    char hx[33], hy[33], ux[33], uy[33];
    hash_hex(x, strlen(x), hx);
    hash_hex(y, strlen(y), hy);
    for (int i = 0; i < 33; i++) {
        ux[i] = (char)(hx[i] >= 'a' && hx[i] <= 'f' ? hx[i] - 32 : hx[i]);
        uy[i] = (char)(hy[i] >= 'a' && hy[i] <= 'f' ? hy[i] - 32 : hy[i]);
    }
    ckd_job *j;
    CKT_ASSERT_INT_EQ(
        submit_fmt(&e, &j,
                   URL_JOB(e.out,
                           "{\"url\":\"http://127.0.0.1:1/x\",\"path\":\"x\",\"xxh128\":\"%s\"},"
                           "{\"url\":\"http://127.0.0.1:1/y\",\"path\":\"y\",\"xxh128\":\"%s\"}"),
                   ux, uy),
        0);
    ckd_file *fx = &j->files[0], *fy = &j->files[1];
    CKT_ASSERT_STR_EQ(fx->expect, hx); /* kept in lowercase */
    admit(&e, j);
    layout(&e, fx, 2, (int64_t)strlen(x), 1);
    seg_land(fx, 1, x);
    fx->segs[0].inflight = 1; /* range 0 still out: no pass yet */
    report(&e, j, 0, 1, CKD_OUT_OK, NULL);
    CKT_ASSERT_INT_EQ(fx->state, CKD_FILE_ACTIVE);
    CKT_ASSERT_INT_EQ(fx->io, 0);
    seg_land(fx, 0, x);
    fx->segs[0].inflight = 0; /* as xfer.c clears it before the plane's report */
    report(&e, j, 0, 0, CKD_OUT_OK, NULL);
    CKT_ASSERT_INT_EQ(fx->io, 1); /* one read-back pass ... */
    report(&e, j, 0, 0, CKD_OUT_OK, NULL);
    CKT_ASSERT_INT_EQ(fx->io, 1); /* ... even if a report comes twice */
    file_land(&e, fy, y, strlen(y));
    RUN_UNTIL(&e, ckd_job_terminal(j), 10000);
    assert_job_end(&e, j, CKD_JOB_DONE, NULL);
    CKT_ASSERT_STR_EQ(fx->hash, hx);
    CKT_ASSERT_STR_EQ(fy->hash, hy);
    CKT_ASSERT_INT_EQ(fx->verify_attempts, 0);
    assert_stored_hash(&e, j->id, 0, hx);
    assert_stored_hash(&e, j->id, 1, hy);
    assert_file_text(e.out, "x", x);
    CKT_ASSERT_INT_EQ(log_count(&e, j, "mismatch"), 0);
    eng_close(&e);
}

/* RETRY: the back-off the server asked for (capped), the default back-off,
 * the attempts counted, and the scheduler starting nothing before
 * not_before although connections are free; after retry_max the file
 * fails with the message, once the job's other file has finished. */
static void test_retry(void)
{
    eng e;
    eng_open(&e, "retry");
    e.d.cfg.retry_max = 3;
    char url[1024];
    src_file(&e, "ok", "control file", url, sizeof(url));
    ckd_job *j = new_job(&e, CKD_KIND_URLS, CKD_MODE_AUTO);
    add_files_unit(&e, j);
    add_file(j, 0, "http://127.0.0.1:1/a", "a", 8, NULL);
    add_file(j, 0, url, "ok", -1, NULL);
    link_job(&e, j);
    admit(&e, j);
    ckd_file *a = &j->files[0], *ok = &j->files[1];
    layout(&e, a, 1, 8, 0);
    ckd_seg *s = &a->segs[0];

    uint64_t t0 = ckd_now_ms();
    report_full(&e, j, 0, 0, CKD_OUT_RETRY, 2.0, 0, NULL, "HTTP 503 Service Unavailable");
    uint64_t t1 = ckd_now_ms();
    CKT_ASSERT_INT_EQ(s->attempts, 1);
    CKT_ASSERT(s->not_before_ms >= t0 + 2000 && s->not_before_ms <= t1 + 2000);
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_PENDING);
    ASSERT_LOG(&e, j, "retrying 'a' in 2.0s (attempt 2): HTTP 503 Service Unavailable");

    /* Connections are free now: the scheduler copies the control file
     * (file://, the copy source) but must not start 'a' before not_before. */
    e.d.cfg.max_connections = 4;
    ckd_sched_kick(&e.d);
    RUN_UNTIL(&e, ok->state == CKD_FILE_FETCHED || ok->state == CKD_FILE_VERIFIED, 1500);
    run_for(&e, 200);
    CKT_ASSERT(ckd_now_ms() < s->not_before_ms); /* the window was before it */
    e.d.cfg.max_connections = 0;
    CKT_ASSERT(s->xfer == NULL);
    CKT_ASSERT_INT_EQ(e.d.xe.active, 0);
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_PENDING);
    CKT_ASSERT_INT_EQ(s->attempts, 1);

    /* A huge Retry-After is capped at ten minutes. */
    t0 = ckd_now_ms();
    report_full(&e, j, 0, 0, CKD_OUT_RETRY, 1e6, 0, NULL, "HTTP 429");
    CKT_ASSERT_INT_EQ(s->attempts, 2);
    CKT_ASSERT(s->not_before_ms >= t0 + 600000 && s->not_before_ms <= ckd_now_ms() + 600000);
    /* The default back-off: full jitter up to 250 ms << attempts. */
    t0 = ckd_now_ms();
    report(&e, j, 0, 0, CKD_OUT_RETRY, "connection reset");
    CKT_ASSERT_INT_EQ(s->attempts, 3);
    CKT_ASSERT(s->not_before_ms >= t0 && s->not_before_ms <= ckd_now_ms() + (250 << 3));
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_PENDING);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_RUNNING);

    report(&e, j, 0, 0, CKD_OUT_RETRY, "HTTP 503 again");
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_FAILED);
    CKT_ASSERT_STR_EQ(a->error, "HTTP 503 again (gave up after 4 attempts)");
    /* a later outcome for the failed file changes nothing */
    report(&e, j, 0, 0, CKD_OUT_RETRY, "late");
    CKT_ASSERT_INT_EQ(s->attempts, 4);
    RUN_UNTIL(&e, ckd_job_terminal(j), 10000);
    CKT_ASSERT_INT_EQ(ok->state, CKD_FILE_VERIFIED);
    assert_job_end(&e, j, CKD_JOB_FAILED,
                   "1 of 2 files failed; first: HTTP 503 again (gave up after 4 attempts)");
    ASSERT_SQL_STR(&e, FILE_ERROR, j->id, 0, "HTTP 503 again (gave up after 4 attempts)");
    assert_stored_hash(&e, j->id, 1, ok->hash);
    snprintf(url, sizeof(url), "%s/ok", e.out);
    CKT_ASSERT(!exists(url)); /* a URL set is published whole or not at all */
    eng_close(&e);
}

/* RESTART: the file goes back to pending at once; the scheduler resets it
 * (staging file unlinked, journal rows deleted) and fetches it again. */
static void test_restart(void)
{
    eng e;
    eng_open(&e, "restart");
    char url[1024];
    src_file(&e, "a", "the new version of a", url, sizeof(url));
    ckd_job *j = new_job(&e, CKD_KIND_URLS, CKD_MODE_AUTO);
    add_files_unit(&e, j);
    add_file(j, 0, url, "a", -1, NULL);
    link_job(&e, j);
    admit(&e, j);
    ckd_file *a = &j->files[0];
    /* The test's source got half of an older version, journaled. */
    layout(&e, a, 1, 40, 1);
    const char *old = "the OLD version of a, forty bytes long!!";
    stage_write(a, 0, old, 20);
    a->segs[0].written = 20;
    char hex[33];
    hash_hex(old, 20, hex);
    CKT_ASSERT_INT_EQ(ckd_store_seg_progress(&e.d.store, j->id, 0, 0, 20, hex, 0), 0);
    a->validator = strdup("\"etag-1\"");
    char *staged = ckd_file_staging_path(a);
    int oldfd = open(staged, O_RDONLY | O_CLOEXEC);
    CKT_ASSERT(oldfd >= 0);
    CKT_ASSERT_INT_EQ(sql_int(&e, SEG_ROWS, j->id, 0), 1);

    report(&e, j, 0, 0, CKD_OUT_RESTART, "the file changed on the server (ETag differs)");
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_PENDING);
    CKT_ASSERT_INT_EQ(a->reset_pending, 1);
    CKT_ASSERT(a->validator == NULL);
    ASSERT_LOG(&e, j, "restarting 'a' from zero");
    ASSERT_LOG(&e, j, "the file changed on the server (ETag differs)");
    /* outcomes for a file that restarts are dropped */
    report(&e, j, 0, 0, CKD_OUT_RETRY, "late");
    CKT_ASSERT_INT_EQ(a->segs[0].attempts, 0);
    report(&e, j, 0, 0, CKD_OUT_OK, NULL);
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_PENDING);
    /* Without connections nothing is reset yet. */
    run_for(&e, 100);
    CKT_ASSERT_INT_EQ(a->reset_pending, 1);
    CKT_ASSERT_INT_EQ(sql_int(&e, SEG_ROWS, j->id, 0), 1);

    e.d.cfg.max_connections = 4;
    ckd_sched_kick(&e.d);
    RUN_UNTIL(&e, ckd_job_terminal(j), 10000);
    assert_job_end(&e, j, CKD_JOB_DONE, NULL);
    struct stat st;
    CKT_ASSERT_INT_EQ(fstat(oldfd, &st), 0);
    CKT_ASSERT_INT_EQ(st.st_nlink, 0); /* the old staging file was removed */
    close(oldfd);
    free(staged);
    CKT_ASSERT_INT_EQ(sql_int(&e, SEG_ROWS, j->id, 0), 0); /* and its journal rows */
    CKT_ASSERT_INT_EQ(a->reset_pending, 0);
    assert_file_text(e.out, "a", "the new version of a");
    CKT_ASSERT_INT_EQ(a->size, 20);
    CKT_ASSERT_INT_EQ(log_count(&e, j, "restarting"), 1);
    eng_close(&e);
}

/* FAIL: the file fails with the message; the job's other files finish,
 * then the job fails naming the first failure; nothing is published. */
static void test_fail(void)
{
    eng e;
    eng_open(&e, "fail");
    ckd_job *j;
    CKT_ASSERT_INT_EQ(
        submit_fmt(&e, &j,
                   URL_JOB(e.out, "{\"url\":\"http://127.0.0.1:1/a\",\"path\":\"a\"},"
                                  "{\"url\":\"http://127.0.0.1:1/b\",\"path\":\"b\"},"
                                  "{\"url\":\"http://127.0.0.1:1/c\",\"path\":\"c\"}")),
        0);
    admit(&e, j);
    ckd_file *a = &j->files[0], *b = &j->files[1], *c = &j->files[2];
    layout(&e, a, 1, 4, 0);
    layout(&e, b, 1, 4, 0);
    file_land(&e, c, "cccc", 4);
    report(&e, j, 0, 0, CKD_OUT_FAIL, "HTTP 404 Not Found");
    CKT_ASSERT_INT_EQ(a->state, CKD_FILE_FAILED);
    CKT_ASSERT_STR_EQ(a->error, "HTTP 404 Not Found");
    CKT_ASSERT_INT_EQ(j->files_failed, 1);
    /* A second FAIL is not counted twice. */
    report(&e, j, 0, 0, CKD_OUT_FAIL, "HTTP 404 again");
    CKT_ASSERT_INT_EQ(j->files_failed, 1);
    CKT_ASSERT_STR_EQ(a->error, "HTTP 404 Not Found");
    run_for(&e, 300);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_RUNNING); /* b is still out */
    ASSERT_SQL_STR(&e, JOB_STATE, j->id, 0, "running");
    seg_land(b, 0, "bbbb");
    report(&e, j, 1, 0, CKD_OUT_OK, NULL);
    RUN_UNTIL(&e, ckd_job_terminal(j), 10000);
    CKT_ASSERT_INT_EQ(b->state, CKD_FILE_VERIFIED);
    CKT_ASSERT_INT_EQ(c->state, CKD_FILE_VERIFIED);
    assert_job_end(&e, j, CKD_JOB_FAILED, "1 of 3 files failed; first: HTTP 404 Not Found");
    ASSERT_SQL_STR(&e, FILE_STATE, j->id, 0, "failed");
    ASSERT_SQL_STR(&e, FILE_ERROR, j->id, 0, "HTTP 404 Not Found");
    assert_stored_hash(&e, j->id, 1, b->hash);
    ASSERT_LOG(&e, j, "HTTP 404 Not Found");
    char p[1200];
    snprintf(p, sizeof(p), "%s/b", e.out);
    CKT_ASSERT(!exists(p)); /* a URL set is published whole or not at all */
    char *sb = ckd_file_staging_path(b);
    CKT_ASSERT(exists(sb)); /* kept for a resume */
    free(sb);
    eng_close(&e);
}

/* DENIED: a URL set's file fails; a checkpoint fetched in mode auto with a
 * master moves to the master's archive; in mode direct it fails. */
static void test_denied(void)
{
    eng e;
    /* A master nobody listens on: no connection is ever made, since the
     * test keeps max_connections at 0 (the archive would be a source). */
    eng_open_opts(&e, "denied", "http://127.0.0.1:1");
    CKT_ASSERT(e.d.masters != NULL && e.d.masters->dflt != NULL);

    ckd_job *u;
    CKT_ASSERT_INT_EQ(
        submit_fmt(&e, &u, URL_JOB(e.out, "{\"url\":\"http://127.0.0.1:1/a\",\"path\":\"a\"}")), 0);
    admit(&e, u);
    layout(&e, &u->files[0], 1, 3, 0);
    report(&e, u, 0, 0, CKD_OUT_DENIED, "HTTP 403 Forbidden");
    CKT_ASSERT_INT_EQ(u->files[0].state, CKD_FILE_FAILED);
    RUN_UNTIL(&e, ckd_job_terminal(u), 5000);
    assert_job_end(&e, u, CKD_JOB_FAILED, "1 of 1 files failed; first: HTTP 403 Forbidden");

    const char *uuid = "3b4d2e1f-0000-4000-8000-000000000001";
    ckd_job *j = new_job(&e, CKD_KIND_CHECKPOINT, CKD_MODE_AUTO);
    add_ckpt_unit(&e, j, uuid, "s3");
    add_file(j, 0, "https://bucket.example/x", "x", 4, NULL);
    add_file(j, 0, "https://bucket.example/y", "y", 4, NULL);
    add_file(j, 0, "https://bucket.example/z", "z", 4, NULL);
    link_job(&e, j);
    ckd_job *k = new_job(&e, CKD_KIND_CHECKPOINT, CKD_MODE_DIRECT);
    add_ckpt_unit(&e, k, "3b4d2e1f-0000-4000-8000-000000000002", "s3");
    add_file(k, 0, "https://bucket.example/x", "x", 4, NULL);
    link_job(&e, k);
    admit(&e, j);
    admit(&e, k);
    ckd_file *x = &j->files[0], *y = &j->files[1], *z = &j->files[2];
    layout(&e, x, 1, 4, 0);
    layout(&e, y, 1, 4, 0);
    seg_land(y, 0, "yyyy");
    report(&e, j, 1, 0, CKD_OUT_OK, NULL);
    RUN_UNTIL(&e, y->state == CKD_FILE_VERIFIED, 5000);
    stage_write(x, 0, "xx", 2); /* half of x arrived */
    x->segs[0].written = 2;
    report(&e, j, 0, 0, CKD_OUT_DENIED, "HTTP 403 AccessDenied");
    ckd_unit *un = &j->units[0];
    CKT_ASSERT_INT_EQ(un->via, CKD_VIA_MASTER);
    CKT_ASSERT_INT_EQ(x->state, CKD_FILE_PENDING);
    CKT_ASSERT_INT_EQ(x->reset_pending, 1); /* the archive writes whole files: from zero */
    CKT_ASSERT_INT_EQ(z->reset_pending, 1);
    CKT_ASSERT_INT_EQ(y->state, CKD_FILE_VERIFIED); /* verified files stay */
    CKT_ASSERT_INT_EQ(y->reset_pending, 0);
    CKT_ASSERT(x->error == NULL);
    CKT_ASSERT_INT_EQ(j->files_failed, 0);
    ASSERT_LOG(&e, j,
               "checkpoint 3b4d2e1f-0000-4000-8000-000000000001: HTTP 403 AccessDenied; "
               "downloading it through the master instead");
    CKT_ASSERT_INT_EQ(ckd_store_commit(&e.d.store), 0);
    CKT_ASSERT_INT_EQ(sql_int(&e, "SELECT via FROM units WHERE job_id = ?1 AND idx = 0", j->id, 0),
                      CKD_VIA_MASTER);
    /* The unit waits for the archive, which needs a connection. */
    run_for(&e, 100);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_RUNNING);
    CKT_ASSERT(un->archive == NULL); /* no connections: no archive */

    layout(&e, &k->files[0], 1, 4, 0);
    report(&e, k, 0, 0, CKD_OUT_DENIED, "HTTP 403 AccessDenied");
    CKT_ASSERT_INT_EQ(k->files[0].state, CKD_FILE_FAILED);
    CKT_ASSERT_INT_EQ(k->units[0].via, CKD_VIA_DIRECT);
    RUN_UNTIL(&e, ckd_job_terminal(k), 5000);
    assert_job_end(&e, k, CKD_JOB_FAILED, "1 of 1 files failed; first: HTTP 403 AccessDenied");
    eng_close(&e);
}

/* A size or hash mismatch: fetched once more (the scheduler resets the
 * file and refetches it through the copy source); a second mismatch
 * fails the file and the job. */
static void test_mismatch(void)
{
    eng e;
    eng_open(&e, "mismatch");
    const char *good = "0123456789", *bad = "tampered!!";
    char hgood[33], hbad[33], url_good[1024], url_bad[1024];
    hash_hex(good, strlen(good), hgood);
    hash_hex(bad, strlen(bad), hbad);
    src_file(&e, "good", good, url_good, sizeof(url_good));
    src_file(&e, "bad", bad, url_bad, sizeof(url_bad));
    ckd_job *j = new_job(&e, CKD_KIND_URLS, CKD_MODE_AUTO);
    add_files_unit(&e, j);
    add_file(j, 0, url_good, "size", 10, NULL);  /* a short read first, then right */
    add_file(j, 0, url_good, "hash", -1, hgood); /* wrong bytes first, then right */
    link_job(&e, j);
    ckd_job *k = new_job(&e, CKD_KIND_URLS, CKD_MODE_AUTO);
    add_files_unit(&e, k);
    add_file(k, 0, url_bad, "bad", -1, hgood); /* wrong both times */
    link_job(&e, k);
    admit(&e, j);
    admit(&e, k);
    ckd_file *fs = &j->files[0], *fh = &j->files[1], *fb = &k->files[0];

    file_land(&e, fs, "0123456789ab", 12);
    CKT_ASSERT_INT_EQ(fs->reset_pending, 1);
    CKT_ASSERT_INT_EQ(fs->verify_attempts, 1);
    ASSERT_LOG(&e, j, "restarting 'size' from zero");
    ASSERT_LOG(&e, j, "size mismatch for 'size': got 12 bytes, expected 10");
    layout(&e, fh, 2, 10, 0);
    seg_land(fh, 0, bad);
    report(&e, j, 1, 0, CKD_OUT_OK, NULL);
    seg_land(fh, 1, bad);
    report(&e, j, 1, 1, CKD_OUT_OK, NULL);
    RUN_UNTIL(&e, fh->reset_pending, 5000); /* after the read-back hash */
    char why[256];
    snprintf(why, sizeof(why), "xxh128 mismatch for 'hash': got %s, expected %s", hbad, hgood);
    ASSERT_LOG(&e, j, why);
    layout(&e, fb, 1, 10, 0);
    seg_land(fb, 0, bad);
    report(&e, k, 0, 0, CKD_OUT_OK, NULL);
    RUN_UNTIL(&e, fb->reset_pending, 5000);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_RUNNING);
    CKT_ASSERT_INT_EQ(k->state, CKD_JOB_RUNNING);

    /* Connections: the scheduler resets and refetches (file://: copies). */
    e.d.cfg.max_connections = 4;
    ckd_sched_kick(&e.d);
    RUN_UNTIL(&e, ckd_job_terminal(j) && ckd_job_terminal(k), 10000);
    assert_job_end(&e, j, CKD_JOB_DONE, NULL);
    assert_file_text(e.out, "size", good);
    assert_file_text(e.out, "hash", good);
    CKT_ASSERT_STR_EQ(fh->hash, hgood);
    char msg[400];
    snprintf(why, sizeof(why), "xxh128 mismatch for 'bad': got %s, expected %s", hbad, hgood);
    CKT_ASSERT_STR_EQ(fb->error, why);
    CKT_ASSERT_INT_EQ(fb->verify_attempts, 2);
    snprintf(msg, sizeof(msg), "1 of 1 files failed; first: %s", why);
    assert_job_end(&e, k, CKD_JOB_FAILED, msg);
    CKT_ASSERT_INT_EQ(log_count(&e, k, "restarting 'bad' from zero"), 1); /* refetched once */
    eng_close(&e);
}

/* The copy source alone: file:// work through ckd_copy_start, each ending
 * in exactly one plain outcome. */
static ckd_outcome copied;
static int ncopied;
static void on_copied(struct ckd_daemon *owner, const ckd_outcome *o)
{
    CKT_ASSERT(owner == (struct ckd_daemon *)&copied);
    copied = *o;
    ncopied++;
}

static void copy_once(uv_loop_t *loop, const char *src, const char *dir, const char *rel, int twin)
{
    char *dst = ckd_path_join(dir, rel);
    ckd_copy_spec c = {
        .job = 7, .file = 3, .src = src, .dst = dst, .dir = dir, .rel = rel, .twin = twin};
    ncopied = 0;
    memset(&copied, 0, sizeof(copied));
    CKT_ASSERT_INT_EQ(ckd_copy_start(loop, &c, (struct ckd_daemon *)&copied, on_copied), 0);
    free(dst); /* the spec's strings are copied */
    uv_run(loop, UV_RUN_DEFAULT);
    CKT_ASSERT_INT_EQ(ncopied, 1);
    CKT_ASSERT_INT_EQ(copied.job, 7);
    CKT_ASSERT_INT_EQ(copied.file, 3);
    CKT_ASSERT_INT_EQ(copied.seg, -1);
    CKT_ASSERT_INT_EQ(copied.src, CKD_SRC_COPY);
}

static void test_copy_source(void)
{
    char dir[600], src[700], dst[700], link[800], path[800];
    snprintf(dir, sizeof(dir), "%s/copy", tmpdir);
    snprintf(src, sizeof(src), "%s/src", dir);
    snprintf(dst, sizeof(dst), "%s/dst", dir);
    mkdir_or_die(src);
    mkdir_or_die(dst);
    uv_loop_t loop;
    CKT_ASSERT_INT_EQ(uv_loop_init(&loop), 0);

    static char data[(2 << 20) + 17];
    for (size_t i = 0; i < sizeof(data); i++) data[i] = (char)(i % 251);
    snprintf(path, sizeof(path), "%s/big", src);
    FILE *fp = fopen(path, "wb");
    CKT_ASSERT(fp && fwrite(data, 1, sizeof(data), fp) == sizeof(data) && fclose(fp) == 0);
    copy_once(&loop, path, dst, "nested/dir/big", 0);
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_OK);
    CKT_ASSERT_INT_EQ(copied.bytes, sizeof(data));
    char want[33];
    hash_hex(data, sizeof(data), want);
    CKT_ASSERT_STR_EQ(copied.hash, want);
    snprintf(path, sizeof(path), "%s/nested/dir/big", dst);
    size_t len = 0;
    char *got = slurp(path, &len);
    CKT_ASSERT(got && len == sizeof(data) && memcmp(got, data, len) == 0);
    free(got);

    snprintf(path, sizeof(path), "%s/empty", src);
    ckt_write_file(path, "");
    copy_once(&loop, path, dst, "empty", 0);
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_OK);
    CKT_ASSERT_INT_EQ(copied.bytes, 0);
    hash_hex("", 0, want);
    CKT_ASSERT_STR_EQ(copied.hash, want);

    snprintf(path, sizeof(path), "%s/missing", src);
    copy_once(&loop, path, dst, "m", 0);
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_FAIL);
    char msg[1024];
    snprintf(msg, sizeof(msg), "cannot read '%s': No such file or directory", path);
    CKT_ASSERT_STR_EQ(copied.message, msg);
    copy_once(&loop, path, dst, "m", 1); /* a twin's copy went away: refetch */
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_REFETCH);
    snprintf(msg, sizeof(msg), "cannot copy from '%s': No such file or directory", path);
    CKT_ASSERT_STR_EQ(copied.message, msg);

    copy_once(&loop, src, dst, "d", 0); /* a directory is no file */
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_FAIL);
    snprintf(path, sizeof(path), "%s/big", src);
    snprintf(link, sizeof(link), "%s/link", src);
    CKT_ASSERT_INT_EQ(symlink(path, link), 0);
    copy_once(&loop, link, dst, "l", 0); /* never through a symlink */
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_FAIL);

    /* Writing the copy fails: a parent of the destination is a file. */
    snprintf(path, sizeof(path), "%s/empty", src);
    copy_once(&loop, path, dst, "empty/below", 0);
    CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_DISK);
    CKT_ASSERT_INT_EQ(copied.err, -ENOTDIR);
    snprintf(msg, sizeof(msg), "%s/empty/below", dst);
    CKT_ASSERT_STR_EQ(copied.message, msg);

    if (geteuid() != 0) {
        snprintf(path, sizeof(path), "%s/secret", src);
        ckt_write_file(path, "no");
        CKT_ASSERT_INT_EQ(chmod(path, 0), 0);
        copy_once(&loop, path, dst, "secret", 0);
        CKT_ASSERT_INT_EQ(copied.kind, CKD_OUT_DENIED);
    } else {
        printf("# test_copy_source: running as root, EACCES -> DENIED not checked\n");
    }
    CKT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

/* The copy source end to end in the engine: file:// files of a URL set
 * copied by the scheduler, verified (one against an expected hash),
 * flushed and published. */
static void test_copy_job(void)
{
    eng e;
    eng_open(&e, "copy_job");
    char u1[1024], u2[1024], h2[33];
    src_file(&e, "one", "first file\n", u1, sizeof(u1));
    src_file(&e, "two", "second file\n", u2, sizeof(u2));
    hash_hex("second file\n", 12, h2);
    ckd_job *j = new_job(&e, CKD_KIND_URLS, CKD_MODE_AUTO);
    add_files_unit(&e, j);
    add_file(j, 0, u1, "one", 11, NULL);
    add_file(j, 0, u2, "sub/two", -1, h2);
    link_job(&e, j);
    e.d.cfg.max_connections = 4;
    ckd_sched_kick(&e.d);
    RUN_UNTIL(&e, ckd_job_terminal(j), 10000);
    assert_job_end(&e, j, CKD_JOB_DONE, NULL);
    assert_file_text(e.out, "one", "first file\n");
    assert_file_text(e.out, "sub/two", "second file\n");
    CKT_ASSERT_STR_EQ(j->files[1].hash, h2);
    CKT_ASSERT_INT_EQ(e.d.copies, 0);
    CKT_ASSERT_INT_EQ(j->busy, 0);
    CKT_ASSERT_INT_EQ(e.d.xe.active, 0);
    ASSERT_SQL_STR(&e, FILE_HASH, j->id, 1, h2);
    eng_close(&e);
}

/* The state tables refuse what is not allowed. */
static void test_transition_tables(void)
{
    enum { Q = CKD_JOB_QUEUED, R = CKD_JOB_RESOLVING, U = CKD_JOB_RUNNING, W = CKD_JOB_WAITING };
    enum { P = CKD_JOB_PAUSED, D = CKD_JOB_DONE, F = CKD_JOB_FAILED, C = CKD_JOB_CANCELED };
    /* allowed[from] as a set of targets (besides staying put). */
    static const unsigned allowed[CKD_JOB_NSTATES] = {
        [Q] = 1u << R | 1u << U | 1u << W | 1u << P | 1u << F | 1u << C,
        [R] = 1u << Q | 1u << U | 1u << W | 1u << P | 1u << F | 1u << C,
        [U] = 1u << Q | 1u << W | 1u << P | 1u << D | 1u << F | 1u << C,
        [W] = 1u << Q | 1u << R | 1u << P | 1u << F | 1u << C,
        [P] = 1u << Q | 1u << C,
        [D] = 1u << Q, /* only at load: a copy not synced before a reboot, checked again */
        [F] = 1u << Q | 1u << C,
        [C] = 0,
    };
    for (int from = 0; from < CKD_JOB_NSTATES; from++) {
        for (int to = 0; to < CKD_JOB_NSTATES; to++) {
            int want = from == to || (allowed[from] >> to & 1u);
            int got = ckd_job_transition_ok((enum ckd_job_state)from, (enum ckd_job_state)to);
            if (got != want)
                CKT_FAIL("job %s -> %s: allowed %d, want %d",
                         ckd_job_state_name((enum ckd_job_state)from),
                         ckd_job_state_name((enum ckd_job_state)to), got, want);
        }
    }
    /* The rules behind the table. */
    for (int s = 0; s < CKD_JOB_NSTATES; s++) {
        if (s != U)
            CKT_ASSERT_INT_EQ(ckd_job_transition_ok((enum ckd_job_state)s, CKD_JOB_DONE), s == D);
        CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_DONE, (enum ckd_job_state)s),
                          s == D || s == Q);
        CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_CANCELED, (enum ckd_job_state)s), s == C);
        CKT_ASSERT_INT_EQ(ckd_job_transition_ok((enum ckd_job_state)s, CKD_JOB_CANCELED), s != D);
    }
    CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_QUEUED, CKD_JOB_NSTATES), 0);
    CKT_ASSERT_INT_EQ(ckd_job_transition_ok(CKD_JOB_NSTATES, CKD_JOB_QUEUED), 0);

    enum { FP = CKD_FILE_PENDING, FA = CKD_FILE_ACTIVE, FF = CKD_FILE_FETCHED };
    enum { FV = CKD_FILE_VERIFIED, FX = CKD_FILE_FAILED, NF = CKD_FILE_FAILED + 1 };
    static const unsigned fallowed[NF] = {
        [FP] = 1u << FA | 1u << FF | 1u << FV | 1u << FX,
        [FA] = 1u << FP | 1u << FF | 1u << FX,
        [FF] = 1u << FP | 1u << FV | 1u << FX,
        [FV] = 1u << FP,
        [FX] = 1u << FP,
    };
    for (int from = 0; from < NF; from++) {
        for (int to = 0; to < NF; to++) {
            int want = from == to || (fallowed[from] >> to & 1u);
            int got = ckd_file_transition_ok((enum ckd_file_state)from, (enum ckd_file_state)to);
            if (got != want)
                CKT_FAIL("file %s -> %s: allowed %d, want %d",
                         ckd_file_state_name((enum ckd_file_state)from),
                         ckd_file_state_name((enum ckd_file_state)to), got, want);
        }
    }
    CKT_ASSERT_INT_EQ(ckd_file_transition_ok(CKD_FILE_ACTIVE, CKD_FILE_VERIFIED),
                      0); /* verified only after the flush */
    CKT_ASSERT_INT_EQ(ckd_file_transition_ok(CKD_FILE_PENDING, (enum ckd_file_state)NF), 0);
    CKT_ASSERT_INT_EQ(ckd_file_transition_ok((enum ckd_file_state)NF, CKD_FILE_PENDING), 0);
    for (int s = 0; s < CKD_JOB_NSTATES; s++)
        CKT_ASSERT_INT_EQ(ckd_job_state_parse(ckd_job_state_name((enum ckd_job_state)s)), s);
    for (int s = 0; s < NF; s++)
        CKT_ASSERT_INT_EQ(ckd_file_state_parse(ckd_file_state_name((enum ckd_file_state)s)), s);
    CKT_ASSERT_INT_EQ(ckd_job_state_parse("finished"), -EINVAL);
    CKT_ASSERT_INT_EQ(ckd_file_state_parse(NULL), -EINVAL);

#ifdef NDEBUG
    /* The setters refuse too (with assertions on they abort instead), and
     * change, log and persist nothing. */
    eng e;
    eng_open(&e, "tables");
    ckd_job *j;
    CKT_ASSERT_INT_EQ(
        submit_fmt(&e, &j, URL_JOB(e.out, "{\"url\":\"http://127.0.0.1:1/a\",\"path\":\"a\"}")), 0);
    CKT_ASSERT_INT_EQ(ckd_job_set_state(j, CKD_JOB_DONE, NULL), -EINVAL);
    CKT_ASSERT_INT_EQ(j->state, CKD_JOB_QUEUED);
    CKT_ASSERT_INT_EQ(ckd_file_set_state(&j->files[0], CKD_FILE_VERIFIED, 1), 0);
    CKT_ASSERT_INT_EQ(ckd_file_set_state(&j->files[0], CKD_FILE_ACTIVE, 1), -EINVAL);
    CKT_ASSERT_INT_EQ(j->files[0].state, CKD_FILE_VERIFIED);
    CKT_ASSERT_INT_EQ(ckd_job_set_state(j, CKD_JOB_CANCELED, NULL), 0);
    CKT_ASSERT_INT_EQ(ckd_job_set_state(j, CKD_JOB_RUNNING, NULL), -EINVAL);
    assert_job_end(&e, j, CKD_JOB_CANCELED, NULL);
    eng_close(&e);
#endif
}

/* Allocation failures along a whole job (file:// copies, verify, flush,
 * publish): for every N, the Nth allocation after submission fails once.
 * Each N runs in a child process, so that one crash neither hides the
 * others nor ends the test, and LeakSanitizer checks each child at its
 * exit. The engine must not crash or leak, must close cleanly, and the job
 * must end (done, or failed with an error) rather than hang. */
enum { ALLOC_DONE = 10, ALLOC_FAILED, ALLOC_QUEUED, ALLOC_NOT_REACHED = 20 };

/* Crashes found by this sweep in the current engine, by a function named
 * in the child's report (UBSAN_OPTIONS=print_stacktrace=1, set by the
 * ctest): a known one is reported, not failed; any other fails. */
static const char *const known_crashes[] = {
    NULL, /* none today (the flush's unchecked strdup was fixed) */
};

static int alloc_child(long fail_at)
{
    eng e;
    char name[64];
    snprintf(name, sizeof(name), "alloc-%ld", fail_at);
    eng_open(&e, name);
    char u1[1024], u2[1024];
    src_file(&e, "one", "first file\n", u1, sizeof(u1));
    src_file(&e, "two", "second file\n", u2, sizeof(u2));
    ckd_job *j = new_job(&e, CKD_KIND_URLS, CKD_MODE_AUTO);
    add_files_unit(&e, j);
    add_file(j, 0, u1, "one", -1, NULL);
    add_file(j, 0, u2, "two", -1, NULL);
    link_job(&e, j);
    e.d.cfg.max_connections = 4;
    alloc_arm(fail_at);
    uint64_t dl = ckd_now_ms() + 4000;
    while (!ckd_job_terminal(j) && ckd_now_ms() < dl) uv_run(&e.loop, UV_RUN_ONCE);
    int reached = atomic_load(&alloc_failed);
    alloc_arm(0);
    int code;
    if (j->state == CKD_JOB_DONE) {
        assert_file_text(e.out, "one", "first file\n");
        assert_file_text(e.out, "two", "second file\n");
        code = ALLOC_DONE;
    } else if (j->state == CKD_JOB_FAILED) {
        CKT_ASSERT(j->error != NULL && j->error[0]);
        code = ALLOC_FAILED;
    } else {
        dump(&e);
        /* No job may be left hanging (a scheduling pass that cannot
         * allocate tries again on its own). */
        CKT_FAIL("allocation %ld failing leaves the job %s", fail_at, ckd_job_state_name(j->state));
        code = ALLOC_QUEUED;
    }
    eng_close(&e);
    return code + (reached ? 0 : ALLOC_NOT_REACHED);
}

/* Runs alloc_child(fail_at) in a child; its exit code, or -1 for a crash
 * or a failed assertion (its stderr, in *err, says which). */
static int alloc_fork(long fail_at, char **err)
{
    int fds[2];
    CKT_ASSERT_INT_EQ(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CKT_ASSERT(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        exit(alloc_child(fail_at)); /* exit, not _exit: LeakSanitizer runs */
    }
    close(fds[1]);
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    CKT_ASSERT(buf != NULL);
    for (;;) {
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            CKT_ASSERT(nb != NULL);
            buf = nb;
        }
        ssize_t n = read(fds[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status;
    CKT_ASSERT(waitpid(pid, &status, 0) == pid);
    *err = buf;
    if (!WIFEXITED(status)) return -1;
    int code = WEXITSTATUS(status);
    return code >= ALLOC_DONE ? code : -1;
}

static void test_alloc_failures(void)
{
    int done = 0, failed = 0, queued = 0, known = 0;
    long n;
    for (n = 1;; n++) {
        char *err = NULL;
        int code = alloc_fork(n, &err);
        if (code < 0) {
            const char *which = NULL;
            for (size_t k = 0; k < sizeof(known_crashes) / sizeof(known_crashes[0]); k++)
                if (known_crashes[k] && strstr(err, known_crashes[k])) which = known_crashes[k];
            if (!which) {
                fprintf(stderr, "%s", err);
                CKT_FAIL("allocation %ld failing: the child crashed or failed (above)", n);
            }
            printf("# allocation %ld failing: known crash \"%s\"\n", n, which);
            known++;
            free(err);
            continue;
        }
        free(err);
        if (code >= ALLOC_NOT_REACHED) break; /* every allocation was tried */
        done += code == ALLOC_DONE;
        failed += code == ALLOC_FAILED;
        if (code == ALLOC_QUEUED) printf("# allocation %ld failing: the job stays queued\n", n);
        queued += code == ALLOC_QUEUED;
    }
    printf("# %ld allocations failed one at a time: %d done, %d failed, %d left queued, "
           "%d known crashes\n",
           n - 1, done, failed, queued, known);
    CKT_ASSERT(n > 10);     /* the mode does reach the engine */
    CKT_ASSERT(failed > 0); /* and some failures do end the job */
}

int main(void)
{
    if (!mkdtemp(tmpdir)) CKT_FAIL("mkdtemp");
    const char *lvl = getenv("CKT_LOG");
    ckd_log_set_level(lvl ? (enum ckd_log_level)ckd_log_parse_level(lvl) : CKD_LOG_ERROR);
    CKT_RUN(test_transition_tables);
    CKT_RUN(test_urls_done);
    CKT_RUN(test_expected_hash);
    CKT_RUN(test_retry);
    CKT_RUN(test_restart);
    CKT_RUN(test_fail);
    CKT_RUN(test_denied);
    CKT_RUN(test_mismatch);
    CKT_RUN(test_copy_source);
    CKT_RUN(test_copy_job);
    CKT_RUN(test_alloc_failures);
    ckd_rm_rf(tmpdir);
    CKT_DONE();
}
