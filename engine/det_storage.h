/* det_storage: where a mounted checkpoint storage holds a checkpoint on this
 * node, found as det's SDK finds it (Checkpoint._find_shared_fs_path).
 *
 * shared_fs: <host_path>[/<storage_path>]/<uuid> when that directory exists,
 * else <root>[/<storage_path>]/<uuid> (storage_path relative to host_path),
 * root being "/determined_shared_fs", where a Determined task container
 * mounts the storage; else the first. The root can be set with the daemon's
 * environment variable CKPTD_SHARED_FS_ROOT (tests). Other types map as
 * ckd_det_storage_local_path does. Unlike det_parse.c this looks at the
 * file system (one stat). */
#ifndef CKD_DET_STORAGE_H
#define CKD_DET_STORAGE_H

#include <stddef.h>

#include "det_model.h"

/* The default of the container mount point, det's SHARED_FS_CONTAINER_PATH. */
#define CKD_DET_SHARED_FS_ROOT "/determined_shared_fs"

/* As ckd_det_storage_local_path, with the fallback above. */
int ckd_det_storage_locate(const ckd_det_storage *st, const char *uuid, const char *rel, char **out,
                           char *err, size_t errlen);

#endif
