/* ckp: the ckptd wire protocol, shared by the daemon and every client.
 *
 * JSON-RPC 2.0, one UTF-8 JSON object per line. This header is the whole
 * public surface: framing (a pure, resumable line splitter with a hard cap),
 * message parsing and building, the error table, and path validation.
 * See PROTOCOL.md for the methods. */
#ifndef CKP_H
#define CKP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define CKP_PROTOCOL_VERSION 1
/* Hard cap on one protocol line, newline excluded. Checked before buffering. */
#define CKP_MAX_LINE (1024 * 1024)

/* ---- errors ------------------------------------------------------------ */

/* JSON-RPC error codes: the standard ones, then the project's own. One table
 * yields the enum, the wire name and the default message. */
#define CKP_RPC_ERROR_MAP(X)                                                                       \
    X(PARSE_ERROR, -32700, "parse_error", "parse error")                                           \
    X(INVALID_REQUEST, -32600, "invalid_request", "invalid request")                               \
    X(METHOD_NOT_FOUND, -32601, "method_not_found", "method not found")                            \
    X(INVALID_PARAMS, -32602, "invalid_params", "invalid params")                                  \
    X(INTERNAL_ERROR, -32603, "internal_error", "internal error")                                  \
    X(UNKNOWN_JOB, -32001, "unknown_job", "unknown job")                                           \
    X(BAD_TRANSITION, -32002, "transition_not_allowed", "transition not allowed")                  \
    X(UNSUPPORTED_VERSION, -32003, "unsupported_version", "unsupported protocol version")          \
    X(UNSAFE_PATH, -32004, "unsafe_path", "unsafe path")                                           \
    X(LINE_TOO_LONG, -32005, "line_too_long", "line too long")                                     \
    X(SHUTTING_DOWN, -32006, "shutting_down", "daemon is shutting down")                           \
    X(TOO_MANY_CLIENTS, -32007, "too_many_clients", "too many clients")                            \
    X(TIMEOUT, -32008, "timeout", "request timed out")                                             \
    X(MASTER_ERROR, -32010, "master_error", "determined master error")                             \
    X(NOT_FOUND, -32011, "not_found", "not found")

enum ckp_rpc_code {
#define X(name, code, wire, msg) CKP_RPC_##name = code,
    CKP_RPC_ERROR_MAP(X)
#undef X
};

/* Wire name ("unknown_job") and default message for a code; "unknown_error"
 * and "unknown error" for codes not in the table. */
const char *ckp_rpc_name(int code);
const char *ckp_rpc_message(int code);

/* ---- framing ----------------------------------------------------------- */

/* A resumable line splitter. Feed it whatever read() returned; take complete
 * lines out with ckp_framer_next(). Bytes beyond a complete line stay
 * buffered; an unterminated line longer than max is refused before it is
 * stored, so memory per connection is bounded by max plus one read. */
typedef struct ckp_framer {
    char *buf;   /* buffered bytes, not NUL-terminated */
    size_t len;  /* bytes in buf */
    size_t cap;  /* allocated size of buf */
    size_t head; /* start of the first line not yet returned */
    size_t scan; /* bytes from head already known to hold no newline */
    size_t tail; /* bytes after the last buffered newline: the open line */
    size_t max;  /* longest accepted line, newline excluded */
} ckp_framer;

/* A drained framer keeps a buffer up to this size; a larger one is freed. */
#define CKP_FRAMER_KEEP (64 * 1024)

void ckp_framer_init(ckp_framer *f, size_t max_line);
void ckp_framer_release(ckp_framer *f);
/* Appends data. Returns 0, -E2BIG when the unterminated line would exceed the
 * cap (nothing is appended; the framer is unusable afterwards), or -ENOMEM. */
int ckp_framer_feed(ckp_framer *f, const char *data, size_t len);
/* Returns 1 and the next line (without "\n", and without a trailing "\r")
 * valid until the next feed/next call; 0 when no complete line is buffered. */
int ckp_framer_next(ckp_framer *f, const char **line, size_t *len);

/* ---- messages ---------------------------------------------------------- */

enum ckp_msg_kind {
    CKP_MSG_REQUEST = 1,      /* method and id */
    CKP_MSG_NOTIFICATION = 2, /* method, no id */
    CKP_MSG_RESULT = 3,       /* id and result */
    CKP_MSG_ERROR = 4,        /* id (maybe null) and error */
};

/* A parsed message. Every json_t pointer is borrowed from root. */
typedef struct ckp_msg {
    json_t *root;
    enum ckp_msg_kind kind;
    json_t *id;         /* NULL for notifications */
    const char *method; /* requests and notifications */
    json_t *params;     /* object, or NULL when absent */
    json_t *result;
    int error_code;
    const char *error_message;
    json_t *error_data;
} ckp_msg;

/* Parses one line. Returns 0, or a negative ckp_rpc_code (PARSE_ERROR for
 * bad JSON or UTF-8, INVALID_REQUEST for a valid JSON value that is not a
 * JSON-RPC 2.0 message). On INVALID_REQUEST m->id holds the request id when
 * one could be read (else NULL) and m->root must still be released. The
 * reason, when wanted, goes to why[0..whylen). */
int ckp_msg_parse(const char *line, size_t len, ckp_msg *m, char *why, size_t whylen);
void ckp_msg_release(ckp_msg *m);

/* Builders: each returns a malloc'd line ending in "\n" (length in *len) or
 * NULL on allocation failure. json_t arguments are stolen (may be NULL). */
char *ckp_msg_request(json_int_t id, const char *method, json_t *params, size_t *len);
char *ckp_msg_notification(const char *method, json_t *params, size_t *len);
char *ckp_msg_result(json_t *id, json_t *result, size_t *len);
char *ckp_msg_error(json_t *id, int code, const char *message, json_t *data, size_t *len);

/* ---- paths ------------------------------------------------------------- */

/* Longest relative path accepted for a file inside an output directory. */
#define CKP_MAX_PATH 4096

/* Checks a relative path that names a file inside an output directory: not
 * empty, not absolute, no NUL, no "." or ".." segment, no empty segment, not
 * longer than CKP_MAX_PATH, valid UTF-8. Returns 0, or -EINVAL with a short
 * reason in *why ("absolute path", "'..' segment", ...). */
int ckp_path_check(const char *path, size_t len, const char **why);

/* The value of one hex digit (either case), or -1. */
int ckp_hexval(char c);

/* The file name a URL names: its last path segment, percent-decoded (query
 * and fragment ignored). 0 with a malloc'd name in *name, -EINVAL with a
 * short reason in *why ("the url ends with '/'", "the name is '.' or
 * '..'", ...), or -ENOMEM. The name is one segment: no '/' and no NUL. */
int ckp_url_filename(const char *url, char **name, const char **why);

/* ---- text (text.c) ---------------------------------------------------- */

/* 1 when s[0..len) is strict UTF-8 (no overlongs, surrogates, or code
 * points past U+10FFFF). */
int ckp_utf8_valid(const char *s, size_t len);

/* The one truncation rule for every text ckptd cuts (errors, names, paths):
 * the length of the longest prefix of s[0..len) no longer than max that does
 * not end inside a UTF-8 character. */
size_t ckp_utf8_cut(const char *s, size_t len, size_t max);

/* snprintf that, when it truncates, cuts at a character boundary (through
 * ckp_utf8_cut). Returns the length written; out is always terminated. */
size_t ckp_fmt(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t ckp_vfmt(char *out, size_t outlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Escape control characters too (\n, \r, \t, \xNN): for log lines. */
#define CKP_ESC_CONTROL 1u
/* Copies s[0..len) to out as valid UTF-8: each byte that is not part of a
 * valid character becomes the four characters "\xNN" (escaped, never
 * dropped). Stops before a character that would not fit whole. Returns the
 * length written; out is always terminated. */
size_t ckp_text_escape(char *out, size_t outlen, const char *s, size_t len, unsigned flags);

/* A JSON string for any C string, escaping invalid UTF-8 (ckp_text_escape)
 * instead of failing the way json_string() does; json null for NULL. NULL
 * only when memory runs out. */
json_t *ckp_json_text(const char *s);

/* Copies text to out with every URL in it ("scheme://...") redacted: the
 * userinfo ("user:pass@") becomes "***@" and the query string "?...".
 * Truncates at a character boundary; returns the length written. */
size_t ckp_redact_urls(char *out, size_t outlen, const char *text);
/* The same for a text that is one URL. */
void ckp_url_redact(char *out, size_t outlen, const char *url);

/* Formats a byte count the way the CLI and logs show it ("1.3MB"). */
void ckp_fmt_bytes(char *out, size_t outlen, double bytes);

#endif
