/* Content hashes of an objects job's files: record and lookup. See
 * objhash.h. */
#include "objhash.h"

#include <errno.h>
#include <string.h>

int ckd_objhash_etag_eq(const char *a, const char *b)
{
    if (!a || !b || !*a || !*b) return 0;
    size_t al = strlen(a), bl = strlen(b);
    if (al >= 2 && a[0] == '"' && a[al - 1] == '"') a++, al -= 2;
    if (bl >= 2 && b[0] == '"' && b[bl - 1] == '"') b++, bl -= 2;
    return al == bl && memcmp(a, b, al) == 0;
}

int ckd_objhash_add(json_t **rec, const char *path, const char *etag, const ckd_storehash *h)
{
    char text[CKD_STOREHASH_TEXT_MAX];
    if (!etag || !*etag || ckd_storehash_format(h, text, sizeof(text)) < 0) return -EINVAL;
    if (!*rec && !(*rec = json_object())) return -ENOMEM;
    json_t *e = json_pack("{s:s, s:s}", "etag", etag, "hash", text);
    if (!e || json_object_set_new(*rec, path, e) < 0) return -ENOMEM;
    return 0;
}

int ckd_objhash_expected(const ckd_file *f, ckd_storehash *out)
{
    memset(out, 0, sizeof(*out));
    if (f->zstd || f->unit < 0 || (size_t)f->unit >= f->job->nunits) return 0;
    const json_t *rec = json_object_get(f->job->units[f->unit].checkpoint, CKD_OBJHASH_KEY);
    const json_t *e = json_object_get(rec, f->path);
    const char *etag = json_string_value(json_object_get(e, "etag"));
    const char *text = json_string_value(json_object_get(e, "hash"));
    if (!etag || !text || ckd_storehash_parse(text, out) < 0) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    return ckd_objhash_etag_eq(f->validator, etag) ? 1 : -ESTALE;
}
