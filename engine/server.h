/* The Unix socket server: private socket, peer checks, line framing, replies
 * and event subscriptions. Methods themselves live in rpc.c. */
#ifndef CKD_SERVER_H
#define CKD_SERVER_H

#include "client.h"

/* Binds path (mode 0600), replacing a stale socket; -EADDRINUSE when a live
 * daemon answers there. */
int ckd_server_start(ckd_server *s, ckd_daemon *d, const char *path);
/* Stops accepting and closes every client. */
void ckd_server_stop(ckd_server *s);

/* Notifications to subscribers: a job changed; progress (from the tick). */
void ckd_events_job(ckd_daemon *d, ckd_job *j);
void ckd_events_tick(ckd_daemon *d);

#endif
