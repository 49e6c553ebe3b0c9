/* JSON views of jobs for the protocol, built on demand. */
#ifndef CKD_JOB_VIEW_H
#define CKD_JOB_VIEW_H

#include <jansson.h>

#include "job.h"

/* One subscriber-facing snapshot: id, state, bytes, rate, error. */
json_t *ckd_job_summary(const ckd_job *j);
/* The summary plus files, units and the job's log. */
json_t *ckd_job_detail(ckd_job *j);

/* job.get pages a job's files: this many by default, at most the maximum,
 * and a page stops early once its text nears the byte budget (so a reply
 * stays far below the client's 64 MiB cap). */
#define CKD_JOB_GET_DEFAULT_LIMIT 1000
#define CKD_JOB_GET_MAX_LIMIT     10000
#define CKD_JOB_GET_MAX_BYTES     (4 << 20)

/* job.add_files: at most this many files and this many request bytes wait
 * on one connection for its next job.submit (the job limit is 100,000). */
#define CKD_PENDING_MAX_FILES 100000
#define CKD_PENDING_MAX_BYTES (256u << 20)

/* A job's detail with files [offset, offset + limit): the summary, "files",
 * "files_offset", "files_next" (the next page's offset, or null after the
 * last), the checkpoints, source (its file list replaced by the count),
 * options and the last log lines. */
json_t *ckd_job_detail_page(ckd_job *j, size_t offset, size_t limit);

#endif
