/* ckptd: the daemon's entry point. Parses options, opens the store, binds the
 * socket, runs the loop, and shuts down cleanly on SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "master.h"
#include "server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: ckptd [--socket PATH] [--state-dir DIR] [--log-level LEVEL]\n"
                 "\n"
                 "Downloads files and checkpoints for clients that talk to it over a Unix socket.\n"
                 "\n"
                 "  --socket PATH     socket to listen on (default $XDG_RUNTIME_DIR/ckptd.sock,\n"
                 "                    else /tmp/ckptd-$UID/ckptd.sock)\n"
                 "  --state-dir DIR   job database (default $XDG_STATE_HOME/ckptd,\n"
                 "                    else ~/.local/state/ckptd)\n"
                 "  --log-level L     error, warn, info (default) or debug\n"
                 "  --master URL      the Determined master (default $DET_MASTER); auth from\n"
                 "                    $DET_USER_TOKEN, or $DET_USER / $DET_PASS\n"
                 "  --master-ca FILE  CA bundle for an https master\n"
                 "  --version         print the version and exit\n");
}

static char *default_socket(void)
{
    char buf[512];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    if (rt && rt[0] == '/') {
        snprintf(buf, sizeof(buf), "%s/ckptd.sock", rt);
    } else {
        snprintf(buf, sizeof(buf), "/tmp/ckptd-%u", (unsigned)getuid());
        /* Private directory: the socket's mode is a second line of defence. */
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return NULL;
        struct stat st;
        if (lstat(buf, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
            fprintf(stderr, "ckptd: '%s' is not a directory owned by this user\n", buf);
            return NULL;
        }
        chmod(buf, 0700);
        strncat(buf, "/ckptd.sock", sizeof(buf) - strlen(buf) - 1);
    }
    return strdup(buf);
}

static char *default_state_dir(void)
{
    char buf[512];
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(buf, sizeof(buf), "%s/ckptd", xdg);
    else if (home && home[0] == '/')
        snprintf(buf, sizeof(buf), "%s/.local/state/ckptd", home);
    else
        return NULL;
    return strdup(buf);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* The last step of a stop: every job is quiet and journaled. */
static void finish_stop(ckd_daemon *d)
{
    ckd_store_commit(&d->store);
    ckd_xfer_engine_close(d);
    close_handle((uv_handle_t *)&d->tick);
    close_handle((uv_handle_t *)&d->kick);
    close_handle((uv_handle_t *)&d->commit);
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
        if (j->state == CKD_JOB_WAITING) running = 1; /* its back-off ends on a tick */
        if (j->state != CKD_JOB_RUNNING) continue;
        ckd_job_tick_rate(j, now);
        ckd_job_flush_due(j);
        total += (int64_t)j->rate;
        running = 1;
    }
    d->throughput = (double)total;
    ckd_events_tick(d);
    /* Retry back-offs expire without any other event to wake us. */
    if (running) ckd_sched_kick(d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    ckd_daemon *d = s->data;
    if (d->stopping) return;
    ckd_info("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    d->stopping = 1;
    uv_timer_stop(&d->kick);
    if (d->master) ckd_master_cancel_all(d->master);
    ckd_http_cancel_all(d);
    ckd_server_stop(d->server);
    ckd_jobs_stop_all(d);
    /* The tick now polls for quiet; make it quick. */
    uv_timer_start(&d->tick, on_tick, 10, 10);
}

static void on_prepare(uv_prepare_t *p)
{
    ckd_daemon *d = p->data;
    ckd_store_commit(&d->store);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},    {"state-dir", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {"master", required_argument, NULL, 'm'},
        {"master-ca", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    char *socket_path = NULL, *state_dir = NULL, *master_url = NULL, *master_ca = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            free(socket_path);
            socket_path = strdup(optarg);
            break;
        case 'd':
            free(state_dir);
            state_dir = strdup(optarg);
            break;
        case 'l': {
            int lvl = ckd_log_parse_level(optarg);
            if (lvl < 0) {
                fprintf(stderr, "ckptd: unknown log level '%s'\n", optarg);
                return 2;
            }
            ckd_log_set_level(lvl);
            break;
        }
        case 'm':
            free(master_url);
            master_url = strdup(optarg);
            break;
        case 'c':
            free(master_ca);
            master_ca = strdup(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ckptd %s\n", CKPTD_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ckptd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!socket_path && !(socket_path = default_socket())) {
        fprintf(stderr, "ckptd: cannot choose a socket path; use --socket\n");
        return 1;
    }
    if (!state_dir && !(state_dir = default_state_dir())) {
        fprintf(stderr, "ckptd: cannot choose a state directory; use --state-dir\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Large scratch buffers (hash passes in the pool) go back to the system
     * when freed instead of raising glibc's threshold and staying resident. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 4);
    /* Disk writes, hashing and fsync run in libuv's pool; the default four
     * threads are too few to keep sixteen transfers' writes flowing. */
    setenv("UV_THREADPOOL_SIZE", "8", 0);
    srand((unsigned)(ckd_now_ms() ^ (uint64_t)getpid()));

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "ckptd: cannot initialise libcurl\n");
        return 1;
    }
    ckd_daemon d;
    memset(&d, 0, sizeof(d));
    ckd_config_init(&d.cfg);
    d.socket_path = socket_path;
    d.state_dir = state_dir;
    d.start_ms = ckd_now_ms();
    d.loop = uv_default_loop();

    int rc = ckd_mkdir_p(state_dir);
    if (rc == 0) chmod(state_dir, 0700);
    char *db = rc == 0 ? ckd_path_join(state_dir, "ckptd.db") : NULL;
    if (rc < 0 || !db || ckd_store_open(&d.store, db) < 0) {
        ckd_error("cannot open the state directory '%s'%s%s", state_dir, rc < 0 ? ": " : "",
                  rc < 0 ? strerror(-rc) : "");
        free(db);
        return 1;
    }
    free(db);
    char *cfgpath = ckd_path_join(state_dir, "config.json");
    char why[512];
    if (cfgpath && ckd_config_load(&d.cfg, cfgpath, why, sizeof(why)) < 0)
        ckd_warn("ignoring saved settings: %s", why);
    free(cfgpath);

    ckd_server server;
    if (ckd_server_start(&server, &d, socket_path) < 0) {
        ckd_store_close(&d.store);
        uv_run(d.loop, UV_RUN_NOWAIT); /* let the listener's close complete */
        uv_loop_close(d.loop);
        return 1;
    }
    d.server = &server;
    if (ckd_xfer_engine_init(&d) < 0) {
        ckd_error("cannot initialise the transfer engine");
        return 1;
    }
    ckd_master master;
    if (!master_url && getenv("DET_MASTER") && getenv("DET_MASTER")[0])
        master_url = strdup(getenv("DET_MASTER"));
    d.master_ca_file = master_ca;
    if (master_url) {
        ckd_master_init(&master, &d, master_url);
        d.master = &master;
    }
    uv_timer_init(d.loop, &d.tick);
    uv_timer_init(d.loop, &d.kick);
    d.tick.data = d.kick.data = &d;
    uv_prepare_init(d.loop, &d.commit);
    d.commit.data = &d;
    uv_prepare_start(&d.commit, on_prepare);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_timer_start(&d.tick, on_tick, 250, 250);

    if (ckd_jobs_load(&d) < 0) {
        ckd_error("cannot load jobs from the state directory '%s'", state_dir);
        d.exit_code = 1;
        on_signal(&d.sigterm, SIGTERM);
    }
    ckd_info("ckptd %s ready (pid %d)", CKPTD_VERSION, (int)getpid());
    uv_run(d.loop, UV_RUN_DEFAULT);

    ckd_jobs_free(&d);
    if (d.master) ckd_master_release(d.master);
    ckd_store_close(&d.store);
    rc = uv_loop_close(d.loop);
    if (rc != 0) ckd_error("event loop closed with handles still open: %s", uv_strerror(rc));
    curl_global_cleanup();
    free(socket_path);
    free(state_dir);
    free(master_url);
    free(master_ca);
    ckd_info("stopped");
    return rc != 0 ? 1 : d.exit_code;
}
