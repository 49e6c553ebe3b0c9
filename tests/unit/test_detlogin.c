/* Unit tests for proto/detlogin.c: det's canonical master URL, det's token
 * store (auth.json, versions 0-2, what det refuses as corrupt) and det's
 * choice of user and secret from the environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckt_test.h"
#include "detlogin.h"

static char dir[] = "/tmp/ckt-detlogin-XXXXXX";

static void test_canon(void)
{
    struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"localhost:8080", "http://localhost:8080"},
        {"det.example", "http://det.example:8080"}, /* det's default port without a scheme */
        {"http://Det.Example", "http://det.example:80"},
        {"https://h/", "https://h:443"},
        {"http://h:8081/api/base//", "http://h:8081/api/base"},
        {"[::1]:9000", "http://[::1]:9000"},
        {"https://[::1]", "https://[::1]:443"},
        {"http://u:p@h:8080", NULL},
        {"http://h:8080?x=1", NULL},
        {"http://h:8080/#f", NULL},
        {"ftp://h", NULL},
        {"http://h:0", NULL},
        {"http://h:65536", NULL},
        {"http://h:", NULL},
        {"http://h:8o", NULL},
        {"http://", NULL},
        {"", NULL},
        {"http://h h", NULL},
        {"http://[::1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[CKP_MASTER_URL_MAX];
        const char *why = NULL;
        int rc = ckp_master_url_canon(cases[i].in, out, sizeof out, &why);
        if (!cases[i].want) {
            if (rc != -EINVAL || !why) CKT_FAIL("'%s' accepted as '%s'", cases[i].in, out);
            continue;
        }
        if (rc != 0) CKT_FAIL("'%s' refused: %s", cases[i].in, why);
        CKT_ASSERT_STR_EQ(out, cases[i].want);
    }
    char small[12];
    const char *why;
    CKT_ASSERT_INT_EQ(ckp_master_url_canon("http://long-host:8080", small, sizeof small, &why),
                      -EINVAL);
}

static int find(const char *store, const char *url, const char *user, char **active, char **token)
{
    const char *why = NULL;
    int rc = ckp_det_store_find(store, strlen(store), url, user, active, token, &why);
    if (rc == -EINVAL && !why) CKT_FAIL("no reason for a refused store");
    return rc;
}

static void test_store(void)
{
    char *a, *t;
    const char *v2 = "{\"version\":2,\"masters\":{"
                     "\"http://m:8080\":{\"active_user\":\"alice\",\"tokens\":{\"alice\":\"TA\","
                     "\"bob\":\"TB\"}},"
                     "\"http://other:8080\":{\"tokens\":{\"zed\":\"TZ\"}}}}";
    CKT_ASSERT_INT_EQ(find(v2, "http://m:8080", NULL, &a, &t), 0);
    CKT_ASSERT_STR_EQ(a, "alice");
    CKT_ASSERT_STR_EQ(t, "TA");
    free(a), free(t);
    CKT_ASSERT_INT_EQ(find(v2, "http://m:8080", "bob", &a, &t), 0);
    CKT_ASSERT_STR_EQ(t, "TB");
    free(a), free(t);
    CKT_ASSERT_INT_EQ(find(v2, "http://m:8080", "carol", &a, &t), 0);
    CKT_ASSERT(t == NULL);
    free(a);
    CKT_ASSERT_INT_EQ(find(v2, "http://other:8080", NULL, &a, &t), 0);
    CKT_ASSERT(a == NULL && t == NULL); /* no active user there */
    CKT_ASSERT_INT_EQ(find(v2, "http://nowhere:8080", NULL, &a, &t), 0);
    CKT_ASSERT(a == NULL && t == NULL);

    /* v1 keys are whatever users typed: det canonicalizes them first. */
    const char *v1 = "{\"version\":1,\"masters\":{\"m:8080\":{\"active_user\":\"u\","
                     "\"tokens\":{\"u\":\"T1\"}}}}";
    CKT_ASSERT_INT_EQ(find(v1, "http://m:8080", NULL, &a, &t), 0);
    CKT_ASSERT_STR_EQ(t, "T1");
    free(a), free(t);
    /* v0: one entry, for whichever master det is asked about. */
    const char *v0 = "{\"active_user\":\"u\",\"tokens\":{\"u\":\"T0\"}}";
    CKT_ASSERT_INT_EQ(find(v0, "https://any:443", NULL, &a, &t), 0);
    CKT_ASSERT_STR_EQ(t, "T0");
    free(a), free(t);

    /* What det's validators refuse (and det then deletes; ckptd only warns). */
    const char *corrupt[] = {
        "[]",
        "not json",
        "{\"version\":3,\"masters\":{}}",
        "{\"version\":2,\"masters\":{},\"extra\":1}",
        "{\"version\":2,\"masters\":[]}",
        "{\"version\":2,\"masters\":{\"http://m:8080\":{\"tokens\":{\"u\":1}}}}",
        "{\"version\":2,\"masters\":{\"http://m:8080\":{\"active_user\":7}}}",
        "{\"version\":2,\"masters\":{\"http://m:8080\":{\"tokens\":{},\"x\":1}}}",
        "{\"active_user\":\"u\",\"other\":1}",
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        if (find(corrupt[i], "http://m:8080", NULL, &a, &t) != -EINVAL)
            CKT_FAIL("store %zu accepted: %s", i, corrupt[i]);
        CKT_ASSERT(a == NULL && t == NULL);
    }
}

static void write_store(const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/auth.json", dir);
    ckt_write_file(p, text);
}

/* Runs det's choice with this environment; NULL unsets. */
static void choose(const char *user, const char *pass, const char *utoken, ckp_det_login *l,
                   char **warn)
{
    user ? setenv("DET_USER", user, 1) : unsetenv("DET_USER");
    pass ? setenv("DET_PASS", pass, 1) : unsetenv("DET_PASS");
    utoken ? setenv("DET_USER_TOKEN", utoken, 1) : unsetenv("DET_USER_TOKEN");
    CKT_ASSERT_INT_EQ(ckp_det_login_from_env("http://m:8080", l, warn), 0);
}

static void test_login_choice(void)
{
    ckp_det_login l;
    char *warn;
    setenv("DET_DEBUG_CONFIG_PATH", dir, 1);

    /* No store: the default user, empty password. */
    choose(NULL, NULL, NULL, &l, &warn);
    CKT_ASSERT(warn == NULL);
    CKT_ASSERT_STR_EQ(l.user, "determined");
    CKT_ASSERT_STR_EQ(l.password, "");
    CKT_ASSERT(l.token == NULL);
    ckp_det_login_release(&l);
    /* DET_USER alone is ignored, as det does; DET_PASS alone too. */
    choose("alice", NULL, NULL, &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "determined");
    ckp_det_login_release(&l);
    choose(NULL, "pw", NULL, &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "determined");
    CKT_ASSERT_STR_EQ(l.password, "");
    ckp_det_login_release(&l);
    /* Together they count. */
    choose("alice", "pw", NULL, &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "alice");
    CKT_ASSERT_STR_EQ(l.password, "pw");
    CKT_ASSERT_STR_EQ(l.from, "DET_USER/DET_PASS");
    ckp_det_login_release(&l);
    /* DET_USER with its DET_USER_TOKEN, when nothing is stored. */
    choose("bob", NULL, "UT", &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "bob");
    CKT_ASSERT_STR_EQ(l.token, "UT");
    CKT_ASSERT(l.password == NULL);
    ckp_det_login_release(&l);

    write_store("{\"version\":2,\"masters\":{\"http://m:8080\":{\"active_user\":\"carol\","
                "\"tokens\":{\"carol\":\"TC\",\"alice\":\"TA\",\"determined\":\"TD\"}}}}");
    /* The store's active user and token. */
    choose(NULL, NULL, NULL, &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "carol");
    CKT_ASSERT_STR_EQ(l.token, "TC");
    CKT_ASSERT(l.password == NULL);
    ckp_det_login_release(&l);
    /* DET_USER+DET_PASS: that user's stored token first, the password too. */
    choose("alice", "pw", "UT", &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "alice");
    CKT_ASSERT_STR_EQ(l.token, "TA");
    CKT_ASSERT_STR_EQ(l.password, "pw");
    ckp_det_login_release(&l);
    /* The stored token wins over DET_USER_TOKEN. */
    choose("carol", NULL, "UT", &l, &warn);
    CKT_ASSERT_STR_EQ(l.token, "TC");
    ckp_det_login_release(&l);

    /* The default user's stored token, when there is no active user. */
    write_store("{\"version\":2,\"masters\":{\"http://m:8080\":{\"tokens\":{\"determined\":"
                "\"TD\"}}}}");
    choose(NULL, NULL, NULL, &l, &warn);
    CKT_ASSERT_STR_EQ(l.user, "determined");
    CKT_ASSERT_STR_EQ(l.token, "TD");
    ckp_det_login_release(&l);

    /* A corrupt store: a warning, and the choice without it. */
    write_store("{\"version\":2,\"masters\":{\"http://m:8080\":{\"tokens\":{\"u\":1}}}}");
    choose(NULL, NULL, NULL, &l, &warn);
    CKT_ASSERT(warn != NULL && strstr(warn, "auth.json") && strstr(warn, "not in the format"));
    CKT_ASSERT_STR_EQ(l.user, "determined");
    free(warn);
    ckp_det_login_release(&l);

    /* Where det looks: DET_DEBUG_CONFIG_PATH, else XDG_CONFIG_HOME, else HOME. */
    char *p = ckp_det_store_path();
    char want[300];
    snprintf(want, sizeof want, "%s/auth.json", dir);
    CKT_ASSERT_STR_EQ(p, want);
    free(p);
    unsetenv("DET_DEBUG_CONFIG_PATH");
    setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
    p = ckp_det_store_path();
    CKT_ASSERT_STR_EQ(p, "/x/cfg/determined/auth.json");
    free(p);
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/home/u", 1);
    p = ckp_det_store_path();
    CKT_ASSERT_STR_EQ(p, "/home/u/.config/determined/auth.json");
    free(p);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    CKT_RUN(test_canon);
    CKT_RUN(test_store);
    CKT_RUN(test_login_choice);
    char p[256];
    snprintf(p, sizeof p, "%s/auth.json", dir);
    unlink(p);
    rmdir(dir);
    CKT_DONE();
}
