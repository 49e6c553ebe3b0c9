/* ckc jobrun: submitting a job and following it to its end, shared by
 * `ckpt fetch` and the checkpoint downloads. */
#ifndef CKC_JOBRUN_H
#define CKC_JOBRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "cmd.h"

/* The absolute form of an output directory from the command line (NULL:
 * the current directory), resolved against the working directory. Returns
 * a malloc'd path, or NULL after printing why not. */
char *ckc_output_dir(const char *dir);

/* Sends job.submit with params (stolen). Returns 0 with the new job's
 * summary (a new reference) in *job, or an exit status after printing why.
 * nfiles (0: unknown) is named when the request is too large. */
int ckc_job_submit(ckc_conn *c, json_t *params, size_t nfiles, json_t **job);

/* After Ctrl-C: says that job id keeps running and how to get back to it. */
void ckc_job_hint(const ckc_opts *o, json_int_t id);

/* Subscribes to every job, submits params (stolen) and follows the new job
 * until it ends: live progress on stdout, none when quiet, each event as a
 * JSON line with o->json. Returns 0 with the final summary (a new
 * reference) in *end and the wall time in *elapsed, or an exit status after
 * printing why: CKC_EXIT_INTERRUPTED after Ctrl-C, with ckc_job_hint(). */
int ckc_job_run(ckc_conn *c, const ckc_opts *o, json_t *params, size_t nfiles, bool quiet,
                json_t **end, double *elapsed);

#endif
