/* Verify: size and hash checks of a written file (XXH3-128). See also
 * checksums.h (the checkpoint's own checksums file) and manifest.h (ckptd's
 * record of a published copy). Loop thread; hashing goes to the pool. */
#ifndef CKD_VERIFY_H
#define CKD_VERIFY_H

#include "job.h"

/* Every byte of f is written: hash it if no single stream did, then
 * ckd_file_verify. */
void ckd_file_finish(ckd_file *f);
/* Size and hash are known: on to the flush (publish.h), one refetch, or
 * failure. A mismatch of a file copied from a verified copy elsewhere
 * fetches it from its source instead. */
void ckd_file_verify(ckd_file *f);
/* Whole-file work (a local copy, an archive entry) wrote size bytes whose
 * hash is in f->hash: one segment covering them, then verify. */
void ckd_file_landed(ckd_file *f, int64_t size);

#endif
