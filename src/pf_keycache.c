#include "pf_keycache.h"
#include "pf_key.h"

#include <stdatomic.h>
#include <string.h>

#define KC_MAGIC  0x50464b43u /* "PFKC" */
#define KC_LAYOUT 2u
#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

struct pf_kc_table {
    uint32_t magic;
    uint32_t layout;
    uint32_t nslots; /* as asked for: attach checks it */
    uint32_t nsets;
    uint64_t size;
};

typedef struct {
    unsigned char hash[PF_KC_HASH_LEN];
    int64_t fetched_at;
    int64_t expires_at;
    uint32_t gen; /* 0: empty */
    uint32_t scopes;
    char key_id[40];
    char customer_id[40];
} kc_entry;

/* Readers take no lock. Each set carries a sequence number, odd while a
 * writer (serialised by the caller's lock) changes the set; a reader
 * copies the set and keeps the copy only if the number was even and the
 * same before and after (a seqlock). Entries are stored as words read and
 * written atomically (relaxed), so a reader racing a writer sees a mix of
 * old and new words, which the number then discards, never undefined
 * behaviour. Being lock-free across processes needs lock-free 64-bit
 * atomics, which every platform httpd runs on here has. */
#define KC_WORDS (sizeof(kc_entry) / 8u)
_Static_assert(sizeof(kc_entry) % 8u == 0, "kc_entry is whole words");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics are lock-free");

typedef struct {
    _Atomic uint64_t seq;
    _Atomic uint64_t words[PF_KC_WAYS][KC_WORDS];
} kc_set;

/* A reader that finds a writer in the set this many times in a row gives
 * up and misses (the database answers); writers hold a set for a few
 * dozen stores. */
#define KC_READ_TRIES 64

static int layout_of(uint32_t nslots, uint32_t *nsets, size_t *total)
{
    if (nslots == 0 || nslots > PF_KC_MAX_SLOTS) {
        return -1;
    }
    *nsets = (nslots + PF_KC_WAYS - 1) / PF_KC_WAYS;
    *total = ALIGN8(sizeof(struct pf_kc_table)) + (size_t)*nsets * sizeof(kc_set);
    return 0;
}

static kc_set *sets_of(const pf_kc_table *t)
{
    return (kc_set *)((uintptr_t)t + ALIGN8(sizeof(struct pf_kc_table)));
}

/* The hash is SHA-256 of a random key: any 8 of its bytes are uniform. */
static kc_set *set_of(const pf_kc_table *t, const unsigned char *hash)
{
    uint64_t h;

    memcpy(&h, hash, sizeof(h));
    return sets_of(t) + (size_t)(h % t->nsets);
}

/* A consistent copy of the set's entries: 1, or 0 when writers kept it
 * busy for KC_READ_TRIES tries. */
static int load_set(const kc_set *set, kc_entry out[PF_KC_WAYS])
{
    kc_set *s = (kc_set *)set; /* atomic loads take non-const pointers */

    for (int tries = 0; tries < KC_READ_TRIES; tries++) {
        uint64_t before = atomic_load_explicit(&s->seq, memory_order_acquire);

        if (before & 1u) {
            continue;
        }
        for (int w = 0; w < PF_KC_WAYS; w++) {
            for (size_t i = 0; i < KC_WORDS; i++) {
                uint64_t v = atomic_load_explicit(&s->words[w][i], memory_order_relaxed);

                memcpy((char *)&out[w] + i * 8u, &v, 8u);
            }
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == before) {
            return 1;
        }
    }
    return 0;
}

/* Writes one entry of the set (under the caller's lock). The sequence is
 * made odd first, even again after, whatever a writer that died inside
 * the set left it at. */
static void store_entry(kc_set *s, int way, const kc_entry *e)
{
    uint64_t q = atomic_load_explicit(&s->seq, memory_order_relaxed) | 1u;

    atomic_store_explicit(&s->seq, q, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < KC_WORDS; i++) {
        uint64_t v;

        memcpy(&v, (const char *)e + i * 8u, 8u);
        atomic_store_explicit(&s->words[way][i], v, memory_order_relaxed);
    }
    atomic_store_explicit(&s->seq, q + 1u, memory_order_release);
}

size_t pf_kc_size(uint32_t nslots)
{
    uint32_t nsets;
    size_t total;

    return layout_of(nslots, &nsets, &total) == 0 ? total : 0;
}

pf_kc_table *pf_kc_init(void *mem, size_t size, uint32_t nslots)
{
    uint32_t nsets;
    size_t total;
    pf_kc_table *t = mem;

    if (!mem || ((uintptr_t)mem & 7u) || layout_of(nslots, &nsets, &total) != 0
        || size < total) {
        return NULL;
    }
    memset(mem, 0, total);
    t->layout = KC_LAYOUT;
    t->nslots = nslots;
    t->nsets = nsets;
    t->size = total;
    t->magic = KC_MAGIC;
    return t;
}

pf_kc_table *pf_kc_attach(void *mem, size_t size, uint32_t nslots)
{
    uint32_t nsets;
    size_t total;
    const pf_kc_table *t = mem;

    if (!mem || ((uintptr_t)mem & 7u) || layout_of(nslots, &nsets, &total) != 0
        || size < total) {
        return NULL;
    }
    if (t->magic != KC_MAGIC || t->layout != KC_LAYOUT || t->nslots != nslots
        || t->nsets != nsets || t->size != total) {
        return NULL;
    }
    return mem;
}

uint32_t pf_kc_capacity(const pf_kc_table *t)
{
    return t->nsets * PF_KC_WAYS;
}

static int answers(const kc_entry *e, uint32_t gen, int64_t now, uint32_t ttl)
{
    /* A clock stepped back (now < fetched_at) must not lengthen a life. */
    return gen != 0 && e->gen == gen && now >= e->fetched_at
           && now - e->fetched_at < (int64_t)ttl && (e->expires_at == 0 || now < e->expires_at);
}

int pf_kc_get(const pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN], uint32_t gen,
              int64_t now, uint32_t ttl, pf_kc_key *out)
{
    kc_entry set[PF_KC_WAYS];
    const kc_entry *hit = NULL;

    if (!load_set(set_of(t, hash), set)) {
        return 0;
    }
    /* Every way is compared, in constant time, so the time taken tells
     * nothing about how much of a stored hash matched. */
    for (int w = 0; w < PF_KC_WAYS; w++) {
        if (pf_ct_equal(set[w].hash, hash, PF_KC_HASH_LEN) && set[w].gen != 0) {
            hit = &set[w];
        }
    }
    if (!hit || !answers(hit, gen, now, ttl)) {
        return 0;
    }
    memcpy(out->key_id, hit->key_id, sizeof(out->key_id));
    memcpy(out->customer_id, hit->customer_id, sizeof(out->customer_id));
    out->key_id[sizeof(out->key_id) - 1] = '\0';
    out->customer_id[sizeof(out->customer_id) - 1] = '\0';
    out->scopes = hit->scopes;
    out->expires_at = hit->expires_at;
    return 1;
}

pf_kc_put_result pf_kc_put(pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN],
                           uint32_t gen, const pf_kc_key *key, int64_t fetched_at, int64_t now)
{
    kc_set *s = set_of(t, hash);
    kc_entry set[PF_KC_WAYS], *e = NULL;
    pf_kc_put_result res = PF_KC_STORED;

    if (gen == 0 || (key->expires_at != 0 && key->expires_at <= now)
        || !pf_is_uuid(key->key_id, 0) || !pf_is_uuid(key->customer_id, 0)) {
        return PF_KC_REFUSED;
    }
    /* The caller's lock keeps other writers out: the copy is exact. */
    (void)load_set(s, set);
    /* The same key again, whichever generation stored it: at most one
     * entry per key, so a forget finds them all. */
    for (int w = 0; w < PF_KC_WAYS && !e; w++) {
        if (set[w].gen != 0 && pf_ct_equal(set[w].hash, hash, PF_KC_HASH_LEN)) {
            e = &set[w];
        }
    }
    if (e && e->gen == gen && e->fetched_at > fetched_at) {
        return PF_KC_KEPT;
    }
    /* Else an entry that cannot answer anyone of this generation: empty,
     * of another generation, or past its key's expiry. */
    for (int w = 0; w < PF_KC_WAYS && !e; w++) {
        if (set[w].gen != gen || (set[w].expires_at != 0 && set[w].expires_at <= now)) {
            e = &set[w];
        }
    }
    /* Else the oldest: entries past the TTL are older than any live one. */
    if (!e) {
        e = &set[0];
        for (int w = 1; w < PF_KC_WAYS; w++) {
            if (set[w].fetched_at < e->fetched_at) {
                e = &set[w];
            }
        }
        res = PF_KC_EVICTED;
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->hash, hash, PF_KC_HASH_LEN);
    memcpy(e->key_id, key->key_id, 36);
    memcpy(e->customer_id, key->customer_id, 36);
    e->scopes = key->scopes;
    e->expires_at = key->expires_at;
    e->fetched_at = fetched_at;
    e->gen = gen;
    store_entry(s, (int)(e - set), e);
    return res;
}

void pf_kc_forget(pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN])
{
    kc_set *s = set_of(t, hash);
    kc_entry set[PF_KC_WAYS];
    static const kc_entry empty;

    (void)load_set(s, set);
    for (int w = 0; w < PF_KC_WAYS; w++) {
        if (set[w].gen != 0 && pf_ct_equal(set[w].hash, hash, PF_KC_HASH_LEN)) {
            store_entry(s, w, &empty);
        }
    }
}

uint32_t pf_kc_live(const pf_kc_table *t, uint32_t gen, int64_t now, uint32_t ttl)
{
    kc_entry set[PF_KC_WAYS];
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->nsets; i++) {
        if (!load_set(sets_of(t) + i, set)) {
            continue;
        }
        for (int w = 0; w < PF_KC_WAYS; w++) {
            n += answers(&set[w], gen, now, ttl) ? 1u : 0u;
        }
    }
    return n;
}
