/* ckc verify: a local directory checked against its checksum manifest. Each
 * listed file is opened beneath the directory one component at a time,
 * never following a symbolic link, must be a regular file, and is hashed
 * with XXH3-128 in 1 MiB reads. See verify.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <xxh_x86dispatch.h>
#endif

#include "ckp.h"
#include "xxhsum.h"
#include "render.h"
#include "verify.h"

#define READ_SIZE    (1u << 20)
#define MANIFEST_MAX ((size_t)256 << 20)

/* Opens path (already checked by ckp_path_check) beneath dirfd without
 * following symbolic links. Returns the descriptor or a negative errno:
 * -ENOENT when something on the way is missing, -ELOOP for a symbolic
 * link, -ENOTDIR when a parent is not a directory. */
static int open_beneath(int dirfd, const char *path)
{
    char *copy = strdup(path);
    if (!copy) return -ENOMEM;
    int fd = dirfd, rc;
    char *seg = copy;
    for (char *slash; (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
        *slash = '\0';
        int next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int err = errno;
        /* A link met with O_DIRECTORY may say ENOTDIR rather than ELOOP. */
        struct stat st;
        if (next < 0 && err == ENOTDIR && fstatat(fd, seg, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            err = ELOOP;
        if (fd != dirfd) close(fd);
        if (next < 0) {
            free(copy);
            return -err;
        }
        fd = next;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    rc = openat(fd, seg, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (rc < 0) rc = -errno;
    if (fd != dirfd) close(fd);
    free(copy);
    return rc;
}

/* XXH3-128 of the rest of fd, canonical lowercase hex. */
static int hash_fd(int fd, char *buf, char hex[33])
{
    XXH3_state_t *st = XXH3_createState();
    if (!st) return -ENOMEM;
    XXH3_128bits_reset(st);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, READ_SIZE);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0) break;
        XXH3_128bits_update(st, buf, (size_t)n);
    }
    if (rc == 0) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < sizeof c.digest; i++) {
            hex[2 * i] = digits[c.digest[i] >> 4];
            hex[2 * i + 1] = digits[c.digest[i] & 15];
        }
        hex[32] = '\0';
    }
    XXH3_freeState(st);
    return rc;
}

/* Checks one listed file; fills the status, the reason and the hash. */
static void check_file(int dirfd, char *buf, ckc_vitem *it)
{
    const char *why = NULL;
    if (ckp_path_check(it->path, it->path_len, &why) < 0) {
        it->status = CKC_V_FAILED;
        snprintf(it->why, sizeof it->why, "unsafe path: %s", why);
        return;
    }
    int fd = open_beneath(dirfd, it->path);
    if (fd < 0) {
        it->status = fd == -ENOENT ? CKC_V_MISSING : CKC_V_FAILED;
        if (fd == -ELOOP)
            snprintf(it->why, sizeof it->why, "symbolic link, not followed");
        else if (fd == -ENOTDIR)
            snprintf(it->why, sizeof it->why, "a parent is not a directory");
        else if (fd != -ENOENT)
            snprintf(it->why, sizeof it->why, "cannot open: %s", ckc_strerror(-fd));
        return;
    }
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -errno;
    if (rc == 0 && !S_ISREG(st.st_mode)) {
        it->status = CKC_V_FAILED;
        snprintf(it->why, sizeof it->why, "not a regular file");
    } else if (rc == 0 && (rc = hash_fd(fd, buf, it->actual)) == 0) {
        it->status = strcmp(it->actual, it->expected) == 0 ? CKC_V_OK : CKC_V_FAILED;
    }
    if (rc < 0) {
        it->status = CKC_V_FAILED;
        it->actual[0] = '\0';
        snprintf(it->why, sizeof it->why, "cannot read: %s", ckc_strerror(-rc));
    }
    close(fd);
}

/* Opens the first manifest of the list that exists in dirfd. */
static int open_manifest(int dirfd, const char *const *manifests, const char **used)
{
    for (size_t i = 0; manifests[i]; i++) {
        int fd = openat(dirfd, manifests[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT) continue;
        *used = manifests[i];
        if (fd < 0) return errno == ELOOP ? -EINVAL : -errno;
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return -EINVAL;
        }
        return fd;
    }
    return -ENOENT;
}

int ckc_verify_dir(int dirfd, const char *const *manifests, const char **used, ckc_verify_fn fn,
                   void *arg, ckc_vtotals *t)
{
    memset(t, 0, sizeof *t);
    *used = NULL;
    int mfd = open_manifest(dirfd, manifests, used);
    if (mfd < 0) return mfd;
    t->opened = 1;
    FILE *in = fdopen(mfd, "r");
    char *buf = malloc(READ_SIZE);
    if (!in || !buf) {
        if (in)
            fclose(in);
        else
            close(mfd);
        free(buf);
        return -ENOMEM;
    }

    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t len;
    int rc = 0;
    ckc_vitem it;
    unsigned long lineno = 0;
    errno = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        total += (size_t)len;
        if (total > MANIFEST_MAX) {
            rc = -E2BIG;
            break;
        }
        memset(&it, 0, sizeof it);
        it.line = ++lineno;
        ckp_mf_entry e;
        const char *why = NULL;
        int prc = ckp_xxhsum_parse_line(line, (size_t)len, &e, &why);
        if (prc == CKP_MF_BLANK) continue;
        if (prc < 0) {
            it.status = CKC_V_BAD_LINE;
            snprintf(it.why, sizeof it.why, "%s%s", prc == -EINVAL ? "improperly formatted: " : "",
                     why);
            t->bad_lines++;
        } else {
            it.path = e.path;
            it.path_len = e.path_len;
            memcpy(it.expected, e.hex, sizeof it.expected);
            check_file(dirfd, buf, &it);
            if (it.status == CKC_V_OK)
                t->ok++;
            else if (it.status == CKC_V_MISSING)
                t->missing++;
            else
                t->failed++;
        }
        if (fn) fn(&it, arg);
        errno = 0;
    }
    if (rc == 0 && ferror(in)) rc = errno ? -errno : -EIO;
    free(line);
    free(buf);
    fclose(in);
    return rc;
}

int ckc_verify_passed(const ckc_vtotals *t)
{
    return t->ok > 0 && t->failed == 0 && t->missing == 0 && t->bad_lines == 0;
}
