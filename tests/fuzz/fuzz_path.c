/* libFuzzer target: the archive entry path check (proto/path.c) and the
 * text helpers every message goes through (proto/text.c). An accepted path
 * has no '..', '.' or empty segment; escaped, cut and redacted text is
 * always valid UTF-8 within its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *why = NULL;
    if (ckp_path_check(s, size, &why) == 0) {
        if (size == 0 || s[0] == '/' || memchr(s, '\0', size) || !ckp_utf8_valid(s, size)) abort();
        size_t start = 0;
        for (size_t i = 0; i <= size; i++) {
            if (i < size && s[i] != '/') continue;
            size_t seg = i - start;
            if (seg == 0 || (seg == 1 && s[start] == '.') ||
                (seg == 2 && s[start] == '.' && s[start + 1] == '.'))
                abort();
            start = i + 1;
        }
    } else if (!why) {
        abort();
    }
    char out[512];
    size_t n = ckp_text_escape(out, sizeof(out), s, size, CKP_ESC_CONTROL);
    if (n >= sizeof(out) || !ckp_utf8_valid(out, n) || memchr(out, '\n', n)) abort();
    size_t cut = ckp_utf8_cut(s, size, size / 2);
    if (size > size / 2 && cut > size / 2) abort();
    char *z = malloc(size + 1);
    if (!z) return 0;
    memcpy(z, s, size);
    z[size] = '\0';
    char red[256];
    size_t r = ckp_redact_urls(red, sizeof(red), z);
    if (r >= sizeof(red) || strlen(red) != r) abort();
    json_decref(ckp_json_text(z));
    free(z);
    return 0;
}
