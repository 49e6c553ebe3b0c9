/* Local copies: a checkpoint on storage mounted here (shared_fs, directory)
 * is copied with copy_file_range in the pool, then hashed by reading the
 * copy back (from the page cache) so it is verified like a download. */
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
#include "log.h"
#include "daemon.h"

#define COPY_BUF (1 << 20)

typedef struct copy_req {
    uv_work_t work;
    ckd_file *file;
    char *src;
    int twin; /* src is a copy published elsewhere, not the storage */
    char *dst;
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
    ckd_file *f = r->file;
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
    int rc = ckd_mkdir_parents(f->job->units[f->unit].staging, f->path);
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
    ckd_file *f = r->file;
    ckd_job *j = f->job;
    j->d->copies--;
    j->busy--;
    f->io--;
    int src_err = r->src_err, dst_err = r->dst_err, twin = r->twin;
    int64_t copied = r->copied;
    if (dst_err == 0 && src_err == 0) ckd_hash_hex(r->digest, f->hash);
    char *dst = r->dst, *src = r->src;
    free(r);
    if (f->state != CKD_FILE_ACTIVE || j->state != CKD_JOB_RUNNING) {
        /* Paused, canceled or failed meanwhile: the copy is simply redone. */
        if (f->state == CKD_FILE_ACTIVE) f->state = CKD_FILE_PENDING;
        f->twin = 0;
    } else if (twin && src_err < 0) {
        /* The other copy went away: fetch this file from its source. */
        ckd_job_log(j, "warn", "cannot copy '%s' from '%s' (%s): fetching it instead", f->path, src,
                    strerror(-src_err));
        f->twin = 0;
        f->no_twin = 1;
        f->state = CKD_FILE_PENDING;
    } else if (src_err == -EACCES || src_err == -EPERM) {
        char why[1200];
        snprintf(why, sizeof(why), "cannot read '%s': %s", f->url + 7, strerror(-src_err));
        ckd_unit_access_denied(f, why);
    } else if (src_err < 0) {
        ckd_file_fail(f, "cannot read '%s': %s", f->url + 7, strerror(-src_err));
    } else if (dst_err < 0) {
        ckd_job_disk_error(j, dst, dst_err);
    } else {
        /* One segment covering what was copied, so verification and
         * progress treat it like a finished download. */
        ckd_file_copied(f, copied);
    }
    free(dst);
    free(src);
    ckd_sched_kick(j->d);
}

static int copy_start(ckd_daemon *d, ckd_file *f, const char *src, int twin)
{
    copy_req *r = calloc(1, sizeof(*r));
    if (!r) return -ENOMEM;
    r->file = f;
    r->twin = twin;
    r->src = strdup(src);
    r->dst = ckd_file_staging_path(f);
    if (!r->dst || !r->src) {
        free(r->src);
        free(r->dst);
        free(r);
        return -ENOMEM;
    }
    f->twin = twin;
    r->work.data = r;
    f->state = CKD_FILE_ACTIVE;
    f->hash[0] = '\0';
    f->io++;
    f->job->busy++;
    d->copies++;
    uv_queue_work(d->loop, &r->work, copy_work, copy_done);
    return 0;
}

int ckd_copy_start(ckd_daemon *d, ckd_file *f)
{
    return copy_start(d, f, f->url + strlen("file://"), 0);
}

int ckd_copy_start_twin(ckd_daemon *d, ckd_file *f, const char *src)
{
    return copy_start(d, f, src, 1);
}
