#include "pf_sql.h"

#include <string.h>

/* RFC 3339, UTC, microseconds: the order clients see is the order we sort. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Optional filters: a NULL parameter switches the condition off. Each
 * parameter appears twice because apr_dbd numbers every %s. */
#define TENANT_FILTER(col) " AND (%s::uuid IS NULL OR " col " = %s::uuid)"
#define TEXT_FILTER(col)   " AND (%s::text[] IS NULL OR " col " = ANY(%s::text[]))"
#define UUID_FILTER(col)   " AND (%s::uuid[] IS NULL OR " col " = ANY(%s::uuid[]))"
#define PAGE               " LIMIT %s::int OFFSET %s::int"

/* Keyset pages continue after the last row's sort key, in list order. */
#define ONLY_LIMIT         " LIMIT %s::int"

#define TENANT_COLS \
    "t.tenant_id, t.display_name, t.primary_domain, t.status, " TS("t.connected_at") ", " \
    TS("t.last_sync_at")

#define IDENTITY_COLS \
    "i.id, i.tenant_id, i.type, i.display_name, i.user_principal_name, i.app_id, i.object_id," \
    " i.enabled, " TS("i.created_at") ", " TS("i.last_sign_in_at")

#define FINDING_COLS \
    "f.id, f.tenant_id, f.severity, f.status, f.finding_type, f.title, f.identity_id, " \
    TS("f.first_seen_at") ", " TS("f.last_seen_at") ", " TS("f.resolved_at")

#define FINDING_WHERE \
    " WHERE f.customer_id = %s::uuid" TENANT_FILTER("f.tenant_id") TEXT_FILTER("f.severity") \
    TEXT_FILTER("f.status") TEXT_FILTER("f.finding_type")

#define IDENTITY_WHERE \
    " WHERE i.customer_id = %s::uuid" TENANT_FILTER("i.tenant_id") TEXT_FILTER("i.type")

/* List orders (contract section 5) with every column ascending, so the
 * rows after a cursor are one index range (sql/004): the *_key columns
 * ascend as their timestamps descend. */
#define FINDING_ORDER "f.severity_rank, f.first_seen_key, f.id"
#define ROLE_ORDER    "rr.created_key, rr.id"

#define ROLE_COLS \
    "rr.id, rr.tenant_id, rr.identity_id, i.display_name, i.type," \
    " rr.current_role_name, rr.recommended_role_name, rr.scope," \
    " array_to_json(rr.unused_permissions)::text, rr.rationale, " TS("rr.created_at")

#define ROLE_FROM \
    " FROM permafrost.role_recommendations rr JOIN permafrost.identities i" \
    "   ON i.customer_id = rr.customer_id AND i.id = rr.identity_id"

#define ROLE_WHERE \
    " WHERE rr.customer_id = %s::uuid" TENANT_FILTER("rr.tenant_id") \
    UUID_FILTER("rr.identity_id")

/* A list is one statement (one round trip): every row carries whether
 * ?tenant= names one of the customer's tenants (true without it) and the
 * filtered total, then the page's columns. An empty page is one row whose
 * page columns are NULL; for a foreign tenant the page is not read at all.
 * The page also returns its sort key as k1, k2, ..., which the outer ORDER
 * BY restates so the join cannot reorder the page.
 *
 * Arguments: customer, tenant, tenant (the tenant check), the filters of
 * the total, the filters of the page, then the cursor's key, the limit and
 * (offset pages) the offset. */
#define LIST_HEAD(total) \
    "SELECT h.ok, h.total, p.* FROM (SELECT (EXISTS (SELECT 1 FROM permafrost.tenants" \
    " WHERE customer_id = %s::uuid AND tenant_id = %s::uuid) OR %s::uuid IS NULL) AS ok," \
    " (" total ") AS total) h LEFT JOIN LATERAL ("
#define LIST_TAIL(keys) ") p ON true ORDER BY " keys

#define TENANT_KEYS   ", t.display_name AS k1, t.tenant_id AS k2"
#define IDENTITY_KEYS ", i.display_name AS k1, i.id AS k2"
#define FINDING_KEYS  ", f.severity_rank AS k1, f.first_seen_key AS k2, f.id AS k3"
#define ROLE_KEYS     ", rr.created_key AS k1, rr.id AS k2"

#define TENANT_WHERE   " WHERE t.customer_id = %s::uuid" TENANT_FILTER("t.tenant_id")
#define TENANTS_TOTAL  "SELECT count(*) FROM permafrost.tenants t" TENANT_WHERE
#define IDENTITIES_TOTAL "SELECT count(*) FROM permafrost.identities i" IDENTITY_WHERE
/* Totals come from counts the database maintains (sql/002): the cost does
 * not grow with the number of findings. */
#define FINDINGS_TOTAL \
    "SELECT coalesce(sum(f.n), 0) FROM permafrost.finding_counts f" FINDING_WHERE
#define ROLES_TOTAL "SELECT count(*) FROM permafrost.role_recommendations rr" ROLE_WHERE

const pf_sql_stmt pf_sql_statements[PF_SQL_COUNT_] = {
    /* One round trip resolves the key and, at most once a minute, records
     * that it was used, so last_used_at stays roughly current without a
     * write per request. */
    [PF_SQL_KEY_LOOKUP] = { "pf_key_lookup",
        "WITH k AS ("
        "  SELECT id, customer_id, scopes, expires_at, revoked_at, last_used_at"
        "  FROM permafrost.api_keys WHERE key_hash = decode(%s, 'hex')),"
        " touch AS ("
        "  UPDATE permafrost.api_keys a SET last_used_at = now() FROM k"
        "  WHERE a.id = k.id AND k.revoked_at IS NULL"
        "    AND (k.expires_at IS NULL OR k.expires_at > now())"
        "    AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds')"
        "  RETURNING a.id)"
        " SELECT k.id, k.customer_id, array_to_string(k.scopes, ','),"
        "  (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())),"
        "  COALESCE(floor(extract(epoch FROM k.expires_at))::bigint, 0),"
        "  (SELECT count(*) FROM touch)"
        " FROM k" },
    [PF_SQL_HEALTH] = { "pf_health", "SELECT 1" },

    [PF_SQL_TENANT_EXISTS] = { "pf_tenant_exists",
        "SELECT 1 FROM permafrost.tenants WHERE customer_id = %s::uuid AND tenant_id = %s::uuid" },
    [PF_SQL_TENANTS_LIST] = { "pf_tenants_list",
        LIST_HEAD(TENANTS_TOTAL)
        "SELECT " TENANT_COLS TENANT_KEYS " FROM permafrost.tenants t" TENANT_WHERE " AND h.ok"
        " ORDER BY t.display_name, t.tenant_id" PAGE LIST_TAIL("p.k1, p.k2") },

    [PF_SQL_IDENTITIES_LIST] = { "pf_identities_list",
        LIST_HEAD(IDENTITIES_TOTAL)
        "SELECT " IDENTITY_COLS IDENTITY_KEYS " FROM permafrost.identities i" IDENTITY_WHERE
        " AND h.ok ORDER BY i.display_name, i.id" PAGE LIST_TAIL("p.k1, p.k2") },
    [PF_SQL_IDENTITY_GET] = { "pf_identity_get",
        "SELECT " IDENTITY_COLS " FROM permafrost.identities i"
        " WHERE i.customer_id = %s::uuid AND i.id = %s::uuid" TENANT_FILTER("i.tenant_id") },
    [PF_SQL_ROLE_ASSIGNMENTS] = { "pf_role_assignments",
        "SELECT ra.id, ra.role_name, ra.role_definition_id, ra.scope, ra.assignment_type, "
        TS("ra.created_at") " FROM permafrost.role_assignments ra"
        " WHERE ra.customer_id = %s::uuid AND ra.identity_id = %s::uuid"
        " ORDER BY ra.role_name, ra.id" },

    [PF_SQL_FINDINGS_LIST] = { "pf_findings_list",
        LIST_HEAD(FINDINGS_TOTAL)
        "SELECT " FINDING_COLS FINDING_KEYS " FROM permafrost.findings f" FINDING_WHERE
        " AND h.ok ORDER BY " FINDING_ORDER PAGE LIST_TAIL("p.k1, p.k2, p.k3") },
    [PF_SQL_FINDING_GET] = { "pf_finding_get",
        "SELECT " FINDING_COLS ", f.description, f.remediation, f.evidence::text,"
        " i.display_name, i.type"
        " FROM permafrost.findings f LEFT JOIN permafrost.identities i"
        "   ON i.customer_id = f.customer_id AND i.id = f.identity_id"
        " WHERE f.customer_id = %s::uuid AND f.id = %s::uuid" TENANT_FILTER("f.tenant_id") },

    [PF_SQL_ROLES_LIST] = { "pf_roles_list",
        LIST_HEAD(ROLES_TOTAL)
        "SELECT " ROLE_COLS ROLE_KEYS ROLE_FROM ROLE_WHERE " AND h.ok ORDER BY " ROLE_ORDER PAGE
        LIST_TAIL("p.k1, p.k2") },

    [PF_SQL_TENANTS_AFTER] = { "pf_tenants_after",
        LIST_HEAD(TENANTS_TOTAL)
        "SELECT " TENANT_COLS TENANT_KEYS " FROM permafrost.tenants t" TENANT_WHERE " AND h.ok"
        " AND (t.display_name, t.tenant_id) > (%s, %s::uuid)"
        " ORDER BY t.display_name, t.tenant_id" ONLY_LIMIT LIST_TAIL("p.k1, p.k2") },
    [PF_SQL_IDENTITIES_AFTER] = { "pf_identities_after",
        LIST_HEAD(IDENTITIES_TOTAL)
        "SELECT " IDENTITY_COLS IDENTITY_KEYS " FROM permafrost.identities i" IDENTITY_WHERE
        " AND h.ok AND (i.display_name, i.id) > (%s, %s::uuid)"
        " ORDER BY i.display_name, i.id" ONLY_LIMIT LIST_TAIL("p.k1, p.k2") },
    /* The cursor holds the last row's timestamp as shown; the same function
     * that fills the key column turns it into the key. */
    [PF_SQL_FINDINGS_AFTER] = { "pf_findings_after",
        LIST_HEAD(FINDINGS_TOTAL)
        "SELECT " FINDING_COLS FINDING_KEYS " FROM permafrost.findings f" FINDING_WHERE
        " AND h.ok AND (" FINDING_ORDER ") > (%s::smallint,"
        " permafrost.newest_first_key(%s::timestamptz), %s::uuid)"
        " ORDER BY " FINDING_ORDER ONLY_LIMIT LIST_TAIL("p.k1, p.k2, p.k3") },
    [PF_SQL_ROLES_AFTER] = { "pf_roles_after",
        LIST_HEAD(ROLES_TOTAL)
        "SELECT " ROLE_COLS ROLE_KEYS ROLE_FROM ROLE_WHERE
        " AND h.ok AND (" ROLE_ORDER ") > (permafrost.newest_first_key(%s::timestamptz),"
        " %s::uuid) ORDER BY " ROLE_ORDER ONLY_LIMIT LIST_TAIL("p.k1, p.k2") },
};

const char *pf_sql_text_array(apr_pool_t *p, const char *const *items, int count)
{
    size_t need = 3;
    char *out, *o;

    for (int i = 0; i < count; i++) {
        need += strlen(items[i]) * 2 + 3;
    }
    o = out = apr_palloc(p, need);
    *o++ = '{';
    for (int i = 0; i < count; i++) {
        if (i) {
            *o++ = ',';
        }
        *o++ = '"';
        for (const char *c = items[i]; *c; c++) {
            if (*c == '"' || *c == '\\') {
                *o++ = '\\';
            }
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}
