/* The daemon's settings file: JSON, read once at start.
 *
 * Which file: --config PATH (it must exist), else the first that exists of
 * $XDG_CONFIG_HOME/ckptd/config.json (~/.config/ckptd/config.json when
 * XDG_CONFIG_HOME is unset) and /etc/ckptd/config.json; none is fine.
 *
 * Its keys: every runtime setting (config.h: integers, within their bounds)
 * and the start options below. Where a setting comes from, last wins:
 * built-in defaults, this file, then the values changed with `ckpt config
 * set` (kept in <state dir>/config.json); a command-line option beats the
 * file. An unknown key or a value of the wrong type or range is an error
 * naming the key: the daemon does not start. */
#ifndef CKD_CONFIG_FILE_H
#define CKD_CONFIG_FILE_H

#include <stddef.h>

#include "config.h"

/* The start options a file may set (NULL / 0: not set). Strings malloc'd. */
typedef struct ckd_config_file {
    char *path;               /* the file read, NULL when none */
    char *socket;             /* "socket" */
    char *state_dir;          /* "state_dir" */
    char *log_level;          /* "log_level": error, warn, info or debug */
    char *master;             /* "master": the Determined master's URL */
    char *master_ca;          /* "master_ca": CA bundle for an https master */
    char *metrics_file;       /* "metrics_file": Prometheus text file (metrics.h) */
    int64_t metrics_interval; /* "metrics_interval": seconds, 0 = default */
} ckd_config_file;

/* The file to read: explicit when given, else the first default that
 * exists; NULL when none (malloc'd). */
char *ckd_config_file_find(const char *explicit_path);

/* Reads path into *f and its runtime settings into *cfg (both changed only
 * on success). 0, or -errno with "'<path>': <reason naming the key>" in why. */
int ckd_config_file_load(const char *path, ckd_config_file *f, ckd_config *cfg, char *why,
                         size_t whylen);

void ckd_config_file_release(ckd_config_file *f);

#endif
