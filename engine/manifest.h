/* ckptd's manifest in every published checkpoint: .ckptd.xxh128 (xxhsum -H2
 * format, so `xxhsum -c` can check a copy) and .ckptd.json naming the
 * checkpoint the copy is of. Pool threads only. */
#ifndef CKD_MANIFEST_H
#define CKD_MANIFEST_H

#include <stddef.h>

#include "job.h"

#define CKD_MANIFEST_NAME ".ckptd.xxh128"
/* Beside it: {"checkpoint": uuid, "version": 1}, which copy this is. */
#define CKD_IDENTITY_NAME ".ckptd.json"

/* 1 when dir holds ckptd's copy of checkpoint uuid (its .ckptd.json names
 * it; or, for copies from before that file, dir is named by the uuid and
 * has a manifest), 0 otherwise. */
int ckd_manifest_names(const char *dir, const char *uuid);
/* 0 when unit u's target is ckptd's copy of u's checkpoint and holds every
 * file of u with the size and hash its manifest records, agreeing with the
 * expected hashes (found(ud, file index, hash) for each file re-proved; a
 * later mismatch makes the whole answer -EINVAL); -ENOENT/-EINVAL otherwise.
 * Reads the job, writes nothing of it (it runs in the pool). */
int ckd_manifest_check(const ckd_job *j, size_t u,
                       void (*found)(void *ud, size_t file, const char hex[33]), void *ud);
/* Writes dir/.ckptd.xxh128 for unit u's files (plus extra, a path with its
 * hash, when not NULL) and, for a checkpoint, dir/.ckptd.json, durably. */
int ckd_manifest_write(ckd_job *j, size_t u, const char *dir, const char *extra_path,
                       const char *extra_hash);

#endif
