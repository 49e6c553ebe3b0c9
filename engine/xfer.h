/* HTTP(S) transfers of file segments, the loop's side: each is a ranged GET
 * run by the data plane (plane.h), whose worker threads write the body into
 * the staging file and hash it in place; progress is journaled here and the
 * end becomes one ckd_outcome (fetch.h). Memory is bounded by libcurl's
 * receive buffers (buffer_cap over all transfers); a bandwidth limit pauses
 * transfers, it never buffers. */
#ifndef CKD_XFER_H
#define CKD_XFER_H

#include "fetch.h"
#include "job.h"

typedef struct ckd_xfer ckd_xfer;

/* The engine on d's loop; outcomes of transfers go to report(d, ...). */
int ckd_xfer_engine_init(ckd_daemon *d, ckd_outcome_fn report);
void ckd_xfer_engine_close(ckd_daemon *d);
void ckd_xfer_engine_apply_config(ckd_daemon *d);
/* Files at least this large are preallocated before their first write. */
#define CKD_PREALLOC_MIN (1 << 20)
/* Starts a transfer for segment s (s->xfer NULL, !s->inflight). The file is
 * open, or it has one range and the data plane's worker creates it (and
 * closes it when the transfer ends). */
int ckd_xfer_start(ckd_daemon *d, ckd_seg *s);
/* Stops s's transfer; its end is not reported as an outcome (bytes that
 * reached the file are kept in s, and s->inflight holds until then). */
void ckd_xfer_abort(ckd_seg *s);
/* Cuts s's running transfer short at end (a large file of unknown size
 * split at run time). */
void ckd_xfer_set_end(ckd_seg *s, int64_t end);

#endif
