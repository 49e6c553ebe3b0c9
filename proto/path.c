/* Relative path validation and byte formatting shared by daemon and client.
 * UTF-8 checks live in text.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ckp.h"

int ckp_path_check(const char *path, size_t len, const char **why)
{
    const char *reason = NULL;
    if (len == 0)
        reason = "empty path";
    else if (len > CKP_MAX_PATH)
        reason = "path too long";
    else if (memchr(path, '\0', len))
        reason = "NUL byte in path";
    else if (path[0] == '/')
        reason = "absolute path";
    else if (!ckp_utf8_valid(path, len))
        reason = "path is not valid UTF-8";
    else {
        size_t start = 0;
        for (size_t i = 0; i <= len && !reason; i++) {
            if (i < len && path[i] != '/') continue;
            size_t seg = i - start;
            if (seg == 0)
                reason = "empty path segment";
            else if (seg == 1 && path[start] == '.')
                reason = "'.' segment";
            else if (seg == 2 && path[start] == '.' && path[start + 1] == '.')
                reason = "'..' segment";
            start = i + 1;
        }
    }
    if (why) *why = reason;
    return reason ? -EINVAL : 0;
}

void ckp_fmt_bytes(char *out, size_t outlen, double bytes)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (bytes >= 1000.0 && u < 5) {
        bytes /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%.0f%s", bytes, units[u]);
    else
        snprintf(out, outlen, "%.1f%s", bytes, units[u]);
}
