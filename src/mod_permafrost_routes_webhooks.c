/* The webhook subscriptions API. Every statement binds the key's customer
 * id; a subscription of another customer, or a deleted one, is a 404 like
 * an id that never existed. */
#include "pf_routes.h"
#include "pf_addr.h"
#include "pf_crypto.h"
#include "pf_json.h"
#include "pf_shape.h"
#include "pf_webhook.h"

#include <openssl/crypto.h>

#include <apr_strings.h>

/* Routes other than the list take only ?tenant=, checked like everywhere;
 * subscriptions are customer-wide, so it filters nothing. */
static int only_tenant(request_rec *r, pf_req *rq)
{
    const char *tenant;

    return pf_detail_tenant(r, rq, &tenant);
}

static int not_found(request_rec *r)
{
    return pf_send_error(r, HTTP_NOT_FOUND, "NOT_FOUND", "No such webhook subscription.");
}

/* A body that is not a JSON object is BAD_REQUEST; a bad field is
 * INVALID_PARAMETER with details naming it. */
static int body_error(request_rec *r, const char *field, const char *message)
{
    const char *full;

    if (!field) {
        full = apr_pstrcat(r->pool, "The request body ", message, ".", NULL);
        return pf_send_json(r, HTTP_BAD_REQUEST, pf_json_error("BAD_REQUEST", full, NULL, NULL));
    }
    full = apr_pstrcat(r->pool, "Invalid field '", field, "': ", message, NULL);
    return pf_send_json(r, HTTP_BAD_REQUEST,
                        pf_json_error("INVALID_PARAMETER", full, field, message));
}

/* application/json, with no charset or charset=utf-8. */
static int json_content_type(const char *ct)
{
    const char *semi, *p;
    size_t n;

    if (!ct) {
        return 0;
    }
    semi = strchr(ct, ';');
    n = semi ? (size_t)(semi - ct) : strlen(ct);
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
        n--;
    }
    if (n != 16 || strncasecmp(ct, "application/json", 16) != 0) {
        return 0;
    }
    for (p = semi; p && *p;) {
        const char *next = strchr(p + 1, ';');
        const char *v = p + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        if (strncasecmp(v, "charset=", 8) == 0) {
            const char *cs = v + 8;
            size_t len = next ? (size_t)(next - cs) : strlen(cs);
            while (len && (cs[len - 1] == ' ' || cs[len - 1] == '\t')) {
                len--;
            }
            if (len >= 2 && cs[0] == '"' && cs[len - 1] == '"') {
                cs++;
                len -= 2;
            }
            if (!((len == 5 && strncasecmp(cs, "utf-8", 5) == 0)
                  || (len == 4 && strncasecmp(cs, "utf8", 4) == 0))) {
                return 0;
            }
        }
        p = next;
    }
    return 1;
}

/* Reads at most max bytes of body. 0 with the body, or the status to answer
 * (413 too large, 400 unreadable). A 413 closes the connection rather than
 * reading the rest of a large body only to drop it. */
static int read_body(request_rec *r, apr_size_t max, char **out, apr_size_t *outlen)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    char *buf = apr_palloc(r->pool, max + 1);
    apr_size_t len = 0;

    if (cl) {
        char *end;
        apr_off_t v;
        if (apr_strtoff(&v, cl, &end, 10) == APR_SUCCESS && *end == '\0' && v > (apr_off_t)max) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return HTTP_BAD_REQUEST;
    }
    if (ap_should_client_block(r)) {
        long n;
        while ((n = ap_get_client_block(r, buf + len, max + 1 - len)) > 0) {
            len += (apr_size_t)n;
            if (len > max) {
                r->connection->keepalive = AP_CONN_CLOSE;
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
        }
        if (n < 0) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_BAD_REQUEST;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

static int internal_error(request_rec *r)
{
    return pf_send_error(r, HTTP_INTERNAL_SERVER_ERROR, "INTERNAL_ERROR",
                         "The server could not complete the request.");
}

static int create_webhook(request_rec *r, pf_req *rq)
{
    pf_wh_cfg *wh = pf_srv(r->server)->wh;
    const char *field = NULL, *err = NULL, *id, *sealed, *args[7];
    const char *cols[PF_WHK_NCOLS];
    char secret[PF_WH_SECRET_LEN + 1];
    char *body;
    apr_size_t len;
    pf_wh_create in;
    pf_url url;
    pf_rows res;
    pf_db_status st;
    json_t *obj = NULL;
    int rc;

    if (!json_content_type(apr_table_get(r->headers_in, "Content-Type"))) {
        return pf_send_error(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE",
                             "The request body must be JSON (Content-Type: application/json).");
    }
    rc = read_body(r, PF_WH_MAX_BODY, &body, &len);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return pf_send_error(r, rc, "PAYLOAD_TOO_LARGE",
                             "The request body is larger than 64 KiB.");
    }
    if (rc) {
        return pf_send_error(r, HTTP_BAD_REQUEST, "BAD_REQUEST",
                             "The request body could not be read.");
    }
    if (pf_wh_create_parse(r->pool, body, len, wh->allow_http, &in, &field, &err) != 0) {
        return body_error(r, field, err);
    }
    /* Host names are resolved and checked at every delivery; a literal
     * address that can never be delivered to is refused now. */
    if (pf_url_parse(r->pool, in.url, wh->allow_http, &url, &err) != 0) {
        return body_error(r, "webhookUrl", err);
    }
    if (url.is_literal && !wh->allow_private) {
        pf_addr_class c = pf_addr_classify(url.family, url.addr);
        if (c != PF_ADDR_PUBLIC) {
            return body_error(r, "webhookUrl",
                              apr_pstrcat(r->pool, "points to a ", pf_addr_class_name(c),
                                          " address, which deliveries never go to", NULL));
        }
    }
    if (!wh->key) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "PF00026: cannot create a webhook: no PermafrostSecretKeyFile is "
                      "configured");
        return pf_send_error(r, HTTP_INTERNAL_SERVER_ERROR, "INTERNAL_ERROR",
                             "Webhooks are not configured on this server.");
    }
    id = pf_uuid4(r->pool);
    if (!id || pf_wh_secret_generate(secret) != 0) {
        return internal_error(r);
    }
    sealed = pf_wh_secret_seal(r->pool, wh->key, secret, id);
    if (!sealed) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return internal_error(r);
    }
    args[0] = id;
    args[1] = rq->customer_id;
    args[2] = in.name;
    args[3] = in.url;
    args[4] = pf_wh_type_name(in.type);
    args[5] = pf_sql_text_array(r->pool, in.event_types, in.nevent_types);
    args[6] = sealed;
    st = pf_db_select(r, PF_SQL_WEBHOOK_INSERT, 7, args, &res);
    if (st != PF_DB_OK) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return pf_db_fail(r, st);
    }
    while (pf_db_next(r, &res, cols, PF_WHK_NCOLS)) {
        if (!obj) {
            obj = pf_json_pool_own(r->pool, pf_shape_webhook(cols));
        }
    }
    if (!obj) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return internal_error(r);
    }
    json_object_set_new(obj, "signingSecret", json_string(secret));
    OPENSSL_cleanse(secret, sizeof(secret));
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, rq->base, "/webhooks/", id, NULL));
    return pf_send_json(r, HTTP_CREATED, json_pack("{s:O}", "data", obj));
}

static int key_webhook(const char *const *c, const char **f)
{
    f[0] = c[PF_WHK_CREATED];
    f[1] = c[PF_WHK_ID];
    return f[0] && f[1] ? 0 : -1;
}

static int key_delivery(const char *const *c, const char **f)
{
    f[0] = c[PF_DLV_CREATED];
    f[1] = c[PF_DLV_ID];
    return f[0] && f[1] ? 0 : -1;
}

static void args_webhook(const char *const *f, const char **args, int *n)
{
    args[(*n)++] = f[0];
    args[(*n)++] = f[1];
}

static void args_delivery(const char *const *f, const char **args, int *n)
{
    args[(*n)++] = f[0];
    args[(*n)++] = f[0];
    args[(*n)++] = f[1];
}

int pf_route_webhooks(request_rec *r, pf_req *rq)
{
    static const pf_qspec spec[] = { COMMON_PARAMS };
    static const list_def def = {
        .name = "webhooks", .list_sql = PF_SQL_WEBHOOKS_LIST, .after_sql = PF_SQL_WEBHOOKS_AFTER,
        .ncols = PF_WHK_NCOLS, .write = pf_write_webhook, .nkey = 2, .key_of = key_webhook,
        .keyset_args = args_webhook, .spec = spec, .nspec = sizeof(spec) / sizeof(spec[0]) };

    if (r->method_number == M_POST) {
        if (only_tenant(r, rq)) {
            return OK;
        }
        return create_webhook(r, rq);
    }
    return pf_run_list(r, rq, &def);
}

/* The subscription as JSON, or NULL with the answer already sent. */
static json_t *load_webhook(request_rec *r, pf_req *rq)
{
    const char *args[2] = { rq->customer_id, rq->route.param };
    const char *cols[PF_WHK_NCOLS];
    pf_rows res;
    json_t *obj = NULL;
    pf_db_status st = pf_db_select(r, PF_SQL_WEBHOOK_GET, 2, args, &res);

    if (st != PF_DB_OK) {
        pf_db_fail(r, st);
        return NULL;
    }
    while (pf_db_next(r, &res, cols, PF_WHK_NCOLS)) {
        if (!obj) {
            obj = pf_json_pool_own(r->pool, pf_shape_webhook(cols));
        }
    }
    if (!obj) {
        not_found(r);
    }
    return obj;
}

int pf_route_webhook(request_rec *r, pf_req *rq)
{
    const char *args[2] = { rq->customer_id, rq->route.param };
    const char *cols[2];
    pf_rows res;
    pf_db_status st;
    int found = 0;

    if (only_tenant(r, rq)) {
        return OK;
    }
    if (r->method_number != M_DELETE) {
        json_t *obj = load_webhook(r, rq);
        return obj ? pf_send_json_cached(r, json_pack("{s:O}", "data", obj)) : OK;
    }
    st = pf_db_select(r, PF_SQL_WEBHOOK_DELETE, 2, args, &res);
    if (st != PF_DB_OK) {
        return pf_db_fail(r, st);
    }
    while (pf_db_next(r, &res, cols, 2)) {
        found = 1;
    }
    if (!found) {
        return not_found(r);
    }
    return pf_send_body(r, HTTP_NO_CONTENT, NULL, 0, NULL);
}

int pf_route_webhook_deliveries(request_rec *r, pf_req *rq)
{
    static const pf_qspec spec[] = { COMMON_PARAMS };
    static const list_def def = {
        .name = "deliveries", .list_sql = PF_SQL_DELIVERIES_LIST,
        .after_sql = PF_SQL_DELIVERIES_AFTER, .ncols = PF_DLV_NCOLS, .write = pf_write_delivery,
        .nkey = 2, .key_of = key_delivery, .keyset_args = args_delivery, .spec = spec,
        .nspec = sizeof(spec) / sizeof(spec[0]), .path_param = 1 };
    pf_qvalue qv[4];
    pf_qerror qe;

    /* Parameter errors come before the existence check, as on every list. */
    if (pf_query_parse(r->pool, r->args, spec, 4, qv, &qe) != 0) {
        return pf_send_param_error(r, qe.field, qe.message);
    }
    if (!load_webhook(r, rq)) {
        return OK;
    }
    return pf_run_list(r, rq, &def);
}

int pf_route_webhook_test(request_rec *r, pf_req *rq)
{
    const char *args[2] = { rq->customer_id, rq->route.param };
    const char *cols[PF_DLV_NCOLS];
    pf_rows res;
    pf_db_status st;
    json_t *obj = NULL;

    if (only_tenant(r, rq)) {
        return OK;
    }
    /* The ping takes no body; whatever was sent is read and dropped. */
    if (ap_discard_request_body(r) != OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    st = pf_db_select(r, PF_SQL_WEBHOOK_PING, 2, args, &res);
    if (st != PF_DB_OK) {
        return pf_db_fail(r, st);
    }
    while (pf_db_next(r, &res, cols, PF_DLV_NCOLS)) {
        if (!obj) {
            obj = pf_json_pool_own(r->pool, pf_shape_delivery(cols));
        }
    }
    if (!obj) {
        return not_found(r);
    }
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, rq->base, "/webhooks/", rq->route.param, "/deliveries",
                               NULL));
    return pf_send_json(r, HTTP_ACCEPTED, json_pack("{s:O}", "data", obj));
}
