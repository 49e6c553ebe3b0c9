/* Unit tests for the pins file (engine/pins.c): one trimming rule for the
 * writer (`ckpt pin`, rpc.c) and for prefetch's retention (follow.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckt_test.h"
#include "pins.h"

static char dir[] = "/tmp/ckt-pins-XXXXXX";

static char *path_in(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void test_line_rule(void)
{
    struct {
        const char *in, *want; /* want NULL: no entry */
    } cases[] = {
        {"abc\n", "abc"},
        {"abc\r\n", "abc"},
        {"  abc \t\n", "abc"}, /* blanks around go (the writer of old kept them) */
        {"/data/pf/trial-1/u//\n", "/data/pf/trial-1/u"}, /* trailing slashes go */
        {"/\n", "/"},
        {"\n", NULL},
        {"   \n", NULL},
        {"# comment\n", NULL},
        {"  # indented comment\n", NULL},
        {"u # not a comment\n", "u # not a comment"},
        {"last line without newline", "last line without newline"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        const char *got = ckd_pins_line(buf);
        if (!cases[i].want) {
            if (got) CKT_FAIL("line %zu: '%s' gave entry '%s'", i, cases[i].in, got);
        } else {
            if (!got) CKT_FAIL("line %zu: '%s' gave no entry", i, cases[i].in);
            CKT_ASSERT_STR_EQ(got, cases[i].want);
        }
    }
}

static void test_read_match_write(void)
{
    const char *p = path_in("pins");
    json_t *none = ckd_pins_read(p); /* missing file: empty */
    CKT_ASSERT(none && json_array_size(none) == 0);
    json_decref(none);
    CKT_ASSERT(!ckd_pins_has(p, "/d", "u1"));
    CKT_ASSERT(!ckd_pins_has(NULL, "/d", "u1"));

    ckt_write_file(p, "# pinned by hand\r\n u1 \n\n/d/trial-2/u2/\r\n/elsewhere/u3\n");
    json_t *l = ckd_pins_read(p);
    CKT_ASSERT_INT_EQ(json_array_size(l), 3);
    CKT_ASSERT_STR_EQ(json_string_value(json_array_get(l, 0)), "u1");
    CKT_ASSERT_STR_EQ(json_string_value(json_array_get(l, 1)), "/d/trial-2/u2");
    CKT_ASSERT(ckd_pins_match(l, "/d/trial-1", "u1"));    /* by uuid, any directory */
    CKT_ASSERT(ckd_pins_match(l, "/d/trial-2", "u2"));    /* by path */
    CKT_ASSERT(ckd_pins_match(l, "/d/trial-2/", "u2"));   /* dir with a slash */
    CKT_ASSERT(!ckd_pins_match(l, "/d/trial-1", "u2"));   /* another directory */
    CKT_ASSERT(!ckd_pins_match(l, "/d/trial-2", "u"));    /* no prefix matches */
    CKT_ASSERT(!ckd_pins_match(l, "/elsewhere/x", "u3")); /* no prefix of the dir */
    CKT_ASSERT(ckd_pins_has(p, "/d/trial-2", "u2"));

    /* What the writer writes, every reader reads back the same. */
    json_array_append_new(l, json_string("u4"));
    CKT_ASSERT_INT_EQ(ckd_pins_write(p, l), 0);
    json_t *back = ckd_pins_read(p);
    CKT_ASSERT(json_equal(l, back));
    CKT_ASSERT(ckd_pins_has(p, "/x", "u4"));
    CKT_ASSERT(access(path_in("pins.tmp"), F_OK) != 0);
    json_decref(back);
    json_decref(l);

    /* A file that cannot be written: an error, the old file kept. */
    json_t *one = json_pack("[s]", "u9");
    CKT_ASSERT(ckd_pins_write(path_in("no-such-dir/pins"), one) < 0);
    json_decref(one);
    unlink(p);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    CKT_RUN(test_line_rule);
    CKT_RUN(test_read_match_write);
    rmdir(dir);
    return 0;
}
