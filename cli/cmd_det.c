/* ckpt checkpoint|trial|experiment: Determined checkpoints through ckptd,
 * with det's command names, flags and output. This file holds the command
 * groups and the subcommands that only ask (describe, list-checkpoints) or
 * edit metadata; the downloads are in cmd_det_download.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ckp.h"
#include "cmd.h"
#include "cmd_det.h"
#include "det_login.h"
#include "det_render.h"
#include "render.h"

/* ---- shared helpers -------------------------------------------------------- */

int ckc_det_parse_id(const char *cmd, const char *what, const char *s, json_int_t *id)
{
    long long v;
    if (ckc_parse_int(s, &v) < 0 || v <= 0 || v > INT32_MAX)
        return ckc_usage_errorf(cmd, "invalid %s id '%s': a positive integer is needed", what, s);
    *id = (json_int_t)v;
    return 0;
}

int ckc_det_parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"y", "yes", "t", "true", "on", "1"};
    static const char *const no[] = {"n", "no", "f", "false", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *v = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *v = false;
            return 0;
        }
    }
    return -EINVAL;
}

int ckc_det_call(ckc_conn *c, const char *method, json_t *params, json_t **result)
{
    int rc = ckc_conn_call(c, method, params, result);
    if (rc == CKC_ERPC && c->err_code == CKP_RPC_METHOD_NOT_FOUND) {
        ckc_errorf("this ckptd does not support Determined checkpoints (it has no method '%s'); "
                   "upgrade it",
                   method);
        return CKC_EXIT_FAIL;
    }
    if (rc < 0) {
        ckc_errorf("%s", ckc_conn_strerror(c, rc));
        return CKC_EXIT_FAIL;
    }
    return 0;
}

/* ckc_request, through ckc_det_call (an old daemon gets an upgrade hint). */
static int ask(const ckc_opts *o, const char *method, json_t *params, json_t **result)
{
    int status = ckc_det_attach(o, params, NULL);
    if (status != 0) {
        json_decref(params);
        return status;
    }
    return ckc_request_via(o, ckc_det_call, method, params, result);
}

/* The positional words after the options must number between min and max. */
static int expect_args(const char *cmd, int argc, char **argv, int min, int max, const char *what)
{
    int n = argc - optind;
    if (n < min) return ckc_usage_errorf(cmd, "%s", what);
    if (n > max) return ckc_usage_errorf(cmd, "unexpected argument '%s'", argv[optind + max]);
    return 0;
}

/* Options of a subcommand without any of its own but --json and --help:
 * returns 0 to go on, -1 after printing the help, or CKC_EXIT_USAGE. */
static int no_options(int argc, char **argv, ckc_opts *o, const char *usage)
{
    int c = ckc_getopt(argc, argv, "", NULL, o, usage);
    if (c == 'h') return -1;
    return c == -1 ? 0 : CKC_EXIT_USAGE;
}

/* The exit status after rendering, which fails only for want of memory. */
static int render_status(int rc)
{
    if (rc < 0) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    return CKC_EXIT_OK;
}

/* ---- checkpoint describe --------------------------------------------------- */

static const char describe_usage[] =
    "usage: ckpt checkpoint describe UUID [--files] [--json]\n"
    "\n"
    "Shows a checkpoint as det does (experiment, trial, steps completed, report\n"
    "time, validation metrics, metadata). The daemon asks the Determined master.\n"
    "\n"
    "options:\n"
    "      --files   then its files and their sizes (not in det's output)\n"
    "      --json    print the daemon's reply (the master's checkpoint) as JSON\n";

enum { OPT_FILES = 0x2000 };

static int checkpoint_describe(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {{"files", no_argument, NULL, OPT_FILES},
                                             {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    bool files = false;
    int c, status;
    while ((c = ckc_getopt(argc, argv, "", longopts, o, describe_usage)) != -1) {
        if (c == OPT_FILES)
            files = true;
        else
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
    }
    if ((status = expect_args(cmd, argc, argv, 1, 1, "which checkpoint? give its UUID")) != 0)
        return status;

    json_t *res;
    status = ask(o, "checkpoint.get", json_pack("{s:s}", "uuid", argv[optind]), &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else {
        const json_t *cp = json_object_get(res, "checkpoint");
        int rc = ckc_det_print_checkpoint(stdout, cp, NULL);
        if (rc == 0 && files) {
            fputs("\nResources:\n", stdout);
            rc = ckc_det_print_resources(stdout, cp);
        }
        status = render_status(rc);
    }
    json_decref(res);
    return status;
}

/* ---- checkpoint add-metadata / remove-metadata ----------------------------- */

static const char add_metadata_usage[] =
    "usage: ckpt checkpoint add-metadata UUID JSON [--json]\n"
    "\n"
    "Merges the keys of JSON (an object, e.g. '{\"stage\": \"prod\"}') into the top\n"
    "level of the checkpoint's user metadata on the Determined master, replacing\n"
    "keys it already has, and prints the metadata it has now. Files already\n"
    "downloaded (their metadata.json) are not changed.\n"
    "\n"
    "options:\n"
    "      --json    print the daemon's reply (the master's checkpoint) as JSON\n";

static const char remove_metadata_usage[] =
    "usage: ckpt checkpoint remove-metadata UUID KEY... [--json]\n"
    "\n"
    "Removes the top-level keys KEY... from the checkpoint's user metadata on the\n"
    "Determined master and prints the metadata it has now. Keys it does not have\n"
    "are ignored. Put '--' before a key that starts with '-'.\n"
    "\n"
    "options:\n"
    "      --json    print the daemon's reply (the master's checkpoint) as JSON\n";

/* Prints the metadata of the checkpoint in a metadata reply. */
static int print_metadata(const json_t *res)
{
    const json_t *md = json_object_get(json_object_get(res, "checkpoint"), "metadata");
    json_t *empty = json_object();
    char *text = empty ? ckc_det_json_pretty(json_is_object(md) ? md : empty) : NULL;
    json_decref(empty);
    if (!text) return render_status(-ENOMEM);
    puts(text);
    free(text);
    return CKC_EXIT_OK;
}

static int checkpoint_add_metadata(int argc, char **argv, ckc_opts *o)
{
    const char *cmd = argv[0];
    int status = no_options(argc, argv, o, add_metadata_usage);
    if (status != 0) return status < 0 ? CKC_EXIT_OK : status;
    if ((status = expect_args(cmd, argc, argv, 2, 2,
                              "give the checkpoint's UUID and a JSON object")) != 0)
        return status;

    json_error_t jerr;
    json_t *metadata = json_loads(argv[optind + 1], JSON_DECODE_ANY, &jerr);
    if (!metadata)
        return ckc_usage_errorf(cmd, "metadata is not valid JSON: %s (at character %d)", jerr.text,
                                jerr.position);
    if (!json_is_object(metadata)) {
        json_decref(metadata);
        return ckc_usage_errorf(cmd, "metadata must be a JSON object, like '{\"key\": \"value\"}'");
    }

    json_t *res;
    status = ask(o, "checkpoint.add_metadata",
                 json_pack("{s:s,s:o}", "uuid", argv[optind], "metadata", metadata), &res);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(res);
    else
        status = print_metadata(res);
    json_decref(res);
    return status;
}

static int checkpoint_remove_metadata(int argc, char **argv, ckc_opts *o)
{
    const char *cmd = argv[0];
    int status = no_options(argc, argv, o, remove_metadata_usage);
    if (status != 0) return status < 0 ? CKC_EXIT_OK : status;
    if ((status =
             expect_args(cmd, argc, argv, 2, argc, "give the checkpoint's UUID and the keys")) != 0)
        return status;

    json_t *keys = json_array();
    for (int i = optind + 1; keys && i < argc; i++)
        if (json_array_append_new(keys, json_string(argv[i])) < 0) {
            json_decref(keys);
            keys = NULL;
        }
    json_t *res;
    status = ask(o, "checkpoint.remove_metadata",
                 keys ? json_pack("{s:s,s:o}", "uuid", argv[optind], "keys", keys) : NULL, &res);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(res);
    else
        status = print_metadata(res);
    json_decref(res);
    return status;
}

/* ---- checkpoint delete / rm -------------------------------------------------- */

static const char delete_usage[] =
    "usage: ckpt checkpoint delete UUID[,UUID...] [--yes] [--json]\n"
    "\n"
    "Asks the Determined master to delete the checkpoints (a comma-separated\n"
    "list) and all their data in the checkpoint storage, as det does: after a\n"
    "confirmation, unless --yes. The master deletes in the background.\n"
    "\n"
    "options:\n"
    "      --yes     do not ask\n"
    "      --json    print the daemon's reply as JSON\n";

static const char rm_usage[] =
    "usage: ckpt checkpoint rm UUID[,UUID...] [--glob PATTERN]... [--yes] [--json]\n"
    "\n"
    "Asks the Determined master to delete the files matching the globs from the\n"
    "checkpoints (a comma-separated list) in the checkpoint storage, as det does:\n"
    "after a confirmation, unless --yes. Without --glob nothing is deleted and the\n"
    "master refreshes the checkpoints' resources from the storage.\n"
    "\n"
    "options:\n"
    "      --glob PATTERN  files to delete (repeatable)\n"
    "      --yes           do not ask\n"
    "      --json          print the daemon's reply as JSON\n";

/* det's render.yes_or_no: the prompt and " [y/n]: " on stdout, a line from
 * stdin, y/yes or n/no in any case, asked again otherwise. End of input
 * counts as no (det stops with a traceback there). */
static bool yes_or_no(const char *prompt)
{
    char line[256];
    for (;;) {
        printf("%s [y/n]: ", prompt);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) {
            putchar('\n');
            return false;
        }
        char *s = line, *e = line + strlen(line);
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (strcasecmp(s, "y") == 0 || strcasecmp(s, "yes") == 0) return true;
        if (strcasecmp(s, "n") == 0 || strcasecmp(s, "no") == 0) return false;
        puts("Please respond with 'y'/'yes' or 'n'/'no'");
    }
}

/* det splits the list on commas and sends every part. */
static json_t *split_uuids(const char *list)
{
    json_t *a = json_array();
    for (const char *p = list; a; p++) {
        size_t n = strcspn(p, ",");
        if (json_array_append_new(a, json_stringn(p, n)) < 0) {
            json_decref(a);
            return NULL;
        }
        p += n;
        if (!*p) break;
    }
    return a;
}

enum { OPT_YES = 0x2100, OPT_GLOB };

static int checkpoint_delete_or_rm(int argc, char **argv, ckc_opts *o, bool rm)
{
    static const struct option longopts[] = {{"yes", no_argument, NULL, OPT_YES},
                                             {"glob", required_argument, NULL, OPT_GLOB},
                                             {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    bool yes = false;
    json_t *globs = json_array();
    int c, status;
    if (!globs) return render_status(-ENOMEM);
    while ((c = ckc_getopt(argc, argv, "", longopts, o, rm ? rm_usage : delete_usage)) != -1) {
        if (c == OPT_YES) {
            yes = true;
        } else if (c == OPT_GLOB && rm) {
            json_array_append_new(globs, json_string(optarg));
        } else {
            json_decref(globs);
            if (c == OPT_GLOB) return ckc_usage_errorf(cmd, "--glob goes with checkpoint rm");
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
        }
    }
    if ((status = expect_args(cmd, argc, argv, 1, 1,
                              "which checkpoints? give their UUIDs, separated by commas")) != 0) {
        json_decref(globs);
        return status;
    }
    const char *list = argv[optind];
    bool go = rm ? yes || json_array_size(globs) == 0 ||
                       yes_or_no("All files matching specified globs will be deleted in all "
                                 "checkpoints provided\nin checkpoint storage. Do you still want "
                                 "to proceed?")
                 : yes || yes_or_no("Deleting checkpoints will result in deletion of all data "
                                    "associated\nwith each checkpoint in the checkpoint storage. "
                                    "Do you still want to proceed?");
    if (!go) {
        json_decref(globs);
        puts(rm ? "Stopping removal of files from checkpoints."
                : "Stopping deletion of checkpoints.");
        return CKC_EXIT_OK;
    }
    json_t *uuids = split_uuids(list), *res;
    json_t *params = uuids ? json_pack("{s:o}", "uuids", uuids) : NULL;
    if (params && rm) json_object_set(params, "globs", globs);
    size_t nglobs = json_array_size(globs);
    json_decref(globs);
    status = ask(o, rm ? "checkpoint.rm" : "checkpoint.delete", params, &res);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(res);
    else if (!rm)
        printf("Deletion of checkpoints %s is in progress\n", list);
    else if (nglobs == 0)
        printf(
            "No glob patterns provided, refreshing resources of checkpoints %s is in progress.\n",
            list);
    else
        printf("Removal of files from checkpoints %s is in progress.\n", list);
    json_decref(res);
    return CKC_EXIT_OK;
}

static int checkpoint_delete(int argc, char **argv, ckc_opts *o)
{
    return checkpoint_delete_or_rm(argc, argv, o, false);
}

static int checkpoint_rm(int argc, char **argv, ckc_opts *o)
{
    return checkpoint_delete_or_rm(argc, argv, o, true);
}

/* ---- list-checkpoints ------------------------------------------------------ */

static const char experiment_list_usage[] =
    "usage: ckpt experiment list-checkpoints ID [--best N] [--csv] [--json]\n"
    "       (also: ckpt e lc ID ...)\n"
    "\n"
    "Lists the checkpoints of experiment ID as det does, in every state: Trial\n"
    "ID, # of Batches, State, Validation Metric (the searcher's; empty when a\n"
    "checkpoint has none), UUID, Resources (its files) and Size (1024-based), by\n"
    "report time.\n"
    "\n"
    "options:\n"
    "      --best N  only the N best by the experiment's searcher metric (honouring\n"
    "                smaller_is_better, those without it last), in any state\n"
    "      --csv     print CSV instead of a table\n"
    "      --json    print the daemon's reply (the master's checkpoints) as JSON\n";

static const char trial_list_usage[] =
    "usage: ckpt trial list-checkpoints ID [--sort-by KEY] [--order-by asc|desc]\n"
    "                                   [--max-results N] [--csv] [--json]\n"
    "       (also: ckpt t lc ID ...)\n"
    "\n"
    "Lists the checkpoints of trial ID with the columns of det's experiment\n"
    "list-checkpoints. Without --sort-by they come by trial id, then report time.\n"
    "\n"
    "options:\n"
    "      --sort-by KEY      uuid, trial_id, batch_number, end_time, state,\n"
    "                         searcher_metric, or the name of a validation metric\n"
    "      --order-by ORDER   asc (default) or desc\n"
    "      --max-results N    at most N checkpoints\n"
    "      --csv              print CSV instead of a table\n"
    "      --json             print the daemon's reply (the master's checkpoints)\n";

enum { OPT_BEST = 0x3000, OPT_CSV, OPT_SORT_BY, OPT_ORDER_BY, OPT_MAX_RESULTS };

/* Calls checkpoint.list and prints its result. */
static int list_and_print(const ckc_opts *o, json_t *params, bool csv)
{
    json_t *res;
    int status = ask(o, "checkpoint.list", params, &res);
    if (status != 0) return status;
    if (o->json) {
        ckc_print_json(res);
    } else {
        const char *metric = ckc_jstr(res, "searcher_metric", NULL);
        status = render_status(
            ckc_det_print_list(stdout, json_object_get(res, "checkpoints"), metric, csv));
    }
    json_decref(res);
    return status;
}

/* A count option's value: a positive integer. */
static int parse_count(const char *cmd, const char *opt, const char *s, json_int_t *n)
{
    long long v;
    if (ckc_parse_int(s, &v) < 0 || v <= 0)
        return ckc_usage_errorf(cmd, "%s needs a positive integer, not '%s'", opt, s);
    *n = (json_int_t)v;
    return 0;
}

static int experiment_list(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {{"best", required_argument, NULL, OPT_BEST},
                                             {"csv", no_argument, NULL, OPT_CSV},
                                             {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    json_int_t best = 0;
    bool csv = false;
    int c, status;
    while ((c = ckc_getopt(argc, argv, "", longopts, o, experiment_list_usage)) != -1) {
        if (c == OPT_BEST) {
            if ((status = parse_count(cmd, "--best", optarg, &best)) != 0) return status;
        } else if (c == OPT_CSV) {
            csv = true;
        } else {
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
        }
    }
    if ((status = expect_args(cmd, argc, argv, 1, 1, "which experiment? give its ID")) != 0)
        return status;
    json_int_t id = 0;
    if ((status = ckc_det_parse_id(cmd, "experiment", argv[optind], &id)) != 0) return status;

    /* det lists by end time, or the N best by the searcher metric. */
    json_t *params = best > 0 ? json_pack("{s:I,s:I}", "experiment", id, "best", best)
                              : json_pack("{s:I,s:s}", "experiment", id, "sort_by", "end_time");
    return list_and_print(o, params, csv);
}

static int trial_list(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {
        {"sort-by", required_argument, NULL, OPT_SORT_BY},
        {"order-by", required_argument, NULL, OPT_ORDER_BY},
        {"max-results", required_argument, NULL, OPT_MAX_RESULTS},
        {"csv", no_argument, NULL, OPT_CSV},
        {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    const char *sort_by = NULL, *order_by = NULL;
    json_int_t max_results = 0;
    bool csv = false;
    int c, status;
    while ((c = ckc_getopt(argc, argv, "", longopts, o, trial_list_usage)) != -1) {
        switch (c) {
        case OPT_SORT_BY:
            if (!*optarg) return ckc_usage_errorf(cmd, "--sort-by needs a key");
            sort_by = optarg;
            break;
        case OPT_ORDER_BY:
            if (strcmp(optarg, "asc") != 0 && strcmp(optarg, "desc") != 0)
                return ckc_usage_errorf(cmd, "--order-by is asc or desc, not '%s'", optarg);
            order_by = optarg;
            break;
        case OPT_MAX_RESULTS:
            if ((status = parse_count(cmd, "--max-results", optarg, &max_results)) != 0)
                return status;
            break;
        case OPT_CSV:
            csv = true;
            break;
        default:
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
        }
    }
    if ((status = expect_args(cmd, argc, argv, 1, 1, "which trial? give its ID")) != 0)
        return status;
    json_int_t id = 0;
    if ((status = ckc_det_parse_id(cmd, "trial", argv[optind], &id)) != 0) return status;

    json_t *params = json_pack("{s:I}", "trial", id);
    if (params && sort_by) json_object_set_new(params, "sort_by", json_string(sort_by));
    if (params && order_by) json_object_set_new(params, "order_by", json_string(order_by));
    if (params && max_results > 0)
        json_object_set_new(params, "max_results", json_integer(max_results));
    return list_and_print(o, params, csv);
}

/* ---- the command groups ---------------------------------------------------- */

struct subcommand {
    const char *name;
    const char *alias; /* det's short name, or NULL */
    int (*run)(int argc, char **argv, ckc_opts *o);
};

/* Runs the subcommand argv[1] of group (argv[0]). */
static int dispatch(const char *group, const char *usage, const struct subcommand *subs,
                    size_t nsubs, int argc, char **argv, ckc_opts *o)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CKC_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        fputs(usage, stdout);
        return CKC_EXIT_OK;
    }
    for (size_t i = 0; i < nsubs; i++) {
        if (strcmp(name, subs[i].name) != 0 && !(subs[i].alias && strcmp(name, subs[i].alias) == 0))
            continue;
        /* The subcommand sees its full name as argv[0], for its messages. */
        char label[64];
        snprintf(label, sizeof label, "%s %s", group, subs[i].name);
        argv[1] = label;
        optind = 0;
        o->det = true; /* det's -m/--master */
        return subs[i].run(argc - 1, argv + 1, o);
    }
    return ckc_usage_errorf(group, "unknown %s command '%s'", group, name);
}

static const char checkpoint_usage[] =
    "usage: ckpt checkpoint COMMAND [ARGS...]   (also: ckpt c ...)\n"
    "\n"
    "Checkpoints of a Determined master, through ckptd: the daemon talks to the\n"
    "master that -m/--master URL names (any command, before or after it), else\n"
    "DET_MASTER, else its own, with det's login (its token store, DET_USER with\n"
    "DET_PASS, DET_MASTER_CERT_FILE).\n"
    "\n"
    "commands:\n"
    "  download UUID [-o DIR] [-q]      download a checkpoint, print where and what\n"
    "  describe UUID                    a checkpoint's metrics, metadata and files\n"
    "  add-metadata UUID JSON           merge keys into its user metadata\n"
    "  remove-metadata UUID KEY...      remove keys from its user metadata\n"
    "  seal UUID [DIR]                  store a verified local copy's hashes in its\n"
    "                                   metadata (key \"ckptd.xxh128\")\n"
    "  delete UUID[,UUID...] [--yes]    delete checkpoints and their data\n"
    "  rm UUID[,UUID...] --glob PATTERN [--yes]\n"
    "                                   delete matching files from checkpoints\n"
    "\n"
    "'ckpt checkpoint COMMAND --help' tells more.\n";

int ckc_cmd_checkpoint(int argc, char **argv, ckc_opts *o)
{
    static const struct subcommand subs[] = {
        {"download", NULL, ckc_det_checkpoint_download},
        {"describe", NULL, checkpoint_describe},
        {"add-metadata", NULL, checkpoint_add_metadata},
        {"remove-metadata", NULL, checkpoint_remove_metadata},
        {"seal", NULL, ckc_det_checkpoint_seal},
        {"delete", NULL, checkpoint_delete},
        {"rm", NULL, checkpoint_rm},
    };
    return dispatch("checkpoint", checkpoint_usage, subs, sizeof subs / sizeof subs[0], argc, argv,
                    o);
}

static const char trial_usage[] =
    "usage: ckpt trial COMMAND [ARGS...]   (also: ckpt t ...)\n"
    "\n"
    "Checkpoints of a Determined trial, through ckptd (-m/--master URL as det).\n"
    "\n"
    "commands:\n"
    "  download ID --best|--latest|--uuid U [-o DIR] [-q]\n"
    "                                   download one checkpoint of the trial\n"
    "  list-checkpoints ID (lc)         list the trial's checkpoints\n"
    "\n"
    "'ckpt trial COMMAND --help' tells more.\n";

int ckc_cmd_trial(int argc, char **argv, ckc_opts *o)
{
    static const struct subcommand subs[] = {
        {"download", NULL, ckc_det_trial_download},
        {"list-checkpoints", "lc", trial_list},
    };
    return dispatch("trial", trial_usage, subs, sizeof subs / sizeof subs[0], argc, argv, o);
}

static const char experiment_usage[] =
    "usage: ckpt experiment COMMAND [ARGS...]   (also: ckpt e ...)\n"
    "\n"
    "Checkpoints of a Determined experiment, through ckptd (-m/--master URL as det).\n"
    "\n"
    "commands:\n"
    "  download ID [--top-n N] [-o DIR] [-q]\n"
    "                                   download the experiment's best checkpoints\n"
    "  list-checkpoints ID (lc)         list the experiment's checkpoints\n"
    "\n"
    "'ckpt experiment COMMAND --help' tells more.\n";

int ckc_cmd_experiment(int argc, char **argv, ckc_opts *o)
{
    static const struct subcommand subs[] = {
        {"download", NULL, ckc_det_experiment_download},
        {"list-checkpoints", "lc", experiment_list},
    };
    return dispatch("experiment", experiment_usage, subs, sizeof subs / sizeof subs[0], argc, argv,
                    o);
}
