/* Helpers shared by the object-store credential modules (see cred_util.h). */
#include "cred_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

void ckd_cred_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *ckd_cred_nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

const char *ckd_cred_env(const char *name)
{
    return ckd_cred_nonempty(getenv(name));
}

void ckd_cred_free_secret(char *s)
{
    if (!s) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

int ckd_cred_read_fd(int fd, size_t cap, char **out, size_t *lenp)
{
    size_t len = 0;
    char *text = malloc(cap);
    *out = NULL;
    *lenp = 0;
    if (!text) {
        close(fd);
        return -ENOMEM;
    }
    while (len + 1 < cap) {
        ssize_t n = read(fd, text + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    *out = text;
    *lenp = len;
    return 0;
}

void ckd_wbuf_put(ckd_wbuf *w, const char *s, size_t n)
{
    if (w->over || w->cap == 0 || n >= w->cap - w->len) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

void ckd_wbuf_puts(ckd_wbuf *w, const char *s)
{
    ckd_wbuf_put(w, s, strlen(s));
}
