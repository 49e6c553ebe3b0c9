/* Loading jobs after a restart: rows become the model again; what the
 * journal claims stays a claim until the prepare pass re-proves it. See
 * restore.h. */
#include "restore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "submit.h"

/* ---- loading after a restart ------------------------------------------- */

struct load_ctx {
    ckd_daemon *d;
    ckd_job *j;
    int rc;
};

static int load_unit(void *ud, const ckd_unit_row *r)
{
    struct load_ctx *c = ud;
    json_t *cp = r->checkpoint ? json_loads(r->checkpoint, 0, NULL) : NULL;
    json_t *dirs = r->dirs ? json_loads(r->dirs, 0, NULL) : NULL;
    ckd_unit u = {.kind = (enum ckd_unit_kind)r->kind,
                  .status = (enum ckd_unit_status)r->status,
                  .uuid = (char *)r->uuid,
                  .target = (char *)r->target,
                  .staging = (char *)r->staging,
                  .storage = (char *)r->storage,
                  .checkpoint = cp,
                  .dirs = dirs,
                  .write_metadata = r->write_metadata,
                  .via = r->via,
                  .durable = r->durable};
    /* Loading must not write the row again: add it by hand. */
    ckd_job *j = c->j;
    ckd_unit *nu = realloc(j->units, (j->nunits + 1) * sizeof(*nu));
    if (!nu) {
        json_decref(cp);
        json_decref(dirs);
        return c->rc = -ENOMEM;
    }
    j->units = nu;
    ckd_unit *x = &j->units[j->nunits++];
    *x = u;
    x->uuid = u.uuid ? strdup(u.uuid) : NULL;
    x->target = strdup(u.target);
    x->staging = strdup(u.staging);
    x->storage = u.storage ? strdup(u.storage) : NULL;
    memset(&x->auth, 0, sizeof(x->auth)); /* found again when a transfer needs them */
    x->sums_file = -1;
    if (!x->dirs) x->dirs = json_array();
    return 0;
}

/* A mark: a URL set's file verified without a row of its own (a later
 * row, applied after the marks, wins). */
static int load_mark(void *ud, int idx, int64_t size, const char *hash, const char *validator)
{
    struct load_ctx *c = ud;
    ckd_job *j = c->j;
    if (idx < 0 || (size_t)idx >= j->nfiles) return 0; /* not this job's: ignored */
    ckd_file *f = &j->files[idx];
    char *v = validator ? strdup(validator) : NULL;
    if (validator && !v) return c->rc = -ENOMEM;
    free(f->validator);
    f->validator = v;
    f->size = size;
    snprintf(f->hash, sizeof(f->hash), "%s", hash);
    f->state = CKD_FILE_VERIFIED;
    return 0;
}

static int load_file(void *ud, const ckd_file_row *r)
{
    struct load_ctx *c = ud;
    ckd_job *j = c->j;
    if ((size_t)r->idx >= j->nfiles) {
        size_t n = (size_t)r->idx + 1;
        ckd_file *nf = realloc(j->files, n * sizeof(*nf));
        if (!nf) return c->rc = -ENOMEM;
        memset(nf + j->nfiles, 0, (n - j->nfiles) * sizeof(*nf));
        j->files = nf;
        j->nfiles = j->files_cap = n;
    }
    ckd_file *f = &j->files[r->idx];
    if (r->unit < 0 || (size_t)r->unit >= j->nunits) return c->rc = -EINVAL;
    if (f->job)
        ckd_file_release(f); /* a URL set's file rebuilt from the source: the row is newer */
    memset(f, 0, sizeof(*f));
    f->has_row = 1;
    f->job = j;
    f->idx = r->idx;
    f->unit = r->unit;
    f->fd = -1;
    f->url = strdup(r->url);
    f->path = strdup(r->path);
    f->size = r->size;
    f->size_given = r->size_given;
    f->zstd = r->zstd;
    if (r->expect) snprintf(f->expect, sizeof(f->expect), "%s", r->expect);
    if (r->hash) snprintf(f->hash, sizeof(f->hash), "%s", r->hash);
    f->validator = r->validator ? strdup(r->validator) : NULL;
    f->error = r->error ? strdup(r->error) : NULL;
    int st = ckd_file_state_parse(r->state);
    f->row_pending = st == CKD_FILE_PENDING && !r->error;
    /* Only verified and failed survive a restart; anything in between is
     * re-proven from the journal. */
    f->state = st == CKD_FILE_VERIFIED || st == CKD_FILE_FAILED ? (enum ckd_file_state)st
                                                                : CKD_FILE_PENDING;
    if (f->state == CKD_FILE_VERIFIED && !r->hash) f->state = CKD_FILE_PENDING;
    if (j->units[f->unit].kind == CKD_UNIT_CHECKPOINT && f->path &&
        strcmp(f->path, CKD_CHECKSUMS_NAME) == 0)
        j->units[f->unit].sums_file = f->idx;
    return 0;
}

static int load_seg(void *ud, const ckd_seg_row *r)
{
    struct load_ctx *c = ud;
    ckd_job *j = c->j;
    if ((size_t)r->idx >= j->nfiles) return 0;
    ckd_file *f = &j->files[r->idx];
    if (f->state != CKD_FILE_PENDING) return 0;
    ckd_seg *ns = realloc(f->segs, (size_t)(f->nsegs + 1) * sizeof(*ns));
    if (!ns) return c->rc = -ENOMEM;
    f->segs = ns;
    ckd_seg *s = &f->segs[f->nsegs++];
    memset(s, 0, sizeof(*s));
    s->file = f;
    s->start = r->start;
    s->end = r->end;
    /* What the row claims is only a claim until the prepare pass re-reads it. */
    s->journaled = r->hash ? r->done : 0;
    s->hash = XXH3_createState();
    if (!s->hash) return c->rc = -ENOMEM;
    XXH3_128bits_reset(s->hash);
    /* The claimed hashes are read again by job_prepare (ckd_seg_claim). */
    f->layout_saved = 1;
    if (f->zstd && !f->hash_frame && ckd_file_zstd_init(f) < 0) return c->rc = -ENOMEM;
    return 0;
}

struct claim_ctx {
    ckd_seg_claim *v;
    size_t n, cap;
};

static int load_claim(void *ud, const ckd_seg_row *r)
{
    struct claim_ctx *c = ud;
    if (!r->hash || r->done <= 0) return 0;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        ckd_seg_claim *nv = realloc(c->v, ncap * sizeof(*nv));
        if (!nv) return -1;
        c->v = nv;
        c->cap = ncap;
    }
    ckd_seg_claim *cl = &c->v[c->n++];
    cl->idx = r->idx;
    cl->start = r->start;
    cl->done = r->done;
    cl->decoded = r->decoded;
    snprintf(cl->hash, sizeof(cl->hash), "%s", r->hash);
    return 0;
}

static int load_job(void *ud, const ckd_job_row *r)
{
    struct load_ctx *c = ud;
    ckd_job *j = ckd_job_new(c->d);
    if (!j) return c->rc = -ENOMEM;
    j->id = r->id;
    int st = ckd_job_state_parse(r->state);
    j->state = st < 0 ? CKD_JOB_FAILED : (enum ckd_job_state)st;
    j->kind = strdup(r->kind);
    j->source = json_loads(r->source, 0, NULL);
    j->options = json_loads(r->options, 0, NULL);
    char why[256];
    json_t *err_data = NULL;
    int spec_ok = j->source != NULL;
    if (j->source &&
        ckd_spec_parse(j->source, j->options, &j->spec, why, sizeof(why), &err_data) != 0) {
        spec_ok = 0;
        /* Recorded by an earlier version with other rules: it keeps its
         * record, but does not run again. */
        json_decref(err_data);
        ckd_warn("job %lld: its recorded spec is not valid now: %s", (long long)r->id, why);
        if (st >= 0 && st != CKD_JOB_DONE && st != CKD_JOB_CANCELED) st = CKD_JOB_FAILED;
        j->state = (enum ckd_job_state)st;
    }
    j->priority = r->priority;
    j->error = r->error ? strdup(r->error) : NULL;
    j->created = r->created;
    j->updated = r->updated;
    j->output = strdup(r->output);
    if (!j->kind || !j->source || !j->options || !j->output) {
        ckd_job_free(j);
        return c->rc = -ENOMEM;
    }
    c->j = j;
    if (ckd_store_each_unit(&c->d->store, j->id, load_unit, c) < 0 || c->rc < 0 ||
        /* A URL set's files are its source's; rows hold what changed. */
        (spec_ok && j->spec.kind == CKD_KIND_URLS && j->nunits == 1 &&
         ((c->rc = ckd_url_files_add(j, json_object_get(j->source, "files"))) < 0 ||
          ckd_store_each_mark(&c->d->store, j->id, load_mark, c) < 0 || c->rc < 0)) ||
        ckd_store_each_file(&c->d->store, j->id, load_file, c) < 0 || c->rc < 0 ||
        ckd_store_each_seg(&c->d->store, j->id, load_seg, c) < 0 || c->rc < 0) {
        ckd_job_free(j);
        return c->rc ? c->rc : (c->rc = -EIO);
    }
    for (size_t u = 0; u < j->nunits; u++) j->units[u].nfiles = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        j->units[f->unit].nfiles++;
        if (f->state == CKD_FILE_VERIFIED) j->files_verified++, j->units[f->unit].verified++;
        if (f->state == CKD_FILE_FAILED) j->files_failed++;
    }
    j->recheck = 1;
    j->cleaned = j->state == CKD_JOB_DONE;
    ckd_job_link(c->d, j);
    ckd_history_drop_files(j); /* a finished URL set: its list stays in the store */
    return 0;
}

int ckd_job_files_reload(ckd_job *j)
{
    if (!j->dropped_files || j->nunits != 1 || j->nfiles != 0)
        return j->dropped_files ? -EINVAL : 0;
    char *text = NULL;
    int rc = ckd_store_job_source(&j->d->store, j->id, &text);
    json_t *src = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!src) return rc < 0 ? rc : -EIO;
    /* Counts stay as they are: the list is what comes back. */
    ckd_unit *un = &j->units[0];
    size_t unit_files = un->nfiles, unit_verified = un->verified;
    struct load_ctx c = {.d = j->d, .j = j};
    rc = ckd_url_files_add(j, json_object_get(src, "files"));
    if (rc == 0 && (ckd_store_each_mark(&j->d->store, j->id, load_mark, &c) < 0 || c.rc < 0))
        rc = c.rc ? c.rc : -EIO;
    if (rc == 0 && (ckd_store_each_file(&j->d->store, j->id, load_file, &c) < 0 || c.rc < 0))
        rc = c.rc ? c.rc : -EIO;
    json_decref(src);
    un->nfiles = unit_files;
    un->verified = unit_verified;
    if (rc == 0 && j->nfiles != j->dropped_files) rc = -EIO; /* the store disagrees */
    if (rc < 0) {
        ckd_job_files_release(j);
        return rc;
    }
    j->dropped_files = 0;
    j->dropped_bytes = 0;
    j->files_read_ms = ckd_now_ms();
    return 0;
}

int ckd_jobs_load(ckd_daemon *d)
{
    struct load_ctx c = {.d = d};
    if (ckd_store_each_job(&d->store, load_job, &c) < 0 || c.rc < 0) return c.rc ? c.rc : -EIO;
    for (ckd_job *j = d->jobs; j; j = j->next) {
        switch (j->state) {
        case CKD_JOB_QUEUED:
        case CKD_JOB_RESOLVING:
        case CKD_JOB_RUNNING:
        case CKD_JOB_WAITING:
            ckd_job_log(j, "info", "continuing after a daemon restart");
            ckd_job_set_state(j, CKD_JOB_QUEUED, NULL);
            break;
        default:
            break;
        }
    }
    ckd_store_commit(&d->store);
    ckd_sched_kick(d);
    return 0;
}

int ckd_restore_claims(ckd_daemon *d, int64_t job, ckd_seg_claim **v, size_t *n)
{
    struct claim_ctx c = {0};
    int rc = ckd_store_each_seg(&d->store, job, load_claim, &c);
    *v = c.v;
    *n = c.n;
    return rc < 0 ? -EIO : 0;
}
