/* XXH3-128 through libxxhash. On x86-64 the library's runtime dispatch
 * (AVX2/AVX-512 where the CPU has them) replaces the SSE2 baseline: hashing
 * every byte is a large part of the daemon's CPU time. */
#ifndef CKD_HASH_H
#define CKD_HASH_H

#include <stdint.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <xxh_x86dispatch.h>
#endif

/* Feeds bytes [off, off + len) of fd into h, 1 MiB at a time (pool threads
 * only). Returns 0, -ENOMEM, or the read error (-EIO for a short file). */
int ckd_hash_fd_range(int fd, int64_t off, int64_t len, XXH3_state_t *h);
/* The XXH3-128 of h's input so far, as lowercase canonical hex. */
void ckd_hash_state_hex(const XXH3_state_t *h, char hex[33]);
/* The XXH3-128 of the regular file at path (never through a symlink), when
 * its size is size (any size when size < 0). -EINVAL for another size or
 * kind of file. Pool threads only. */
int ckd_hash_file(const char *path, int64_t size, char hex[33]);

#endif
