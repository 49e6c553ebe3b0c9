/* Local copies. See copy.h. */
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"

#define COPY_BUF (1 << 20)

typedef struct copy_req {
    uv_work_t work;
    struct ckd_daemon *owner;
    ckd_outcome_fn cb;
    int64_t job;
    int file;
    char *src, *dst, *dir, *rel;
    int twin;    /* src is a copy published elsewhere, not the storage */
    int src_err; /* reading the source failed */
    int dst_err; /* writing the copy failed */
    int64_t copied;
    unsigned char digest[16];
} copy_req;

static int copy_range(int in, int out, int64_t size, int64_t *copied)
{
    /* A reflink shares the extents: no bytes move at all (btrfs, XFS). */
    if (size > 0 && ioctl(out, FICLONE, in) == 0) {
        *copied = size;
        return 0;
    }
    int64_t off = 0;
    /* In-kernel copy first (reflinks on filesystems that can); plain reads
     * and writes where the kernel cannot copy between these files. */
    while (off < size) {
        loff_t ioff = off, ooff = off;
        ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)(size - off), 0);
        if (n > 0) {
            off += n;
            continue;
        }
        if (n == 0) break; /* the source shrank */
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        char *buf = malloc(COPY_BUF);
        if (!buf) return -ENOMEM;
        int rc = 0;
        while (off < size && rc == 0) {
            size_t want = size - off < COPY_BUF ? (size_t)(size - off) : COPY_BUF;
            ssize_t r = pread(in, buf, want, off);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                rc = r < 0 ? -errno : 0;
                break;
            }
            rc = ckd_pwrite_all(out, buf, (size_t)r, off);
            off += r;
        }
        free(buf);
        if (rc < 0) return rc;
        break;
    }
    *copied = off;
    return 0;
}

static void copy_work(uv_work_t *req)
{
    copy_req *r = req->data;
    int in = open(r->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) {
        r->src_err = -errno;
        return;
    }
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        r->src_err = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(in);
        return;
    }
    int out = -1;
    int rc = ckd_mkdir_parents(r->dir, r->rel);
    if (rc == 0) {
        out = open(r->dst, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) rc = -errno;
    }
    if (rc == 0) {
        int64_t size = st.st_size;
        rc = copy_range(in, out, size, &r->copied);
        if (rc < 0) r->dst_err = rc;
    } else {
        r->dst_err = rc;
    }
    close(in);
    if (out >= 0 && r->dst_err == 0) {
        /* Hash what landed, not what we meant to write. */
        XXH3_state_t *h = XXH3_createState();
        if (!h) {
            r->dst_err = -ENOMEM;
        } else {
            XXH3_128bits_reset(h);
            r->dst_err = ckd_hash_fd_range(out, 0, r->copied, h);
            XXH128_canonical_t c;
            XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
            memcpy(r->digest, c.digest, 16);
            XXH3_freeState(h);
        }
    }
    if (out >= 0) close(out);
}

static void copy_done(uv_work_t *req, int status)
{
    copy_req *r = req->data;
    ckd_outcome o = {.src = CKD_SRC_COPY, .job = r->job, .file = r->file, .seg = -1};
    if (r->src_err < 0) {
        o.kind = r->twin                                         ? CKD_OUT_REFETCH
                 : r->src_err == -EACCES || r->src_err == -EPERM ? CKD_OUT_DENIED
                                                                 : CKD_OUT_FAIL;
        snprintf(o.message, sizeof(o.message), "cannot %s '%s': %s", r->twin ? "copy from" : "read",
                 r->src, strerror(-r->src_err));
    } else if (r->dst_err < 0) {
        o.kind = CKD_OUT_DISK;
        o.err = r->dst_err;
        snprintf(o.message, sizeof(o.message), "%s", r->dst);
    } else {
        o.kind = CKD_OUT_OK;
        o.bytes = r->copied;
        ckd_hash_hex(r->digest, o.hash);
    }
    free(r->src);
    free(r->dst);
    free(r->dir);
    free(r->rel);
    ckd_outcome_fn cb = r->cb;
    struct ckd_daemon *owner = r->owner;
    free(r);
    cb(owner, &o);
}

int ckd_copy_start(uv_loop_t *loop, const ckd_copy_spec *c, struct ckd_daemon *owner,
                   ckd_outcome_fn cb)
{
    copy_req *r = calloc(1, sizeof(*r));
    if (!r) return -ENOMEM;
    r->owner = owner;
    r->cb = cb;
    r->job = c->job;
    r->file = c->file;
    r->twin = c->twin;
    r->src = strdup(c->src);
    r->dst = strdup(c->dst);
    r->dir = strdup(c->dir);
    r->rel = strdup(c->rel);
    if (!r->src || !r->dst || !r->dir || !r->rel) {
        free(r->src);
        free(r->dst);
        free(r->dir);
        free(r->rel);
        free(r);
        return -ENOMEM;
    }
    r->work.data = r;
    uv_queue_work(loop, &r->work, copy_work, copy_done);
    return 0;
}
