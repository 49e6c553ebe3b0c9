/* Hashing helpers shared by verification passes. */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

#define HASH_READ (1 << 20)

int ckd_hash_fd_range(int fd, int64_t off, int64_t len, XXH3_state_t *h)
{
    char *buf = malloc(HASH_READ);
    if (!buf) return -ENOMEM;
    int rc = 0;
    while (len > 0 && rc == 0) {
        size_t n = len < HASH_READ ? (size_t)len : HASH_READ;
        rc = ckd_pread_all(fd, buf, n, off);
        if (rc == 0) XXH3_128bits_update(h, buf, n);
        off += (int64_t)n;
        len -= (int64_t)n;
    }
    free(buf);
    return rc;
}

void ckd_hash_state_hex(const XXH3_state_t *h, char hex[33])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
    ckd_hash_hex(c.digest, hex);
}

int ckd_hash_file(const char *path, int64_t size, char hex[33])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size >= 0 && st.st_size != size)) {
        close(fd);
        return -EINVAL;
    }
    XXH3_state_t *h = XXH3_createState();
    int rc = h ? 0 : -ENOMEM;
    if (rc == 0) {
        XXH3_128bits_reset(h);
        rc = ckd_hash_fd_range(fd, 0, st.st_size, h);
        if (rc == 0) ckd_hash_state_hex(h, hex);
    }
    XXH3_freeState(h);
    close(fd);
    return rc;
}
