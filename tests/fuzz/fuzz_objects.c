/* libFuzzer target: what an object store sends back, and what a user types
 * to name a prefix (engine/objlist.c, engine/storehash.c).
 *
 * The first byte picks the parser, the rest is its input:
 *   0-2  a listing page of S3, GCS or azure; every entry has a key without
 *        NUL or control bytes and a size >= 0; the error text of the same
 *        body has no control bytes (it goes to logs);
 *   3    a content-hash header "name: value"; a digest taken formats to text
 *        that parses back to the same digest;
 *   4    "algo:base64" text; what parses formats back to what parses alike;
 *   5    an object URL; a parsed one has a bucket and a key within the URL;
 *        and its key as a listed key under the prefix "p/": a relative path
 *        taken is never absolute and has no '..' segment. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objlist.h"
#include "storehash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void listing(enum ckd_objstore store, const char *xml, size_t len)
{
    ckd_objpage page;
    char err[256] = "";
    int rc = ckd_objlist_parse(store, xml, len, &page, err, sizeof(err));
    if (rc == 0) {
        for (size_t i = 0; i < page.n; i++) {
            const ckd_objent *e = &page.v[i];
            if (!e->key || !e->etag || e->size < 0) abort();
            for (const unsigned char *k = (const unsigned char *)e->key; *k; k++)
                if (*k < 0x20 || *k == 0x7f) abort();
        }
        ckd_objpage_release(&page);
    } else if (rc == -EINVAL && !err[0]) {
        abort(); /* every refusal says why */
    } else if (rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM) {
        abort();
    }
    char text[320];
    ckd_objlist_error_text(xml, len, text, sizeof(text));
    for (const unsigned char *t = (const unsigned char *)text; *t; t++)
        if (*t < 0x20 || *t == 0x7f) abort(); /* sanitised for logs */
}

/* h formats to text that parses back to h. */
static void round_trip(const ckd_storehash *h)
{
    char out[CKD_STOREHASH_TEXT_MAX];
    ckd_storehash back;
    if (ckd_storehash_format(h, out, sizeof(out)) != 0 || ckd_storehash_parse(out, &back) != 0 ||
        !ckd_storehash_eq(h, &back))
        abort();
}

static void header(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    if (!colon) return;
    ckd_storehash best = {.algo = CKD_STOREHASH_NONE};
    int rc = ckd_storehash_header(&best, s, (size_t)(colon - s), colon + 1,
                                  len - (size_t)(colon - s) - 1);
    if (rc != 1 && rc != 0 && rc != -ENOTSUP && rc != -EINVAL) abort();
    if (best.algo != CKD_STOREHASH_NONE) round_trip(&best);
}

static void hash_text(const char *s)
{
    ckd_storehash h;
    if (ckd_storehash_parse(s, &h) == 0) round_trip(&h);
}

static void url(const char *s, size_t len)
{
    ckd_objurl u;
    char err[256] = "";
    if (ckd_objurl_parse(s, &u, err, sizeof(err)) == 0) {
        if (!u.bucket || !u.bucket[0] || !u.key || strlen(u.key) > len) abort();
        const char *rel = NULL, *why = NULL;
        size_t kl = strlen(u.key);
        char *key = malloc(kl + 3);
        if (key) {
            memcpy(key, "p/", 2);
            memcpy(key + 2, u.key, kl + 1);
            int taken = ckd_objlist_select("p/", key, NULL, 0, NULL, 0, &rel, &why);
            if (taken == 1) {
                if (rel[0] == '/' || strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0 ||
                    strstr(rel, "/../") ||
                    (strlen(rel) >= 3 && !strcmp(rel + strlen(rel) - 3, "/..")))
                    abort();
            } else if (taken < 0 && !why) {
                abort();
            }
            free(key);
        }
        ckd_objurl_release(&u);
    } else if (!err[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    /* Its own NUL-terminated copy: the parsers take C strings or lengths. */
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    size_t len = size - 1;
    switch (data[0] % 6) {
    case 0:
        listing(CKD_OBJ_S3, s, len);
        break;
    case 1:
        listing(CKD_OBJ_GCS, s, len);
        break;
    case 2:
        listing(CKD_OBJ_AZURE, s, len);
        break;
    case 3:
        header(s, len);
        break;
    case 4:
        hash_text(s);
        break;
    default:
        url(s, strlen(s));
        break;
    }
    free(s);
    return 0;
}
