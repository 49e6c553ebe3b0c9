/* Unit tests for cli/manifest.c: the checksum lines `ckpt verify` reads —
 * xxhsum's GNU and BSD forms, escaped names, bad hashes, 64- and 32-bit
 * hashes refused as unsupported, CRLF line ends. */
#include <errno.h>

#include "ckt_test.h"
#include "xxhsum.h"

#define H128 "0123456789abcdef0123456789abcdef"

/* Parses a copy of text (as getline hands it over, newline included). */
static int parse(const char *text, char *buf, size_t buflen, ckp_mf_entry *e, const char **why)
{
    size_t len = strlen(text);
    CKT_ASSERT(len < buflen);
    memcpy(buf, text, len + 1);
    memset(e, 0, sizeof *e);
    *why = NULL;
    return ckp_xxhsum_parse_line(buf, len, e, why);
}

static void expect_entry(const char *text, const char *hex, const char *path)
{
    char buf[512];
    ckp_mf_entry e;
    const char *why;
    int rc = parse(text, buf, sizeof buf, &e, &why);
    if (rc != CKP_MF_ENTRY) CKT_FAIL("'%s': rc %d: %s", text, rc, why ? why : "(no reason)");
    CKT_ASSERT_STR_EQ(e.hex, hex);
    CKT_ASSERT_MEM_EQ(e.path, e.path_len, path, strlen(path));
    CKT_ASSERT_INT_EQ(e.path[e.path_len], '\0');
}

/* Expects an error rc whose reason holds part. */
static void expect_error(const char *text, int want, const char *part)
{
    char buf[512];
    ckp_mf_entry e;
    const char *why;
    int rc = parse(text, buf, sizeof buf, &e, &why);
    if (rc != want) CKT_FAIL("'%s': rc %d, expected %d", text, rc, want);
    CKT_ASSERT(why != NULL);
    if (!strstr(why, part)) CKT_FAIL("'%s': reason '%s' lacks '%s'", text, why, part);
}

static void test_gnu(void)
{
    expect_entry(H128 "  model.bin\n", H128, "model.bin");
    expect_entry(H128 "  dir/sub/données ü.bin\n", H128, "dir/sub/données ü.bin");
    expect_entry(H128 "  no newline at the end", H128, "no newline at the end");
    /* uppercase hex is accepted and compared lowercase */
    expect_entry("0123456789ABCDEF0123456789ABCDEF  up.bin\n", H128, "up.bin");
    /* the binary-mode marker of GNU tools */
    expect_entry(H128 " *bin.dat\n", H128, "bin.dat");
    /* a name may start with spaces and hold any byte but NUL */
    expect_entry(H128 "   leading space\n", H128, " leading space");
    /* without the leading '\' a backslash is just a byte of the name */
    expect_entry(H128 "  back\\slash\n", H128, "back\\slash");
    /* what looks like a BSD tail is part of a GNU name */
    expect_entry(H128 "  a (b) = c\n", H128, "a (b) = c");
}

static void test_bsd(void)
{
    expect_entry("XXH128 (model.bin) = " H128 "\n", H128, "model.bin");
    expect_entry("XXH128 (dir/a b.bin) = " H128 "\n", H128, "dir/a b.bin");
    /* the last ") = " ends the name */
    expect_entry("XXH128 (odd) = name) = " H128 "\n", H128, "odd) = name");
    expect_entry("XXH128 (x) = 0123456789ABCDEF0123456789ABCDEF\n", H128, "x");
    expect_error("XXH128 () = " H128 "\n", -EINVAL, "no file name");
    expect_error("XXH128 (x) " H128 "\n", -EINVAL, "') = '");
    expect_error("SHA256 (x) = " H128 "\n", -EINVAL, "unknown hash algorithm");
    expect_error("XXH128 (x) = 0123\n", -EINVAL, "32 hex digits");
}

static void test_escaped(void)
{
    /* xxhsum: a leading '\', then "\\" for a backslash and "\n" for a newline */
    expect_entry("\\" H128 "  a\\nb\n", H128, "a\nb");
    expect_entry("\\" H128 "  back\\\\slash\n", H128, "back\\slash");
    expect_entry("\\" H128 "  \\\\\\n\\\\n\n", H128, "\\\n\\n");
    expect_entry("\\XXH128 (line\\nbreak) = " H128 "\n", H128, "line\nbreak");
    expect_error("\\" H128 "  bad\\tescape\n", -EINVAL, "unknown escape");
    expect_error("\\" H128 "  trailing\\\n", -EINVAL, "backslash ends");
}

static void test_bad_hex(void)
{
    expect_error("0123456789abcdef0123456789abcdeg  x\n", -EINVAL, "not hexadecimal");
    expect_error("0123456789abcdef0123456789abcde  x\n", -EINVAL, "32 hex digits");
    expect_error("0123456789abcdef0123456789abcdef0  x\n", -EINVAL, "32 hex digits");
    expect_error("XXH128 (x) = 0123456789abcdef0123456789abcdeZ\n", -EINVAL, "not hexadecimal");
    expect_error(H128 "\n", -EINVAL, "no file name");
    expect_error(H128 " \n", -EINVAL, "no file name");
    expect_error(H128 "  \n", -EINVAL, "no file name");
    expect_error(H128 " x\n", -EINVAL, "two spaces");
    expect_error("  " H128 "  x\n", -EINVAL, "no hash");
    expect_error("just some words\n", -EINVAL, "not hexadecimal");
    expect_error("# a comment\n", -EINVAL, "not hexadecimal");

    /* a NUL byte inside the line */
    char buf[64];
    memcpy(buf, H128 "  a\0b\n", 38);
    ckp_mf_entry e;
    const char *why = NULL;
    CKT_ASSERT_INT_EQ(ckp_xxhsum_parse_line(buf, 37, &e, &why), -EINVAL);
    CKT_ASSERT(why && strstr(why, "NUL"));
}

static void test_unsupported(void)
{
    /* xxhsum -H1 (XXH64) and -H3 (XXH3_64): 16 hex digits */
    expect_error("0123456789abcdef  model.bin\n", -ENOTSUP, "64-bit");
    expect_error("XXH64 (model.bin) = 0123456789abcdef\n", -ENOTSUP, "XXH64");
    expect_error("XXH3 (model.bin) = 0123456789abcdef\n", -ENOTSUP, "XXH3_64");
    /* xxhsum -H0 (XXH32): 8 hex digits */
    expect_error("01234567  model.bin\n", -ENOTSUP, "32-bit");
    expect_error("XXH32 (model.bin) = 01234567\n", -ENOTSUP, "XXH32");
    /* little-endian output (xxhsum --little-endian) */
    expect_error("XXH128_LE (model.bin) = " H128 "\n", -ENOTSUP, "little-endian");
    /* the reason says what is supported */
    expect_error("0123456789abcdef  m\n", -ENOTSUP, "XXH3 128-bit");
}

static void test_crlf_and_blank(void)
{
    expect_entry(H128 "  model.bin\r\n", H128, "model.bin");
    expect_entry("XXH128 (model.bin) = " H128 "\r\n", H128, "model.bin");
    expect_entry("\\" H128 "  a\\nb\r\n", H128, "a\nb");
    /* only one CR is a line end; a name may end in another */
    expect_entry(H128 "  cr\r\r\n", H128, "cr\r");

    char buf[64];
    ckp_mf_entry e;
    const char *why;
    CKT_ASSERT_INT_EQ(parse("\n", buf, sizeof buf, &e, &why), CKP_MF_BLANK);
    CKT_ASSERT_INT_EQ(parse("\r\n", buf, sizeof buf, &e, &why), CKP_MF_BLANK);
    CKT_ASSERT_INT_EQ(parse("  \t \n", buf, sizeof buf, &e, &why), CKP_MF_BLANK);
    CKT_ASSERT_INT_EQ(parse("", buf, sizeof buf, &e, &why), CKP_MF_BLANK);
}

static void test_reason_optional(void)
{
    char buf[64] = "zz  x\n";
    ckp_mf_entry e;
    CKT_ASSERT_INT_EQ(ckp_xxhsum_parse_line(buf, strlen(buf), &e, NULL), -EINVAL);
}

int main(void)
{
    CKT_RUN(test_gnu);
    CKT_RUN(test_bsd);
    CKT_RUN(test_escaped);
    CKT_RUN(test_bad_hex);
    CKT_RUN(test_unsupported);
    CKT_RUN(test_crlf_and_blank);
    CKT_RUN(test_reason_optional);
    CKT_DONE();
}
