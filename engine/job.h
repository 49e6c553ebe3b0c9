/* The job model: a job, its publish units, files and segments, their
 * states and the one setter per state machine. Everything here runs on the
 * loop thread; pool work touches only the fields its comments name.
 *
 * Ownership: the daemon owns jobs; a job owns its units and files; a file
 * owns its segments; a segment is filled by at most one transfer at a time. */
#ifndef CKD_JOB_H
#define CKD_JOB_H

#include <jansson.h>
#include <stdint.h>
#include <zstd.h>

#include "daemon.h"
#include "hash.h"
#include "spec.h"
#include "storage_auth.h"

/* A checkpoint's own checksums file (see checksums.h), fetched first. */
#define CKD_CHECKSUMS_NAME "checksums.xxh128"

#define CKD_JOB_MAGIC  0x6a6f6221u
#define CKD_XFER_MAGIC 0x78666572u

/* Job states: X(enum suffix, wire name). */
#define CKD_JOB_STATE_MAP(X)                                                                       \
    X(QUEUED, "queued")       /* accepted, waiting for a slot */                                   \
    X(RESOLVING, "resolving") /* asking the master what to fetch */                                \
    X(RUNNING, "running")     /* transferring, verifying or publishing */                          \
    X(WAITING, "waiting")     /* cannot progress now; retries by itself */                         \
    X(PAUSED, "paused")       /* stopped by a client, staging kept */                              \
    X(DONE, "done")           /* every file verified and published */                              \
    X(FAILED, "failed")       /* gave up; staging kept for a resume */                             \
    X(CANCELED, "canceled")   /* stopped by a client, staging removed */

enum ckd_job_state {
#define X(name, wire) CKD_JOB_##name,
    CKD_JOB_STATE_MAP(X)
#undef X
        CKD_JOB_NSTATES
};

#define CKD_FILE_STATE_MAP(X)                                                                      \
    X(PENDING, "pending")   /* nothing or part fetched, no transfer now */                         \
    X(ACTIVE, "active")     /* transfers running */                                                \
    X(FETCHED, "fetched")   /* all bytes written; hash and flush under way */                      \
    X(VERIFIED, "verified") /* size and hash checked, data flushed */                              \
    X(FAILED, "failed")     /* gave up; error says why */

enum ckd_file_state {
#define X(name, wire) CKD_FILE_##name,
    CKD_FILE_STATE_MAP(X)
#undef X
};

const char *ckd_job_state_name(enum ckd_job_state s);
int ckd_job_state_parse(const char *name); /* -EINVAL when unknown */
const char *ckd_file_state_name(enum ckd_file_state s);
int ckd_file_state_parse(const char *name);

struct ckd_xfer;
struct ckd_job;
struct ckd_daemon;

typedef struct ckd_seg {
    struct ckd_file *file;
    int64_t start;
    int64_t end;           /* exclusive; -1 while the file's size is unknown */
    int64_t written;       /* bytes from start on disk (page cache) and hashed */
    int64_t journaled;     /* bytes from start whose hash row is committed */
    char jhash[33];        /* ... their hash (hex), "" when nothing is journaled */
    int64_t jdecoded;      /* ... zstd: the decoded bytes at that point */
    int64_t durable;       /* bytes from start a sync proved on disk (journaled as such) */
    int hash_past;         /* hash covers bytes past end (the stream ran on before a cut) */
    XXH3_state_t *hash;    /* XXH3-128 over [start, start + written) */
    struct ckd_xfer *xfer; /* the transfer filling it, or NULL */
    int inflight;          /* an aborted transfer's final report is still due (the fd in use) */
    int attempts;          /* transient failures so far */
    uint64_t first_fail_ms;
    uint64_t not_before_ms; /* retry back-off: do not start before */
} ckd_seg;

/* A publish unit: files that appear together. A URL set is one unit whose
 * files are renamed into the output one by one; a checkpoint is one unit
 * whose staging directory is renamed to its target in one step. */
enum ckd_unit_kind { CKD_UNIT_FILES = 0, CKD_UNIT_CHECKPOINT = 1 };
enum ckd_unit_status {
    CKD_UNIT_PENDING = 0, /* not published yet */
    CKD_UNIT_FETCHED = 1, /* published by this job */
    CKD_UNIT_PRESENT = 2, /* an identical verified copy was already there */
};

/* Which route serves a checkpoint: its storage, or the master's archive. */
enum ckd_unit_via { CKD_VIA_DIRECT = 0, CKD_VIA_MASTER = 1 };

typedef struct ckd_unit {
    enum ckd_unit_kind kind;
    enum ckd_unit_status status;
    char *uuid;                 /* checkpoint uuid, NULL for a URL set */
    char *target;               /* the directory the files end up in */
    char *staging;              /* where they are written until verified */
    char *storage;              /* storage type the checkpoint came from, or NULL */
    json_t *checkpoint;         /* the master's checkpoint object, or NULL */
    json_t *dirs;               /* directories to create (checkpoint resources ending in '/') */
    int write_metadata;         /* the storage has no metadata.json: write the master's */
    ckd_storage_auth auth;      /* object stores: credentials, in memory only (never stored) */
    int found_present;          /* set by the prepare pass, reported on the loop */
    int via;                    /* enum ckd_unit_via, persisted: the job's record of the route */
    int durable;                /* 0: published and not yet synced (durability "background") */
    struct ckd_tar *archive;    /* master route: the archive in flight, or NULL */
    int64_t arc_bytes;          /* bytes of its file being unpacked, sampled on the tick */
    int arc_attempts;           /* transient archive failures in a row */
    uint64_t arc_not_before_ms; /* retry back-off for the archive */
    int sums_file;              /* index of the checkpoint's own checksums.xxh128 file, or -1 */
    int sums_state;             /* enum ckd_checksums_state */
    int twin_logged;            /* "copying from a verified copy" was logged */
    size_t nfiles, verified;
} ckd_unit;

typedef struct ckd_file {
    struct ckd_job *job;
    int idx;
    int unit; /* index into job->units */
    char *url;
    char *path;      /* relative to the job's output */
    int64_t size;    /* -1 while unknown */
    int size_given;  /* size came from the job spec and must match */
    char expect[33]; /* expected xxh128, "" when none */
    char hash[33];   /* computed xxh128 once fetched */
    enum ckd_file_state state;
    int has_row;     /* the store holds a row for the file */
    int row_pending; /* the store says pending, without an error (its row, or the job's
                      * source for a source file without one) */
    char *validator; /* ETag (or Last-Modified) of the first response */
    char *error;
    int verify_attempts;    /* size/hash mismatches so far (one refetch allowed) */
    int restarts;           /* restarts from zero so far (CKD_RESTART_MAX allowed) */
    uint64_t not_before_ms; /* restart back-off: the scheduler starts nothing before */
    int fd;                 /* staging file, -1 when closed */
    int opening;            /* an open is queued in the pool */
    int io;                 /* other pool work on this file in flight */
    int no_ranges;          /* the server ignores Range: one stream from zero */
    int twin;               /* being (or was) copied from a verified copy published elsewhere */
    int no_twin;            /* that copy failed or differed: fetch it from its source */
    int layout_saved;       /* segment rows exist in the store */
    /* A large file starts as one range; after a probe of its first
     * connection's rate it is split (a slow connection) or not (split_done). */
    uint64_t probe_ms;  /* when its first transfer started, 0 before */
    int64_t probe_from; /* the range's bytes then */
    int split_done;     /* decided: split, or one connection is fast enough */
    /* zstd: the bytes fetched are a zstd stream, stored decoded. One range,
     * never split; resume restarts at the last complete frame. */
    int zstd;                 /* (the data plane decodes; size is the decoded size) */
    int64_t dec;              /* decoded bytes written (the decoded file's size so far) */
    int64_t frame_c, frame_d; /* compressed and decoded offsets at the last frame end */
    XXH3_state_t *hash_frame; /* the hash state at the last frame end */
    int reset_pending;        /* start again from zero once nothing is in flight */
    int64_t held;             /* master route: size + 1 of a file whose verification waits
                                 for its checkpoint's checksums.xxh128; 0 otherwise */
    ckd_seg *segs;
    int nsegs;
} ckd_file;

typedef struct ckd_job {
    uint32_t magic;
    struct ckd_daemon *d;
    int64_t id;
    enum ckd_job_state state;
    char *kind;        /* source.kind as submitted (the wire name) */
    ckd_job_spec spec; /* kind and options, parsed once */
    json_t *source;
    json_t *options;
    char *output;
    int priority;
    char *error;
    int64_t created, updated;
    ckd_file *files;
    size_t nfiles, files_cap;
    /* A finished URL set's file list lives in the store only (see
     * ckd_history_drop_files): its count and bytes, else 0. */
    size_t dropped_files;
    int64_t dropped_bytes;
    uint64_t files_read_ms; /* when a view last read the list back (ckd_now_ms), 0 never */
    ckd_unit *units;
    size_t nunits; /* 0 until a checkpoint job is resolved */
    int resolve_attempts;
    void *resolving;        /* resolve.c's context while its master call is out, or NULL */
    uint64_t not_before_ms; /* waiting: retry resolution after this */
    size_t files_verified;
    size_t files_failed;
    int prepared;  /* staging exists and earlier bytes were re-proven */
    int preparing; /* the prepare pass is in the pool */
    int resumed;   /* resumed by a client: the next prepare pass skips the space check */
    int busy;      /* pool work for the job itself (prepare, flush, publish, cleanup) */
    int xfers;     /* transfers of this job alive (including detached ones) */
    int flushing;  /* a flush wave is in the pool */
    int *fetched;  /* files fetched and verified, waiting for a flush wave */
    size_t nfetched, fetched_cap;
    size_t flush_n;            /* files in the wave in flight */
    size_t sched_from;         /* files before this need no scheduling */
    int fd_cleanup;            /* some file stopped with its fd possibly open */
    int stop_pending;          /* some work must be stopped (a file failed or restarts, the
                                  job stopped): the scheduler's next pass does it */
    uint64_t flush_since_ms;   /* when the oldest unflushed fetched file finished */
    int publishing;            /* the publish step is in the pool */
    int cleaned;               /* canceled and its staging removed */
    int recheck;               /* loaded after a restart: re-prove bytes before use */
    struct ckd_follow *follow; /* kind "follow": its polling state (follow_int.h) */
    /* rate: bytes_done sampled on the daemon tick */
    int64_t rate_bytes[16];
    uint64_t rate_ms[16];
    int rate_n;
    double rate;
    struct ckd_job *next;
} ckd_job;

/* ---- names and state machines ---------------------------------------- */

const char *ckd_job_state_name(enum ckd_job_state s);
int ckd_job_state_parse(const char *name); /* -EINVAL when unknown */
const char *ckd_file_state_name(enum ckd_file_state s);
int ckd_file_state_parse(const char *name);
/* 1 when a job may go from one state to the other (the same state is
 * always allowed: it refreshes the error). */
int ckd_job_transition_ok(enum ckd_job_state from, enum ckd_job_state to);
int ckd_file_transition_ok(enum ckd_file_state from, enum ckd_file_state to);

/* The one place a job changes state: checks the transition, logs, persists,
 * tells d->job_changed. -EINVAL (logged, nothing changed) for a transition
 * the table does not allow. */
int ckd_job_set_state(ckd_job *j, enum ckd_job_state to, const char *error);
/* The one place a file changes state: checks the transition and, with
 * persist, writes the file's row. */
int ckd_file_set_state(ckd_file *f, enum ckd_file_state to, int persist);
/* Writes the file's row (state, size, hash, validator, error). */
int ckd_file_persist(ckd_file *f);
/* Writes range s's journal row (its bounds and what it claims so far). */
void ckd_seg_save(ckd_file *f, const ckd_seg *s);
/* Replaces the file's journal rows with one per range; layout_saved = 1. */
void ckd_file_save_layout(ckd_file *f);
void ckd_job_log(ckd_job *j, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Done, canceled or failed. */
int ckd_job_terminal(const ckd_job *j);
/* No pool work of the job and no transfer of its is in flight. */
int ckd_job_quiet(const ckd_job *j);

/* ---- the model -------------------------------------------------------- */

ckd_job *ckd_job_new(ckd_daemon *d);
void ckd_job_free(ckd_job *j);
/* The string source[key] of the job's recorded source, or NULL. */
const char *ckd_job_source_str(const ckd_job *j, const char *key);
/* Inserts j into d's list (ordered by id). */
void ckd_job_link(ckd_daemon *d, ckd_job *j);
ckd_job *ckd_job_find(ckd_daemon *d, int64_t id);
/* A resolved checkpoint job got its units and files (resolve.c); the unit
 * and file rows are written to the store. */
int ckd_job_add_unit(ckd_job *j, const ckd_unit *u);
/* Adds a file before any transfer started (the files array may move). */
int ckd_job_add_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                     const char *expect, int zstd);
/* The same for a file the job's recorded source lists (a URL set): its row
 * is written at its first change, and a restart rebuilds it from the
 * source, so that submitting 100,000 URLs writes one row, not 100,000. */
int ckd_job_add_source_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                            const char *expect, int zstd);
/* Resolution met trouble that may pass (the master or the store unreachable,
 * 5xx, 429): the job waits, backing off (1 s doubling to 60 s, jittered),
 * and the scheduler resolves it again; the job's error says why. */
void ckd_job_resolve_later(ckd_job *j, const char *msg);
/* Resolution done: the job runs (its prepare pass comes from the scheduler). */
void ckd_job_resolved(ckd_job *j);
/* Drops what a failed resolution added, so a resume resolves again. */
void ckd_job_forget_resolution(ckd_job *j);
/* Releases every file of the job and its list (counters stay). */
void ckd_job_files_release(ckd_job *j);
void ckd_unit_release(ckd_unit *u);
void ckd_file_release(ckd_file *f);
/* Segments: n fresh ones (hash states reset), or none. */
int ckd_file_segs_alloc(ckd_file *f, int n);
void ckd_file_segs_free(ckd_file *f);
/* The zstd decoder state of a file stored decoded. */
int ckd_file_zstd_init(ckd_file *f);
void ckd_file_zstd_release(ckd_file *f);
/* Back to nothing (the source changed or a hash was wrong): segments,
 * decoder and staging file go, the journal rows too. */
void ckd_file_reset(ckd_file *f);
/* The directory a file is written to until its unit is published, and
 * <that>/<path> (malloc'd). */
const char *ckd_file_staging_dir(const ckd_file *f);
char *ckd_file_staging_path(const ckd_file *f);
/* Nothing of f is in flight (transfer, open, pool I/O). */
int ckd_file_idle(const ckd_file *f);
/* Every segment of f is complete and nothing is in flight. */
int ckd_file_all_written(const ckd_file *f);
int64_t ckd_job_bytes_done(const ckd_job *j);
/* The job's files, counted also when the list is dropped. */
size_t ckd_job_nfiles(const ckd_job *j);

/* -1 when some size is unknown */
int64_t ckd_job_bytes_total(const ckd_job *j);
void ckd_job_tick_rate(ckd_job *j, uint64_t now);
/* Permanent failure of a file: recorded, logged; the scheduler stops its
 * transfers. */
void ckd_file_fail(ckd_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Restarts from zero a file may take (the source changed, ignored a range,
 * lied about its size) before it fails. */
#define CKD_RESTART_MAX 5
/* The retry back-off with full jitter: a random delay in milliseconds up
 * to 250 ms << attempt, at most 30 s. One for every retry and restart. */
uint64_t ckd_backoff_ms(int attempt);
/* The source ignored a range or changed: start f again from zero once
 * nothing of it is in flight and its back-off (ckd_backoff_ms) ran out;
 * past CKD_RESTART_MAX restarts it fails instead, naming why. */
void ckd_file_restart(ckd_file *f, const char *why);
/* A write failed on disk (ENOSPC, EIO): the job fails naming the path. */
void ckd_job_disk_error(ckd_job *j, const char *path, int err);
/* Every job, at daemon exit. */
void ckd_jobs_free(ckd_daemon *d);
/* Forgets a finished job: unlinks it from d->jobs, deletes its rows from the
 * store and frees it. Only a terminal, quiet job that is not publishing, has
 * no follow state and (canceled or failed) whose staging is cleaned up;
 * -EBUSY otherwise, and nothing changes. */
int ckd_job_forget(ckd_job *j);

#endif
