/* pins: the checkpoints that retention never removes.
 *
 * The pins file (<state-dir>/pins) holds one entry a line: a checkpoint
 * uuid, or the path of a checkpoint's directory. Every reader applies one
 * rule to a line: the line end (LF or CRLF) goes, then the blanks (spaces,
 * tabs) around the entry, then trailing '/' (a lone "/" stays); an empty
 * line or one starting with '#' is no entry. `ckpt pin` writes it (rpc.c),
 * prefetch reads it from worker threads before removing anything
 * (follow_tidy.c, follow_budget.c): the functions here touch nothing but
 * the file. */
#ifndef CKD_PINS_H
#define CKD_PINS_H

#include <stddef.h>
#include <jansson.h>

/* The file's name in the state directory. */
#define CKD_PINS_FILE "pins"

/* The entry of one line, trimmed in place (see above), or NULL when the
 * line holds none. */
char *ckd_pins_line(char *line);

/* Every entry of the pins file at path, in file order, as a JSON array of
 * strings; a missing or unreadable file has none. NULL when out of memory. */
json_t *ckd_pins_read(const char *path);

/* Replaces the file with list (strings, one a line) atomically: a
 * temporary beside it, fsync, rename. Returns 0 or a negative errno. */
int ckd_pins_write(const char *path, const json_t *list);

/* Whether checkpoint uuid, downloaded to dir/uuid, is pinned in list: an
 * entry equal to uuid, or to dir/uuid. */
int ckd_pins_match(const json_t *list, const char *dir, const char *uuid);

/* ckd_pins_match over the file at path (NULL: nothing is pinned). Safe on
 * any thread. */
int ckd_pins_has(const char *path, const char *dir, const char *uuid);

#endif
