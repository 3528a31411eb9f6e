#include "pf_json.h"
#include "pf_key.h"
#include "pf_query.h"

#include <string.h>
#include <apr_strings.h>

json_t *pf_json_error(const char *code, const char *message, const char *field,
                      const char *field_message)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);

    if (err && field) {
        json_t *details = json_pack("[{s:o, s:s}]", "field", pf_json_str(field), "message",
                                    field_message ? field_message : message);
        if (details) {
            json_object_set_new(err, "details", details);
        }
    }
    return json_pack("{s:o}", "error", err ? err : json_object());
}

json_t *pf_json_str(const char *s)
{
    json_t *j;
    char *tmp;
    apr_pool_t *p;

    if (!s) {
        return json_null();
    }
    j = json_string(s);
    if (j) {
        return j;
    }
    /* Not UTF-8: keep the readable part. */
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return json_string("");
    }
    tmp = (char *)pf_printable(p, s, strlen(s) * 3 + 3);
    j = json_string(tmp);
    apr_pool_destroy(p);
    return j ? j : json_string("");
}

json_t *pf_json_str_pool(apr_pool_t *p, const char *s)
{
    json_t *j;

    if (!s) {
        return json_null();
    }
    j = json_string(s);
    return j ? j : json_string(pf_printable(p, s, strlen(s) * 3 + 3));
}

json_t *pf_json_bool_text(const char *s)
{
    if (!s) {
        return json_null();
    }
    return json_boolean(s[0] == 't');
}

char *pf_json_dump(apr_pool_t *p, json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char *out;

    json_decref(j);
    if (!s) {
        return NULL;
    }
    *len = strlen(s);
    out = apr_pstrmemdup(p, s, *len);
    free(s);
    return out;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *pf_json_pool_own(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

void pf_etag(const char *body, size_t len, char out[PF_ETAG_SIZE])
{
    unsigned char md[32];

    pf_sha256(body, len, md);
    out[0] = '"';
    pf_hex(md, 16, out + 1);
    out[33] = '"';
    out[34] = '\0';
}

int pf_etag_matches(const char *h, const char *etag)
{
    size_t elen = strlen(etag);

    while (h && *h) {
        const char *start, *end;

        while (*h == ' ' || *h == '\t' || *h == ',') {
            h++;
        }
        if (*h == '\0') {
            break;
        }
        if (*h == '*') {
            return 1;
        }
        if (h[0] == 'W' && h[1] == '/') {
            h += 2;
        }
        start = h;
        if (*h == '"') {
            end = strchr(h + 1, '"');
            if (!end) {
                return 0;
            }
            end++;
        }
        else {
            end = h;
            while (*end && *end != ',') {
                end++;
            }
        }
        if ((size_t)(end - start) == elen && memcmp(start, etag, elen) == 0) {
            return 1;
        }
        h = end;
    }
    return 0;
}
