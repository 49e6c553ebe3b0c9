/* History: finished jobs (done, failed, canceled) do not stay forever. They
 * are kept for the history_days setting and at most history_max of them,
 * in memory and in the database; older ones are forgotten by a pass that
 * the daemon's tick runs at a low rate. */
#ifndef CKD_HISTORY_H
#define CKD_HISTORY_H

#include "daemon.h"
#include "job.h"

/* How often the daemon's tick runs the history pass. */
#define CKD_HISTORY_INTERVAL_MS 10000

/* From the daemon's tick: runs ckd_history_prune() when the last pass is at
 * least CKD_HISTORY_INTERVAL_MS old. */
void ckd_history_tick(ckd_daemon *d, uint64_t now_ms);
/* Forgets the finished jobs last updated before now_s - history_days, and
 * the oldest finished jobs beyond history_max. Never the newest job (the
 * store would hand its id out again), nor a child of a follow job still
 * kept (the follow job reads its children); a failed job's staging is
 * removed first and the job goes on a later pass. Returns how many went. */
int ckd_history_prune(ckd_daemon *d, int64_t now_s);

/* A finished URL set (done, published, durable, nothing in flight) lets go
 * of its file list: the store has it (the job's source, marks and rows) and
 * ckd_job_files_reload brings it back for a view. A history of many files
 * then costs memory per job, not per file (about 1 KiB per file). */
void ckd_history_drop_files(ckd_job *j);
/* A list read back for a view stays this long (a client paging through
 * the files reads it once). */
#define CKD_HISTORY_KEEP_READ_MS 10000

#endif
