/* storehash: the content hashes object stores keep of an object, pure.
 * Parses what a store says (S3's x-amz-checksum-<algo> headers, GCS's
 * x-goog-hash), keeps the cheapest algorithm offered, and computes the same
 * digests incrementally: CRC32C (SSE4.2 where the CPU has it), CRC32 and
 * CRC64NVME (slice-by-8 tables), MD5, SHA-1 and SHA-256 (libcrypto EVP).
 * Digests are big-endian bytes, as the stores send them (base64).
 *
 * No I/O, no logging. Every input has a hard cap checked before use. The
 * compute functions are safe on any thread (each context is its own). */
#ifndef CKD_STOREHASH_H
#define CKD_STOREHASH_H

#include <stddef.h>
#include <stdint.h>

/* X(enum suffix, name as the stores spell it lowercase, digest bytes), in
 * order of preference: the cheapest to compute first. */
#define CKD_STOREHASH_MAP(X)                                                                       \
    X(CRC32C, "crc32c", 4)                                                                         \
    X(CRC32, "crc32", 4)                                                                           \
    X(CRC64NVME, "crc64nvme", 8)                                                                   \
    X(SHA1, "sha1", 20)                                                                            \
    X(SHA256, "sha256", 32)                                                                        \
    X(MD5, "md5", 16)

enum ckd_storehash_algo {
    CKD_STOREHASH_NONE = 0, /* no hash known */
#define X(name, wire, len) CKD_STOREHASH_##name,
    CKD_STOREHASH_MAP(X)
#undef X
        CKD_STOREHASH_NALGOS
};

#define CKD_STOREHASH_MAX_DIGEST 32
/* Hard caps: a header value looked at, a hash in text form ("algo:base64"). */
#define CKD_STOREHASH_MAX_VALUE 512
#define CKD_STOREHASH_TEXT_MAX  64

/* One expected (or computed) digest; algo NONE: nothing known. */
typedef struct ckd_storehash {
    enum ckd_storehash_algo algo;
    unsigned char digest[CKD_STOREHASH_MAX_DIGEST];
} ckd_storehash;

/* "crc32c", ... ("none" for NONE, "?" out of range). */
const char *ckd_storehash_algo_name(enum ckd_storehash_algo a);
/* Digest bytes of a (0 for NONE). */
size_t ckd_storehash_digest_len(enum ckd_storehash_algo a);
/* The algorithm named by name[0..len) (case-insensitive), or -EINVAL. */
int ckd_storehash_algo_parse(const char *name, size_t len);

/* Offers the digest of algo, base64 text b64[0..len) (blanks around it
 * ignored). It replaces *best when best has none or a costlier one.
 * Returns 1 taken, 0 kept the cheaper one already there; -ENOTSUP for a
 * composite checksum ("...-N": a checksum of the parts' checksums, not of
 * the bytes); -EINVAL for text that is not base64 of the algorithm's digest
 * length, or past CKD_STOREHASH_MAX_VALUE. */
int ckd_storehash_offer(ckd_storehash *best, enum ckd_storehash_algo algo, const char *b64,
                        size_t len);
/* One response header: "x-amz-checksum-<algo>" (S3, sent when the request
 * asks with "x-amz-checksum-mode: ENABLED") or "x-goog-hash" (GCS:
 * "crc32c=<b64>,md5=<b64>", possibly one per header line). Values of other
 * headers and algorithms unknown here are ignored (0). Returns as
 * ckd_storehash_offer, for the best part of the value. */
int ckd_storehash_header(ckd_storehash *best, const char *name, size_t nlen, const char *value,
                         size_t vlen);

/* The text form "algo:base64" into out (CKD_STOREHASH_TEXT_MAX fits any);
 * -E2BIG when it does not fit, -EINVAL for NONE. */
int ckd_storehash_format(const ckd_storehash *h, char *out, size_t outlen);
/* Base64 of h's digest alone into out; -E2BIG when it does not fit. */
int ckd_storehash_b64(const ckd_storehash *h, char *out, size_t outlen);
/* Parses the text form; -EINVAL when it is not one. */
int ckd_storehash_parse(const char *text, ckd_storehash *out);
/* 1 when both name the same algorithm and digest. */
int ckd_storehash_eq(const ckd_storehash *a, const ckd_storehash *b);

/* Incremental computation. */
typedef struct ckd_storehash_ctx {
    enum ckd_storehash_algo algo;
    uint64_t crc;
    void *md; /* EVP_MD_CTX for md5/sha1/sha256 */
} ckd_storehash_ctx;

/* 0, -EINVAL (NONE or unknown), -ENOMEM. */
int ckd_storehash_init(ckd_storehash_ctx *c, enum ckd_storehash_algo algo);
void ckd_storehash_update(ckd_storehash_ctx *c, const void *buf, size_t len);
/* The digest into out (algo set); the context is released. 0 or -EIO. */
int ckd_storehash_final(ckd_storehash_ctx *c, ckd_storehash *out);
/* Frees a context not finalised (safe after final, and twice). */
void ckd_storehash_release(ckd_storehash_ctx *c);

#endif
