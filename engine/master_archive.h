/* master_archive: the master's archive route for a checkpoint unit: one tar
 * from GET <master>/checkpoints/{uuid} (Accept: application/x-tar), fetched
 * and unpacked by the archive source (archive.h) straight into the unit's
 * staging directory. This is the job's side of it: which files, the
 * master's authorization, and what each entry and the end mean for the
 * files (verified like any download, held for the checkpoint's checksums,
 * retried with back-off, failed). The route cannot resume: an interrupted
 * archive is fetched again, skipping (not rewriting) the files verified by
 * an earlier attempt. */
#ifndef CKD_MASTER_ARCHIVE_H
#define CKD_MASTER_ARCHIVE_H

#include "tarstream.h"
#include "job.h"

/* Starts fetching unit u of j through the master (its files that are not
 * fetched or verified become ACTIVE); un->archive is set while it runs.
 * 0 or a negative errno. */
int ckd_master_archive_start(ckd_job *j, size_t u);

#endif
