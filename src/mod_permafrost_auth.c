/* The access phase: which route, which key, which scope. Checks run in the
 * contract's order: key (401), route and method (404, 405), scope (403),
 * then the rate limit (429); parameters (400) are the handler's. */
#include "mod_permafrost_private.h"
#include "pf_query.h"

#include <apr_strings.h>
#include <apr_lib.h>

/* The handler owns a request when SetHandler names it. SetHandler is only
 * applied after the access phase, so read the configured expression here. */
int pf_is_ours(request_rec *r)
{
    core_dir_config *cd = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL;
    const char *h;

    if (r->handler && strcasecmp(r->handler, PF_HANDLER_NAME) == 0) {
        return 1;
    }
    if (!cd || !cd->expr_handler) {
        return 0;
    }
    h = ap_expr_str_exec(r, cd->expr_handler, &err);
    return !err && h && strcasecmp(h, PF_HANDLER_NAME) == 0;
}

/* API paths name no file. Marked at translation, where the <Location>
 * that sets the handler is already merged, so map_to_storage can skip
 * httpd's directory and file walk: a stat of every path element and a
 * look for .htaccess in each directory, on every request (mod_proxy skips
 * it for its URLs the same way). Hooked last among the translators, so a
 * request that Alias or RewriteRule maps to a file keeps the walk. */
#define PF_NOTE_NO_FILE "permafrost-no-file"

int pf_translate_name(request_rec *r)
{
    if (pf_is_ours(r)) {
        apr_table_setn(r->notes, PF_NOTE_NO_FILE, "1");
    }
    return DECLINED;
}

int pf_map_to_storage(request_rec *r)
{
    return apr_table_get(r->notes, PF_NOTE_NO_FILE) ? OK : DECLINED;
}

typedef enum { PF_AUTH_OK, PF_AUTH_DENIED, PF_AUTH_UNAVAILABLE, PF_AUTH_ERROR } pf_auth_result;

static pf_auth_result authenticate(request_rec *r, pf_req *rq)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");
    const char *token;
    size_t len;
    unsigned char digest[32];
    char hex[65];
    const char *args[1];
    const char *cols[6];
    pf_rows res;
    pf_db_status st;
    apr_int64_t expires_at = 0;
    int found = 0;

    if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
        return PF_AUTH_DENIED;
    }
    token = h + 7;
    while (*token == ' ' || *token == '\t') {
        token++;
    }
    len = strlen(token);
    while (len > 0 && (token[len - 1] == ' ' || token[len - 1] == '\t')) {
        len--;
    }
    /* Format and checksum first: a mistyped or invented key costs nothing. */
    if (pf_key_check(token, len) != PF_KEY_OK) {
        return PF_AUTH_DENIED;
    }
    pf_sha256_md(pf_srv(r->server)->sha256, token, len, digest);
    memcpy(rq->rl_id, digest, sizeof(rq->rl_id));
    /* A key any child checked within the TTL needs no round trip. */
    if (pf_keycache_get(r, digest, rq)) {
        return PF_AUTH_OK;
    }
    pf_hex(digest, sizeof(digest), hex);
    args[0] = hex;
    st = pf_db_select(r, PF_SQL_KEY_LOOKUP, 1, args, &res);
    if (st != PF_DB_OK) {
        return st == PF_DB_UNAVAILABLE ? PF_AUTH_UNAVAILABLE : PF_AUTH_ERROR;
    }
    while (pf_db_next(r, &res, cols, 6)) {
        if (found || !cols[0] || !cols[1] || !cols[3]) {
            continue;
        }
        found = 1;
        if (cols[3][0] != 't') {
            continue;
        }
        apr_cpystrn(rq->key_id, cols[0], sizeof(rq->key_id));
        apr_cpystrn(rq->customer_id, cols[1], sizeof(rq->customer_id));
        rq->scopes = pf_scopes_parse(cols[2]);
        expires_at = cols[4] ? apr_atoi64(cols[4]) : 0;
        rq->authenticated = 1;
    }
    if (rq->authenticated) {
        pf_keycache_put(r, digest, rq, expires_at);
        return PF_AUTH_OK;
    }
    /* Revoked, expired or gone: no child may keep answering for it. */
    pf_keycache_forget(r, digest);
    return PF_AUTH_DENIED;
}

static int deny_401(request_rec *r)
{
    apr_table_setn(r->headers_out, "WWW-Authenticate", "Bearer realm=\"permafrost\"");
    /* One message for every cause, so the answer tells nothing about keys. */
    return pf_send_error(r, HTTP_UNAUTHORIZED, "UNAUTHORIZED",
                         "A valid API key is required: send 'Authorization: Bearer <key>'.");
}

static int method_not_allowed(request_rec *r, const pf_route *route)
{
    apr_table_setn(r->headers_out, "Allow", route->allow);
    return pf_send_error(r, HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                         apr_psprintf(r->pool, "%s is not allowed here; allowed: %s.",
                                      pf_printable(r->pool, r->method, 32), route->allow));
}

/* Runs the checks and either answers (DONE) or lets the handler run (OK). */
int pf_access_checker(request_rec *r)
{
    pf_dir_cfg *dc;
    pf_req *rq;
    const char *rest, *base;
    size_t blen;

    if (!pf_is_ours(r)) {
        return DECLINED;
    }
    rq = pf_req_get(r);
    if (rq) {
        /* Already checked (the handler re-entering for safety). */
        return OK;
    }
    rq = apr_pcalloc(r->pool, sizeof(*rq));
    ap_set_module_config(r->request_config, &permafrost_module, rq);

    dc = ap_get_module_config(r->per_dir_config, &permafrost_module);
    base = dc && dc->base ? dc->base : PF_DEFAULT_BASE;
    rq->base = base;
    blen = strlen(base);
    if (strncmp(r->uri, base, blen) == 0) {
        rest = r->uri + blen;
    }
    else {
        rest = "";
    }
    rq->route_found = pf_route_match(rest, &rq->route) == 0;

    if (rq->route_found && rq->route.public_route) {
        if (!(pf_method_flag(r->method) & rq->route.methods)) {
            method_not_allowed(r, &rq->route);
            return DONE;
        }
        return OK;
    }

    switch (authenticate(r, rq)) {
    case PF_AUTH_OK:
        break;
    case PF_AUTH_DENIED:
        deny_401(r);
        return DONE;
    case PF_AUTH_UNAVAILABLE:
        pf_send_unavailable(r);
        return DONE;
    case PF_AUTH_ERROR:
        pf_db_fail(r, PF_DB_ERROR);
        return DONE;
    }
    r->user = rq->key_id;
    r->ap_auth_type = "Bearer";

    /* 404, 405 and 403 use quota too, but stay what they are (never 429). */
    if (!rq->route_found) {
        pf_ratelimit_count(r, rq, 0);
        pf_send_error(r, HTTP_NOT_FOUND, "NOT_FOUND", "No such resource.");
        return DONE;
    }
    if (!(pf_method_flag(r->method) & rq->route.methods)) {
        pf_ratelimit_count(r, rq, 0);
        method_not_allowed(r, &rq->route);
        return DONE;
    }
    if (!(rq->scopes & rq->route.scope)) {
        const char *scope = pf_scope_name(rq->route.scope);
        pf_ratelimit_count(r, rq, 0);
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       apr_psprintf(r->pool,
                                    "Bearer realm=\"permafrost\", error=\"insufficient_scope\", "
                                    "scope=\"%s\"", scope));
        pf_send_error(r, HTTP_FORBIDDEN, "FORBIDDEN",
                      apr_psprintf(r->pool, "This key lacks the scope %s.", scope));
        return DONE;
    }
    /* Before any database work for the route: an exhausted key costs nothing. */
    if (pf_ratelimit_count(r, rq, 1) == DONE) {
        return DONE;
    }
    return OK;
}
