/* ckc verify: checks a local directory against the checksum manifest in it,
 * hashing each listed file (XXH3-128, 1 MiB reads) the way `xxhsum -c`
 * does. Shared by `ckpt verify` and `ckpt checkpoint seal`. */
#ifndef CKC_VERIFY_H
#define CKC_VERIFY_H

#include <stddef.h>

/* The manifest ckptd writes into every checkpoint it publishes, and the
 * one a checkpoint may ship itself. */
#define CKC_MANIFEST_CKPTD   ".ckptd.xxh128"
#define CKC_MANIFEST_SHIPPED "checksums.xxh128"

typedef enum ckc_vstatus {
    CKC_V_OK,       /* the file's hash is the listed one */
    CKC_V_FAILED,   /* another hash, or not a readable regular file inside the directory */
    CKC_V_MISSING,  /* no such file */
    CKC_V_BAD_LINE, /* a manifest line that cannot be used (malformed, unsupported hash) */
} ckc_vstatus;

/* One line of the manifest, checked. */
typedef struct ckc_vitem {
    unsigned long line; /* its line number, from 1 */
    ckc_vstatus status;
    const char *path; /* the listed name (NULL for a bad line) */
    size_t path_len;
    char expected[33]; /* the listed hash ("" for a bad line) */
    char actual[33];   /* the file's hash ("" when it was not hashed) */
    char why[160];     /* "" for OK, MISSING and a plain mismatch; otherwise why */
} ckc_vitem;

typedef struct ckc_vtotals {
    size_t ok, failed, missing, bad_lines;
    int opened; /* the manifest was opened (an error after is a read error) */
} ckc_vtotals;

/* Called for every line as it is checked; the item is valid during the
 * call only. */
typedef void (*ckc_verify_fn)(const ckc_vitem *it, void *arg);

/* Checks the directory open as dirfd against the first of the manifests
 * (names inside it, a NULL-terminated list) that exists, and names that one
 * in *used. Returns 0 when the check ran (the outcome is in *t), -ENOENT
 * when there is none of them, or another negative errno when the manifest
 * cannot be opened (t->opened false: -EINVAL when it is not a regular file,
 * a symbolic link not being followed) or read to its end (t->opened true:
 * -E2BIG when it is over 256 MiB). */
int ckc_verify_dir(int dirfd, const char *const *manifests, const char **used, ckc_verify_fn fn,
                   void *arg, ckc_vtotals *t);

/* Whether every line checked out: no failure, nothing missing, no bad line,
 * and at least one file. */
int ckc_verify_passed(const ckc_vtotals *t);

#endif
