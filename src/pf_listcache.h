/* List answers kept in one process's memory, each tagged with the data
 * version it was read at (sql/005). The caller serves a kept answer only
 * after the database confirms the customer's version is still that one, so
 * an answer is never stale; the cache only saves PostgreSQL the page.
 *
 * Bounded by bytes: the least recently used answers go first. Safe for
 * the threads of one process (an APR thread mutex); each process has its
 * own. No httpd dependency. */
#ifndef PF_LISTCACHE_H
#define PF_LISTCACHE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_time.h>

typedef struct pf_lc pf_lc;

/* A kept answer, as copied out for one request. */
typedef struct {
    long long version;
    const char *body;
    size_t len;
    const char *etag;
} pf_lc_hit;

/* A cache of at most max_bytes (answers, keys and bookkeeping) whose lock
 * and table live in p. An answer larger than max_bytes / 8 is not kept. */
apr_status_t pf_lc_create(pf_lc **out, apr_pool_t *p, size_t max_bytes);

/* 1 and a copy in p of what is kept under key; 0 when nothing is. */
int pf_lc_get(pf_lc *c, const char *key, apr_pool_t *p, pf_lc_hit *hit);

/* Keeps (or replaces) the answer under key. 0 when kept; -1 when too
 * large, or when memory ran out (nothing changes then). */
int pf_lc_put(pf_lc *c, const char *key, long long version, const char *body, size_t len,
              const char *etag);

/* One reader per page: when a request finds no answer it can serve, it
 * asks before reading the page itself. The first to ask for a key leads:
 * it reads the page, keeps it, then calls pf_lc_done (always, even when it
 * kept nothing). A later asker is told the page is busy; it may wait with
 * pf_lc_wait until the leader is done, then look in the cache again. So
 * after a write a popular page is read once per process instead of once
 * per request in flight. */
typedef enum {
    PF_LC_LEAD,   /* read the page, then call pf_lc_done */
    PF_LC_BUSY,   /* another thread is reading it: pf_lc_wait, then look again */
    PF_LC_ALONE   /* read the page; nobody waits for it (no threads, or no memory) */
} pf_lc_fill;

pf_lc_fill pf_lc_begin(pf_lc *c, const char *key);
/* Returns once key's leader is done, or after timeout. */
void pf_lc_wait(pf_lc *c, const char *key, apr_interval_time_t timeout);
void pf_lc_done(pf_lc *c, const char *key);

/* What is kept: answers and the bytes they take. */
void pf_lc_usage(pf_lc *c, unsigned *count, size_t *bytes);

#endif
