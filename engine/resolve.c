/* Resolution: which checkpoints a job means, and which files they hold.
 * checkpoint (uuid) -> GET the checkpoint; trial best/latest -> every page of
 * the trial's list; experiment top N -> the experiment (searcher settings,
 * storage) then every page of its list. Selection is done here with the
 * master's semantics (det_select.c), whatever order the master sent. */
#include "resolve.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "det_model.h"
#include "det_select.h"
#include "det_storage.h"
#include "fsutil.h"
#include "log.h"
#include "masters.h"
#include "objects.h"
#include "submit.h"

typedef struct resolve_ctx {
    ckd_job *job;
    json_t *experiment; /* the experiment reply, for its storage and searcher */
} resolve_ctx;

/* ---- outcome ------------------------------------------------------------- */

static void ctx_free(resolve_ctx *c)
{
    if (c->job->resolving == c) c->job->resolving = NULL;
    c->job->busy--;
    json_decref(c->experiment);
    free(c);
}

static void resolve_fail(resolve_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void resolve_fail(resolve_ctx *c, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ckd_job_set_state(c->job, CKD_JOB_FAILED, msg);
}

/* Routes a master error: 0 when there was none. */
static int master_error(resolve_ctx *c, int err, const char *msg, const char *what)
{
    if (err == 0) return 0;
    if (err == -EAGAIN)
        ckd_job_resolve_later(c->job, msg);
    else if (err == -ENOENT)
        resolve_fail(c, "%s not found on the master", what);
    else
        resolve_fail(c, "%s: %s", what, msg ? msg : "master error");
    return -1;
}

/* Whether a callback's job still wants the answer. */
static int still_resolving(resolve_ctx *c, int err)
{
    return err != -ECANCELED && c->job->state == CKD_JOB_RESOLVING && !c->job->d->stopping;
}

/* The checkpoint as recorded in the job: its effective storage config put
 * in place (so a restart can find the objects again) without any secret. */
static json_t *recorded_checkpoint(json_t *raw, json_t *storage)
{
    json_t *cp = json_deep_copy(raw);
    if (!cp) return NULL;
    json_t *training = json_object_get(cp, "training");
    if (!json_is_object(training)) json_object_set_new(cp, "training", training = json_object());
    json_t *ec = json_object_get(training, "experimentConfig");
    if (!json_is_object(ec)) json_object_set_new(training, "experimentConfig", ec = json_object());
    json_t *st = json_deep_copy(storage);
    ckd_storage_scrub(st); /* keys, tokens, a SAS even inside account_url */
    json_object_set_new(ec, "checkpoint_storage", st ? st : json_null());
    return cp;
}

/* The expected XXH3-128 of a file, if the checkpoint's metadata carries
 * the map `ckpt checkpoint seal` stores ("ckptd.xxh128": path -> hex). */
static const char *sealed_hash(const ckd_det_checkpoint *cp, const char *path)
{
    const char *hex =
        json_string_value(json_object_get(json_object_get(cp->metadata, "ckptd.xxh128"), path));
    return hex && ckd_hash_hex_valid(hex) ? hex : NULL;
}

/* One file of a checkpoint; with options.decompress a ".zst" resource is
 * stored decoded under its name without the suffix. */
static int add_resource(ckd_job *j, int unit, const char *url, const ckd_det_checkpoint *cp,
                        size_t r)
{
    const char *rel = cp->resources[r].path;
    int zstd = ckd_job_wants_decoding(j, url, rel);
    char *stored = zstd ? ckd_zstd_stored_name(rel) : strdup(rel);
    /* resources lists the stored (compressed) size; the decoded one is not known */
    int64_t size = zstd ? -1 : cp->resources[r].size;
    int rc = stored ? ckd_job_add_file(j, unit, url, stored, size, sealed_hash(cp, stored), zstd)
                    : -ENOMEM;
    free(stored);
    return rc;
}

/* Which route serves checkpoint cp (options.mode): 0 with *via set (and
 * *auth for a direct object-store download), or -1 after failing the job.
 * In "auto" the master's archive stands in when the storage cannot be
 * reached from here: no credentials, a type without direct support,
 * storage not mounted. Never for azure: the master has no archive of those. */
static int choose_route(resolve_ctx *c, const ckd_det_checkpoint *cp, const ckd_det_storage *st,
                        ckd_storage_auth *auth, int *via)
{
    ckd_job *j = c->job;
    int azure = strcmp(st->type, "azure") == 0;
    int fallback = j->spec.mode == CKD_MODE_AUTO && !azure && ckd_master_find_of(j->d, j->source);
    char err[600] = "";
    *via = CKD_VIA_DIRECT;
    memset(auth, 0, sizeof(*auth));
    if (j->spec.mode == CKD_MODE_MASTER) {
        if (azure) {
            resolve_fail(c,
                         "checkpoint %s is on azure storage, which the master cannot serve "
                         "as an archive: use --mode direct",
                         cp->uuid);
            return -1;
        }
        *via = CKD_VIA_MASTER;
        return 0;
    }
    if (ckd_storage_is_object_store(st->type)) {
        int rc = ckd_storage_auth_resolve(auth, st, err, sizeof(err));
        if (rc == 0) return 0;
        if (rc != -ENOKEY || !fallback) {
            resolve_fail(c, "checkpoint %s: %s", cp->uuid, err);
            return -1;
        }
    } else if (strcmp(st->type, "shared_fs") == 0 || strcmp(st->type, "directory") == 0) {
        /* Mounted here? Probe one file; a checkpoint without files has nothing to miss. */
        size_t r = 0;
        while (r < cp->n_resources && cp->resources[r].is_dir) r++;
        char *local = NULL;
        if (!fallback || r == cp->n_resources ||
            ckd_det_storage_locate(st, cp->uuid, cp->resources[r].path, &local, err, sizeof(err)) <
                0 ||
            access(local, R_OK) == 0) {
            free(local);
            return 0; /* direct; a bad path is reported when the files are added */
        }
        snprintf(err, sizeof(err), "'%s' is not readable here (%s)", local, strerror(errno));
        free(local);
    } else if (!fallback) {
        resolve_fail(c, "checkpoint %s: storage type '%s' cannot be downloaded directly%s",
                     cp->uuid, st->type, azure ? "" : "; --mode master uses the master's archive");
        return -1;
    } else {
        snprintf(err, sizeof(err), "storage type '%s' cannot be downloaded directly", st->type);
    }
    ckd_job_log(j, "info", "checkpoint %s: %s; downloading it through the master", cp->uuid, err);
    *via = CKD_VIA_MASTER;
    return 0;
}

/* Turns chosen checkpoints into units and files, then starts the job. */
static void make_units(resolve_ctx *c, json_t **raw, ckd_det_checkpoint *cps, size_t n)
{
    ckd_job *j = c->job;
    int direct = j->spec.layout_direct && n == 1;
    ckd_det_storage exp_storage = {0};
    char err[600] = "";
    if (c->experiment)
        ckd_det_storage_from_json(
            json_object_get(json_object_get(c->experiment, "config"), "checkpoint_storage"),
            &exp_storage, err, sizeof(err));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ckd_det_checkpoint *cp = &cps[i];
        if (!ckd_det_state_downloadable(cp->state)) {
            resolve_fail(c,
                         "checkpoint %s is %s: only STATE_COMPLETED and "
                         "STATE_PARTIALLY_DELETED checkpoints can be downloaded",
                         cp->uuid, ckd_det_state_name(cp->state));
            rc = -1;
            break;
        }
        const ckd_det_storage *st = cp->storage.type ? &cp->storage : &exp_storage;
        json_t *st_json = json_object_get(
            json_object_get(json_object_get(raw[i], "training"), "experimentConfig"),
            "checkpoint_storage");
        if (!cp->storage.type)
            st_json =
                json_object_get(json_object_get(c->experiment, "config"), "checkpoint_storage");
        if (!st->type) {
            resolve_fail(c, "checkpoint %s has no checkpoint storage in its experiment config",
                         cp->uuid);
            rc = -1;
            break;
        }
        ckd_storage_auth auth;
        int via;
        if (choose_route(c, cp, st, &auth, &via) < 0) {
            rc = -1;
            break;
        }
        char *target = direct ? strdup(j->output) : ckd_path_join(j->output, cp->uuid);
        char *slash = target ? strrchr(target, '/') : NULL;
        char *staging = NULL;
        if (slash) {
            /* .<name>-<random>.partial beside the target: same filesystem,
             * one rename, and a name nobody can take first. */
            *slash = '\0';
            staging = ckd_staging_path(slash == target ? "/" : target, slash + 1);
            *slash = '/';
        }
        int has_metadata = 0;
        json_t *dirs = json_array();
        for (size_t r = 0; r < cp->n_resources; r++) {
            if (cp->resources[r].is_dir)
                json_array_append_new(dirs, json_string(cp->resources[r].path));
            else if (strcmp(cp->resources[r].path, "metadata.json") == 0)
                has_metadata = 1;
        }
        json_t *recorded = recorded_checkpoint(raw[i], st_json);
        ckd_unit u = {.kind = CKD_UNIT_CHECKPOINT,
                      .uuid = cp->uuid,
                      .target = target,
                      .staging = staging,
                      .storage = st->type,
                      .checkpoint = recorded,
                      .dirs = dirs,
                      .write_metadata = !has_metadata,
                      .via = via,
                      .auth = auth};
        rc = target && staging && recorded ? ckd_job_add_unit(j, &u) : -ENOMEM;
        if (rc < 0 && !(target && staging && recorded)) ckd_storage_auth_release(&auth);
        json_decref(recorded);
        json_decref(dirs);
        free(target);
        free(staging);
        int unit = (int)j->nunits - 1;
        for (size_t r = 0; r < cp->n_resources && rc == 0; r++) {
            if (cp->resources[r].is_dir) continue;
            if (via == CKD_VIA_MASTER) {
                /* Names the route; the archive itself is one request per checkpoint. */
                const ckd_master *m = ckd_master_find_of(j->d, j->source);
                const char *base = m && m->url ? m->url : "master:";
                size_t len = strlen(base) + strlen(cp->uuid) + strlen(cp->resources[r].path) + 16;
                char *url = malloc(len);
                if (url)
                    snprintf(url, len, "%s/checkpoints/%s#%s", base, cp->uuid,
                             cp->resources[r].path);
                rc = url ? add_resource(j, unit, url, cp, r) : -ENOMEM;
                free(url);
                continue;
            }
            if (ckd_storage_auth_ready(&auth)) {
                char *url = ckd_storage_object_url(&auth, st, cp->uuid, cp->resources[r].path);
                rc = url ? add_resource(j, unit, url, cp, r) : -ENOMEM;
                free(url);
                continue;
            }
            char *local = NULL;
            rc = ckd_det_storage_locate(st, cp->uuid, cp->resources[r].path, &local, err,
                                        sizeof(err));
            if (rc < 0) {
                resolve_fail(c, "checkpoint %s: %s", cp->uuid, err);
                break;
            }
            char *url = malloc(strlen(local) + 8);
            if (url) sprintf(url, "file://%s", local);
            rc = url ? add_resource(j, unit, url, cp, r) : -ENOMEM;
            free(url);
            free(local);
        }
    }
    ckd_det_storage_release(&exp_storage);
    if (rc == 0 && ckd_job_check_paths(j, err, sizeof(err)) < 0) {
        resolve_fail(c, "%s", err);
        rc = -1;
    }
    if (rc < 0) {
        if (j->state == CKD_JOB_RESOLVING)
            resolve_fail(c, "cannot record the checkpoints: out of memory");
        ckd_job_forget_resolution(j);
        return;
    }
    ckd_job_log(j, "info", "resolved to %zu checkpoint%s, %zu files", n, n == 1 ? "" : "s",
                j->nfiles);
    ckd_job_resolved(j);
}

/* ---- steps ------------------------------------------------------------- */

static void on_checkpoint(void *ud, int err, json_t *body, const char *msg)
{
    resolve_ctx *c = ud;
    if (still_resolving(c, err)) {
        char what[200];
        snprintf(what, sizeof(what), "checkpoint %s", ckd_job_source_str(c->job, "uuid"));
        if (master_error(c, err, msg, what) == 0) {
            json_t *raw = json_object_get(body, "checkpoint");
            ckd_det_checkpoint cp;
            char why[1200];
            json_int_t trial = json_integer_value(json_object_get(c->job->source, "id"));
            if (ckd_det_checkpoint_from_json(raw, &cp, why, sizeof(why)) < 0) {
                resolve_fail(c, "%s", why);
            } else if (strcmp(c->job->kind, "trial") == 0 && cp.has_trial_id &&
                       cp.trial_id != trial) {
                resolve_fail(c, "checkpoint %s belongs to trial %lld, not trial %lld", cp.uuid,
                             (long long)cp.trial_id, (long long)trial);
                ckd_det_checkpoint_release(&cp);
            } else {
                make_units(c, &raw, &cp, 1);
                ckd_det_checkpoint_release(&cp);
            }
        }
    }
    ctx_free(c);
}

/* Every checkpoint of a trial or experiment is in: parse, choose, go. */
static void on_list(void *ud, int err, json_t *body, const char *msg)
{
    resolve_ctx *c = ud;
    ckd_job *j = c->job;
    int experiment = j->spec.kind == CKD_KIND_EXPERIMENT;
    json_int_t id = json_integer_value(json_object_get(j->source, "id"));
    char what[64];
    snprintf(what, sizeof(what), "%s %lld", experiment ? "experiment" : "trial", (long long)id);
    if (!still_resolving(c, err) || master_error(c, err, msg, what) < 0) {
        ctx_free(c);
        return;
    }
    json_t *arr = json_object_get(body, "checkpoints");
    size_t n = json_array_size(arr), ok = 0;
    ckd_det_checkpoint *cps = calloc(n ? n : 1, sizeof(*cps));
    json_t **raw = calloc(n ? n : 1, sizeof(*raw));
    size_t *order = calloc(n ? n : 1, sizeof(*order));
    if (!cps || !raw || !order) {
        resolve_fail(c, "out of memory");
        goto out;
    }
    char refused[1200] = "";
    for (size_t i = 0; i < n; i++) {
        char why[1200];
        json_t *o = json_array_get(arr, i);
        if (ckd_det_checkpoint_from_json(o, &cps[ok], why, sizeof(why)) < 0) {
            /* One bad checkpoint does not hide the others; it can never be chosen. */
            ckd_job_log(j, "warn", "skipping a checkpoint the daemon refuses: %s", why);
            if (!refused[0]) snprintf(refused, sizeof(refused), "%s", why);
            continue;
        }
        raw[ok++] = o;
    }
    /* The experiment's smaller_is_better, else the checkpoints' own. */
    int sib = 1;
    if (c->experiment)
        sib = json_object_get(json_object_get(json_object_get(c->experiment, "config"), "searcher"),
                              "smaller_is_better") != json_false();
    else if (ok > 0)
        sib = cps[0].smaller_is_better;
    ckd_det_pick pick;
    ckd_det_query q;
    ckd_det_pick_from_source(&pick, j->source, sib);
    ckd_det_query_pick(&q, &pick);
    size_t nr = 0;
    if (ckd_det_select(&q, cps, ok, order, &nr) < 0) {
        resolve_fail(c, "cannot sort the checkpoints of %s", what);
        goto out;
    }
    if (nr == 0) {
        resolve_fail(c, "%s has no downloadable checkpoint (%s)%s%s", what,
                     experiment ? "COMPLETED" : "COMPLETED or PARTIALLY_DELETED",
                     refused[0] ? "; refused: " : "", refused);
        goto out;
    }
    ckd_det_checkpoint *chosen = calloc(nr, sizeof(*chosen));
    json_t **chosen_raw = calloc(nr, sizeof(*chosen_raw));
    if (chosen && chosen_raw) {
        for (size_t i = 0; i < nr; i++) {
            chosen[i] = cps[order[i]];
            chosen_raw[i] = raw[order[i]];
        }
        make_units(c, chosen_raw, chosen, nr);
    } else {
        resolve_fail(c, "out of memory");
    }
    free(chosen);
    free(chosen_raw);
out:
    for (size_t i = 0; cps && i < ok; i++) ckd_det_checkpoint_release(&cps[i]);
    free(cps);
    free(raw);
    free(order);
    ctx_free(c);
}

static void list_checkpoints(resolve_ctx *c)
{
    ckd_job *j = c->job;
    int experiment = j->spec.kind == CKD_KIND_EXPERIMENT;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/%s/%lld/checkpoints",
             experiment ? "experiments" : "trials",
             (long long)json_integer_value(json_object_get(j->source, "id")));
    /* Ask for the ranking we will apply (its states, its sort); the answer
     * is ranked again here whatever order it comes in. */
    int sib = 1;
    if (c->experiment)
        sib = json_object_get(json_object_get(json_object_get(c->experiment, "config"), "searcher"),
                              "smaller_is_better") != json_false();
    ckd_det_pick pick;
    ckd_det_query q;
    ckd_det_pick_from_source(&pick, j->source, sib);
    ckd_det_query_pick(&q, &pick);
    char why[300];
    ckd_master *m = ckd_master_of(j->d, j->source, why, sizeof(why));
    if (!m) {
        resolve_fail(c, "%s", why);
        ctx_free(c);
        return;
    }
    int rc = ckd_master_list_all(m, path, &q, on_list, c);
    if (rc < 0) {
        ckd_job_resolve_later(c->job, "cannot start a request to the master");
        ctx_free(c);
    }
}

static void on_experiment(void *ud, int err, json_t *body, const char *msg)
{
    resolve_ctx *c = ud;
    char what[64];
    snprintf(what, sizeof(what), "experiment %lld",
             (long long)json_integer_value(json_object_get(c->job->source, "id")));
    if (!still_resolving(c, err) || master_error(c, err, msg, what) < 0) {
        ctx_free(c);
        return;
    }
    c->experiment = json_incref(body);
    list_checkpoints(c);
}

void ckd_resolve_start(ckd_job *j)
{
    if (j->spec.kind == CKD_KIND_OBJECTS) {
        ckd_objects_resolve_start(j); /* the store's listing, not the master */
        return;
    }
    resolve_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        ckd_job_set_state(j, CKD_JOB_FAILED, "cannot resolve the job: out of memory");
        return;
    }
    c->job = j;
    j->busy++;
    j->resolving = c;
    const char *select = ckd_job_source_str(j, "select");
    char path[256], why[300];
    int rc;
    ckd_master *m = ckd_master_of(j->d, j->source, why, sizeof(why));
    if (!m) {
        resolve_fail(c, "%s", why);
        ctx_free(c);
        return;
    }
    if (j->spec.kind == CKD_KIND_CHECKPOINT || (select && strcmp(select, "uuid") == 0)) {
        snprintf(path, sizeof(path), "/api/v1/checkpoints/%s", ckd_job_source_str(j, "uuid"));
        rc = ckd_master_call(m, path, NULL, on_checkpoint, c);
    } else if (j->spec.kind == CKD_KIND_EXPERIMENT) {
        snprintf(path, sizeof(path), "/api/v1/experiments/%lld",
                 (long long)json_integer_value(json_object_get(j->source, "id")));
        rc = ckd_master_call(m, path, NULL, on_experiment, c);
    } else {
        list_checkpoints(c);
        return;
    }
    if (rc < 0) {
        ckd_job_resolve_later(c->job, "cannot start a request to the master");
        ctx_free(c);
    }
}

void ckd_resolve_cancel(ckd_job *j)
{
    if (j->spec.kind == CKD_KIND_OBJECTS) {
        ckd_objects_cancel(j);
        return;
    }
    /* The callbacks run now with -ECANCELED and free the context. */
    ckd_master *m = j->resolving ? ckd_master_find_of(j->d, j->source) : NULL;
    if (m) ckd_master_cancel_owner(m, j->resolving);
}
