/* Durability: the boot id, periodic syncs of files being written, and the
 * sync that follows a publication in durability "background". See
 * durable.h. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

int ckd_job_durability(const ckd_job *j)
{
    return j->spec.durability >= 0 ? j->spec.durability : (int)j->d->cfg.durability;
}

int ckd_job_durable(const ckd_job *j)
{
    for (size_t u = 0; u < j->nunits; u++)
        if (j->units[u].status == CKD_UNIT_FETCHED && !j->units[u].durable) return 0;
    return 1;
}

/* ---- the boot id ---------------------------------------------------------- */

static void read_boot_id(char *out, size_t n)
{
    const char *path = getenv("CKPTD_BOOT_ID_FILE"); /* tests simulate a reboot */
    if (!path || !path[0]) path = "/proc/sys/kernel/random/boot_id";
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) return;
    if (!fgets(out, (int)n, f)) out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
}

int ckd_durable_boot(ckd_daemon *d)
{
    char now[128];
    read_boot_id(now, sizeof(now));
    char *was = ckd_store_meta_get(&d->store, "boot_id");
    /* An unreadable boot id cannot prove the same boot: trust only syncs. */
    d->durable.rebooted = was && (!now[0] || strcmp(was, now) != 0);
    int rc = 0;
    if (d->durable.rebooted) {
        ckd_info("the machine restarted since the journal was written (boot id %s, was %s): "
                 "only bytes that were synced are trusted",
                 now[0] ? now : "unknown", was);
        rc = ckd_store_forget_unsynced(&d->store);
    }
    if (rc == 0 && now[0]) rc = ckd_store_meta_set(&d->store, "boot_id", now);
    free(was);
    if (rc == 0) rc = ckd_store_commit(&d->store);
    return rc < 0 ? rc : 0;
}

/* ---- syncs of files being written ------------------------------------------ */

/* One range's journaled point, taken on the loop before the sync. */
typedef struct sync_item {
    int64_t job;
    int file;
    int64_t start, done, decoded;
    char hash[33];
    int fd; /* a dup of the file's fd (one per file, on its first range), else -1 */
    int err;
} sync_item;

typedef struct sync_req {
    uv_work_t work;
    ckd_daemon *d;
    sync_item *v;
    size_t n;
} sync_req;

static void sync_work(uv_work_t *req)
{
    sync_req *r = req->data;
    int err = 0;
    for (size_t i = 0; i < r->n; i++) {
        sync_item *it = &r->v[i];
        if (it->fd >= 0) {
            err = fdatasync(it->fd) == 0 ? 0 : -errno;
            close(it->fd);
        }
        it->err = err; /* the file's verdict, for each of its ranges */
    }
}

static void sync_done(uv_work_t *req, int status)
{
    sync_req *r = req->data;
    ckd_daemon *d = r->d;
    d->durable.inflight = 0;
    for (size_t i = 0; i < r->n; i++) {
        sync_item *it = &r->v[i];
        ckd_job *j = it->err == 0 ? ckd_job_find(d, it->job) : NULL;
        if (!j || (size_t)it->file >= j->nfiles) continue;
        ckd_file *f = &j->files[it->file];
        for (int k = 0; k < f->nsegs; k++) {
            ckd_seg *s = &f->segs[k];
            /* The layout may have changed meanwhile (a restart from zero). */
            if (s->start != it->start || s->journaled < it->done || s->durable >= it->done)
                continue;
            ckd_store_seg_durable(&d->store, j->id, f->idx, s->start, it->done, it->hash,
                                  it->decoded);
            s->durable = it->done;
        }
    }
    free(r->v);
    free(r);
}

void ckd_durable_tick(ckd_daemon *d, uint64_t now)
{
    if (d->durable.inflight || now - d->durable.last_ms < (uint64_t)d->cfg.sync_interval_ms) return;
    d->durable.last_ms = now;
    size_t n = 0, cap = 0;
    sync_item *v = NULL;
    for (ckd_job *j = d->jobs; j; j = j->next) {
        if (j->state != CKD_JOB_RUNNING) continue;
        for (size_t i = 0; i < j->nfiles; i++) {
            ckd_file *f = &j->files[i];
            if (f->fd < 0 || f->layout_saved != 1) continue;
            int first = 1;
            for (int k = 0; k < f->nsegs; k++) {
                ckd_seg *s = &f->segs[k];
                if (s->journaled <= s->durable || !s->jhash[0]) continue;
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 32;
                    sync_item *nv = realloc(v, ncap * sizeof(*nv));
                    if (!nv) goto out;
                    v = nv;
                    cap = ncap;
                }
                sync_item *it = &v[n];
                *it = (sync_item){.job = j->id,
                                  .file = f->idx,
                                  .start = s->start,
                                  .done = s->journaled,
                                  .decoded = s->jdecoded,
                                  .fd = -1};
                memcpy(it->hash, s->jhash, sizeof(it->hash));
                if (first && (it->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0)) < 0) continue;
                first = 0;
                n++;
            }
        }
    }
out:
    if (n == 0) {
        free(v);
        return;
    }
    sync_req *r = calloc(1, sizeof(*r));
    if (!r) {
        for (size_t i = 0; i < n; i++)
            if (v[i].fd >= 0) close(v[i].fd);
        free(v);
        return;
    }
    r->d = d;
    r->v = v;
    r->n = n;
    r->work.data = r;
    d->durable.inflight = 1;
    uv_queue_work(d->loop, &r->work, sync_work, sync_done);
}

/* ---- durability "background": the sync after publication ------------------- */

typedef struct settle_req {
    uv_work_t work;
    ckd_daemon *d;
    int64_t job;
    size_t unit;
    char *target;
    uint64_t start_ms, took_ms;
    int err;
} settle_req;

static void settle_work(uv_work_t *req)
{
    settle_req *r = req->data;
    const char *delay = getenv("CKPTD_TEST_SETTLE_DELAY_MS"); /* tests: a crash before the sync */
    if (delay && atoi(delay) > 0) usleep((useconds_t)atoi(delay) * 1000);
    uint64_t t0 = ckd_now_ms();
    int fd = open(r->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) r->err = -errno;
    if (fd >= 0) close(fd);
    r->took_ms = ckd_now_ms() - t0;
}

static void settle_done(uv_work_t *req, int status)
{
    settle_req *r = req->data;
    ckd_daemon *d = r->d;
    d->durable.settling--;
    ckd_job *j = ckd_job_find(d, r->job);
    if (j && r->unit < j->nunits && j->units[r->unit].status == CKD_UNIT_FETCHED) {
        ckd_unit *un = &j->units[r->unit];
        if (r->err < 0) {
            /* Published but not provably on disk: tried again on the next
             * start (and checked again after a reboot). */
            ckd_job_log(j, "warn", "cannot sync '%s' after publishing it: %s", un->target,
                        strerror(-r->err));
        } else if (!un->durable) {
            un->durable = 1;
            ckd_store_unit_durable(&d->store, j->id, (int)r->unit, 1);
            ckd_store_commit(&d->store); /* journaled before anyone hears of it */
            ckd_job_log(j, "info", "'%s' is on disk (synced in %llu ms after publication)",
                        un->target, (unsigned long long)r->took_ms);
            /* Subscribers and a prefetch waiting for a durable copy hear of it. */
            if (ckd_job_durable(j) && d->job_changed) d->job_changed(d, j, -1);
        }
    }
    free(r->target);
    free(r);
}

void ckd_durable_settle(ckd_job *j, size_t u)
{
    ckd_daemon *d = j->d;
    ckd_unit *un = &j->units[u];
    settle_req *r = calloc(1, sizeof(*r));
    if (r) r->target = strdup(un->target);
    if (!r || !r->target) {
        free(r);
        ckd_job_log(j, "warn", "cannot sync '%s': out of memory", un->target);
        return;
    }
    r->d = d;
    r->job = j->id;
    r->unit = u;
    r->work.data = r;
    d->durable.settling++;
    uv_queue_work(d->loop, &r->work, settle_work, settle_done);
}

/* ---- after a restart ---------------------------------------------------------- */

void ckd_durable_after_load(ckd_daemon *d)
{
    for (ckd_job *j = d->jobs; j; j = j->next) {
        int recheck = 0;
        for (size_t u = 0; u < j->nunits; u++) {
            ckd_unit *un = &j->units[u];
            if (un->status != CKD_UNIT_FETCHED || un->durable) continue;
            if (!d->durable.rebooted) {
                ckd_durable_settle(j, u); /* in the page cache still: sync it now */
                continue;
            }
            /* Its bytes may not have reached the disk: the prepare pass
             * re-hashes every file against the manifest, and what is damaged
             * is fetched again. */
            ckd_job_log(j, "warn",
                        "'%s' was published but not yet synced when the machine restarted: "
                        "checking it again",
                        un->target);
            un->status = CKD_UNIT_PENDING;
            un->durable = 1;
            ckd_store_unit_status(&d->store, j->id, (int)u, un->status, un->via);
            ckd_store_unit_durable(&d->store, j->id, (int)u, 1);
            recheck = 1;
        }
        if (!recheck) continue;
        j->recheck = 1;
        j->prepared = 0;
        j->cleaned = 0;
        if (j->state == CKD_JOB_DONE) ckd_job_set_state(j, CKD_JOB_QUEUED, NULL);
    }
    ckd_store_commit(&d->store);
}
