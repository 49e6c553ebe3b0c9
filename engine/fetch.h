/* What every fetch source reports: one plain value per piece of work (a
 * segment of a file, or a whole file), delivered on the loop thread through
 * the ckd_outcome_fn the source was given. It holds no pointer into anyone's
 * state, so it can be built on any thread and copied across. Sources know
 * nothing of jobs, the store or the server; outcome.c interprets these. */
#ifndef CKD_FETCH_H
#define CKD_FETCH_H

#include <stdint.h>

struct ckd_daemon;

enum ckd_outcome_kind {
    CKD_OUT_OK,      /* the piece is complete (whole files: bytes and hash set) */
    CKD_OUT_RETRY,   /* transient: back off, then try again (retry_after_s >= 0: the
                        server's wish) */
    CKD_OUT_RESTART, /* the source changed or ignored a range: start the file from zero */
    CKD_OUT_FAIL,    /* permanent for this file: message says why */
    CKD_OUT_DENIED,  /* the storage refused access (401/403, EACCES): maybe another route */
    CKD_OUT_DISK,    /* writing failed (err): the job fails naming the path in message */
    CKD_OUT_REFETCH, /* a local copy could not be used: fetch the file from its source */
};

/* Which kind of source did the work (the job core keeps per-kind counts). */
enum ckd_source { CKD_SRC_HTTP = 0, CKD_SRC_COPY, CKD_SRC_ARCHIVE };

typedef struct ckd_outcome {
    enum ckd_source src;
    int64_t job; /* the job's id */
    int file;    /* the file's index in the job */
    int seg;     /* the segment's index, -1 for whole-file work */
    enum ckd_outcome_kind kind;
    int err;              /* CKD_OUT_DISK: a negative errno */
    double retry_after_s; /* CKD_OUT_RETRY: -1 for the default back-off */
    int64_t bytes;        /* CKD_OUT_OK of whole-file work: the file's size */
    char hash[33];        /* CKD_OUT_OK of whole-file work: its XXH3-128 hex ("" none) */
    char message[1024];   /* why, for the job's log and error */
} ckd_outcome;

/* Receives outcomes, on the loop thread. */
typedef void (*ckd_outcome_fn)(struct ckd_daemon *d, const ckd_outcome *o);

#endif
