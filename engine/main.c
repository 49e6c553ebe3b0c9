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

#include "engine.h"
#include "fsutil.h"
#include "log.h"

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
                 "  --master URL      the Determined master of commands that name none (default\n"
                 "                    $DET_MASTER); login from $DET_USER_TOKEN, else as det:\n"
                 "                    $DET_USER with $DET_PASS, det's token store, the\n"
                 "                    default user (commands bring their own login)\n"
                 "  --master-ca FILE  CA bundle for that master if https (default\n"
                 "                    $DET_MASTER_CERT_FILE, a file or 'noverify')\n"
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
    d.socket_path = socket_path;
    d.state_dir = state_dir;
    d.loop = uv_default_loop();
    if (!master_url && getenv("DET_MASTER") && getenv("DET_MASTER")[0])
        master_url = strdup(getenv("DET_MASTER"));
    ckd_engine_opts eo = {.state_dir = state_dir,
                          .socket_path = socket_path,
                          .master_url = master_url,
                          .master_ca = master_ca,
                          .signals = 1};
    int rc = ckd_engine_open(&d, &eo);
    if (rc < 0) {
        uv_run(d.loop, UV_RUN_NOWAIT); /* let the listener's close complete */
        uv_loop_close(d.loop);
        return 1;
    }
    ckd_info("ckptd %s ready (pid %d)", CKPTD_VERSION, (int)getpid());
    uv_run(d.loop, UV_RUN_DEFAULT);
    rc = ckd_engine_close(&d);
    curl_global_cleanup();
    free(socket_path);
    free(state_dir);
    free(master_url);
    free(master_ca);
    ckd_info("stopped");
    return rc != 0 ? 1 : d.exit_code;
}
