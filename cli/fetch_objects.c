/* ckpt fetch of object-store URLs. See fetch_objects.h. */
#include "fetch_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

bool ckc_is_object_url(const char *url)
{
    return strncmp(url, "s3://", 5) == 0 || strncmp(url, "gs://", 5) == 0 ||
           strncmp(url, "az://", 5) == 0;
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *ckc_objects_params(const char *url, const char *output, const char *endpoint,
                           const char *const *inc, size_t ninc, const char *const *exc, size_t nexc)
{
    json_t *src = json_pack("{s:s,s:s}", "kind", "objects", "url", url);
    if (!src) return NULL;
    if (!endpoint && strncmp(url, "s3://", 5) == 0) {
        /* As the AWS SDKs and CLI read it. */
        endpoint = getenv("AWS_ENDPOINT_URL_S3");
        if (!endpoint || !*endpoint) endpoint = getenv("AWS_ENDPOINT_URL");
        if (endpoint && !*endpoint) endpoint = NULL;
    }
    int bad = endpoint && json_object_set_new(src, "endpoint_url", json_string(endpoint)) < 0;
    if (!bad && ninc) bad = json_object_set_new(src, "include", str_array(inc, ninc)) < 0;
    if (!bad && nexc) bad = json_object_set_new(src, "exclude", str_array(exc, nexc)) < 0;
    json_t *params = bad ? NULL : json_pack("{s:o,s:s}", "source", src, "output", output);
    if (!params && !bad) return NULL; /* json_pack released src */
    if (bad) json_decref(src);
    return params;
}

void ckc_objects_report(ckc_conn *c, json_int_t id)
{
    json_t *res = NULL;
    json_t *params = json_pack("{s:I,s:i}", "id", id, "limit", 1);
    if (!params || ckc_call(c, "job.get", params, &res) != 0) return;
    json_t *log = json_object_get(json_object_get(res, "job"), "log"), *l;
    size_t i;
    json_array_foreach(log, i, l)
    {
        const char *m = ckc_jstr(l, "message", "");
        if (strncmp(m, "listed ", 7) == 0 || strncmp(m, "skipped ", 8) == 0 ||
            strstr(m, " the store's content hash: checked after the download"))
            printf("%s\n", m);
    }
    fflush(stdout);
    json_decref(res);
}
