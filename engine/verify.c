/* Verify: a file whose bytes are all written is hashed (in one read-back
 * pass unless a single stream hashed it in order) and checked against its
 * expected size and hash; it goes on to be flushed and published, is
 * fetched once more, or fails. See verify.h. */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "metrics.h"
#include "objhash.h"
#include "publish.h"

/* Size and hashes are known (store_why: the store's content hash did not
 * match, or NULL): accept, refetch once, or fail. */
static void verify_file(ckd_file *f, const char *store_why)
{
    ckd_job *j = f->job;
    char why[512] = "";
    /* Ranges split later are appended: the file ends where the last one does. */
    int64_t got = f->zstd ? f->dec : -1;
    for (int k = 0; !f->zstd && k < f->nsegs; k++)
        if (f->segs[k].end > got) got = f->segs[k].end;
    if (f->size_given && got != f->size)
        snprintf(why, sizeof(why), "size mismatch for '%s': got %lld bytes, expected %lld", f->path,
                 (long long)got, (long long)f->size);
    else if (f->expect[0] && strcmp(f->expect, f->hash) != 0)
        snprintf(why, sizeof(why), "xxh128 mismatch for '%s': got %s, expected %s", f->path,
                 f->hash, f->expect);
    else if (store_why)
        snprintf(why, sizeof(why), "%s", store_why);
    if (why[0] && f->twin) {
        /* The other copy changed under us: fetch this file from its source. */
        ckd_job_log(j, "warn", "%s in the local copy: fetching it instead", why);
        f->twin = 0;
        f->no_twin = 1;
        ckd_file_restart(f, why);
        return;
    }
    if (why[0]) {
        int again = f->verify_attempts++ == 0;
        ckd_metrics_verify_failed(j->d, !again);
        if (again)
            ckd_file_restart(f, why);
        else
            ckd_file_fail(f, "%s", why);
        return;
    }
    ckd_job_fetched(j, f);
}

void ckd_file_verify(ckd_file *f)
{
    verify_file(f, NULL);
}

/* The pass works on its own copies: the file's fd moves here (the loop
 * sees the file closed), its paths and size are copied. */
typedef struct finish_req {
    uv_work_t work;
    ckd_file *file;
    int fd; /* the staging file, or -1: open (create) path */
    char *path, *dir, *rel;
    int64_t size;
    int64_t from;        /* hash [from, size) continuing state ... */
    XXH3_state_t *state; /* ... the first range's hash over [0, from); NULL: from 0 */
    int err;
    unsigned char digest[16];
    ckd_storehash want; /* the store's content hash of the bytes, or none */
    ckd_storehash got;  /* ... and theirs, computed from 0 in the same pass */
} finish_req;

/* One read of [0, size) feeding XXH3 (reset) and the store's algorithm. */
static int hash_both(int fd, int64_t size, XXH3_state_t *h, finish_req *r)
{
    enum { CHUNK = 1 << 20 };
    ckd_storehash_ctx sc;
    int rc = ckd_storehash_init(&sc, r->want.algo);
    char *buf = rc == 0 ? malloc(CHUNK) : NULL;
    if (rc == 0 && !buf) rc = -ENOMEM;
    XXH3_128bits_reset(h);
    for (int64_t off = 0; rc == 0 && off < size;) {
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        rc = ckd_pread_all(fd, buf, n, off);
        if (rc == 0) {
            XXH3_128bits_update(h, buf, n);
            ckd_storehash_update(&sc, buf, n);
        }
        off += (int64_t)n;
    }
    free(buf);
    if (rc == 0) rc = ckd_storehash_final(&sc, &r->got);
    ckd_storehash_release(&sc);
    return rc;
}

/* Whole-file pass: create an empty file if nothing was written, trim any
 * tail beyond the size, hash the bytes in order (after the first range,
 * whose stream hashed its bytes already), close. */
static void file_finish_work(uv_work_t *req)
{
    finish_req *r = req->data;
    int fd = r->fd;
    r->fd = -1;
    if (fd < 0) {
        int rc = ckd_mkdir_parents(r->dir, r->rel);
        if (rc < 0 || (fd = open(r->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
            r->err = rc < 0 ? rc : -errno;
            return;
        }
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size != r->size && ftruncate(fd, r->size) != 0) {
        r->err = -errno;
    }
    XXH3_state_t *h = r->state ? r->state : XXH3_createState();
    r->state = NULL;
    if (!h) r->err = -ENOMEM;
    if (r->err == 0 && r->want.algo != CKD_STOREHASH_NONE) {
        r->err = hash_both(fd, r->size, h, r);
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
        memcpy(r->digest, c.digest, 16);
    } else if (r->err == 0) {
        if (r->from == 0) XXH3_128bits_reset(h);
        r->err = ckd_hash_fd_range(fd, r->from, r->size - r->from, h);
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
        memcpy(r->digest, c.digest, 16);
    }
    XXH3_freeState(h);
    close(fd);
}

static void file_finish_done(uv_work_t *req, int status)
{
    finish_req *r = req->data;
    ckd_file *f = r->file;
    ckd_job *j = f->job;
    f->io--;
    j->busy--;
    int err = r->err;
    if (err == 0) ckd_hash_hex(r->digest, f->hash);
    char store_why[512] = "";
    if (err == 0 && r->want.algo != CKD_STOREHASH_NONE && !ckd_storehash_eq(&r->want, &r->got)) {
        char want[CKD_STOREHASH_TEXT_MAX] = "?", got[CKD_STOREHASH_TEXT_MAX] = "?";
        ckd_storehash_b64(&r->want, want, sizeof(want));
        ckd_storehash_b64(&r->got, got, sizeof(got));
        snprintf(store_why, sizeof(store_why),
                 "%s mismatch for '%s' (the store's content hash): got %s, expected %s",
                 ckd_storehash_algo_name(r->want.algo), f->path, got, want);
    }
    free(r->path);
    free(r->dir);
    free(r->rel);
    free(r);
    if (f->state == CKD_FILE_FAILED || f->reset_pending || ckd_job_terminal(j) ||
        j->state == CKD_JOB_PAUSED) {
        ckd_sched_kick(j->d);
        return;
    }
    if (err < 0) {
        char *path = ckd_file_staging_path(f);
        ckd_job_disk_error(j, path ? path : f->path, err);
        free(path);
        return;
    }
    verify_file(f, store_why[0] ? store_why : NULL);
    ckd_sched_kick(j->d);
}

/* Every byte of f is written. A single stream already hashed it in order
 * and closed the file; otherwise hash it in one read-back pass. */
void ckd_file_finish(ckd_file *f)
{
    if (f->io) return; /* a pass (or a copy) is in flight: it verifies the file */
    /* An object store's content hash: checked in the read-back pass. */
    ckd_storehash want;
    int store = ckd_objhash_expected(f, &want);
    if (store == -ESTALE)
        ckd_job_log(f->job, "warn",
                    "'%s' changed on the store since its content hash was read: that hash is "
                    "not checked",
                    f->path);
    if (store != 1 && f->nsegs == 1 && f->fd < 0 && f->hash[0] && f->segs[0].start == 0 &&
        (f->zstd || f->segs[0].written == f->size)) {
        ckd_file_verify(f);
        return;
    }
    finish_req *r = calloc(1, sizeof(*r));
    if (!r) {
        ckd_file_fail(f, "cannot verify '%s': out of memory", f->path);
        return;
    }
    r->file = f;
    r->fd = f->fd;
    r->size = f->size;
    if (store == 1) r->want = want;
    const ckd_seg *s0 = &f->segs[0];
    if (store != 1 && f->nsegs > 1 && !f->zstd && s0->start == 0 && s0->end > 0 &&
        s0->end <= f->size && s0->written == s0->end && !s0->hash_past &&
        (r->state = XXH3_createState()))
        XXH3_copyState(r->state, s0->hash), r->from = s0->end;
    r->path = ckd_file_staging_path(f);
    r->dir = strdup(ckd_file_staging_dir(f));
    r->rel = strdup(f->path);
    if (!r->path || !r->dir || !r->rel) {
        free(r->path);
        free(r->dir);
        free(r->rel);
        XXH3_freeState(r->state);
        free(r);
        ckd_file_fail(f, "cannot verify '%s': out of memory", f->path);
        return;
    }
    f->fd = -1; /* the pass closes it */
    r->work.data = r;
    f->io++;
    f->job->busy++;
    if (f->state != CKD_FILE_ACTIVE) ckd_file_set_state(f, CKD_FILE_ACTIVE, 0);
    uv_queue_work(f->job->d->loop, &r->work, file_finish_work, file_finish_done);
}

void ckd_file_landed(ckd_file *f, int64_t size)
{
    if (ckd_file_segs_alloc(f, 1) < 0) {
        ckd_file_fail(f, "out of memory");
        return;
    }
    f->segs[0].end = f->segs[0].written = size;
    if (f->zstd) f->dec = size; /* decoded already (the archive's entry) */
    if (!f->size_given) f->size = size;
    ckd_file_verify(f);
}
