/* Database rows (text columns, NULL for SQL NULL, positions from pf_sql.h)
 * to the API's JSON objects. No httpd dependency. */
#ifndef PF_SHAPE_H
#define PF_SHAPE_H

#include <jansson.h>

json_t *pf_shape_tenant(const char *const *c);
json_t *pf_shape_identity(const char *const *c);
json_t *pf_shape_role_assignment(const char *const *c);
json_t *pf_shape_finding(const char *const *c, int detail);
json_t *pf_shape_role(const char *const *c);
json_t *pf_shape_webhook(const char *const *c);
json_t *pf_shape_delivery(const char *const *c);

/* {"data": data, "meta": {"total", "limit", "offset"[, "tenant"]}}; takes
 * the reference to data. */
json_t *pf_shape_list(json_t *data, long long total, long long limit, long long offset,
                      const char *tenant);

/* Parses stored JSON text (jsonb output); on failure returns fallback. */
json_t *pf_shape_json_text(const char *text, json_t *fallback);

#endif
