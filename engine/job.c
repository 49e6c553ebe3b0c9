/* Jobs: submission, the job state machine, the scheduler, verification,
 * flushing and publication. All of it runs on the loop thread; disk work
 * goes to the pool through the work items at the end of this file. */
#include <assert.h>
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "master_archive.h"
#include "ckp.h"
#include "fsutil.h"
#include "log.h"
#include "follow.h"
#include "s3.h"
#include "xfer.h"

#define MAX_FILES_PER_JOB 100000
#define MIN_SEGMENT       (4 << 20)
/* How far past the bytes already received a running stream is cut. */
#define SPLIT_SLACK (1 << 20)

static void job_prepare(ckd_job *j);
static int zstd_init(ckd_file *f);
static void job_flush(ckd_job *j);
static void job_fetched(ckd_job *j, ckd_file *f);
static void unit_publish(ckd_job *j, size_t u);
static void job_cleanup(ckd_job *j);
static void file_finish(ckd_file *f);
static void file_reset(ckd_file *f);
static int target_conflict(ckd_job *j, size_t u, int unverified_only, const char *mhex, char *where,
                           size_t wlen);
static void conflict_message(char *msg, size_t len, const ckd_unit *un, const char *where);

/* ---- names ------------------------------------------------------------- */

static const char *job_state_names[] = {
#define X(name, wire) wire,
    CKD_JOB_STATE_MAP(X)
#undef X
};
static const char *file_state_names[] = {
#define X(name, wire) wire,
    CKD_FILE_STATE_MAP(X)
#undef X
};

const char *ckd_job_state_name(enum ckd_job_state s)
{
    return job_state_names[s];
}

int ckd_job_state_parse(const char *name)
{
    for (int i = 0; i < CKD_JOB_NSTATES; i++)
        if (name && strcmp(name, job_state_names[i]) == 0) return i;
    return -EINVAL;
}

const char *ckd_file_state_name(enum ckd_file_state s)
{
    return file_state_names[s];
}

int ckd_file_state_parse(const char *name)
{
    for (int i = 0; i <= CKD_FILE_FAILED; i++)
        if (name && strcmp(name, file_state_names[i]) == 0) return i;
    return -EINVAL;
}

static int job_terminal(const ckd_job *j)
{
    return j->state == CKD_JOB_DONE || j->state == CKD_JOB_CANCELED || j->state == CKD_JOB_FAILED;
}

/* Pool work of the job or its transfers still running. */
static int job_quiet(const ckd_job *j)
{
    return j->busy == 0 && j->xfers == 0;
}

/* ---- logging and state --------------------------------------------------- */

void ckd_job_log(ckd_job *j, const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int lvl = ckd_log_parse_level(level);
    ckd_log(lvl < 0 ? CKD_LOG_INFO : (enum ckd_log_level)lvl, "job %lld: %s", (long long)j->id,
            msg);
    ckd_store_log(&j->d->store, j->id, ckd_wall_s(), level, msg);
}

/* The one place a job changes state: logs, persists, tells subscribers. */
void ckd_job_set_state(ckd_job *j, enum ckd_job_state to, const char *error)
{
    enum ckd_job_state from = j->state;
    if (error != j->error) {
        free(j->error);
        j->error = error ? strdup(error) : NULL;
    }
    j->state = to;
    j->updated = ckd_wall_s();
    if (from != to)
        ckd_job_log(j, to == CKD_JOB_FAILED ? "error" : "info", "%s -> %s%s%s",
                    ckd_job_state_name(from), ckd_job_state_name(to), error ? ": " : "",
                    error ? error : "");
    ckd_store_job_update(&j->d->store, j->id, ckd_job_state_name(to), j->error, j->updated);
    ckd_events_job(j->d, j);
    if (from != to) ckd_follow_on_job_state(j->d, j);
}

static void file_persist(ckd_file *f)
{
    ckd_store_file_update(&f->job->d->store, f->job->id, f->idx, ckd_file_state_name(f->state),
                          f->size, f->state == CKD_FILE_VERIFIED ? f->hash : NULL, f->validator,
                          f->error);
}

/* ---- model helpers --------------------------------------------------------- */

static int64_t file_bytes_done(const ckd_file *f)
{
    if ((f->state == CKD_FILE_VERIFIED || f->state == CKD_FILE_FETCHED) && f->size >= 0)
        return f->size;
    int64_t n = 0;
    for (int i = 0; i < f->nsegs; i++) n += f->segs[i].written;
    return n;
}

int64_t ckd_job_bytes_done(const ckd_job *j)
{
    int64_t n = 0;
    for (size_t i = 0; i < j->nfiles; i++) n += file_bytes_done(&j->files[i]);
    for (size_t u = 0; u < j->nunits; u++) n += ckd_archive_progress(j->units[u].archive);
    return n;
}

int64_t ckd_job_bytes_total(const ckd_job *j)
{
    int64_t n = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        if (j->files[i].size < 0) return -1;
        n += j->files[i].size;
    }
    return n;
}

static void segs_free(ckd_file *f)
{
    for (int i = 0; i < f->nsegs; i++) XXH3_freeState(f->segs[i].hash);
    free(f->segs);
    f->segs = NULL;
    f->nsegs = 0;
}

static int segs_alloc(ckd_file *f, int n)
{
    segs_free(f);
    f->segs = calloc((size_t)n, sizeof(ckd_seg));
    if (!f->segs) return -ENOMEM;
    f->nsegs = n;
    for (int i = 0; i < n; i++) {
        f->segs[i].file = f;
        f->segs[i].hash = XXH3_createState();
        if (!f->segs[i].hash) return -ENOMEM;
        XXH3_128bits_reset(f->segs[i].hash);
    }
    return 0;
}

static void zstd_release(ckd_file *f)
{
    ZSTD_freeDCtx(f->zd);
    free(f->zout);
    XXH3_freeState(f->hash_frame);
    f->zd = NULL;
    f->zout = NULL;
    f->hash_frame = NULL;
    f->dec = f->frame_c = f->frame_d = 0;
}

/* The decoder of a zstd file; the window cap refuses frames that would
 * make a hostile stream allocate without bound. */
#define ZSTD_WINDOW_LOG_MAX 27

static int zstd_init(ckd_file *f)
{
    zstd_release(f);
    f->zd = ZSTD_createDCtx();
    f->zout = malloc(1 << 20);
    f->hash_frame = XXH3_createState();
    if (!f->zd || !f->zout || !f->hash_frame) return -ENOMEM;
    ZSTD_DCtx_setParameter(f->zd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
    XXH3_128bits_reset(f->hash_frame);
    return 0;
}

static void file_release(ckd_file *f)
{
    segs_free(f);
    zstd_release(f);
    if (f->fd >= 0) close(f->fd);
    free(f->url);
    free(f->path);
    free(f->validator);
    free(f->error);
}

static void unit_release(ckd_unit *u)
{
    ckd_storage_auth_release(&u->auth);
    free(u->uuid);
    free(u->target);
    free(u->staging);
    free(u->storage);
    json_decref(u->checkpoint);
    json_decref(u->dirs);
}

static void job_free(ckd_job *j)
{
    ckd_follow_stop(j);
    for (size_t i = 0; i < j->nfiles; i++) file_release(&j->files[i]);
    free(j->files);
    free(j->fetched);
    free(j->kind);
    json_decref(j->source);
    json_decref(j->options);
    free(j->output);
    for (size_t i = 0; i < j->nunits; i++) unit_release(&j->units[i]);
    free(j->units);
    free(j->error);
    j->magic = 0;
    free(j);
}

/* The directory a file is written to until its unit is published. */
static const char *file_staging_dir(const ckd_file *f)
{
    return f->job->units[f->unit].staging;
}

char *ckd_file_staging_path(const ckd_file *f)
{
    return ckd_path_join(file_staging_dir(f), f->path);
}

static void job_link(ckd_daemon *d, ckd_job *j)
{
    ckd_job **pp = &d->jobs;
    while (*pp && (*pp)->id < j->id) pp = &(*pp)->next;
    j->next = *pp;
    *pp = j;
}

ckd_job *ckd_job_find(ckd_daemon *d, int64_t id)
{
    for (ckd_job *j = d->jobs; j; j = j->next)
        if (j->id == id) return j;
    return NULL;
}

static ckd_job *job_new(ckd_daemon *d)
{
    ckd_job *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->magic = CKD_JOB_MAGIC;
    j->d = d;
    return j;
}

int ckd_job_add_unit(ckd_job *j, const ckd_unit *u)
{
    ckd_unit *nu = realloc(j->units, (j->nunits + 1) * sizeof(*nu));
    if (!nu) return -ENOMEM;
    j->units = nu;
    ckd_unit *x = &j->units[j->nunits];
    *x = *u;
    x->uuid = u->uuid ? strdup(u->uuid) : NULL;
    x->target = strdup(u->target);
    x->staging = strdup(u->staging);
    x->storage = u->storage ? strdup(u->storage) : NULL;
    x->checkpoint = u->checkpoint ? json_incref(u->checkpoint) : NULL;
    x->dirs = u->dirs ? json_incref(u->dirs) : json_array();
    x->auth = u->auth; /* ownership moves to the job */
    x->archive = NULL;
    x->manifest = -1;
    x->manifest_state = CKD_CHECKSUMS_UNREAD;
    x->nfiles = x->verified = 0;
    j->nunits++;
    if (!x->target || !x->staging) return -ENOMEM;
    char *cp = x->checkpoint ? json_dumps(x->checkpoint, JSON_COMPACT) : NULL;
    char *dirs = json_dumps(x->dirs, JSON_COMPACT);
    ckd_unit_row r = {.job_id = j->id,
                      .idx = (int)j->nunits - 1,
                      .kind = x->kind,
                      .status = x->status,
                      .uuid = x->uuid,
                      .target = x->target,
                      .staging = x->staging,
                      .storage = x->storage,
                      .checkpoint = cp,
                      .dirs = dirs,
                      .write_metadata = x->write_metadata,
                      .via = x->via};
    int rc = ckd_store_unit_insert(&j->d->store, &r);
    free(cp);
    free(dirs);
    return rc;
}

int ckd_job_add_file(ckd_job *j, int unit, const char *url, const char *path, int64_t size,
                     const char *expect, int zstd)
{
    ckd_file *nf = realloc(j->files, (j->nfiles + 1) * sizeof(*nf));
    if (!nf) return -ENOMEM;
    j->files = nf;
    ckd_file *f = &j->files[j->nfiles];
    memset(f, 0, sizeof(*f));
    f->job = j;
    f->idx = (int)j->nfiles;
    f->unit = unit;
    f->fd = -1;
    f->url = strdup(url);
    f->path = strdup(path);
    f->size = zstd ? -1 : size; /* a stream's size is not its decoded size */
    f->size_given = !zstd && size >= 0;
    f->zstd = zstd;
    f->state = CKD_FILE_PENDING;
    if (expect)
        for (int k = 0; k < 33; k++) f->expect[k] = (char)tolower((unsigned char)expect[k]);
    j->nfiles++;
    j->units[unit].nfiles++;
    if (j->units[unit].kind == CKD_UNIT_CHECKPOINT && ckd_checksums_is_manifest(path))
        j->units[unit].manifest = f->idx;
    if (!f->url || !f->path) return -ENOMEM;
    ckd_file_row fr = {.job_id = j->id,
                       .idx = f->idx,
                       .unit = unit,
                       .url = f->url,
                       .path = f->path,
                       .size = f->size,
                       .size_given = f->size_given,
                       .expect = f->expect[0] ? f->expect : NULL,
                       .state = "pending",
                       .zstd = zstd};
    return ckd_store_file_insert(&j->d->store, &fr);
}

/* ---- submission -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A ".zst" URL or output name. */
static int zstd_name(const char *url, const char *path)
{
    size_t n = strcspn(url, "?#"), l = strlen(path);
    return (n >= 4 && strncmp(url + n - 4, ".zst", 4) == 0) ||
           (l > 4 && strcmp(path + l - 4, ".zst") == 0);
}

/* Validates a URL set; fills why and err_data on the first problem. */
static int check_url_files(json_t *files, int decompress, char *why, size_t whylen,
                           json_t **err_data)
{
    size_t n = json_array_size(files);
    if (!json_is_array(files) || n == 0 || n > MAX_FILES_PER_JOB) {
        snprintf(why, whylen, "'source.files' must be an array of 1 to %d files",
                 MAX_FILES_PER_JOB);
        return CKP_RPC_INVALID_PARAMS;
    }
    const char **paths = calloc(n, sizeof(*paths));
    char **owned = calloc(n, sizeof(*owned)); /* stored names that differ */
    if (!paths || !owned) {
        free(paths);
        free(owned);
        return CKP_RPC_INTERNAL_ERROR;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *fo = json_array_get(files, i);
        const char *url = json_string_value(json_object_get(fo, "url"));
        json_t *path = json_object_get(fo, "path");
        json_t *size = json_object_get(fo, "size");
        json_t *hash = json_object_get(fo, "xxh128");
        const char *bad = NULL;
        if (!json_is_object(fo) || !url || !json_is_string(path)) {
            snprintf(why, whylen, "file %zu needs string 'url' and 'path'", i);
            rc = CKP_RPC_INVALID_PARAMS;
        } else if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            snprintf(why, whylen, "file %zu: only http and https URLs are supported", i);
            rc = CKP_RPC_INVALID_PARAMS;
        } else if (ckp_path_check(json_string_value(path), json_string_length(path), &bad) < 0) {
            snprintf(why, whylen, "unsafe path '%s': %s", json_string_value(path), bad);
            *err_data = json_pack("{s:s}", "path", json_string_value(path));
            rc = CKP_RPC_UNSAFE_PATH;
        } else if (size && !json_is_null(size) &&
                   (!json_is_integer(size) || json_integer_value(size) < 0)) {
            snprintf(why, whylen, "file %zu: 'size' must be a non-negative integer", i);
            rc = CKP_RPC_INVALID_PARAMS;
        } else if (hash && !json_is_null(hash) &&
                   (!json_is_string(hash) || !ckd_hash_hex_valid(json_string_value(hash)))) {
            snprintf(why, whylen, "file %zu: 'xxh128' must be 32 hex digits", i);
            rc = CKP_RPC_INVALID_PARAMS;
        }
        paths[i] = json_string_value(path);
        if (rc == 0 && decompress && zstd_name(url, paths[i])) {
            /* Compare stored names: "x.zst" decoded is stored as "x". */
            if (!(owned[i] = ckd_zstd_stored_name(paths[i]))) rc = CKP_RPC_INTERNAL_ERROR;
            paths[i] = owned[i];
        }
    }
    if (rc == 0) {
        qsort(paths, n, sizeof(*paths), cmp_str);
        for (size_t i = 1; i < n && rc == 0; i++) {
            size_t l = strlen(paths[i - 1]);
            if (strcmp(paths[i - 1], paths[i]) == 0) {
                snprintf(why, whylen, "two files share the path '%s'", paths[i]);
                rc = CKP_RPC_INVALID_PARAMS;
            } else if (strncmp(paths[i - 1], paths[i], l) == 0 && paths[i][l] == '/') {
                /* "a" and "a/b" cannot both be files. */
                snprintf(why, whylen, "'%s' is both a file and a directory", paths[i - 1]);
                rc = CKP_RPC_INVALID_PARAMS;
            }
        }
    }
    free(paths);
    for (size_t i = 0; i < n; i++) free(owned[i]);
    free(owned);
    return rc;
}

int ckd_job_wants_decoding(const ckd_job *j, const char *url, const char *path)
{
    /* Decoding happens in the download path; local copies stay as stored. */
    if (!json_is_true(json_object_get(j->options, "decompress")) || strncmp(url, "file://", 7) == 0)
        return 0;
    return zstd_name(url, path);
}

char *ckd_zstd_stored_name(const char *path)
{
    size_t l = strlen(path);
    char *s = strdup(path);
    const char *why;
    if (s && l > 4 && strcmp(path + l - 4, ".zst") == 0) {
        s[l - 4] = '\0';
        /* "dir/.zst" would become "dir/": keep such names as they are. */
        if (ckp_path_check(s, l - 4, &why) < 0) memcpy(s, path, l + 1);
    }
    return s;
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

/* A URL set is one unit: files renamed one by one into the output. */
static int add_url_files(ckd_job *j, json_t *files)
{
    char stem[32];
    snprintf(stem, sizeof(stem), "ckptd-%lld", (long long)j->id);
    char *staging = ckd_staging_path(j->output, stem);
    if (!staging) return -ENOMEM;
    ckd_unit u = {.kind = CKD_UNIT_FILES, .target = j->output, .staging = staging};
    int rc = ckd_job_add_unit(j, &u);
    free(staging);
    size_t i;
    json_t *fo;
    json_array_foreach(files, i, fo)
    {
        if (rc < 0) break;
        json_t *size = json_object_get(fo, "size");
        const char *url = json_string_value(json_object_get(fo, "url"));
        const char *path = json_string_value(json_object_get(fo, "path"));
        int zstd = ckd_job_wants_decoding(j, url, path);
        char *stored = zstd ? ckd_zstd_stored_name(path) : strdup(path);
        rc = stored ? ckd_job_add_file(j, 0, url, stored,
                                       json_is_integer(size) ? json_integer_value(size) : -1,
                                       json_string_value(json_object_get(fo, "xxh128")), zstd)
                    : -ENOMEM;
        free(stored);
    }
    return rc;
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
    if (!json_is_object(source)) {
        snprintf(why, whylen, "'source' must be an object");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (!output || output[0] != '/') {
        snprintf(why, whylen, "'output' must be an absolute path");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (strlen(output) > 2048) {
        snprintf(why, whylen, "'output' is too long");
        return CKP_RPC_INVALID_PARAMS;
    }
    if (options && !json_is_object(options)) {
        snprintf(why, whylen, "'options' must be an object");
        return CKP_RPC_INVALID_PARAMS;
    }
    json_t *prio = options ? json_object_get(options, "priority") : NULL;
    if (prio && (!json_is_integer(prio) || json_integer_value(prio) < -1000 ||
                 json_integer_value(prio) > 1000)) {
        snprintf(why, whylen, "'options.priority' must be an integer from -1000 to 1000");
        return CKP_RPC_INVALID_PARAMS;
    }
    const char *layout = options ? json_string_value(json_object_get(options, "layout")) : NULL;
    if (layout && strcmp(layout, "by_uuid") != 0 && strcmp(layout, "direct") != 0) {
        snprintf(why, whylen, "'options.layout' must be \"by_uuid\" or \"direct\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    const char *nospace =
        options ? json_string_value(json_object_get(options, "on_no_space")) : NULL;
    if (options && json_object_get(options, "on_no_space") &&
        (!nospace || (strcmp(nospace, "wait") && strcmp(nospace, "fail")))) {
        snprintf(why, whylen, "'options.on_no_space' must be \"wait\" or \"fail\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    json_t *dec = options ? json_object_get(options, "decompress") : NULL;
    if (dec && !json_is_boolean(dec)) {
        snprintf(why, whylen, "'options.decompress' must be true or false");
        return CKP_RPC_INVALID_PARAMS;
    }
    const char *mode = options ? json_string_value(json_object_get(options, "mode")) : NULL;
    if (options && json_object_get(options, "mode") &&
        (!mode || (strcmp(mode, "auto") && strcmp(mode, "direct") && strcmp(mode, "master")))) {
        snprintf(why, whylen, "'options.mode' must be \"auto\", \"direct\" or \"master\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    const char *kind = json_string_value(json_object_get(source, "kind"));
    int urls = kind && strcmp(kind, "urls") == 0;
    if (urls && mode && strcmp(mode, "master") == 0) {
        snprintf(why, whylen, "download mode 'master' (the master's archive) is for checkpoints");
        return CKP_RPC_INVALID_PARAMS;
    }
    int rc;
    if (urls) {
        int decompress = options && json_is_true(json_object_get(options, "decompress"));
        if ((rc = check_url_files(json_object_get(source, "files"), decompress, why, whylen,
                                  err_data)) != 0)
            return rc;
    } else if (kind && strcmp(kind, "follow") == 0) {
        if (ckd_follow_check_source(source, why, whylen) < 0) return CKP_RPC_INVALID_PARAMS;
        if (!d->master) {
            snprintf(why, whylen,
                     "no Determined master is configured: start ckptd with "
                     "--master URL or DET_MASTER");
            return CKP_RPC_INVALID_PARAMS;
        }
    } else if (kind && (strcmp(kind, "checkpoint") == 0 || strcmp(kind, "trial") == 0 ||
                        strcmp(kind, "experiment") == 0)) {
        if (ckd_resolve_check_source(source, why, whylen) < 0) return CKP_RPC_INVALID_PARAMS;
        if (!d->master) {
            snprintf(why, whylen,
                     "no Determined master is configured: start ckptd with "
                     "--master URL or DET_MASTER");
            return CKP_RPC_INVALID_PARAMS;
        }
    } else {
        snprintf(why, whylen, "unknown source kind '%s'", kind ? kind : "(none)");
        return CKP_RPC_INVALID_PARAMS;
    }

    ckd_job *j = job_new(d);
    if (!j) return CKP_RPC_INTERNAL_ERROR;
    j->state = CKD_JOB_QUEUED;
    j->kind = strdup(kind);
    j->source = json_incref(source);
    j->options = options ? json_incref(options) : json_object();
    j->priority = prio ? (int)json_integer_value(prio) : 0;
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
        job_free(j);
        snprintf(why, whylen, "cannot record the job: %s", ckd_store_errmsg(&d->store));
        return CKP_RPC_INTERNAL_ERROR;
    }
    job_link(d, j);
    if (urls)
        ckd_job_log(j, "info", "submitted: %zu files to '%s'", j->nfiles, output);
    else
        ckd_job_log(j, "info", "submitted: %s to '%s'", kind, output);
    ckd_events_job(d, j);
    ckd_sched_kick(d);
    *out = j;
    return 0;
}

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
                  .via = r->via};
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
    x->manifest = -1;
    if (!x->dirs) x->dirs = json_array();
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
        j->nfiles = n;
    }
    ckd_file *f = &j->files[r->idx];
    if (r->unit < 0 || (size_t)r->unit >= j->nunits) return c->rc = -EINVAL;
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
    /* Only verified and failed survive a restart; anything in between is
     * re-proven from the journal. */
    f->state = st == CKD_FILE_VERIFIED || st == CKD_FILE_FAILED ? (enum ckd_file_state)st
                                                                : CKD_FILE_PENDING;
    if (f->state == CKD_FILE_VERIFIED && !r->hash) f->state = CKD_FILE_PENDING;
    if (j->units[f->unit].kind == CKD_UNIT_CHECKPOINT && f->path &&
        ckd_checksums_is_manifest(f->path))
        j->units[f->unit].manifest = f->idx;
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
    /* The claimed hashes are read again by job_prepare (seg_claim). */
    f->layout_saved = 1;
    if (f->zstd && !f->zd && zstd_init(f) < 0) return c->rc = -ENOMEM;
    return 0;
}

/* The journaled segment hashes, kept only until the prepare pass uses them. */
typedef struct seg_claim {
    int idx;
    int64_t start, done, decoded;
    char hash[33];
} seg_claim;

struct claim_ctx {
    seg_claim *v;
    size_t n, cap;
};

static int load_claim(void *ud, const ckd_seg_row *r)
{
    struct claim_ctx *c = ud;
    if (!r->hash || r->done <= 0) return 0;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        seg_claim *nv = realloc(c->v, ncap * sizeof(*nv));
        if (!nv) return -1;
        c->v = nv;
        c->cap = ncap;
    }
    seg_claim *cl = &c->v[c->n++];
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
    ckd_job *j = job_new(c->d);
    if (!j) return c->rc = -ENOMEM;
    j->id = r->id;
    int st = ckd_job_state_parse(r->state);
    j->state = st < 0 ? CKD_JOB_FAILED : (enum ckd_job_state)st;
    j->kind = strdup(r->kind);
    j->source = json_loads(r->source, 0, NULL);
    j->options = json_loads(r->options, 0, NULL);
    j->priority = r->priority;
    j->error = r->error ? strdup(r->error) : NULL;
    j->created = r->created;
    j->updated = r->updated;
    j->output = strdup(r->output);
    if (!j->kind || !j->source || !j->options || !j->output) {
        job_free(j);
        return c->rc = -ENOMEM;
    }
    c->j = j;
    if (ckd_store_each_unit(&c->d->store, j->id, load_unit, c) < 0 || c->rc < 0 ||
        ckd_store_each_file(&c->d->store, j->id, load_file, c) < 0 || c->rc < 0 ||
        ckd_store_each_seg(&c->d->store, j->id, load_seg, c) < 0 || c->rc < 0) {
        job_free(j);
        return c->rc ? c->rc : (c->rc = -EIO);
    }
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        j->units[f->unit].nfiles++;
        if (f->state == CKD_FILE_VERIFIED) j->files_verified++, j->units[f->unit].verified++;
        if (f->state == CKD_FILE_FAILED) j->files_failed++;
    }
    j->recheck = 1;
    j->cleaned = j->state == CKD_JOB_DONE;
    job_link(c->d, j);
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
        case CKD_JOB_CANCELED:
            job_cleanup(j); /* a crash may have left staging behind */
            break;
        default:
            break;
        }
    }
    ckd_store_commit(&d->store);
    ckd_sched_kick(d);
    return 0;
}

/* ---- control ------------------------------------------------------------ */

static void job_abort_transfers(ckd_job *j)
{
    j->fd_cleanup = 1;
    for (size_t u = 0; u < j->nunits; u++) ckd_archive_abort(j->units[u].archive);
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
        if (f->state == CKD_FILE_ACTIVE) f->state = CKD_FILE_PENDING;
        f->held = 0; /* written but unverified: written again on resume */
    }
}

int ckd_job_pause(ckd_job *j)
{
    if (j->publishing) return CKP_RPC_BAD_TRANSITION;
    switch (j->state) {
    case CKD_JOB_QUEUED:
    case CKD_JOB_RESOLVING:
    case CKD_JOB_RUNNING:
    case CKD_JOB_WAITING:
        break;
    default:
        return CKP_RPC_BAD_TRANSITION;
    }
    ckd_job_set_state(j, CKD_JOB_PAUSED, NULL);
    ckd_follow_stop(j);
    job_abort_transfers(j);
    ckd_sched_kick(j->d);
    return 0;
}

int ckd_job_resume(ckd_job *j)
{
    if (j->state != CKD_JOB_PAUSED && j->state != CKD_JOB_FAILED) return CKP_RPC_BAD_TRANSITION;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (f->state != CKD_FILE_FAILED) continue;
        f->state = CKD_FILE_PENDING;
        f->verify_attempts = 0;
        free(f->error);
        f->error = NULL;
        for (int k = 0; k < f->nsegs; k++) f->segs[k].attempts = 0, f->segs[k].first_fail_ms = 0;
        j->files_failed--;
        file_persist(f);
    }
    j->sched_from = 0;
    ckd_job_set_state(j, CKD_JOB_QUEUED, NULL);
    ckd_sched_kick(j->d);
    return 0;
}

int ckd_job_cancel(ckd_job *j)
{
    if (j->state == CKD_JOB_DONE || j->state == CKD_JOB_CANCELED || j->publishing)
        return CKP_RPC_BAD_TRANSITION;
    ckd_job_set_state(j, CKD_JOB_CANCELED, NULL);
    ckd_follow_stop(j);
    job_abort_transfers(j);
    job_cleanup(j);
    return 0;
}

void ckd_job_disk_error(ckd_job *j, const char *path, int err)
{
    if (job_terminal(j) || j->state == CKD_JOB_PAUSED) return;
    char msg[1200];
    snprintf(msg, sizeof(msg), "cannot write '%s': %s", path, strerror(-err));
    ckd_job_set_state(j, CKD_JOB_FAILED, msg);
    job_abort_transfers(j);
    ckd_sched_kick(j->d);
}

/* ---- segment and file outcomes ------------------------------------------ */

int ckd_job_mode_auto(const ckd_job *j)
{
    const char *mode = json_string_value(json_object_get(j->options, "mode"));
    return !mode || strcmp(mode, "auto") == 0;
}

void ckd_unit_use_master(ckd_job *j, int u, const char *why)
{
    ckd_unit *un = &j->units[u];
    un->via = CKD_VIA_MASTER;
    ckd_job_log(j, "warn", "checkpoint %s: %s; downloading it through the master instead", un->uuid,
                why);
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (f->unit != u || (f->state != CKD_FILE_PENDING && f->state != CKD_FILE_ACTIVE)) continue;
        /* The archive writes whole files: what the direct route left goes. */
        for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
        f->state = CKD_FILE_PENDING;
        f->reset_pending = 1;
        if ((size_t)f->idx < j->sched_from) j->sched_from = (size_t)f->idx;
    }
    ckd_store_unit_status(&j->d->store, j->id, u, un->status, un->via);
    ckd_sched_kick(j->d);
}

void ckd_unit_access_denied(ckd_file *f, const char *msg)
{
    ckd_job *j = f->job;
    const ckd_unit *un = &j->units[f->unit];
    /* Not for azure: the master has no archive of its checkpoints. */
    if (un->kind != CKD_UNIT_CHECKPOINT || un->via != CKD_VIA_DIRECT || !ckd_job_mode_auto(j) ||
        !j->d->master || (un->storage && strcmp(un->storage, "azure") == 0)) {
        ckd_file_fail(f, "%s", msg);
        return;
    }
    ckd_unit_use_master(j, f->unit, msg);
}

void ckd_file_fail(ckd_file *f, const char *fmt, ...)
{
    ckd_job *j = f->job;
    if (f->state == CKD_FILE_FAILED) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
    f->state = CKD_FILE_FAILED;
    free(f->error);
    f->error = strdup(msg);
    j->files_failed++;
    j->fd_cleanup = 1;
    file_persist(f);
    ckd_job_log(j, "error", "%s", msg);
    ckd_sched_kick(j->d);
}

void ckd_file_restart(ckd_file *f, const char *why)
{
    ckd_job_log(f->job, "warn", "restarting '%s' from zero: %s", f->path, why);
    for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
    f->state = CKD_FILE_PENDING;
    free(f->validator);
    f->validator = NULL;
    /* The reset itself waits for in-flight writes (see sched_file). */
    f->reset_pending = 1;
    if ((size_t)f->idx < f->job->sched_from) f->job->sched_from = (size_t)f->idx;
    ckd_sched_kick(f->job->d);
}

void ckd_seg_retry(ckd_seg *s, double retry_after_s, const char *why)
{
    ckd_file *f = s->file;
    ckd_daemon *d = f->job->d;
    uint64_t now = ckd_now_ms();
    if (s->first_fail_ms == 0) s->first_fail_ms = now;
    s->attempts++;
    if (s->attempts > d->cfg.retry_max ||
        (int64_t)(now - s->first_fail_ms) > d->cfg.retry_budget * 1000) {
        ckd_file_fail(f, "%s (gave up after %d attempts)", why, s->attempts);
        return;
    }
    uint64_t delay;
    if (retry_after_s >= 0) {
        delay = (uint64_t)(retry_after_s * 1000.0);
        if (delay > 600000) delay = 600000;
    } else {
        /* Exponential back-off with full jitter. */
        uint64_t cap = 250ull << (s->attempts < 8 ? s->attempts : 8);
        if (cap > 30000) cap = 30000;
        delay = (uint64_t)rand() % (cap + 1);
    }
    s->not_before_ms = now + delay;
    if (f->state == CKD_FILE_ACTIVE) f->state = CKD_FILE_PENDING;
    ckd_job_log(f->job, "warn", "retrying '%s' in %.1fs (attempt %d): %s", f->path,
                (double)delay / 1000.0, s->attempts + 1, why);
    ckd_sched_kick(d);
}

static int file_all_written(const ckd_file *f)
{
    if (f->nsegs == 0) return 0;
    for (int i = 0; i < f->nsegs; i++) {
        const ckd_seg *s = &f->segs[i];
        if (s->xfer || s->inflight || s->end < 0 || s->start + s->written != s->end) return 0;
    }
    return 1;
}

void ckd_seg_finished(ckd_seg *s, int ok)
{
    ckd_file *f = s->file;
    s->attempts = 0;
    s->first_fail_ms = 0;
    if (f->state == CKD_FILE_FAILED || f->reset_pending) {
        ckd_sched_kick(f->job->d);
        return;
    }
    if (file_all_written(f)) file_finish(f);
    ckd_sched_kick(f->job->d);
}

static void file_verify(ckd_file *f);

void ckd_job_forget_resolution(ckd_job *j)
{
    for (size_t i = 0; i < j->nfiles; i++) file_release(&j->files[i]);
    free(j->files);
    j->files = NULL;
    j->nfiles = j->files_verified = j->files_failed = 0;
    for (size_t i = 0; i < j->nunits; i++) unit_release(&j->units[i]);
    free(j->units);
    j->units = NULL;
    j->nunits = 0;
    ckd_store_job_forget_files(&j->d->store, j->id);
}

void ckd_job_resolved(ckd_job *j)
{
    j->resolve_attempts = 0;
    ckd_store_commit(&j->d->store);
    ckd_job_set_state(j, CKD_JOB_RUNNING, NULL);
    job_prepare(j);
}

void ckd_file_copied(ckd_file *f, int64_t size)
{
    if (segs_alloc(f, 1) < 0) {
        ckd_file_fail(f, "out of memory");
        return;
    }
    f->segs[0].end = f->segs[0].written = size;
    if (!f->size_given) f->size = size;
    file_verify(f);
}

/* Size and hash are known: accept, refetch once, or fail. */
static void file_verify(ckd_file *f)
{
    ckd_job *j = f->job;
    char why[512] = "";
    if (f->size_given && f->segs && f->nsegs > 0 && f->segs[f->nsegs - 1].end != f->size)
        snprintf(why, sizeof(why), "size mismatch for '%s': got %lld bytes, expected %lld", f->path,
                 (long long)f->segs[f->nsegs - 1].end, (long long)f->size);
    else if (f->expect[0] && strcmp(f->expect, f->hash) != 0)
        snprintf(why, sizeof(why), "xxh128 mismatch for '%s': got %s, expected %s", f->path,
                 f->hash, f->expect);
    if (why[0] && f->twin) {
        /* The other copy changed under us: fetch this file from its source. */
        ckd_job_log(j, "warn", "%s in the local copy: fetching it instead", why);
        f->twin = 0;
        f->no_twin = 1;
        ckd_file_restart(f, why);
        return;
    }
    if (why[0]) {
        if (f->verify_attempts++ == 0) {
            ckd_file_restart(f, why);
        } else {
            ckd_file_fail(f, "%s", why);
        }
        return;
    }
    job_fetched(j, f);
}

/* ---- scheduling ----------------------------------------------------------- */

static void on_kick(uv_timer_t *t)
{
    ckd_sched_run(t->data);
}

void ckd_sched_kick(ckd_daemon *d)
{
    if (!uv_is_active((uv_handle_t *)&d->kick)) uv_timer_start(&d->kick, on_kick, 0, 0);
}

/* Decides how a file is cut into ranges before its first transfer. */
static int file_layout(ckd_file *f)
{
    const ckd_config *cfg = &f->job->d->cfg;
    int n = 1;
    if (f->zstd && zstd_init(f) < 0) return -ENOMEM;
    if (f->size >= cfg->segment_threshold && !f->no_ranges && !f->zstd) {
        int64_t by_size = f->size / MIN_SEGMENT;
        n = (int)(by_size < cfg->max_segments ? by_size : cfg->max_segments);
        if (n < 1) n = 1;
    }
    if (segs_alloc(f, n) < 0) return -ENOMEM;
    int64_t step = f->size >= 0 ? f->size / n : 0;
    for (int i = 0; i < n; i++) {
        f->segs[i].start = (int64_t)i * step;
        f->segs[i].end = i == n - 1 ? f->size : (int64_t)(i + 1) * step;
    }
    /* Journal rows for anything big enough to be worth resuming. */
    f->layout_saved = 0;
    if (n > 1 || f->size < 0 || f->size >= cfg->journal_step || f->zstd) {
        ckd_store_seg_delete(&f->job->d->store, f->job->id, f->idx);
        for (int i = 0; i < n; i++) {
            ckd_seg_row r = {.job_id = f->job->id,
                             .idx = f->idx,
                             .start = f->segs[i].start,
                             .end = f->segs[i].end};
            ckd_store_seg_insert(&f->job->d->store, &r);
        }
        f->layout_saved = 1;
    }
    return 0;
}

/* A file of unknown size turned out large and rangeable while its first
 * transfer runs: cut the rest into ranges for other connections. */
static void file_split_running(ckd_file *f)
{
    const ckd_config *cfg = &f->job->d->cfg;
    ckd_seg *s0 = &f->segs[0];
    ckd_xfer *x = s0->xfer;
    /* After the first write the fd is open and stays open until the stream
     * ends, so new ranges can share it without racing the opener. */
    if (!x || x->curl_done || s0->written == 0 || f->size < cfg->segment_threshold ||
        f->no_ranges || f->fd < 0 || f->zstd)
        return;
    int64_t at = x->req_off + x->received + (int64_t)SPLIT_SLACK;
    int64_t rest = f->size - at;
    int n = (int)(rest / MIN_SEGMENT);
    if (n > cfg->max_segments - 1) n = (int)cfg->max_segments - 1;
    if (n < 1) return;
    ckd_seg *ns = realloc(f->segs, (size_t)(n + 1) * sizeof(*ns));
    if (!ns) return;
    f->segs = ns;
    s0 = &f->segs[0];
    s0->xfer->seg = s0; /* the array moved */
    int64_t step = rest / (n + 1);
    s0->end = at + step;
    for (int i = 1; i <= n; i++) {
        ckd_seg *s = &f->segs[i];
        memset(s, 0, sizeof(*s));
        s->file = f;
        s->start = f->segs[i - 1].end;
        s->end = i == n ? f->size : s->start + step;
        s->hash = XXH3_createState();
        XXH3_128bits_reset(s->hash);
    }
    f->nsegs = n + 1;
    ckd_store_seg_delete(&f->job->d->store, f->job->id, f->idx);
    for (int i = 0; i <= n; i++) {
        ckd_seg_row r = {
            .job_id = f->job->id, .idx = f->idx, .start = f->segs[i].start, .end = f->segs[i].end};
        ckd_store_seg_insert(&f->job->d->store, &r);
    }
    f->layout_saved = 1;
    ckd_job_log(f->job, "debug", "'%s' split into %d ranges", f->path, f->nsegs);
}

static int file_idle(const ckd_file *f)
{
    if (f->opening || f->io) return 0;
    for (int i = 0; i < f->nsegs; i++)
        if (f->segs[i].xfer || f->segs[i].inflight) return 0;
    return 1;
}

static void file_open_work(uv_work_t *req);
static void file_open_done(uv_work_t *req, int status);

/* No file of unit u has a transfer or pool work in flight. */
static int unit_idle(const ckd_job *j, int u)
{
    for (size_t i = 0; i < j->nfiles; i++)
        if (j->files[i].unit == u && !file_idle(&j->files[i])) return 0;
    return 1;
}

/* After a restart an object-store unit has no credentials in memory (they
 * are never stored): find them again from the environment or the files. */
static int unit_find_creds(ckd_file *f)
{
    ckd_unit *un = &f->job->units[f->unit];
    json_t *cfg = json_object_get(
        json_object_get(json_object_get(un->checkpoint, "training"), "experimentConfig"),
        "checkpoint_storage");
    ckd_det_storage st = {0};
    char err[600] = "";
    int rc = ckd_det_storage_from_json(cfg, &st, err, sizeof(err));
    if (rc == 0) rc = ckd_storage_auth_resolve(&un->auth, &st, err, sizeof(err));
    ckd_det_storage_release(&st);
    if (rc < 0) {
        ckd_file_fail(f, "checkpoint %s: %s", un->uuid, err[0] ? err : "out of memory");
        return rc;
    }
    return 0;
}

/* The same checkpoint wanted in another place: 1 while an earlier job still
 * fetches it there (wait, then copy it locally); 0 with *src set to a
 * verified copy of f that ckptd published there (and f->expect set to its
 * hash); -1 when f must come from its source. */
static int twin_source(const ckd_file *f, char **src, char expect[33])
{
    const ckd_job *j = f->job;
    const ckd_unit *un = &j->units[f->unit];
    *src = NULL;
    if (un->kind != CKD_UNIT_CHECKPOINT || f->no_twin) return -1;
    int wait = 0;
    for (const ckd_job *k = j->d->jobs; k; k = k->next) {
        for (size_t v = 0; v < k->nunits; v++) {
            const ckd_unit *o = &k->units[v];
            if (o == un || o->kind != CKD_UNIT_CHECKPOINT || strcmp(o->uuid, un->uuid) != 0 ||
                strcmp(o->target, un->target) == 0)
                continue;
            if (o->status == CKD_UNIT_PENDING) {
                /* Only earlier jobs are waited for: two never wait for each other. */
                wait |= k->id < j->id && !job_terminal(k) && k->state != CKD_JOB_PAUSED;
                continue;
            }
            for (size_t i = 0; i < k->nfiles; i++) {
                const ckd_file *g = &k->files[i];
                if ((size_t)g->unit != v || g->state != CKD_FILE_VERIFIED ||
                    strcmp(g->path, f->path) != 0 || (f->expect[0] && strcmp(f->expect, g->hash)))
                    continue;
                /* A copy removed since (one access(2) here is cheap) is no source. */
                char *path = ckd_path_join(o->target, f->path);
                if (!path || access(path, R_OK) != 0) {
                    free(path);
                    break;
                }
                *src = path;
                memcpy(expect, g->hash, 33);
                return 0;
            }
        }
    }
    return wait ? 1 : -1;
}

/* Starts what a file can start; returns the connections it took. */
static int sched_file(ckd_daemon *d, ckd_file *f, int slots, uint64_t now)
{
    if (f->reset_pending) {
        /* A restart from zero waits until nothing of the file is in flight. */
        if (!file_idle(f)) return 0;
        file_reset(f);
    }
    if (f->state != CKD_FILE_PENDING && f->state != CKD_FILE_ACTIVE) return 0;
    ckd_unit *un = &f->job->units[f->unit];
    /* A checkpoint's checksums.xxh128 comes first (the archive brings it
     * along with the rest, holding early files until it is applied). */
    if (ckd_checksums_gate(f) && un->via != CKD_VIA_MASTER) return 0;
    if (f->state == CKD_FILE_PENDING && file_idle(f) && !un->archive) {
        /* Fetched once, copied to every other place that wants it. */
        char *src, expect[33];
        int t = twin_source(f, &src, expect);
        if (t == 1) return 0;
        if (t == 0) {
            memcpy(f->expect, expect, sizeof(f->expect));
            if (!un->twin_logged)
                ckd_job_log(f->job, "info",
                            "checkpoint %s: copying its files from '%.*s', a verified copy here",
                            un->uuid, (int)(strlen(src) - strlen(f->path) - 1), src);
            un->twin_logged = 1;
            int rc = ckd_copy_start_twin(d, f, src);
            free(src);
            return rc == 0 ? 1 : 0;
        }
    }
    if (f->twin) return 0; /* its local copy is in flight */
    if (un->via == CKD_VIA_MASTER) {
        /* One archive brings every pending file of the checkpoint. */
        if (un->archive || f->state != CKD_FILE_PENDING || now < un->arc_not_before_ms ||
            !unit_idle(f->job, f->unit))
            return 0;
        return ckd_archive_start(f->job, (size_t)f->unit) == 0 ? 1 : 0;
    }
    if (strncmp(f->url, "file://", 7) == 0) {
        /* Mounted storage: one local copy, no ranges. */
        if (f->state != CKD_FILE_PENDING || !file_idle(f)) return 0;
        return ckd_copy_start(d, f) == 0 ? 1 : 0;
    }
    if (ckd_storage_is_object_store(un->storage) && !ckd_storage_auth_ready(&un->auth) &&
        unit_find_creds(f) < 0)
        return 0;
    if (f->nsegs == 0 && file_layout(f) < 0) return 0;
    if (f->state == CKD_FILE_PENDING && file_all_written(f) && file_idle(f)) {
        /* Empty files, and files whose ranges were all re-proven. */
        file_finish(f);
        return 0;
    }
    if (f->nsegs == 1 && f->segs[0].xfer && f->size >= 0 && f->segs[0].end == f->size)
        file_split_running(f);
    /* Several writers share one fd: open it before any range starts. */
    if (f->nsegs > 1 && f->fd < 0) {
        if (!f->opening && file_idle(f)) {
            f->opening = 1;
            uv_work_t *w = calloc(1, sizeof(*w));
            if (!w) return 0;
            w->data = f;
            f->job->busy++;
            uv_queue_work(d->loop, w, file_open_work, file_open_done);
        }
        return 0;
    }
    int taken = 0;
    for (int i = 0; i < f->nsegs && taken < slots; i++) {
        ckd_seg *s = &f->segs[i];
        if (s->xfer || s->inflight || s->not_before_ms > now) continue;
        if (s->end >= 0 && s->start + s->written >= s->end) continue;
        if (ckd_xfer_start(d, s) == 0) {
            taken++;
            f->state = CKD_FILE_ACTIVE;
        }
    }
    return taken;
}

/* Another, earlier job that is still going writes the same checkpoint to
 * the same place: wait for it and take its copy (publish_done re-checks),
 * instead of downloading it twice. */
static int unit_has_twin(const ckd_job *j, int u)
{
    const ckd_unit *un = &j->units[u];
    if (un->kind != CKD_UNIT_CHECKPOINT || un->status != CKD_UNIT_PENDING) return 0;
    for (const ckd_job *k = j->d->jobs; k && k->id < j->id; k = k->next) {
        if (job_terminal(k) || k->state == CKD_JOB_PAUSED) continue;
        for (size_t v = 0; v < k->nunits; v++)
            if (k->units[v].status == CKD_UNIT_PENDING && k->units[v].kind == CKD_UNIT_CHECKPOINT &&
                strcmp(k->units[v].target, un->target) == 0)
                return 1;
    }
    return 0;
}

static int file_wants_sched(const ckd_file *f)
{
    return f->state == CKD_FILE_PENDING || f->state == CKD_FILE_ACTIVE || f->reset_pending;
}

/* Closes the staging fds of files that stopped (failed, or their job was
 * paused or failed) once nothing of theirs is in flight. */
static void job_close_idle_fds(ckd_job *j)
{
    if (!j->fd_cleanup) return;
    int left = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        int stopped = f->state == CKD_FILE_FAILED || j->state != CKD_JOB_RUNNING;
        if (f->fd < 0 || !stopped) continue;
        if (file_idle(f)) {
            close(f->fd);
            f->fd = -1;
        } else {
            left = 1;
        }
    }
    j->fd_cleanup = left;
}

static int cmp_priority(const void *a, const void *b)
{
    const ckd_job *x = *(ckd_job *const *)a, *y = *(ckd_job *const *)b;
    if (x->priority != y->priority) return y->priority - x->priority;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Publishes units whose files are all verified, one at a time; ends the
 * job when every unit is out or nothing more can happen. */
static void job_check_end(ckd_job *j)
{
    if (j->state != CKD_JOB_RUNNING || !j->prepared || j->publishing) return;
    size_t out = 0;
    for (size_t u = 0; u < j->nunits; u++) {
        ckd_unit *un = &j->units[u];
        if (un->status != CKD_UNIT_PENDING) {
            out++;
        } else if (un->verified == un->nfiles) {
            unit_publish(j, u);
            return;
        }
    }
    if (out == j->nunits) {
        ckd_job_set_state(j, CKD_JOB_DONE, NULL);
        return;
    }
    if (j->files_verified + j->files_failed < j->nfiles || !job_quiet(j)) return;
    const ckd_file *first = NULL;
    for (size_t i = 0; i < j->nfiles && !first; i++)
        if (j->files[i].state == CKD_FILE_FAILED) first = &j->files[i];
    char msg[1400];
    snprintf(msg, sizeof(msg), "%zu of %zu files failed; first: %s", j->files_failed, j->nfiles,
             first && first->error ? first->error : "?");
    ckd_job_set_state(j, CKD_JOB_FAILED, msg);
}

/* Starts up to budget transfers of one job; returns how many. */
static int sched_job_files(ckd_daemon *d, ckd_job *j, int budget, uint64_t now)
{
    /* Files before sched_from are fetched, verified or failed: skip
     * them, so a pass costs the files in flight, not the whole job. */
    while (j->sched_from < j->nfiles && !file_wants_sched(&j->files[j->sched_from]))
        j->sched_from++;
    int taken = 0;
    for (size_t i = j->sched_from; i < j->nfiles && taken < budget; i++) {
        ckd_file *f = &j->files[i];
        if (file_wants_sched(f) && !unit_has_twin(j, f->unit))
            taken += sched_file(d, f, budget - taken, now);
    }
    return taken;
}

void ckd_sched_run(ckd_daemon *d)
{
    if (d->stopping) return;
    size_t n = 0;
    for (ckd_job *j = d->jobs; j; j = j->next) n++;
    ckd_job **order = malloc((n ? n : 1) * sizeof(*order));
    if (!order) return;
    n = 0;
    uint64_t now0 = ckd_now_ms();
    for (ckd_job *j = d->jobs; j; j = j->next) {
        if (j->state == CKD_JOB_WAITING && j->nunits == 0 && now0 >= j->not_before_ms) {
            ckd_job_set_state(j, CKD_JOB_RESOLVING, j->error);
            ckd_resolve_start(j);
        } else if (j->state == CKD_JOB_WAITING && j->nunits > 0 && now0 >= j->not_before_ms &&
                   job_quiet(j)) {
            ckd_job_set_state(j, CKD_JOB_QUEUED, j->error); /* look at the free space again */
        }
        if (j->state == CKD_JOB_QUEUED || j->state == CKD_JOB_RUNNING) order[n++] = j;
    }
    qsort(order, n, sizeof(*order), cmp_priority);
    uint64_t now = ckd_now_ms();
    int slots = (int)d->cfg.max_connections - d->xe.active - d->copies - d->archives;
    /* No starvation: a running job with nothing in flight gets one
     * connection before higher priorities take the rest. */
    for (size_t k = 0; k < n && slots > 1; k++) {
        ckd_job *j = order[k];
        if (j->state == CKD_JOB_RUNNING && j->prepared && j->xfers == 0 && j->busy == 0)
            slots -= sched_job_files(d, j, 1, now);
    }
    for (size_t k = 0; k < n; k++) {
        ckd_job *j = order[k];
        if (j->state == CKD_JOB_QUEUED && strcmp(j->kind, "follow") == 0) {
            ckd_follow_start(j); /* polls; its downloads are child jobs */
            continue;
        }
        if (j->state == CKD_JOB_QUEUED && j->nunits == 0) {
            /* A checkpoint job: ask the master what it means first. */
            ckd_job_set_state(j, CKD_JOB_RESOLVING, NULL);
            ckd_resolve_start(j);
            continue;
        }
        if (j->state == CKD_JOB_QUEUED) {
            if (slots <= 0) continue;
            ckd_job_set_state(j, CKD_JOB_RUNNING, NULL);
            job_prepare(j);
            continue;
        }
        if (!j->prepared) continue;
        slots -= sched_job_files(d, j, slots, now);
        job_close_idle_fds(j);
        job_check_end(j);
    }
    free(order);
    /* Jobs that stopped (paused, failed, canceled) and went quiet. */
    for (ckd_job *j = d->jobs; j; j = j->next) {
        if (j->state == CKD_JOB_CANCELED && !j->cleaned && job_quiet(j)) job_cleanup(j);
        if (j->state == CKD_JOB_PAUSED || j->state == CKD_JOB_FAILED) job_close_idle_fds(j);
    }
}

/* ---- pool work: open, finish, prepare, flush, publish, cleanup ---------- */

static void file_open_work(uv_work_t *req)
{
    ckd_file *f = req->data;
    char *path = ckd_file_staging_path(f);
    if (!path) return;
    if (ckd_mkdir_parents(file_staging_dir(f), f->path) == 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0 && f->size > 0) {
            /* Preallocate: fewer extents, and ENOSPC now rather than midway. */
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size < f->size &&
                posix_fallocate(fd, 0, f->size) != 0 && ftruncate(fd, f->size) != 0) {
                close(fd);
                fd = -1;
                errno = ENOSPC;
            }
        }
        f->fd = fd;
        if (fd < 0) f->io = -errno; /* read back on the loop, reset there */
    }
    free(path);
}

static void file_open_done(uv_work_t *req, int status)
{
    ckd_file *f = req->data;
    free(req);
    f->opening = 0;
    f->job->busy--;
    if (f->fd < 0) {
        int err = f->io < 0 ? f->io : -EIO;
        f->io = 0;
        char *path = ckd_file_staging_path(f);
        ckd_job_disk_error(f->job, path ? path : f->path, err);
        free(path);
    }
    ckd_sched_kick(f->job->d);
}

typedef struct finish_req {
    uv_work_t work;
    ckd_file *file;
    int err;
    unsigned char digest[16];
} finish_req;

/* Whole-file pass: create an empty file if nothing was written, trim any
 * tail beyond the size, hash the bytes in order, close. */
static void file_finish_work(uv_work_t *req)
{
    finish_req *r = req->data;
    ckd_file *f = r->file;
    int fd = f->fd;
    if (fd < 0) {
        char *path = ckd_file_staging_path(f);
        if (!path || ckd_mkdir_parents(file_staging_dir(f), f->path) < 0 ||
            (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
            r->err = -errno ? -errno : -ENOMEM;
            free(path);
            return;
        }
        free(path);
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size != f->size && ftruncate(fd, f->size) != 0) {
        r->err = -errno;
    }
    XXH3_state_t *h = XXH3_createState();
    if (!h) r->err = -ENOMEM;
    if (r->err == 0) {
        XXH3_128bits_reset(h);
        r->err = ckd_hash_fd_range(fd, 0, f->size, h);
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
        memcpy(r->digest, c.digest, 16);
    }
    XXH3_freeState(h);
    close(fd);
    f->fd = -1;
}

static void file_finish_done(uv_work_t *req, int status)
{
    finish_req *r = req->data;
    ckd_file *f = r->file;
    ckd_job *j = f->job;
    f->io--;
    j->busy--;
    int err = r->err;
    if (err == 0) ckd_hash_hex(r->digest, f->hash);
    free(r);
    if (f->state == CKD_FILE_FAILED || f->reset_pending || job_terminal(j) ||
        j->state == CKD_JOB_PAUSED) {
        ckd_sched_kick(j->d);
        return;
    }
    if (err < 0) {
        char *path = ckd_file_staging_path(f);
        ckd_job_disk_error(j, path ? path : f->path, err);
        free(path);
        return;
    }
    file_verify(f);
    ckd_sched_kick(j->d);
}

/* Every byte of f is written. A single stream already hashed it in order
 * and closed the file; otherwise hash it in one read-back pass. */
static void file_finish(ckd_file *f)
{
    if (f->nsegs == 1 && f->fd < 0 && f->hash[0] && f->segs[0].start == 0 &&
        (f->zstd || f->segs[0].written == f->size)) {
        file_verify(f);
        return;
    }
    finish_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    r->file = f;
    r->work.data = r;
    f->io++;
    f->job->busy++;
    f->state = CKD_FILE_ACTIVE;
    uv_queue_work(f->job->d->loop, &r->work, file_finish_work, file_finish_done);
}

/* Back to nothing: used when the server's copy changed or a hash was wrong. */
static void file_reset(ckd_file *f)
{
    segs_free(f);
    zstd_release(f);
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    /* A later open must not find old bytes: remove the staging file now. A
     * single unlink of a small path is cheap enough for the loop. */
    char *path = ckd_file_staging_path(f);
    if (path) unlink(path);
    free(path);
    f->hash[0] = '\0';
    if (!f->size_given) f->size = -1;
    f->layout_saved = 0;
    f->reset_pending = 0;
    f->no_ranges = 0;
    ckd_store_seg_delete(&f->job->d->store, f->job->id, f->idx);
    file_persist(f);
}

/* Prepare: create the staging directory; after a restart, re-prove every
 * byte the store claims before trusting it. */
typedef struct prep_req {
    uv_work_t work;
    ckd_job *job;
    char where[1024];
    int64_t need, avail; /* bytes still to write (plus the reserve), and free */
    seg_claim *claims;
    size_t nclaims;
    int err;
    int conflict; /* 1 + the unit whose target holds a file that is not ckptd's */
    size_t reproven, rejected;
} prep_req;

static int hash_range(int fd, int64_t off, int64_t len, XXH3_state_t *h, char hex[33])
{
    int rc = ckd_hash_fd_range(fd, off, len, h);
    if (rc == 0) ckd_hash_state_hex(h, hex);
    return rc;
}

/* Free space where the job writes, against what it still has to write plus
 * the configured reserve. Sizes not yet known count as zero. Pool thread. */
static void check_space(prep_req *r)
{
    ckd_job *j = r->job;
    int64_t need = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        const ckd_file *f = &j->files[i];
        if (f->state == CKD_FILE_VERIFIED || f->size < 0 ||
            j->units[f->unit].status != CKD_UNIT_PENDING)
            continue;
        int64_t done = 0;
        for (int k = 0; k < f->nsegs; k++) done += f->segs[k].written;
        need += f->size > done ? f->size - done : 0;
    }
    if (need == 0 || j->nunits == 0) return;
    struct statvfs sv;
    if (statvfs(j->units[0].staging, &sv) != 0) return;
    r->avail = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    r->need = need + j->d->cfg.disk_reserve;
}

static void prepare_work(uv_work_t *req)
{
    prep_req *r = req->data;
    ckd_job *j = r->job;
    /* Only staging directories are created here: a checkpoint's target
     * appears by its rename, so a failed job leaves no empty target. */
    for (size_t u = 0; u < j->nunits; u++) {
        ckd_unit *un = &j->units[u];
        if (un->status != CKD_UNIT_PENDING) continue;
        if (un->kind == CKD_UNIT_CHECKPOINT && ckd_manifest_check(j, u) == 0) {
            un->status = CKD_UNIT_PRESENT; /* logged, counted and persisted on the loop */
            un->found_present = 1;
            continue;
        }
        /* Fail before fetching what could not be published. */
        if (un->kind == CKD_UNIT_CHECKPOINT &&
            target_conflict(j, u, 1, NULL, r->where, sizeof(r->where))) {
            r->conflict = (int)u + 1;
            r->err = -EEXIST;
            return;
        }
        if ((r->err = ckd_dir_own(un->staging)) < 0) {
            snprintf(r->where, sizeof(r->where), "%s", un->staging);
            return;
        }
    }
    if (!j->recheck) {
        check_space(r); /* a new job has nothing to re-prove */
        return;
    }
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        char *path = ckd_file_staging_path(f);
        if (!path) {
            r->err = -ENOMEM;
            return;
        }
        if (j->units[f->unit].status != CKD_UNIT_PENDING) {
            /* published or present: nothing to re-prove here */
        } else if (f->state == CKD_FILE_VERIFIED) {
            /* Verified bytes may already be published (a crash mid-publish). */
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                char *pub = ckd_path_join(j->units[f->unit].target, f->path);
                fd = pub ? open(pub, O_RDONLY | O_CLOEXEC) : -1;
                free(pub);
            }
            char hex[33] = "";
            XXH3_state_t *h = XXH3_createState();
            XXH3_128bits_reset(h);
            struct stat st;
            if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size == f->size)
                hash_range(fd, 0, f->size, h, hex);
            XXH3_freeState(h);
            if (fd >= 0) close(fd);
            if (strcmp(hex, f->hash) == 0) {
                r->reproven++;
            } else {
                f->state = CKD_FILE_PENDING; /* counted and logged on the loop */
                f->hash[0] = '\0';
                unlink(path);
                r->rejected++;
            }
        } else if (f->state == CKD_FILE_PENDING) {
            int fd = open(path, O_RDWR | O_CLOEXEC);
            int any = 0;
            for (int k = 0; k < f->nsegs && fd >= 0; k++) {
                ckd_seg *s = &f->segs[k];
                s->written = 0;
                XXH3_128bits_reset(s->hash);
                for (size_t c = 0; c < r->nclaims; c++) {
                    seg_claim *cl = &r->claims[c];
                    if (cl->idx != f->idx || cl->start != s->start) continue;
                    char hex[33] = "";
                    /* A zstd file's journal proves decoded bytes [0, decoded)
                     * and resumes the stream at the frame end `done`. */
                    int64_t off = f->zstd ? 0 : s->start, len = f->zstd ? cl->decoded : cl->done;
                    if (hash_range(fd, off, len, s->hash, hex) == 0 && strcmp(hex, cl->hash) == 0) {
                        s->written = s->journaled = s->mark = cl->done;
                        if (f->zstd) {
                            f->frame_c = cl->done;
                            f->dec = f->frame_d = cl->decoded;
                            XXH3_copyState(f->hash_frame, s->hash);
                        }
                        r->reproven++;
                        any = 1;
                    } else {
                        XXH3_128bits_reset(s->hash);
                        s->journaled = s->mark = 0;
                        r->rejected++;
                    }
                }
            }
            if (fd >= 0) close(fd);
            if (!any) {
                /* Nothing provable: start clean, without stale bytes. */
                unlink(path);
                for (int k = 0; k < f->nsegs; k++) f->segs[k].journaled = f->segs[k].mark = 0;
            }
        }
        free(path);
    }
    check_space(r);
}

static void prepare_done(uv_work_t *req, int status)
{
    prep_req *r = req->data;
    ckd_job *j = r->job;
    j->busy--;
    if (r->reproven || r->rejected)
        ckd_job_log(
            j, "info",
            "re-proved %zu journaled ranges/files; %zu did not match and will be fetched again",
            r->reproven, r->rejected);
    for (size_t u = 0; u < j->nunits; u++) {
        ckd_unit *un = &j->units[u];
        un->verified = 0;
        if (!un->found_present) continue;
        un->found_present = 0;
        ckd_store_unit_status(&j->d->store, j->id, (int)u, un->status, un->via);
        ckd_job_log(j, "info", "checkpoint %s is already present and verified at '%s'", un->uuid,
                    un->target);
    }
    size_t verified = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (j->units[f->unit].status == CKD_UNIT_PRESENT && f->state != CKD_FILE_VERIFIED) {
            f->state = CKD_FILE_VERIFIED; /* the manifest's hash, re-proven */
            file_persist(f);
        }
        if (f->state == CKD_FILE_VERIFIED) verified++, j->units[f->unit].verified++;
    }
    j->files_verified = verified;
    for (size_t i = 0; i < j->nfiles; i++)
        if (j->files[i].state == CKD_FILE_PENDING) file_persist(&j->files[i]);
    int err = r->err;
    int64_t need = r->need, avail = r->avail;
    char msg[1400];
    if (r->conflict)
        conflict_message(msg, sizeof(msg), &j->units[r->conflict - 1], r->where);
    else if (err == -ELOOP || err == -EPERM || err == -ENOTDIR)
        snprintf(msg, sizeof(msg),
                 "refusing to use '%s' as a staging directory: it is not a directory ckptd "
                 "created (%s)",
                 r->where, strerror(-err));
    else
        snprintf(msg, sizeof(msg), "cannot create '%s': %s", r->where,
                 strerror(err < 0 ? -err : 0));
    free(r->claims);
    free(r);
    if (err < 0) {
        if (j->state == CKD_JOB_RUNNING) ckd_job_set_state(j, CKD_JOB_FAILED, msg);
    } else if (need > avail && j->state == CKD_JOB_RUNNING) {
        /* Not enough room: wait (visibly) rather than fill the disk, unless
         * the job asked to fail instead. */
        char b1[32], b2[32];
        ckp_fmt_bytes(b1, sizeof(b1), (double)need);
        ckp_fmt_bytes(b2, sizeof(b2), (double)avail);
        snprintf(msg, sizeof(msg),
                 "not enough free space in '%s': %s needed (with the reserve), %s free", j->output,
                 b1, b2);
        const char *policy = json_string_value(json_object_get(j->options, "on_no_space"));
        j->recheck = 0;
        if (policy && strcmp(policy, "fail") == 0) {
            ckd_job_set_state(j, CKD_JOB_FAILED, msg);
        } else {
            j->not_before_ms = ckd_now_ms() + 2000;
            ckd_job_set_state(j, CKD_JOB_WAITING, msg);
        }
    } else {
        j->prepared = 1;
        j->recheck = 0;
        j->sched_from = 0;
    }
    ckd_sched_kick(j->d);
}

static void job_prepare(ckd_job *j)
{
    if (j->prepared) return;
    prep_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    struct claim_ctx c = {0};
    ckd_store_each_seg(&j->d->store, j->id, load_claim, &c);
    r->claims = c.v;
    r->nclaims = c.n;
    r->job = j;
    r->work.data = r;
    j->busy++;
    uv_queue_work(j->d->loop, &r->work, prepare_work, prepare_done);
}

/* Flush: one syncfs() makes a whole batch of fetched files durable; only
 * then are they recorded as verified. */
typedef struct flush_req {
    uv_work_t work;
    ckd_job *job;
    uint64_t start_ms, took_ms;
    char *dir; /* any directory on the staging filesystem */
    int *idx;
    size_t n;
    int err;
} flush_req;

static void flush_work(uv_work_t *req)
{
    flush_req *r = req->data;
    uint64_t t0 = ckd_now_ms();
    int fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) r->err = -errno;
    if (fd >= 0) close(fd);
    r->took_ms = ckd_now_ms() - t0;
}

static void flush_done(uv_work_t *req, int status)
{
    flush_req *r = req->data;
    ckd_job *j = r->job;
    j->busy--;
    j->flushing = 0;
    j->flush_n = 0;
    ckd_debug("job %lld: flushed %zu files in %llu ms (queued %llu ms)", (long long)j->id, r->n,
              (unsigned long long)r->took_ms,
              (unsigned long long)(ckd_now_ms() - r->start_ms - r->took_ms));
    for (size_t i = 0; i < r->n; i++) {
        ckd_file *f = &j->files[r->idx[i]];
        if (f->state != CKD_FILE_FETCHED) continue;
        if (r->err < 0) {
            /* Not provably on disk: fetch it again. */
            f->state = CKD_FILE_PENDING;
            f->reset_pending = 1;
            if ((size_t)f->idx < j->sched_from) j->sched_from = (size_t)f->idx;
            continue;
        }
        f->state = CKD_FILE_VERIFIED;
        j->files_verified++;
        j->units[f->unit].verified++;
        file_persist(f);
    }
    free(r->idx);
    free(r->dir);
    free(r);
    job_flush(j); /* files that were fetched meanwhile */
    ckd_sched_kick(j->d);
}

/* A flush wave is costly (it commits the filesystem's journal and stalls
 * file creation meanwhile): batch it. Flush when nothing else of the job is
 * in flight, when many files wait, or when the oldest has waited a second
 * (which bounds what a power loss can cost). */
#define FLUSH_BATCH_FILES 512
#define FLUSH_MAX_WAIT_MS 1000

void ckd_job_flush_due(ckd_job *j)
{
    job_flush(j);
}

static void job_flush(ckd_job *j)
{
    if (j->flushing || j->nfetched == 0) return; /* a wave in flight takes these when it ends */
    size_t open = j->nfiles - j->files_verified - j->files_failed - j->nfetched;
    uint64_t now = ckd_now_ms();
    if (j->flush_since_ms == 0) j->flush_since_ms = now;
    if (open > 0 && j->nfetched < FLUSH_BATCH_FILES && now - j->flush_since_ms < FLUSH_MAX_WAIT_MS)
        return;
    j->flush_since_ms = 0;
    flush_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    /* The wave takes the whole list; new arrivals start a new one. */
    r->idx = j->fetched;
    r->n = j->nfetched;
    j->fetched = NULL;
    j->nfetched = j->fetched_cap = 0;
    r->dir = strdup(file_staging_dir(&j->files[r->idx[0]]));
    r->job = j;
    r->work.data = r;
    j->busy++;
    j->flushing = 1;
    j->flush_n = r->n;
    r->start_ms = ckd_now_ms();
    uv_queue_work(j->d->loop, &r->work, flush_work, flush_done);
}

/* A file passed its checks: queue it for the next flush wave. */
static void job_fetched(ckd_job *j, ckd_file *f)
{
    if (j->nfetched == j->fetched_cap) {
        size_t ncap = j->fetched_cap ? j->fetched_cap * 2 : 64;
        int *nv = realloc(j->fetched, ncap * sizeof(*nv));
        if (!nv) {
            ckd_file_fail(f, "out of memory");
            return;
        }
        j->fetched = nv;
        j->fetched_cap = ncap;
    }
    f->state = CKD_FILE_FETCHED;
    j->fetched[j->nfetched++] = f->idx;
    job_flush(j);
}

/* Publish: every file of a unit is verified and durable. A checkpoint's
 * staging directory becomes its target in one rename; a URL set's files
 * are renamed into the output one by one. */
typedef struct publish_req {
    uv_work_t work;
    ckd_job *job;
    size_t unit;
    char *metadata; /* metadata.json to write, or NULL */
    int err;
    int conflict; /* err is -EEXIST: where is a file that is not ckptd's */
    char where[1024];
} publish_req;

static int write_file_durably(const char *path, const char *text, char hex[33])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    size_t len = strlen(text);
    int rc = ckd_pwrite_all(fd, text, len, 0);
    if (rc == 0 && fsync(fd) != 0) rc = -errno;
    close(fd);
    if (hex) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(text, len));
        ckd_hash_hex(c.digest, hex);
    }
    return rc;
}

/* 1 when dir/rel is a regular file holding exactly the bytes whose hash
 * is hex: replacing it loses nothing. */
static int same_bytes(const char *path, int64_t size, const char *hex)
{
    char got[33];
    return hex && hex[0] && ckd_hash_file(path, size, got) == 0 && strcmp(got, hex) == 0;
}

/* Moves staging/rel to dir/rel. With noreplace an existing dir/rel is
 * replaced only when it holds the same bytes (hash hex), else -EEXIST. A
 * file already moved by an interrupted earlier publish (gone from staging,
 * there with its size) counts as moved. */
static int move_in(const char *staging, const char *dir, const char *rel, int64_t size,
                   const char *hex, int noreplace)
{
    char *from = ckd_path_join(staging, rel), *to = ckd_path_join(dir, rel);
    int rc = from && to ? ckd_mkdir_parents(dir, rel) : -ENOMEM;
    if (rc == 0 && noreplace && same_bytes(to, size, hex)) noreplace = 0;
    if (rc == 0 && renameat2(AT_FDCWD, from, AT_FDCWD, to, noreplace ? RENAME_NOREPLACE : 0) != 0) {
        struct stat st;
        if (errno == EINVAL && noreplace && lstat(to, &st) != 0 && rename(from, to) == 0)
            rc = 0; /* a filesystem without RENAME_NOREPLACE; checked just before */
        else if (!(errno == ENOENT && stat(to, &st) == 0 && (size < 0 || st.st_size == size)))
            rc = -errno;
    }
    free(from);
    free(to);
    return rc;
}

/* Renames the unit's files from its staging into dir, one by one. */
static int publish_files_into(publish_req *r, const char *dir, int noreplace)
{
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != r->unit) continue;
        int rc = move_in(un->staging, dir, f->path, f->size, f->hash, noreplace);
        if (rc < 0) {
            snprintf(r->where, sizeof(r->where), "%s/%s", dir, f->path);
            return rc;
        }
        /* Parent directories of nested files, so the renames are durable. */
        const char *slash = strrchr(f->path, '/');
        if (slash) {
            char parent[8192];
            snprintf(parent, sizeof(parent), "%s/%.*s", dir, (int)(slash - f->path), f->path);
            ckd_fsync_dir(parent);
        }
    }
    return ckd_fsync_dir(dir);
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

/* A file of unit u that publishing into its existing, non-empty target
 * would replace although the target is not ckptd's copy of the same
 * checkpoint and the file there holds other bytes: 1 (where names it),
 * else 0. A file no longer in staging was moved there by an earlier,
 * interrupted publish of this unit. Before fetching (unverified_only),
 * verified files count as such and the bytes are known only by their size
 * or an expected hash. */
static int target_conflict(ckd_job *j, size_t u, int unverified_only, const char *mhex, char *where,
                           size_t wlen)
{
    ckd_unit *un = &j->units[u];
    struct stat st;
    if (lstat(un->target, &st) != 0 || !S_ISDIR(st.st_mode) || is_empty_dir(un->target) ||
        (un->uuid && ckd_manifest_names(un->target, un->uuid) == 1))
        return 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != u || (unverified_only && f->state == CKD_FILE_VERIFIED)) continue;
        char *to = ckd_path_join(un->target, f->path), *from = ckd_path_join(un->staging, f->path);
        int clash = to && from && lstat(to, &st) == 0;
        if (clash && unverified_only)
            clash = (f->size >= 0 && (!S_ISREG(st.st_mode) || st.st_size != f->size)) ||
                    (f->expect[0] && !same_bytes(to, f->size, f->expect));
        else if (clash)
            clash = lstat(from, &st) == 0 && !same_bytes(to, f->size, f->hash);
        if (clash) snprintf(where, wlen, "%s", to);
        free(to);
        free(from);
        if (clash) return 1;
    }
    if (un->write_metadata && !unverified_only) {
        /* metadata.json written from the master's record (its hash mhex) */
        char *to = ckd_path_join(un->target, "metadata.json");
        int clash = to && lstat(to, &st) == 0 && !same_bytes(to, -1, mhex);
        if (clash) snprintf(where, wlen, "%s", to);
        free(to);
        if (clash) return 1;
    }
    return 0;
}

static int publish_checkpoint(publish_req *r)
{
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    const char *S = un->staging, *T = un->target;
    int rc = 0;
    /* Directories the checkpoint lists, and metadata.json when the storage
     * had none, then the manifest that proves the copy later. */
    size_t i;
    json_t *v;
    json_array_foreach(un->dirs, i, v)
    {
        char *p = ckd_path_join(S, json_string_value(v));
        rc = p ? ckd_mkdir_p(p) : -ENOMEM;
        free(p);
        if (rc < 0) return rc;
    }
    char mhex[33] = "";
    if (r->metadata) {
        char *p = ckd_path_join(S, "metadata.json");
        rc = p ? write_file_durably(p, r->metadata, mhex) : -ENOMEM;
        free(p);
        if (rc < 0) return rc;
    }
    if ((rc = ckd_manifest_write(j, r->unit, S, r->metadata ? "metadata.json" : NULL, mhex)) < 0)
        return rc;
    snprintf(r->where, sizeof(r->where), "%s", T);
    struct stat st;
    char *parent = strdup(T);
    if (!parent) return -ENOMEM;
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = '\0';
    if (lstat(T, &st) != 0) {
        if (errno != ENOENT)
            rc = -errno;
        else if (rename(S, T) != 0)
            rc = -errno;
    } else if (!S_ISDIR(st.st_mode)) {
        rc = -ENOTDIR;
    } else if (is_empty_dir(T)) {
        if (rmdir(T) != 0 || rename(S, T) != 0) rc = -errno;
    } else if (target_conflict(j, r->unit, 0, mhex, r->where, sizeof(r->where))) {
        rc = -EEXIST;
        r->conflict = 1;
    } else {
        /* An existing directory: the user's (det's -o into a folder) or an
         * older copy of this checkpoint. Never replace it: move the files
         * in one by one, none of them over a file that is not ckptd's copy
         * of this checkpoint (checked above). The manifest goes first, so
         * that a publish interrupted halfway finds its own files there. */
        int noreplace = ckd_manifest_names(T, un->uuid) != 1;
        rc = ckd_manifest_write(j, r->unit, T, r->metadata ? "metadata.json" : NULL, mhex);
        if (rc == 0) rc = publish_files_into(r, T, noreplace);
        json_array_foreach(un->dirs, i, v)
        {
            char *p = rc == 0 ? ckd_path_join(T, json_string_value(v)) : NULL;
            if (p) rc = ckd_mkdir_p(p);
            free(p);
        }
        if (rc == 0 && r->metadata &&
            (rc = move_in(S, T, "metadata.json", -1, mhex, noreplace)) < 0)
            snprintf(r->where, sizeof(r->where), "%s/metadata.json", T);
        if (rc == 0) ckd_rm_rf(S);
    }
    if (rc == 0) rc = ckd_fsync_dir(parent);
    free(parent);
    return rc;
}

static void publish_work(uv_work_t *req)
{
    publish_req *r = req->data;
    ckd_unit *un = &r->job->units[r->unit];
    if (un->kind == CKD_UNIT_CHECKPOINT) {
        r->err = publish_checkpoint(r);
    } else {
        r->err = publish_files_into(r, un->target, 0);
        if (r->err == 0) ckd_rm_rf(un->staging);
    }
}

static void conflict_message(char *msg, size_t len, const ckd_unit *un, const char *where)
{
    snprintf(msg, len,
             "cannot publish checkpoint %s into '%s': '%s' exists and is not part of ckptd's copy "
             "of this checkpoint; nothing there was changed (remove it or choose another "
             "directory)",
             un->uuid ? un->uuid : "?", un->target, where);
}

static void publish_done(uv_work_t *req, int status)
{
    publish_req *r = req->data;
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    j->busy--;
    j->publishing = 0;
    if (r->err < 0) {
        char msg[1400];
        if (r->conflict || r->err == -EEXIST)
            conflict_message(msg, sizeof(msg), un, r->where);
        else
            snprintf(msg, sizeof(msg), "cannot publish '%s': %s", r->where, strerror(-r->err));
        ckd_job_set_state(j, CKD_JOB_FAILED, msg);
    } else {
        un->status = CKD_UNIT_FETCHED;
        /* Jobs that waited for this copy: let their prepare pass find it. */
        for (ckd_job *k = j->d->jobs; k; k = k->next) {
            if (k == j || k->state != CKD_JOB_RUNNING || !k->prepared || k->busy) continue;
            for (size_t v = 0; v < k->nunits; v++) {
                if (k->units[v].status == CKD_UNIT_PENDING &&
                    strcmp(k->units[v].target, un->target) == 0) {
                    ckd_job_log(k, "info", "job %lld fetched checkpoint %s: checking its copy",
                                (long long)j->id, un->uuid ? un->uuid : "?");
                    k->prepared = 0;
                    job_prepare(k);
                    break;
                }
            }
        }
        ckd_store_unit_status(&j->d->store, j->id, (int)r->unit, un->status, un->via);
        if (un->uuid)
            ckd_job_log(j, "info", "published checkpoint %s (%zu files) to '%s'", un->uuid,
                        un->nfiles, un->target);
        else
            ckd_job_log(j, "info", "published %zu files to '%s'", un->nfiles, un->target);
    }
    free(r->metadata);
    free(r);
    ckd_sched_kick(j->d);
}

static void unit_publish(ckd_job *j, size_t u)
{
    ckd_unit *un = &j->units[u];
    publish_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    r->job = j;
    r->unit = u;
    if (un->write_metadata) {
        json_t *md = json_object_get(un->checkpoint, "metadata");
        r->metadata =
            json_dumps(json_is_object(md) ? md : json_object(), JSON_INDENT(2) | JSON_SORT_KEYS);
    }
    r->work.data = r;
    j->busy++;
    j->publishing = 1;
    uv_queue_work(j->d->loop, &r->work, publish_work, publish_done);
}

typedef struct cleanup_req {
    uv_work_t work;
    ckd_job *job;
} cleanup_req;

static void cleanup_work(uv_work_t *req)
{
    cleanup_req *r = req->data;
    for (size_t u = 0; u < r->job->nunits; u++) ckd_rm_rf(r->job->units[u].staging);
}

static void cleanup_done(uv_work_t *req, int status)
{
    cleanup_req *r = req->data;
    r->job->busy--;
    free(r);
}

static void job_cleanup(ckd_job *j)
{
    /* Writes of aborted transfers may still be in flight and the pool runs
     * work in any order: wait until the job is quiet (the scheduler calls
     * again). */
    if (!job_quiet(j) || j->cleaned) return;
    j->cleaned = 1;
    for (size_t i = 0; i < j->nfiles; i++) {
        if (j->files[i].fd >= 0) {
            close(j->files[i].fd);
            j->files[i].fd = -1;
        }
    }
    cleanup_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    r->job = j;
    r->work.data = r;
    j->busy++;
    uv_queue_work(j->d->loop, &r->work, cleanup_work, cleanup_done);
}

/* ---- rates, stop, free ------------------------------------------------------ */

void ckd_job_tick_rate(ckd_job *j, uint64_t now)
{
    /* A ring of (time, bytes) samples; the rate spans the oldest to now. */
    int64_t bytes = ckd_job_bytes_done(j);
    int n = j->rate_n < 16 ? j->rate_n : 16;
    int slot = j->rate_n % 16;
    j->rate_bytes[slot] = bytes;
    j->rate_ms[slot] = now;
    j->rate_n++;
    n = j->rate_n < 16 ? j->rate_n : 16;
    int oldest = j->rate_n <= 16 ? 0 : j->rate_n % 16;
    uint64_t dt = now - j->rate_ms[oldest];
    j->rate = (n > 1 && dt > 0) ? (double)(bytes - j->rate_bytes[oldest]) * 1000.0 / (double)dt : 0;
    if (j->rate < 0) j->rate = 0;
}

typedef struct stop_req {
    uv_work_t work;
    ckd_daemon *d;
} stop_req;

/* On a graceful stop, make what was written durable and journal it, so the
 * next start resumes from here instead of from the last journal step. */
static void stop_work(uv_work_t *req)
{
    stop_req *r = req->data;
    for (ckd_job *j = r->d->jobs; j; j = j->next) {
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (f->layout_saved != 1 || f->state == CKD_FILE_FAILED) continue;
            int dirty = 0;
            for (int k = 0; k < f->nsegs; k++) dirty |= f->segs[k].written > f->segs[k].journaled;
            if (!dirty) continue;
            int fd = f->fd;
            if (fd < 0) {
                char *path = ckd_file_staging_path(f);
                fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
                free(path);
            }
            if (fd < 0 || fdatasync(fd) != 0) {
                if (fd >= 0 && fd != f->fd) close(fd);
                for (int k = 0; k < f->nsegs; k++) f->segs[k].written = f->segs[k].journaled;
                continue;
            }
            if (fd != f->fd) close(fd);
            /* written > journaled now means "durable, row still to write". */
        }
    }
}

static void stop_done(uv_work_t *req, int status)
{
    stop_req *r = req->data;
    ckd_daemon *d = r->d;
    for (ckd_job *j = d->jobs; j; j = j->next) {
        j->busy--;
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (f->layout_saved != 1) continue;
            for (int k = 0; k < f->nsegs; k++) {
                ckd_seg *s = &f->segs[k];
                char hex[33];
                if (f->zstd) {
                    /* A stream resumes only at a frame end. */
                    if (f->frame_c <= s->journaled || !f->hash_frame) continue;
                    ckd_hash_state_hex(f->hash_frame, hex);
                    ckd_store_seg_progress(&d->store, j->id, f->idx, s->start, f->frame_c, hex,
                                           f->frame_d);
                    s->journaled = f->frame_c;
                    continue;
                }
                if (s->written <= s->journaled) continue;
                ckd_hash_state_hex(s->hash, hex);
                ckd_store_seg_progress(&d->store, j->id, f->idx, s->start, s->written, hex, 0);
                s->journaled = s->mark = s->written;
            }
        }
    }
    ckd_store_commit(&d->store);
    free(r);
}

static int jobs_quiet(ckd_daemon *d)
{
    for (ckd_job *j = d->jobs; j; j = j->next)
        if (!job_quiet(j)) return 0;
    return 1;
}

void ckd_jobs_stop_all(ckd_daemon *d)
{
    for (ckd_job *j = d->jobs; j; j = j->next) {
        ckd_follow_stop(j);
        for (size_t u = 0; u < j->nunits; u++) ckd_archive_abort(j->units[u].archive);
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            for (int k = 0; k < f->nsegs; k++) ckd_xfer_abort(&f->segs[k]);
        }
    }
}

/* Called from the daemon's tick while stopping: 1 once everything is on
 * disk and journaled and nothing is in flight. */
int ckd_jobs_idle(ckd_daemon *d)
{
    if (!jobs_quiet(d)) return 0;
    if (!d->stop_journaled) {
        d->stop_journaled = 1;
        stop_req *r = calloc(1, sizeof(*r));
        if (!r) return 1;
        r->d = d;
        r->work.data = r;
        /* Every job counts the one stop pass so jobs_quiet waits for it. */
        for (ckd_job *j = d->jobs; j; j = j->next) j->busy++;
        if (!d->jobs) {
            free(r);
            return 1;
        }
        uv_queue_work(d->loop, &r->work, stop_work, stop_done);
        return 0;
    }
    return 1;
}

void ckd_jobs_free(ckd_daemon *d)
{
    while (d->jobs) {
        ckd_job *j = d->jobs;
        d->jobs = j->next;
        job_free(j);
    }
}
