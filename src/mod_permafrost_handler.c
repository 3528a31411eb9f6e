/* The content handler: dispatches the routes the access phase resolved. */
#include "mod_permafrost_private.h"
#include "pf_json.h"
#include "pf_routes.h"

static int route_health(request_rec *r)
{
    pf_rows res;
    const char *cols[1];
    pf_db_status st = pf_db_select(r, PF_SQL_HEALTH, 0, NULL, &res);
    int ok = 0;

    if (st == PF_DB_OK) {
        while (pf_db_next(r, &res, cols, 1)) {
            ok = 1;
        }
    }
    if (!ok) {
        pf_set_retry_after(r);
        return pf_send_json(r, HTTP_SERVICE_UNAVAILABLE,
                            json_pack("{s:s, s:s, s:s}", "status", "degraded", "database",
                                      "unavailable", "version", PF_VERSION));
    }
    return pf_send_json(r, HTTP_OK, json_pack("{s:s, s:s, s:s}", "status", "ok", "database", "ok",
                                              "version", PF_VERSION));
}

static int route_openapi(request_rec *r)
{
    const char *etag = pf_srv(r->server)->openapi_etag;
    const char *inm = apr_table_get(r->headers_in, "If-None-Match");

    if (inm && pf_etag_matches(inm, etag)) {
        return pf_send_body(r, HTTP_NOT_MODIFIED, NULL, 0, etag);
    }
    return pf_send_body(r, HTTP_OK, pf_openapi_json, pf_openapi_json_len, etag);
}

int pf_handler(request_rec *r)
{
    pf_req *rq;
    int rc;

    if (!r->handler || strcasecmp(r->handler, PF_HANDLER_NAME) != 0) {
        return DECLINED;
    }
    /* Fail closed: if the access phase did not run for this request, run
     * the same checks now. */
    rc = pf_access_checker(r);
    if (rc == DONE) {
        return OK;
    }
    if (rc != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rq = pf_req_get(r);
    switch (rq->route.id) {
    case PF_ROUTE_HEALTH:
        return route_health(r);
    case PF_ROUTE_OPENAPI:
        return route_openapi(r);
    case PF_ROUTE_IDENTITIES:
        return pf_route_identities(r, rq);
    case PF_ROUTE_IDENTITY:
        return pf_route_identity(r, rq);
    case PF_ROUTE_FINDINGS:
        return pf_route_findings(r, rq);
    case PF_ROUTE_FINDING:
        return pf_route_finding(r, rq);
    case PF_ROUTE_ROLES:
        return pf_route_roles(r, rq);
    case PF_ROUTE_TENANTS:
        return pf_route_tenants(r, rq);
    case PF_ROUTE_WEBHOOKS:
        return pf_route_webhooks(r, rq);
    case PF_ROUTE_WEBHOOK:
        return pf_route_webhook(r, rq);
    case PF_ROUTE_WEBHOOK_DELIVERIES:
        return pf_route_webhook_deliveries(r, rq);
    case PF_ROUTE_WEBHOOK_TEST:
        return pf_route_webhook_test(r, rq);
    default:
        return pf_send_error(r, HTTP_NOT_FOUND, "NOT_FOUND",
                             "This resource is not available in this version.");
    }
}
