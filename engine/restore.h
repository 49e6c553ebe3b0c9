/* Restore: the jobs of the store, loaded after a (re)start. */
#ifndef CKD_RESTORE_H
#define CKD_RESTORE_H

#include "job.h"

/* A journaled range: its row's claim, proven or rejected by prepare.c. */
typedef struct ckd_seg_claim {
    int idx;                      /* the file */
    int64_t start, done, decoded; /* the range, bytes claimed, decoded bytes (zstd) */
    char hash[33];                /* XXH3-128 of the claimed bytes */
} ckd_seg_claim;

/* Loads every job; unfinished ones are queued again (and re-prove their
 * bytes before use). 0 or a negative errno. */
int ckd_jobs_load(ckd_daemon *d);
/* Brings back a file list dropped by ckd_history_drop_files (the job's source,
 * marks and rows, as a restart loads them). 0, or a negative errno with the
 * list still dropped. */
int ckd_job_files_reload(ckd_job *j);
/* The journal's claims for one job (malloc'd array in *v). */
int ckd_restore_claims(ckd_daemon *d, int64_t job, ckd_seg_claim **v, size_t *n);

#endif
