/* Relative path validation, a URL's file name and byte formatting shared
 * by daemon and client.
 * UTF-8 checks live in text.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

int ckp_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ckp_url_filename(const char *url, char **name, const char **why)
{
    *name = NULL;
    const char *sep = strstr(url, "://");
    if (!sep || sep == url) {
        *why = "not a url";
        return -EINVAL;
    }
    const char *path = sep + 3;
    path += strcspn(path, "/?#"); /* skip the authority */
    size_t plen = strcspn(path, "?#");
    const char *end = path + plen;
    const char *seg = end;
    while (seg > path && seg[-1] != '/') seg--;
    if (seg == end) {
        *why = plen ? "the url ends with '/'" : "the url has no path";
        return -EINVAL;
    }

    size_t seglen = (size_t)(end - seg);
    char *out = malloc(seglen + 1);
    if (!out) return -ENOMEM;
    size_t o = 0;
    bool nul = false;
    for (size_t i = 0; i < seglen; i++) {
        int hi, lo;
        if (seg[i] == '%' && i + 2 < seglen && (hi = ckp_hexval(seg[i + 1])) >= 0 &&
            (lo = ckp_hexval(seg[i + 2])) >= 0) {
            char ch = (char)(hi * 16 + lo);
            if (ch == '\0') nul = true;
            out[o++] = ch;
            i += 2;
        } else {
            out[o++] = seg[i];
        }
    }
    out[o] = '\0';

    if (nul)
        *why = "the name contains a NUL byte";
    else if (memchr(out, '/', o))
        *why = "the name contains '/' once decoded";
    else if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        *why = "the name is '.' or '..'";
    else {
        *name = out;
        return 0;
    }
    free(out);
    return -EINVAL;
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
