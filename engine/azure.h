/* azure: what ckptd needs to fetch a checkpoint's files from Azure Blob
 * storage: credentials from a connection string or an account URL, blob
 * URLs, and the request headers of a GET signed with Shared Key (or a
 * shared access signature in the URL).
 *
 * Pure logic, plus reading the environment. No network, no logging.
 * Secrets (the account key, a SAS token) never appear in an error message;
 * ckd_azure_creds_release() zeroes them before freeing.
 *
 * Layout (shared/reference/determined-api.md): file rel of checkpoint uuid
 * is the blob <uuid>/<rel> of the storage's container; there is no prefix. */
#ifndef CKD_AZURE_H
#define CKD_AZURE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <curl/curl.h>

#include "det_model.h"

/* The x-ms-version sent with every request. Shared Key's string-to-sign
 * (Content-Length empty when zero) is the one of 2015-02-21 and later. */
#define CKD_AZURE_VERSION "2021-08-06"
/* Hard caps, checked before anything is parsed or allocated. */
#define CKD_AZURE_MAX_CONNSTR 8192 /* a connection string */
#define CKD_AZURE_MAX_URL     8192 /* an account or blob URL */
#define CKD_AZURE_MAX_KEY     1024 /* a base64 account key */
#define CKD_AZURE_MAX_FIELD   8192 /* a header value */
#define CKD_AZURE_MAX_HEADERS 16   /* x-ms-* headers to sign */
#define CKD_AZURE_MAX_QUERY   64   /* query parameters to sign */

/* The environment variables read. */
#define CKD_AZURE_ENV_CONNSTR "AZURE_STORAGE_CONNECTION_STRING"
#define CKD_AZURE_ENV_ACCOUNT "AZURE_STORAGE_ACCOUNT"
#define CKD_AZURE_ENV_KEY     "AZURE_STORAGE_KEY"
#define CKD_AZURE_ENV_SAS     "AZURE_STORAGE_SAS_TOKEN"

/* The well-known account of the storage emulators (Azurite), which
 * "UseDevelopmentStorage=true" stands for. Not a secret: it is published. */
#define CKD_AZURE_DEV_ACCOUNT "devstoreaccount1"
#define CKD_AZURE_DEV_KEY                                                                          \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define CKD_AZURE_DEV_ENDPOINT "http://127.0.0.1:10000/devstoreaccount1"

enum ckd_azure_auth {
    CKD_AZURE_AUTH_NONE = 0,   /* a zeroed, unresolved struct */
    CKD_AZURE_AUTH_SHARED_KEY, /* key: "Authorization: SharedKey <account>:<signature>" */
    CKD_AZURE_AUTH_SAS,        /* sas: appended to every blob URL as its query */
};

/* Every pointer malloc'd or NULL. */
typedef struct ckd_azure_creds {
    enum ckd_azure_auth kind;
    char *account;      /* account name; may be NULL with SAS */
    char *endpoint;     /* blob service endpoint: "https://a.blob.core.windows.net", no '/' at
                           the end, no query */
    unsigned char *key; /* the decoded AccountKey (SharedKey only) */
    size_t key_len;
    char *sas; /* the SAS token without a leading '?' (SAS only) */
} ckd_azure_creds;

/* Parses a connection string: ';'-separated Name=Value parts (names
 * case-insensitive, the value is everything after the first '=', empty
 * parts and unknown names ignored): DefaultEndpointsProtocol (http or
 * https; default https), AccountName, AccountKey (base64), BlobEndpoint,
 * EndpointSuffix (default core.windows.net), SharedAccessSignature,
 * UseDevelopmentStorage=true (the emulator account above, at
 * CKD_AZURE_DEV_ENDPOINT unless BlobEndpoint says otherwise). The endpoint
 * is BlobEndpoint, else <protocol>://<AccountName>.blob.<EndpointSuffix>.
 * An AccountKey wins over a SharedAccessSignature, as in Azure's SDKs.
 * Returns 0; -EINVAL with a message (a part without '=', no AccountName nor
 * BlobEndpoint, an AccountKey without AccountName, a key that is not
 * base64, a bad protocol, endpoint or account name, a SAS with spaces or
 * control bytes, past CKD_AZURE_MAX_CONNSTR); -ENOKEY when it has neither
 * AccountKey nor SharedAccessSignature; -ENOMEM. On error out is zeroed. */
int ckd_azure_parse_connection_string(const char *cs, ckd_azure_creds *out, char *err,
                                      size_t errlen);

/* Finds credentials for a checkpoint storage, first match wins:
 *   1. its connection_string (see above);
 *   2. its account_url: the endpoint (a "?..." query on it is taken as a
 *      SAS token); the account is $AZURE_STORAGE_ACCOUNT, else the first
 *      path segment of the URL (path-style, as the emulator's
 *      http://127.0.0.1:10000/devstoreaccount1), else the first label of its
 *      host (https://<account>.blob.core.windows.net); the key is
 *      $AZURE_STORAGE_KEY, else the URL's SAS, else $AZURE_STORAGE_SAS_TOKEN;
 *   3. $AZURE_STORAGE_CONNECTION_STRING.
 * Returns 0; -ENOKEY with a message when there is no key nor SAS (so the
 * caller can try another route); -EINVAL with a message; -ENOMEM. On error
 * out is zeroed. st may be NULL. */
int ckd_azure_creds_resolve(const ckd_det_storage *st, ckd_azure_creds *out, char *err,
                            size_t errlen);
/* Zeroes the secrets, frees everything, leaves c zeroed. NULL is fine. */
void ckd_azure_creds_release(ckd_azure_creds *c);

/* The blob name <uuid>/<rel> ("<uuid>/" for a NULL or empty rel). malloc'd;
 * NULL when uuid is NULL or empty, or out of memory. */
char *ckd_azure_blob_name(const char *uuid, const char *rel);

/* "<endpoint>/<container>/<blob>", container and blob percent-encoded
 * (every byte but A-Za-z0-9-._~ as %XX, uppercase hex; the blob keeps its
 * '/'s), then "?<sas>" with SAS credentials. malloc'd; NULL for unresolved
 * c, an empty container or blob, a URL past CKD_AZURE_MAX_URL, or out of
 * memory. */
char *ckd_azure_blob_url(const ckd_azure_creds *c, const char *container, const char *blob);

/* A header to sign: name x-ms-* (any case), value trimmed of surrounding
 * spaces when canonicalised. */
typedef struct ckd_azure_header {
    const char *name;
    const char *value;
} ckd_azure_header;

/* One bodiless request to sign with Shared Key. Only GET/HEAD-style
 * requests are supported: Content-Encoding, -Language, -Length, -MD5,
 * -Type, Date, If-Modified-Since, If-Match, If-None-Match and
 * If-Unmodified-Since are all empty (so the date must be an x-ms-date
 * header). */
typedef struct ckd_azure_sign_req {
    const char *method;  /* "GET"; [A-Z] */
    const char *account; /* the account name */
    const char *url;     /* as sent: http(s)://host/path, path encoded, optional ?query */
    const char *range;   /* the standard Range header's value, or NULL when not sent */
    const ckd_azure_header *headers;
    size_t n_headers;
} ckd_azure_sign_req;

/* The Shared Key string-to-sign (Blob service, version 2009-09-19 and
 * later): the method and the eleven empty standard headers and Range, each
 * followed by '\n'; the x-ms-* headers lowercased and sorted,
 * "name:value\n" each; then "/<account><url path>" and, for each query
 * parameter in name order, "\n<lowercased name>:<value>" (names and values
 * %XX-decoded; several values of one name sorted and joined with ','). The
 * path stays encoded, as in the URL. Returns the length; -EINVAL for a bad
 * request (a header not x-ms-*, duplicated or with control bytes; a url
 * that is not http(s)://host/path; a '\n' in the query); -E2BIG past the
 * caps; -ENAMETOOLONG when cap is too small. */
int ckd_azure_string_to_sign(const ckd_azure_sign_req *r, char *out, size_t cap);

/* Base64(HMAC-SHA256(key, string-to-sign)) into out (45 bytes suffice).
 * Returns its length or the errors above, plus -ENOMEM. */
int ckd_azure_sign(const ckd_azure_sign_req *r, const unsigned char *key, size_t key_len, char *out,
                   size_t cap);

/* The request headers of one GET of url (from ckd_azure_blob_url) at time
 * now, for CURLOPT_HTTPHEADER; free with curl_slist_free_all. Always
 * "x-ms-version: CKD_AZURE_VERSION", and "x-ms-range: bytes=<start>-<end>"
 * when range_start >= 0 (end < 0: open, "bytes=<start>-"). With Shared Key
 * also "x-ms-date: <RFC 1123 date of now>" and "Authorization: SharedKey
 * <account>:<signature>" over all of these. The range travels as x-ms-range
 * because it is then signed like the other x-ms-* headers: the caller must
 * NOT also set CURLOPT_RANGE (a Range header would change the string to
 * sign and the request would get 403). Build the headers per request: the
 * signature covers the range, and it holds 15 minutes around now.
 * Returns 0; -EINVAL for unresolved c, a bad url or a range with
 * end < start; -E2BIG; -ENOMEM. On error *out is NULL. */
int ckd_azure_request_headers(const ckd_azure_creds *c, const char *url, time_t now,
                              int64_t range_start, int64_t range_end, struct curl_slist **out);

#endif
