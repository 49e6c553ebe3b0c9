/* Durability: what survives a process crash and what survives a reboot.
 *
 * - The boot id (/proc/sys/kernel/random/boot_id, or $CKPTD_BOOT_ID_FILE in
 *   tests) is recorded with the journal. After a restart in the same boot,
 *   bytes the daemon wrote are in the page cache: the journal's claims are
 *   re-hashed and kept (prepare.c). After a reboot only what a sync proved
 *   is claimed; the rest is fetched again.
 * - Every sync_interval_ms, files being written are synced (fdatasync, in
 *   the pool) and the ranges' journaled bytes recorded as durable. Only
 *   files the loop holds open (those in ranges, or of segment_threshold and
 *   more): a smaller file, opened by its worker, starts again from zero
 *   after a reboot (a same-boot restart still resumes it).
 * - durability "background": a unit is published once its files are
 *   written and verified from the streamed bytes, then synced; until then
 *   it is not durable (a prefetch pointer does not move to it), and after a
 *   reboot it is checked against its manifest before it counts as present.
 */
#ifndef CKD_DURABLE_H
#define CKD_DURABLE_H

#include "job.h"

/* The job's effective durability (its option, else the daemon's setting). */
int ckd_job_durability(const ckd_job *j);
/* Every unit of j that was published is synced (1), or not yet (0). */
int ckd_job_durable(const ckd_job *j);
/* Before jobs are loaded: compares the recorded boot id with this boot's;
 * after a reboot the journal's claims become what was synced. 0 or -errno. */
int ckd_durable_boot(ckd_daemon *d);
/* After jobs are loaded: published units not yet durable are synced (same
 * boot) or checked again (their job queued, after a reboot). */
void ckd_durable_after_load(ckd_daemon *d);
/* From the daemon's tick: starts the periodic sync of files being written. */
void ckd_durable_tick(ckd_daemon *d, uint64_t now);
/* A unit of j was just published with durability "background": sync it. */
void ckd_durable_settle(ckd_job *j, size_t u);

#endif
