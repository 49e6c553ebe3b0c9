/* The table of master sessions and the logins they use. See masters.h.
 *
 * Who reads the credentials: the client, for the command's own login. It
 * runs as the user in the user's shell, so it sees what det sees there
 * (DET_USER/DET_PASS, det's token store under that HOME or
 * XDG_CONFIG_HOME, DET_MASTER_CERT_FILE), and sends them over the socket,
 * which only the daemon's own user can reach (mode 0600, peer uid
 * checked): the same user's secrets go to the same user's process, and
 * they stay in this process's memory only. The daemon reads det's token
 * store itself only for sessions no client has given a login yet (its own
 * master, or a job's master after a restart): as the same user it may, and
 * a job record never has to hold a secret to survive the restart. */
#include "masters.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "detlogin.h"
#include "fsutil.h"
#include "log.h"

static ckd_masters *table(ckd_daemon *d)
{
    return d->masters;
}

/* DET_MASTER_CERT_FILE: a CA file, or "noverify" (any case), as det reads
 * it; a path that does not exist is ignored with a warning, as det does. */
static void env_tls(ckd_master *m)
{
    const char *v = getenv("DET_MASTER_CERT_FILE");
    if (!v || !*v) return;
    if (strcasecmp(v, "noverify") == 0) {
        m->noverify = 1;
    } else if (access(v, R_OK) == 0) {
        m->ca_file = strdup(v);
    } else {
        ckd_warn("DET_MASTER_CERT_FILE='%s' cannot be read; the master's certificate is checked "
                 "against the system's CAs",
                 v);
    }
}

/* The daemon's own login for a new session (see masters.h). */
static int own_login(ckd_daemon *d, ckd_master *m)
{
    ckp_det_login l;
    char *warn = NULL;
    int rc = ckp_det_login_from_env(m->url, &l, &warn);
    if (warn) ckd_warn("%s", warn);
    free(warn);
    if (rc < 0) return rc;
    const char *tok = getenv("DET_USER_TOKEN");
    if (m->is_default) {
        /* ckptd's own: DET_USER_TOKEN alone counts for its master, and the
         * token it got last is cached in its state directory. */
        if (tok && *tok) {
            char *t = strdup(tok);
            if (!t) {
                ckp_det_login_release(&l);
                return -ENOMEM;
            }
            if (l.token) explicit_bzero(l.token, strlen(l.token));
            free(l.token);
            l.token = t;
            l.from = "DET_USER_TOKEN";
        }
        m->token_file = ckd_path_join(d->state_dir, "master-token");
    }
    rc = ckd_master_set_login(m, l.user, l.token, l.password, 1);
    if (rc == 0) ckd_info("determined master at '%s' (user '%s', from %s)", m->url, l.user, l.from);
    ckp_det_login_release(&l);
    return rc;
}

static ckd_master *session_new(ckd_daemon *d, const char *url, int is_default)
{
    ckd_master *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    if (ckd_master_init(m, d, url) < 0) {
        free(m);
        return NULL;
    }
    m->is_default = is_default;
    if (is_default && d->master_ca_file) {
        m->ca_file = strdup(d->master_ca_file);
        if (!m->ca_file) {
            ckd_master_release(m);
            free(m);
            return NULL;
        }
    } else {
        env_tls(m);
    }
    if (own_login(d, m) < 0) {
        ckd_master_release(m);
        free(m);
        return NULL;
    }
    return m;
}

int ckd_masters_open(ckd_daemon *d, const char *default_url)
{
    ckd_masters *t = calloc(1, sizeof(*t));
    if (!t) return -ENOMEM;
    d->masters = t;
    if (!default_url || !*default_url) return 0;
    char canon[CKP_MASTER_URL_MAX];
    const char *why;
    if (ckp_master_url_canon(default_url, canon, sizeof canon, &why) < 0) {
        ckd_error("bad master URL '%s': %s", default_url, why);
        return -EINVAL;
    }
    if (!(t->dflt = session_new(d, canon, 1))) return -ENOMEM;
    t->s[t->n++] = t->dflt;
    return 0;
}

void ckd_masters_cancel_all(ckd_daemon *d)
{
    ckd_masters *t = table(d);
    for (size_t i = 0; t && i < t->n; i++) ckd_master_cancel_all(t->s[i]);
}

void ckd_masters_close(ckd_daemon *d)
{
    ckd_masters *t = table(d);
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        ckd_master_release(t->s[i]);
        free(t->s[i]);
    }
    free(t);
    d->masters = NULL;
}

static ckd_master *find(ckd_masters *t, const char *url)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->s[i]->url, url) == 0) return t->s[i];
    return NULL;
}

/* Room for one more: drops the least recently used idle session but the
 * default (a job that needs it again gets a new one, with the daemon's own
 * login). */
static int make_room(ckd_masters *t)
{
    if (t->n < CKD_MASTERS_MAX) return 0;
    size_t victim = t->n;
    for (size_t i = 0; i < t->n; i++) {
        ckd_master *m = t->s[i];
        if (m == t->dflt || !ckd_master_idle(m)) continue;
        if (victim == t->n || m->used_ms < t->s[victim]->used_ms) victim = i;
    }
    if (victim == t->n) return -EBUSY;
    ckd_info("forgetting the session with the master at '%s' (the least recently used of %d)",
             t->s[victim]->url, CKD_MASTERS_MAX);
    ckd_master_release(t->s[victim]);
    free(t->s[victim]);
    t->s[victim] = t->s[--t->n];
    return 0;
}

ckd_master *ckd_master_get(ckd_daemon *d, const char *url, char *why, size_t whylen)
{
    ckd_masters *t = table(d);
    if (!url) {
        if (!t || !t->dflt)
            snprintf(why, whylen,
                     "no Determined master: give -m/--master URL or DET_MASTER, or start ckptd "
                     "with --master URL or DET_MASTER");
        return t ? t->dflt : NULL;
    }
    char canon[CKP_MASTER_URL_MAX];
    const char *bad;
    if (ckp_master_url_canon(url, canon, sizeof canon, &bad) < 0) {
        snprintf(why, whylen, "bad master URL: %s", bad);
        return NULL;
    }
    if (!t) {
        snprintf(why, whylen, "the daemon keeps no master sessions");
        return NULL;
    }
    ckd_master *m = find(t, canon);
    if (m) return m;
    if (make_room(t) < 0) {
        snprintf(why, whylen, "ckptd is busy with %d masters already; try again later",
                 CKD_MASTERS_MAX);
        return NULL;
    }
    if (!(m = session_new(d, canon, 0))) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    t->s[t->n++] = m;
    return m;
}

ckd_master *ckd_master_of(ckd_daemon *d, const json_t *source, char *why, size_t whylen)
{
    return ckd_master_get(d, json_string_value(json_object_get(source, "master")), why, whylen);
}

ckd_master *ckd_master_find_of(ckd_daemon *d, const json_t *source)
{
    ckd_masters *t = table(d);
    const char *url = json_string_value(json_object_get(source, "master"));
    if (!t) return NULL;
    if (!url) return t->dflt;
    char canon[CKP_MASTER_URL_MAX];
    const char *bad;
    return ckp_master_url_canon(url, canon, sizeof canon, &bad) == 0 ? find(t, canon) : NULL;
}

static int text_ok(const json_t *v, size_t max, int empty_ok)
{
    if (!json_is_string(v) || json_string_length(v) > max) return 0;
    if (!empty_ok && json_string_length(v) == 0) return 0;
    const char *s = json_string_value(v);
    for (size_t i = 0; i < json_string_length(v); i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f) return 0;
    return 1;
}

int ckd_master_login_check(const json_t *login, char *why, size_t whylen)
{
    if (!login) return 0;
    if (!json_is_object(login)) {
        snprintf(why, whylen, "'login' must be an object");
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)login, k, v)
    {
        int ok = 0;
        if (strcmp(k, "user") == 0)
            ok = text_ok(v, CKP_DET_USER_MAX, 0);
        else if (strcmp(k, "token") == 0)
            ok = text_ok(v, CKP_DET_SECRET_MAX, 0);
        else if (strcmp(k, "password") == 0)
            ok = text_ok(v, CKP_DET_SECRET_MAX, 1);
        else if (strcmp(k, "ca_file") == 0)
            ok = text_ok(v, 4096, 0) && json_string_value(v)[0] == '/';
        else if (strcmp(k, "noverify") == 0)
            ok = json_is_boolean(v);
        else {
            snprintf(why, whylen, "unknown key 'login.%.64s'", k);
            return -EINVAL;
        }
        if (!ok) {
            snprintf(why, whylen, "'login.%s' is not valid (%s)", k,
                     strcmp(k, "ca_file") == 0 ? "an absolute path"
                     : strcmp(k, "noverify") == 0
                         ? "true or false"
                         : "a string without control characters, not too long");
            return -EINVAL;
        }
    }
    int user = json_object_get(login, "user") != NULL;
    int secret = json_object_get(login, "token") || json_object_get(login, "password");
    if (user != secret) {
        snprintf(why, whylen, "'login' needs a 'user' together with a 'token' or a 'password'");
        return -EINVAL;
    }
    if (json_object_get(login, "ca_file") && json_is_true(json_object_get(login, "noverify"))) {
        snprintf(why, whylen, "'login' has both 'ca_file' and 'noverify'");
        return -EINVAL;
    }
    return 0;
}

ckd_master *ckd_master_use(ckd_daemon *d, const char *url, const json_t *login, char *why,
                           size_t whylen)
{
    if (ckd_master_login_check(login, why, whylen) < 0) return NULL;
    ckd_master *m = ckd_master_get(d, url, why, whylen);
    if (!m || !login) return m;
    const char *user = json_string_value(json_object_get(login, "user"));
    if (user &&
        ckd_master_set_login(m, user, json_string_value(json_object_get(login, "token")),
                             json_string_value(json_object_get(login, "password")), 0) < 0) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    const char *ca = json_string_value(json_object_get(login, "ca_file"));
    json_t *nv = json_object_get(login, "noverify");
    if (ca || nv) {
        char *c = ca ? strdup(ca) : NULL;
        if (ca && !c) {
            snprintf(why, whylen, "out of memory");
            return NULL;
        }
        free(m->ca_file);
        m->ca_file = c;
        m->noverify = json_is_true(nv);
    }
    return m;
}
