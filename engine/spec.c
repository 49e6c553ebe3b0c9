/* Job specs: the source and options of job.submit, validated and typed.
 * See spec.h. */
#include "spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "det_model.h"
#include "detlogin.h"
#include "fsutil.h"
#include "objlist.h"

static const char *const kind_names[] = {"urls",       "checkpoint", "trial",
                                         "experiment", "follow",     "objects"};

const char *ckd_spec_kind_name(enum ckd_job_kind k)
{
    return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A ".zst" URL or output name. */
int ckd_spec_zstd_name(const char *url, const char *path)
{
    size_t n = strcspn(url, "?#"), l = strlen(path);
    return (n >= 4 && strncmp(url + n - 4, ".zst", 4) == 0) ||
           (l > 4 && strcmp(path + l - 4, ".zst") == 0);
}

/* Validates a URL set; fills why and err_data on the first problem. */
static int check_url_files(const json_t *files, int decompress, char *why, size_t whylen,
                           json_t **err_data)
{
    size_t n = json_array_size(files);
    if (!json_is_array(files) || n == 0 || n > CKD_MAX_FILES_PER_JOB) {
        snprintf(why, whylen, "'source.files' must be an array of 1 to %d files",
                 CKD_MAX_FILES_PER_JOB);
        return CKP_RPC_INVALID_PARAMS;
    }
    const char **paths = calloc(n, sizeof(*paths));
    char **owned = calloc(n, sizeof(*owned)); /* names made here: from a URL, or decoded */
    if (!paths || !owned) {
        free(paths);
        free(owned);
        return CKP_RPC_INTERNAL_ERROR;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *fo = json_array_get(files, i);
        const char *url = json_is_string(fo) ? json_string_value(fo)
                                             : json_string_value(json_object_get(fo, "url"));
        const char *path = json_string_value(json_object_get(fo, "path"));
        json_t *size = json_object_get(fo, "size");
        json_t *hash = json_object_get(fo, "xxh128");
        const char *bad = NULL;
        /* The URL alone: the file is named by the URL (ckp_url_filename). */
        int named = json_is_string(fo) ? ckp_url_filename(url, &owned[i], &bad) : 0;
        if (json_is_string(fo)) path = owned[i];
        if (named == -ENOMEM) {
            rc = CKP_RPC_INTERNAL_ERROR;
        } else if (named == -EINVAL) {
            ckp_fmt(why, whylen, "file %zu: cannot name the file of '%s': %s; give it a 'path'", i,
                    url, bad);
            rc = CKP_RPC_INVALID_PARAMS;
        } else if (!url || !path) {
            snprintf(why, whylen, "file %zu must be a URL or have string 'url' and 'path'", i);
            rc = CKP_RPC_INVALID_PARAMS;
        } else if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            snprintf(why, whylen, "file %zu: only http and https URLs are supported", i);
            rc = CKP_RPC_INVALID_PARAMS;
        } else if (ckp_path_check(path, strlen(path), &bad) < 0) {
            snprintf(why, whylen, "unsafe path '%s': %s", path, bad);
            *err_data = json_pack("{s:s}", "path", path);
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
        paths[i] = path;
        if (rc == 0 && decompress && ckd_spec_zstd_name(url, paths[i])) {
            /* Compare stored names: "x.zst" decoded is stored as "x". */
            char *stored = ckd_zstd_stored_name(paths[i]);
            if (!stored) rc = CKP_RPC_INTERNAL_ERROR;
            free(owned[i]);
            paths[i] = owned[i] = stored;
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

/* A checkpoint, trial or experiment source. */
static int check_det_source(const json_t *source, char *why, size_t whylen)
{
    const char *kind = json_string_value(json_object_get(source, "kind"));
    json_t *id = json_object_get(source, "id");
    const char *uuid = json_string_value(json_object_get(source, "uuid"));
    const char *select = json_string_value(json_object_get(source, "select"));
    json_t *sib = json_object_get(source, "smaller_is_better");
    json_t *sort = json_object_get(source, "sort_by");
    json_t *topn = json_object_get(source, "top_n");
    json_t *per_trial = json_object_get(source, "per_trial");
    if (sib && !json_is_boolean(sib)) {
        snprintf(why, whylen, "'smaller_is_better' must be true or false");
        return -EINVAL;
    }
    if (sort && (!json_is_string(sort) || json_string_length(sort) == 0 ||
                 json_string_length(sort) > 256)) {
        snprintf(why, whylen, "'sort_by' must be a metric name or a preset");
        return -EINVAL;
    }
    if (per_trial && !json_is_boolean(per_trial)) {
        snprintf(why, whylen, "'per_trial' must be true or false");
        return -EINVAL;
    }
    int needs_uuid = strcmp(kind, "checkpoint") == 0 ||
                     (strcmp(kind, "trial") == 0 && select && strcmp(select, "uuid") == 0);
    if (needs_uuid && (!uuid || ckd_det_uuid_check(uuid, strlen(uuid)) < 0)) {
        snprintf(why, whylen, "'uuid' must be a checkpoint uuid");
        return -EINVAL;
    }
    if (strcmp(kind, "checkpoint") == 0) return 0;
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        snprintf(why, whylen, "'id' must be a positive integer");
        return -EINVAL;
    }
    if (strcmp(kind, "trial") == 0 &&
        (!select ||
         (strcmp(select, "best") && strcmp(select, "latest") && strcmp(select, "uuid")))) {
        snprintf(why, whylen, "'select' must be \"best\", \"latest\" or \"uuid\"");
        return -EINVAL;
    }
    if (strcmp(kind, "experiment") == 0 && topn &&
        (!json_is_integer(topn) || json_integer_value(topn) < 1 ||
         json_integer_value(topn) > 100000)) {
        snprintf(why, whylen, "'top_n' must be an integer from 1 to 100000");
        return -EINVAL;
    }
    return 0;
}

static size_t follow_top_n(const json_t *source)
{
    json_t *v = json_object_get(source, "top_n");
    return json_is_integer(v) ? (size_t)json_integer_value(v) : 1;
}

int ckd_spec_check_follow(const json_t *source, char *why, size_t whylen)
{
    const char *target = json_string_value(json_object_get(source, "target"));
    json_t *id = json_object_get(source, "id");
    const char *select = json_string_value(json_object_get(source, "select"));
    const char *pointer = json_string_value(json_object_get(source, "pointer"));
    json_t *topn = json_object_get(source, "top_n");
    json_t *keep = json_object_get(source, "keep");
    json_t *interval = json_object_get(source, "interval");
    if (!target || (strcmp(target, "trial") && strcmp(target, "experiment"))) {
        snprintf(why, whylen, "'target' must be \"trial\" or \"experiment\"");
        return -EINVAL;
    }
    int exp = strcmp(target, "experiment") == 0;
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        snprintf(why, whylen, "'id' must be a positive integer");
        return -EINVAL;
    }
    if (!exp && (!select || (strcmp(select, "latest") && strcmp(select, "best")))) {
        snprintf(why, whylen, "'select' must be \"latest\" or \"best\"");
        return -EINVAL;
    }
    if (exp && json_object_get(source, "select") && (!select || strcmp(select, "best"))) {
        snprintf(why, whylen,
                 "an experiment is followed by its best checkpoints: 'select' "
                 "must be \"best\" or absent");
        return -EINVAL;
    }
    if (topn && (!exp || !json_is_integer(topn) || json_integer_value(topn) < 1 ||
                 json_integer_value(topn) > CKD_FOLLOW_MAX_TOP_N)) {
        snprintf(why, whylen, "'top_n' must be an integer from 1 to %d, for an experiment",
                 CKD_FOLLOW_MAX_TOP_N);
        return -EINVAL;
    }
    if (keep && (!json_is_integer(keep) || json_integer_value(keep) < 1 ||
                 json_integer_value(keep) > CKD_FOLLOW_MAX_KEEP)) {
        snprintf(why, whylen, "'keep' must be an integer from 1 to %d", CKD_FOLLOW_MAX_KEEP);
        return -EINVAL;
    }
    if (exp && keep && (size_t)json_integer_value(keep) < follow_top_n(source)) {
        snprintf(why, whylen, "'keep' (%lld) must be at least 'top_n' (%zu)",
                 (long long)json_integer_value(keep), follow_top_n(source));
        return -EINVAL;
    }
    if (interval && (!json_is_number(interval) || !(json_number_value(interval) >= 1.0) ||
                     json_number_value(interval) > CKD_FOLLOW_MAX_INTERVAL)) {
        snprintf(why, whylen, "'interval' must be a number of seconds from 1 to %.0f",
                 CKD_FOLLOW_MAX_INTERVAL);
        return -EINVAL;
    }
    if (json_object_get(source, "pointer") &&
        (!pointer || (strcmp(pointer, "latest") && strcmp(pointer, "best")))) {
        snprintf(why, whylen, "'pointer' must be \"latest\" or \"best\"");
        return -EINVAL;
    }
    return 0;
}

int ckd_durability_parse(const char *name)
{
    if (name && strcmp(name, "publish") == 0) return CKD_DURABLE_PUBLISH;
    if (name && strcmp(name, "background") == 0) return CKD_DURABLE_BACKGROUND;
    return -EINVAL;
}

const char *ckd_durability_name(int d)
{
    return d == CKD_DURABLE_BACKGROUND ? "background" : "publish";
}

/* An object-store source: url, optional endpoint_url, include, exclude. */
static int check_objects(const json_t *source, char *why, size_t whylen)
{
    const char *url = json_string_value(json_object_get(source, "url"));
    json_t *ep = json_object_get(source, "endpoint_url");
    ckd_objurl u;
    if (!url) {
        snprintf(why, whylen, "'url' must be an s3://, gs:// or az:// URL");
        return -EINVAL;
    }
    if (ckd_objurl_parse(url, &u, why, whylen) < 0) return -EINVAL;
    ckd_objurl_release(&u);
    if (ep && !json_is_null(ep) &&
        (!json_is_string(ep) || json_string_length(ep) > 2048 ||
         (strncmp(json_string_value(ep), "http://", 7) &&
          strncmp(json_string_value(ep), "https://", 8)) ||
         strpbrk(json_string_value(ep), "@?#"))) {
        /* Recorded with the job: no userinfo or query, where a secret could hide. */
        snprintf(why, whylen,
                 "'endpoint_url' must be an http:// or https:// URL without "
                 "credentials or query");
        return -EINVAL;
    }
    const char *keys[] = {"include", "exclude"};
    for (size_t k = 0; k < 2; k++) {
        json_t *a = json_object_get(source, keys[k]), *g;
        size_t i;
        if (!a) continue;
        if (!json_is_array(a) || json_array_size(a) > CKD_OBJLIST_MAX_GLOBS) {
            snprintf(why, whylen, "'%s' must be an array of at most %d patterns", keys[k],
                     CKD_OBJLIST_MAX_GLOBS);
            return -EINVAL;
        }
        json_array_foreach(a, i, g)
        {
            if (!json_is_string(g) || json_string_length(g) == 0 || json_string_length(g) > 1024) {
                snprintf(why, whylen, "'%s' patterns must be strings of 1 to 1024 bytes", keys[k]);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* The options every kind shares. */
static int parse_options(const json_t *options, ckd_job_spec *out, char *why, size_t whylen)
{
    if (options && !json_is_object(options)) {
        snprintf(why, whylen, "'options' must be an object");
        return CKP_RPC_INVALID_PARAMS;
    }
    json_t *prio = json_object_get(options, "priority");
    if (prio && (!json_is_integer(prio) || json_integer_value(prio) < -1000 ||
                 json_integer_value(prio) > 1000)) {
        snprintf(why, whylen, "'options.priority' must be an integer from -1000 to 1000");
        return CKP_RPC_INVALID_PARAMS;
    }
    out->priority = prio ? (int)json_integer_value(prio) : 0;
    const char *layout = json_string_value(json_object_get(options, "layout"));
    if (layout && strcmp(layout, "by_uuid") != 0 && strcmp(layout, "direct") != 0) {
        snprintf(why, whylen, "'options.layout' must be \"by_uuid\" or \"direct\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    out->layout_direct = layout && strcmp(layout, "direct") == 0;
    const char *nospace = json_string_value(json_object_get(options, "on_no_space"));
    if (json_object_get(options, "on_no_space") &&
        (!nospace || (strcmp(nospace, "wait") && strcmp(nospace, "fail")))) {
        snprintf(why, whylen, "'options.on_no_space' must be \"wait\" or \"fail\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    out->fail_on_no_space = nospace && strcmp(nospace, "fail") == 0;
    json_t *dur = json_object_get(options, "durability");
    out->durability = dur ? ckd_durability_parse(json_string_value(dur)) : -1;
    if (dur && out->durability < 0) {
        snprintf(why, whylen, "'options.durability' must be \"publish\" or \"background\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    json_t *dec = json_object_get(options, "decompress");
    if (dec && !json_is_boolean(dec)) {
        snprintf(why, whylen, "'options.decompress' must be true or false");
        return CKP_RPC_INVALID_PARAMS;
    }
    out->decompress = json_is_true(dec);
    const char *mode = json_string_value(json_object_get(options, "mode"));
    if (json_object_get(options, "mode") &&
        (!mode || (strcmp(mode, "auto") && strcmp(mode, "direct") && strcmp(mode, "master")))) {
        snprintf(why, whylen, "'options.mode' must be \"auto\", \"direct\" or \"master\"");
        return CKP_RPC_INVALID_PARAMS;
    }
    out->mode = !mode || strcmp(mode, "auto") == 0 ? CKD_MODE_AUTO
                : strcmp(mode, "direct") == 0      ? CKD_MODE_DIRECT
                                                   : CKD_MODE_MASTER;
    return 0;
}

int ckd_spec_parse(const json_t *source, const json_t *options, ckd_job_spec *out, char *why,
                   size_t whylen, json_t **err_data)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(source)) {
        snprintf(why, whylen, "'source' must be an object");
        return CKP_RPC_INVALID_PARAMS;
    }
    int rc = parse_options(options, out, why, whylen);
    if (rc != 0) return rc;
    const char *kind = json_string_value(json_object_get(source, "kind"));
    size_t k = 0;
    while (kind && k < sizeof(kind_names) / sizeof(kind_names[0]) && strcmp(kind, kind_names[k]))
        k++;
    if (!kind || k == sizeof(kind_names) / sizeof(kind_names[0])) {
        snprintf(why, whylen, "unknown source kind '%s'", kind ? kind : "(none)");
        return CKP_RPC_INVALID_PARAMS;
    }
    out->kind = (enum ckd_job_kind)k;
    /* source.master: the master URL of a Determined source (none: the
     * daemon's own), nothing secret. */
    json_t *master = json_object_get(source, "master");
    char canon[CKP_MASTER_URL_MAX];
    const char *bad = NULL;
    if (master &&
        (out->kind == CKD_KIND_URLS || !json_is_string(master) ||
         ckp_master_url_canon(json_string_value(master), canon, sizeof canon, &bad) < 0)) {
        snprintf(why, whylen, "'source.master' %s%s",
                 out->kind == CKD_KIND_URLS ? "goes with Determined sources only"
                                            : "must be a master URL: ",
                 bad ? bad : "");
        return CKP_RPC_INVALID_PARAMS;
    }
    switch (out->kind) {
    case CKD_KIND_URLS:
        if (out->mode == CKD_MODE_MASTER) {
            snprintf(why, whylen,
                     "download mode 'master' (the master's archive) is for checkpoints");
            return CKP_RPC_INVALID_PARAMS;
        }
        return check_url_files(json_object_get(source, "files"), out->decompress, why, whylen,
                               err_data);
    case CKD_KIND_OBJECTS:
        if (out->mode == CKD_MODE_MASTER) {
            snprintf(why, whylen,
                     "download mode 'master' (the master's archive) is for checkpoints");
            return CKP_RPC_INVALID_PARAMS;
        }
        return check_objects(source, why, whylen) < 0 ? CKP_RPC_INVALID_PARAMS : 0;
    case CKD_KIND_FOLLOW:
        return ckd_spec_check_follow(source, why, whylen) < 0 ? CKP_RPC_INVALID_PARAMS : 0;
    default:
        return check_det_source(source, why, whylen) < 0 ? CKP_RPC_INVALID_PARAMS : 0;
    }
}
