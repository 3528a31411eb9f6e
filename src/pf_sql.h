/* Every SQL statement the module runs, prepared once per connection by
 * mod_dbd under its label. Every statement that reads customer data binds
 * the caller's customer id as its first parameter. apr_dbd placeholders are
 * %s (passed as text, cast in SQL), so a literal percent sign is %%. */
#ifndef PF_SQL_H
#define PF_SQL_H

#include <apr_pools.h>

typedef enum {
    PF_SQL_KEY_LOOKUP = 0,
    PF_SQL_HEALTH,
    PF_SQL_TENANT_EXISTS,
    PF_SQL_TENANTS_LIST,
    PF_SQL_IDENTITIES_LIST,
    PF_SQL_IDENTITY_GET,
    PF_SQL_FINDINGS_LIST,
    PF_SQL_FINDING_GET,
    PF_SQL_ROLES_LIST,
    PF_SQL_TENANTS_AFTER,
    PF_SQL_IDENTITIES_AFTER,
    PF_SQL_FINDINGS_AFTER,
    PF_SQL_ROLES_AFTER,
    /* the same lists with ?tenant=, planned on their tenant index */
    PF_SQL_IDENTITIES_LIST_T,
    PF_SQL_IDENTITIES_AFTER_T,
    PF_SQL_FINDINGS_LIST_T,
    PF_SQL_FINDINGS_AFTER_T,
    /* offset pages of findings from the third on (pf_sql.c, FINDING_PAGE) */
    PF_SQL_FINDINGS_DEEP,
    PF_SQL_FINDINGS_DEEP_T,
    PF_SQL_DATA_VERSION,
    /* the quick forms of the lists above (pf_sql_quick) */
    PF_SQL_TENANTS_LIST_Q,
    PF_SQL_TENANTS_AFTER_Q,
    PF_SQL_IDENTITIES_LIST_Q,
    PF_SQL_IDENTITIES_LIST_T_Q,
    PF_SQL_IDENTITIES_AFTER_Q,
    PF_SQL_IDENTITIES_AFTER_T_Q,
    PF_SQL_FINDINGS_LIST_Q,
    PF_SQL_FINDINGS_LIST_T_Q,
    PF_SQL_FINDINGS_AFTER_Q,
    PF_SQL_FINDINGS_AFTER_T_Q,
    PF_SQL_FINDINGS_DEEP_Q,
    PF_SQL_FINDINGS_DEEP_T_Q,
    PF_SQL_ROLES_LIST_Q,
    PF_SQL_ROLES_AFTER_Q,
    /* webhooks API */
    PF_SQL_WEBHOOKS_LIST,
    PF_SQL_WEBHOOKS_AFTER,
    PF_SQL_WEBHOOK_GET,
    PF_SQL_WEBHOOK_INSERT,
    PF_SQL_WEBHOOK_DELETE,
    PF_SQL_WEBHOOK_PING,
    PF_SQL_DELIVERIES_LIST,
    PF_SQL_DELIVERIES_AFTER,
    /* the heads of the offset lists (pf_sql_head) */
    PF_SQL_TENANTS_HEAD,
    PF_SQL_IDENTITIES_HEAD,
    PF_SQL_IDENTITIES_HEAD_T,
    PF_SQL_FINDINGS_HEAD,
    PF_SQL_FINDINGS_HEAD_T,
    PF_SQL_ROLES_HEAD,
    PF_SQL_WEBHOOKS_HEAD,
    PF_SQL_DELIVERIES_HEAD,
    /* the delivery drainer */
    PF_SQL_WH_CLAIM,
    PF_SQL_WH_FINDINGS,
    PF_SQL_WH_RECORD,
    PF_SQL_COUNT_
} pf_sql_id;

typedef struct {
    const char *label;
    const char *text;
} pf_sql_stmt;

extern const pf_sql_stmt pf_sql_statements[PF_SQL_COUNT_];

/* A list statement's quick form: the page alone, in list order, which
 * returns no row for an empty page or a foreign tenant; then the complete
 * form (id itself) answers. id itself where there is no quick form. */
pf_sql_id pf_sql_quick(pf_sql_id id);

/* An offset list statement's head (version, tenant check, total: the
 * first columns of its rows, below), which takes the arguments of id up to
 * the total's. 1 and *head set, or 0 where id has none. */
int pf_sql_head(pf_sql_id id, pf_sql_id *head);

/* Every row of a list statement starts with these columns; the row shape's
 * columns follow (see pf_sql.c). */
enum { PF_LIST_VERSION, PF_LIST_TENANT_OK, PF_LIST_TOTAL, PF_LIST_NCOLS };

/* Column positions of the row shapes the statements return. */
enum { PF_TEN_ID, PF_TEN_NAME, PF_TEN_DOMAIN, PF_TEN_STATUS, PF_TEN_CONNECTED, PF_TEN_SYNC,
       PF_TEN_NCOLS };
enum { PF_IDN_ID, PF_IDN_TENANT, PF_IDN_TYPE, PF_IDN_NAME, PF_IDN_UPN, PF_IDN_APP, PF_IDN_OBJECT,
       PF_IDN_ENABLED, PF_IDN_CREATED, PF_IDN_SIGNIN, PF_IDN_NCOLS };
enum { PF_RA_ID, PF_RA_ROLE, PF_RA_ROLEDEF, PF_RA_SCOPE, PF_RA_TYPE, PF_RA_CREATED, PF_RA_NCOLS };
enum { PF_FND_ID, PF_FND_TENANT, PF_FND_SEVERITY, PF_FND_STATUS, PF_FND_TYPE, PF_FND_TITLE,
       PF_FND_IDENTITY, PF_FND_FIRST, PF_FND_LAST, PF_FND_RESOLVED, PF_FND_LIST_NCOLS,
       PF_FND_DESCRIPTION = PF_FND_LIST_NCOLS, PF_FND_REMEDIATION, PF_FND_EVIDENCE,
       PF_FND_IDN_NAME, PF_FND_IDN_TYPE, PF_FND_DETAIL_NCOLS };
enum { PF_ROL_ID, PF_ROL_TENANT, PF_ROL_IDN_ID, PF_ROL_IDN_NAME, PF_ROL_IDN_TYPE, PF_ROL_CURRENT,
       PF_ROL_RECOMMENDED, PF_ROL_SCOPE, PF_ROL_UNUSED, PF_ROL_RATIONALE, PF_ROL_CREATED,
       PF_ROL_NCOLS };

enum { PF_WHK_ID, PF_WHK_NAME, PF_WHK_URL, PF_WHK_TYPE, PF_WHK_EVENTS, PF_WHK_ACTIVE,
       PF_WHK_CREATED, PF_WHK_NCOLS };
enum { PF_DLV_ID, PF_DLV_EVENT, PF_DLV_STATUS, PF_DLV_ATTEMPTS, PF_DLV_CODE, PF_DLV_ERROR,
       PF_DLV_CREATED, PF_DLV_DELIVERED, PF_DLV_NEXT, PF_DLV_NCOLS };
/* A claimed delivery, as the drainer needs it. */
enum { PF_CLM_ID, PF_CLM_CUSTOMER, PF_CLM_WEBHOOK, PF_CLM_EVENT, PF_CLM_ATTEMPTS, PF_CLM_CREATED,
       PF_CLM_PASS, PF_CLM_PAYLOAD, PF_CLM_NAME, PF_CLM_URL, PF_CLM_TYPE, PF_CLM_SECRET,
       PF_CLM_TENANT, PF_CLM_COMPLETED, PF_CLM_NCOLS };

/* A PostgreSQL array literal ({"a","b"}) of text values, quoted so any
 * value passes through as itself. */
const char *pf_sql_text_array(apr_pool_t *p, const char *const *items, int count);

#endif
