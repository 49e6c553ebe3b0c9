/* ckc cmd_det: what the Determined-style commands (checkpoint, trial,
 * experiment) share between cmd_det.c and cmd_det_download.c. */
#ifndef CKC_CMD_DET_H
#define CKC_CMD_DET_H

#include <stdbool.h>
#include <jansson.h>

#include "cmd.h"

/* Parses the ID of a trial or experiment (a positive integer). On failure
 * prints a usage error for cmd naming what ("trial") and returns
 * CKC_EXIT_USAGE; 0 otherwise. */
int ckc_det_parse_id(const char *cmd, const char *what, const char *s, json_int_t *id);

/* Parses a truth value the way det's --smaller-is-better does: y, yes, t,
 * true, on, 1 or n, no, f, false, off, 0, in any case. Returns 0 or
 * -EINVAL. */
int ckc_det_parse_bool(const char *s, bool *v);

/* ckc_call for the methods a daemon without Determined support lacks: such
 * a daemon is named as the reason. */
int ckc_det_call(ckc_conn *c, const char *method, json_t *params, json_t **result);

/* The download subcommands (cmd_det_download.c); argv[0] names the command
 * ("checkpoint download"). */
int ckc_det_checkpoint_download(int argc, char **argv, ckc_opts *o);
int ckc_det_trial_download(int argc, char **argv, ckc_opts *o);
int ckc_det_experiment_download(int argc, char **argv, ckc_opts *o);

/* checkpoint seal (cmd_verify.c): a verified copy's hashes into the
 * checkpoint's metadata. */
int ckc_det_checkpoint_seal(int argc, char **argv, ckc_opts *o);

#endif
