/* ckc conn: a blocking client connection to ckptd.
 *
 * Connects to the Unix socket, says hello, sends requests with increasing
 * integer ids and reads lines until the reply with that id arrives.
 * Notifications read meanwhile are queued and handed out, in order, by
 * ckc_conn_next_event(). Every failure returns a negative errno value and
 * leaves a one-line reason in the connection for ckc_conn_strerror(). */
#ifndef CKC_CONN_H
#define CKC_CONN_H

#include <errno.h>
#include <stddef.h>
#include <jansson.h>

#include "ckp.h"

/* The daemon answered with a JSON-RPC error: err_code, and its message as
 * the connection's reason. */
#define CKC_ERPC (-EREMOTEIO)

typedef struct ckc_conn {
    int fd;             /* -1 when closed */
    ckp_framer framer;  /* incoming lines */
    json_int_t next_id; /* id of the next request */
    ckp_msg *queue;     /* notifications not handed out yet: [qhead, qlen) */
    size_t qhead;
    size_t qlen;
    size_t qcap;
    int err_code;   /* code of the last RPC error (a ckp_rpc_code), 0 if none */
    int url_names;  /* the daemon names a URL file itself (hello "features": "url_names") */
    char why[1024]; /* reason of the last failure */
} ckc_conn;

/* Connects to the socket at path. Returns 0, or a negative errno with the
 * reason in c->why ("cannot reach ckptd at 'p': is it running?"). c must be
 * closed with ckc_conn_close() in every case. */
int ckc_conn_open(ckc_conn *c, const char *path);

/* Sends daemon.hello and checks the version the daemon chose. */
int ckc_conn_hello(ckc_conn *c);

/* Sends method(params) (params stolen, may be NULL) and waits for its reply.
 * Returns 0 with a new reference in *result, CKC_ERPC for an error reply,
 * -ECONNRESET when the daemon closed the connection, -EPROTO for a message
 * that is not JSON-RPC, -EMSGSIZE for a request over CKP_MAX_LINE, -ENOMEM,
 * or another negative errno from the socket. A signal does not interrupt it. */
int ckc_conn_call(ckc_conn *c, const char *method, json_t *params, json_t **result);

/* Hands out the next notification (release it with ckp_msg_release()).
 * Waits at most timeout_ms (-1: no limit). Returns 1 with *m filled, 0 on
 * timeout, -EINTR when a signal arrived (so the caller can look at its
 * flags), or an error as for ckc_conn_call(). */
int ckc_conn_next_event(ckc_conn *c, int timeout_ms, ckp_msg *m);

/* The reason of the last failure rc returned by this connection. */
const char *ckc_conn_strerror(const ckc_conn *c, int rc);

/* Closes the socket and frees everything, queued notifications included. */
void ckc_conn_close(ckc_conn *c);

#endif
