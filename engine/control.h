/* Control: pause, resume, cancel, and the daemon's graceful stop. */
#ifndef CKD_CONTROL_H
#define CKD_CONTROL_H

#include "job.h"

/* job.pause / job.resume / job.cancel: 0 or CKP_RPC_BAD_TRANSITION. */
int ckd_job_pause(ckd_job *j);
int ckd_job_resume(ckd_job *j);
int ckd_job_cancel(ckd_job *j);
/* Daemon stop: stops every job's work (prefetch polling is stopped by the
 * caller, engine.c). */
void ckd_jobs_stop_all(ckd_daemon *d);
/* From the daemon's tick while stopping: 1 once everything is on disk and
 * journaled and nothing is in flight. */
int ckd_jobs_idle(ckd_daemon *d);

#endif
