/* Prepare: before a job writes, its staging directories are made (owned
 * by ckptd, never a symlink), copies already present are found, conflicts
 * with the target are caught, free space is checked, and after a restart
 * every byte the journal claims is re-read and re-hashed before it is
 * trusted. See prepare.h. */
#include "prepare.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ckp.h"
#include "fsutil.h"
#include "manifest.h"
#include "publish.h"
#include "restore.h"

/* What the pool found for one range (applied on the loop: the pass never
 * writes the model the loop reads). The hash continues in the range's own
 * state, which nothing on the loop touches before the job is prepared. */
typedef struct prep_seg {
    int64_t written, journaled, jdecoded;
    char jhash[33];
} prep_seg;

/* ... and for one file. */
typedef struct prep_file {
    enum { PF_SAME, PF_REJECTED, PF_PROVEN, PF_PRESENT } verdict;
    char hash[33];            /* PF_PRESENT: the manifest's hash, re-proven */
    int64_t frame_c, frame_d; /* PF_PROVEN, zstd: the stream's resume point */
    prep_seg *segs;           /* PF_PROVEN: one per range */
} prep_file;

/* Prepare: create the staging directory; after a restart, re-prove every
 * byte the store claims before trusting it. */
typedef struct prep_req {
    uv_work_t work;
    ckd_job *job;
    char where[1024];
    int64_t need, avail; /* bytes still to write (plus the reserve), and free */
    ckd_seg_claim *claims;
    size_t nclaims;
    int err;
    int conflict; /* 1 + the unit whose target holds a file that is not ckptd's */
    size_t reproven, rejected;
    unsigned char *lost;    /* per unit: its staging directory was not there (made anew) */
    int skip_space;         /* a resume: the free space is not checked */
    unsigned char *present; /* per unit: an identical verified copy is already there */
    prep_file *files;       /* per file: what the pass found */
} prep_req;

/* ckd_manifest_check's report of a file it re-proved. */
static void present_hash(void *ud, size_t file, const char hex[33])
{
    prep_req *r = ud;
    memcpy(r->files[file].hash, hex, sizeof(r->files[file].hash));
}

static int hash_range(int fd, int64_t off, int64_t len, XXH3_state_t *h, char hex[33])
{
    int rc = ckd_hash_fd_range(fd, off, len, h);
    if (rc == 0) ckd_hash_state_hex(h, hex);
    return rc;
}

/* Free space where the job writes, against what it still has to write plus
 * the configured reserve. Sizes not yet known count as zero. Pool thread. */
static void check_space(prep_req *r)
{
    ckd_job *j = r->job;
    int64_t need = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        const ckd_file *f = &j->files[i];
        const prep_file *pf = &r->files[i];
        if (f->size < 0 || j->units[f->unit].status != CKD_UNIT_PENDING || r->present[f->unit] ||
            (f->state == CKD_FILE_VERIFIED && pf->verdict != PF_REJECTED))
            continue;
        int64_t done = 0;
        for (int k = 0; k < f->nsegs && pf->verdict != PF_REJECTED; k++)
            done += pf->verdict == PF_PROVEN ? pf->segs[k].written : f->segs[k].written;
        need += f->size > done ? f->size - done : 0;
    }
    if (need == 0 || j->nunits == 0) return;
    struct statvfs sv;
    if (statvfs(j->units[0].staging, &sv) != 0) return;
    r->avail = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    r->need = need + j->d->cfg.disk_reserve;
}

static void prepare_work(uv_work_t *req)
{
    prep_req *r = req->data;
    ckd_job *j = r->job;
    /* Only staging directories are created here: a checkpoint's target
     * appears by its rename, so a failed job leaves no empty target. */
    for (size_t u = 0; u < j->nunits; u++) {
        ckd_unit *un = &j->units[u];
        if (un->status != CKD_UNIT_PENDING) continue;
        if (un->kind == CKD_UNIT_CHECKPOINT && ckd_manifest_check(j, u, present_hash, r) == 0) {
            r->present[u] = 1; /* logged, counted and persisted on the loop */
            for (size_t i = 0; i < j->nfiles; i++)
                if ((size_t)j->files[i].unit == u) r->files[i].verdict = PF_PRESENT;
            continue;
        }
        /* Fail before fetching what could not be published. */
        if (un->kind == CKD_UNIT_CHECKPOINT &&
            ckd_publish_conflict(j, u, 1, NULL, r->where, sizeof(r->where))) {
            r->conflict = (int)u + 1;
            r->err = -EEXIST;
            return;
        }
        struct stat st;
        if (r->lost && lstat(un->staging, &st) != 0 && errno == ENOENT) r->lost[u] = 1;
        if ((r->err = ckd_dir_own(un->staging)) < 0) {
            snprintf(r->where, sizeof(r->where), "%s", un->staging);
            return;
        }
    }
    if (!j->recheck) {
        if (!r->skip_space) check_space(r); /* a new job has nothing to re-prove */
        return;
    }
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        char *path = ckd_file_staging_path(f);
        if (!path) {
            r->err = -ENOMEM;
            return;
        }
        prep_file *pf = &r->files[i];
        if (j->units[f->unit].status != CKD_UNIT_PENDING || r->present[f->unit]) {
            /* published or present: nothing to re-prove here */
        } else if (f->state == CKD_FILE_VERIFIED) {
            /* Verified bytes may already be published (a crash mid-publish). */
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                char *pub = ckd_path_join(j->units[f->unit].target, f->path);
                fd = pub ? open(pub, O_RDONLY | O_CLOEXEC) : -1;
                free(pub);
            }
            char hex[33] = "";
            XXH3_state_t *h = XXH3_createState();
            XXH3_128bits_reset(h);
            struct stat st;
            if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size == f->size)
                hash_range(fd, 0, f->size, h, hex);
            XXH3_freeState(h);
            if (fd >= 0) close(fd);
            if (strcmp(hex, f->hash) == 0) {
                r->reproven++;
            } else {
                pf->verdict = PF_REJECTED; /* counted and logged on the loop */
                unlink(path);
                r->rejected++;
            }
        } else if (f->state == CKD_FILE_PENDING) {
            int fd = open(path, O_RDWR | O_CLOEXEC);
            int any = 0;
            pf->segs = calloc(f->nsegs ? (size_t)f->nsegs : 1, sizeof(*pf->segs));
            if (!pf->segs) {
                if (fd >= 0) close(fd);
                free(path);
                r->err = -ENOMEM;
                return;
            }
            pf->verdict = PF_PROVEN;
            for (int k = 0; k < f->nsegs && fd >= 0; k++) {
                ckd_seg *s = &f->segs[k];
                prep_seg *ps = &pf->segs[k];
                XXH3_128bits_reset(s->hash);
                for (size_t c = 0; c < r->nclaims; c++) {
                    ckd_seg_claim *cl = &r->claims[c];
                    if (cl->idx != f->idx || cl->start != s->start) continue;
                    char hex[33] = "";
                    /* A zstd file's journal proves decoded bytes [0, decoded)
                     * and resumes the stream at the frame end `done`. */
                    int64_t off = f->zstd ? 0 : s->start, len = f->zstd ? cl->decoded : cl->done;
                    if (hash_range(fd, off, len, s->hash, hex) == 0 && strcmp(hex, cl->hash) == 0) {
                        ps->written = ps->journaled = cl->done;
                        memcpy(ps->jhash, cl->hash, sizeof(ps->jhash));
                        ps->jdecoded = cl->decoded;
                        if (f->zstd) {
                            pf->frame_c = cl->done;
                            pf->frame_d = cl->decoded;
                            XXH3_copyState(f->hash_frame, s->hash);
                        }
                        r->reproven++;
                        any = 1;
                    } else {
                        XXH3_128bits_reset(s->hash);
                        r->rejected++;
                    }
                }
            }
            if (fd >= 0) close(fd);
            if (!any) unlink(path); /* nothing provable: start clean, without stale bytes */
        }
        free(path);
    }
    check_space(r);
}

/* What the pass found becomes the model, on the loop. */
static void apply_results(prep_req *r)
{
    ckd_job *j = r->job;
    for (size_t u = 0; u < j->nunits; u++) {
        if (!r->present[u]) continue;
        j->units[u].status = CKD_UNIT_PRESENT;
        j->units[u].found_present = 1;
    }
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        prep_file *pf = &r->files[i];
        if (pf->verdict == PF_PRESENT) {
            memcpy(f->hash, pf->hash, sizeof(f->hash));
        } else if (pf->verdict == PF_REJECTED) {
            ckd_file_set_state(f, CKD_FILE_PENDING, 0);
            f->hash[0] = '\0';
        } else if (pf->verdict == PF_PROVEN) {
            for (int k = 0; k < f->nsegs; k++) {
                ckd_seg *s = &f->segs[k];
                const prep_seg *ps = &pf->segs[k];
                s->written = ps->written;
                s->journaled = ps->journaled;
                s->jdecoded = ps->jdecoded;
                memcpy(s->jhash, ps->jhash, sizeof(s->jhash));
            }
            if (f->zstd && pf->frame_c > 0) {
                f->frame_c = pf->frame_c;
                f->dec = f->frame_d = pf->frame_d;
            }
        }
        free(pf->segs);
        pf->segs = NULL;
    }
}

/* Unit u's staging directory was gone (removed while the job ran, was
 * paused or failed): what its files had there is fetched again. */
static void staging_lost(ckd_job *j, size_t u)
{
    size_t n = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != u || f->state == CKD_FILE_FAILED) continue;
        if (f->nsegs == 0 && f->fd < 0 && f->state != CKD_FILE_VERIFIED &&
            f->state != CKD_FILE_FETCHED)
            continue; /* nothing written yet */
        if (f->state != CKD_FILE_PENDING) ckd_file_set_state(f, CKD_FILE_PENDING, 0);
        f->held = 0;
        f->reset_pending = 1; /* the scheduler resets it once nothing of it is in flight */
        n++;
    }
    if (n > 0)
        ckd_job_log(j, "warn", "the staging directory '%s' was gone: %zu file%s start again",
                    j->units[u].staging, n, n == 1 ? "" : "s");
}

static void prepare_done(uv_work_t *req, int status)
{
    prep_req *r = req->data;
    ckd_job *j = r->job;
    j->busy--;
    j->preparing = 0;
    apply_results(r);
    for (size_t u = 0; r->lost && r->err == 0 && u < j->nunits; u++)
        if (r->lost[u]) staging_lost(j, u);
    if (r->reproven || r->rejected)
        ckd_job_log(
            j, "info",
            "re-proved %zu journaled ranges/files; %zu did not match and will be fetched again",
            r->reproven, r->rejected);
    for (size_t u = 0; u < j->nunits; u++) {
        ckd_unit *un = &j->units[u];
        un->verified = 0;
        if (!un->found_present) continue;
        un->found_present = 0;
        ckd_store_unit_status(&j->d->store, j->id, (int)u, un->status, un->via);
        ckd_job_log(j, "info", "checkpoint %s is already present and verified at '%s'", un->uuid,
                    un->target);
    }
    size_t verified = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if (j->units[f->unit].status == CKD_UNIT_PRESENT && f->state != CKD_FILE_VERIFIED) {
            ckd_file_set_state(f, CKD_FILE_VERIFIED, 1); /* the manifest's hash, re-proven */
        }
        if (f->state == CKD_FILE_VERIFIED) verified++, j->units[f->unit].verified++;
    }
    j->files_verified = verified;
    for (size_t i = 0; i < j->nfiles; i++)
        if (j->files[i].state == CKD_FILE_PENDING && !j->files[i].row_pending)
            ckd_file_persist(&j->files[i]);
    int err = r->err;
    int64_t need = r->need, avail = r->avail;
    char msg[1400];
    if (r->conflict)
        ckd_publish_conflict_message(msg, sizeof(msg), &j->units[r->conflict - 1], r->where);
    else if (err == -ELOOP || err == -EPERM || err == -ENOTDIR)
        snprintf(msg, sizeof(msg),
                 "refusing to use '%s' as a staging directory: it is not a directory ckptd "
                 "created (%s)",
                 r->where, strerror(-err));
    else
        snprintf(msg, sizeof(msg), "cannot create '%s': %s", r->where,
                 strerror(err < 0 ? -err : 0));
    free(r->claims);
    free(r->lost);
    free(r->present);
    free(r->files);
    free(r);
    if (err < 0) {
        if (j->state == CKD_JOB_RUNNING) ckd_job_set_state(j, CKD_JOB_FAILED, msg);
    } else if (need > avail && j->state == CKD_JOB_RUNNING) {
        /* Not enough room: wait (visibly) rather than fill the disk, unless
         * the job asked to fail instead. */
        char b1[32], b2[32];
        ckp_fmt_bytes(b1, sizeof(b1), (double)need);
        ckp_fmt_bytes(b2, sizeof(b2), (double)avail);
        snprintf(msg, sizeof(msg),
                 "not enough free space in '%s': %s needed (with the reserve), %s free", j->output,
                 b1, b2);
        j->recheck = 0;
        if (j->spec.fail_on_no_space) {
            ckd_job_set_state(j, CKD_JOB_FAILED, msg);
        } else {
            j->not_before_ms = ckd_now_ms() + 2000;
            ckd_job_set_state(j, CKD_JOB_WAITING, msg);
        }
    } else {
        j->prepared = 1;
        j->recheck = 0;
        j->sched_from = 0;
    }
    ckd_sched_kick(j->d);
}

void ckd_job_prepare(ckd_job *j)
{
    if (j->prepared || j->preparing) return;
    prep_req *r = calloc(1, sizeof(*r));
    if (!r) {
        ckd_job_set_state(j, CKD_JOB_FAILED, "cannot prepare the job: out of memory");
        return;
    }
    r->present = calloc(j->nunits ? j->nunits : 1, 1);
    r->files = calloc(j->nfiles ? j->nfiles : 1, sizeof(*r->files));
    if (!r->present || !r->files) {
        free(r->present);
        free(r->files);
        free(r);
        ckd_job_set_state(j, CKD_JOB_FAILED, "cannot prepare the job: out of memory");
        return;
    }
    ckd_restore_claims(j->d, j->id, &r->claims, &r->nclaims);
    /* After a restart the re-proof finds what is left wherever it is (also
     * in a target a crash left published); otherwise look for lost staging. */
    if (!j->recheck) r->lost = calloc(j->nunits ? j->nunits : 1, 1);
    r->skip_space = j->resumed;
    j->resumed = 0;
    r->job = j;
    r->work.data = r;
    j->busy++;
    j->preparing = 1;
    uv_queue_work(j->d->loop, &r->work, prepare_work, prepare_done);
}
