/* Small helpers shared by the object-store credential modules (s3.c,
 * gcs.c, azure.c): error text, the environment, secrets. */
#ifndef CKD_CRED_UTIL_H
#define CKD_CRED_UTIL_H

#include <stddef.h>

/* vsnprintf into err when err is not NULL and errlen is not 0. */
void ckd_cred_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* s when it is a non-empty string, else NULL. */
const char *ckd_cred_nonempty(const char *s);
/* The variable's value when it is set and not empty, else NULL: an empty
 * variable counts as unset. */
const char *ckd_cred_env(const char *name);
/* Zeroes then frees a secret string (NULL is fine). */
void ckd_cred_free_secret(char *s);
/* Reads what fd holds, up to cap - 1 bytes, into a malloc'd NUL-terminated
 * *out of *len bytes (a file that grew past cap is cut there). Closes fd.
 * 0 or -ENOMEM. Parsers may cut the text with NULs: zero all *len + 1
 * bytes (explicit_bzero) before freeing it. */
int ckd_cred_read_fd(int fd, size_t cap, char **out, size_t *len);

/* A bounded string writer for canonical requests and strings to sign:
 * appends until full, then only remembers that it overflowed. */
typedef struct ckd_wbuf {
    char *p;
    size_t cap, len;
    int over;
} ckd_wbuf;
void ckd_wbuf_put(ckd_wbuf *w, const char *s, size_t n);
void ckd_wbuf_puts(ckd_wbuf *w, const char *s);

#endif
