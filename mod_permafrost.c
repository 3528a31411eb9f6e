/* mod_permafrost: httpd glue only. Configuration, hook registration and
 * startup checks live here; the work is in src/. */
#define PF_MODULE_MAIN
#include "mod_permafrost_private.h"
#include "pf_json.h"
#include "pf_routes.h"
#include "pf_keycache.h"
#include "pf_listcache.h"
#include "pf_gate.h"

#include <ap_mpm.h>
#include <apr_lib.h>
#include <apr_optional.h>
#include <apr_strings.h>
#include <openssl/evp.h>

static void *pf_create_srv(apr_pool_t *p, server_rec *s)
{
    pf_srv_cfg *c = apr_pcalloc(p, sizeof(*c));

    c->retry_after = PF_UNSET;
    c->rl_limit = PF_UNSET;
    c->rl_window = PF_UNSET;
    c->rl_slots = PF_UNSET;
    c->wh = apr_pcalloc(p, sizeof(*c->wh));
    c->wh->interval = PF_UNSET;
    c->wh->attempts = PF_UNSET;
    c->wh->first_delay = PF_UNSET;
    c->wh->timeout = PF_UNSET;
    c->wh->concurrency = PF_UNSET;
    c->kc_ttl = PF_UNSET;
    c->kc_slots = PF_UNSET;
    c->lc_on = PF_UNSET;
    c->lc_size = PF_UNSET;
    c->db_gate = PF_UNSET;
    c->query_timeout = PF_UNSET;
    return c;
}

static void *pf_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    const pf_srv_cfg *base = basev, *add = addv;
    pf_srv_cfg *c = apr_pcalloc(p, sizeof(*c));

    c->retry_after = add->retry_after != PF_UNSET ? add->retry_after : base->retry_after;
    /* Limit and window are set together, so they merge together. */
    c->rl_limit = add->rl_limit != PF_UNSET ? add->rl_limit : base->rl_limit;
    c->rl_window = add->rl_limit != PF_UNSET ? add->rl_window : base->rl_window;
    c->rl_slots = base->rl_slots; /* global only */
    c->wh = base->wh;             /* global only */
    c->kc_ttl = add->kc_ttl != PF_UNSET ? add->kc_ttl : base->kc_ttl;
    c->kc_slots = base->kc_slots; /* global only */
    c->lc_on = add->lc_on != PF_UNSET ? add->lc_on : base->lc_on;
    c->lc_size = base->lc_size;   /* global only */
    c->db_gate = base->db_gate;   /* global only */
    c->query_timeout = base->query_timeout; /* global only */
    return c;
}

static void *pf_create_dir(apr_pool_t *p, char *dir)
{
    /* httpd creates this only for sections holding our directives, so the
     * section's path cannot serve as the base: PermafrostBasePath or the
     * default /api/v1 does. */
    return apr_pcalloc(p, sizeof(pf_dir_cfg));
}

static void *pf_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    const pf_dir_cfg *base = basev, *add = addv;
    pf_dir_cfg *c = apr_pcalloc(p, sizeof(*c));

    c->base = add->base ? add->base : base->base;
    return c;
}

pf_srv_cfg *pf_srv(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &permafrost_module);
}

pf_req *pf_req_get(request_rec *r)
{
    return ap_get_module_config(r->request_config, &permafrost_module);
}

static const char *set_base_path(cmd_parms *cmd, void *dconf, const char *arg)
{
    pf_dir_cfg *c = dconf;
    size_t n = strlen(arg);

    if (arg[0] != '/') {
        return "PermafrostBasePath must be an absolute URL path such as /api/v1";
    }
    while (n > 1 && arg[n - 1] == '/') {
        n--;
    }
    c->base = apr_pstrmemdup(cmd->pool, arg, n);
    return NULL;
}

/* Every numeric directive: a whole decimal number in [lo, hi]. */
static int whole_number(const char *arg, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *set_retry_after(cmd_parms *cmd, void *dconf, const char *arg)
{
    long v;

    if (whole_number(arg, 1, 3600, &v) != 0) {
        return "PermafrostRetryAfter must be a number of seconds from 1 to 3600";
    }
    pf_srv(cmd->server)->retry_after = (int)v;
    return NULL;
}

static const char *set_key_cache_ttl(cmd_parms *cmd, void *dconf, const char *arg)
{
    long v = 0;

    /* Above 60 s a revoked key could outlive the contract's bound. */
    if (strcasecmp(arg, "off") != 0 && whole_number(arg, 0, PF_KC_MAX_TTL, &v) != 0) {
        return "PermafrostKeyCacheTTL must be a whole number of seconds from 1 to 60, "
               "or off (0)";
    }
    pf_srv(cmd->server)->kc_ttl = v;
    return NULL;
}

/* PermafrostKeyCacheSlots and PermafrostRateLimitSlots: sizes of the shared
 * tables, which exist once per httpd. */
static const char *set_slots(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int keycache = strcmp(cmd->info, "keycache") == 0;
    long max = keycache ? (long)PF_KC_MAX_SLOTS : (long)PF_RL_MAX_SLOTS;
    long v;

    if (err) {
        return err;
    }
    if (whole_number(arg, 1, max, &v) != 0) {
        return apr_psprintf(cmd->pool, "%s must be a whole number from 1 to %ld",
                            cmd->cmd->name, max);
    }
    if (keycache) {
        pf_srv(cmd->server)->kc_slots = v;
    }
    else {
        pf_srv(cmd->server)->rl_slots = v;
    }
    return NULL;
}

static const char *set_rate_limit(cmd_parms *cmd, void *dconf, const char *n, const char *secs)
{
    pf_srv_cfg *c = pf_srv(cmd->server);
    long v, w;

    if (!secs) {
        if (strcasecmp(n, "off") != 0) {
            return "PermafrostRateLimit takes <requests> <seconds>, or off";
        }
        c->rl_limit = 0;
        c->rl_window = 0;
        return NULL;
    }
    if (whole_number(n, 1, (long)PF_RL_MAX_LIMIT, &v) != 0) {
        return "PermafrostRateLimit: requests must be a whole number from 1 to 1000000000";
    }
    if (whole_number(secs, 1, (long)PF_RL_MAX_WINDOW, &w) != 0) {
        return "PermafrostRateLimit: seconds must be a whole number from 1 to 31536000";
    }
    c->rl_limit = v;
    c->rl_window = w;
    return NULL;
}

static const char *set_list_cache(cmd_parms *cmd, void *dconf, int on)
{
    pf_srv(cmd->server)->lc_on = on;
    return NULL;
}

static const char *set_list_cache_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v;

    if (err) {
        return err;
    }
    if (whole_number(arg, 0, 4096, &v) != 0) {
        return "PermafrostListCacheSize must be a whole number of MiB from 0 (none) to 4096";
    }
    pf_srv(cmd->server)->lc_size = v;
    return NULL;
}

/* Default sizes: a threaded MPM runs a few processes of many threads; a
 * prefork httpd may run hundreds of processes, each with its own cache. */
#define PF_LC_DEFAULT_MIB         16
#define PF_LC_DEFAULT_MIB_PREFORK 2

/* Each child process keeps its own list answers (threads share them): the
 * answers are checked against the database on every use, so processes need
 * not agree on anything. */
void pf_listcache_child_init(apr_pool_t *p, server_rec *s)
{
    long mib = pf_srv(s)->lc_size;
    struct pf_lc *lc = NULL;
    int wanted = 0, threaded = AP_MPMQ_NOT_SUPPORTED;

    if (mib == PF_UNSET) {
        ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
        mib = threaded == AP_MPMQ_NOT_SUPPORTED ? PF_LC_DEFAULT_MIB_PREFORK : PF_LC_DEFAULT_MIB;
    }

    for (server_rec *sv = s; sv; sv = sv->next) {
        wanted |= pf_srv(sv)->lc_on != 0;
    }
    if (wanted && mib > 0) {
        apr_status_t rv = pf_lc_create(&lc, p, (size_t)mib << 20);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                         "PF00044: no list cache in this process; lists are read in full");
            lc = NULL;
        }
    }
    for (server_rec *sv = s; sv; sv = sv->next) {
        pf_srv(sv)->lc = lc;
    }
}

static const char *set_db_gate(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long v;

    if (err) {
        return err;
    }
    if (strcasecmp(arg, "off") == 0) {
        v = 0;
    }
    else if (whole_number(arg, 1, 10000, &v) != 0) {
        return "PermafrostDatabaseConcurrency must be a whole number from 1 to 10000, or off";
    }
    pf_srv(cmd->server)->db_gate = v;
    return NULL;
}

/* Global only: virtual hosts may share mod_dbd's pool, and a session's
 * setting belongs to the session, whichever host runs the statement. */
static const char *set_query_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_interval_time_t t = 0;

    if (err) {
        return err;
    }
    if (strcasecmp(arg, "off") == 0) {
        pf_srv(cmd->server)->query_timeout = 0;
        return NULL;
    }
    /* Seconds, or with httpd's units: 250ms, 2mi, 1h. */
    if (!apr_isdigit(*arg) || ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS
        || t < apr_time_from_msec(1) || t > apr_time_from_sec(3600)) {
        return "PermafrostQueryTimeout must be a time from 1ms to 3600 seconds (5, 250ms), "
               "or off";
    }
    pf_srv(cmd->server)->query_timeout = (long)apr_time_as_msec(t);
    return NULL;
}

/* One gate per child process, shared by its threads and every virtual
 * host: it bounds the statements this process has in flight. A process of
 * one thread (prefork) never has more than one. */
void pf_dbgate_child_init(apr_pool_t *p, server_rec *s)
{
    long n = pf_srv(s)->db_gate;
    struct pf_gate *gate = NULL;
    int threaded = AP_MPMQ_NOT_SUPPORTED;

    ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
    if (n > 0 && threaded != AP_MPMQ_NOT_SUPPORTED) {
        apr_status_t rv = pf_gate_create(&gate, p, (unsigned)n);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                         "PF00046: no database gate in this process; requests use the pool "
                         "as they come");
            gate = NULL;
        }
    }
    for (server_rec *sv = s; sv; sv = sv->next) {
        pf_srv(sv)->gate = gate;
    }
}

/* Webhook directives: global only, one drainer serves the whole httpd. */
static const char *set_wh_int(cmd_parms *cmd, void *dconf, const char *arg)
{
    pf_wh_cfg *wh = pf_srv(cmd->server)->wh;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *which = cmd->info;
    long hi = strcmp(which, "interval") == 0 ? 3600 : strcmp(which, "timeout") == 0 ? 60 : 256;
    long v;

    if (err) {
        return err;
    }
    if (whole_number(arg, 1, hi, &v) != 0) {
        return apr_psprintf(cmd->pool, "%s must be a whole number from 1 to %ld",
                            cmd->cmd->name, hi);
    }
    if (strcmp(which, "interval") == 0) {
        wh->interval = (int)v;
    }
    else if (strcmp(which, "timeout") == 0) {
        wh->timeout = (int)v;
    }
    else {
        wh->concurrency = (int)v;
    }
    return NULL;
}

static const char *set_wh_retry(cmd_parms *cmd, void *dconf, const char *attempts,
                                const char *delay)
{
    pf_wh_cfg *wh = pf_srv(cmd->server)->wh;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long a, d;

    if (err) {
        return err;
    }
    if (whole_number(attempts, 1, 50, &a) != 0) {
        return "PermafrostWebhookRetry: attempts must be a whole number from 1 to 50";
    }
    if (whole_number(delay, 1, 86400, &d) != 0) {
        return "PermafrostWebhookRetry: the first delay must be 1 to 86400 seconds";
    }
    wh->attempts = (int)a;
    wh->first_delay = (int)d;
    return NULL;
}

static const char *set_wh_flag(cmd_parms *cmd, void *dconf, int on)
{
    pf_wh_cfg *wh = pf_srv(cmd->server)->wh;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    if (strcmp(cmd->info, "private") == 0) {
        wh->allow_private = on;
    }
    else {
        wh->allow_http = on;
    }
    return NULL;
}

static const char *set_secret_key_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    pf_srv(cmd->server)->wh->key_file = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const command_rec pf_cmds[] = {
    AP_INIT_TAKE1("PermafrostBasePath", set_base_path, NULL, ACCESS_CONF,
                  "URL path the permafrost handler serves (default /api/v1)"),
    AP_INIT_TAKE1("PermafrostRetryAfter", set_retry_after, NULL, RSRC_CONF,
                  "Retry-After seconds sent when the database is unavailable (default 5)"),
    /* key cache */
    AP_INIT_TAKE1("PermafrostKeyCacheTTL", set_key_cache_ttl, NULL, RSRC_CONF,
                  "Seconds a checked key is trusted without the database, 1 to 60 "
                  "(default 30), or off"),
    AP_INIT_TAKE1("PermafrostKeyCacheSlots", set_slots, "keycache", RSRC_CONF,
                  "Keys the shared key cache holds (default 10000)"),
    /* list cache */
    AP_INIT_FLAG("PermafrostListCache", set_list_cache, NULL, RSRC_CONF,
                 "Keep list answers and serve them while the customer's data version is "
                 "unchanged (default On)"),
    AP_INIT_TAKE1("PermafrostListCacheSize", set_list_cache_size, NULL, RSRC_CONF,
                  "MiB of list answers each child process keeps (default 16, prefork 2; "
                  "0: none)"),
    AP_INIT_TAKE1("PermafrostDatabaseConcurrency", set_db_gate, NULL, RSRC_CONF,
                  "Requests of one child process running statements at once; the others "
                  "wait their turn in arrival order (default off)"),
    AP_INIT_TAKE1("PermafrostQueryTimeout", set_query_timeout, NULL, RSRC_CONF,
                  "Time a statement may run before the database cancels it and the request is "
                  "answered 503: seconds, or with a unit such as 250ms (default 5), or off to "
                  "keep the database's statement_timeout"),
    AP_INIT_TAKE12("PermafrostRateLimit", set_rate_limit, NULL, RSRC_CONF,
                   "Requests per key per window: <requests> <seconds> (default 1000 900), or off"),
    AP_INIT_TAKE1("PermafrostRateLimitSlots", set_slots, "ratelimit", RSRC_CONF,
                  "Keys (per server) with an open rate-limit window that fit in shared memory "
                  "(default 100000)"),
    AP_INIT_TAKE1("PermafrostSecretKeyFile", set_secret_key_file, NULL, RSRC_CONF,
                  "File of 32 random bytes that encrypts webhook signing secrets "
                  "(permafrost-admin secret-key generate FILE)"),
    AP_INIT_TAKE1("PermafrostWebhookInterval", set_wh_int, "interval", RSRC_CONF,
                  "Seconds between two looks at the webhook queue (default 2)"),
    AP_INIT_TAKE2("PermafrostWebhookRetry", set_wh_retry, NULL, RSRC_CONF,
                  "<attempts> <first-delay-seconds> of a webhook delivery (default 8 30)"),
    AP_INIT_TAKE1("PermafrostWebhookTimeout", set_wh_int, "timeout", RSRC_CONF,
                  "Seconds a receiver has to answer a delivery (default 10)"),
    AP_INIT_TAKE1("PermafrostWebhookConcurrency", set_wh_int, "concurrency", RSRC_CONF,
                  "Deliveries in flight at once per httpd (default 16)"),
    AP_INIT_FLAG("PermafrostWebhookAllowPrivateNetworks", set_wh_flag, "private", RSRC_CONF,
                 "Allow deliveries to loopback and private addresses (tests and labs only)"),
    AP_INIT_FLAG("PermafrostWebhookAllowHTTP", set_wh_flag, "http", RSRC_CONF,
                 "Allow plain http:// webhook URLs (tests and labs only)"),
    { NULL }
};

static apr_status_t free_md(void *md)
{
    EVP_MD_free(md);
    return APR_SUCCESS;
}

static int pf_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) *open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    char *openapi_etag;
    EVP_MD *sha256;
    module *dbd_module = ap_find_linked_module("mod_dbd.c");
    apr_hash_t *registered = apr_hash_make(ptemp);

    if (!open || !close || !prepare) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PF00001: mod_dbd is not loaded: add 'LoadModule dbd_module "
                     "modules/mod_dbd.so' (Debian: a2enmod dbd) before mod_permafrost");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Keys are hashed on every request: fetch the algorithm once, here,
     * and the children inherit it. Without it, pf_sha256_md fetches. */
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256) {
        apr_pool_cleanup_register(pconf, sha256, free_md, apr_pool_cleanup_null);
    }
    /* The document never changes while httpd runs: hash it once. */
    openapi_etag = apr_palloc(pconf, PF_ETAG_SIZE);
    pf_etag(sha256, pf_openapi_json, pf_openapi_json_len, openapi_etag);
    for (server_rec *sv = s; sv; sv = sv->next) {
        pf_srv_cfg *c = pf_srv(sv);
        c->openapi_etag = openapi_etag;
        c->sha256 = sha256;
        c->dbd.open = open;
        c->dbd.close = close;
        c->dbd.prepare = prepare;
        if (c->retry_after == PF_UNSET) {
            c->retry_after = 5;
        }
        if (c->lc_on == PF_UNSET) {
            c->lc_on = 1;
        }
        if (c->query_timeout == PF_UNSET) {
            c->query_timeout = PF_QUERY_TIMEOUT_DEFAULT;
        }
        c->session_sql = pf_db_session_sql(pconf, c->query_timeout);
        /* Statements are registered once per mod_dbd configuration. A
         * virtual host without DBD directives shares the main server's,
         * and registering them there again earned one warning per
         * statement (AH02653) for each such host at every start. */
        {
            void *dbd = dbd_module ? ap_get_module_config(sv->module_config, dbd_module) : NULL;
            const void *which = dbd ? dbd : (const void *)sv;

            if (!apr_hash_get(registered, &which, sizeof(which))) {
                apr_hash_set(registered, apr_pmemdup(ptemp, &which, sizeof(which)),
                             sizeof(which), sv);
                pf_db_prepare_all(sv);
            }
        }
    }
    pf_cursor_key_init(s);
    return pf_webhook_post_config(pconf, s);
}

static void pf_register_hooks(apr_pool_t *p)
{
    /* Statements must be registered before mod_dbd's post_config reads them. */
    static const char *const before_dbd[] = { "mod_dbd.c", NULL };

    ap_hook_post_config(pf_post_config, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_pre_config(pf_ratelimit_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(pf_ratelimit_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pf_ratelimit_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(pf_keycache_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(pf_keycache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pf_keycache_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pf_listcache_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pf_dbgate_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pf_webhook_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(pf_translate_name, NULL, NULL, APR_HOOK_LAST);
    ap_hook_map_to_storage(pf_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_access_checker(pf_access_checker, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(pf_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(permafrost) = {
    STANDARD20_MODULE_STUFF,
    pf_create_dir,
    pf_merge_dir,
    pf_create_srv,
    pf_merge_srv,
    pf_cmds,
    pf_register_hooks,
    AP_MODULE_FLAG_ALWAYS_MERGE
};
