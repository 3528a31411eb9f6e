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
                        pf_shape_json_text(c[PF_ROL_UNUSED], json_array()));
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
