/* Follow jobs' internals, shared by follow.c (the source, the polling state
 * machine, the API), follow_tidy.c (the pointer symlink and retention: pool
 * work per follow job) and follow_budget.c (the disk budget and vanished
 * copies: one pool pass over all follow jobs). follow.h is the API. */
#ifndef CKD_FOLLOW_INT_H
#define CKD_FOLLOW_INT_H

#include <string.h>

#include "follow.h"

/* The one state of a follow; ckd_follow_stop() ends every one of them. */
enum follow_state {
    FOLLOW_IDLE,    /* the timer is armed for the next poll */
    FOLLOW_POLLING, /* a list request is at the master */
    FOLLOW_CLOSING, /* stopped; the timer is closing and frees the struct */
};

struct ckd_follow;

/* Outlives the follow until the master (or the pool) answers. */
typedef struct follow_token {
    struct ckd_follow *f; /* NULL once the follow stopped */
} follow_token;

/* The pointer/retention work of follow_tidy.c. */
typedef struct tidy_req tidy_req;

struct ckd_follow {
    ckd_job *job;
    uv_timer_t timer;
    enum follow_state state;
    int failures;       /* polls failed in a row: the back-off exponent */
    int polled_ok;      /* some poll succeeded since the start */
    int said_empty;     /* "no downloadable checkpoint yet" was logged */
    json_t *ranked;     /* uuids, best (or newest) first, of the last poll; NULL before */
    follow_token *poll; /* the list request in flight */
    tidy_req *tidy;     /* the pointer/retention work in flight */
    int tidy_again;     /* a child finished while tidy work was in flight */
    char *pointer_at;   /* the uuid the pointer was last seen to reach */
    json_t *removed;    /* uuid -> true: directories ckptd removed (keep, budget) */
    json_t *gone;       /* uuid -> true: directories that vanished otherwise; fetched again */
    json_t *pinned;     /* uuid -> true: "pinned" already logged */
    json_t *sizes;      /* uuid -> bytes of its files, from the last poll */
    json_t *said_room;  /* uuid -> true: "waits for room" (or "over the budget") logged */
};

/* ---- the source ------------------------------------------------------------ */

static inline const char *src_str(const json_t *source, const char *key)
{
    return json_string_value(json_object_get(source, key));
}

static inline int is_experiment(const json_t *source)
{
    const char *t = src_str(source, "target");
    return t && strcmp(t, "experiment") == 0;
}

static inline long long src_id(const json_t *source)
{
    return (long long)json_integer_value(json_object_get(source, "id"));
}

static inline size_t src_top_n(const json_t *source)
{
    json_t *v = json_object_get(source, "top_n");
    return json_is_integer(v) ? (size_t)json_integer_value(v) : 1;
}

/* Experiments keep at least their top N, else every poll would fetch again
 * what the previous tidy removed. */
static inline size_t src_keep(const json_t *source)
{
    json_t *v = json_object_get(source, "keep");
    if (json_is_integer(v)) return (size_t)json_integer_value(v);
    size_t n = is_experiment(source) ? src_top_n(source) : 1;
    return n > 2 ? n : 2;
}

static inline double src_interval(const json_t *source)
{
    json_t *v = json_object_get(source, "interval");
    return json_is_number(v) ? json_number_value(v) : 30.0;
}

/* "latest" or "best": how a trial ranks; experiments rank by the metric. */
static inline const char *src_select(const json_t *source)
{
    if (is_experiment(source)) return "best";
    const char *s = src_str(source, "select");
    return s ? s : "latest";
}

static inline const char *src_pointer(const json_t *source)
{
    const char *p = src_str(source, "pointer");
    return p ? p : src_select(source);
}

static inline int is_follow(const ckd_job *j)
{
    return j->spec.kind == CKD_KIND_FOLLOW;
}

/* The follow job a checkpoint job was submitted by, or 0. */
static inline int64_t child_parent(const ckd_job *c)
{
    if (!c->kind || strcmp(c->kind, "checkpoint") != 0) return 0;
    json_t *p = json_object_get(c->options, "parent");
    return json_is_integer(p) ? (int64_t)json_integer_value(p) : 0;
}

static inline const char *child_uuid(const ckd_job *c)
{
    return src_str(c->source, "uuid");
}

/* Experiments fetch their top N, trials their keep newest (or best). */
static inline size_t src_want(const json_t *source)
{
    return is_experiment(source) ? src_top_n(source) : src_keep(source);
}

/* <output>/trial-<id> (or experiment-<id>), malloc'd (follow.c). */
char *follow_dir(const ckd_job *j);
/* Remembers that ckptd removed checkpoint uuid of follow job j (why: the
 * retention or the budget), in memory (f may be NULL) and in the child's
 * record (follow.c). */
void follow_mark_removed(ckd_job *j, struct ckd_follow *f, const char *uuid, const char *why);

/* Points at the best done child and removes done children beyond keep, in
 * the pool; one at a time per follow job (follow_tidy.c). */
void follow_tidy(struct ckd_follow *f);
/* The follow stopped: the tidy work in flight r finds no follow when done. */
void follow_tidy_detach(tidy_req *r);

/* Asks for a budget pass: now, or when the one in flight (or a tidy) ends
 * (follow_budget.c). */
void follow_budget_pass(ckd_daemon *d);

#endif
