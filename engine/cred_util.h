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

#endif
