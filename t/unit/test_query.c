/* Query-string parsing, UTF-8 checks, JSON shaping, ETags, array literals. */
#include "tap.h"
#include <openssl/evp.h>
#include "pf_json.h"
#include "pf_query.h"
#include "pf_shape.h"
#include "pf_sql.h"
#include "pf_cursor.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdlib.h>

static const char *const sev[] = { "critical", "high", "medium", "low", NULL };
static const pf_qspec spec[] = {
    { "limit", PF_Q_INT, 1, 500, NULL },
    { "offset", PF_Q_INT, 0, 10000000, NULL },
    { "tenant", PF_Q_UUID, 0, 0, NULL },
    { "severity", PF_Q_ENUM_LIST, 0, 0, sev },
    { "findingType", PF_Q_TEXT_LIST, 0, 0, NULL },
    { "identityId", PF_Q_UUID_LIST, 0, 0, NULL },
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

static int parse(apr_pool_t *p, const char *q, pf_qvalue *v, pf_qerror *e)
{
    return pf_query_parse(p, q, spec, NSPEC, v, e);
}

static void bad(apr_pool_t *p, const char *q, const char *field)
{
    pf_qvalue v[NSPEC];
    pf_qerror e;
    int rc = parse(p, q, v, &e);
    ok(rc == -1 && e.field && strcmp(e.field, field) == 0, "'%s' is refused naming %s (got %s)",
       q, field, rc == 0 ? "success" : e.field);
}

int main(void)
{
    apr_pool_t *p;
    pf_qvalue v[NSPEC];
    pf_qerror e;
    char buf[64];

    apr_initialize();
    apr_pool_create(&p, NULL);

    ok(parse(p, NULL, v, &e) == 0 && !v[0].present, "no query");
    ok(parse(p, "", v, &e) == 0, "empty query");
    ok(parse(p, "limit=5&offset=0", v, &e) == 0 && v[0].ival == 5 && v[1].present
       && v[1].ival == 0, "limit and offset");
    ok(parse(p, "limit=500", v, &e) == 0 && v[0].ival == 500, "limit at max");
    bad(p, "limit=501", "limit");
    bad(p, "limit=0", "limit");
    bad(p, "limit=-1", "limit");
    bad(p, "limit=1.5", "limit");
    bad(p, "limit=", "limit");
    bad(p, "limit", "limit");
    bad(p, "limit=+5", "limit");
    bad(p, "limit=99999999999999999999999", "limit");
    bad(p, "offset=10000001", "offset");
    ok(parse(p, "offset=10000000", v, &e) == 0, "offset at max");
    bad(p, "limit=5&limit=5", "limit");
    bad(p, "limits=5", "limits");
    bad(p, "Limit=5", "Limit");
    ok(parse(p, "severity=critical,high", v, &e) == 0 && v[3].count == 2
       && strcmp(v[3].items[1], "high") == 0, "enum list");
    bad(p, "severity=critical,", "severity");
    bad(p, "severity=", "severity");
    bad(p, "severity=,high", "severity");
    bad(p, "severity=urgent", "severity");
    bad(p, "severity=Critical", "severity");
    bad(p, "severity=critical%2Chigh", "severity");
    ok(parse(p, "findingType=a%2Cb,c", v, &e) == 0 && v[4].count == 2
       && strcmp(v[4].items[0], "a,b") == 0 && strcmp(v[4].items[1], "c") == 0,
       "%%2C is a literal comma, raw comma separates");
    ok(parse(p, "findingType=%2541", v, &e) == 0 && strcmp(v[4].items[0], "%41") == 0,
       "percent-decoding happens once");
    ok(parse(p, "findingType=a+b", v, &e) == 0 && strcmp(v[4].items[0], "a b") == 0,
       "plus is a space");
    bad(p, "findingType=%zz", "findingType");
    bad(p, "findingType=%4", "findingType");
    bad(p, "findingType=%00", "findingType");
    bad(p, "findingType=%ff", "findingType");
    ok(parse(p, "findingType=%C3%A9", v, &e) == 0 && strcmp(v[4].items[0], "\xc3\xa9") == 0,
       "utf-8 value");
    ok(parse(p, "tenant=0A1B2C3D-0000-4000-8000-00000000000F", v, &e) == 0
       && strcmp(v[2].str, "0a1b2c3d-0000-4000-8000-00000000000f") == 0, "tenant lowercased");
    bad(p, "tenant=abc", "tenant");
    bad(p, "tenant=", "tenant");
    ok(parse(p, "identityId=0a1b2c3d-0000-4000-8000-00000000000f,0a1b2c3d-0000-4000-8000-00000000000e",
             v, &e) == 0 && v[5].count == 2, "uuid list");
    bad(p, "identityId=0a1b2c3d-0000-4000-8000-00000000000f,x", "identityId");
    ok(parse(p, "limit=5&&offset=1&", v, &e) == 0 && v[1].ival == 1, "empty segments ignored");
    ok(parse(p, "%6Cimit=7", v, &e) == 0 && v[0].ival == 7, "encoded name decodes");

    ok(pf_utf8_valid("abc", 3), "ascii is utf-8");
    ok(!pf_utf8_valid("\xc0\xaf", 2), "overlong refused");
    ok(!pf_utf8_valid("\xed\xa0\x80", 3), "surrogate refused");
    ok(pf_utf8_valid("\xf0\x9f\x9a\x80", 4), "emoji accepted");
    ok(!pf_utf8_valid("\xf0\x9f\x9a", 3), "truncated sequence refused");
    is_str(pf_printable(p, "a\nb", 10), "a\xef\xbf\xbd" "b", "control replaced");

    {
        const char *items[] = { "a\"b", "c\\d", "plain" };
        is_str(pf_sql_text_array(p, items, 3), "{\"a\\\"b\",\"c\\\\d\",\"plain\"}",
               "array literal quoting");
    }
    {
        size_t len;
        char *s = pf_json_dump(p, pf_json_error("INVALID_PARAMETER", "bad", "limit", "too big"),
                               &len);
        is_str(s, "{\"error\":{\"code\":\"INVALID_PARAMETER\",\"message\":\"bad\",\"details\":"
               "[{\"field\":\"limit\",\"message\":\"too big\"}]}}", "error shape");
        s = pf_json_dump(p, pf_json_error("NOT_FOUND", "No such resource.", NULL, NULL), &len);
        is_str(s, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"No such resource.\"}}",
               "error without details");
    }
    {
        const char *c[PF_TEN_NCOLS] = { "0a1b2c3d-0000-4000-8000-00000000000f",
                                        "Zo\xc3\xab \"Q\" \\ \x01 \xd9\x85 \xf0\x9f\x9a\x80", NULL,
                                        "connected", "2026-01-01T00:00:00.000001Z", NULL };
        size_t len;
        char *s = pf_json_dump(p, pf_shape_tenant(c), &len);
        json_t *back = json_loads(s, 0, NULL);
        ok(back && strcmp(json_string_value(json_object_get(back, "displayName")), c[1]) == 0,
           "names with quotes, backslashes, controls, RTL and emoji round-trip");
        ok(back && json_is_null(json_object_get(back, "primaryDomain")), "NULL becomes null");
        json_decref(back);
    }
    {
        const char *c[PF_FND_DETAIL_NCOLS] = { "id", "t", "high", "open", "x", "title", NULL,
                                               "a", "b", NULL, NULL, NULL,
                                               "{\"daysUnused\": 94, \"roles\": [\"Owner\"]}",
                                               NULL, NULL };
        size_t len;
        pf_jbuf b;
        char *s;

        pf_jbuf_init(&b, p, 0);
        pf_write_finding(&b, c);
        s = pf_jbuf_finish(&b, &len);
        ok(strstr(s, "\"evidence\":{\"daysUnused\":94,\"roles\":[\"Owner\"]}") != NULL,
           "evidence passes through as an object");
        ok(strstr(s, "\"identity\":null") != NULL, "no identity is null");
    }
    {
        /* Our encoder must match jansson's byte for byte. */
        json_t *j = json_pack("{s:s, s:[s, s, i, b, n, {}], s:{s:s}, s:I, s:f}",
                              "a\"k\\", "q\"b\\s/\x01\x1f\x7f\b\f\n\r\t \xc3\xa9 \xf0\x9f\x9a\x80",
                              "arr", "", "\xd9\x85\xd8\xad", -42, 1, "obj", "\xe2\x80\xae", "x",
                              "big", (json_int_t)9007199254740993LL, "real", 0.5);
        char *theirs = json_dumps(j, JSON_COMPACT);
        size_t len;
        char *ours = pf_json_dump(p, json_incref(j), &len);
        is_str(ours, theirs, "fast encoder equals json_dumps");
        ok(len == strlen(theirs), "length reported");
        free(theirs);
        json_decref(j);
    }
    {
        char etag[PF_ETAG_SIZE], etag2[PF_ETAG_SIZE];
        pf_etag(NULL, "abc", 3, etag);
        pf_etag(NULL, "abd", 3, etag2);
        ok(etag[0] == '"' && etag[33] == '"' && strlen(etag) == 34, "etag is quoted");
        ok(strcmp(etag, etag2) != 0, "etag follows the body");
        {
            char etag3[PF_ETAG_SIZE];
            EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
            pf_etag(sha, "abc", 3, etag3);
            is_str(etag3, etag, "the same etag with the digest fetched once");
            is_str(etag, "\"ba7816bf8f01cfea414140de5dae2223\"", "etag is SHA-256's first half");
            EVP_MD_free(sha);
        }
        ok(pf_etag_matches(etag, etag), "exact match");
        snprintf(buf, sizeof(buf), "W/%s", etag);
        ok(pf_etag_matches(buf, etag), "weak form matches for If-None-Match");
        snprintf(buf, sizeof(buf), "\"x\", %s", etag);
        ok(pf_etag_matches(buf, etag), "list holding it matches");
        ok(pf_etag_matches("*", etag), "star matches");
        ok(!pf_etag_matches("\"x\"", etag), "other tag does not match");
        ok(!pf_etag_matches("", etag), "empty does not match");
    }
    {
        unsigned char key[PF_CURSOR_KEY_LEN] = { 1, 2, 3 };
        unsigned char key2[PF_CURSOR_KEY_LEN] = { 9 };
        const char *fields[] = { "high", "2026-01-01T00:00:00.000001Z", "Zo\xc3\xab \x1e" };
        const char *out[3];
        const char *c = pf_cursor_encode(p, key, "findings|A|x", fields, 3);
        char *t;
        ok(strchr(c, '.') && !strchr(c, '='), "cursor is url-safe without padding");
        ok(pf_cursor_decode(p, key, "findings|A|x", c, out, 3) == 0
           && strcmp(out[0], "high") == 0 && strcmp(out[2], fields[2]) == 0, "cursor round-trip");
        ok(pf_cursor_decode(p, key, "findings|B|x", c, out, 3) == -1, "other binding refused");
        ok(pf_cursor_decode(p, key2, "findings|A|x", c, out, 3) == -1, "other key refused");
        ok(pf_cursor_decode(p, key, "findings|A|x", c, out, 2) == -1, "field count checked");
        t = apr_pstrdup(p, c);
        t[1] = t[1] == 'A' ? 'B' : 'A';
        ok(pf_cursor_decode(p, key, "findings|A|x", t, out, 3) == -1, "tampered payload refused");
        ok(pf_cursor_decode(p, key, "findings|A|x", "", out, 3) == -1
           && pf_cursor_decode(p, key, "findings|A|x", "abc", out, 3) == -1
           && pf_cursor_decode(p, key, "findings|A|x", "a.b", out, 3) == -1
           && pf_cursor_decode(p, key, "findings|A|x", "!!!.???", out, 3) == -1,
           "malformed cursors refused");
    }
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
