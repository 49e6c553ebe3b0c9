/* objhash: the content hashes an object store keeps of an objects job's
 * files (storehash.h). Recorded with the job's unit at resolve time
 * (objects.c), each with the ETag of the object version it belongs to, so
 * that it survives a daemon restart; looked up by the verify stage, which
 * checks a file's bytes against it when the version fetched is that one. */
#ifndef CKD_OBJHASH_H
#define CKD_OBJHASH_H

#include <jansson.h>

#include "job.h"
#include "storehash.h"

/* The key of the record in the unit's checkpoint object:
 * {"<path>": {"etag": "\"...\"", "hash": "crc32c:<base64>"}, ...}. */
#define CKD_OBJHASH_KEY "object_hashes"

/* 1 when two ETags name the same version (surrounding quotes ignored);
 * 0 when either is NULL or empty. */
int ckd_objhash_etag_eq(const char *a, const char *b);
/* Adds path's hash h of the version with ETag etag to *rec (a JSON object,
 * created on first use). 0; -EINVAL for no hash or no ETag; -ENOMEM. */
int ckd_objhash_add(json_t **rec, const char *path, const char *etag, const ckd_storehash *h);
/* The hash f's bytes must have: 1 with *out; 0 when none is known (or f is
 * stored decoded: the store's hash is of the compressed bytes); -ESTALE
 * when one is known for another version than the one fetched (f's
 * validator, the ETag its responses carried, differs). */
int ckd_objhash_expected(const ckd_file *f, ckd_storehash *out);

#endif
