/* Rate-limit table: window arithmetic, reset, independence, slot reuse,
 * full table, a model check, and exact counting by several processes
 * sharing one table under a process-shared lock. */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS under -std=c11 */
#include "tap.h"
#include "pf_ratelimit.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void make_id(unsigned n, unsigned char id[PF_RL_ID_LEN])
{
    memset(id, 0, PF_RL_ID_LEN);
    /* Sequential ids: the table must not rely on ids looking random. */
    id[15] = (unsigned char)n;
    id[14] = (unsigned char)(n >> 8);
    id[13] = (unsigned char)(n >> 16);
}

static pf_rl_table *new_table(uint32_t nslots, void **mem)
{
    size_t size = pf_rl_size(nslots);

    *mem = malloc(size);
    return pf_rl_init(*mem, size, nslots);
}

static void test_sizes(void)
{
    unsigned char buf[64];
    void *mem;
    pf_rl_table *t;

    ok(pf_rl_size(0) == 0, "no table of zero slots");
    ok(pf_rl_size(PF_RL_MAX_SLOTS + 1) == 0, "no table above the maximum");
    ok(pf_rl_size(PF_RL_DEFAULT_SLOTS) > 0 && pf_rl_size(PF_RL_DEFAULT_SLOTS) < 8u * 1024 * 1024,
       "the default table fits in 8 MiB (%zu bytes)", pf_rl_size(PF_RL_DEFAULT_SLOTS));
    ok(pf_rl_init(buf, sizeof(buf), 10) == NULL, "too small a block is refused");
    t = new_table(10, &mem);
    ok(t != NULL, "init");
    ok(pf_rl_attach(mem, pf_rl_size(10), 10) == t, "attach finds the table again");
    ok(pf_rl_attach(mem, pf_rl_size(10), 11) == NULL, "attach refuses another size");
    ok(pf_rl_init((char *)mem + 1, pf_rl_size(10), 9) == NULL, "misaligned memory is refused");
    free(mem);
}

static void test_window(void)
{
    void *mem;
    pf_rl_table *t = new_table(16, &mem);
    unsigned char k[PF_RL_ID_LEN];
    pf_rl_result r;
    pf_rl_verdict v;
    int good = 1;

    make_id(1, k);
    v = pf_rl_hit(t, k, 0, 3, 10, 1000, &r);
    ok(v == PF_RL_COUNTED && r.limit == 3 && r.remaining == 2 && r.reset == 1010,
       "first request opens the window: remaining 2, reset at 1010");
    v = pf_rl_hit(t, k, 0, 3, 10, 1004, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 1 && r.reset == 1010,
       "second: remaining 1, same reset");
    v = pf_rl_hit(t, k, 0, 3, 10, 1009, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 0, "third: remaining 0");
    v = pf_rl_hit(t, k, 0, 3, 10, 1009, &r);
    ok(v == PF_RL_OVER && r.remaining == 0 && r.retry_after == 1 && r.reset == 1010,
       "fourth is over, retry after 1 s");
    for (int i = 0; i < 50; i++) {
        v = pf_rl_hit(t, k, 0, 3, 10, 1009, &r);
        good &= v == PF_RL_OVER;
    }
    ok(good && pf_rl_peek(t, k, 0, 1009) == 3, "refused requests use no quota (count stays 3)");
    v = pf_rl_hit(t, k, 0, 3, 10, 1010, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 2 && r.reset == 1020,
       "at the reset second a new window opens");
    v = pf_rl_hit(t, k, 0, 3, 10, 1100, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 2 && r.reset == 1110,
       "after a pause the window starts at the next request, not on a grid");
    ok(pf_rl_peek(t, k, 0, 1110) == 0, "peek sees no open window after it ended");
    /* A raised limit (graceful restart) counts from what was used. */
    pf_rl_hit(t, k, 0, 3, 10, 1101, &r);
    pf_rl_hit(t, k, 0, 3, 10, 1102, &r);
    v = pf_rl_hit(t, k, 0, 3, 10, 1103, &r);
    ok(v == PF_RL_OVER, "spent");
    v = pf_rl_hit(t, k, 0, 5, 10, 1103, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 1, "a raised limit gives exactly the difference");
    v = pf_rl_hit(t, k, 0, 2, 10, 1103, &r);
    ok(v == PF_RL_OVER && r.remaining == 0, "a lowered limit below the count: over, remaining 0");
    v = pf_rl_hit(t, k, 0, 1, 60, 1200, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 0 && r.reset == 1260, "limit 1 per 60 s");
    v = pf_rl_hit(t, k, 0, 1, 60, 1259, &r);
    ok(v == PF_RL_OVER && r.retry_after == 1, "retry-after is at least 1");
    ok(pf_rl_check(t) == 0, "table consistent");
    free(mem);
}

static void test_independence(void)
{
    void *mem;
    pf_rl_table *t = new_table(16, &mem);
    unsigned char a[PF_RL_ID_LEN], b[PF_RL_ID_LEN];
    pf_rl_result r;

    make_id(1, a);
    make_id(2, b);
    pf_rl_hit(t, a, 0, 2, 100, 0, &r);
    pf_rl_hit(t, a, 0, 2, 100, 0, &r);
    ok(pf_rl_hit(t, a, 0, 2, 100, 1, &r) == PF_RL_OVER, "key a spent");
    ok(pf_rl_hit(t, b, 0, 2, 100, 1, &r) == PF_RL_COUNTED && r.remaining == 1,
       "key b untouched by a");
    ok(pf_rl_hit(t, a, 7, 2, 100, 1, &r) == PF_RL_COUNTED && r.remaining == 1,
       "key a on another server counts separately");
    ok(pf_rl_hit(t, a, 0, 2, 100, 2, &r) == PF_RL_OVER, "key a on the first server still spent");
    ok(pf_rl_used(t) == 3, "three pairs, three slots");
    ok(pf_rl_check(t) == 0, "table consistent");
    free(mem);
}

static void test_reuse_and_full(void)
{
    void *mem;
    pf_rl_table *t = new_table(2, &mem);
    unsigned char a[PF_RL_ID_LEN], b[PF_RL_ID_LEN], c[PF_RL_ID_LEN];
    pf_rl_result r;
    pf_rl_verdict v;
    int good = 1;

    make_id(10, a);
    make_id(11, b);
    make_id(12, c);
    ok(pf_rl_hit(t, a, 0, 5, 10, 100, &r) == PF_RL_COUNTED, "a takes a slot (ends 110)");
    ok(pf_rl_hit(t, b, 0, 5, 10, 105, &r) == PF_RL_COUNTED, "b takes the other (ends 115)");
    v = pf_rl_hit(t, c, 0, 5, 10, 109, &r);
    ok(v == PF_RL_FULL && r.first_full && r.limit == 5 && r.remaining == 4 && r.reset == 119,
       "c finds the table full; reported once, headers as for a fresh window");
    v = pf_rl_hit(t, c, 0, 5, 10, 109, &r);
    ok(v == PF_RL_FULL && !r.first_full, "full again, not reported again");
    ok(pf_rl_hit(t, a, 0, 5, 10, 109, &r) == PF_RL_COUNTED && r.remaining == 3,
       "keys with a slot keep counting while the table is full");
    v = pf_rl_hit(t, c, 0, 5, 10, 110, &r);
    ok(v == PF_RL_COUNTED && r.remaining == 4 && r.reset == 120,
       "c reuses a's slot once a's window ended");
    ok(pf_rl_hit(t, b, 0, 5, 10, 110, &r) == PF_RL_COUNTED && r.remaining == 3,
       "b kept its slot and its count");
    ok(pf_rl_hit(t, a, 0, 5, 10, 111, &r) == PF_RL_FULL, "a lost its expired slot: full now");
    ok(pf_rl_hit(t, a, 0, 5, 10, 115, &r) == PF_RL_COUNTED && r.remaining == 4,
       "a comes back fresh in b's expired slot");
    ok(pf_rl_peek(t, b, 0, 115) == 0, "b's window is gone");
    ok(pf_rl_used(t) == 2 && pf_rl_check(t) == 0, "still two slots, consistent");
    for (int i = 0; i < 1000; i++) {
        unsigned char k[PF_RL_ID_LEN];
        make_id(100 + (unsigned)i, k);
        good &= pf_rl_hit(t, k, 0, 5, 1, 1000 + i, &r) == PF_RL_COUNTED;
    }
    ok(good && pf_rl_check(t) == 0, "1000 keys through 2 slots, one per second: all counted");
    free(mem);
}

static void test_many_keys(void)
{
    const uint32_t n = 5000;
    void *mem;
    pf_rl_table *t = new_table(n, &mem);
    unsigned char k[PF_RL_ID_LEN];
    pf_rl_result r;
    int good = 1;

    for (uint32_t i = 0; i < n; i++) {
        make_id(i, k);
        good &= pf_rl_hit(t, k, 3, 10, 60, 0, &r) == PF_RL_COUNTED;
    }
    ok(good, "%u keys fill %u slots", n, n);
    make_id(n, k);
    ok(pf_rl_hit(t, k, 3, 10, 60, 59, &r) == PF_RL_FULL, "one more is full");
    good = 1;
    for (uint32_t i = 0; i < n; i++) {
        make_id(i, k);
        good &= pf_rl_hit(t, k, 3, 10, 60, 30, &r) == PF_RL_COUNTED && r.remaining == 8;
    }
    ok(good, "every key found again with its count");
    good = 1;
    for (uint32_t i = 0; i < n; i++) {
        make_id(n + i, k);
        good &= pf_rl_hit(t, k, 3, 10, 60, 60, &r) == PF_RL_COUNTED && r.remaining == 9;
    }
    ok(good && pf_rl_used(t) == n, "after expiry %u new keys reuse every slot", n);
    make_id(0, k);
    ok(pf_rl_peek(t, k, 3, 60) == 0 && pf_rl_hit(t, k, 3, 10, 60, 61, &r) == PF_RL_FULL,
       "an old key has no slot left");
    ok(pf_rl_check(t) == 0, "table consistent");
    free(mem);
}

/* A plain model: a pair is live while its window is open; a new pair gets a
 * slot while fewer than nslots pairs are live. Which expired slot is reused
 * cannot change any answer, so the model need not know. */
typedef struct {
    int64_t reset;
    uint32_t count;
} model_entry;

static uint64_t rng_state = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void test_model(void)
{
    enum { NKEYS = 24, NSERVERS = 2, NSLOTS = 16, STEPS = 200000 };
    void *mem;
    pf_rl_table *t = new_table(NSLOTS, &mem);
    model_entry m[NKEYS][NSERVERS];
    int64_t now = 1000;
    int mismatches = 0, checks_bad = 0, full = 0, over = 0;

    memset(m, 0, sizeof(m));
    for (int step = 0; step < STEPS; step++) {
        uint32_t key = rnd(NKEYS), srv = rnd(NSERVERS);
        uint32_t limit = srv == 0 ? 3 : 5, window = srv == 0 ? 4 : 9;
        unsigned char id[PF_RL_ID_LEN];
        model_entry *e = &m[key][srv];
        pf_rl_result r;
        pf_rl_verdict want, got;
        int live = 0;

        if (rnd(8) == 0) {
            now += rnd(3);
        }
        for (int i = 0; i < NKEYS; i++) {
            for (int j = 0; j < NSERVERS; j++) {
                live += m[i][j].reset > now;
            }
        }
        if (e->reset > now) {
            want = e->count < limit ? PF_RL_COUNTED : PF_RL_OVER;
        }
        else if (live < NSLOTS) {
            e->reset = now + window;
            e->count = 0;
            want = PF_RL_COUNTED;
        }
        else {
            want = PF_RL_FULL;
        }
        if (want == PF_RL_COUNTED) {
            e->count++;
        }
        make_id(key, id);
        got = pf_rl_hit(t, id, srv * 1000003u, limit, window, now, &r);
        full += got == PF_RL_FULL;
        over += got == PF_RL_OVER;
        if (got != want || (want != PF_RL_FULL && (r.reset != e->reset
                                                   || r.remaining != limit - e->count))) {
            if (mismatches++ < 5) {
                printf("# step %d: key %u srv %u now %lld: got %d want %d\n", step, key, srv,
                       (long long)now, (int)got, (int)want);
            }
        }
        if (step % 997 == 0) {
            checks_bad += pf_rl_check(t) != 0;
        }
    }
    ok(mismatches == 0, "200000 random requests agree with the model (%d full, %d over)", full,
       over);
    ok(full > 0 && over > 0, "the run went through full tables and spent windows");
    ok(checks_bad == 0 && pf_rl_check(t) == 0, "table consistent throughout");
    free(mem);
}

static void test_ids(void)
{
    ok(pf_rl_name_hash("a") == 0xe40c292cu, "FNV-1a of 'a'");
    ok(pf_rl_name_hash("www.example.com:443") != pf_rl_name_hash("www.example.com:80"),
       "server names differ");
}

/* Several processes, one table in an anonymous shared mapping, one
 * process-shared mutex: the httpd layout without httpd. */
typedef struct {
    pthread_mutex_t lock;
    volatile int go; /* children start together, so they contend */
    uint32_t counted[8];
} shared_head;

static void test_processes(void)
{
    enum { NPROC = 4, PER_PROC = 200000, LIMIT = 500000 };
    size_t head = (sizeof(shared_head) + 63) & ~(size_t)63;
    size_t tsize = pf_rl_size(64);
    void *map = mmap(NULL, head + tsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared_head *sh = map;
    pthread_mutexattr_t attr;
    pf_rl_table *t;
    unsigned char k[PF_RL_ID_LEN], other[PF_RL_ID_LEN];
    uint32_t total = 0;
    int children_ok = 1, spread = 0;

    if (map == MAP_FAILED) {
        ok(0, "mmap");
        return;
    }
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&sh->lock, &attr);
    t = pf_rl_init((char *)map + head, tsize, 64);
    make_id(42, k);
    make_id(43, other);
    for (int p = 0; p < NPROC; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* The child maps the same table: find it again as httpd's
             * children do, then hammer one key. */
            pf_rl_table *ct = pf_rl_attach((char *)map + head, tsize, 64);
            uint32_t n = 0;
            while (!sh->go) {
                sched_yield();
            }
            for (int i = 0; ct && i < PER_PROC; i++) {
                pf_rl_result r;
                pthread_mutex_lock(&sh->lock);
                n += pf_rl_hit(ct, k, 1, LIMIT, 3600, 5000, &r) == PF_RL_COUNTED;
                if (i % 100 == 0) {
                    pf_rl_hit(ct, other, 1, 1000000, 3600, 5000, &r);
                }
                pthread_mutex_unlock(&sh->lock);
            }
            sh->counted[p] = n;
            _exit(ct ? 0 : 1);
        }
    }
    sh->go = 1;
    for (int p = 0; p < NPROC; p++) {
        int st = 0;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            children_ok = 0;
        }
    }
    for (int p = 0; p < NPROC; p++) {
        total += sh->counted[p];
        spread += sh->counted[p] > 0;
    }
    ok(children_ok, "%d children ran", NPROC);
    ok(total == LIMIT, "%d processes x %d requests against %d: exactly %u counted", NPROC,
       PER_PROC, LIMIT, total);
    printf("# counted per process: %u %u %u %u\n", sh->counted[0], sh->counted[1],
           sh->counted[2], sh->counted[3]);
    ok(spread >= 2, "the quota was shared by %d processes", spread);
    ok(pf_rl_peek(t, k, 1, 5000) == LIMIT, "the shared count is the limit");
    ok(pf_rl_peek(t, other, 1, 5000) == NPROC * (PER_PROC / 100), "a second key counted exactly");
    ok(pf_rl_check(t) == 0, "table consistent");
    pthread_mutex_destroy(&sh->lock);
    munmap(map, head + tsize);
}

int main(void)
{
    test_sizes();
    test_window();
    test_independence();
    test_reuse_and_full();
    test_many_keys();
    test_model();
    test_ids();
    test_processes();
    return tap_done();
}
