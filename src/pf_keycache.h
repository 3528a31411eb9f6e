/* A cache of valid API keys kept in one flat block of memory that several
 * processes map, each at its own address: the block holds integers and
 * characters only, never pointers. The caller serialises the writers
 * (pf_kc_put, pf_kc_forget) with a lock shared by all processes; readers
 * (pf_kc_get, pf_kc_live) take no lock and may run beside a writer: they
 * read a set under its sequence number and retry, or miss, while a writer
 * is in it. No httpd dependency.
 *
 * Entries are found by the 32-byte SHA-256 of the key text (never the key).
 * The table is set-associative: a hash selects one set of PF_KC_WAYS
 * entries; a full set gives up its oldest entry. An entry answers only
 * while it is younger than the caller's TTL, while the key's own expiry has
 * not passed, and only to callers of the generation that stored it (a new
 * generation starts with an empty cache without touching the block).
 *
 * Layout (offsets from the block's start, 8-byte aligned):
 *   header | sets[nsets] (a sequence number, then PF_KC_WAYS entries) */
#ifndef PF_KEYCACHE_H
#define PF_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#define PF_KC_HASH_LEN      32       /* SHA-256 of the key text */
#define PF_KC_WAYS          8        /* entries per set */
#define PF_KC_DEFAULT_SLOTS 10000u
#define PF_KC_MAX_SLOTS     (1u << 22)
#define PF_KC_DEFAULT_TTL   30       /* seconds */
#define PF_KC_MAX_TTL       60       /* the contract's revocation bound */

typedef struct pf_kc_table pf_kc_table;

/* What the cache remembers of a valid key. */
typedef struct {
    char key_id[37];      /* canonical lowercase UUID text */
    char customer_id[37];
    uint32_t scopes;      /* PF_SCOPE_* flags */
    int64_t expires_at;   /* Unix seconds; 0: never */
} pf_kc_key;

typedef enum {
    PF_KC_STORED = 0,   /* into a free or stale entry, or over the same key */
    PF_KC_EVICTED,      /* the set was full: its oldest entry (live or past the
                         * TTL, which the table does not know) went */
    PF_KC_KEPT,         /* an entry fetched later is already there */
    PF_KC_REFUSED       /* not a key worth caching: expired or malformed */
} pf_kc_put_result;

/* Bytes a table of at least nslots entries needs (rounded up to whole
 * sets); 0 when nslots is 0 or above PF_KC_MAX_SLOTS. */
size_t pf_kc_size(uint32_t nslots);

/* Formats an empty table in mem (8-byte aligned, size >= pf_kc_size).
 * NULL when it does not fit. */
pf_kc_table *pf_kc_init(void *mem, size_t size, uint32_t nslots);

/* The table already in mem (a block that outlived a restart), or NULL when
 * mem does not hold a table made for nslots. */
pf_kc_table *pf_kc_attach(void *mem, size_t size, uint32_t nslots);

/* Entries the table holds (nslots rounded up to whole sets). */
uint32_t pf_kc_capacity(const pf_kc_table *t);

/* 1 and *out filled when the key with this hash was stored by generation
 * gen less than ttl seconds before now and has not expired by now; 0
 * otherwise (a miss; also when writers kept its set busy). gen 0 and ttl 0
 * never hit. Needs no lock. */
int pf_kc_get(const pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN], uint32_t gen,
              int64_t now, uint32_t ttl, pf_kc_key *out);

/* Remembers a key the database found valid. fetched_at is when the lookup
 * began (Unix seconds), so an entry never outlives a revocation made after
 * its lookup by more than the TTL. gen must not be 0. */
pf_kc_put_result pf_kc_put(pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN],
                           uint32_t gen, const pf_kc_key *key, int64_t fetched_at, int64_t now);

/* Drops the key with this hash, of any generation (the database no longer
 * knows it as valid). */
void pf_kc_forget(pf_kc_table *t, const unsigned char hash[PF_KC_HASH_LEN]);

/* Entries that would hit for gen at now with ttl. For tests and
 * diagnostics. */
uint32_t pf_kc_live(const pf_kc_table *t, uint32_t gen, int64_t now, uint32_t ttl);

#endif
