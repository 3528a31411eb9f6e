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
    PF_SQL_ROLE_ASSIGNMENTS,
    PF_SQL_FINDINGS_LIST,
    PF_SQL_FINDING_GET,
    PF_SQL_ROLES_LIST,
    PF_SQL_TENANTS_AFTER,
    PF_SQL_IDENTITIES_AFTER,
    PF_SQL_FINDINGS_AFTER,
    PF_SQL_ROLES_AFTER,
    PF_SQL_COUNT_
} pf_sql_id;

typedef struct {
    const char *label;
    const char *text;
} pf_sql_stmt;

extern const pf_sql_stmt pf_sql_statements[PF_SQL_COUNT_];

/* Every row of a list statement starts with these two columns; the row
 * shape's columns follow (see pf_sql.c). */
enum { PF_LIST_TENANT_OK, PF_LIST_TOTAL, PF_LIST_NCOLS };

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

/* A PostgreSQL array literal ({"a","b"}) of text values, quoted so any
 * value passes through as itself. */
const char *pf_sql_text_array(apr_pool_t *p, const char *const *items, int count);

#endif
