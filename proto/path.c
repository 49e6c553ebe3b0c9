/* Relative path validation and byte formatting shared by daemon and client. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ckp.h"

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
int ckp_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

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
