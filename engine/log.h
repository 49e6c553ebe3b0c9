/* Leveled logging to stderr. Messages are lowercase, subject quoted. Never
 * pass secrets (tokens, passwords, signed URLs) to these functions. */
#ifndef CKD_LOG_H
#define CKD_LOG_H

enum ckd_log_level { CKD_LOG_ERROR = 0, CKD_LOG_WARN, CKD_LOG_INFO, CKD_LOG_DEBUG };

/* Parses "error", "warn", "info" or "debug"; returns -EINVAL otherwise. */
int ckd_log_parse_level(const char *name);
void ckd_log_set_level(enum ckd_log_level level);
int ckd_log_enabled(enum ckd_log_level level);
void ckd_log(enum ckd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ckd_error(...) ckd_log(CKD_LOG_ERROR, __VA_ARGS__)
#define ckd_warn(...)  ckd_log(CKD_LOG_WARN, __VA_ARGS__)
#define ckd_info(...)  ckd_log(CKD_LOG_INFO, __VA_ARGS__)
#define ckd_debug(...)                                                                             \
    do {                                                                                           \
        if (ckd_log_enabled(CKD_LOG_DEBUG)) ckd_log(CKD_LOG_DEBUG, __VA_ARGS__);                   \
    } while (0)

#endif
