/* The read API: identities, findings, role recommendations and tenants.
 * Lists share one runner; each statement binds the key's customer id. */
#include "pf_routes.h"
#include "pf_json.h"
#include "pf_query.h"
#include "pf_shape.h"
#include "pf_cursor.h"
#include "pf_listcache.h"

#include <openssl/rand.h>

#include <apr_strings.h>

static const char *const severities[] = { "critical", "high", "medium", "low", NULL };
static const char *const statuses[] = { "open", "resolved", "suppressed", NULL };
static const char *const identity_types[] = { "user", "group", "servicePrincipal",
                                              "managedIdentity", "agentIdentity", NULL };

#define PF_CURSOR_POOL_KEY "permafrost-cursor-key"

void pf_cursor_key_init(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    void *key = NULL;

    /* Kept in the process pool so cursors stay valid across graceful
     * restarts; children inherit it, so every child accepts every cursor. */
    apr_pool_userdata_get(&key, PF_CURSOR_POOL_KEY, pp);
    if (!key) {
        key = apr_palloc(pp, PF_CURSOR_KEY_LEN);
        if (RAND_bytes(key, PF_CURSOR_KEY_LEN) != 1) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         "PF00007: no randomness for the cursor key; cursors will not verify");
            memset(key, 0, PF_CURSOR_KEY_LEN);
        }
        apr_pool_userdata_set(key, PF_CURSOR_POOL_KEY, apr_pool_cleanup_null, pp);
    }
    for (server_rec *sv = s; sv; sv = sv->next) {
        pf_srv(sv)->cursor_key = key;
    }
}

/* What a cursor may only be replayed with: customer, list, every filter. */
static const char *cursor_binding(request_rec *r, pf_req *rq, const list_def *def,
                                  const pf_qvalue *qv)
{
    const char *b = apr_pstrcat(r->pool, def->name, "\x1e", rq->customer_id, "\x1e",
                                qv[Q_TENANT].present ? qv[Q_TENANT].str : "", "\x1e",
                                def->path_param ? rq->route.param : "", NULL);

    for (size_t i = Q_FIRST_FILTER; i < def->nspec; i++) {
        b = apr_pstrcat(r->pool, b, "\x1e", def->spec[i].name, "=", NULL);
        if (qv[i].present) {
            b = apr_pstrcat(r->pool, b, pf_sql_text_array(r->pool, qv[i].items, qv[i].count),
                            NULL);
        }
    }
    return b;
}

/* A ?tenant= of another customer answers exactly like one that does not
 * exist: the statement binds the caller's customer id. */
static int tenant_missing(request_rec *r, pf_req *rq, const char *tenant, int *answered)
{
    const char *args[2] = { rq->customer_id, tenant };
    const char *cols[1];
    pf_rows res;
    int found = 0;
    pf_db_status st = pf_db_select(r, PF_SQL_TENANT_EXISTS, 2, args, &res);

    *answered = 0;
    if (st != PF_DB_OK) {
        *answered = 1;
        pf_db_fail(r, st);
        return 1;
    }
    while (pf_db_next(r, &res, cols, 1)) {
        found = 1;
    }
    if (!found) {
        *answered = 1;
        pf_send_error(r, HTTP_NOT_FOUND, "NOT_FOUND", "No such tenant.");
        return 1;
    }
    return 0;
}

/* Filter values as statement arguments: each filter twice (see pf_sql.c),
 * NULL when the filter is absent. */
static void filter_args(request_rec *r, const list_def *def, const pf_qvalue *qv,
                        const char **args, int *n)
{
    for (size_t i = Q_FIRST_FILTER; i < def->nspec; i++) {
        const char *v = qv[i].present
            ? pf_sql_text_array(r->pool, qv[i].items, qv[i].count) : NULL;
        args[(*n)++] = v;
        args[(*n)++] = v;
    }
}

/* Where a kept answer may be served from (pf_listcache.h): this server
 * (whose database may not be another server's), the list, customer,
 * tenant and filters (the cursor binding), the page. */
static const char *cache_key(request_rec *r, const char *binding, const pf_qvalue *qv)
{
    return apr_psprintf(r->pool, "%pp\x1e%s\x1e%" APR_INT64_T_FMT "\x1e%" APR_INT64_T_FMT
                        "\x1e%s", (void *)r->server, binding,
                        (apr_int64_t)(qv[Q_LIMIT].present ? qv[Q_LIMIT].ival : -1),
                        (apr_int64_t)(qv[Q_OFFSET].present ? qv[Q_OFFSET].ival : -1),
                        qv[Q_CURSOR].present ? qv[Q_CURSOR].str : "");
}

/* How long a request waits for another thread reading the same page
 * before it reads the page itself: longer than a page takes, short enough
 * that a stuck reader cannot hold the others for long. */
#define PF_LC_WAIT apr_time_from_sec(10)

struct lc_fill {
    pf_lc *cache;
    const char *key;
};

/* The reader of a page is done (kept or not): wake those waiting for it.
 * Also the request pool's cleanup, so an early return still wakes them. */
static apr_status_t fill_done(void *data)
{
    struct lc_fill *f = data;

    pf_lc_done(f->cache, f->key);
    return APR_SUCCESS;
}

/* Sends the answer kept under key if the customer's data version is still
 * the one it was read at (one primary-key read): 1 and the handler's status
 * in *rv when it answered (or the read failed), 0 when the page must be
 * read. */
static int send_if_current(request_rec *r, pf_req *rq, pf_lc *cache, const char *key, int *rv)
{
    const char *args[1] = { rq->customer_id };
    const char *cols[1];
    pf_lc_hit hit;
    pf_rows res;
    pf_db_status st;
    int known = 0;
    long long version = 0;

    if (!pf_lc_get(cache, key, r->pool, &hit)) {
        return 0;
    }
    st = pf_db_select(r, PF_SQL_DATA_VERSION, 1, args, &res);
    while (st == PF_DB_OK && pf_db_next(r, &res, cols, 1)) {
        known = cols[0] != NULL;
        version = known ? apr_atoi64(cols[0]) : 0;
    }
    if (st != PF_DB_OK) {
        *rv = pf_db_fail(r, st);
        return 1;
    }
    /* While this request waited for a connection (the gate, a full pool),
     * another may have kept the answer at the current version: look again
     * before reading the page. */
    if (known && version != hit.version && !pf_lc_get(cache, key, r->pool, &hit)) {
        return 0;
    }
    if (known && version == hit.version) {
        *rv = pf_send_text_cached(r, hit.body, hit.len, hit.etag);
        return 1;
    }
    return 0;
}

/* Offset pages from the third on (offset >= 2 x limit) read their page's
 * ids first (pf_sql.c, FINDING_PAGE). pgbench, the filtered page of a
 * customer with a million findings: the two forms cost the same at offset
 * 200 (101 rows a page); at offset 0 the ids-first form was 30 % slower,
 * at 1,000 twice as fast, at 100,000 sixteen times.
 * They also read their head (total, tenant check) first: past the end, the
 * page is not read. Finding out that it is empty means passing over every
 * row before the offset, twice (the quick form, then the complete one):
 * 456 ms past the end of the filtered list of a million findings, against
 * one more round trip for a page that is there. */
#define PF_DEEP_PAGE 2

/* The first columns of every list row (and of a head's one row). */
static void read_head(const char *const *cols, int *tenant_ok, long long *total,
                      long long *version, int *have_version)
{
    *tenant_ok = cols[PF_LIST_TENANT_OK] && cols[PF_LIST_TENANT_OK][0] == 't';
    *total = cols[PF_LIST_TOTAL] ? apr_atoi64(cols[PF_LIST_TOTAL]) : 0;
    if (cols[PF_LIST_VERSION]) {
        *version = apr_atoi64(cols[PF_LIST_VERSION]);
        *have_version = 1;
    }
}

static int run_list(request_rec *r, pf_req *rq, const list_def *def)
{
    pf_qvalue qv[8];
    pf_qerror qe;
    const char *args[40];
    const char *cols[PF_LIST_NCOLS + 16];
    const char *after[PF_CURSOR_MAX_FIELDS];
    const char *last[PF_CURSOR_MAX_FIELDS];
    const char *tenant, *binding, *next = NULL;
    long long limit, offset, total = 0, seen = 0;
    int n = 0, n_head = 0, have_last = 0, head = 0, tenant_ok = 0, unwritten = 0;
    int by_tenant, deep;
    pf_rows res;
    pf_db_status st;
    pf_sql_id sql, head_sql;
    pf_jbuf out;
    json_t *meta;
    char *body, *etag;
    size_t len;
    pf_srv_cfg *sc = pf_srv(r->server);
    pf_lc *cache = def->cacheable && sc->lc_on ? sc->lc : NULL;
    const char *ckey = NULL;
    struct lc_fill *fill = NULL;
    long long version = 0;
    int have_version = 0;

    if (pf_query_parse(r->pool, r->args, def->spec, def->nspec, qv, &qe) != 0) {
        return pf_send_param_error(r, qe.field, qe.message);
    }
    limit = qv[Q_LIMIT].present ? qv[Q_LIMIT].ival : 100;
    offset = qv[Q_OFFSET].present ? qv[Q_OFFSET].ival : 0;
    tenant = qv[Q_TENANT].present ? qv[Q_TENANT].str : NULL;
    binding = cursor_binding(r, rq, def, qv);
    if (qv[Q_CURSOR].present) {
        if (qv[Q_OFFSET].present) {
            return pf_send_param_error(r, "cursor", "cannot be combined with offset");
        }
        if (pf_cursor_decode(r->pool, pf_srv(r->server)->cursor_key, binding, qv[Q_CURSOR].str,
                             after, def->nkey) != 0) {
            return pf_send_param_error(r, "cursor",
                                       "is not a cursor this list issued for these filters");
        }
    }

    /* A kept answer costs one primary-key read instead of the page. */
    if (cache) {
        int rv;

        ckey = cache_key(r, binding, qv);
        if (send_if_current(r, rq, cache, ckey, &rv)) {
            return rv;
        }
        switch (pf_lc_begin(cache, ckey)) {
        case PF_LC_LEAD:
            fill = apr_palloc(r->pool, sizeof(*fill));
            fill->cache = cache;
            fill->key = ckey;
            apr_pool_cleanup_register(r->pool, fill, fill_done, apr_pool_cleanup_null);
            break;
        case PF_LC_BUSY:
            /* Another thread of this process is reading this page: wait
             * for its answer without holding a pooled connection it may
             * need, then look again (and read the page if still none). */
            pf_db_release(r);
            pf_lc_wait(cache, ckey, PF_LC_WAIT);
            if (send_if_current(r, rq, cache, ckey, &rv)) {
                return rv;
            }
            break;
        case PF_LC_ALONE:
            break;
        }
    }

    /* One statement: the data version, the tenant check, then the filters
     * once for the total and once for the page (pf_sql.c). */
    args[n++] = rq->customer_id;
    args[n++] = rq->customer_id;
    args[n++] = tenant;
    args[n++] = tenant;
    for (int copy = 0; copy < 2; copy++) {
        args[n++] = rq->customer_id;
        args[n++] = tenant;
        args[n++] = tenant;
        if (def->path_param) {
            args[n++] = rq->route.param;
        }
        filter_args(r, def, qv, args, &n);
        if (copy == 0) {
            n_head = n; /* a head's arguments end with the total's */
        }
    }
    if (qv[Q_CURSOR].present) {
        def->keyset_args(after, args, &n);
    }
    /* One row more than the page tells whether a next page exists. */
    args[n++] = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)(limit + 1));
    if (!qv[Q_CURSOR].present) {
        args[n++] = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)offset);
    }
    by_tenant = tenant && def->tenant_sql;
    deep = !qv[Q_CURSOR].present && offset >= PF_DEEP_PAGE * limit; /* limit >= 1 */
    if (qv[Q_CURSOR].present) {
        sql = by_tenant ? def->after_sql_tenant : def->after_sql;
    }
    else if (deep && def->deep_sql) {
        sql = by_tenant ? def->list_sql_deep_tenant : def->list_sql_deep;
    }
    else {
        sql = by_tenant ? def->list_sql_tenant : def->list_sql;
    }
    if (deep && pf_sql_head(sql, &head_sql)) {
        st = pf_db_select(r, head_sql, n_head, args, &res);
        if (st != PF_DB_OK) {
            return pf_db_fail(r, st);
        }
        while (pf_db_next(r, &res, cols, PF_LIST_NCOLS)) {
            head = 1;
            read_head(cols, &tenant_ok, &total, &version, &have_version);
        }
        /* The total is exact in the head's snapshot: with no more rows than
         * the offset, the page is empty there, and the head is the answer.
         * Otherwise the page's own statement answers, head and all. */
        if (head && tenant_ok && total > offset) {
            head = 0;
        }
    }
    /* Rows are written as they are read: no tree of the page is built. */
    pf_jbuf_init(&out, r->pool, 512 + (size_t)limit * 512);
    pf_jbuf_lit(&out, "{\"data\":[");
    /* The quick form first; no row from it (an empty page, a foreign
     * tenant) and the complete form answers, in a snapshot of its own. */
    for (pf_sql_id stmt = pf_sql_quick(sql); !head; stmt = sql) {
        st = pf_db_select(r, stmt, n, args, &res);
        if (st != PF_DB_OK) {
            return pf_db_fail(r, st);
        }
        while (pf_db_next(r, &res, cols, PF_LIST_NCOLS + def->ncols)) {
            const char *const *row = cols + PF_LIST_NCOLS;

            head = 1;
            read_head(cols, &tenant_ok, &total, &version, &have_version);
            if (!row[0] || ++seen > limit) {
                continue; /* an empty page's one row; or the row that proves more exist */
            }
            if (seen > 1) {
                pf_jbuf_lit(&out, ",");
            }
            unwritten |= def->write(&out, row) != 0;
            have_last = def->key_of(row, last) == 0;
            /* apr_dbd frees the result after its last row: keep copies. */
            for (int i = 0; have_last && i < def->nkey; i++) {
                last[i] = apr_pstrdup(r->pool, last[i]);
            }
        }
        if (stmt == sql) {
            break;
        }
    }
    if (!head) {
        return pf_db_fail(r, PF_DB_ERROR);
    }
    /* Never a 200 with part of a page. */
    if (unwritten) {
        return pf_send_json(r, HTTP_OK, NULL);
    }
    /* A ?tenant= of another customer answers exactly like one that does not
     * exist: the check binds the caller's customer id. */
    if (!tenant_ok) {
        return pf_send_error(r, HTTP_NOT_FOUND, "NOT_FOUND", "No such tenant.");
    }
    if (seen > limit && have_last) {
        next = pf_cursor_encode(r->pool, pf_srv(r->server)->cursor_key, binding, last,
                                def->nkey);
    }
    meta = pf_json_pool_own(r->pool, pf_shape_list_meta(total, limit,
                                                         qv[Q_CURSOR].present ? 0 : offset,
                                                         tenant));
    json_object_set_new(meta, "nextCursor", pf_json_str(next));
    pf_jbuf_lit(&out, "],\"meta\":");
    if (pf_jbuf_value(&out, meta) != 0) {
        return pf_send_json(r, HTTP_OK, NULL);
    }
    pf_jbuf_lit(&out, "}");
    body = pf_jbuf_finish(&out, &len);
    etag = apr_palloc(r->pool, PF_ETAG_SIZE);
    pf_etag(pf_srv(r->server)->sha256, body, len, etag);
    if (cache && have_version) {
        pf_lc_put(cache, ckey, version, body, len, etag);
    }
    if (fill) {
        apr_pool_cleanup_run(r->pool, fill, fill_done); /* before the answer is sent */
    }
    return pf_send_text_cached(r, body, len, etag);
}

int pf_run_list(request_rec *r, pf_req *rq, const list_def *def)
{
    return run_list(r, rq, def);
}

/* Detail routes take only ?tenant=. */
static const pf_qspec detail_spec[] = { { "tenant", PF_Q_UUID, 0, 0, NULL } };

int pf_detail_tenant(request_rec *r, pf_req *rq, const char **tenant)
{
    pf_qvalue qv[1];
    pf_qerror qe;
    int answered;

    *tenant = NULL;
    if (pf_query_parse(r->pool, r->args, detail_spec, 1, qv, &qe) != 0) {
        pf_send_param_error(r, qe.field, qe.message);
        return 1;
    }
    if (qv[0].present) {
        *tenant = qv[0].str;
        if (tenant_missing(r, rq, *tenant, &answered)) {
            return 1;
        }
    }
    return 0;
}

static int not_found(request_rec *r)
{
    return pf_send_error(r, HTTP_NOT_FOUND, "NOT_FOUND", "No such resource.");
}

/* Sort keys per list (contract section 5) and their keyset arguments, in
 * the order of the *_AFTER statements in pf_sql.c. */
static int key_tenant(const char *const *c, const char **f)
{
    f[0] = c[PF_TEN_NAME];
    f[1] = c[PF_TEN_ID];
    return f[0] && f[1] ? 0 : -1;
}

static int key_identity(const char *const *c, const char **f)
{
    f[0] = c[PF_IDN_NAME];
    f[1] = c[PF_IDN_ID];
    return f[0] && f[1] ? 0 : -1;
}

static void args_by_name(const char *const *f, const char **args, int *n)
{
    args[(*n)++] = f[0];
    args[(*n)++] = f[1];
}

static int key_finding(const char *const *c, const char **f)
{
    const char *s = c[PF_FND_SEVERITY];

    for (int i = 0; s && severities[i]; i++) {
        if (strcmp(s, severities[i]) == 0) {
            f[0] = severities[i];
            f[1] = c[PF_FND_FIRST];
            f[2] = c[PF_FND_ID];
            return f[1] && f[2] ? 0 : -1;
        }
    }
    return -1;
}

static void args_finding(const char *const *f, const char **args, int *n)
{
    static const char *const ranks[] = { "0", "1", "2", "3" };
    const char *rank = "4"; /* unknown severity: sorts after everything */

    for (int i = 0; severities[i]; i++) {
        if (strcmp(f[0], severities[i]) == 0) {
            rank = ranks[i];
        }
    }
    args[(*n)++] = rank;
    args[(*n)++] = f[1];
    args[(*n)++] = f[2];
}

static int key_role(const char *const *c, const char **f)
{
    f[0] = c[PF_ROL_CREATED];
    f[1] = c[PF_ROL_ID];
    return f[0] && f[1] ? 0 : -1;
}

static void args_role(const char *const *f, const char **args, int *n)
{
    args[(*n)++] = f[0];
    args[(*n)++] = f[1];
}

int pf_route_tenants(request_rec *r, pf_req *rq)
{
    static const pf_qspec spec[] = { COMMON_PARAMS };
    static const list_def def = {
        .name = "tenants", .list_sql = PF_SQL_TENANTS_LIST, .after_sql = PF_SQL_TENANTS_AFTER,
        .ncols = PF_TEN_NCOLS, .write = pf_write_tenant, .nkey = 2, .key_of = key_tenant,
        .keyset_args = args_by_name, .spec = spec, .nspec = sizeof(spec) / sizeof(spec[0]),
        .cacheable = 1 };
    return run_list(r, rq, &def);
}

int pf_route_identities(request_rec *r, pf_req *rq)
{
    static const pf_qspec spec[] = { COMMON_PARAMS,
                                     { "type", PF_Q_ENUM_LIST, 0, 0, identity_types } };
    static const list_def def = {
        .name = "identities", .list_sql = PF_SQL_IDENTITIES_LIST,
        .after_sql = PF_SQL_IDENTITIES_AFTER, .ncols = PF_IDN_NCOLS, .write = pf_write_identity,
        .nkey = 2, .key_of = key_identity, .keyset_args = args_by_name, .spec = spec,
        .nspec = sizeof(spec) / sizeof(spec[0]), .tenant_sql = 1,
        .list_sql_tenant = PF_SQL_IDENTITIES_LIST_T, .after_sql_tenant = PF_SQL_IDENTITIES_AFTER_T,
        .cacheable = 1 };
    return run_list(r, rq, &def);
}

int pf_route_findings(request_rec *r, pf_req *rq)
{
    static const pf_qspec spec[] = { COMMON_PARAMS,
                                     { "severity", PF_Q_ENUM_LIST, 0, 0, severities },
                                     { "status", PF_Q_ENUM_LIST, 0, 0, statuses },
                                     { "findingType", PF_Q_TEXT_LIST, 0, 0, NULL } };
    static const list_def def = {
        .name = "findings", .list_sql = PF_SQL_FINDINGS_LIST, .after_sql = PF_SQL_FINDINGS_AFTER,
        .ncols = PF_FND_LIST_NCOLS, .write = pf_write_finding_row, .nkey = 3,
        .key_of = key_finding, .keyset_args = args_finding, .spec = spec,
        .nspec = sizeof(spec) / sizeof(spec[0]), .tenant_sql = 1,
        .list_sql_tenant = PF_SQL_FINDINGS_LIST_T, .after_sql_tenant = PF_SQL_FINDINGS_AFTER_T,
        .deep_sql = 1, .list_sql_deep = PF_SQL_FINDINGS_DEEP,
        .list_sql_deep_tenant = PF_SQL_FINDINGS_DEEP_T, .cacheable = 1 };
    return run_list(r, rq, &def);
}

int pf_route_roles(request_rec *r, pf_req *rq)
{
    static const pf_qspec spec[] = { COMMON_PARAMS,
                                     { "identityId", PF_Q_UUID_LIST, 0, 0, NULL } };
    static const list_def def = {
        .name = "roles", .list_sql = PF_SQL_ROLES_LIST, .after_sql = PF_SQL_ROLES_AFTER,
        .ncols = PF_ROL_NCOLS, .write = pf_write_role, .nkey = 2, .key_of = key_role,
        .keyset_args = args_role, .spec = spec, .nspec = sizeof(spec) / sizeof(spec[0]),
        .cacheable = 1 };
    return run_list(r, rq, &def);
}

/* A detail answer: {"data": ...}, written as text. Sized for the common
 * answer, an identity with a few assignments or a finding with its
 * evidence. */
static void detail_open(request_rec *r, pf_jbuf *b)
{
    pf_jbuf_init(b, r->pool, 2048);
    pf_jbuf_lit(b, "{\"data\":");
}

static int detail_send(request_rec *r, pf_jbuf *b)
{
    size_t len;
    const char *body;

    pf_jbuf_lit(b, "}");
    body = pf_jbuf_finish(b, &len);
    return pf_send_text_cached(r, body, len, NULL);
}

int pf_route_identity(request_rec *r, pf_req *rq)
{
    const char *tenant;
    const char *args[4];
    const char *cols[PF_IDN_NCOLS + PF_RA_NCOLS];
    const char *const *ra = cols + PF_IDN_NCOLS;
    pf_rows res;
    pf_db_status st;
    pf_jbuf b;
    int rows = 0, assignments = 0;

    if (pf_detail_tenant(r, rq, &tenant)) {
        return OK;
    }
    args[0] = rq->customer_id;
    args[1] = rq->route.param;
    args[2] = tenant;
    args[3] = tenant;
    st = pf_db_select(r, PF_SQL_IDENTITY_GET, 4, args, &res);
    if (st != PF_DB_OK) {
        return pf_db_fail(r, st);
    }
    detail_open(r, &b);
    /* One row per assignment, the identity's columns repeated; an identity
     * without assignments is one row with NULL assignment columns. */
    while (pf_db_next(r, &res, cols, PF_IDN_NCOLS + PF_RA_NCOLS)) {
        if (!rows++) {
            pf_write_identity_open(&b, cols);
            pf_jbuf_lit(&b, ",\"roleAssignments\":[");
        }
        if (ra[PF_RA_ID]) {
            if (assignments++) {
                pf_jbuf_lit(&b, ",");
            }
            pf_write_role_assignment(&b, ra);
        }
    }
    if (!rows) {
        return not_found(r);
    }
    pf_jbuf_lit(&b, "]}");
    return detail_send(r, &b);
}

int pf_route_finding(request_rec *r, pf_req *rq)
{
    const char *tenant;
    const char *args[4];
    const char *cols[PF_FND_DETAIL_NCOLS];
    pf_rows res;
    pf_db_status st;
    pf_jbuf b;
    int rows = 0;

    if (pf_detail_tenant(r, rq, &tenant)) {
        return OK;
    }
    args[0] = rq->customer_id;
    args[1] = rq->route.param;
    args[2] = tenant;
    args[3] = tenant;
    st = pf_db_select(r, PF_SQL_FINDING_GET, 4, args, &res);
    if (st != PF_DB_OK) {
        return pf_db_fail(r, st);
    }
    detail_open(r, &b);
    /* The id is the primary key: one row at most, read to the end so the
     * connection is left clean. */
    while (pf_db_next(r, &res, cols, PF_FND_DETAIL_NCOLS)) {
        if (!rows++) {
            pf_write_finding(&b, cols);
        }
    }
    if (!rows) {
        return not_found(r);
    }
    return detail_send(r, &b);
}
