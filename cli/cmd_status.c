/* ckpt status: the daemon at a glance. */
#include <stdio.h>
#include <string.h>

#include "ckp.h"
#include "cmd.h"
#include "render.h"

static const char usage[] = "usage: ckpt status [--json]\n"
                            "\n"
                            "Shows the daemon's version, its jobs by state, the transfers in\n"
                            "flight and the throughput over all jobs.\n"
                            "\n"
                            "options:\n"
                            "      --json          print the daemon's reply as JSON, with its\n"
                            "                      metrics (the figures of ckptd --metrics-file)\n";

static void print_status(const json_t *st)
{
    char up[32], rate[32], buffered[32];
    ckc_fmt_duration(up, sizeof up, ckc_jnum(st, "uptime", -1));
    printf("ckptd %s, protocol %" JSON_INTEGER_FORMAT ", pid %" JSON_INTEGER_FORMAT ", up %s\n",
           ckc_jstr(st, "version", "?"), ckc_jint(st, "protocol", 0), ckc_jint(st, "pid", 0), up);
    printf("socket:     %s\n", ckc_jstr(st, "socket", "?"));
    printf("state dir:  %s\n", ckc_jstr(st, "state_dir", "?"));

    /* Jobs by state, in the daemon's order, leaving out the empty ones. */
    fputs("jobs:       ", stdout);
    const char *key;
    json_t *count;
    int shown = 0;
    json_object_foreach(json_object_get(st, "jobs"), key, count)
    {
        if (!json_is_integer(count) || json_integer_value(count) == 0) continue;
        printf("%s%" JSON_INTEGER_FORMAT " %s", shown++ ? ", " : "", json_integer_value(count),
               key);
    }
    puts(shown ? "" : "none");

    ckc_fmt_rate(rate, sizeof rate, ckc_jnum(st, "throughput", 0));
    ckp_fmt_bytes(buffered, sizeof buffered, ckc_jnum(st, "buffered_bytes", 0));
    printf("transfers:  %" JSON_INTEGER_FORMAT " active, %s, %s buffered\n",
           ckc_jint(st, "active_transfers", 0), rate, buffered);

    /* Since the daemon started: bytes by route, retries, failures. */
    json_t *m = json_object_get(st, "metrics");
    if (!json_is_object(m)) return;
    double by[3] = {0, 0, 0};
    static const char *const routes[] = {"direct", "master", "local_copy"};
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(m, "fetched_bytes"), i, e)
    {
        for (int r = 0; r < 3; r++)
            if (strcmp(ckc_jstr(e, "route", ""), routes[r]) == 0) by[r] += ckc_jnum(e, "bytes", 0);
    }
    long long tries = 0, fails = 0;
    json_t *v;
    json_object_foreach(json_object_get(m, "retries"), key, v) tries += json_integer_value(v);
    json_object_foreach(json_object_get(m, "failures"), key, v) fails += json_integer_value(v);
    char b[3][32];
    for (int r = 0; r < 3; r++) ckp_fmt_bytes(b[r], sizeof b[r], by[r]);
    printf("fetched:    %s direct, %s through the master, %s from local copies; %lld "
           "retries, %lld failures\n",
           b[0], b[1], b[2], tries, fails);
}

int ckc_cmd_status(int argc, char **argv, ckc_opts *o)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    if (optind < argc) return ckc_usage_errorf("status", "unexpected argument '%s'", argv[optind]);

    ckc_conn conn;
    if (ckc_connect(o, &conn) != 0) return CKC_EXIT_FAIL;
    json_t *st;
    int status = ckc_call(&conn, "daemon.status", NULL, &st);
    ckc_conn_close(&conn);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(st);
    else
        print_status(st);
    json_decref(st);
    return CKC_EXIT_OK;
}
