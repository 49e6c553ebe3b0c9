/* A checkpoint's own checksums.xxh128 (xxhsum format, GNU or BSD lines,
 * XXH3-128): fetched before the other files of its checkpoint and applied
 * as their expected hashes, so every file is checked against what the
 * trainer wrote, not only against itself.
 *
 * Direct routes simply wait for it (ckd_checksums_gate). The master's
 * archive brings files in the archive's order, so a file that arrives
 * before the checksums file is applied is held (hash known, not yet verified)
 * and verified when it is. Nothing is persisted: after a restart the
 * checksums file, verified on disk, is read again. */
#include "checksums.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "verify.h"
#include "xxhsum.h"

#define CHECKSUMS_MAX_BYTES (16 << 20)

typedef struct sums_req {
    uv_work_t work;
    ckd_job *job;
    size_t unit;
    char *path;
    json_t *map; /* path -> hex */
    char why[600];
} sums_req;

int ckd_checksums_is_file(const char *path)
{
    return strcmp(path, CKD_CHECKSUMS_NAME) == 0;
}

/* Pool: reads and parses the staged checksums file into r->map. */
static void sums_work(uv_work_t *req)
{
    sums_req *r = req->data;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(r->why, sizeof(r->why), "cannot read it: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return;
    }
    if (st.st_size > CHECKSUMS_MAX_BYTES) {
        snprintf(r->why, sizeof(r->why), "it is larger than %d MiB", CHECKSUMS_MAX_BYTES >> 20);
        close(fd);
        return;
    }
    size_t len = (size_t)st.st_size;
    char *text = malloc(len + 1);
    int rc = text ? ckd_pread_all(fd, text, len, 0) : -ENOMEM;
    close(fd);
    r->map = json_object();
    if (rc < 0 || !r->map) {
        snprintf(r->why, sizeof(r->why), "cannot read it: %s", strerror(-rc));
        free(text);
        return;
    }
    text[len] = '\0';
    size_t lineno = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        lineno++;
        line[n] = '\0'; /* the parser may write line[len] */
        ckp_mf_entry e;
        const char *why = NULL;
        int prc = ckp_xxhsum_parse_line(line, n, &e, &why);
        if (prc < 0) {
            snprintf(r->why, sizeof(r->why), "line %zu: %s", lineno, why ? why : "malformed");
            break;
        }
        if (prc == CKP_MF_ENTRY) {
            const char *p = e.path;
            while (strncmp(p, "./", 2) == 0) p += 2;
            json_object_set_new(r->map, p, json_string(e.hex));
        }
        line += n + 1;
    }
    free(text);
}

static ckd_file *sums_entry(ckd_job *j, const ckd_unit *un)
{
    return &j->files[un->sums_file];
}

/* Held files of unit u are verified now, against whatever is expected. */
static void release_held(ckd_job *j, size_t u)
{
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != u || !f->held) continue;
        int64_t size = f->held - 1;
        f->held = 0;
        if (f->state == CKD_FILE_ACTIVE && j->state == CKD_JOB_RUNNING) ckd_file_landed(f, size);
    }
}

static void apply(ckd_job *j, size_t u, json_t *map)
{
    ckd_unit *un = &j->units[u];
    size_t checked = 0, unlisted = 0;
    for (size_t i = 0; i < j->nfiles; i++) {
        ckd_file *f = &j->files[i];
        if ((size_t)f->unit != u || f->idx == un->sums_file || f->state == CKD_FILE_FAILED)
            continue;
        /* A file stored decoded does not have the hash listed for its stream. */
        const char *hex = f->zstd ? NULL : json_string_value(json_object_get(map, f->path));
        if (!hex) {
            unlisted += !f->zstd;
            continue;
        }
        checked++;
        if (f->expect[0] && strcmp(f->expect, hex) != 0) {
            ckd_file_fail(f, "'%s': %s lists %s but the sealed metadata says %s", f->path,
                          CKD_CHECKSUMS_NAME, hex, f->expect);
            continue;
        }
        snprintf(f->expect, sizeof(f->expect), "%s", hex);
        if ((f->state == CKD_FILE_VERIFIED || f->state == CKD_FILE_FETCHED) &&
            strcmp(f->hash, hex) != 0) {
            /* Verified before the checksums file could say otherwise (an earlier run). */
            if (f->state == CKD_FILE_VERIFIED) j->files_verified--, un->verified--;
            ckd_file_fail(f, "xxh128 mismatch for '%s': got %s, %s lists %s", f->path, f->hash,
                          CKD_CHECKSUMS_NAME, hex);
        }
    }
    ckd_job_log(j, "info", "checkpoint %s: %s lists %zu of its files%s", un->uuid,
                CKD_CHECKSUMS_NAME, checked,
                unlisted ? "; the others are checked by size and their own hash only" : "");
    un->sums_state = CKD_CHECKSUMS_APPLIED;
    release_held(j, u);
}

static void sums_done(uv_work_t *req, int status)
{
    sums_req *r = req->data;
    ckd_job *j = r->job;
    ckd_unit *un = &j->units[r->unit];
    j->busy--;
    un->sums_state = CKD_CHECKSUMS_UNREAD;
    if (j->state == CKD_JOB_RUNNING) {
        if (r->why[0])
            ckd_file_fail(sums_entry(j, un), "checkpoint %s: %s: %s", un->uuid, CKD_CHECKSUMS_NAME,
                          r->why);
        else
            apply(j, r->unit, r->map);
    }
    json_decref(r->map);
    free(r->path);
    free(r);
    ckd_sched_kick(j->d);
}

int ckd_checksums_gate(ckd_file *f)
{
    ckd_job *j = f->job;
    ckd_unit *un = &j->units[f->unit];
    if (un->sums_file < 0 || f->idx == un->sums_file || un->sums_state == CKD_CHECKSUMS_APPLIED)
        return 0;
    ckd_file *m = sums_entry(j, un);
    if (m->state == CKD_FILE_FAILED) {
        /* The job fails for it; the other files finish so it can end. */
        un->sums_state = CKD_CHECKSUMS_APPLIED;
        release_held(j, (size_t)f->unit);
        return 0;
    }
    if ((m->state == CKD_FILE_FETCHED || m->state == CKD_FILE_VERIFIED) &&
        un->sums_state == CKD_CHECKSUMS_UNREAD) {
        sums_req *r = calloc(1, sizeof(*r));
        if (r && (r->path = ckd_file_staging_path(m))) {
            r->job = j;
            r->unit = (size_t)f->unit;
            r->work.data = r;
            un->sums_state = CKD_CHECKSUMS_READING;
            j->busy++;
            uv_queue_work(j->d->loop, &r->work, sums_work, sums_done);
        } else {
            free(r);
        }
    }
    return 1;
}

int ckd_checksums_hold(ckd_file *f, int64_t size)
{
    ckd_unit *un = &f->job->units[f->unit];
    if (un->sums_file < 0 || f->idx == un->sums_file || un->sums_state == CKD_CHECKSUMS_APPLIED)
        return 0;
    f->held = size + 1;
    ckd_sched_kick(f->job->d); /* the gate reads the checksums file once it is in */
    return 1;
}
