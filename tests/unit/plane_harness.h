/* The harness of tests/unit/test_plane.c: a control loop, a record of every
 * report per key (checked for order), fixtures and the fault proxy's
 * control API. Included by that one file only. */
#ifndef PLANE_HARNESS_H
#define PLANE_HARNESS_H

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckt_test.h"
#include "fsutil.h"
#include "plane.h"

#define MIB     (1 << 20)
#define MAXKEY  512
#define MAXPROG 256

static const char *base, *proxy, *fault_url, *www, *tmp, *tmpfs;
static uv_loop_t loop;
static ckd_plane *plane;

/* Everything reported for one key. */
typedef struct rec {
    int finals, progress, bad_order;
    ckd_fetch_report fin;
    char fin_hex[33];
    int64_t pw[MAXPROG], pd[MAXPROG];
    char phex[MAXPROG][33];
    XXH3_state_t *last_state; /* the last progress report's hash */
    XXH3_state_t *fin_state;  /* the final report's hash */
    uint64_t t_final;
} rec;

static rec recs[MAXKEY];

static void on_report(void *ud, const ckd_fetch_report *r)
{
    CKT_ASSERT(r->key < MAXKEY);
    rec *c = &recs[r->key];
    if (c->finals) c->bad_order = 1; /* nothing after the final report */
    if (r->final) {
        c->finals++;
        c->fin = *r;
        c->fin.hash = NULL;
        ckd_hash_state_hex(r->hash, c->fin_hex);
        if (!c->fin_state) c->fin_state = XXH3_createState();
        XXH3_copyState(c->fin_state, r->hash);
        c->t_final = uv_hrtime();
        return;
    }
    if (c->progress > 0 && r->written < c->pw[c->progress - 1]) c->bad_order = 1;
    if (c->progress < MAXPROG) {
        c->pw[c->progress] = r->written;
        c->pd[c->progress] = r->decoded;
        ckd_hash_state_hex(r->hash, c->phex[c->progress]);
    }
    c->progress++;
    if (!c->last_state) c->last_state = XXH3_createState();
    XXH3_copyState(c->last_state, r->hash);
}

static void rec_reset(uint64_t key)
{
    XXH3_freeState(recs[key].last_state);
    XXH3_freeState(recs[key].fin_state);
    memset(&recs[key], 0, sizeof(recs[key]));
}

static int timed_out;
static void on_deadline(uv_timer_t *t)
{
    timed_out = 1;
}

/* Runs the control loop until cond(arg) holds; fails after secs seconds. */
static void run_until(int (*cond)(const void *), const void *arg, double secs)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    timed_out = 0;
    uv_timer_start(&t, on_deadline, (uint64_t)(secs * 1000), 0);
    while (!cond(arg) && !timed_out) uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!cond(arg)) CKT_FAIL("timed out after %.1f s", secs);
}

static int has_final(const void *a)
{
    return recs[*(const uint64_t *)a].finals > 0;
}
static int has_progress(const void *a)
{
    return recs[*(const uint64_t *)a].progress > 0;
}
static int idle(const void *a)
{
    return ckd_plane_active(plane) == 0;
}

static void wait_final(uint64_t key, double secs)
{
    run_until(has_final, &key, secs);
}

/* ---- fixtures ------------------------------------------------------------- */

static char *path_of(const char *dir, const char *rel)
{
    static char buf[4][1024];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", dir, rel);
    return b;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    CKT_ASSERT(stat(path, &st) == 0);
    return st.st_size;
}

/* xxh128 of bytes [off, off + len) of path. */
static void slice_hex(const char *path, int64_t off, int64_t len, char hex[33])
{
    int fd = open(path, O_RDONLY);
    CKT_ASSERT(fd >= 0);
    XXH3_state_t *h = XXH3_createState();
    XXH3_128bits_reset(h);
    CKT_ASSERT_INT_EQ(ckd_hash_fd_range(fd, off, len, h), 0);
    ckd_hash_state_hex(h, hex);
    XXH3_freeState(h);
    close(fd);
}

static void file_hex(const char *path, char hex[33])
{
    slice_hex(path, 0, file_size(path), hex);
}

static int dest_open(const char *name)
{
    int fd = open(path_of(tmp, name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CKT_ASSERT(fd >= 0);
    return fd;
}

/* POSTs a fault rule to the proxy's control port. */
static void fault(const char *query)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/_fault/set?%s", fault_url, query);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(e, CURLOPT_WRITEDATA, null);
    CKT_ASSERT_INT_EQ(curl_easy_perform(e), CURLE_OK);
    fclose(null);
    curl_easy_cleanup(e);
}

static CURL *easy_for(const char *url_base, const char *rel)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/%s", url_base, rel);
    CURL *e = curl_easy_init();
    CKT_ASSERT(e != NULL);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
    return e;
}

static ckd_fetch fetch_of(uint64_t key, CURL *e, int fd, int64_t start, int64_t end)
{
    ckd_fetch f;
    memset(&f, 0, sizeof(f));
    f.key = key;
    f.easy = e;
    f.fd = fd;
    f.start = f.off = start;
    f.end = end;
    f.expect_size = -1;
    f.dec_max = -1;
    rec_reset(key);
    return f;
}

static void submit(const ckd_fetch *f)
{
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, f), 0);
}

#endif
