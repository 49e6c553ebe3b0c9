/* Helpers shared by the object-store credential modules (see cred_util.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred_util.h"

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
