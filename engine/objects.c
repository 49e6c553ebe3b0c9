/* Object-store prefixes and objects as job sources: listing, selection,
 * copies already here, content hashes probed, the job's unit and files.
 * See objects.h (requests: objreq.h; the hashes' record: objhash.h). */
#include "objects.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "azure.h"
#include "ckp.h"
#include "cred_util.h"
#include "fsutil.h"
#include "http.h"
#include "objhash.h"
#include "objlist.h"
#include "objreq.h"
#include "submit.h"

#define OBJECTS_MAGIC 0x6f626a73u

typedef struct objects_ctx {
    uint32_t magic;
    ckd_job *job;
    ckd_objurl url;
    ckd_det_storage st; /* the store as a checkpoint storage config (no secrets) */
    ckd_storage_auth auth;
    ckd_http *req;   /* the listing request in flight, or NULL */
    ckd_objent *all; /* every entry listed so far */
    size_t n, cap;
    char *next; /* the next page's token or marker */
    int pages;
    const char **inc, **exc;
    size_t ninc, nexc;
    struct taken *t; /* the objects taken, sorted by path */
    size_t nt;
    ckd_objprobe *probe;   /* the HEADs reading content hashes, or NULL */
    ckd_objprobe_item *pi; /* ... one per object probed */
    size_t *pi_of, npi;    /* ... and its index in t */
    json_t *hashes;        /* the record of content hashes (objhash.h), or NULL */
} objects_ctx;

static void ctx_free(objects_ctx *c)
{
    if (c->job->resolving == c) c->job->resolving = NULL;
    c->job->busy--;
    ckd_objurl_release(&c->url);
    ckd_det_storage_release(&c->st);
    ckd_storage_auth_release(&c->auth);
    for (size_t i = 0; i < c->n; i++) {
        free(c->all[i].key);
        free(c->all[i].etag);
    }
    free(c->all);
    free(c->next);
    free(c->inc);
    free(c->exc);
    free(c->t);
    for (size_t i = 0; i < c->npi; i++) free((char *)c->pi[i].url);
    ckd_objprobe_items_release(c->pi, c->npi);
    free(c->pi);
    free(c->pi_of);
    json_decref(c->hashes);
    c->magic = 0;
    free(c);
}

static void objects_fail(objects_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void objects_fail(objects_ctx *c, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ckd_job_set_state(c->job, CKD_JOB_FAILED, msg);
}

/* ---- the store as a storage config ------------------------------------------ */

static int set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? strdup(v) : NULL;
    return v && !*slot ? -ENOMEM : 0;
}

/* The endpoint a client named, else the daemon's environment (as the AWS
 * SDKs and CLI read it). */
static const char *s3_endpoint(const ckd_job *j)
{
    const char *e = ckd_job_source_str(j, "endpoint_url");
    if (!ckd_cred_nonempty(e)) e = ckd_cred_env("AWS_ENDPOINT_URL_S3");
    if (!e) e = ckd_cred_env("AWS_ENDPOINT_URL");
    return e;
}

/* Fills c->st and resolves credentials. 0, or -1 after failing the job. */
static int find_store(objects_ctx *c)
{
    ckd_job *j = c->job;
    ckd_det_storage *st = &c->st;
    const char *ep = ckd_job_source_str(j, "endpoint_url");
    int rc = set_str(&st->type, ckd_objstore_type(c->url.store));
    if (c->url.store == CKD_OBJ_S3) {
        if (!rc) rc = set_str(&st->bucket, c->url.bucket);
        if (!rc) rc = set_str(&st->endpoint_url, s3_endpoint(j));
    } else if (c->url.store == CKD_OBJ_GCS) {
        if (!rc) rc = set_str(&st->bucket, c->url.bucket);
        if (!rc && ckd_cred_nonempty(ep)) rc = set_str(&st->endpoint_url, ep);
    } else {
        if (!rc) rc = set_str(&st->container, c->url.bucket);
        if (!rc && !ckd_cred_env(CKD_AZURE_ENV_CONNSTR)) {
            char *au = NULL;
            if (ckd_cred_nonempty(ep))
                au = strdup(ep);
            else if (asprintf(&au, "https://%s.blob.core.windows.net", c->url.account) < 0)
                au = NULL;
            rc = au ? set_str(&st->account_url, au) : -ENOMEM;
            free(au);
        }
    }
    if (rc < 0) {
        objects_fail(c, "out of memory");
        return -1;
    }
    char err[600] = "";
    rc = ckd_storage_auth_resolve(&c->auth, st, err, sizeof(err));
    if (rc < 0) {
        objects_fail(c, "cannot read '%s': %s", ckd_job_source_str(j, "url"), err);
        return -1;
    }
    if (c->auth.azure && c->auth.azure->account &&
        strcmp(c->auth.azure->account, c->url.account) != 0) {
        objects_fail(c, "cannot read '%s': the azure credentials are for account '%s', not '%s'",
                     ckd_job_source_str(j, "url"), c->auth.azure->account, c->url.account);
        return -1;
    }
    return 0;
}

/* The storage config recorded with the unit, so that the credentials can be
 * found again after a restart (schedule.c reads it as a checkpoint's). */
static json_t *recorded_storage(const ckd_det_storage *st)
{
    json_t *s = json_pack("{s:s}", "type", st->type);
    if (!s) return NULL;
    if (st->bucket) json_object_set_new(s, "bucket", json_string(st->bucket));
    if (st->endpoint_url) json_object_set_new(s, "endpoint_url", ckp_json_text(st->endpoint_url));
    if (st->container) json_object_set_new(s, "container", json_string(st->container));
    if (st->account_url) json_object_set_new(s, "account_url", ckp_json_text(st->account_url));
    ckd_storage_scrub(s);
    return json_pack("{s:{s:{s:o}}}", "training", "experimentConfig", "checkpoint_storage", s);
}

/* The unit's record: the storage config and the content hashes. */
static json_t *recorded_unit(const objects_ctx *c)
{
    json_t *cp = recorded_storage(&c->st);
    if (cp && c->hashes && json_object_set(cp, CKD_OBJHASH_KEY, c->hashes) < 0) {
        json_decref(cp);
        return NULL;
    }
    return cp;
}

static void on_page(void *ud, const ckd_http_resp *r);

static void list_next(objects_ctx *c)
{
    char *url;
    struct curl_slist *h;
    int rc = ckd_objreq_list(&c->url, &c->st, &c->auth, c->next, &url, &h);
    if (rc < 0) {
        objects_fail(c, "cannot list '%s': %s", ckd_job_source_str(c->job, "url"),
                     rc == -ENOMEM ? "out of memory" : "cannot sign the request");
        ctx_free(c);
        return;
    }
    /* ckd_http_start copies the headers; wipe ours (signatures, tokens). */
    size_t nh = 0;
    for (struct curl_slist *l = h; l; l = l->next) nh++;
    const char **lines = calloc(nh + 1, sizeof(*lines));
    nh = 0;
    for (struct curl_slist *l = h; lines && l; l = l->next) lines[nh++] = l->data;
    rc = lines ? ckd_http_start(c->job->d, url, lines, NULL, CKD_OBJLIST_MAX_BODY, on_page, c,
                                &c->req)
               : -ENOMEM;
    for (struct curl_slist *l = h; l; l = l->next) explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(h);
    free(lines);
    ckd_cred_free_secret(url);
    if (rc < 0) {
        ckd_job_resolve_later(c->job, "cannot start a listing request");
        ctx_free(c);
    }
}

static void finish(objects_ctx *c);

static int append_page(objects_ctx *c, ckd_objpage *p)
{
    if (c->n + p->n > CKD_OBJECTS_MAX_LISTED) {
        objects_fail(c, "'%s' lists more than %d objects", ckd_job_source_str(c->job, "url"),
                     CKD_OBJECTS_MAX_LISTED);
        return -1;
    }
    if (c->n + p->n > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        while (ncap < c->n + p->n) ncap *= 2;
        ckd_objent *nv = realloc(c->all, ncap * sizeof(*nv));
        if (!nv) {
            objects_fail(c, "out of memory");
            return -1;
        }
        c->all = nv;
        c->cap = ncap;
    }
    if (p->n) memcpy(c->all + c->n, p->v, p->n * sizeof(*p->v));
    c->n += p->n;
    p->n = 0; /* the entries moved */
    return 0;
}

static void on_page(void *ud, const ckd_http_resp *r)
{
    objects_ctx *c = ud;
    ckd_job *j = c->job;
    c->req = NULL;
    if (r->err == -ECANCELED || j->state != CKD_JOB_RESOLVING || j->d->stopping) {
        ctx_free(c);
        return;
    }
    const char *url = ckd_job_source_str(j, "url");
    char detail[400] = "";
    if (r->err < 0 || r->status == 0) {
        char msg[700];
        ckp_fmt(msg, sizeof(msg), "cannot list '%s': %s", url, r->errmsg ? r->errmsg : "no answer");
        ckd_job_resolve_later(c->job, msg);
        ctx_free(c);
        return;
    }
    if (r->status != 200) {
        ckd_objlist_error_text(r->body, r->len, detail, sizeof(detail));
        char msg[900];
        ckp_fmt(msg, sizeof(msg), "cannot list '%s': http %ld%s%s%s", url, r->status,
                detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
        if (r->status == 408 || r->status == 429 || r->status >= 500)
            ckd_job_resolve_later(c->job, msg);
        else if (r->status == 401 || r->status == 403)
            objects_fail(c, "%s: the %s server refused the credentials or the signature", msg,
                         c->st.type);
        else
            objects_fail(c, "%s", msg);
        ctx_free(c);
        return;
    }
    ckd_objpage p;
    char err[300];
    int rc = ckd_objlist_parse(c->url.store, r->body, r->len, &p, err, sizeof(err));
    if (rc < 0) {
        objects_fail(c, "cannot list '%s': %s", url, err);
        ctx_free(c);
        return;
    }
    c->pages++;
    int more = p.truncated && c->url.is_prefix;
    if (more && c->next && p.next && strcmp(c->next, p.next) == 0) {
        objects_fail(c, "cannot list '%s': the listing does not advance (page %d)", url, c->pages);
        more = -1;
    } else if (append_page(c, &p) < 0) {
        more = -1;
    }
    if (more == 1) {
        free(c->next);
        c->next = p.next;
        p.next = NULL;
    }
    ckd_objpage_release(&p);
    if (more < 0)
        ctx_free(c);
    else if (more)
        list_next(c);
    else
        finish(c);
}

/* ---- copies already here --------------------------------------------------------- */

static int cmp_file_ptr(const void *a, const void *b)
{
    return strcmp((*(ckd_file *const *)a)->path, (*(ckd_file *const *)b)->path);
}

/* The done objects jobs into the same output, newest first, each with its
 * files sorted by path for lookups. */
typedef struct prior {
    const ckd_job *job;
    ckd_file **files;
    size_t n;
} prior;

static size_t priors_find(const ckd_job *j, prior **out)
{
    size_t n = 0, cap = 0;
    prior *v = NULL;
    for (const ckd_job *k = j->d->jobs; k; k = k->next) {
        if (k == j || k->state != CKD_JOB_DONE || strcmp(k->kind, "objects") != 0 ||
            k->nunits != 1 || strcmp(k->units[0].target, j->output) != 0 || k->nfiles == 0)
            continue;
        if (n == cap) {
            prior *nv = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*nv));
            if (!nv) break;
            v = nv;
        }
        ckd_file **fs = malloc(k->nfiles * sizeof(*fs));
        if (!fs) break;
        for (size_t i = 0; i < k->nfiles; i++) fs[i] = &k->files[i];
        qsort(fs, k->nfiles, sizeof(*fs), cmp_file_ptr);
        v[n++] = (prior){k, fs, k->nfiles};
    }
    /* d->jobs is ordered by id: newest first. */
    for (size_t i = 0; i < n / 2; i++) {
        prior t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
    *out = v;
    return n;
}

/* 1 when output/rel is the copy a done job fetched of this very object
 * version (same URL, size and ETag) and nothing changed it since (its size,
 * and a modification time no later than that job's end). */
static int already_here(const ckd_job *j, const prior *pv, size_t np, const char *rel,
                        const char *url, const ckd_objent *e)
{
    ckd_file key = {.path = (char *)rel}, *kp = &key;
    for (size_t i = 0; i < np; i++) {
        ckd_file **hit = bsearch(&kp, pv[i].files, pv[i].n, sizeof(kp), cmp_file_ptr);
        if (!hit) continue;
        const ckd_file *f = *hit;
        if (f->state != CKD_FILE_VERIFIED || f->size != e->size || strcmp(f->url, url) != 0 ||
            !ckd_objhash_etag_eq(f->validator, e->etag))
            return 0; /* the newest record of this path says otherwise */
        char *path = ckd_path_join(j->output, rel);
        struct stat sb;
        int ok = path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == e->size &&
                 sb.st_mtim.tv_sec <= pv[i].job->updated;
        free(path);
        return ok;
    }
    return 0;
}

/* ---- the job's files ------------------------------------------------------------- */

typedef struct taken {
    ckd_objent *e;
    const char *rel;
    int skip; /* a copy of this very version is here already */
} taken;

static int cmp_taken(const void *a, const void *b)
{
    return strcmp(((const taken *)a)->rel, ((const taken *)b)->rel);
}

/* Adds the unit and its files. 0, or -ENOMEM. */
static int add_files(objects_ctx *c, size_t *skipped, int64_t *skip_bytes, int64_t *bytes)
{
    ckd_job *j = c->job;
    taken *t = c->t;
    size_t nt = c->nt;
    char stem[32];
    snprintf(stem, sizeof(stem), "ckptd-%lld", (long long)j->id);
    char *staging = ckd_set_staging_path(j->output, stem);
    json_t *cp = recorded_unit(c);
    ckd_unit u = {.kind = CKD_UNIT_FILES,
                  .target = j->output,
                  .staging = staging,
                  .storage = c->st.type,
                  .checkpoint = cp,
                  .auth = c->auth};
    int rc = staging && cp ? ckd_job_add_unit(j, &u) : -ENOMEM;
    if (rc == 0 || j->nunits > 0) memset(&c->auth, 0, sizeof(c->auth)); /* the unit owns it */
    free(staging);
    json_decref(cp);
    for (size_t i = 0; i < nt && rc == 0; i++) {
        if (t[i].skip) {
            (*skipped)++;
            *skip_bytes += t[i].e->size;
            continue;
        }
        char *url = ckd_objreq_object_url(&c->st, &j->units[0].auth, t[i].e->key);
        if (!url) {
            rc = -ENOMEM;
            break;
        }
        int zstd = ckd_job_wants_decoding(j, url, t[i].rel);
        char *stored = zstd ? ckd_zstd_stored_name(t[i].rel) : strdup(t[i].rel);
        rc = stored ? ckd_job_add_file(j, 0, url, stored, zstd ? -1 : t[i].e->size, NULL, zstd)
                    : -ENOMEM;
        if (rc == 0) {
            /* The listed version: a range resumed later must continue it
             * (If-Range), and the record says which version is here. */
            ckd_file *f = &j->files[j->nfiles - 1];
            f->validator = t[i].e->etag[0] ? ckd_objlist_etag_header(t[i].e->etag) : NULL;
            if (f->validator) ckd_file_persist(f);
            *bytes += t[i].e->size;
        }
        free(stored);
        free(url);
    }
    return rc;
}

/* The objects are chosen, checked, probed: add them, and the job runs. */
static void add_and_resolve(objects_ctx *c)
{
    ckd_job *j = c->job;
    const char *url = ckd_job_source_str(j, "url");
    size_t skipped = 0, nhash = c->hashes ? json_object_size(c->hashes) : 0;
    int64_t skip_bytes = 0, bytes = 0;
    char err[600];
    int rc = add_files(c, &skipped, &skip_bytes, &bytes);
    if (rc == 0 && ckd_job_check_paths(j, err, sizeof(err)) < 0) {
        objects_fail(c, "%s", err);
        rc = -1;
    } else if (rc < 0) {
        objects_fail(c, "cannot record the objects: out of memory");
    }
    if (rc < 0) {
        ckd_job_forget_resolution(j);
        ctx_free(c);
        return;
    }
    ckd_job_log(j, "info",
                "listed '%s': %zu object%s in %d page%s, %zu taken, %zu to fetch "
                "(%lld bytes)",
                url, c->n, c->n == 1 ? "" : "s", c->pages, c->pages == 1 ? "" : "s", c->nt,
                j->nfiles, (long long)bytes);
    if (skipped)
        ckd_job_log(j, "info",
                    "skipped %zu object%s already here (%lld bytes): same size and ETag as "
                    "fetched by an earlier job, unchanged since",
                    skipped, skipped == 1 ? "" : "s", (long long)skip_bytes);
    if (nhash)
        ckd_job_log(j, "info",
                    "%zu of %zu object%s to fetch %s the store's content hash: checked "
                    "after the download",
                    nhash, j->nfiles, j->nfiles == 1 ? "" : "s", nhash == 1 ? "carries" : "carry");
    ckd_job_resolved(j);
    ctx_free(c);
}

/* Records the content hash of the object of t (its newest ETag with it);
 * 0 or -ENOMEM. */
static int record_hash(objects_ctx *c, const taken *t)
{
    if (t->e->hash.algo == CKD_STOREHASH_NONE || !t->e->etag[0]) return 0;
    char *url = ckd_objreq_object_url(&c->st, &c->auth, t->e->key);
    /* The store's hash is of the bytes stored, not of a decoded copy. */
    int zstd = url ? ckd_job_wants_decoding(c->job, url, t->rel) : 0;
    free(url);
    if (!url) return -ENOMEM;
    if (zstd) return 0;
    char *etag = ckd_objlist_etag_header(t->e->etag);
    int rc = etag ? ckd_objhash_add(&c->hashes, t->rel, etag, &t->e->hash) : -ENOMEM;
    free(etag);
    return rc == -EINVAL ? 0 : rc;
}

/* Records the hashes known (rc: 0, or an earlier -ENOMEM), then adds. */
static void record_and_add(objects_ctx *c, int rc)
{
    for (size_t i = 0; i < c->nt && rc == 0; i++)
        if (!c->t[i].skip) rc = record_hash(c, &c->t[i]);
    if (rc < 0) {
        objects_fail(c, "out of memory");
        ctx_free(c);
        return;
    }
    add_and_resolve(c);
}

static void on_probed(void *ud, int err, const char *msg)
{
    objects_ctx *c = ud;
    ckd_job *j = c->job;
    c->probe = NULL;
    if (err == -ECANCELED || j->state != CKD_JOB_RESOLVING || j->d->stopping) {
        ctx_free(c);
        return;
    }
    if (err < 0) {
        ckd_job_resolve_later(c->job, msg ? msg : "cannot read the objects' content hashes");
        ctx_free(c);
        return;
    }
    int rc = 0;
    for (size_t k = 0; k < c->npi && rc == 0; k++) {
        ckd_objprobe_item *it = &c->pi[k];
        ckd_objent *e = c->t[c->pi_of[k]].e;
        if (it->status != 200) {
            /* Gone since listed (the GET says so), or HEAD refused. */
            if (it->status != 404)
                ckd_job_log(j, "warn",
                            "cannot read the content hash of '%s': http %ld; it is "
                            "not checked",
                            e->key, it->status);
            continue;
        }
        if (it->hash_bad)
            ckd_job_log(j, "warn",
                        "the store sent a malformed content hash for '%s'; it is "
                        "not checked",
                        e->key);
        /* The newest word on the object: its hash goes with this ETag. */
        if (it->etag && strcmp(it->etag, e->etag) != 0) {
            char *dup = strdup(it->etag);
            if (!dup) {
                rc = -ENOMEM;
                break;
            }
            free(e->etag);
            e->etag = dup;
        }
        if (it->size >= 0) e->size = it->size;
        e->hash = it->hash;
    }
    record_and_add(c, rc);
}

/* 1 when the store may keep a content hash of e the listing did not give. */
static int wants_probe(const objects_ctx *c, const ckd_objent *e)
{
    if (e->hash.algo != CKD_STOREHASH_NONE) return 0;
    if (c->auth.gcs) return 1; /* GCS keeps crc32c of every object; its XML list shows none */
    return c->auth.s3 && e->probe;
}

/* Marks the copies already here; HEADs the others that may carry a content
 * hash (then on_probed), or adds the files now. */
static void probe_or_add(objects_ctx *c)
{
    ckd_job *j = c->job;
    prior *pv = NULL;
    size_t np = priors_find(j, &pv);
    c->pi = calloc(c->nt, sizeof(*c->pi));
    c->pi_of = calloc(c->nt, sizeof(*c->pi_of));
    int rc = c->pi && c->pi_of ? 0 : -ENOMEM;
    for (size_t i = 0; i < c->nt && rc == 0; i++) {
        char *url = ckd_objreq_object_url(&c->st, &c->auth, c->t[i].e->key);
        if (!url) {
            rc = -ENOMEM;
            break;
        }
        c->t[i].skip = already_here(j, pv, np, c->t[i].rel, url, c->t[i].e);
        if (!c->t[i].skip && wants_probe(c, c->t[i].e) &&
            !ckd_job_wants_decoding(j, url, c->t[i].rel)) {
            c->pi_of[c->npi] = i;
            c->pi[c->npi++].url = url;
        } else {
            free(url);
        }
    }
    for (size_t i = 0; i < np; i++) free(pv[i].files);
    free(pv);
    if (rc == 0 && c->npi) {
        rc = ckd_objprobe_start(j->d, &c->auth, c->pi, c->npi, on_probed, c, &c->probe);
        if (rc == 0) return;
        if (rc != -ENOMEM) {
            ckd_job_resolve_later(c->job, "cannot start reading the objects' content hashes");
            ctx_free(c);
            return;
        }
    }
    record_and_add(c, rc);
}

/* Everything is listed: choose, check, then skip, probe, add. */
static void finish(objects_ctx *c)
{
    ckd_job *j = c->job;
    const char *url = ckd_job_source_str(j, "url");
    taken *t = c->t = calloc(c->n ? c->n : 1, sizeof(*t));
    size_t nt = 0;
    if (!t) {
        objects_fail(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        const char *rel, *why;
        if (!c->url.is_prefix) {
            if (strcmp(c->all[i].key, c->url.key) != 0) continue;
            const char *slash = strrchr(c->all[i].key, '/');
            rel = slash ? slash + 1 : c->all[i].key;
            if (ckp_path_check(rel, strlen(rel), &why) < 0) {
                objects_fail(c, "unsafe object name '%s' in '%s': %s", rel, url, why);
                goto out;
            }
            t[nt++] = (taken){&c->all[i], rel, 0};
            break;
        }
        int rc = ckd_objlist_select(c->url.key, c->all[i].key, c->inc, c->ninc, c->exc, c->nexc,
                                    &rel, &why);
        if (rc < 0) {
            objects_fail(c,
                         "unsafe object key '%s' under '%s': its path '%s' %s; nothing was "
                         "fetched",
                         c->all[i].key, url, c->all[i].key + strlen(c->url.key), why);
            goto out;
        }
        if (rc == 1) t[nt++] = (taken){&c->all[i], rel, 0};
    }
    if (nt == 0) {
        if (!c->url.is_prefix)
            objects_fail(c, "no object '%s'%s", url,
                         c->n ? " (objects start with that name: end the URL with '/' for "
                                "everything under it)"
                              : "");
        else if (c->n == 0)
            objects_fail(c, "nothing under '%s': the prefix is empty or does not exist", url);
        else
            objects_fail(c,
                         "none of the %zu objects under '%s' matches the include/exclude "
                         "patterns",
                         c->n, url);
        goto out;
    }
    if (nt > CKD_MAX_FILES_PER_JOB) {
        objects_fail(c, "'%s' has %zu objects to fetch; a job takes at most %d", url, nt,
                     CKD_MAX_FILES_PER_JOB);
        goto out;
    }
    /* "d" and "d/x" cannot both be files. */
    qsort(t, nt, sizeof(*t), cmp_taken);
    for (size_t i = 1; i < nt; i++) {
        size_t l = strlen(t[i - 1].rel);
        if (strncmp(t[i - 1].rel, t[i].rel, l) == 0 && t[i].rel[l] == '/') {
            objects_fail(c, "object '%s' of '%s' is also a directory of '%s'", t[i - 1].rel, url,
                         t[i].rel);
            goto out;
        }
    }
    c->nt = nt;
    probe_or_add(c);
    return;
out:
    ctx_free(c);
}

/* ---- start and cancel ------------------------------------------------------------- */

static int globs(const json_t *arr, const char ***out, size_t *n)
{
    *n = json_array_size(arr);
    *out = calloc(*n ? *n : 1, sizeof(**out));
    if (!*out) return -ENOMEM;
    for (size_t i = 0; i < *n; i++) (*out)[i] = json_string_value(json_array_get(arr, i));
    return 0;
}

void ckd_objects_resolve_start(ckd_job *j)
{
    objects_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        ckd_job_set_state(j, CKD_JOB_FAILED, "cannot resolve the job: out of memory");
        return;
    }
    c->magic = OBJECTS_MAGIC;
    c->job = j;
    j->busy++;
    j->resolving = c;
    char err[600];
    if (ckd_objurl_parse(ckd_job_source_str(j, "url"), &c->url, err, sizeof(err)) < 0) {
        objects_fail(c, "%s", err); /* checked at submit: a record changed since */
        ctx_free(c);
        return;
    }
    if (globs(json_object_get(j->source, "include"), &c->inc, &c->ninc) < 0 ||
        globs(json_object_get(j->source, "exclude"), &c->exc, &c->nexc) < 0) {
        objects_fail(c, "out of memory");
        ctx_free(c);
        return;
    }
    if (find_store(c) < 0) {
        ctx_free(c);
        return;
    }
    list_next(c);
}

void ckd_objects_cancel(ckd_job *j)
{
    objects_ctx *c = j->resolving;
    if (!c) return;
    assert(c->magic == OBJECTS_MAGIC);
    /* Its callback runs now with -ECANCELED and frees the context. */
    if (c->req)
        ckd_http_cancel(c->req);
    else if (c->probe)
        ckd_objprobe_cancel(c->probe);
}
