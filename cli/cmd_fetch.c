/* ckpt fetch: submit a job of URLs and follow it to its end. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fetch_objects.h"
#include "input.h"
#include "jobrun.h"
#include "render.h"

/* Largest input list read; a job must fit in one 1 MiB request anyway. */
#define FETCH_MAX_LIST (64 * 1024 * 1024)

static const char usage[] =
    "usage: ckpt fetch [OPTIONS] URL...\n"
    "       ckpt fetch [OPTIONS] -i LIST\n"
    "       ckpt fetch [OPTIONS] s3://BUCKET/PREFIX/ | gs://BUCKET/PREFIX/ |\n"
    "                            az://ACCOUNT/CONTAINER/PREFIX/\n"
    "\n"
    "Downloads files through ckptd into a directory. They appear there only once\n"
    "every file of the job is complete and verified. Shows progress until the job\n"
    "ends; Ctrl-C leaves the job running.\n"
    "\n"
    "options:\n"
    "  -o, --output DIR    directory to write into (default: the current directory)\n"
    "  -i, --input LIST    read URLs from an aria2-style list ('-': standard input):\n"
    "                      one URL per line, each followed by indented options:\n"
    "                        out=PATH     path inside DIR (default: the URL's file name)\n"
    "                        xxh128=HEX   expected XXH3-128 of the file (32 hex digits)\n"
    "                        size=N       expected size in bytes\n"
    "                      blank lines and '#' comments are ignored\n"
    "  -O, --out PATH      path inside DIR (a single URL only)\n"
    "      --xxh128 HEX    expected XXH3-128 of the file (a single URL only)\n"
    "      --size N        expected size in bytes (a single URL only)\n"
    "  -p, --priority N    higher runs first (default 0)\n"
    "  -z, --decompress    store *.zst downloads decoded, without the suffix\n"
    "      --durability M  publish (default: the daemon's setting): synced before the\n"
    "                      files appear; background: they appear once verified and\n"
    "                      are synced right after\n"
    "  -d, --detach        print the job id and return at once\n"
    "      --json          print each event, then the final job, as JSON lines\n"
    "\n"
    "object stores (one URL; ending in '/': every object under the prefix, kept\n"
    "under DIR by its path below the prefix; else the one object). ckptd lists and\n"
    "fetches with its own credentials (as for checkpoints); objects a previous\n"
    "fetch into DIR left unchanged (same size and ETag) are skipped; the store's\n"
    "content hash, where it keeps one, is checked too:\n"
    "      --endpoint-url URL  S3-compatible endpoint, path-style (default:\n"
    "                      AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL)\n"
    "      --include GLOB  take only paths matching GLOB ('*' matches '/' too)\n"
    "      --exclude GLOB  leave out paths matching GLOB (both repeatable)\n"
    "\n"
    "exit status: 0 when the job is done, 1 when it failed or was canceled,\n"
    "130 when interrupted (the job keeps running).\n";

enum { OPT_XXH128 = 0x2000, OPT_SIZE, OPT_DURABILITY, OPT_ENDPOINT, OPT_INCLUDE, OPT_EXCLUDE };

static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"input", required_argument, NULL, 'i'},
    {"out", required_argument, NULL, 'O'},
    {"xxh128", required_argument, NULL, OPT_XXH128},
    {"size", required_argument, NULL, OPT_SIZE},
    {"priority", required_argument, NULL, 'p'},
    {"detach", no_argument, NULL, 'd'},
    {"decompress", no_argument, NULL, 'z'},
    {"durability", required_argument, NULL, OPT_DURABILITY},
    {"endpoint-url", required_argument, NULL, OPT_ENDPOINT},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {NULL, 0, NULL, 0},
};

struct fetch_args {
    const char *outdir;
    const char **lists; /* -i arguments */
    size_t nlists;
    const char *one_out, *one_xxh128, *one_size;
    long long priority;
    bool has_priority;
    bool detach;
    bool decompress;
    const char *durability;
    const char *endpoint; /* object stores */
    const char **inc, **exc;
    size_t ninc, nexc;
};

/* Reads a whole file ("-": standard input). Returns 0 with a malloc'd *text,
 * or a negative errno (-EFBIG past FETCH_MAX_LIST). */
static int read_list(const char *name, char **text, size_t *len)
{
    bool is_stdin = strcmp(name, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n == cap) {
            if (cap >= FETCH_MAX_LIST) {
                rc = -EFBIG;
                break;
            }
            char *nbuf = realloc(buf, cap * 2);
            if (!nbuf) {
                rc = -ENOMEM;
                break;
            }
            buf = nbuf;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = -errno;
        if (r <= 0) break;
        n += (size_t)r;
    }
    if (!is_stdin) close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

/* Turns the command line into entries; returns 0 or an exit status. */
static int gather(const struct fetch_args *a, char **urls, size_t nurls, ckc_input *in)
{
    char err[8192];
    for (size_t i = 0; i < nurls; i++) {
        ckc_entry *e;
        int rc = ckc_input_add_url(in, urls[i], &e, err, sizeof err);
        if (rc < 0) {
            ckc_errorf("%s", rc == -ENOMEM ? "out of memory" : err);
            return rc == -ENOMEM ? CKC_EXIT_FAIL : CKC_EXIT_USAGE;
        }
        const char *keys[] = {"out", "xxh128", "size"};
        const char *vals[] = {a->one_out, a->one_xxh128, a->one_size};
        for (size_t k = 0; k < 3; k++) {
            if (!vals[k]) continue;
            rc = ckc_entry_set(e, keys[k], vals[k], err, sizeof err);
            if (rc < 0) {
                ckc_errorf("%s", rc == -ENOMEM ? "out of memory" : err);
                return rc == -ENOMEM ? CKC_EXIT_FAIL : CKC_EXIT_USAGE;
            }
        }
    }
    for (size_t i = 0; i < a->nlists; i++) {
        const char *name = a->lists[i];
        const char *shown = strcmp(name, "-") == 0 ? "<stdin>" : name;
        char *text = NULL;
        size_t len = 0;
        int rc = read_list(name, &text, &len);
        if (rc == -EFBIG) {
            ckc_errorf("'%s' is larger than %d MiB", shown, FETCH_MAX_LIST >> 20);
            return CKC_EXIT_FAIL;
        }
        if (rc < 0) {
            ckc_errorf("cannot read '%s': %s", shown, ckc_strerror(-rc));
            return CKC_EXIT_FAIL;
        }
        size_t before = in->n;
        rc = ckc_input_parse_list(in, shown, text, len, err, sizeof err);
        free(text);
        if (rc < 0) {
            ckc_errorf("%s", rc == -ENOMEM ? "out of memory" : err);
            return rc == -ENOMEM ? CKC_EXIT_FAIL : CKC_EXIT_USAGE;
        }
        if (in->n == before) {
            ckc_errorf("'%s' names no urls", shown);
            return CKC_EXIT_USAGE;
        }
    }
    int rc = ckc_input_finish(in, err, sizeof err);
    if (rc < 0) {
        ckc_errorf("%s", rc == -ENOMEM ? "out of memory" : err);
        return rc == -ENOMEM ? CKC_EXIT_FAIL : CKC_EXIT_USAGE;
    }
    return 0;
}

static json_t *submit_params(const ckc_input *in, const char *output, const struct fetch_args *a,
                             int url_names)
{
    json_t *files = json_array();
    json_t *params = files ? json_pack("{s:{s:s,s:o},s:s}", "source", "kind", "urls", "files",
                                       files, "output", output)
                           : NULL;
    if (!params) return NULL;
    for (size_t i = 0; i < in->n; i++) {
        json_t *f = ckc_entry_json(&in->v[i], url_names);
        if (!f || json_array_append_new(files, f) < 0) goto fail;
    }
    json_t *opts = json_object();
    if (!opts || json_object_set_new(params, "options", opts) < 0) goto fail;
    if (a->has_priority && json_object_set_new(opts, "priority", json_integer(a->priority)) < 0)
        goto fail;
    if (a->decompress && json_object_set_new(opts, "decompress", json_true()) < 0) goto fail;
    if (a->durability && json_object_set_new(opts, "durability", json_string(a->durability)) < 0)
        goto fail;
    return params;
fail:
    json_decref(params);
    return NULL;
}

/* Prints the outcome of the followed job and picks the exit status. */
static int finish(ckc_conn *c, const ckc_opts *o, const json_t *end, double elapsed, bool objects)
{
    json_int_t id = ckc_jint(end, "id", 0);
    const char *state = ckc_jstr(end, "state", "?");
    if (o->json) {
        json_t *res;
        json_t *params = json_pack("{s:I}", "id", id);
        if (ckc_call_job_get(c, "job.get", params, &res) != 0) return CKC_EXIT_FAIL;
        ckc_print_json(res);
        json_decref(res);
    }
    char line[4200];
    ckc_fmt_job_end(line, sizeof line, end, elapsed);
    if (strcmp(state, "done") == 0) {
        if (!o->json) {
            if (objects) ckc_objects_report(c, id);
            puts(line);
            fflush(stdout);
        }
        return CKC_EXIT_OK;
    }
    ckc_errorf("%s", line);
    return CKC_EXIT_FAIL;
}

/* --detach: submit, print the job id, return. */
static int run_detached(ckc_conn *c, const ckc_opts *o, json_t *params, size_t nfiles)
{
    json_t *job;
    int status = ckc_job_submit(c, params, nfiles, &job);
    if (status != 0) return status;
    if (o->json) {
        json_t *res = json_pack("{s:O}", "job", job);
        ckc_print_json(res);
        json_decref(res);
    } else {
        printf("%" JSON_INTEGER_FORMAT "\n", ckc_jint(job, "id", 0));
    }
    json_decref(job);
    return CKC_EXIT_OK;
}

/* Submit, follow the job to its end, say how it went. */
static int run_attached(ckc_conn *c, const ckc_opts *o, json_t *params, size_t nfiles)
{
    json_t *end = NULL;
    double elapsed = -1;
    bool objects = strcmp(ckc_jstr(json_object_get(params, "source"), "kind", ""), "objects") == 0;
    int status = ckc_job_run(c, o, params, nfiles, false, &end, &elapsed);
    if (status == 0) status = finish(c, o, end, elapsed, objects);
    json_decref(end);
    return status;
}

static int run(const struct fetch_args *a, const ckc_input *in, const char *output,
               const ckc_opts *o, const char *object_url)
{
    /* Connected first: the request's form depends on the daemon's features. */
    ckc_conn c;
    if (ckc_connect(o, &c) != 0) return CKC_EXIT_FAIL;
    json_t *params = object_url ? ckc_objects_params(object_url, output, a->endpoint, a->inc,
                                                     a->ninc, a->exc, a->nexc)
                                : submit_params(in, output, a, c.url_names);
    if (params && object_url) {
        json_t *opts = json_object();
        json_object_set_new(params, "options", opts);
        if (a->has_priority) json_object_set_new(opts, "priority", json_integer(a->priority));
        if (a->decompress) json_object_set_new(opts, "decompress", json_true());
    }
    if (!params) {
        ckc_errorf("cannot build the request: out of memory");
        ckc_conn_close(&c);
        return CKC_EXIT_FAIL;
    }
    int status = a->detach ? run_detached(&c, o, params, in ? in->n : 0)
                           : run_attached(&c, o, params, in ? in->n : 0);
    ckc_conn_close(&c);
    return status;
}

int ckc_cmd_fetch(int argc, char **argv, ckc_opts *o)
{
    struct fetch_args a;
    memset(&a, 0, sizeof a);
    a.lists = calloc((size_t)argc + 1, sizeof *a.lists);
    a.inc = calloc((size_t)argc + 1, sizeof *a.inc);
    a.exc = calloc((size_t)argc + 1, sizeof *a.exc);
    if (!a.lists || !a.inc || !a.exc) {
        free(a.lists);
        free(a.inc);
        free(a.exc);
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }

    int c, status = CKC_EXIT_OK;
    while ((c = ckc_getopt(argc, argv, "o:i:O:p:dz", longopts, o, usage)) != -1) {
        switch (c) {
        case 'o':
            a.outdir = optarg;
            break;
        case 'i':
            a.lists[a.nlists++] = optarg;
            break;
        case 'O':
            a.one_out = optarg;
            break;
        case OPT_XXH128:
            a.one_xxh128 = optarg;
            break;
        case OPT_SIZE:
            a.one_size = optarg;
            break;
        case 'p':
            if (ckc_parse_int(optarg, &a.priority) < 0) {
                status = ckc_usage_errorf("fetch", "priority '%s' is not an integer", optarg);
                goto out;
            }
            a.has_priority = true;
            break;
        case 'd':
            a.detach = true;
            break;
        case 'z':
            a.decompress = true;
            break;
        case OPT_DURABILITY:
            if (strcmp(optarg, "publish") != 0 && strcmp(optarg, "background") != 0) {
                status = ckc_usage_errorf(
                    "fetch", "--durability is publish or background, not '%s'", optarg);
                goto out;
            }
            a.durability = optarg;
            break;
        case OPT_ENDPOINT:
            a.endpoint = optarg;
            break;
        case OPT_INCLUDE:
            a.inc[a.ninc++] = optarg;
            break;
        case OPT_EXCLUDE:
            a.exc[a.nexc++] = optarg;
            break;
        case 'h':
            goto out;
        default:
            status = CKC_EXIT_USAGE;
            goto out;
        }
    }

    size_t nurls = (size_t)(argc - optind);
    if (nurls == 0 && a.nlists == 0) {
        status = ckc_usage_errorf("fetch", "nothing to fetch: give URLs or -i LIST");
        goto out;
    }
    if ((a.one_out || a.one_xxh128 || a.one_size) && (nurls != 1 || a.nlists > 0)) {
        status = ckc_usage_errorf("fetch", "--out, --xxh128 and --size need exactly one URL "
                                           "(in a list, use out=, xxh128= and size= lines)");
        goto out;
    }
    if (a.outdir && !*a.outdir) {
        status = ckc_usage_errorf("fetch", "empty output directory");
        goto out;
    }
    bool objects = nurls >= 1 && ckc_is_object_url(argv[optind]);
    for (size_t i = 1; i < nurls && !objects; i++) objects = ckc_is_object_url(argv[optind + i]);
    if (objects && (nurls != 1 || a.nlists > 0 || a.one_out || a.one_xxh128 || a.one_size)) {
        status = ckc_usage_errorf("fetch", "an s3://, gs:// or az:// URL comes alone (no other "
                                           "URLs, -i, --out, --xxh128 or --size)");
        goto out;
    }
    if (!objects && (a.endpoint || a.ninc || a.nexc)) {
        status = ckc_usage_errorf("fetch", "--endpoint-url, --include and --exclude are for "
                                           "s3://, gs:// and az:// URLs");
        goto out;
    }
    if (objects) {
        char *output = ckc_output_dir(a.outdir);
        status = output ? run(&a, NULL, output, o, argv[optind]) : CKC_EXIT_FAIL;
        free(output);
        goto out;
    }

    ckc_input in = CKC_INPUT_INIT;
    status = gather(&a, argv + optind, nurls, &in);
    if (status == 0) {
        char *output = ckc_output_dir(a.outdir);
        status = output ? run(&a, &in, output, o, NULL) : CKC_EXIT_FAIL;
        free(output);
    }
    ckc_input_release(&in);
out:
    free(a.lists);
    free(a.inc);
    free(a.exc);
    return status;
}
