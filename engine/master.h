/* One session with a Determined master's REST API: authentication (a token,
 * or a login with the salted SHA-512 form, one re-login on 401 when the
 * password is known), JSON calls, all pages of a checkpoint list, over TLS
 * with the session's CA file. Asynchronous on the daemon's loop. Tokens and
 * passwords live in memory only (the daemon's own token may be cached in
 * its state directory) and never reach logs or job records. The daemon
 * keeps one session per master URL (masters.h). */
#ifndef CKD_MASTER_H
#define CKD_MASTER_H

#include "daemon.h"
#include "det_select.h"
#include "http.h"

typedef struct ckd_master_req ckd_master_req;

typedef struct ckd_master {
    ckd_daemon *d;
    char *url; /* det's canonical form (no trailing '/'); NULL when not configured */
    char *user;
    char *password;   /* secret; NULL when unknown (a token alone) */
    char *token;      /* secret */
    char *token_file; /* cache in the state directory, mode 0600, or NULL */
    char *ca_file;    /* CA bundle for https, NULL: the system's */
    int noverify;     /* DET_MASTER_CERT_FILE=noverify: no TLS verification */
    int is_default;   /* the daemon's own master (--master, DET_MASTER) */
    int own;          /* the login is the daemon's own, not a client's */
    uint64_t used_ms; /* last call, for the table's eviction */
    int logging_in;
    ckd_master_req *waiting;  /* requests queued behind a login */
    ckd_master_req *active;   /* requests in flight */
    ckd_master_req *queued;   /* requests waiting for one of the master's connections */
    int nactive;              /* requests in flight (at most CKD_MASTER_MAX_ACTIVE) */
    struct ckd_pager *pagers; /* list walks in progress */
} ckd_master;

/* Master calls in flight at once; more wait in order. With the login this
 * stays within the connections libcurl keeps beside the transfers (xfer.c's
 * CKD_CONTROL_CONNECTIONS, 4), so master calls and transfers never take each
 * other's connections. */
#define CKD_MASTER_MAX_ACTIVE 3

/* Outcome of a call. err: 0; -ENOENT (404); -EACCES (401/403 after re-login);
 * -EINVAL (400); -EAGAIN (transient: unreachable, timeout, 5xx); -EPROTO (a
 * reply that is not the JSON expected). msg says what happened. */
typedef void (*ckd_master_cb)(void *ud, int err, json_t *body, const char *msg);

/* A session for url (canonical), without a login yet. */
int ckd_master_init(ckd_master *m, ckd_daemon *d, const char *url);
/* Sets the login: user, and a token and/or a password (either may be
 * NULL). An unchanged login keeps the token the session has; own marks the
 * daemon's own (its token may be cached in token_file). -ENOMEM. */
int ckd_master_set_login(ckd_master *m, const char *user, const char *token, const char *password,
                         int own);
/* No request in flight, queued, or waiting for a login. */
int ckd_master_idle(const ckd_master *m);
void ckd_master_release(ckd_master *m);
/* Calls cb with -ECANCELED for every outstanding request. */
void ckd_master_cancel_all(ckd_master *m);
/* Calls cb with -ECANCELED, at once, for every request and list walk made
 * for ud (a job canceled while it resolves). */
void ckd_master_cancel_owner(ckd_master *m, void *ud);
/* GET (post == NULL) or POST of path (starting with '/'). */
int ckd_master_call(ckd_master *m, const char *path, json_t *post, ckd_master_cb cb, void *ud);
/* As ckd_master_call with another method ("DELETE"), body optional. */
int ckd_master_call_method(ckd_master *m, const char *method, const char *path, json_t *body,
                           ckd_master_cb cb, void *ud);
/* GETs every page of a checkpoint list route (path without query), asking
 * the master for q's sort; calls cb with {"checkpoints":[...]} holding all.
 * A page that does not advance is -EPROTO; more than the master_list_max
 * config of checkpoints is -E2BIG. */
int ckd_master_list_all(ckd_master *m, const char *path, const ckd_det_query *q, ckd_master_cb cb,
                        void *ud);
/* Lowercase hex SHA-512 of the master's fixed salt followed by password. */
void ckd_master_hash_password(const char *password, char out[129]);

#endif
