/* A checkpoint's own checksums.xxh128 (xxhsum -H2 lines, GNU or BSD):
 * fetched before the other files of its unit and applied to them as
 * expected hashes. Part of verification; loop thread, reading in the pool. */
#ifndef CKD_CHECKSUMS_H
#define CKD_CHECKSUMS_H

#include "job.h"

enum ckd_checksums_state {
    CKD_CHECKSUMS_UNREAD = 0,  /* not applied (the unit's other files wait) */
    CKD_CHECKSUMS_READING = 1, /* being read in the pool */
    CKD_CHECKSUMS_APPLIED = 2, /* applied, or failed: nothing waits */
};

/* 1 when path is the checksums file's name. */
int ckd_checksums_is_file(const char *path);
/* 1 when f must wait for its unit's checksums file (reading it once it is
 * in). */
int ckd_checksums_gate(ckd_file *f);
/* Master route: 1 when f (written, hash set) is held until the checksums
 * file is applied, then verified; 0 to verify it now. */
int ckd_checksums_hold(ckd_file *f, int64_t size);

#endif
