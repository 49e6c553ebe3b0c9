/* ckpt fetch of an object-store URL (s3://, gs://, az://): the job.submit
 * parameters of an "objects" source, and what the finished job says it
 * skipped. */
#ifndef CKC_FETCH_OBJECTS_H
#define CKC_FETCH_OBJECTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cmd.h"

/* 1 for an s3://, gs:// or az:// URL. */
bool ckc_is_object_url(const char *url);

/* {"source":{"kind":"objects","url":URL[,"endpoint_url":E][,"include":[..]]
 * [,"exclude":[..]]},"output":OUTPUT}. endpoint may be NULL: for s3:// the
 * client's AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, is sent when set.
 * NULL when out of memory. */
json_t *ckc_objects_params(const char *url, const char *output, const char *endpoint,
                           const char *const *inc, size_t ninc, const char *const *exc,
                           size_t nexc);

/* Prints the job's "listed ..." and "skipped ..." log lines (what an
 * objects job took and what it found already here). */
void ckc_objects_report(ckc_conn *c, json_int_t id);

#endif
