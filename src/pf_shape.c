#include "pf_shape.h"
#include "pf_json.h"
#include "pf_sql.h"

#include <stdlib.h>
#include <string.h>

/* Sets key to a string or null; jansson takes the new reference. */
static void put(json_t *o, const char *key, const char *value)
{
    json_object_set_new(o, key, pf_json_str(value));
}

int pf_ts_rfc3339(const char *pg, char out[PF_TS_SIZE])
{
    /* Digit runs of the form: year (4 or more), month, day, hour, minute,
     * second, each followed by its separator. */
    static const char seps[] = "-- ::";
    const char *s = pg;
    size_t n = 0, run;

    if (strcmp(s, "infinity") == 0 || strcmp(s, "-infinity") == 0) {
        return 0;
    }
    for (int part = 0; part < 6; part++) {
        run = strspn(s, "0123456789");
        if (part == 0 ? run < 4 || run > 9 : run != 2) {
            return -1;
        }
        memcpy(out + n, s, run);
        n += run;
        s += run;
        if (part < 5) {
            if (*s != seps[part]) {
                return -1;
            }
            out[n++] = part == 2 ? 'T' : *s;
            s++;
        }
    }
    out[n++] = '.';
    run = 0;
    if (*s == '.') {
        s++;
        run = strspn(s, "0123456789");
        if (run < 1 || run > 6) {
            return -1;
        }
        memcpy(out + n, s, run);
        n += run;
        s += run;
    }
    memset(out + n, '0', 6 - run);
    n += 6 - run;
    /* Years before the common era lose their marker, as to_char's YYYY
     * loses it. */
    if (*s != '\0' && strcmp(s, " BC") != 0) {
        return -1;
    }
    out[n++] = 'Z';
    out[n] = '\0';
    return (int)n;
}

/* A flat row shape: each member's key and the column it comes from. The
 * same table builds a jansson object and writes JSON text directly, so the
 * two can never disagree. */
/* FK_TS: a timestamp column selected as UTC wall-clock time (pf_sql.c's
 * UTC), shown as RFC 3339. FK_JSON: JSON text from PostgreSQL, checked
 * (pf_write_role). */
typedef enum { FK_STR, FK_BOOL, FK_TS, FK_JSON } field_kind;

typedef struct {
    const char *key;
    int col;
    field_kind kind;
} field;

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const field tenant_fields[] = {
    { "id", PF_TEN_ID, FK_STR },
    { "displayName", PF_TEN_NAME, FK_STR },
    { "primaryDomain", PF_TEN_DOMAIN, FK_STR },
    { "status", PF_TEN_STATUS, FK_STR },
    { "connectedAt", PF_TEN_CONNECTED, FK_TS },
    { "lastSyncAt", PF_TEN_SYNC, FK_TS },
};

static const field identity_fields[] = {
    { "id", PF_IDN_ID, FK_STR },
    { "tenantId", PF_IDN_TENANT, FK_STR },
    { "type", PF_IDN_TYPE, FK_STR },
    { "displayName", PF_IDN_NAME, FK_STR },
    { "userPrincipalName", PF_IDN_UPN, FK_STR },
    { "appId", PF_IDN_APP, FK_STR },
    { "objectId", PF_IDN_OBJECT, FK_STR },
    { "enabled", PF_IDN_ENABLED, FK_BOOL },
    { "createdAt", PF_IDN_CREATED, FK_TS },
    { "lastSignInAt", PF_IDN_SIGNIN, FK_TS },
};

static const field role_assignment_fields[] = {
    { "id", PF_RA_ID, FK_STR },
    { "roleName", PF_RA_ROLE, FK_STR },
    { "roleDefinitionId", PF_RA_ROLEDEF, FK_STR },
    { "scope", PF_RA_SCOPE, FK_STR },
    { "assignmentType", PF_RA_TYPE, FK_STR },
    { "createdAt", PF_RA_CREATED, FK_TS },
};

static const field finding_fields[] = {
    { "id", PF_FND_ID, FK_STR },
    { "tenantId", PF_FND_TENANT, FK_STR },
    { "severity", PF_FND_SEVERITY, FK_STR },
    { "status", PF_FND_STATUS, FK_STR },
    { "findingType", PF_FND_TYPE, FK_STR },
    { "title", PF_FND_TITLE, FK_STR },
    { "identityId", PF_FND_IDENTITY, FK_STR },
    { "firstSeenAt", PF_FND_FIRST, FK_TS },
    { "lastSeenAt", PF_FND_LAST, FK_TS },
    { "resolvedAt", PF_FND_RESOLVED, FK_TS },
};

/* The text a string or timestamp field shows: a timestamp in RFC 3339
 * (written into ts), NULL (null) when infinite, as stored otherwise. */
static const char *shown(field_kind kind, const char *v, char ts[PF_TS_SIZE])
{
    int n;

    if (kind != FK_TS || !v || (n = pf_ts_rfc3339(v, ts)) < 0) {
        return v;
    }
    return n ? ts : NULL;
}

/* A timestamp column as a member: RFC 3339, null when infinite. */
static void put_ts(json_t *o, const char *key, const char *value)
{
    char ts[PF_TS_SIZE];

    json_object_set_new(o, key, pf_json_str(shown(FK_TS, value, ts)));
}

static json_t *shape_fields(const field *f, size_t n, const char *const *c)
{
    json_t *o = json_object();

    for (size_t i = 0; i < n; i++) {
        const char *v = c[f[i].col];
        char ts[PF_TS_SIZE];

        json_object_set_new(o, f[i].key, f[i].kind == FK_BOOL ? pf_json_bool_text(v)
                                                              : pf_json_str(shown(f[i].kind, v, ts)));
    }
    return o;
}

/* Keys are plain ASCII: written as they are. Text columns always fit. The
 * object is left open, for details to add their own members. */
static void write_members(pf_jbuf *b, const field *f, size_t n, const char *const *c)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = c[f[i].col];

        pf_jbuf_raw(b, i ? ",\"" : "{\"", 2);
        pf_jbuf_raw(b, f[i].key, strlen(f[i].key));
        pf_jbuf_raw(b, "\":", 2);
        if (f[i].kind == FK_BOOL) {
            pf_jbuf_bool_text(b, v);
        }
        else {
            char ts[PF_TS_SIZE];
            pf_jbuf_str(b, shown(f[i].kind, v, ts));
        }
    }
}

static int write_fields(pf_jbuf *b, const field *f, size_t n, const char *const *c)
{
    write_members(b, f, n, c);
    pf_jbuf_lit(b, "}");
    return 0;
}

#define SHAPE(name, fields) \
    json_t *pf_shape_##name(const char *const *c) \
    { \
        return shape_fields(fields, NFIELDS(fields), c); \
    }
#define SHAPE_AND_WRITE(name, fields) \
    SHAPE(name, fields) \
    int pf_write_##name(pf_jbuf *b, const char *const *c) \
    { \
        return write_fields(b, fields, NFIELDS(fields), c); \
    }

SHAPE_AND_WRITE(tenant, tenant_fields)
SHAPE_AND_WRITE(identity, identity_fields)
SHAPE_AND_WRITE(role_assignment, role_assignment_fields)
SHAPE_AND_WRITE(finding_row, finding_fields)

/* Details are written as text too: building a jansson tree, parsing the
 * stored evidence into it and dumping it again was half of httpd's
 * instructions for a finding detail. */
void pf_write_identity_open(pf_jbuf *b, const char *const *c)
{
    write_members(b, identity_fields, NFIELDS(identity_fields), c);
}

int pf_write_finding(pf_jbuf *b, const char *const *c)
{
    write_members(b, finding_fields, NFIELDS(finding_fields), c);
    pf_jbuf_lit(b, ",\"description\":");
    pf_jbuf_str(b, c[PF_FND_DESCRIPTION]);
    pf_jbuf_lit(b, ",\"remediation\":");
    pf_jbuf_str(b, c[PF_FND_REMEDIATION]);
    pf_jbuf_lit(b, ",\"evidence\":");
    pf_jbuf_json_text(b, c[PF_FND_EVIDENCE], "{}");
    pf_jbuf_lit(b, ",\"identity\":");
    if (c[PF_FND_IDENTITY] && c[PF_FND_IDN_NAME]) {
        pf_jbuf_lit(b, "{\"id\":");
        pf_jbuf_str(b, c[PF_FND_IDENTITY]);
        pf_jbuf_lit(b, ",\"displayName\":");
        pf_jbuf_str(b, c[PF_FND_IDN_NAME]);
        pf_jbuf_lit(b, ",\"type\":");
        pf_jbuf_str(b, c[PF_FND_IDN_TYPE]);
        pf_jbuf_lit(b, "}}");
    }
    else {
        pf_jbuf_lit(b, "null}");
    }
    return 0;
}

json_t *pf_shape_list_meta(long long total, long long limit, long long offset,
                           const char *tenant)
{
    json_t *meta = json_pack("{s:I, s:I, s:I}", "total", (json_int_t)total, "limit",
                             (json_int_t)limit, "offset", (json_int_t)offset);

    if (meta && tenant) {
        json_object_set_new(meta, "tenant", json_string(tenant));
    }
    return meta ? meta : json_object();
}

json_t *pf_shape_webhook(const char *const *c)
{
    json_t *o = json_object();
    json_t *events = json_array();
    const char *e = c[PF_WHK_EVENTS];

    put(o, "id", c[PF_WHK_ID]);
    put(o, "name", c[PF_WHK_NAME]);
    put(o, "webhookUrl", c[PF_WHK_URL]);
    put(o, "webhookType", c[PF_WHK_TYPE]);
    /* array_to_string output: the names hold no commas. */
    while (e && *e) {
        const char *comma = strchr(e, ',');
        size_t n = comma ? (size_t)(comma - e) : strlen(e);
        json_array_append_new(events, json_stringn(e, n));
        e += n + (comma ? 1 : 0);
    }
    json_object_set_new(o, "eventTypes", events);
    json_object_set_new(o, "active", pf_json_bool_text(c[PF_WHK_ACTIVE]));
    put_ts(o, "createdAt", c[PF_WHK_CREATED]);
    return o;
}

static json_t *int_or_null(const char *s)
{
    return s ? json_integer(strtoll(s, NULL, 10)) : json_null();
}

json_t *pf_shape_delivery(const char *const *c)
{
    json_t *o = json_object();

    put(o, "id", c[PF_DLV_ID]);
    put(o, "eventType", c[PF_DLV_EVENT]);
    put(o, "status", c[PF_DLV_STATUS]);
    json_object_set_new(o, "attempts", int_or_null(c[PF_DLV_ATTEMPTS]));
    json_object_set_new(o, "lastStatusCode", int_or_null(c[PF_DLV_CODE]));
    put(o, "lastError", c[PF_DLV_ERROR]);
    put_ts(o, "createdAt", c[PF_DLV_CREATED]);
    put_ts(o, "deliveredAt", c[PF_DLV_DELIVERED]);
    put_ts(o, "nextAttemptAt", c[PF_DLV_NEXT]);
    return o;
}

/* A roles page row as text: building and dumping a jansson tree for every
 * row was a third of httpd's time on an uncached roles page (the unit test
 * keeps that tree as the reference: the same bytes). The permissions
 * array is PostgreSQL's JSON text, checked as it is copied ([] when it is
 * not JSON). */
int pf_write_role(pf_jbuf *b, const char *const *c)
{
    /* Each member: the text before its value, its column and its kind. */
    static const struct {
        const char *before;
        int col;
        field_kind kind;
    } m[] = {
        { "{\"id\":", PF_ROL_ID, FK_STR },
        { ",\"tenantId\":", PF_ROL_TENANT, FK_STR },
        { ",\"identity\":{\"id\":", PF_ROL_IDN_ID, FK_STR },
        { ",\"displayName\":", PF_ROL_IDN_NAME, FK_STR },
        { ",\"type\":", PF_ROL_IDN_TYPE, FK_STR },
        { "},\"currentRole\":", PF_ROL_CURRENT, FK_STR },
        { ",\"recommendedRole\":", PF_ROL_RECOMMENDED, FK_STR },
        { ",\"scope\":", PF_ROL_SCOPE, FK_STR },
        { ",\"unusedPermissions\":", PF_ROL_UNUSED, FK_JSON },
        { ",\"rationale\":", PF_ROL_RATIONALE, FK_STR },
        { ",\"createdAt\":", PF_ROL_CREATED, FK_TS },
    };

    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        pf_jbuf_raw(b, m[i].before, strlen(m[i].before));
        if (m[i].kind == FK_JSON) {
            pf_jbuf_json_text(b, c[m[i].col], "[]");
        }
        else {
            char ts[PF_TS_SIZE];
            pf_jbuf_str(b, shown(m[i].kind, c[m[i].col], ts));
        }
    }
    pf_jbuf_lit(b, "}");
    return 0;
}

/* Shapes with nested members go through jansson; lists write them too. */
#define WRITE_SHAPED(name) \
    int pf_write_##name(pf_jbuf *b, const char *const *c) \
    { \
        json_t *j = pf_shape_##name(c); \
        int rv = j ? pf_jbuf_value(b, j) : -1; \
        json_decref(j); \
        return rv; \
    }

WRITE_SHAPED(webhook)
WRITE_SHAPED(delivery)
