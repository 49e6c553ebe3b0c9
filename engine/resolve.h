/* Resolve: asks the Determined master which checkpoints and files a job
 * means, and adds them to the job as units and files. */
#ifndef CKD_RESOLVE_H
#define CKD_RESOLVE_H

#include "det_select.h"
#include "job.h"

/* Starts resolving a queued (or waiting) checkpoint job; it ends running
 * (ckd_job_resolved), waiting to try again, or failed. */
void ckd_resolve_start(ckd_job *j);

/* Sets q's sort from a user's --sort-by: a preset name ("batch_number",
 * "SORT_BY_BATCH_NUMBER", ...) or else a validation metric (borrowed). */
void ckd_resolve_apply_sort(ckd_det_query *q, const char *sort_by);

#endif
