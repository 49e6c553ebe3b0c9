/* ckp xxhsum: one xxhsum checksum line, parsed (GNU or BSD form, escaped
 * names, XXH3-128 only). See xxhsum.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "xxhsum.h"

#define ONLY_128 ": only XXH3 128-bit hashes (xxhsum -H2) can be checked"

static int fail(const char **why, int rc, const char *reason)
{
    if (why) *why = reason;
    return rc;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hex_value(s[i]) < 0) return false;
    return true;
}

/* Checks a hash field: 32 hex digits are copied lowercase into e->hex;
 * 16 or 8 are a 64- or 32-bit xxHash. */
static int take_hash(const char *s, size_t n, ckp_mf_entry *e, const char **why)
{
    if (n == 0) return fail(why, -EINVAL, "no hash");
    if (!all_hex(s, n)) return fail(why, -EINVAL, "the hash is not hexadecimal");
    if (n == 16)
        return fail(why, -ENOTSUP, "64-bit hash (XXH64 or XXH3_64) is not supported" ONLY_128);
    if (n == 8) return fail(why, -ENOTSUP, "32-bit hash (XXH32) is not supported" ONLY_128);
    if (n != 32) return fail(why, -EINVAL, "the hash does not have 32 hex digits");
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) e->hex[i] = digits[hex_value(s[i])];
    e->hex[32] = '\0';
    return 0;
}

/* The algorithm tag of a BSD line: 0 for XXH128, or why it is refused. */
static int check_tag(const char *tag, size_t n, const char **why)
{
    static const struct {
        const char *tag;
        const char *why;
    } other[] = {
        {"XXH64", "XXH64 hash is not supported" ONLY_128},
        {"XXH3", "XXH3_64 hash is not supported" ONLY_128},
        {"XXH32", "XXH32 hash is not supported" ONLY_128},
        {"XXH128_LE", "little-endian XXH128 hash is not supported" ONLY_128},
        {"XXH64_LE", "XXH64 hash is not supported" ONLY_128},
        {"XXH3_LE", "XXH3_64 hash is not supported" ONLY_128},
        {"XXH32_LE", "XXH32 hash is not supported" ONLY_128},
    };
    if (n == 6 && memcmp(tag, "XXH128", 6) == 0) return 0;
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (strlen(other[i].tag) == n && memcmp(tag, other[i].tag, n) == 0)
            return fail(why, -ENOTSUP, other[i].why);
    return fail(why, -EINVAL, "unknown hash algorithm");
}

/* The last occurrence of ") = " in [s, end), or NULL. */
static char *last_bsd_separator(char *s, char *end)
{
    for (size_t i = (size_t)(end - s); i >= 4; i--)
        if (memcmp(s + i - 4, ") = ", 4) == 0) return s + i - 4;
    return NULL;
}

/* Undoes xxhsum's escapes in name[0..n) in place and terminates it. */
static int unescape(char *name, size_t n, size_t *outlen, const char **why)
{
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        char c = name[r];
        if (c == '\\') {
            if (r + 1 >= n) return fail(why, -EINVAL, "a backslash ends the escaped name");
            char next = name[++r];
            if (next == '\\')
                c = '\\';
            else if (next == 'n')
                c = '\n';
            else
                return fail(why, -EINVAL, "unknown escape in the name");
        }
        name[w++] = c;
    }
    name[w] = '\0';
    *outlen = w;
    return 0;
}

int ckp_xxhsum_parse_line(char *line, size_t len, ckp_mf_entry *e, const char **why)
{
    if (why) *why = NULL;
    if (len > 0 && line[len - 1] == '\n') len--;
    if (len > 0 && line[len - 1] == '\r') len--;
    line[len] = '\0';
    if (memchr(line, '\0', len)) return fail(why, -EINVAL, "NUL byte in the line");
    if (strspn(line, " \t") == len) return CKP_MF_BLANK;

    bool escaped = line[0] == '\\';
    char *p = line + escaped, *end = line + len;
    char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp || sp + 1 >= end) return fail(why, -EINVAL, "no file name");

    char *name;
    size_t namelen;
    int rc;
    if (sp[1] == '(') {
        /* BSD: "TAG (name) = hex"; the name may hold ") = " itself, the
         * hash cannot, so the last separator ends the name. */
        if ((rc = check_tag(p, (size_t)(sp - p), why)) < 0) return rc;
        name = sp + 2;
        char *sep = last_bsd_separator(name, end);
        if (!sep) return fail(why, -EINVAL, "no ') = ' after the name");
        if (all_hex(sep + 4, (size_t)(end - sep - 4)) && end - sep - 4 != 32)
            return fail(why, -EINVAL, "the hash does not have 32 hex digits");
        if ((rc = take_hash(sep + 4, (size_t)(end - sep - 4), e, why)) < 0) return rc;
        namelen = (size_t)(sep - name);
        *sep = '\0';
    } else {
        /* GNU: "hex  name", or "hex *name" (binary mode). */
        if ((rc = take_hash(p, (size_t)(sp - p), e, why)) < 0) return rc;
        if (sp[1] != ' ' && sp[1] != '*')
            return fail(why, -EINVAL, "hash and name are not separated by two spaces");
        name = sp + 2;
        namelen = (size_t)(end - name);
    }
    if (namelen == 0) return fail(why, -EINVAL, "no file name");
    if (escaped && (rc = unescape(name, namelen, &namelen, why)) < 0) return rc;
    e->path = name;
    e->path_len = namelen;
    return CKP_MF_ENTRY;
}
