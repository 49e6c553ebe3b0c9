/* plane_bench: the data plane (engine/plane.c) alone, fetching from a local
 * nginx to disk, so its buffer size and worker count can be chosen by
 * measurement. Prints MB/s, process CPU seconds and peak RSS.
 *
 *   plane_bench BASE_URL OUT_DIR many|big [-w WORKERS] [-b BUFSIZE] [-c CONC] [-r RANGE_MIB]
 *               [-f 1]
 *
 * many: BASE_URL/many32/fNN.bin (64 x 32 MiB) into OUT_DIR/fNN.bin;
 * big:  BASE_URL/big2g.bin (2 GiB) into OUT_DIR/big.bin in ranges of
 *       RANGE_MIB (default 32), its size from a HEAD request.
 * At most CONC transfers run at once (default 64); -f 1 preallocates the
 * files (posix_fallocate) as an owner knowing the sizes could; bench/plane_bench.sh
 * generates the files, starts nginx and runs the matrix. */
#include "plane.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MIB (1 << 20)

typedef struct job {
    char url[512];
    int fd;
    int64_t start, end;
} job;

static job *jobs;
static int njobs, next_job, running, failed, finished;
static ckd_plane *plane;
static int64_t bytes;

static void submit_next(void)
{
    job *j = &jobs[next_job];
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    ckd_fetch f;
    memset(&f, 0, sizeof(f));
    f.key = (uint64_t)next_job;
    f.easy = e;
    f.fd = j->fd;
    f.start = f.off = j->start;
    f.end = j->end;
    f.expect_size = -1;
    f.dec_max = -1;
    f.step = 16 * MIB; /* as the engine would journal */
    int rc = ckd_plane_submit(plane, &f);
    if (rc < 0) {
        fprintf(stderr, "plane_bench: cannot submit: %s\n", strerror(-rc));
        exit(1);
    }
    next_job++;
    running++;
}

static void on_report(void *ud, const ckd_fetch_report *r)
{
    if (!r->final) return;
    running--;
    finished++;
    if (r->end != CKD_FETCH_OK) {
        fprintf(stderr, "plane_bench: key %llu ended %d: %s\n", (unsigned long long)r->key,
                (int)r->end, r->message);
        failed++;
    }
    bytes += r->written;
    int conc = *(int *)ud;
    while (running < conc && next_job < njobs) submit_next();
}

static int64_t head_size(const char *url)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_off_t len = -1;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    curl_easy_cleanup(e);
    return len;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_closed(void *ud)
{
    *(int *)ud = 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: plane_bench BASE_URL OUT_DIR many|big [-w N] [-b BYTES] [-c N] "
                        "[-r MIB]\n");
        return 2;
    }
    const char *base = argv[1], *out = argv[2], *mode = argv[3];
    int workers = 2, conc = 64, range_mib = 32, prealloc = 0;
    long bufsize = CKD_PLANE_BUFFER_SIZE;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-w"))
            workers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-b"))
            bufsize = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "-c"))
            conc = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            range_mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-f"))
            prealloc = atoi(argv[i + 1]);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char path[1024];
    if (!strcmp(mode, "many")) {
        njobs = 64;
        jobs = calloc((size_t)njobs, sizeof(*jobs));
        for (int i = 0; i < njobs; i++) {
            snprintf(jobs[i].url, sizeof(jobs[i].url), "%s/many32/f%02d.bin", base, i);
            snprintf(path, sizeof(path), "%s/f%02d.bin", out, i);
            jobs[i].fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (jobs[i].fd < 0) return perror(path), 1;
            if (prealloc) posix_fallocate(jobs[i].fd, 0, 32 * MIB);
            jobs[i].end = -1;
        }
    } else {
        char url[512];
        snprintf(url, sizeof(url), "%s/big2g.bin", base);
        int64_t size = head_size(url);
        if (size <= 0) return fprintf(stderr, "plane_bench: no size for %s\n", url), 1;
        snprintf(path, sizeof(path), "%s/big.bin", out);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return perror(path), 1;
        if (prealloc) posix_fallocate(fd, 0, size);
        int64_t r = (int64_t)range_mib * MIB;
        njobs = (int)((size + r - 1) / r);
        jobs = calloc((size_t)njobs, sizeof(*jobs));
        for (int i = 0; i < njobs; i++) {
            snprintf(jobs[i].url, sizeof(jobs[i].url), "%s", url);
            jobs[i].fd = fd;
            jobs[i].start = (int64_t)i * r;
            jobs[i].end = jobs[i].start + r < size ? jobs[i].start + r : size;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = ckd_plane_init(&plane, &loop, workers, on_report, &conc);
    if (rc < 0) return fprintf(stderr, "plane_bench: %s\n", strerror(-rc)), 1;
    ckd_plane_set_buffer_size(plane, bufsize);
    double cpu0 = cpu_seconds();
    uint64_t t0 = uv_hrtime();
    while (running < conc && next_job < njobs) submit_next();
    while (finished < njobs) uv_run(&loop, UV_RUN_ONCE);
    double wall = (double)(uv_hrtime() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    int closed = 0;
    ckd_plane_close(plane, on_closed, &closed);
    while (!closed) uv_run(&loop, UV_RUN_ONCE);
    uv_loop_close(&loop);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char ranges[32] = "";
    if (strcmp(mode, "many") != 0) snprintf(ranges, sizeof(ranges), " ranges=%dM", range_mib);
    printf("%-4s workers=%d buf=%ldK conc=%d%s%s: %.0f MB in %.2f s = %.0f MB/s, cpu %.2f s (%.2f "
           "s/GB), peak rss %.0f MiB%s\n",
           mode, workers, bufsize >> 10, conc, ranges, prealloc ? " fallocate" : "",
           (double)bytes / 1e6, wall, (double)bytes / 1e6 / wall, cpu, cpu / ((double)bytes / 1e9),
           (double)ru.ru_maxrss / 1024, failed ? " (FAILURES)" : "");
    int prev = -1;
    for (int i = 0; i < njobs; i++)
        if (jobs[i].fd != prev) close(prev = jobs[i].fd);
    free(jobs);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
