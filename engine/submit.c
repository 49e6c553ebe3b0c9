/* Submission: job.submit's parameters become a job, recorded durably
 * before the reply promises it exists. See submit.h. */
#include "submit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "fsutil.h"
#include "job.h"
#include "masters.h"

int ckd_job_wants_decoding(const ckd_job *j, const char *url, const char *path)
{
    /* Decoding happens in the download path; local copies stay as stored. */
    if (!j->spec.decompress || strncmp(url, "file://", 7) == 0) return 0;
    return ckd_spec_zstd_name(url, path);
}

static int cmp_file_path(const void *a, const void *b)
{
    const ckd_file *x = *(ckd_file *const *)a, *y = *(ckd_file *const *)b;
    if (x->unit != y->unit) return x->unit - y->unit;
    return strcmp(x->path, y->path);
}

int ckd_job_check_paths(const ckd_job *j, char *why, size_t whylen)
{
    /* Stored names can collide once ".zst" is dropped ("x" and "x.zst"):
     * two files may never share a staging file. */
    const ckd_file **v = malloc((j->nfiles ? j->nfiles : 1) * sizeof(*v));
    if (!v) return -ENOMEM;
    for (size_t i = 0; i < j->nfiles; i++) v[i] = &j->files[i];
    qsort(v, j->nfiles, sizeof(*v), cmp_file_path);
    int rc = 0;
    for (size_t i = 1; i < j->nfiles && rc == 0; i++) {
        if (v[i]->unit == v[i - 1]->unit && strcmp(v[i]->path, v[i - 1]->path) == 0) {
            snprintf(why, whylen,
                     "two files would be stored as '%s' (one of them decoded from .zst)",
                     v[i]->path);
            rc = -EEXIST;
        }
    }
    free(v);
    return rc;
}

int ckd_url_files_add(ckd_job *j, const json_t *files)
{
    int rc = 0;
    size_t i;
    json_t *fo;
    json_array_foreach(files, i, fo)
    {
        if (rc < 0) break;
        json_t *size = json_object_get(fo, "size");
        const char *url = json_string_value(json_object_get(fo, "url"));
        char *named = NULL;
        const char *path = json_string_value(json_object_get(fo, "path")), *why;
        if (json_is_string(fo)) { /* the URL alone, checked by ckd_spec_parse */
            url = json_string_value(fo);
            if ((rc = ckp_url_filename(url, &named, &why)) < 0) break;
            path = named;
        }
        int zstd = ckd_job_wants_decoding(j, url, path);
        char *stored = zstd ? ckd_zstd_stored_name(path) : strdup(path);
        rc = stored
                 ? ckd_job_add_source_file(j, 0, url, stored,
                                           json_is_integer(size) ? json_integer_value(size) : -1,
                                           json_string_value(json_object_get(fo, "xxh128")), zstd)
                 : -ENOMEM;
        free(stored);
        free(named);
    }
    return rc;
}

/* A URL set is one unit: its output staged beside it or inside it. */
static int add_url_files(ckd_job *j, json_t *files)
{
    char stem[32];
    snprintf(stem, sizeof(stem), "ckptd-%lld", (long long)j->id);
    char *staging = ckd_set_staging_path(j->output, stem);
    if (!staging) return -ENOMEM;
    ckd_unit u = {.kind = CKD_UNIT_FILES, .target = j->output, .staging = staging};
    int rc = ckd_job_add_unit(j, &u);
    free(staging);
    return rc < 0 ? rc : ckd_url_files_add(j, files);
}

int ckd_job_submit(ckd_daemon *d, json_t *params, ckd_job **out, char *why, size_t whylen,
                   json_t **err_data)
{
    *out = NULL;
    if (d->stopping) {
        snprintf(why, whylen, "daemon is shutting down");
        return CKP_RPC_SHUTTING_DOWN;
    }
    json_t *source = json_object_get(params, "source");
    const char *output = json_string_value(json_object_get(params, "output"));
    json_t *options = json_object_get(params, "options");
    if (!output || output[0] != '/') {
        snprintf(why, whylen, "'output' must be an absolute path");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (strlen(output) > 2048) {
        snprintf(why, whylen, "'output' is too long");
        return CKP_RPC_INVALID_PARAMS;
    }
    ckd_job_spec spec;
    int rc = ckd_spec_parse(source, options, &spec, why, whylen, err_data);
    if (rc != 0) return rc;
    int urls = spec.kind == CKD_KIND_URLS;
    /* The master the job names (else the daemon's own), with the client's
     * login: the session keeps that; the job records the URL only, in det's
     * canonical form. */
    json_t *login = json_object_get(params, "login");
    if (ckd_master_login_check(login, why, whylen) < 0) return CKP_RPC_INVALID_PARAMS;
    ckd_master *m = NULL;
    if (!urls && spec.kind != CKD_KIND_OBJECTS &&
        !(m = ckd_master_use(d, json_string_value(json_object_get(source, "master")), login, why,
                             whylen)))
        return CKP_RPC_INVALID_PARAMS;
    json_t *recorded = json_incref(source);
    if (m && json_object_get(source, "master") &&
        strcmp(json_string_value(json_object_get(source, "master")), m->url) != 0) {
        json_decref(recorded);
        recorded = json_deep_copy(source);
        if (!recorded || json_object_set_new(recorded, "master", json_string(m->url)) < 0) {
            json_decref(recorded);
            return CKP_RPC_INTERNAL_ERROR;
        }
    }
    const char *kind = ckd_spec_kind_name(spec.kind);

    ckd_job *j = ckd_job_new(d);
    if (!j) {
        json_decref(recorded);
        return CKP_RPC_INTERNAL_ERROR;
    }
    j->state = CKD_JOB_QUEUED;
    j->kind = strdup(kind);
    j->source = recorded;
    source = recorded;
    j->options = options ? json_incref(options) : json_object();
    j->spec = spec;
    j->priority = spec.priority;
    j->created = j->updated = ckd_wall_s();
    j->output = strdup(output);
    char *src = json_dumps(source, JSON_COMPACT);
    char *opt = json_dumps(j->options, JSON_COMPACT);
    ckd_job_row row = {.state = "queued",
                       .kind = kind,
                       .source = src,
                       .output = output,
                       .options = opt,
                       .priority = j->priority,
                       .created = j->created,
                       .updated = j->updated};
    rc = ckd_store_job_insert(&d->store, &row, &j->id);
    free(src);
    free(opt);
    if (rc == 0 && !j->output) rc = -ENOMEM;
    if (rc == 0 && urls) rc = add_url_files(j, json_object_get(source, "files"));

    /* The reply promises the job exists: make it durable first. */
    if (rc < 0 || ckd_store_commit(&d->store) < 0) {
        ckd_job_free(j);
        snprintf(why, whylen, "cannot record the job: %s", ckd_store_errmsg(&d->store));
        return CKP_RPC_INTERNAL_ERROR;
    }
    ckd_job_link(d, j);
    if (urls)
        ckd_job_log(j, "info", "submitted: %zu files to '%s'", j->nfiles, output);
    else
        ckd_job_log(j, "info", "submitted: %s to '%s'", kind, output);
    if (d->job_changed) d->job_changed(d, j, (int)j->state);
    ckd_sched_kick(d);
    *out = j;
    return 0;
}
