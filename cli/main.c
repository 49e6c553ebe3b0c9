/* ckpt: the thin client of ckptd. Global options, then dispatch to a
 * command; everything goes through the daemon's socket. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autostart.h"
#include "cmd.h"

static const char usage[] =
    "usage: ckpt [--socket PATH] [--json] [--no-autostart] [-m URL] COMMAND [ARGS...]\n"
    "\n"
    "Drives ckptd, the checkpoint download daemon.\n"
    "\n"
    "commands:\n"
    "  status                    the daemon's version, jobs, transfers, throughput\n"
    "  fetch [-o DIR] URL...     download URLs into DIR and show progress\n"
    "  fetch -i LIST             download the files an aria2-style list names\n"
    "  jobs [--all]              list jobs (--all: also those finished more than a\n"
    "                            day ago, as long as the daemon keeps them)\n"
    "  job ID                    one job: its files, hashes and log\n"
    "  pause ID                  stop a job, keeping what it fetched\n"
    "  resume ID                 continue a paused or failed job\n"
    "  cancel ID                 stop a job and remove what it fetched\n"
    "  watch [ID]                follow one job until it ends, or every job\n"
    "  config                    show the daemon's settings\n"
    "  config set KEY=VALUE...   change settings\n"
    "  verify DIR [-v]           check a local copy against its .ckptd.xxh128 or\n"
    "                            checksums.xxh128 manifest, like 'xxhsum -c' (no\n"
    "                            daemon needed; exit 1 when a file does not match)\n"
    "\n"
    "Determined checkpoints, with det's commands, flags and output (ckptd asks\n"
    "the master; c, t, e and lc are short for checkpoint, trial, experiment and\n"
    "list-checkpoints):\n"
    "  checkpoint download UUID  download a checkpoint (-o DIR, -q, --mode)\n"
    "  checkpoint describe UUID  a checkpoint's metrics, metadata and files\n"
    "  checkpoint add-metadata UUID JSON\n"
    "                            merge keys into a checkpoint's user metadata\n"
    "  checkpoint remove-metadata UUID KEY...\n"
    "                            remove keys from a checkpoint's user metadata\n"
    "  checkpoint delete UUID[,UUID...] [--yes]\n"
    "                            delete checkpoints and their data on the master\n"
    "  checkpoint rm UUID[,UUID...] --glob PATTERN [--yes]\n"
    "                            delete matching files from checkpoints\n"
    "  checkpoint seal UUID [DIR]\n"
    "                            verify a local copy (default checkpoints/UUID), then\n"
    "                            store its files' XXH3-128 in the checkpoint's\n"
    "                            metadata under \"ckptd.xxh128\"\n"
    "  trial download ID --best|--latest|--uuid U\n"
    "                            download one checkpoint of a trial\n"
    "  trial list-checkpoints ID\n"
    "                            the checkpoints of a trial\n"
    "  experiment download ID [--top-n N]\n"
    "                            download an experiment's best checkpoints\n"
    "  experiment list-checkpoints ID [--best N] [--csv]\n"
    "                            the checkpoints of an experiment\n"
    "  prefetch trial ID --latest|--best [--keep K] [-o DIR] [--interval S]\n"
    "  prefetch experiment ID [--top-n N] [--keep K] [-o DIR] [--interval S]\n"
    "                            keep the newest (or best) checkpoints on this node\n"
    "                            as they appear, with a stable 'latest' symlink\n"
    "  prefetch list | prefetch stop ID\n"
    "                            the follow jobs; stop one (its copies stay)\n"
    "  pin UUID | unpin UUID | pins\n"
    "                            checkpoints retention never removes\n"
    "\n"
    "options:\n"
    "  --socket PATH   the daemon's socket (default: $CKPTD_SOCKET, else\n"
    "                  $XDG_RUNTIME_DIR/ckptd.sock, else /tmp/ckptd-$UID/ckptd.sock)\n"
    "  --json          print results and events as JSON, one object per line\n"
    "  --no-autostart  when no daemon answers, fail instead of starting ckptd\n"
    "                  (also $CKPT_NO_AUTOSTART=1); a started daemon logs to\n"
    "                  $XDG_STATE_HOME/ckptd/ckptd.log\n"
    "  -m, --master URL  the Determined master of det's commands (default:\n"
    "                  $DET_MASTER, else the daemon's own); the login is det's\n"
    "                  (its token store, DET_USER with DET_PASS, DET_MASTER_CERT_FILE)\n"
    "  -h, --help      show this help ('ckpt COMMAND --help' for a command's)\n"
    "  --version       show the version\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv, ckc_opts *o);
};

static const struct command commands[] = {
    {"status", ckc_cmd_status},     {"fetch", ckc_cmd_fetch},
    {"jobs", ckc_cmd_jobs},         {"job", ckc_cmd_job},
    {"pause", ckc_cmd_control},     {"resume", ckc_cmd_control},
    {"cancel", ckc_cmd_control},    {"watch", ckc_cmd_watch},
    {"config", ckc_cmd_config},     {"checkpoint", ckc_cmd_checkpoint},
    {"c", ckc_cmd_checkpoint},      {"trial", ckc_cmd_trial},
    {"t", ckc_cmd_trial},           {"experiment", ckc_cmd_experiment},
    {"e", ckc_cmd_experiment},      {"verify", ckc_cmd_verify},
    {"prefetch", ckc_cmd_prefetch}, {"pin", ckc_cmd_pin},
    {"unpin", ckc_cmd_pin},         {"pins", ckc_cmd_pin},
};

/* The socket path when --socket is not given. */
static const char *default_socket(char *buf, size_t buflen)
{
    const char *env = getenv("CKPTD_SOCKET");
    if (env && *env) return env;
    const char *run = getenv("XDG_RUNTIME_DIR");
    if (run && *run)
        snprintf(buf, buflen, "%s/ckptd.sock", run);
    else
        snprintf(buf, buflen, "/tmp/ckptd-%u/ckptd.sock", (unsigned)getuid());
    return buf;
}

/* Flushes stdout and reports a failed write (a full disk, a closed pipe). */
static int finish_output(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        ckc_errorf("cannot write to standard output");
        return status ? status : CKC_EXIT_FAIL;
    }
    return status;
}

int main(int argc, char **argv)
{
    static char sockbuf[4200];
    ckc_opts o = {.socket = NULL, .socket_explicit = false, .json = false, .autostart = true};
    const char *no_auto = getenv(CKC_NO_AUTOSTART_ENV);
    if (no_auto && *no_auto && strcmp(no_auto, "0") != 0) o.autostart = false;

    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') break;
        if (strcmp(arg, "--socket") == 0) {
            if (i + 1 >= argc) return ckc_usage_errorf(NULL, "option '--socket' needs a value");
            o.socket = argv[++i];
            o.socket_explicit = true;
        } else if (strncmp(arg, "--socket=", 9) == 0) {
            o.socket = arg + 9;
            o.socket_explicit = true;
        } else if (strcmp(arg, "--json") == 0) {
            o.json = true;
        } else if (strcmp(arg, "--no-autostart") == 0) {
            o.autostart = false;
        } else if (strcmp(arg, "-m") == 0 || strcmp(arg, "--master") == 0) {
            if (i + 1 >= argc) return ckc_usage_errorf(NULL, "option '%s' needs a value", arg);
            o.master = argv[++i];
        } else if (strncmp(arg, "--master=", 9) == 0) {
            o.master = arg + 9;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return finish_output(CKC_EXIT_OK);
        } else if (strcmp(arg, "--version") == 0) {
            printf("ckpt %s\n", CKPTD_VERSION);
            return finish_output(CKC_EXIT_OK);
        } else {
            return ckc_usage_errorf(NULL, "unknown option '%s'", arg);
        }
    }
    if (o.socket_explicit && !*o.socket) return ckc_usage_errorf(NULL, "empty socket path");
    if (!o.socket) o.socket = default_socket(sockbuf, sizeof sockbuf);

    if (i >= argc) {
        fputs(usage, stderr);
        return CKC_EXIT_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        fputs(usage, stdout);
        return finish_output(CKC_EXIT_OK);
    }
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        if (strcmp(name, commands[k].name) == 0) {
            optind = 0; /* let getopt_long start over on the command's words */
            return finish_output(commands[k].run(argc - i, argv + i, &o));
        }
    }
    return ckc_usage_errorf(NULL, "unknown command '%s'", name);
}
