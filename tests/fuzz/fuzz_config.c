/* libFuzzer target: the config parser (engine/config.c): settings as JSON,
 * the way config.set and <state>/config.json give them. A refused object
 * leaves the config unchanged; an accepted one keeps every key in bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    ckd_config c, before;
    ckd_config_init(&c);
    before = c;
    char why[256];
    if (ckd_config_set_json(&c, obj, why, sizeof(why)) < 0) {
        if (memcmp(&c, &before, sizeof(c)) != 0) abort(); /* all or nothing */
    } else {
#define X(name, def, lo, hi, help)                                                                 \
    if (c.name < (lo) || c.name > (hi)) abort();
        CKD_CONFIG_MAP(X)
#undef X
        json_decref(ckd_config_to_json(&c));
    }
    json_decref(obj);
    return 0;
}
