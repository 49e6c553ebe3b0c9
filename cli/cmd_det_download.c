/* ckpt checkpoint|trial|experiment download: submit a job whose source is a
 * Determined checkpoint, trial or experiment, follow it with live progress,
 * then print what det prints for each checkpoint it downloaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmd_det.h"
#include "det_login.h"
#include "det_render.h"
#include "jobwatch.h"
#include "jobrun.h"
#include "render.h"

/* One download, as the command line asked for it. */
struct download {
    const char *cmd;     /* "checkpoint download", for messages */
    json_t *source;      /* the job's source (owned) */
    const char *outdir;  /* -o DIR, or NULL for ./checkpoints */
    bool direct;         /* -o DIR holds the files of the single checkpoint itself */
    const char *mode;    /* --mode, or NULL for the daemon's default (auto) */
    bool decompress;     /* --decompress: store .zst objects decoded */
    const char *sort_by; /* --sort-by (trial and experiment download) */
    bool smaller;        /* --smaller-is-better ... */
    bool has_smaller;    /* ... was given */
    bool quiet;          /* -q: only the paths */
    bool many;           /* any number of checkpoints, a blank line after each */
};

enum {
    OPT_MODE = 0x4000,
    OPT_DECOMPRESS,
    OPT_BEST,
    OPT_LATEST,
    OPT_UUID,
    OPT_SORT_BY,
    OPT_SMALLER,
    OPT_TOP_N,
    OPT_PER_TRIAL,
};

/* The route and decoding options, the same for the three download commands. */
#define ROUTE_OPTIONS                                                                              \
    "      --mode MODE           direct: straight from the checkpoint storage;\n"                  \
    "                            master: the master's archive; auto (default):\n"                  \
    "                            direct, else the master when the storage cannot\n"                \
    "                            be reached from here (no credentials, not mounted,\n"             \
    "                            access denied)\n"                                                 \
    "      --decompress          store zstd-compressed files (.zst) decoded,\n"                    \
    "                            without the suffix\n"

static const char checkpoint_usage[] =
    "usage: ckpt checkpoint download UUID [-o DIR] [-q] [--mode MODE] [--decompress]\n"
    "                                [--json]\n"
    "\n"
    "Downloads a checkpoint of the Determined master through ckptd with live\n"
    "progress, then prints where it is and what it is, as det does. The files\n"
    "appear only once all of them are complete and verified; a copy that is\n"
    "already there and verified is not fetched again. Ctrl-C leaves the download\n"
    "running.\n"
    "\n"
    "options:\n"
    "  -o, --output-dir DIR      put the checkpoint's files in DIR itself (default:\n"
    "                            checkpoints/UUID under the current directory)\n"
    "  -q, --quiet               print only the checkpoint's path\n" ROUTE_OPTIONS

    "      --json                print each event, then the final job, as JSON lines\n"
    "\n"
    "exit status: 0 when the checkpoint is there, 1 when the download failed,\n"
    "130 when interrupted (the download keeps running).\n";

static const char trial_usage[] =
    "usage: ckpt trial download ID (--best | --latest | --uuid UUID)\n"
    "                           [--sort-by METRIC --smaller-is-better BOOL]\n"
    "                           [-o DIR] [-q] [--mode MODE] [--decompress] [--json]\n"
    "\n"
    "Downloads one checkpoint of trial ID through ckptd with live progress, then\n"
    "prints where it is and what it is, as det does. Only completed (or partially\n"
    "deleted) checkpoints are candidates. Ctrl-C leaves the download running.\n"
    "\n"
    "options:\n"
    "      --best                the best by the experiment's searcher metric\n"
    "      --latest              the one with the most steps completed\n"
    "      --uuid UUID           that checkpoint of the trial\n"
    "      --sort-by METRIC      with --best: rank by this validation metric ...\n"
    "      --smaller-is-better BOOL  ... where smaller is better (true or false)\n"
    "  -o, --output-dir DIR      put the checkpoint's files in DIR itself (default:\n"
    "                            checkpoints/UUID under the current directory)\n"
    "  -q, --quiet               print only the checkpoint's path\n" ROUTE_OPTIONS
    "      --json                print each event, then the final job, as JSON\n"
    "\n"
    "exit status: 0 when the checkpoint is there, 1 when the download failed,\n"
    "130 when interrupted (the download keeps running).\n";

static const char experiment_usage[] =
    "usage: ckpt experiment download ID [--top-n N] [--per-trial]\n"
    "                                [--sort-by METRIC --smaller-is-better BOOL]\n"
    "                                [-o DIR] [-q] [--mode MODE] [--decompress]\n"
    "                                [--json]\n"
    "\n"
    "Downloads the best checkpoints of experiment ID through ckptd with live\n"
    "progress, each into DIR/UUID, then prints where each is and what it is, as\n"
    "det does. Only completed (or partially deleted) checkpoints are candidates.\n"
    "Ctrl-C leaves the download running.\n"
    "\n"
    "options:\n"
    "      --top-n N             how many checkpoints (default 1): the first N by\n"
    "                            the searcher metric, best first\n"
    "      --per-trial           at most one checkpoint per trial\n"
    "      --sort-by METRIC      rank by this validation metric instead ...\n"
    "      --smaller-is-better BOOL  ... where smaller is better (true or false)\n"
    "  -o, --output-dir DIR      top directory (default: checkpoints under the\n"
    "                            current directory)\n"
    "  -q, --quiet               print only the checkpoints' paths\n" ROUTE_OPTIONS
    "      --json                print each event, then the final job, as JSON\n"
    "\n"
    "exit status: 0 when the checkpoints are there, 1 when the download failed,\n"
    "130 when interrupted (the download keeps running).\n";

/* Prints what det prints for the checkpoints of a finished job. */
static int print_checkpoints(const struct download *d, const json_t *job)
{
    const json_t *list = json_object_get(job, "checkpoints");
    json_int_t id = ckc_jint(job, "id", 0);
    if (json_array_size(list) == 0) {
        if (d->many) {
            ckc_errorf("job %" JSON_INTEGER_FORMAT " found no checkpoint to download", id);
            return CKC_EXIT_OK;
        }
        ckc_errorf("ckptd's job %" JSON_INTEGER_FORMAT " names no checkpoint", id);
        return CKC_EXIT_FAIL;
    }
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry)
    {
        const char *uuid = ckc_jstr(entry, "uuid", "?");
        const char *path = ckc_jstr(entry, "path", NULL);
        if (!path) {
            ckc_errorf("ckptd's job %" JSON_INTEGER_FORMAT " names no path for checkpoint %s", id,
                       uuid);
            return CKC_EXIT_FAIL;
        }
        if (strcmp(ckc_jstr(entry, "status", ""), "present") == 0)
            ckc_errorf("checkpoint %s is already present and verified at %s", uuid, path);
        /* The master's object; a bare one with the uuid if the daemon has none. */
        json_t *cp = json_object_get(entry, "checkpoint");
        if (strcmp(ckc_jstr(cp, "state", ""), "STATE_PARTIALLY_DELETED") == 0)
            ckc_errorf("checkpoint %s is partially deleted: downloaded the files that remain",
                       uuid);
        /* det prints the path as the user gave it, not where it resolved. */
        char *shown = ckc_det_display_path(d->outdir, d->direct ? NULL : uuid);
        if (!shown) {
            ckc_errorf("out of memory");
            return CKC_EXIT_FAIL;
        }
        if (d->quiet) {
            puts(shown);
            free(shown);
            continue;
        }
        json_t *bare = json_is_object(cp) ? NULL : json_pack("{s:s}", "uuid", uuid);
        int rc = ckc_det_print_checkpoint(stdout, bare ? bare : cp, shown);
        json_decref(bare);
        free(shown);
        if (rc < 0) {
            ckc_errorf("out of memory");
            return CKC_EXIT_FAIL;
        }
        if (d->many) putchar('\n');
    }
    fflush(stdout);
    return CKC_EXIT_OK;
}

/* After the job ended: the final job with --json, det's output when done,
 * the reason otherwise; picks the exit status. */
static int finish(ckc_conn *c, const ckc_opts *o, const struct download *d, const json_t *end,
                  double elapsed)
{
    json_int_t id = ckc_jint(end, "id", 0);
    bool done = strcmp(ckc_jstr(end, "state", "?"), "done") == 0;
    int status = CKC_EXIT_OK;
    if (o->json || done) {
        json_t *res;
        if (ckc_call_job_get(c, "job.get", json_pack("{s:I}", "id", id), &res) != 0)
            return CKC_EXIT_FAIL;
        if (o->json)
            ckc_print_json(res);
        else
            status = print_checkpoints(d, json_object_get(res, "job"));
        json_decref(res);
    }
    if (!done) {
        char line[4200];
        ckc_fmt_job_end(line, sizeof line, end, elapsed);
        ckc_errorf("%s", line);
        status = CKC_EXIT_FAIL;
    }
    return status;
}

/* Submits the download, follows it, prints the outcome. Consumes d->source. */
static int run(struct download *d, const ckc_opts *o)
{
    json_t *source = d->source;
    d->source = NULL;
    char *output = ckc_output_dir(d->outdir ? d->outdir : "checkpoints");
    if (!output) {
        json_decref(source);
        return CKC_EXIT_FAIL;
    }
    json_t *options = json_pack("{s:s}", "layout", d->direct ? "direct" : "by_uuid");
    if (options &&
        ((d->mode && json_object_set_new(options, "mode", json_string(d->mode)) < 0) ||
         (d->decompress && json_object_set_new(options, "decompress", json_true()) < 0))) {
        json_decref(options);
        options = NULL;
    }
    json_t *params = NULL;
    if (options) /* steals source and options, even when it fails */
        params = json_pack("{s:o,s:s,s:o}", "source", source, "output", output, "options", options);
    else
        json_decref(source);
    free(output);
    if (!params) {
        ckc_errorf("cannot build the request: out of memory");
        return CKC_EXIT_FAIL;
    }
    int status = ckc_det_attach(o, params, json_object_get(params, "source"));
    if (status != 0) {
        json_decref(params);
        return status;
    }

    ckc_conn c;
    if (ckc_connect(o, &c) != 0) {
        json_decref(params);
        return CKC_EXIT_FAIL;
    }
    /* det's stdout holds only det's output: no progress lines when stdout
     * is not a terminal (on one the progress block is erased at the end). */
    bool silent = !ckc_stdout_is_terminal();
    json_t *end = NULL;
    double elapsed = -1;
    status = ckc_job_run(&c, o, params, 0, silent, &end, &elapsed);
    if (status == 0) status = finish(&c, o, d, end, elapsed);
    json_decref(end);
    ckc_conn_close(&c);
    return status;
}

/* -o and -q, which every download has. Returns true when c was one. */
/* -o, -q, --mode, --decompress, --sort-by and --smaller-is-better: 1 when c
 * was one of them, 0 when not, CKC_EXIT_USAGE (negated) for a bad value. */
static int common_option(struct download *d, int c)
{
    if (c == OPT_MODE) {
        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "direct") != 0 &&
            strcmp(optarg, "master") != 0)
            return -ckc_usage_errorf(d->cmd, "--mode is auto, direct or master, not '%s'", optarg);
        d->mode = optarg;
        return 1;
    }
    if (c == OPT_DECOMPRESS) {
        d->decompress = true;
        return 1;
    }
    if (c == OPT_SORT_BY) {
        if (!*optarg) return -ckc_usage_errorf(d->cmd, "--sort-by needs a metric name");
        d->sort_by = optarg;
        return 1;
    }
    if (c == OPT_SMALLER) {
        if (ckc_det_parse_bool(optarg, &d->smaller) < 0)
            return -ckc_usage_errorf(d->cmd, "--smaller-is-better is true or false, not '%s'",
                                     optarg);
        d->has_smaller = true;
        return 1;
    }
    if (c == 'o') {
        d->outdir = optarg;
        return 1;
    }
    if (c == 'q') {
        d->quiet = true;
        return 1;
    }
    return 0;
}

/* Checks the positional words (exactly one: what) and -o. */
static int check_common(const struct download *d, int argc, char **argv, const char *what)
{
    if (optind >= argc) return ckc_usage_errorf(d->cmd, "%s", what);
    if (optind + 1 < argc)
        return ckc_usage_errorf(d->cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (d->outdir && !*d->outdir) return ckc_usage_errorf(d->cmd, "empty output directory");
    return 0;
}

/* --sort-by and --smaller-is-better go together, as det requires. */
static int check_sort(const struct download *d)
{
    if (d->sort_by && !d->has_smaller)
        return ckc_usage_errorf(d->cmd, "--sort-by needs --smaller-is-better true|false");
    if (d->has_smaller && !d->sort_by)
        return ckc_usage_errorf(d->cmd, "--smaller-is-better goes with --sort-by METRIC");
    return 0;
}

/* Adds the ranking options to a source. Returns false when out of memory. */
static bool add_sort(json_t *source, const struct download *d)
{
    if (!d->sort_by) return true;
    return json_object_set_new(source, "sort_by", json_string(d->sort_by)) == 0 &&
           json_object_set_new(source, "smaller_is_better", json_boolean(d->smaller)) == 0;
}

static int out_of_memory(json_t *source)
{
    json_decref(source);
    ckc_errorf("out of memory");
    return CKC_EXIT_FAIL;
}

int ckc_det_checkpoint_download(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {{"output-dir", required_argument, NULL, 'o'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"mode", required_argument, NULL, OPT_MODE},
                                             {"decompress", no_argument, NULL, OPT_DECOMPRESS},
                                             {"mode", required_argument, NULL, OPT_MODE},
                                             {NULL, 0, NULL, 0}};
    struct download d = {.cmd = argv[0]};
    int c, status;
    while ((c = ckc_getopt(argc, argv, "o:q", longopts, o, checkpoint_usage)) != -1) {
        if ((status = common_option(&d, c)) < 0) return -status;
        if (status) continue;
        return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
    }
    if ((status = check_common(&d, argc, argv, "which checkpoint? give its UUID")) != 0)
        return status;
    const char *uuid = argv[optind];
    if (!*uuid) return ckc_usage_errorf(d.cmd, "empty checkpoint uuid");

    d.direct = d.outdir != NULL; /* det: -o DIR holds the files themselves */
    d.source = json_pack("{s:s,s:s}", "kind", "checkpoint", "uuid", uuid);
    if (!d.source) return out_of_memory(NULL);
    return run(&d, o);
}

int ckc_det_trial_download(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {
        {"output-dir", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"mode", required_argument, NULL, OPT_MODE},
        {"decompress", no_argument, NULL, OPT_DECOMPRESS},
        {"best", no_argument, NULL, OPT_BEST},
        {"latest", no_argument, NULL, OPT_LATEST},
        {"uuid", required_argument, NULL, OPT_UUID},
        {"sort-by", required_argument, NULL, OPT_SORT_BY},
        {"smaller-is-better", required_argument, NULL, OPT_SMALLER},
        {NULL, 0, NULL, 0}};
    struct download d = {.cmd = argv[0]};
    const char *select = NULL, *uuid = NULL;
    int c, status;
    while ((c = ckc_getopt(argc, argv, "o:q", longopts, o, trial_usage)) != -1) {
        if ((status = common_option(&d, c)) < 0) return -status;
        if (status) continue;
        const char *pick = NULL;
        switch (c) {
        case OPT_BEST:
            pick = "best";
            break;
        case OPT_LATEST:
            pick = "latest";
            break;
        case OPT_UUID:
            if (!*optarg) return ckc_usage_errorf(d.cmd, "empty checkpoint uuid");
            pick = "uuid";
            uuid = optarg;
            break;
        default:
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
        }
        if (pick && select && strcmp(pick, select) != 0)
            return ckc_usage_errorf(d.cmd, "give one of --best, --latest and --uuid");
        if (pick) select = pick;
    }
    if ((status = check_common(&d, argc, argv, "which trial? give its ID")) != 0) return status;
    json_int_t id = 0;
    if ((status = ckc_det_parse_id(d.cmd, "trial", argv[optind], &id)) != 0) return status;
    if (!select)
        return ckc_usage_errorf(d.cmd, "which checkpoint? give --best, --latest or --uuid");
    if ((status = check_sort(&d)) != 0) return status;
    if (d.sort_by && strcmp(select, "best") != 0)
        return ckc_usage_errorf(d.cmd, "--sort-by and --smaller-is-better go with --best");

    d.direct = d.outdir != NULL;
    d.source = json_pack("{s:s,s:I,s:s}", "kind", "trial", "id", id, "select", select);
    if (!d.source || (uuid && json_object_set_new(d.source, "uuid", json_string(uuid)) < 0) ||
        !add_sort(d.source, &d))
        return out_of_memory(d.source);
    return run(&d, o);
}

int ckc_det_experiment_download(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {
        {"output-dir", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"mode", required_argument, NULL, OPT_MODE},
        {"decompress", no_argument, NULL, OPT_DECOMPRESS},
        {"top-n", required_argument, NULL, OPT_TOP_N},
        {"per-trial", no_argument, NULL, OPT_PER_TRIAL},
        {"sort-by", required_argument, NULL, OPT_SORT_BY},
        {"smaller-is-better", required_argument, NULL, OPT_SMALLER},
        {NULL, 0, NULL, 0}};
    struct download d = {.cmd = argv[0], .many = true};
    bool per_trial = false;
    long long top_n = 1;
    int c, status;
    while ((c = ckc_getopt(argc, argv, "o:q", longopts, o, experiment_usage)) != -1) {
        if ((status = common_option(&d, c)) < 0) return -status;
        if (status) continue;
        switch (c) {
        case OPT_TOP_N:
            if (ckc_parse_int(optarg, &top_n) < 0 || top_n <= 0 || top_n > INT32_MAX)
                return ckc_usage_errorf(d.cmd, "--top-n needs a positive integer, not '%s'",
                                        optarg);
            break;
        case OPT_PER_TRIAL:
            per_trial = true;
            break;
        default:
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
        }
    }
    if ((status = check_common(&d, argc, argv, "which experiment? give its ID")) != 0)
        return status;
    json_int_t id = 0;
    if ((status = ckc_det_parse_id(d.cmd, "experiment", argv[optind], &id)) != 0) return status;
    if ((status = check_sort(&d)) != 0) return status;

    d.direct = false; /* det: each checkpoint in DIR/UUID, -o or not */
    d.source =
        json_pack("{s:s,s:I,s:I}", "kind", "experiment", "id", id, "top_n", (json_int_t)top_n);
    if (!d.source || !add_sort(d.source, &d) ||
        (per_trial && json_object_set_new(d.source, "per_trial", json_true()) < 0))
        return out_of_memory(d.source);
    return run(&d, o);
}
