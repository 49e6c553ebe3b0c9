/* Unit tests for cli/input.c: URL file names, aria2-style lists, output
 * directories. */
#include <errno.h>

#include "ckt_test.h"
#include "ckp.h"
#include "input.h"

static void expect_name(const char *url, const char *want)
{
    char *name = NULL;
    const char *why = NULL;
    int rc = ckp_url_filename(url, &name, &why);
    if (rc != 0) CKT_FAIL("'%s': unexpected error: %s", url, why);
    CKT_ASSERT_STR_EQ(name, want);
    free(name);
}

static void expect_no_name(const char *url)
{
    char *name = NULL;
    const char *why = NULL;
    CKT_ASSERT_INT_EQ(ckp_url_filename(url, &name, &why), -EINVAL);
    CKT_ASSERT(name == NULL);
    CKT_ASSERT(why != NULL);
}

static void test_url_filename(void)
{
    expect_name("http://h/a.bin", "a.bin");
    expect_name("http://h:8080/dir/sub/model.safetensors", "model.safetensors");
    expect_name("https://h/x/file.bin?X-Amz-Signature=abc/def", "file.bin");
    expect_name("https://h/x/file.bin#frag", "file.bin");
    expect_name("http://h/my%20file%2Bv2.bin", "my file+v2.bin");
    expect_name("http://h/%e2%82%ac.txt", "\xe2\x82\xac.txt");
    expect_name("http://h/100%", "100%");   /* a lone '%' stays */
    expect_name("http://h/a%zzb", "a%zzb"); /* so does a bad escape */
    expect_name("s3://bucket/key/ckpt.pt", "ckpt.pt");
    expect_no_name("http://h");
    expect_no_name("http://h/");
    expect_no_name("http://h/dir/");
    expect_no_name("http://h?q=1");
    expect_no_name("http://h/.");
    expect_no_name("http://h/..");
    expect_no_name("http://h/%2e%2e");
    expect_no_name("http://h/a%2Fb");
    expect_no_name("http://h/a%00b");
    expect_no_name("not-a-url");
}

static void test_add_url(void)
{
    ckc_input in = CKC_INPUT_INIT;
    ckc_entry *e;
    char err[256];
    CKT_ASSERT_INT_EQ(ckc_input_add_url(&in, "http://h/a", &e, err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(e->url, "http://h/a");
    CKT_ASSERT_INT_EQ(e->size, -1);
    CKT_ASSERT_STR_EQ(e->xxh128, "");
    CKT_ASSERT_INT_EQ(ckc_input_add_url(&in, "a.bin", &e, err, sizeof err), -EINVAL);
    CKT_ASSERT(strstr(err, "'a.bin'") != NULL);
    CKT_ASSERT_INT_EQ(ckc_input_add_url(&in, "http://h/a b", &e, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckc_input_add_url(&in, "http://h/\xff", &e, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckc_input_add_url(&in, "", &e, err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(in.n, 1);

    CKT_ASSERT_INT_EQ(
        ckc_entry_set(&in.v[0], "xxh128", "0123456789ABCDEF0123456789abcdef", err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(in.v[0].xxh128, "0123456789abcdef0123456789abcdef");
    CKT_ASSERT_INT_EQ(ckc_entry_set(&in.v[0], "size", "12", err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(in.v[0].size, 12);
    CKT_ASSERT_INT_EQ(ckc_entry_set(&in.v[0], "size", "13", err, sizeof err), -EINVAL);
    CKT_ASSERT_INT_EQ(ckc_entry_set(&in.v[0], "sha256", "ab", err, sizeof err), -EINVAL);
    ckc_input_release(&in);
}

static void test_list(void)
{
    static const char text[] = "# a comment\n"
                               "http://h/a.bin\n"
                               "  out=sub/name.bin\n"
                               "\txxh128=0123456789abcdef0123456789ABCDEF\r\n"
                               "  size=1048576   \n"
                               "\n"
                               "   # an indented comment\n"
                               "http://h/dir/b.bin?sig=1\n"
                               "http://h/c%20d.bin";
    ckc_input in = CKC_INPUT_INIT;
    char err[512];
    CKT_ASSERT_INT_EQ(ckc_input_parse_list(&in, "list.txt", text, sizeof text - 1, err, sizeof err),
                      0);
    CKT_ASSERT_INT_EQ(in.n, 3);
    CKT_ASSERT_STR_EQ(in.v[0].url, "http://h/a.bin");
    CKT_ASSERT_STR_EQ(in.v[0].path, "sub/name.bin");
    CKT_ASSERT_STR_EQ(in.v[0].xxh128, "0123456789abcdef0123456789abcdef");
    CKT_ASSERT_INT_EQ(in.v[0].size, 1048576);
    CKT_ASSERT_INT_EQ(in.v[0].line, 2);
    CKT_ASSERT(in.v[1].path == NULL);
    CKT_ASSERT_INT_EQ(in.v[1].size, -1);
    CKT_ASSERT_INT_EQ(in.v[2].line, 9);

    CKT_ASSERT_INT_EQ(ckc_input_finish(&in, err, sizeof err), 0);
    CKT_ASSERT_STR_EQ(in.v[0].path, "sub/name.bin");
    CKT_ASSERT_STR_EQ(in.v[1].path, "b.bin");
    CKT_ASSERT_STR_EQ(in.v[2].path, "c d.bin");
    ckc_input_release(&in);
    CKT_ASSERT_INT_EQ(in.n, 0);
}

/* The list is refused and err names the line and contains want. */
static void expect_list_error(const char *text, unsigned line, const char *want)
{
    ckc_input in = CKC_INPUT_INIT;
    char err[512], where[64];
    CKT_ASSERT_INT_EQ(ckc_input_parse_list(&in, "l", text, strlen(text), err, sizeof err), -EINVAL);
    snprintf(where, sizeof where, "'l' line %u: ", line);
    if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, want))
        CKT_FAIL("error \"%s\" lacks \"%s\" or \"%s\"", err, where, want);
    ckc_input_release(&in);
}

static void test_list_errors(void)
{
    expect_list_error("  out=a\nhttp://h/a\n", 1, "before any url");
    expect_list_error("http://h/a\n  out\n", 2, "KEY=VALUE");
    expect_list_error("http://h/a\n  =x\n", 2, "KEY=VALUE");
    expect_list_error("http://h/a\n  dir=/tmp\n", 2, "unsupported option 'dir'");
    expect_list_error("http://h/a\n  out=a\n  out=b\n", 3, "given twice");
    expect_list_error("http://h/a\n  xxh128=0123\n", 2, "32 hex");
    expect_list_error("http://h/a\n  xxh128=0123456789abcdef0123456789abcdeg\n", 2, "32 hex");
    expect_list_error("http://h/a\n  size=-1\n", 2, "not a byte count");
    expect_list_error("http://h/a\n  size=99999999999999999999\n", 2, "not a byte count");
    expect_list_error("http://h/a\n  out=\n", 2, "empty 'out'");
    expect_list_error("http://h/a\thttp://mirror/a\n", 1, "mirrors");
    expect_list_error("\n\nfile.bin\n", 3, "not a url");
    static const char nul[] = "http://h/a\n  out=a\0b\n";
    ckc_input in = CKC_INPUT_INIT;
    char err[256];
    CKT_ASSERT_INT_EQ(ckc_input_parse_list(&in, "l", nul, sizeof nul - 1, err, sizeof err),
                      -EINVAL);
    CKT_ASSERT(strstr(err, "NUL") != NULL);
    ckc_input_release(&in);
}

/* finish() refuses the list with an error containing want. */
static void expect_finish_error(const char *text, const char *want)
{
    ckc_input in = CKC_INPUT_INIT;
    char err[512];
    CKT_ASSERT_INT_EQ(ckc_input_parse_list(&in, "l", text, strlen(text), err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(ckc_input_finish(&in, err, sizeof err), -EINVAL);
    if (!strstr(err, want)) CKT_FAIL("error \"%s\" lacks \"%s\"", err, want);
    ckc_input_release(&in);
}

static void test_finish_errors(void)
{
    expect_finish_error("http://h/a\n  out=/etc/passwd\n", "unsafe path '/etc/passwd'");
    expect_finish_error("http://h/a\n  out=x/../../y\n", "unsafe path");
    expect_finish_error("http://h/a\n  out=x//y\n", "unsafe path");
    expect_finish_error("http://h/dir/\n", "cannot name the file of 'http://h/dir/'");
    expect_finish_error("http://h/x/a.bin\nhttp://h/y/a.bin\n",
                        "'http://h/x/a.bin' and 'http://h/y/a.bin' would both be written to "
                        "'a.bin'");
    expect_finish_error("http://h/a\n  out=same\nhttp://h/b\nhttp://h/c\n  out=same\n",
                        "would both be written to 'same'");

    /* A name derived for a command-line URL points at --out. */
    ckc_input in = CKC_INPUT_INIT;
    ckc_entry *e;
    char err[512];
    CKT_ASSERT_INT_EQ(ckc_input_add_url(&in, "http://h/", &e, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(ckc_input_finish(&in, err, sizeof err), -EINVAL);
    CKT_ASSERT(strstr(err, "--out") != NULL);
    ckc_input_release(&in);
}

static void expect_dir(const char *cwd, const char *dir, const char *want)
{
    char *out = NULL;
    CKT_ASSERT_INT_EQ(ckc_resolve_dir(cwd, dir, &out), 0);
    CKT_ASSERT_STR_EQ(out, want);
    free(out);
}

/* job.submit entries: the URL alone only for a daemon with "url_names" and
 * an entry named by its URL with no size or hash. */
static void test_entry_json(void)
{
    ckc_input in;
    ckc_input_init(&in);
    char err[256];
    const char text[] = "http://h/a.bin\n"
                        "http://h/b.bin\n  out=sub/b.bin\n"
                        "http://h/c.bin\n  size=7\n"
                        "http://h/d%20e.bin\n"
                        "http://h/x/f.bin?v=1\n  out=f.bin\n"; /* out= repeats the URL's name */
    CKT_ASSERT_INT_EQ(ckc_input_parse_list(&in, "l", text, sizeof text - 1, err, sizeof err), 0);
    CKT_ASSERT_INT_EQ(ckc_input_finish(&in, err, sizeof err), 0);
    const char *with[] = {"\"http://h/a.bin\"",
                          "{\"url\":\"http://h/b.bin\",\"path\":\"sub/b.bin\"}",
                          "{\"url\":\"http://h/c.bin\",\"path\":\"c.bin\",\"size\":7}",
                          "\"http://h/d%20e.bin\"", "\"http://h/x/f.bin?v=1\""};
    const char *without[] = {"{\"url\":\"http://h/a.bin\",\"path\":\"a.bin\"}", with[1], with[2],
                             "{\"url\":\"http://h/d%20e.bin\",\"path\":\"d e.bin\"}",
                             "{\"url\":\"http://h/x/f.bin?v=1\",\"path\":\"f.bin\"}"};
    CKT_ASSERT_INT_EQ(in.n, 5);
    for (size_t i = 0; i < in.n; i++) {
        for (int names = 0; names <= 1; names++) {
            json_t *j = ckc_entry_json(&in.v[i], names);
            char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            CKT_ASSERT_STR_EQ(s, names ? with[i] : without[i]);
            free(s);
            json_decref(j);
        }
    }
    ckc_input_release(&in);
}

static void test_resolve_dir(void)
{
    expect_dir("/home/u/work", ".", "/home/u/work");
    expect_dir("/home/u/work", "./", "/home/u/work");
    expect_dir("/home/u/work", "out", "/home/u/work/out");
    expect_dir("/home/u/work", "out/", "/home/u/work/out");
    expect_dir("/home/u/work", "./a//b/./c", "/home/u/work/a/b/c");
    expect_dir("/home/u/work", "..", "/home/u");
    expect_dir("/home/u/work", "../../x", "/home/x");
    expect_dir("/home/u/work", "../../../../x", "/x");
    expect_dir("/home/u/work", "a/../b", "/home/u/work/a/../b"); /* a may be a symlink */
    expect_dir("/", "out", "/out");
    expect_dir("/", "..", "/");
    expect_dir(NULL, "/data/ckpt/", "/data/ckpt");
    expect_dir(NULL, "/data//./ckpt", "/data/ckpt");
    expect_dir(NULL, "/../data", "/data");
    expect_dir(NULL, "/data/../x", "/data/../x");
    expect_dir(NULL, "/", "/");
    expect_dir("/ignored", "/abs", "/abs");
    char *out = (char *)"unchanged";
    CKT_ASSERT_INT_EQ(ckc_resolve_dir("/x", "", &out), -EINVAL);
    CKT_ASSERT(out == NULL);
    CKT_ASSERT_INT_EQ(ckc_resolve_dir("relative", "out", &out), -EINVAL);
    CKT_ASSERT_INT_EQ(ckc_resolve_dir(NULL, "out", &out), -EINVAL);
}

int main(void)
{
    CKT_RUN(test_url_filename);
    CKT_RUN(test_add_url);
    CKT_RUN(test_list);
    CKT_RUN(test_list_errors);
    CKT_RUN(test_finish_errors);
    CKT_RUN(test_entry_json);
    CKT_RUN(test_resolve_dir);
    CKT_DONE();
}
