/* ckc jobrun: submit a job, then follow it with live progress. */
#include "jobrun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobwatch.h"
#include "input.h"
#include "render.h"

char *ckc_output_dir(const char *dir)
{
    char *cwd = NULL, *out = NULL;
    if (!dir) dir = ".";
    if (dir[0] != '/') {
        cwd = getcwd(NULL, 0);
        if (!cwd) {
            ckc_errorf("cannot determine the current directory: %s", ckc_strerror(errno));
            return NULL;
        }
    }
    int rc = ckc_resolve_dir(cwd, dir, &out);
    free(cwd);
    if (rc == -EINVAL) ckc_errorf("invalid output directory '%s'", dir);
    if (rc == -ENOMEM) ckc_errorf("out of memory");
    return out;
}

/* The most file-list bytes one request carries: the line limit less room
 * for the rest of a job.submit (output, options, the envelope). */
#define FILES_PER_LINE (CKP_MAX_LINE - 64 * 1024)

/* Sends files[from, to) with job.add_files. 0 or an exit status. */
static int add_files(ckc_conn *c, const json_t *files, size_t from, size_t to)
{
    json_t *chunk = json_array();
    for (size_t i = from; chunk && i < to; i++)
        if (json_array_append(chunk, json_array_get(files, i)) < 0) {
            json_decref(chunk);
            chunk = NULL;
        }
    json_t *params = chunk ? json_pack("{s:o}", "files", chunk) : NULL;
    if (!params) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    json_t *res;
    int rc = ckc_conn_call(c, "job.add_files", params, &res);
    if (rc < 0) {
        if (rc == CKC_ERPC && c->err_code == CKP_RPC_METHOD_NOT_FOUND)
            ckc_errorf("this ckptd takes a job's files in one request of at most 1 MiB; "
                       "upgrade it or split the list");
        else
            ckc_errorf("%s", ckc_conn_strerror(c, rc));
        return CKC_EXIT_FAIL;
    }
    json_decref(res);
    return 0;
}

/* A URL list too large for one line goes ahead in job.add_files requests;
 * params keeps the last part as its source.files. 0 or an exit status. */
static int send_files_ahead(ckc_conn *c, json_t *params)
{
    json_t *source = json_object_get(params, "source");
    json_t *files = json_object_get(source, "files");
    if (!json_is_array(files)) return 0;
    size_t n = json_array_size(files), from = 0, bytes = 0, total = 0;
    /* A bound first (every byte escaped as \u00XX): most lists are far
     * below a line, and then no entry needs dumping to be measured. */
    size_t bound = 2;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        json_t *v, *fo = json_array_get(files, i);
        if (json_is_string(fo)) bound += 6 * json_string_length(fo) + 2;
        json_object_foreach(fo, key, v)
        {
            bound += 6 * strlen(key) + 8;
            if (json_is_string(v))
                bound += 6 * json_string_length(v) + 2;
            else if (json_is_integer(v) || json_is_boolean(v) || json_is_null(v))
                bound += 32;
            else
                bound += FILES_PER_LINE; /* nested: measured below */
        }
        bound += 8;
    }
    if (bound <= FILES_PER_LINE) return 0;
    size_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
    if (!sizes) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        char *one = json_dumps(json_array_get(files, i), JSON_COMPACT);
        if (!one) {
            free(sizes);
            ckc_errorf("out of memory");
            return CKC_EXIT_FAIL;
        }
        sizes[i] = strlen(one) + 1;
        total += sizes[i];
        free(one);
    }
    int status = 0;
    if (total > FILES_PER_LINE) {
        for (size_t i = 0; i < n && status == 0; i++) {
            if (bytes + sizes[i] > FILES_PER_LINE && i > from) {
                status = add_files(c, files, from, i);
                from = i;
                bytes = 0;
            }
            bytes += sizes[i];
        }
        json_t *rest = json_array();
        for (size_t i = from; rest && status == 0 && i < n; i++)
            json_array_append(rest, json_array_get(files, i));
        if (status == 0 && (!rest || json_object_set_new(source, "files", rest) < 0)) {
            ckc_errorf("out of memory");
            status = CKC_EXIT_FAIL;
        } else if (status != 0) {
            json_decref(rest);
        }
    }
    free(sizes);
    return status;
}

int ckc_job_submit(ckc_conn *c, json_t *params, size_t nfiles, json_t **job)
{
    json_t *res;
    int status = send_files_ahead(c, params);
    if (status != 0) {
        json_decref(params);
        return status;
    }
    int rc = ckc_conn_call(c, "job.submit", params, &res);
    if (rc == -EMSGSIZE && nfiles > 0) {
        ckc_errorf("a job of %zu files is too large for one request (%s); split the list", nfiles,
                   ckc_conn_strerror(c, rc));
        return CKC_EXIT_FAIL;
    }
    if (rc < 0) {
        ckc_errorf("%s", ckc_conn_strerror(c, rc));
        return CKC_EXIT_FAIL;
    }
    json_t *j = json_object_get(res, "job");
    if (ckc_jint(j, "id", -1) <= 0) {
        json_decref(res);
        ckc_errorf("ckptd's reply to job.submit names no job");
        return CKC_EXIT_FAIL;
    }
    *job = json_incref(j);
    json_decref(res);
    return 0;
}

/* word quoted for a POSIX shell when it needs to be. */
static void shell_word(char *out, size_t outlen, const char *word)
{
    if (word[0] && strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_./-+=:,@%") == strlen(word)) {
        snprintf(out, outlen, "%s", word);
        return;
    }
    size_t o = 0;
    out[o++] = '\'';
    for (const char *p = word; *p && o + 6 < outlen; p++) {
        if (*p == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

void ckc_job_hint(const ckc_opts *o, json_int_t id)
{
    char cmd[4200] = "ckpt";
    if (o->socket_explicit) {
        char sock[4100];
        shell_word(sock, sizeof sock, o->socket);
        snprintf(cmd, sizeof cmd, "ckpt --socket %s", sock);
    }
    ckc_errorf("interrupted; job %" JSON_INTEGER_FORMAT
               " keeps running (follow it: %s watch %" JSON_INTEGER_FORMAT
               ", stop it: %s cancel %" JSON_INTEGER_FORMAT ")",
               id, cmd, id, cmd, id);
}

/* Follows job from its submit summary to its end. */
static int follow(ckc_conn *c, const ckc_opts *o, const json_t *job, double since, bool quiet,
                  json_t **end)
{
    json_int_t id = ckc_jint(job, "id", 0);
    ckc_jobwatch f;
    ckc_jobwatch_init(&f, c, o->json, ckc_stdout_is_terminal(), id);
    f.quiet = quiet;
    f.since = since;
    int rc = ckc_jobwatch_seed(&f, job);
    if (rc == 0)
        rc = ckc_jobwatch_run(&f);
    else if (rc == 1)
        rc = 0;

    int status = 0;
    if (rc == -EINTR) {
        ckc_job_hint(o, id);
        status = CKC_EXIT_INTERRUPTED;
    } else if (rc == -ENOMEM) {
        ckc_errorf("out of memory");
        status = CKC_EXIT_FAIL;
    } else if (rc < 0) {
        ckc_errorf("%s", ckc_conn_strerror(c, rc));
        status = CKC_EXIT_FAIL;
    } else {
        *end = json_incref(f.end);
    }
    ckc_jobwatch_release(&f);
    return status;
}

/* Subscribe to every job, then submit, so no event of the new job can slip
 * by between the two. */
int ckc_job_run(ckc_conn *c, const ckc_opts *o, json_t *params, size_t nfiles, bool quiet,
                json_t **end, double *elapsed)
{
    ckc_catch_sigint();
    json_t *sub = json_object();
    if (sub && !o->json && !quiet)
        json_object_set_new(sub, "progress_interval_ms",
                            json_integer(ckc_stdout_is_terminal() ? 100 : 1000));
    json_t *res;
    if (ckc_call(c, "events.subscribe", sub, &res) != 0) {
        json_decref(params);
        return CKC_EXIT_FAIL;
    }
    json_decref(res);
    if (ckc_interrupted()) { /* nothing submitted yet */
        json_decref(params);
        return CKC_EXIT_INTERRUPTED;
    }

    double since = ckc_jobwatch_now();
    json_t *job;
    int status = ckc_job_submit(c, params, nfiles, &job);
    if (status != 0) return status;
    if (ckc_interrupted()) {
        ckc_job_hint(o, ckc_jint(job, "id", 0));
        status = CKC_EXIT_INTERRUPTED;
    } else {
        status = follow(c, o, job, since, quiet, end);
        *elapsed = ckc_jobwatch_now() - since;
    }
    json_decref(job);
    return status;
}
