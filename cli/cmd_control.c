/* ckpt pause|resume|cancel ID: one transition of one job. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "render.h"

static const char usage[] =
    "usage: ckpt pause ID [--json]\n"
    "       ckpt resume ID [--json]\n"
    "       ckpt cancel ID [--json]\n"
    "\n"
    "pause stops a queued, resolving, running or waiting job and keeps what it\n"
    "has fetched; resume puts a paused or failed job back in the queue, where it\n"
    "continues from its verified bytes; cancel stops a job that has not ended\n"
    "and removes its staging data. Prints the job's new state.\n"
    "\n"
    "options:\n"
    "      --json          print the daemon's reply (the job) as JSON\n";

int ckc_cmd_control(int argc, char **argv, ckc_opts *o)
{
    const char *verb = argv[0];
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    if (optind >= argc) return ckc_usage_errorf(verb, "which job? give its ID");
    if (optind + 1 < argc)
        return ckc_usage_errorf(verb, "unexpected argument '%s'", argv[optind + 1]);
    json_int_t id;
    if (ckc_parse_job_id(argv[optind], &id) < 0)
        return ckc_usage_errorf(verb, "invalid job id '%s'", argv[optind]);

    char method[32];
    snprintf(method, sizeof method, "job.%s", verb);
    json_t *res;
    int status = ckc_request(o, method, json_pack("{s:I}", "id", id), &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else {
        const json_t *job = json_object_get(res, "job");
        printf("job %" JSON_INTEGER_FORMAT " %s\n", ckc_jint(job, "id", id),
               ckc_jstr(job, "state", "?"));
    }
    json_decref(res);
    return CKC_EXIT_OK;
}
