#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ckp.h"

static enum ckd_log_level current = CKD_LOG_INFO;
static const char *names[] = {"error", "warn", "info", "debug"};

int ckd_log_parse_level(const char *name)
{
    for (int i = 0; i <= CKD_LOG_DEBUG; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -EINVAL;
}

void ckd_log_set_level(enum ckd_log_level level)
{
    current = level;
}

int ckd_log_enabled(enum ckd_log_level level)
{
    return level <= current;
}

void ckd_log(enum ckd_log_level level, const char *fmt, ...)
{
    if (level > current) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char msg[2048], redacted[2048], line[4096];
    va_list ap;
    va_start(ap, fmt);
    ckp_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Whatever the message carries (a URL with a password or a signature, a
     * name with a newline, bytes that are not UTF-8), the log gets one line
     * with no secret in it. */
    ckp_redact_urls(redacted, sizeof(redacted), msg);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ckptd %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level]);
    if (n < 0 || (size_t)n >= sizeof(line)) return;
    size_t len = (size_t)n + ckp_text_escape(line + n, sizeof(line) - (size_t)n - 1, redacted,
                                             strlen(redacted), CKP_ESC_CONTROL);
    /* One fputs per line so concurrent writers do not interleave mid-line. */
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}
