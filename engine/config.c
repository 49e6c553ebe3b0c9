#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

void ckd_config_init(ckd_config *c)
{
#define X(name, def, lo, hi, help) c->name = (def);
    CKD_CONFIG_MAP(X)
#undef X
}

json_t *ckd_config_to_json(const ckd_config *c)
{
    json_t *o = json_object();
#define X(name, def, lo, hi, help) json_object_set_new(o, #name, json_integer(c->name));
    CKD_CONFIG_MAP(X)
#undef X
    return o;
}

int ckd_config_set_json(ckd_config *c, const json_t *obj, char *why, size_t whylen)
{
    ckd_config next = *c;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int known = 0;
#define X(name, def, lo, hi, help)                                                            \
    if (strcmp(key, #name) == 0) {                                                            \
        known = 1;                                                                            \
        if (!json_is_integer(v) || json_integer_value(v) < (lo) ||                            \
            json_integer_value(v) > (hi)) {                                                   \
            snprintf(why, whylen, "'%s' must be an integer from %lld to %lld", key,          \
                     (long long)(lo), (long long)(hi));                                       \
            return -EINVAL;                                                                   \
        }                                                                                     \
        next.name = json_integer_value(v);                                                    \
    }
        CKD_CONFIG_MAP(X)
#undef X
        if (!known) {
            snprintf(why, whylen, "unknown config key '%s'", key);
            return -EINVAL;
        }
    }
    *c = next;
    return 0;
}
