#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fsutil.h"
#include "job_view.h"
#include "log.h"
#include "rpc.h"

/* A subscriber further behind than this is disconnected. */
#define CLIENT_MAX_BACKLOG (8 << 20)
/* Progress is skipped for a subscriber with this much unsent. */
#define CLIENT_PROGRESS_BACKLOG (256 << 10)

typedef struct write_req {
    uv_write_t req;
    char *line;
} write_req;

/* A client that held a large line buffer went: give the memory back to the
 * system at the next tick (glibc keeps freed heap otherwise). */
static int trim_due;

static void client_free(ckd_client *c)
{
    if (c->framer.cap >= (256u << 10)) trim_due = 1;
    ckp_framer_release(&c->framer);
    json_decref(c->sub_jobs);
    json_decref(c->pending_files);
    free(c);
}

static void on_client_closed(uv_handle_t *h)
{
    ckd_client *c = h->data;
    c->closed = 1;
    if (c->deferred == 0) client_free(c);
}

ckd_deferred *ckd_client_defer(ckd_client *c, json_t *id)
{
    ckd_deferred *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->client = c;
    d->id = id ? json_incref(id) : json_null();
    c->deferred++;
    return d;
}

static void deferred_send(ckd_deferred *d, char *line, size_t len)
{
    ckd_client *c = d->client;
    if (!c->closing)
        ckd_client_send(c, line, len);
    else
        free(line);
    json_decref(d->id);
    free(d);
    if (--c->deferred == 0 && c->closed) client_free(c);
}

char *ckd_reply_unencodable(json_t *id, const char *method, size_t *len)
{
    static const char fixed[] =
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
        "\"message\":\"internal error: the reply could not be encoded\"}}\n";
    char mname[96];
    ckp_text_escape(mname, sizeof(mname), method ? method : "?", method ? strlen(method) : 1,
                    CKP_ESC_CONTROL);
    ckd_warn("the reply to '%s' could not be encoded; answering internal_error", mname);
    const char *msg = "internal error: the reply could not be encoded";
    char *line = ckp_msg_error(id, CKP_RPC_INTERNAL_ERROR, msg, NULL, len);
    if (!line) line = ckp_msg_error(NULL, CKP_RPC_INTERNAL_ERROR, msg, NULL, len);
    if (!line && (line = strdup(fixed)) != NULL) *len = sizeof(fixed) - 1;
    return line;
}

void ckd_deferred_result(ckd_deferred *d, json_t *result)
{
    size_t len;
    char *line = ckp_msg_result(d->id, result, &len);
    if (!line) line = ckd_reply_unencodable(d->id, "checkpoint.*", &len);
    deferred_send(d, line, len);
}

void ckd_deferred_error(ckd_deferred *d, int code, const char *msg)
{
    size_t len;
    char *line = ckp_msg_error(d->id, code, msg, NULL, &len);
    if (!line) line = ckd_reply_unencodable(d->id, "checkpoint.*", &len);
    deferred_send(d, line, len);
}

static void client_close(ckd_client *c)
{
    if (c->closing) return;
    c->closing = 1;
    for (ckd_client **pp = &c->server->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            c->server->nclients--;
            break;
        }
    }
    uv_close((uv_handle_t *)&c->pipe, on_client_closed);
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    uv_stream_t *stream = req->handle;
    ckd_client *c = stream->data;
    free(w->line);
    free(w);
    if (c->closing) return;
    if (status < 0 || (c->close_after_write && uv_stream_get_write_queue_size(stream) == 0))
        client_close(c);
}

void ckd_client_send(ckd_client *c, char *line, size_t len)
{
    if (!line) return;
    if (c->closing) {
        free(line);
        return;
    }
    write_req *w = malloc(sizeof(*w));
    if (!w) {
        free(line);
        client_close(c);
        return;
    }
    w->line = line;
    uv_buf_t buf = uv_buf_init(line, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) < 0) {
        free(line);
        free(w);
        client_close(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > CLIENT_MAX_BACKLOG) {
        ckd_warn("dropping a subscriber that is more than %d bytes behind", CLIENT_MAX_BACKLOG);
        client_close(c);
    }
}

/* A sample of bad input for the log: printable ASCII only, bounded. */
static void sanitize(char *out, size_t outlen, const char *in, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < outlen && i < 80; i++)
        out[o++] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[o] = '\0';
}

static void handle_line(ckd_client *c, const char *line, size_t len)
{
    ckp_msg m;
    char why[256] = "";
    size_t outlen = 0;
    char *out = NULL;
    if (len == 0) return; /* blank lines are ignored */
    int rc = ckp_msg_parse(line, len, &m, why, sizeof(why));
    if (rc != 0) {
        char sample[96];
        sanitize(sample, sizeof(sample), line, len);
        ckd_info("protocol error from a client: %s (input '%s')", why, sample);
        char msg[300];
        ckp_fmt(msg, sizeof(msg), "%s: %s", ckp_rpc_message(rc), why);
        out = ckp_msg_error(m.id, rc, msg, NULL, &outlen);
        if (!out) out = ckd_reply_unencodable(m.id, NULL, &outlen);
    } else if (m.kind == CKP_MSG_REQUEST) {
        c->line_len = len;
        out = ckd_rpc_handle(c, &m, &outlen);
    } else if (m.kind == CKP_MSG_NOTIFICATION) {
        /* JSON-RPC: notifications get no reply, not even errors. */
    } else {
        out = ckp_msg_error(m.id, CKP_RPC_INVALID_REQUEST,
                            "invalid request: the daemon takes requests, not responses", NULL,
                            &outlen);
    }
    ckp_msg_release(&m);
    if (out) ckd_client_send(c, out, outlen);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ckd_client *c = h->data;
    *buf = uv_buf_init(c->readbuf, sizeof(c->readbuf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    ckd_client *c = stream->data;
    if (nread < 0) {
        client_close(c);
        return;
    }
    if (nread == 0 || c->close_after_write) return;
    c->last_read_ms = ckd_now_ms();
    int rc = ckp_framer_feed(&c->framer, buf->base, (size_t)nread);
    const char *line;
    size_t len;
    /* Complete lines before an oversized one still count. */
    while (ckp_framer_next(&c->framer, &line, &len) == 1 && !c->closing) handle_line(c, line, len);
    if (rc < 0 && !c->closing) {
        size_t outlen;
        char *out = ckp_msg_error(NULL, CKP_RPC_LINE_TOO_LONG,
                                  rc == -E2BIG ? "line too long: the limit is 1048576 bytes"
                                               : "out of memory",
                                  NULL, &outlen);
        ckd_info("closing a client that sent a line over the limit");
        uv_read_stop(stream);
        c->close_after_write = 1;
        ckd_client_send(c, out, outlen);
    }
}

static int peer_is_us(uv_pipe_t *p)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)p, &fd) != 0) return 0;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
    return cred.uid == getuid();
}

static void on_connection(uv_stream_t *listener, int status)
{
    ckd_server *s = listener->data;
    if (status < 0) {
        ckd_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    ckd_client *c = calloc(1, sizeof(*c));
    if (!c) return;
    c->server = s;
    c->pipe.data = c;
    ckp_framer_init(&c->framer, CKP_MAX_LINE);
    uv_pipe_init(s->d->loop, &c->pipe, 0);
    if (uv_accept(listener, (uv_stream_t *)&c->pipe) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->pipe, on_client_closed);
        return;
    }
    c->next = s->clients;
    s->clients = c;
    s->nclients++;
    if (!peer_is_us(&c->pipe)) {
        ckd_warn("refused a client of another user");
        client_close(c);
        return;
    }
    if (s->nclients > s->d->cfg.max_clients) {
        /* Politely: an error reply, then the connection closes. */
        if (!s->warned_full)
            ckd_warn("refusing clients: %lld connections is the limit (max_clients)",
                     (long long)s->d->cfg.max_clients);
        s->warned_full = 1;
        char msg[128];
        ckp_fmt(msg, sizeof(msg), "too many clients: ckptd serves at most %lld at once",
                (long long)s->d->cfg.max_clients);
        size_t len;
        char *out = ckp_msg_error(NULL, CKP_RPC_TOO_MANY_CLIENTS, msg, NULL, &len);
        c->close_after_write = 1;
        if (out)
            ckd_client_send(c, out, len);
        else
            client_close(c);
        return;
    }
    s->warned_full = 0;
    c->last_read_ms = ckd_now_ms();
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* Is a daemon answering on path? */
static int socket_alive(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return alive;
}

/* systemd socket activation: LISTEN_PID is us and LISTEN_FDS >= 1 means fd
 * 3 is a listening Unix socket the service manager made (and owns the path
 * and its mode). Returns the fd, or -1. */
static int activated_socket(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1) return -1;
    struct stat st;
    if (fstat(3, &st) != 0 || !S_ISSOCK(st.st_mode)) return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 3;
}

int ckd_server_start(ckd_server *s, ckd_daemon *d, const char *path)
{
    memset(s, 0, sizeof(*s));
    s->d = d;
    int fd = activated_socket();
    if (fd >= 0) {
        uv_pipe_init(d->loop, &s->listener, 0);
        s->listener.data = s;
        int rc = uv_pipe_open(&s->listener, fd);
        if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
        if (rc != 0) {
            ckd_error("cannot listen on the socket passed by the service manager: %s",
                      uv_strerror(rc));
            uv_close((uv_handle_t *)&s->listener, NULL);
            return rc;
        }
        /* Peers are still checked (SO_PEERCRED); the path is not ours to remove. */
        s->listening = 1;
        s->activated = 1;
        ckd_info("listening on the socket passed by the service manager (fd %d)", fd);
        return 0;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        ckd_error("socket path '%s' is too long", path);
        return -ENAMETOOLONG;
    }
    s->path = strdup(path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            ckd_error("'%s' exists and is not a socket", path);
            return -EEXIST;
        }
        if (socket_alive(path)) {
            ckd_error("another ckptd is already listening on '%s'", path);
            return -EADDRINUSE;
        }
        ckd_info("replacing the stale socket '%s'", path);
        unlink(path);
    }
    uv_pipe_init(d->loop, &s->listener, 0);
    s->listener.data = s;
    /* Created private: no window in which another user could connect. */
    mode_t old = umask(0177);
    int rc = uv_pipe_bind(&s->listener, path);
    umask(old);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc != 0) {
        ckd_error("cannot listen on '%s': %s", path, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, NULL);
        return rc;
    }
    chmod(path, 0600);
    s->listening = 1;
    ckd_info("listening on '%s'", path);
    return 0;
}

void ckd_server_stop(ckd_server *s)
{
    if (s->listening) {
        s->listening = 0;
        uv_close((uv_handle_t *)&s->listener, NULL);
        if (!s->activated) unlink(s->path);
    }
    while (s->clients) client_close(s->clients);
    free(s->path);
    s->path = NULL;
}

int ckd_client_matches(const ckd_client *c, int64_t job_id)
{
    if (!c->subscribed) return 0;
    if (!c->sub_jobs) return 1;
    size_t i;
    json_t *v;
    json_array_foreach(c->sub_jobs, i, v) if (json_integer_value(v) == job_id) return 1;
    return 0;
}

void ckd_events_job(ckd_daemon *d, ckd_job *j)
{
    if (!d->server) return;
    ckd_client *next;
    for (ckd_client *c = d->server->clients; c; c = next) {
        next = c->next; /* sending may drop a slow client */
        if (!ckd_client_matches(c, j->id)) continue;
        size_t len;
        char *line =
            ckp_msg_notification("event.job", json_pack("{s:o}", "job", ckd_job_summary(j)), &len);
        if (!line) ckd_warn("cannot encode the event for job %lld", (long long)j->id);
        ckd_client_send(c, line, len);
    }
}

/* Closes clients that left a request line unfinished for client_timeout
 * seconds: an error reply, then the connection goes with its buffer. */
static void reap_idle(ckd_server *s, uint64_t now)
{
    uint64_t limit = (uint64_t)s->d->cfg.client_timeout * 1000;
    ckd_client *next;
    for (ckd_client *c = s->clients; c; c = next) {
        next = c->next;
        if (c->close_after_write || c->framer.len == c->framer.head ||
            now - c->last_read_ms < limit)
            continue;
        ckd_info("closing a client that left a request line unfinished for %llds",
                 (long long)s->d->cfg.client_timeout);
        uv_read_stop((uv_stream_t *)&c->pipe);
        if (c->framer.cap >= (256u << 10)) trim_due = 1;
        ckp_framer_release(&c->framer);
        c->close_after_write = 1;
        size_t len;
        char *out = ckp_msg_error(NULL, CKP_RPC_TIMEOUT,
                                  "request timed out: a line was left unfinished", NULL, &len);
        if (out)
            ckd_client_send(c, out, len);
        else
            client_close(c);
    }
}

void ckd_events_tick(ckd_daemon *d)
{
    if (!d->server) return;
    uint64_t now = ckd_now_ms();
    reap_idle(d->server, now);
    if (trim_due) {
        trim_due = 0;
        malloc_trim(0);
    }
    ckd_client *next;
    for (ckd_client *c = d->server->clients; c; c = next) {
        next = c->next;
        if (!c->subscribed || now - c->last_progress < c->progress_ms) continue;
        /* A slow reader gets fewer updates, never a growing queue. */
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > CLIENT_PROGRESS_BACKLOG)
            continue;
        c->last_progress = now;
        for (ckd_job *j = d->jobs; j; j = j->next) {
            if (j->state != CKD_JOB_RUNNING || !ckd_client_matches(c, j->id)) continue;
            json_t *sum = ckd_job_summary(j);
            json_t *p = json_pack("{s:I, s:O, s:O, s:O, s:O, s:O, s:O}", "id", (json_int_t)j->id,
                                  "bytes_done", json_object_get(sum, "bytes_done"), "bytes_total",
                                  json_object_get(sum, "bytes_total"), "files_done",
                                  json_object_get(sum, "files_done"), "files_total",
                                  json_object_get(sum, "files_total"), "rate",
                                  json_object_get(sum, "rate"), "eta", json_object_get(sum, "eta"));
            json_decref(sum);
            size_t len;
            char *line = ckp_msg_notification("event.progress", p, &len);
            ckd_client_send(c, line, len);
            if (c->closing) break;
        }
    }
}
