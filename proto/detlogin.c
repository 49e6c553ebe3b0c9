/* ckp detlogin: det's master URL form, token store and login choice. See
 * detlogin.h. */
#include "detlogin.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ckp_master_url_canon(const char *in, char *out, size_t outlen, const char **why)
{
    const char *scheme = "http", *rest = in;
    unsigned port = 8080;
    if (strncmp(in, "https://", 8) == 0) {
        scheme = "https", rest = in + 8, port = 443;
    } else if (strncmp(in, "http://", 7) == 0) {
        rest = in + 7, port = 80;
    } else if (strstr(in, "://")) {
        *why = "the master URL must be http:// or https://";
        return -EINVAL;
    }
    size_t alen = strcspn(rest, "/?#");
    const char *path = rest + alen;
    if (memchr(rest, '@', alen)) {
        *why = "the master URL must not hold a user name or password";
        return -EINVAL;
    }
    if (strpbrk(path, "?#")) {
        *why = "the master URL must not hold a query or fragment";
        return -EINVAL;
    }
    for (const char *p = in; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            *why = "the master URL must not hold spaces or control characters";
            return -EINVAL;
        }
    }
    /* host, or [v6], then :port */
    const char *host = rest, *hend;
    if (alen > 0 && rest[0] == '[') {
        hend = memchr(rest, ']', alen);
        if (!hend) {
            *why = "the master URL has an unclosed '['";
            return -EINVAL;
        }
        hend++;
    } else {
        hend = memchr(rest, ':', alen);
        if (!hend) hend = rest + alen;
    }
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0 || (host[0] == '[' && hlen <= 2)) {
        *why = "the master URL has no host";
        return -EINVAL;
    }
    if (hend < rest + alen) {
        if (*hend != ':' || hend + 1 == rest + alen) {
            *why = "the master URL has a bad port";
            return -EINVAL;
        }
        unsigned long v = 0;
        for (const char *p = hend + 1; p < rest + alen; p++) {
            if (!isdigit((unsigned char)*p) || (v = v * 10 + (unsigned)(*p - '0')) > 65535) {
                *why = "the master URL has a bad port";
                return -EINVAL;
            }
        }
        if (v == 0) {
            *why = "the master URL has a bad port";
            return -EINVAL;
        }
        port = (unsigned)v;
    }
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/') plen--;
    int n =
        snprintf(out, outlen, "%s://%.*s:%u%.*s", scheme, (int)hlen, host, port, (int)plen, path);
    if (n < 0 || (size_t)n >= outlen || (size_t)n >= CKP_MASTER_URL_MAX) {
        *why = "the master URL is too long";
        return -EINVAL;
    }
    /* Hosts are case-insensitive; det (urlparse's hostname) lowercases them. */
    char *h = out + strlen(scheme) + 3;
    for (size_t i = 0; i < hlen; i++) h[i] = (char)tolower((unsigned char)h[i]);
    return 0;
}

/* One master's entry: {"active_user": str, "tokens": {str: str}}, nothing
 * else (det's validate_one_master_entry). */
static int entry_valid(const json_t *e)
{
    if (!json_is_object(e)) return 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)e, k, v)
    {
        if (strcmp(k, "active_user") == 0) {
            if (!json_is_string(v)) return 0;
        } else if (strcmp(k, "tokens") == 0) {
            if (!json_is_object(v)) return 0;
            const char *u;
            json_t *t;
            json_object_foreach(v, u, t) if (!json_is_string(t)) return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* The entry for url: v0 is one entry for whatever master det is asked
 * about; v1 keys are canonicalized first (det's shim), v2 keys are. */
static const json_t *find_entry(const json_t *store, const char *url, int *bad)
{
    json_t *ver = json_object_get(store, "version");
    if (!ver || (json_is_integer(ver) && json_integer_value(ver) == 0)) {
        *bad = !entry_valid(store);
        return *bad ? NULL : store;
    }
    json_int_t v = json_integer_value(ver);
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)store, k, val) if (strcmp(k, "version") && strcmp(k, "masters"))
    {
        *bad = 1;
        return NULL;
    }
    json_t *masters = json_object_get(store, "masters");
    if (!json_is_integer(ver) || (v != 1 && v != 2) || (masters && !json_is_object(masters))) {
        *bad = 1;
        return NULL;
    }
    const json_t *found = NULL;
    json_object_foreach(masters, k, val)
    {
        if (!entry_valid(val)) {
            *bad = 1;
            return NULL;
        }
        char canon[CKP_MASTER_URL_MAX];
        const char *why;
        if (found) continue;
        if (v == 2 ? strcmp(k, url) == 0
                   : ckp_master_url_canon(k, canon, sizeof canon, &why) == 0 &&
                         strcmp(canon, url) == 0)
            found = val;
    }
    return found;
}

int ckp_det_store_find(const char *text, size_t len, const char *url, const char *user,
                       char **active, char **token, const char **why)
{
    *active = *token = NULL;
    if (len > CKP_DET_STORE_MAX) {
        *why = "larger than 1 MiB";
        return -EINVAL;
    }
    json_t *store = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(store)) {
        json_decref(store);
        *why = "not a JSON object";
        return -EINVAL;
    }
    int bad = 0;
    const json_t *e = find_entry(store, url, &bad);
    if (bad) {
        json_decref(store);
        *why = "not in the format det writes";
        return -EINVAL;
    }
    const char *au = json_string_value(json_object_get(e, "active_user"));
    const char *who = user ? user : au;
    const char *tok =
        who ? json_string_value(json_object_get(json_object_get(e, "tokens"), who)) : NULL;
    int rc = 0;
    if (au && !(*active = strdup(au))) rc = -ENOMEM;
    if (tok && rc == 0 && !(*token = strdup(tok))) rc = -ENOMEM;
    if (rc < 0) {
        free(*active);
        *active = NULL;
    }
    json_decref(store);
    return rc;
}

char *ckp_det_store_path(void)
{
    const char *dbg = getenv("DET_DEBUG_CONFIG_PATH");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char buf[4096];
    int n;
    if (dbg && *dbg)
        n = snprintf(buf, sizeof buf, "%s/auth.json", dbg);
    else if (xdg) /* det takes it when it is set at all */
        n = snprintf(buf, sizeof buf, "%s/determined/auth.json", xdg);
    else if (home && *home)
        n = snprintf(buf, sizeof buf, "%s/.config/determined/auth.json", home);
    else
        return NULL;
    return n > 0 && (size_t)n < sizeof buf ? strdup(buf) : NULL;
}

/* The store's text, or NULL (no file: *err 0; unreadable or too large:
 * *err < 0). */
static char *read_store(const char *path, size_t *len, int *err)
{
    *err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR) *err = -errno;
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CKP_DET_STORE_MAX) {
        *err = -EINVAL;
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        *err = -ENOMEM;
    } else {
        size_t have = 0;
        ssize_t n;
        while (have < (size_t)st.st_size &&
               (n = read(fd, buf + have, (size_t)st.st_size - have)) > 0)
            have += (size_t)n;
        buf[have] = '\0';
        *len = have;
    }
    close(fd);
    return buf;
}

static void wipe_free(char *s)
{
    if (!s) return;
    volatile char *p = s;
    while (*p) *p++ = 0;
    free(s);
}

void ckp_det_login_release(ckp_det_login *l)
{
    free(l->user);
    wipe_free(l->token);
    wipe_free(l->password);
    memset(l, 0, sizeof(*l));
}

static char *warn_text(const char *path, const char *why)
{
    char buf[4400];
    snprintf(buf, sizeof buf, "ignoring det's token store '%s': %s", path, why);
    return strdup(buf);
}

int ckp_det_login_from_env(const char *url, ckp_det_login *out, char **warn)
{
    memset(out, 0, sizeof(*out));
    *warn = NULL;
    const char *env_user = getenv("DET_USER"), *env_pass = getenv("DET_PASS");
    const char *env_token = getenv("DET_USER_TOKEN");
    /* det: DET_USER with DET_PASS; one alone does not count. */
    int env_pair = env_user && env_pass;
    char *path = ckp_det_store_path();
    size_t len = 0;
    int err = 0;
    char *text = path ? read_store(path, &len, &err) : NULL;
    if (err == -ENOMEM) {
        free(path);
        return -ENOMEM;
    }
    if (err < 0)
        *warn = warn_text(path,
                          err == -EINVAL ? "not a regular file of at most 1 MiB" : strerror(-err));
    char *active = NULL, *token = NULL;
    const char *why = NULL;
    int rc = 0;
    if (text) {
        /* First the active user (and its token), then the token of the
         * user det would pick when that is another. */
        rc = ckp_det_store_find(text, len, url, env_pair ? env_user : NULL, &active, &token, &why);
        if (rc == 0 && !env_pair && !active) {
            char *a2 = NULL;
            rc = ckp_det_store_find(text, len, url, CKP_DET_DEFAULT_USER, &a2, &token, &why);
            free(a2);
        }
        if (rc == -EINVAL) {
            *warn = warn_text(path, why);
            rc = 0;
        }
        wipe_free(text);
    }
    free(path);
    if (rc == 0) {
        if (env_pair) {
            out->user = strdup(env_user);
            out->password = strdup(env_pass);
            out->from = "DET_USER/DET_PASS";
            if (!out->password) rc = -ENOMEM;
        } else if (active) {
            out->user = active;
            active = NULL;
            out->from = "det's token store";
        } else {
            out->user = strdup(CKP_DET_DEFAULT_USER);
            out->password = strdup("");
            out->from = "the default user";
            if (!out->password) rc = -ENOMEM;
        }
        if (!out->user) rc = -ENOMEM;
    }
    if (rc == 0 && token) {
        out->token = token;
        token = NULL;
        if (!env_pair) out->from = "det's token store";
    } else if (rc == 0 && env_user && *env_user && env_token && *env_token) {
        /* det's special case for task containers: no stored token, so
         * DET_USER with its DET_USER_TOKEN. */
        if (strcmp(out->user, env_user) != 0) {
            wipe_free(out->password);
            out->password = NULL;
            free(out->user);
            out->user = strdup(env_user);
        }
        out->token = strdup(env_token);
        out->from = "DET_USER_TOKEN";
        if (!out->user || !out->token) rc = -ENOMEM;
    }
    free(active);
    wipe_free(token);
    if (rc < 0) ckp_det_login_release(out);
    return rc;
}
