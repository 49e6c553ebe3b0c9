/* Follow jobs (GPU-node prefetch): a job of kind "follow" polls the master
 * for a trial's or experiment's newest (or best) checkpoints, downloads each
 * newly qualifying one through an ordinary child checkpoint job, keeps a
 * stable symlink to the newest complete copy, and removes the ones it
 * downloaded beyond --keep; over all follow jobs, disk_budget evicts the least
 * recently used unpinned, unpointed copies and a copy deleted by hand is
 * fetched again. All on the loop; the follow state lives in
 * j->follow and is rebuilt from the job's source after a restart. */
#ifndef CKD_FOLLOW_H
#define CKD_FOLLOW_H

#include "job.h"

/* The scheduler found a queued follow job: start polling (sets RUNNING). */
void ckd_follow_start(ckd_job *j);
/* Stop polling (pause, cancel, daemon stop); frees j->follow. Safe to call
 * on a job that is not following. */
void ckd_follow_stop(ckd_job *j);
/* disk_budget changed (config.set): enforce it now, off the loop. */
void ckd_follow_budget_changed(ckd_daemon *d);
/* The id of the follow job that submitted checkpoint job c (its
 * options.parent), or 0 when c is no follow job's child. */
int64_t ckd_follow_parent(const ckd_job *c);
/* Every job state change; a follow job reacts to its children's. */
void ckd_follow_on_job_state(ckd_daemon *d, ckd_job *j);

#endif
