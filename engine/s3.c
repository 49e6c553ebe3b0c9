/* S3 credentials, object keys and URLs, libcurl SigV4 parameters. See s3.h. */
#include "s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred_util.h"

#define NO_CREDS_MSG                                                                               \
    "no s3 credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a shared credentials file, "  \
    "or access_key/secret_key in the checkpoint storage"

void ckd_s3_creds_release(ckd_s3_creds *c)
{
    if (!c) return;
    free(c->access_key);
    ckd_cred_free_secret(c->secret_key);
    ckd_cred_free_secret(c->session_token);
    free(c->region);
    memset(c, 0, sizeof(*c));
}

/* 1 when s has a byte below 0x20 or 0x7f (or, with colon, a ':'). */
static int has_bad_byte(const char *s, int colon)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u == 0x7f || (colon && *u == ':')) return 1;
    return 0;
}

static int region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-'))
            return 0;
    }
    return 1;
}

/* ---- the shared credentials file ----------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* Replaces *slot with a copy of v (the old value zeroed). -ENOMEM. */
static int set_secret(char **slot, const char *v)
{
    char *copy = strdup(v);
    if (!copy) return -ENOMEM;
    ckd_cred_free_secret(*slot);
    *slot = copy;
    return 0;
}

/* Reads the keys of section [profile] from an INI text (modified in
 * place). Later values of a key win, like later sections of the same name
 * extend the earlier one. */
static int ini_profile(char *text, const char *profile, ckd_s3_creds *out)
{
    int in_profile = 0;
    char *line = text;
    if ((unsigned char)line[0] == 0xef && (unsigned char)line[1] == 0xbb &&
        (unsigned char)line[2] == 0xbf)
        line += 3; /* UTF-8 byte order mark */
    while (line && *line) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *s = trim(line);
        line = next;
        if (*s == '\0' || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *close = strrchr(s, ']');
            if (!close) {
                in_profile = 0;
                continue;
            }
            *close = '\0';
            in_profile = strcmp(trim(s + 1), profile) == 0;
            continue;
        }
        if (!in_profile) continue;
        size_t k = strcspn(s, "=:");
        if (s[k] == '\0') continue;
        s[k] = '\0';
        char *key = trim(s), *val = s + k + 1;
        while (*val == ' ' || *val == '\t') val++;
        /* An inline comment starts with '#' or ';' after whitespace. */
        for (char *p = val; *p; p++) {
            if ((*p == '#' || *p == ';') && p > val && (p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        }
        val = trim(val);
        for (char *p = key; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        char **slot = NULL;
        if (strcmp(key, "aws_access_key_id") == 0)
            slot = &out->access_key;
        else if (strcmp(key, "aws_secret_access_key") == 0)
            slot = &out->secret_key;
        else if (strcmp(key, "aws_session_token") == 0)
            slot = &out->session_token;
        if (slot && set_secret(slot, val) < 0) return -ENOMEM;
    }
    return 0;
}

/* Fills the keys of out from the shared credentials file. A file that is
 * missing, unreadable or too large gives no keys and 0. -ENOMEM. */
static int from_shared_file(ckd_s3_creds *out)
{
    const char *path = ckd_cred_env("AWS_SHARED_CREDENTIALS_FILE");
    char *owned = NULL;
    if (!path) {
        const char *home = ckd_cred_env("HOME");
        if (!home) return 0;
        if (asprintf(&owned, "%s/.aws/credentials", home) < 0) return -ENOMEM;
        path = owned;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(owned);
    if (fd < 0) return 0;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > CKD_S3_MAX_CREDENTIALS_FILE) {
        close(fd);
        return 0;
    }
    char *text;
    size_t len;
    if (ckd_cred_read_fd(fd, (size_t)sb.st_size + 1, &text, &len) < 0) return -ENOMEM;
    const char *profile = ckd_cred_env("AWS_PROFILE");
    int rc = ini_profile(text, profile ? profile : "default", out);
    explicit_bzero(text, len + 1);
    free(text);
    return rc;
}

/* ---- resolution --------------------------------------------------------- */

static int take_keys(ckd_s3_creds *out, const char *ak, const char *sk, const char *tok)
{
    out->access_key = strdup(ak);
    out->secret_key = strdup(sk);
    out->session_token = tok ? strdup(tok) : NULL;
    if (!out->access_key || !out->secret_key || (tok && !out->session_token)) return -ENOMEM;
    return 0;
}

int ckd_s3_creds_resolve(const ckd_det_storage *st, ckd_s3_creds *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *source;
    int rc;

    const char *region = ckd_cred_env("AWS_REGION");
    if (!region) region = ckd_cred_env("AWS_DEFAULT_REGION");
    if (!region) region = CKD_S3_DEFAULT_REGION;
    if (!region_ok(region)) {
        /* A region is not a secret; quote at most a sane-looking bit. */
        ckd_cred_seterr(err, errlen, "invalid aws region: want letters, digits and '-'");
        return -EINVAL;
    }

    if (st && ckd_cred_nonempty(st->access_key) && ckd_cred_nonempty(st->secret_key)) {
        source = "the checkpoint storage";
        rc = take_keys(out, st->access_key, st->secret_key, NULL);
    } else if (ckd_cred_env("AWS_ACCESS_KEY_ID") && ckd_cred_env("AWS_SECRET_ACCESS_KEY")) {
        source = "the environment";
        rc = take_keys(out, ckd_cred_env("AWS_ACCESS_KEY_ID"),
                       ckd_cred_env("AWS_SECRET_ACCESS_KEY"), ckd_cred_env("AWS_SESSION_TOKEN"));
    } else {
        source = "the shared credentials file";
        rc = from_shared_file(out);
        if (rc == 0 && (!ckd_cred_nonempty(out->access_key) || !ckd_cred_nonempty(out->secret_key)))
            rc = -ENOKEY;
        if (rc == 0 && out->session_token && !*out->session_token) {
            ckd_cred_free_secret(out->session_token);
            out->session_token = NULL;
        }
    }
    if (rc == -ENOKEY) {
        ckd_cred_seterr(err, errlen, NO_CREDS_MSG);
    } else if (rc == -ENOMEM) {
        ckd_cred_seterr(err, errlen, "out of memory");
    } else if (has_bad_byte(out->access_key, 1)) {
        ckd_cred_seterr(err, errlen,
                        "invalid s3 access key in %s: it has ':' or a control character", source);
        rc = -EINVAL;
    } else if (out->session_token && has_bad_byte(out->session_token, 0)) {
        ckd_cred_seterr(err, errlen, "invalid s3 session token in %s: it has a control character",
                        source);
        rc = -EINVAL;
    } else if (!(out->region = strdup(region))) {
        ckd_cred_seterr(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (rc < 0) ckd_s3_creds_release(out);
    return rc;
}

/* ---- keys and URLs ---------------------------------------------------------- */

char *ckd_s3_object_key(const ckd_det_storage *st, const char *uuid, const char *rel)
{
    if (!ckd_cred_nonempty(uuid)) return NULL;
    const char *p = st && st->prefix ? st->prefix : "";
    while (*p == '/') p++;
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/') plen--;
    char *key = NULL;
    int n = plen ? asprintf(&key, "%.*s/%s/%s", (int)plen, p, uuid, rel ? rel : "")
                 : asprintf(&key, "%s/%s", uuid, rel ? rel : "");
    return n < 0 ? NULL : key;
}

char *ckd_s3_uri_encode(const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out) return NULL;
    char *o = out;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        unsigned char ch = *u;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || (keep_slash && ch == '/')) {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    return out;
}

/* 1 when the bucket can be the first label of a TLS host name: 3-63 of
 * [a-z0-9-], starting and ending with a letter or digit (no dots: they
 * break the wildcard certificate). */
static int virtual_host_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
            return 0;
    return 1;
}

char *ckd_s3_object_url(const ckd_det_storage *st, const char *region, const char *key)
{
    if (!st || !ckd_cred_nonempty(st->bucket) || !ckd_cred_nonempty(key)) return NULL;
    if (!ckd_cred_nonempty(region)) region = CKD_S3_DEFAULT_REGION;
    char *ekey = ckd_s3_uri_encode(key, 1);
    char *ebucket = ckd_s3_uri_encode(st->bucket, 0);
    char *url = NULL;
    int n = -1;
    if (ekey && ebucket) {
        const char *ep = ckd_cred_nonempty(st->endpoint_url);
        if (ep) {
            size_t elen = strlen(ep);
            while (elen > 0 && ep[elen - 1] == '/') elen--;
            n = asprintf(&url, "%.*s/%s/%s", (int)elen, ep, ebucket, ekey);
        } else if (virtual_host_ok(st->bucket)) {
            n = asprintf(&url, "https://%s.s3.%s.amazonaws.com/%s", st->bucket, region, ekey);
        } else {
            n = asprintf(&url, "https://s3.%s.amazonaws.com/%s/%s", region, ebucket, ekey);
        }
    }
    free(ekey);
    free(ebucket);
    return n < 0 ? NULL : url;
}

/* ---- libcurl ------------------------------------------------------------ */

int ckd_s3_curl_params(const ckd_s3_creds *c, char *sigv4, size_t sigv4len, char **userpwd,
                       struct curl_slist **headers)
{
    *userpwd = NULL;
    *headers = NULL;
    if (!c || !ckd_cred_nonempty(c->access_key) || !c->secret_key ||
        has_bad_byte(c->access_key, 1) || (c->session_token && has_bad_byte(c->session_token, 0)))
        return -EINVAL;
    const char *region = ckd_cred_nonempty(c->region) ? c->region : CKD_S3_DEFAULT_REGION;
    if (!region_ok(region)) return -EINVAL;
    int n = snprintf(sigv4, sigv4len, "aws:amz:%s:s3", region);
    if (n < 0 || (size_t)n >= sigv4len) return -ENAMETOOLONG;

    struct curl_slist *h = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (!h) return -ENOMEM;
    if (ckd_cred_nonempty(c->session_token)) {
        char *line = NULL;
        if (asprintf(&line, "x-amz-security-token: %s", c->session_token) < 0) {
            curl_slist_free_all(h);
            return -ENOMEM;
        }
        struct curl_slist *h2 = curl_slist_append(h, line);
        ckd_cred_free_secret(line);
        if (!h2) {
            curl_slist_free_all(h);
            return -ENOMEM;
        }
        h = h2;
    }
    char *up = NULL;
    if (asprintf(&up, "%s:%s", c->access_key, c->secret_key) < 0) {
        curl_slist_free_all(h);
        return -ENOMEM;
    }
    *userpwd = up;
    *headers = h;
    return 0;
}
