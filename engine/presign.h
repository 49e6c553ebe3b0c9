/* presign: object-store requests authorized by their URL alone, the
 * signature in the query string: AWS SigV4 presigned URLs (X-Amz-*) and
 * Google's V4 signed URLs with an HMAC key (X-Goog-*, GOOG4-HMAC-SHA256).
 * A cache in front of the store can then key on the object's path (and a
 * range slice) and leave the per-node, per-second signature out of its key.
 *
 * Pure: no I/O, no globals, no logging. Every input has a hard cap, checked
 * first; the secret never appears in the output (only the signature). */
#ifndef CKD_PRESIGN_H
#define CKD_PRESIGN_H

#include <stddef.h>
#include <time.h>

#define CKD_PRESIGN_MAX_URL     8192   /* the URL to sign, and the one made */
#define CKD_PRESIGN_MAX_EXPIRES 604800 /* seconds: the longest S3 and GCS accept */

/* One GET to presign. Only "host" is signed, and the payload is
 * UNSIGNED-PAYLOAD: whoever holds the URL may send any other header, a
 * Range among them. */
typedef struct ckd_presign_req {
    const char *url;           /* http(s)://host[:port]/path, the path already encoded as
                                * the canonical URI (s3.h, gcs.h), no query or fragment */
    const char *algo_prefix;   /* "AWS4" (X-Amz-*, aws4_request) or "GOOG4" (X-Goog-*,
                                * goog4_request) */
    const char *region;        /* "us-east-1"; "auto" for GCS */
    const char *service;       /* "s3"; "storage" for GCS */
    const char *key_id;        /* access key id */
    const char *secret;        /* secret key */
    const char *session_token; /* AWS temporary credentials: X-Amz-Security-Token, signed;
                                * NULL or "" for none (refused with GOOG4) */
    const char *timestamp;     /* "YYYYMMDDTHHMMSSZ" (UTC) */
    long expires_s;            /* 1 .. CKD_PRESIGN_MAX_EXPIRES */
} ckd_presign_req;

/* The canonical query string without the signature, the parameters sorted
 * by name: <P>Algorithm, <P>Credential (key id/date/region/service/
 * request type), <P>Date, <P>Expires, [<P>Security-Token,] <P>SignedHeaders
 * = host, with P "X-Amz-" or "X-Goog-" and every value percent-encoded
 * (all but A-Za-z0-9-._~, uppercase hex). Returns its length; -EINVAL for
 * a bad request (a url that is not http(s)://host/path without a query, a
 * bad timestamp or expiry, an unknown prefix, control bytes), -E2BIG past a
 * cap, -ENAMETOOLONG when cap is too small. */
int ckd_presign_query(const ckd_presign_req *r, char *out, size_t cap);

/* The presigned URL: "<url>?<canonical query>&<P>Signature=<64 hex>", the
 * signature over the canonical request (GET, the url's path, the query
 * above, "host:<host[:port]>", UNSIGNED-PAYLOAD). Returns its length or the
 * errors above, plus -ENOMEM. */
int ckd_presign_url(const ckd_presign_req *r, char *out, size_t cap);

/* now as "YYYYMMDDTHHMMSSZ" (UTC) into out. 0, or -EINVAL for a time
 * outside 1970..9999. */
int ckd_presign_timestamp(time_t now, char out[17]);

#endif
