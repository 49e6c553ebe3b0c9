/* ckc jobwatch: live events of one job until it ends, or of every job.
 *
 * Used by `ckpt fetch` and `ckpt watch` after they have subscribed. Shows
 * progress with ckc_progress, or prints each event as a JSON line. */
#ifndef CKC_JOBWATCH_H
#define CKC_JOBWATCH_H

#include <stdbool.h>
#include <jansson.h>

#include "conn.h"
#include "progress.h"

typedef struct ckc_jobwatch {
    ckc_conn *conn;
    bool json;      /* print events as JSON lines instead of progress */
    bool quiet;     /* show no progress (set after ckc_jobwatch_init) */
    json_int_t job; /* the job followed, 0 for every job */
    double since;   /* monotonic seconds when `job` was submitted, <0 unknown */
    ckc_progress progress;
    json_t *end; /* the followed job's final summary, once it ended */
} ckc_jobwatch;

/* Seconds on the monotonic clock. */
double ckc_jobwatch_now(void);

/* Terminal rendering when tty (see ckc_stdout_is_terminal). */
void ckc_jobwatch_init(ckc_jobwatch *f, ckc_conn *c, bool json, bool tty, json_int_t job);
void ckc_jobwatch_release(ckc_jobwatch *f);

/* Takes a job summary from a reply (job.submit, job.get, job.list) as the
 * starting point. For a single job returns 1 when it has already ended
 * (f->end is set), else 0; -ENOMEM. */
int ckc_jobwatch_seed(ckc_jobwatch *f, const json_t *summary);

/* Handles events until the followed job ends (returns 0, f->end set), until
 * SIGINT when ckc_catch_sigint() is in effect (-EINTR), or until the
 * connection fails (its error; the reason is in f->conn). With job 0 it
 * runs until SIGINT or a failure. The progress block is cleared on return,
 * or kept in view after SIGINT. */
int ckc_jobwatch_run(ckc_jobwatch *f);

/* Whether stdout is a terminal that understands cursor movement. */
bool ckc_stdout_is_terminal(void);

#endif
