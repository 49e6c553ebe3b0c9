/* The daemon's Determined master sessions: one per master URL (det's
 * canonical form), at most CKD_MASTERS_MAX. The daemon's own master
 * (--master, else DET_MASTER) is the default, for a job or a call that
 * names none.
 *
 * A job names its master in source.master, the URL only. A client sends the
 * login of its command beside it (`login`: user, token and/or password, CA
 * file or noverify), over the private socket; the session keeps it in memory
 * and nothing secret is written to the job record, the store or the log.
 * A session the daemon makes itself (its own master; a job's master after a
 * restart, before any client sent its login again) logs in as det would
 * with the daemon's environment (detlogin.h), plus ckptd's DET_USER_TOKEN
 * and token cache for its own master. */
#ifndef CKD_MASTERS_H
#define CKD_MASTERS_H

#include <jansson.h>

#include "daemon.h"
#include "master.h"

#define CKD_MASTERS_MAX 16

typedef struct ckd_masters {
    ckd_master *s[CKD_MASTERS_MAX];
    size_t n;
    ckd_master *dflt; /* the daemon's own master, or NULL (also in s) */
} ckd_masters;

/* Sets up the table with the daemon's own master (default_url, may be
 * NULL; its CA file is d->master_ca_file, else DET_MASTER_CERT_FILE).
 * -ENOMEM, or -EINVAL when default_url is not a master URL. */
int ckd_masters_open(ckd_daemon *d, const char *default_url);
/* Cancels every request of every session (at stop). */
void ckd_masters_cancel_all(ckd_daemon *d);
/* Frees the table. */
void ckd_masters_close(ckd_daemon *d);

/* The session for url (NULL: the default), made if there is none (the
 * least recently used idle session may make room), with the daemon's own
 * login. NULL with why: no default, a bad URL, too many masters. */
ckd_master *ckd_master_get(ckd_daemon *d, const char *url, char *why, size_t whylen);
/* The session a job's source names (source.master, else the default);
 * NULL with why as ckd_master_get. */
ckd_master *ckd_master_of(ckd_daemon *d, const json_t *source, char *why, size_t whylen);
/* The session if it exists (no new one), for cancellations. */
ckd_master *ckd_master_find_of(ckd_daemon *d, const json_t *source);

/* Checks a client's `login` object (see PROTOCOL.md); 0 or -EINVAL with
 * why (which never holds a secret). NULL is fine. */
int ckd_master_login_check(const json_t *login, char *why, size_t whylen);
/* The session for url (NULL: the default) with the client's login (may be
 * NULL) applied. NULL with why. */
ckd_master *ckd_master_use(ckd_daemon *d, const char *url, const json_t *login, char *why,
                           size_t whylen);

#endif
