/* The master's archive as a fetch source: one tar streamed from a URL by
 * curl and unpacked by libarchive on a thread of its own, straight into the
 * files the owner named (their staging paths), each hashed (XXH3-128) as it
 * is written; `.zst` entries can be stored decoded. The thread reads nothing
 * of the owner: what it needs is copied in. Results come back on the loop as
 * plain values: one report per entry written or missing, then one end
 * report. Knows nothing of jobs, the store or the server. */
#ifndef CKD_TARSTREAM_H
#define CKD_TARSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ckd_tar ckd_tar;

/* One file the owner wants out of the archive. */
typedef struct ckd_tar_want {
    const char *name; /* its name inside the archive */
    const char *dst;  /* where it is written (under dir) */
    int tag;          /* the owner's, echoed in reports */
    int skip;         /* already there and verified: not rewritten */
    int zstd;         /* a zstd stream stored decoded */
} ckd_tar_want;

typedef struct ckd_tar_spec {
    const char *url;
    const char *ca_file; /* NULL: the system's */
    int noverify;        /* no TLS peer or host verification */
    const char *dir;     /* every dst is under it; parents are made below it */
    int64_t low_speed_limit, low_speed_time;
    int64_t max_speed; /* bytes/s, 0: none */
    const ckd_tar_want *wants;
    size_t n;
} ckd_tar_spec;

/* The end of an archive: err 0, or why it failed (-ECANCELED once
 * aborted); transient: worth another attempt; tail_bad: the tar ended, then
 * the body did not (short, broken off, not the announced length), so
 * nothing this attempt wrote is to be trusted (see ckd_tar_seen). */
typedef struct ckd_tar_end {
    int err;
    int transient;
    int tail_bad;
    const char *msg;
} ckd_tar_end;

typedef struct ckd_tar_cbs {
    /* An entry was written (err 0, with size and hash) or is not in the
     * archive (err -ENOENT). */
    void (*entry)(void *ud, int tag, int err, int64_t size, const char hash[33]);
    /* The archive ended; the handle closes after this returns. */
    void (*end)(void *ud, const ckd_tar_end *e);
    /* The archive is freed; nothing of it may be used any more. */
    void (*closed)(void *ud);
} ckd_tar_cbs;

/* Prepares an archive on loop (the strings are copied); nothing runs until
 * ckd_tar_run or ckd_tar_fail. 0 or -ENOMEM (and nothing to free). */
int ckd_tar_new(uv_loop_t *loop, const ckd_tar_spec *s, const ckd_tar_cbs *cbs, void *ud,
                ckd_tar **out);
/* Starts the thread, sending auth_header ("Authorization: ...", or NULL). */
void ckd_tar_run(ckd_tar *x, const char *auth_header);
/* Ends it without running (e.g. the master refused): the end report says
 * err, transient and msg. */
void ckd_tar_fail(ckd_tar *x, int err, int transient, const char *msg);
/* Stops a running archive; its end is reported as usual, shortly. */
void ckd_tar_abort(ckd_tar *a);
/* Bytes of the entry being written now, for progress. */
int64_t ckd_tar_progress(const ckd_tar *a);
/* 1 when the entry with this tag was written by this attempt (for a
 * tail_bad end). */
int ckd_tar_seen(const ckd_tar *x, int tag);

/* Largest archive body accepted. */
#define CKD_TAR_MAX_BYTES (1LL << 42)

#endif
