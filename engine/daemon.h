/* The daemon's in-memory model and the functions modules call on each other.
 *
 * Ownership: the daemon owns jobs; a job owns its files; a file owns its
 * segments; a segment is filled by at most one transfer at a time. Everything
 * runs on the one loop thread except the bodies of pool work items, which
 * touch only the fields their comments name. */
#ifndef CKD_DAEMON_H
#define CKD_DAEMON_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>
#include <uv.h>
#include "hash.h"
#include <zstd.h>

#include "config.h"
#include "storage_auth.h"
#include "store.h"

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
    int64_t mark;          /* bytes from start at the last journal step ... */
    char mark_hash[33];    /* ... and their XXH3-128, claimed at the next step */
    XXH3_state_t *hash;    /* XXH3-128 over [start, start + written) */
    struct ckd_xfer *xfer; /* the transfer filling it, or NULL */
    int inflight;          /* a pool write for this segment is queued */
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
    char *uuid;                  /* checkpoint uuid, NULL for a URL set */
    char *target;                /* the directory the files end up in */
    char *staging;               /* where they are written until verified */
    char *storage;               /* storage type the checkpoint came from, or NULL */
    json_t *checkpoint;          /* the master's checkpoint object, or NULL */
    json_t *dirs;                /* directories to create (checkpoint resources ending in '/') */
    int write_metadata;          /* the storage has no metadata.json: write the master's */
    ckd_storage_auth auth;       /* object stores: credentials, in memory only (never stored) */
    int found_present;           /* set by the prepare pass, reported on the loop */
    int via;                     /* enum ckd_unit_via, persisted: the job's record of the route */
    struct ckd_archive *archive; /* master route: the archive in flight, or NULL */
    int arc_attempts;            /* transient archive failures in a row */
    uint64_t arc_not_before_ms;  /* retry back-off for the archive */
    int manifest;                /* index of the checkpoint's own checksums.xxh128 file, or -1 */
    int manifest_state;          /* enum ckd_checksums_state */
    int twin_logged;             /* "copying from a verified copy" was logged */
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
    char *validator; /* ETag (or Last-Modified) of the first response */
    char *error;
    int verify_attempts; /* size/hash mismatches so far (one refetch allowed) */
    int fd;              /* staging file, -1 when closed */
    int opening;         /* an open is queued in the pool */
    int io;              /* other pool work on this file in flight */
    int no_ranges;       /* the server ignores Range: one stream from zero */
    int twin;            /* being (or was) copied from a verified copy published elsewhere */
    int no_twin;         /* that copy failed or differed: fetch it from its source */
    int layout_saved;    /* segment rows exist in the store */
    /* zstd: the bytes fetched are a zstd stream, stored decoded. One range,
     * never split; resume restarts at the last complete frame. */
    int zstd;
    int64_t dec;              /* decoded bytes written (the decoded file's size so far) */
    int64_t frame_c, frame_d; /* compressed and decoded offsets at the last frame end */
    ZSTD_DCtx *zd;
    char *zout;               /* decoder output buffer (pool thread) */
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
    char *kind;
    json_t *source;
    json_t *options;
    char *output;
    int priority;
    char *error;
    int64_t created, updated;
    ckd_file *files;
    size_t nfiles;
    ckd_unit *units;
    size_t nunits; /* 0 until a checkpoint job is resolved */
    int resolve_attempts;
    uint64_t not_before_ms; /* waiting: retry resolution after this */
    size_t files_verified;
    size_t files_failed;
    int prepared; /* staging exists and earlier bytes were re-proven */
    int busy;     /* pool work for the job itself (prepare, flush, publish, cleanup) */
    int xfers;    /* transfers of this job alive (including detached ones) */
    int flushing; /* a flush wave is in the pool */
    int *fetched; /* files fetched and verified, waiting for a flush wave */
    size_t nfetched, fetched_cap;
    size_t flush_n;            /* files in the wave in flight */
    size_t sched_from;         /* files before this need no scheduling */
    int fd_cleanup;            /* some file stopped with its fd possibly open */
    uint64_t flush_since_ms;   /* when the oldest unflushed fetched file finished */
    int publishing;            /* the publish step is in the pool */
    int cleaned;               /* canceled and its staging removed */
    int recheck;               /* loaded after a restart: re-prove bytes before use */
    struct ckd_follow *follow; /* kind "follow": its polling state (follow.c) */
    /* rate: bytes_done sampled on the daemon tick */
    int64_t rate_bytes[16];
    uint64_t rate_ms[16];
    int rate_n;
    double rate;
    struct ckd_job *next;
} ckd_job;

/* One subscriber-facing snapshot, built on demand. */
json_t *ckd_job_summary(const ckd_job *j);
json_t *ckd_job_detail(ckd_job *j);
int64_t ckd_job_bytes_done(const ckd_job *j);
/* -1 when some size is unknown */
int64_t ckd_job_bytes_total(const ckd_job *j);

typedef struct ckd_xfer_engine {
    CURLM *multi;
    uv_timer_t timer;
    int active;       /* transfers attached to the multi handle */
    int64_t buffered; /* bytes of write buffers handed to transfers */
    char *pool;       /* free full-size buffers, linked through their first bytes */
    int npool;
    struct ckd_xfer *waiting; /* paused for lack of buffer memory or bandwidth */
    uv_timer_t refill;        /* bandwidth token bucket, while a limit is set */
    int64_t tokens;           /* bytes that may be received before the next refill */
    uint64_t refill_ms;
    int64_t bytes_total; /* all bytes ever written, for throughput */
} ckd_xfer_engine;

struct ckd_server;
struct ckd_http;
struct ckd_master;

typedef struct ckd_daemon {
    uv_loop_t *loop;
    ckd_config cfg;
    ckd_store store;
    ckd_xfer_engine xe;
    struct ckd_server *server;
    struct ckd_master *master;
    struct ckd_http *http_reqs; /* in-memory requests in flight */
    char *master_ca_file;
    /* Follow jobs' disk budget pass (follow.c), one at a time and never
     * beside a tidy pass: both read pointers and remove directories, and one
     * could remove what the other is about to point at. */
    struct {
        int inflight; /* a budget pass is in the pool */
        int again;    /* a pass was asked for while it could not start */
        int tidies;   /* tidy passes in the pool, of running or stopped follows */
    } follow_budget;
    int copies;   /* local copies in the pool */
    int archives; /* master archives streaming (each holds a connection) */
    int stop_journaled;
    ckd_job *jobs; /* by id */
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;     /* rates, progress events, retry wake-ups */
    uv_timer_t kick;     /* runs the scheduler on the next iteration */
    uv_prepare_t commit; /* commits the store's open transaction */
    int stopping;
    int exit_code;
    uint64_t start_ms;
    char *socket_path;
    char *state_dir;
    int64_t rate_bytes[16];
    uint64_t rate_ms[16];
    int rate_n;
    double throughput;
} ckd_daemon;

/* job.c */
int ckd_jobs_load(ckd_daemon *d);
/* <unit staging>/<path>, malloc'd. */
char *ckd_file_staging_path(const ckd_file *f);
/* Moves a job to another state: logs, persists, notifies subscribers. */
void ckd_job_set_state(ckd_job *j, enum ckd_job_state to, const char *error);
/* A resolved checkpoint job got its units and files (resolve.c). */
int ckd_job_add_unit(ckd_job *j, const ckd_unit *u);
/* Adds a file before any transfer started (the files array may move). */
int ckd_job_add_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                     const char *expect, int zstd);
/* options.decompress and a ".zst" name: the file is stored decoded, without
 * the suffix (ckd_zstd_stored_name, malloc'd). */
int ckd_job_wants_decoding(const ckd_job *j, const char *url, const char *path);
char *ckd_zstd_stored_name(const char *path);
/* -EEXIST (why filled) when two files of a unit would share a stored path. */
int ckd_job_check_paths(const ckd_job *j, char *why, size_t whylen);
void ckd_job_resolved(ckd_job *j);
/* Drops what a failed resolution added, so a resume resolves again. */
void ckd_job_forget_resolution(ckd_job *j);

/* resolve.c: asks the master which checkpoints and files a job means. */
void ckd_resolve_start(ckd_job *j);
/* Validates a checkpoint source spec at submit; 0 or -EINVAL with why. */
int ckd_resolve_check_source(const json_t *source, char *why, size_t whylen);

/* copy.c: a file whose source is mounted locally (file://). */
int ckd_copy_start(ckd_daemon *d, ckd_file *f);
/* The same for a file of a checkpoint already published elsewhere by
 * ckptd: copied (reflinked where the filesystem can) from src. */
int ckd_copy_start_twin(ckd_daemon *d, ckd_file *f, const char *src);
/* job.c: a local copy of size bytes landed and f->hash holds its XXH3-128. */
void ckd_file_copied(ckd_file *f, int64_t size);

/* checksums.c: a checkpoint's own checksums.xxh128, applied to its other
 * files as expected hashes. */
#define CKD_CHECKSUMS_NAME "checksums.xxh128"
enum ckd_checksums_state {
    CKD_CHECKSUMS_UNREAD = 0,  /* not applied (the unit's other files wait) */
    CKD_CHECKSUMS_READING = 1, /* being read in the pool */
    CKD_CHECKSUMS_APPLIED = 2, /* applied, or failed: nothing waits */
};
int ckd_checksums_is_manifest(const char *path);
/* 1 when f must wait for its unit's manifest (reading it once it is in). */
int ckd_checksums_gate(ckd_file *f);
/* Master route: 1 when f (written, hash set) is held until the manifest is
 * applied, then verified; 0 to verify it now. */
int ckd_checksums_hold(ckd_file *f, int64_t size);

/* manifest.c: the .ckptd.xxh128 file (xxhsum -H2 format) in a published
 * checkpoint. Pool threads only. */
#define CKD_MANIFEST_NAME ".ckptd.xxh128"
/* Beside it: {"checkpoint": uuid, "version": 1}, which copy this is. */
#define CKD_IDENTITY_NAME ".ckptd.json"
/* 1 when dir holds ckptd's copy of checkpoint uuid (its .ckptd.json names
 * it; or, for copies from before that file, dir is named by the uuid and
 * has a manifest), 0 otherwise. */
int ckd_manifest_names(const char *dir, const char *uuid);
/* 0 when unit u's target is ckptd's copy of u's checkpoint and holds every
 * file of u with the size and hash its manifest records, agreeing with the
 * expected hashes (then sets each file's hash); -ENOENT/-EINVAL otherwise. */
int ckd_manifest_check(ckd_job *j, size_t u);
/* Writes dir/.ckptd.xxh128 for unit u's files (plus extra, a path with its
 * hash, when not NULL), durably. */
int ckd_manifest_write(ckd_job *j, size_t u, const char *dir, const char *extra_path,
                       const char *extra_hash);
/* Validates and creates a job from job.submit params; on error returns a
 * ckp_rpc_code and fills why (and *bad_path for unsafe paths). */
int ckd_job_submit(ckd_daemon *d, json_t *params, ckd_job **out, char *why, size_t whylen,
                   json_t **err_data);
ckd_job *ckd_job_find(ckd_daemon *d, int64_t id);
/* job.pause / job.resume / job.cancel: 0 or CKP_RPC_BAD_TRANSITION. */
int ckd_job_pause(ckd_job *j);
int ckd_job_resume(ckd_job *j);
int ckd_job_cancel(ckd_job *j);
void ckd_job_log(ckd_job *j, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Asks for a scheduling pass on the next loop iteration. */
void ckd_sched_kick(ckd_daemon *d);
void ckd_sched_run(ckd_daemon *d);
/* Called by xfer.c when a segment's transfer ended and its writes drained. */
void ckd_seg_finished(ckd_seg *s, int ok);
/* Transient failure of a segment's transfer: back off and retry. */
void ckd_seg_retry(ckd_seg *s, double retry_after_s, const char *why);
/* The storage refused access (401/403, EACCES) to a file of a direct unit:
 * with options.mode "auto" the unit moves to the master's archive,
 * otherwise the file fails with msg. */
void ckd_unit_access_denied(ckd_file *f, const char *msg);
/* Moves unit u to the master's archive (why is logged); its unfinished
 * files start again from zero there. */
void ckd_unit_use_master(ckd_job *j, int u, const char *why);
/* options.mode is "auto" (the default). */
int ckd_job_mode_auto(const ckd_job *j);
/* Permanent failure of a file. */
void ckd_file_fail(ckd_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The server ignored Range or the file changed: start it again from zero. */
void ckd_file_restart(ckd_file *f, const char *why);
/* A write failed on disk (ENOSPC, EIO): the job fails with the path. */
void ckd_job_disk_error(ckd_job *j, const char *path, int err);
/* Daemon stop: abort transfers, flush, persist; calls back when idle. */
void ckd_jobs_stop_all(ckd_daemon *d);
int ckd_jobs_idle(ckd_daemon *d);
void ckd_jobs_free(ckd_daemon *d);
void ckd_job_tick_rate(ckd_job *j, uint64_t now);
/* From the tick: flushes fetched files that waited long enough. */
void ckd_job_flush_due(ckd_job *j);

/* xfer.c */
int ckd_xfer_engine_init(ckd_daemon *d);
void ckd_xfer_engine_close(ckd_daemon *d);
void ckd_xfer_engine_apply_config(ckd_daemon *d);
/* Starts a transfer for segment s (file open, s->xfer NULL, !s->inflight). */
int ckd_xfer_start(ckd_daemon *d, ckd_seg *s);
/* Stops s's transfer; buffered bytes not yet written are dropped. */
void ckd_xfer_abort(ckd_seg *s);

/* server.c: notifications to subscribers. */
void ckd_events_job(ckd_daemon *d, ckd_job *j);
void ckd_events_tick(ckd_daemon *d);

#endif
