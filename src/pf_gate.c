#include "pf_gate.h"

#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

typedef struct waiter {
    apr_thread_cond_t *cond;
    int admitted;
    struct waiter *next;
} waiter;

struct pf_gate {
    apr_thread_mutex_t *lock;
    unsigned limit, holding, waiting;
    waiter *head, *tail; /* oldest first */
};

apr_status_t pf_gate_create(pf_gate **out, apr_pool_t *p, unsigned limit)
{
    pf_gate *g;
    apr_status_t rv;

    *out = NULL;
    if (limit == 0) {
        return APR_EINVAL;
    }
    g = apr_pcalloc(p, sizeof(*g));
    rv = apr_thread_mutex_create(&g->lock, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    g->limit = limit;
    *out = g;
    return APR_SUCCESS;
}

apr_status_t pf_gate_enter(pf_gate *g, apr_pool_t *p)
{
    waiter *w;
    apr_status_t rv;

    rv = apr_thread_mutex_lock(g->lock);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* A free place goes to a newcomer only when nobody is waiting for it. */
    if (g->holding < g->limit && !g->head) {
        g->holding++;
        apr_thread_mutex_unlock(g->lock);
        return APR_SUCCESS;
    }
    /* In the caller's pool, which outlives the wait: pf_gate_leave unlinks
     * the waiter before letting it go. */
    w = apr_pcalloc(p, sizeof(*w));
    rv = apr_thread_cond_create(&w->cond, p);
    if (rv != APR_SUCCESS) {
        apr_thread_mutex_unlock(g->lock);
        return rv;
    }
    if (g->tail) {
        g->tail->next = w;
    }
    else {
        g->head = w;
    }
    g->tail = w;
    g->waiting++;
    /* pf_gate_leave sets admitted before signalling, with the place
     * already counted as held: the waiter only has to notice. */
    while (!w->admitted) {
        apr_thread_cond_wait(w->cond, g->lock);
    }
    apr_thread_mutex_unlock(g->lock);
    apr_thread_cond_destroy(w->cond);
    return APR_SUCCESS;
}

void pf_gate_leave(pf_gate *g)
{
    waiter *w;

    if (apr_thread_mutex_lock(g->lock) != APR_SUCCESS) {
        return;
    }
    w = g->head;
    if (w) {
        /* The place passes on: holding stays the same. */
        g->head = w->next;
        if (!g->head) {
            g->tail = NULL;
        }
        g->waiting--;
        w->admitted = 1;
        apr_thread_cond_signal(w->cond);
    }
    else if (g->holding > 0) {
        g->holding--;
    }
    apr_thread_mutex_unlock(g->lock);
}

void pf_gate_counts(pf_gate *g, unsigned *holding, unsigned *waiting)
{
    apr_thread_mutex_lock(g->lock);
    *holding = g->holding;
    *waiting = g->waiting;
    apr_thread_mutex_unlock(g->lock);
}
