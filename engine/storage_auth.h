/* Object-store access for one checkpoint unit: s3, gcs or azure
 * credentials (found from the storage config and the environment, kept in
 * memory only: job records never hold them), the objects' URLs, and what
 * each request carries (signature, token, range). */
#ifndef CKD_STORAGE_AUTH_H
#define CKD_STORAGE_AUTH_H

#include <curl/curl.h>
#include <jansson.h>

#include "det_model.h"

struct ckd_s3_creds;
struct ckd_gcs_creds;
struct ckd_azure_creds;
struct ckd_cache;

typedef struct ckd_storage_auth {
    struct ckd_s3_creds *s3;
    struct ckd_gcs_creds *gcs;
    struct ckd_azure_creds *azure;
    /* The daemon's fleet cache (cache_route.h), not owned; set for every
     * unit (URL sets too) and kept by resolve and release. NULL: none. */
    struct ckd_cache *cache;
} ckd_storage_auth;

/* Removes every secret from a storage config (JSON, changed in place):
 * keys, tokens, connection strings and credentials become null, and a URL
 * field (an azure account_url carrying a SAS, any URL with user:pass@) loses
 * its query string and userinfo. What is left is safe to store and return. */
void ckd_storage_scrub(json_t *storage);
/* The same for a checkpoint record: its
 * training.experimentConfig.checkpoint_storage. */
void ckd_checkpoint_scrub(json_t *checkpoint);

/* 1 for the storage types fetched over HTTP with credentials. */
int ckd_storage_is_object_store(const char *type);
/* Resolves credentials for st (s3, gcs, azure; other types need none).
 * Returns 0; -ENOKEY when no source has any (err says where it looked);
 * -EINVAL for unusable ones (err names the source, never a secret); -ENOMEM. */
int ckd_storage_auth_resolve(ckd_storage_auth *a, const ckd_det_storage *st, char *err,
                             size_t errlen);
void ckd_storage_auth_release(ckd_storage_auth *a);
/* 1 when a holds credentials. */
int ckd_storage_auth_ready(const ckd_storage_auth *a);
/* The URL of file rel of checkpoint uuid (malloc'd, NULL on error). It
 * never holds a secret: an azure SAS is added per request. */
char *ckd_storage_object_url(const ckd_storage_auth *a, const ckd_det_storage *st, const char *uuid,
                             const char *rel);
/* 1 when a request for url would go through the fleet cache now. */
int ckd_storage_auth_via_cache(const ckd_storage_auth *a, const char *url);
/* 1 when the range travels in a signed header (gcs, azure), not as
 * CURLOPT_RANGE. */
int ckd_storage_auth_signs_range(const ckd_storage_auth *a);
/* Prepares one ranged GET of url on e (bytes start..end inclusive, end < 0:
 * to the end): signing, tokens, the range (in a header where the signature
 * covers it). Headers are appended to *headers. When a->cache routes url
 * through the fleet cache now, the request goes there instead, authorized
 * in its URL (cache_req.h). Returns 0 or -errno. */
int ckd_storage_auth_apply(const ckd_storage_auth *a, CURL *e, const char *url, int64_t start,
                           int64_t end, struct curl_slist **headers);

#endif
