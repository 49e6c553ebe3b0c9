/* ckpt watch [ID]: live progress of one job until it ends, or of every job
 * until Ctrl-C. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "jobwatch.h"
#include "render.h"

static const char usage[] =
    "usage: ckpt watch [ID] [--json]\n"
    "\n"
    "Shows the live progress of job ID until it ends, or of every job (new ones\n"
    "included) until Ctrl-C. With --json prints each event as a JSON line, and\n"
    "for one job its final state at the end.\n"
    "\n"
    "exit status (one job): 0 when it is done, 1 when it failed or was canceled;\n"
    "130 after Ctrl-C.\n"
    "\n"
    "options:\n"
    "      --json          print events (and the final job) as JSON lines\n";

/* Subscribes to job (0: every job) and seeds the view with the jobs' state
 * as it is now; events that arrive meanwhile stay queued, so none is lost.
 * Returns 0, 1 when the single job has already ended, or an exit status. */
static int start(ckc_conn *c, const ckc_opts *o, ckc_jobwatch *f, json_int_t job)
{
    json_t *sub = job ? json_pack("{s:[I]}", "jobs", job) : json_object();
    if (sub && !o->json)
        json_object_set_new(sub, "progress_interval_ms",
                            json_integer(ckc_stdout_is_terminal() ? 100 : 1000));
    json_t *res;
    if (ckc_call(c, "events.subscribe", sub, &res) != 0) return CKC_EXIT_FAIL;
    json_decref(res);

    int rc = 0;
    if (job) {
        if (ckc_call(c, "job.get", json_pack("{s:I}", "id", job), &res) != 0) return CKC_EXIT_FAIL;
        rc = ckc_jobwatch_seed(f, json_object_get(res, "job"));
    } else {
        if (ckc_call(c, "job.list", json_object(), &res) != 0) return CKC_EXIT_FAIL;
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(res, "jobs"), i, j)
        {
            rc = ckc_jobwatch_seed(f, j);
            if (rc < 0) break;
        }
    }
    json_decref(res);
    if (rc < 0) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    return rc;
}

/* The followed job ended: its outcome and the exit status. */
static int outcome(ckc_conn *c, const ckc_opts *o, const json_t *end)
{
    json_int_t id = ckc_jint(end, "id", 0);
    if (o->json) {
        json_t *res;
        if (ckc_call_job_get(c, "job.get", json_pack("{s:I}", "id", id), &res) != 0)
            return CKC_EXIT_FAIL;
        ckc_print_json(res);
        json_decref(res);
    }
    char line[4200];
    ckc_fmt_job_end(line, sizeof line, end, -1);
    if (strcmp(ckc_jstr(end, "state", "?"), "done") == 0) {
        if (!o->json) puts(line);
        return CKC_EXIT_OK;
    }
    ckc_errorf("%s", line);
    return CKC_EXIT_FAIL;
}

int ckc_cmd_watch(int argc, char **argv, ckc_opts *o)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    json_int_t id = 0;
    if (optind < argc && ckc_parse_job_id(argv[optind], &id) < 0)
        return ckc_usage_errorf("watch", "invalid job id '%s'", argv[optind]);
    if (optind + 1 < argc)
        return ckc_usage_errorf("watch", "unexpected argument '%s'", argv[optind + 1]);

    ckc_conn conn;
    if (ckc_connect(o, &conn) != 0) return CKC_EXIT_FAIL;
    ckc_catch_sigint();
    ckc_jobwatch f;
    ckc_jobwatch_init(&f, &conn, o->json, ckc_stdout_is_terminal(), id);

    int status = start(&conn, o, &f, id);
    if (status == 0) {
        int rc = ckc_jobwatch_run(&f);
        if (rc == -EINTR)
            status = CKC_EXIT_INTERRUPTED;
        else if (rc < 0) {
            ckc_errorf("%s", ckc_conn_strerror(&conn, rc));
            status = CKC_EXIT_FAIL;
        } else {
            status = outcome(&conn, o, f.end);
        }
    } else if (status == 1) {
        status = outcome(&conn, o, f.end);
    }
    ckc_jobwatch_release(&f);
    ckc_conn_close(&conn);
    return status;
}
