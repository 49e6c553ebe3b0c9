/* libFuzzer target: xxhsum checksum lines (proto/xxhsum.c), parsed in place
 * one line at a time the way the manifest reader feeds them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"
#include "xxhsum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Its own copy with a writable byte past the end, as getline gives. */
    char *line = malloc(size + 1);
    if (!line) return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    ckp_mf_entry e;
    const char *why = NULL;
    int rc = ckp_xxhsum_parse_line(line, size, &e, &why);
    if (rc == CKP_MF_ENTRY) {
        if (strlen(e.hex) != 32 || e.path < line || e.path + e.path_len > line + size + 1) abort();
    } else if (rc < 0 && !why) {
        abort(); /* every refusal says why */
    }
    free(line);
    return 0;
}
