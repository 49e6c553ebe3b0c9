/* The pins file: one reading rule, one writer. See pins.h. */
#include "pins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *ckd_pins_line(char *line)
{
    size_t n = strcspn(line, "\r\n");
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
    while (n > 1 && line[n - 1] == '/') n--;
    line[n] = '\0';
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '\0' || *s == '#') return NULL;
    return s;
}

json_t *ckd_pins_read(const char *path)
{
    json_t *list = json_array();
    FILE *fp = list && path ? fopen(path, "re") : NULL;
    char line[PATH_MAX + 64];
    while (fp && fgets(line, sizeof(line), fp)) {
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            /* Longer than any path: skip the rest of it, it names nothing. */
            int ch;
            while ((ch = fgetc(fp)) != EOF && ch != '\n') {
            }
            continue;
        }
        const char *entry = ckd_pins_line(line);
        if (entry && json_array_append_new(list, json_string(entry)) < 0) {
            json_decref(list);
            list = NULL;
            break;
        }
    }
    if (fp) fclose(fp);
    return list;
}

int ckd_pins_write(const char *path, const json_t *list)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return -ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *fp = fopen(tmp, "we");
    int rc = fp ? 0 : -errno;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (fp && s && fprintf(fp, "%s\n", s) < 0) rc = -EIO;
    }
    if (fp && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) rc = -errno;
    if (fp && fclose(fp) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc < 0) unlink(tmp);
    free(tmp);
    return rc;
}

int ckd_pins_match(const json_t *list, const char *dir, const char *uuid)
{
    size_t dlen = dir ? strlen(dir) : 0;
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (!s) continue;
        if (strcmp(s, uuid) == 0) return 1;
        if (dir && strncmp(s, dir, dlen) == 0 && s[dlen] == '/' && strcmp(s + dlen + 1, uuid) == 0)
            return 1;
    }
    return 0;
}

int ckd_pins_has(const char *path, const char *dir, const char *uuid)
{
    if (!path) return 0;
    json_t *list = ckd_pins_read(path);
    int hit = list ? ckd_pins_match(list, dir, uuid) : 0;
    json_decref(list);
    return hit;
}
