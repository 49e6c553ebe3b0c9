/* cache_route: which requests go through the fleet's HTTP cache tier (an
 * nginx proxy_cache with slice, Varnish, a CDN) and how their URLs look
 * there; and when the cache is left alone for a while after it failed.
 *
 * The setting `cache` ({"url": "http://ckpt-cache:8080", "origins": ["s3",
 * "gcs", "azure", "master", "http://models.internal"]}, or null) names the
 * cache and the origins routed through it: a storage type, the master's
 * archive, or a URL prefix of an HTTP source.
 *
 * A request for the origin URL "<scheme>://<host>[:port]<path>[?query]"
 * goes to "<cache url>/<kind>/<scheme>/<host>[:port]<path>[?query]", kind
 * one of s3, gcs, azure, http, master: the cache finds the upstream in the
 * path (contrib/nginx-cache.conf allows a fixed list of them) and keys on
 * kind, host and path (plus the range slice; http adds the query, master
 * the Accept header), never on the signature in the query.
 *
 * Pure: no I/O, no clock (callers pass now_ms), no logging. Loop thread. */
#ifndef CKD_CACHE_ROUTE_H
#define CKD_CACHE_ROUTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CKD_CACHE_MAX_URL        2048    /* the cache's URL and each HTTP prefix */
#define CKD_CACHE_MAX_ORIGINS    64      /* entries of "origins" */
#define CKD_CACHE_MAX_BYPASS     256     /* objects fetched from their origin, remembered */
#define CKD_CACHE_BYPASS_MS      3600000 /* ... for an hour */
#define CKD_CACHE_BACKOFF_MIN_MS 5000    /* after a failure the cache rests 5 s, */
#define CKD_CACHE_BACKOFF_MAX_MS 300000  /* doubling per failure in a row, up to 5 min */
#define CKD_CACHE_CALM_MS        600000  /* failures 10 min apart do not count as in a row */

/* Where a request's bytes come from. */
enum ckd_origin {
    CKD_ORIGIN_HTTP = 0, /* a URL of a URL set */
    CKD_ORIGIN_S3,
    CKD_ORIGIN_GCS,
    CKD_ORIGIN_AZURE,
    CKD_ORIGIN_MASTER, /* the master's checkpoint archive */
};

/* The origin's path segment in a cache URL: "http", "s3", ... */
const char *ckd_origin_name(enum ckd_origin o);

/* A parsed `cache` setting. A zeroed struct is "off". */
typedef struct ckd_cache_cfg {
    char *url;       /* "http(s)://host[:port][/base]" without a trailing '/'; NULL: off */
    unsigned kinds;  /* bit (1u << enum ckd_origin) for s3, gcs, azure and master */
    char **prefixes; /* HTTP sources routed: URL prefixes */
    size_t nprefixes;
} ckd_cache_cfg;

/* Parses the setting: JSON null (off) or {"url": ..., "origins": [...]}
 * (no other keys). url: http:// or https://, a host, no user:pass@, query or
 * fragment, at most CKD_CACHE_MAX_URL bytes; origins: 1 to
 * CKD_CACHE_MAX_ORIGINS strings, each "s3", "gcs", "azure", "master" or an
 * http(s):// URL prefix (no query, no user:pass@). Returns 0; -EINVAL with
 * why ("cache: 'origins' entry 'x' is neither ..."); -ENOMEM. On error out
 * is zeroed. */
int ckd_cache_cfg_parse(const json_t *v, ckd_cache_cfg *out, char *why, size_t whylen);
void ckd_cache_cfg_release(ckd_cache_cfg *c);

/* 1 when requests of origin o for url go through the cache by c (for
 * CKD_ORIGIN_HTTP: url starts with a prefix and the prefix ends at a '/', a
 * '?' or the end of url, or itself ends with '/'). */
int ckd_cache_cfg_routes(const ckd_cache_cfg *c, enum ckd_origin o, const char *url);

/* The cache's URL for origin_url, "http(s)://host[:port]/path[?query]"
 * (see above). malloc'd; NULL for a URL of another form (user:pass@, no
 * path, a fragment, control bytes or spaces), c off, or out of memory. */
char *ckd_cache_url(const ckd_cache_cfg *c, enum ckd_origin o, const char *origin_url);

/* The daemon's cache: the setting, and what the last failures taught. */
typedef struct ckd_cache {
    ckd_cache_cfg cfg;
    uint64_t down_until_ms; /* the cache rests until then: requests go to the origins */
    uint64_t last_fail_ms;
    int failures; /* in a row (see CKD_CACHE_CALM_MS) */
    struct {
        char *url; /* an origin URL whose object the cache served wrong */
        uint64_t until_ms;
    } bypass[CKD_CACHE_MAX_BYPASS];
    size_t bypass_next; /* the slot the next one takes (the oldest goes) */
} ckd_cache;

void ckd_cache_init(ckd_cache *c);
void ckd_cache_release(ckd_cache *c);
/* Takes a new setting (as ckd_cache_cfg_parse) and forgets failures and
 * bypasses. 0 or the parser's errors (then c is unchanged). */
int ckd_cache_configure(ckd_cache *c, const json_t *v, char *why, size_t whylen);
/* 1 when a request of origin o for url should go through the cache now:
 * routed by the setting, the cache not resting, url not bypassed. */
int ckd_cache_use(const ckd_cache *c, enum ckd_origin o, const char *url, uint64_t now_ms);
/* A request through the cache failed (down, 5xx): it rests. Returns the
 * rest in ms, or 0 when it rests already (a request started earlier). */
uint64_t ckd_cache_failed(ckd_cache *c, uint64_t now_ms);
/* url's object comes from its origin from now on (CKD_CACHE_BYPASS_MS):
 * the cache served it stale or corrupt. 0 or -ENOMEM. */
int ckd_cache_bypass(ckd_cache *c, const char *url, uint64_t now_ms);
/* 1 when message (a transfer's, which quotes its URL without the query)
 * names a URL of the cache. */
int ckd_cache_said(const ckd_cache *c, const char *message);

#endif
