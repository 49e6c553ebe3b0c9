/* What a job asks for: its source and options, validated at submit and
 * parsed once into C types. Pure (no I/O); the JSON stays in the job for
 * the store and the views. */
#ifndef CKD_SPEC_H
#define CKD_SPEC_H

#include <jansson.h>
#include <stddef.h>

#define CKD_MAX_FILES_PER_JOB 100000
/* Prefetch (follow) limits. */
#define CKD_FOLLOW_MAX_KEEP     1000
#define CKD_FOLLOW_MAX_TOP_N    1000
#define CKD_FOLLOW_MAX_INTERVAL 86400.0

/* source.kind */
enum ckd_job_kind {
    CKD_KIND_URLS = 0,   /* a list of URLs */
    CKD_KIND_CHECKPOINT, /* one checkpoint by uuid */
    CKD_KIND_TRIAL,      /* a trial's best, latest or one uuid */
    CKD_KIND_EXPERIMENT, /* an experiment's top N */
    CKD_KIND_FOLLOW,     /* prefetch: polls and starts child jobs */
    CKD_KIND_OBJECTS,    /* an object-store prefix or object (s3://, gs://, az://) */
};

/* options.mode: which route serves a checkpoint */
enum ckd_route_mode {
    CKD_MODE_AUTO = 0, /* storage, falling back to the master's archive */
    CKD_MODE_DIRECT,   /* the storage only */
    CKD_MODE_MASTER,   /* the master's archive only */
};

typedef struct ckd_job_spec {
    enum ckd_job_kind kind;
    enum ckd_route_mode mode;
    int decompress;       /* options.decompress: .zst stored decoded */
    int layout_direct;    /* options.layout "direct": files straight in the output */
    int fail_on_no_space; /* options.on_no_space "fail" (default: wait) */
    int priority;         /* options.priority, -1000..1000 */
    int durability;       /* options.durability: CKD_DURABLE_* or -1 (the daemon's `durability`) */
} ckd_job_spec;

/* When a job's bytes must be on disk (options.durability, config `durability`). */
enum ckd_durability {
    CKD_DURABLE_PUBLISH = 0,    /* every byte synced before the checkpoint is renamed into place */
    CKD_DURABLE_BACKGROUND = 1, /* published once written and verified; synced right after */
};
/* "publish" / "background" -> CKD_DURABLE_*, -EINVAL otherwise. */
int ckd_durability_parse(const char *name);
const char *ckd_durability_name(int d);

/* Validates source and options (options may be NULL) and fills *out.
 * A Determined source may name its master (source.master, a URL).
 * Returns 0, or a ckp_rpc_code with why filled (and *err_data for an
 * unsafe path, the caller's to release). */
int ckd_spec_parse(const json_t *source, const json_t *options, ckd_job_spec *out, char *why,
                   size_t whylen, json_t **err_data);
/* A follow source alone (also re-checked when a follow job is loaded);
 * 0 or -EINVAL with why. */
int ckd_spec_check_follow(const json_t *source, char *why, size_t whylen);
/* The wire name of a kind ("urls", "checkpoint", ...). */
const char *ckd_spec_kind_name(enum ckd_job_kind k);
/* A ".zst" URL or output name. */
int ckd_spec_zstd_name(const char *url, const char *path);
/* The name a decoded ".zst" file is stored under (malloc'd): without the
 * suffix, unless that leaves no valid name. */
char *ckd_zstd_stored_name(const char *path);

#endif
