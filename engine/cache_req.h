/* cache_req: one ranged GET of an object through the fleet cache
 * (cache_route.h), with everything its origin needs to authorize it: S3
 * and GCS HMAC requests presigned in the query string (presign.h), an Azure
 * SAS in the query (the credentials' own, or with an account key a service
 * SAS made for the blob, azure_sas.h), a GCS bearer token in a header,
 * nothing for a plain HTTP source. The range travels as a standard Range header, which the
 * cache cuts into aligned slices.
 *
 * Called where a transfer's request is built (storage_auth.c), on the loop
 * thread; it logs nothing (the outcome says which URL failed). */
#ifndef CKD_CACHE_REQ_H
#define CKD_CACHE_REQ_H

#include <curl/curl.h>
#include <stdint.h>
#include <time.h>

#include "cache_route.h"

struct ckd_s3_creds;
struct ckd_gcs_creds;
struct ckd_azure_creds;

/* The credentials of a unit (at most one set; none for a URL set). */
typedef struct ckd_cache_creds {
    const struct ckd_s3_creds *s3;
    const struct ckd_gcs_creds *gcs;
    const struct ckd_azure_creds *azure;
} ckd_cache_creds;

/* Presigned URLs and service SAS made here hold this long (S3, GCS and
 * Azure check it when a request, or one of the cache's slice requests,
 * arrives: a range being served must finish within it). */
#define CKD_CACHE_PRESIGN_S 3600

/* The origin the credentials stand for (CKD_ORIGIN_HTTP without any). */
enum ckd_origin ckd_cache_origin_of(const ckd_cache_creds *cr);

/* The URL of the request for url (an object URL of the unit, without its
 * SAS) through the cache, with the origin's authorization in its query
 * (presigned, or a SAS), when c routes url through the cache now; NULL
 * with *rc 0 when the request should go to the origin (see below), or
 * *rc -ENOMEM. malloc'd: it holds a signature (zero it before freeing). */
char *ckd_cache_req_url(const ckd_cache *c, const ckd_cache_creds *cr, const char *url, time_t now,
                        uint64_t now_ms, int *rc);

/* When c routes url (an object URL of the unit, without its SAS) through
 * the cache now: sets e's URL to the cache's, the range (bytes start..end,
 * end < 0: open) as CURLOPT_RANGE (s3, http) or a Range header (gcs,
 * azure: the data plane sets none for those), appends the headers the
 * origin needs to *headers, and returns 1. Returns 0 when the request
 * should go to the origin as usual (not routed, the cache resting, the
 * object bypassed, or credentials that cannot authorize a URL, such as
 * unresolved ones); -ENOMEM. */
int ckd_cache_req_apply(const ckd_cache *c, const ckd_cache_creds *cr, CURL *e, const char *url,
                        int64_t start, int64_t end, time_t now, uint64_t now_ms,
                        struct curl_slist **headers);

#endif
