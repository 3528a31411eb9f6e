#include "pf_keycache.h"
#include "pf_key.h"

#include <string.h>

#define KC_MAGIC  0x50464b43u /* "PFKC" */
#define KC_LAYOUT 1u
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

static int layout_of(uint32_t nslots, uint32_t *nsets, size_t *total)
{
    if (nslots == 0 || nslots > PF_KC_MAX_SLOTS) {
        return -1;
    }
    *nsets = (nslots + PF_KC_WAYS - 1) / PF_KC_WAYS;
    *total = ALIGN8(sizeof(struct pf_kc_table)) + (size_t)*nsets * PF_KC_WAYS * sizeof(kc_entry);
    return 0;
}

static kc_entry *entries_of(const pf_kc_table *t)
{
    return (kc_entry *)((uintptr_t)t + ALIGN8(sizeof(struct pf_kc_table)));
}

/* The hash is SHA-256 of a random key: any 8 of its bytes are uniform. */
static kc_entry *set_of(const pf_kc_table *t, const unsigned char *hash)
{
    uint64_t h;

    memcpy(&h, hash, sizeof(h));
    return entries_of(t) + (size_t)(h % t->nsets) * PF_KC_WAYS;
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
    const kc_entry *set = set_of(t, hash), *hit = NULL;

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
    kc_entry *set = set_of(t, hash), *e = NULL;
    pf_kc_put_result res = PF_KC_STORED;

    if (gen == 0 || (key->expires_at != 0 && key->expires_at <= now)
        || !pf_is_uuid(key->key_id, 0) || !pf_is_uuid(key->customer_id, 0)) {
        return PF_KC_REFUSED;
    }
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
    return res;
}

void pf_kc_forget(pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN])
{
    kc_entry *set = set_of(t, hash);

    for (int w = 0; w < PF_KC_WAYS; w++) {
        if (set[w].gen != 0 && pf_ct_equal(set[w].hash, hash, PF_KC_HASH_LEN)) {
            memset(&set[w], 0, sizeof(set[w]));
        }
    }
}

uint32_t pf_kc_live(const pf_kc_table *t, uint32_t gen, int64_t now, uint32_t ttl)
{
    const kc_entry *e = entries_of(t);
    uint32_t n = 0, cap = pf_kc_capacity(t);

    for (uint32_t i = 0; i < cap; i++) {
        n += answers(&e[i], gen, now, ttl) ? 1u : 0u;
    }
    return n;
}
