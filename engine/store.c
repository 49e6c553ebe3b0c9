#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"
#include "storage_auth.h"

#include "ckp.h"

static const char *schema =
    "CREATE TABLE IF NOT EXISTS jobs("
    "  id INTEGER PRIMARY KEY, state TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,"
    "  output TEXT NOT NULL, options TEXT NOT NULL, priority INTEGER NOT NULL,"
    "  error TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS units("
    "  job_id INTEGER NOT NULL, idx INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  status INTEGER NOT NULL, uuid TEXT, target TEXT NOT NULL, staging TEXT NOT NULL,"
    "  storage TEXT, checkpoint TEXT, dirs TEXT, write_metadata INTEGER NOT NULL,"
    "  via INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(job_id, idx));"
    "CREATE TABLE IF NOT EXISTS files("
    "  job_id INTEGER NOT NULL, idx INTEGER NOT NULL, unit INTEGER NOT NULL,"
    "  zstd INTEGER NOT NULL DEFAULT 0, url TEXT NOT NULL, path TEXT NOT NULL,"
    "  size INTEGER NOT NULL, size_given INTEGER NOT NULL, expect TEXT, hash TEXT,"
    "  state TEXT NOT NULL, validator TEXT, error TEXT, PRIMARY KEY(job_id, idx));"
    "CREATE TABLE IF NOT EXISTS segments("
    "  job_id INTEGER NOT NULL, idx INTEGER NOT NULL, start INTEGER NOT NULL,"
    "  end INTEGER NOT NULL, done INTEGER NOT NULL, decoded INTEGER NOT NULL DEFAULT 0, hash TEXT,"
    "  PRIMARY KEY(job_id, idx, start));"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS job_log("
    "  seq INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, time INTEGER NOT NULL,"
    "  level TEXT NOT NULL, message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS job_log_job ON job_log(job_id, seq);"
    /* Verified files of a URL set without a row of their own, many per row
     * (see ckd_store_mark_verified). */
    "CREATE TABLE IF NOT EXISTS file_marks("
    "  seq INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, data TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS file_marks_job ON file_marks(job_id, seq);";

static const char *sql[CKD_ST_COUNT] = {
    [CKD_ST_JOB_INSERT] = "INSERT INTO jobs(state, kind, source, output, options, priority,"
                          " error, created, updated) VALUES(?,?,?,?,?,?,?,?,?)",
    [CKD_ST_JOB_UPDATE] = "UPDATE jobs SET state=?, error=?, updated=? WHERE id=?",
    [CKD_ST_FILE_INSERT] =
        "INSERT INTO files(job_id, idx, url, path, size, size_given, expect,"
        " hash, state, validator, error, unit, zstd) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [CKD_ST_FILE_UPDATE] = "UPDATE files SET state=?, size=?, hash=?, validator=?, error=?"
                           " WHERE job_id=? AND idx=?",
    [CKD_ST_SEG_DELETE] = "DELETE FROM segments WHERE job_id=? AND idx=?",
    [CKD_ST_SEG_INSERT] = "INSERT OR REPLACE INTO segments(job_id, idx, start, end, done, hash)"
                          " VALUES(?,?,?,?,?,?)",
    [CKD_ST_SEG_PROGRESS] =
        "UPDATE segments SET done=?, hash=?, decoded=? WHERE job_id=? AND idx=? AND start=?",
    [CKD_ST_LOG_INSERT] = "INSERT INTO job_log(job_id, time, level, message) VALUES(?,?,?,?)",
    [CKD_ST_LOG_TRIM] = "DELETE FROM job_log WHERE job_id=?1 AND seq <= (SELECT seq FROM job_log"
                        " WHERE job_id=?1 ORDER BY seq DESC LIMIT 1 OFFSET 200)",
    [CKD_ST_UNIT_INSERT] = "INSERT OR REPLACE INTO units(job_id, idx, kind, status, uuid, target,"
                           " staging, storage, checkpoint, dirs, write_metadata, via)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
    [CKD_ST_UNIT_STATUS] = "UPDATE units SET status=?, via=? WHERE job_id=? AND idx=?",
    [CKD_ST_UNIT_DURABLE] = "UPDATE units SET durable=? WHERE job_id=? AND idx=?",
    [CKD_ST_MARK_INSERT] = "INSERT INTO file_marks(job_id, data) VALUES(?,?)",
    [CKD_ST_SEG_DURABLE] = "UPDATE segments SET ddone=?, dhash=?, ddecoded=?"
                           " WHERE job_id=? AND idx=? AND start=?",
};

const char *ckd_store_errmsg(ckd_store *s)
{
    return s->db ? sqlite3_errmsg(s->db) : "no database";
}

static int fail(ckd_store *s, const char *what)
{
    ckd_error("store: %s: %s", what, ckd_store_errmsg(s));
    return -EIO;
}

/* The tables a ckptd database has; one without "jobs" but with other tables
 * is someone else's. */
static int count_tables(ckd_store *s, int *ours, int *others)
{
    sqlite3_stmt *st;
    *ours = *others = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM sqlite_master WHERE type='table'", -1, &st,
                           NULL) != SQLITE_OK)
        return -EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name && strcmp(name, "jobs") == 0)
            (*ours)++;
        else if (name && strncmp(name, "sqlite_", 7) != 0)
            (*others)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* A database file that exists must be a sound ckptd database: an empty,
 * truncated, corrupt or foreign file stops the daemon rather than being
 * started over (which would lose every job it records). */
static int check_existing(ckd_store *s, const char *path)
{
    sqlite3_stmt *st = NULL;
    const char *result = NULL;
    int ok = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             (result = (const char *)sqlite3_column_text(st, 0)) && strcmp(result, "ok") == 0;
    if (!ok) {
        ckd_error("'%s' is not a valid ckptd database: %s; move it aside to start over", path,
                  result ? result : ckd_store_errmsg(s));
        sqlite3_finalize(st);
        return -EINVAL;
    }
    sqlite3_finalize(st);
    int ours, others;
    if (count_tables(s, &ours, &others) < 0 || !ours) {
        ckd_error("'%s' is not a ckptd database (%s); move it aside to start over", path,
                  others ? "it holds other tables" : "it holds no jobs table");
        return -EINVAL;
    }
    return 0;
}

int ckd_store_open(ckd_store *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    struct stat sb, wal;
    int existed = stat(path, &sb) == 0;
    /* With WAL, a database killed before its first checkpoint is an empty
     * main file beside a -wal file that holds it all: that one is sound. */
    char walpath[4096];
    snprintf(walpath, sizeof(walpath), "%s-wal", path);
    if (existed && sb.st_size == 0 && (stat(walpath, &wal) != 0 || wal.st_size == 0)) {
        ckd_error("'%s' is empty, not a ckptd database (a new one is made only where none "
                  "exists); remove it to start over",
                  path);
        return -EINVAL;
    }
    /* One thread (the loop) uses the connection: no per-call mutex. */
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        int rc = fail(s, "cannot open database");
        ckd_store_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (existed && check_existing(s, path) < 0) {
        ckd_store_close(s);
        return -EINVAL;
    }
    char *err = NULL;
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;",
                     NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        ckd_error("'%s' is not a valid ckptd database: %s; move it aside to start over", path,
                  err ? err : "?");
        sqlite3_free(err);
        ckd_store_close(s);
        return -EIO;
    }
    /* Stores made before these columns existed gain them (each fails
     * harmlessly when present). */
    static const char *const added[] = {
        "ALTER TABLE units ADD COLUMN via INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE units ADD COLUMN durable INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE segments ADD COLUMN ddone INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE segments ADD COLUMN ddecoded INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE segments ADD COLUMN dhash TEXT",
    };
    for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++)
        sqlite3_exec(s->db, added[i], NULL, NULL, NULL);
    if (sqlite3_prepare_v2(s->db, "BEGIN", -1, &s->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK) {
        int rc = fail(s, "cannot prepare statement");
        ckd_store_close(s);
        return rc;
    }
    for (int i = 0; i < CKD_ST_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
            int rc = fail(s, "cannot prepare statement");
            ckd_store_close(s);
            return rc;
        }
    }
    return 0;
}

void ckd_store_close(ckd_store *s)
{
    if (!s->db) return;
    if (s->in_tx) ckd_store_commit(s);
    free(s->marks);
    for (int i = 0; i < CKD_ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    memset(s, 0, sizeof(*s));
}

/* Runs a prepared statement without results (BEGIN, COMMIT). */
static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int begin(ckd_store *s)
{
    if (s->in_tx) return 0;
    if (step_once(s->begin) < 0) return fail(s, "begin");
    s->in_tx = 1;
    s->tx_ms = ckd_now_ms();
    return 0;
}

static int marks_flush(ckd_store *s);

int ckd_store_commit(ckd_store *s)
{
    if (!s->in_tx) return 0;
    int rc = marks_flush(s);
    s->in_tx = 0;
    if (step_once(s->commit) < 0) return fail(s, "commit");
    return rc;
}

int64_t ckd_store_tx_age_ms(const ckd_store *s)
{
    return s->in_tx ? (int64_t)(ckd_now_ms() - s->tx_ms) : -1;
}

/* Binds v without a copy: every caller's strings outlive run(), which
 * clears the bindings before it returns. */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Errors and log messages are written with their URLs redacted (userinfo,
 * query): a password in a URL is never stored. */
static void bind_message(sqlite3_stmt *st, int i, const char *v)
{
    size_t cap = v ? strlen(v) * 2 + 16 : 0;
    char *clean = v ? malloc(cap) : NULL;
    if (clean) ckp_redact_urls(clean, cap, v);
    if (v)
        sqlite3_bind_text(st, i, clean ? clean : v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
    free(clean);
}

/* Steps a prepared write statement inside the batch transaction. */
static int run(ckd_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = begin(s);
    if (rc == 0 && sqlite3_step(st) != SQLITE_DONE) rc = fail(s, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int ckd_store_job_insert(ckd_store *s, const ckd_job_row *r, int64_t *id)
{
    sqlite3_stmt *st = s->st[CKD_ST_JOB_INSERT];
    bind_text(st, 1, r->state);
    bind_text(st, 2, r->kind);
    bind_text(st, 3, r->source);
    bind_text(st, 4, r->output);
    bind_text(st, 5, r->options);
    sqlite3_bind_int(st, 6, r->priority);
    bind_message(st, 7, r->error);
    sqlite3_bind_int64(st, 8, r->created);
    sqlite3_bind_int64(st, 9, r->updated);
    int rc = run(s, st, "insert job");
    if (rc == 0) *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int ckd_store_job_update(ckd_store *s, int64_t id, const char *state, const char *error,
                         int64_t updated)
{
    sqlite3_stmt *st = s->st[CKD_ST_JOB_UPDATE];
    bind_text(st, 1, state);
    bind_message(st, 2, error);
    sqlite3_bind_int64(st, 3, updated);
    sqlite3_bind_int64(st, 4, id);
    return run(s, st, "update job");
}

int ckd_store_file_insert(ckd_store *s, const ckd_file_row *r)
{
    sqlite3_stmt *st = s->st[CKD_ST_FILE_INSERT];
    sqlite3_bind_int64(st, 1, r->job_id);
    sqlite3_bind_int(st, 2, r->idx);
    bind_text(st, 3, r->url);
    bind_text(st, 4, r->path);
    sqlite3_bind_int64(st, 5, r->size);
    sqlite3_bind_int(st, 6, r->size_given);
    bind_text(st, 7, r->expect);
    bind_text(st, 8, r->hash);
    bind_text(st, 9, r->state);
    bind_text(st, 10, r->validator);
    bind_message(st, 11, r->error);
    sqlite3_bind_int(st, 12, r->unit);
    sqlite3_bind_int(st, 13, r->zstd);
    return run(s, st, "insert file");
}

int ckd_store_file_update(ckd_store *s, int64_t job_id, int idx, const char *state, int64_t size,
                          const char *hash, const char *validator, const char *error)
{
    sqlite3_stmt *st = s->st[CKD_ST_FILE_UPDATE];
    bind_text(st, 1, state);
    sqlite3_bind_int64(st, 2, size);
    bind_text(st, 3, hash);
    bind_text(st, 4, validator);
    bind_message(st, 5, error);
    sqlite3_bind_int64(st, 6, job_id);
    sqlite3_bind_int(st, 7, idx);
    return run(s, st, "update file");
}

int ckd_store_seg_delete(ckd_store *s, int64_t job_id, int idx)
{
    sqlite3_stmt *st = s->st[CKD_ST_SEG_DELETE];
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int(st, 2, idx);
    return run(s, st, "delete segments");
}

int ckd_store_seg_insert(ckd_store *s, const ckd_seg_row *r)
{
    sqlite3_stmt *st = s->st[CKD_ST_SEG_INSERT];
    sqlite3_bind_int64(st, 1, r->job_id);
    sqlite3_bind_int(st, 2, r->idx);
    sqlite3_bind_int64(st, 3, r->start);
    sqlite3_bind_int64(st, 4, r->end);
    sqlite3_bind_int64(st, 5, r->done);
    bind_text(st, 6, r->hash);
    return run(s, st, "insert segment");
}

/* A range's claim (both statements take done, hash, decoded, then the key). */
static int seg_claim(ckd_store *s, int which, int64_t job_id, int idx, int64_t start, int64_t done,
                     const char *hash, int64_t decoded, const char *what)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_bind_int64(st, 1, done);
    bind_text(st, 2, hash);
    sqlite3_bind_int64(st, 3, decoded);
    sqlite3_bind_int64(st, 4, job_id);
    sqlite3_bind_int(st, 5, idx);
    sqlite3_bind_int64(st, 6, start);
    return run(s, st, what);
}

int ckd_store_seg_progress(ckd_store *s, int64_t job_id, int idx, int64_t start, int64_t done,
                           const char *hash, int64_t decoded)
{
    return seg_claim(s, CKD_ST_SEG_PROGRESS, job_id, idx, start, done, hash, decoded,
                     "journal segment");
}

int ckd_store_seg_durable(ckd_store *s, int64_t job_id, int idx, int64_t start, int64_t done,
                          const char *hash, int64_t decoded)
{
    return seg_claim(s, CKD_ST_SEG_DURABLE, job_id, idx, start, done, hash, decoded,
                     "journal a synced segment");
}

int ckd_store_forget_unsynced(ckd_store *s)
{
    int rc = begin(s);
    if (rc == 0 && sqlite3_exec(s->db,
                                "UPDATE segments SET done=ddone, hash=dhash, decoded=ddecoded"
                                " WHERE done != ddone OR hash IS NOT dhash",
                                NULL, NULL, NULL) != SQLITE_OK)
        rc = fail(s, "forget unsynced claims");
    return rc;
}

int ckd_store_unit_durable(ckd_store *s, int64_t job_id, int idx, int durable)
{
    sqlite3_stmt *st = s->st[CKD_ST_UNIT_DURABLE];
    sqlite3_bind_int(st, 1, durable);
    sqlite3_bind_int64(st, 2, job_id);
    sqlite3_bind_int(st, 3, idx);
    return run(s, st, "update unit durability");
}

char *ckd_store_meta_get(ckd_store *s, const char *key)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    bind_text(st, 1, key);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

int ckd_store_meta_set(ckd_store *s, const char *key, const char *value)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "prepare");
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    int rc = run(s, st, "update meta");
    sqlite3_finalize(st);
    return rc;
}

int ckd_store_log(ckd_store *s, int64_t job_id, int64_t time, const char *level,
                  const char *message)
{
    sqlite3_stmt *st = s->st[CKD_ST_LOG_INSERT];
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, time);
    bind_text(st, 3, level);
    bind_message(st, 4, message);
    int rc = run(s, st, "insert log");
    if (rc == 0) {
        st = s->st[CKD_ST_LOG_TRIM];
        sqlite3_bind_int64(st, 1, job_id);
        rc = run(s, st, "trim log");
    }
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Runs a query with one int64 parameter (unless < 0 means none) and maps rows. */
static int query(ckd_store *s, const char *q, int64_t p1, int64_t p2,
                 int (*row)(void *, sqlite3_stmt *), void *ud)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) return fail(s, "query");
    if (p1 >= 0) sqlite3_bind_int64(st, 1, p1);
    if (p2 >= 0) sqlite3_bind_int64(st, 2, p2);
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) stop = row(ud, st);
    int err = (!stop && rc != SQLITE_DONE) ? fail(s, "query step") : 0;
    sqlite3_finalize(st);
    return err;
}

struct cbctx {
    void *cb;
    void *ud;
};

static int job_row(void *p, sqlite3_stmt *st)
{
    struct cbctx *c = p;
    ckd_job_row r = {
        .id = sqlite3_column_int64(st, 0),
        .state = col_text(st, 1),
        .kind = col_text(st, 2),
        .source = col_text(st, 3),
        .output = col_text(st, 4),
        .options = col_text(st, 5),
        .priority = sqlite3_column_int(st, 6),
        .error = col_text(st, 7),
        .created = sqlite3_column_int64(st, 8),
        .updated = sqlite3_column_int64(st, 9),
    };
    return ((int (*)(void *, const ckd_job_row *))c->cb)(c->ud, &r);
}

int ckd_store_each_job(ckd_store *s, int (*cb)(void *ud, const ckd_job_row *r), void *ud)
{
    struct cbctx c = {(void *)cb, ud};
    return query(s,
                 "SELECT id, state, kind, source, output, options, priority, error, created,"
                 " updated FROM jobs ORDER BY id",
                 -1, -1, job_row, &c);
}

static int source_row(void *p, sqlite3_stmt *st)
{
    const char *t = col_text(st, 0);
    char **out = p;
    *out = t ? strdup(t) : NULL;
    return 1;
}

int ckd_store_job_source(ckd_store *s, int64_t job_id, char **out)
{
    *out = NULL;
    int rc = query(s, "SELECT source FROM jobs WHERE id=?", job_id, -1, source_row, out);
    if (rc < 0) return rc;
    return *out ? 0 : -ENOENT;
}

static int file_row(void *p, sqlite3_stmt *st)
{
    struct cbctx *c = p;
    ckd_file_row r = {
        .job_id = sqlite3_column_int64(st, 0),
        .idx = sqlite3_column_int(st, 1),
        .url = col_text(st, 2),
        .path = col_text(st, 3),
        .size = sqlite3_column_int64(st, 4),
        .size_given = sqlite3_column_int(st, 5),
        .expect = col_text(st, 6),
        .hash = col_text(st, 7),
        .state = col_text(st, 8),
        .validator = col_text(st, 9),
        .error = col_text(st, 10),
        .unit = sqlite3_column_int(st, 11),
        .zstd = sqlite3_column_int(st, 12),
    };
    return ((int (*)(void *, const ckd_file_row *))c->cb)(c->ud, &r);
}

int ckd_store_each_file(ckd_store *s, int64_t job_id, int (*cb)(void *ud, const ckd_file_row *r),
                        void *ud)
{
    struct cbctx c = {(void *)cb, ud};
    return query(s,
                 "SELECT job_id, idx, url, path, size, size_given, expect, hash, state, validator,"
                 " error, unit, zstd FROM files WHERE job_id=? ORDER BY idx",
                 job_id, -1, file_row, &c);
}

static int seg_row(void *p, sqlite3_stmt *st)
{
    struct cbctx *c = p;
    ckd_seg_row r = {
        .job_id = sqlite3_column_int64(st, 0),
        .idx = sqlite3_column_int(st, 1),
        .start = sqlite3_column_int64(st, 2),
        .end = sqlite3_column_int64(st, 3),
        .done = sqlite3_column_int64(st, 4),
        .hash = col_text(st, 5),
        .decoded = sqlite3_column_int64(st, 6),
        .ddone = sqlite3_column_int64(st, 7),
        .dhash = col_text(st, 8),
        .ddecoded = sqlite3_column_int64(st, 9),
    };
    return ((int (*)(void *, const ckd_seg_row *))c->cb)(c->ud, &r);
}

int ckd_store_each_seg(ckd_store *s, int64_t job_id, int (*cb)(void *ud, const ckd_seg_row *r),
                       void *ud)
{
    struct cbctx c = {(void *)cb, ud};
    return query(s,
                 "SELECT job_id, idx, start, end, done, hash, decoded, ddone, dhash, ddecoded"
                 " FROM segments WHERE job_id=?"
                 " ORDER BY idx, start",
                 job_id, -1, seg_row, &c);
}

static int log_row(void *p, sqlite3_stmt *st)
{
    struct cbctx *c = p;
    return ((int (*)(void *, int64_t, const char *, const char *))c->cb)(
        c->ud, sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2));
}

int ckd_store_each_log(ckd_store *s, int64_t job_id, int n,
                       int (*cb)(void *ud, int64_t time, const char *level, const char *msg),
                       void *ud)
{
    struct cbctx c = {(void *)cb, ud};
    return query(s,
                 "SELECT time, level, message FROM (SELECT seq, time, level, message FROM job_log"
                 " WHERE job_id=?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
                 job_id, n, log_row, &c);
}

int ckd_store_unit_insert(ckd_store *s, const ckd_unit_row *r)
{
    sqlite3_stmt *st = s->st[CKD_ST_UNIT_INSERT];
    sqlite3_bind_int64(st, 1, r->job_id);
    sqlite3_bind_int(st, 2, r->idx);
    sqlite3_bind_int(st, 3, r->kind);
    sqlite3_bind_int(st, 4, r->status);
    bind_text(st, 5, r->uuid);
    bind_text(st, 6, r->target);
    bind_text(st, 7, r->staging);
    bind_text(st, 8, r->storage);
    /* Whatever the caller passes, no storage secret is written down. */
    json_t *cp = r->checkpoint ? json_loads(r->checkpoint, 0, NULL) : NULL;
    char *clean = NULL;
    if (cp) {
        ckd_checkpoint_scrub(cp);
        clean = json_dumps(cp, JSON_COMPACT);
        json_decref(cp);
    }
    bind_text(st, 9, clean ? clean : r->checkpoint);
    bind_text(st, 10, r->dirs);
    sqlite3_bind_int(st, 11, r->write_metadata);
    sqlite3_bind_int(st, 12, r->via);
    int rc = run(s, st, "insert unit");
    free(clean);
    return rc;
}

int ckd_store_unit_status(ckd_store *s, int64_t job_id, int idx, int status, int via)
{
    sqlite3_stmt *st = s->st[CKD_ST_UNIT_STATUS];
    sqlite3_bind_int(st, 1, status);
    sqlite3_bind_int(st, 2, via);
    sqlite3_bind_int64(st, 3, job_id);
    sqlite3_bind_int(st, 4, idx);
    return run(s, st, "update unit");
}

static int unit_row(void *p, sqlite3_stmt *st)
{
    struct cbctx *c = p;
    ckd_unit_row r = {
        .job_id = sqlite3_column_int64(st, 0),
        .idx = sqlite3_column_int(st, 1),
        .kind = sqlite3_column_int(st, 2),
        .status = sqlite3_column_int(st, 3),
        .uuid = col_text(st, 4),
        .target = col_text(st, 5),
        .staging = col_text(st, 6),
        .storage = col_text(st, 7),
        .checkpoint = col_text(st, 8),
        .dirs = col_text(st, 9),
        .write_metadata = sqlite3_column_int(st, 10),
        .via = sqlite3_column_int(st, 11),
        .durable = sqlite3_column_int(st, 12),
    };
    return ((int (*)(void *, const ckd_unit_row *))c->cb)(c->ud, &r);
}

int ckd_store_each_unit(ckd_store *s, int64_t job_id, int (*cb)(void *ud, const ckd_unit_row *r),
                        void *ud)
{
    struct cbctx c = {(void *)cb, ud};
    return query(s,
                 "SELECT job_id, idx, kind, status, uuid, target, staging, storage, checkpoint,"
                 " dirs, write_metadata, via, durable FROM units WHERE job_id=? ORDER BY idx",
                 job_id, -1, unit_row, &c);
}

/* Runs each statement of q (n of them) with job_id as its one parameter. */
static int delete_rows(ckd_store *s, const char *const *q, size_t n, int64_t job_id,
                       const char *what)
{
    int mrc = marks_flush(s); /* marks of this job go with its rows */
    if (mrc < 0) return mrc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, q[i], -1, &st, NULL) != SQLITE_OK) return fail(s, "prepare");
        sqlite3_bind_int64(st, 1, job_id);
        int rc = run(s, st, what);
        sqlite3_finalize(st);
        if (rc < 0) return rc;
    }
    return 0;
}

int ckd_store_job_forget_files(ckd_store *s, int64_t job_id)
{
    static const char *const q[] = {
        "DELETE FROM units WHERE job_id=?", "DELETE FROM files WHERE job_id=?",
        "DELETE FROM file_marks WHERE job_id=?", "DELETE FROM segments WHERE job_id=?"};
    return delete_rows(s, q, sizeof(q) / sizeof(q[0]), job_id, "forget files");
}

int ckd_store_job_delete(ckd_store *s, int64_t job_id)
{
    static const char *const q[] = {
        "DELETE FROM units WHERE job_id=?",      "DELETE FROM files WHERE job_id=?",
        "DELETE FROM file_marks WHERE job_id=?", "DELETE FROM segments WHERE job_id=?",
        "DELETE FROM job_log WHERE job_id=?",    "DELETE FROM jobs WHERE id=?"};
    return delete_rows(s, q, sizeof(q) / sizeof(q[0]), job_id, "delete job");
}

/* ---- marks: verified files, many per row ------------------------------- */

/* The gathered marks become one row (in the open transaction). */
static int marks_flush(ckd_store *s)
{
    if (s->marks_len == 0) return 0;
    sqlite3_stmt *st = s->st[CKD_ST_MARK_INSERT];
    sqlite3_bind_int64(st, 1, s->marks_job);
    sqlite3_bind_text(st, 2, s->marks, (int)s->marks_len, SQLITE_STATIC);
    s->marks_len = 0;
    return run(s, st, "mark files");
}

int ckd_store_mark_verified(ckd_store *s, int64_t job_id, int idx, int64_t size, const char *hash,
                            const char *validator)
{
    if (!ckd_hash_hex_valid(hash) || idx < 0 || size < 0) return -EINVAL;
    if (validator && (strlen(validator) > CKD_MARK_MAX_VALIDATOR || strpbrk(validator, "\t\r\n")))
        return -EINVAL;
    int rc = begin(s);
    if (rc < 0) return rc;
    if (s->marks_len > 0 && (s->marks_job != job_id || s->marks_len > CKD_MARKS_PER_ROW)) {
        if ((rc = marks_flush(s)) < 0) return rc;
    }
    size_t need = s->marks_len + 64 + CKD_MARK_MAX_VALIDATOR;
    if (need > s->marks_cap) {
        size_t cap = s->marks_cap ? s->marks_cap * 2 : 16384;
        while (cap < need) cap *= 2;
        char *m = realloc(s->marks, cap);
        if (!m) return -ENOMEM;
        s->marks = m;
        s->marks_cap = cap;
    }
    s->marks_job = job_id;
    int n = snprintf(s->marks + s->marks_len, s->marks_cap - s->marks_len, "%d\t%lld\t%s%s%s\n",
                     idx, (long long)size, hash, validator ? "\t" : "", validator ? validator : "");
    s->marks_len += (size_t)n;
    return 0;
}

/* One line of a mark row: "IDX\tSIZE\tHASH[\tVALIDATOR]". 0, or -EINVAL. */
static int mark_parse(char *line, int *idx, int64_t *size, char **hash, char **validator)
{
    char *end;
    errno = 0;
    long i = strtol(line, &end, 10);
    if (errno || end == line || *end != '\t' || i < 0 || i > INT32_MAX) return -EINVAL;
    long long sz = strtoll(end + 1, &end, 10);
    if (errno || *end != '\t' || sz < 0) return -EINVAL;
    char *h = end + 1, *tab = strchr(h, '\t');
    if (tab) *tab = '\0';
    if (!ckd_hash_hex_valid(h)) return -EINVAL;
    *idx = (int)i;
    *size = sz;
    *hash = h;
    *validator = tab ? tab + 1 : NULL;
    return 0;
}

int ckd_store_each_mark(ckd_store *s, int64_t job_id,
                        int (*cb)(void *ud, int idx, int64_t size, const char *hash,
                                  const char *validator),
                        void *ud)
{
    int rc = marks_flush(s);
    if (rc < 0) return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT data FROM file_marks WHERE job_id=? ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(s, "prepare");
    sqlite3_bind_int64(st, 1, job_id);
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = 0;
        const char *data = (const char *)sqlite3_column_text(st, 0);
        char *copy = data ? strdup(data) : NULL;
        if (data && !copy) rc = -ENOMEM;
        for (char *line = copy, *next; rc == 0 && line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            int idx;
            int64_t size;
            char *hash, *validator;
            if (mark_parse(line, &idx, &size, &hash, &validator) == 0)
                rc = cb(ud, idx, size, hash, validator);
            if (!next) break;
        }
        free(copy);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc < 0 ? rc : fail(s, "read marks");
}
