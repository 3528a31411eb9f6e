/* The database gate: never more holders than its limit, and waiters let in
 * in the order they came, with no newcomer overtaking them. */
#include "tap.h"
#include "pf_gate.h"

#include <apr_atomic.h>
#include <apr_general.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#define THREADS 16
#define ROUNDS 300

typedef struct {
    pf_gate *g;
    apr_uint32_t inside, most, entries;
} crowd;

static void *APR_THREAD_FUNC crowd_run(apr_thread_t *t, void *data)
{
    crowd *c = data;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        apr_uint32_t now, most;

        if (pf_gate_enter(c->g, p) != APR_SUCCESS) {
            continue;
        }
        now = apr_atomic_inc32(&c->inside) + 1;
        while ((most = apr_atomic_read32(&c->most)) < now
               && apr_atomic_cas32(&c->most, now, most) != most) {
        }
        apr_atomic_inc32(&c->entries);
        /* Stay a while now and then, so holders overlap. */
        if (i % 2 == 0) {
            apr_sleep(200);
        }
        apr_atomic_dec32(&c->inside);
        pf_gate_leave(c->g);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

typedef struct {
    pf_gate *g;
    apr_thread_mutex_t *lock;
    int order[16], n;
    int me;
} line;

typedef struct {
    line *l;
    int me;
} lineup;

static void note(line *l, int who)
{
    apr_thread_mutex_lock(l->lock);
    l->order[l->n++] = who;
    apr_thread_mutex_unlock(l->lock);
}

static void *APR_THREAD_FUNC lineup_run(apr_thread_t *t, void *data)
{
    lineup *u = data;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    if (pf_gate_enter(u->l->g, p) == APR_SUCCESS) {
        note(u->l, u->me);
        apr_sleep(2000);
        pf_gate_leave(u->l->g);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static int wait_for_waiters(pf_gate *g, unsigned n)
{
    for (int i = 0; i < 5000; i++) {
        unsigned h, w;
        pf_gate_counts(g, &h, &w);
        if (w == n) {
            return 1;
        }
        apr_sleep(1000);
    }
    return 0;
}

int main(void)
{
    apr_pool_t *p;
    pf_gate *g;
    unsigned h, w;

    apr_initialize();
    apr_pool_create(&p, NULL);

    ok(pf_gate_create(&g, p, 0) == APR_EINVAL && g == NULL, "a gate for nobody is refused");

    /* Many threads, a limit of 3: never more inside, and the limit is
     * reached (the gate does not simply serialise). */
    {
        crowd c = { NULL, 0, 0, 0 };
        apr_thread_t *th[THREADS];
        apr_status_t rv;

        ok(pf_gate_create(&c.g, p, 3) == APR_SUCCESS, "a gate for 3");
        for (int i = 0; i < THREADS; i++) {
            apr_thread_create(&th[i], NULL, crowd_run, &c, p);
        }
        for (int i = 0; i < THREADS; i++) {
            apr_thread_join(&rv, th[i]);
        }
        ok(c.entries == THREADS * ROUNDS, "every one of %d entries got in (%u)",
           THREADS * ROUNDS, c.entries);
        ok(c.most == 3, "at most 3 inside at once, and 3 reached (%u)", c.most);
        pf_gate_counts(c.g, &h, &w);
        ok(h == 0 && w == 0, "empty afterwards (%u holding, %u waiting)", h, w);
    }

    /* One place, held here; five threads queue one after another; when it
     * is given back and asked for again at once, the five go first, in the
     * order they came, and this thread last. */
    {
        line l;
        lineup u[5];
        apr_thread_t *th[5];
        apr_status_t rv;
        int in_order = 1;

        memset(&l, 0, sizeof(l));
        apr_thread_mutex_create(&l.lock, APR_THREAD_MUTEX_DEFAULT, p);
        ok(pf_gate_create(&l.g, p, 1) == APR_SUCCESS, "a gate for 1");
        ok(pf_gate_enter(l.g, p) == APR_SUCCESS, "the first comer enters at once");
        for (int i = 0; i < 5; i++) {
            u[i].l = &l;
            u[i].me = i + 1;
            apr_thread_create(&th[i], NULL, lineup_run, &u[i], p);
            if (!wait_for_waiters(l.g, (unsigned)i + 1)) {
                break;
            }
        }
        pf_gate_counts(l.g, &h, &w);
        ok(h == 1 && w == 5, "one holds, five wait (%u, %u)", h, w);
        pf_gate_leave(l.g);
        ok(pf_gate_enter(l.g, p) == APR_SUCCESS, "the first comer enters again");
        note(&l, 9);
        pf_gate_leave(l.g);
        for (int i = 0; i < 5; i++) {
            apr_thread_join(&rv, th[i]);
        }
        for (int i = 0; i < 5; i++) {
            in_order &= l.order[i] == i + 1;
        }
        ok(l.n == 6 && in_order && l.order[5] == 9,
           "admitted in arrival order, the newcomer last: %d %d %d %d %d %d", l.order[0],
           l.order[1], l.order[2], l.order[3], l.order[4], l.order[5]);
        pf_gate_counts(l.g, &h, &w);
        ok(h == 0 && w == 0, "empty afterwards (%u holding, %u waiting)", h, w);
    }
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
