/* JSON-RPC 2.0 messages: parse one line, build one line. No I/O. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckp.h"

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int valid_id(const json_t *id)
{
    return json_is_integer(id) || json_is_string(id) || json_is_null(id);
}

int ckp_msg_parse(const char *line, size_t len, ckp_msg *m, char *why, size_t whylen)
{
    memset(m, 0, sizeof(*m));
    json_error_t err;
    /* jansson rejects invalid UTF-8 and NUL bytes inside strings. */
    m->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!m->root) {
        set_why(why, whylen, "%s at byte %d", err.text, err.position);
        return CKP_RPC_PARSE_ERROR;
    }
    if (!json_is_object(m->root)) {
        set_why(why, whylen, "message is not a JSON object");
        return CKP_RPC_INVALID_REQUEST;
    }
    json_t *id = json_object_get(m->root, "id");
    if (id && valid_id(id)) m->id = id;
    const char *ver = json_string_value(json_object_get(m->root, "jsonrpc"));
    if (!ver || strcmp(ver, "2.0") != 0) {
        set_why(why, whylen, "\"jsonrpc\" must be \"2.0\"");
        return CKP_RPC_INVALID_REQUEST;
    }
    if (id && !valid_id(id)) {
        set_why(why, whylen, "\"id\" must be a number, a string or null");
        return CKP_RPC_INVALID_REQUEST;
    }
    json_t *method = json_object_get(m->root, "method");
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            set_why(why, whylen, "\"method\" must be a non-empty string");
            return CKP_RPC_INVALID_REQUEST;
        }
        json_t *params = json_object_get(m->root, "params");
        if (params && !json_is_null(params) && !json_is_object(params)) {
            set_why(why, whylen, "\"params\" must be an object");
            return CKP_RPC_INVALID_REQUEST;
        }
        m->method = json_string_value(method);
        m->params = json_is_object(params) ? params : NULL;
        m->kind = id ? CKP_MSG_REQUEST : CKP_MSG_NOTIFICATION;
        return 0;
    }
    if (!id) {
        set_why(why, whylen, "message has neither \"method\" nor \"id\"");
        return CKP_RPC_INVALID_REQUEST;
    }
    json_t *result = json_object_get(m->root, "result");
    json_t *error = json_object_get(m->root, "error");
    if (result && !error) {
        m->kind = CKP_MSG_RESULT;
        m->result = result;
        return 0;
    }
    if (error && !result && json_is_object(error)) {
        json_t *code = json_object_get(error, "code");
        json_t *msg = json_object_get(error, "message");
        if (json_is_integer(code) && json_is_string(msg)) {
            m->kind = CKP_MSG_ERROR;
            m->error_code = (int)json_integer_value(code);
            m->error_message = json_string_value(msg);
            m->error_data = json_object_get(error, "data");
            return 0;
        }
    }
    set_why(why, whylen, "response needs exactly one of \"result\" and a well-formed \"error\"");
    return CKP_RPC_INVALID_REQUEST;
}

void ckp_msg_release(ckp_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

/* Serialises obj (stolen) as one line with a trailing newline. */
static char *dump_line(json_t *obj, size_t *len)
{
    if (!obj) return NULL;
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    if (len) *len = n + 1;
    return line;
}

/* json_object_set_new that also tolerates a NULL value (an allocation that
 * failed upstream) by failing the whole message. */
static int set_new(json_t *obj, const char *key, json_t *value)
{
    return value ? json_object_set_new(obj, key, value) : -1;
}

char *ckp_msg_request(json_int_t id, const char *method, json_t *params, size_t *len)
{
    json_t *o = json_object();
    if (!o || set_new(o, "jsonrpc", json_string("2.0")) || set_new(o, "id", json_integer(id)) ||
        set_new(o, "method", ckp_json_text(method)) ||
        (params && json_object_set_new(o, "params", params))) {
        json_decref(o);
        return NULL;
    }
    return dump_line(o, len);
}

char *ckp_msg_notification(const char *method, json_t *params, size_t *len)
{
    json_t *o = json_object();
    if (!o || set_new(o, "jsonrpc", json_string("2.0")) ||
        set_new(o, "method", ckp_json_text(method)) ||
        (params && json_object_set_new(o, "params", params))) {
        json_decref(o);
        return NULL;
    }
    return dump_line(o, len);
}

char *ckp_msg_result(json_t *id, json_t *result, size_t *len)
{
    json_t *o = json_object();
    if (!o || set_new(o, "jsonrpc", json_string("2.0")) ||
        set_new(o, "id", id ? json_incref(id) : json_null()) ||
        set_new(o, "result", result ? result : json_null())) {
        json_decref(o);
        return NULL;
    }
    return dump_line(o, len);
}

char *ckp_msg_error(json_t *id, int code, const char *message, json_t *data, size_t *len)
{
    json_t *o = json_object();
    json_t *e = json_object();
    if (!data) data = json_object();
    if (json_is_object(data) && !json_object_get(data, "name"))
        json_object_set_new(data, "name", json_string(ckp_rpc_name(code)));
    if (!o || !e || !data || set_new(e, "data", data)) {
        json_decref(data); /* not stolen */
        json_decref(o);
        json_decref(e);
        return NULL;
    }
    if (set_new(e, "code", json_integer(code)) ||
        set_new(e, "message", ckp_json_text(message ? message : ckp_rpc_message(code))) ||
        set_new(o, "jsonrpc", json_string("2.0")) ||
        set_new(o, "id", id ? json_incref(id) : json_null())) {
        json_decref(o);
        json_decref(e);
        return NULL;
    }
    if (json_object_set_new(o, "error", e)) {
        json_decref(o);
        return NULL;
    }
    return dump_line(o, len);
}
