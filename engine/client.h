/* A client of the Unix socket server as the methods see it: the client, the
 * server it came through and a reply owed for later. The types live here,
 * below both the server (server.c: accepting, framing, writing) and the
 * methods (rpc.c, rpc_det.c), so that neither includes the other's header
 * for them; the functions are server.c's. */
#ifndef CKD_CLIENT_H
#define CKD_CLIENT_H

#include "ckp.h"
#include "job.h"

typedef struct ckd_client {
    uv_pipe_t pipe;
    struct ckd_server *server;
    ckp_framer framer;
    char readbuf[65536];
    int closing;
    uint64_t last_read_ms; /* when bytes last arrived */
    int close_after_write; /* a protocol error was answered: close once sent */
    /* events */
    int subscribed;
    json_t *sub_jobs; /* array of ids, NULL = every job */
    uint64_t progress_ms;
    uint64_t last_progress;
    json_t *pending_files; /* job.add_files: files the next job.submit takes first */
    size_t pending_bytes;  /* the request lines that carried them */
    size_t line_len;       /* length of the request being handled */
    int deferred;          /* replies still owed (see ckd_client_defer) */
    int closed;            /* the handle is closed; freed when deferred reaches 0 */
    struct ckd_client *next;
} ckd_client;

/* A reply owed for a request that waits on the master. The client stays in
 * memory until it is answered (even if it hung up meanwhile). */
typedef struct ckd_deferred {
    ckd_client *client;
    json_t *id;
} ckd_deferred;

typedef struct ckd_server {
    ckd_daemon *d;
    uv_pipe_t listener;
    int listening;
    int activated; /* the socket came from systemd (LISTEN_FDS) */
    ckd_client *clients;
    int nclients;    /* in the list (accepted, not closing) */
    int warned_full; /* the max_clients warning was logged */
    char *path;
} ckd_server;

/* The reply for a request whose own reply could not be built (out of
 * memory, text jansson refused): an internal_error line, never silence. Falls
 * back to a null id, then to a fixed line; never NULL. */
char *ckd_reply_unencodable(json_t *id, const char *method, size_t *len);
/* Sends a line to a client; drops the client when it is too far behind. */
void ckd_client_send(ckd_client *c, char *line, size_t len);
int ckd_client_matches(const ckd_client *c, int64_t job_id);

ckd_deferred *ckd_client_defer(ckd_client *c, json_t *id);
/* Sends the reply (result stolen) and frees d. */
void ckd_deferred_result(ckd_deferred *d, json_t *result);
void ckd_deferred_error(ckd_deferred *d, int code, const char *msg);

#endif
