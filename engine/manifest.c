/* The manifest written into every published checkpoint: `xxhsum -H2`
 * format ("<32 hex>  <path>"), so `xxhsum -c` can check a copy too. Names
 * holding a newline or a backslash are escaped the way xxhsum does: the
 * line starts with '\' and the name has "\\" and "\n".
 *
 * Beside it, .ckptd.json names the checkpoint the copy is of: a copy is
 * "present" for a job only when it is of the same checkpoint. */
#include "manifest.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

#define MANIFEST_MAX (256 << 20)
#define IDENTITY_MAX 4096

static void put_line(FILE *out, const char *hash, const char *path)
{
    int esc = strpbrk(path, "\\\n") != NULL;
    if (esc) fputc('\\', out);
    fprintf(out, "%s  ", hash);
    for (const char *p = path; *p; p++) {
        if (esc && *p == '\\')
            fputs("\\\\", out);
        else if (esc && *p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('\n', out);
}

/* Writes text to dir/name through a temporary file, durably. */
static int write_small(const char *dir, const char *name, const char *text)
{
    char *path = ckd_path_join(dir, name);
    if (!path) return -ENOMEM;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        free(path);
        return -ENOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    size_t len = strlen(text);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) rc = -errno;
    if (rc == 0) rc = ckd_pwrite_all(fd, text, len, 0);
    if (rc == 0 && fsync(fd) != 0) rc = -errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc < 0) unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

int ckd_manifest_write(ckd_job *j, size_t u, const char *dir, const char *extra_path,
                       const char *extra_hash)
{
    const char *uuid = j->units[u].uuid;
    if (uuid) {
        json_t *id = json_pack("{s:s,s:i}", "checkpoint", uuid, "version", 1);
        char *text = id ? json_dumps(id, JSON_COMPACT) : NULL;
        json_decref(id);
        char line[IDENTITY_MAX];
        int rc = text && strlen(text) + 2 < sizeof(line) ? 0 : -ENOMEM;
        if (rc == 0) {
            snprintf(line, sizeof(line), "%s\n", text);
            rc = write_small(dir, CKD_IDENTITY_NAME, line);
        }
        free(text);
        if (rc < 0) return rc;
    }
    char *path = ckd_path_join(dir, CKD_MANIFEST_NAME);
    if (!path) return -ENOMEM;
    char *tmp = malloc(strlen(path) + 5);
    if (!tmp) {
        free(path);
        return -ENOMEM;
    }
    sprintf(tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "we");
    int rc = out ? 0 : -errno;
    if (out) {
        for (size_t i = 0; i < j->nfiles; i++)
            if ((size_t)j->files[i].unit == u) put_line(out, j->files[i].hash, j->files[i].path);
        if (extra_path) put_line(out, extra_hash, extra_path);
        if (fflush(out) != 0 || fsync(fileno(out)) != 0) rc = -errno;
        if (fclose(out) != 0 && rc == 0) rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
        if (rc < 0) unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}

/* Parses one manifest line in place; returns the path or NULL. */
static char *parse_line(char *line, char **hash)
{
    int esc = line[0] == '\\';
    if (esc) line++;
    if (strlen(line) < 34 || line[32] != ' ' || line[33] != ' ') return NULL;
    line[32] = '\0';
    *hash = line;
    char *name = line + 34;
    if (esc) {
        char *w = name;
        for (char *r = name; *r; r++) {
            if (*r == '\\' && r[1] == 'n')
                *w++ = '\n', r++;
            else if (*r == '\\' && r[1] == '\\')
                *w++ = '\\', r++;
            else
                *w++ = *r;
        }
        *w = '\0';
    }
    return name;
}

int ckd_manifest_names(const char *dir, const char *uuid)
{
    char *path = ckd_path_join(dir, CKD_IDENTITY_NAME);
    if (!path) return -ENOMEM;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    free(path);
    if (fd < 0) {
        if (errno != ENOENT) return 0;
        /* Copies published before .ckptd.json existed: a manifest in a
         * directory named by the checkpoint's uuid (ckptd's own layout). */
        char *mf = ckd_path_join(dir, CKD_MANIFEST_NAME);
        const char *base = strrchr(dir, '/');
        base = base ? base + 1 : dir;
        int legacy = mf && access(mf, F_OK) == 0 && strcmp(base, uuid) == 0;
        free(mf);
        return legacy;
    }
    char buf[IDENTITY_MAX];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0 || (size_t)n >= sizeof(buf) - 1) return 0;
    buf[n] = '\0';
    json_t *id = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
    const char *named = json_string_value(json_object_get(id, "checkpoint"));
    int same = named && strcmp(named, uuid) == 0;
    json_decref(id);
    return same;
}

int ckd_manifest_check(const ckd_job *j, size_t u,
                       void (*found)(void *ud, size_t file, const char hex[33]), void *ud)
{
    const ckd_unit *un = &j->units[u];
    if (!un->uuid || ckd_manifest_names(un->target, un->uuid) != 1) return -ENOENT;
    char *path = ckd_path_join(un->target, CKD_MANIFEST_NAME);
    if (!path) return -ENOMEM;
    FILE *in = fopen(path, "re");
    free(path);
    if (!in) return -ENOENT;
    /* Map path -> hash from the manifest, then demand every file. */
    size_t cap = 0, n = 0;
    char **names = NULL, **hashes = NULL;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    int rc = 0;
    size_t total = 0;
    while (rc == 0 && (len = getline(&line, &linecap, in)) > 0) {
        total += (size_t)len;
        if (total > MANIFEST_MAX) rc = -E2BIG;
        if (line[len - 1] == '\n') line[--len] = '\0';
        char *hash, *name = parse_line(line, &hash);
        if (!name) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof(*nn)),
                 **nh = nn ? realloc(hashes, cap * sizeof(*nh)) : NULL;
            if (nn) names = nn;
            if (nh) hashes = nh;
            if (!nn || !nh) {
                rc = -ENOMEM;
                break;
            }
        }
        names[n] = strdup(name);
        hashes[n] = strdup(hash);
        n++;
    }
    free(line);
    fclose(in);
    for (size_t i = 0; rc == 0 && i < j->nfiles; i++) {
        const ckd_file *f = &j->files[i];
        if ((size_t)f->unit != u) continue;
        const char *want = NULL;
        for (size_t k = 0; k < n && !want; k++)
            if (names[k] && strcmp(names[k], f->path) == 0) want = hashes[k];
        char hex[33] = "";
        char *fp = ckd_path_join(un->target, f->path);
        /* The copy must also agree with the hashes the checkpoint carries
         * (sealed in its metadata), not only with itself. */
        if (!want || (f->expect[0] && strcmp(f->expect, want) != 0) || !fp ||
            ckd_hash_file(fp, f->size, hex) < 0 || strcmp(hex, want) != 0)
            rc = -EINVAL;
        else
            found(ud, i, hex);
        free(fp);
    }
    for (size_t k = 0; k < n; k++) free(names[k]), free(hashes[k]);
    free(names);
    free(hashes);
    return rc;
}
