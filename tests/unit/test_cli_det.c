/* Unit tests for cli/det_render.c: det's output forms — Python's float
 * repr and json.dumps(indent=4), report times, resource sizes, tabulate's
 * "presto" tables, csv rows, and the checkpoint views built from them.
 * Expected texts were produced by Python's json, csv and tabulate and by
 * det's own rendering code. */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "ckt_test.h"
#include "det_render.h"

/* Captures what fn prints on a FILE. */
typedef struct capture {
    FILE *f;
    char *buf;
    size_t len;
} capture;

static void cap_open(capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    CKT_ASSERT(c->f != NULL);
}

/* Closes the stream; the text stays in c->buf until cap_free. */
static const char *cap_text(capture *c)
{
    CKT_ASSERT(fclose(c->f) == 0);
    c->f = NULL;
    return c->buf;
}

static void cap_free(capture *c)
{
    free(c->buf);
    c->buf = NULL;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v) CKT_FAIL("bad JSON in the test: %s", err.text);
    return v;
}

/* ---- values ------------------------------------------------------------ */

static void expect_double(double v, const char *want)
{
    char out[48];
    ckc_det_fmt_double(out, sizeof out, v);
    CKT_ASSERT_STR_EQ(out, want);
}

static void test_fmt_double(void)
{
    /* What repr() prints for each. */
    expect_double(0.9, "0.9");
    expect_double(0.1 + 0.2, "0.30000000000000004");
    expect_double(1.0, "1.0");
    expect_double(100.0, "100.0");
    expect_double(1379564.0, "1379564.0");
    expect_double(-2.75, "-2.75");
    expect_double(-0.0, "-0.0");
    expect_double(0.0, "0.0");
    expect_double(0.0312, "0.0312");
    expect_double(0.0001, "0.0001");
    expect_double(0.00001, "1e-05");
    expect_double(2.5e-5, "2.5e-05");
    expect_double(1.5e-7, "1.5e-07");
    expect_double(123456789.123, "123456789.123");
    expect_double(1e15, "1000000000000000.0");
    expect_double(1e16, "1e+16");
    expect_double(1e100, "1e+100");
    expect_double(5e-324, "5e-324");
    expect_double(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_double(9007199254740993.0, "9007199254740992.0");
    expect_double(12345678901234567890.0, "1.2345678901234567e+19");
    expect_double(NAN, "NaN");
    expect_double(INFINITY, "Infinity");
    expect_double(-INFINITY, "-Infinity");
}

static void expect_time(const char *in, const char *want)
{
    char out[32];
    int rc = ckc_det_fmt_time(out, sizeof out, in);
    if (rc != 0) CKT_FAIL("'%s': unexpected error %d", in, rc);
    CKT_ASSERT_STR_EQ(out, want);
}

static void expect_bad_time(const char *in)
{
    char out[32];
    CKT_ASSERT_INT_EQ(ckc_det_fmt_time(out, sizeof out, in), -EINVAL);
    CKT_ASSERT_STR_EQ(out, "");
}

static void test_fmt_time(void)
{
    expect_time("2024-03-01T18:22:31.123456Z", "2024-03-01 18:22:31+0000");
    expect_time("2024-03-01T02:02:49Z", "2024-03-01 02:02:49+0000");
    expect_time("2024-03-01T01:59:59.394196212Z", "2024-03-01 01:59:59+0000"); /* not rounded */
    expect_time("2024-03-01T01:11:23.0Z", "2024-03-01 01:11:23+0000");
    expect_time("2024-03-01t00:00:00z", "2024-03-01 00:00:00+0000");
    expect_time("2024-03-01T00:30:00+02:00", "2024-02-29 22:30:00+0000");
    expect_time("2024-03-01T23:30:00.5-01:30", "2024-03-02 01:00:00+0000");
    expect_time("1999-12-31T23:59:59+00:00", "1999-12-31 23:59:59+0000");
    expect_bad_time(NULL);
    expect_bad_time("");
    expect_bad_time("2024-03-01");
    expect_bad_time("2024-03-01T18:22:31");   /* no zone */
    expect_bad_time("2024-03-01T18:22:31.Z"); /* a dot without digits */
    expect_bad_time("2024-13-01T00:00:00Z");
    expect_bad_time("2024-03-01T24:00:00Z");
    expect_bad_time("2024-03-01T18:22:31Zjunk");
    expect_bad_time("2024-03-01T18:22:31+0200");
    expect_bad_time("24-03-01T18:22:31Z");
}

static void test_json_pretty(void)
{
    json_t *v = parse("{\"avgMetrics\":{\"validation_loss\":0.2,\"accuracy\":0.8},"
                      "\"batchMetrics\":[],\"nested\":[1,[2,{}],{\"a\":null,\"b\":true,"
                      "\"c\":false}],\"donn\u00e9es\":\"poids \u00fc \\ud83d\\ude00 \\\"q\\\" "
                      "\\\\ \\n\\t\\u0001\\u007f /\",\"big\":-9007199254740993,\"x\":1e-05}");
    char *s = ckc_det_json_pretty(v);
    /* json.dumps(v, indent=4) */
    CKT_ASSERT_STR_EQ(s, "{\n"
                         "    \"avgMetrics\": {\n"
                         "        \"validation_loss\": 0.2,\n"
                         "        \"accuracy\": 0.8\n"
                         "    },\n"
                         "    \"batchMetrics\": [],\n"
                         "    \"nested\": [\n"
                         "        1,\n"
                         "        [\n"
                         "            2,\n"
                         "            {}\n"
                         "        ],\n"
                         "        {\n"
                         "            \"a\": null,\n"
                         "            \"b\": true,\n"
                         "            \"c\": false\n"
                         "        }\n"
                         "    ],\n"
                         "    \"donn\\u00e9es\": \"poids \\u00fc \\ud83d\\ude00 \\\"q\\\" \\\\ "
                         "\\n\\t\\u0001\\u007f /\",\n"
                         "    \"big\": -9007199254740993,\n"
                         "    \"x\": 1e-05\n"
                         "}");
    free(s);
    json_decref(v);

    v = json_object();
    s = ckc_det_json_pretty(v);
    CKT_ASSERT_STR_EQ(s, "{}");
    free(s);
    json_decref(v);
    s = ckc_det_json_pretty(NULL);
    CKT_ASSERT_STR_EQ(s, "null");
    free(s);
    v = json_stringn("a\0b", 3); /* an embedded NUL survives */
    s = ckc_det_json_pretty(v);
    CKT_ASSERT_STR_EQ(s, "\"a\\u0000b\"");
    free(s);
    json_decref(v);
}

static void expect_scalar(const char *json, const char *want)
{
    json_t *v = parse(json);
    bool oom = true;
    char *s = ckc_det_scalar(v, &oom);
    CKT_ASSERT(!oom);
    if (!want) {
        CKT_ASSERT(s == NULL);
    } else {
        CKT_ASSERT_STR_EQ(s, want);
    }
    free(s);
    json_decref(v);
}

static void test_scalar(void)
{
    bool oom = true;
    CKT_ASSERT(ckc_det_scalar(NULL, &oom) == NULL && !oom); /* missing */
    expect_scalar("null", NULL);
    expect_scalar("\"NaN\"", "NaN");
    expect_scalar("400", "400");
    expect_scalar("-3", "-3");
    expect_scalar("0.31", "0.31");
    expect_scalar("100.0", "100.0");
    expect_scalar("true", "True");
    expect_scalar("false", "False");
    expect_scalar("{\"a\": [1, 2]}", "{\"a\":[1,2]}");
}

static void expect_size(const char *json, int want_rc, int64_t want)
{
    json_t *v = parse(json);
    int64_t got = -42;
    CKT_ASSERT_INT_EQ(ckc_det_parse_size(v, &got), want_rc);
    if (want_rc == 0) CKT_ASSERT_INT_EQ(got, want);
    json_decref(v);
}

static void test_parse_size(void)
{
    expect_size("\"0\"", 0, 0);
    expect_size("\"1379564\"", 0, 1379564);
    expect_size("\"007\"", 0, 7);
    expect_size("\"9223372036854775807\"", 0, INT64_MAX);
    expect_size("\"9223372036854775808\"", -ERANGE, 0);
    expect_size("\"99999999999999999999999\"", -ERANGE, 0);
    expect_size("5123", 0, 5123); /* an integer, should a master send one */
    expect_size("\"\"", -EINVAL, 0);
    expect_size("\"-1\"", -EINVAL, 0);
    expect_size("\"+1\"", -EINVAL, 0);
    expect_size("\" 1\"", -EINVAL, 0);
    expect_size("\"1 \"", -EINVAL, 0);
    expect_size("\"1.5\"", -EINVAL, 0);
    expect_size("\"0x10\"", -EINVAL, 0);
    expect_size("-1", -EINVAL, 0);
    expect_size("1.0", -EINVAL, 0);
    expect_size("null", -EINVAL, 0);
    expect_size("true", -EINVAL, 0);
    int64_t got;
    CKT_ASSERT_INT_EQ(ckc_det_parse_size(NULL, &got), -EINVAL);
    json_t *v = json_stringn("12\0"
                             "3",
                             4); /* a NUL inside */
    CKT_ASSERT_INT_EQ(ckc_det_parse_size(v, &got), -EINVAL);
    json_decref(v);
}

static void test_resources(void)
{
    json_t *r = parse("{\"state_dict.pth\":\"1379564\",\"code/\":\"0\",\"metadata.json\":\"142\","
                      "\"donn\u00e9es/\":\"0\",\"code/model_def.py\":\"5123\",\"z.bin\":\"0\","
                      "\"\u00e9t\u00e9.bin\":\"0\"}");
    int64_t total = -1;
    size_t files = 0;
    CKT_ASSERT_INT_EQ(ckc_det_resources_total(r, &total, &files), 0);
    CKT_ASSERT_INT_EQ(total, 1384829);
    CKT_ASSERT_INT_EQ(files, 5);
    char *list = ckc_det_resources_list(r);
    /* Python's sorted(): by code point, so non-ASCII after ASCII. */
    CKT_ASSERT_STR_EQ(list, "code/\ncode/model_def.py\ndonn\u00e9es/\nmetadata.json\n"
                            "state_dict.pth\nz.bin\n\u00e9t\u00e9.bin");
    free(list);
    json_decref(r);

    CKT_ASSERT_INT_EQ(ckc_det_resources_total(NULL, &total, &files), 0);
    CKT_ASSERT_INT_EQ(total, 0);
    CKT_ASSERT_INT_EQ(files, 0);
    r = json_null();
    CKT_ASSERT_INT_EQ(ckc_det_resources_total(r, &total, NULL), 0);
    list = ckc_det_resources_list(r);
    CKT_ASSERT_STR_EQ(list, "");
    free(list);

    r = parse("[\"a\"]");
    CKT_ASSERT_INT_EQ(ckc_det_resources_total(r, &total, &files), -EINVAL);
    json_decref(r);
    r = parse("{\"a\":\"1\",\"b\":\"x\"}");
    CKT_ASSERT_INT_EQ(ckc_det_resources_total(r, &total, &files), -EINVAL);
    json_decref(r);
    r = parse("{\"a\":\"9223372036854775807\",\"b\":\"1\"}");
    CKT_ASSERT_INT_EQ(ckc_det_resources_total(r, &total, &files), -ERANGE);
    json_decref(r);

    CKT_ASSERT_STR_EQ(ckc_det_state_name("STATE_PARTIALLY_DELETED"), "PARTIALLY_DELETED");
    CKT_ASSERT_STR_EQ(ckc_det_state_name("FUTURE"), "FUTURE");
    CKT_ASSERT_STR_EQ(ckc_det_state_name(NULL), "UNSPECIFIED");
}

/* ---- tables ------------------------------------------------------------ */

static void test_table_types(void)
{
    static const char *const head[] = {"Trial ID", "# of Batches", "State", "Validation Metric",
                                       "UUID",     "Resources",    "Size"};
    static const char *const rows[][7] = {
        {"1", "100", "COMPLETED", "0.9", "cd61", "a\nb/\nc", "1.3MB"},
        {"2", NULL, "DELETED", "", "x", NULL, "0B"},
        {"3", "50", "ACTIVE", "NaN", "y", "z", "10kB"},
        {"4", "5", "A", "1e-05", "y", "donn\u00e9es/poids \u00fc.bin", "10kB"},
        {"5", "5", "A", "inf", "y", "z", "10kB"},
        {"12", "-7", "A", "0.123456789", "y", "  padded  ", "10kB"},
    };
    ckc_dtable t;
    CKT_ASSERT_INT_EQ(ckc_dtable_init(&t, 7, head), 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        CKT_ASSERT_INT_EQ(ckc_dtable_row(&t, rows[i]), 0);
    capture c;
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_dtable_print(&t, c.f), 0);
    /* tabulate(rows, head, tablefmt="presto"): ints right-aligned, numbers
     * on their decimal point as %g, text left, multi-line cells. */
    CKT_ASSERT_STR_EQ(cap_text(&c), "   Trial ID |   # of Batches | State     |   Validation "
                                    "Metric | UUID   | Resources           | Size\n"
                                    "------------+----------------+-----------+--------------------"
                                    "-+--------+---------------------+--------\n"
                                    "          1 |            100 | COMPLETED |            0.9     "
                                    " | cd61   | a                   | 1.3MB\n"
                                    "            |                |           |                    "
                                    " |        | b/                  |\n"
                                    "            |                |           |                    "
                                    " |        | c                   |\n"
                                    "          2 |                | DELETED   |                    "
                                    " | x      |                     | 0B\n"
                                    "          3 |             50 | ACTIVE    |          nan       "
                                    " | y      | z                   | 10kB\n"
                                    "          4 |              5 | A         |            1e-05   "
                                    " | y      | données/poids ü.bin | 10kB\n"
                                    "          5 |              5 | A         |          inf       "
                                    " | y      | z                   | 10kB\n"
                                    "         12 |             -7 | A         |            "
                                    "0.123457 | y      | padded              | 10kB\n");
    cap_free(&c);
    ckc_dtable_release(&t);
}

static void test_table_text_columns(void)
{
    /* "Infinity" is no number to tabulate, so the column is text; True and
     * False make a bool column, which is text too. */
    static const char *const head[] = {"Metric", "Flag"};
    static const char *const rows[][2] = {{"0.5", "True"}, {"Infinity", "False"}, {"2", NULL}};
    ckc_dtable t;
    CKT_ASSERT_INT_EQ(ckc_dtable_init(&t, 2, head), 0);
    for (size_t i = 0; i < 3; i++) CKT_ASSERT_INT_EQ(ckc_dtable_row(&t, rows[i]), 0);
    capture c;
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_dtable_print(&t, c.f), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c), " Metric   | Flag\n"
                                    "----------+--------\n"
                                    " 0.5      | True\n"
                                    " Infinity | False\n"
                                    " 2        |\n");
    cap_free(&c);
    ckc_dtable_release(&t);

    static const char *const head2[] = {"A", "Bee"};
    CKT_ASSERT_INT_EQ(ckc_dtable_init(&t, 2, head2), 0);
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_dtable_print(&t, c.f), 0); /* no rows: the header alone */
    CKT_ASSERT_STR_EQ(cap_text(&c), " A   | Bee\n"
                                    "-----+-------\n");
    cap_free(&c);
    ckc_dtable_release(&t);
}

static void test_csv(void)
{
    static const char *const head[] = {"a", "b,c", "say \"hi\"", "two\nlines", "cr\rx", ""};
    static const char *const row[] = {NULL, "plain", "xxx", "", NULL, ""};
    ckc_dtable t;
    CKT_ASSERT_INT_EQ(ckc_dtable_init(&t, 6, head), 0);
    CKT_ASSERT_INT_EQ(ckc_dtable_row(&t, row), 0);
    capture c;
    cap_open(&c);
    ckc_dtable_csv(&t, c.f);
    /* csv.writer(f).writerow(...) */
    CKT_ASSERT_STR_EQ(
        cap_text(&c),
        "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rx\",\r\n,plain,xxx,,,\r\n");
    cap_free(&c);
    ckc_dtable_release(&t);
}

/* ---- checkpoints --------------------------------------------------------- */

/* Four checkpoints of the stand-in master's experiment 2 (tests/detmaster),
 * configs trimmed: a NaN metric, a missing steps_completed, no validation. */
static const char fixture[] =
    "{\"checkpoints\":[{\"uuid\":\"64c2f2e3-9403-460d-97da-e38d9d643c25\",\"taskId\":\"2."
    "64c2f2e3\","
    "\"allocationId\":\"2.64c2f2e3.1\",\"reportTime\":\"2024-03-01T02:15:43.21Z\",\"state\":"
    "\"STATE_COMPLETED\","
    "\"storageId\":1,\"resources\":{\"code/\":\"0\",\"code/"
    "model_def.py\":\"4314\",\"state_dict.pth\":\"14873\","
    "\"données/\":\"0\",\"données/poids "
    "ü.bin\":\"6450\"},\"metadata\":{\"determined_version\":\"0.38.1\","
    "\"framework\":\"torch-2.3.1\",\"format\":\"pickle\",\"steps_completed\":50},\"training\":{"
    "\"trialId\":4,"
    "\"experimentId\":2,\"searcherMetric\":0.61,\"experimentConfig\":{\"searcher\":{\"name\":"
    "\"single\","
    "\"metric\":\"accuracy\",\"max_length\":{\"batches\":400},\"smaller_is_better\":false}},"
    "\"hparams\":{"
    "\"lr\":0.01},\"trainingMetrics\":{\"avgMetrics\":{\"loss\":0.5396},\"batchMetrics\":[]},"
    "\"validationMetrics\":{"
    "\"avgMetrics\":{\"accuracy\":0.61,\"validation_loss\":0.39},\"batchMetrics\":[]}}},{\"uuid\":"
    "\"678a5aa3-3b6f-4507-8c5f-e8f8dc3bf364\","
    "\"taskId\":\"2.678a5aa3\",\"allocationId\":\"2.678a5aa3.1\",\"reportTime\":\"2024-03-01T02:25:"
    "29.352Z\","
    "\"state\":\"STATE_COMPLETED\",\"storageId\":1,\"resources\":{\"code/\":\"0\",\"code/"
    "model_def.py\":\"7142\","
    "\"state_dict.pth\":\"1473867\",\"metadata.json\":\"114\"},\"metadata\":{\"determined_"
    "version\":\"0.38.1\","
    "\"framework\":\"torch-2.3.1\",\"format\":\"pickle\",\"steps_completed\":100},\"training\":{"
    "\"trialId\":4,"
    "\"experimentId\":2,\"searcherMetric\":\"NaN\",\"experimentConfig\":{\"searcher\":{\"name\":"
    "\"single\","
    "\"metric\":\"accuracy\",\"max_length\":{\"batches\":400},\"smaller_is_better\":false}},"
    "\"hparams\":{"
    "\"lr\":0.01},\"trainingMetrics\":{\"avgMetrics\":{\"loss\":0.3533},\"batchMetrics\":[]},"
    "\"validationMetrics\":{"
    "\"avgMetrics\":{\"accuracy\":\"NaN\",\"validation_loss\":\"NaN\"},\"batchMetrics\":[]}}},{"
    "\"uuid\":\"8c497c68-a8c2-4d42-84ef-7febe8e5b461\","
    "\"taskId\":\"2.8c497c68\",\"allocationId\":\"2.8c497c68.1\",\"reportTime\":\"2024-03-01T02:26:"
    "34.6286Z\","
    "\"state\":\"STATE_COMPLETED\",\"storageId\":1,\"resources\":{\"code/\":\"0\",\"code/"
    "model_def.py\":\"6619\","
    "\"state_dict.pth\":\"56162\",\"données/\":\"0\",\"données/poids "
    "ü.bin\":\"268698\",\"metadata.json\":\"88\"}"
    ",\"metadata\":{\"determined_version\":\"0.38.1\",\"framework\":\"torch-2.3.1\",\"format\":"
    "\"pickle\"}"
    ",\"training\":{\"trialId\":4,\"experimentId\":2,\"searcherMetric\":0.74,\"experimentConfig\":{"
    "\"searcher\":{\"name\":\"single\",\"metric\":\"accuracy\",\"max_length\":{\"batches\":400},"
    "\"smaller_is_better\":false}"
    "},\"hparams\":{\"lr\":0.01},\"trainingMetrics\":{\"avgMetrics\":{\"loss\":0.8091},"
    "\"batchMetrics\":["
    "]},\"validationMetrics\":{\"avgMetrics\":{\"accuracy\":0.74,\"validation_loss\":0.26},"
    "\"batchMetrics\":["
    "]}}},{\"uuid\":\"69d495dd-8135-4c53-b0e6-42f43328ad08\",\"taskId\":\"2.69d495dd\","
    "\"allocationId\":\"2.69d495dd.1\","
    "\"reportTime\":\"2024-03-01T02:44:06.852860Z\",\"state\":\"STATE_COMPLETED\",\"storageId\":1,"
    "\"resources\":{\"code/\":\"0\",\"code/"
    "model_def.py\":\"3122\",\"state_dict.pth\":\"27160\",\"données/\":\"0\","
    "\"données/poids "
    "ü.bin\":\"181445\",\"metadata.json\":\"114\"},\"metadata\":{\"determined_version\":\"0.38.1\","
    "\"framework\":\"torch-2.3.1\",\"format\":\"pickle\",\"steps_completed\":100},\"training\":{"
    "\"trialId\":5,"
    "\"experimentId\":2,\"searcherMetric\":null,\"experimentConfig\":{\"searcher\":{\"name\":"
    "\"single\","
    "\"metric\":\"accuracy\",\"max_length\":{\"batches\":400},\"smaller_is_better\":false}},"
    "\"hparams\":{"
    "\"lr\":0.01},\"trainingMetrics\":{\"avgMetrics\":{\"loss\":0.0016},\"batchMetrics\":[]}}}]}";

/* What det prints for them (checked against det's code on tabulate). */
static const char fixture_list[] =
    "   Trial ID |   # of Batches | State     |   Validation Metric | UUID                         "
    "        | Resources           | Size\n"
    "------------+----------------+-----------+---------------------+------------------------------"
    "--------+---------------------+---------\n"
    "          4 |             50 | COMPLETED |                0.61 | "
    "64c2f2e3-9403-460d-97da-e38d9d643c25 | code/               | 25.0KB\n"
    "            |                |           |                     |                              "
    "        | code/model_def.py   |\n"
    "            |                |           |                     |                              "
    "        | données/            |\n"
    "            |                |           |                     |                              "
    "        | données/poids ü.bin |\n"
    "            |                |           |                     |                              "
    "        | state_dict.pth      |\n"
    "          4 |            100 | COMPLETED |              nan    | "
    "678a5aa3-3b6f-4507-8c5f-e8f8dc3bf364 | code/               | 1.4MB\n"
    "            |                |           |                     |                              "
    "        | code/model_def.py   |\n"
    "            |                |           |                     |                              "
    "        | metadata.json       |\n"
    "            |                |           |                     |                              "
    "        | state_dict.pth      |\n"
    "          4 |                | COMPLETED |                0.74 | "
    "8c497c68-a8c2-4d42-84ef-7febe8e5b461 | code/               | 323.8KB\n"
    "            |                |           |                     |                              "
    "        | code/model_def.py   |\n"
    "            |                |           |                     |                              "
    "        | données/            |\n"
    "            |                |           |                     |                              "
    "        | données/poids ü.bin |\n"
    "            |                |           |                     |                              "
    "        | metadata.json       |\n"
    "            |                |           |                     |                              "
    "        | state_dict.pth      |\n"
    "          5 |            100 | COMPLETED |                     | "
    "69d495dd-8135-4c53-b0e6-42f43328ad08 | code/               | 206.9KB\n"
    "            |                |           |                     |                              "
    "        | code/model_def.py   |\n"
    "            |                |           |                     |                              "
    "        | données/            |\n"
    "            |                |           |                     |                              "
    "        | données/poids ü.bin |\n"
    "            |                |           |                     |                              "
    "        | metadata.json       |\n"
    "            |                |           |                     |                              "
    "        | state_dict.pth      |\n";

static const char fixture_first[] =
    "Local checkpoint path:\n"
    "/some/path \n"
    "\n"
    "   Experiment ID |   Trial ID |   Steps Completed | Report Time              | Checkpoint "
    "UUID                      | Validation Metrics              | Metadata\n"
    "-----------------+------------+-------------------+--------------------------+----------------"
    "----------------------+---------------------------------+-------------------------------------"
    "\n"
    "               2 |          4 |                50 | 2024-03-01 02:15:43+0000 | "
    "64c2f2e3-9403-460d-97da-e38d9d643c25 | {                               | {\n"
    "                 |            |                   |                          |                "
    "                      |     \"avgMetrics\": {             |     \"determined_version\": "
    "\"0.38.1\",\n"
    "                 |            |                   |                          |                "
    "                      |         \"accuracy\": 0.61,       |     \"framework\": "
    "\"torch-2.3.1\",\n"
    "                 |            |                   |                          |                "
    "                      |         \"validation_loss\": 0.39 |     \"format\": \"pickle\",\n"
    "                 |            |                   |                          |                "
    "                      |     },                          |     \"steps_completed\": 50\n"
    "                 |            |                   |                          |                "
    "                      |     \"batchMetrics\": []          | }\n"
    "                 |            |                   |                          |                "
    "                      | }                               |\n";

static void test_checkpoint_list(void)
{
    json_t *root = parse(fixture);
    json_t *cps = json_object_get(root, "checkpoints");
    capture c;
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_list(c.f, cps, NULL, false), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c), fixture_list);
    cap_free(&c);

    /* The metric named by the daemon wins over the config's. */
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_list(c.f, cps, "validation_loss", true), 0);
    const char *csv = cap_text(&c);
    CKT_ASSERT(strncmp(csv,
                       "Trial ID,# of Batches,State,Validation Metric,UUID,Resources,Size\r\n"
                       "4,50,COMPLETED,0.39,64c2f2e3-9403-460d-97da-e38d9d643c25,\"code/\n",
                       strlen("Trial ID,# of Batches,State,Validation Metric,UUID,Resources,Size"
                              "\r\n4,50,COMPLETED,0.39,64c2f2e3-9403-460d-97da-e38d9d643c25,"
                              "\"code/\n")) == 0);
    CKT_ASSERT(strstr(csv, "state_dict.pth\",25.0KB\r\n4,100,COMPLETED,NaN,") != NULL);
    /* No validation at all: empty, as det shows it. */
    CKT_ASSERT(strstr(csv, "\r\n5,100,COMPLETED,,69d495dd-") != NULL);
    cap_free(&c);
    json_decref(root);
}

static void test_checkpoint_view(void)
{
    json_t *root = parse(fixture);
    json_t *cp = json_array_get(json_object_get(root, "checkpoints"), 0);
    capture c;
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_checkpoint(c.f, cp, "/some/path"), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c), fixture_first);
    cap_free(&c);
    CKT_ASSERT_STR_EQ(ckc_det_searcher_metric(cp), "accuracy");

    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_resources(c.f, cp), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c), " Path                |   Size\n"
                                    "---------------------+--------\n"
                                    " code/               |\n"
                                    " code/model_def.py   |   4314\n"
                                    " données/            |\n"
                                    " données/poids ü.bin |   6450\n"
                                    " state_dict.pth      |  14873\n"
                                    "3 files, 25.6kB\n");
    cap_free(&c);
    json_decref(root);

    /* Everything missing or null: blank cells, "{}" metadata, no Validation
     * Metrics without training (det's None), a bad time as sent. */
    cp = parse("{\"uuid\":\"u1\",\"state\":null,\"reportTime\":\"yesterday\",\"metadata\":null,"
               "\"training\":null,\"resources\":null}");
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_checkpoint(c.f, cp, NULL), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c),
                      " Experiment ID   | Trial ID   | Steps Completed   | Report Time   | "
                      "Checkpoint UUID   | Validation Metrics   | Metadata\n"
                      "-----------------+------------+-------------------+---------------+-"
                      "------------------+----------------------+------------\n"
                      "                 |            |                   | yesterday     | u1  "
                      "              |                      | {}\n");
    cap_free(&c);
    json_t *one = json_pack("[O]", cp);
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_list(c.f, one, NULL, false), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c),
                      /* columns with nothing in them are text: headers to the left */
                      " Trial ID   | # of Batches   | State       | Validation Metric   | UUID   | "
                      "Resources   | Size\n"
                      "------------+----------------+-------------+---------------------+--------+-"
                      "------------+--------\n"
                      "            |                | UNSPECIFIED |                     | u1     | "
                      "            |\n");
    cap_free(&c);
    json_decref(one);
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_resources(c.f, cp), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c), " Path   | Size\n--------+--------\n0 files, 0B\n");
    cap_free(&c);
    json_decref(cp);

    /* Training without validation metrics shows "{}"; the list leaves the
     * metric empty (det never shows the searcher metric in its place); a
     * size that is no number shows "?". */
    cp =
        parse("{\"uuid\":\"u2\",\"state\":\"STATE_COMPLETED\",\"metadata\":{\"steps_completed\":7},"
              "\"training\":{\"trialId\":9,\"experimentId\":3,\"searcherMetric\":0.25},"
              "\"resources\":{\"a\":\"1\",\"b\":\"lots\"}}");
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_checkpoint(c.f, cp, NULL), 0);
    CKT_ASSERT(strstr(cap_text(&c), "| {}                   | {\n") != NULL);
    cap_free(&c);
    one = json_pack("[O]", cp);
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_list(c.f, one, NULL, true), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c),
                      "Trial ID,# of Batches,State,Validation Metric,UUID,Resources,Size\r\n"
                      "9,7,COMPLETED,,u2,\"a\nb\",?\r\n");
    cap_free(&c);
    json_decref(one);
    json_decref(cp);
}

static void test_sizeof_fmt_and_paths(void)
{
    /* det's common/util.py sizeof_fmt: 1024-based, "%3.1f%sB". */
    static const struct {
        double v;
        const char *want;
    } sizes[] = {
        {0, "0.0B"},
        {1, "1.0B"},
        {1023, "1023.0B"},
        {1024, "1.0KB"},
        {329800, "322.1KB"},
        {3250000, "3.1MB"},
        {1048575, "1024.0KB"},
        {1073741824.0, "1.0GB"},
        {1.5 * 1125899906842624.0, "1.5PB"},
        {1208925819614629174706176.0, "1.0YB"},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char b[32];
        ckc_det_sizeof_fmt(b, sizeof b, sizes[i].v);
        CKT_ASSERT_STR_EQ(b, sizes[i].want);
    }
    /* Paths as det prints them: str(pathlib.Path(given) / uuid). */
    static const struct {
        const char *given, *uuid, *want;
    } paths[] = {
        {NULL, "u1", "checkpoints/u1"},
        {"out", NULL, "out"},
        {"out/", NULL, "out"},
        {"./out//x/.", NULL, "out/x"},
        {"../up", "u1", "../up/u1"},
        {"/abs/dir/", "u1", "/abs/dir/u1"},
        {"///abs", NULL, "/abs"},
        {"//abs", NULL, "//abs"},
        {".", NULL, "."},
        {".", "u1", "u1"},
        {"/", NULL, "/"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *got = ckc_det_display_path(paths[i].given, paths[i].uuid);
        CKT_ASSERT(got != NULL);
        CKT_ASSERT_STR_EQ(got, paths[i].want);
        free(got);
    }
}

static void test_list_metric_cell(void)
{
    /* The named metric present, null, missing; no fallback anywhere. */
    json_t *cps =
        parse("[{\"uuid\":\"a\",\"state\":\"STATE_ACTIVE\",\"metadata\":{},\"resources\":{},"
              "\"training\":{\"trialId\":1,\"searcherMetric\":0.5,"
              "\"validationMetrics\":{\"avgMetrics\":{\"loss\":null}}}},"
              "{\"uuid\":\"b\",\"state\":\"STATE_DELETED\",\"metadata\":{},\"resources\":{},"
              "\"training\":{\"trialId\":1,\"searcherMetric\":0.5,"
              "\"validationMetrics\":{\"avgMetrics\":{\"acc\":1}}}}]");
    capture c;
    cap_open(&c);
    CKT_ASSERT_INT_EQ(ckc_det_print_list(c.f, cps, "loss", true), 0);
    CKT_ASSERT_STR_EQ(cap_text(&c),
                      "Trial ID,# of Batches,State,Validation Metric,UUID,Resources,Size\r\n"
                      "1,,ACTIVE,None,a,,0.0B\r\n"
                      "1,,DELETED,,b,,0.0B\r\n");
    cap_free(&c);
    json_decref(cps);
}

int main(void)
{
    CKT_RUN(test_fmt_double);
    CKT_RUN(test_fmt_time);
    CKT_RUN(test_json_pretty);
    CKT_RUN(test_scalar);
    CKT_RUN(test_parse_size);
    CKT_RUN(test_resources);
    CKT_RUN(test_table_types);
    CKT_RUN(test_table_text_columns);
    CKT_RUN(test_csv);
    CKT_RUN(test_checkpoint_list);
    CKT_RUN(test_checkpoint_view);
    CKT_RUN(test_sizeof_fmt_and_paths);
    CKT_RUN(test_list_metric_cell);
    CKT_DONE();
}
