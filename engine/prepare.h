/* Prepare: the pass a job runs (in the pool) before its files are
 * scheduled. */
#ifndef CKD_PREPARE_H
#define CKD_PREPARE_H

#include "job.h"

/* Starts the prepare pass unless the job is prepared or preparing; when it
 * ends the job is prepared, waiting for space, or failed. */
void ckd_job_prepare(ckd_job *j);

#endif
