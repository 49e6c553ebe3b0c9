/* Object requests through the fleet cache (see cache_req.h). */
#include "cache_req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure.h"
#include "azure_sas.h"
#include "gcs.h"
#include "presign.h"
#include "s3.h"

enum ckd_origin ckd_cache_origin_of(const ckd_cache_creds *cr)
{
    if (cr->s3) return CKD_ORIGIN_S3;
    if (cr->gcs) return CKD_ORIGIN_GCS;
    if (cr->azure) return CKD_ORIGIN_AZURE;
    return CKD_ORIGIN_HTTP;
}

static int add_header(struct curl_slist **headers, const char *h)
{
    struct curl_slist *n = curl_slist_append(*headers, h);
    if (!n) return -ENOMEM;
    *headers = n;
    return 0;
}

/* The origin URL that carries its own authorization, malloc'd; NULL with
 * *rc 0 when this origin cannot be presigned, or *rc < 0. */
static char *signed_url(const ckd_cache_creds *cr, const char *url, time_t now, int *rc)
{
    *rc = 0;
    char ts[17];
    if (ckd_presign_timestamp(now, ts) < 0) return NULL;
    ckd_presign_req r = {.url = url, .timestamp = ts, .expires_s = CKD_CACHE_PRESIGN_S};
    if (cr->s3) {
        r.algo_prefix = "AWS4";
        r.region = cr->s3->region ? cr->s3->region : CKD_S3_DEFAULT_REGION;
        r.service = "s3";
        r.key_id = cr->s3->access_key;
        r.secret = cr->s3->secret_key;
        r.session_token = cr->s3->session_token;
    } else if (cr->gcs && cr->gcs->kind == CKD_GCS_AUTH_HMAC) {
        r.algo_prefix = "GOOG4";
        r.region = "auto";
        r.service = "storage";
        r.key_id = cr->gcs->access_id;
        r.secret = cr->gcs->secret;
    } else if (cr->gcs && cr->gcs->kind != CKD_GCS_AUTH_BEARER) {
        return NULL;
    } else if (cr->azure && cr->azure->kind == CKD_AZURE_AUTH_SAS && cr->azure->sas) {
        size_t n = strlen(url) + strlen(cr->azure->sas) + 2;
        char *s = malloc(n);
        if (!s) *rc = -ENOMEM;
        if (s) snprintf(s, n, "%s?%s", url, cr->azure->sas);
        return s;
    } else if (cr->azure) {
        /* Shared Key signs headers: a service SAS for this blob instead. */
        char *s = ckd_azure_sas_url(cr->azure, url, now, CKD_CACHE_PRESIGN_S, rc);
        if (!s && *rc != -ENOMEM) *rc = 0; /* unusable here: the origin's own way */
        return s;
    } else {
        /* A plain HTTP source, or a GCS bearer token (it goes in a header). */
        char *s = strdup(url);
        if (!s) *rc = -ENOMEM;
        return s;
    }
    size_t cap = 4 * CKD_PRESIGN_MAX_URL;
    char *s = malloc(cap);
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    int n = ckd_presign_url(&r, s, cap);
    if (n < 0) {
        *rc = n == -ENOMEM ? n : 0; /* unusable here: the origin's own way */
        explicit_bzero(s, cap);
        free(s);
        return NULL;
    }
    return s;
}

char *ckd_cache_req_url(const ckd_cache *c, const ckd_cache_creds *cr, const char *url, time_t now,
                        uint64_t now_ms, int *rc)
{
    *rc = 0;
    enum ckd_origin o = ckd_cache_origin_of(cr);
    if (!ckd_cache_use(c, o, url, now_ms)) return NULL;
    char *origin = signed_url(cr, url, now, rc);
    if (!origin) return NULL;
    char *via = ckd_cache_url(&c->cfg, o, origin);
    explicit_bzero(origin, strlen(origin));
    free(origin);
    return via;
}

int ckd_cache_req_apply(const ckd_cache *c, const ckd_cache_creds *cr, CURL *e, const char *url,
                        int64_t start, int64_t end, time_t now, uint64_t now_ms,
                        struct curl_slist **headers)
{
    int rc;
    char *via = ckd_cache_req_url(c, cr, url, now, now_ms, &rc);
    if (!via) return rc;
    curl_easy_setopt(e, CURLOPT_URL, via);
    explicit_bzero(via, strlen(via));
    free(via);
    char range[80];
    if (end >= 0)
        snprintf(range, sizeof(range), "%lld-%lld", (long long)start, (long long)end);
    else
        snprintf(range, sizeof(range), "%lld-", (long long)start);
    rc = 0;
    if (cr->gcs || cr->azure) {
        char h[96];
        snprintf(h, sizeof(h), "Range: bytes=%s", range);
        rc = add_header(headers, h);
        if (rc == 0 && cr->azure) rc = add_header(headers, "x-ms-version: " CKD_AZURE_VERSION);
        if (rc == 0 && cr->gcs && cr->gcs->kind == CKD_GCS_AUTH_BEARER) {
            size_t n = strlen(cr->gcs->token) + 32;
            char *a = malloc(n);
            if (!a) return -ENOMEM;
            snprintf(a, n, "Authorization: Bearer %s", cr->gcs->token);
            rc = add_header(headers, a);
            explicit_bzero(a, n);
            free(a);
        }
    } else {
        curl_easy_setopt(e, CURLOPT_RANGE, range);
    }
    return rc < 0 ? rc : 1;
}
