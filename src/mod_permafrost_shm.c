/* Rate-limit counters shared by every child process: the table (core:
 * src/pf_ratelimit.c) lives in APR shared memory created in post_config,
 * guarded by a global mutex that the `Mutex permafrost-ratelimit ...`
 * directive configures.
 *
 * Both are made once per httpd parent process and kept in its process pool,
 * so a graceful (or plain) restart finds them again: counters survive, and
 * children of the old and the new generation, which overlap during a
 * graceful restart, use the same table under the same lock. Only a changed
 * PermafrostRateLimitSlots makes a new, empty table. */
#include "mod_permafrost_private.h"

#include <apr_global_mutex.h>
#include <apr_shm.h>
#include <apr_hash.h>
#include <util_mutex.h>

#define PF_RL_MUTEX_TYPE "permafrost-ratelimit"
#define PF_RL_KEEP_KEY   "mod_permafrost-ratelimit"


static pf_rl_table *rl_table;        /* NULL: nothing is counted */
static apr_global_mutex_t *rl_mutex; /* this process's handle */
static int rl_broken_logged;         /* per process: log a lock failure once */

int pf_ratelimit_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    apr_status_t rv = ap_mutex_register(pconf, PF_RL_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);

    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog,
                      "PF00022: could not register the %s mutex", PF_RL_MUTEX_TYPE);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* A server's place in the table must not move when vhosts are added or
 * reordered across a graceful restart, so it is derived from what names
 * the server rather than from its position in the configuration. */
static int resolve_servers(server_rec *s, apr_pool_t *ptemp)
{
    apr_hash_t *names = apr_hash_make(ptemp), *ids = apr_hash_make(ptemp);
    int any = 0;

    for (server_rec *sv = s; sv; sv = sv->next) {
        pf_srv_cfg *c = pf_srv(sv);
        const char *name = apr_psprintf(ptemp, "%d|%s|%u", sv->is_virtual,
                                        sv->server_hostname ? sv->server_hostname : "",
                                        (unsigned)sv->port);
        int *seen;
        apr_uint32_t id;

        if (c->rl_limit == PF_UNSET) {
            c->rl_limit = PF_RL_DEFAULT_LIMIT;
            c->rl_window = PF_RL_DEFAULT_WINDOW;
        }
        any |= c->rl_limit > 0;
        for (server_addr_rec *a = sv->addrs; a; a = a->next) {
            name = apr_psprintf(ptemp, "%s|%s:%u", name, a->virthost ? a->virthost : "",
                                (unsigned)a->host_port);
        }
        /* Servers that look alike are told apart by their order. */
        seen = apr_hash_get(names, name, APR_HASH_KEY_STRING);
        if (!seen) {
            seen = apr_pcalloc(ptemp, sizeof(*seen));
            apr_hash_set(names, name, APR_HASH_KEY_STRING, seen);
        }
        id = pf_rl_name_hash(apr_psprintf(ptemp, "%s#%d", name, (*seen)++));
        while (apr_hash_get(ids, &id, sizeof(id))) {
            id++;
        }
        c->rl_server = id;
        apr_hash_set(ids, apr_pmemdup(ptemp, &id, sizeof(id)), sizeof(id), c);
    }
    return any;
}

apr_status_t pf_shm_make(server_rec *s, const char *name, unsigned variant, apr_size_t size,
                         apr_pool_t **pool, apr_shm_t **shm)
{
    apr_pool_t *p;
    apr_status_t rv = apr_pool_create(&p, s->process->pool);

    *shm = NULL;
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_tag(p, name);
    /* Anonymous first; a named segment under the runtime dir where the
     * platform has no anonymous shared memory. */
    rv = apr_shm_create(shm, size, NULL, p);
    if (APR_STATUS_IS_ENOTIMPL(rv)) {
        const char *file = ap_runtime_dir_relative(p, apr_psprintf(p, "%s-%u.shm", name,
                                                                   variant));
        if (!file) {
            rv = APR_EBADPATH;
        }
        else {
            apr_shm_remove(file, p); /* left over from an unclean stop */
            rv = apr_shm_create(shm, size, file, p);
        }
    }
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(p);
        *shm = NULL;
        return rv;
    }
    *pool = p;
    return APR_SUCCESS;
}

apr_status_t pf_shm_replace(server_rec *s, pf_shm_keep *k, const char *name,
                            apr_uint32_t nslots, apr_size_t size,
                            int (*init)(void *mem, size_t size, uint32_t nslots))
{
    apr_pool_t *p = NULL;
    apr_shm_t *shm = NULL;
    apr_status_t rv = pf_shm_make(s, name, (unsigned)nslots, size, &p, &shm);

    if (rv == APR_SUCCESS && !init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), nslots)) {
        apr_pool_destroy(p);
        rv = APR_ENOSPC;
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* Children of earlier generations keep their own mapping of the old
     * segment until they exit. */
    if (k->pool) {
        apr_pool_destroy(k->pool);
    }
    k->pool = p;
    k->shm = shm;
    k->nslots = nslots;
    return APR_SUCCESS;
}

static int rl_layout(void *mem, size_t size, uint32_t nslots)
{
    return pf_rl_init(mem, size, nslots) != NULL;
}

int pf_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    long slots = pf_srv(s)->rl_slots;
    apr_uint32_t nslots = slots > 0 ? (apr_uint32_t)slots : PF_RL_DEFAULT_SLOTS;
    void *data = NULL;
    pf_shm_keep *k;
    apr_status_t rv;

    rl_table = NULL;
    rl_mutex = NULL;
    if (!resolve_servers(s, ptemp)) {
        return OK; /* PermafrostRateLimit off everywhere */
    }
    /* httpd's first startup pass only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    apr_pool_userdata_get(&data, PF_RL_KEEP_KEY, pp);
    k = data;
    if (!k) {
        k = apr_pcalloc(pp, sizeof(*k));
        rv = ap_global_mutex_create(&k->mutex, NULL, PF_RL_MUTEX_TYPE, NULL, s, pp, 0);
        if (rv != APR_SUCCESS || !k->mutex) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PF00022: rate limits need the %s mutex (check the Mutex directive; "
                         "'none' cannot keep counts exact), or set PermafrostRateLimit off",
                         PF_RL_MUTEX_TYPE);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_pool_userdata_set(k, PF_RL_KEEP_KEY, apr_pool_cleanup_null, pp);
    }
    if (!k->shm || k->nslots != nslots) {
        apr_uint32_t had = k->shm ? k->nslots : 0;

        rv = pf_shm_replace(s, k, "permafrost-ratelimit", nslots, pf_rl_size(nslots), rl_layout);
        if (rv != APR_SUCCESS && !had) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PF00023: could not create %" APR_SIZE_T_FMT " bytes of shared memory "
                         "for %u rate-limit slots (PermafrostRateLimitSlots)",
                         pf_rl_size(nslots), (unsigned)nslots);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                         "PF00023: could not create shared memory for %u rate-limit slots; "
                         "keeping the %u slots in use", (unsigned)nslots, (unsigned)had);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "PF00025: rate-limit counters: %u slots in %" APR_SIZE_T_FMT
                         " bytes of shared memory%s", (unsigned)nslots,
                         apr_shm_size_get(k->shm), had ? " (resized: counters start over)" : "");
        }
    }
    rl_table = pf_rl_attach(apr_shm_baseaddr_get(k->shm), apr_shm_size_get(k->shm), k->nslots);
    if (!rl_table) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PF00023: the rate-limit shared memory does not hold a table");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rl_mutex = k->mutex;
    return OK;
}

void pf_ratelimit_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!rl_mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&rl_mutex, apr_global_mutex_lockfile(rl_mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "PF00024: could not attach the %s mutex; this process serves without "
                     "counting rate limits", PF_RL_MUTEX_TYPE);
        rl_broken_logged = 1;
        rl_table = NULL;
    }
}

_Static_assert(sizeof(((pf_req *)0)->rl_id) == PF_RL_ID_LEN, "pf_req.rl_id is a table id");

int pf_ratelimit_count(request_rec *r, pf_req *rq, int may_refuse)
{
    const pf_srv_cfg *c = pf_srv(r->server);
    apr_int64_t now = apr_time_sec(r->request_time);
    pf_rl_verdict v = PF_RL_FULL;
    pf_rl_result res;
    int counted = 0;

    if (c->rl_limit <= 0 || rq->rl_present) {
        return OK; /* off here, or counted already */
    }
    /* request_time is already known: no clock read, the lock is the only
     * system call. */
    if (rl_table) {
        apr_status_t rv = apr_global_mutex_lock(rl_mutex);

        if (rv == APR_SUCCESS) {
            v = pf_rl_hit(rl_table, rq->rl_id, c->rl_server, (apr_uint32_t)c->rl_limit,
                          (apr_uint32_t)c->rl_window, now, &res);
            apr_global_mutex_unlock(rl_mutex);
            counted = 1;
        }
        else if (!rl_broken_logged) {
            rl_broken_logged = 1;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                          "PF00024: could not lock the rate-limit counters; requests are "
                          "served without counting");
        }
    }
    if (counted && v == PF_RL_FULL && res.first_full) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PF00021: the rate-limit table is full (every one of its slots holds an "
                      "open window): keys without a slot are served without being counted "
                      "until windows end; raise PermafrostRateLimitSlots");
    }
    if (!counted) {
        /* Fail open (see README), headers as for a window opening now. */
        res.limit = (apr_uint32_t)c->rl_limit;
        res.remaining = res.limit - 1;
        res.reset = now + c->rl_window;
        res.retry_after = c->rl_window;
    }
    rq->rl_present = 1;
    rq->rl_limit = (long)res.limit;
    rq->rl_remaining = (long)res.remaining;
    rq->rl_reset = res.reset;
    if (v == PF_RL_OVER && may_refuse) {
        apr_table_setn(r->headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT, (apr_int64_t)res.retry_after));
        pf_send_error(r, HTTP_TOO_MANY_REQUESTS, "RATE_LIMITED",
                      apr_psprintf(r->pool,
                                   "This key has used its %ld requests per %ld seconds; retry "
                                   "in %" APR_INT64_T_FMT " seconds.", c->rl_limit, c->rl_window,
                                   (apr_int64_t)res.retry_after));
        return DONE;
    }
    return OK;
}
