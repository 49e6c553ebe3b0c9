/* objlist: object-store URLs and listings, pure. Parses s3://, gs:// and
 * az:// URLs, the XML pages of S3's ListObjectsV2, Google Cloud Storage's
 * XML list (the same ListBucketResult) and Azure's List Blobs
 * (EnumerationResults), the stores' XML error bodies, and decides which
 * listed keys a job takes (prefix, include/exclude globs, path checks).
 *
 * No I/O, no logging, no globals. Every input has a hard cap checked before
 * anything is allocated; a page over a cap is an error, never cut short. */
#ifndef CKD_OBJLIST_H
#define CKD_OBJLIST_H

#include <stddef.h>
#include <stdint.h>

#include "storehash.h"

/* Hard caps. */
#define CKD_OBJLIST_MAX_BODY    (32 * 1024 * 1024) /* one listing page */
#define CKD_OBJLIST_MAX_ENTRIES 10000              /* entries of one page */
#define CKD_OBJLIST_MAX_KEY     1024               /* a key or blob name (S3's own limit) */
#define CKD_OBJLIST_MAX_TOKEN   4096               /* a continuation token or marker */
#define CKD_OBJLIST_MAX_DEPTH   16                 /* XML element nesting */
#define CKD_OBJLIST_MAX_URL     4096               /* an s3:// gs:// az:// URL */
#define CKD_OBJLIST_MAX_GLOBS   64                 /* include or exclude patterns */

enum ckd_objstore {
    CKD_OBJ_S3 = 0, /* s3://bucket/key */
    CKD_OBJ_GCS,    /* gs://bucket/key */
    CKD_OBJ_AZURE,  /* az://account/container/blob */
};

/* A parsed object URL. Strings malloc'd. */
typedef struct ckd_objurl {
    enum ckd_objstore store;
    char *account; /* azure only */
    char *bucket;  /* the bucket (s3, gcs) or container (azure) */
    char *key;     /* the prefix (ends in '/' or is "") or one object's key */
    int is_prefix; /* the URL ended in '/' (or named the bucket alone) */
} ckd_objurl;

/* Parses url. Bucket and container: 1-255 bytes of [A-Za-z0-9._-]; azure
 * account likewise. The key may hold any byte but NUL and control bytes
 * (it is not percent-decoded: "a%20b" is that key). "s3://b" and "s3://b/"
 * mean the whole bucket. Returns 0, -EINVAL with err, -ENOMEM. */
int ckd_objurl_parse(const char *url, ckd_objurl *out, char *err, size_t errlen);
void ckd_objurl_release(ckd_objurl *u);
/* "s3", "gcs" or "azure": the storage type names checkpoint storage uses. */
const char *ckd_objstore_type(enum ckd_objstore s);

/* One listed object. */
typedef struct ckd_objent {
    char *key; /* the full key */
    int64_t size;
    char *etag;         /* as listed ("" when none), quotes included where the store sends them */
    ckd_storehash hash; /* the content hash the listing gives (azure Content-MD5), or none */
    int probe;          /* 1: the store keeps a checksum the listing does not show (an S3
                         * ChecksumAlgorithm, not a COMPOSITE one): a HEAD reads it */
} ckd_objent;

/* One page of a listing. */
typedef struct ckd_objpage {
    ckd_objent *v;
    size_t n;
    int truncated; /* more pages follow */
    char *next;    /* continuation token (S3 v2) or marker for the next page, or NULL */
} ckd_objpage;

/* Parses a page: S3 and GCS (ListBucketResult: Contents/Key, Size, ETag;
 * IsTruncated; NextContinuationToken or NextMarker; a truncated page
 * without either continues after its last key) or azure (EnumerationResults:
 * Blobs/Blob/Name, Properties/Content-Length, Etag; NextMarker, a page with
 * one is truncated). Content hashes: S3's ChecksumAlgorithm (and
 * ChecksumType) set probe; azure's Content-MD5 is the entry's hash. Entities &amp; &lt; &gt; &quot;
 * &apos; and &#N; / &#xN; are decoded (to UTF-8); CDATA is taken as is. Returns 0; -EINVAL with err
 * for a body that is not such a page (or malformed XML, a missing or
 * negative size, a key with a NUL or control byte); -E2BIG past a cap;
 * -ENOMEM. On error out is empty. */
int ckd_objlist_parse(enum ckd_objstore s, const char *xml, size_t len, ckd_objpage *out, char *err,
                      size_t errlen);
void ckd_objpage_release(ckd_objpage *p);

/* The Code and Message of an S3, GCS or azure XML error body into out
 * ("NoSuchBucket: The specified bucket does not exist"), sanitised
 * (control bytes become '?', cut at 300 bytes); "" when the body is none. */
void ckd_objlist_error_text(const char *xml, size_t len, char *out, size_t outlen);

/* The ETag in the form a response header carries it: quoted; Azure lists
 * it unquoted. malloc'd, NULL when out of memory; "" stays "". */
char *ckd_objlist_etag_header(const char *etag);

/* Which listed key a job takes, and as what relative path.
 *   prefix: the URL's key (a prefix ending in '/', or "" for the bucket);
 *   includes/excludes: fnmatch(3) patterns (flags 0: '*' also matches '/')
 *   matched against the relative path; with includes, a path must match
 *   one; a path matching an exclude is left out.
 * Returns 1 with *rel pointing into key (the part after the prefix) when it
 * is taken; 0 when it is left out (a directory marker ending in '/', or by
 * the globs); -EINVAL when the relative path is not a safe path
 * (ckp_path_check: absolute, '..', '.', empty segment, not UTF-8), *why
 * saying how. */
int ckd_objlist_select(const char *prefix, const char *key, const char *const *includes,
                       size_t n_includes, const char *const *excludes, size_t n_excludes,
                       const char **rel, const char **why);

#endif
