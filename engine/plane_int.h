/* The data plane's insides, shared by plane.c (the control side: submit,
 * registry, report delivery, shutdown), plane_worker.c (the worker threads:
 * libuv + libcurl multi socket glue, commands) and plane_body.c (the
 * transfer itself: headers, body writes, zstd, the final verdict).
 *
 * Ownership and threads. A pl_xfer is allocated by the control thread in
 * ckd_plane_submit and handed to one worker through that worker's command
 * queue (mutex + ckd_wake). From then on the worker owns everything in it
 * but the fields marked "control", until it queues the final report (the
 * pl_report embedded in the xfer): from that moment the worker never touches
 * the xfer again, and the control thread frees it after delivering the
 * report. Commands for an xfer (abort, set_end) are nodes embedded in it;
 * they are read only under the worker's lock, and the control thread unlinks
 * any still queued before freeing the xfer, so the worker never sees a stale
 * one. Workers find their xfers by key in their own list. */
#ifndef CKD_PLANE_INT_H
#define CKD_PLANE_INT_H

#include <stdatomic.h>
#include <zstd.h>

#include "plane.h"
#include "wake.h"

/* Largest zstd window accepted: 2^27 = 128 MiB (as the engine's). */
#define PL_ZSTD_WINDOW_LOG_MAX 27
/* Longest wait of a transfer paused by the bandwidth cap before it asks the
 * bucket again (a rate change takes effect within this). */
#define PL_RATE_MAX_WAIT_MS 100

struct pl_xfer;
struct pl_worker;

/* What a command asks of a worker. */
enum pl_cmd_type { PL_CMD_SUBMIT, PL_CMD_ABORT, PL_CMD_END, PL_CMD_STOP };

/* A command node in a worker's queue; embedded in its xfer or worker, never
 * allocated on its own. Fields are read and written under the worker's lock. */
typedef struct pl_cmd {
    struct pl_cmd *next;
    enum pl_cmd_type type;
    int queued;        /* 1 while linked in the queue */
    uint64_t key;      /* the xfer's key (abort, end) */
    int64_t val;       /* PL_CMD_END: the new end */
    struct pl_xfer *x; /* PL_CMD_SUBMIT: the new xfer */
} pl_cmd;

/* What a queued report is. */
enum pl_report_kind { PL_REP_PROGRESS, PL_REP_FINAL, PL_REP_EXIT };

/* A report on its way to the control loop. Progress reports are allocated,
 * final ones are embedded in their xfer, the exit marker of a worker in the
 * worker. */
typedef struct pl_report {
    struct pl_report *next;
    XXH3_state_t *state; /* the hash r.hash points at (NULL in the exit marker) */
    enum pl_report_kind kind;
    struct pl_xfer *x;   /* PL_REP_FINAL: the xfer to free after delivery */
    struct pl_worker *w; /* PL_REP_EXIT: the worker whose thread ends */
    ckd_fetch_report r;
} pl_report;

/* One work item. */
typedef struct pl_xfer {
    pl_report final;    /* the final report, queued once */
    XXH3_state_t *hash; /* running hash over what is in the file (zstd: decoded) */
    ckd_fetch f;        /* the owner's item; f.hash is not used, f.end may shrink */
    /* control */
    struct pl_xfer *hnext; /* registry chain */
    int widx;              /* the worker it went to */
    CURL *spent;           /* its easy handle, reset at the end, for ckd_plane_easy */
    pl_cmd submit_cmd, abort_cmd, end_cmd;
    /* worker */
    struct pl_worker *w;
    struct pl_xfer *prev, *next; /* the worker's active list */
    int in_multi;                /* added to the worker's multi handle */
    int ranged;                  /* the request asked for a range (a 200 answer -> RESTART) */
    int paused;                  /* paused by the bandwidth cap */
    int decided;                 /* the verdict is in final.r (end, message, err) */
    int reached_end;             /* the write callback stopped at f.end on purpose */
    int hdr_ok;                  /* the final response's headers were accepted */
    int hdr_final;               /* the final header block ended (later lines: trailers) */
    long status;                 /* of the latest response */
    char etag[256], lastmod[256];
    int64_t cr_start, cr_end, cr_total; /* Content-Range, -1 when absent */
    int64_t clen;                       /* Content-Length, -1 when absent */
    double retry_after;                 /* seconds, -1 none */
    int64_t pos;                        /* next offset: in the file (plain), in the stream (zstd) */
    /* Body bytes gathered for one large pwrite (libcurl hands the write
     * callback at most 16 KiB at a time): they follow pos and are hashed
     * when written, so the hash always covers [start, pos). Plain bodies. */
    unsigned char *wbuf;
    size_t wlen, wcap;
    char *path, *path_base; /* f.fd was -1: the worker opens path (and closes it) */
    int64_t step_idx;       /* written / step at the last progress report */
    int64_t wb_off;         /* writeback started up to here (file offset) */
    /* zstd */
    ZSTD_DCtx *zd;
    unsigned char *zout;
    size_t zout_cap;
    int64_t dec;              /* decoded bytes in the file */
    int64_t frame_c, frame_d; /* the last complete frame's end: stream and decoded offsets */
    XXH3_state_t *frame_hash; /* the decoded hash at that frame end */
    char errbuf[CURL_ERROR_SIZE];
    char msg_url[512]; /* the redacted URL for messages, made on first use */
} pl_xfer;

/* A socket libcurl asked us to watch. */
typedef struct pl_poll {
    uv_poll_t h;
    curl_socket_t fd;
    int events;  /* what h watches (UV_READABLE | UV_WRITABLE), 0 stopped */
    int parked;  /* libcurl let go of the socket (an idle connection kept for reuse) */
    int closing; /* uv_close called: out of the list, freed by the close callback */
    struct pl_worker *w;
    struct pl_poll *prev, *next;
} pl_poll;

/* One worker thread with its own loop and multi handle. */
typedef struct pl_worker {
    pl_report exit_report; /* queued once, after the loop closed */
    ckd_plane *p;
    int idx;
    uv_thread_t thread;
    int started; /* the thread runs (control) */
    int nactive; /* items submitted here and not finally delivered (control) */
    /* the command queue: control pushes, the worker pops */
    uv_mutex_t lock;
    pl_cmd *qhead, *qtail;
    pl_cmd stop_cmd;
    /* worker thread only */
    uv_loop_t loop;
    ckd_wake wake;
    uv_timer_t timer;   /* libcurl's timeout */
    uv_timer_t unpause; /* wakes transfers paused by the bandwidth cap */
    CURLM *multi;
    pl_xfer *active;
    pl_poll *polls;
    int stopping;
    int in_cleanup; /* inside curl_multi_cleanup */
} pl_worker;

/* The plane: control side state, the report queue and the bandwidth bucket. */
/* Reset easy handles (and finished items) kept for reuse: a new one costs
 * more than a reset, and allocations that come and go with every small
 * file keep glibc consolidating its free lists. */
#define PL_SPARE_EASY 24

struct ckd_plane {
    uv_loop_t *control;
    ckd_plane_report_cb cb;
    void *ud;
    int nworkers;
    pl_worker *w;
    int rr; /* round-robin start for ties in worker choice */
    /* reports: workers push, the control loop pops */
    ckd_wake reports;
    uv_mutex_t rlock;
    pl_report *rhead, *rtail;
    /* registry of active keys (control) */
    pl_xfer **buckets;
    size_t nbuckets;
    int nactive;
    long bufsize;
    /* easy handles back from finished work, reset (control) */
    CURL *spare[PL_SPARE_EASY];
    int nspare;
    /* freed items, their two hash states still allocated (control) */
    struct pl_xfer *spare_x[PL_SPARE_EASY];
    int nspare_x;
    /* shutdown (control) */
    int closing, exited, torn_down;
    void (*done)(void *ud);
    void *done_ud;
    /* the bandwidth bucket: rate read lock-free, tokens under block */
    _Atomic int64_t rate;
    uv_mutex_t block;
    double tokens;
    uint64_t refill_ns;
};

/* Queues a report for the control loop and wakes it. Any thread. */
void ckd__plane_push_report(ckd_plane *p, pl_report *r);
/* Takes n bytes from the bandwidth bucket: 0 when they may go now (charged),
 * else the milliseconds to wait (>= 1) before asking again. Any thread. */
int64_t ckd__plane_rate_take(ckd_plane *p, size_t n);
/* Counts a worker loop that uv_loop_close() refused (a leaked handle). */
void ckd__plane_count_loop_failure(void);
/* A transfer of w paused for the bandwidth cap: the unpause timer fires
 * after wait_ms (or sooner when already due). Worker thread. */
void ckd__plane_worker_paused(pl_worker *w, int64_t wait_ms);
/* CURLOPT_CLOSESOCKETFUNCTION of every transfer (clientp: its worker):
 * closes the socket's poll handle, then the socket. Worker thread. */
int ckd__plane_close_socket(void *clientp, curl_socket_t s);
/* The worker's thread body (uv_thread_create). */
void ckd__plane_worker_main(void *arg);
/* Wake callback of a worker: runs the queued commands. Worker thread. */
void ckd__plane_worker_wake(ckd_wake *wk);

/* plane_body.c, worker thread only. */
/* Sets the callbacks, options and derived state on x->f.easy before it is
 * handed over (control thread, in submit); -ENOMEM and nothing is changed
 * that the caller must undo but the list (restored by the caller). */
int ckd__plane_xfer_setup(ckd_plane *p, pl_xfer *x);
/* f.fd is -1: opens (creates) x->path. 0, or -errno with the verdict
 * decided (a name that cannot be made: FAIL; a disk error: FAIL with err). */
int ckd__plane_xfer_open(pl_xfer *x);
/* libcurl ended x's transfer with rc (x is out of the multi handle already). */
void ckd__plane_xfer_done(pl_xfer *x, CURLcode rc);
/* Ends x now with end (abort, stop, set_end at the current position): takes
 * it out of the multi handle and sends its final report. */
void ckd__plane_xfer_end(pl_xfer *x, enum ckd_fetch_end end, const char *why);
/* Records the verdict of x (the first one wins); message printf-style. */
void ckd__plane_decide(pl_xfer *x, enum ckd_fetch_end end, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Frees x's worker resources, unlinks it and queues its final report; x is
 * the control thread's from then on. */
void ckd__plane_xfer_finish(pl_xfer *x);

#endif
