/* customer create, tenant add. */
#include "pfa.h"

#include <stdio.h>
#include <string.h>

int pfa_cmd_customer_create(pfa_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL, *val, *problem;
    const char *params[1];
    pfa_parser p;
    PGconn *conn;
    PGresult *res;
    int opt, rc;

    pfa_parser_init(&p, ctx, argc, argv, "customer create", NULL);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        if (opt == PFA_ARG_HELP) {
            pfa_help("customer create");
            return PFA_EXIT_OK;
        }
        if (opt != PFA_ARG_POSITIONAL) {
            return PFA_EXIT_USAGE;
        }
        if (name) {
            return pfa_usage("customer create", "unexpected argument '%s' (quote a NAME with spaces)", val);
        }
        name = val;
    }
    if (!name) {
        return pfa_usage("customer create", "missing NAME");
    }
    if ((problem = pfa_name_problem(name, 200)) != NULL) {
        return pfa_usage("customer create", "NAME %s (1 to 200 characters)", problem);
    }

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    params[0] = name;
    res = pfa_query(conn, "cannot create customer",
                    "INSERT INTO permafrost.customers (name) VALUES ($1) "
                    "RETURNING id, name, " PFA_TS("created_at"), 1, params);
    if (!res) {
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", pfa_json_str(res, 0, 0));
        json_object_set_new(o, "name", pfa_json_str(res, 0, 1));
        json_object_set_new(o, "createdAt", pfa_json_str(res, 0, 2));
        rc = pfa_print_json(o);
    }
    else {
        /* Just the id, so that ID=$(permafrost-admin customer create X) works. */
        puts(PQgetvalue(res, 0, 0));
        rc = PFA_EXIT_OK;
    }
    PQclear(res);
    pfa_disconnect(conn);
    return rc;
}

/* A DNS name: labels of letters, digits and hyphens. */
static int valid_domain(const char *d)
{
    size_t len = strlen(d), label = 0;

    if (len == 0 || len > 253) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-') {
                return 0;
            }
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-')) {
            return 0;
        }
        if (c == '-' && label == 0) {
            return 0;
        }
        if (++label > 63) {
            return 0;
        }
    }
    return label > 0 && d[len - 1] != '-';
}

enum { T_CUSTOMER, T_TENANT, T_NAME, T_DOMAIN, T_STATUS };

static const pfa_optdef tenant_opts[] = {
    [T_CUSTOMER] = { "customer", 1, 0 },
    [T_TENANT] = { "tenant-id", 1, 0 },
    [T_NAME] = { "name", 1, 0 },
    [T_DOMAIN] = { "domain", 1, 0 },
    [T_STATUS] = { "status", 1, 0 },
    { NULL, 0, 0 }
};

int pfa_cmd_tenant_add(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "tenant add";
    char customer[37], tenant[37];
    const char *name = NULL, *domain = NULL, *status = "connected", *val, *problem;
    int have_customer = 0, have_tenant = 0, opt, rc;
    const char *params[5];
    pfa_parser p;
    PGconn *conn;
    PGresult *res;

    pfa_parser_init(&p, ctx, argc, argv, cmd, tenant_opts);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        switch (opt) {
        case T_CUSTOMER:
            if (pfa_uuid_arg(val, customer) != 0) {
                return pfa_usage(cmd, "--customer must be a UUID, not '%s'", val);
            }
            have_customer = 1;
            break;
        case T_TENANT:
            if (pfa_uuid_arg(val, tenant) != 0) {
                return pfa_usage(cmd, "--tenant-id must be a UUID, not '%s'", val);
            }
            have_tenant = 1;
            break;
        case T_NAME:
            if ((problem = pfa_name_problem(val, 200)) != NULL) {
                return pfa_usage(cmd, "--name %s (1 to 200 characters)", problem);
            }
            name = val;
            break;
        case T_DOMAIN:
            if (!valid_domain(val)) {
                return pfa_usage(cmd, "--domain must be a DNS name, not '%s'", val);
            }
            domain = val;
            break;
        case T_STATUS:
            if (strcmp(val, "connected") != 0 && strcmp(val, "disconnected") != 0
                && strcmp(val, "error") != 0) {
                return pfa_usage(cmd, "--status must be connected, disconnected or error");
            }
            status = val;
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
    if (!name) {
        return pfa_usage(cmd, "missing --name");
    }

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    params[0] = customer;
    params[1] = tenant;
    params[2] = name;
    params[3] = domain;
    params[4] = status;
    /* Inserting through the customer row tells "no such customer" apart
     * from "already there" without a race-prone pre-check. */
    res = pfa_query(conn, "cannot add tenant",
                    "INSERT INTO permafrost.tenants"
                    " (customer_id, tenant_id, display_name, primary_domain, status)"
                    " SELECT c.id, $2::uuid, $3, $4, $5 FROM permafrost.customers c"
                    " WHERE c.id = $1::uuid"
                    " ON CONFLICT (customer_id, tenant_id) DO NOTHING"
                    " RETURNING tenant_id, customer_id, display_name, primary_domain, status, "
                    PFA_TS("connected_at") ", " PFA_TS("last_sync_at"),
                    5, params);
    if (!res) {
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        rc = pfa_customer_exists(conn, customer);
        if (rc == 1) {
            pfa_fail("tenant %s already exists for customer %s", tenant, customer);
        }
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", pfa_json_str(res, 0, 0));
        json_object_set_new(o, "customerId", pfa_json_str(res, 0, 1));
        json_object_set_new(o, "displayName", pfa_json_str(res, 0, 2));
        json_object_set_new(o, "primaryDomain", pfa_json_str(res, 0, 3));
        json_object_set_new(o, "status", pfa_json_str(res, 0, 4));
        json_object_set_new(o, "connectedAt", pfa_json_str(res, 0, 5));
        json_object_set_new(o, "lastSyncAt", pfa_json_str(res, 0, 6));
        rc = pfa_print_json(o);
    }
    else {
        printf("tenant %s (%s) added to customer %s\n", PQgetvalue(res, 0, 0),
               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1));
        rc = PFA_EXIT_OK;
    }
    PQclear(res);
    pfa_disconnect(conn);
    return rc;
}
