/* The per-process list cache: what it keeps, what it drops, its bound. */
#include "tap.h"
#include "pf_listcache.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <stdlib.h>

static int get(pf_lc *c, apr_pool_t *p, const char *key, pf_lc_hit *h)
{
    memset(h, 0, sizeof(*h));
    return pf_lc_get(c, key, p, h);
}

#define NTHREADS 4
#define ROUNDS 20000

static void *APR_THREAD_FUNC hammer(apr_thread_t *t, void *data)
{
    pf_lc *c = data;
    apr_pool_t *p;
    char key[32], body[64];
    int bad = 0;

    apr_pool_create(&p, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        pf_lc_hit h;
        int k = rand() % 50;
        snprintf(key, sizeof(key), "k%d", k);
        if (i % 3 == 0) {
            snprintf(body, sizeof(body), "body of %d", k);
            pf_lc_put(c, key, k, body, strlen(body), "\"e\"");
        }
        else if (pf_lc_get(c, key, p, &h)) {
            snprintf(body, sizeof(body), "body of %lld", h.version);
            bad += h.version != k || strcmp(h.body, body) != 0;
        }
        if (i % 1000 == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, bad ? APR_EGENERAL : APR_SUCCESS);
    return NULL;
}

/* Waiters for one page: each asks to read "page", counts whether it led,
 * and after waiting must find the leader's answer. */
typedef struct {
    pf_lc *c;
    volatile int started;
    int led, waited_and_found, alone;
} crowd;

static void ask(crowd *w)
{
    apr_pool_t *p;
    pf_lc_hit h;

    apr_pool_create(&p, NULL);
    __atomic_add_fetch(&w->started, 1, __ATOMIC_SEQ_CST);
    switch (pf_lc_begin(w->c, "page")) {
    case PF_LC_LEAD:
        __atomic_add_fetch(&w->led, 1, __ATOMIC_SEQ_CST);
        pf_lc_done(w->c, "page");
        break;
    case PF_LC_BUSY:
        pf_lc_wait(w->c, "page", apr_time_from_sec(20));
        if (pf_lc_get(w->c, "page", p, &h) && h.version == 42) {
            __atomic_add_fetch(&w->waited_and_found, 1, __ATOMIC_SEQ_CST);
        }
        break;
    default:
        __atomic_add_fetch(&w->alone, 1, __ATOMIC_SEQ_CST);
    }
    apr_pool_destroy(p);
}

/* Returns instead of calling apr_thread_exit (the join reads APR_SUCCESS
 * either way): pthread_exit from a frame AddressSanitizer never saw end
 * makes it report its own stack check at thread teardown. */
static void *APR_THREAD_FUNC asker(apr_thread_t *t, void *data)
{
    (void)t;
    ask(data);
    return NULL;
}

int main(void)
{
    apr_pool_t *p;
    pf_lc *c;
    pf_lc_hit h;
    unsigned count;
    size_t bytes;
    char *big;

    apr_initialize();
    apr_pool_create(&p, NULL);

    ok(pf_lc_create(&c, p, 64 * 1024) == APR_SUCCESS, "a cache of 64 KiB");
    ok(!get(c, p, "a", &h), "nothing kept at first");
    ok(pf_lc_put(c, "a", 7, "{\"data\":[]}", 11, "\"tag-a\"") == 0, "an answer kept");
    ok(get(c, p, "a", &h) && h.version == 7 && h.len == 11 && strcmp(h.body, "{\"data\":[]}") == 0
       && strcmp(h.etag, "\"tag-a\"") == 0, "and found with its version, body and ETag");
    ok(!get(c, p, "b", &h) && !get(c, p, "", &h) && !get(c, p, "a ", &h),
       "other keys find nothing");
    ok(pf_lc_put(c, "a", 9, "{\"data\":[1]}", 12, "\"tag-a2\"") == 0 && get(c, p, "a", &h)
       && h.version == 9 && strcmp(h.body, "{\"data\":[1]}") == 0, "a newer answer replaces it");
    pf_lc_usage(c, &count, &bytes);
    ok(count == 1 && bytes > 12 && bytes < 1024, "one answer counted (%u, %zu bytes)", count,
       bytes);

    /* Bodies may hold NUL bytes in principle: the length is what counts. */
    ok(pf_lc_put(c, "nul", 1, "x\0y", 3, "\"n\"") == 0 && get(c, p, "nul", &h) && h.len == 3
       && memcmp(h.body, "x\0y", 3) == 0, "the stored length is kept exactly");

    big = apr_palloc(p, 9000);
    memset(big, 'x', 9000);
    ok(pf_lc_put(c, "big", 1, big, 9000, "\"b\"") == -1 && !get(c, p, "big", &h),
       "an answer over an eighth of the bound is not kept");

    /* 40 answers of 4 KiB cannot all fit in 64 KiB: the least recently
     * used go first, and the bound holds. */
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "page%d", i);
        pf_lc_put(c, key, i, big, 4000, "\"p\"");
        if (i == 5) {
            ok(get(c, p, "a", &h), "a recently used answer...");
        }
        if (i > 5) {
            get(c, p, "a", &h); /* keep "a" in use */
        }
    }
    pf_lc_usage(c, &count, &bytes);
    ok(bytes <= 64 * 1024, "the bound holds (%zu bytes in %u answers)", bytes, count);
    ok(count >= 10 && count < 20, "as many 4 KB answers as fit are kept (%u)", count);
    ok(get(c, p, "page39", &h) && h.version == 39, "the newest answer is kept");
    ok(!get(c, p, "page0", &h), "the oldest is gone");
    ok(get(c, p, "a", &h) && h.version == 9, "...stays while it is used");

    /* Threads replacing and reading the same keys never see a torn entry. */
    {
        apr_thread_t *t[NTHREADS];
        apr_status_t rv, all = APR_SUCCESS;
        pf_lc *shared;
        pf_lc_create(&shared, p, 2048);
        for (int i = 0; i < NTHREADS; i++) {
            apr_thread_create(&t[i], NULL, hammer, shared, p);
        }
        for (int i = 0; i < NTHREADS; i++) {
            apr_thread_join(&rv, t[i]);
            if (rv != APR_SUCCESS) {
                all = rv;
            }
        }
        pf_lc_usage(shared, &count, &bytes);
        ok(all == APR_SUCCESS && bytes <= 2048,
           "%d threads: every answer read matched its key, bound held (%zu bytes)", NTHREADS,
           bytes);
    }

    /* One reader per page: the first asker leads, the others wait for it
     * and then find its answer; nobody else reads the page. */
    {
        pf_lc *fc;
        crowd w = { 0 };
        apr_thread_t *t[8];
        apr_status_t rv;
        apr_time_t t0;

        pf_lc_create(&fc, p, 64 * 1024);
        w.c = fc;
        ok(pf_lc_begin(fc, "page") == PF_LC_LEAD, "the first asker leads");
        for (int i = 0; i < 8; i++) {
            apr_thread_create(&t[i], NULL, asker, &w, p);
        }
        while (__atomic_load_n(&w.started, __ATOMIC_SEQ_CST) < 8) {
            apr_sleep(1000);
        }
        apr_sleep(apr_time_from_msec(200)); /* they are waiting now */
        ok(__atomic_load_n(&w.led, __ATOMIC_SEQ_CST) == 0
           && __atomic_load_n(&w.waited_and_found, __ATOMIC_SEQ_CST) == 0,
           "while the leader reads, the 8 others wait");
        pf_lc_put(fc, "page", 42, "{}", 2, "\"p\"");
        pf_lc_done(fc, "page");
        for (int i = 0; i < 8; i++) {
            apr_thread_join(&rv, t[i]);
        }
        ok(w.waited_and_found == 8 && w.led == 0 && w.alone == 0,
           "all 8 found the leader's answer (%d found, %d led)", w.waited_and_found, w.led);
        ok(pf_lc_begin(fc, "page") == PF_LC_LEAD, "once done, the next asker leads again");
        ok(pf_lc_begin(fc, "other") == PF_LC_LEAD, "another page has its own leader");
        ok(pf_lc_begin(fc, "page") == PF_LC_BUSY, "a second asker is told the page is busy");
        t0 = apr_time_now();
        pf_lc_wait(fc, "page", apr_time_from_msec(150));
        ok(apr_time_now() - t0 >= apr_time_from_msec(140),
           "a leader that never finishes holds a waiter only until its timeout");
        t0 = apr_time_now();
        pf_lc_wait(fc, "nobody", apr_time_from_sec(5));
        ok(apr_time_now() - t0 < apr_time_from_msec(100), "a page nobody reads: no wait");
        pf_lc_done(fc, "page");
        pf_lc_done(fc, "page"); /* a second done changes nothing */
        pf_lc_done(fc, "other");
        ok(pf_lc_begin(fc, "page") == PF_LC_LEAD, "done twice is harmless");
        pf_lc_done(fc, "page");
    }

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
