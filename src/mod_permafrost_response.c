/* Writing answers: JSON bodies, errors in the contract's shape, ETags and
 * the rate-limit headers every keyed answer carries. */
#include "mod_permafrost_private.h"
#include "pf_json.h"

#include <apr_strings.h>

static void add_common_headers(request_rec *r, int status)
{
    pf_req *rq = pf_req_get(r);

    /* apr_ltoa and apr_off_t_toa, not apr_psprintf: three formatted
     * numbers took 1,500 of the 3,800 instructions the limit adds to a
     * request (callgrind, bench/RESULTS.md). */
    if (rq && rq->rl_present) {
        apr_table_setn(r->headers_out, "X-RateLimit-Limit", apr_ltoa(r->pool, rq->rl_limit));
        apr_table_setn(r->headers_out, "X-RateLimit-Remaining",
                       apr_ltoa(r->pool, rq->rl_remaining));
        apr_table_setn(r->headers_out, "X-RateLimit-Reset",
                       apr_off_t_toa(r->pool, (apr_off_t)rq->rl_reset));
    }
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    if (status != HTTP_OK && status != HTTP_NOT_MODIFIED) {
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    }
    else {
        /* Data is per key: no shared cache may keep it, clients revalidate. */
        apr_table_setn(r->headers_out, "Cache-Control", "private, no-cache");
    }
}

int pf_send_body(request_rec *r, int status, const char *body, size_t len, const char *etag)
{
    /* The answer is complete in memory: the connection (and the gate's
     * place) goes back before a slow client can hold it. */
    pf_db_release(r);
    r->status = status;
    add_common_headers(r, status);
    if (etag) {
        apr_table_setn(r->headers_out, "ETag", etag);
    }
    if (status == HTTP_NOT_MODIFIED || status == HTTP_NO_CONTENT) {
        return OK;
    }
    ap_set_content_type(r, "application/json; charset=utf-8");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

int pf_send_json(request_rec *r, int status, json_t *j)
{
    size_t len = 0;
    char *body = j ? pf_json_dump(r->pool, j, &len) : NULL;

    if (!body) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PF00006: could not serialise a response");
        body = "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"The server could not "
               "complete the request.\"}}";
        return pf_send_body(r, HTTP_INTERNAL_SERVER_ERROR, body, strlen(body), NULL);
    }
    return pf_send_body(r, status, body, len, NULL);
}

int pf_send_json_cached(request_rec *r, json_t *j)
{
    size_t len = 0;
    char *body = j ? pf_json_dump(r->pool, j, &len) : NULL;

    if (!body) {
        return pf_send_json(r, HTTP_OK, NULL);
    }
    return pf_send_text_cached(r, body, len, NULL);
}

int pf_send_text_cached(request_rec *r, const char *body, size_t len, const char *etag)
{
    const char *inm;

    if (!etag) {
        char *e = apr_palloc(r->pool, PF_ETAG_SIZE);
        pf_etag(pf_srv(r->server)->sha256, body, len, e);
        etag = e;
    }
    inm = apr_table_get(r->headers_in, "If-None-Match");
    if (inm && pf_etag_matches(inm, etag)) {
        return pf_send_body(r, HTTP_NOT_MODIFIED, NULL, 0, etag);
    }
    return pf_send_body(r, HTTP_OK, body, len, etag);
}

int pf_send_error(request_rec *r, int status, const char *code, const char *message)
{
    return pf_send_json(r, status, pf_json_error(code, message, NULL, NULL));
}

int pf_send_param_error(request_rec *r, const char *field, const char *message)
{
    const char *full = apr_pstrcat(r->pool, "Invalid query parameter '", field, "': ", message,
                                   NULL);
    return pf_send_json(r, HTTP_BAD_REQUEST,
                        pf_json_error("INVALID_PARAMETER", full, field, message));
}

void pf_set_retry_after(request_rec *r)
{
    apr_table_setn(r->headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%d", pf_srv(r->server)->retry_after));
}

int pf_send_unavailable(request_rec *r)
{
    pf_set_retry_after(r);
    return pf_send_error(r, HTTP_SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE",
                         "The database is unavailable; retry later.");
}
