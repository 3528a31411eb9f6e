/* Database access through mod_dbd's pooled connections. Statements are
 * prepared under labels at startup; requests only run them. */
#include "mod_permafrost_private.h"

void pf_db_prepare_all(server_rec *s)
{
    pf_srv_cfg *c = pf_srv(s);

    for (int i = 0; i < PF_SQL_COUNT_; i++) {
        c->dbd.prepare(s, pf_sql_statements[i].text, pf_sql_statements[i].label);
    }
}

/* A failed statement on a connection that is no longer usable means the
 * database went away: that is 503, not a bug. */
static pf_db_status classify(request_rec *r, ap_dbd_t *dbd, int rv, const char *label)
{
    const char *msg = apr_dbd_error(dbd->driver, dbd->handle, rv);

    if (apr_dbd_check_conn(dbd->driver, r->pool, dbd->handle) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PF00002: database connection lost running %s: %s", label,
                      msg ? msg : "unknown error");
        return PF_DB_UNAVAILABLE;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "PF00003: statement %s failed: %s", label,
                  msg ? msg : "unknown error");
    return PF_DB_ERROR;
}

pf_db_status pf_db_select(request_rec *r, pf_sql_id id, int nargs, const char **args,
                          pf_rows *rows)
{
    pf_srv_cfg *c = pf_srv(r->server);
    const char *label = pf_sql_statements[id].label;
    ap_dbd_t *dbd = c->dbd.acquire(r);
    apr_dbd_prepared_t *stmt;
    int rv;

    rows->res = NULL;
    rows->row = NULL;
    rows->dbd = dbd;
    if (!dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PF00004: no database connection available (is PostgreSQL up and "
                      "migrated?)");
        return PF_DB_UNAVAILABLE;
    }
    stmt = apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING);
    if (!stmt) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "PF00005: statement %s was not prepared on this connection", label);
        return PF_DB_ERROR;
    }
    /* Random access: results are read whole, so rows never stay pending on
     * a pooled connection. */
    rv = apr_dbd_pselect(dbd->driver, r->pool, dbd->handle, &rows->res, stmt, 1, nargs,
                         args);
    if (rv != 0) {
        return classify(r, dbd, rv, label);
    }
    return PF_DB_OK;
}

int pf_db_next(request_rec *r, pf_rows *rows, const char **cols, int ncols)
{
    if (!rows->res || apr_dbd_get_row(rows->dbd->driver, r->pool, rows->res, &rows->row, -1) != 0) {
        rows->res = NULL;
        return 0;
    }
    for (int i = 0; i < ncols; i++) {
        char *v = NULL;
        /* get_entry gives "" for SQL NULL; datum_get tells them apart. */
        if (apr_dbd_datum_get(rows->dbd->driver, rows->row, i, APR_DBD_TYPE_STRING, &v)
            != APR_SUCCESS) {
            v = NULL;
        }
        cols[i] = v;
    }
    return 1;
}

int pf_db_fail(request_rec *r, pf_db_status st)
{
    if (st == PF_DB_UNAVAILABLE) {
        return pf_send_unavailable(r);
    }
    return pf_send_error(r, HTTP_INTERNAL_SERVER_ERROR, "INTERNAL_ERROR",
                         "The server could not complete the request.");
}
