/* ckc common: error lines, option parsing and connecting, shared by every
 * command. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#include "autostart.h"

static volatile sig_atomic_t got_sigint;

void ckc_errorf(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("ckpt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ckc_usage_errorf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("ckpt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\ntry 'ckpt %s --help'\n", cmd);
    else
        fputs("\ntry 'ckpt --help'\n", stderr);
    return CKC_EXIT_USAGE;
}

/* Internal option codes, outside the range of characters. */
enum { OPT_JSON = 0x1000, OPT_HELP };

int ckc_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               ckc_opts *o, const char *usage)
{
    /* The command's long options plus --json and --help; commands have a
     * handful, so a small fixed array does. */
    struct option all[32];
    size_t n = 0;
    while (longopts && longopts[n].name && n < 28) {
        all[n] = longopts[n];
        n++;
    }
    all[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
    if (o->det) all[n++] = (struct option){"master", required_argument, NULL, 'm'};
    all[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    all[n] = (struct option){NULL, 0, NULL, 0};

    char shorts[64];
    snprintf(shorts, sizeof shorts, ":%sh%s", shortopts ? shortopts : "", o->det ? "m:" : "");

    opterr = 0;
    for (;;) {
        int before = optind;
        int c = getopt_long(argc, argv, shorts, all, NULL);
        switch (c) {
        case OPT_JSON:
            o->json = true;
            continue;
        case 'm':
            if (!o->det) return c;
            o->master = optarg;
            continue;
        case OPT_HELP:
        case 'h':
            fputs(usage, stdout);
            return 'h';
        case '?':
        case ':': {
            const char *word = argv[optind > before ? optind - 1 : before];
            char name[64];
            if (strncmp(word, "--", 2) == 0)
                snprintf(name, sizeof name, "%.*s", (int)strcspn(word, "="), word);
            else
                snprintf(name, sizeof name, "-%c", optopt);
            if (c == '?')
                ckc_usage_errorf(argv[0], "unknown option '%s'", name);
            else
                ckc_usage_errorf(argv[0], "option '%s' needs a value", name);
            return '?';
        }
        default:
            return c;
        }
    }
}

int ckc_parse_int(const char *s, long long *v)
{
    char *end;
    if (!s || !*s) return -EINVAL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end != '\0' || end == s) return -EINVAL;
    if (errno == ERANGE) return -ERANGE;
    *v = x;
    return 0;
}

int ckc_parse_job_id(const char *s, json_int_t *id)
{
    long long v;
    if (ckc_parse_int(s, &v) < 0 || v <= 0) return -EINVAL;
    *id = (json_int_t)v;
    return 0;
}

int ckc_connect(const ckc_opts *o, ckc_conn *c)
{
    int rc = ckc_conn_open(c, o->socket);
    if (rc < 0 && o->autostart && ckc_autostart_wanted(rc)) rc = ckc_autostart_open(c, o->socket);
    if (rc == 0) rc = ckc_conn_hello(c);
    if (rc < 0) {
        ckc_errorf("%s", ckc_conn_strerror(c, rc));
        ckc_conn_close(c);
        return CKC_EXIT_FAIL;
    }
    return 0;
}

int ckc_call(ckc_conn *c, const char *method, json_t *params, json_t **result)
{
    int rc = ckc_conn_call(c, method, params, result);
    if (rc < 0) {
        ckc_errorf("%s", ckc_conn_strerror(c, rc));
        return CKC_EXIT_FAIL;
    }
    return 0;
}

int ckc_call_job_get(ckc_conn *c, const char *method, json_t *params, json_t **result)
{
    json_t *id = json_incref(json_object_get(params, "id"));
    int status = ckc_call(c, method, params, result);
    json_t *job = status == 0 ? json_object_get(*result, "job") : NULL;
    json_t *files = json_object_get(job, "files");
    json_t *next = json_object_get(job, "files_next");
    /* Each page must advance; a daemon that pages nothing ends the loop. */
    while (status == 0 && json_is_integer(next) &&
           json_integer_value(next) > json_integer_value(json_object_get(job, "files_offset"))) {
        json_int_t from = json_integer_value(next);
        json_t *page;
        status = ckc_call(c, method, json_pack("{s:O, s:I}", "id", id, "offset", from), &page);
        if (status != 0) break;
        json_t *pj = json_object_get(page, "job");
        json_t *more = json_object_get(pj, "files");
        if (json_array_size(more) == 0 || json_array_extend(files, more) < 0) {
            json_decref(page);
            break;
        }
        json_object_set(job, "files_offset", json_object_get(pj, "files_offset"));
        json_object_set(job, "files_next", json_object_get(pj, "files_next"));
        next = json_object_get(job, "files_next");
        json_decref(page);
    }
    if (status != 0 && *result) {
        json_decref(*result);
        *result = NULL;
    }
    if (job) json_object_set_new(job, "files_offset", json_integer(0));
    json_decref(id);
    return status;
}

int ckc_request(const ckc_opts *o, const char *method, json_t *params, json_t **result)
{
    return ckc_request_via(o, ckc_call, method, params, result);
}

int ckc_request_via(const ckc_opts *o, ckc_call_fn call, const char *method, json_t *params,
                    json_t **result)
{
    if (!params) {
        ckc_errorf("cannot build the request: out of memory");
        return CKC_EXIT_FAIL;
    }
    ckc_conn conn;
    if (ckc_connect(o, &conn) != 0) {
        json_decref(params);
        return CKC_EXIT_FAIL;
    }
    int status = call(&conn, method, params, result);
    ckc_conn_close(&conn);
    return status;
}

static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
}

void ckc_catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
}

bool ckc_interrupted(void)
{
    return got_sigint != 0;
}
