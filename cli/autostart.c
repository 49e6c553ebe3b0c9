/* ckc autostart: see autostart.h. */
#include "autostart.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "render.h"

static int fail(ckc_conn *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Closes c (again: closing is idempotent) and sets its reason. */
static int fail(ckc_conn *c, int rc, const char *fmt, ...)
{
    va_list ap;
    ckc_conn_close(c);
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return rc;
}

bool ckc_autostart_wanted(int rc)
{
    return rc == -ENOENT || rc == -ECONNREFUSED;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char was = *p;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) return -errno;
        *p = was;
        if (was == '\0') return 0;
    }
}

/* The daemon binary: ckptd next to this ckpt (/proc/self/exe), else the
 * first executable ckptd on PATH. 0 with the path in buf, or -ENOENT. */
static int find_daemon(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(buf, len, "%s/ckptd", self) < (int)len && access(buf, X_OK) == 0) return 0;
        }
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t dl = strcspn(path, ":");
        if (dl > 0 && snprintf(buf, len, "%.*s/ckptd", (int)dl, path) < (int)len &&
            access(buf, X_OK) == 0)
            return 0;
        path += dl;
        if (*path == ':') path++;
    }
    return -ENOENT;
}

/* Where the started daemon's output goes: <state dir>/ckptd.log, the state
 * directory being the one ckptd picks ($XDG_STATE_HOME/ckptd, else
 * ~/.local/state/ckptd); else next to the socket. */
static void log_path(char *buf, size_t len, const char *socket_path)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[PATH_MAX];
    dir[0] = '\0';
    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/ckptd", xdg);
    else if (home && home[0] == '/')
        snprintf(dir, sizeof dir, "%s/.local/state/ckptd", home);
    if (dir[0] && mkdir_p(dir) == 0 && snprintf(buf, len, "%s/ckptd.log", dir) < (int)len) return;
    snprintf(buf, len, "%s.log", socket_path);
}

/* The child's side: a session of its own, stdin from /dev/null, stdout and
 * stderr to the log, default signal handling; then exec. Never returns. */
static void exec_daemon(const char *daemon, const char *socket_path, const char *log)
{
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    /* Nothing else of ours (a test runner's pipe) may stay open in it. */
    if (close_range(3, ~0U, 0) < 0)
        for (int fd = 3; fd < 1024; fd++) close(fd);
    char *const argv[] = {(char *)daemon, "--socket", (char *)socket_path, NULL};
    execv(daemon, argv);
    fprintf(stderr, "ckpt: cannot run '%s': %s\n", daemon, strerror(errno));
    _exit(127);
}

/* Starts the daemon and waits until the socket answers (c open then). */
static int start_and_wait(ckc_conn *c, const char *socket_path)
{
    char daemon[PATH_MAX], log[PATH_MAX];
    if (find_daemon(daemon, sizeof daemon) < 0)
        return fail(c, -ENOENT,
                    "cannot reach ckptd at '%s' and cannot start it: no ckptd next to ckpt or "
                    "on PATH",
                    socket_path);
    log_path(log, sizeof log, socket_path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        return fail(c, -err, "cannot start ckptd: %s", ckc_strerror(err));
    }
    if (pid == 0) exec_daemon(daemon, socket_path, log);

    for (int waited = 0; waited < CKC_AUTOSTART_WAIT_S * 1000; waited += 50) {
        int rc = ckc_conn_open(c, socket_path);
        if (rc == 0) {
            fprintf(stderr, "ckpt: started ckptd (pid %d); its log is '%s'\n", (int)pid, log);
            return 0;
        }
        ckc_conn_close(c);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char how[64];
            if (WIFEXITED(st))
                snprintf(how, sizeof how, "with status %d", WEXITSTATUS(st));
            else
                snprintf(how, sizeof how, "on signal %d", WTERMSIG(st));
            return fail(c, -ECHILD, "started '%s', but it exited %s; see its log '%s'", daemon, how,
                        log);
        }
        sleep_ms(50);
    }
    return fail(c, -ETIMEDOUT,
                "started '%s' (pid %d), but it did not answer on '%s' within %d s; "
                "see its log '%s'",
                daemon, (int)pid, socket_path, CKC_AUTOSTART_WAIT_S, log);
}

int ckc_autostart_open(ckc_conn *c, const char *socket_path)
{
    char lock[PATH_MAX], dir[PATH_MAX];
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (snprintf(lock, sizeof lock, "%s.lock", socket_path) >= (int)sizeof lock)
        return fail(c, -ENAMETOOLONG, "socket path '%s' is too long", socket_path);
    /* The default socket's private directory may not exist yet. */
    snprintf(dir, sizeof dir, "%s", socket_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) == 0) chmod(dir, 0700);
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        return fail(c, -ENOENT,
                    "cannot reach ckptd at '%s' (is it running?), and cannot start it: "
                    "cannot open '%s': %s",
                    socket_path, lock, ckc_strerror(err));
    }
    int rc = 0;
    for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 50) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (waited >= CKC_AUTOSTART_WAIT_S * 1000) {
            rc = -ETIMEDOUT;
            break;
        }
        sleep_ms(50);
    }
    if (rc < 0) {
        close(fd);
        return fail(c, rc, "cannot take the lock '%s' to start ckptd: %s", lock, ckc_strerror(-rc));
    }
    /* Someone may have started it while we waited for the lock. */
    rc = ckc_conn_open(c, socket_path);
    if (rc < 0 && ckc_autostart_wanted(rc)) {
        ckc_conn_close(c);
        rc = start_and_wait(c, socket_path);
    }
    close(fd); /* releases the lock */
    return rc;
}
