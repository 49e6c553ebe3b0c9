/* GCS credentials, object names and URLs, signed request headers. See
 * gcs.h. */
#include "gcs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred_util.h"
#include "s3.h"
#include "sigv4.h"

#define NO_CREDS_MSG                                                                               \
    "no gcs credentials: set " CKD_GCS_ENV_HMAC_ID "/" CKD_GCS_ENV_HMAC_SECRET                     \
    " (an HMAC key), " CKD_GCS_ENV_TOKEN " or " CKD_GCS_ENV_TOKEN_FILE " (an OAuth2 access token)"

void ckd_gcs_creds_release(ckd_gcs_creds *c)
{
    if (!c) return;
    free(c->access_id);
    ckd_cred_free_secret(c->secret);
    ckd_cred_free_secret(c->token);
    memset(c, 0, sizeof(*c));
}

/* 1 when s has a byte below 0x20 or 0x7f, or one of the extra bytes. */
static int has_bad_byte(const char *s, const char *extra)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u == 0x7f || (extra && *u && strchr(extra, *u))) return 1;
    return 0;
}

/* ---- the token file --------------------------------------------------------- */

/* The first line of the file at path, trimmed, into *out (malloc'd).
 * -EINVAL when it cannot be read or has no token; -ENOMEM. */
static int read_token_file(const char *path, char **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -EINVAL;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > CKD_GCS_MAX_TOKEN_FILE) {
        close(fd);
        return -EINVAL;
    }
    /* Fixed-size buffer: the cap is small, and a file that grew since
     * fstat is read only up to it. */
    char *text;
    size_t len;
    if (ckd_cred_read_fd(fd, CKD_GCS_MAX_TOKEN_FILE + 1, &text, &len) < 0) return -ENOMEM;
    char *s = text;
    s[strcspn(s, "\n")] = '\0';
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    int rc = 0;
    if (n == 0)
        rc = -EINVAL;
    else if (!(*out = strdup(s)))
        rc = -ENOMEM;
    explicit_bzero(text, len + 1);
    free(text);
    return rc;
}

/* ---- resolution --------------------------------------------------------- */

int ckd_gcs_creds_resolve(const ckd_det_storage *st, ckd_gcs_creds *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *source = NULL, *id = NULL, *secret = NULL, *token = NULL;
    char *file_token = NULL;
    int rc = 0;

    if (st && ckd_cred_nonempty(st->access_key) && ckd_cred_nonempty(st->secret_key)) {
        source = "the checkpoint storage";
        id = st->access_key;
        secret = st->secret_key;
    } else if (ckd_cred_env(CKD_GCS_ENV_HMAC_ID) || ckd_cred_env(CKD_GCS_ENV_HMAC_SECRET)) {
        source = "the environment";
        id = ckd_cred_env(CKD_GCS_ENV_HMAC_ID);
        secret = ckd_cred_env(CKD_GCS_ENV_HMAC_SECRET);
        if (!id || !secret) {
            ckd_cred_seterr(err, errlen, "incomplete gcs hmac key: %s is set but %s is not",
                            id ? CKD_GCS_ENV_HMAC_ID : CKD_GCS_ENV_HMAC_SECRET,
                            id ? CKD_GCS_ENV_HMAC_SECRET : CKD_GCS_ENV_HMAC_ID);
            return -EINVAL;
        }
    } else if (ckd_cred_env(CKD_GCS_ENV_TOKEN)) {
        source = CKD_GCS_ENV_TOKEN;
        token = ckd_cred_env(CKD_GCS_ENV_TOKEN);
    } else if (ckd_cred_env(CKD_GCS_ENV_SDK_TOKEN)) {
        source = CKD_GCS_ENV_SDK_TOKEN;
        token = ckd_cred_env(CKD_GCS_ENV_SDK_TOKEN);
    } else if (ckd_cred_env(CKD_GCS_ENV_TOKEN_FILE)) {
        source = "the file " CKD_GCS_ENV_TOKEN_FILE " names";
        rc = read_token_file(ckd_cred_env(CKD_GCS_ENV_TOKEN_FILE), &file_token);
        if (rc == -EINVAL) {
            /* The path is not a secret, but it may be long: cap the quote. */
            ckd_cred_seterr(err, errlen, "cannot read an access token from '%.200s' (%s)",
                            ckd_cred_env(CKD_GCS_ENV_TOKEN_FILE), CKD_GCS_ENV_TOKEN_FILE);
            return -EINVAL;
        }
        if (rc < 0) {
            ckd_cred_seterr(err, errlen, "out of memory");
            return rc;
        }
        token = file_token;
    } else {
        ckd_cred_seterr(err, errlen, NO_CREDS_MSG);
        return -ENOKEY;
    }

    if (token) {
        /* RFC 6750 tokens are printable ASCII without spaces; anything else
         * would break (or inject into) the header line. */
        if (strnlen(token, CKD_GCS_MAX_TOKEN + 1) > CKD_GCS_MAX_TOKEN || has_bad_byte(token, " ")) {
            ckd_cred_seterr(err, errlen,
                            "invalid gcs access token in %s: too long, or it has a space or "
                            "control character",
                            source);
            rc = -EINVAL;
        } else {
            out->kind = CKD_GCS_AUTH_BEARER;
            out->token = strdup(token);
            if (!out->token) rc = -ENOMEM;
        }
        ckd_cred_free_secret(file_token);
    } else {
        if (strnlen(id, CKD_GCS_MAX_KEY + 1) > CKD_GCS_MAX_KEY ||
            strnlen(secret, CKD_GCS_MAX_KEY + 1) > CKD_GCS_MAX_KEY) {
            ckd_cred_seterr(err, errlen, "invalid gcs hmac key in %s: longer than %d bytes", source,
                            CKD_GCS_MAX_KEY);
            rc = -EINVAL;
        } else if (has_bad_byte(id, "/, ")) {
            ckd_cred_seterr(err, errlen,
                            "invalid gcs hmac access id in %s: it has '/', ',', a space or "
                            "a control character",
                            source);
            rc = -EINVAL;
        } else if (has_bad_byte(secret, NULL)) {
            ckd_cred_seterr(err, errlen,
                            "invalid gcs hmac secret in %s: it has a control character", source);
            rc = -EINVAL;
        } else {
            out->kind = CKD_GCS_AUTH_HMAC;
            out->access_id = strdup(id);
            out->secret = strdup(secret);
            if (!out->access_id || !out->secret) rc = -ENOMEM;
        }
    }
    if (rc == -ENOMEM) ckd_cred_seterr(err, errlen, "out of memory");
    if (rc < 0) ckd_gcs_creds_release(out);
    return rc;
}

/* ---- names and URLs --------------------------------------------------------- */

char *ckd_gcs_object_name(const ckd_det_storage *st, const char *uuid, const char *rel)
{
    return ckd_s3_object_key(st, uuid, rel);
}

const char *ckd_gcs_endpoint(const ckd_det_storage *st)
{
    const char *e = ckd_cred_env(CKD_GCS_ENV_ENDPOINT);
    if (!e && st) e = ckd_cred_nonempty(st->endpoint_url);
    return e ? e : CKD_GCS_DEFAULT_ENDPOINT;
}

char *ckd_gcs_object_url(const ckd_det_storage *st, const char *object)
{
    if (!st || !ckd_cred_nonempty(st->bucket) || !ckd_cred_nonempty(object)) return NULL;
    const char *ep = ckd_gcs_endpoint(st);
    size_t elen = strnlen(ep, CKD_GCS_MAX_URL + 1);
    if (elen > CKD_GCS_MAX_URL || strnlen(object, CKD_GCS_MAX_URL + 1) > CKD_GCS_MAX_URL ||
        strnlen(st->bucket, CKD_GCS_MAX_URL + 1) > CKD_GCS_MAX_URL)
        return NULL;
    while (elen > 0 && ep[elen - 1] == '/') elen--;
    char *eobj = ckd_s3_uri_encode(object, 1);
    char *ebucket = ckd_s3_uri_encode(st->bucket, 0);
    char *url = NULL;
    if (eobj && ebucket && asprintf(&url, "%.*s/%s/%s", (int)elen, ep, ebucket, eobj) < 0)
        url = NULL;
    free(eobj);
    free(ebucket);
    if (url && strlen(url) > CKD_GCS_MAX_URL) {
        free(url);
        url = NULL;
    }
    return url;
}

/* ---- request headers ----------------------------------------------------- */

/* Appends a formatted line to *list. -ENOMEM (the list is kept). */
static int append(struct curl_slist **list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int append(struct curl_slist **list, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0) return -ENOMEM;
    struct curl_slist *l = curl_slist_append(*list, line);
    /* Lines may hold a token: wipe our copy (libcurl made its own). */
    explicit_bzero(line, (size_t)n);
    free(line);
    if (!l) return -ENOMEM;
    *list = l;
    return 0;
}

/* "YYYYMMDDTHHMMSSZ" of t, or -EINVAL for a time outside years 1970..9999. */
static int goog_timestamp(time_t t, char out[17])
{
    struct tm tm;
    if (t < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999) return -EINVAL;
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) return -EINVAL;
    return 0;
}

int ckd_gcs_request_headers(const ckd_gcs_creds *c, const char *url, time_t now,
                            int64_t range_start, int64_t range_end, struct curl_slist **out)
{
    *out = NULL;
    if (!c || !url) return -EINVAL;
    if (strnlen(url, CKD_GCS_MAX_URL + 1) > CKD_GCS_MAX_URL) return -E2BIG;
    const char *host, *path;
    size_t host_len;
    if (ckd_http_url_split(url, &host, &host_len, &path) < 0) return -EINVAL;
    if (range_start >= 0 && range_end >= 0 && range_end < range_start) return -EINVAL;

    struct curl_slist *list = NULL;
    int rc = 0;
    if (c->kind == CKD_GCS_AUTH_HMAC && c->access_id && c->secret) {
        char ts[17];
        if (goog_timestamp(now, ts) < 0) return -EINVAL;
        char *hostz = strndup(host, host_len);
        if (!hostz) return -ENOMEM;
        /* Sorted by name, as ckd_sigv4_sign() wants. */
        const ckd_sigv4_header hdrs[] = {
            {"host", hostz},
            {"x-goog-content-sha256", "UNSIGNED-PAYLOAD"},
            {"x-goog-date", ts},
        };
        const ckd_sigv4_req req = {
            .method = "GET",
            .uri = path,
            .query = "",
            .headers = hdrs,
            .n_headers = sizeof(hdrs) / sizeof(hdrs[0]),
            .payload_hash = "UNSIGNED-PAYLOAD",
            .timestamp = ts,
            .region = "auto",
            .service = "storage",
            .algo_prefix = "GOOG4",
            .request_type = "goog4_request",
            .key_id = c->access_id,
            .secret = c->secret,
        };
        char auth[512 + CKD_GCS_MAX_KEY];
        int n = ckd_sigv4_sign(&req, auth, sizeof(auth));
        if (n < 0) rc = n == -ENOMEM ? -ENOMEM : -EINVAL;
        if (!rc) rc = append(&list, "Host: %s", hostz);
        if (!rc) rc = append(&list, "x-goog-content-sha256: UNSIGNED-PAYLOAD");
        if (!rc) rc = append(&list, "x-goog-date: %s", ts);
        if (!rc) rc = append(&list, "Authorization: %s", auth);
        free(hostz);
    } else if (c->kind == CKD_GCS_AUTH_BEARER && c->token) {
        rc = append(&list, "Authorization: Bearer %s", c->token);
    } else {
        return -EINVAL;
    }
    if (!rc && range_start >= 0) {
        if (range_end >= 0)
            rc = append(&list, "Range: bytes=%" PRId64 "-%" PRId64, range_start, range_end);
        else
            rc = append(&list, "Range: bytes=%" PRId64 "-", range_start);
    }
    if (rc) {
        curl_slist_free_all(list);
        return rc;
    }
    *out = list;
    return 0;
}
