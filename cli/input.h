/* ckc input: what `ckpt fetch` turns into a job's file list.
 *
 * Pure logic, no I/O: URLs from the command line, aria2-style input lists,
 * the file name a URL implies, and the absolute output directory. Built as
 * the small library ckc_input so it can be unit-tested on its own. */
#ifndef CKC_INPUT_H
#define CKC_INPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Length of an XXH3-128 digest in hex. */
#define CKC_XXH128_HEX 32

/* One file to fetch. */
typedef struct ckc_entry {
    char *url;                       /* as given */
    char *path;                      /* relative output path; NULL until derived */
    int named_by_url;                /* path is the URL's own file name (ckp_url_filename) */
    int64_t size;                    /* expected size, -1 when not given */
    char xxh128[CKC_XXH128_HEX + 1]; /* expected digest, lowercase hex, "" when not given */
    const char *origin;              /* list file it came from (borrowed), NULL for argv */
    unsigned line;                   /* line in that list, 0 for argv */
} ckc_entry;

/* The growing list of entries of one fetch. */
typedef struct ckc_input {
    ckc_entry *v;
    size_t n;
    size_t cap;
} ckc_input;

#define CKC_INPUT_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void ckc_input_init(ckc_input *in);
/* Frees every entry and the array; in is empty afterwards. */
void ckc_input_release(ckc_input *in);

/* Appends a URL given on the command line. Returns the new entry through *e
 * (valid until the next append), 0, or -EINVAL (reason in err) or -ENOMEM. */
int ckc_input_add_url(ckc_input *in, const char *url, ckc_entry **e, char *err, size_t errlen);

/* Sets one option of an entry, as an input list's "key=value" line does:
 * "out" (a relative path, checked later by ckc_input_finish), "xxh128" (32
 * hex digits) or "size" (bytes). Returns 0, -EINVAL with the reason in err
 * (unknown key, bad value, option given twice) or -ENOMEM. */
int ckc_entry_set(ckc_entry *e, const char *key, const char *value, char *err, size_t errlen);

/* Parses an aria2-style input list held in text[0..len): one URL per line,
 * followed by option lines that start with a space or tab ("  out=a/b.bin",
 * "  xxh128=<32 hex>", "  size=N"). Blank lines and lines whose first
 * non-blank character is '#' are ignored; CRLF line ends are accepted.
 * origin names the list in messages and must outlive in. Returns 0, or
 * -EINVAL with "'origin' line N: reason" in err, or -ENOMEM. */
int ckc_input_parse_list(ckc_input *in, const char *origin, const char *text, size_t len, char *err,
                         size_t errlen);

/* Completes the entries: derives a path from the URL where none was given
 * (ckp_url_filename),
 * checks every path with ckp_path_check, and refuses two entries with the
 * same path. Returns 0, -EINVAL with the reason in err, or -ENOMEM. */
int ckc_input_finish(ckc_input *in, char *err, size_t errlen);

/* One entry of a job.submit URL source: the URL alone when the daemon takes
 * that (url_names: the hello's "url_names" feature) and the entry says no
 * more than the URL (its path is the URL's own name, no size, no hash), else
 * {"url","path"[,"size"][,"xxh128"]}. NULL when out of memory. */
json_t *ckc_entry_json(const ckc_entry *e, int url_names);

/* Makes dir absolute against cwd (itself absolute, as getcwd returns it):
 * drops empty and "." segments and trailing slashes, and lets a leading ".."
 * climb out of cwd. A ".." after a segment the user wrote is kept, since that
 * segment may be a symlink. Returns 0 and a malloc'd *out, -EINVAL for an
 * empty dir or a relative cwd, or -ENOMEM. */
int ckc_resolve_dir(const char *cwd, const char *dir, char **out);

#endif
