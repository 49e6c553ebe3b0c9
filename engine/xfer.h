/* One HTTP(S) transfer: a ranged GET that fills one segment of one file.
 *
 * libcurl's small write callbacks are coalesced into large buffers that a pool
 * thread writes at their offset and hashes; a transfer owns two buffers (one
 * filling, one being written) so memory stays bounded: when both are busy,
 * or the global buffer cap is reached, the transfer is paused. */
#ifndef CKD_XFER_H
#define CKD_XFER_H

#include "fetch.h"
#include "job.h"

typedef struct ckd_xfer {
    uint32_t magic;
    ckd_daemon *d;
    ckd_seg *seg;
    ckd_job *job;
    CURL *easy;
    struct curl_slist *headers;
    char *buf[2];
    size_t cap;  /* size of each buffer */
    size_t fill; /* bytes in buf[cur] */
    int cur;     /* the buffer being filled */
    int in_multi;
    int detached; /* aborted: no longer the segment's transfer */
    int paused;   /* returned CURL_WRITEFUNC_PAUSE and waits for a write */
    int mem_wait; /* waits in the engine's list for buffer memory */
    int curl_done;
    CURLcode result;
    int64_t req_off;  /* first byte asked for */
    int64_t received; /* body bytes accepted from curl */
    int reached_end;  /* stopped on purpose at the segment's end */
    int restart;      /* the server ignored our range or the file changed */
    int fatal;        /* a permanent problem found in the headers */
    char errbuf[CURL_ERROR_SIZE];
    char why[256];
    /* response headers of the final response */
    long status;
    int headers_done;
    char etag[256];
    char lastmod[64];
    double retry_after;
    int64_t cr_start, cr_total; /* Content-Range, -1 when absent */
    /* the pool write in flight */
    uv_work_t work;
    int wbusy;
    int wbuf;
    size_t wlen;
    int64_t woff;
    int werr;
    int wjournal;                   /* a journal step: claim the last mark, take a new one */
    int64_t wclaim_off, wclaim_len; /* the marked range to wait for on disk */
    int wclose;                     /* close the file after this write */
    ckd_file *wfile;                /* the file, for the pool thread */
    XXH3_state_t *whash;            /* the segment's hash state, for the pool thread */
    size_t zerr;                    /* zstd error code when werr == -EBADMSG */
    int wframe;                     /* a zstd frame end was made durable: journal it */
    int64_t wframe_c, wframe_d, wframe_journaled;
    char wframe_hex[33];
    unsigned char wdigest[16];
    struct ckd_xfer *next_wait;
} ckd_xfer;

/* The engine on d's loop; outcomes of transfers go to report(d, ...). */
int ckd_xfer_engine_init(ckd_daemon *d, ckd_outcome_fn report);
void ckd_xfer_engine_close(ckd_daemon *d);
void ckd_xfer_engine_apply_config(ckd_daemon *d);
/* Starts a transfer for segment s (file open, s->xfer NULL, !s->inflight). */
int ckd_xfer_start(ckd_daemon *d, ckd_seg *s);
/* Stops s's transfer; buffered bytes not yet written are dropped; its end
 * is not reported. */
void ckd_xfer_abort(ckd_seg *s);

#endif
