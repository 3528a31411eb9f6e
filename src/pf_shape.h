/* Database rows (text columns, NULL for SQL NULL, positions from pf_sql.h)
 * to the API's JSON objects. No httpd dependency. */
#ifndef PF_SHAPE_H
#define PF_SHAPE_H

#include <jansson.h>

#include "pf_json.h"

json_t *pf_shape_tenant(const char *const *c);
json_t *pf_shape_identity(const char *const *c);
json_t *pf_shape_role_assignment(const char *const *c);
/* A finding as lists and webhook payloads show it. */
json_t *pf_shape_finding_row(const char *const *c);

/* The same shapes written straight into a JSON text; -1 when a value could
 * not be written (the text is then incomplete). */
int pf_write_tenant(pf_jbuf *b, const char *const *c);
int pf_write_identity(pf_jbuf *b, const char *const *c);
int pf_write_finding_row(pf_jbuf *b, const char *const *c);
int pf_write_role_assignment(pf_jbuf *b, const char *const *c);
/* Details: a finding as its own route shows it (the row's members, then
 * description, remediation, evidence and identity); an identity's members
 * with its object left open, for the caller to add roleAssignments. */
int pf_write_finding(pf_jbuf *b, const char *const *c);
void pf_write_identity_open(pf_jbuf *b, const char *const *c);
json_t *pf_shape_webhook(const char *const *c);
json_t *pf_shape_delivery(const char *const *c);
int pf_write_role(pf_jbuf *b, const char *const *c);
int pf_write_webhook(pf_jbuf *b, const char *const *c);
int pf_write_delivery(pf_jbuf *b, const char *const *c);

/* A list's meta: {"total", "limit", "offset"[, "tenant"]}. */
json_t *pf_shape_list_meta(long long total, long long limit, long long offset,
                           const char *tenant);

/* A timestamp as PostgreSQL prints a timestamp without time zone in the
 * ISO DateStyle ("2026-12-06 20:45:00.12", the statements select UTC
 * wall-clock time) written as the API shows it, RFC 3339 in UTC with
 * microseconds: "2026-12-06T20:45:00.120000Z". Returns the length written
 * to out, 0 for an infinite timestamp (shown as null) and -1 for text not
 * in that form (shown as it is). */
#define PF_TS_SIZE 40
int pf_ts_rfc3339(const char *pg, char out[PF_TS_SIZE]);

#endif
