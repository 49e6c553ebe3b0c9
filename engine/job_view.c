/* JSON views of jobs for the protocol: summary and detail. */
#include "job_view.h"

#include <math.h>
#include <string.h>

#include "fsutil.h"

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
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:i, s:I, s:I, s:o, s:I, s:f, s:o, s:o}", "id",
                     (json_int_t)j->id, "state", ckd_job_state_name(j->state), "kind", j->kind,
                     "output", j->output, "created", time_json(j->created), "updated",
                     time_json(j->updated), "priority", j->priority, "files_total",
                     (json_int_t)j->nfiles, "files_done", (json_int_t)j->files_verified,
                     "bytes_total", total >= 0 ? json_integer(total) : json_null(), "bytes_done",
                     (json_int_t)done, "rate", j->state == CKD_JOB_RUNNING ? j->rate : 0.0, "eta",
                     eta, "error", j->error ? json_string(j->error) : json_null());
}

static int add_log(void *ud, int64_t time, const char *level, const char *msg)
{
    json_array_append_new(
        ud, json_pack("{s:o, s:s, s:s}", "time", time_json(time), "level", level, "message", msg));
    return 0;
}

json_t *ckd_job_detail(ckd_job *j)
{
    json_t *o = ckd_job_summary(j);
    json_t *files = json_array();
    for (size_t i = 0; i < j->nfiles; i++) {
        const ckd_file *f = &j->files[i];
        int64_t done = 0;
        if (f->state == CKD_FILE_VERIFIED || f->state == CKD_FILE_FETCHED)
            done = f->size;
        else
            for (int k = 0; k < f->nsegs; k++) done += f->segs[k].written;
        json_array_append_new(
            files,
            json_pack("{s:s, s:s, s:o, s:I, s:s, s:o, s:o}", "path", f->path, "url", f->url, "size",
                      f->size >= 0 ? json_integer(f->size) : json_null(), "bytes_done",
                      (json_int_t)done, "state", ckd_file_state_name(f->state), "xxh128",
                      f->state == CKD_FILE_VERIFIED ? json_string(f->hash) : json_null(), "error",
                      f->error ? json_string(f->error) : json_null()));
    }
    json_t *log = json_array();
    ckd_store_each_log(&j->d->store, j->id, 100, add_log, log);
    if (j->nunits > 0 && j->units[0].kind == CKD_UNIT_CHECKPOINT) {
        static const char *status[] = {"pending", "fetched", "present"};
        json_t *cps = json_array();
        for (size_t u = 0; u < j->nunits; u++) {
            const ckd_unit *un = &j->units[u];
            json_array_append_new(cps, json_pack("{s:s?, s:s, s:s, s:s?, s:s, s:O?}", "uuid",
                                                 un->uuid, "path", un->target, "status",
                                                 status[un->status], "storage", un->storage, "via",
                                                 un->via == CKD_VIA_MASTER ? "master" : "direct",
                                                 "checkpoint", un->checkpoint));
        }
        json_object_set_new(o, "checkpoints", cps);
    }
    json_object_set(o, "source", j->source);
    json_object_set(o, "options", j->options);
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "log", log);
    return o;
}
