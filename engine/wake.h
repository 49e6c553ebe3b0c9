/* A cross-thread wake-up for a libuv loop: an eventfd that other threads
 * write and the loop watches with a uv_poll_t. Unlike uv_async_t (libuv
 * 1.44), the loop never spins waiting for a sender to finish its send: the
 * caller's own queue and lock carry the data, the fd only says "look".
 * Init and close on the loop's thread; ckd_wake_send from any thread. */
#ifndef CKD_WAKE_H
#define CKD_WAKE_H

#include <uv.h>

typedef struct ckd_wake ckd_wake;
typedef void (*ckd_wake_cb)(ckd_wake *w);

struct ckd_wake {
    uv_poll_t poll;
    int fd;
    ckd_wake_cb cb;   /* on the loop, after one or more sends */
    ckd_wake_cb done; /* after ckd_wake_close: the fd is closed, w may be freed */
    void *data;       /* the owner's */
};

/* 0, or -errno (EMFILE) and nothing to close. */
int ckd_wake_init(uv_loop_t *loop, ckd_wake *w, ckd_wake_cb cb);
/* Wakes the loop: cb runs there (several sends may share one call). */
void ckd_wake_send(ckd_wake *w);
/* Stops watching; done (may be NULL) runs from the close callback. */
void ckd_wake_close(ckd_wake *w, ckd_wake_cb done);

#endif
