/* Private to the httpd glue files. Log tags are PFnnnnn; the next free one
 * is kept in src/LOGTAGS. */
#ifndef MOD_PERMAFROST_PRIVATE_H
#define MOD_PERMAFROST_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_dbd.h>
#include <apr_shm.h>
#include <mod_dbd.h>
#include <jansson.h>
#include <apr_strings.h>

#include "pf_key.h"
#include "pf_ratelimit.h"
#include "pf_route.h"
#include "pf_sql.h"

/* mod_permafrost.c declares the module, which implies this. */
#ifndef PF_MODULE_MAIN
APLOG_USE_MODULE(permafrost);
#endif
extern module AP_MODULE_DECLARE_DATA permafrost_module;

#define PF_HANDLER_NAME "permafrost"
#define PF_VERSION      "0.1.0"
#define PF_UNSET        (-1)

/* mod_dbd's functions, looked up once at startup. */
typedef struct {
    ap_dbd_t *(*open)(apr_pool_t *, server_rec *);
    void (*close)(server_rec *, ap_dbd_t *);
    void (*prepare)(server_rec *, const char *, const char *);
} pf_dbd_fns;

/* Webhook settings. Set in the main server only (one drainer per httpd);
 * every virtual host shares the main server's copy. */
typedef struct {
    const char *key_file;        /* PermafrostSecretKeyFile */
    unsigned char *key;          /* its PF_SECRET_KEY_LEN bytes, or NULL */
    int interval;                /* PermafrostWebhookInterval, seconds */
    int attempts;                /* PermafrostWebhookRetry <attempts> ... */
    int first_delay;             /* ... <first-delay-seconds> */
    int timeout;                 /* PermafrostWebhookTimeout, seconds */
    int concurrency;             /* PermafrostWebhookConcurrency */
    int allow_private;           /* PermafrostWebhookAllowPrivateNetworks */
    int allow_http;              /* PermafrostWebhookAllowHTTP */
    struct pf_drainer *drainer;  /* set in post_config when delivering */
} pf_wh_cfg;

typedef struct {
    pf_dbd_fns dbd;
    pf_wh_cfg *wh;
    int retry_after;      /* seconds, for 503 answers */
    const unsigned char *cursor_key; /* signs list cursors; same in every child */
    const char *openapi_etag;  /* of the embedded document, made once at startup */
    /* key cache */
    long kc_ttl;          /* seconds; 0: off; PF_UNSET: default */
    long kc_slots;        /* PermafrostKeyCacheSlots (main server only) */
    long rl_limit;        /* requests per window; 0: off; PF_UNSET: default */
    long rl_window;       /* seconds */
    long rl_slots;        /* PermafrostRateLimitSlots (main server only) */
    apr_uint32_t rl_server; /* this server's identity in the counter table */
    /* list cache (pf_listcache.h) */
    int lc_on;            /* PermafrostListCache; PF_UNSET: on */
    long lc_size;         /* PermafrostListCacheSize, MiB per process (main server only) */
    struct pf_lc *lc;     /* this child process's cache, or NULL */
    /* database gate (pf_gate.h) */
    long db_gate;         /* PermafrostDatabaseConcurrency per process; 0: off (main only) */
    struct pf_gate *gate; /* this child process's gate, or NULL */
    /* pooled sessions */
    long query_timeout;    /* PermafrostQueryTimeout, ms; 0: the database's own (main only) */
    const char *session_sql; /* run once per PostgreSQL backend (mod_permafrost_db.c) */
    const EVP_MD *sha256; /* fetched once at startup, for hashing keys; may be NULL */
} pf_srv_cfg;

#define PF_DEFAULT_BASE "/api/v1"

typedef struct {
    const char *base;     /* the path the handler owns; NULL: PF_DEFAULT_BASE */
} pf_dir_cfg;

/* What the access phase learned about a request, for the handler. */
typedef struct {
    const char *base;     /* the handler's base path, for Location */
    pf_route route;
    int route_found;
    int authenticated;
    char key_id[37];
    char customer_id[37];
    unsigned scopes;
    /* The key's id in the rate-limit table: the first half of the SHA-256
     * authentication computes anyway (one secret per key), so counting
     * needs no parse of key_id. */
    unsigned char rl_id[16];
    int rl_present;       /* rate-limit headers to send */
    long rl_limit;
    long rl_remaining;
    apr_int64_t rl_reset;
    ap_dbd_t *dbd;        /* this request's pooled connection, if any */
    int dbd_release;      /* the cleanup that hands it back is registered */
    int gated;            /* holds a place in the database gate */
} pf_req;

/* mod_permafrost.c */
pf_srv_cfg *pf_srv(const server_rec *s);
pf_req *pf_req_get(request_rec *r);

/* mod_permafrost_response.c: every answer goes through these; they return
 * OK once the response is written. */
int pf_send_body(request_rec *r, int status, const char *body, size_t len, const char *etag);
int pf_send_json(request_rec *r, int status, json_t *j);
int pf_send_json_cached(request_rec *r, json_t *j); /* 200 or 304 by ETag */
/* The same for JSON text; etag: its ETag when known, or NULL. */
int pf_send_text_cached(request_rec *r, const char *body, size_t len, const char *etag);
int pf_send_error(request_rec *r, int status, const char *code, const char *message);
int pf_send_param_error(request_rec *r, const char *field, const char *message);
int pf_send_unavailable(request_rec *r);
/* Retry-After for answers given while the database is down. */
void pf_set_retry_after(request_rec *r);

/* The OpenAPI document, embedded at build time (src/pf_openapi_doc.c). */
extern const char pf_openapi_json[];
extern const size_t pf_openapi_json_len;

/* mod_permafrost_db.c */
typedef enum { PF_DB_OK = 0, PF_DB_UNAVAILABLE, PF_DB_ERROR } pf_db_status;
void pf_db_prepare_all(server_rec *s);
/* PermafrostQueryTimeout's default, in milliseconds: ten times the
 * slowest statement the benchmark saw under load (an uncached offset page
 * 100,000 rows deep, p99 0.5 s), and well under the 60 s after which httpd's
 * Timeout or a proxy in front gives up. */
#define PF_QUERY_TIMEOUT_DEFAULT 5000
/* What a pooled session runs once, before its first statement. */
const char *pf_db_session_sql(apr_pool_t *p, long query_timeout_ms);
/* A result being read: apr_dbd advances through the same row handle. */
typedef struct {
    ap_dbd_t *dbd;
    apr_pool_t *pool;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
} pf_rows;
/* Runs a prepared statement on *held, acquiring a connection with
 * ap_dbd_open when *held is NULL and replacing a lost one; the caller hands
 * *held back with ap_dbd_close. r may be NULL (work outside requests). */
pf_db_status pf_db_run(request_rec *r, apr_pool_t *p, server_rec *s, ap_dbd_t **held,
                       pf_sql_id id, int nargs, const char **args, pf_rows *rows);
int pf_db_next_row(pf_rows *rows, const char **cols, int ncols);
pf_db_status pf_db_select(request_rec *r, pf_sql_id id, int nargs, const char **args,
                          pf_rows *rows);
/* Next row's columns as strings (NULL for SQL NULL); 0 when done. */
int pf_db_next(request_rec *r, pf_rows *rows, const char **cols, int ncols);
/* Hands the request's pooled connection back before the request ends (its
 * results must have been read): for a request about to wait, so waiters
 * never hold the connections the one they wait for needs. The next
 * statement takes one again. */
void pf_db_release(request_rec *r);
/* Answers a failed statement: 503 when the database is gone, 500 else. */
int pf_db_fail(request_rec *r, pf_db_status st);

/* mod_permafrost_auth.c */
int pf_access_checker(request_rec *r);
int pf_is_ours(request_rec *r);
int pf_translate_name(request_rec *r);
int pf_map_to_storage(request_rec *r);

/* mod_permafrost_shm.c: rate-limit counters in shared memory */
int pf_ratelimit_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int pf_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s);
void pf_ratelimit_child_init(apr_pool_t *p, server_rec *s);
/* Counts the request against its key's quota and sets the rq->rl_* headers.
 * Over quota it answers 429 and returns DONE when may_refuse is set;
 * otherwise (answers already decided: 403, 404, 405) it only counts. */
int pf_ratelimit_count(request_rec *r, pf_req *rq, int may_refuse);
/* A new shared memory segment of size bytes in a pool of its own under the
 * process pool; name (a constant) and variant name its file where the
 * platform has no anonymous shared memory. */
apr_status_t pf_shm_make(server_rec *s, const char *name, unsigned variant, apr_size_t size,
                         apr_pool_t **pool, apr_shm_t **shm);

/* What a shared table keeps in the process pool across configuration
 * generations: its lock and its segment (in a pool of its own). */
typedef struct {
    apr_global_mutex_t *mutex;
    apr_pool_t *pool;
    apr_shm_t *shm;
    apr_uint32_t nslots;
} pf_shm_keep;

/* Gives k a new segment of size bytes for nslots, laid out by init (which
 * answers 0 when the table does not fit), and drops the one it had. */
apr_status_t pf_shm_replace(server_rec *s, pf_shm_keep *k, const char *name,
                            apr_uint32_t nslots, apr_size_t size,
                            int (*init)(void *mem, size_t size, uint32_t nslots));

/* mod_permafrost_keycache.c: valid keys in shared memory, so a known key
 * costs no database round trip */
int pf_keycache_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int pf_keycache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s);
void pf_keycache_child_init(apr_pool_t *p, server_rec *s);
/* 1 when the key with this SHA-256 is cached: rq's key fields are filled. */
int pf_keycache_get(request_rec *r, const unsigned char *hash, pf_req *rq);
/* Remembers rq's key, which the database has just found valid; the lookup
 * began at r->request_time. expires_at: Unix seconds, 0 for never. */
void pf_keycache_put(request_rec *r, const unsigned char *hash, const pf_req *rq,
                     apr_int64_t expires_at);
/* The database does not know the key as valid (any more). */
void pf_keycache_forget(request_rec *r, const unsigned char *hash);

/* mod_permafrost.c: the list cache of this child process */
void pf_listcache_child_init(apr_pool_t *p, server_rec *s);
void pf_dbgate_child_init(apr_pool_t *p, server_rec *s);

/* mod_permafrost_webhook.c: the delivery drainer (mod_watchdog) */
int pf_webhook_post_config(apr_pool_t *pconf, server_rec *s);
void pf_webhook_child_init(apr_pool_t *pchild, server_rec *s);

/* mod_permafrost_handler.c */
int pf_handler(request_rec *r);

#endif
