/* Publish: flush (durability), publication and cleanup of staging. Loop
 * thread; disk work goes to the pool. */
#ifndef CKD_PUBLISH_H
#define CKD_PUBLISH_H

#include "job.h"

/* A file passed its checks: queue it for the next flush wave. */
void ckd_job_fetched(ckd_job *j, ckd_file *f);
/* Starts a flush wave when one is due (many files waiting, nothing else in
 * flight, or the oldest waited a second); also from the daemon's tick. */
void ckd_job_flush(ckd_job *j);
/* Every file of unit u is verified and durable: publish it (not while a
 * master archive of the unit is in flight: nothing until it ended whole). */
void ckd_unit_publish(ckd_job *j, size_t u);
/* A canceled job (or a failed one the history forgets), once quiet: removes
 * its staging directories (only those ckptd made). */
void ckd_job_cleanup(ckd_job *j);
/* A file of unit u that publishing into its existing, non-empty target
 * would replace although the target is not ckptd's copy of the same
 * checkpoint and the file there holds other bytes: 1 (where names it),
 * else 0. Before fetching (unverified_only), verified files count as moved
 * there by an interrupted publish and bytes are compared by size or an
 * expected hash only; mhex is the hash of the metadata.json ckptd writes.
 * Pool threads. */
int ckd_publish_conflict(ckd_job *j, size_t u, int unverified_only, const char *mhex, char *where,
                         size_t wlen);
/* The job's error for such a conflict. */
void ckd_publish_conflict_message(char *msg, size_t len, const ckd_unit *un, const char *where);

#endif
