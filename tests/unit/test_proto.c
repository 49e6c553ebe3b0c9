/* Unit tests for proto/: framing, message parsing and building, paths. */
#include <errno.h>

#include "ckp.h"
#include "ckt_test.h"

static void test_framer_split_reads(void)
{
    ckp_framer f;
    ckp_framer_init(&f, 64);
    const char *line;
    size_t len;
    const char *input = "{\"a\":1}\n{\"b\":2}\r\n{\"c\"";
    /* Feed one byte at a time: lines appear exactly when their newline does. */
    int seen = 0;
    for (const char *p = input; *p; p++) {
        CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, p, 1), 0);
        while (ckp_framer_next(&f, &line, &len) == 1) {
            if (seen == 0) CKT_ASSERT_MEM_EQ(line, len, "{\"a\":1}", 7);
            if (seen == 1) CKT_ASSERT_MEM_EQ(line, len, "{\"b\":2}", 7);
            seen++;
        }
    }
    CKT_ASSERT_INT_EQ(seen, 2);
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, ":3}\n", 4), 0);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_MEM_EQ(line, len, "{\"c\":3}", 7);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 0);
    ckp_framer_release(&f);
}

static void test_framer_many_lines_one_read(void)
{
    ckp_framer f;
    ckp_framer_init(&f, 16);
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "a\n\nbb\nccc\n", 10), 0);
    const char *line;
    size_t len;
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_MEM_EQ(line, len, "a", 1);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_INT_EQ(len, 0);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_MEM_EQ(line, len, "bb", 2);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_MEM_EQ(line, len, "ccc", 3);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 0);
    ckp_framer_release(&f);
}

static void test_framer_oversize(void)
{
    ckp_framer f;
    ckp_framer_init(&f, 8);
    /* Exactly the cap is fine. */
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "12345678\n", 9), 0);
    const char *line;
    size_t len;
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_INT_EQ(len, 8);
    /* An open line that grows past the cap across feeds is refused before
     * it is stored. */
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "12345", 5), 0);
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "6789", 4), -E2BIG);
    CKT_ASSERT(f.len - f.head <= 8);
    ckp_framer_release(&f);
    /* A complete oversize line inside one read is refused too. */
    ckp_framer_init(&f, 8);
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "ok\n123456789\nok\n", 16), -E2BIG);
    ckp_framer_release(&f);
}

static void test_framer_default_cap(void)
{
    ckp_framer f;
    ckp_framer_init(&f, CKP_MAX_LINE);
    static char big[CKP_MAX_LINE + 1];
    memset(big, 'x', sizeof(big));
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, big, CKP_MAX_LINE), 0);
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "x", 1), -E2BIG);
    ckp_framer_release(&f);
}

static void test_msg_parse_request(void)
{
    ckp_msg m;
    const char *s = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.get\",\"params\":{\"id\":3}}";
    CKT_ASSERT_INT_EQ(ckp_msg_parse(s, strlen(s), &m, NULL, 0), 0);
    CKT_ASSERT_INT_EQ(m.kind, CKP_MSG_REQUEST);
    CKT_ASSERT_STR_EQ(m.method, "job.get");
    CKT_ASSERT_INT_EQ(json_integer_value(m.id), 7);
    CKT_ASSERT_INT_EQ(json_integer_value(json_object_get(m.params, "id")), 3);
    ckp_msg_release(&m);

    s = "{\"jsonrpc\":\"2.0\",\"method\":\"event.job\"}";
    CKT_ASSERT_INT_EQ(ckp_msg_parse(s, strlen(s), &m, NULL, 0), 0);
    CKT_ASSERT_INT_EQ(m.kind, CKP_MSG_NOTIFICATION);
    CKT_ASSERT(m.params == NULL);
    ckp_msg_release(&m);
}

static void test_msg_parse_errors(void)
{
    ckp_msg m;
    char why[128];
    struct {
        const char *in;
        int code;
    } cases[] = {
        {"not json", CKP_RPC_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"", CKP_RPC_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}", CKP_RPC_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xaf\"}", CKP_RPC_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"x\"}", CKP_RPC_PARSE_ERROR},
        {"[1,2]", CKP_RPC_INVALID_REQUEST},
        {"42", CKP_RPC_INVALID_REQUEST},
        {"{\"id\":1,\"method\":\"x\"}", CKP_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}", CKP_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", CKP_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}", CKP_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", CKP_RPC_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\"}", CKP_RPC_INVALID_REQUEST},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = ckp_msg_parse(cases[i].in, strlen(cases[i].in), &m, why, sizeof(why));
        if (rc != cases[i].code)
            CKT_FAIL("case %zu '%s': got %d want %d", i, cases[i].in, rc, cases[i].code);
        CKT_ASSERT(why[0] != '\0');
        ckp_msg_release(&m);
    }
    /* The id of an invalid request is kept so the error can name it. */
    const char *s = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":3}";
    CKT_ASSERT_INT_EQ(ckp_msg_parse(s, strlen(s), &m, NULL, 0), CKP_RPC_INVALID_REQUEST);
    CKT_ASSERT_INT_EQ(json_integer_value(m.id), 9);
    ckp_msg_release(&m);
}

static void test_msg_build_roundtrip(void)
{
    size_t len;
    char *line = ckp_msg_request(5, "job.list", json_pack("{s:i}", "x", 1), &len);
    CKT_ASSERT(line && line[len - 1] == '\n');
    ckp_msg m;
    CKT_ASSERT_INT_EQ(ckp_msg_parse(line, len - 1, &m, NULL, 0), 0);
    CKT_ASSERT_STR_EQ(m.method, "job.list");
    ckp_msg_release(&m);
    free(line);

    json_t *id = json_string("abc");
    line = ckp_msg_error(id, CKP_RPC_UNKNOWN_JOB, "unknown job 4", NULL, &len);
    json_decref(id);
    CKT_ASSERT_INT_EQ(ckp_msg_parse(line, len, &m, NULL, 0), 0);
    CKT_ASSERT_INT_EQ(m.kind, CKP_MSG_ERROR);
    CKT_ASSERT_INT_EQ(m.error_code, CKP_RPC_UNKNOWN_JOB);
    CKT_ASSERT_STR_EQ(m.error_message, "unknown job 4");
    CKT_ASSERT_STR_EQ(json_string_value(json_object_get(m.error_data, "name")), "unknown_job");
    ckp_msg_release(&m);
    free(line);

    line = ckp_msg_result(NULL, json_pack("{s:b}", "ok", 1), &len);
    CKT_ASSERT_INT_EQ(ckp_msg_parse(line, len, &m, NULL, 0), 0);
    CKT_ASSERT_INT_EQ(m.kind, CKP_MSG_RESULT);
    CKT_ASSERT(json_is_null(m.id));
    ckp_msg_release(&m);
    free(line);

    /* UTF-8 passes through untouched. */
    line = ckp_msg_notification("event.x", json_pack("{s:s}", "p", "données/ü.bin"), &len);
    CKT_ASSERT(strstr(line, "données/ü.bin") != NULL);
    free(line);
}

static void test_error_table(void)
{
    CKT_ASSERT_STR_EQ(ckp_rpc_name(-32700), "parse_error");
    CKT_ASSERT_STR_EQ(ckp_rpc_name(CKP_RPC_BAD_TRANSITION), "transition_not_allowed");
    CKT_ASSERT_STR_EQ(ckp_rpc_message(CKP_RPC_UNKNOWN_JOB), "unknown job");
    CKT_ASSERT_STR_EQ(ckp_rpc_name(12345), "unknown_error");
}

static void check_path(const char *p, size_t len, const char *want_why)
{
    const char *why = NULL;
    int rc = ckp_path_check(p, len, &why);
    if (!want_why) {
        if (rc != 0) CKT_FAIL("'%s' refused: %s", p, why);
    } else {
        if (rc != -EINVAL) CKT_FAIL("'%s' accepted", p);
        CKT_ASSERT_STR_EQ(why, want_why);
    }
}

static void test_paths(void)
{
    check_path("a", 1, NULL);
    check_path("a/b/c.bin", 9, NULL);
    check_path("données/poids ü.bin", strlen("données/poids ü.bin"), NULL);
    check_path("..a/b..", 7, NULL);
    check_path(".hidden", 7, NULL);
    check_path("", 0, "empty path");
    check_path("/etc/passwd", 11, "absolute path");
    check_path("../evil", 7, "'..' segment");
    check_path("a/../../evil", 12, "'..' segment");
    check_path("a/..", 4, "'..' segment");
    check_path("./a", 3, "'.' segment");
    check_path("a//b", 4, "empty path segment");
    check_path("a/", 2, "empty path segment");
    check_path("a\0b", 3, "NUL byte in path");
    check_path("a\xff", 2, "path is not valid UTF-8");
    check_path("\xed\xa0\x80", 3, "path is not valid UTF-8"); /* surrogate */
    check_path("\xe2\x82", 2, "path is not valid UTF-8");     /* truncated */
    static char longp[CKP_MAX_PATH + 2];
    memset(longp, 'a', CKP_MAX_PATH + 1);
    check_path(longp, CKP_MAX_PATH + 1, "path too long");
}

static void test_fmt_bytes(void)
{
    char b[32];
    ckp_fmt_bytes(b, sizeof(b), 999);
    CKT_ASSERT_STR_EQ(b, "999B");
    ckp_fmt_bytes(b, sizeof(b), 1379564);
    CKT_ASSERT_STR_EQ(b, "1.4MB");
    ckp_fmt_bytes(b, sizeof(b), 2147483648.0);
    CKT_ASSERT_STR_EQ(b, "2.1GB");
}

static void test_utf8_cut(void)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a, e-acute, euro, emoji */
    size_t len = strlen(s);
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 100), len);
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 1), 1);
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 2), 1); /* inside the e-acute */
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 3), 3);
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 5), 3); /* inside the euro sign */
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 9), 6); /* inside the emoji */
    CKT_ASSERT_INT_EQ(ckp_utf8_cut(s, len, 0), 0);
    /* Every cut of every prefix is valid UTF-8. */
    for (size_t m = 0; m <= len; m++) CKT_ASSERT(ckp_utf8_valid(s, ckp_utf8_cut(s, len, m)));
    /* ckp_fmt truncates the same way. */
    char out[4];
    CKT_ASSERT_INT_EQ(ckp_fmt(out, sizeof(out), "x%s", "\xe2\x82\xac\xe2\x82\xac"), 1);
    CKT_ASSERT_STR_EQ(out, "x");
    char big[64];
    CKT_ASSERT_INT_EQ(ckp_fmt(big, sizeof(big), "%s-%d", "\xc3\xa9", 7), 4);
}

static void test_text_escape(void)
{
    char out[64];
    /* Invalid bytes are escaped, never dropped. */
    ckp_text_escape(out, sizeof(out),
                    "a\xff"
                    "b\xe2\x82",
                    5, 0);
    CKT_ASSERT_STR_EQ(out, "a\\xffb\\xe2\\x82");
    /* Control characters only when asked. */
    ckp_text_escape(out, sizeof(out), "l1\nl2\x01", 6, CKP_ESC_CONTROL);
    CKT_ASSERT_STR_EQ(out, "l1\\nl2\\x01");
    ckp_text_escape(out, sizeof(out), "l1\nl2", 5, 0);
    CKT_ASSERT_STR_EQ(out, "l1\nl2");
    /* A character that does not fit whole is left out. */
    CKT_ASSERT_INT_EQ(ckp_text_escape(out, 4, "ab\xc3\xa9", 4, 0), 2);
    CKT_ASSERT_INT_EQ(ckp_text_escape(out, 4, "a\xff", 2, 0), 1);
    json_t *v = ckp_json_text("bad \xe2\x82");
    CKT_ASSERT(v != NULL);
    CKT_ASSERT_STR_EQ(json_string_value(v), "bad \\xe2\\x82");
    json_decref(v);
    v = ckp_json_text(NULL);
    CKT_ASSERT(json_is_null(v));
}

static void test_redact_urls(void)
{
    char out[256];
    ckp_url_redact(out, sizeof(out), "http://user:pass@host:8/p/a?X-Amz-Signature=s#frag");
    CKT_ASSERT_STR_EQ(out, "http://***@host:8/p/a?...#frag");
    ckp_url_redact(out, sizeof(out), "https://acct.blob.core.windows.net/?sv=1&sig=SECRET");
    CKT_ASSERT_STR_EQ(out, "https://acct.blob.core.windows.net/?...");
    ckp_url_redact(out, sizeof(out), "http://host/plain");
    CKT_ASSERT_STR_EQ(out, "http://host/plain");
    ckp_redact_urls(
        out, sizeof(out),
        "cannot fetch 'http://u:p@h/x?sig=1': http 403; also https://a@b/c and :// alone");
    CKT_ASSERT_STR_EQ(out, "cannot fetch 'http://***@h/x?...': http 403; also https://***@b/c and "
                           ":// alone");
    /* The @ of a path is not userinfo. */
    ckp_redact_urls(out, sizeof(out), "see http://h/a@b");
    CKT_ASSERT_STR_EQ(out, "see http://h/a@b");
    char small[12];
    ckp_redact_urls(small, sizeof(small), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    CKT_ASSERT_INT_EQ(strlen(small), 10);
    CKT_ASSERT(ckp_utf8_valid(small, strlen(small)));
}

/* Builders never fail on text jansson would refuse: a message cut inside a
 * character (the way an snprintf cuts) still makes a line. */
static void test_msg_build_bad_text(void)
{
    size_t len;
    char *line = ckp_msg_error(NULL, CKP_RPC_MASTER_ERROR, "master said \xc3", NULL, &len);
    CKT_ASSERT(line != NULL);
    ckp_msg m;
    CKT_ASSERT_INT_EQ(ckp_msg_parse(line, len - 1, &m, NULL, 0), 0);
    CKT_ASSERT_STR_EQ(m.error_message, "master said \\xc3");
    ckp_msg_release(&m);
    free(line);
    line = ckp_msg_notification("event.\xff", NULL, &len);
    CKT_ASSERT(line != NULL);
    free(line);
}

/* A framer drained after a large line gives its buffer back. */
static void test_framer_returns_memory(void)
{
    ckp_framer f;
    ckp_framer_init(&f, CKP_MAX_LINE);
    static char big[512 * 1024];
    memset(big, 'x', sizeof(big));
    big[sizeof(big) - 1] = '\n';
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, big, sizeof(big)), 0);
    CKT_ASSERT(f.cap >= sizeof(big));
    const char *line;
    size_t len;
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_INT_EQ(len, sizeof(big) - 1);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 0);
    CKT_ASSERT(f.buf == NULL && f.cap == 0);
    CKT_ASSERT_INT_EQ(ckp_framer_feed(&f, "a\n", 2), 0);
    CKT_ASSERT_INT_EQ(ckp_framer_next(&f, &line, &len), 1);
    CKT_ASSERT_MEM_EQ(line, len, "a", 1);
    ckp_framer_release(&f);
}

int main(void)
{
    CKT_RUN(test_framer_split_reads);
    CKT_RUN(test_framer_many_lines_one_read);
    CKT_RUN(test_framer_oversize);
    CKT_RUN(test_framer_default_cap);
    CKT_RUN(test_msg_parse_request);
    CKT_RUN(test_msg_parse_errors);
    CKT_RUN(test_msg_build_roundtrip);
    CKT_RUN(test_error_table);
    CKT_RUN(test_paths);
    CKT_RUN(test_fmt_bytes);
    CKT_RUN(test_framer_returns_memory);
    CKT_RUN(test_utf8_cut);
    CKT_RUN(test_text_escape);
    CKT_RUN(test_redact_urls);
    CKT_RUN(test_msg_build_bad_text);
    CKT_DONE();
}
