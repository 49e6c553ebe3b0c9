/* sigv4: the AWS Signature Version 4 family of request signatures, which
 * Google Cloud Storage's XML API also accepts under the names GOOG4 and
 * goog4_request (HMAC keys). One signer serves both, parameterised by the
 * algorithm prefix, the request type, the region and the service.
 *
 * Pure: no I/O, no globals, no logging, no allocation visible to the
 * caller. Every input string has a hard cap, checked first. The secret
 * never appears in any output; intermediate keys are wiped.
 *
 * Also home to the two HMAC/SHA-256 helpers the cloud modules share. */
#ifndef CKD_SIGV4_H
#define CKD_SIGV4_H

#include <stddef.h>

/* Hard caps, checked before anything is built. */
#define CKD_SIGV4_MAX_FIELD   8192 /* one string: method, uri, query, a header value, key id */
#define CKD_SIGV4_MAX_NAME    128  /* one header name */
#define CKD_SIGV4_MAX_HEADERS 16   /* signed headers per request */

/* A header to sign. name is lowercase [a-z0-9-]; the array is sorted by
 * name (bytewise) without duplicates, as SigV4 wants them, so the caller's
 * order is the signed order and nothing is reshuffled behind its back. The
 * value is canonicalised here: leading/trailing spaces and tabs trimmed,
 * inner runs of them collapsed to one space. */
typedef struct ckd_sigv4_header {
    const char *name;
    const char *value;
} ckd_sigv4_header;

/* One request to sign. Every string is required (query may be NULL or ""
 * for none). */
typedef struct ckd_sigv4_req {
    const char *method;              /* "GET"; [A-Z] */
    const char *uri;                 /* canonical URI, already encoded: "/bucket/a%20b" */
    const char *query;               /* canonical query string, already sorted and encoded */
    const ckd_sigv4_header *headers; /* sorted, see above */
    size_t n_headers;
    const char *payload_hash; /* lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *timestamp;    /* "YYYYMMDDTHHMMSSZ" (UTC); its first 8 bytes are the scope date */
    const char *region;       /* "us-east-1"; "auto" for GCS */
    const char *service;      /* "s3"; "storage" for GCS */
    const char *algo_prefix;  /* "AWS4" or "GOOG4": the key prefix and the algorithm's name */
    const char *request_type; /* "aws4_request" or "goog4_request" */
    const char *key_id;       /* access key id: no control bytes, no '/', ',' or space */
    const char *secret;       /* secret key: no control bytes */
} ckd_sigv4_req;

/* The canonical request (method \n uri \n query \n headers "name:value\n"
 * each \n signed-header list \n payload hash) into out. Returns its length,
 * -EINVAL for a request that breaks a rule above (which one is not said:
 * the inputs may hold secrets), -E2BIG for an input past its cap,
 * -ENAMETOOLONG when cap is too small. */
int ckd_sigv4_canonical_request(const ckd_sigv4_req *req, char *out, size_t cap);

/* The string to sign: "<prefix>-HMAC-SHA256\n<timestamp>\n<date>/<region>/
 * <service>/<request type>\n<hex SHA-256 of the canonical request>".
 * Returns its length or the errors of ckd_sigv4_canonical_request, plus
 * -ENOMEM. */
int ckd_sigv4_string_to_sign(const ckd_sigv4_req *req, char *out, size_t cap);

/* The signing key: HMAC chain kDate = HMAC(prefix+secret, date), kRegion,
 * kService, kSigning = HMAC(kService, request type). Returns 0 or -EINVAL /
 * -E2BIG. Exposed for the tests; key is secret material, wipe it. */
int ckd_sigv4_signing_key(const ckd_sigv4_req *req, unsigned char key[32]);

/* The Authorization header value (without "Authorization: "):
 * "<prefix>-HMAC-SHA256 Credential=<key id>/<scope>,SignedHeaders=<a;b>,
 * Signature=<64 hex>" (no spaces after the commas, as in AWS's examples).
 * Returns its length, or the errors above. */
int ckd_sigv4_sign(const ckd_sigv4_req *req, char *auth_out, size_t cap);

/* ---- helpers the cloud modules share ------------------------------------ */

/* Splits an "http://" or "https://" (lowercase) URL into its host (with any
 * ":port"; not NUL-terminated: *host_len bytes) and its path (the rest,
 * starting with '/'). Returns 0, or -EINVAL for another scheme, an empty
 * host, a host with '@' (credentials in a URL), no path, a query or
 * fragment ('?' or '#' anywhere), or bytes below 0x21 or 0x7f. */
int ckd_http_url_split(const char *url, const char **host, size_t *host_len, const char **path);

/* Lowercase hex SHA-256 of data into out (65 bytes with the NUL). */
void ckd_sha256_hex(const void *data, size_t len, char out[65]);

/* HMAC-SHA256 into out. Returns 0, or -EINVAL when OpenSSL refuses. */
int ckd_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32]);

#endif
