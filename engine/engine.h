/* The engine: the daemon's one init/close pair, shared by main() and the
 * in-process tests. It wires the stages together (the scheduler's kick, the
 * outcome report, job-change notifications) and owns the daemon's timers
 * and signal handlers. */
#ifndef CKD_ENGINE_H
#define CKD_ENGINE_H

#include "daemon.h"

typedef struct ckd_engine_opts {
    const char *state_dir;    /* the store (ckptd.db) and settings (config.json) */
    const char *socket_path;  /* NULL: no socket (tests drive the engine directly) */
    const char *master_url;   /* NULL: no Determined master */
    const char *master_ca;    /* CA bundle for an https master, or NULL */
    int signals;              /* stop on SIGINT/SIGTERM */
    const ckd_config *base;   /* settings before <state>/config.json (the settings
                                 file's), NULL: the defaults */
    const char *metrics_file; /* Prometheus text file to refresh (metrics.h), or NULL */
    int metrics_interval;     /* seconds between writes, 0: the default */
} ckd_engine_opts;

/* Opens the store, loads settings and jobs, binds the socket, starts the
 * timers, on d->loop (set by the caller). 0, or -errno with everything
 * already opened closed again (uv_run the loop once more to finish). */
int ckd_engine_open(ckd_daemon *d, const ckd_engine_opts *o);
/* Begins a graceful stop: transfers stop, what is on disk is journaled,
 * then every handle closes and uv_run returns. */
void ckd_engine_stop(ckd_daemon *d);
/* After uv_run returned: frees jobs, the master, the store. Returns
 * uv_loop_close's result (0 when no handle was left open). */
int ckd_engine_close(ckd_daemon *d);

#endif
