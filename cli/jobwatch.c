/* ckc jobwatch: the event loop of fetch and watch. */
#include "jobwatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "render.h"

/* Longest wait for an event, so a SIGINT that lands just before poll() is
 * noticed soon even when nothing else happens. */
#define FOLLOW_MAX_WAIT_MS 1000

double ckc_jobwatch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool ckc_stdout_is_terminal(void)
{
    const char *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

void ckc_jobwatch_init(ckc_jobwatch *f, ckc_conn *c, bool json, bool tty, json_int_t job)
{
    memset(f, 0, sizeof *f);
    f->conn = c;
    f->json = json;
    f->job = job;
    f->since = -1;
    ckc_progress_init(&f->progress, tty && !json);
}

void ckc_jobwatch_release(ckc_jobwatch *f)
{
    ckc_progress_release(&f->progress);
    json_decref(f->end);
    f->end = NULL;
}

/* Following every job, one of them ended: say how, above the block. */
static void announce_end(ckc_jobwatch *f, const json_t *summary)
{
    char line[2048];
    ckc_fmt_job_end(line, sizeof line, summary, -1);
    ckc_progress_print(&f->progress, stdout, line);
}

int ckc_jobwatch_seed(ckc_jobwatch *f, const json_t *summary)
{
    const char *state = ckc_jstr(summary, "state", "?");
    if (ckc_state_is_final(state)) {
        if (f->job == 0) return 0; /* finished before we looked: not news */
        json_decref(f->end);
        f->end = json_deep_copy(summary);
        return f->end ? 1 : -ENOMEM;
    }
    if (f->json || f->quiet) return 0;
    if (!ckc_progress_job(&f->progress, summary)) return -ENOMEM;
    ckc_progress_draw(&f->progress, true);
    return 0;
}

/* Handles one notification. Returns 1 when the followed job ended. */
static int handle(ckc_jobwatch *f, const ckp_msg *m)
{
    bool is_job = strcmp(m->method, "event.job") == 0;
    bool is_progress = strcmp(m->method, "event.progress") == 0;
    if (!is_job && !is_progress) return 0;

    const json_t *summary = is_job ? json_object_get(m->params, "job") : NULL;
    json_int_t id = is_job ? ckc_jint(summary, "id", -1) : ckc_jint(m->params, "id", -1);
    if (id < 0 || (f->job != 0 && id != f->job)) return 0;

    if (f->json) {
        json_t *line = json_pack("{s:s,s:O}", "method", m->method, "params", m->params);
        if (line) ckc_print_json(line);
        json_decref(line);
    }

    bool show = !f->json && !f->quiet;
    if (is_progress) {
        if (show) ckc_progress_update(&f->progress, m->params);
        return 0;
    }

    const char *state = ckc_jstr(summary, "state", "?");
    if (!ckc_state_is_final(state)) {
        if (show) ckc_progress_job(&f->progress, summary);
        return 0;
    }
    ckc_progress_remove(&f->progress, id);
    if (f->job == 0) {
        if (show) announce_end(f, summary);
        return 0;
    }
    json_decref(f->end);
    f->end = json_deep_copy(summary);
    return 1;
}

int ckc_jobwatch_run(ckc_jobwatch *f)
{
    int rc;
    for (;;) {
        if (ckc_interrupted()) {
            rc = -EINTR;
            break;
        }
        bool show = !f->json && !f->quiet;
        int wait = show ? ckc_progress_wait_ms(&f->progress) : FOLLOW_MAX_WAIT_MS;
        if (wait > FOLLOW_MAX_WAIT_MS) wait = FOLLOW_MAX_WAIT_MS;
        ckp_msg m;
        rc = ckc_conn_next_event(f->conn, wait, &m);
        if (rc == -EINTR) continue;
        if (rc < 0) break;
        if (rc == 1) {
            int ended = handle(f, &m);
            ckp_msg_release(&m);
            if (ended) {
                rc = 0;
                break;
            }
        }
        if (show) ckc_progress_draw(&f->progress, false);
    }
    if (rc == -EINTR)
        ckc_progress_keep(&f->progress); /* the last state stays in view */
    else
        ckc_progress_clear(&f->progress);
    return rc;
}
