/* ckc commands: the subcommands of ckpt and the helpers they share. */
#ifndef CKC_CMD_H
#define CKC_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <jansson.h>

#include "conn.h"

/* Exit statuses. */
enum {
    CKC_EXIT_OK = 0,            /* success */
    CKC_EXIT_FAIL = 1,          /* the daemon or a job failed; a reason was printed */
    CKC_EXIT_USAGE = 2,         /* bad command line */
    CKC_EXIT_INTERRUPTED = 130, /* SIGINT */
};

/* Global options, parsed before the subcommand. */
typedef struct ckc_opts {
    const char *socket;   /* daemon socket path */
    bool socket_explicit; /* it came from --socket (hints must repeat it) */
    bool json;            /* print results as JSON (--json) */
    bool autostart;       /* start ckptd when none answers (autostart.h) */
    const char *master;   /* -m/--master URL (det's commands), or NULL */
    bool det;             /* the command takes -m/--master (ckc_getopt) */
} ckc_opts;

/* Every command takes the words from its name on (argv[0] is the command)
 * and returns the exit status. */
int ckc_cmd_status(int argc, char **argv, ckc_opts *o);
int ckc_cmd_fetch(int argc, char **argv, ckc_opts *o);
int ckc_cmd_jobs(int argc, char **argv, ckc_opts *o);
int ckc_cmd_job(int argc, char **argv, ckc_opts *o);
/* pause, resume and cancel: argv[0] names the transition. */
int ckc_cmd_control(int argc, char **argv, ckc_opts *o);
int ckc_cmd_watch(int argc, char **argv, ckc_opts *o);
int ckc_cmd_config(int argc, char **argv, ckc_opts *o);
/* A local copy checked against its manifest, without the daemon. */
int ckc_cmd_verify(int argc, char **argv, ckc_opts *o);
/* Determined checkpoints, with det's subcommands: argv[1] names one. */
int ckc_cmd_checkpoint(int argc, char **argv, ckc_opts *o);
int ckc_cmd_trial(int argc, char **argv, ckc_opts *o);
int ckc_cmd_experiment(int argc, char **argv, ckc_opts *o);
/* Follow jobs (GPU-node prefetch): argv[1] is trial, experiment, list or stop. */
int ckc_cmd_prefetch(int argc, char **argv, ckc_opts *o);
/* ckpt pin|unpin UUID, ckpt pins */
int ckc_cmd_pin(int argc, char **argv, ckc_opts *o);

/* ---- shared helpers (common.c) ------------------------------------------ */

/* Prints "ckpt: <message>" on stderr. */
void ckc_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "ckpt: <message>" and a hint to `ckpt CMD --help`; returns
 * CKC_EXIT_USAGE. cmd may be NULL for global usage errors. */
int ckc_usage_errorf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs getopt_long over a command's argv with --json and --help added to
 * longopts handling (and -m/--master URL when o->det, setting o->master):
 * sets o->json, prints usage for --help (returns 'h'),
 * reports unknown options and missing arguments (returns '?'). Otherwise
 * returns what getopt_long returns. usage is the command's help text. */
int ckc_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               ckc_opts *o, const char *usage);

/* Parses a job id (a positive integer). Returns 0 or -EINVAL. */
int ckc_parse_job_id(const char *s, json_int_t *id);
/* Parses a whole decimal integer. Returns 0, -EINVAL or -ERANGE. */
int ckc_parse_int(const char *s, long long *v);

/* Connects to o->socket (starting ckptd there first when none answers and
 * o->autostart is set) and says hello. On failure prints the reason and
 * returns CKC_EXIT_FAIL (c is closed then); 0 otherwise. */
int ckc_connect(const ckc_opts *o, ckc_conn *c);

/* Calls method; on failure prints "ckpt: <reason>" and returns
 * CKC_EXIT_FAIL. params is stolen. */
int ckc_call(ckc_conn *c, const char *method, json_t *params, json_t **result);

/* job.get with every file: follows the daemon's pages ("files_next") and
 * returns one result whose "files" holds them all. A ckc_call_fn: method is
 * "job.get", params ({"id":N}) is stolen. */
int ckc_call_job_get(ckc_conn *c, const char *method, json_t *params, json_t **result);

/* One request on a connection of its own: connects, calls, closes. 0 and
 * *result, or an exit status after printing why. params is stolen (NULL:
 * "cannot build the request"). */
int ckc_request(const ckc_opts *o, const char *method, json_t *params, json_t **result);
/* The same through another call function (cmd_det.c: ckc_det_call). */
typedef int (*ckc_call_fn)(ckc_conn *c, const char *method, json_t *params, json_t **result);
int ckc_request_via(const ckc_opts *o, ckc_call_fn call, const char *method, json_t *params,
                    json_t **result);

/* Installs a SIGINT handler that only sets a flag (a second SIGINT kills the
 * process as usual), and tells whether SIGINT has arrived since. */
void ckc_catch_sigint(void);
bool ckc_interrupted(void);

#endif
