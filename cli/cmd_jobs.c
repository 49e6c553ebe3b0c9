/* ckpt jobs / ckpt job ID: the job table and one job in detail. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckp.h"
#include "cmd.h"
#include "render.h"

/* What `ckpt jobs` calls recent: finished in the last day. */
#define RECENT_S 86400

static const char jobs_usage[] =
    "usage: ckpt jobs [--all] [-s STATE]... [--json]\n"
    "\n"
    "Lists jobs: ID STATE FILES BYTES RATE OUTPUT ERROR. Without --all, the\n"
    "jobs not finished and those finished in the last 24 hours.\n"
    "\n"
    "options:\n"
    "  -a, --all           every job the daemon keeps (finished jobs are kept for\n"
    "                      the history_days and history_max settings)\n"
    "  -s, --state STATE   only jobs in STATE (queued, resolving, running, waiting,\n"
    "                      paused, done, failed, canceled); may be repeated\n"
    "      --json          print the daemon's reply as JSON\n";

static const char job_usage[] = "usage: ckpt job ID [--json]\n"
                                "\n"
                                "Shows one job: its summary, every file with its size, state\n"
                                "and XXH3-128, and the job's log.\n"
                                "\n"
                                "options:\n"
                                "      --json          print the daemon's reply as JSON\n";

/* "1.0MB/3.1MB", or "1.0MB/?" while the total is unknown. */
static void fmt_bytes_of(char *out, size_t outlen, double done, double total)
{
    char d[32], t[32] = "?";
    ckp_fmt_bytes(d, sizeof d, done);
    if (total >= 0) ckp_fmt_bytes(t, sizeof t, total);
    snprintf(out, outlen, "%s/%s", d, t);
}

static int print_jobs(const json_t *jobs)
{
    if (json_array_size(jobs) == 0) {
        puts("no jobs");
        return 0;
    }
    static const char *const head[] = {"ID", "STATE", "FILES", "BYTES", "RATE", "OUTPUT", "ERROR"};
    ckc_table t;
    if (ckc_table_init(&t, 7, 1u << 0, head) < 0) return -ENOMEM;
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
    {
        char id[24], files[48], bytes[72], rate[32] = "-";
        const char *state = ckc_jstr(j, "state", "?");
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, ckc_jint(j, "id", 0));
        snprintf(files, sizeof files, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                 ckc_jint(j, "files_done", 0), ckc_jint(j, "files_total", 0));
        fmt_bytes_of(bytes, sizeof bytes, ckc_jnum(j, "bytes_done", 0),
                     ckc_jnum(j, "bytes_total", -1));
        if (strcmp(state, "running") == 0) ckc_fmt_rate(rate, sizeof rate, ckc_jnum(j, "rate", 0));
        const char *row[] = {
            id, state, files, bytes, rate, ckc_jstr(j, "output", NULL), ckc_jstr(j, "error", NULL)};
        if (ckc_table_row(&t, row) < 0) {
            ckc_table_release(&t);
            return -ENOMEM;
        }
    }
    ckc_table_print(&t, stdout);
    ckc_table_release(&t);
    return 0;
}

int ckc_cmd_jobs(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {{"state", required_argument, NULL, 's'},
                                             {"all", no_argument, NULL, 'a'},
                                             {NULL, 0, NULL, 0}};
    int all = 0;
    json_t *states = json_array();
    if (!states) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    int c;
    while ((c = ckc_getopt(argc, argv, "as:", longopts, o, jobs_usage)) != -1) {
        if (c == 'a') {
            all = 1;
            continue;
        }
        if (c == 's') {
            json_array_append_new(states, json_string(optarg));
            continue;
        }
        json_decref(states);
        return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
    }
    if (optind < argc) {
        json_decref(states);
        return ckc_usage_errorf("jobs", "unexpected argument '%s'", argv[optind]);
    }

    json_t *params = json_object();
    if (params && json_array_size(states) > 0) json_object_set(params, "states", states);
    /* Recent: finished jobs of the last day (the daemon keeps more). */
    if (params && !all)
        json_object_set_new(params, "since", json_integer((json_int_t)time(NULL) - RECENT_S));
    json_decref(states);

    json_t *res;
    int status = ckc_request(o, "job.list", params, &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else if (print_jobs(json_object_get(res, "jobs")) < 0) {
        ckc_errorf("out of memory");
        status = CKC_EXIT_FAIL;
    }
    json_decref(res);
    return status;
}

static void print_summary(const json_t *job)
{
    const char *state = ckc_jstr(job, "state", "?");
    double done = ckc_jnum(job, "bytes_done", 0), total = ckc_jnum(job, "bytes_total", -1);
    char d[32], t[32];

    printf("job %" JSON_INTEGER_FORMAT ": %s\n", ckc_jint(job, "id", 0), state);
    printf("  kind:      %s\n", ckc_jstr(job, "kind", "?"));
    printf("  output:    %s\n", ckc_jstr(job, "output", "?"));
    printf("  created:   %s\n", ckc_jstr(job, "created", "?"));
    printf("  updated:   %s\n", ckc_jstr(job, "updated", "?"));
    printf("  priority:  %" JSON_INTEGER_FORMAT "\n", ckc_jint(job, "priority", 0));
    printf("  files:     %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " done\n",
           ckc_jint(job, "files_done", 0), ckc_jint(job, "files_total", 0));
    ckp_fmt_bytes(d, sizeof d, done);
    if (total > 0) {
        ckp_fmt_bytes(t, sizeof t, total);
        printf("  bytes:     %s of %s (%d%%)\n", d, t, (int)(done * 100 / total));
    } else if (total == 0) {
        printf("  bytes:     %s of 0B\n", d);
    } else {
        printf("  bytes:     %s of an unknown total\n", d);
    }
    if (strcmp(state, "running") == 0) {
        ckc_fmt_rate(d, sizeof d, ckc_jnum(job, "rate", 0));
        ckc_fmt_duration(t, sizeof t, ckc_jnum(job, "eta", -1));
        printf("  rate:      %s, ETA %s\n", d, t);
    }
    const char *err = ckc_jstr(job, "error", NULL);
    if (err) printf("  error:     %s\n", err);
}

static int print_files(const json_t *files)
{
    if (json_array_size(files) == 0) return 0;
    static const char *const head[] = {"PATH", "SIZE", "STATE", "XXH128", "ERROR"};
    ckc_table t;
    if (ckc_table_init(&t, 5, 1u << 1, head) < 0) return -ENOMEM;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        char size[32] = "?", state[48];
        double sz = ckc_jnum(f, "size", -1), done = ckc_jnum(f, "bytes_done", 0);
        const char *st = ckc_jstr(f, "state", "?");
        if (sz >= 0) ckp_fmt_bytes(size, sizeof size, sz);
        if (strcmp(st, "active") == 0 && sz > 0)
            snprintf(state, sizeof state, "%s %d%%", st, (int)(done * 100 / sz));
        else
            snprintf(state, sizeof state, "%s", st);
        const char *row[] = {ckc_jstr(f, "path", "?"), size, state, ckc_jstr(f, "xxh128", NULL),
                             ckc_jstr(f, "error", NULL)};
        if (ckc_table_row(&t, row) < 0) {
            ckc_table_release(&t);
            return -ENOMEM;
        }
    }
    putchar('\n');
    ckc_table_print(&t, stdout);
    ckc_table_release(&t);
    return 0;
}

/* A checkpoint job's checkpoints: where each went and which route served it. */
static int print_checkpoints(const json_t *cps)
{
    if (json_array_size(cps) == 0) return 0;
    static const char *const head[] = {"CHECKPOINT", "STATUS", "STORAGE", "VIA", "PATH"};
    ckc_table t;
    if (ckc_table_init(&t, 5, 0, head) < 0) return -ENOMEM;
    size_t i;
    json_t *c;
    json_array_foreach(cps, i, c)
    {
        const char *row[] = {ckc_jstr(c, "uuid", "?"), ckc_jstr(c, "status", "?"),
                             ckc_jstr(c, "storage", "-"), ckc_jstr(c, "via", "-"),
                             ckc_jstr(c, "path", "?")};
        if (ckc_table_row(&t, row) < 0) {
            ckc_table_release(&t);
            return -ENOMEM;
        }
    }
    putchar('\n');
    ckc_table_print(&t, stdout);
    ckc_table_release(&t);
    return 0;
}

static void print_log(const json_t *log)
{
    if (json_array_size(log) == 0) return;
    puts("\nlog:");
    size_t i;
    json_t *l;
    json_array_foreach(log, i, l)
    {
        printf("  %s  %-5s  %s\n", ckc_jstr(l, "time", "?"), ckc_jstr(l, "level", "?"),
               ckc_jstr(l, "message", ""));
    }
}

int ckc_cmd_job(int argc, char **argv, ckc_opts *o)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, job_usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    if (optind >= argc) return ckc_usage_errorf("job", "which job? give its ID");
    if (optind + 1 < argc)
        return ckc_usage_errorf("job", "unexpected argument '%s'", argv[optind + 1]);
    json_int_t id;
    if (ckc_parse_job_id(argv[optind], &id) < 0)
        return ckc_usage_errorf("job", "invalid job id '%s'", argv[optind]);

    json_t *res;
    int status =
        ckc_request_via(o, ckc_call_job_get, "job.get", json_pack("{s:I}", "id", id), &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else {
        const json_t *job = json_object_get(res, "job");
        print_summary(job);
        if (print_checkpoints(json_object_get(job, "checkpoints")) < 0 ||
            print_files(json_object_get(job, "files")) < 0) {
            ckc_errorf("out of memory");
            status = CKC_EXIT_FAIL;
        }
        print_log(json_object_get(job, "log"));
    }
    json_decref(res);
    return status;
}
