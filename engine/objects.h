/* objects: the resolve stage of a job whose source is an object-store
 * prefix or object (source.kind "objects": s3://, gs://, az://). Lists it
 * with the store's own paging (signed with the same credential chains as
 * checkpoint storage), keeps the keys the job takes (include/exclude,
 * path checks), skips copies already here, reads the content hashes the
 * store keeps (S3 checksums, GCS crc32c/md5 by HEAD; azure's Content-MD5
 * from the listing), and adds one unit of files with their URLs, sizes,
 * ETags and the store's credentials, which the data plane then fetches
 * like a checkpoint's files; the verify stage checks the hashes
 * (objhash.h). */
#ifndef CKD_OBJECTS_H
#define CKD_OBJECTS_H

#include "job.h"

/* Objects one listing may name (taken or not) before the job fails. */
#define CKD_OBJECTS_MAX_LISTED 1000000

/* Starts resolving a queued (or waiting) objects job; it ends running
 * (ckd_job_resolved), waiting (the store unreachable or busy: tried again
 * with back-off) or failed (refused, nothing there, an unsafe key). */
void ckd_objects_resolve_start(ckd_job *j);
/* The job stopped resolving (paused, canceled): its listing request is
 * canceled now and its context freed. */
void ckd_objects_cancel(ckd_job *j);

#endif
