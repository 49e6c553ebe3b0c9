/* ckpt prefetch: follow jobs (GPU-node prefetch). A follow job keeps the
 * newest (or best) checkpoints of a trial or experiment on this node, with a
 * stable symlink to the newest complete copy; the daemon does the work, so
 * these commands submit, list and stop, and return at once. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "det_login.h"
#include "jobrun.h"
#include "render.h"

static const char usage[] =
    "usage: ckpt prefetch trial ID (--latest | --best) [--keep K] [-o DIR]\n"
    "                     [--interval SECONDS] [--priority N] [--json]\n"
    "       ckpt prefetch experiment ID [--top-n N] [--keep K] [-o DIR]\n"
    "                     [--interval SECONDS] [--priority N] [--json]\n"
    "       ckpt prefetch list [--json]\n"
    "       ckpt prefetch stop ID [--json]\n"
    "\n"
    "Keeps a trial's newest (--latest) or best (--best) checkpoints, or an\n"
    "experiment's top N, on this node as they appear: ckptd polls the master,\n"
    "downloads each new one as an ordinary job (see 'ckpt jobs'), points\n"
    "DIR/trial-ID/latest (or best; experiment-ID/best) at the newest complete\n"
    "copy in one atomic rename, and removes the copies it downloaded beyond\n"
    "--keep. The command prints the follow job's id and returns.\n"
    "\n"
    "options:\n"
    "      --latest          follow the checkpoint with the most steps\n"
    "      --best            follow the best checkpoint by the searcher metric\n"
    "      --top-n N         experiment: follow its N best checkpoints (default 1)\n"
    "      --keep K          copies to keep on disk (default 2, at least top-n)\n"
    "  -o, --output DIR      base directory (default ./checkpoints)\n"
    "      --interval S      seconds between polls of the master (default 30)\n"
    "      --priority N      the follow job's priority; downloads get N+10\n"
    "      --json            print the daemon's reply as JSON\n"
    "\n"
    "list shows every follow job with the checkpoint its pointer reaches; stop\n"
    "cancels one (its downloaded checkpoints and the pointer stay).\n";

enum { OPT_LATEST = 0x3000, OPT_BEST, OPT_TOPN, OPT_KEEP, OPT_INTERVAL, OPT_PRIORITY };

static int parse_pos(const char *opt, const char *s, long long lo, long long hi, long long *v)
{
    if (ckc_parse_int(s, v) < 0 || *v < lo || *v > hi)
        return ckc_usage_errorf("prefetch", "invalid %s '%s': an integer from %lld to %lld", opt, s,
                                lo, hi);
    return 0;
}

static int submit(int argc, char **argv, ckc_opts *o, int experiment)
{
    static const struct option longopts[] = {
        {"latest", no_argument, NULL, OPT_LATEST},
        {"best", no_argument, NULL, OPT_BEST},
        {"top-n", required_argument, NULL, OPT_TOPN},
        {"keep", required_argument, NULL, OPT_KEEP},
        {"output", required_argument, NULL, 'o'},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {NULL, 0, NULL, 0},
    };
    const char *select = NULL, *outdir = "checkpoints";
    long long top_n = 0, keep = 0, interval = 0, priority = 0;
    int have_prio = 0, c;
    o->det = true; /* det's -m/--master */
    /* argv[0] is "trial" or "experiment": getopt starts after it. */
    while ((c = ckc_getopt(argc, argv, "o:", longopts, o, usage)) != -1) {
        switch (c) {
        case OPT_LATEST:
        case OPT_BEST:
            if (experiment)
                return ckc_usage_errorf("prefetch",
                                        "an experiment is followed by its best "
                                        "checkpoints: use --top-n, not --latest/--best");
            if (select && strcmp(select, c == OPT_LATEST ? "latest" : "best"))
                return ckc_usage_errorf("prefetch", "--latest and --best exclude each other");
            select = c == OPT_LATEST ? "latest" : "best";
            break;
        case OPT_TOPN:
            if (!experiment) return ckc_usage_errorf("prefetch", "--top-n is for experiments");
            if (parse_pos("--top-n", optarg, 1, 1000, &top_n)) return CKC_EXIT_USAGE;
            break;
        case OPT_KEEP:
            if (parse_pos("--keep", optarg, 1, 1000, &keep)) return CKC_EXIT_USAGE;
            break;
        case 'o':
            outdir = optarg;
            break;
        case OPT_INTERVAL:
            if (parse_pos("--interval", optarg, 1, 86400, &interval)) return CKC_EXIT_USAGE;
            break;
        case OPT_PRIORITY:
            if (parse_pos("--priority", optarg, -1000, 990, &priority)) return CKC_EXIT_USAGE;
            have_prio = 1;
            break;
        case 'h':
            return CKC_EXIT_OK;
        default:
            return CKC_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return ckc_usage_errorf("prefetch", "which %s? give its ID",
                                experiment ? "experiment" : "trial");
    if (optind + 1 < argc)
        return ckc_usage_errorf("prefetch", "unexpected argument '%s'", argv[optind + 1]);
    long long id;
    if (ckc_parse_int(argv[optind], &id) < 0 || id <= 0 || id > INT32_MAX)
        return ckc_usage_errorf("prefetch", "invalid %s id '%s': a positive integer is needed",
                                experiment ? "experiment" : "trial", argv[optind]);
    if (!experiment && !select)
        return ckc_usage_errorf("prefetch", "say which checkpoint to follow: --latest or --best");
    char *output = ckc_output_dir(outdir);
    if (!output) return CKC_EXIT_FAIL;

    json_t *source = json_pack("{s:s, s:s, s:I}", "kind", "follow", "target",
                               experiment ? "experiment" : "trial", "id", (json_int_t)id);
    if (source && select) json_object_set_new(source, "select", json_string(select));
    if (source && top_n) json_object_set_new(source, "top_n", json_integer(top_n));
    if (source && keep) json_object_set_new(source, "keep", json_integer(keep));
    if (source && interval) json_object_set_new(source, "interval", json_integer(interval));
    json_t *params = source ? json_pack("{s:o, s:s}", "source", source, "output", output) : NULL;
    if (params && have_prio)
        json_object_set_new(params, "options",
                            json_pack("{s:I}", "priority", (json_int_t)priority));
    free(output);
    json_t *res;
    int status = ckc_det_attach(o, params, json_object_get(params, "source"));
    if (status != 0) {
        json_decref(params);
        return status;
    }
    status = ckc_request(o, "job.submit", params, &res);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(res);
    else
        printf("%" JSON_INTEGER_FORMAT "\n", ckc_jint(json_object_get(res, "job"), "id", 0));
    json_decref(res);
    return CKC_EXIT_OK;
}

/* Where the follow job's pointer leads now, read from the disk (the CLI and
 * the daemon share the machine): "<uuid>", or "-" when there is none yet. */
static void pointer_target(const json_t *job, char *out, size_t outlen)
{
    const json_t *src = json_object_get(job, "source");
    const char *target = ckc_jstr(src, "target", "trial");
    int exp = strcmp(target, "experiment") == 0;
    const char *select = exp ? "best" : ckc_jstr(src, "select", "latest");
    const char *pointer = ckc_jstr(src, "pointer", select);
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/%s-%" JSON_INTEGER_FORMAT "/%s", ckc_jstr(job, "output", ""),
             target, ckc_jint(src, "id", 0), pointer);
    ssize_t n = readlink(link, out, outlen - 1);
    if (n <= 0)
        snprintf(out, outlen, "-");
    else
        out[n] = '\0';
}

static int list(int argc, char **argv, ckc_opts *o)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    if (optind < argc)
        return ckc_usage_errorf("prefetch", "unexpected argument '%s'", argv[optind]);
    ckc_conn conn;
    if (ckc_connect(o, &conn) != 0) return CKC_EXIT_FAIL;
    json_t *res;
    int status = ckc_call(&conn, "job.list", json_object(), &res);
    if (status != 0) {
        ckc_conn_close(&conn);
        return status;
    }
    /* job.list has no source: ask for each follow job's detail. */
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(res, "jobs"), i, s)
    {
        if (strcmp(ckc_jstr(s, "kind", ""), "follow") != 0) continue;
        json_t *det;
        status = ckc_call(&conn, "job.get", json_pack("{s:I}", "id", ckc_jint(s, "id", 0)), &det);
        if (status != 0) break;
        json_t *job = json_object_get(det, "job");
        char ptr[PATH_MAX];
        pointer_target(job, ptr, sizeof ptr);
        json_object_set_new(job, "pointer_target",
                            strcmp(ptr, "-") ? json_string(ptr) : json_null());
        json_object_del(job, "log");
        json_object_del(job, "files");
        json_array_append(out, job);
        json_decref(det);
    }
    ckc_conn_close(&conn);
    json_decref(res);
    if (status != 0) {
        json_decref(out);
        return status;
    }
    if (o->json) {
        json_t *r = json_pack("{s:O}", "follows", out);
        ckc_print_json(r);
        json_decref(r);
        json_decref(out);
        return CKC_EXIT_OK;
    }
    if (json_array_size(out) == 0) {
        puts("no prefetch jobs");
        json_decref(out);
        return CKC_EXIT_OK;
    }
    static const char *const head[] = {"ID",     "TARGET", "SELECT",  "KEEP",
                                       "OUTPUT", "STATE",  "POINTER", "ERROR"};
    ckc_table t;
    if (ckc_table_init(&t, 8, 1u << 0 | 1u << 3, head) < 0) {
        json_decref(out);
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    json_t *job;
    json_array_foreach(out, i, job)
    {
        const json_t *src = json_object_get(job, "source");
        int exp = strcmp(ckc_jstr(src, "target", ""), "experiment") == 0;
        char id[24], target[64], select[48], keep[24];
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, ckc_jint(job, "id", 0));
        snprintf(target, sizeof target, "%s %" JSON_INTEGER_FORMAT, exp ? "experiment" : "trial",
                 ckc_jint(src, "id", 0));
        json_int_t topn = ckc_jint(src, "top_n", 1);
        if (exp)
            snprintf(select, sizeof select, "top %" JSON_INTEGER_FORMAT, topn);
        else
            snprintf(select, sizeof select, "%s", ckc_jstr(src, "select", "latest"));
        json_int_t k = ckc_jint(src, "keep", exp && topn > 2 ? topn : 2);
        snprintf(keep, sizeof keep, "%" JSON_INTEGER_FORMAT, k);
        const char *row[] = {id,
                             target,
                             select,
                             keep,
                             ckc_jstr(job, "output", ""),
                             ckc_jstr(job, "state", "?"),
                             ckc_jstr(job, "pointer_target", "-"),
                             ckc_jstr(job, "error", NULL)};
        if (ckc_table_row(&t, row) < 0) {
            ckc_table_release(&t);
            json_decref(out);
            ckc_errorf("out of memory");
            return CKC_EXIT_FAIL;
        }
    }
    ckc_table_print(&t, stdout);
    ckc_table_release(&t);
    json_decref(out);
    return CKC_EXIT_OK;
}

static int stop(int argc, char **argv, ckc_opts *o)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    if (optind >= argc) return ckc_usage_errorf("prefetch", "which prefetch job? give its ID");
    if (optind + 1 < argc)
        return ckc_usage_errorf("prefetch", "unexpected argument '%s'", argv[optind + 1]);
    json_int_t id;
    if (ckc_parse_job_id(argv[optind], &id) < 0)
        return ckc_usage_errorf("prefetch", "invalid job id '%s'", argv[optind]);
    ckc_conn conn;
    if (ckc_connect(o, &conn) != 0) return CKC_EXIT_FAIL;
    json_t *det;
    /* Only a follow job: `prefetch stop` must not cancel (and clean) a download. */
    int status = ckc_call(&conn, "job.get", json_pack("{s:I}", "id", id), &det);
    if (status == 0 && strcmp(ckc_jstr(json_object_get(det, "job"), "kind", ""), "follow") != 0) {
        ckc_errorf("job %" JSON_INTEGER_FORMAT " is not a prefetch job; see 'ckpt prefetch list'",
                   id);
        status = CKC_EXIT_FAIL;
    }
    if (status == 0) json_decref(det);
    json_t *res = NULL;
    if (status == 0) status = ckc_call(&conn, "job.cancel", json_pack("{s:I}", "id", id), &res);
    ckc_conn_close(&conn);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(res);
    else
        printf("job %" JSON_INTEGER_FORMAT " %s\n", id,
               ckc_jstr(json_object_get(res, "job"), "state", "?"));
    json_decref(res);
    return CKC_EXIT_OK;
}

int ckc_cmd_prefetch(int argc, char **argv, ckc_opts *o)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CKC_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(usage, stdout);
        return CKC_EXIT_OK;
    }
    if (strcmp(sub, "trial") == 0) return submit(argc - 1, argv + 1, o, 0);
    if (strcmp(sub, "experiment") == 0) return submit(argc - 1, argv + 1, o, 1);
    if (strcmp(sub, "list") == 0) return list(argc - 1, argv + 1, o);
    if (strcmp(sub, "stop") == 0) return stop(argc - 1, argv + 1, o);
    return ckc_usage_errorf("prefetch", "unknown subcommand '%s'", sub);
}
