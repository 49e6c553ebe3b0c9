/* Object-store access for one checkpoint unit (see storage_auth.h). */
#include "storage_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckp.h"

#include "azure.h"
#include "cache_req.h"
#include "fsutil.h"
#include "gcs.h"
#include "s3.h"

void ckd_storage_scrub(json_t *st)
{
    static const char *secrets[] = {"access_key", "secret_key",  "connection_string", "account_key",
                                    "sas_token",  "credentials", "session_token",     "token"};
    if (!json_is_object(st)) return;
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (json_object_get(st, secrets[i])) json_object_set_new(st, secrets[i], json_null());
    const char *key;
    json_t *v;
    json_object_foreach(st, key, v)
    {
        const char *s = json_string_value(v);
        if (!s || !strstr(s, "://")) continue;
        /* Without the query at all (an SAS there is a secret, "?..." would
         * not be a usable URL), and without userinfo. */
        size_t n = strcspn(s, "?#");
        char *cut = strndup(s, n);
        char *out = cut ? malloc(n + 8) : NULL;
        if (out) ckp_url_redact(out, n + 8, cut);
        json_object_set_new(st, key, out ? ckp_json_text(out) : json_null());
        free(cut);
        free(out);
    }
}

void ckd_checkpoint_scrub(json_t *cp)
{
    json_t *ec = json_object_get(json_object_get(cp, "training"), "experimentConfig");
    ckd_storage_scrub(json_object_get(ec, "checkpoint_storage"));
}

int ckd_storage_is_object_store(const char *type)
{
    return type &&
           (strcmp(type, "s3") == 0 || strcmp(type, "gcs") == 0 || strcmp(type, "azure") == 0);
}

int ckd_storage_auth_resolve(ckd_storage_auth *a, const ckd_det_storage *st, char *err,
                             size_t errlen)
{
    struct ckd_cache *cache = a->cache;
    memset(a, 0, sizeof(*a));
    a->cache = cache;
    int rc = 0;
    if (strcmp(st->type, "s3") == 0) {
        a->s3 = calloc(1, sizeof(*a->s3));
        rc = a->s3 ? ckd_s3_creds_resolve(st, a->s3, err, errlen) : -ENOMEM;
    } else if (strcmp(st->type, "gcs") == 0) {
        a->gcs = calloc(1, sizeof(*a->gcs));
        rc = a->gcs ? ckd_gcs_creds_resolve(st, a->gcs, err, errlen) : -ENOMEM;
    } else if (strcmp(st->type, "azure") == 0) {
        if (!st->container || !st->container[0]) {
            snprintf(err, errlen, "azure storage without a container");
            return -EINVAL;
        }
        a->azure = calloc(1, sizeof(*a->azure));
        rc = a->azure ? ckd_azure_creds_resolve(st, a->azure, err, errlen) : -ENOMEM;
    }
    if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
    if (rc < 0) {
        /* The resolvers leave a failed struct zeroed: nothing to release. */
        free(a->s3);
        free(a->gcs);
        free(a->azure);
        memset(a, 0, sizeof(*a));
        a->cache = cache;
    }
    return rc;
}

void ckd_storage_auth_release(ckd_storage_auth *a)
{
    if (a->s3) ckd_s3_creds_release(a->s3);
    if (a->gcs) ckd_gcs_creds_release(a->gcs);
    if (a->azure) ckd_azure_creds_release(a->azure);
    free(a->s3);
    free(a->gcs);
    free(a->azure);
    struct ckd_cache *cache = a->cache;
    memset(a, 0, sizeof(*a));
    a->cache = cache;
}

int ckd_storage_auth_ready(const ckd_storage_auth *a)
{
    return a->s3 || a->gcs || a->azure;
}

char *ckd_storage_object_url(const ckd_storage_auth *a, const ckd_det_storage *st, const char *uuid,
                             const char *rel)
{
    char *name = NULL, *url = NULL;
    if (a->s3) {
        name = ckd_s3_object_key(st, uuid, rel);
        url = name ? ckd_s3_object_url(st, a->s3->region, name) : NULL;
    } else if (a->gcs) {
        name = ckd_gcs_object_name(st, uuid, rel);
        url = name ? ckd_gcs_object_url(st, name) : NULL;
    } else if (a->azure) {
        name = ckd_azure_blob_name(uuid, rel);
        url = name ? ckd_azure_blob_url(a->azure, st->container, name) : NULL;
        char *q = url ? strchr(url, '?') : NULL;
        if (q) {
            /* The SAS is a secret: the stored URL goes without it. */
            explicit_bzero(q, strlen(q));
        }
    }
    free(name);
    return url;
}

int ckd_storage_auth_signs_range(const ckd_storage_auth *a)
{
    return a->gcs || a->azure;
}

int ckd_storage_auth_via_cache(const ckd_storage_auth *a, const char *url)
{
    ckd_cache_creds cr = {a->s3, a->gcs, a->azure};
    return a->cache && ckd_cache_use(a->cache, ckd_cache_origin_of(&cr), url, ckd_now_ms());
}

int ckd_storage_auth_apply(const ckd_storage_auth *a, CURL *e, const char *url, int64_t start,
                           int64_t end, struct curl_slist **headers)
{
    struct curl_slist *add = NULL;
    int rc = 0;
    if (a->cache) {
        /* The fleet cache, when it takes this request (cache_req.h). */
        ckd_cache_creds cr = {a->s3, a->gcs, a->azure};
        rc = ckd_cache_req_apply(a->cache, &cr, e, url, start, end, time(NULL), ckd_now_ms(),
                                 headers);
        if (rc != 0) return rc < 0 ? rc : 0;
    }
    if (a->gcs) {
        rc = ckd_gcs_request_headers(a->gcs, url, time(NULL), start, end, &add);
    } else if (a->azure) {
        rc = ckd_azure_request_headers(a->azure, url, time(NULL), start, end, &add);
        if (rc == 0 && a->azure->kind == CKD_AZURE_AUTH_SAS && a->azure->sas) {
            size_t n = strlen(url) + strlen(a->azure->sas) + 2;
            char *full = malloc(n);
            if (!full) {
                rc = -ENOMEM;
            } else {
                snprintf(full, n, "%s?%s", url, a->azure->sas);
                curl_easy_setopt(e, CURLOPT_URL, full);
                explicit_bzero(full, n);
                free(full);
            }
        }
    } else {
        char range[64];
        if (end >= 0)
            snprintf(range, sizeof(range), "%lld-%lld", (long long)start, (long long)end);
        else
            snprintf(range, sizeof(range), "%lld-", (long long)start);
        curl_easy_setopt(e, CURLOPT_RANGE, range);
        if (a->s3) {
            /* Signed by libcurl (SigV4); the secret stays in memory. */
            char sigv4[128];
            char *userpwd = NULL;
            rc = ckd_s3_curl_params(a->s3, sigv4, sizeof(sigv4), &userpwd, headers);
            if (rc == 0) {
                curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4);
                curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
            }
            if (userpwd) explicit_bzero(userpwd, strlen(userpwd));
            free(userpwd);
        }
    }
    if (rc < 0) {
        curl_slist_free_all(add);
        return rc;
    }
    /* Append what the signer made to the caller's list. */
    for (struct curl_slist *h = add; h; h = h->next) {
        struct curl_slist *n = curl_slist_append(*headers, h->data);
        if (!n) {
            rc = -ENOMEM;
            break;
        }
        *headers = n;
    }
    curl_slist_free_all(add);
    return rc;
}
