/* det_model: the Determined master's data model, parsed from its REST JSON.
 *
 * Pure functions: no I/O, no globals, no logging. The HTTP layer hands over
 * reply bodies; these functions turn them into C structs or fail with
 * -EINVAL and a lowercase message that quotes the subject. Facts about the
 * wire format (int64 as strings, RFC 3339 times, "NaN" doubles, null ==
 * missing) are in shared/reference/determined-api.md.
 *
 * Every resource path of a checkpoint is checked with ckp_path_check(): a
 * checkpoint with one unsafe path does not parse at all, so nothing
 * downstream ever sees a path that could escape the output directory. */
#ifndef CKD_DET_MODEL_H
#define CKD_DET_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Hard caps, checked before allocating. */
#define CKD_DET_MAX_BODY        (256u * 1024 * 1024) /* one reply body */
#define CKD_DET_MAX_RESOURCES   1000000              /* resources per checkpoint */
#define CKD_DET_MAX_CHECKPOINTS 1000000              /* checkpoints per list reply */
#define CKD_DET_MAX_UUID        128                  /* checkpoint uuid length */
#define CKD_DET_MAX_STRING      4096                 /* a storage config string */

/* ---- checkpoint states ------------------------------------------------- */

/* The master's checkpointv1.State; the numbers are the proto enum values,
 * which SORT_BY_STATE orders by. */
#define CKD_DET_STATE_MAP(X)                                                                       \
    X(UNSPECIFIED, 0, "STATE_UNSPECIFIED")                                                         \
    X(ACTIVE, 1, "STATE_ACTIVE")                                                                   \
    X(COMPLETED, 2, "STATE_COMPLETED")                                                             \
    X(ERROR, 3, "STATE_ERROR")                                                                     \
    X(DELETED, 4, "STATE_DELETED")                                                                 \
    X(PARTIALLY_DELETED, 5, "STATE_PARTIALLY_DELETED")

enum ckd_det_state {
#define X(name, num, wire) CKD_DET_STATE_##name = num,
    CKD_DET_STATE_MAP(X)
#undef X
};

/* A set of states for filters: OR of CKD_DET_STATE_BIT(s); 0 means all. */
#define CKD_DET_STATE_BIT(s) (1u << (unsigned)(s))
/* States whose files can be downloaded. */
#define CKD_DET_STATES_DOWNLOADABLE                                                                \
    (CKD_DET_STATE_BIT(CKD_DET_STATE_COMPLETED) |                                                  \
     CKD_DET_STATE_BIT(CKD_DET_STATE_PARTIALLY_DELETED))

/* Wire name ("STATE_COMPLETED"); "STATE_UNSPECIFIED" for unknown values. */
const char *ckd_det_state_name(enum ckd_det_state s);
/* Parses a wire name. Returns 0, or -EINVAL for a name not in the table. */
int ckd_det_state_parse(const char *name, enum ckd_det_state *out);
/* 1 for COMPLETED and PARTIALLY_DELETED, else 0. */
int ckd_det_state_downloadable(enum ckd_det_state s);

/* ---- storage ----------------------------------------------------------- */

/* An experiment's checkpoint_storage. Every string is malloc'd, or NULL when
 * the key is missing or null. type is NULL when there is no config at all. */
typedef struct ckd_det_storage {
    char *type;              /* "shared_fs", "directory", "s3", "gcs", "azure", ... */
    char *host_path;         /* shared_fs */
    char *storage_path;      /* shared_fs, optional: relative to, or absolute under, host_path */
    char *container_path;    /* directory */
    char *bucket;            /* s3, gcs */
    char *prefix;            /* s3, gcs */
    char *endpoint_url;      /* s3 */
    char *access_key;        /* s3 */
    char *secret_key;        /* s3 */
    char *container;         /* azure */
    char *connection_string; /* azure */
    char *account_url;       /* azure */
} ckd_det_storage;

/* Parses a checkpoint_storage object (NULL or json null: an empty config).
 * Non-string values for the known keys are an error. Returns 0 or -EINVAL /
 * -ENOMEM; on error st is left empty. */
int ckd_det_storage_from_json(const json_t *obj, ckd_det_storage *st, char *err, size_t errlen);
void ckd_det_storage_release(ckd_det_storage *st);

/* Maps file rel of checkpoint uuid to a local path for the storages mounted
 * on this node: shared_fs -> <host_path>[/<storage_path>]/<uuid>/<rel>
 * (an absolute storage_path must lie under host_path and is used as is),
 * directory -> <container_path>/<uuid>/<rel>. rel may be NULL or "" for the
 * checkpoint directory itself. *out is malloc'd. Returns 0; -ENOTSUP with
 * "storage type 'x' is not supported yet" for other types; -EINVAL for a
 * missing config, a relative base path, a bad uuid or an unsafe rel;
 * -ENAMETOOLONG; -ENOMEM. */
int ckd_det_storage_local_path(const ckd_det_storage *st, const char *uuid, const char *rel,
                               char **out, char *err, size_t errlen);

/* ---- checkpoints ------------------------------------------------------- */

/* One entry of a checkpoint's resources. */
typedef struct ckd_det_resource {
    const char *path; /* relative, UTF-8, checked; a directory's trailing '/' removed */
    int64_t size;     /* bytes; 0 for directories */
    int is_dir;       /* the key ended in '/': create it, do not fetch it */
} ckd_det_resource;

typedef struct ckd_det_checkpoint {
    char *uuid; /* checked: 1..CKD_DET_MAX_UUID of [A-Za-z0-9-] */
    enum ckd_det_state state;
    int64_t report_time; /* nanoseconds since the Unix epoch, UTC */
    int has_report_time;
    int64_t trial_id;
    int has_trial_id;
    int64_t experiment_id;   /* 0 when missing */
    int64_t steps_completed; /* metadata.steps_completed, when a whole number */
    int has_steps_completed;
    double searcher_metric; /* training.searcherMetric; may be NaN or +-inf */
    int has_searcher_metric;
    json_t *validation_metrics; /* training.validationMetrics.avgMetrics (object, owned), or NULL */
    json_t *metadata;           /* user metadata (object, owned), or NULL */
    /* Sorted by path (bytewise). No path is both a file and a directory. */
    ckd_det_resource *resources;
    size_t n_resources;
    int64_t total_size; /* sum of file sizes */
    /* From training.experimentConfig, so that a checkpoint found by uuid or
     * through a trial can be located and ranked without the experiment. */
    ckd_det_storage storage;
    char *searcher_metric_name; /* searcher.metric, or NULL */
    int smaller_is_better;      /* searcher.smaller_is_better; 1 when missing */
    char *paths_;               /* internal: one block holding every resource path */
} ckd_det_checkpoint;

/* Parses one checkpoint object. Returns 0, -EINVAL (with a message naming
 * the checkpoint and, for a resource, the path), -E2BIG past
 * CKD_DET_MAX_RESOURCES, or -ENOMEM. On error cp is left released. A state
 * name this code does not know (a newer master) parses as UNSPECIFIED,
 * which is never downloadable, rather than failing the whole list. */
int ckd_det_checkpoint_from_json(const json_t *obj, ckd_det_checkpoint *cp, char *err,
                                 size_t errlen);
void ckd_det_checkpoint_release(ckd_det_checkpoint *cp);

/* A validation metric of cp by name: 1 and *out when it is a number (or
 * "NaN", "Infinity", "-Infinity"), 0 when missing, null or not numeric. */
int ckd_det_checkpoint_metric(const ckd_det_checkpoint *cp, const char *name, double *out);

/* ---- replies ------------------------------------------------------------ */

/* The pagination envelope of the list routes. */
typedef struct ckd_det_pagination {
    int64_t offset, limit, start_index, end_index, total;
    int present; /* the reply had a pagination object */
} ckd_det_pagination;

/* Checkpoints of one list reply (or of several pages, see take). */
typedef struct ckd_det_list {
    ckd_det_checkpoint *items;
    size_t n;
    ckd_det_pagination page;
} ckd_det_list;

/* GET /api/v1/checkpoints/{uuid}: {"checkpoint":{...}}. */
int ckd_det_parse_checkpoint(const char *body, size_t len, ckd_det_checkpoint *cp, char *err,
                             size_t errlen);
/* GET /api/v1/{experiments,trials}/{id}/checkpoints. One bad checkpoint
 * fails the whole reply: a master that sends an unsafe path is not trusted
 * for the rest of the page either. On error list is left empty. */
int ckd_det_parse_list(const char *body, size_t len, ckd_det_list *list, char *err, size_t errlen);
/* Moves every checkpoint of src to the end of dst (paging) and takes src's
 * pagination. src is left empty. Returns 0, -E2BIG past
 * CKD_DET_MAX_CHECKPOINTS, or -ENOMEM (then both are unchanged). */
int ckd_det_list_take(ckd_det_list *dst, ckd_det_list *src);
void ckd_det_list_release(ckd_det_list *list);

typedef struct ckd_det_experiment {
    int64_t id;
    char *name;                 /* or NULL */
    char *searcher_metric_name; /* config.searcher.metric, or NULL */
    int smaller_is_better;      /* config.searcher.smaller_is_better; 1 when missing */
    ckd_det_storage storage;    /* config.checkpoint_storage */
} ckd_det_experiment;

/* GET /api/v1/experiments/{id}: {experiment, jobSummary, config}. */
int ckd_det_parse_experiment(const char *body, size_t len, ckd_det_experiment *exp, char *err,
                             size_t errlen);
void ckd_det_experiment_release(ckd_det_experiment *exp);

/* POST /api/v1/auth/login: {"token":...}. *token is malloc'd. */
int ckd_det_parse_login(const char *body, size_t len, char **token, char *err, size_t errlen);

/* An error reply: {"error":{"code":N,"reason":R,"error":MSG}} from /api/v1,
 * or {"message":MSG} from the archive route. Copies MSG (else the reason)
 * to msg and the gRPC code (0 when absent) to *code. Returns 0, or -EINVAL
 * when the body is not one of these shapes. */
int ckd_det_parse_error(const char *body, size_t len, int *code, char *msg, size_t msglen);

/* ---- scalars ------------------------------------------------------------ */

/* RFC 3339 ("2024-03-01T18:22:31.123456Z", 0-9 fraction digits, 'Z' or
 * +hh:mm / -hh:mm) to nanoseconds since the epoch. Returns 0, or -EINVAL for
 * bad syntax or a value outside int64 nanoseconds (years 1678..2261). */
int ckd_det_parse_time(const char *s, size_t len, int64_t *ns);
/* A decimal int64 ("-12", "9007199254740993"), no spaces or '+'. Returns 0,
 * -EINVAL for bad syntax, -ERANGE on overflow. */
int ckd_det_parse_int64(const char *s, size_t len, int64_t *out);
/* A JSON double: a number or "NaN", "Infinity", "-Infinity". Returns 1 with
 * *out, 0 for NULL or json null, -EINVAL for anything else. */
int ckd_det_json_double(const json_t *v, double *out);
/* Checks a checkpoint uuid before it becomes a directory name. Returns 0 or
 * -EINVAL. */
int ckd_det_uuid_check(const char *uuid, size_t len);

#endif
