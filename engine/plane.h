/* The data plane: N worker threads, each with its own libuv loop and libcurl
 * multi handle (driven by the multi socket API), fetch byte ranges of
 * objects straight into files. The write callback pwrite()s libcurl's buffer
 * at its offset (no copy) and hashes it in place with XXH3-128; zstd streams
 * are decoded on the way. Work goes in through ckd_plane_submit (any number
 * of ranges, of one or many files); reports come back on the control loop.
 *
 * Threading: every function here is called on the control loop's thread
 * (the one running `control`), never from a worker and never concurrently.
 * Reports are delivered there too, in order per key, through the callback;
 * the callback may call any function of this header (even ckd_plane_close).
 *
 * The plane knows nothing of jobs or stores: a work item is a configured
 * CURL easy handle, a file descriptor and a byte range. */
#ifndef CKD_PLANE_H
#define CKD_PLANE_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hash.h"

typedef struct ckd_plane ckd_plane;

/* How a work item ended (the final report's `end`). */
enum ckd_fetch_end {
    CKD_FETCH_OK,      /* [off, end) written; with end == -1, the body ended (its length is the
                        * object's size) */
    CKD_FETCH_RETRY,   /* transient: connect/reset/timeout/low speed, 5xx, 408, 429, body shorter
                        * than announced; retry_after_s >= 0 when the server sent Retry-After
                        * (seconds or HTTP date) */
    CKD_FETCH_RESTART, /* start the file again from zero: the server answered 200 to a ranged
                        * request, or the validator (ETag/Last-Modified) or the object's size
                        * differs from what was expected */
    CKD_FETCH_FAIL,    /* permanent: 4xx other than 401/403/408/429, undecodable or truncated
                        * zstd, decoded size above dec_max, a write error (err set, e.g.
                        * -ENOSPC), bad Content-Range, an unexpected status (204, 3xx not
                        * followed) */
    CKD_FETCH_DENIED,  /* 401 or 403 */
    CKD_FETCH_ABORTED, /* ckd_plane_abort() or ckd_plane_close() */
};

/* One work item: a byte range of one object into one file. Copied by
 * ckd_plane_submit (the hash state too: the caller keeps its own). */
typedef struct ckd_fetch {
    uint64_t key; /* the owner's id of this work, unique among the items not yet finally
                   * reported; echoed in every report */
    CURL *easy;   /* configured by the owner: URL, timeouts (LOW_SPEED_* for stalls), auth,
                   * redirects, extra headers; with range_set also the range; never
                   * ACCEPT_ENCODING (the body must be the object's bytes). The plane owns it
                   * from a successful submit: it sets WRITEFUNCTION/DATA, HEADERFUNCTION/DATA,
                   * PRIVATE, ERRORBUFFER, NOSIGNAL, FAILONERROR (0), BUFFERSIZE,
                   * CLOSESOCKETFUNCTION/DATA (and RANGE unless range_set, and HTTPHEADER when
                   * it adds If-Range), and at the end resets it for ckd_plane_easy */
    struct curl_slist *headers; /* the list set as CURLOPT_HTTPHEADER, or NULL (the plane may
                                 * append If-Range and re-set it), freed by the plane */
    int fd;                     /* destination (O_RDWR); the owner keeps it open until the final
                                 * report. -1: the worker opens `path` itself (creating it and
                                 * its parents below `path_base`), and closes it at the end */
    const char *path;           /* fd -1: the file (copied by submit) */
    const char *path_base;      /* fd -1: a directory that exists, above path (copied) */
    int64_t prealloc;           /* fd -1: bytes to preallocate when the file is created, 0 none */
    int64_t start;              /* the range's first byte in the object and in the file */
    int64_t off;                /* first byte to request: start + bytes already written and
                                 * proven (>= start) */
    int64_t end;                /* exclusive end of the range (> off); -1: to the end of the
                                 * object */
    XXH3_state_t *hash;         /* hash over [start, off) (zstd: decoded [0, dec_off)); NULL: a
                                 * fresh state (only valid when off == start, dec_off == 0). The
                                 * plane copies it and continues the copy */
    int64_t step;               /* send a progress report every `step` bytes written (0: none) */
    int64_t expect_size;        /* the object's size if known, else -1: a 206 total or 200
                                 * length that disagrees -> RESTART */
    char validator[256];        /* ETag (or Last-Modified) the earlier bytes came from, "" none:
                                 * sent as If-Range when off > start; a response with another
                                 * -> RESTART */
    int range_set;              /* the owner put the range in a signed header itself (Azure
                                 * x-ms-range): the plane sets no Range and treats the request
                                 * as ranged (a 200 answer -> RESTART) */
    int zstd;                   /* the object is a zstd stream, stored decoded: one range from
                                 * 0 (start == 0), never split (set_end is ignored) */
    int64_t dec_off;            /* zstd: decoded bytes already in the file, ending at a frame
                                 * end; off is that frame end in the stream */
    int64_t dec_max;            /* zstd: decoded size cap, -1 none: more output -> FAIL, at
                                 * once */
    int writeback;              /* start the kernel's writeback of each step as it is written
                                 * (sync_file_range, asynchronous), so that a flush before
                                 * publication has little left to do */
} ckd_fetch;

/* A report on one work item: progress (final == 0) or the one final report. */
typedef struct ckd_fetch_report {
    uint64_t key;
    int final;              /* 0: progress, 1: the one final report for the key */
    enum ckd_fetch_end end; /* final only (CKD_FETCH_OK in progress reports) */
    int64_t written;        /* bytes from start now in the file (pwrite returned); zstd:
                             * compressed offset of the last complete frame */
    int64_t decoded;        /* zstd: decoded bytes at that frame end; 0 otherwise */
    XXH3_state_t *hash;     /* hash over [start, start + written) (zstd: decoded [0, decoded));
                             * valid during the callback only */
    int64_t object_size;    /* from Content-Range total or a 200's Content-Length (zstd: of the
                             * compressed stream), -1 unknown; on OK with end == -1 the length
                             * the body proved */
    char validator[256];    /* strong ETag (else Last-Modified) of the response, "" none */
    long http_status;       /* of the final response, 0 when none arrived */
    double retry_after_s;   /* -1 none */
    int err;                /* negative errno of a write error, else 0 */
    char message[512];      /* why, for the job's log, "" on OK: the URL with query string and
                             * user:pass@ removed */
} ckd_fetch_report;

/* Receives every report on the control loop; r is valid during the call only. */
typedef void (*ckd_plane_report_cb)(void *ud, const ckd_fetch_report *r);

/* Starts nworkers threads (>= 1); reports are delivered on `control` through
 * cb(ud, report). curl_global_init must have run. 0 or -errno (*out NULL;
 * what was set up is released on the control loop's next turn). */
int ckd_plane_init(ckd_plane **out, uv_loop_t *control, int nworkers, ckd_plane_report_cb cb,
                   void *ud);
/* Hands f to the worker with the fewest active items. 0, or -errno and
 * nothing happens (the caller keeps easy/headers): -EINVAL for a bad range or
 * fd, -EEXIST for a key still active, -ESHUTDOWN after ckd_plane_close,
 * -ENOMEM. Once accepted, exactly one final report follows. */
int ckd_plane_submit(ckd_plane *p, const ckd_fetch *f);
/* The work ends with a final ABORTED report, unless its final report is
 * already on its way. Unknown keys are ignored. */
void ckd_plane_abort(ckd_plane *p, uint64_t key);
/* A running range may be cut shorter (a large file of unknown size split at
 * run time): the work ends OK at new_end. Only a shorter end is taken (or any
 * end for end == -1); when the worker has already written past new_end the
 * range ends OK where it is: the final report's `written` is authoritative.
 * Ignored for zstd items and unknown keys. */
void ckd_plane_set_end(ckd_plane *p, uint64_t key, int64_t new_end);
/* Bandwidth cap over all workers in bytes/s (0: none): back-pressure pauses
 * transfers (CURL_WRITEFUNC_PAUSE, unpaused on a timer), never buffers. */
void ckd_plane_set_rate(ckd_plane *p, int64_t bytes_per_s);
/* CURLOPT_BUFFERSIZE for items submitted from now on (16 KiB .. 10 MiB;
 * default CKD_PLANE_BUFFER_SIZE). The bound of libcurl's receive buffers is
 * this times the number of transfers: 64 x 256 KiB = 16 MiB. */
void ckd_plane_set_buffer_size(ckd_plane *p, long bytes);
/* The default receive buffer per transfer (measured: bench/plane_bench.c). */
#define CKD_PLANE_BUFFER_SIZE (256L << 10)
/* An easy handle for a work item: one a finished item left behind (reset
 * to libcurl's defaults with curl_easy_reset) or a new one; NULL when out
 * of memory. A handle not submitted after all is the caller's to clean up. */
CURL *ckd_plane_easy(ckd_plane *p);
/* Transfers submitted and not yet finally reported. */
int ckd_plane_active(const ckd_plane *p);
/* Aborts all work (ABORTED reports are delivered before done), stops and
 * joins the workers, closes every handle; done(ud) fires once on the control
 * loop, after which the caller may free nothing more: the plane frees itself.
 * Calling any other function after close is allowed until done fires
 * (submit returns -ESHUTDOWN, the rest do nothing). */
void ckd_plane_close(ckd_plane *p, void (*done)(void *ud), void *ud);

/* Test hook: how many worker loops failed uv_loop_close() in this process
 * (0 unless a handle leaked). */
int ckd__plane_loop_close_failures(void);

#endif
