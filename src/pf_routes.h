/* Route implementations (httpd glue). Each answers the request and
 * returns OK. */
#ifndef PF_ROUTES_H
#define PF_ROUTES_H

#include "mod_permafrost_private.h"
#include "pf_query.h"
#include "pf_json.h"

int pf_route_webhooks(request_rec *r, pf_req *rq);
int pf_route_webhook(request_rec *r, pf_req *rq);
int pf_route_webhook_deliveries(request_rec *r, pf_req *rq);
int pf_route_webhook_test(request_rec *r, pf_req *rq);

/* Lists (mod_permafrost_routes_read.c). Every list takes these query
 * parameters first, in this order. */
enum { Q_LIMIT, Q_OFFSET, Q_TENANT, Q_CURSOR, Q_FIRST_FILTER };
#define COMMON_PARAMS \
    { "limit", PF_Q_INT, 1, 500, NULL }, \
    { "offset", PF_Q_INT, 0, 10000000, NULL }, \
    { "tenant", PF_Q_UUID, 0, 0, NULL }, \
    { "cursor", PF_Q_TOKEN, 0, 0, NULL }

typedef int (*pf_row_writer)(pf_jbuf *b, const char *const *cols); /* pf_shape.h */
/* The sort key of a row, as cursor fields, and those fields as the keyset
 * statement's arguments. */
typedef int (*pf_key_of_row)(const char *const *cols, const char **fields);
typedef void (*pf_keyset_args)(const char *const *fields, const char **args, int *n);

typedef struct {
    const char *name;
    pf_sql_id list_sql;   /* tenant check, total and page (pf_sql.c) */
    pf_sql_id after_sql;  /* the same after a cursor */
    int ncols;
    pf_row_writer write;  /* one row as the list's JSON object */
    int nkey;
    pf_key_of_row key_of;
    pf_keyset_args keyset_args;
    const pf_qspec *spec;
    size_t nspec;
    int path_param;       /* the path id is an argument, after each tenant pair */
    int tenant_sql;       /* with ?tenant=, these two run instead (same arguments) */
    pf_sql_id list_sql_tenant;
    pf_sql_id after_sql_tenant;
    int deep_sql;         /* offset pages from PF_DEEP_PAGE on run these (same arguments) */
    pf_sql_id list_sql_deep;
    pf_sql_id list_sql_deep_tenant;
    int cacheable;        /* answers may be kept by data version (sql/005); webhooks and
                           * deliveries are not versioned */
} list_def;

/* Answers a list request: parameters, count, one page, cursor. */
int pf_run_list(request_rec *r, pf_req *rq, const list_def *def);

/* Routes that take only ?tenant= (details, webhook items): 400 for any
 * other parameter, 404 for an unknown tenant. Returns 1 when it answered;
 * *tenant is the tenant or NULL. */
int pf_detail_tenant(request_rec *r, pf_req *rq, const char **tenant);

int pf_route_identities(request_rec *r, pf_req *rq);
int pf_route_identity(request_rec *r, pf_req *rq);
int pf_route_findings(request_rec *r, pf_req *rq);
int pf_route_finding(request_rec *r, pf_req *rq);
int pf_route_roles(request_rec *r, pf_req *rq);
int pf_route_tenants(request_rec *r, pf_req *rq);

/* Gives every server the key that signs list cursors (post_config). */
void pf_cursor_key_init(server_rec *s);

#endif
