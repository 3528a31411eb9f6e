/* Connection handling, query helpers and readable database errors. */
#include "pfa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Notices ("schema already exists, skipping") would break the promise of
 * quiet success and one-line errors. */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* libpq messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."); squeeze them into one. */
static void one_line(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    int space = 0;

    for (const char *p = in; *p && o + 1 < outsz; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < outsz) {
            out[o++] = ' ';
        }
        space = 0;
        out[o++] = *p;
    }
    out[o] = '\0';
}

PGconn *pfa_connect(const pfa_ctx *ctx)
{
    const char *keys[4], *vals[4];
    char msg[1024];
    PGconn *conn;
    int n = 0;

    /* Earlier entries are defaults that a DSN may override. */
    if (!getenv("PGCONNECT_TIMEOUT")) {
        keys[n] = "connect_timeout";
        vals[n++] = "10";
    }
    keys[n] = "fallback_application_name";
    vals[n++] = PFA_PROG;
    if (ctx->dsn && ctx->dsn[0]) {
        keys[n] = "dbname";
        vals[n++] = ctx->dsn;
    }
    keys[n] = NULL;
    vals[n] = NULL;

    conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        pfa_fail("cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        one_line(PQerrorMessage(conn), msg, sizeof(msg));
        pfa_fail("cannot connect to the database: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, quiet_notices, NULL);
    /* Names are UTF-8 whatever the terminal's locale says. */
    if (PQsetClientEncoding(conn, "UTF8") != 0) {
        one_line(PQerrorMessage(conn), msg, sizeof(msg));
        pfa_fail("cannot set client encoding: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

void pfa_disconnect(PGconn *conn)
{
    if (conn) {
        PQfinish(conn);
    }
}

/* Readable reasons for the constraints of sql/001_core_schema.sql. */
static const struct {
    const char *constraint;
    const char *reason;
} constraint_reasons[] = {
    { "customers_name_check", "customer name must be 1 to 200 characters" },
    { "api_keys_name_check", "key name must be 1 to 200 characters" },
    { "api_keys_scopes_check", "unknown or empty scope list" },
    { "api_keys_key_hash_key", "a key with the same hash already exists (try again)" },
    { "api_keys_customer_id_fkey", "customer not found" },
    { "tenants_pkey", "that tenant already exists for this customer" },
    { "tenants_customer_id_fkey", "customer not found" },
    { "tenants_status_check", "tenant status must be connected, disconnected or error" },
    { "identities_customer_id_tenant_id_fkey", "tenant not found for this customer" },
    { "findings_customer_id_tenant_id_fkey", "tenant not found for this customer" },
    { "findings_customer_id_tenant_id_identity_id_fkey",
      "identity not found in this tenant of this customer" },
    { "analyzer_passes_customer_id_tenant_id_fkey", "tenant not found for this customer" },
};

int pfa_report_result(PGconn *conn, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *reason = NULL;
    char msg[1024], buf[1200];

    one_line(primary ? primary : PQerrorMessage(conn), msg, sizeof(msg));
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(buf, sizeof(buf), "lost the database connection: %s", msg);
        reason = buf;
    }
    else if (constraint && state && strncmp(state, "23", 2) == 0) {
        for (size_t i = 0; i < sizeof(constraint_reasons) / sizeof(constraint_reasons[0]); i++) {
            if (strcmp(constraint_reasons[i].constraint, constraint) == 0) {
                reason = constraint_reasons[i].reason;
                break;
            }
        }
    }
    if (!reason && state) {
        if (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0
            || strcmp(state, "42703") == 0) {
            snprintf(buf, sizeof(buf),
                     "%s (is the schema missing or outdated? run '" PFA_PROG " migrate')", msg);
            reason = buf;
        }
        else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
            snprintf(buf, sizeof(buf), "%s (try again)", msg);
            reason = buf;
        }
    }
    if (!reason) {
        reason = msg;
    }
    if (what) {
        return pfa_fail("%s: %s", what, reason);
    }
    return pfa_fail("%s", reason);
}

PGresult *pfa_query(PGconn *conn, const char *what, const char *sql,
                    int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return res;
    }
    pfa_report_result(conn, res, what);
    PQclear(res);
    return NULL;
}

int pfa_exec(PGconn *conn, const char *what, const char *sql,
             int nparams, const char *const *params)
{
    PGresult *res = pfa_query(conn, what, sql, nparams, params);

    if (!res) {
        return -1;
    }
    PQclear(res);
    return 0;
}

int pfa_rollback(PGconn *conn)
{
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQclear(PQexec(conn, "ROLLBACK"));
    }
    return PFA_EXIT_ERROR;
}

int pfa_customer_exists(PGconn *conn, const char *customer_id)
{
    const char *params[1] = { customer_id };
    PGresult *res = pfa_query(conn, NULL,
                              "SELECT 1 FROM permafrost.customers WHERE id = $1::uuid",
                              1, params);
    int found;

    if (!res) {
        return -1;
    }
    found = PQntuples(res) > 0;
    PQclear(res);
    if (!found) {
        pfa_fail("customer %s not found", customer_id);
    }
    return found;
}

const char *pfa_val(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

json_t *pfa_json_str(const PGresult *res, int row, int col)
{
    const char *v = pfa_val(res, row, col);
    json_t *j;

    if (!v) {
        return json_null();
    }
    j = json_string(v);
    return j ? j : json_null();
}

int pfa_print_json(json_t *v)
{
    char *text;

    if (!v) {
        return pfa_fail("out of memory");
    }
    text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!text) {
        return pfa_fail("cannot encode JSON output");
    }
    puts(text);
    free(text);
    return PFA_EXIT_OK;
}
