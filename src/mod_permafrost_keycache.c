/* Valid API keys cached in shared memory, so a key seen recently by any
 * child process costs no database round trip. The table (core:
 * src/pf_keycache.c) lives in APR shared memory created in post_config.
 * Its writers are serialised by a global mutex that `Mutex
 * permafrost-keycache ...` configures; lookups take no lock. Both are kept
 * in the parent's process pool across restarts, like the rate-limit table
 * (mod_permafrost_shm.c).
 *
 * Revocation stays effective: an entry answers for at most
 * PermafrostKeyCacheTTL seconds (60 at most) after the lookup that made it
 * began, and each configuration generation only sees its own entries, so a
 * restart, graceful included, starts with an empty cache. */
#include "mod_permafrost_private.h"
#include "pf_keycache.h"

#include <apr_global_mutex.h>
#include <util_mutex.h>

#define PF_KC_MUTEX_TYPE "permafrost-keycache"
#define PF_KC_KEEP_KEY   "mod_permafrost-keycache"


static pf_kc_table *kc_table;        /* NULL: every key is looked up */
static apr_global_mutex_t *kc_mutex; /* this process's handle */
static apr_uint32_t kc_gen;          /* this generation's tag on entries */
static int kc_broken_logged;         /* per process: log a lock failure once */

int pf_keycache_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    /* No AP_MUTEX_ALLOW_NONE: without the lock a process could read an
     * entry another is writing, and answer with the wrong customer. */
    apr_status_t rv = ap_mutex_register(pconf, PF_KC_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);

    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog,
                      "PF00040: could not register the %s mutex", PF_KC_MUTEX_TYPE);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int kc_layout(void *mem, size_t size, uint32_t nslots)
{
    return pf_kc_init(mem, size, nslots) != NULL;
}

int pf_keycache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    long slots = pf_srv(s)->kc_slots;
    apr_uint32_t nslots = slots > 0 ? (apr_uint32_t)slots : PF_KC_DEFAULT_SLOTS;
    void *data = NULL;
    pf_shm_keep *k;
    apr_status_t rv;
    int any = 0, created = 0;

    kc_table = NULL;
    kc_mutex = NULL;
    for (server_rec *sv = s; sv; sv = sv->next) {
        pf_srv_cfg *c = pf_srv(sv);
        if (c->kc_ttl == PF_UNSET) {
            c->kc_ttl = PF_KC_DEFAULT_TTL;
        }
        any |= c->kc_ttl > 0;
    }
    if (!any) {
        return OK; /* PermafrostKeyCacheTTL off everywhere */
    }
    /* httpd's first startup pass only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    apr_pool_userdata_get(&data, PF_KC_KEEP_KEY, pp);
    k = data;
    if (!k) {
        k = apr_pcalloc(pp, sizeof(*k));
        rv = ap_global_mutex_create(&k->mutex, NULL, PF_KC_MUTEX_TYPE, NULL, s, pp, 0);
        if (rv != APR_SUCCESS || !k->mutex) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PF00040: could not create the %s mutex (check the Mutex "
                         "directive), or set PermafrostKeyCacheTTL off", PF_KC_MUTEX_TYPE);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_pool_userdata_set(k, PF_KC_KEEP_KEY, apr_pool_cleanup_null, pp);
    }
    if (!k->shm || k->nslots != nslots) {
        apr_uint32_t had = k->shm ? k->nslots : 0;

        rv = pf_shm_replace(s, k, "permafrost-keycache", nslots, pf_kc_size(nslots), kc_layout);
        if (rv != APR_SUCCESS && !had) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "PF00041: could not create %" APR_SIZE_T_FMT " bytes of shared memory "
                         "for %u key cache slots (PermafrostKeyCacheSlots)",
                         pf_kc_size(nslots), (unsigned)nslots);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                         "PF00041: could not create shared memory for %u key cache slots; "
                         "keeping the %u slots in use", (unsigned)nslots, (unsigned)had);
        }
        else {
            created = 1;
        }
    }
    kc_table = pf_kc_attach(apr_shm_baseaddr_get(k->shm), apr_shm_size_get(k->shm), k->nslots);
    if (!kc_table) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PF00041: the key cache shared memory does not hold a table");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (created) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "PF00042: key cache: %u entries in %" APR_SIZE_T_FMT
                     " bytes of shared memory", (unsigned)pf_kc_capacity(kc_table),
                     apr_shm_size_get(k->shm));
    }
    kc_mutex = k->mutex;
    /* Never 0, which marks an empty entry. */
    kc_gen = (apr_uint32_t)ap_state_query(AP_SQ_CONFIG_GEN) + 1u;
    return OK;
}

void pf_keycache_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!kc_mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&kc_mutex, apr_global_mutex_lockfile(kc_mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "PF00043: could not attach the %s mutex; this process looks every key up "
                     "in the database", PF_KC_MUTEX_TYPE);
        kc_broken_logged = 1;
        kc_table = NULL;
    }
}

static int kc_lock(request_rec *r)
{
    apr_status_t rv;

    if (!kc_table || pf_srv(r->server)->kc_ttl <= 0) {
        return 0;
    }
    rv = apr_global_mutex_lock(kc_mutex);
    if (rv != APR_SUCCESS) {
        /* Without the lock nothing is stored or dropped: the database
         * answers again next time; slower, never wrong. */
        if (!kc_broken_logged) {
            kc_broken_logged = 1;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                          "PF00043: could not lock the key cache; checked keys are not kept "
                          "and are looked up in the database");
        }
        return 0;
    }
    return 1;
}

int pf_keycache_get(request_rec *r, const unsigned char *hash, pf_req *rq)
{
    pf_kc_key k;
    int hit;

    /* Lookups take no lock (pf_keycache.h): on the hot path a global
     * mutex was contended by every request thread of every child. */
    if (!kc_table || pf_srv(r->server)->kc_ttl <= 0) {
        return 0;
    }
    hit = pf_kc_get(kc_table, hash, kc_gen, apr_time_sec(r->request_time),
                    (apr_uint32_t)pf_srv(r->server)->kc_ttl, &k);
    if (!hit) {
        return 0;
    }
    memcpy(rq->key_id, k.key_id, sizeof(rq->key_id));
    memcpy(rq->customer_id, k.customer_id, sizeof(rq->customer_id));
    rq->scopes = k.scopes;
    rq->authenticated = 1;
    return 1;
}

void pf_keycache_put(request_rec *r, const unsigned char *hash, const pf_req *rq,
                     apr_int64_t expires_at)
{
    apr_int64_t began = apr_time_sec(r->request_time);
    pf_kc_key k;

    memcpy(k.key_id, rq->key_id, sizeof(k.key_id));
    memcpy(k.customer_id, rq->customer_id, sizeof(k.customer_id));
    k.scopes = rq->scopes;
    k.expires_at = expires_at;
    if (!kc_lock(r)) {
        return;
    }
    pf_kc_put(kc_table, hash, kc_gen, &k, began, began);
    apr_global_mutex_unlock(kc_mutex);
}

void pf_keycache_forget(request_rec *r, const unsigned char *hash)
{
    if (!kc_lock(r)) {
        return;
    }
    pf_kc_forget(kc_table, hash);
    apr_global_mutex_unlock(kc_mutex);
}
