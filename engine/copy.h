/* Local copies: a file from storage mounted here (shared_fs, directory), or
 * from a verified copy ckptd published elsewhere, copied in the pool
 * (reflink, else copy_file_range, else read/write) and hashed by reading
 * the copy back, so it is verified like a download. A fetch source: it
 * knows nothing of jobs and reports one ckd_outcome (fetch.h). */
#ifndef CKD_COPY_H
#define CKD_COPY_H

#include <stdint.h>
#include <uv.h>

#include "fetch.h"

typedef struct ckd_copy_spec {
    int64_t job;     /* echoed in the outcome */
    int file;        /* echoed in the outcome */
    const char *src; /* the file to copy (never through a symlink) */
    const char *dst; /* the copy, created or truncated */
    const char *dir; /* dst is dir/rel: rel's parents are made under dir */
    const char *rel;
    int twin; /* src is a copy elsewhere: failing to read it is CKD_OUT_REFETCH */
} ckd_copy_spec;

/* Starts the copy (the strings are copied). Its one outcome goes to
 * cb(owner, &o) on loop: OK with bytes and hash; DENIED (EACCES/EPERM on
 * src), FAIL (src), REFETCH (twin src), DISK (writing dst). 0 or -ENOMEM,
 * and then nothing is reported. */
int ckd_copy_start(uv_loop_t *loop, const ckd_copy_spec *c, struct ckd_daemon *owner,
                   ckd_outcome_fn cb);

#endif
