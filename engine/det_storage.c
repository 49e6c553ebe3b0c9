/* The checkpoint directory on a mounted storage, with det's fallback to the
 * task container's mount point. See det_storage.h. */
#include "det_storage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* storage_path relative to host_path (det's os.path.relpath), or NULL when
 * there is none or it is host_path itself. */
static const char *relative_storage_path(const ckd_det_storage *st)
{
    const char *sub = st->storage_path;
    if (!sub || !*sub) return NULL;
    if (sub[0] != '/') return sub;
    size_t blen = strlen(st->host_path);
    while (blen > 1 && st->host_path[blen - 1] == '/') blen--;
    if (strncmp(sub, st->host_path, blen) != 0) return sub; /* refused by local_path */
    sub += blen;
    while (*sub == '/') sub++;
    return *sub ? sub : NULL;
}

int ckd_det_storage_locate(const ckd_det_storage *st, const char *uuid, const char *rel, char **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    if (!st || !st->type || strcmp(st->type, "shared_fs") != 0 || !st->host_path)
        return ckd_det_storage_local_path(st, uuid, rel, out, err, errlen);
    char *dir = NULL;
    int rc = ckd_det_storage_local_path(st, uuid, NULL, &dir, err, errlen);
    int here = rc == 0 && is_dir(dir);
    free(dir);
    if (rc < 0 || here)
        return rc < 0 ? rc : ckd_det_storage_local_path(st, uuid, rel, out, err, errlen);
    const char *root = getenv("CKPTD_SHARED_FS_ROOT");
    ckd_det_storage alt = *st;
    alt.host_path = (char *)(root && root[0] == '/' ? root : CKD_DET_SHARED_FS_ROOT);
    alt.storage_path = (char *)relative_storage_path(st);
    if (ckd_det_storage_local_path(&alt, uuid, NULL, &dir, err, errlen) == 0 && is_dir(dir)) {
        free(dir);
        return ckd_det_storage_local_path(&alt, uuid, rel, out, err, errlen);
    }
    free(dir);
    return ckd_det_storage_local_path(st, uuid, rel, out, err, errlen);
}
