/* Resolution helpers shared with the checkpoint.list method. */
#ifndef CKD_RESOLVE_H
#define CKD_RESOLVE_H

#include "det_select.h"

/* Sets q's sort from a user's --sort-by: a preset name ("batch_number",
 * "SORT_BY_BATCH_NUMBER", ...) or else a validation metric (borrowed). */
void ckd_resolve_apply_sort(ckd_det_query *q, const char *sort_by);

#endif
