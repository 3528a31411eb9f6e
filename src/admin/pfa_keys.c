/* key create, key list, key revoke. */
#include "pfa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "pf_key.h"

#define SCOPE_NAMES "read:identities, read:findings, read:roles, manage:webhooks"

/* Adds every name of a comma-separated list to *mask; 0 when all known. */
static int add_scopes(const char *list, unsigned *mask, const char **bad, size_t *badlen)
{
    const char *s = list;

    for (;;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        unsigned flag = pf_scope_from_name(s, n);

        if (!flag) {
            *bad = s;
            *badlen = n;
            return -1;
        }
        *mask |= flag;
        if (!end) {
            return 0;
        }
        s = end + 1;
    }
}

/* "{a,b}" in the canonical order; scope names need no quoting. */
static void scopes_literal(unsigned mask, char *out, size_t size, json_t *arr)
{
    size_t off = 0;

    out[off++] = '{';
    for (unsigned flag = 1; flag <= PF_SCOPE_ALL; flag <<= 1) {
        if (mask & flag) {
            const char *name = pf_scope_name(flag);
            off += (size_t)snprintf(out + off, size - off, "%s%s", off > 1 ? "," : "", name);
            if (arr) {
                json_array_append_new(arr, json_string(name));
            }
        }
    }
    snprintf(out + off, size - off, "}");
}

enum { K_CUSTOMER, K_NAME, K_SCOPE, K_EXPIRES };

static const pfa_optdef create_opts[] = {
    [K_CUSTOMER] = { "customer", 1, 0 },
    [K_NAME] = { "name", 1, 0 },
    [K_SCOPE] = { "scope", 1, 1 },
    [K_EXPIRES] = { "expires", 1, 0 },
    { NULL, 0, 0 }
};

int pfa_cmd_key_create(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "key create";
    char customer[37], expires[64], scopes[128], key[PF_KEY_LEN + 1];
    char prefix[PF_KEY_SHOWN_LEN + 1], hash_hex[2 + 64 + 1];
    unsigned char hash[32];
    const char *name = NULL, *val, *problem, *bad = NULL;
    int have_customer = 0, have_expires = 0, opt, rc;
    long long expires_epoch = 0;
    unsigned mask = 0;
    size_t badlen = 0;
    const char *params[6];
    json_t *scope_arr;
    pfa_parser p;
    PGconn *conn;
    PGresult *res;

    pfa_parser_init(&p, ctx, argc, argv, cmd, create_opts);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        switch (opt) {
        case K_CUSTOMER:
            if (pfa_uuid_arg(val, customer) != 0) {
                return pfa_usage(cmd, "--customer must be a UUID, not '%s'", val);
            }
            have_customer = 1;
            break;
        case K_NAME:
            if ((problem = pfa_name_problem(val, 200)) != NULL) {
                return pfa_usage(cmd, "--name %s (1 to 200 characters)", problem);
            }
            name = val;
            break;
        case K_SCOPE:
            if (add_scopes(val, &mask, &bad, &badlen) != 0) {
                return pfa_usage(cmd, "unknown scope '%.*s' (valid: " SCOPE_NAMES ")",
                                 (int)badlen, bad);
            }
            break;
        case K_EXPIRES:
            if (pfa_rfc3339_arg(val, expires, sizeof(expires), &expires_epoch) != 0) {
                return pfa_usage(cmd, "--expires must be an RFC 3339 time such as "
                                 "2027-01-31T00:00:00Z, not '%s'", val);
            }
            have_expires = 1;
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
    if (!name) {
        return pfa_usage(cmd, "missing --name");
    }
    if (!mask) {
        return pfa_usage(cmd, "missing --scope (valid: " SCOPE_NAMES ")");
    }
    /* Allowed (tests want expired keys), but rarely what a person means. */
    if (have_expires && expires_epoch <= (long long)time(NULL)) {
        pfa_warn("--expires %s is in the past: the key is expired from the start", expires);
    }

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    if (pf_key_generate(key) != 0) {
        pfa_disconnect(conn);
        return pfa_fail("the random number generator failed");
    }
    pf_sha256(key, PF_KEY_LEN, hash);
    hash_hex[0] = '\\';
    hash_hex[1] = 'x';
    pf_hex(hash, sizeof(hash), hash_hex + 2);
    memcpy(prefix, key, PF_KEY_SHOWN_LEN);
    prefix[PF_KEY_SHOWN_LEN] = '\0';
    scope_arr = json_array();
    scopes_literal(mask, scopes, sizeof(scopes), scope_arr);

    params[0] = customer;
    params[1] = name;
    params[2] = hash_hex;
    params[3] = prefix;
    params[4] = scopes;
    params[5] = have_expires ? expires : NULL;
    res = pfa_query(conn, "cannot create key",
                    "INSERT INTO permafrost.api_keys"
                    " (customer_id, name, key_hash, key_prefix, scopes, expires_at)"
                    " SELECT c.id, $2, $3::bytea, $4, $5::text[], $6::timestamptz"
                    " FROM permafrost.customers c WHERE c.id = $1::uuid"
                    " RETURNING id, " PFA_TS("created_at") ", " PFA_TS("expires_at"),
                    6, params);
    if (!res || PQntuples(res) == 0) {
        if (res) {
            pfa_fail("customer %s not found", customer);
        }
        PQclear(res);
        OPENSSL_cleanse(key, sizeof(key));
        json_decref(scope_arr);
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", pfa_json_str(res, 0, 0));
        json_object_set_new(o, "key", json_string(key));
        json_object_set_new(o, "keyPrefix", json_string(prefix));
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "customerId", json_string(customer));
        json_object_set_new(o, "scopes", scope_arr);
        json_object_set_new(o, "createdAt", pfa_json_str(res, 0, 1));
        json_object_set_new(o, "expiresAt", pfa_json_str(res, 0, 2));
        rc = pfa_print_json(o);
    }
    else {
        const char *exp = pfa_val(res, 0, 2);

        printf("%s\n", key);
        printf("id:       %s\n", PQgetvalue(res, 0, 0));
        printf("name:     %s\n", name);
        printf("prefix:   %s\n", prefix);
        fputs("scopes:   ", stdout);
        for (size_t i = 0; i < json_array_size(scope_arr); i++) {
            printf("%s%s", i ? ", " : "", json_string_value(json_array_get(scope_arr, i)));
        }
        fputc('\n', stdout);
        printf("created:  %s\n", PQgetvalue(res, 0, 1));
        printf("expires:  %s\n", exp ? exp : "never");
        printf("Store the key now: it cannot be shown again.\n");
        json_decref(scope_arr);
        rc = PFA_EXIT_OK;
    }
    /* The only copy of the key outside the caller's terminal. */
    OPENSSL_cleanse(key, sizeof(key));
    PQclear(res);
    pfa_disconnect(conn);
    return rc;
}

static const pfa_optdef list_opts[] = {
    { "customer", 1, 0 },
    { NULL, 0, 0 }
};

/* Display width in characters (UTF-8 code points), for table columns. */
static int width(const char *s)
{
    int w = 0;

    for (; *s; s++) {
        w += (*s & 0xc0) != 0x80;
    }
    return w;
}

static void cell(const char *s, int w)
{
    fputs(s, stdout);
    for (int i = width(s); i < w + 2; i++) {
        fputc(' ', stdout);
    }
}

int pfa_cmd_key_list(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "key list";
    static const char *const heads[] = {
        "ID", "NAME", "PREFIX", "SCOPES", "CREATED", "LAST USED", "EXPIRES", "REVOKED", "STATUS"
    };
    enum { NCOLS = 9 };
    char customer[37];
    const char *val, *params[1];
    int have_customer = 0, opt, rc = PFA_EXIT_OK, rows;
    int w[NCOLS];
    pfa_parser p;
    PGconn *conn;
    PGresult *res;

    pfa_parser_init(&p, ctx, argc, argv, cmd, list_opts);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        switch (opt) {
        case 0:
            if (pfa_uuid_arg(val, customer) != 0) {
                return pfa_usage(cmd, "--customer must be a UUID, not '%s'", val);
            }
            have_customer = 1;
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

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    if (pfa_customer_exists(conn, customer) != 1) {
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    params[0] = customer;
    res = pfa_query(conn, "cannot list keys",
                    "SELECT id, name, key_prefix, array_to_string(scopes, ','), "
                    PFA_TS("created_at") ", " PFA_TS("last_used_at") ", "
                    PFA_TS("expires_at") ", " PFA_TS("revoked_at") ","
                    " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
                    "      WHEN expires_at <= now() THEN 'expired' ELSE 'active' END"
                    " FROM permafrost.api_keys WHERE customer_id = $1::uuid"
                    " ORDER BY created_at, id", 1, params);
    if (!res) {
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    rows = PQntuples(res);
    if (ctx->json) {
        static const char *const fields[] = {
            "id", "name", "keyPrefix", "scopes", "createdAt", "lastUsedAt", "expiresAt",
            "revokedAt", "status"
        };
        json_t *arr = json_array();

        for (int r = 0; r < rows; r++) {
            json_t *o = json_object();
            for (int c = 0; c < NCOLS; c++) {
                if (c == 3) {
                    json_t *sc = json_array();
                    unsigned mask = pf_scopes_parse(PQgetvalue(res, r, c));
                    for (unsigned flag = 1; flag <= PF_SCOPE_ALL; flag <<= 1) {
                        if (mask & flag) {
                            json_array_append_new(sc, json_string(pf_scope_name(flag)));
                        }
                    }
                    json_object_set_new(o, fields[c], sc);
                }
                else {
                    json_object_set_new(o, fields[c], pfa_json_str(res, r, c));
                }
            }
            json_array_append_new(arr, o);
        }
        rc = pfa_print_json(arr);
    }
    else if (rows == 0) {
        printf("customer %s has no API keys\n", customer);
    }
    else {
        for (int c = 0; c < NCOLS; c++) {
            w[c] = width(heads[c]);
            for (int r = 0; r < rows; r++) {
                const char *v = pfa_val(res, r, c);
                int vw = width(v ? v : "-");
                if (vw > w[c]) {
                    w[c] = vw;
                }
            }
        }
        for (int c = 0; c < NCOLS; c++) {
            cell(heads[c], c == NCOLS - 1 ? 0 : w[c]);
        }
        fputc('\n', stdout);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < NCOLS; c++) {
                const char *v = pfa_val(res, r, c);
                cell(v ? v : "-", c == NCOLS - 1 ? 0 : w[c]);
            }
            fputc('\n', stdout);
        }
    }
    PQclear(res);
    pfa_disconnect(conn);
    return rc;
}

int pfa_cmd_key_revoke(pfa_ctx *ctx, int argc, char **argv)
{
    static const char cmd[] = "key revoke";
    char id[37];
    const char *val, *params[1];
    int have_id = 0, opt, rc;
    pfa_parser p;
    PGconn *conn;
    PGresult *res;

    pfa_parser_init(&p, ctx, argc, argv, cmd, NULL);
    while ((opt = pfa_next(&p, &val)) != PFA_ARG_END) {
        if (opt == PFA_ARG_HELP) {
            pfa_help(cmd);
            return PFA_EXIT_OK;
        }
        if (opt != PFA_ARG_POSITIONAL) {
            return PFA_EXIT_USAGE;
        }
        if (have_id) {
            return pfa_usage(cmd, "unexpected argument '%s'", val);
        }
        if (pfa_uuid_arg(val, id) != 0) {
            return pfa_usage(cmd, "KEY_ID must be a UUID, not '%s'", val);
        }
        have_id = 1;
    }
    if (!have_id) {
        return pfa_usage(cmd, "missing KEY_ID");
    }

    conn = pfa_connect(ctx);
    if (!conn) {
        return PFA_EXIT_ERROR;
    }
    params[0] = id;
    /* The CTE sees the row before the update: it tells whether the key was
     * already revoked, and coalesce keeps the first revocation time. */
    res = pfa_query(conn, "cannot revoke key",
                    "WITH old AS (SELECT id, revoked_at FROM permafrost.api_keys"
                    "             WHERE id = $1::uuid FOR UPDATE)"
                    " UPDATE permafrost.api_keys k SET revoked_at = coalesce(old.revoked_at, now())"
                    " FROM old WHERE k.id = old.id"
                    " RETURNING k.id, k.customer_id, k.name, k.key_prefix, "
                    PFA_TS("k.revoked_at") ", old.revoked_at IS NOT NULL",
                    1, params);
    if (!res) {
        pfa_disconnect(conn);
        return PFA_EXIT_ERROR;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        pfa_disconnect(conn);
        return pfa_fail("key %s not found", id);
    }
    if (ctx->json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", pfa_json_str(res, 0, 0));
        json_object_set_new(o, "customerId", pfa_json_str(res, 0, 1));
        json_object_set_new(o, "name", pfa_json_str(res, 0, 2));
        json_object_set_new(o, "keyPrefix", pfa_json_str(res, 0, 3));
        json_object_set_new(o, "revokedAt", pfa_json_str(res, 0, 4));
        json_object_set_new(o, "alreadyRevoked",
                            json_boolean(strcmp(PQgetvalue(res, 0, 5), "t") == 0));
        rc = pfa_print_json(o);
    }
    else {
        if (strcmp(PQgetvalue(res, 0, 5), "t") == 0) {
            printf("key %s (%s) was already revoked at %s\n", PQgetvalue(res, 0, 0),
                   PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
        }
        else {
            printf("revoked key %s (%s) at %s\n", PQgetvalue(res, 0, 0),
                   PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
        }
        rc = PFA_EXIT_OK;
    }
    PQclear(res);
    pfa_disconnect(conn);
    return rc;
}
