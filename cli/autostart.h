/* ckc autostart: start ckptd for this user when no daemon answers, as gpg
 * starts gpg-agent.
 *
 * Under a lock file next to the socket (<socket>.lock, flock), so that two
 * clients racing end with one daemon: the one holding the lock connects once
 * more, and only when that still fails starts ckptd (found next to the ckpt
 * binary, else on PATH) in a session of its own with its output appended to
 * its log file, waits for the socket to answer and says once on stderr where
 * the log is. Under systemd socket activation the socket always answers, so
 * nothing is ever started. */
#ifndef CKC_AUTOSTART_H
#define CKC_AUTOSTART_H

#include <stdbool.h>

#include "conn.h"

/* The environment variable that turns autostart off (any value but "" and
 * "0"), like --no-autostart. */
#define CKC_NO_AUTOSTART_ENV "CKPT_NO_AUTOSTART"

/* Seconds a client waits for the lock and then for the started daemon. */
#define CKC_AUTOSTART_WAIT_S 30

/* True when a failed ckc_conn_open() (rc) means no daemon is there: no
 * socket file, or nobody listening on it. */
bool ckc_autostart_wanted(int rc);

/* Makes a daemon answer on socket_path and opens c to it: connects once more
 * under the lock, else starts ckptd and waits for it. Returns 0 with c open,
 * or a negative errno with the reason in c (close c in every case). */
int ckc_autostart_open(ckc_conn *c, const char *socket_path);

#endif
