/* Resolve: asks the Determined master which checkpoints and files a job
 * means, and adds them to the job as units and files. */
#ifndef CKD_RESOLVE_H
#define CKD_RESOLVE_H

#include "job.h"

/* Starts resolving a queued (or waiting) checkpoint job; it ends running
 * (ckd_job_resolved), waiting to try again, or failed. */
void ckd_resolve_start(ckd_job *j);
/* The job stopped resolving (paused, canceled): its master calls are
 * canceled now, their context freed; the job's state is the caller's. */
void ckd_resolve_cancel(ckd_job *j);

#endif
