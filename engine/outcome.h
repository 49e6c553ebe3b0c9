/* Outcomes: the one place where what a fetch source reports (fetch.h) turns
 * into changes of the job model — retry with back-off, restart, fail,
 * another route, or on to verification. Loop thread only. */
#ifndef CKD_OUTCOME_H
#define CKD_OUTCOME_H

#include "fetch.h"
#include "job.h"

/* Receives every source's outcomes (a ckd_outcome_fn). An outcome for a job
 * or file that is gone, stopped or restarting is dropped. */
void ckd_outcome_report(ckd_daemon *d, const ckd_outcome *o);
/* Moves unit u to the master's archive (why is logged); its unfinished
 * files start again from zero there. */
void ckd_unit_use_master(ckd_job *j, int u, const char *why);

#endif
