/* ckp xxhsum: one line of an xxhsum checksum file, parsed.
 *
 * Two forms are read, as `xxhsum -c` reads them:
 *   GNU  "<hex>  <path>"  (or "<hex> *<path>", the binary-mode marker)
 *   BSD  "XXH128 (<path>) = <hex>"
 * A line starting with '\' is escaped: its name has "\\" for a backslash and
 * "\n" for a newline (xxhsum writes names holding either that way). Only
 * XXH3 128-bit hashes (`xxhsum -H2`, 32 hex digits) are accepted; XXH32,
 * XXH64 and XXH3_64 lines are recognised and refused as unsupported. A
 * trailing "\n" or "\r\n" is dropped. Pure: no I/O. */
#ifndef CKP_XXHSUM_H
#define CKP_XXHSUM_H

#include <stddef.h>

/* One checksum line. */
typedef struct ckp_mf_entry {
    char hex[33];     /* the XXH3-128, lowercase */
    const char *path; /* the unescaped name, NUL-terminated, inside the line */
    size_t path_len;  /* its length */
} ckp_mf_entry;

enum {
    CKP_MF_ENTRY = 0, /* *e is filled */
    CKP_MF_BLANK = 1, /* an empty or all-blank line, to skip */
};

/* Parses line[0..len) in place (it is unescaped there, and line[len] must
 * be writable: getline's buffer is). Returns CKP_MF_ENTRY, CKP_MF_BLANK,
 * -EINVAL for a malformed line or -ENOTSUP for a hash other than XXH3-128,
 * with a short lowercase reason in *why (why may be NULL). */
int ckp_xxhsum_parse_line(char *line, size_t len, ckp_mf_entry *e, const char **why);

#endif
