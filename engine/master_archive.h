/* master_archive: the master's archive route: one checkpoint streamed as a tar from
 * GET <master>/checkpoints/{uuid} (Accept: application/x-tar) and unpacked
 * by libarchive straight into the unit's staging directory.
 *
 * libarchive pulls its input while curl pushes it, so each archive runs on a
 * thread of its own that drives a private curl handle from libarchive's read
 * callback: no bytes are buffered beyond one read, and nothing but the files
 * themselves touches the disk. Finished files are handed to the loop through
 * an async handle and verified there like any other download. The route
 * cannot resume: an interrupted archive is fetched again, skipping (not
 * rewriting) the files verified by an earlier attempt. */
#ifndef CKD_MASTER_ARCHIVE_H
#define CKD_MASTER_ARCHIVE_H

#include "job.h"

typedef struct ckd_archive ckd_archive;

/* Starts fetching unit u of j through the master (its files that are not
 * fetched or verified become ACTIVE). 0 or a negative errno. */
int ckd_archive_start(ckd_job *j, size_t u);
/* Stops a running archive; its end is reported as usual, shortly. */
void ckd_archive_abort(ckd_archive *a);
/* Bytes of the file being unpacked now, for progress. */
int64_t ckd_archive_progress(const ckd_archive *a);

/* Largest archive body accepted, and the longest entry path. */
#define CKD_ARCHIVE_MAX_BYTES (1LL << 42)

#endif
