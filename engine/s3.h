/* s3: what ckptd needs to fetch a checkpoint's files from S3 (or an
 * S3-compatible endpoint) with libcurl's own SigV4 signing.
 *
 * Pure logic, plus reading the AWS shared credentials file. No network, no
 * logging. Secrets (secret key, session token) never appear in an error
 * message; ckd_s3_creds_release() zeroes them before freeing.
 *
 * Layout (shared/reference/determined-api.md): file rel of checkpoint uuid
 * is the object <prefix>/<uuid>/<rel> of the bucket, <uuid>/<rel> without
 * a prefix. */
#ifndef CKD_S3_H
#define CKD_S3_H

#include <stddef.h>
#include <curl/curl.h>

#include "det_model.h"

#define CKD_S3_DEFAULT_REGION "us-east-1"
/* Larger shared credentials files are not read. */
#define CKD_S3_MAX_CREDENTIALS_FILE (1024 * 1024)

/* Every string malloc'd; session_token NULL when there is none. */
typedef struct ckd_s3_creds {
    char *access_key, *secret_key, *session_token;
    char *region;
} ckd_s3_creds;

/* Finds credentials, first match wins:
 *   1. the checkpoint storage's access_key and secret_key (both non-empty);
 *   2. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (both non-empty), with
 *      AWS_SESSION_TOKEN when set;
 *   3. the shared credentials file, AWS_SHARED_CREDENTIALS_FILE or
 *      $HOME/.aws/credentials, section [AWS_PROFILE or "default"], keys
 *      aws_access_key_id, aws_secret_access_key, aws_session_token (INI:
 *      '#' and ';' comment lines, and inline comments after whitespace;
 *      "key = value" or "key: value"; key names case-insensitive).
 * Region: AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1".
 * Returns 0; -ENOKEY with "no s3 credentials: set AWS_ACCESS_KEY_ID/
 * AWS_SECRET_ACCESS_KEY, a shared credentials file, or access_key/secret_key
 * in the checkpoint storage"; -EINVAL for a region that is not
 * [A-Za-z0-9-] or for credentials with control bytes (or ':' in the access
 * key), naming the source but never quoting a secret; -ENOMEM. On error
 * out is left zeroed. st may be NULL. */
int ckd_s3_creds_resolve(const ckd_det_storage *st, ckd_s3_creds *out, char *err, size_t errlen);
/* Zeroes the secrets, frees everything, leaves c zeroed. NULL is fine. */
void ckd_s3_creds_release(ckd_s3_creds *c);

/* The object key <prefix>/<uuid>/<rel>: the prefix without its leading and
 * trailing '/'s, none when NULL or empty after that; rel NULL or "" gives
 * "<prefix>/<uuid>/" (the checkpoint's key prefix). malloc'd; NULL when
 * uuid is NULL or empty, or out of memory. */
char *ckd_s3_object_key(const ckd_det_storage *st, const char *uuid, const char *rel);

/* The URL of an object. With endpoint_url: path-style
 * "<endpoint without trailing '/'>/<bucket>/<encoded key>". Else
 * virtual-hosted "https://<bucket>.s3.<region>.amazonaws.com/<encoded key>",
 * or path-style "https://s3.<region>.amazonaws.com/<bucket>/<encoded key>"
 * for a bucket name that cannot be a TLS host label (dots, capitals, '_').
 * The key is encoded as S3's SigV4 canonical URI: every byte but
 * A-Za-z0-9-._~ and '/' becomes %XX with uppercase hex (space %20, '+' %2B,
 * UTF-8 byte by byte). libcurl signs the path as given, so this encoding is
 * what makes the signature match. region NULL means "us-east-1". malloc'd;
 * NULL when the bucket or key is missing or empty, or out of memory. */
char *ckd_s3_object_url(const ckd_det_storage *st, const char *region, const char *key);

/* Encodes s like a key above into a malloc'd string (keep_slash 0: '/' is
 * encoded too, for a single path segment). NULL when out of memory. */
char *ckd_s3_uri_encode(const char *s, int keep_slash);

/* The values for libcurl (7.75+):
 *   CURLOPT_AWS_SIGV4 = sigv4 ("aws:amz:<region>:s3"),
 *   CURLOPT_USERPWD   = *userpwd ("<access key>:<secret key>", malloc'd;
 *                       zero it with explicit_bzero before free),
 *   CURLOPT_HTTPHEADER = *headers: "x-amz-content-sha256: UNSIGNED-PAYLOAD"
 *                       and, with a session token, "x-amz-security-token: <t>"
 *                       (libcurl signs both); free with curl_slist_free_all.
 * Returns 0, -EINVAL (missing keys, ':' or control bytes in the access key,
 * control bytes in the token), -ENAMETOOLONG (sigv4 too small), -ENOMEM;
 * on error *userpwd and *headers are NULL. */
int ckd_s3_curl_params(const ckd_s3_creds *c, char *sigv4, size_t sigv4len, char **userpwd,
                       struct curl_slist **headers);

#endif
