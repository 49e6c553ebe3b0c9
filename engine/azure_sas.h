/* azure_sas: Azure Blob service SAS (shared access signature) made from an
 * account key, so that a request authorized by Shared Key can instead be
 * authorized by its URL alone and travel through the fleet cache
 * (cache_req.h): the cache keys on the blob's path and a range slice and
 * leaves the SAS, which differs per node and per second, out of its key.
 *
 * The SAS is the one of Microsoft's "Create a service SAS" for signed
 * version (sv) 2020-12-06 and later, scoped to one blob (sr=b), read only
 * (sp=r), without a start time (valid at once: no clock-skew window to
 * miss), with an expiry (se), HTTPS only (spr=https) when the endpoint is
 * https. Its string to sign is sixteen fields joined by '\n':
 *
 *   sp, st, se, "/blob/<account>/<container>/<blob>", si, sip, spr, sv, sr,
 *   snapshot time, ses, rscc, rscd, rsce, rscl, rsct
 *
 * (container and blob names decoded, as stored), and sig is
 * Base64(HMAC-SHA256(decoded account key, string to sign)).
 *
 * Pure: no I/O, no globals, no logging. Inputs have hard caps, checked
 * first; the key never appears in the output (only the signature). */
#ifndef CKD_AZURE_SAS_H
#define CKD_AZURE_SAS_H

#include <stddef.h>
#include <time.h>

struct ckd_azure_creds;

/* The signed version (sv): the x-ms-version ckptd sends (azure.h). */
#define CKD_AZURE_SAS_VERSION      "2021-08-06"
#define CKD_AZURE_SAS_MAX_NAME     4096   /* account, container, blob (decoded) */
#define CKD_AZURE_SAS_MAX_LIFETIME 604800 /* seconds: a week, like presign.h */

/* One service SAS to make. */
typedef struct ckd_azure_sas_req {
    const char *account;   /* the storage account's name */
    const char *container; /* decoded */
    const char *blob;      /* the blob's name, decoded ("<uuid>/<rel>") */
    const char *expiry;    /* se: "YYYY-MM-DDTHH:MM:SSZ" (UTC) */
    int https_only;        /* 1: spr=https (signed); 0: no spr (http and https) */
} ckd_azure_sas_req;

/* The string to sign above (sp=r, sr=b, sv CKD_AZURE_SAS_VERSION, every
 * other field empty). Returns its length; -EINVAL for a bad request (a
 * missing or empty name, control bytes, an expiry not of the form above),
 * -E2BIG past CKD_AZURE_SAS_MAX_NAME, -ENAMETOOLONG when cap is too small. */
int ckd_azure_sas_string_to_sign(const ckd_azure_sas_req *r, char *out, size_t cap);

/* The SAS query, "sv=<sv>[&spr=https]&se=<se>&sr=b&sp=r&sig=<sig>", values
 * percent-encoded (all but A-Za-z0-9-._~, uppercase hex). Returns its
 * length, or the errors above, plus -EINVAL for an empty key. */
int ckd_azure_sas_query(const ckd_azure_sas_req *r, const unsigned char *key, size_t key_len,
                        char *out, size_t cap);

/* t as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out. 0, or -EINVAL for a time
 * outside 1970..9999. */
int ckd_azure_sas_expiry(time_t t, char out[21]);

/* url (a blob URL of ckd_azure_blob_url made with Shared Key credentials
 * c: "<endpoint>/<container>/<blob>", no query) with a service SAS that
 * holds lifetime_s seconds from now appended as its query. malloc'd; NULL
 * with *rc -EINVAL (c is not Shared Key, url is not under c's endpoint, a
 * lifetime outside 1..CKD_AZURE_SAS_MAX_LIFETIME, a bad %-escape), -E2BIG
 * or -ENOMEM. */
char *ckd_azure_sas_url(const struct ckd_azure_creds *c, const char *url, time_t now,
                        long lifetime_s, int *rc);

#endif
