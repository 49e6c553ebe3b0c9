/* Submission: validates job.submit's parameters (spec.h), creates the job
 * and its rows, and for a URL set its one unit and files. */
#ifndef CKD_SUBMIT_H
#define CKD_SUBMIT_H

#include <jansson.h>

#include "job.h"

/* Validates and creates a job from job.submit params; on error returns a
 * ckp_rpc_code and fills why (and *err_data for unsafe paths). */
int ckd_job_submit(ckd_daemon *d, json_t *params, ckd_job **out, char *why, size_t whylen,
                   json_t **err_data);
/* options.decompress and a ".zst" name: the file is stored decoded, without
 * the suffix (ckd_zstd_stored_name). */
int ckd_job_wants_decoding(const ckd_job *j, const char *url, const char *path);
/* Adds a URL set's files (the source's "files") to its one unit, without
 * rows (ckd_job_add_source_file): at submission, and again when a restart
 * rebuilds the job from its recorded source. */
int ckd_url_files_add(ckd_job *j, const json_t *files);
/* -EEXIST (why filled) when two files of a unit would share a stored path. */
int ckd_job_check_paths(const ckd_job *j, char *why, size_t whylen);

#endif
