/* The fleet cache's routing, URLs and rest periods (see cache_route.h). */
#include "cache_route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"http", "s3", "gcs", "azure", "master"};

const char *ckd_origin_name(enum ckd_origin o)
{
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

/* An http(s) URL without userinfo, query, fragment, spaces or control
 * bytes, with a host; *rest points at what follows the host (maybe ""). */
static int url_ok(const char *u, const char **rest)
{
    const char *h;
    if (strncmp(u, "http://", 7) == 0)
        h = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        h = u + 8;
    else
        return 0;
    size_t hl = strcspn(h, "/");
    if (hl == 0 || memchr(h, '@', hl)) return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#') return 0;
    if (rest) *rest = h + hl;
    return 1;
}

void ckd_cache_cfg_release(ckd_cache_cfg *c)
{
    free(c->url);
    for (size_t i = 0; i < c->nprefixes; i++) free(c->prefixes[i]);
    free(c->prefixes);
    memset(c, 0, sizeof(*c));
}

int ckd_cache_cfg_parse(const json_t *v, ckd_cache_cfg *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v)) {
        snprintf(why, whylen, "'cache' must be null or {\"url\": ..., \"origins\": [...]}");
        return -EINVAL;
    }
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)v, key, x)
    {
        if (strcmp(key, "url") != 0 && strcmp(key, "origins") != 0) {
            snprintf(why, whylen, "cache: unknown key '%.64s' (url, origins)", key);
            return -EINVAL;
        }
    }
    const char *url = json_string_value(json_object_get(v, "url"));
    const char *rest;
    if (!url || strlen(url) > CKD_CACHE_MAX_URL || !url_ok(url, &rest)) {
        snprintf(why, whylen,
                 "cache: 'url' must be an http:// or https:// URL without user:pass@, query or "
                 "fragment");
        return -EINVAL;
    }
    const json_t *origins = json_object_get(v, "origins");
    size_t n = json_array_size(origins);
    if (!json_is_array(origins) || n == 0 || n > CKD_CACHE_MAX_ORIGINS) {
        snprintf(why, whylen, "cache: 'origins' must be a list of 1 to %d entries",
                 CKD_CACHE_MAX_ORIGINS);
        return -EINVAL;
    }
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/' && url + ul - 1 >= rest) ul--;
    out->url = strndup(url, ul);
    out->prefixes = calloc(n, sizeof(char *));
    if (!out->url || !out->prefixes) goto nomem;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(origins, i));
        int kind = -1;
        for (int k = CKD_ORIGIN_S3; s && k <= CKD_ORIGIN_MASTER; k++)
            if (strcmp(s, names[k]) == 0) kind = k;
        if (kind >= 0) {
            out->kinds |= 1u << kind;
        } else if (s && strlen(s) <= CKD_CACHE_MAX_URL && url_ok(s, NULL)) {
            if (!(out->prefixes[out->nprefixes] = strdup(s))) goto nomem;
            out->nprefixes++;
        } else {
            snprintf(why, whylen,
                     "cache: 'origins' entry %zu is neither s3, gcs, azure, master nor an "
                     "http(s):// URL prefix",
                     i + 1);
            ckd_cache_cfg_release(out);
            return -EINVAL;
        }
    }
    return 0;
nomem:
    ckd_cache_cfg_release(out);
    snprintf(why, whylen, "out of memory");
    return -ENOMEM;
}

int ckd_cache_cfg_routes(const ckd_cache_cfg *c, enum ckd_origin o, const char *url)
{
    if (!c->url || !url) return 0;
    if (o != CKD_ORIGIN_HTTP) return (c->kinds >> o) & 1u;
    for (size_t i = 0; i < c->nprefixes; i++) {
        const char *p = c->prefixes[i];
        size_t l = strlen(p);
        if (strncmp(url, p, l) != 0) continue;
        char next = url[l];
        if (next == '\0' || next == '/' || next == '?' || (l > 0 && p[l - 1] == '/')) return 1;
    }
    return 0;
}

char *ckd_cache_url(const ckd_cache_cfg *c, enum ckd_origin o, const char *origin_url)
{
    if (!c->url || !origin_url) return NULL;
    int https = strncmp(origin_url, "https://", 8) == 0;
    if (!https && strncmp(origin_url, "http://", 7) != 0) return NULL;
    const char *host = origin_url + (https ? 8 : 7);
    size_t hl = strcspn(host, "/?#");
    if (hl == 0 || host[hl] != '/' || memchr(host, '@', hl)) return NULL;
    for (const char *p = origin_url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#') return NULL;
    size_t n = strlen(c->url) + strlen(origin_url) + 32;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s/%s/%s", c->url, ckd_origin_name(o), https ? "https" : "http", host);
    return out;
}

void ckd_cache_init(ckd_cache *c)
{
    memset(c, 0, sizeof(*c));
}

static void forget(ckd_cache *c)
{
    for (size_t i = 0; i < CKD_CACHE_MAX_BYPASS; i++) {
        free(c->bypass[i].url);
        c->bypass[i].url = NULL;
        c->bypass[i].until_ms = 0;
    }
    c->bypass_next = 0;
    c->down_until_ms = c->last_fail_ms = 0;
    c->failures = 0;
}

void ckd_cache_release(ckd_cache *c)
{
    forget(c);
    ckd_cache_cfg_release(&c->cfg);
}

int ckd_cache_configure(ckd_cache *c, const json_t *v, char *why, size_t whylen)
{
    ckd_cache_cfg next;
    int rc = ckd_cache_cfg_parse(v, &next, why, whylen);
    if (rc < 0) return rc;
    forget(c);
    ckd_cache_cfg_release(&c->cfg);
    c->cfg = next;
    return 0;
}

static int bypassed(const ckd_cache *c, const char *url, uint64_t now_ms)
{
    for (size_t i = 0; i < CKD_CACHE_MAX_BYPASS; i++)
        if (c->bypass[i].url && c->bypass[i].until_ms > now_ms &&
            strcmp(c->bypass[i].url, url) == 0)
            return 1;
    return 0;
}

int ckd_cache_use(const ckd_cache *c, enum ckd_origin o, const char *url, uint64_t now_ms)
{
    if (!c || !ckd_cache_cfg_routes(&c->cfg, o, url)) return 0;
    if (now_ms < c->down_until_ms) return 0;
    return !bypassed(c, url, now_ms);
}

uint64_t ckd_cache_failed(ckd_cache *c, uint64_t now_ms)
{
    if (now_ms < c->down_until_ms) return 0;
    if (c->failures > 0 && now_ms - c->last_fail_ms > CKD_CACHE_CALM_MS) c->failures = 0;
    c->failures++;
    c->last_fail_ms = now_ms;
    uint64_t rest = CKD_CACHE_BACKOFF_MIN_MS;
    for (int i = 1; i < c->failures && rest < CKD_CACHE_BACKOFF_MAX_MS; i++) rest *= 2;
    if (rest > CKD_CACHE_BACKOFF_MAX_MS) rest = CKD_CACHE_BACKOFF_MAX_MS;
    c->down_until_ms = now_ms + rest;
    return rest;
}

int ckd_cache_bypass(ckd_cache *c, const char *url, uint64_t now_ms)
{
    if (bypassed(c, url, now_ms)) return 0;
    char *dup = strdup(url);
    if (!dup) return -ENOMEM;
    size_t i = c->bypass_next;
    free(c->bypass[i].url);
    c->bypass[i].url = dup;
    c->bypass[i].until_ms = now_ms + CKD_CACHE_BYPASS_MS;
    c->bypass_next = (i + 1) % CKD_CACHE_MAX_BYPASS;
    return 0;
}

int ckd_cache_said(const ckd_cache *c, const char *message)
{
    if (!c || !c->cfg.url || !message) return 0;
    size_t l = strlen(c->cfg.url);
    for (const char *p = strchr(message, '\''); p; p = strchr(p + 1, '\''))
        if (strncmp(p + 1, c->cfg.url, l) == 0 && p[1 + l] == '/') return 1;
    return 0;
}
