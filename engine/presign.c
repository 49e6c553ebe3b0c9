/* Presigned object-store URLs (see presign.h). */
#include "presign.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sigv4.h"

/* Percent-encodes s (all but unreserved bytes) onto out at *len. */
static int enc_append(char *out, size_t cap, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (*len + (plain ? 1 : 3) >= cap) return -ENAMETOOLONG;
        if (plain) {
            out[(*len)++] = (char)*p;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[*p >> 4];
            out[(*len)++] = hex[*p & 15];
        }
    }
    out[*len] = '\0';
    return 0;
}

static int raw_append(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap) return -ENAMETOOLONG;
    memcpy(out + *len, s, n + 1);
    *len += n;
    return 0;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

static int timestamp_ok(const char *t)
{
    if (!t || strlen(t) != 16 || t[8] != 'T' || t[15] != 'Z') return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (t[i] < '0' || t[i] > '9')) return 0;
    return 1;
}

/* The names of one family: its parameter prefix and request type. */
static int family(const char *algo_prefix, const char **param, const char **type)
{
    if (algo_prefix && strcmp(algo_prefix, "AWS4") == 0) {
        *param = "X-Amz-";
        *type = "aws4_request";
        return 0;
    }
    if (algo_prefix && strcmp(algo_prefix, "GOOG4") == 0) {
        *param = "X-Goog-";
        *type = "goog4_request";
        return 0;
    }
    return -EINVAL;
}

static int check(const ckd_presign_req *r, const char **param, const char **type)
{
    const char *fields[] = {r->url, r->region, r->service, r->key_id, r->secret, r->timestamp};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!fields[i] || !fields[i][0]) return -EINVAL;
        if (strlen(fields[i]) > CKD_PRESIGN_MAX_URL) return -E2BIG;
        if (has_ctl(fields[i])) return -EINVAL;
    }
    if (r->session_token && strlen(r->session_token) > CKD_PRESIGN_MAX_URL) return -E2BIG;
    if (r->session_token && has_ctl(r->session_token)) return -EINVAL;
    if (family(r->algo_prefix, param, type) < 0) return -EINVAL;
    if (r->session_token && r->session_token[0] && strcmp(r->algo_prefix, "AWS4") != 0)
        return -EINVAL;
    if (!timestamp_ok(r->timestamp)) return -EINVAL;
    if (r->expires_s < 1 || r->expires_s > CKD_PRESIGN_MAX_EXPIRES) return -EINVAL;
    const char *host, *path;
    size_t hlen;
    if (ckd_http_url_split(r->url, &host, &hlen, &path) < 0) return -EINVAL;
    return 0;
}

int ckd_presign_query(const ckd_presign_req *r, char *out, size_t cap)
{
    const char *param, *type;
    int rc = check(r, &param, &type);
    if (rc < 0) return rc;
    char cred[CKD_PRESIGN_MAX_URL + 256], expires[32];
    snprintf(cred, sizeof(cred), "%s/%.8s/%s/%s/%s", r->key_id, r->timestamp, r->region, r->service,
             type);
    snprintf(expires, sizeof(expires), "%ld", r->expires_s);
    char algo[32];
    snprintf(algo, sizeof(algo), "%s-HMAC-SHA256", r->algo_prefix);
    /* In name order: Algorithm < Credential < Date < Expires <
     * Security-Token < SignedHeaders. */
    const char *names[] = {"Algorithm", "Credential",     "Date",
                           "Expires",   "Security-Token", "SignedHeaders"};
    const char *values[] = {algo, cred, r->timestamp, expires, r->session_token, "host"};
    size_t len = 0;
    if (cap == 0) return -ENAMETOOLONG;
    out[0] = '\0';
    for (size_t i = 0; i < 6 && rc == 0; i++) {
        if (!values[i] || !values[i][0]) continue;
        if (len > 0) rc = raw_append(out, cap, &len, "&");
        if (rc == 0) rc = raw_append(out, cap, &len, param);
        if (rc == 0) rc = raw_append(out, cap, &len, names[i]);
        if (rc == 0) rc = raw_append(out, cap, &len, "=");
        if (rc == 0) rc = enc_append(out, cap, &len, values[i]);
    }
    explicit_bzero(cred, sizeof(cred));
    return rc < 0 ? rc : (int)len;
}

int ckd_presign_url(const ckd_presign_req *r, char *out, size_t cap)
{
    const char *param, *type;
    int rc = check(r, &param, &type);
    if (rc < 0) return rc;
    char q[3 * CKD_PRESIGN_MAX_URL + 512];
    int qlen = ckd_presign_query(r, q, sizeof(q));
    if (qlen < 0) return qlen;
    const char *host, *path;
    size_t hlen;
    ckd_http_url_split(r->url, &host, &hlen, &path);
    char hostv[CKD_PRESIGN_MAX_URL + 1];
    snprintf(hostv, sizeof(hostv), "%.*s", (int)hlen, host);
    ckd_sigv4_header h = {"host", hostv};
    ckd_sigv4_req s = {.method = "GET",
                       .uri = path,
                       .query = q,
                       .headers = &h,
                       .n_headers = 1,
                       .payload_hash = "UNSIGNED-PAYLOAD",
                       .timestamp = r->timestamp,
                       .region = r->region,
                       .service = r->service,
                       .algo_prefix = r->algo_prefix,
                       .request_type = type,
                       .key_id = r->key_id,
                       .secret = r->secret};
    char auth[CKD_PRESIGN_MAX_URL + 512];
    int alen = ckd_sigv4_sign(&s, auth, sizeof(auth));
    if (alen < 64) return alen < 0 ? alen : -EINVAL;
    /* The header value ends with "Signature=<64 hex>". */
    int n = snprintf(out, cap, "%s?%s&%sSignature=%s", r->url, q, param, auth + alen - 64);
    if (n < 0 || (size_t)n >= cap) return -ENAMETOOLONG;
    return n;
}

int ckd_presign_timestamp(time_t now, char out[17])
{
    struct tm tm;
    if (now < 0 || !gmtime_r(&now, &tm) || tm.tm_year + 1900 > 9999) return -EINVAL;
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
    return 0;
}
