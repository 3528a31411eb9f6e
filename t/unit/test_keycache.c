/* Key cache: sizes, hits and misses by TTL, key expiry and generation,
 * forgetting, eviction of the oldest entry in a full set, a model check,
 * and several processes sharing one table: writers under a process-shared
 * lock, readers without one. */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS under -std=c11 */
#include "tap.h"
#include "pf_keycache.h"
#include "pf_key.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Key number n: its hash, and what the database would say about it. The
 * ids carry n, so a hit that returns another key's data is caught. */
static void make_hash(unsigned n, unsigned char h[PF_KC_HASH_LEN])
{
    char text[32];

    snprintf(text, sizeof(text), "key-%u", n);
    pf_sha256(text, strlen(text), h);
}

static void make_key(unsigned n, pf_kc_key *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->key_id, sizeof(k->key_id), "%08x-0000-4000-8000-%012x", n, n);
    snprintf(k->customer_id, sizeof(k->customer_id), "%08x-1111-4000-8000-%012x", n % 7,
             n % 7);
    k->scopes = 1u + n % PF_SCOPE_ALL;
    k->expires_at = 0;
}

static int same_key(const pf_kc_key *a, const pf_kc_key *b)
{
    return strcmp(a->key_id, b->key_id) == 0 && strcmp(a->customer_id, b->customer_id) == 0
           && a->scopes == b->scopes && a->expires_at == b->expires_at;
}

/* A hash whose set in t is the set of hash `like`: found by trying
 * numbers, as the set is a function of the hash only. */
static unsigned same_set_as(const pf_kc_table *t, unsigned like, unsigned start)
{
    unsigned char a[PF_KC_HASH_LEN], b[PF_KC_HASH_LEN];
    uint64_t ha, hb, nsets = pf_kc_capacity(t) / PF_KC_WAYS;

    make_hash(like, a);
    memcpy(&ha, a, 8);
    for (unsigned n = start;; n++) {
        make_hash(n, b);
        memcpy(&hb, b, 8);
        if (n != like && hb % nsets == ha % nsets) {
            return n;
        }
    }
}

static pf_kc_table *new_table(uint32_t nslots, void **mem)
{
    size_t size = pf_kc_size(nslots);

    *mem = malloc(size);
    return pf_kc_init(*mem, size, nslots);
}

static void test_sizes(void)
{
    unsigned char buf[64];
    void *mem;
    pf_kc_table *t;

    ok(pf_kc_size(0) == 0, "no table of zero slots");
    ok(pf_kc_size(PF_KC_MAX_SLOTS + 1) == 0, "no table above the maximum");
    ok(pf_kc_size(PF_KC_DEFAULT_SLOTS) > 0 && pf_kc_size(PF_KC_DEFAULT_SLOTS) < 2u * 1024 * 1024,
       "the default table fits in 2 MiB (%zu bytes)", pf_kc_size(PF_KC_DEFAULT_SLOTS));
    ok(pf_kc_init(buf, sizeof(buf), 10) == NULL, "too small a block is refused");
    t = new_table(10, &mem);
    ok(t != NULL && pf_kc_capacity(t) == 16, "10 slots make two sets of 8");
    ok(pf_kc_attach(mem, pf_kc_size(10), 10) == t, "attach finds the table again");
    ok(pf_kc_attach(mem, pf_kc_size(10), 11) == NULL, "attach refuses another size");
    ok(pf_kc_init((char *)mem + 1, pf_kc_size(10), 9) == NULL, "misaligned memory is refused");
    memset(mem, 0, 8);
    ok(pf_kc_attach(mem, pf_kc_size(10), 10) == NULL, "attach refuses a block without a table");
    free(mem);
}

static void test_hits_and_misses(void)
{
    void *mem;
    pf_kc_table *t = new_table(64, &mem);
    unsigned char h1[PF_KC_HASH_LEN], h2[PF_KC_HASH_LEN];
    pf_kc_key k1, k2, got;

    make_hash(1, h1);
    make_hash(2, h2);
    make_key(1, &k1);
    make_key(2, &k2);
    ok(pf_kc_get(t, h1, 1, 1000, 30, &got) == 0, "empty table: miss");
    ok(pf_kc_put(t, h1, 1, &k1, 1000, 1000) == PF_KC_STORED, "store key 1");
    memset(&got, 0, sizeof(got));
    ok(pf_kc_get(t, h1, 1, 1000, 30, &got) == 1 && same_key(&got, &k1),
       "hit returns what was stored");
    ok(pf_kc_get(t, h2, 1, 1000, 30, &got) == 0, "another key misses");
    h2[31] = h1[31];
    memcpy(h2, h1, 31);
    h2[31] ^= 1;
    ok(pf_kc_get(t, h2, 1, 1000, 30, &got) == 0, "a hash differing in its last bit misses");
    ok(pf_kc_get(t, h1, 1, 1029, 30, &got) == 1, "hit at age ttl - 1");
    ok(pf_kc_get(t, h1, 1, 1030, 30, &got) == 0, "miss at age ttl");
    ok(pf_kc_get(t, h1, 1, 1005, 5, &got) == 0, "a shorter ttl of the caller applies at once");
    ok(pf_kc_get(t, h1, 1, 1000, 0, &got) == 0, "ttl 0 never hits");
    ok(pf_kc_get(t, h1, 2, 1000, 30, &got) == 0, "another generation misses");
    ok(pf_kc_get(t, h1, 0, 1000, 30, &got) == 0, "generation 0 never hits");
    ok(pf_kc_put(t, h1, 0, &k1, 1000, 1000) == PF_KC_REFUSED, "generation 0 is not stored");
    ok(pf_kc_get(t, h1, 1, 999, 30, &got) == 0, "a clock stepped back misses");
    ok(pf_kc_live(t, 1, 1000, 30) == 1 && pf_kc_live(t, 1, 1030, 30) == 0, "live count");

    ok(pf_kc_put(t, h1, 1, &k1, 1020, 1020) == PF_KC_STORED, "a new lookup refreshes");
    ok(pf_kc_get(t, h1, 1, 1045, 30, &got) == 1, "refreshed: hit at 1045");
    ok(pf_kc_put(t, h1, 1, &k1, 1010, 1046) == PF_KC_KEPT,
       "a lookup that began earlier does not replace a later one");
    ok(pf_kc_get(t, h1, 1, 1049, 30, &got) == 1 && pf_kc_get(t, h1, 1, 1050, 30, &got) == 0,
       "the later entry's age still counts");
    ok(pf_kc_put(t, h1, 2, &k1, 1000, 1060) == PF_KC_STORED,
       "a new generation replaces the old one's entry");
    ok(pf_kc_get(t, h1, 1, 1060, 30, &got) == 0 && pf_kc_get(t, h1, 2, 1029, 30, &got) == 1,
       "and only the new generation sees it");
    free(mem);
}

static void test_expiry_and_refusals(void)
{
    void *mem;
    pf_kc_table *t = new_table(64, &mem);
    unsigned char h[PF_KC_HASH_LEN];
    pf_kc_key k, got;

    make_hash(7, h);
    make_key(7, &k);
    k.expires_at = 1010;
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_STORED, "a key expiring at 1010 is stored");
    ok(pf_kc_get(t, h, 1, 1009, 60, &got) == 1 && got.expires_at == 1010, "hit at 1009");
    ok(pf_kc_get(t, h, 1, 1010, 60, &got) == 0, "miss at its expiry, well within the TTL");
    ok(pf_kc_put(t, h, 1, &k, 1010, 1010) == PF_KC_REFUSED, "an expired key is not stored");
    k.expires_at = 999;
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_REFUSED, "nor one expired long ago");
    make_key(7, &k);
    k.key_id[0] = 'X';
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_REFUSED, "a malformed key id is refused");
    make_key(7, &k);
    k.customer_id[35] = '\0';
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_REFUSED, "a short customer id is refused");
    make_key(7, &k);
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_STORED, "stored without expiry");
    pf_kc_forget(t, h);
    ok(pf_kc_get(t, h, 1, 1000, 60, &got) == 0, "forgotten: miss");
    ok(pf_kc_live(t, 1, 1000, 60) == 0, "nothing live");
    free(mem);
}

static void test_eviction(void)
{
    void *mem;
    pf_kc_table *t = new_table(8, &mem); /* one set */
    unsigned char h[PF_KC_HASH_LEN];
    pf_kc_key k, got;
    int good = 1;

    for (unsigned i = 0; i < PF_KC_WAYS; i++) {
        make_hash(100 + i, h);
        make_key(100 + i, &k);
        /* Inserted newest first except one: the oldest is key 103. */
        good &= pf_kc_put(t, h, 1, &k, i == 3 ? 900 : 1000 - (int64_t)i, 1000) == PF_KC_STORED;
    }
    ok(good && pf_kc_live(t, 1, 1000, 200) == PF_KC_WAYS, "a full set of 8");
    make_hash(200, h);
    make_key(200, &k);
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_EVICTED, "a ninth evicts");
    make_hash(103, h);
    ok(pf_kc_get(t, h, 1, 1000, 200, &got) == 0, "the oldest (key 103) went");
    good = 1;
    for (unsigned i = 0; i < PF_KC_WAYS; i++) {
        if (i != 3) {
            make_hash(100 + i, h);
            make_key(100 + i, &k);
            good &= pf_kc_get(t, h, 1, 1000, 200, &got) == 1 && same_key(&got, &k);
        }
    }
    make_hash(200, h);
    make_key(200, &k);
    ok(good && pf_kc_get(t, h, 1, 1000, 200, &got) == 1 && same_key(&got, &k),
       "the other seven and the newcomer answer");

    /* A key whose own expiry passed is reused before anything live. */
    make_hash(101, h);
    make_key(101, &k);
    k.expires_at = 1001;
    ok(pf_kc_put(t, h, 1, &k, 1000, 1000) == PF_KC_STORED, "key 101 now expires at 1001");
    make_hash(201, h);
    make_key(201, &k);
    ok(pf_kc_put(t, h, 1, &k, 1001, 1001) == PF_KC_STORED, "a newcomer takes the expired entry");
    good = 1;
    for (unsigned i = 0; i < PF_KC_WAYS; i++) {
        if (i != 3 && i != 1) {
            make_hash(100 + i, h);
            good &= pf_kc_get(t, h, 1, 1001, 200, &got) == 1;
        }
    }
    ok(good, "without evicting a live one");

    /* Entries of an old generation are free for the new one. */
    make_hash(300, h);
    make_key(300, &k);
    ok(pf_kc_put(t, h, 2, &k, 1002, 1002) == PF_KC_STORED, "generation 2 stores into a full set");
    ok(pf_kc_live(t, 2, 1002, 200) == 1 && pf_kc_live(t, 1, 1002, 200) == PF_KC_WAYS - 1,
       "by taking a generation-1 entry");
    free(mem);
}

static void test_sets_fill_independently(void)
{
    void *mem;
    pf_kc_table *t = new_table(64, &mem); /* 8 sets */
    unsigned char h[PF_KC_HASH_LEN];
    pf_kc_key k, got;
    unsigned n = 1, members[PF_KC_WAYS + 1];
    int good = 1;

    members[0] = 1;
    for (int i = 1; i <= PF_KC_WAYS; i++) {
        n = same_set_as(t, 1, n + 1);
        members[i] = n;
    }
    for (int i = 0; i <= PF_KC_WAYS; i++) {
        make_hash(members[i], h);
        make_key(members[i], &k);
        good &= pf_kc_put(t, h, 1, &k, 1000 + i, 1000 + i)
                == (i < PF_KC_WAYS ? PF_KC_STORED : PF_KC_EVICTED);
    }
    ok(good, "nine keys of one set: the ninth evicts although other sets are empty");
    make_hash(members[0], h);
    ok(pf_kc_get(t, h, 1, 1010, 60, &got) == 0, "the set's oldest went");
    make_hash(members[PF_KC_WAYS], h);
    make_key(members[PF_KC_WAYS], &k);
    ok(pf_kc_get(t, h, 1, 1010, 60, &got) == 1 && same_key(&got, &k), "the newest answers");
    ok(pf_kc_live(t, 1, 1010, 60) == PF_KC_WAYS, "8 live entries in all");
    free(mem);
}

/* Random puts, gets and forgets against a plain model of what may answer.
 * A hit must always be the model's entry (never stale, expired, forgotten,
 * another generation's or another key's); while nothing was evicted every
 * entry the model holds must hit too. */
typedef struct {
    int present;
    pf_kc_key key;
    uint32_t gen;
    int64_t fetched_at;
} model_entry;

static uint64_t rng_state = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void run_model(uint32_t nslots, unsigned nkeys, int steps, int *wrong_hits,
                      int *missed, int *evictions, int *hits)
{
    void *mem;
    pf_kc_table *t = new_table(nslots, &mem);
    model_entry *m = calloc(nkeys, sizeof(*m));
    int64_t now = 5000;
    uint32_t gen = 1, ttl = 7;

    *wrong_hits = *missed = *evictions = *hits = 0;
    for (int step = 0; step < steps; step++) {
        unsigned n = rnd(nkeys), op = rnd(10);
        unsigned char h[PF_KC_HASH_LEN];
        pf_kc_key k, got;
        model_entry *e = &m[n];

        if (rnd(16) == 0) {
            now += 1 + rnd(3);
        }
        if (rnd(5000) == 0) {
            gen++;
        }
        make_hash(n, h);
        if (op < 3) {
            int64_t fetched = now - rnd(3);
            pf_kc_put_result res;

            make_key(n, &k);
            k.expires_at = rnd(4) == 0 ? now + rnd(6) : 0;
            res = pf_kc_put(t, h, gen, &k, fetched, now);
            if (res == PF_KC_STORED || res == PF_KC_EVICTED) {
                e->present = 1;
                e->key = k;
                e->gen = gen;
                e->fetched_at = fetched;
            }
            else if (res == PF_KC_REFUSED && !(k.expires_at != 0 && k.expires_at <= now)) {
                (*wrong_hits)++; /* refused a valid key */
            }
            else if (res == PF_KC_KEPT && !(e->present && e->gen == gen
                                            && e->fetched_at > fetched)) {
                (*wrong_hits)++;
            }
            *evictions += res == PF_KC_EVICTED;
        }
        else if (op < 4) {
            pf_kc_forget(t, h);
            e->present = 0;
        }
        else {
            int want = e->present && e->gen == gen && now >= e->fetched_at
                       && now - e->fetched_at < (int64_t)ttl
                       && (e->key.expires_at == 0 || now < e->key.expires_at);
            int got_hit = pf_kc_get(t, h, gen, now, ttl, &got);

            *hits += got_hit;
            if (got_hit && (!want || !same_key(&got, &e->key))) {
                (*wrong_hits)++;
            }
            if (want && !got_hit) {
                (*missed)++;
            }
        }
    }
    free(m);
    free(mem);
}

static void test_model(void)
{
    int wrong, missed, evictions, hits;

    run_model(4096, 200, 300000, &wrong, &missed, &evictions, &hits);
    ok(wrong == 0 && evictions == 0 && missed == 0 && hits > 10000,
       "roomy table: 300000 random steps agree with the model (%d hits)", hits);
    run_model(32, 200, 300000, &wrong, &missed, &evictions, &hits);
    ok(wrong == 0 && evictions > 1000 && hits > 1000,
       "crowded table: no wrong hit in 300000 steps (%d evictions, %d misses by eviction, "
       "%d hits)", evictions, missed, hits);
}

/* Several processes, one table in an anonymous shared mapping, one
 * process-shared mutex: the httpd layout without httpd. */
typedef struct {
    pthread_mutex_t lock;
    volatile int arrived[2];
    int wrong[8];
    int hits[8];
    int parent_seen[8];
} shared_head;

/* Every child waits here until all have come: phases do not overlap. */
static void barrier(shared_head *sh, int which, int n)
{
    pthread_mutex_lock(&sh->lock);
    sh->arrived[which]++;
    pthread_mutex_unlock(&sh->lock);
    while (sh->arrived[which] < n) {
        sched_yield();
    }
}

/* One set rewritten without pause by a writer thread (each store evicts
 * the oldest of the set's entries, so ways go straight from one key to
 * another) while a reader looks the keys up: every hit must carry the
 * data of the key asked for, never words of another (a torn read). */
enum { CHURN_KEYS = 3 * PF_KC_WAYS };

struct churn {
    pf_kc_table *t;
    _Atomic int stop;
    _Atomic int64_t clock;
};

static void *churn_writer(void *data)
{
    struct churn *c = data;
    unsigned char h[CHURN_KEYS][PF_KC_HASH_LEN];
    pf_kc_key k[CHURN_KEYS];

    for (unsigned n = 0; n < CHURN_KEYS; n++) {
        make_hash(n, h[n]);
        make_key(n, &k[n]);
    }
    for (int64_t i = 1; !atomic_load(&c->stop); i++) {
        pf_kc_put(c->t, h[i % CHURN_KEYS], 1, &k[i % CHURN_KEYS], i, i);
        atomic_store(&c->clock, i);
    }
    return NULL;
}

static void test_readers_beside_a_writer(void)
{
    enum { READS = 3000000 };
    void *mem;
    struct churn c = { .t = new_table(PF_KC_WAYS, &mem) }; /* one set */
    unsigned char h[CHURN_KEYS][PF_KC_HASH_LEN];
    pf_kc_key k[CHURN_KEYS], got;
    pthread_t w;
    long hits = 0, bad = 0;

    for (unsigned n = 0; n < CHURN_KEYS; n++) {
        make_hash(n, h[n]);
        make_key(n, &k[n]);
    }
    pthread_create(&w, NULL, churn_writer, &c);
    for (long i = 0; i < READS; i++) {
        unsigned n = (unsigned)(i % CHURN_KEYS);

        if (pf_kc_get(c.t, h[n], 1, atomic_load(&c.clock), 1u << 30, &got)) {
            hits++;
            bad += !same_key(&got, &k[n]);
        }
    }
    atomic_store(&c.stop, 1);
    pthread_join(w, NULL);
    ok(bad == 0 && hits > 1000,
       "%d lookups beside a writer evicting in their set: %ld hits, %ld torn", READS, hits,
       bad);
    free(mem);
}

static void test_processes(void)
{
    enum { NPROC = 4, NSLOTS = 512, STEPS = 200000, OWN = 20 };
    size_t head = (sizeof(shared_head) + 63) & ~(size_t)63;
    size_t tsize = pf_kc_size(NSLOTS);
    void *map = mmap(NULL, head + tsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared_head *sh = map;
    pthread_mutexattr_t attr;
    pf_kc_table *t;
    unsigned char h[PF_KC_HASH_LEN];
    pf_kc_key k, got;
    int children_ok = 1, wrong = 0, seen_from_parent = 1, seen_from_children = 1, hits = 0;

    if (map == MAP_FAILED) {
        ok(0, "mmap");
        return;
    }
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&sh->lock, &attr);
    t = pf_kc_init((char *)map + head, tsize, NSLOTS);
    /* Stored by the parent before the children exist. */
    for (unsigned n = 0; n < 20; n++) {
        make_hash(n, h);
        make_key(n, &k);
        pf_kc_put(t, h, 1, &k, 100, 100);
    }
    for (int p = 0; p < NPROC; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            pf_kc_table *ct = pf_kc_attach((char *)map + head, tsize, NSLOTS);
            int bad = 0, nhit = 0, parent_seen = 1;
            uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(p + 1);

            if (!ct) {
                _exit(1);
            }
            for (unsigned n = 0; n < 20; n++) {
                make_hash(n, h);
                make_key(n, &k);
                pthread_mutex_lock(&sh->lock);
                parent_seen &= pf_kc_get(ct, h, 1, 101, 60, &got) == 1 && same_key(&got, &k);
                pthread_mutex_unlock(&sh->lock);
            }
            barrier(sh, 0, NPROC);
            /* Shared keys 20..2019 under heavy eviction: any hit must be the
             * key's own data, whoever stored it. */
            for (int i = 0; i < STEPS; i++) {
                unsigned n;

                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                n = 20 + (unsigned)(seed % 2000);
                make_hash(n, h);
                if (seed & 0x100) {
                    make_key(n, &k);
                    pthread_mutex_lock(&sh->lock);
                    pf_kc_put(ct, h, 1, &k, 100, 100);
                    pthread_mutex_unlock(&sh->lock);
                }
                else if ((seed & 0xf000) == 0) {
                    pthread_mutex_lock(&sh->lock);
                    pf_kc_forget(ct, h);
                    pthread_mutex_unlock(&sh->lock);
                }
                else if (pf_kc_get(ct, h, 1, 100, 60, &got)) {
                    /* no lock: readers run beside the writers */
                    make_key(n, &k);
                    nhit++;
                    bad += !same_key(&got, &k);
                }
            }
            /* Then each child stores keys of its own for the parent to find
             * (after the others stopped: generation 1 takes generation 2's
             * entries as free). */
            barrier(sh, 1, NPROC);
            for (unsigned j = 0; j < OWN; j++) {
                unsigned n = 100000 + (unsigned)p * 1000 + j;
                make_hash(n, h);
                make_key(n, &k);
                pthread_mutex_lock(&sh->lock);
                pf_kc_put(ct, h, 2, &k, 100, 100);
                pthread_mutex_unlock(&sh->lock);
            }
            sh->wrong[p] = bad;
            sh->parent_seen[p] = parent_seen;
            sh->hits[p] = nhit;
            _exit(0);
        }
    }
    for (int p = 0; p < NPROC; p++) {
        int st = 0;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            children_ok = 0;
        }
    }
    for (int p = 0; p < NPROC; p++) {
        wrong += sh->wrong[p];
        hits += sh->hits[p];
        seen_from_parent &= sh->parent_seen[p];
        for (unsigned j = 0; j < OWN; j++) {
            unsigned n = 100000 + (unsigned)p * 1000 + j;
            make_hash(n, h);
            make_key(n, &k);
            seen_from_children &= pf_kc_get(t, h, 2, 100, 60, &got) == 1 && same_key(&got, &k);
        }
    }
    ok(children_ok, "%d children ran", NPROC);
    ok(seen_from_parent, "every child found the 20 keys the parent stored");
    ok(wrong == 0 && hits > 10000,
       "%d processes x %d steps on one crowded table, lookups without the lock: %d hits, "
       "none with another key's data", NPROC, STEPS, hits);
    ok(seen_from_children, "the parent finds the %d keys each child stored (generation 2)", OWN);
    pthread_mutex_destroy(&sh->lock);
    munmap(map, head + tsize);
}

int main(void)
{
    test_sizes();
    test_hits_and_misses();
    test_expiry_and_refusals();
    test_eviction();
    test_sets_fill_independently();
    test_model();
    test_readers_beside_a_writer();
    test_processes();
    return tap_done();
}
