/* The streaming JSON writer (pf_jbuf) against the jansson path it replaces
 * for list pages: both must write the same bytes for every value, including
 * control characters and text that is not UTF-8. */
#include "tap.h"
#include "pf_json.h"
#include "pf_query.h"
#include "pf_shape.h"
#include "pf_sql.h"

#include <apr_general.h>
#include <stdlib.h>

static char *via_jansson(apr_pool_t *p, json_t *j)
{
    size_t len;
    return pf_json_dump(p, j, &len);
}

static char *via_writer_str(apr_pool_t *p, const char *s)
{
    pf_jbuf b;
    size_t len;

    pf_jbuf_init(&b, p, 4); /* tiny, so every write grows it */
    pf_jbuf_str(&b, s);
    return pf_jbuf_finish(&b, &len);
}

typedef int (*writer)(pf_jbuf *, const char *const *);
typedef json_t *(*shaper)(const char *const *);

static void same_row(apr_pool_t *p, writer w, shaper s, const char *const *row, const char *what)
{
    pf_jbuf b;
    size_t len;
    char *got;

    pf_jbuf_init(&b, p, 0);
    ok(w(&b, row) == 0, "%s: written", what);
    got = pf_jbuf_finish(&b, &len);
    ok(len == strlen(got), "%s: length matches the text", what);
    is_str(got, via_jansson(p, s(row)), "%s: written as jansson shapes it", what);
}

/* Stored JSON text parsed by jansson, as the module read it before
 * pf_jbuf_json_text; fallback when it does not parse. */
static json_t *json_text_via_jansson(const char *text, json_t *fallback)
{
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

    if (!j) {
        return fallback;
    }
    json_decref(fallback);
    return j;
}

/* A finding detail as the module built it with jansson before
 * pf_write_finding: the reference for its bytes. */
static json_t *finding_via_jansson(const char *const *c)
{
    json_t *o = pf_shape_finding_row(c);

    json_object_set_new(o, "description", pf_json_str(c[PF_FND_DESCRIPTION]));
    json_object_set_new(o, "remediation", pf_json_str(c[PF_FND_REMEDIATION]));
    json_object_set_new(o, "evidence", json_text_via_jansson(c[PF_FND_EVIDENCE], json_object()));
    if (c[PF_FND_IDENTITY] && c[PF_FND_IDN_NAME]) {
        json_object_set_new(o, "identity",
                            json_pack("{s:o, s:o, s:o}", "id", pf_json_str(c[PF_FND_IDENTITY]),
                                      "displayName", pf_json_str(c[PF_FND_IDN_NAME]), "type",
                                      pf_json_str(c[PF_FND_IDN_TYPE])));
    }
    else {
        json_object_set_new(o, "identity", json_null());
    }
    return o;
}

static char *json_text(apr_pool_t *p, const char *text, const char *fallback, int *rv)
{
    pf_jbuf b;
    size_t len;

    pf_jbuf_init(&b, p, 4);
    pf_jbuf_lit(&b, "<");
    *rv = pf_jbuf_json_text(&b, text, fallback);
    pf_jbuf_lit(&b, ">"); /* nothing before or after is disturbed */
    return pf_jbuf_finish(&b, &len);
}

/* A random JSON value: objects, arrays, strings (escapes, UTF-8 of every
 * length), integers, true, false, null; depth at most d. */
static json_t *random_value(int d)
{
    static const char *const pieces[] = { "a", "key", " ", "\"", "\\", "/", "\n", "\t",
                                          "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                          "\xf0\x9d\x84\x9e", "\xe2\x80\xa8" };
    int kind = d > 0 ? rand() % 7 : 2 + rand() % 5;

    if (kind < 2) {
        json_t *c = kind ? json_object() : json_array();
        int n = rand() % 5;
        for (int i = 0; i < n; i++) {
            if (kind) {
                char k[8];
                snprintf(k, sizeof(k), "k%d", rand() % 10);
                json_object_set_new(c, k, random_value(d - 1));
            }
            else {
                json_array_append_new(c, random_value(d - 1));
            }
        }
        return c;
    }
    if (kind == 2) {
        char s[64] = "";
        for (int i = rand() % 6; i > 0; i--) {
            strcat(s, pieces[(size_t)rand() % (sizeof(pieces) / sizeof(pieces[0]))]);
        }
        return json_string(s);
    }
    if (kind == 3) {
        return json_integer((json_int_t)rand() * (rand() % 2 ? -1 : 1) * (rand() % 3 ? 1 : 4096));
    }
    return kind == 4 ? json_true() : kind == 5 ? json_false() : json_null();
}

/* A roles row shaped through jansson, member by member, as the module did
 * before pf_write_role: the reference its bytes are checked against. */
static json_t *role_via_jansson(const char *const *c)
{
    json_t *o = json_object(), *idn = json_object();
    char ts[PF_TS_SIZE];
    const char *created = c[PF_ROL_CREATED];
    int n = created ? pf_ts_rfc3339(created, ts) : -1;

    json_object_set_new(o, "id", pf_json_str(c[PF_ROL_ID]));
    json_object_set_new(o, "tenantId", pf_json_str(c[PF_ROL_TENANT]));
    json_object_set_new(idn, "id", pf_json_str(c[PF_ROL_IDN_ID]));
    json_object_set_new(idn, "displayName", pf_json_str(c[PF_ROL_IDN_NAME]));
    json_object_set_new(idn, "type", pf_json_str(c[PF_ROL_IDN_TYPE]));
    json_object_set_new(o, "identity", idn);
    json_object_set_new(o, "currentRole", pf_json_str(c[PF_ROL_CURRENT]));
    json_object_set_new(o, "recommendedRole", pf_json_str(c[PF_ROL_RECOMMENDED]));
    json_object_set_new(o, "scope", pf_json_str(c[PF_ROL_SCOPE]));
    json_object_set_new(o, "unusedPermissions",
                        json_text_via_jansson(c[PF_ROL_UNUSED], json_array()));
    json_object_set_new(o, "rationale", pf_json_str(c[PF_ROL_RATIONALE]));
    /* RFC 3339; null when infinite; as stored when not a timestamp. */
    json_object_set_new(o, "createdAt", pf_json_str(n < 0 ? created : n ? ts : NULL));
    return o;
}

int main(void)
{
    apr_pool_t *p;
    static const char *const strings[] = {
        "", "plain", "quote \" and backslash \\", "tab\tnewline\ncr\rbell\a\x01\x1f",
        "slash / and del \x7f", "Sofía Müller 東京 😀", "\xff\xfe not utf-8",
        "truncated \xe6\x9d", "overlong \xc0\xaf", "surrogate \xed\xa0\x80",
        "above U+10FFFF \xf4\x90\x80\x80", "mixed \xc3\xa9\x80 tail",
    };
    const char *finding[PF_FND_LIST_NCOLS] = {
        "01a19466-a65a-73ab-9220-cf84e9ee8175", "a686be27-8585-4cb3-9903-e10bb34bfef5",
        "critical", "open", "standing_privileged_access", "Title \"quoted\"\n\xff", NULL,
        "2026-10-31 23:58:37.658682", "2026-10-31 23:58:37", NULL,
    };
    const char *identity[PF_IDN_NCOLS] = { "id", "t", "user", "Name", NULL, NULL, "obj", "t",
                                           "2026-01-01 00:00:00.1", "infinity" };
    const char *tenant[PF_TEN_NCOLS] = { "id", "Contoso \\ Ltd", NULL, "active",
                                         "2026-01-01 00:00:00", "not a time" };
    /* PostgreSQL's ISO text of a timestamp (no zone) and to_char's
     * 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' of the same value, as t/test_timestamps.py
     * checks them against the server itself. */
    static const char *const ts_cases[][2] = {
        { "2026-12-06 20:45:00.123456", "2026-12-06T20:45:00.123456Z" },
        { "2026-12-06 20:45:00.12", "2026-12-06T20:45:00.120000Z" },
        { "2026-12-06 20:45:00", "2026-12-06T20:45:00.000000Z" },
        { "2026-12-06 20:45:00.000001", "2026-12-06T20:45:00.000001Z" },
        { "0044-03-15 12:00:00.5 BC", "0044-03-15T12:00:00.500000Z" },
        { "12000-01-01 00:00:00", "12000-01-01T00:00:00.000000Z" },
        { "294276-12-31 23:59:59.999999", "294276-12-31T23:59:59.999999Z" },
    };
    static const char *const ts_bad[] = {
        "", "2026-12-06", "2026-12-06T20:45:00", "06/12/2026 20:45:00.12",
        "Sun Dec 06 20:45:00.12 2026", "06.12.2026 20:45:00.12", "2026-12-06 20:45:00.",
        "2026-12-06 20:45:00.1234567", "2026-12-06 20:45:00+00", "2026-12-06 20:45:00 AD",
        "026-12-06 20:45:00", "2026-1-06 20:45:00", "2026-12-06 20:45:0",
        "1234567890-01-01 00:00:00",
    };
    pf_jbuf b;
    size_t len;
    char *big;

    apr_initialize();
    apr_pool_create(&p, NULL);

    ok(strcmp(via_writer_str(p, NULL), "null") == 0, "NULL is null");
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        is_str(via_writer_str(p, strings[i]), via_jansson(p, pf_json_str(strings[i])),
               "string %zu written as pf_json_str shapes it", i);
    }
    /* Random bytes: the two paths agree on whatever the database returns. */
    srand(6);
    for (int i = 0; i < 3000; i++) {
        char s[24];
        int n = rand() % 23, same;
        for (int k = 0; k < n; k++) {
            s[k] = (char)(1 + rand() % 255);
        }
        s[n] = '\0';
        same = strcmp(via_writer_str(p, s), via_jansson(p, pf_json_str(s))) == 0;
        if (!same || i % 1000 == 0) {
            ok(same, "random string %d written alike", i);
        }
    }

    /* Mostly valid UTF-8 with escapes between the characters, sometimes an
     * invalid sequence anywhere (after escapes already written, or cut off
     * by the end): still the same bytes as the jansson path. */
    {
        static const char *const pieces[] = {
            "a", "plain text ", "\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "/",
            "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xef\xbf\xbd",
            "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xe2\x82", "\x80", "\xff" };
        const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
        int differ = 0, valid = 0;

        for (int i = 0; i < 5000; i++) {
            char s[128] = "";
            int n = rand() % 10;
            for (int k = 0; k < n; k++) {
                /* the last six pieces are invalid: one string in four has one */
                size_t pick = rand() % 4 ? (size_t)rand() % (npieces - 6)
                                         : (size_t)rand() % npieces;
                strcat(s, pieces[pick]);
            }
            valid += pf_utf8_valid(s, strlen(s));
            if (strcmp(via_writer_str(p, s), via_jansson(p, pf_json_str(s))) != 0) {
                if (differ++ < 3) {
                    printf("# differs: %s\n", via_jansson(p, pf_json_str(s)));
                }
            }
        }
        ok(differ == 0 && valid > 2000 && valid < 4900,
           "5000 mixed strings (%d valid UTF-8) written alike (%d differ)", valid, differ);
    }

    /* Eight bytes are looked at together: one byte that needs care, at
     * every place in every length up to five words, is still found. */
    {
        static const char *const odd[] = { "\"", "\\", "\n", "\x01", "\x1f", "\x7f", " ", "~",
                                           "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
                                           "\xff", "\xe2\x82", "\x80" };
        int differ = 0, tried = 0;

        for (size_t size = 1; size <= 40; size++) {
            for (size_t pos = 0; pos < size; pos++) {
                for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
                    char str[64];
                    size_t o = strlen(odd[k]);
                    memset(str, 'a', pos);
                    memcpy(str + pos, odd[k], o);
                    memset(str + pos + o, 'b', size - pos);
                    str[size + o] = '\0';
                    tried++;
                    if (strcmp(via_writer_str(p, str), via_jansson(p, pf_json_str(str))) != 0 &&
                        differ++ < 3) {
                        printf("# differs: length %zu, place %zu, piece %zu\n", size, pos, k);
                    }
                }
            }
        }
        ok(differ == 0 && tried == 820 * 14,
           "%d strings with one odd byte at every place written alike (%d differ)", tried, differ);
    }

    for (size_t i = 0; i < sizeof(ts_cases) / sizeof(ts_cases[0]); i++) {
        char out[PF_TS_SIZE];
        int n = pf_ts_rfc3339(ts_cases[i][0], out);
        ok(n == (int)strlen(ts_cases[i][1]) && strcmp(out, ts_cases[i][1]) == 0,
           "timestamp %s written as %s", ts_cases[i][0], n > 0 ? out : "(nothing)");
    }
    for (size_t i = 0; i < sizeof(ts_bad) / sizeof(ts_bad[0]); i++) {
        char out[PF_TS_SIZE];
        ok(pf_ts_rfc3339(ts_bad[i], out) == -1, "\"%s\" is not a timestamp text", ts_bad[i]);
    }
    {
        char out[PF_TS_SIZE];
        ok(pf_ts_rfc3339("infinity", out) == 0 && pf_ts_rfc3339("-infinity", out) == 0,
           "infinite timestamps are shown as null");
    }
    {
        json_t *j = pf_shape_finding_row(finding);
        is_str(json_string_value(json_object_get(j, "firstSeenAt")),
               "2026-10-31T23:58:37.658682Z", "a finding's firstSeenAt in RFC 3339");
        is_str(json_string_value(json_object_get(j, "lastSeenAt")),
               "2026-10-31T23:58:37.000000Z", "whole seconds keep six digits");
        ok(json_is_null(json_object_get(j, "resolvedAt")), "no resolvedAt is null");
        json_decref(j);
        j = pf_shape_identity(identity);
        ok(json_is_null(json_object_get(j, "lastSignInAt")), "an infinite time is null");
        json_decref(j);
        j = pf_shape_tenant(tenant);
        is_str(json_string_value(json_object_get(j, "lastSyncAt")), "not a time",
               "text that is not a timestamp is shown as it is");
        json_decref(j);
    }
    same_row(p, pf_write_finding_row, pf_shape_finding_row, finding, "finding row");
    same_row(p, pf_write_identity, pf_shape_identity, identity, "identity, enabled");
    identity[PF_IDN_ENABLED] = "f";
    same_row(p, pf_write_identity, pf_shape_identity, identity, "identity, disabled");
    identity[PF_IDN_ENABLED] = NULL;
    same_row(p, pf_write_identity, pf_shape_identity, identity, "identity, enabled unknown");
    same_row(p, pf_write_tenant, pf_shape_tenant, tenant, "tenant");
    {
        /* As PostgreSQL returns a roles row: array_to_json's text, the time
         * as UTC wall-clock time in the ISO style. */
        const char *role[PF_ROL_NCOLS] = {
            "7d0b5b7e-0000-4000-8000-000000000001", "9f6ae6b5-1bee-4c5d-b72c-b239275c4f74",
            "a3cf3211-bff5-4f7a-9eb5-ef0b60d94e13", "\"Break Glass\" Admins \xc3\xa9\u2028",
            "group", "Owner", "Reader", "/subscriptions/x/resourceGroups/r\\y",
            "[\"Microsoft.Compute/*/write\",\"a\\\"b\",\"\\u0001\",\"\xe2\x9c\x93\"]",
            "Only reads in 90 days.\nNo writes.", "2026-12-07 10:00:00" };
        json_t *j = role_via_jansson(role);

        is_str(json_string_value(json_object_get(j, "createdAt")), "2026-12-07T10:00:00.000000Z",
               "a role's createdAt in RFC 3339");
        json_decref(j);
        same_row(p, pf_write_role, role_via_jansson, role, "role");
        role[PF_ROL_UNUSED] = "[]";
        role[PF_ROL_RATIONALE] = NULL;
        same_row(p, pf_write_role, role_via_jansson, role, "role, no permissions or rationale");
        role[PF_ROL_UNUSED] = NULL;
        same_row(p, pf_write_role, role_via_jansson, role, "role, permissions NULL");
        role[PF_ROL_UNUSED] = "[\"cut";
        same_row(p, pf_write_role, role_via_jansson, role, "role, permissions not JSON");
        role[PF_ROL_CREATED] = "infinity";
        same_row(p, pf_write_role, role_via_jansson, role, "role, createdAt infinite");
        role[PF_ROL_CREATED] = "0044-03-15 12:00:00.5 BC";
        same_row(p, pf_write_role, role_via_jansson, role, "role, createdAt before the era");
    }

    /* Stored JSON text (jsonb's output) copied compact, tokens as written. */
    {
        static const char *const good[][2] = {
            { "{\"a\": 1, \"b\": [1, 2, {\"c\": null}], \"d\": true, \"e\": false}",
              "{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":true,\"e\":false}" },
            { " { } ", "{}" },
            { "[ ]", "[]" },
            { "\t[\n\"x\" ,\r\n{ \"y\" : [ ] } ]\n", "[\"x\",{\"y\":[]}]" },
            { "\"s p a c e s\"", "\"s p a c e s\"" },
            { "{\"big\": 1180591620717411303424, \"neg\": -9223372036854775809}",
              "{\"big\":1180591620717411303424,\"neg\":-9223372036854775809}" },
            { "{\"r\": 0.1, \"e\": 1.5E+10, \"f\": 2e-3, \"z\": -0, \"w\": 0.10}",
              "{\"r\":0.1,\"e\":1.5E+10,\"f\":2e-3,\"z\":-0,\"w\":0.10}" },
            { "[\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u001f \\u00e9 \\ud83d\\ude00 \\u2028\"]",
              "[\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u001f \\u00e9 \\ud83d\\ude00 \\u2028\"]" },
            { "{\"Sof\xc3\xad" "a\": \"\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80\"}",
              "{\"Sof\xc3\xad" "a\":\"\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80\"}" },
            { "{\"a\": {\"a\": {\"a\": [[[]]]}}, \"a\": 2}",
              "{\"a\":{\"a\":{\"a\":[[[]]]}},\"a\":2}" },
            { "true", "true" }, { "null", "null" }, { "-12.5e7", "-12.5e7" },
        };
        static const char *const bad[] = {
            "", " ", "{", "}", "[1,]", "{\"a\": 1,}", "{\"a\" 1}", "{1: 2}", "{\"a\": }",
            "[1 2]", "01", "1.", ".5", "1e", "1e+", "-", "+1", "tru", "nul", "truex", "True",
            "NaN", "Infinity", "\"unterminated", "\"ctl \x01\"", "\"tab \t\"", "\"bad \\x\"",
            "\"\\u12\"", "\"\\u12g4\"", "\"\\u0000\"", "\"\\udc00\"", "\"\\ud800\"",
            "\"\\ud800x\"", "\"\\ud800\\u0041\"", "\"\\ud800\\udbff\"", "\"\xff\"",
            "\"\xe6\x9d\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "[1]]", "[1] x", "{\"a\": [}",
            "{\"a\": 1}}", "[\"a\"}", "{\"a\": 1]", "\"a\" \"b\"", "{\"a\":1,,\"b\":2}",
            "[,1]", "{,}", "'single'", "[1]\x01", "\"trailing backslash\\",
        };
        int rv;

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            char want[512];
            snprintf(want, sizeof(want), "<%s>", good[i][1]);
            is_str(json_text(p, good[i][0], "{}", &rv), want, "JSON text %zu copied compact", i);
            ok(rv == 0, "JSON text %zu: accepted", i);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            is_str(json_text(p, bad[i], "[]", &rv), "<[]>", "not JSON (%zu: %s): the fallback",
                   i, bad[i]);
            ok(rv == -1, "not JSON (%zu): refused", i);
        }
        is_str(json_text(p, NULL, "{}", &rv), "<{}>", "NULL: the fallback");
        ok(rv == -1, "NULL: refused");
    }
    {
        /* Nesting far past the closers kept on the stack; unbalanced at
         * that depth is still refused. */
        char deep[4003], want[4005];
        int rv;

        memset(deep, '[', 2000);
        memset(deep + 2000, ']', 2000);
        deep[4000] = '\0';
        snprintf(want, sizeof(want), "<%s>", deep);
        is_str(json_text(p, deep, "[]", &rv), want, "2,000 nested arrays copied");
        deep[3999] = '\0';
        is_str(json_text(p, deep, "[]", &rv), "<[]>", "one bracket short: refused");
        memset(deep, '{', 1);
        is_str(json_text(p, deep, "[]", &rv), "<[]>", "mismatched bracket at the bottom: refused");
    }
    {
        /* Against jansson: random values written with PostgreSQL's spacing
         * (", " and ": ") or indented must come out as jansson's compact
         * text; then one byte changed anywhere must be accepted exactly when
         * jansson accepts it (what jansson refuses only for the size of a
         * number is left out: those are kept as written). */
        int differ = 0, verdicts = 0, accepted = 0, refused = 0;

        srand(7);
        for (int i = 0; i < 3000; i++) {
            json_t *v = random_value(4);
            char *spaced = json_dumps(v, JSON_ENCODE_ANY | (i % 2 ? JSON_INDENT(2) : 0));
            char *compact = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            char want[8192];
            int rv;

            snprintf(want, sizeof(want), "<%s>", compact);
            if (strcmp(json_text(p, spaced, "!", &rv), want) != 0 || rv != 0) {
                if (differ++ < 3) {
                    printf("# differs: %s\n", spaced);
                }
            }
            for (int m = 0; m < 4; m++) {
                size_t n = strlen(spaced);
                static const char swaps[] = "{}[]\":,\\u0e.-+ \x01\xc3\x80tfn9";
                char *mut = strdup(spaced);
                json_error_t err;
                json_t *back;
                int theirs, ours;

                mut[(size_t)rand() % n] = swaps[(size_t)rand() % (sizeof(swaps) - 1)];
                back = json_loads(mut, JSON_DECODE_ANY, &err);
                theirs = back != NULL;
                json_decref(back);
                json_text(p, mut, "!", &rv);
                ours = rv == 0;
                if (!theirs && (strstr(err.text, "too big") || strstr(err.text, "overflow"))) {
                    free(mut);
                    continue;
                }
                verdicts++;
                accepted += ours;
                refused += !ours;
                if (ours != theirs && differ++ < 6) {
                    printf("# verdict differs (ours %d, jansson %d): %s\n", ours, theirs, mut);
                }
                free(mut);
            }
            free(spaced);
            free(compact);
            json_decref(v);
        }
        ok(differ == 0 && accepted > 500 && refused > 3000,
           "3000 random values copied as jansson writes them compact, %d changed texts judged "
           "as jansson judges them (%d accepted, %d refused; %d differ)",
           verdicts, accepted, refused, differ);
    }
    {
        /* Details against the jansson trees they were built as. */
        const char *f[PF_FND_DETAIL_NCOLS];
        size_t n;

        memcpy(f, finding, sizeof(finding));
        f[PF_FND_IDENTITY] = "a3cf3211-bff5-4f7a-9eb5-ef0b60d94e13";
        f[PF_FND_DESCRIPTION] = "Owner on a subscription \"prod\"\nunused for 94 days \xc3\xa9";
        f[PF_FND_REMEDIATION] = NULL;
        f[PF_FND_EVIDENCE] = "{\"roles\": [\"Owner\", \"a\\\"b\"], \"daysUnused\": 94, "
                             "\"nested\": {\"x\": null, \"ok\": true}}";
        f[PF_FND_IDN_NAME] = "Break \"Glass\" \xff";
        f[PF_FND_IDN_TYPE] = "user";
        same_row(p, pf_write_finding, finding_via_jansson, f, "finding detail");
        f[PF_FND_IDN_NAME] = NULL;
        same_row(p, pf_write_finding, finding_via_jansson, f, "finding detail, identity gone");
        f[PF_FND_IDENTITY] = NULL;
        f[PF_FND_EVIDENCE] = "{\"cut";
        same_row(p, pf_write_finding, finding_via_jansson, f, "finding detail, evidence not JSON");
        f[PF_FND_EVIDENCE] = NULL;
        same_row(p, pf_write_finding, finding_via_jansson, f, "finding detail, evidence NULL");

        /* An identity with its assignments, written as the route writes it. */
        const char *ra[PF_RA_NCOLS] = { "ra-1", "Owner \"x\"", "8e3af657", "/subscriptions/s",
                                        "active", "2026-12-07 10:00:00.5" };
        json_t *want = pf_shape_identity(identity), *list = json_array();

        json_array_append_new(list, pf_shape_role_assignment(ra));
        ra[PF_RA_CREATED] = "infinity";
        ra[PF_RA_ROLE] = NULL;
        json_array_append_new(list, pf_shape_role_assignment(ra));
        json_object_set_new(want, "roleAssignments", list);
        pf_jbuf_init(&b, p, 0);
        pf_write_identity_open(&b, identity);
        pf_jbuf_lit(&b, ",\"roleAssignments\":[");
        ra[PF_RA_CREATED] = "2026-12-07 10:00:00.5";
        ra[PF_RA_ROLE] = "Owner \"x\"";
        pf_write_role_assignment(&b, ra);
        pf_jbuf_lit(&b, ",");
        ra[PF_RA_CREATED] = "infinity";
        ra[PF_RA_ROLE] = NULL;
        pf_write_role_assignment(&b, ra);
        pf_jbuf_lit(&b, "]}");
        is_str(pf_jbuf_finish(&b, &n), via_jansson(p, want),
               "identity detail with two assignments written as jansson shapes it");
    }

    /* Growth well past the first block keeps every byte. */
    pf_jbuf_init(&b, p, 16);
    for (int i = 0; i < 20000; i++) {
        pf_jbuf_lit(&b, "0123456789");
    }
    big = pf_jbuf_finish(&b, &len);
    ok(len == 200000 && strlen(big) == 200000 && memcmp(big + 199990, "0123456789", 10) == 0,
       "200,000 bytes written through repeated growth");
    pf_jbuf_init(&b, p, 0);
    pf_jbuf_int(&b, -9223372036854775807LL - 1);
    is_str(pf_jbuf_finish(&b, &len), "-9223372036854775808", "the smallest integer");

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
