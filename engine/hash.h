/* XXH3-128 through libxxhash. On x86-64 the library's runtime dispatch
 * (AVX2/AVX-512 where the CPU has them) replaces the SSE2 baseline: hashing
 * every byte is a large part of the daemon's CPU time. */
#ifndef CKD_HASH_H
#define CKD_HASH_H

#include <xxhash.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <xxh_x86dispatch.h>
#endif

#endif
