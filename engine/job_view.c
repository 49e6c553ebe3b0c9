/* JSON views of jobs for the protocol: summary and detail. */
#include "job_view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "fsutil.h"
#include "history.h"
#include "restore.h"
#include "storage_auth.h"

/* Text for the wire: valid UTF-8 whatever the bytes (ckp_json_text). */
static json_t *text(const char *s)
{
    return ckp_json_text(s);
}

/* A message for the wire: URLs redacted (userinfo, query), then text(). */
static json_t *message(const char *s)
{
    if (!s) return json_null();
    size_t cap = strlen(s) * 2 + 16;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    ckp_redact_urls(buf, cap, s);
    json_t *v = ckp_json_text(buf);
    free(buf);
    return v;
}

static json_t *time_json(int64_t t)
{
    char buf[32];
    ckd_fmt_time(buf, sizeof(buf), t);
    return json_string(buf);
}

json_t *ckd_job_summary(const ckd_job *j)
{
    int64_t total = ckd_job_bytes_total(j);
    int64_t done = ckd_job_bytes_done(j);
    json_t *eta = json_null();
    if (j->state == CKD_JOB_RUNNING && total >= 0 && j->rate > 1)
        eta = json_real((double)(total - done) / j->rate);
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:i, s:I, s:I, s:o, s:I, s:f, s:o, s:o}", "id",
                     (json_int_t)j->id, "state", ckd_job_state_name(j->state), "kind",
                     text(j->kind), "output", text(j->output), "created", time_json(j->created),
                     "updated", time_json(j->updated), "priority", j->priority, "files_total",
                     (json_int_t)ckd_job_nfiles(j), "files_done", (json_int_t)j->files_verified,
                     "bytes_total", total >= 0 ? json_integer(total) : json_null(), "bytes_done",
                     (json_int_t)done, "rate", j->state == CKD_JOB_RUNNING ? j->rate : 0.0, "eta",
                     eta, "error", message(j->error));
}

static int add_log(void *ud, int64_t time, const char *level, const char *msg)
{
    json_array_append_new(ud, json_pack("{s:o, s:s, s:o}", "time", time_json(time), "level", level,
                                        "message", message(msg)));
    return 0;
}

static json_t *file_json(const ckd_file *f)
{
    int64_t done = 0;
    if (f->state == CKD_FILE_VERIFIED || f->state == CKD_FILE_FETCHED)
        done = f->size;
    else
        for (int k = 0; k < f->nsegs; k++) done += f->segs[k].written;
    return json_pack("{s:o, s:o, s:o, s:I, s:s, s:o, s:o}", "path", text(f->path), "url",
                     text(f->url), "size", f->size >= 0 ? json_integer(f->size) : json_null(),
                     "bytes_done", (json_int_t)done, "state", ckd_file_state_name(f->state),
                     "xxh128", f->state == CKD_FILE_VERIFIED ? text(f->hash) : json_null(), "error",
                     message(f->error));
}

/* The job's source without its file list (that is what "files" pages). */
static json_t *source_json(const ckd_job *j)
{
    if (!json_is_array(json_object_get(j->source, "files"))) return json_incref(j->source);
    json_t *s = json_copy(j->source);
    if (s) json_object_set_new(s, "files", json_integer((json_int_t)ckd_job_nfiles(j)));
    return s;
}

static json_t *detail_page(ckd_job *j, size_t offset, size_t limit)
{
    json_t *o = ckd_job_summary(j);
    json_t *files = json_array();
    if (!o || !files) {
        json_decref(o);
        json_decref(files);
        return NULL;
    }
    if (limit > CKD_JOB_GET_MAX_LIMIT) limit = CKD_JOB_GET_MAX_LIMIT;
    size_t i = offset, text_bytes = 0;
    /* Whole files until the limit or the byte budget; at least one, so the
     * pages always advance. */
    for (; i < j->nfiles && i - offset < limit; i++) {
        const ckd_file *f = &j->files[i];
        size_t n = strlen(f->path) + strlen(f->url) + (f->error ? strlen(f->error) : 0) + 128;
        if (i > offset && text_bytes + n > CKD_JOB_GET_MAX_BYTES) break;
        text_bytes += n;
        json_t *fj = file_json(f);
        if (!fj || json_array_append_new(files, fj) < 0) {
            json_decref(o);
            json_decref(files);
            return NULL;
        }
    }
    json_t *log = json_array();
    ckd_store_each_log(&j->d->store, j->id, 100, add_log, log);
    if (j->nunits > 0 && j->units[0].kind == CKD_UNIT_CHECKPOINT) {
        static const char *status[] = {"pending", "fetched", "present"};
        json_t *cps = json_array();
        for (size_t u = 0; u < j->nunits; u++) {
            const ckd_unit *un = &j->units[u];
            /* Never a storage secret, even in a record made before scrubbing. */
            json_t *cp = un->checkpoint ? json_deep_copy(un->checkpoint) : NULL;
            ckd_checkpoint_scrub(cp);
            json_array_append_new(
                cps, json_pack("{s:o, s:o, s:s, s:o, s:s, s:o?}", "uuid", text(un->uuid), "path",
                               text(un->target), "status", status[un->status], "storage",
                               text(un->storage), "via",
                               un->via == CKD_VIA_MASTER ? "master" : "direct", "checkpoint", cp));
        }
        json_object_set_new(o, "checkpoints", cps);
    }
    json_object_set_new(o, "source", source_json(j));
    json_object_set(o, "options", j->options);
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "files_offset", json_integer((json_int_t)offset));
    json_object_set_new(o, "files_next", i < j->nfiles ? json_integer((json_int_t)i) : json_null());
    json_object_set_new(o, "log", log);
    return o;
}

json_t *ckd_job_detail_page(ckd_job *j, size_t offset, size_t limit)
{
    /* A dropped file list comes back from the store for the page (the
     * daemon's tick lets go of it again once nobody reads it). */
    if (j->dropped_files && ckd_job_files_reload(j) < 0) return NULL;
    return detail_page(j, offset, limit);
}

json_t *ckd_job_detail(ckd_job *j)
{
    return ckd_job_detail_page(j, 0, CKD_JOB_GET_DEFAULT_LIMIT);
}
