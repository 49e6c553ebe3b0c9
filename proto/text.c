/* Text that always reaches the wire and the log: UTF-8 checks, truncation at
 * a character boundary, escaping of invalid bytes and control characters,
 * and URL redaction. Pure functions, no I/O, bounded output. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"

/* Length of the strict UTF-8 sequence at s[0..len), or 0 when it is not one
 * (overlong, surrogate, past U+10FFFF, cut short, stray continuation byte). */
static size_t seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
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
    if (len <= n) return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

int ckp_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(s + i, len - i);
        if (n == 0) return 0;
        i += n;
    }
    return 1;
}

/* The length of s[0..len) without a character cut short at its end. */
static size_t drop_partial(const unsigned char *s, size_t len)
{
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = s[len - back];
        if ((c & 0xc0) == 0x80) continue; /* a continuation byte: look further back */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back ? len - back : len;
    }
    return len;
}

size_t ckp_utf8_cut(const char *str, size_t len, size_t max)
{
    if (len <= max) return len;
    return drop_partial((const unsigned char *)str, max);
}

size_t ckp_vfmt(char *out, size_t outlen, const char *fmt, va_list ap)
{
    if (outlen == 0) return 0;
    int n = vsnprintf(out, outlen, fmt, ap);
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    size_t len = (size_t)n;
    if (len >= outlen) {
        len = drop_partial((const unsigned char *)out, outlen - 1);
        out[len] = '\0';
    }
    return len;
}

size_t ckp_fmt(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = ckp_vfmt(out, outlen, fmt, ap);
    va_end(ap);
    return n;
}

size_t ckp_text_escape(char *out, size_t outlen, const char *str, size_t len, unsigned flags)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;
    if (outlen == 0) return 0;
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(s + i, len - i);
        char esc[4];
        size_t elen = 0;
        if (n == 0 || (n == 1 && (flags & CKP_ESC_CONTROL) && (s[i] < 0x20 || s[i] == 0x7f))) {
            esc[0] = '\\';
            if (n == 1 && s[i] == '\n') {
                esc[1] = 'n';
                elen = 2;
            } else if (n == 1 && s[i] == '\r') {
                esc[1] = 'r';
                elen = 2;
            } else if (n == 1 && s[i] == '\t') {
                esc[1] = 't';
                elen = 2;
            } else {
                esc[1] = 'x';
                esc[2] = hex[s[i] >> 4];
                esc[3] = hex[s[i] & 15];
                elen = 4;
            }
            n = 1;
        }
        const char *piece = elen ? esc : (const char *)s + i;
        size_t plen = elen ? elen : n;
        if (o + plen >= outlen) break; /* whole characters only */
        memcpy(out + o, piece, plen);
        o += plen;
        i += n;
    }
    out[o] = '\0';
    return o;
}

json_t *ckp_json_text(const char *s)
{
    if (!s) return json_null();
    size_t len = strlen(s);
    if (ckp_utf8_valid(s, len)) return json_stringn(s, len);
    /* Invalid bytes become four characters each; never more than that. */
    size_t cap = len * 4 + 1;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t n = ckp_text_escape(buf, cap, s, len, 0);
    json_t *v = json_stringn(buf, n);
    free(buf);
    return v;
}

/* Appends s[0..len) to out at *o if it fits whole (always leaving the NUL). */
static int put(char *out, size_t outlen, size_t *o, const char *s, size_t len)
{
    if (*o + len >= outlen) return -1;
    memcpy(out + *o, s, len);
    *o += len;
    out[*o] = '\0';
    return 0;
}

/* Redacts the URL at u[0..len) (it starts with a scheme and "://"). */
static void redact_one(char *out, size_t outlen, size_t *o, const char *u, size_t len)
{
    const char *sep = memchr(u, ':', len);
    size_t auth = (size_t)(sep - u) + 3; /* start of the authority */
    size_t auth_end = auth;
    while (auth_end < len && !strchr("/?#", u[auth_end])) auth_end++;
    const char *at = NULL;
    for (size_t i = auth; i < auth_end; i++)
        if (u[i] == '@') at = u + i;
    if (put(out, outlen, o, u, auth) < 0) return;
    if (at) {
        if (put(out, outlen, o, "***@", 4) < 0) return;
        auth = (size_t)(at - u) + 1;
    }
    size_t q = auth;
    while (q < len && u[q] != '?' && u[q] != '#') q++;
    /* A long path is cut (at a character boundary), not dropped. */
    size_t room = outlen - 1 - *o;
    size_t keep = ckp_utf8_cut(u + auth, q - auth, room);
    if (put(out, outlen, o, u + auth, keep) < 0 || keep < q - auth) return;
    if (q < len && u[q] == '?') {
        if (put(out, outlen, o, "?...", 4) < 0) return;
        while (q < len && u[q] != '#') q++;
    }
    put(out, outlen, o, u + q, len - q);
}

static int scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

/* Characters that end a URL embedded in text. */
static int url_end(char c)
{
    return c == '\0' || c == ' ' || c == '\'' || c == '"' || c == '<' || c == '>' || c == '\n' ||
           c == '\r' || c == '\t';
}

size_t ckp_redact_urls(char *out, size_t outlen, const char *text)
{
    size_t o = 0, i = 0, copied = 0;
    if (outlen == 0) return 0;
    out[0] = '\0';
    const char *p;
    while ((p = strstr(text + i, "://")) != NULL) {
        size_t at = (size_t)(p - text), start = at;
        while (start > copied && scheme_char(text[start - 1])) start--;
        size_t end = at + 3;
        while (!url_end(text[end])) end++;
        if (start == at) { /* no scheme before "://": plain text */
            i = at + 3;
            continue;
        }
        size_t keep = ckp_utf8_cut(text + copied, start - copied, outlen - 1 - o);
        if (put(out, outlen, &o, text + copied, keep) < 0 || keep < start - copied) return o;
        redact_one(out, outlen, &o, text + start, end - start);
        copied = i = end;
    }
    size_t rest = strlen(text + copied);
    size_t keep = ckp_utf8_cut(text + copied, rest, outlen - 1 - o);
    put(out, outlen, &o, text + copied, keep);
    return o;
}

void ckp_url_redact(char *out, size_t outlen, const char *url)
{
    ckp_redact_urls(out, outlen, url);
}
