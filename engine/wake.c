/* Cross-thread wake-ups over an eventfd (see wake.h). */
#include "wake.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    ckd_wake *w = h->data;
    uint64_t n;
    /* Reset the counter first: a send after this read wakes us again. */
    while (read(w->fd, &n, sizeof(n)) < 0 && errno == EINTR) {
    }
    w->cb(w);
}

int ckd_wake_init(uv_loop_t *loop, ckd_wake *w, ckd_wake_cb cb)
{
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) return -errno;
    w->cb = cb;
    w->done = NULL;
    int rc = uv_poll_init(loop, &w->poll, w->fd);
    if (rc < 0) {
        close(w->fd);
        return rc;
    }
    w->poll.data = w;
    /* Fails only for a bad event mask or a closing handle: neither here. */
    uv_poll_start(&w->poll, UV_READABLE, on_readable);
    return 0;
}

void ckd_wake_send(ckd_wake *w)
{
    uint64_t one = 1;
    /* Only EINTR can fail here (the counter cannot reach its maximum). */
    while (write(w->fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

static void on_closed(uv_handle_t *h)
{
    ckd_wake *w = h->data;
    close(w->fd);
    if (w->done) w->done(w);
}

void ckd_wake_close(ckd_wake *w, ckd_wake_cb done)
{
    w->done = done;
    uv_close((uv_handle_t *)&w->poll, on_closed);
}
