/* The daemon's settings file. See config_file.h. */
#include "config_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckp.h"

#define SYSTEM_CONFIG "/etc/ckptd/config.json"

char *ckd_config_file_find(const char *explicit_path)
{
    if (explicit_path) return strdup(explicit_path);
    char buf[4096];
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    buf[0] = '\0';
    if (xdg && xdg[0] == '/')
        snprintf(buf, sizeof buf, "%s/ckptd/config.json", xdg);
    else if (home && home[0] == '/')
        snprintf(buf, sizeof buf, "%s/.config/ckptd/config.json", home);
    if (buf[0] && access(buf, F_OK) == 0) return strdup(buf);
    if (access(SYSTEM_CONFIG, F_OK) == 0) return strdup(SYSTEM_CONFIG);
    return NULL;
}

void ckd_config_file_release(ckd_config_file *f)
{
    free(f->path);
    free(f->socket);
    free(f->state_dir);
    free(f->log_level);
    free(f->master);
    free(f->master_ca);
    free(f->metrics_file);
    memset(f, 0, sizeof *f);
}

/* The start options: name and where the string goes. */
static char **string_slot(ckd_config_file *f, const char *key)
{
    static const struct {
        const char *name;
        size_t off;
    } keys[] = {
        {"socket", offsetof(ckd_config_file, socket)},
        {"state_dir", offsetof(ckd_config_file, state_dir)},
        {"log_level", offsetof(ckd_config_file, log_level)},
        {"master", offsetof(ckd_config_file, master)},
        {"master_ca", offsetof(ckd_config_file, master_ca)},
        {"metrics_file", offsetof(ckd_config_file, metrics_file)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].name) == 0) return (char **)((char *)f + keys[i].off);
    return NULL;
}

int ckd_config_file_load(const char *path, ckd_config_file *out, ckd_config *cfg, char *why,
                         size_t whylen)
{
    json_error_t err;
    json_t *obj = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!obj) {
        if (access(path, F_OK) != 0) {
            int e = errno;
            ckp_fmt(why, whylen, "cannot read '%s': %s", path, strerror(e));
            return -e;
        }
        ckp_fmt(why, whylen, "'%s' line %d: %s", path, err.line, err.text);
        return -EINVAL;
    }
    ckd_config_file f = {0};
    json_t *runtime = json_object();
    int rc = json_is_object(obj) && runtime ? 0 : -EINVAL;
    if (rc < 0) ckp_fmt(why, whylen, "'%s' is not a JSON object", path);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (rc < 0) break;
        char **slot = string_slot(&f, key);
        if (slot) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                strlen(json_string_value(v)) != json_string_length(v)) {
                ckp_fmt(why, whylen, "'%s': '%s' must be a non-empty string", path, key);
                rc = -EINVAL;
            } else if (!(*slot = strdup(json_string_value(v)))) {
                rc = -ENOMEM;
            }
        } else if (strcmp(key, "metrics_interval") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 3600) {
                ckp_fmt(why, whylen, "'%s': 'metrics_interval' must be an integer from 1 to 3600",
                        path);
                rc = -EINVAL;
            } else {
                f.metrics_interval = json_integer_value(v);
            }
        } else {
            json_object_set(runtime, key, v); /* checked below, every key or none */
        }
    }
    ckd_config next = *cfg;
    char inner[256];
    if (rc == 0 && ckd_config_set_json(&next, runtime, inner, sizeof inner) < 0) {
        ckp_fmt(why, whylen, "'%s': %s", path, inner);
        rc = -EINVAL;
    }
    json_decref(runtime);
    json_decref(obj);
    if (rc == 0 && !(f.path = strdup(path))) rc = -ENOMEM;
    if (rc < 0) {
        if (rc == -ENOMEM) ckp_fmt(why, whylen, "'%s': out of memory", path);
        ckd_config_file_release(&f);
        return rc;
    }
    *cfg = next;
    ckd_config_file_release(out);
    *out = f;
    return 0;
}
