/* Small filesystem and time helpers. All return 0 or a negative errno. The
 * ones that touch the disk are for worker threads or start-up, not the loop. */
#ifndef CKD_FSUTIL_H
#define CKD_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdir -p of path (absolute), mode 0755. */
int ckd_mkdir_p(const char *path);
/* Creates every parent directory of the relative file path rel under dir. */
int ckd_mkdir_parents(const char *dir, const char *rel);
/* A staging directory name beside or inside dir: "<dir>/.<stem>-<12 hex>.partial"
 * with a random suffix, so that nobody can place something there first and
 * two daemons sharing dir never pick the same one. malloc'd, NULL on failure. */
char *ckd_staging_path(const char *dir, const char *stem);
/* A file set's staging directory for output: beside it while output does
 * not exist, or is an empty directory of this user on its parent's
 * filesystem in a parent this user may write (published by renaming the
 * whole directory in its place), else inside it (the same filesystem even
 * when output is a mount point, and a shared directory keeps its owner;
 * published file by file). Like ckd_staging_path. */
char *ckd_set_staging_path(const char *output, const char *stem);
/* Makes path a directory that ckptd owns: created here (mode 0700, parents
 * with ckd_mkdir_p), or already there as a real directory (not a symlink) of
 * this user, as after a restart. -ELOOP for a symlink, -EPERM for another
 * owner, -ENOTDIR for anything else. */
int ckd_dir_own(const char *path);
/* rm -rf; a missing path is not an error. Never follows a symlink. */
int ckd_rm_rf(const char *path);
/* fsync of a directory, so renames and creations inside it are durable. */
int ckd_fsync_dir(const char *path);
/* Joins a and b with one '/'; malloc'd, NULL on allocation failure. */
char *ckd_path_join(const char *a, const char *b);
/* Writes all of buf at off, retrying short writes and EINTR. */
int ckd_pwrite_all(int fd, const void *buf, size_t len, int64_t off);
/* Reads exactly len bytes at off; -EIO on a short file. */
int ckd_pread_all(int fd, void *buf, size_t len, int64_t off);

/* Monotonic milliseconds, and wall-clock seconds since the epoch. */
uint64_t ckd_now_ms(void);
int64_t ckd_wall_s(void);
/* "2026-11-29T17:02:15Z" into out (at least 21 bytes). */
void ckd_fmt_time(char *out, size_t outlen, int64_t epoch_s);

/* Lowercase hex of a 128-bit hash in canonical (big-endian) order, as
 * `xxhsum -H2` prints it; out needs 33 bytes. */
void ckd_hash_hex(const unsigned char canonical[16], char out[33]);
/* 1 when s is exactly 32 hex digits. */
int ckd_hash_hex_valid(const char *s);

#endif
