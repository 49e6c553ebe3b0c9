/* The scheduler: the loop's driver of every job's next step. */
#ifndef CKD_SCHEDULE_H
#define CKD_SCHEDULE_H

#include "job.h"

/* Wires the kick timer (daemon.h's ckd_sched_kick) to the scheduler's pass. */
void ckd_sched_init(ckd_daemon *d);
/* Stops all of a job's work now (pause, cancel, daemon stop): transfers,
 * archives; active files go back to pending. Their ends arrive later as
 * outcomes and are dropped. */
void ckd_sched_stop_job(ckd_job *j);

#endif
