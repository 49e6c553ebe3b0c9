/* ckc det_login: a det-style command's master and login. See det_login.h.
 *
 * The client reads them, not the daemon: it runs as the user in the
 * user's shell, with the environment and the HOME det would see there. The
 * login goes to the daemon over its private socket (mode 0600, the peer's
 * uid checked, so only the same user's daemon gets it) and stays in the
 * daemon's memory; the job records only the master's URL. */
#include "det_login.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "detlogin.h"

/* DET_MASTER_CERT_FILE as det's certs.default_load reads it. */
static int add_tls(json_t *login)
{
    const char *v = getenv("DET_MASTER_CERT_FILE");
    if (!v || !*v) return 0;
    if (strcasecmp(v, "noverify") == 0) return json_object_set_new(login, "noverify", json_true());
    char abs[PATH_MAX];
    if (access(v, F_OK) != 0 || !realpath(v, abs)) {
        /* det's own warning: it goes on with the system's CAs. */
        ckc_errorf("warning: DET_MASTER_CERT_FILE=%s path not found; continuing without cert", v);
        return 0;
    }
    return json_object_set_new(login, "ca_file", json_string(abs));
}

int ckc_det_attach(const ckc_opts *o, json_t *params, json_t *source)
{
    if (!params) return 0;
    const char *url = o->master;
    if (!url || !*url) url = getenv("DET_MASTER");
    if (!url || !*url) url = getenv("DET_MASTER_ADDR");
    if (!url || !*url) return 0; /* the daemon's own master */
    char canon[CKP_MASTER_URL_MAX];
    const char *why;
    if (ckp_master_url_canon(url, canon, sizeof canon, &why) < 0)
        return ckc_usage_errorf(NULL, "bad master URL '%s': %s", url, why);
    ckp_det_login l;
    char *warn = NULL;
    int rc = ckp_det_login_from_env(canon, &l, &warn);
    if (warn) ckc_errorf("warning: %s", warn);
    free(warn);
    if (rc < 0) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    json_t *login = json_object();
    int bad = !login;
    /* The default user without a token of its own: the daemon's own login
     * for that master is det's choice already. */
    int fallback = strcmp(l.from, "the default user") == 0 && !l.token;
    if (!bad && !fallback) {
        bad |= json_object_set_new(login, "user", json_string(l.user)) < 0;
        if (l.token) bad |= json_object_set_new(login, "token", json_string(l.token)) < 0;
        if (l.password) bad |= json_object_set_new(login, "password", json_string(l.password)) < 0;
    }
    ckp_det_login_release(&l);
    if (!bad) bad |= add_tls(login) < 0;
    if (!bad)
        bad |= json_object_set_new(source ? source : params, "master", json_string(canon)) < 0;
    if (!bad && json_object_size(login) > 0) bad |= json_object_set(params, "login", login) < 0;
    json_decref(login);
    if (bad) {
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    return 0;
}
