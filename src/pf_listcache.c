#include "pf_listcache.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <stdlib.h>
#include <string.h>

/* One answer in one malloc block: the entry, then key, body and ETag, so
 * it is freed the moment it is dropped (a pool could not give it back). */
typedef struct entry {
    struct entry *newer, *older;  /* recency list */
    const char *key;
    size_t klen;
    long long version;
    const char *body;
    size_t len;
    const char *etag;
    size_t size;                  /* what this entry counts against the bound */
} entry;

/* A page some thread is reading, kept until it calls pf_lc_done. */
struct flight {
    struct flight *next;
    char key[];
};

struct pf_lc {
#if APR_HAS_THREADS
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *filled;    /* broadcast whenever a leader is done */
    struct flight *flights;       /* pages being read now: a few, one per thread at most */
#endif
    apr_hash_t *index;
    entry *newest, *oldest;
    size_t bytes, max_bytes;
    unsigned count;
};

/* The hash table's own share of an entry, so many tiny answers cannot
 * outgrow the bound through bookkeeping. */
#define PF_LC_OVERHEAD 64

static void lock(pf_lc *c)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(c->lock);
#else
    (void)c;
#endif
}

static void unlock(pf_lc *c)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(c->lock);
#else
    (void)c;
#endif
}

/* The answers are malloc'd: give them back with the pool. */
static apr_status_t free_all(void *data)
{
    pf_lc *c = data;

    while (c->oldest) {
        entry *e = c->oldest;
        c->oldest = e->newer;
        free(e);
    }
    c->newest = NULL;
    c->count = 0;
    c->bytes = 0;
#if APR_HAS_THREADS
    while (c->flights) {
        struct flight *f = c->flights;
        c->flights = f->next;
        free(f);
    }
#endif
    return APR_SUCCESS;
}

apr_status_t pf_lc_create(pf_lc **out, apr_pool_t *p, size_t max_bytes)
{
    pf_lc *c = apr_pcalloc(p, sizeof(*c));

#if APR_HAS_THREADS
    apr_status_t rv = apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&c->filled, p);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
#endif
    c->index = apr_hash_make(p);
    c->max_bytes = max_bytes;
    apr_pool_cleanup_register(p, c, free_all, apr_pool_cleanup_null);
    *out = c;
    return APR_SUCCESS;
}

static void unlink_entry(pf_lc *c, entry *e)
{
    if (e->newer) {
        e->newer->older = e->older;
    }
    else {
        c->newest = e->older;
    }
    if (e->older) {
        e->older->newer = e->newer;
    }
    else {
        c->oldest = e->newer;
    }
    e->newer = e->older = NULL;
}

static void push_newest(pf_lc *c, entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest) {
        c->newest->newer = e;
    }
    c->newest = e;
    if (!c->oldest) {
        c->oldest = e;
    }
}

static void drop(pf_lc *c, entry *e)
{
    unlink_entry(c, e);
    apr_hash_set(c->index, e->key, (apr_ssize_t)e->klen, NULL);
    c->bytes -= e->size;
    c->count--;
    free(e);
}

int pf_lc_get(pf_lc *c, const char *key, apr_pool_t *p, pf_lc_hit *hit)
{
    entry *e;
    int found = 0;

    lock(c);
    e = apr_hash_get(c->index, key, APR_HASH_KEY_STRING);
    if (e) {
        unlink_entry(c, e);
        push_newest(c, e);
        hit->version = e->version;
        hit->body = apr_pstrmemdup(p, e->body, e->len);
        hit->len = e->len;
        hit->etag = apr_pstrdup(p, e->etag);
        found = 1;
    }
    unlock(c);
    return found;
}

int pf_lc_put(pf_lc *c, const char *key, long long version, const char *body, size_t len,
              const char *etag)
{
    size_t klen = strlen(key), elen = strlen(etag);
    size_t size = sizeof(entry) + klen + 1 + len + 1 + elen + 1 + PF_LC_OVERHEAD;
    entry *e, *old;
    char *at;

    if (size > c->max_bytes / 8) {
        return -1;
    }
    e = malloc(size - PF_LC_OVERHEAD);
    if (!e) {
        return -1;
    }
    at = (char *)(e + 1);
    memcpy(at, key, klen + 1);
    e->key = at;
    at += klen + 1;
    memcpy(at, body, len);
    at[len] = '\0';
    e->body = at;
    at += len + 1;
    memcpy(at, etag, elen + 1);
    e->etag = at;
    e->klen = klen;
    e->version = version;
    e->len = len;
    e->size = size;

    lock(c);
    old = apr_hash_get(c->index, key, (apr_ssize_t)klen);
    if (old) {
        drop(c, old);
    }
    while (c->oldest && c->bytes + size > c->max_bytes) {
        drop(c, c->oldest);
    }
    push_newest(c, e);
    apr_hash_set(c->index, e->key, (apr_ssize_t)klen, e);
    c->bytes += size;
    c->count++;
    unlock(c);
    return 0;
}

#if APR_HAS_THREADS
static struct flight **find_flight(pf_lc *c, const char *key)
{
    struct flight **at = &c->flights;

    while (*at && strcmp((*at)->key, key) != 0) {
        at = &(*at)->next;
    }
    return at;
}
#endif

pf_lc_fill pf_lc_begin(pf_lc *c, const char *key)
{
#if APR_HAS_THREADS
    pf_lc_fill fill = PF_LC_BUSY;

    lock(c);
    if (!*find_flight(c, key)) {
        size_t klen = strlen(key);
        struct flight *f = malloc(sizeof(*f) + klen + 1);

        if (f) {
            memcpy(f->key, key, klen + 1);
            f->next = c->flights;
            c->flights = f;
        }
        fill = f ? PF_LC_LEAD : PF_LC_ALONE;
    }
    unlock(c);
    return fill;
#else
    (void)c, (void)key;
    return PF_LC_ALONE;
#endif
}

void pf_lc_wait(pf_lc *c, const char *key, apr_interval_time_t timeout)
{
#if APR_HAS_THREADS
    apr_time_t until = apr_time_now() + timeout;

    lock(c);
    /* One condition for every key: few pages are read at once, and a
     * waiter whose page is still being read just waits again. */
    while (*find_flight(c, key)) {
        apr_time_t left = until - apr_time_now();

        if (left <= 0) {
            break;
        }
        apr_thread_cond_timedwait(c->filled, c->lock, left);
    }
    unlock(c);
#else
    (void)c, (void)key, (void)timeout;
#endif
}

void pf_lc_done(pf_lc *c, const char *key)
{
#if APR_HAS_THREADS
    struct flight **at, *f;

    lock(c);
    at = find_flight(c, key);
    f = *at;
    if (f) {
        *at = f->next;
        free(f);
        apr_thread_cond_broadcast(c->filled);
    }
    unlock(c);
#else
    (void)c, (void)key;
#endif
}

void pf_lc_usage(pf_lc *c, unsigned *count, size_t *bytes)
{
    lock(c);
    *count = c->count;
    *bytes = c->bytes;
    unlock(c);
}
