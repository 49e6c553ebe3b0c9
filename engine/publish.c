/* Publish: flush waves make fetched files durable (then verified); a
 * unit whose files are all verified is published — a checkpoint's staging
 * directory renamed into place, a file set staged beside its new output
 * renamed the same way, else its files moved one by one — with
 * ckptd's manifest; a canceled job's staging is removed. See publish.h. */
#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"

/* Flush: one syncfs() makes a whole batch of fetched files durable; only
 * then are they recorded as verified. */
typedef struct flush_req {
    uv_work_t work;
    ckd_job *job;
    uint64_t start_ms, took_ms;
    char *dir; /* any directory on the staging filesystem */
    int *idx;
    size_t n;
    int err;
} flush_req;

static void flush_work(uv_work_t *req)
{
    flush_req *r = req->data;
    uint64_t t0 = ckd_now_ms();
    int fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) r->err = -errno;
    if (fd >= 0) close(fd);
    r->took_ms = ckd_now_ms() - t0;
}

/* f's bytes passed their checks and count as verified (after a flush, or
 * at once with durability "background"). */
static void file_verified(ckd_job *j, ckd_file *f)
{
    ckd_file_set_state(f, CKD_FILE_VERIFIED, 0);
    j->files_verified++;
    j->units[f->unit].verified++;
    ckd_file_persist(f);
}

static void flush_done(uv_work_t *req, int status)
{
    flush_req *r = req->data;
    ckd_job *j = r->job;
    j->busy--;
    j->flushing = 0;
    j->flush_n = 0;
    ckd_debug("job %lld: flushed %zu files in %llu ms (queued %llu ms)", (long long)j->id, r->n,
              (unsigned long long)r->took_ms,
              (unsigned long long)(ckd_now_ms() - r->start_ms - r->took_ms));
    for (size_t i = 0; i < r->n; i++) {
        ckd_file *f = &j->files[r->idx[i]];
        if (f->state != CKD_FILE_FETCHED) continue;
        if (r->err < 0) {
            /* Not provably on disk: fetch it again. */
            ckd_file_set_state(f, CKD_FILE_PENDING, 0);
            f->reset_pending = 1;
            if ((size_t)f->idx < j->sched_from) j->sched_from = (size_t)f->idx;
            continue;
        }
        file_verified(j, f);
    }
    free(r->idx);
    free(r->dir);
    free(r);
    ckd_job_flush(j); /* files that were fetched meanwhile */
    ckd_sched_kick(j->d);
}

/* A flush wave is costly (it commits the filesystem's journal and stalls
 * file creation meanwhile): batch it. Flush when nothing else of the job is
 * in flight, when many files wait, or when the oldest has waited a second
 * (which bounds what a power loss can cost). Waves of 512 files during a
 * 2000 x 16 KiB download cost 9% more time than one wave at its end (the
 * creates stall on the journal commits): only time cuts a wave short below
 * thousands of files. */
#define FLUSH_BATCH_FILES 8192
#define FLUSH_MAX_WAIT_MS 1000

void ckd_job_flush(ckd_job *j)
{
    if (j->flushing || j->nfetched == 0) return; /* a wave in flight takes these when it ends */
    size_t open = j->nfiles - j->files_verified - j->files_failed - j->nfetched;
    uint64_t now = ckd_now_ms();
    if (j->flush_since_ms == 0) j->flush_since_ms = now;
    if (open > 0 && j->nfetched < FLUSH_BATCH_FILES && now - j->flush_since_ms < FLUSH_MAX_WAIT_MS)
        return;
    flush_req *r = calloc(1, sizeof(*r));
    char *dir = r ? strdup(ckd_file_staging_dir(&j->files[j->fetched[0]])) : NULL;
    if (!dir) {
        free(r); /* the tick tries again */
        return;
    }
    j->flush_since_ms = 0;
    /* The wave takes the whole list; new arrivals start a new one. */
    r->dir = dir;
    r->idx = j->fetched;
    r->n = j->nfetched;
    j->fetched = NULL;
    j->nfetched = j->fetched_cap = 0;
    r->job = j;
    r->work.data = r;
    j->busy++;
    j->flushing = 1;
    j->flush_n = r->n;
    r->start_ms = ckd_now_ms();
    uv_queue_work(j->d->loop, &r->work, flush_work, flush_done);
}

/* A file passed its checks: queue it for the next flush wave. */
void ckd_job_fetched(ckd_job *j, ckd_file *f)
{
    if (j->nfetched == j->fetched_cap) {
        size_t ncap = j->fetched_cap ? j->fetched_cap * 2 : 64;
        int *nv = realloc(j->fetched, ncap * sizeof(*nv));
        if (!nv) {
            ckd_file_fail(f, "out of memory");
            return;
        }
        j->fetched = nv;
        j->fetched_cap = ncap;
    }
    ckd_file_set_state(f, CKD_FILE_FETCHED, 0);
    if (ckd_job_durability(j) == CKD_DURABLE_BACKGROUND) {
        /* Published from the streamed, verified bytes; synced after. */
        file_verified(j, f);
        return;
    }
    j->fetched[j->nfetched++] = f->idx;
    ckd_job_flush(j);
}

/* Publish: every file of a unit is verified and durable. A checkpoint's
 * staging directory becomes its target in one rename; a URL set's files
 * are renamed into the output one by one. */
typedef struct publish_req {
    uv_work_t work;
    ckd_job *job;
    size_t unit;
    char *metadata; /* metadata.json to write, or NULL */
    int err;
    int conflict;   /* err is -EEXIST: where is a file that is not ckptd's */
    int background; /* durability "background": the settle after it syncs the rename too */
    char where[1024];
} publish_req;

static int write_file_durably(const char *path, const char *text, char hex[33])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    size_t len = strlen(text);
    int rc = ckd_pwrite_all(fd, text, len, 0);
    if (rc == 0 && fsync(fd) != 0) rc = -errno;
    close(fd);
    if (hex) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(text, len));
        ckd_hash_hex(c.digest, hex);
    }
    return rc;
}

/* 1 when dir/rel is a regular file holding exactly the bytes whose hash
 * is hex: replacing it loses nothing. */
static int same_bytes(const char *path, int64_t size, const char *hex)
{
    char got[33];
    return hex && hex[0] && ckd_hash_file(path, size, got) == 0 && strcmp(got, hex) == 0;
}

/* Moves staging/rel to dir/rel. With noreplace an existing dir/rel is
 * replaced only when it holds the same bytes (hash hex), else -EEXIST. A
 * file already moved by an interrupted earlier publish (gone from staging,
 * there with its size) counts as moved. */
static int move_in(const char *staging, const char *dir, const char *rel, int64_t size,
                   const char *hex, int noreplace)
{
    char *from = ckd_path_join(staging, rel), *to = ckd_path_join(dir, rel);
    int rc = from && to ? ckd_mkdir_parents(dir, rel) : -ENOMEM;
    if (rc == 0 && noreplace && same_bytes(to, size, hex)) noreplace = 0;
    if (rc == 0 && renameat2(AT_FDCWD, from, AT_FDCWD, to, noreplace ? RENAME_NOREPLACE : 0) != 0) {
        struct stat st;
        if (errno == EINVAL && noreplace && lstat(to, &st) != 0 && rename(from, to) == 0)
            rc = 0; /* a filesystem without RENAME_NOREPLACE; checked just before */
        else if (!(errno == ENOENT && stat(to, &st) == 0 && (size < 0 || st.st_size == size)))
            rc = -errno;
    }
    free(from);
    free(to);
    return rc;
}

/* Renames the unit's files from its staging into dir, one by one. */
static int publish_files_into(publish_req *r, const char *dir, int noreplace)
{
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != r->unit) continue;
        int rc = move_in(un->staging, dir, f->path, f->size, f->hash, noreplace);
        if (rc < 0) {
            snprintf(r->where, sizeof(r->where), "%s/%s", dir, f->path);
            return rc;
        }
        /* Parent directories of nested files, so the renames are durable. */
        const char *slash = strrchr(f->path, '/');
        if (slash) {
            char parent[8192];
            snprintf(parent, sizeof(parent), "%s/%.*s", dir, (int)(slash - f->path), f->path);
            ckd_fsync_dir(parent);
        }
    }
    return ckd_fsync_dir(dir);
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

/* A file of unit u that publishing into its existing, non-empty target
 * would replace although the target is not ckptd's copy of the same
 * checkpoint and the file there holds other bytes: 1 (where names it),
 * else 0. A file no longer in staging was moved there by an earlier,
 * interrupted publish of this unit. Before fetching (unverified_only),
 * verified files count as such and the bytes are known only by their size
 * or an expected hash. */
int ckd_publish_conflict(ckd_job *j, size_t u, int unverified_only, const char *mhex, char *where,
                         size_t wlen)
{
    ckd_unit *un = &j->units[u];
    struct stat st;
    if (lstat(un->target, &st) != 0 || !S_ISDIR(st.st_mode) || is_empty_dir(un->target) ||
        (un->uuid && ckd_manifest_names(un->target, un->uuid) == 1))
        return 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != u || (unverified_only && f->state == CKD_FILE_VERIFIED)) continue;
        char *to = ckd_path_join(un->target, f->path), *from = ckd_path_join(un->staging, f->path);
        int clash = to && from && lstat(to, &st) == 0;
        if (clash && unverified_only)
            clash = (f->size >= 0 && (!S_ISREG(st.st_mode) || st.st_size != f->size)) ||
                    (f->expect[0] && !same_bytes(to, f->size, f->expect));
        else if (clash)
            clash = lstat(from, &st) == 0 && !same_bytes(to, f->size, f->hash);
        if (clash) snprintf(where, wlen, "%s", to);
        free(to);
        free(from);
        if (clash) return 1;
    }
    if (un->write_metadata && !unverified_only) {
        /* metadata.json written from the master's record (its hash mhex) */
        char *to = ckd_path_join(un->target, "metadata.json");
        int clash = to && lstat(to, &st) == 0 && !same_bytes(to, -1, mhex);
        if (clash) snprintf(where, wlen, "%s", to);
        free(to);
        if (clash) return 1;
    }
    return 0;
}

/* fsync of path's parent directory, so a rename into it is durable. */
static int fsync_parent(const char *path)
{
    char *parent = strdup(path);
    if (!parent) return -ENOMEM;
    char *slash = strrchr(parent, '/');
    if (slash) slash[slash == parent] = '\0';
    int rc = ckd_fsync_dir(parent);
    free(parent);
    return rc;
}

/* Staging S becomes target T in one rename when T is absent or an empty
 * directory: 1. 0 when T is a directory with entries (the caller moves
 * files in), else -errno (-ENOTDIR for a file there). */
static int rename_whole(const char *S, const char *T)
{
    struct stat st;
    if (lstat(T, &st) != 0) {
        if (errno != ENOENT) return -errno;
    } else if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    } else if (!is_empty_dir(T)) {
        return 0;
    } else if (rmdir(T) != 0) {
        return -errno;
    }
    return rename(S, T) == 0 ? 1 : -errno;
}

static int publish_checkpoint(publish_req *r)
{
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    const char *S = un->staging, *T = un->target;
    int rc = 0;
    /* Directories the checkpoint lists, and metadata.json when the storage
     * had none, then the manifest that proves the copy later. */
    size_t i;
    json_t *v;
    json_array_foreach(un->dirs, i, v)
    {
        char *p = ckd_path_join(S, json_string_value(v));
        rc = p ? ckd_mkdir_p(p) : -ENOMEM;
        free(p);
        if (rc < 0) return rc;
    }
    char mhex[33] = "";
    if (r->metadata) {
        char *p = ckd_path_join(S, "metadata.json");
        rc = p ? write_file_durably(p, r->metadata, mhex) : -ENOMEM;
        free(p);
        if (rc < 0) return rc;
    }
    if ((rc = ckd_manifest_write(j, r->unit, S, r->metadata ? "metadata.json" : NULL, mhex)) < 0)
        return rc;
    snprintf(r->where, sizeof(r->where), "%s", T);
    rc = rename_whole(S, T);
    if (rc != 0) {
        if (rc == 1) rc = fsync_parent(T);
        return rc;
    }
    if (ckd_publish_conflict(j, r->unit, 0, mhex, r->where, sizeof(r->where))) {
        rc = -EEXIST;
        r->conflict = 1;
    } else {
        /* An existing directory: the user's (det's -o into a folder) or an
         * older copy of this checkpoint. Never replace it: move the files
         * in one by one, none of them over a file that is not ckptd's copy
         * of this checkpoint (checked above). The manifest goes first, so
         * that a publish interrupted halfway finds its own files there. */
        int noreplace = ckd_manifest_names(T, un->uuid) != 1;
        rc = ckd_manifest_write(j, r->unit, T, r->metadata ? "metadata.json" : NULL, mhex);
        if (rc == 0) rc = publish_files_into(r, T, noreplace);
        json_array_foreach(un->dirs, i, v)
        {
            char *p = rc == 0 ? ckd_path_join(T, json_string_value(v)) : NULL;
            if (p) rc = ckd_mkdir_p(p);
            free(p);
        }
        if (rc == 0 && r->metadata &&
            (rc = move_in(S, T, "metadata.json", -1, mhex, noreplace)) < 0)
            snprintf(r->where, sizeof(r->where), "%s/metadata.json", T);
        if (rc == 0) ckd_rm_rf(S);
    }
    if (rc == 0) rc = fsync_parent(T);
    return rc;
}

static void publish_work(uv_work_t *req)
{
    publish_req *r = req->data;
    ckd_unit *un = &r->job->units[r->unit];
    if (un->kind == CKD_UNIT_CHECKPOINT) {
        r->err = publish_checkpoint(r);
        return;
    }
    /* A file set staged beside its output (which did not exist then, or
     * was empty) becomes it in one rename, unless files appeared there. */
    size_t tl = strlen(un->target);
    int inside = strncmp(un->staging, un->target, tl) == 0 && un->staging[tl] == '/';
    int rc = 0;
    if (!inside) {
        /* The output keeps the mode of the empty directory it replaces, or
         * gets the one mkdir gives (the staging is 0700). */
        struct stat st;
        if ((lstat(un->target, &st) == 0 && S_ISDIR(st.st_mode)) ||
            (mkdir(un->target, 0777) == 0 && lstat(un->target, &st) == 0))
            chmod(un->staging, st.st_mode & 07777);
        rc = rename_whole(un->staging, un->target);
    }
    if (rc == 1) {
        r->err = r->background ? 0 : fsync_parent(un->target);
    } else if (rc < 0) {
        snprintf(r->where, sizeof(r->where), "%s", un->target);
        r->err = rc;
    } else {
        r->err = publish_files_into(r, un->target, 0);
        if (r->err == 0) ckd_rm_rf(un->staging);
    }
}

void ckd_publish_conflict_message(char *msg, size_t len, const ckd_unit *un, const char *where)
{
    snprintf(msg, len,
             "cannot publish checkpoint %s into '%s': '%s' exists and is not part of ckptd's copy "
             "of this checkpoint; nothing there was changed (remove it or choose another "
             "directory)",
             un->uuid ? un->uuid : "?", un->target, where);
}

static void publish_done(uv_work_t *req, int status)
{
    publish_req *r = req->data;
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    j->busy--;
    j->publishing = 0;
    if (r->err < 0) {
        char msg[1400];
        if (r->conflict || r->err == -EEXIST)
            ckd_publish_conflict_message(msg, sizeof(msg), un, r->where);
        else
            snprintf(msg, sizeof(msg), "cannot publish '%s': %s", r->where, strerror(-r->err));
        ckd_job_set_state(j, CKD_JOB_FAILED, msg);
    } else {
        un->status = CKD_UNIT_FETCHED;
        if (ckd_job_durability(j) == CKD_DURABLE_BACKGROUND) {
            un->durable = 0;
            ckd_store_unit_durable(&j->d->store, j->id, (int)r->unit, 0);
            ckd_durable_settle(j, r->unit);
        }
        /* Jobs that waited for this copy: their next prepare pass (the
         * scheduler starts it) finds it. */
        for (ckd_job *k = j->d->jobs; k; k = k->next) {
            if (k == j || k->state != CKD_JOB_RUNNING || !k->prepared) continue;
            for (size_t v = 0; v < k->nunits; v++) {
                if (k->units[v].status == CKD_UNIT_PENDING &&
                    strcmp(k->units[v].target, un->target) == 0) {
                    ckd_job_log(k, "info", "job %lld fetched checkpoint %s: checking its copy",
                                (long long)j->id, un->uuid ? un->uuid : "?");
                    k->prepared = 0;
                    break;
                }
            }
        }
        ckd_store_unit_status(&j->d->store, j->id, (int)r->unit, un->status, un->via);
        /* Published: the journal says so at once (and, in background mode,
         * that the copy is not yet on disk). */
        ckd_store_commit(&j->d->store);
        if (un->uuid)
            ckd_job_log(j, "info", "published checkpoint %s (%zu files) to '%s'", un->uuid,
                        un->nfiles, un->target);
        else
            ckd_job_log(j, "info", "published %zu files to '%s'", un->nfiles, un->target);
    }
    free(r->metadata);
    free(r);
    ckd_sched_kick(j->d);
}

void ckd_unit_publish(ckd_job *j, size_t u)
{
    ckd_unit *un = &j->units[u];
    /* A master archive must end first, at its announced length (its end
     * kicks the scheduler, which calls again). */
    if (un->archive) return;
    publish_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    r->job = j;
    r->unit = u;
    r->background = ckd_job_durability(j) == CKD_DURABLE_BACKGROUND;
    if (un->write_metadata) {
        json_t *md = json_object_get(un->checkpoint, "metadata");
        r->metadata =
            json_dumps(json_is_object(md) ? md : json_object(), JSON_INDENT(2) | JSON_SORT_KEYS);
    }
    r->work.data = r;
    j->busy++;
    j->publishing = 1;
    uv_queue_work(j->d->loop, &r->work, publish_work, publish_done);
}

typedef struct cleanup_req {
    uv_work_t work;
    ckd_job *job;
} cleanup_req;

static void cleanup_work(uv_work_t *req)
{
    cleanup_req *r = req->data;
    for (size_t u = 0; u < r->job->nunits; u++) ckd_rm_rf(r->job->units[u].staging);
}

static void cleanup_done(uv_work_t *req, int status)
{
    cleanup_req *r = req->data;
    r->job->busy--;
    free(r);
}

void ckd_job_cleanup(ckd_job *j)
{
    /* Writes of aborted transfers may still be in flight and the pool runs
     * work in any order: wait until the job is quiet (the scheduler calls
     * again). */
    if (!ckd_job_quiet(j) || j->cleaned) return;
    j->cleaned = 1;
    for (size_t i = 0; i < j->nfiles; i++) {
        if (j->files[i].fd >= 0) {
            close(j->files[i].fd);
            j->files[i].fd = -1;
        }
    }
    cleanup_req *r = calloc(1, sizeof(*r));
    if (!r) return;
    r->job = j;
    r->work.data = r;
    j->busy++;
    uv_queue_work(j->d->loop, &r->work, cleanup_work, cleanup_done);
}
