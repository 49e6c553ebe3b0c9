/* JSON views of jobs for the protocol, built on demand. */
#ifndef CKD_JOB_VIEW_H
#define CKD_JOB_VIEW_H

#include <jansson.h>

#include "job.h"

/* One subscriber-facing snapshot: id, state, bytes, rate, error. */
json_t *ckd_job_summary(const ckd_job *j);
/* The summary plus files, units and the job's log. */
json_t *ckd_job_detail(ckd_job *j);

#endif
