/* analyzer-pass: what an analyzer run writes, for trying webhooks. */
#include "pfa.h"
#include "pfa_content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BITS(h, from) PFA_SQL_BITS(h, from)

/* $1 customer, $2 tenant, $3 pass, $4 forced severity or NULL, $5 count.
 * Identities are drawn from the tenant (3% of findings are tenant-wide);
 * the first four findings are critical, high, medium, low so that every
 * webhook event type fires even for small N. */
static const char sql_findings_insert[] =
    "INSERT INTO permafrost.findings (customer_id, tenant_id, identity_id, severity, status,"
    "   finding_type, title, description, remediation, evidence, first_seen_pass_id,"
    "   first_seen_at, last_seen_at)"
    " SELECT $1::uuid, $2::uuid, s.identity_id, s.severity, 'open', s.ftype,"
    "   " PFA_SQL_TITLE ", " PFA_SQL_DESCRIPTION ", " PFA_SQL_REMEDIATION ", " PFA_SQL_EVIDENCE ","
    "   $3::uuid, now(), now()"
    " FROM (SELECT g.h, g.e1, g.e2, now() AS anchor, i.id AS identity_id, i.display_name AS name,"
    "     i.user_principal_name AS upn, i.app_id,"
    "     coalesce(ra.role_name, 'Contributor') AS role_name, coalesce(ra.scope, '/') AS scope,"
    "     coalesce($4::text, CASE WHEN g.n <= 4"
    "       THEN (ARRAY['critical', 'high', 'medium', 'low'])[g.n]"
    "       ELSE " PFA_SQL_SEVERITY("g.sev") " END) AS severity,"
    "     " PFA_SQL_FTYPE("i.type", "g.ty") " AS ftype"
    "   FROM (SELECT b.n, b.h, b.r1 >> 43 AS e1, b.e2, b.r2 & 1073741823 AS pick,"
    "           (b.r2 >> 30) % 100 AS sev, (b.r2 >> 44) % 120 AS ty, (b.r2 >> 51) % 100 AS nul"
    "         FROM (SELECT a.n, a.h, " BITS("a.h", "1") " AS r1, " BITS("a.h", "16") " AS r2,"
    "                 ('x' || substr(a.h, 31, 2))::bit(8)::int AS e2"
    "               FROM (SELECT f.n, md5(gen_random_uuid()::text) AS h"
    "                     FROM generate_series(1, $5::int) AS f(n) OFFSET 0) a"
    "               OFFSET 0) b) g"
    "   CROSS JOIN (SELECT count(*) AS c FROM permafrost.identities"
    "               WHERE customer_id = $1::uuid AND tenant_id = $2::uuid) cnt"
    "   LEFT JOIN (SELECT id, type, display_name, user_principal_name, app_id,"
    "                row_number() OVER (ORDER BY id) - 1 AS ix"
    "              FROM permafrost.identities"
    "              WHERE customer_id = $1::uuid AND tenant_id = $2::uuid) i"
    "     ON i.ix = CASE WHEN cnt.c = 0 OR g.nul < 3 THEN NULL ELSE g.pick % cnt.c END"
    "   LEFT JOIN LATERAL (SELECT r.role_name, r.scope FROM permafrost.role_assignments r"
    "                      WHERE r.customer_id = $1::uuid AND r.identity_id = i.id"
    "                      ORDER BY r.role_name, r.id LIMIT 1) ra ON true"
    "   OFFSET 0) s";

enum { A_CUSTOMER, A_TENANT, A_NEW, A_SEVERITY };

static const pfa_optdef pass_opts[] = {
    [A_CUSTOMER] = { "customer", 1, 0 },
    [A_TENANT] = { "tenant-id", 1, 0 },
    [A_NEW] = { "new-findings", 1, 0 },
    [A_SEVERITY] = { "severity", 1, 0 },
    { NULL, 0, 0 }
};

static const char *const severities[4] = { "critical", "high", "medium", "low" };

/* Everything in one transaction; the pass is completed by its own UPDATE
 * because that UPDATE is what the webhook trigger listens to. */
static int run_pass(PGconn *conn, const char *const params[5], char pass_id[37],
                    PGresult **times, long long counts[4])
{
    PGresult *res;

    if (pfa_exec(conn, NULL, "BEGIN", 0, NULL) != 0
        /* JIT compiling the wide finding expressions costs more than it saves. */
        || pfa_exec(conn, NULL, "SET LOCAL jit = off", 0, NULL) != 0) {
        return -1;
    }
    if (pfa_customer_exists(conn, params[0]) != 1) {
        return -1;
    }
    res = pfa_query(conn, NULL,
                    "SELECT 1 FROM permafrost.tenants WHERE customer_id = $1::uuid"
                    " AND tenant_id = $2::uuid", 2, params);
    if (!res) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        pfa_fail("tenant %s not found for customer %s", params[1], params[0]);
        return -1;
    }
    PQclear(res);

    res = pfa_query(conn, "cannot record the pass",
                    "INSERT INTO permafrost.analyzer_passes (customer_id, tenant_id)"
                    " VALUES ($1::uuid, $2::uuid) RETURNING id", 2, params);
    if (!res) {
        return -1;
    }
    snprintf(pass_id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    if (pfa_exec(conn, "cannot insert findings", sql_findings_insert, 5, params) != 0) {
        return -1;
    }
    *times = pfa_query(conn, "cannot complete the pass",
                       "UPDATE permafrost.analyzer_passes SET completed_at = now()"
                       " WHERE customer_id = $1::uuid AND tenant_id = $2::uuid"
                       " AND id = $3::uuid RETURNING " PFA_TS("started_at") ", " PFA_TS("completed_at"),
                       3, params);
    if (!*times) {
        return -1;
    }
    res = pfa_query(conn, NULL,
                    "SELECT severity, count(*) FROM permafrost.findings"
                    " WHERE customer_id = $1::uuid AND tenant_id = $2::uuid"
                    " AND first_seen_pass_id = $3::uuid GROUP BY severity", 3, params);
    if (!res) {
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        for (int k = 0; k < 4; k++) {
            if (strcmp(PQgetvalue(res, r, 0), severities[k]) == 0) {
                counts[k] = atoll(PQgetvalue(res, r, 1));
            }
        }
    }
    PQclear(res);
    return pfa_exec(conn, "cannot commit the pass", "COMMIT", 0, NULL);
}

int pfa_cmd_analyzer_pass(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "analyzer-pass";
    char customer[37], tenant[37], pass_id[37], n[24];
    const char *val, *severity = NULL, *params[5];
    int have_customer = 0, have_tenant = 0, have_n = 0, opt, rc;
    long long v, counts[4] = { 0, 0, 0, 0 }, total = 0;
    PGresult *times = NULL;
    pfa_parser p;
    PGconn *conn;

    pfa_parser_init(&p, ctx, argc, argv, cmd, pass_opts);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        switch (opt) {
        case A_CUSTOMER:
            if (pfa_uuid_arg(val, customer) != 0) {
                return pfa_usage(cmd, "--customer must be a UUID, not '%s'", val);
            }
            have_customer = 1;
            break;
        case A_TENANT:
            if (pfa_uuid_arg(val, tenant) != 0) {
                return pfa_usage(cmd, "--tenant-id must be a UUID, not '%s'", val);
            }
            have_tenant = 1;
            break;
        case A_NEW:
            if (pfa_count_arg(val, 0, 1000000, &v) != 0) {
                return pfa_usage(cmd, "--new-findings must be an integer from 0 to 1000000, not '%s'",
                                 val);
            }
            snprintf(n, sizeof(n), "%lld", v);
            have_n = 1;
            break;
        case A_SEVERITY:
            for (int k = 0; k < 4; k++) {
                if (strcmp(val, severities[k]) == 0) {
                    severity = severities[k];
                }
            }
            if (!severity) {
                return pfa_usage(cmd, "--severity must be critical, high, medium or low");
            }
            break;
        case PFA_ARG_HELP:
            pfa_help(cmd);
            return PFA_EXIT_OK;
        case PFA_ARG_POSITIONAL:
            return pfa_usage(cmd, "unexpected argument '%s'", val);
        default:
            return PFA_EXIT_USAGE;
        }
    }
    if (!have_customer) {
        return pfa_usage(cmd, "missing --customer");
    }
    if (!have_tenant) {
        return pfa_usage(cmd, "missing --tenant-id");
    }
    if (!have_n) {
        return pfa_usage(cmd, "missing --new-findings");
    }

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    params[0] = customer;
    params[1] = tenant;
    params[2] = pass_id;
    params[3] = severity;
    params[4] = n;
    pass_id[0] = '\0';
    if (run_pass(conn, params, pass_id, &times, counts) != 0) {
        PQclear(times);
        pfa_rollback(conn);
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    pfa_disconnect(conn);
    for (int k = 0; k < 4; k++) {
        total += counts[k];
    }

    if (ctx->json) {
        json_t *o = json_object(), *by = json_object();
        json_object_set_new(o, "id", json_string(pass_id));
        json_object_set_new(o, "customerId", json_string(customer));
        json_object_set_new(o, "tenantId", json_string(tenant));
        json_object_set_new(o, "startedAt", pfa_json_str(times, 0, 0));
        json_object_set_new(o, "completedAt", pfa_json_str(times, 0, 1));
        json_object_set_new(o, "findings", json_integer(total));
        for (int k = 0; k < 4; k++) {
            json_object_set_new(by, severities[k], json_integer(counts[k]));
        }
        json_object_set_new(o, "bySeverity", by);
        rc = pfa_print_json(o);
    }
    else {
        printf("analyzer pass %s completed at %s\n", pass_id, PQgetvalue(times, 0, 1));
        printf("new findings: %lld (critical %lld, high %lld, medium %lld, low %lld)\n",
               total, counts[0], counts[1], counts[2], counts[3]);
        rc = PFA_EXIT_OK;
    }
    PQclear(times);
    return rc;
}
