/* ckpt pin|unpin UUID, ckpt pins: checkpoints that retention (follow jobs'
 * --keep) never removes. The daemon keeps the list in its state directory. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "render.h"

static const char usage[] =
    "usage: ckpt pin UUID [--json]\n"
    "       ckpt unpin UUID [--json]\n"
    "       ckpt pins [--json]\n"
    "\n"
    "A pinned checkpoint is never removed by a follow job's retention, whatever\n"
    "its --keep. pins lists them.\n"
    "\n"
    "options:\n"
    "      --json          print the daemon's reply as JSON\n";

int ckc_cmd_pin(int argc, char **argv, ckc_opts *o)
{
    const char *verb = argv[0];
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    int listing = strcmp(verb, "pins") == 0;
    if (!listing && optind >= argc)
        return ckc_usage_errorf(verb, "which checkpoint? give its UUID");
    if (optind + (listing ? 0 : 1) < argc)
        return ckc_usage_errorf(verb, "unexpected argument '%s'", argv[optind + (listing ? 0 : 1)]);
    const char *method = listing                    ? "pins.list"
                         : strcmp(verb, "pin") == 0 ? "pins.add"
                                                    : "pins.remove";
    json_t *params = listing ? json_object() : json_pack("{s:s}", "uuid", argv[optind]);
    json_t *res;
    int status = ckc_request(o, method, params, &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else if (listing) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(res, "pins"), i, v) printf("%s\n", json_string_value(v));
    } else {
        printf("%s %sned\n", argv[optind], verb);
    }
    json_decref(res);
    return CKC_EXIT_OK;
}
