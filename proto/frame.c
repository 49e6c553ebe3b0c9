/* A pure, resumable line splitter: no I/O, bounded memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"

void ckp_framer_init(ckp_framer *f, size_t max_line)
{
    memset(f, 0, sizeof(*f));
    f->max = max_line;
}

void ckp_framer_release(ckp_framer *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}

/* Moves the unreturned bytes to the front so the buffer does not creep. */
static void compact(ckp_framer *f)
{
    if (f->head == 0) return;
    memmove(f->buf, f->buf + f->head, f->len - f->head);
    f->len -= f->head;
    f->head = 0;
}

int ckp_framer_feed(ckp_framer *f, const char *data, size_t len)
{
    /* Check every line that data completes or extends against the cap before
     * storing anything: a hostile peer cannot make us buffer more than max. */
    size_t run = f->tail;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            if (run > f->max) return -E2BIG;
            run = 0;
        } else if (++run > f->max) {
            return -E2BIG;
        }
    }
    if (len == 0) return 0;
    compact(f);
    if (f->len + len > f->cap) {
        size_t ncap = f->cap ? f->cap : 4096;
        while (ncap < f->len + len) ncap *= 2;
        char *nbuf = realloc(f->buf, ncap);
        if (!nbuf) return -ENOMEM;
        f->buf = nbuf;
        f->cap = ncap;
    }
    memcpy(f->buf + f->len, data, len);
    f->len += len;
    f->tail = run;
    return 0;
}

int ckp_framer_next(ckp_framer *f, const char **line, size_t *len)
{
    size_t avail = f->len - f->head;
    if (avail == 0 && f->cap > CKP_FRAMER_KEEP) {
        /* Drained after a large line: give the buffer back (the line
         * returned last is no longer valid, as documented). */
        free(f->buf);
        f->buf = NULL;
        f->len = f->cap = f->head = f->scan = f->tail = 0;
        return 0;
    }
    if (f->scan >= avail) return 0;
    char *start = f->buf + f->head;
    char *nl = memchr(start + f->scan, '\n', avail - f->scan);
    if (!nl) {
        f->scan = avail;
        return 0;
    }
    size_t n = (size_t)(nl - start);
    f->head += n + 1;
    f->scan = 0;
    if (n > 0 && start[n - 1] == '\r') n--;
    *line = start;
    *len = n;
    return 1;
}
