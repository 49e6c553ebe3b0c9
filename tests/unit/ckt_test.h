/* ckt: the tiny unit-test harness. Typed asserts print both sides; a failing
 * assert ends the test with a message naming file and line. */
#ifndef CKT_TEST_H
#define CKT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKT_FAIL(...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

#define CKT_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) CKT_FAIL("assertion failed: %s", #cond);                                      \
    } while (0)

#define CKT_ASSERT_INT_EQ(a, b)                                                                    \
    do {                                                                                           \
        int64_t ckt_a_ = (int64_t)(a), ckt_b_ = (int64_t)(b);                                      \
        if (ckt_a_ != ckt_b_)                                                                      \
            CKT_FAIL("%s == %s: %" PRId64 " != %" PRId64, #a, #b, ckt_a_, ckt_b_);                 \
    } while (0)

#define CKT_ASSERT_STR_EQ(a, b)                                                                    \
    do {                                                                                           \
        const char *ckt_a_ = (a), *ckt_b_ = (b);                                                   \
        if (!ckt_a_ || !ckt_b_ || strcmp(ckt_a_, ckt_b_) != 0)                                     \
            CKT_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, ckt_a_ ? ckt_a_ : "(null)",             \
                     ckt_b_ ? ckt_b_ : "(null)");                                                  \
    } while (0)

#define CKT_ASSERT_MEM_EQ(a, alen, b, blen)                                                        \
    do {                                                                                           \
        size_t ckt_al_ = (alen), ckt_bl_ = (blen);                                                 \
        if (ckt_al_ != ckt_bl_ || memcmp((a), (b), ckt_al_) != 0)                                  \
            CKT_FAIL("%s == %s: \"%.*s\" != \"%.*s\"", #a, #b, (int)ckt_al_, (const char *)(a),    \
                     (int)ckt_bl_, (const char *)(b));                                             \
    } while (0)

/* Runs one test function and counts it. */
#define CKT_RUN(fn)                                                                                \
    do {                                                                                           \
        fn();                                                                                      \
        ckt_passed_++;                                                                             \
        printf("ok %s\n", #fn);                                                                    \
    } while (0)

static int ckt_passed_;

/* Writes text to path (a fixture file); any failure ends the test. */
static inline void ckt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CKT_ASSERT(f != NULL);
    CKT_ASSERT(fputs(text, f) >= 0);
    CKT_ASSERT(fclose(f) == 0);
}
#define CKT_DONE()                                                                                 \
    do {                                                                                           \
        printf("%d passed, 0 failed\n", ckt_passed_);                                              \
        return 0;                                                                                  \
    } while (0)

#endif
