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

#include "config_file.h"
#include "engine.h"
#include "fsutil.h"
#include "log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: ckptd [--socket PATH] [--state-dir DIR] [--log-level LEVEL]\n"
                 "             [--config FILE] [--metrics-file PATH] [--metrics-interval S]\n"
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
                 "  --config FILE     settings file (default $XDG_CONFIG_HOME/ckptd/config.json,\n"
                 "                    else /etc/ckptd/config.json, when one exists): JSON with\n"
                 "                    the keys of 'ckpt config' and socket, state_dir,\n"
                 "                    log_level, master, master_ca, metrics_file,\n"
                 "                    metrics_interval; options given here win, and values\n"
                 "                    set with 'ckpt config set' win over the file\n"
                 "  --metrics-file PATH  write Prometheus text-format metrics there (for\n"
                 "                    node_exporter's textfile collector), atomically\n"
                 "  --metrics-interval S  seconds between metrics writes (default 5)\n"
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
        {"socket", required_argument, NULL, 's'},
        {"state-dir", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"master", required_argument, NULL, 'm'},
        {"master-ca", required_argument, NULL, 'c'},
        {"config", required_argument, NULL, 'C'},
        {"metrics-file", required_argument, NULL, 'M'},
        {"metrics-interval", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    char *socket_path = NULL, *state_dir = NULL, *master_url = NULL, *master_ca = NULL;
    const char *config_path = NULL, *metrics_file = NULL, *log_level = NULL;
    long metrics_interval = 0;
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
        case 'l':
            if (ckd_log_parse_level(optarg) < 0) {
                fprintf(stderr, "ckptd: unknown log level '%s'\n", optarg);
                return 2;
            }
            log_level = optarg;
            break;
        case 'C':
            config_path = optarg;
            break;
        case 'M':
            metrics_file = optarg;
            break;
        case 'I': {
            char *end;
            metrics_interval = strtol(optarg, &end, 10);
            if (*end || end == optarg || metrics_interval < 1 || metrics_interval > 3600) {
                fprintf(stderr, "ckptd: --metrics-interval must be 1 to 3600 seconds\n");
                return 2;
            }
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
    /* The settings file: under the command line, over the defaults. */
    ckd_config cfg;
    ckd_config_init(&cfg);
    ckd_config_file cf = {0};
    char *cfpath = ckd_config_file_find(config_path);
    if (cfpath) {
        char why[600];
        if (ckd_config_file_load(cfpath, &cf, &cfg, why, sizeof why) < 0) {
            fprintf(stderr, "ckptd: bad settings file: %s\n", why);
            free(cfpath);
            goto usage_exit;
        }
        free(cfpath);
        if (cf.log_level && ckd_log_parse_level(cf.log_level) < 0) {
            fprintf(stderr, "ckptd: bad settings file: '%s': unknown log_level '%s'\n", cf.path,
                    cf.log_level);
            goto usage_exit;
        }
        if (!socket_path && cf.socket) socket_path = strdup(cf.socket);
        if (!state_dir && cf.state_dir) state_dir = strdup(cf.state_dir);
        if (!master_url && cf.master) master_url = strdup(cf.master);
        if (!master_ca && cf.master_ca) master_ca = strdup(cf.master_ca);
        if (!log_level) log_level = cf.log_level;
        if (!metrics_file) metrics_file = cf.metrics_file;
        if (!metrics_interval) metrics_interval = (long)cf.metrics_interval;
    }
    if (log_level) ckd_log_set_level(ckd_log_parse_level(log_level));
    if (!socket_path && !(socket_path = default_socket())) {
        fprintf(stderr, "ckptd: cannot choose a socket path; use --socket\n");
        ckd_config_file_release(&cf);
        return 1;
    }
    if (!state_dir && !(state_dir = default_state_dir())) {
        fprintf(stderr, "ckptd: cannot choose a state directory; use --state-dir\n");
        ckd_config_file_release(&cf);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Transfers' buffers (libcurl's receive buffer and the plane's write
     * buffer, 256 KiB each by default) come and go with every file: from the
     * heap, reused, rather than a fresh mapping (page faults, munmap) each
     * time. Larger scratch buffers (hash passes in the pool) go back to the
     * system when freed instead of raising glibc's threshold and staying
     * resident. */
    mallopt(M_MMAP_THRESHOLD, 512 * 1024);
    mallopt(M_ARENA_MAX, 4);
    /* ... and the heap's top is not handed back (madvise) and faulted in
     * again after every file: up to 2 MiB per arena stays. */
    mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
    /* Disk writes, hashing and fsync run in libuv's pool; the default four
     * threads are too few to keep sixteen transfers' writes flowing. */
    setenv("UV_THREADPOOL_SIZE", "8", 0);
    srand((unsigned)(ckd_now_ms() ^ (uint64_t)getpid()));

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "ckptd: cannot initialise libcurl\n");
        ckd_config_file_release(&cf);
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
                          .signals = 1,
                          .base = &cfg,
                          .metrics_file = metrics_file,
                          .metrics_interval = (int)metrics_interval};
    if (cf.path) ckd_info("settings from '%s'", cf.path);
    int rc = ckd_engine_open(&d, &eo);
    if (rc < 0) {
        uv_run(d.loop, UV_RUN_NOWAIT); /* let the listener's close complete */
        uv_loop_close(d.loop);
        curl_global_cleanup();
        ckd_config_file_release(&cf);
        free(socket_path);
        free(state_dir);
        free(master_url);
        free(master_ca);
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
    ckd_config_file_release(&cf);
    ckd_info("stopped");
    return rc != 0 ? 1 : d.exit_code;

usage_exit:
    ckd_config_file_release(&cf);
    free(socket_path);
    free(state_dir);
    free(master_url);
    free(master_ca);
    return 2;
}
