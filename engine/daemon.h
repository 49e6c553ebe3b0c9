/* The daemon's shared context: the loop, settings, the store, the job list
 * and the handles every stage reaches through a ckd_daemon pointer. Only the
 * struct lives here (and the scheduler's wake-up); each stage has its own
 * header, and engine.c wires them together (init/close). */
#ifndef CKD_DAEMON_H
#define CKD_DAEMON_H

#include <curl/curl.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "store.h"

struct ckd_xfer;
struct ckd_job;
struct ckd_outcome;
struct ckd_daemon;

/* HTTP segment transfers (xfer.c): handed to the data plane's worker
 * threads (plane.h); this is the loop's side of them. */
typedef struct ckd_xfer_engine {
    struct ckd_plane *plane; /* the worker threads */
    int active;              /* transfers submitted and not finally reported */
    int64_t bytes_total;     /* all bytes ever written, for throughput */
    int nworkers;            /* the data plane's worker threads */
    void (*report)(struct ckd_daemon *d, const struct ckd_outcome *o); /* outcomes */
} ckd_xfer_engine;

struct ckd_server;
struct ckd_http;
struct ckd_cache;
struct ckd_metrics;
struct ckd_masters;

typedef struct ckd_daemon {
    uv_loop_t *loop;
    ckd_config cfg;
    ckd_store store;
    ckd_xfer_engine xe;
    struct ckd_server *server;
    struct ckd_masters *masters; /* Determined master sessions (masters.h) */
    struct ckd_http *http_reqs;  /* in-memory requests in flight */
    CURLM *http_multi;           /* ... on the loop's own multi handle (http.c) */
    uv_timer_t http_timer;
    char *master_ca_file;    /* --master-ca: the CA bundle of the daemon's own master */
    struct ckd_cache *cache; /* the fleet cache tier (cache_route.h), from cfg.cache */
    /* Follow jobs' disk budget pass (follow_budget.c), one at a time and never
     * beside a tidy pass: both read pointers and remove directories, and one
     * could remove what the other is about to point at. */
    struct {
        int inflight; /* a budget pass is in the pool */
        int again;    /* a pass was asked for while it could not start */
        int tidies;   /* tidy passes in the pool, of running or stopped follows */
        int measured; /* a pass with a budget measured the checkpoints: */
        int64_t used; /* ... their bytes then (metrics.h) */
    } follow_budget;
    struct ckd_metrics *metrics; /* counters for monitoring (metrics.h) */
    int copies;                  /* local copies in the pool */
    int opening;  /* staging files being opened in the pool (each before a transfer) */
    int archives; /* master archives streaming (each holds a connection) */
    int stop_journaled;
    /* Durability (durable.c): the machine restarted since the journal was
     * written (its boot id changed), a sync of files being written is in the
     * pool, when the last one started; background syncs after publication. */
    struct {
        int rebooted;
        int inflight;
        uint64_t last_ms;
        int settling;
    } durable;
    struct ckd_job *jobs; /* by id */
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;       /* rates, progress events, retry wake-ups */
    uint64_t history_ms;   /* when the history pass (history.c) last ran */
    uv_timer_t kick;       /* runs the scheduler on the next iteration (data: d) */
    uv_timer_cb run_sched; /* the scheduler's pass, set by ckd_sched_init */
    /* Told of every job state change (events to subscribers, prefetch):
     * set by engine.c, so that the job model calls no stage above it. */
    void (*job_changed)(struct ckd_daemon *d, struct ckd_job *j, int from_state);
    uv_prepare_t commit;     /* commits the store's open transaction when it is old enough */
    uv_timer_t commit_timer; /* ... or when it becomes so */
    int stopping;
    int exit_code;
    uint64_t start_ms;
    char *socket_path;
    char *state_dir;
    int64_t rate_bytes[16];
    uint64_t rate_ms[16];
    int rate_n;
    double throughput;
} ckd_daemon;

/* Asks for a scheduling pass on the next loop iteration. */
static inline void ckd_sched_kick(ckd_daemon *d)
{
    if (!uv_is_active((uv_handle_t *)&d->kick)) uv_timer_start(&d->kick, d->run_sched, 0, 0);
}

#endif
