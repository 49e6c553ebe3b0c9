#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>

int ckd_mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

char *ckd_staging_path(const char *dir, const char *stem)
{
    unsigned char r[6];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) return NULL;
    size_t n = strlen(dir) + strlen(stem) + 32;
    char *s = malloc(n);
    if (!s) return NULL;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    snprintf(s, n, "%.*s/.%s-%02x%02x%02x%02x%02x%02x.partial", (int)dl, dir, stem, r[0], r[1],
             r[2], r[3], r[4], r[5]);
    return s;
}

/* 1 when path is a directory with no entries. */
static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int empty = 1;
    while (empty && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

char *ckd_set_staging_path(const char *output, const char *stem)
{
    char *parent = strdup(output);
    if (!parent) return NULL;
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash) slash[slash == parent] = '\0';
    /* Beside: an output not there yet, or an empty directory of ours on
     * its parent's filesystem (not a mount point) in a parent we may write
     * (replacing it needs both); anything else, such as a shared directory
     * made for us: inside. */
    struct stat st, pst;
    int beside;
    if (lstat(output, &st) != 0)
        beside = errno == ENOENT;
    else
        beside = S_ISDIR(st.st_mode) && st.st_uid == geteuid() && stat(parent, &pst) == 0 &&
                 pst.st_dev == st.st_dev &&
                 faccessat(AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS) == 0 && dir_is_empty(output);
    char *s = ckd_staging_path(beside ? parent : output, stem);
    free(parent);
    return s;
}

int ckd_dir_own(const char *path)
{
    char *parent = strdup(path);
    if (!parent) return -ENOMEM;
    char *slash = strrchr(parent, '/');
    int rc = 0;
    if (slash && slash != parent) {
        *slash = '\0';
        rc = ckd_mkdir_p(parent);
    }
    free(parent);
    if (rc < 0) return rc;
    if (mkdir(path, 0700) == 0) return 0;
    if (errno != EEXIST) return -errno;
    struct stat st;
    if (lstat(path, &st) != 0) return -errno;
    if (S_ISLNK(st.st_mode)) return -ELOOP;
    if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
    if (st.st_uid != geteuid()) return -EPERM;
    return 0;
}

int ckd_mkdir_parents(const char *dir, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) return 0;
    char buf[8192];
    int n = snprintf(buf, sizeof(buf), "%s/%.*s", dir, (int)(slash - rel), rel);
    if (n < 0 || (size_t)n >= sizeof(buf)) return -ENAMETOOLONG;
    return ckd_mkdir_p(buf);
}

static int rm_rf_at(int dfd, const char *name)
{
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno != EISDIR && errno != EPERM) return -errno;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        int r = rm_rf_at(dirfd(d), de->d_name);
        if (r < 0 && rc == 0) rc = r;
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0) rc = -errno;
    return rc;
}

int ckd_rm_rf(const char *path)
{
    return rm_rf_at(AT_FDCWD, path);
}

int ckd_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

char *ckd_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

int ckd_pwrite_all(int fd, const void *buf, size_t len, int64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int ckd_pread_all(int fd, void *buf, size_t len, int64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

uint64_t ckd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t ckd_wall_s(void)
{
    return (int64_t)time(NULL);
}

void ckd_fmt_time(char *out, size_t outlen, int64_t epoch_s)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ckd_hash_hex(const unsigned char canonical[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[canonical[i] >> 4];
        out[2 * i + 1] = hex[canonical[i] & 15];
    }
    out[32] = '\0';
}

int ckd_hash_hex_valid(const char *s)
{
    for (int i = 0; i < 32; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return s[32] == '\0';
}
