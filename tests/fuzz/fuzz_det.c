/* libFuzzer target: the master's JSON through the checkpoint and listing
 * parsers (engine/det_parse.c). The first byte picks the parser. Must never
 * crash or leak, whatever the master sends. */
#include <stdint.h>
#include <stdlib.h>

#include "det_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char err[256];
    if (data[0] & 1) {
        ckd_det_checkpoint cp;
        if (ckd_det_parse_checkpoint(body, len, &cp, err, sizeof(err)) == 0) {
            double v;
            (void)ckd_det_checkpoint_metric(&cp, "loss", &v);
            ckd_det_checkpoint_release(&cp);
        }
    } else {
        ckd_det_list list = {0}, all = {0};
        if (ckd_det_parse_list(body, len, &list, err, sizeof(err)) == 0) {
            (void)ckd_det_list_take(&all, &list);
            ckd_det_list_release(&list);
            ckd_det_list_release(&all);
        }
    }
    return 0;
}
