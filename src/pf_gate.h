/* A first-come, first-served gate in front of the database, for the
 * threads of one process: at most `limit` requests hold it at once, and a
 * request that has to wait is let in strictly in the order it arrived.
 *
 * Why: with more statements running than the database has cores, they
 * share the cores and each takes longer; throughput falls (context
 * switches) and a page is as slow as the unluckiest of its neighbours.
 * mod_dbd's pool can bound the number in flight (DBDMax), but a thread
 * waiting for a pooled connection is not served in order: a connection
 * handed back goes to whichever thread gets the lock first, so some wait
 * far longer than others. Here a leaving holder hands its place directly
 * to the oldest waiter, so nobody can overtake it. No httpd dependency. */
#ifndef PF_GATE_H
#define PF_GATE_H

#include <apr_errno.h>
#include <apr_pools.h>

typedef struct pf_gate pf_gate;

/* A gate for limit (>= 1) holders whose lock lives in p. */
apr_status_t pf_gate_create(pf_gate **out, apr_pool_t *p, unsigned limit);

/* Waits for a place (no time limit: places are held only while a request
 * runs its statements). p: the caller's pool, for its wait condition.
 * APR_SUCCESS when the caller holds a place; an error when the gate could
 * not be waited on (the caller then goes on without a place and must not
 * call pf_gate_leave). */
apr_status_t pf_gate_enter(pf_gate *g, apr_pool_t *p);

/* Gives the place back: to the oldest waiter, or free. */
void pf_gate_leave(pf_gate *g);

/* Holders and waiters now; for tests and diagnostics. */
void pf_gate_counts(pf_gate *g, unsigned *holding, unsigned *waiting);

#endif
