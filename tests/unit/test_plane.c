/* The data plane (engine/plane.c) against a real nginx and the fault proxy.
 * Driven by tests/e2e/plane.sh, which serves the fixtures and passes:
 *
 *   test_plane BASE_URL PROXY_URL FAULT_URL WWW_DIR TMP_DIR [TMPFS_DIR]
 *
 * WWW_DIR holds big.bin (8 MiB), slow/slow.bin (8 MiB, served at 1 MiB/s),
 * many/fNN.bin (64 x 1 MiB), model.bin and model.bin.zst (and slow/ copies:
 * frames of 1 MiB), bomb.zst (1 GiB of zeros), bad.zst, empty.bin. TMPFS_DIR,
 * when given, is a 1 MiB tmpfs (ENOSPC). XXH_BIG is xxhsum -H2 of big.bin. */
#include "plane.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>

#include "plane_harness.h"

static char big_hex[33], big_etag[256];
static int64_t big_size;

/* ---- tests ------------------------------------------------------------------ */

static void test_whole_unknown_size(void)
{
    int fd = dest_open("whole.bin");
    ckd_fetch f = fetch_of(1, easy_for(base, "big.bin"), fd, 0, -1);
    submit(&f);
    CKT_ASSERT_INT_EQ(ckd_plane_active(plane), 1);
    wait_final(1, 30);
    rec *c = &recs[1];
    CKT_ASSERT_INT_EQ(c->fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(c->fin.written, big_size);
    CKT_ASSERT_INT_EQ(c->fin.object_size, big_size);
    CKT_ASSERT_INT_EQ(c->fin.http_status, 200);
    CKT_ASSERT(c->fin.validator[0] == '"');
    CKT_ASSERT_STR_EQ(c->fin.message, "");
    CKT_ASSERT_STR_EQ(c->fin_hex, big_hex);
    char got[33];
    file_hex(path_of(tmp, "whole.bin"), got);
    CKT_ASSERT_STR_EQ(got, big_hex);
    CKT_ASSERT_INT_EQ(c->progress, 0);
    CKT_ASSERT_INT_EQ(ckd_plane_active(plane), 0);
    snprintf(big_etag, sizeof(big_etag), "%s", c->fin.validator);
    close(fd);
}

static void test_empty_file(void)
{
    int fd = dest_open("empty.bin");
    ckd_fetch f = fetch_of(2, easy_for(base, "empty.bin"), fd, 0, -1);
    submit(&f);
    wait_final(2, 10);
    CKT_ASSERT_INT_EQ(recs[2].fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(recs[2].fin.written, 0);
    CKT_ASSERT_INT_EQ(recs[2].fin.object_size, 0);
    close(fd);
}

/* Four ranges of one file at once into one fd: each range's hash is its
 * slice's, the file is the original (xxhsum -H2). */
static void test_parallel_ranges(void)
{
    int fd = dest_open("ranges.bin");
    int64_t cut[5] = {0, 3 * MIB, 3 * MIB + 12345, 6 * MIB, big_size};
    for (int i = 0; i < 4; i++) {
        ckd_fetch f = fetch_of(10 + i, easy_for(base, "big.bin"), fd, cut[i], cut[i + 1]);
        f.expect_size = big_size;
        snprintf(f.validator, sizeof(f.validator), "%s", big_etag);
        submit(&f);
    }
    CKT_ASSERT_INT_EQ(ckd_plane_active(plane), 4);
    run_until(idle, NULL, 30);
    for (int i = 0; i < 4; i++) {
        rec *c = &recs[10 + i];
        CKT_ASSERT_INT_EQ(c->finals, 1);
        CKT_ASSERT_INT_EQ(c->fin.end, CKD_FETCH_OK);
        CKT_ASSERT_INT_EQ(c->fin.written, cut[i + 1] - cut[i]);
        CKT_ASSERT_INT_EQ(c->fin.http_status, 206);
        CKT_ASSERT_INT_EQ(c->fin.object_size, big_size);
        char want[33];
        slice_hex(path_of(www, "big.bin"), cut[i], cut[i + 1] - cut[i], want);
        CKT_ASSERT_STR_EQ(c->fin_hex, want);
    }
    char got[33];
    file_hex(path_of(tmp, "ranges.bin"), got);
    CKT_ASSERT_STR_EQ(got, big_hex);
    close(fd);
}

/* XXH3 states do not merge: ranges chained one after another, each
 * continuing the state the previous one reported, end at the file's hash. */
static void test_chained_ranges(void)
{
    int fd = dest_open("chained.bin");
    int64_t cut[4] = {0, 1 * MIB + 7, 5 * MIB, big_size};
    XXH3_state_t *h = XXH3_createState();
    XXH3_128bits_reset(h);
    for (int i = 0; i < 3; i++) {
        ckd_fetch f = fetch_of(20, easy_for(base, "big.bin"), fd, 0, cut[i + 1]);
        f.off = cut[i];
        f.hash = h;
        f.step = MIB;
        snprintf(f.validator, sizeof(f.validator), "%s", big_etag);
        submit(&f);
        wait_final(20, 30);
        CKT_ASSERT_INT_EQ(recs[20].fin.end, CKD_FETCH_OK);
        CKT_ASSERT_INT_EQ(recs[20].fin.written, cut[i + 1]);
        /* Progress hashes cover [start, start + written). */
        for (int k = 0; k < recs[20].progress; k++) {
            char want[33];
            slice_hex(path_of(www, "big.bin"), 0, recs[20].pw[k], want);
            CKT_ASSERT_STR_EQ(recs[20].phex[k], want);
        }
        /* The final state continues into the next range. */
        char want[33];
        slice_hex(path_of(www, "big.bin"), 0, cut[i + 1], want);
        CKT_ASSERT_STR_EQ(recs[20].fin_hex, want);
        XXH3_copyState(h, recs[20].fin_state);
    }
    char hex[33];
    ckd_hash_state_hex(h, hex);
    CKT_ASSERT_STR_EQ(hex, big_hex);
    XXH3_freeState(h);
    close(fd);
}

/* Resume: 3 MiB already on disk with their hash; the rest comes with If-Range. */
static void test_resume(void)
{
    int fd = dest_open("resume.bin");
    int src = open(path_of(www, "big.bin"), O_RDONLY);
    char *buf = malloc(3 * MIB);
    CKT_ASSERT_INT_EQ(ckd_pread_all(src, buf, 3 * MIB, 0), 0);
    CKT_ASSERT_INT_EQ(ckd_pwrite_all(fd, buf, 3 * MIB, 0), 0);
    XXH3_state_t *h = XXH3_createState();
    XXH3_128bits_reset(h);
    XXH3_128bits_update(h, buf, 3 * MIB);
    free(buf);
    close(src);
    ckd_fetch f = fetch_of(30, easy_for(base, "big.bin"), fd, 0, -1);
    f.off = 3 * MIB;
    f.hash = h;
    f.expect_size = big_size;
    snprintf(f.validator, sizeof(f.validator), "%s", big_etag);
    submit(&f);
    XXH3_freeState(h); /* copied by submit */
    wait_final(30, 30);
    CKT_ASSERT_INT_EQ(recs[30].fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(recs[30].fin.http_status, 206);
    CKT_ASSERT_INT_EQ(recs[30].fin.written, big_size);
    CKT_ASSERT_STR_EQ(recs[30].fin_hex, big_hex);
    char got[33];
    file_hex(path_of(tmp, "resume.bin"), got);
    CKT_ASSERT_STR_EQ(got, big_hex);
    close(fd);
}

/* A resume from the object's very end (416 with its size): nothing missing. */
static void test_resume_at_end(void)
{
    int fd = dest_open("atend.bin");
    XXH3_state_t *h = XXH3_createState();
    XXH3_128bits_reset(h);
    ckd_fetch f = fetch_of(31, easy_for(base, "big.bin"), fd, 0, -1);
    f.off = big_size;
    f.hash = h;
    submit(&f);
    wait_final(31, 30);
    CKT_ASSERT_INT_EQ(recs[31].fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(recs[31].fin.http_status, 416);
    CKT_ASSERT_INT_EQ(recs[31].fin.written, big_size);
    CKT_ASSERT_INT_EQ(recs[31].fin.object_size, big_size);
    /* Past the end: a permanent failure. */
    f = fetch_of(32, easy_for(base, "big.bin"), fd, 0, -1);
    f.off = big_size + 10;
    f.hash = h;
    submit(&f);
    wait_final(32, 30);
    CKT_ASSERT_INT_EQ(recs[32].fin.end, CKD_FETCH_FAIL);
    XXH3_freeState(h);
    close(fd);
}

/* A progress report at every step multiple crossed, in order, each with the
 * hash of exactly the bytes written. */
static void test_progress(void)
{
    int fd = dest_open("progress.bin");
    ckd_fetch f = fetch_of(40, easy_for(base, "big.bin"), fd, MIB, -1);
    f.step = MIB / 2;
    submit(&f);
    wait_final(40, 30);
    rec *c = &recs[40];
    CKT_ASSERT_INT_EQ(c->fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(c->fin.written, big_size - MIB);
    CKT_ASSERT(!c->bad_order);
    /* 7 MiB in half-MiB steps: 14 multiples, one report each (the last may
     * come with the final one's bytes). */
    CKT_ASSERT(c->progress >= 13 && c->progress <= 14);
    for (int k = 0; k < c->progress; k++) {
        CKT_ASSERT(c->pw[k] >= (int64_t)(k + 1) * (MIB / 2));
        CKT_ASSERT(c->pw[k] < (int64_t)(k + 2) * (MIB / 2));
        char want[33];
        slice_hex(path_of(www, "big.bin"), MIB, c->pw[k], want);
        CKT_ASSERT_STR_EQ(c->phex[k], want);
    }
    close(fd);
}

static void test_range_answered_200(void)
{
    fault("strip_range=1&path=/big.bin");
    int fd = dest_open("r200.bin");
    ckd_fetch f = fetch_of(50, easy_for(proxy, "big.bin"), fd, MIB, 2 * MIB);
    submit(&f);
    wait_final(50, 30);
    CKT_ASSERT_INT_EQ(recs[50].fin.end, CKD_FETCH_RESTART);
    CKT_ASSERT_INT_EQ(recs[50].fin.http_status, 200);
    CKT_ASSERT_INT_EQ(recs[50].fin.written, 0);
    CKT_ASSERT(strstr(recs[50].fin.message, "range") != NULL);
    close(fd);
}

static void test_validator_mismatch(void)
{
    int fd = dest_open("ifrange.bin");
    /* If-Range with another ETag: nginx sends the whole object (200). */
    ckd_fetch f = fetch_of(51, easy_for(base, "big.bin"), fd, 0, -1);
    f.off = MIB;
    XXH3_state_t *h = XXH3_createState();
    XXH3_128bits_reset(h);
    f.hash = h;
    snprintf(f.validator, sizeof(f.validator), "\"0-bogus\"");
    submit(&f);
    wait_final(51, 30);
    CKT_ASSERT_INT_EQ(recs[51].fin.end, CKD_FETCH_RESTART);
    CKT_ASSERT_INT_EQ(recs[51].fin.http_status, 200);
    /* No If-Range (off == start): the 206's ETag itself differs. */
    f = fetch_of(52, easy_for(base, "big.bin"), fd, MIB, 2 * MIB);
    snprintf(f.validator, sizeof(f.validator), "\"0-bogus\"");
    submit(&f);
    wait_final(52, 30);
    CKT_ASSERT_INT_EQ(recs[52].fin.end, CKD_FETCH_RESTART);
    CKT_ASSERT_INT_EQ(recs[52].fin.http_status, 206);
    CKT_ASSERT_STR_EQ(recs[52].fin.validator, big_etag);
    CKT_ASSERT(strstr(recs[52].fin.message, "changed") != NULL);
    XXH3_freeState(h);
    close(fd);
}

static void test_expect_size_mismatch(void)
{
    int fd = dest_open("size.bin");
    ckd_fetch f = fetch_of(53, easy_for(base, "big.bin"), fd, 0, -1);
    f.expect_size = big_size + 1;
    submit(&f);
    wait_final(53, 30);
    CKT_ASSERT_INT_EQ(recs[53].fin.end, CKD_FETCH_RESTART);
    CKT_ASSERT_INT_EQ(recs[53].fin.object_size, big_size);
    /* A range: the 206 total disagrees. */
    f = fetch_of(54, easy_for(base, "big.bin"), fd, MIB, 2 * MIB);
    f.expect_size = big_size - 1;
    submit(&f);
    wait_final(54, 30);
    CKT_ASSERT_INT_EQ(recs[54].fin.end, CKD_FETCH_RESTART);
    close(fd);
}

static void test_http_errors(void)
{
    int fd = dest_open("errors.bin");
    /* 404, with user:pass@ and a query string that must not be logged. */
    char url[512];
    snprintf(url, sizeof(url), "http://user:secretpw@%s/missing.bin?sig=topsecret",
             base + strlen("http://"));
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    ckd_fetch f = fetch_of(60, e, fd, 0, -1);
    submit(&f);
    wait_final(60, 30);
    CKT_ASSERT_INT_EQ(recs[60].fin.end, CKD_FETCH_FAIL);
    CKT_ASSERT_INT_EQ(recs[60].fin.http_status, 404);
    CKT_ASSERT(strstr(recs[60].fin.message, "404") != NULL);
    CKT_ASSERT(strstr(recs[60].fin.message, "/missing.bin") != NULL);
    CKT_ASSERT(strstr(recs[60].fin.message, "secret") == NULL);
    CKT_ASSERT(strstr(recs[60].fin.message, "user") == NULL);

    fault("status=403&path=/big.bin");
    f = fetch_of(61, easy_for(proxy, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(61, 30);
    CKT_ASSERT_INT_EQ(recs[61].fin.end, CKD_FETCH_DENIED);
    CKT_ASSERT_INT_EQ(recs[61].fin.http_status, 403);

    fault("status=401&path=/big.bin");
    f = fetch_of(62, easy_for(proxy, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(62, 30);
    CKT_ASSERT_INT_EQ(recs[62].fin.end, CKD_FETCH_DENIED);

    fault("status=503&retry_after=7&path=/big.bin");
    f = fetch_of(63, easy_for(proxy, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(63, 30);
    CKT_ASSERT_INT_EQ(recs[63].fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT_INT_EQ(recs[63].fin.http_status, 503);
    CKT_ASSERT(recs[63].fin.retry_after_s == 7.0);

    fault("status=429&path=/big.bin");
    f = fetch_of(64, easy_for(proxy, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(64, 30);
    CKT_ASSERT_INT_EQ(recs[64].fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT(recs[64].fin.retry_after_s == -1);

    /* Retry-After as an HTTP date (nginx: /date503, a date in 2100). */
    f = fetch_of(65, easy_for(base, "date503"), fd, 0, -1);
    submit(&f);
    wait_final(65, 30);
    CKT_ASSERT_INT_EQ(recs[65].fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT(recs[65].fin.retry_after_s > 1e9);

    fault("status=410&path=/big.bin");
    f = fetch_of(66, easy_for(proxy, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(66, 30);
    CKT_ASSERT_INT_EQ(recs[66].fin.end, CKD_FETCH_FAIL);

    /* A redirect not followed is no body of ours; followed, it is. */
    f = fetch_of(68, easy_for(base, "redir"), fd, 0, -1);
    submit(&f);
    wait_final(68, 30);
    CKT_ASSERT_INT_EQ(recs[68].fin.end, CKD_FETCH_FAIL);
    CKT_ASSERT_INT_EQ(recs[68].fin.http_status, 302);
    CKT_ASSERT(strstr(recs[68].fin.message, "unexpected http status 302") != NULL);
    f = fetch_of(69, easy_for(base, "redir"), fd, 0, -1);
    curl_easy_setopt(f.easy, CURLOPT_FOLLOWLOCATION, 1L);
    submit(&f);
    wait_final(69, 30);
    CKT_ASSERT_INT_EQ(recs[69].fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(recs[69].fin.http_status, 200);
    CKT_ASSERT_STR_EQ(recs[69].fin_hex, big_hex);

    /* A stalled body: the owner's low-speed limit makes it transient. */
    fault("stall_after=100000&path=/big.bin");
    f = fetch_of(72, easy_for(proxy, "big.bin"), fd, 0, -1);
    curl_easy_setopt(f.easy, CURLOPT_LOW_SPEED_TIME, 1L);
    curl_easy_setopt(f.easy, CURLOPT_LOW_SPEED_LIMIT, 1000L);
    submit(&f);
    wait_final(72, 30);
    CKT_ASSERT_INT_EQ(recs[72].fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT_INT_EQ(recs[72].fin.written, 100000);

    /* Nobody listening: transient. */
    f = fetch_of(67, easy_for("http://127.0.0.1:1", "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(67, 30);
    CKT_ASSERT_INT_EQ(recs[67].fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT(strstr(recs[67].fin.message, "cannot fetch 'http://127.0.0.1:1/big.bin'") != NULL);
    close(fd);
}

/* The connection cut mid-body: RETRY, and written is what is on disk. */
static void test_cut_mid_body(void)
{
    fault("cut_after=1000000&path=/big.bin");
    int fd = dest_open("cut.bin");
    ckd_fetch f = fetch_of(70, easy_for(proxy, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(70, 30);
    rec *c = &recs[70];
    CKT_ASSERT_INT_EQ(c->fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT_INT_EQ(c->fin.written, 1000000);
    CKT_ASSERT_INT_EQ(file_size(path_of(tmp, "cut.bin")), 1000000);
    char want[33], got[33];
    slice_hex(path_of(www, "big.bin"), 0, 1000000, want);
    CKT_ASSERT_STR_EQ(c->fin_hex, want);
    file_hex(path_of(tmp, "cut.bin"), got);
    CKT_ASSERT_STR_EQ(got, want);
    /* A reset in a range: the same. */
    fault("reset_after=300000&path=/big.bin");
    f = fetch_of(71, easy_for(proxy, "big.bin"), fd, 2 * MIB, 4 * MIB);
    submit(&f);
    wait_final(71, 30);
    CKT_ASSERT_INT_EQ(recs[71].fin.end, CKD_FETCH_RETRY);
    /* A reset discards what the kernel had not handed over yet. */
    CKT_ASSERT(recs[71].fin.written <= 300000);
    slice_hex(path_of(www, "big.bin"), 2 * MIB, recs[71].fin.written, want);
    CKT_ASSERT_STR_EQ(recs[71].fin_hex, want);
    close(fd);
}

static void test_abort(void)
{
    int fd = dest_open("abort.bin");
    uint64_t key = 80;
    ckd_fetch f = fetch_of(key, easy_for(base, "slow/slow.bin"), fd, 0, -1);
    f.step = 64 * 1024;
    submit(&f);
    run_until(has_progress, &key, 30);
    ckd_plane_abort(plane, key);
    ckd_plane_abort(plane, key);
    ckd_plane_abort(plane, 999); /* unknown: nothing */
    wait_final(key, 30);
    /* Nothing more may come: run the loop a little. */
    uv_sleep(200);
    uv_run(&loop, UV_RUN_NOWAIT);
    CKT_ASSERT_INT_EQ(recs[key].finals, 1);
    CKT_ASSERT(!recs[key].bad_order);
    CKT_ASSERT_INT_EQ(recs[key].fin.end, CKD_FETCH_ABORTED);
    CKT_ASSERT(recs[key].fin.written > 0 &&
               recs[key].fin.written < file_size(path_of(www, "slow/slow.bin")));
    char want[33];
    slice_hex(path_of(www, "slow/slow.bin"), 0, recs[key].fin.written, want);
    CKT_ASSERT_STR_EQ(recs[key].fin_hex, want);
    /* An abort right after submit, before the worker could start it. */
    f = fetch_of(81, easy_for(base, "slow/slow.bin"), fd, 0, -1);
    submit(&f);
    ckd_plane_abort(plane, 81);
    wait_final(81, 30);
    CKT_ASSERT_INT_EQ(recs[81].fin.end, CKD_FETCH_ABORTED);
    /* The key may be used again once its final report is in. */
    f = fetch_of(81, easy_for(base, "empty.bin"), fd, 0, -1);
    submit(&f);
    wait_final(81, 30);
    CKT_ASSERT_INT_EQ(recs[81].fin.end, CKD_FETCH_OK);
    close(fd);
}

static void test_set_end(void)
{
    int fd = dest_open("setend.bin");
    uint64_t key = 90;
    ckd_fetch f = fetch_of(key, easy_for(base, "slow/slow.bin"), fd, 0, -1);
    f.step = 256 * 1024;
    submit(&f);
    run_until(has_progress, &key, 30);
    /* nginx's limit_rate lets a second's worth (1 MiB) go at once. */
    int64_t cut = 3 * MIB + 12345;
    CKT_ASSERT(recs[key].pw[recs[key].progress - 1] < 2 * MIB);
    ckd_plane_set_end(plane, key, cut + 100);
    ckd_plane_set_end(plane, key, cut); /* the shorter one holds */
    wait_final(key, 30);
    CKT_ASSERT_INT_EQ(recs[key].fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(recs[key].fin.written, cut);
    char want[33];
    slice_hex(path_of(www, "slow/slow.bin"), 0, cut, want);
    CKT_ASSERT_STR_EQ(recs[key].fin_hex, want);
    /* Cut below what is written: ends where it is, written tells. */
    f = fetch_of(91, easy_for(base, "slow/slow.bin"), fd, 0, -1);
    f.step = 256 * 1024;
    submit(&f);
    key = 91;
    run_until(has_progress, &key, 30);
    ckd_plane_set_end(plane, key, 1);
    wait_final(key, 30);
    CKT_ASSERT_INT_EQ(recs[key].fin.end, CKD_FETCH_OK);
    CKT_ASSERT(recs[key].fin.written >= recs[key].pw[0]);
    slice_hex(path_of(www, "slow/slow.bin"), 0, recs[key].fin.written, want);
    CKT_ASSERT_STR_EQ(recs[key].fin_hex, want);
    close(fd);
}

static void test_zstd(void)
{
    char orig[33];
    file_hex(path_of(www, "model.bin"), orig);
    int64_t orig_size = file_size(path_of(www, "model.bin"));
    int64_t zsize = file_size(path_of(www, "model.bin.zst"));
    int fd = dest_open("model.bin");
    ckd_fetch f = fetch_of(100, easy_for(base, "model.bin.zst"), fd, 0, -1);
    f.zstd = 1;
    f.step = 1;
    f.expect_size = zsize;
    submit(&f);
    wait_final(100, 30);
    rec *c = &recs[100];
    CKT_ASSERT_INT_EQ(c->fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(c->fin.written, zsize);
    CKT_ASSERT_INT_EQ(c->fin.decoded, orig_size);
    CKT_ASSERT_STR_EQ(c->fin_hex, orig);
    char got[33];
    file_hex(path_of(tmp, "model.bin"), got);
    CKT_ASSERT_STR_EQ(got, orig);
    /* A frame end per MiB decoded, each with the hash of the decoded bytes. */
    CKT_ASSERT(c->progress >= 7);
    for (int k = 0; k < c->progress && k < MAXPROG; k++) {
        CKT_ASSERT_INT_EQ(c->pd[k] % MIB == 0 || c->pd[k] == orig_size, 1);
        char want[33];
        slice_hex(path_of(www, "model.bin"), 0, c->pd[k], want);
        CKT_ASSERT_STR_EQ(c->phex[k], want);
    }
    close(fd);

    /* Resume from a frame end: abort the slow copy after two frames, go on
     * from the last frame end reported. */
    fd = dest_open("model2.bin");
    uint64_t key = 101;
    f = fetch_of(key, easy_for(base, "slow/model.bin.zst"), fd, 0, -1);
    f.zstd = 1;
    f.step = 1;
    submit(&f);
    run_until(has_progress, &key, 30);
    ckd_plane_abort(plane, key);
    wait_final(key, 30);
    c = &recs[key];
    CKT_ASSERT_INT_EQ(c->fin.end, CKD_FETCH_ABORTED);
    CKT_ASSERT(c->fin.written > 0 && c->fin.written < zsize);
    CKT_ASSERT(c->fin.decoded > 0 && c->fin.decoded % MIB == 0);
    int64_t w = c->fin.written, d = c->fin.decoded;
    XXH3_state_t *h = XXH3_createState();
    XXH3_copyState(h, c->last_state);
    char hx[33];
    ckd_hash_state_hex(h, hx);
    slice_hex(path_of(www, "model.bin"), 0, d, got);
    CKT_ASSERT_STR_EQ(hx, got);
    f = fetch_of(102, easy_for(base, "model.bin.zst"), fd, 0, -1);
    f.zstd = 1;
    f.off = w;
    f.dec_off = d;
    f.hash = h;
    f.expect_size = zsize;
    snprintf(f.validator, sizeof(f.validator), "%s", c->fin.validator);
    submit(&f);
    wait_final(102, 30);
    CKT_ASSERT_INT_EQ(recs[102].fin.end, CKD_FETCH_OK);
    CKT_ASSERT_INT_EQ(recs[102].fin.http_status, 206);
    CKT_ASSERT_INT_EQ(recs[102].fin.decoded, orig_size);
    CKT_ASSERT_STR_EQ(recs[102].fin_hex, orig);
    file_hex(path_of(tmp, "model2.bin"), got);
    CKT_ASSERT_STR_EQ(got, orig);
    XXH3_freeState(h);

    /* Cut mid-stream: RETRY at the last frame end. */
    fault("cut_after=1500000&path=/model.bin.zst");
    f = fetch_of(103, easy_for(proxy, "model.bin.zst"), fd, 0, -1);
    f.zstd = 1;
    submit(&f);
    wait_final(103, 30);
    CKT_ASSERT_INT_EQ(recs[103].fin.end, CKD_FETCH_RETRY);
    CKT_ASSERT(recs[103].fin.written > 0 && recs[103].fin.written <= 1500000);
    CKT_ASSERT(recs[103].fin.decoded % MIB == 0);
    slice_hex(path_of(www, "model.bin"), 0, recs[103].fin.decoded, got);
    CKT_ASSERT_STR_EQ(recs[103].fin_hex, got);

    /* A corrupt stream. */
    f = fetch_of(104, easy_for(base, "bad.zst"), fd, 0, -1);
    f.zstd = 1;
    submit(&f);
    wait_final(104, 30);
    CKT_ASSERT_INT_EQ(recs[104].fin.end, CKD_FETCH_FAIL);
    CKT_ASSERT(strstr(recs[104].fin.message, "cannot decode the zstd stream") != NULL);
    close(fd);

    /* A bomb: 1 GiB of zeros, capped at 8 MiB: fails at once. */
    fd = dest_open("bomb.bin");
    f = fetch_of(105, easy_for(base, "bomb.zst"), fd, 0, -1);
    f.zstd = 1;
    f.dec_max = 8 * MIB;
    uint64_t t0 = uv_hrtime();
    submit(&f);
    wait_final(105, 30);
    double secs = (double)(recs[105].t_final - t0) / 1e9;
    CKT_ASSERT_INT_EQ(recs[105].fin.end, CKD_FETCH_FAIL);
    CKT_ASSERT(strstr(recs[105].fin.message, "more than 8388608 bytes") != NULL);
    CKT_ASSERT(secs < 2.0);
    CKT_ASSERT(file_size(path_of(tmp, "bomb.bin")) <= 8 * MIB);
    printf("# zstd bomb refused after %.3f s\n", secs);
    close(fd);
}

static void test_rate(void)
{
    ckd_plane_set_rate(plane, 2 * MIB);
    int fd = dest_open("rate.bin");
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 2; i++) {
        ckd_fetch f =
            fetch_of(110 + i, easy_for(base, "big.bin"), fd, i * 2 * MIB, (i + 1) * 2 * MIB);
        submit(&f);
    }
    run_until(idle, NULL, 30);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    printf("# 4 MiB at 2 MiB/s took %.2f s\n", secs);
    for (int i = 0; i < 2; i++) CKT_ASSERT_INT_EQ(recs[110 + i].fin.end, CKD_FETCH_OK);
    CKT_ASSERT(secs > 1.5 && secs < 3.5);
    char want[33];
    slice_hex(path_of(www, "big.bin"), 2 * MIB, 2 * MIB, want);
    CKT_ASSERT_STR_EQ(recs[111].fin_hex, want);
    /* Lifting the cap releases a paused transfer. */
    ckd_plane_set_rate(plane, 256 * 1024);
    ckd_fetch f = fetch_of(112, easy_for(base, "big.bin"), fd, 0, -1);
    submit(&f);
    uv_sleep(300);
    uv_run(&loop, UV_RUN_NOWAIT);
    ckd_plane_set_rate(plane, 0);
    t0 = uv_hrtime();
    wait_final(112, 30);
    CKT_ASSERT_INT_EQ(recs[112].fin.end, CKD_FETCH_OK);
    CKT_ASSERT((double)(uv_hrtime() - t0) / 1e9 < 3);
    close(fd);
}

static void test_many(void)
{
    int fds[64];
    for (int i = 0; i < 64; i++) {
        char name[64];
        snprintf(name, sizeof(name), "many%02d.bin", i);
        fds[i] = dest_open(name);
        snprintf(name, sizeof(name), "many/f%02d.bin", i);
        ckd_fetch f = fetch_of(200 + i, easy_for(base, name), fds[i], 0, -1);
        f.step = MIB / 4;
        submit(&f);
    }
    CKT_ASSERT_INT_EQ(ckd_plane_active(plane), 64);
    run_until(idle, NULL, 60);
    for (int i = 0; i < 64; i++) {
        char name[64], want[33];
        snprintf(name, sizeof(name), "many/f%02d.bin", i);
        file_hex(path_of(www, name), want);
        CKT_ASSERT_INT_EQ(recs[200 + i].finals, 1);
        CKT_ASSERT_INT_EQ(recs[200 + i].fin.end, CKD_FETCH_OK);
        CKT_ASSERT_STR_EQ(recs[200 + i].fin_hex, want);
        CKT_ASSERT(!recs[200 + i].bad_order);
        close(fds[i]);
    }
}

static void test_no_space(void)
{
    if (tmpfs) { /* a 1 MiB tmpfs: ENOSPC */
        char path[1024];
        snprintf(path, sizeof(path), "%s/full.bin", tmpfs);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        CKT_ASSERT(fd >= 0);
        ckd_fetch f = fetch_of(120, easy_for(base, "big.bin"), fd, 0, -1);
        submit(&f);
        wait_final(120, 30);
        CKT_ASSERT_INT_EQ(recs[120].fin.end, CKD_FETCH_FAIL);
        CKT_ASSERT_INT_EQ(recs[120].fin.err, -ENOSPC);
        CKT_ASSERT(strstr(recs[120].fin.message, "no space left on device") != NULL);
        CKT_ASSERT_INT_EQ(recs[120].fin.written, file_size(path));
        char want[33];
        slice_hex(path_of(www, "big.bin"), 0, recs[120].fin.written, want);
        CKT_ASSERT_STR_EQ(recs[120].fin_hex, want);
        close(fd);
        printf("# enospc on tmpfs after %lld bytes\n", (long long)recs[120].fin.written);
    }
    /* RLIMIT_FSIZE: EFBIG after exactly the limit. */
    struct rlimit old, lim;
    CKT_ASSERT(getrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 1500000;
    CKT_ASSERT(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int fd = dest_open("efbig.bin");
    ckd_fetch f = fetch_of(121, easy_for(base, "big.bin"), fd, 0, -1);
    submit(&f);
    wait_final(121, 30);
    CKT_ASSERT(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CKT_ASSERT_INT_EQ(recs[121].fin.end, CKD_FETCH_FAIL);
    CKT_ASSERT_INT_EQ(recs[121].fin.err, -EFBIG);
    CKT_ASSERT_INT_EQ(recs[121].fin.written, 1500000);
    CKT_ASSERT(strstr(recs[121].fin.message, "cannot write '") != NULL);
    close(fd);
}

static void test_bad_submits(void)
{
    int fd = dest_open("bad.bin");
    CURL *e = easy_for(base, "big.bin");
    ckd_fetch f = fetch_of(130, e, fd, 10, 5);
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, &f), -EINVAL);
    f = fetch_of(130, e, -1, 0, -1);
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, &f), -EINVAL);
    f = fetch_of(130, e, fd, 0, -1);
    f.off = 5; /* bytes before off but no hash of them */
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, &f), -EINVAL);
    f = fetch_of(130, e, fd, 5, -1);
    f.zstd = 1;
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, &f), -EINVAL);
    f = fetch_of(130, e, fd, 0, -1);
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, &f), 0);
    ckd_fetch g = fetch_of(131, easy_for(base, "big.bin"), fd, 0, -1);
    g.key = 130;
    CKT_ASSERT_INT_EQ(ckd_plane_submit(plane, &g), -EEXIST);
    curl_easy_cleanup(g.easy); /* refused: still ours */
    ckd_plane_abort(plane, 130);
    wait_final(130, 30);
    close(fd);
}

/* ---- close ------------------------------------------------------------------ */

static int closed_done, aborted_at_done;

static void on_closed(void *ud)
{
    closed_done++;
    int n = 0;
    for (int i = 0; i < 8; i++) n += recs[140 + i].finals;
    aborted_at_done = n;
}

static int is_closed(const void *a)
{
    return closed_done > 0;
}

/* Close with work in flight: every item ABORTED, then done, once. */
static void test_close_in_flight(void)
{
    ckd_plane *p2;
    CKT_ASSERT_INT_EQ(ckd_plane_init(&p2, &loop, 3, on_report, NULL), 0);
    ckd_plane *keep = plane;
    plane = p2;
    int fd = dest_open("close.bin");
    for (int i = 0; i < 8; i++) {
        ckd_fetch f = fetch_of(140 + i, easy_for(base, "slow/slow.bin"), fd, 0, -1);
        f.step = 64 * 1024;
        submit(&f);
    }
    uint64_t k = 140;
    run_until(has_progress, &k, 30);
    ckd_plane_close(p2, on_closed, NULL);
    ckd_fetch f = fetch_of(150, easy_for(base, "big.bin"), fd, 0, -1);
    CKT_ASSERT_INT_EQ(ckd_plane_submit(p2, &f), -ESHUTDOWN);
    curl_easy_cleanup(f.easy);
    ckd_plane_abort(p2, 141);
    ckd_plane_set_end(p2, 142, 10);
    run_until(is_closed, NULL, 30);
    CKT_ASSERT_INT_EQ(closed_done, 1);
    CKT_ASSERT_INT_EQ(aborted_at_done, 8);
    for (int i = 0; i < 8; i++) {
        CKT_ASSERT_INT_EQ(recs[140 + i].finals, 1);
        CKT_ASSERT_INT_EQ(recs[140 + i].fin.end, CKD_FETCH_ABORTED);
    }
    plane = keep;
    close(fd);
    /* A plane closed at once, with nothing submitted. */
    CKT_ASSERT_INT_EQ(ckd_plane_init(&p2, &loop, 2, on_report, NULL), 0);
    closed_done = 0;
    ckd_plane_close(p2, on_closed, NULL);
    run_until(is_closed, NULL, 30);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: test_plane BASE PROXY FAULT WWW TMP [TMPFS]\n");
        return 2;
    }
    base = argv[1];
    proxy = argv[2];
    fault_url = argv[3];
    www = argv[4];
    tmp = argv[5];
    tmpfs = argc > 6 && argv[6][0] ? argv[6] : NULL;
    const char *xb = getenv("XXH_BIG");
    CKT_ASSERT(xb != NULL);
    snprintf(big_hex, sizeof(big_hex), "%s", xb);
    big_size = file_size(path_of(www, "big.bin"));
    char check[33];
    file_hex(path_of(www, "big.bin"), check);
    CKT_ASSERT_STR_EQ(check, big_hex); /* our hex is xxhsum -H2's */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CKT_ASSERT_INT_EQ(uv_loop_init(&loop), 0);
    CKT_ASSERT_INT_EQ(ckd_plane_init(&plane, &loop, 4, on_report, NULL), 0);

    CKT_RUN(test_whole_unknown_size);
    CKT_RUN(test_empty_file);
    CKT_RUN(test_parallel_ranges);
    CKT_RUN(test_chained_ranges);
    CKT_RUN(test_resume);
    CKT_RUN(test_resume_at_end);
    CKT_RUN(test_progress);
    CKT_RUN(test_range_answered_200);
    CKT_RUN(test_validator_mismatch);
    CKT_RUN(test_expect_size_mismatch);
    CKT_RUN(test_http_errors);
    CKT_RUN(test_cut_mid_body);
    CKT_RUN(test_abort);
    CKT_RUN(test_set_end);
    CKT_RUN(test_zstd);
    CKT_RUN(test_rate);
    CKT_RUN(test_many);
    CKT_RUN(test_no_space);
    CKT_RUN(test_bad_submits);
    CKT_RUN(test_close_in_flight);

    closed_done = 0;
    ckd_plane_close(plane, on_closed, NULL);
    run_until(is_closed, NULL, 30);
    CKT_ASSERT_INT_EQ(ckd__plane_loop_close_failures(), 0);
    CKT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    for (int i = 0; i < MAXKEY; i++) rec_reset((uint64_t)i);
    curl_global_cleanup();
    CKT_DONE();
}
