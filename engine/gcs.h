/* gcs: what ckptd needs to fetch a checkpoint's files from Google Cloud
 * Storage through its XML API, https://storage.googleapis.com/<bucket>/
 * <object>, which takes either a V4 HMAC signature (GOOG4-HMAC-SHA256, the
 * SigV4 scheme under Google's names, see sigv4.h) or an OAuth2 bearer token.
 *
 * Pure logic, plus reading the environment and a token file. No network,
 * no logging. Secrets (HMAC secret, bearer token) never appear in an error
 * message; ckd_gcs_creds_release() zeroes them before freeing.
 *
 * Layout (shared/reference/determined-api.md): file rel of checkpoint uuid
 * is the object <prefix>/<uuid>/<rel> of the bucket, <uuid>/<rel> without a
 * prefix: the same rule as S3, so ckd_s3_object_key() does the work. */
#ifndef CKD_GCS_H
#define CKD_GCS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <curl/curl.h>

#include "det_model.h"

#define CKD_GCS_DEFAULT_ENDPOINT "https://storage.googleapis.com"
/* Larger token files are not read; longer tokens, keys or URLs are refused. */
#define CKD_GCS_MAX_TOKEN_FILE (64 * 1024)
#define CKD_GCS_MAX_TOKEN      8192
#define CKD_GCS_MAX_KEY        1024
#define CKD_GCS_MAX_URL        8192

/* The environment variables read. */
#define CKD_GCS_ENV_HMAC_ID     "GCS_HMAC_ACCESS_ID"
#define CKD_GCS_ENV_HMAC_SECRET "GCS_HMAC_SECRET"
#define CKD_GCS_ENV_TOKEN       "GOOGLE_OAUTH_ACCESS_TOKEN"
#define CKD_GCS_ENV_SDK_TOKEN   "CLOUDSDK_AUTH_ACCESS_TOKEN"
#define CKD_GCS_ENV_TOKEN_FILE  "GOOGLE_OAUTH_ACCESS_TOKEN_FILE"
#define CKD_GCS_ENV_ENDPOINT    "CKPTD_GCS_ENDPOINT"

enum ckd_gcs_auth {
    CKD_GCS_AUTH_NONE = 0, /* a zeroed, unresolved struct */
    CKD_GCS_AUTH_HMAC,     /* access_id + secret: GOOG4-HMAC-SHA256 */
    CKD_GCS_AUTH_BEARER,   /* token: "Authorization: Bearer <token>" */
};

/* Every string malloc'd; the ones the kind does not use are NULL. */
typedef struct ckd_gcs_creds {
    enum ckd_gcs_auth kind;
    char *access_id, *secret; /* HMAC */
    char *token;              /* bearer */
} ckd_gcs_creds;

/* Finds credentials, first match wins (empty variables count as unset):
 *   1. HMAC: the checkpoint storage's access_key and secret_key (both set);
 *   2. HMAC: GCS_HMAC_ACCESS_ID and GCS_HMAC_SECRET (both set; only one of
 *      them is -EINVAL, a half-done setup rather than a reason to try the
 *      next source);
 *   3. bearer: GOOGLE_OAUTH_ACCESS_TOKEN, else CLOUDSDK_AUTH_ACCESS_TOKEN;
 *   4. bearer: the first line of the file GOOGLE_OAUTH_ACCESS_TOKEN_FILE
 *      names (surrounding spaces and a '\r' dropped; a file that cannot be
 *      read, is not regular, is empty or larger than CKD_GCS_MAX_TOKEN_FILE
 *      is -EINVAL naming the variable: it was asked for by name).
 * Returns 0; -ENOKEY with "no gcs credentials: ..." when no source has
 * any, so that the caller can try another route (the master); -EINVAL for
 * a key id with control bytes, '/', ',' or spaces, a secret with control
 * bytes, a token with spaces or control bytes, or one past the caps,
 * naming the source but never quoting a secret; -ENOMEM. On error out is
 * left zeroed. st may be NULL. */
int ckd_gcs_creds_resolve(const ckd_det_storage *st, ckd_gcs_creds *out, char *err, size_t errlen);
/* Zeroes the secrets, frees everything, leaves c zeroed. NULL is fine. */
void ckd_gcs_creds_release(ckd_gcs_creds *c);

/* The object name <prefix>/<uuid>/<rel> (prefix without leading and
 * trailing '/'s). malloc'd; NULL when uuid is NULL or empty, or out of
 * memory. */
char *ckd_gcs_object_name(const ckd_det_storage *st, const char *uuid, const char *rel);

/* The endpoint: $CKPTD_GCS_ENDPOINT (the operator's override, e.g. a local
 * fake server in tests), else the storage's endpoint_url, else
 * "https://storage.googleapis.com". Never NULL; points into the
 * environment, st or a literal. */
const char *ckd_gcs_endpoint(const ckd_det_storage *st);

/* The XML API URL of an object: "<endpoint without trailing '/'>/<bucket>/
 * <object>", bucket and object encoded like SigV4 canonical URIs (every
 * byte but A-Za-z0-9-._~ becomes %XX, uppercase hex; the object keeps its
 * '/'s), which makes the URL's path the canonical URI that is signed.
 * malloc'd; NULL when st has no bucket, object is NULL or empty, the URL
 * would pass CKD_GCS_MAX_URL, or out of memory. */
char *ckd_gcs_object_url(const ckd_det_storage *st, const char *object);

/* The request headers of one GET of url (as made by ckd_gcs_object_url)
 * at time now, for CURLOPT_HTTPHEADER; free with curl_slist_free_all.
 *   HMAC:   "Host: <host[:port] of url>", "x-goog-content-sha256:
 *           UNSIGNED-PAYLOAD", "x-goog-date: <YYYYMMDDTHHMMSSZ>",
 *           "Authorization: GOOG4-HMAC-SHA256 Credential=<id>/<date>/auto/
 *           storage/goog4_request,SignedHeaders=host;x-goog-content-sha256;
 *           x-goog-date,Signature=<hex>";
 *   bearer: "Authorization: Bearer <token>".
 * Then, when range_start >= 0, "Range: bytes=<start>-<end>" (end < 0: open,
 * "bytes=<start>-"). The Range header is deliberately NOT signed: V4 signs
 * only the headers named in SignedHeaders, and leaving it out keeps the
 * signature independent of the range. Host is sent explicitly so that the
 * value signed is the value libcurl sends. The signature covers the URL's
 * path, so the caller must not change the URL afterwards; it is valid for
 * 15 minutes around now (the server's clock-skew limit).
 * Returns 0; -EINVAL for an unresolved c, a url that is not
 * http(s)://host/path without query or fragment, a range with end < start,
 * or a time before 1970 or past 9999; -E2BIG for a url past CKD_GCS_MAX_URL; -ENOMEM. On error
 * *out is NULL. */
int ckd_gcs_request_headers(const ckd_gcs_creds *c, const char *url, time_t now,
                            int64_t range_start, int64_t range_end, struct curl_slist **out);

#endif
