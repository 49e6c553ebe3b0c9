/* det_parse's internals: what det_parse.c (messages, scalars, states, the
 * JSON field helpers, storage configs, experiments, login and errors) shares
 * with det_parse_ckpt.c (checkpoints and list replies). The API is
 * det_model.h. */
#ifndef CKD_DET_PARSE_INT_H
#define CKD_DET_PARSE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "det_model.h"

/* Formats into err (when err and errlen are set). */
void det_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Quotes untrusted bytes for a message. Control bytes and bytes that are
 * not valid UTF-8 become \xNN: a NUL from "\u0000" stays visible, no
 * escape sequence reaches a terminal, and the message can always go into a
 * JSON string. Long values are cut with "...". Returns the text. */
#define QUOTE_MAX 160
typedef struct quoted {
    char s[QUOTE_MAX * 4 + 8];
} quoted;

const char *det_quote(quoted *q, const char *s, size_t len);
/* det_quote() of a NUL-terminated string (NULL: ""). */
const char *det_quotez(quoted *q, const char *s);

/* The master omits unset scalars and sends null for unset messages; both
 * read as "missing" (NULL) here. */
json_t *det_field(const json_t *obj, const char *key);
/* An int64 that may come as a JSON integer or, the proto3 JSON way, as a
 * decimal string. Returns 1 with *out, 0 when missing, -EINVAL. */
int det_get_int64(const json_t *v, int64_t *out);
/* A string field copied out; missing or null -> NULL. Returns 0, -EINVAL
 * for another type or an over-long value, -ENOMEM. */
int det_get_string(const json_t *obj, const char *key, char **out, const char *what, char *err,
                   size_t errlen);
/* Reads a reply body: size cap first, then JSON, then "must be an object".
 * NULL with *rc set on error. */
json_t *det_load_body(const char *body, size_t len, const char *what, char *err, size_t errlen,
                      int *rc);
/* The searcher settings of an experiment config (checkpoint or experiment). */
int det_parse_searcher(const json_t *config, char **metric, int *smaller_is_better, char *err,
                       size_t errlen);

#endif
