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

json_t *pf_shape_json_text(const char *text, json_t *fallback)
{
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

    if (!j) {
        return fallback;
    }
    json_decref(fallback);
    return j;
}

json_t *pf_shape_tenant(const char *const *c)
{
    json_t *o = json_object();

    put(o, "id", c[PF_TEN_ID]);
    put(o, "displayName", c[PF_TEN_NAME]);
    put(o, "primaryDomain", c[PF_TEN_DOMAIN]);
    put(o, "status", c[PF_TEN_STATUS]);
    put(o, "connectedAt", c[PF_TEN_CONNECTED]);
    put(o, "lastSyncAt", c[PF_TEN_SYNC]);
    return o;
}

json_t *pf_shape_identity(const char *const *c)
{
    json_t *o = json_object();

    put(o, "id", c[PF_IDN_ID]);
    put(o, "tenantId", c[PF_IDN_TENANT]);
    put(o, "type", c[PF_IDN_TYPE]);
    put(o, "displayName", c[PF_IDN_NAME]);
    put(o, "userPrincipalName", c[PF_IDN_UPN]);
    put(o, "appId", c[PF_IDN_APP]);
    put(o, "objectId", c[PF_IDN_OBJECT]);
    json_object_set_new(o, "enabled", pf_json_bool_text(c[PF_IDN_ENABLED]));
    put(o, "createdAt", c[PF_IDN_CREATED]);
    put(o, "lastSignInAt", c[PF_IDN_SIGNIN]);
    return o;
}

json_t *pf_shape_role_assignment(const char *const *c)
{
    json_t *o = json_object();

    put(o, "id", c[PF_RA_ID]);
    put(o, "roleName", c[PF_RA_ROLE]);
    put(o, "roleDefinitionId", c[PF_RA_ROLEDEF]);
    put(o, "scope", c[PF_RA_SCOPE]);
    put(o, "assignmentType", c[PF_RA_TYPE]);
    put(o, "createdAt", c[PF_RA_CREATED]);
    return o;
}

json_t *pf_shape_finding(const char *const *c, int detail)
{
    json_t *o = json_object();

    put(o, "id", c[PF_FND_ID]);
    put(o, "tenantId", c[PF_FND_TENANT]);
    put(o, "severity", c[PF_FND_SEVERITY]);
    put(o, "status", c[PF_FND_STATUS]);
    put(o, "findingType", c[PF_FND_TYPE]);
    put(o, "title", c[PF_FND_TITLE]);
    put(o, "identityId", c[PF_FND_IDENTITY]);
    put(o, "firstSeenAt", c[PF_FND_FIRST]);
    put(o, "lastSeenAt", c[PF_FND_LAST]);
    put(o, "resolvedAt", c[PF_FND_RESOLVED]);
    if (detail) {
        put(o, "description", c[PF_FND_DESCRIPTION]);
        put(o, "remediation", c[PF_FND_REMEDIATION]);
        json_object_set_new(o, "evidence", pf_shape_json_text(c[PF_FND_EVIDENCE], json_object()));
        if (c[PF_FND_IDENTITY] && c[PF_FND_IDN_NAME]) {
            json_t *idn = json_object();
            put(idn, "id", c[PF_FND_IDENTITY]);
            put(idn, "displayName", c[PF_FND_IDN_NAME]);
            put(idn, "type", c[PF_FND_IDN_TYPE]);
            json_object_set_new(o, "identity", idn);
        }
        else {
            json_object_set_new(o, "identity", json_null());
        }
    }
    return o;
}

json_t *pf_shape_role(const char *const *c)
{
    json_t *o = json_object();
    json_t *idn = json_object();

    put(o, "id", c[PF_ROL_ID]);
    put(o, "tenantId", c[PF_ROL_TENANT]);
    put(idn, "id", c[PF_ROL_IDN_ID]);
    put(idn, "displayName", c[PF_ROL_IDN_NAME]);
    put(idn, "type", c[PF_ROL_IDN_TYPE]);
    json_object_set_new(o, "identity", idn);
    put(o, "currentRole", c[PF_ROL_CURRENT]);
    put(o, "recommendedRole", c[PF_ROL_RECOMMENDED]);
    put(o, "scope", c[PF_ROL_SCOPE]);
    json_object_set_new(o, "unusedPermissions", pf_shape_json_text(c[PF_ROL_UNUSED], json_array()));
    put(o, "rationale", c[PF_ROL_RATIONALE]);
    put(o, "createdAt", c[PF_ROL_CREATED]);
    return o;
}

json_t *pf_shape_list(json_t *data, long long total, long long limit, long long offset,
                      const char *tenant)
{
    json_t *meta = json_pack("{s:I, s:I, s:I}", "total", (json_int_t)total, "limit",
                             (json_int_t)limit, "offset", (json_int_t)offset);

    if (meta && tenant) {
        json_object_set_new(meta, "tenant", json_string(tenant));
    }
    return json_pack("{s:o, s:o}", "data", data, "meta", meta ? meta : json_object());
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
    put(o, "createdAt", c[PF_WHK_CREATED]);
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
    put(o, "createdAt", c[PF_DLV_CREATED]);
    put(o, "deliveredAt", c[PF_DLV_DELIVERED]);
    put(o, "nextAttemptAt", c[PF_DLV_NEXT]);
    return o;
}
