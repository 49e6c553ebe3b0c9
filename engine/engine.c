/* The engine's init and close. See engine.h. */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_route.h"
#include "control.h"
#include "durable.h"
#include "follow.h"
#include "fsutil.h"
#include "history.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "masters.h"
#include "master_archive.h"
#include "metrics.h"
#include "outcome.h"
#include "publish.h"
#include "restore.h"
#include "schedule.h"
#include "server.h"
#include "xfer.h"

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Every job state change: subscribers hear of it, prefetch reacts. */
static void on_job_changed(ckd_daemon *d, ckd_job *j, int from)
{
    ckd_events_job(d, j);
    ckd_metrics_job_changed(d, j, from);
    if (from != (int)j->state) ckd_follow_on_job_state(d, j);
}

/* The last step of a stop: every job is quiet and journaled. */
static void finish_stop(ckd_daemon *d)
{
    ckd_store_commit(&d->store);
    ckd_metrics_stop(d);
    ckd_xfer_engine_close(d);
    ckd_http_close(d);
    close_handle((uv_handle_t *)&d->tick);
    close_handle((uv_handle_t *)&d->kick);
    close_handle((uv_handle_t *)&d->commit);
    close_handle((uv_handle_t *)&d->commit_timer);
    close_handle((uv_handle_t *)&d->sigint);
    close_handle((uv_handle_t *)&d->sigterm);
}

static void on_tick(uv_timer_t *t)
{
    ckd_daemon *d = t->data;
    if (d->stopping) {
        if (ckd_jobs_idle(d)) finish_stop(d);
        return;
    }
    uint64_t now = ckd_now_ms();
    int64_t total = 0;
    int running = 0;
    for (ckd_job *j = d->jobs; j; j = j->next) {
        ckd_history_drop_files(j); /* a finished URL set's list: the store has it */
        if (j->state == CKD_JOB_WAITING) running = 1; /* its back-off ends on a tick */
        if (j->state != CKD_JOB_RUNNING) continue;
        for (size_t u = 0; u < j->nunits; u++)
            j->units[u].arc_bytes = ckd_tar_progress(j->units[u].archive);
        ckd_job_tick_rate(j, now);
        ckd_job_flush(j);
        total += (int64_t)j->rate;
        running = 1;
    }
    d->throughput = (double)total;
    ckd_durable_tick(d, now);
    ckd_events_tick(d);
    ckd_history_tick(d, now);
    /* Retry back-offs expire without any other event to wake us. */
    if (running) ckd_sched_kick(d);
}

void ckd_engine_stop(ckd_daemon *d)
{
    if (d->stopping) return;
    d->stopping = 1;
    uv_timer_stop(&d->kick);
    ckd_masters_cancel_all(d);
    ckd_http_cancel_all(d);
    if (d->server) ckd_server_stop(d->server);
    for (ckd_job *j = d->jobs; j; j = j->next) ckd_follow_stop(j);
    ckd_jobs_stop_all(d);
    /* The tick now polls for quiet; make it quick. */
    uv_timer_start(&d->tick, on_tick, 10, 10);
}

static void on_signal(uv_signal_t *s, int signum)
{
    ckd_daemon *d = s->data;
    if (d->stopping) return;
    ckd_info("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    ckd_engine_stop(d);
}

static void on_commit_timer(uv_timer_t *t)
{
    ckd_daemon *d = t->data;
    ckd_store_commit(&d->store);
}

/* Before the loop waits: the store's open transaction is committed once it
 * is CKD_COMMIT_MS old (at once if it is), so that a storm of small
 * changes (2,000 files verified in 100 ms) costs a few commits, not one
 * per loop turn. What waits is only ever a claim made later than it could
 * be: a crash loses at most that much journaled progress. */
static void on_prepare(uv_prepare_t *p)
{
    ckd_daemon *d = p->data;
    int64_t age = ckd_store_tx_age_ms(&d->store);
    if (age < 0) return;
    if (age >= CKD_COMMIT_MS)
        ckd_store_commit(&d->store);
    else if (!uv_is_active((uv_handle_t *)&d->commit_timer))
        uv_timer_start(&d->commit_timer, on_commit_timer, (uint64_t)(CKD_COMMIT_MS - age), 0);
}

int ckd_engine_open(ckd_daemon *d, const ckd_engine_opts *o)
{
    if (o->base)
        d->cfg = *o->base;
    else
        ckd_config_init(&d->cfg);
    d->start_ms = ckd_now_ms();
    d->job_changed = on_job_changed;
    ckd_sched_init(d);
    int rc = ckd_mkdir_p(o->state_dir);
    if (rc == 0) chmod(o->state_dir, 0700);
    char *db = rc == 0 ? ckd_path_join(o->state_dir, "ckptd.db") : NULL;
    if (rc < 0 || !db || ckd_store_open(&d->store, db) < 0) {
        ckd_error("cannot open the state directory '%s'%s%s", o->state_dir, rc < 0 ? ": " : "",
                  rc < 0 ? strerror(-rc) : "");
        free(db);
        return rc < 0 ? rc : -EIO;
    }
    free(db);
    char *cfgpath = ckd_path_join(o->state_dir, "config.json");
    char why[512];
    if (cfgpath && ckd_config_load(&d->cfg, cfgpath, why, sizeof(why)) < 0)
        ckd_warn("ignoring saved settings: %s", why);
    free(cfgpath);
    d->cache = calloc(1, sizeof(*d->cache));
    if (!d->cache) return -ENOMEM;
    ckd_cache_init(d->cache);
    if (ckd_cache_configure(d->cache, d->cfg.cache, why, sizeof(why)) < 0)
        ckd_warn("ignoring the saved cache setting: %s", why);
    else if (d->cache->cfg.url)
        ckd_info("fleet cache '%s' in front of the origins it lists", d->cache->cfg.url);

    d->master_ca_file = o->master_ca ? strdup(o->master_ca) : NULL;
    if ((rc = ckd_masters_open(d, o->master_url)) < 0) {
        ckd_masters_close(d);
        free(d->master_ca_file);
        d->master_ca_file = NULL;
        ckd_store_close(&d->store);
        return rc;
    }
    if (o->socket_path) {
        d->server = calloc(1, sizeof(*d->server));
        if (!d->server || ckd_server_start(d->server, d, o->socket_path) < 0) {
            free(d->server);
            d->server = NULL;
            ckd_masters_close(d);
            free(d->master_ca_file);
            d->master_ca_file = NULL;
            ckd_store_close(&d->store);
            return -EADDRINUSE;
        }
    }
    if (ckd_http_init(d) < 0 || ckd_xfer_engine_init(d, ckd_outcome_report) < 0) {
        ckd_error("cannot initialise the transfer engine");
        return -ENOMEM;
    }
    uv_timer_init(d->loop, &d->tick);
    uv_timer_init(d->loop, &d->kick);
    d->tick.data = d->kick.data = d;
    uv_prepare_init(d->loop, &d->commit);
    uv_timer_init(d->loop, &d->commit_timer);
    d->commit.data = d->commit_timer.data = d;
    uv_prepare_start(&d->commit, on_prepare);
    if (o->signals) {
        uv_signal_init(d->loop, &d->sigint);
        uv_signal_init(d->loop, &d->sigterm);
        d->sigint.data = d->sigterm.data = d;
        uv_signal_start(&d->sigint, on_signal, SIGINT);
        uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    }
    if (ckd_metrics_open(d, o->metrics_file, o->metrics_interval) < 0) {
        ckd_error("cannot start the metrics: out of memory");
        return -ENOMEM;
    }
    uv_timer_start(&d->tick, on_tick, 250, 250);
    if (ckd_durable_boot(d) < 0 || ckd_jobs_load(d) < 0) {
        ckd_error("cannot load jobs from the state directory '%s'", o->state_dir);
        d->exit_code = 1;
        ckd_engine_stop(d);
    } else {
        ckd_durable_after_load(d);
    }
    return 0;
}

int ckd_engine_close(ckd_daemon *d)
{
    ckd_jobs_free(d);
    ckd_metrics_free(d);
    ckd_masters_close(d);
    free(d->server);
    d->server = NULL;
    free(d->master_ca_file);
    d->master_ca_file = NULL;
    ckd_store_close(&d->store);
    if (d->cache) ckd_cache_release(d->cache);
    free(d->cache);
    d->cache = NULL;
    ckd_config_release(&d->cfg);
    int rc = uv_loop_close(d->loop);
    if (rc != 0) ckd_error("event loop closed with handles still open: %s", uv_strerror(rc));
    return rc;
}
