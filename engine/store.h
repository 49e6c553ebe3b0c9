/* The durable job store: SQLite in WAL mode under the state directory.
 *
 * Writes from the loop are batched: every mutating call joins one open
 * transaction, committed by ckd_store_commit() (the daemon commits a
 * transaction at most CKD_COMMIT_MS after it began, and at once where a
 * reply promises durability). WAL with
 * synchronous=NORMAL survives kill -9 without an fsync per commit; callers
 * flush file data *before* writing the row that claims it. */
#ifndef CKD_STORE_H
#define CKD_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The longest a change waits in the open transaction (see above). */
#define CKD_COMMIT_MS 20

enum {
    CKD_ST_JOB_INSERT,
    CKD_ST_JOB_UPDATE,
    CKD_ST_FILE_INSERT,
    CKD_ST_FILE_UPDATE,
    CKD_ST_SEG_DELETE,
    CKD_ST_SEG_INSERT,
    CKD_ST_SEG_PROGRESS,
    CKD_ST_LOG_INSERT,
    CKD_ST_LOG_TRIM,
    CKD_ST_UNIT_INSERT,
    CKD_ST_UNIT_STATUS,
    CKD_ST_UNIT_DURABLE,
    CKD_ST_SEG_DURABLE,
    CKD_ST_MARK_INSERT,
    CKD_ST_COUNT
};

typedef struct ckd_store {
    sqlite3 *db;
    int in_tx;
    uint64_t tx_ms; /* when the open transaction began (ckd_now_ms) */
    sqlite3_stmt *st[CKD_ST_COUNT];
    sqlite3_stmt *begin, *commit;
    /* verified files gathered for one mark row (ckd_store_mark_verified) */
    char *marks;
    size_t marks_len, marks_cap;
    int64_t marks_job;
} ckd_store;

/* A mark row holds about this many bytes of lines; a validator longer than
 * this cannot be marked. */
#define CKD_MARKS_PER_ROW      (256 * 1024)
#define CKD_MARK_MAX_VALIDATOR 255

typedef struct ckd_job_row {
    int64_t id;
    const char *state, *kind, *source, *output, *options, *error;
    int priority;
    int64_t created, updated;
} ckd_job_row;

typedef struct ckd_unit_row {
    int64_t job_id;
    int idx;
    int kind, status, write_metadata, via;
    int durable; /* 0: published, not yet known to be on disk (durability "background") */
    const char *uuid, *target, *staging, *storage, *checkpoint, *dirs; /* JSON texts */
} ckd_unit_row;

typedef struct ckd_file_row {
    int64_t job_id;
    int idx;
    int unit;
    const char *url, *path, *expect, *hash, *state, *validator, *error;
    int64_t size; /* -1 unknown */
    int size_given;
    int zstd; /* stored decoded */
} ckd_file_row;

typedef struct ckd_seg_row {
    int64_t job_id;
    int idx;
    int64_t start, end, done;
    int64_t decoded;  /* zstd files: decoded bytes at done (a frame end) */
    const char *hash; /* NULL when nothing is journaled */
    /* What a sync proved on disk (survives a reboot): bytes from start, the
     * decoded bytes at that point (zstd), their hash (NULL: nothing yet). */
    int64_t ddone, ddecoded;
    const char *dhash;
} ckd_seg_row;

int ckd_store_open(ckd_store *s, const char *path);
void ckd_store_close(ckd_store *s);
int ckd_store_commit(ckd_store *s);
/* Milliseconds since the open transaction began, or -1 when none is open. */
int64_t ckd_store_tx_age_ms(const ckd_store *s);
const char *ckd_store_errmsg(ckd_store *s);

int ckd_store_job_insert(ckd_store *s, const ckd_job_row *r, int64_t *id);
int ckd_store_job_update(ckd_store *s, int64_t id, const char *state, const char *error,
                         int64_t updated);
int ckd_store_file_insert(ckd_store *s, const ckd_file_row *r);
int ckd_store_file_update(ckd_store *s, int64_t job_id, int idx, const char *state, int64_t size,
                          const char *hash, const char *validator, const char *error);
/* Replaces the segment rows of a file. */
int ckd_store_seg_delete(ckd_store *s, int64_t job_id, int idx);
int ckd_store_seg_insert(ckd_store *s, const ckd_seg_row *r);
/* A sync made [start, start + done) durable (hash, decoded as in the row). */
int ckd_store_seg_durable(ckd_store *s, int64_t job_id, int idx, int64_t start, int64_t done,
                          const char *hash, int64_t decoded);
/* After a reboot: every range's claim becomes what was synced. */
int ckd_store_forget_unsynced(ckd_store *s);
/* Unit idx of a job is (1) or is not yet (0) known to be on disk. */
int ckd_store_unit_durable(ckd_store *s, int64_t job_id, int idx, int durable);
/* A small key/value table (the boot id of the run that wrote the journal).
 * get: a malloc'd copy or NULL when absent. */
char *ckd_store_meta_get(ckd_store *s, const char *key);
int ckd_store_meta_set(ckd_store *s, const char *key, const char *value);
int ckd_store_seg_progress(ckd_store *s, int64_t job_id, int idx, int64_t start, int64_t done,
                           const char *hash, int64_t decoded);
/* Drops a job's units, files and segments (a resolution that failed). */
int ckd_store_job_forget_files(ckd_store *s, int64_t job_id);
/* Drops a job and everything recorded of it: units, files, segments, log. */
int ckd_store_job_delete(ckd_store *s, int64_t job_id);
int ckd_store_unit_insert(ckd_store *s, const ckd_unit_row *r);
/* A unit's status and route (enum ckd_unit_via) changed. */
int ckd_store_unit_status(ckd_store *s, int64_t job_id, int idx, int status, int via);
int ckd_store_each_unit(ckd_store *s, int64_t job_id, int (*cb)(void *ud, const ckd_unit_row *r),
                        void *ud);
int ckd_store_log(ckd_store *s, int64_t job_id, int64_t time, const char *level,
                  const char *message);

/* Loading, in id / idx / start order. A callback returning non-zero stops. */
int ckd_store_each_job(ckd_store *s, int (*cb)(void *ud, const ckd_job_row *r), void *ud);
/* The job's source as recorded (JSON text, malloc'd in *out): 0, -ENOENT
 * (no such job, or out of memory), or the store's error. */
int ckd_store_job_source(ckd_store *s, int64_t job_id, char **out);
int ckd_store_each_file(ckd_store *s, int64_t job_id, int (*cb)(void *ud, const ckd_file_row *r),
                        void *ud);
int ckd_store_each_seg(ckd_store *s, int64_t job_id, int (*cb)(void *ud, const ckd_seg_row *r),
                       void *ud);
/* The job's last n log lines, oldest first. */
int ckd_store_each_log(ckd_store *s, int64_t job_id, int n,
                       int (*cb)(void *ud, int64_t time, const char *level, const char *msg),
                       void *ud);

/* Records that file idx of a job is verified (size, xxh128 hex, validator
 * or NULL) without a row of its own: lines gathered in memory and written
 * as one row per job at the next commit. A row per file cost the control
 * thread more than fetching a small file. Only for files whose other
 * facts come back from the job's source on restore (a URL set) and that
 * have no row yet; any later change writes the file's row, which restore
 * applies after the marks. -EINVAL for a validator with a tab or newline
 * or longer than CKD_MARK_MAX_VALIDATOR (the caller writes a row then). */
int ckd_store_mark_verified(ckd_store *s, int64_t job_id, int idx, int64_t size, const char *hash,
                            const char *validator);
/* Calls cb for every mark of the job, oldest first; lines that do not
 * parse are skipped (cb checks idx against the job). 0, or cb's or the
 * store's negative error. */
int ckd_store_each_mark(ckd_store *s, int64_t job_id,
                        int (*cb)(void *ud, int idx, int64_t size, const char *hash,
                                  const char *validator),
                        void *ud);

#endif
