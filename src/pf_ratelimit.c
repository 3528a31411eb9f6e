#include "pf_ratelimit.h"

#include <string.h>

#define RL_MAGIC  0x5046524cu /* "PFRL" */
#define RL_LAYOUT 1u
#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

struct pf_rl_table {
    uint32_t magic;
    uint32_t layout;
    uint32_t nslots;
    uint32_t nbuckets;  /* a power of two, at least 2 * nslots */
    uint32_t used;      /* slots 0 .. used-1 have been taken */
    uint32_t full_seen; /* PF_RL_FULL was answered once already */
    uint64_t size;
};

typedef struct {
    unsigned char id[PF_RL_ID_LEN];
    uint32_t server;
    uint32_t count;
    int64_t reset; /* the window ends at this Unix second */
} rl_slot;

typedef struct {
    size_t slots, heap, pos, buckets, total;
    uint32_t nbuckets;
} rl_layout;

static int layout_of(uint32_t nslots, rl_layout *l)
{
    if (nslots == 0 || nslots > PF_RL_MAX_SLOTS) {
        return -1;
    }
    /* Load at most 1/2: probes stay short and always end at an empty bucket. */
    l->nbuckets = 2;
    while (l->nbuckets < 2 * nslots) {
        l->nbuckets <<= 1;
    }
    l->slots = ALIGN8(sizeof(struct pf_rl_table));
    l->heap = l->slots + (size_t)nslots * sizeof(rl_slot);
    l->pos = l->heap + ALIGN8((size_t)nslots * sizeof(uint32_t));
    l->buckets = l->pos + ALIGN8((size_t)nslots * sizeof(uint32_t));
    l->total = l->buckets + (size_t)l->nbuckets * sizeof(uint32_t);
    return 0;
}

/* Every part lies at an offset computed from nslots, so each process finds
 * them from its own mapping address. */
static rl_slot *slots_of(const pf_rl_table *t)
{
    return (rl_slot *)((uintptr_t)t + ALIGN8(sizeof(struct pf_rl_table)));
}

static uint32_t *heap_of(const pf_rl_table *t)
{
    return (uint32_t *)((uintptr_t)slots_of(t) + (size_t)t->nslots * sizeof(rl_slot));
}

static uint32_t *pos_of(const pf_rl_table *t)
{
    return heap_of(t) + ALIGN8((size_t)t->nslots * sizeof(uint32_t)) / sizeof(uint32_t);
}

static uint32_t *buckets_of(const pf_rl_table *t)
{
    return pos_of(t) + ALIGN8((size_t)t->nslots * sizeof(uint32_t)) / sizeof(uint32_t);
}

size_t pf_rl_size(uint32_t nslots)
{
    rl_layout l;

    return layout_of(nslots, &l) == 0 ? l.total : 0;
}

pf_rl_table *pf_rl_init(void *mem, size_t size, uint32_t nslots)
{
    rl_layout l;
    pf_rl_table *t = mem;

    if (!mem || ((uintptr_t)mem & 7u) || layout_of(nslots, &l) != 0 || size < l.total) {
        return NULL;
    }
    /* Only the header and the index need zeroes: slots, heap and positions
     * are written before they are read. */
    memset(t, 0, sizeof(*t));
    memset((char *)mem + l.buckets, 0, (size_t)l.nbuckets * sizeof(uint32_t));
    t->layout = RL_LAYOUT;
    t->nslots = nslots;
    t->nbuckets = l.nbuckets;
    t->size = l.total;
    t->magic = RL_MAGIC;
    return t;
}

pf_rl_table *pf_rl_attach(void *mem, size_t size, uint32_t nslots)
{
    rl_layout l;
    pf_rl_table *t = mem;

    if (!mem || ((uintptr_t)mem & 7u) || layout_of(nslots, &l) != 0 || size < l.total) {
        return NULL;
    }
    if (t->magic != RL_MAGIC || t->layout != RL_LAYOUT || t->nslots != nslots
        || t->nbuckets != l.nbuckets || t->size != l.total || t->used > nslots) {
        return NULL;
    }
    return t;
}

static uint64_t mix64(uint64_t x)
{
    /* MurmurHash3's finaliser: every input bit reaches every output bit. */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint32_t home_of(const pf_rl_table *t, const unsigned char *id, uint32_t server)
{
    uint64_t a, b;

    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return (uint32_t)(mix64(a ^ mix64(b ^ server)) & (t->nbuckets - 1));
}

#define NO_BUCKET UINT32_MAX

/* The bucket holding the pair (*found = 1), or the empty bucket ending its
 * probe (*found = 0). The bound only matters if the block was damaged. */
static uint32_t find(const pf_rl_table *t, const unsigned char *id, uint32_t server, int *found)
{
    const uint32_t *bk = buckets_of(t);
    const rl_slot *sl = slots_of(t);
    uint32_t mask = t->nbuckets - 1, b = home_of(t, id, server);

    *found = 0;
    for (uint32_t n = 0; n < t->nbuckets; n++) {
        uint32_t v = bk[b];
        if (v == 0) {
            return b;
        }
        if (v <= t->used && sl[v - 1].server == server
            && memcmp(sl[v - 1].id, id, PF_RL_ID_LEN) == 0) {
            *found = 1;
            return b;
        }
        b = (b + 1) & mask;
    }
    return NO_BUCKET;
}

/* Deletes bucket i by shifting later members of its cluster back, so no
 * tombstones are needed and probes stay as short as at insertion. */
static void unlink_bucket(pf_rl_table *t, uint32_t i)
{
    uint32_t *bk = buckets_of(t);
    const rl_slot *sl = slots_of(t);
    uint32_t mask = t->nbuckets - 1, j = i;

    for (;;) {
        bk[i] = 0;
        for (;;) {
            const rl_slot *e;
            uint32_t k;

            j = (j + 1) & mask;
            if (bk[j] == 0 || bk[j] > t->used) {
                return;
            }
            e = &sl[bk[j] - 1];
            k = home_of(t, e->id, e->server);
            /* j's entry stays unless its home lies cyclically outside (i, j]. */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) {
                continue;
            }
            break;
        }
        bk[i] = bk[j];
        i = j;
    }
}

static int64_t reset_at(const pf_rl_table *t, uint32_t heap_index)
{
    return slots_of(t)[heap_of(t)[heap_index]].reset;
}

static void heap_swap(pf_rl_table *t, uint32_t i, uint32_t j)
{
    uint32_t *heap = heap_of(t), *pos = pos_of(t);
    uint32_t a = heap[i], b = heap[j];

    heap[i] = b;
    heap[j] = a;
    pos[b] = i;
    pos[a] = j;
}

/* Restores the min-heap order on window end after heap[i] changed. */
static void heap_fix(pf_rl_table *t, uint32_t i)
{
    while (i > 0 && reset_at(t, (i - 1) / 2) > reset_at(t, i)) {
        heap_swap(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        uint32_t l = 2 * i + 1, m;

        if (l >= t->used) {
            break;
        }
        m = l;
        if (l + 1 < t->used && reset_at(t, l + 1) < reset_at(t, l)) {
            m = l + 1;
        }
        if (reset_at(t, i) <= reset_at(t, m)) {
            break;
        }
        heap_swap(t, i, m);
        i = m;
    }
}

/* A free slot for a new pair: a never used one, else the one whose window
 * ended first if it has ended. NO_BUCKET when every window is still open. */
static uint32_t take_slot(pf_rl_table *t, int64_t now)
{
    uint32_t *heap = heap_of(t), *pos = pos_of(t);
    rl_slot *sl = slots_of(t);
    uint32_t s;
    int found;

    if (t->used < t->nslots) {
        s = t->used;
        heap[s] = s;
        pos[s] = s;
        sl[s].reset = INT64_MAX; /* sorts last until filled in */
        t->used++;
        return s;
    }
    s = heap[0];
    if (sl[s].reset > now) {
        return NO_BUCKET;
    }
    {
        uint32_t b = find(t, sl[s].id, sl[s].server, &found);
        if (found) {
            unlink_bucket(t, b);
        }
    }
    return s;
}

pf_rl_verdict pf_rl_hit(pf_rl_table *t, const unsigned char id[PF_RL_ID_LEN], uint32_t server,
                        uint32_t limit, uint32_t window, int64_t now, pf_rl_result *out)
{
    rl_slot *sl = slots_of(t), *e;
    uint32_t *pos = pos_of(t);
    uint32_t b, s;
    int found;

    memset(out, 0, sizeof(*out));
    out->limit = limit;
    b = find(t, id, server, &found);
    if (b != NO_BUCKET && found) {
        s = buckets_of(t)[b] - 1;
        e = &sl[s];
        /* A window that ended opens anew with this request. */
        if (e->reset <= now) {
            e->count = 0;
            e->reset = now + window;
            heap_fix(t, pos[s]);
        }
    }
    else if (b == NO_BUCKET || (s = take_slot(t, now)) == NO_BUCKET) {
        out->remaining = limit ? limit - 1 : 0;
        out->reset = now + window;
        out->retry_after = window ? window : 1;
        out->first_full = !t->full_seen;
        t->full_seen = 1;
        return PF_RL_FULL;
    }
    else {
        e = &sl[s];
        memcpy(e->id, id, PF_RL_ID_LEN);
        e->server = server;
        e->count = 0;
        e->reset = now + window;
        heap_fix(t, pos[s]);
        /* Unlinking a reused slot may have moved the probe's end. */
        b = find(t, id, server, &found);
        buckets_of(t)[b] = s + 1;
    }
    out->reset = e->reset;
    out->retry_after = e->reset - now > 0 ? e->reset - now : 1;
    if (e->count < limit) {
        e->count++;
        out->remaining = limit - e->count;
        return PF_RL_COUNTED;
    }
    out->remaining = 0;
    return PF_RL_OVER;
}

uint32_t pf_rl_peek(const pf_rl_table *t, const unsigned char id[PF_RL_ID_LEN], uint32_t server,
                    int64_t now)
{
    int found;
    uint32_t b = find(t, id, server, &found);
    const rl_slot *e;

    if (b == NO_BUCKET || !found) {
        return 0;
    }
    e = &slots_of(t)[buckets_of(t)[b] - 1];
    return e->reset > now ? e->count : 0;
}

uint32_t pf_rl_used(const pf_rl_table *t)
{
    return t->used;
}

int pf_rl_check(const pf_rl_table *t)
{
    const rl_slot *sl = slots_of(t);
    const uint32_t *heap = heap_of(t), *pos = pos_of(t), *bk = buckets_of(t);
    uint32_t filled = 0;

    if (t->magic != RL_MAGIC || t->used > t->nslots || t->nbuckets < 2 * t->nslots) {
        return -1;
    }
    for (uint32_t i = 0; i < t->used; i++) {
        if (heap[i] >= t->used || pos[heap[i]] != i) {
            return -2;
        }
        if (i > 0 && sl[heap[(i - 1) / 2]].reset > sl[heap[i]].reset) {
            return -3;
        }
    }
    for (uint32_t s = 0; s < t->used; s++) {
        int found;
        uint32_t b = find(t, sl[s].id, sl[s].server, &found);
        if (b == NO_BUCKET || !found || bk[b] != s + 1) {
            return -4;
        }
    }
    for (uint32_t b = 0; b < t->nbuckets; b++) {
        if (bk[b] > t->used) {
            return -5;
        }
        filled += bk[b] != 0;
    }
    return filled == t->used ? 0 : -6;
}

uint32_t pf_rl_name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}
