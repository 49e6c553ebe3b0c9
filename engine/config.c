#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "cache_route.h"
#include "ckp.h"
#include "spec.h"

void ckd_config_init(ckd_config *c)
{
#define X(name, def, lo, hi, help) c->name = (def);
    CKD_CONFIG_MAP(X)
#undef X
    c->cache = NULL;
}

void ckd_config_release(ckd_config *c)
{
    json_decref(c->cache);
    c->cache = NULL;
}

json_t *ckd_config_to_json(const ckd_config *c)
{
    json_t *o = json_object();
#define X(name, def, lo, hi, help) json_object_set_new(o, #name, json_integer(c->name));
    CKD_CONFIG_MAP(X)
#undef X
    json_object_set_new(o, "durability", json_string(ckd_durability_name((int)c->durability)));
    json_object_set_new(o, "cache", c->cache ? json_deep_copy(c->cache) : json_null());
    return o;
}

/* The cache setting: checked by its parser, kept as JSON (NULL: off). */
static int set_cache(ckd_config *next, const json_t *v, char *why, size_t whylen)
{
    ckd_cache_cfg cc;
    if (ckd_cache_cfg_parse(v, &cc, why, whylen) < 0) return -EINVAL;
    ckd_cache_cfg_release(&cc);
    json_t *copy = json_is_null(v) ? NULL : json_deep_copy(v);
    if (!json_is_null(v) && !copy) {
        ckp_fmt(why, whylen, "out of memory");
        return -EINVAL;
    }
    next->cache = copy;
    return 0;
}

int ckd_config_set_json(ckd_config *c, const json_t *obj, char *why, size_t whylen)
{
    ckd_config next = *c;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)obj, key, v)
    {
        int known = 0;
        if (strcmp(key, "cache") == 0) {
            if (next.cache != c->cache) json_decref(next.cache);
            next.cache = c->cache;
            if ((rc = set_cache(&next, v, why, whylen)) < 0) break;
            continue;
        }
        json_t *named = NULL;
        if (strcmp(key, "durability") == 0 && json_is_string(v)) {
            /* Named values; the integer is accepted too. */
            int d = ckd_durability_parse(json_string_value(v));
            if (d < 0) {
                ckp_fmt(why, whylen, "'durability' must be \"publish\" or \"background\"");
                rc = -EINVAL;
                break;
            }
            v = named = json_integer(d);
        }
#define X(name, def, lo, hi, help)                                                                 \
    if (strcmp(key, #name) == 0) {                                                                 \
        known = 1;                                                                                 \
        if (!json_is_integer(v) || json_integer_value(v) < (lo) || json_integer_value(v) > (hi)) { \
            ckp_fmt(why, whylen, "'%s' must be an integer from %lld to %lld", key,                 \
                    (long long)(lo), (long long)(hi));                                             \
            json_decref(named);                                                                    \
            rc = -EINVAL;                                                                          \
            break;                                                                                 \
        }                                                                                          \
        next.name = json_integer_value(v);                                                         \
    }
        CKD_CONFIG_MAP(X)
#undef X
        json_decref(named);
        if (!known) {
            ckp_fmt(why, whylen, "unknown config key '%s'", key);
            rc = -EINVAL;
            break;
        }
    }
    if (rc < 0) {
        if (next.cache != c->cache) json_decref(next.cache);
        return rc;
    }
    if (next.cache != c->cache) json_decref(c->cache);
    *c = next;
    return 0;
}

int ckd_config_load(ckd_config *c, const char *path, char *why, size_t whylen)
{
    json_error_t err;
    json_t *obj = json_load_file(path, 0, &err);
    if (!obj) {
        if (access(path, F_OK) != 0) return 0;
        ckp_fmt(why, whylen, "cannot read '%s': %s", path, err.text);
        return -EINVAL;
    }
    int rc = json_is_object(obj) ? ckd_config_set_json(c, obj, why, whylen) : -EINVAL;
    if (rc < 0 && !json_is_object(obj)) ckp_fmt(why, whylen, "'%s' is not a JSON object", path);
    json_decref(obj);
    return rc;
}

int ckd_config_save(const json_t *changed, const char *path)
{
    /* Only the keys ever set are kept, so that the settings file (and the
     * defaults) still decide every other one after a restart. */
    json_t *obj = json_load_file(path, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        obj = json_object();
    }
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    int rc = obj && tmp && json_object_update(obj, (json_t *)changed) == 0 ? 0 : -ENOMEM;
    if (rc == 0) {
        snprintf(tmp, n, "%s.tmp", path);
        if (json_dump_file(obj, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 ||
            rename(tmp, path) != 0) {
            rc = -EIO;
            unlink(tmp);
        }
    }
    free(tmp);
    json_decref(obj);
    return rc;
}
