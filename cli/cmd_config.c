/* ckpt config [set KEY=VALUE...]: the daemon's settings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "render.h"

static const char usage[] =
    "usage: ckpt config [--json]\n"
    "       ckpt config set KEY=VALUE... [--json]\n"
    "\n"
    "Shows the daemon's settings, or changes some; changes apply at once to\n"
    "running transfers. Values are integers. Keys: max_connections,\n"
    "max_per_host, bandwidth_limit (bytes/s, 0 = unlimited), segment_threshold,\n"
    "max_segments, buffer_cap, journal_step, disk_reserve, disk_budget (bytes\n"
    "of prefetched checkpoints kept on disk, 0 = unlimited), retry_max,\n"
    "retry_budget, low_speed_limit, low_speed_time; 'ckpt config' lists them all.\n"
    "Settings can also come from ckptd's settings file (see ckptd --help).\n"
    "\n"
    "cache takes JSON: cache='{\"url\":\"http://ckpt-cache:8080\",\"origins\":[\"s3\",\n"
    "\"master\",\"http://models.internal\"]}' routes those origins through a fleet\n"
    "cache tier (contrib/README.md); cache=null turns it off. durability=publish or\n"
    "background: when a job's bytes must be on disk (see README).\n"
    "\n"
    "options:\n"
    "      --json          print the daemon's reply (every setting) as JSON\n";

static int print_config(const json_t *cfg)
{
    static const char *const head[] = {"KEY", "VALUE"};
    ckc_table t;
    if (ckc_table_init(&t, 2, 1u << 1, head) < 0) return -ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v)
    {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *row[] = {key, text ? text : "?"};
        int rc = ckc_table_row(&t, row);
        free(text);
        if (rc < 0) {
            ckc_table_release(&t);
            return rc;
        }
    }
    ckc_table_print(&t, stdout);
    ckc_table_release(&t);
    return 0;
}

/* {"max_connections":32,...} from the KEY=VALUE words; NULL after printing
 * a usage error. */
static json_t *parse_settings(int argc, char **argv)
{
    json_t *params = json_object();
    if (!params) {
        ckc_errorf("out of memory");
        return NULL;
    }
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            ckc_usage_errorf("config", "'%s' is not KEY=VALUE", argv[i]);
            json_decref(params);
            return NULL;
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        if (strcmp(key, "cache") == 0) {
            /* A JSON value (an object, or null); the daemon checks it. */
            json_error_t jerr;
            json_t *jv = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
            if (!jv) {
                ckc_usage_errorf("config", "value of 'cache' is not JSON: %s", jerr.text);
                json_decref(params);
                return NULL;
            }
            json_object_set_new(params, key, jv);
            continue;
        }
        long long v;
        int rc = ckc_parse_int(eq + 1, &v);
        if (rc == -EINVAL && eq[1]) {
            /* A named value (durability=background); the daemon checks it. */
            json_object_set_new(params, key, json_string(eq + 1));
            continue;
        }
        if (rc < 0) {
            ckc_usage_errorf("config", "value of '%.*s' is %s: '%s'", (int)(eq - argv[i]), argv[i],
                             rc == -ERANGE ? "out of range" : "not an integer", eq + 1);
            json_decref(params);
            return NULL;
        }
        json_object_set_new(params, key, json_integer((json_int_t)v));
    }
    return params;
}

int ckc_cmd_config(int argc, char **argv, ckc_opts *o)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;

    const char *method = "config.get";
    json_t *params = json_object(); /* config.get: no settings */
    if (optind < argc) {
        if (strcmp(argv[optind], "set") != 0 || optind + 1 >= argc) {
            json_decref(params);
            if (strcmp(argv[optind], "set") != 0)
                return ckc_usage_errorf("config", "unknown config command '%s'", argv[optind]);
            return ckc_usage_errorf("config", "config set needs KEY=VALUE arguments");
        }
        json_decref(params);
        params = parse_settings(argc - optind - 1, argv + optind + 1);
        if (!params) return CKC_EXIT_USAGE;
        method = "config.set";
    }

    json_t *res;
    int status = ckc_request(o, method, params, &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else {
        /* {"config":{...}}, or the bare settings object. */
        const json_t *cfg = json_object_get(res, "config");
        if (print_config(json_is_object(cfg) ? cfg : res) < 0) {
            ckc_errorf("out of memory");
            status = CKC_EXIT_FAIL;
        }
    }
    json_decref(res);
    return status;
}
