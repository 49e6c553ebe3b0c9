/* libFuzzer target: arbitrary bytes through the framer and the message
 * parser, in arbitrary read sizes. Must never crash, leak or over-buffer. */
#include <stdint.h>
#include <stdlib.h>

#include "ckp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckp_framer f;
    ckp_framer_init(&f, 4096);
    size_t off = 0;
    /* The first byte picks the read size, so split reads get explored. */
    size_t step = size ? (size_t)(data[0] % 64) + 1 : 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        if (ckp_framer_feed(&f, (const char *)data + off, n) != 0) break;
        if (f.len - f.head > 4096 + 64) abort(); /* the cap must hold */
        off += n;
        const char *line;
        size_t len;
        while (ckp_framer_next(&f, &line, &len) == 1) {
            ckp_msg m;
            char why[128];
            (void)ckp_msg_parse(line, len, &m, why, sizeof(why));
            ckp_msg_release(&m);
        }
    }
    ckp_framer_release(&f);
    return 0;
}
