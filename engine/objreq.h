/* objreq: the signed requests the objects source makes on the loop besides
 * the data plane's GETs: the headers of a listing page or an object HEAD
 * (SigV4 for S3, GOOG4 or a bearer token for GCS), and the HEAD probes that
 * read the content hash a store keeps of each object (S3 x-amz-checksum-*
 * with x-amz-checksum-mode: ENABLED, GCS x-goog-hash), with its current
 * ETag and size. Knows nothing of jobs: items in, values out. */
#ifndef CKD_OBJREQ_H
#define CKD_OBJREQ_H

#include <curl/curl.h>
#include <stdint.h>

#include "daemon.h"
#include "objlist.h"
#include "storage_auth.h"
#include "storehash.h"

/* The listing page size a request asks for: $CKPTD_OBJECTS_PAGE_SIZE (1 to
 * 1000, for tests that want many pages), else 1000. */
#define CKD_OBJREQ_ENV_PAGE_SIZE "CKPTD_OBJECTS_PAGE_SIZE"
/* HEAD requests in flight at once, per probe. */
#define CKD_OBJREQ_PROBES_INFLIGHT 16

/* The URL of object key in the store st with credentials a (malloc'd, NULL
 * when out of memory); never with a secret: an azure SAS goes per request. */
char *ckd_objreq_object_url(const ckd_det_storage *st, const ckd_storage_auth *a, const char *key);
/* The next listing page's request of u (next: the token or marker of the
 * page to come, NULL for the first): its URL (malloc'd; with an azure SAS
 * in it: wipe it) and header lines (secrets: wipe them). 0, -ENOMEM, or
 * -EINVAL when it cannot be signed. */
int ckd_objreq_list(const ckd_objurl *u, const ckd_det_storage *st, const ckd_storage_auth *a,
                    const char *next, char **url_out, struct curl_slist **h);
/* Appends to *h the header lines that sign a `method` request of url (no
 * query in it) with the canonical query `query` ("" or NULL: none) for s3
 * or gcs credentials in a (checksum_mode: S3's "x-amz-checksum-mode:
 * ENABLED", signed). 0; -ENOTSUP for other credentials; -ENOMEM; -EINVAL
 * when the request cannot be signed. The lines hold secrets: wipe them. */
int ckd_objreq_sign(const ckd_storage_auth *a, const char *method, const char *url,
                    const char *query, int checksum_mode, struct curl_slist **h);

/* One object to probe, and what its HEAD told. */
typedef struct ckd_objprobe_item {
    const char *url;    /* the object's URL (not copied; no secret in it) */
    long status;        /* the HEAD's HTTP status; 0 before */
    char *etag;         /* its ETag as sent (malloc'd), NULL when none */
    int64_t size;       /* its Content-Length, -1 unknown */
    ckd_storehash hash; /* the cheapest content hash it offered, or none */
    int hash_bad;       /* it offered one that is not a digest (malformed) */
} ckd_objprobe_item;

typedef struct ckd_objprobe ckd_objprobe;

/* Once: err 0 when every item has its answer (a status per item: 200, or
 * any other 4xx, which the owner judges), -EAGAIN for trouble that may pass
 * (no answer, 408, 429, 5xx; msg says which object and why), -ECANCELED. */
typedef void (*ckd_objprobe_cb)(void *ud, int err, const char *msg);

/* HEADs every item's URL with a's credentials (kept by the caller until
 * the callback). 0 and the callback fires exactly once; or -errno and it
 * never fires. items stay the caller's; the callback may free them. */
int ckd_objprobe_start(ckd_daemon *d, const ckd_storage_auth *a, ckd_objprobe_item *items, size_t n,
                       ckd_objprobe_cb cb, void *ud, ckd_objprobe **out);
/* Stops a probe: its callback fires now with -ECANCELED. */
void ckd_objprobe_cancel(ckd_objprobe *p);
/* Frees the ETags of items (the items themselves stay). */
void ckd_objprobe_items_release(ckd_objprobe_item *items, size_t n);

#endif
