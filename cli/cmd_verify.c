/* ckpt verify and ckpt checkpoint seal: a local copy checked against the
 * hashes recorded in it (locally, like `xxhsum -c`), and the hashes of a
 * verified copy stored in its checkpoint's metadata through ckptd. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckp.h"
#include "cmd.h"
#include "cmd_det.h"
#include "det_login.h"
#include "render.h"
#include "verify.h"

/* The metadata key seal stores its map under. */
#define SEAL_KEY "ckptd.xxh128"

/* ---- output helpers -------------------------------------------------------- */

/* A JSON string of s[0..n); bytes that are not valid UTF-8 become '?'. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v) return v;
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i < n; i++) copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    v = json_stringn(copy, n);
    free(copy);
    return v;
}

static const char *status_word(ckc_vstatus s)
{
    switch (s) {
    case CKC_V_OK:
        return "OK";
    case CKC_V_FAILED:
        return "FAILED";
    case CKC_V_MISSING:
        return "MISSING";
    default:
        return "BAD LINE";
    }
}

/* "NAME: FAILED (why)", the name escaped as xxhsum escapes it (a leading
 * '\' and "\\", "\n") when it holds a backslash or a newline. */
static void print_item(FILE *f, const ckc_vitem *it)
{
    int esc = memchr(it->path, '\n', it->path_len) || memchr(it->path, '\\', it->path_len);
    if (esc) fputc('\\', f);
    for (size_t i = 0; i < it->path_len; i++) {
        char c = it->path[i];
        if (esc && c == '\\')
            fputs("\\\\", f);
        else if (esc && c == '\n')
            fputs("\\n", f);
        else
            fputc(c, f);
    }
    fprintf(f, ": %s", status_word(it->status));
    if (it->why[0]) fprintf(f, " (%s)", it->why);
    fputc('\n', f);
}

/* One checked line as JSON. */
static json_t *item_json(const ckc_vitem *it)
{
    static const char *const names[] = {"ok", "failed", "missing", "bad_line"};
    json_t *o = json_pack("{s:I,s:s}", "line", (json_int_t)it->line, "status", names[it->status]);
    if (!o) return NULL;
    int rc = 0;
    if (it->path) rc |= json_object_set_new(o, "path", json_text(it->path, it->path_len));
    if (it->expected[0]) rc |= json_object_set_new(o, "xxh128", json_string(it->expected));
    if (it->actual[0] && it->status != CKC_V_OK)
        rc |= json_object_set_new(o, "actual", json_string(it->actual));
    if (it->why[0]) rc |= json_object_set_new(o, "error", json_string(it->why));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* What went wrong, "1 failed, 2 missing, 1 unusable line", into out. */
static void fmt_failures(char *out, size_t outlen, const ckc_vtotals *t)
{
    size_t len = 0;
    out[0] = '\0';
    if (t->failed) len += (size_t)snprintf(out + len, outlen - len, "%zu failed", t->failed);
    if (t->missing && len < outlen)
        len +=
            (size_t)snprintf(out + len, outlen - len, "%s%zu missing", len ? ", " : "", t->missing);
    if (t->bad_lines && len < outlen)
        snprintf(out + len, outlen - len, "%s%zu unusable %s", len ? ", " : "", t->bad_lines,
                 plural(t->bad_lines, "line", "lines"));
}

/* The separator between dir and a name in it: none when dir ends in '/'. */
static const char *sep(const char *dir)
{
    size_t n = strlen(dir);
    return n > 0 && dir[n - 1] == '/' ? "" : "/";
}

/* Opens DIR for a check; prints why not and returns -1 when it cannot. */
static int open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOTDIR)
            ckc_errorf("'%s' is not a directory", dir);
        else
            ckc_errorf("cannot open '%s': %s", dir, ckc_strerror(errno));
    }
    return fd;
}

/* Reports a failure of ckc_verify_dir() and returns the exit status: 2 when
 * the manifest is missing or cannot be opened, 1 when it cannot be read. */
static int verify_error(int rc, const char *dir, const char *used, const ckc_vtotals *t,
                        const char *missing_msg)
{
    if (rc == -ENOENT && !t->opened) {
        ckc_errorf("%s", missing_msg);
        return CKC_EXIT_USAGE;
    }
    if (rc == -EINVAL && !t->opened) {
        ckc_errorf("'%s%s%s' is not a regular file", dir, sep(dir), used);
        return CKC_EXIT_USAGE;
    }
    if (rc == -E2BIG) {
        ckc_errorf("'%s%s%s' is too large: over 256 MiB", dir, sep(dir), used);
        return CKC_EXIT_FAIL;
    }
    ckc_errorf("cannot %s '%s%s%s': %s", t->opened ? "read" : "open", dir, sep(dir),
               used ? used : "", ckc_strerror(-rc));
    return t->opened ? CKC_EXIT_FAIL : CKC_EXIT_USAGE;
}

/* ---- ckpt verify ----------------------------------------------------------- */

static const char verify_usage[] =
    "usage: ckpt verify DIR [-v] [--json]\n"
    "\n"
    "Checks a local copy of a checkpoint against the hashes recorded in it, as\n"
    "'xxhsum -c' does, without the daemon. The hashes come from the first of\n"
    "  DIR/.ckptd.xxh128     the manifest ckptd writes into every checkpoint\n"
    "  DIR/checksums.xxh128  one the checkpoint ships: \"<hex>  <path>\" or\n"
    "                        \"XXH128 (<path>) = <hex>\" lines (xxhsum -H2)\n"
    "Only XXH3 128-bit hashes are supported. Every listed file must exist, be a\n"
    "regular file inside DIR (no absolute paths, no '..', no symbolic links) and\n"
    "have the listed hash; files the manifest does not list are not looked at.\n"
    "\n"
    "Prints each file that does not verify (\"PATH: FAILED\", \"PATH: MISSING\"),\n"
    "then a summary. Exits 0 when every file matches, 1 when one does not or a\n"
    "line cannot be used, 2 for a usage error or when DIR has no manifest.\n"
    "\n"
    "options:\n"
    "  -v, --verbose   list the files that match too (\"PATH: OK\")\n"
    "      --json      print one JSON object: the manifest, the counts, and\n"
    "                  every line with its status and hashes\n";

/* Reports an unusable manifest line: "'DIR/NAME' line 3: why". The manifest
 * in use is known (*used) before its first line is read. */
static void print_bad_line(const char *dir, const char *used, const ckc_vitem *it)
{
    ckc_errorf("'%s%s%s' line %lu: %s", dir, sep(dir), used ? used : "", it->line, it->why);
}

typedef struct verify_ctx {
    const char *dir;
    const char *const *used; /* the manifest in use */
    int verbose;
    json_t *files; /* --json: the items, or NULL */
    int oom;
} verify_ctx;

static void on_verified(const ckc_vitem *it, void *arg)
{
    verify_ctx *v = arg;
    if (v->files) {
        if (json_array_append_new(v->files, item_json(it)) < 0) v->oom = 1;
    } else if (it->status == CKC_V_BAD_LINE) {
        print_bad_line(v->dir, *v->used, it);
    } else if (it->status != CKC_V_OK || v->verbose) {
        print_item(stdout, it);
    }
}

int ckc_cmd_verify(int argc, char **argv, ckc_opts *o)
{
    static const struct option longopts[] = {{"verbose", no_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    const char *cmd = argv[0];
    const char *used = NULL;
    verify_ctx v = {.dir = NULL, .used = &used, .verbose = 0, .files = NULL, .oom = 0};
    int c;
    while ((c = ckc_getopt(argc, argv, "v", longopts, o, verify_usage)) != -1) {
        if (c == 'v')
            v.verbose = 1;
        else
            return c == 'h' ? CKC_EXIT_OK : CKC_EXIT_USAGE;
    }
    if (argc - optind < 1) return ckc_usage_errorf(cmd, "which directory? give DIR");
    if (argc - optind > 1)
        return ckc_usage_errorf(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *dir = argv[optind];
    if (!*dir) return ckc_usage_errorf(cmd, "empty directory name");

    int dirfd = open_dir(dir);
    if (dirfd < 0) return CKC_EXIT_USAGE;
    if (o->json && !(v.files = json_array())) {
        close(dirfd);
        ckc_errorf("out of memory");
        return CKC_EXIT_FAIL;
    }
    static const char *const manifests[] = {CKC_MANIFEST_CKPTD, CKC_MANIFEST_SHIPPED, NULL};
    ckc_vtotals t;
    v.dir = dir;
    int rc = ckc_verify_dir(dirfd, manifests, &used, on_verified, &v, &t);
    close(dirfd);
    if (rc < 0) {
        json_decref(v.files);
        char msg[4400];
        snprintf(msg, sizeof msg, "'%s' has no checksum manifest: neither '%s' nor '%s'", dir,
                 CKC_MANIFEST_CKPTD, CKC_MANIFEST_SHIPPED);
        return verify_error(rc, dir, used, &t, msg);
    }

    int passed = ckc_verify_passed(&t);
    size_t listed = t.ok + t.failed + t.missing;
    if (v.files) {
        json_t *out =
            json_pack("{s:o,s:s,s:b,s:I,s:I,s:I,s:I,s:o}", "dir", json_text(dir, strlen(dir)),
                      "manifest", used, "verified", passed, "ok", (json_int_t)t.ok, "failed",
                      (json_int_t)t.failed, "missing", (json_int_t)t.missing, "bad_lines",
                      (json_int_t)t.bad_lines, "files", v.files);
        if (!out || v.oom) {
            json_decref(out);
            ckc_errorf("out of memory");
            return CKC_EXIT_FAIL;
        }
        ckc_print_json(out);
        json_decref(out);
        return passed ? CKC_EXIT_OK : CKC_EXIT_FAIL;
    }
    if (passed) {
        printf("%s %zu %s in '%s' %s '%s'\n", listed == 1 ? "the" : "all", listed,
               plural(listed, "file", "files"), dir, plural(listed, "matches", "match"), used);
        return CKC_EXIT_OK;
    }
    if (listed == 0 && t.bad_lines == 0) {
        ckc_errorf("'%s%s%s' lists no files", dir, sep(dir), used);
        return CKC_EXIT_FAIL;
    }
    char what[128];
    fmt_failures(what, sizeof what, &t);
    ckc_errorf("'%s' does not match '%s' (%zu %s listed): %s", dir, used, listed,
               plural(listed, "file", "files"), what);
    return CKC_EXIT_FAIL;
}

/* ---- ckpt checkpoint seal -------------------------------------------------- */

static const char seal_usage[] =
    "usage: ckpt checkpoint seal UUID [DIR] [--json]\n"
    "\n"
    "Stores the hashes of a verified local copy of checkpoint UUID in its user\n"
    "metadata on the Determined master, under the key \"" SEAL_KEY "\": a map from\n"
    "each file's path to its XXH3-128 in hex ('xxhsum -H2'). Downloads by ckptd\n"
    "then check the files against them.\n"
    "\n"
    "DIR (default: checkpoints/UUID) must be a copy ckptd downloaded: its\n"
    ".ckptd.xxh128 manifest is checked first, as 'ckpt verify' does, and nothing\n"
    "is stored unless every file matches and the files are the checkpoint's. A\n"
    "metadata.json that ckptd wrote because the storage had none is left out.\n"
    "Prints \"sealed UUID: N files\".\n"
    "\n"
    "options:\n"
    "      --json    print the daemon's reply (the master's checkpoint) as JSON\n";

typedef struct seal_ctx {
    const char *dir;
    const char *const *used;
    json_t *map; /* path -> hex of every file that matched */
    int oom;
} seal_ctx;

static void on_sealed(const ckc_vitem *it, void *arg)
{
    seal_ctx *s = arg;
    if (it->status == CKC_V_OK) {
        /* A checked path is valid UTF-8 without NUL bytes. */
        if (json_object_set_new(s->map, it->path, json_string(it->actual)) < 0) s->oom = 1;
    } else if (it->status == CKC_V_BAD_LINE) {
        print_bad_line(s->dir, *s->used, it);
    } else {
        fflush(stdout);
        fputs("ckpt: ", stderr);
        print_item(stderr, it);
    }
}

/* Keeps in map only the files the checkpoint lists (resource keys that do
 * not end in '/'). Every one must be in the map, and the map may have no
 * other file than a metadata.json ckptd wrote. Prints why not and returns
 * CKC_EXIT_FAIL, or 0. */
static int match_resources(const char *uuid, const char *dir, json_t *map, const json_t *cp)
{
    const json_t *res = json_object_get(cp, "resources");
    if (!json_is_object(res)) {
        ckc_errorf("checkpoint '%s' lists no files: nothing to compare '%s' with", uuid, dir);
        return CKC_EXIT_FAIL;
    }
    const char *key;
    const json_t *val;
    size_t files = 0;
    json_object_foreach((json_t *)res, key, val)
    {
        size_t len = strlen(key);
        if (len > 0 && key[len - 1] == '/') continue;
        files++;
        if (!json_object_get(map, key)) {
            ckc_errorf("refusing to seal '%s': its file '%s' is not in '%s%s%s'", uuid, key, dir,
                       sep(dir), CKC_MANIFEST_CKPTD);
            return CKC_EXIT_FAIL;
        }
    }
    void *tmp;
    json_t *v;
    json_object_foreach_safe(map, tmp, key, v)
    {
        if (json_object_get(res, key)) continue;
        if (strcmp(key, "metadata.json") == 0) {
            json_object_del(map, key);
            continue;
        }
        ckc_errorf("refusing to seal '%s': '%s' in '%s' is not one of its files", uuid, key, dir);
        return CKC_EXIT_FAIL;
    }
    if (files == 0) {
        ckc_errorf("refusing to seal '%s': the checkpoint lists no files", uuid);
        return CKC_EXIT_FAIL;
    }
    return 0;
}

int ckc_det_checkpoint_seal(int argc, char **argv, ckc_opts *o)
{
    const char *cmd = argv[0];
    int c = ckc_getopt(argc, argv, "", NULL, o, seal_usage);
    if (c == 'h') return CKC_EXIT_OK;
    if (c != -1) return CKC_EXIT_USAGE;
    int n = argc - optind;
    if (n < 1) return ckc_usage_errorf(cmd, "which checkpoint? give its UUID");
    if (n > 2) return ckc_usage_errorf(cmd, "unexpected argument '%s'", argv[optind + 2]);
    const char *uuid = argv[optind];
    const char *why = NULL;
    if (ckp_path_check(uuid, strlen(uuid), &why) < 0 || strchr(uuid, '/'))
        return ckc_usage_errorf(cmd, "invalid checkpoint UUID '%s'", uuid);
    char defdir[4200];
    const char *dir = argv[optind + 1];
    if (n < 2) {
        snprintf(defdir, sizeof defdir, "checkpoints/%s", uuid);
        dir = defdir;
    }
    if (!*dir) return ckc_usage_errorf(cmd, "empty directory name");

    /* The copy first, locally: nothing is asked of the daemon for a copy
     * that does not verify. */
    int dirfd = open_dir(dir);
    if (dirfd < 0) return CKC_EXIT_USAGE;
    const char *used = NULL;
    seal_ctx s = {.dir = dir, .used = &used, .map = json_object(), .oom = 0};
    static const char *const manifests[] = {CKC_MANIFEST_CKPTD, NULL};
    ckc_vtotals t;
    int rc = s.map ? ckc_verify_dir(dirfd, manifests, &used, on_sealed, &s, &t) : -ENOMEM;
    close(dirfd);
    if (rc < 0 || s.oom) {
        json_decref(s.map);
        if (rc == -ENOMEM || s.oom) {
            ckc_errorf("out of memory");
            return CKC_EXIT_FAIL;
        }
        char msg[4600];
        snprintf(msg, sizeof msg,
                 "'%s' has no '%s' manifest: seal needs a copy downloaded by ckptd", dir,
                 CKC_MANIFEST_CKPTD);
        return verify_error(rc, dir, used, &t, msg);
    }
    if (!ckc_verify_passed(&t)) {
        json_decref(s.map);
        size_t listed = t.ok + t.failed + t.missing;
        if (listed == 0 && t.bad_lines == 0) {
            ckc_errorf("refusing to seal '%s': '%s%s%s' lists no files", uuid, dir, sep(dir),
                       CKC_MANIFEST_CKPTD);
        } else {
            char what[128];
            fmt_failures(what, sizeof what, &t);
            ckc_errorf("refusing to seal '%s': '%s' does not match '%s' (%zu %s listed): %s", uuid,
                       dir, CKC_MANIFEST_CKPTD, listed, plural(listed, "file", "files"), what);
        }
        return CKC_EXIT_FAIL;
    }

    ckc_conn conn;
    if (ckc_connect(o, &conn) != 0) {
        json_decref(s.map);
        return CKC_EXIT_FAIL;
    }
    json_t *res = NULL;
    json_t *get = json_pack("{s:s}", "uuid", uuid);
    int status = ckc_det_attach(o, get, NULL);
    if (status == 0) {
        status = ckc_det_call(&conn, "checkpoint.get", get, &res);
    } else {
        json_decref(get);
    }
    if (status == 0) status = match_resources(uuid, dir, s.map, json_object_get(res, "checkpoint"));
    json_decref(res);
    res = NULL;
    size_t sealed = json_object_size(s.map);
    if (status == 0) {
        json_t *params = json_pack("{s:s,s:{s:O}}", "uuid", uuid, "metadata", SEAL_KEY, s.map);
        if (!params) {
            ckc_errorf("cannot build the request: out of memory");
            status = CKC_EXIT_FAIL;
        } else if ((status = ckc_det_attach(o, params, NULL)) != 0) {
            json_decref(params);
        } else {
            status = ckc_det_call(&conn, "checkpoint.add_metadata", params, &res);
        }
    }
    ckc_conn_close(&conn);
    json_decref(s.map);
    if (status != 0) return status;
    if (o->json)
        ckc_print_json(res);
    else
        printf("sealed %s: %zu %s\n", uuid, sealed, plural(sealed, "file", "files"));
    json_decref(res);
    return CKC_EXIT_OK;
}
