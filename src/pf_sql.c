#include "pf_sql.h"

#include <string.h>

/* RFC 3339, UTC, microseconds, formatted by PostgreSQL: only the webhook
 * drainer's claim still uses it, for the times it copies into payloads. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* The same instant as UTC wall-clock time, which C writes in the same form
 * (pf_ts_rfc3339): to_char on every timestamp of a 100-row page was about a
 * tenth of the list statement's time. Every column the API answers with
 * uses it; each pooled session's DateStyle is ISO, the form C reads. */
#define UTC(col) "(" col " AT TIME ZONE 'UTC')"

/* Parameters of list statements are read through one-row subqueries:
 * PostgreSQL computes each once per execution (an InitPlan) instead of
 * casting apr_dbd's varchar text on every row, and the planner sees the
 * same unknowns whether it plans for one execution or for all, so the
 * session settles on a generic plan after five executions instead of
 * planning every request anew. */
#define P_UUID  "(SELECT %s::uuid)"
#define P_TEXTS "(SELECT %s::text[])"
#define P_UUIDS "(SELECT %s::uuid[])"
#define P_INT   "(SELECT %s::int)"
#define P_TEXT  "(SELECT %s::text)"

/* Optional filters: a NULL parameter switches the condition off. Each
 * parameter appears twice because apr_dbd numbers every %s. */
#define TENANT_FILTER(col) " AND (" P_UUID " IS NULL OR " col " = " P_UUID ")"
#define TEXT_FILTER(col)   " AND (" P_TEXTS " IS NULL OR " col " = ANY(" P_TEXTS "::text[]))"
#define UUID_FILTER(col)   " AND (" P_UUIDS " IS NULL OR " col " = ANY(" P_UUIDS "::uuid[]))"
/* Lists whose tables have a tenant-leading index come in two statements,
 * without and with ?tenant=, so each plan uses its own index; both keep
 * the tenant pair of arguments (NULL, or the tenant) and refuse the other
 * case outright. */
#define NO_TENANT(col)     " AND " P_UUID " IS NULL AND " P_UUID " IS NULL"
#define ONE_TENANT(col)    " AND " col " = " P_UUID " AND " P_UUID " IS NOT NULL"
#define PAGE               " LIMIT " P_INT " OFFSET " P_INT

/* Keyset pages continue after the last row's sort key, in list order. */
#define ONLY_LIMIT         " LIMIT " P_INT

#define TENANT_COLS \
    "t.tenant_id, t.display_name, t.primary_domain, t.status, " UTC("t.connected_at") ", " \
    UTC("t.last_sync_at")

#define IDENTITY_COLS \
    "i.id, i.tenant_id, i.type, i.display_name, i.user_principal_name, i.app_id, i.object_id," \
    " i.enabled, " UTC("i.created_at") ", " UTC("i.last_sign_in_at")

#define FINDING_COLS \
    "f.id, f.tenant_id, f.severity, f.status, f.finding_type, f.title, f.identity_id, " \
    UTC("f.first_seen_at") ", " UTC("f.last_seen_at") ", " UTC("f.resolved_at")

#define FINDING_WHERE(tenant) \
    " WHERE f.customer_id = " P_UUID tenant("f.tenant_id") TEXT_FILTER("f.severity") \
    TEXT_FILTER("f.status") TEXT_FILTER("f.finding_type")

#define IDENTITY_WHERE(tenant) \
    " WHERE i.customer_id = " P_UUID tenant("i.tenant_id") TEXT_FILTER("i.type")

/* List orders (contract section 5) with every column ascending, so the
 * rows after a cursor are one index range (sql/004): the *_key columns
 * ascend as their timestamps descend. */
#define FINDING_ORDER "f.severity_rank, f.first_seen_key, f.id"
#define ROLE_ORDER    "rr.created_key, rr.id"

#define ROLE_COLS \
    "rr.id, rr.tenant_id, rr.identity_id, i.display_name, i.type," \
    " rr.current_role_name, rr.recommended_role_name, rr.scope," \
    " array_to_json(rr.unused_permissions)::text, rr.rationale, " UTC("rr.created_at")

#define ROLE_WHERE \
    " WHERE rr.customer_id = " P_UUID TENANT_FILTER("rr.tenant_id") \
    UUID_FILTER("rr.identity_id")

/* A list is read in one round trip, in one of two forms.
 *
 * The quick form (QUICK_LIST) is the page query itself, with its own ORDER
 * BY as the statement's: the rows come in list order by SQL's guarantee,
 * with no join and no second sort. Each row also carries the customer's
 * data version (sql/005), whether ?tenant= names one of the customer's
 * tenants (true without it) and the filtered total, as one-row subqueries
 * PostgreSQL computes once per execution, in the same snapshot as the rows.
 * It returns no row at all for an empty page or a foreign tenant.
 *
 * The complete form (LIST) answers those: the same three values as one row
 * joined with the page, so an empty page is one row whose page columns are
 * NULL, and for a foreign tenant the page is not read at all. The join
 * could reorder the page, so the page also returns its sort key (k1, k2,
 * ...) and the statement sorts its few rows by it once more. A list request
 * runs the quick form, and the complete one only when the quick one
 * returned nothing (pf_sql_quick).
 *
 * Both forms take the same arguments: customer (the version), customer,
 * tenant, tenant (the tenant check), the filters of the total, the filters
 * of the page, then the cursor's key, the limit and (offset pages) the
 * offset. */
#define LIST_HEAD(total) LIST_HEAD_V(VERSIONED, total)
/* Webhooks and deliveries are not versioned (their answers are never kept):
 * the customer argument stays, the read does not. */
#define UNVERSIONED_LIST_HEAD(total) LIST_HEAD_V(UNVERSIONED, total)
#define VERSIONED \
    "(SELECT v.version FROM permafrost.data_versions v WHERE v.customer_id = " P_UUID ")"
#define UNVERSIONED "(SELECT NULL::bigint WHERE " P_UUID " IS NULL)"
#define TENANT_OK \
    "(EXISTS (SELECT 1 FROM permafrost.tenants" \
    " WHERE customer_id = " P_UUID " AND tenant_id = " P_UUID ") OR " P_UUID " IS NULL)"
/* The three values alone, one row: also a statement of its own, a list's
 * head (pf_sql_head). */
#define HEAD_V(version, total) \
    "SELECT " version " AS version, " TENANT_OK " AS ok, (" total ") AS total"
#define LIST_HEAD_V(version, total) \
    "SELECT h.version, h.ok, h.total, p.* FROM (" HEAD_V(version, total) \
    ") h LEFT JOIN LATERAL ("
#define LIST_TAIL(keys) ") p ON true ORDER BY " keys
/* The two forms of one list: cols, then FROM and WHERE (cursor condition
 * included), the page's ORDER BY and its LIMIT/OFFSET; the complete form
 * also selects keys and sorts by tail. */
#define LIST(total, cols, keys, from_where, order, page, tail) \
    LIST_HEAD(total) "SELECT " cols keys from_where " AND h.ok ORDER BY " order page \
    LIST_TAIL(tail)
#define QUICK_LIST(total, cols, from_where, order, page) \
    HEAD_V(VERSIONED, total) ", " cols from_where " ORDER BY " order page

#define TENANT_KEYS   ", t.display_name AS k1, t.tenant_id AS k2"
#define IDENTITY_KEYS ", i.display_name AS k1, i.id AS k2"
#define FINDING_KEYS  ", f.severity_rank AS k1, f.first_seen_key AS k2, f.id AS k3"
#define ROLE_KEYS     ", rr.created_key AS k1, rr.id AS k2"

#define TENANT_WHERE   " WHERE t.customer_id = " P_UUID TENANT_FILTER("t.tenant_id")
#define TENANTS_TOTAL  "SELECT count(*) FROM permafrost.tenants t" TENANT_WHERE
/* Totals come from counts the database maintains: the cost does not grow
 * with the number of findings or identities. Customer-wide totals read the
 * counts summed over tenants (sql/006, sql/009), so neither does it grow
 * with the tenants; a ?tenant= total reads that tenant's counts (sql/002,
 * sql/009). */
#define NO_TENANT_COUNTS    "permafrost.finding_totals"
#define ONE_TENANT_COUNTS   "permafrost.finding_counts"
#define NO_TENANT_IDCOUNTS  "permafrost.identity_totals"
#define ONE_TENANT_IDCOUNTS "permafrost.identity_counts"
#define FINDINGS_TOTAL(tenant) \
    "SELECT coalesce(sum(f.n), 0) FROM " tenant##_COUNTS " f" FINDING_WHERE(tenant)
#define IDENTITIES_TOTAL(tenant) \
    "SELECT coalesce(sum(i.n), 0) FROM " tenant##_IDCOUNTS " i" IDENTITY_WHERE(tenant)
/* Roles totals from the counts of sql/010, by tenant or in all; with
 * identityId, the rows of those identities are counted (an index range
 * each). The arguments are the list's usual five (customer, tenant twice,
 * identity ids twice), bound once as the columns of a and read as needed;
 * t2 and ids2 only keep that layout. */
#define ROLES_TOTAL \
    "SELECT CASE WHEN a.ids IS NOT NULL THEN" \
    " (SELECT count(*) FROM permafrost.role_recommendations rr WHERE rr.customer_id = a.c" \
    "  AND (a.t IS NULL OR rr.tenant_id = a.t) AND rr.identity_id = ANY(a.ids))" \
    " WHEN a.t IS NULL THEN" \
    " (SELECT coalesce(sum(c.n), 0) FROM permafrost.role_totals c WHERE c.customer_id = a.c)" \
    " ELSE (SELECT coalesce(sum(c.n), 0) FROM permafrost.role_counts c" \
    "  WHERE c.customer_id = a.c AND c.tenant_id = a.t) END" \
    " FROM (SELECT %s::uuid AS c, %s::uuid AS t, %s::uuid AS t2, %s::uuid[] AS ids," \
    " %s::uuid[] AS ids2) a"

/* A cursor's time as the list selected it, UTC wall-clock time. Cursors
 * from before (to_char's text, ending in "Z") read the same: a timestamp
 * without time zone ignores the zone in its input. */
#define CURSOR_TS "(%s::timestamp AT TIME ZONE 'UTC')"

#define WEBHOOK_COLS \
    "w.id, w.name, w.webhook_url, w.webhook_type, array_to_string(w.event_types, ','), w.active, " \
    UTC("w.created_at")

/* Subscriptions are customer-wide: ?tenant= is checked (404 when unknown)
 * but filters nothing; its two parameters are read here only to keep the
 * list layout. */
#define TENANT_IGNORED "(%s::uuid IS NULL OR %s::uuid IS NOT NULL)"
#define WEBHOOK_WHERE \
    " WHERE w.customer_id = " P_UUID " AND " TENANT_IGNORED " AND w.active"

#define DELIVERY_COLS \
    "d.id, d.event_type, d.status, d.attempts, d.last_status_code, d.last_error, " \
    UTC("d.created_at") ", " UTC("d.delivered_at") ", " \
    "CASE WHEN d.status = 'pending' THEN " UTC("greatest(d.next_attempt_at, now())") " END"

/* One subscription's rows of table alias a: customer, the tenant pair,
 * then the webhook id. Only deliveries of a subscription that is still
 * active are shown (h.ok). */
#define DELIVERY_WHERE_OF(a) \
    " WHERE " a ".customer_id = " P_UUID " AND " TENANT_IGNORED \
    " AND " a ".webhook_id = " P_UUID
#define DELIVERY_WHERE DELIVERY_WHERE_OF("d")

#define WEBHOOK_KEYS    ", w.created_at AS k1, w.id AS k2"
#define WEBHOOKS_TOTAL  "SELECT count(*) FROM permafrost.webhooks w" WEBHOOK_WHERE
#define DELIVERY_KEYS   ", d.created_at AS k1, d.id AS k2"
/* Kept by the database (sql/011): the log grows with every analyzer pass,
 * and counting it was nearly all of a long log's page. */
#define DELIVERIES_TOTAL \
    "SELECT coalesce(sum(c.n), 0) FROM permafrost.webhook_delivery_counts c" \
    DELIVERY_WHERE_OF("c")

#define IDENTITY_FROM(tenant) " FROM permafrost.identities i" IDENTITY_WHERE(tenant)
#define IDENTITY_AFTER " AND (i.display_name, i.id) > (" P_TEXT ", " P_UUID ")"
#define IDENTITY_ORDER "i.display_name, i.id"
#define IDENTITIES_LIST(form, tenant) \
    form(IDENTITIES_TOTAL(tenant), IDENTITY_COLS, IDENTITY_KEYS, IDENTITY_FROM(tenant), \
         IDENTITY_ORDER, PAGE, "p.k1, p.k2")
#define IDENTITIES_AFTER(form, tenant) \
    form(IDENTITIES_TOTAL(tenant), IDENTITY_COLS, IDENTITY_KEYS, \
         IDENTITY_FROM(tenant) IDENTITY_AFTER, IDENTITY_ORDER, ONLY_LIMIT, "p.k1, p.k2")
#define FINDING_FROM(tenant) " FROM permafrost.findings f" FINDING_WHERE(tenant)
/* The cursor holds the last row's first_seen_at as the statement selected
 * it, UTC wall-clock time (cursors issued before held RFC 3339 with "Z",
 * which reads the same as a timestamp); the same function that fills the
 * key column turns it into the key. */
#define FINDING_AFTER \
    " AND (" FINDING_ORDER ") > ((SELECT %s::smallint)," \
    " (SELECT permafrost.newest_first_key(%s::timestamp AT TIME ZONE 'UTC')), " P_UUID ")"
#define FINDINGS_LIST(form, tenant) \
    form(FINDINGS_TOTAL(tenant), FINDING_COLS, FINDING_KEYS, FINDING_FROM(tenant), \
         FINDING_ORDER, PAGE, "p.k1, p.k2, p.k3")
#define FINDINGS_AFTER(form, tenant) \
    form(FINDINGS_TOTAL(tenant), FINDING_COLS, FINDING_KEYS, FINDING_FROM(tenant) FINDING_AFTER, \
         FINDING_ORDER, ONLY_LIMIT, "p.k1, p.k2, p.k3")
/* An offset page that skips many findings reads them in two steps, as the
 * roles list does: the page's ids and keys first, from the order index
 * alone (its INCLUDE columns answer the filters, sql/008), then those rows
 * by primary key. Read whole, every skipped row was a heap fetch: offset
 * 100,000 of 1.15M findings took 266 ms, 21 ms this way. On the first
 * pages the second step costs more than it saves (the route decides,
 * run_list).
 * The rows are looked up one by one, in page order, by a LATERAL
 * subquery that OFFSET 0 keeps from being merged into a join: the
 * generic plan, which cannot know the LIMIT, otherwise hashed the page
 * against a scan of the whole findings table wherever the table was
 * small enough for that to look cheaper. */
#define FINDING_PAGE(tenant) \
    " FROM (SELECT f.id, f.severity_rank, f.first_seen_key" FINDING_FROM(tenant) \
    " ORDER BY " FINDING_ORDER PAGE ") pg CROSS JOIN LATERAL" \
    " (SELECT * FROM permafrost.findings f WHERE f.id = pg.id OFFSET 0) f WHERE true"
#define FINDING_PAGE_ORDER "pg.severity_rank, pg.first_seen_key, pg.id"
#define FINDINGS_DEEP(form, tenant) \
    form(FINDINGS_TOTAL(tenant), FINDING_COLS, FINDING_KEYS, FINDING_PAGE(tenant), \
         FINDING_PAGE_ORDER, "", "p.k1, p.k2, p.k3")
#define TENANT_FROM " FROM permafrost.tenants t" TENANT_WHERE
#define TENANT_AFTER " AND (t.display_name, t.tenant_id) > (" P_TEXT ", " P_UUID ")"
#define TENANT_ORDER "t.display_name, t.tenant_id"
#define TENANTS_LIST(form) \
    form(TENANTS_TOTAL, TENANT_COLS, TENANT_KEYS, TENANT_FROM, TENANT_ORDER, PAGE, "p.k1, p.k2")
#define TENANTS_AFTER(form) \
    form(TENANTS_TOTAL, TENANT_COLS, TENANT_KEYS, TENANT_FROM TENANT_AFTER, TENANT_ORDER, \
         ONLY_LIMIT, "p.k1, p.k2")
/* As FINDING_AFTER: the cursor holds created_at as UTC wall-clock time
 * (those issued before held RFC 3339 with "Z", which reads the same). */
#define ROLE_AFTER \
    " AND (" ROLE_ORDER ") > ((SELECT permafrost.newest_first_key(%s::timestamp AT TIME ZONE" \
    " 'UTC')), " P_UUID ")"
/* A page of roles is read in two steps: its ids and keys first, in list
 * order, from the recommendations alone; then those rows and their
 * identities by primary key. With the identities joined first, the generic
 * plan (whose LIMIT is unknown, so it prices the order index above a scan
 * and a sort) joined and sorted every recommendation of the customer for
 * each page: 17-23 ms for 4,645 of them, 4.6 ms with the ids first. The
 * ids come from the customer's rows only, and the identity join keeps the
 * customer too. "WHERE true" lets the complete form add its tenant check. */
#define ROLE_PAGE(after, page) \
    " FROM (SELECT rr.id, rr.created_key FROM permafrost.role_recommendations rr" ROLE_WHERE \
    after " ORDER BY " ROLE_ORDER page ") pg" \
    " JOIN permafrost.role_recommendations rr ON rr.id = pg.id" \
    " JOIN permafrost.identities i ON i.customer_id = rr.customer_id AND i.id = rr.identity_id" \
    " WHERE true"
#define ROLE_PAGE_ORDER "pg.created_key, pg.id"
#define ROLES_LIST(form) \
    form(ROLES_TOTAL, ROLE_COLS, ROLE_KEYS, ROLE_PAGE("", PAGE), ROLE_PAGE_ORDER, "", \
         "p.k1, p.k2")
#define ROLES_AFTER(form) \
    form(ROLES_TOTAL, ROLE_COLS, ROLE_KEYS, ROLE_PAGE(ROLE_AFTER, ONLY_LIMIT), ROLE_PAGE_ORDER, \
         "", "p.k1, p.k2")
/* QUICK_LIST has no keys and no tail. */
#define QUICK(total, cols, keys, from_where, order, page, tail) \
    QUICK_LIST(total, cols, from_where, order, page)
/* A list's head alone takes the first arguments of the list statements,
 * up to the total's. */
#define HEAD(total, cols, keys, from_where, order, page, tail) HEAD_V(VERSIONED, total)

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
    /* Whether a kept list answer is still the answer (pf_listcache.h). */
    [PF_SQL_DATA_VERSION] = { "pf_data_version",
        "SELECT version FROM permafrost.data_versions WHERE customer_id = %s::uuid" },

    [PF_SQL_TENANT_EXISTS] = { "pf_tenant_exists",
        "SELECT 1 FROM permafrost.tenants WHERE customer_id = %s::uuid AND tenant_id = %s::uuid" },
    [PF_SQL_TENANTS_LIST] = { "pf_tenants_list", TENANTS_LIST(LIST) },
    [PF_SQL_TENANTS_LIST_Q] = { "pf_tenants_list_q", TENANTS_LIST(QUICK) },

    [PF_SQL_IDENTITIES_LIST] = { "pf_identities_list", IDENTITIES_LIST(LIST, NO_TENANT) },
    [PF_SQL_IDENTITIES_LIST_T] = { "pf_identities_list_t", IDENTITIES_LIST(LIST, ONE_TENANT) },
    [PF_SQL_IDENTITIES_LIST_Q] = { "pf_identities_list_q", IDENTITIES_LIST(QUICK, NO_TENANT) },
    [PF_SQL_IDENTITIES_LIST_T_Q] = { "pf_identities_list_t_q",
        IDENTITIES_LIST(QUICK, ONE_TENANT) },
    /* The identity and its role assignments in one round trip: a row per
     * assignment (identity columns repeated), or one row with NULL
     * assignment columns when it has none. */
    [PF_SQL_IDENTITY_GET] = { "pf_identity_get",
        "SELECT " IDENTITY_COLS ", ra.id, ra.role_name, ra.role_definition_id, ra.scope,"
        " ra.assignment_type, " UTC("ra.created_at") " FROM permafrost.identities i"
        " LEFT JOIN permafrost.role_assignments ra"
        "   ON ra.customer_id = i.customer_id AND ra.identity_id = i.id"
        " WHERE i.customer_id = %s::uuid AND i.id = %s::uuid" TENANT_FILTER("i.tenant_id")
        " ORDER BY ra.role_name, ra.id" },

    [PF_SQL_FINDINGS_LIST] = { "pf_findings_list", FINDINGS_LIST(LIST, NO_TENANT) },
    [PF_SQL_FINDINGS_LIST_T] = { "pf_findings_list_t", FINDINGS_LIST(LIST, ONE_TENANT) },
    [PF_SQL_FINDINGS_LIST_Q] = { "pf_findings_list_q", FINDINGS_LIST(QUICK, NO_TENANT) },
    [PF_SQL_FINDINGS_LIST_T_Q] = { "pf_findings_list_t_q", FINDINGS_LIST(QUICK, ONE_TENANT) },
    [PF_SQL_FINDING_GET] = { "pf_finding_get",
        "SELECT " FINDING_COLS ", f.description, f.remediation, f.evidence::text,"
        " i.display_name, i.type"
        " FROM permafrost.findings f LEFT JOIN permafrost.identities i"
        "   ON i.customer_id = f.customer_id AND i.id = f.identity_id"
        " WHERE f.customer_id = %s::uuid AND f.id = %s::uuid" TENANT_FILTER("f.tenant_id") },

    [PF_SQL_ROLES_LIST] = { "pf_roles_list", ROLES_LIST(LIST) },
    [PF_SQL_ROLES_LIST_Q] = { "pf_roles_list_q", ROLES_LIST(QUICK) },

    [PF_SQL_TENANTS_AFTER] = { "pf_tenants_after", TENANTS_AFTER(LIST) },
    [PF_SQL_TENANTS_AFTER_Q] = { "pf_tenants_after_q", TENANTS_AFTER(QUICK) },
    [PF_SQL_IDENTITIES_AFTER] = { "pf_identities_after", IDENTITIES_AFTER(LIST, NO_TENANT) },
    [PF_SQL_IDENTITIES_AFTER_T] = { "pf_identities_after_t",
        IDENTITIES_AFTER(LIST, ONE_TENANT) },
    [PF_SQL_IDENTITIES_AFTER_Q] = { "pf_identities_after_q",
        IDENTITIES_AFTER(QUICK, NO_TENANT) },
    [PF_SQL_IDENTITIES_AFTER_T_Q] = { "pf_identities_after_t_q",
        IDENTITIES_AFTER(QUICK, ONE_TENANT) },
    [PF_SQL_FINDINGS_AFTER] = { "pf_findings_after", FINDINGS_AFTER(LIST, NO_TENANT) },
    [PF_SQL_FINDINGS_AFTER_T] = { "pf_findings_after_t", FINDINGS_AFTER(LIST, ONE_TENANT) },
    [PF_SQL_FINDINGS_AFTER_Q] = { "pf_findings_after_q", FINDINGS_AFTER(QUICK, NO_TENANT) },
    [PF_SQL_FINDINGS_AFTER_T_Q] = { "pf_findings_after_t_q",
        FINDINGS_AFTER(QUICK, ONE_TENANT) },
    [PF_SQL_FINDINGS_DEEP] = { "pf_findings_deep", FINDINGS_DEEP(LIST, NO_TENANT) },
    [PF_SQL_FINDINGS_DEEP_T] = { "pf_findings_deep_t", FINDINGS_DEEP(LIST, ONE_TENANT) },
    [PF_SQL_FINDINGS_DEEP_Q] = { "pf_findings_deep_q", FINDINGS_DEEP(QUICK, NO_TENANT) },
    [PF_SQL_FINDINGS_DEEP_T_Q] = { "pf_findings_deep_t_q", FINDINGS_DEEP(QUICK, ONE_TENANT) },
    [PF_SQL_ROLES_AFTER] = { "pf_roles_after", ROLES_AFTER(LIST) },
    [PF_SQL_ROLES_AFTER_Q] = { "pf_roles_after_q", ROLES_AFTER(QUICK) },

    [PF_SQL_WEBHOOKS_LIST] = { "pf_webhooks_list",
        UNVERSIONED_LIST_HEAD(WEBHOOKS_TOTAL)
        "SELECT " WEBHOOK_COLS WEBHOOK_KEYS " FROM permafrost.webhooks w" WEBHOOK_WHERE
        " AND h.ok ORDER BY w.created_at, w.id" PAGE LIST_TAIL("p.k1, p.k2") },
    [PF_SQL_WEBHOOKS_AFTER] = { "pf_webhooks_after",
        UNVERSIONED_LIST_HEAD(WEBHOOKS_TOTAL)
        "SELECT " WEBHOOK_COLS WEBHOOK_KEYS " FROM permafrost.webhooks w" WEBHOOK_WHERE
        " AND h.ok AND (w.created_at, w.id) > (" CURSOR_TS ", %s::uuid)"
        " ORDER BY w.created_at, w.id" ONLY_LIMIT LIST_TAIL("p.k1, p.k2") },
    [PF_SQL_WEBHOOK_GET] = { "pf_webhook_get",
        "SELECT " WEBHOOK_COLS " FROM permafrost.webhooks w"
        " WHERE w.customer_id = %s::uuid AND w.id = %s::uuid AND w.active" },
    /* Arguments: id, customer, name, url, type, event types, sealed secret
     * (hex). */
    [PF_SQL_WEBHOOK_INSERT] = { "pf_webhook_insert",
        "INSERT INTO permafrost.webhooks AS w"
        " (id, customer_id, name, webhook_url, webhook_type, event_types, secret_sealed)"
        " VALUES (%s::uuid, %s::uuid, %s, %s, %s, %s::text[], decode(%s, 'hex'))"
        " RETURNING " WEBHOOK_COLS },
    /* Soft delete; what was still queued for it will never be sent. */
    [PF_SQL_WEBHOOK_DELETE] = { "pf_webhook_delete",
        "WITH w AS ("
        "  UPDATE permafrost.webhooks SET active = false, deactivated_at = now(),"
        "    deactivated_reason = 'deleted through the API'"
        "  WHERE customer_id = %s::uuid AND id = %s::uuid AND active"
        "  RETURNING customer_id, id),"
        " q AS ("
        "  UPDATE permafrost.webhook_deliveries d SET status = 'failed', claim_token = NULL,"
        "    next_attempt_at = NULL, last_error = 'subscription deleted'"
        "  FROM w WHERE d.customer_id = w.customer_id AND d.webhook_id = w.id"
        "    AND d.status = 'pending' RETURNING 1)"
        " SELECT w.id, (SELECT count(*) FROM q) FROM w" },
    [PF_SQL_WEBHOOK_PING] = { "pf_webhook_ping",
        "WITH d AS ("
        "  INSERT INTO permafrost.webhook_deliveries (customer_id, webhook_id, event_type)"
        "  SELECT customer_id, id, 'ping' FROM permafrost.webhooks"
        "  WHERE customer_id = %s::uuid AND id = %s::uuid AND active"
        "  RETURNING *)"
        " SELECT " DELIVERY_COLS " FROM d" },
    /* Newest first, then id ascending (contract section 5). */
    [PF_SQL_DELIVERIES_LIST] = { "pf_deliveries_list",
        UNVERSIONED_LIST_HEAD(DELIVERIES_TOTAL)
        "SELECT " DELIVERY_COLS DELIVERY_KEYS " FROM permafrost.webhook_deliveries d"
        DELIVERY_WHERE " AND h.ok ORDER BY d.created_at DESC, d.id" PAGE
        LIST_TAIL("p.k1 DESC, p.k2") },
    [PF_SQL_DELIVERIES_AFTER] = { "pf_deliveries_after",
        UNVERSIONED_LIST_HEAD(DELIVERIES_TOTAL)
        "SELECT " DELIVERY_COLS DELIVERY_KEYS " FROM permafrost.webhook_deliveries d"
        DELIVERY_WHERE " AND h.ok AND d.created_at <= " CURSOR_TS
        " AND (d.created_at < " CURSOR_TS " OR d.id > %s::uuid)"
        " ORDER BY d.created_at DESC, d.id" ONLY_LIMIT LIST_TAIL("p.k1 DESC, p.k2") },

    /* The lists' heads: an offset page from the third on reads its head
     * first and, past the end, not its page (run_list). */
    [PF_SQL_TENANTS_HEAD] = { "pf_tenants_head", TENANTS_LIST(HEAD) },
    [PF_SQL_IDENTITIES_HEAD] = { "pf_identities_head", IDENTITIES_LIST(HEAD, NO_TENANT) },
    [PF_SQL_IDENTITIES_HEAD_T] = { "pf_identities_head_t", IDENTITIES_LIST(HEAD, ONE_TENANT) },
    [PF_SQL_FINDINGS_HEAD] = { "pf_findings_head", FINDINGS_LIST(HEAD, NO_TENANT) },
    [PF_SQL_FINDINGS_HEAD_T] = { "pf_findings_head_t", FINDINGS_LIST(HEAD, ONE_TENANT) },
    [PF_SQL_ROLES_HEAD] = { "pf_roles_head", ROLES_LIST(HEAD) },
    [PF_SQL_WEBHOOKS_HEAD] = { "pf_webhooks_head", HEAD_V(UNVERSIONED, WEBHOOKS_TOTAL) },
    [PF_SQL_DELIVERIES_HEAD] = { "pf_deliveries_head", HEAD_V(UNVERSIONED, DELIVERIES_TOTAL) },

    /* Claims due deliveries of active subscriptions for one attempt: the
     * row lock is held only for this statement (SKIP LOCKED lets other
     * servers take other rows); the lease (next_attempt_at) keeps the row
     * away from other servers while the attempt is in flight. Arguments:
     * batch size, lease seconds, claim token. */
    [PF_SQL_WH_CLAIM] = { "pf_wh_claim",
        "WITH due AS ("
        "  SELECT d.id FROM permafrost.webhook_deliveries d"
        "  JOIN permafrost.webhooks w ON w.customer_id = d.customer_id AND w.id = d.webhook_id"
        "  WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.active"
        "  ORDER BY d.next_attempt_at LIMIT %s::int"
        "  FOR UPDATE OF d SKIP LOCKED)"
        " UPDATE permafrost.webhook_deliveries d SET attempts = d.attempts + 1,"
        "  next_attempt_at = clock_timestamp() + make_interval(secs => %s::int),"
        "  claim_token = %s::uuid, last_attempt_at = clock_timestamp()"
        " FROM due, permafrost.webhooks w"
        " WHERE d.id = due.id AND w.customer_id = d.customer_id AND w.id = d.webhook_id"
        " RETURNING d.id, d.customer_id, d.webhook_id, d.event_type, d.attempts, "
        TS("d.created_at") ", d.pass_id, d.payload, w.name, w.webhook_url, w.webhook_type,"
        " encode(w.secret_sealed, 'hex'),"
        " (SELECT p.tenant_id FROM permafrost.analyzer_passes p"
        "   WHERE p.customer_id = d.customer_id AND p.id = d.pass_id),"
        " (SELECT " TS("p.completed_at") " FROM permafrost.analyzer_passes p"
        "   WHERE p.customer_id = d.customer_id AND p.id = d.pass_id)" },
    /* A delivery's findings in list form and list order, bound to the
     * delivery's customer; unnest keeps it an index lookup per finding.
     * Arguments: delivery id, customer id twice. */
    [PF_SQL_WH_FINDINGS] = { "pf_wh_findings",
        "SELECT " FINDING_COLS " FROM unnest((SELECT d.finding_ids"
        "   FROM permafrost.webhook_deliveries d"
        "   WHERE d.id = %s::uuid AND d.customer_id = %s::uuid)) AS u(id)"
        " JOIN permafrost.findings f ON f.id = u.id AND f.customer_id = %s::uuid"
        " ORDER BY f.severity_rank, f.first_seen_at DESC, f.id" },
    /* Records one attempt, only while the claim is still ours (a lease that
     * ran out may have passed the row to another server). Arguments:
     * status, retry delay seconds (NULL: none), status again, HTTP status,
     * error, payload, delivery id, claim token, duration ms, HTTP status,
     * error, deactivate (410). */
    [PF_SQL_WH_RECORD] = { "pf_wh_record",
        "WITH d AS ("
        "  UPDATE permafrost.webhook_deliveries SET status = %s,"
        "    next_attempt_at = now() + make_interval(secs => %s::int),"
        "    delivered_at = CASE WHEN %s = 'succeeded' THEN now() END,"
        "    last_status_code = %s::int, last_error = %s,"
        "    payload = coalesce(payload, %s), claim_token = NULL"
        "  WHERE id = %s::uuid AND claim_token = %s::uuid"
        "  RETURNING id, customer_id, webhook_id, attempts, last_attempt_at),"
        " a AS ("
        "  INSERT INTO permafrost.webhook_delivery_attempts"
        "   (delivery_id, attempt, started_at, duration_ms, status_code, error)"
        "  SELECT id, attempts, last_attempt_at, %s::int, %s::int, %s FROM d"
        "  ON CONFLICT DO NOTHING RETURNING 1),"
        " w AS ("
        "  UPDATE permafrost.webhooks w SET active = false, deactivated_at = now(),"
        "    deactivated_reason = 'the receiver answered 410 Gone'"
        "  FROM d WHERE %s::boolean AND w.customer_id = d.customer_id AND w.id = d.webhook_id"
        "    AND w.active RETURNING w.customer_id, w.id),"
        " q AS ("
        "  UPDATE permafrost.webhook_deliveries o SET status = 'failed', claim_token = NULL,"
        "    next_attempt_at = NULL, last_error = 'subscription deactivated (410 Gone)'"
        "  FROM w WHERE o.customer_id = w.customer_id AND o.webhook_id = w.id"
        "    AND o.status = 'pending' AND o.id NOT IN (SELECT id FROM d) RETURNING 1)"
        " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM a), (SELECT count(*) FROM w),"
        "  (SELECT count(*) FROM q)" },
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

int pf_sql_head(pf_sql_id id, pf_sql_id *head)
{
    switch (id) {
    case PF_SQL_TENANTS_LIST: *head = PF_SQL_TENANTS_HEAD; return 1;
    case PF_SQL_IDENTITIES_LIST: *head = PF_SQL_IDENTITIES_HEAD; return 1;
    case PF_SQL_IDENTITIES_LIST_T: *head = PF_SQL_IDENTITIES_HEAD_T; return 1;
    case PF_SQL_FINDINGS_LIST:
    case PF_SQL_FINDINGS_DEEP: *head = PF_SQL_FINDINGS_HEAD; return 1;
    case PF_SQL_FINDINGS_LIST_T:
    case PF_SQL_FINDINGS_DEEP_T: *head = PF_SQL_FINDINGS_HEAD_T; return 1;
    case PF_SQL_ROLES_LIST: *head = PF_SQL_ROLES_HEAD; return 1;
    case PF_SQL_WEBHOOKS_LIST: *head = PF_SQL_WEBHOOKS_HEAD; return 1;
    case PF_SQL_DELIVERIES_LIST: *head = PF_SQL_DELIVERIES_HEAD; return 1;
    default: return 0;
    }
}

pf_sql_id pf_sql_quick(pf_sql_id id)
{
    switch (id) {
    case PF_SQL_TENANTS_LIST: return PF_SQL_TENANTS_LIST_Q;
    case PF_SQL_TENANTS_AFTER: return PF_SQL_TENANTS_AFTER_Q;
    case PF_SQL_IDENTITIES_LIST: return PF_SQL_IDENTITIES_LIST_Q;
    case PF_SQL_IDENTITIES_LIST_T: return PF_SQL_IDENTITIES_LIST_T_Q;
    case PF_SQL_IDENTITIES_AFTER: return PF_SQL_IDENTITIES_AFTER_Q;
    case PF_SQL_IDENTITIES_AFTER_T: return PF_SQL_IDENTITIES_AFTER_T_Q;
    case PF_SQL_FINDINGS_LIST: return PF_SQL_FINDINGS_LIST_Q;
    case PF_SQL_FINDINGS_LIST_T: return PF_SQL_FINDINGS_LIST_T_Q;
    case PF_SQL_FINDINGS_AFTER: return PF_SQL_FINDINGS_AFTER_Q;
    case PF_SQL_FINDINGS_AFTER_T: return PF_SQL_FINDINGS_AFTER_T_Q;
    case PF_SQL_FINDINGS_DEEP: return PF_SQL_FINDINGS_DEEP_Q;
    case PF_SQL_FINDINGS_DEEP_T: return PF_SQL_FINDINGS_DEEP_T_Q;
    case PF_SQL_ROLES_LIST: return PF_SQL_ROLES_LIST_Q;
    case PF_SQL_ROLES_AFTER: return PF_SQL_ROLES_AFTER_Q;
    default: return id;
    }
}
