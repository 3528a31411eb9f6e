/* Per-key fixed-window rate limits kept in one flat block of memory that
 * several processes map, each at its own address: the block holds integers
 * and indices only, never pointers. The caller serialises every call on a
 * table with a lock shared by all processes. No httpd dependency.
 *
 * Layout (offsets from the block's start, all 8-byte aligned):
 *   header | slots[nslots] | heap[nslots] | heap_pos[nslots] | buckets[nbuckets]
 * A slot is one (key id, server) pair with its window. buckets is an
 * open-addressing index (linear probing, load <= 1/2) of slot numbers + 1,
 * 0 meaning empty. heap orders the slots in use by window end, so an expired
 * slot to reuse, or the proof that none exists, is found at heap[0]. */
#ifndef PF_RATELIMIT_H
#define PF_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define PF_RL_ID_LEN         16        /* a key's id here: its SHA-256, first half */
#define PF_RL_DEFAULT_LIMIT  1000
#define PF_RL_DEFAULT_WINDOW 900       /* seconds */
#define PF_RL_DEFAULT_SLOTS  100000u   /* (key, server) pairs with an open window */
#define PF_RL_MAX_SLOTS      (1u << 22)
#define PF_RL_MAX_LIMIT      1000000000u
#define PF_RL_MAX_WINDOW     31536000u /* a year */

typedef struct pf_rl_table pf_rl_table;

typedef enum {
    PF_RL_COUNTED = 0, /* within the limit; this request used one */
    PF_RL_OVER,        /* the window's quota is spent; nothing was used */
    PF_RL_FULL         /* no slot free: the request was not counted */
} pf_rl_verdict;

typedef struct {
    uint32_t limit;
    uint32_t remaining;
    int64_t reset;       /* Unix seconds at which the window ends */
    int64_t retry_after; /* seconds until reset, at least 1 */
    int first_full;      /* PF_RL_FULL for the first time in this table */
} pf_rl_result;

/* Bytes a table of nslots needs; 0 when nslots is 0 or above
 * PF_RL_MAX_SLOTS. */
size_t pf_rl_size(uint32_t nslots);

/* Formats an empty table in mem (8-byte aligned, size >= pf_rl_size).
 * NULL when it does not fit. */
pf_rl_table *pf_rl_init(void *mem, size_t size, uint32_t nslots);

/* The table already in mem (a block that outlived a restart), or NULL when
 * mem does not hold a table of nslots. */
pf_rl_table *pf_rl_attach(void *mem, size_t size, uint32_t nslots);

/* Counts one request of key id on server at time now (Unix seconds) against
 * limit requests per window seconds. A window opens at a pair's first
 * request (rounded down to the second) and lasts window seconds; an OVER
 * does not use quota. On FULL, out describes a window opening now, since
 * nothing is known about the key. */
pf_rl_verdict pf_rl_hit(pf_rl_table *t, const unsigned char id[PF_RL_ID_LEN], uint32_t server,
                        uint32_t limit, uint32_t window, int64_t now, pf_rl_result *out);

/* Requests counted in the pair's window open at now; 0 when none is open.
 * For tests and diagnostics. */
uint32_t pf_rl_peek(const pf_rl_table *t, const unsigned char id[PF_RL_ID_LEN], uint32_t server,
                    int64_t now);

/* Slots that have ever been taken (at most nslots). */
uint32_t pf_rl_used(const pf_rl_table *t);

/* 0 when the index, the heap and the slots agree; a negative number naming
 * the first broken rule otherwise. For tests. */
int pf_rl_check(const pf_rl_table *t);

/* FNV-1a of a string: a server's identity that stays the same across
 * restarts as long as its name and addresses do. */
uint32_t pf_rl_name_hash(const char *s);

#endif
