/* Database access through mod_dbd's pooled connections. Statements are
 * prepared under labels at startup; requests only run them. */
#include "mod_permafrost_private.h"

#include "pf_gate.h"
#include "pf_pgerr.h"

#include <libpq-fe.h>

void pf_db_prepare_all(server_rec *s)
{
    pf_srv_cfg *c = pf_srv(s);

    for (int i = 0; i < PF_SQL_COUNT_; i++) {
        c->dbd.prepare(s, pf_sql_statements[i].text, pf_sql_statements[i].label);
    }
}

/* Logs against the request when there is one, else against the server
 * (the webhook drainer runs outside any request). */
#define PF_DBLOG(r, s, level, ...) \
    do { \
        if (r) { \
            ap_log_rerror(APLOG_MARK, level, 0, r, __VA_ARGS__); \
        } \
        else { \
            ap_log_error(APLOG_MARK, level, 0, s, __VA_ARGS__); \
        } \
    } while (0)

/* apr_dbd's pgsql driver repairs a broken connection with PQreset when it
 * is checked (mod_dbd checks on every acquire): the session is new and the
 * statements mod_dbd prepared on it are gone. Preparing them again makes the
 * connection whole; on a connection that still has them this only fails
 * harmlessly ("already exists"). */
static void reprepare(request_rec *r, server_rec *s, ap_dbd_t *dbd)
{
    for (int i = 0; i < PF_SQL_COUNT_; i++) {
        apr_dbd_prepared_t *stmt = NULL;
        if (apr_dbd_prepare(dbd->driver, dbd->pool, dbd->handle, pf_sql_statements[i].text,
                            pf_sql_statements[i].label, &stmt) == 0 && stmt) {
            apr_hash_set(dbd->prepared, pf_sql_statements[i].label, APR_HASH_KEY_STRING, stmt);
        }
    }
    PF_DBLOG(r, s, APLOG_INFO, "PF00008: prepared the statements again on a reconnected session");
}

/* Each pooled session is set up once, before its first statement:
 * - DateStyle ISO: timestamps are read as PostgreSQL prints them in that
 *   style (pf_sql.c's UTC, pf_ts_rfc3339), and a server, database or role
 *   may default to another;
 * - jit off: the module's statements are short, and a generic plan whose
 *   estimate passes jit_above_cost (an offset page's ids-first form,
 *   pf_sql.c's FINDING_PAGE) spent 25-45 ms compiling on every execution,
 *   for a statement that runs in one;
 * - statement_timeout (PermafrostQueryTimeout): a statement stuck on a
 *   lock or an overloaded server ends, and frees its connection and its
 *   place in the gate, instead of holding them for as long as it takes;
 * - verbose errors (a libpq setting, no statement): the SQLSTATE in the
 *   message tells a cancelled statement from a broken one (pf_pgerr.h).
 * mod_dbd has no hook where a connection opens, so the connection's own
 * pool remembers which backend was set up; a session that libpq reset
 * after a lost connection has another backend and is set up again. */
#define PF_SESSION_KEY "permafrost-session"

const char *pf_db_session_sql(apr_pool_t *p, long query_timeout_ms)
{
    const char *sql = "SET DateStyle TO ISO; SET jit TO off";

    /* off: whatever the role, database or DBDParams options set. */
    return query_timeout_ms > 0
               ? apr_psprintf(p, "%s; SET statement_timeout TO %ld", sql, query_timeout_ms)
               : sql;
}

typedef struct {
    int backend;
} pf_session;

static void session_setup(request_rec *r, server_rec *s, ap_dbd_t *dbd)
{
    const char *sql = pf_srv(s)->session_sql;
    PGconn *pg;
    PGresult *res;
    pf_session *ss = NULL;
    int backend;

    if (strcmp(apr_dbd_name(dbd->driver), "pgsql") != 0
        || !(pg = apr_dbd_native_handle(dbd->driver, dbd->handle))) {
        return;
    }
    backend = PQbackendPID(pg);
    apr_pool_userdata_get((void **)&ss, PF_SESSION_KEY, dbd->pool);
    if (ss && ss->backend == backend) {
        return;
    }
    PQsetErrorVerbosity(pg, PQERRORS_VERBOSE);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *msg = PQerrorMessage(pg);
        /* Not marked: the next statement on this session tries again. */
        PF_DBLOG(r, s, APLOG_WARNING, "PF00045: could not set up a pooled session (%s): %.*s",
                 sql, (int)pf_pgerr_first_line(msg), msg);
        PQclear(res);
        return;
    }
    PQclear(res);
    if (!ss) {
        ss = apr_palloc(dbd->pool, sizeof(*ss));
        apr_pool_userdata_setn(ss, PF_SESSION_KEY, NULL, dbd->pool);
    }
    ss->backend = backend;
}

typedef struct {
    request_rec *r;
    pf_req *rq;
} conn_hold;

/* Hands back the connection and the gate's place, whichever is held. */
static void release(request_rec *r, pf_req *rq)
{
    if (rq->dbd) {
        pf_srv(r->server)->dbd.close(r->server, rq->dbd);
        rq->dbd = NULL;
    }
    if (rq->gated) {
        rq->gated = 0;
        pf_gate_leave(pf_srv(r->server)->gate);
    }
}

static apr_status_t release_conn(void *data)
{
    conn_hold *h = data;

    release(h->r, h->rq);
    return APR_SUCCESS;
}

/* After PostgreSQL restarts, every pooled connection is stale but looks
 * healthy until used. A statement that fails on a connection that cannot be
 * repaired hands it back and runs again on another; one that fails on a
 * repaired (new) session prepares the statements again and runs once more.
 * So a restart costs no client an error once the database is back, and a
 * genuine SQL error still ends as 500 after one repeat. */
#define PF_DB_ATTEMPTS 4

pf_db_status pf_db_run(request_rec *r, apr_pool_t *p, server_rec *s, ap_dbd_t **held,
                       pf_sql_id id, int nargs, const char **args, pf_rows *rows)
{
    const char *label = pf_sql_statements[id].label;
    pf_srv_cfg *c = pf_srv(s);
    pf_db_status st = PF_DB_UNAVAILABLE;
    int reprepared = 0;

    rows->res = NULL;
    rows->row = NULL;
    rows->dbd = NULL;
    rows->pool = p;
    for (int attempt = 0; attempt < PF_DB_ATTEMPTS; attempt++) {
        ap_dbd_t *dbd;
        apr_dbd_prepared_t *stmt;
        const char *msg;
        int rv;

        if (!*held) {
            *held = c->dbd.open(p, s);
        }
        dbd = *held;
        if (!dbd) {
            PF_DBLOG(r, s, APLOG_WARNING,
                     "PF00004: no database connection available (is PostgreSQL up and "
                     "migrated?)");
            return PF_DB_UNAVAILABLE;
        }
        rows->dbd = dbd;
        session_setup(r, s, dbd);
        stmt = apr_hash_get(dbd->prepared, label, APR_HASH_KEY_STRING);
        if (!stmt) {
            PF_DBLOG(r, s, APLOG_ERR, "PF00005: statement %s was not prepared on this connection",
                     label);
            return PF_DB_ERROR;
        }
        /* Random access: results are read whole, so rows never stay pending
         * on a pooled connection. */
        rv = apr_dbd_pselect(dbd->driver, p, dbd->handle, &rows->res, stmt, 1, nargs, args);
        if (rv == 0) {
            return PF_DB_OK;
        }
        msg = apr_dbd_error(dbd->driver, dbd->handle, rv);
        if (!msg) {
            msg = "unknown error";
        }
        if (apr_dbd_check_conn(dbd->driver, p, dbd->handle) != APR_SUCCESS) {
            PF_DBLOG(r, s, APLOG_WARNING, "PF00002: database connection lost running %s: %.*s",
                     label, (int)pf_pgerr_first_line(msg), msg);
            st = PF_DB_UNAVAILABLE;
            c->dbd.close(s, dbd);
            *held = NULL;
            continue;
        }
        if (pf_pgerr_classify(msg) == PF_PGERR_BUSY) {
            /* Running it again would wait as long once more: a client
             * gets 503 with Retry-After, and the connection stays pooled. */
            PF_DBLOG(r, s, APLOG_WARNING,
                     "PF00047: statement %s was cancelled or refused by PostgreSQL: %.*s",
                     label, (int)pf_pgerr_first_line(msg), msg);
            return PF_DB_UNAVAILABLE;
        }
        if (!reprepared) {
            reprepared = 1;
            reprepare(r, s, dbd);
            continue;
        }
        PF_DBLOG(r, s, APLOG_ERR, "PF00003: statement %s failed: %.*s", label,
                 (int)pf_pgerr_first_line(msg), msg);
        return PF_DB_ERROR;
    }
    return st;
}

/* The request keeps one pooled connection from its first statement to its
 * end (released by a pool cleanup, never held past the request). */
pf_db_status pf_db_select(request_rec *r, pf_sql_id id, int nargs, const char **args,
                          pf_rows *rows)
{
    pf_req *rq = pf_req_get(r);

    if (!rq->dbd_release) {
        conn_hold *h = apr_palloc(r->pool, sizeof(*h));
        h->r = r;
        h->rq = rq;
        apr_pool_cleanup_register(r->pool, h, release_conn, apr_pool_cleanup_null);
        rq->dbd_release = 1;
    }
    /* A place in the gate (PermafrostDatabaseConcurrency) comes before a
     * connection and goes with it. */
    if (!rq->dbd && !rq->gated && pf_srv(r->server)->gate) {
        rq->gated = pf_gate_enter(pf_srv(r->server)->gate, r->pool) == APR_SUCCESS;
    }
    return pf_db_run(r, r->pool, r->server, &rq->dbd, id, nargs, args, rows);
}

void pf_db_release(request_rec *r)
{
    pf_req *rq = pf_req_get(r);

    if (rq) {
        release(r, rq);
    }
}

int pf_db_next(request_rec *r, pf_rows *rows, const char **cols, int ncols)
{
    (void)r;
    return pf_db_next_row(rows, cols, ncols);
}

int pf_db_next_row(pf_rows *rows, const char **cols, int ncols)
{
    if (!rows->res
        || apr_dbd_get_row(rows->dbd->driver, rows->pool, rows->res, &rows->row, -1) != 0) {
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
