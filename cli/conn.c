/* ckc conn: socket, framing and request/reply matching for the client. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "render.h"

#define CONN_READ_CHUNK (64 * 1024)
/* Longest line accepted from the daemon. Requests are held to CKP_MAX_LINE;
 * replies are taken more leniently, since a job.get of a job with many
 * thousand files can outgrow 1 MiB, and the daemon is a trusted peer. */
#define CONN_MAX_INCOMING (64 * 1024 * 1024)

static int fail(ckc_conn *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records why the connection failed and returns rc. */
static int fail(ckc_conn *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return rc;
}

static int closed(ckc_conn *c)
{
    return fail(c, -ECONNRESET, "ckptd closed the connection");
}

/* Makes an EACCES from connect() precise: who owns the socket, or which
 * part of the path is in the way. */
static int permission_denied(ckc_conn *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_uid != getuid())
        return fail(c, -EACCES,
                    "cannot reach ckptd at '%s': permission denied (the socket belongs to uid "
                    "%u, you are uid %u)",
                    path, (unsigned)st.st_uid, (unsigned)getuid());
    if (stat(path, &st) < 0 && errno == EACCES)
        return fail(c, -EACCES,
                    "cannot reach ckptd at '%s': permission denied (a directory on the path is "
                    "not accessible)",
                    path);
    return fail(c, -EACCES, "cannot reach ckptd at '%s': permission denied", path);
}

int ckc_conn_open(ckc_conn *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->next_id = 1;
    ckp_framer_init(&c->framer, CONN_MAX_INCOMING);

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        return fail(c, -ENAMETOOLONG, "socket path '%s' is longer than %zu bytes", path,
                    sizeof addr.sun_path - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);

    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        int err = errno;
        return fail(c, -err, "cannot create a socket: %s", ckc_strerror(err));
    }
    int rc;
    do rc = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    while (rc < 0 && errno == EINTR);
    if (rc == 0 || errno == EISCONN) return 0; /* EISCONN: an interrupted try went through */

    int err = errno;
    struct stat st;
    switch (err) {
    case EACCES:
    case EPERM:
        return permission_denied(c, path);
    case ENOENT:
        return fail(c, -err, "cannot reach ckptd at '%s': is it running?", path);
    case ECONNREFUSED:
        if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
            return fail(c, -ENOTSOCK, "cannot reach ckptd at '%s': not a socket", path);
        return fail(c, -err, "cannot reach ckptd at '%s': is it running?", path);
    case ENOTDIR:
        return fail(c, -err, "cannot reach ckptd at '%s': a directory on the path is a file", path);
    default:
        return fail(c, -err, "cannot reach ckptd at '%s': %s", path, ckc_strerror(err));
    }
}

void ckc_conn_close(ckc_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    for (size_t i = c->qhead; i < c->qlen; i++) ckp_msg_release(&c->queue[i]);
    free(c->queue);
    c->queue = NULL;
    c->qhead = c->qlen = c->qcap = 0;
    ckp_framer_release(&c->framer);
}

const char *ckc_conn_strerror(const ckc_conn *c, int rc)
{
    if (c->why[0]) return c->why;
    return ckc_strerror(-rc);
}

/* Writes all of buf, through partial writes and signals. */
static int write_all(ckc_conn *c, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            int err = errno;
            if (err == EINTR) continue;
            if (err == EPIPE || err == ECONNRESET) return closed(c);
            return fail(c, -err, "cannot write to ckptd: %s", ckc_strerror(err));
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to timeout_ms (-1: forever) for bytes and feeds them to the
 * framer. Returns 1 when bytes were read, 0 on timeout, -EINTR when a signal
 * arrived and interruptible is set, or an error. */
static int conn_read(ckc_conn *c, int timeout_ms, bool interruptible)
{
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, wait);
        if (n < 0) {
            int err = errno;
            if (err == EINTR) {
                if (interruptible) return -EINTR;
                continue;
            }
            return fail(c, -err, "cannot wait for ckptd: %s", ckc_strerror(err));
        }
        if (n == 0) return 0;
        break;
    }

    char buf[CONN_READ_CHUNK];
    ssize_t r;
    do r = read(c->fd, buf, sizeof buf);
    while (r < 0 && errno == EINTR);
    if (r == 0) return closed(c);
    if (r < 0) {
        int err = errno;
        if (err == ECONNRESET) return closed(c);
        return fail(c, -err, "cannot read from ckptd: %s", ckc_strerror(err));
    }
    int rc = ckp_framer_feed(&c->framer, buf, (size_t)r);
    if (rc == -E2BIG)
        return fail(c, -EPROTO, "ckptd sent a line longer than %d MiB", CONN_MAX_INCOMING >> 20);
    if (rc < 0) return fail(c, rc, "out of memory");
    return 1;
}

/* Parses the next buffered line into *m. Returns 1, 0 when no complete line
 * is buffered, or -EPROTO. */
static int conn_take(ckc_conn *c, ckp_msg *m)
{
    const char *line;
    size_t len;
    if (!ckp_framer_next(&c->framer, &line, &len)) return 0;
    char why[256];
    if (ckp_msg_parse(line, len, m, why, sizeof why) < 0) {
        ckp_msg_release(m);
        return fail(c, -EPROTO, "ckptd sent an invalid message: %s", why);
    }
    return 1;
}

static int queue_push(ckc_conn *c, ckp_msg *m)
{
    if (c->qhead > 0 && c->qhead == c->qlen) c->qhead = c->qlen = 0;
    if (c->qlen == c->qcap) {
        if (c->qhead > 0) {
            memmove(c->queue, c->queue + c->qhead, (c->qlen - c->qhead) * sizeof *c->queue);
            c->qlen -= c->qhead;
            c->qhead = 0;
        } else {
            size_t cap = c->qcap ? c->qcap * 2 : 16;
            ckp_msg *q = realloc(c->queue, cap * sizeof *q);
            if (!q) return fail(c, -ENOMEM, "out of memory");
            c->queue = q;
            c->qcap = cap;
        }
    }
    c->queue[c->qlen++] = *m;
    return 0;
}

int ckc_conn_call(ckc_conn *c, const char *method, json_t *params, json_t **result)
{
    *result = NULL;
    c->why[0] = '\0';
    c->err_code = 0;
    if (c->fd < 0) return closed(c);

    json_int_t id = c->next_id++;
    size_t len;
    char *line = ckp_msg_request(id, method, params, &len);
    if (!line) return fail(c, -ENOMEM, "out of memory");
    if (len - 1 > CKP_MAX_LINE) {
        free(line);
        return fail(c, -EMSGSIZE,
                    "the %s request is %zu bytes, more than the protocol's limit of %d", method,
                    len - 1, CKP_MAX_LINE);
    }
    int rc = write_all(c, line, len);
    free(line);
    if (rc < 0) return rc;

    for (;;) {
        ckp_msg m;
        rc = conn_take(c, &m);
        if (rc < 0) return rc;
        if (rc == 0) {
            rc = conn_read(c, -1, false);
            if (rc < 0) return rc;
            continue;
        }
        if (m.kind == CKP_MSG_NOTIFICATION) {
            rc = queue_push(c, &m);
            if (rc < 0) {
                ckp_msg_release(&m);
                return rc;
            }
            continue;
        }
        if (m.kind == CKP_MSG_REQUEST) { /* the daemon asks nothing of clients */
            ckp_msg_release(&m);
            continue;
        }
        bool ours = json_is_integer(m.id) && json_integer_value(m.id) == id;
        /* An error with a null id is the daemon refusing our line itself. */
        bool about_line = m.kind == CKP_MSG_ERROR && json_is_null(m.id);
        if (!ours && !about_line) {
            ckp_msg_release(&m);
            return fail(c, -EPROTO, "ckptd sent a reply to a request it was not sent");
        }
        if (m.kind == CKP_MSG_RESULT) {
            *result = json_incref(m.result);
            ckp_msg_release(&m);
            return 0;
        }
        c->err_code = m.error_code;
        fail(c, CKC_ERPC, "%s",
             m.error_message && *m.error_message ? m.error_message : ckp_rpc_message(m.error_code));
        ckp_msg_release(&m);
        return CKC_ERPC;
    }
}

int ckc_conn_hello(ckc_conn *c)
{
    json_t *params =
        json_pack("{s:[i],s:s}", "protocol", CKP_PROTOCOL_VERSION, "client", "ckpt " CKPTD_VERSION);
    if (!params) return fail(c, -ENOMEM, "out of memory");
    json_t *res;
    int rc = ckc_conn_call(c, "daemon.hello", params, &res);
    if (rc < 0) return rc;
    json_t *v = json_object_get(res, "protocol");
    if (!json_is_integer(v))
        rc = fail(c, -EPROTO, "ckptd's hello reply names no protocol version");
    else if (json_integer_value(v) != CKP_PROTOCOL_VERSION)
        rc = fail(c, -EPROTO,
                  "ckptd chose protocol version %" JSON_INTEGER_FORMAT ", ckpt speaks %d",
                  json_integer_value(v), CKP_PROTOCOL_VERSION);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(res, "features"), i, f)
    {
        if (json_is_string(f) && strcmp(json_string_value(f), "url_names") == 0) c->url_names = 1;
    }
    json_decref(res);
    return rc;
}

int ckc_conn_next_event(ckc_conn *c, int timeout_ms, ckp_msg *m)
{
    c->why[0] = '\0';
    if (c->qhead < c->qlen) {
        *m = c->queue[c->qhead++];
        return 1;
    }
    if (c->fd < 0) return closed(c);
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int rc = conn_take(c, m);
        if (rc < 0) return rc;
        if (rc == 1) {
            if (m->kind == CKP_MSG_NOTIFICATION) return 1;
            bool request = m->kind == CKP_MSG_REQUEST;
            ckp_msg_release(m);
            if (request) continue;
            return fail(c, -EPROTO, "ckptd sent a reply to a request it was not sent");
        }
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        rc = conn_read(c, wait, true);
        if (rc <= 0) return rc;
    }
}
