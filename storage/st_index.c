/*
 * st_index.c -- sequence and subject indexes of the file store (see
 * st_index.h).
 *
 * NOTES
 *   Hash: seeded FNV-1a finished by a 64-bit mixer; the seed is random
 *   per open so clients cannot aim subjects at one bucket.  Linear
 *   probing with backward-shift deletion (no tombstones), load <= 1/2.
 *   The arena is compacted when more than half of it is dead strings.
 *   Every array grows by doubling and reports -ENOMEM, never aborts.
 */
#include "st_index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ST_IX_COMPACT_MIN 4096u         /* entries before head moves */
#define ST_ARENA_COMPACT_MIN 65536u

static uint64_t
st_hash(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

void
st_index_init(struct st_index *ix, uint64_t seed)
{
    memset(ix, 0, sizeof(*ix));
    ix->seed = seed;
    ix->base = 1;
}

void
st_index_free(struct st_index *ix)
{
    free(ix->e);
    free(ix->subj);
    free(ix->free_ids);
    free(ix->slots);
    free(ix->arena);
    uint64_t seed = ix->seed;
    st_index_init(ix, seed);
}

/* ---- subjects ----------------------------------------------------------- */

static const char *
st_subj_bytes(const struct st_index *ix, const struct st_subj *sj)
{
    return ix->arena + sj->str_off;
}

static uint32_t
st_slot_find(const struct st_index *ix, const char *s, size_t n,
             uint32_t *slot)
{
    if (ix->nslots == 0)
        return ST_SUBJ_NONE;
    uint32_t mask = ix->nslots - 1;
    uint32_t i = (uint32_t)st_hash(ix->seed, s, n) & mask;
    for (uint32_t probes = 0; probes < ix->nslots; probes++) {
        uint32_t v = ix->slots[i];
        if (v == 0) {
            *slot = i;
            return ST_SUBJ_NONE;
        }
        const struct st_subj *sj = &ix->subj[v - 1];
        if (sj->len == n && memcmp(st_subj_bytes(ix, sj), s, n) == 0) {
            *slot = i;
            return v - 1;
        }
        i = (i + 1) & mask;
    }
    return ST_SUBJ_NONE;
}

uint32_t
st_index_subj_find(const struct st_index *ix, const char *s, size_t n)
{
    uint32_t slot;
    if (n == 0 || n > UINT16_MAX)
        return ST_SUBJ_NONE;
    return st_slot_find(ix, s, n, &slot);
}

const char *
st_index_subj_str(const struct st_index *ix, uint32_t id, size_t *len)
{
    if (id >= ix->nsubj || ix->subj[id].len == 0) {
        *len = 0;
        return NULL;
    }
    *len = ix->subj[id].len;
    return st_subj_bytes(ix, &ix->subj[id]);
}

static void
st_slot_insert(struct st_index *ix, uint32_t id)
{
    const struct st_subj *sj = &ix->subj[id];
    uint32_t mask = ix->nslots - 1;
    uint32_t i = (uint32_t)st_hash(ix->seed, st_subj_bytes(ix, sj), sj->len)
        & mask;
    while (ix->slots[i] != 0)
        i = (i + 1) & mask;
    ix->slots[i] = id + 1;
}

static int
st_slots_grow(struct st_index *ix)
{
    uint32_t n = ix->nslots ? ix->nslots * 2 : 64;
    if (n == 0 || n > (1u << 31))
        return -ENOMEM;
    uint32_t *p = calloc(n, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    free(ix->slots);
    ix->slots = p;
    ix->nslots = n;
    for (uint32_t id = 0; id < ix->nsubj; id++)
        if (ix->subj[id].len)
            st_slot_insert(ix, id);
    return 0;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void
st_slot_remove(struct st_index *ix, uint32_t slot)
{
    uint32_t mask = ix->nslots - 1;
    uint32_t hole = slot;
    uint32_t i = (slot + 1) & mask;
    for (uint32_t n = 0; n < ix->nslots && ix->slots[i]; n++) {
        const struct st_subj *sj = &ix->subj[ix->slots[i] - 1];
        uint32_t home = (uint32_t)st_hash(ix->seed, st_subj_bytes(ix, sj),
                                          sj->len) & mask;
        /* move i into the hole unless its home lies in (hole, i] */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            ix->slots[hole] = ix->slots[i];
            hole = i;
        }
        i = (i + 1) & mask;
    }
    ix->slots[hole] = 0;
}

static void
st_arena_compact(struct st_index *ix)
{
    char *p = malloc(ix->arena_len - ix->arena_dead + 1);
    if (p == NULL)
        return;                         /* keep the garbage: still valid */
    size_t len = 0;
    for (uint32_t id = 0; id < ix->nsubj; id++) {
        struct st_subj *sj = &ix->subj[id];
        if (sj->len == 0)
            continue;
        memcpy(p + len, st_subj_bytes(ix, sj), sj->len);
        sj->str_off = (uint32_t)len;
        len += sj->len;
    }
    free(ix->arena);
    ix->arena = p;
    ix->arena_cap = ix->arena_len - ix->arena_dead + 1;
    ix->arena_len = len;
    ix->arena_dead = 0;
}

static int
st_arena_add(struct st_index *ix, const char *s, size_t n, uint32_t *off)
{
    if (ix->arena_len + n > UINT32_MAX)
        return -ENOMEM;
    if (ix->arena_len + n > ix->arena_cap) {
        size_t cap = ix->arena_cap ? ix->arena_cap * 2 : 4096;
        while (cap < ix->arena_len + n)
            cap *= 2;
        char *p = realloc(ix->arena, cap);
        if (p == NULL)
            return -ENOMEM;
        ix->arena = p;
        ix->arena_cap = cap;
    }
    memcpy(ix->arena + ix->arena_len, s, n);
    *off = (uint32_t)ix->arena_len;
    ix->arena_len += n;
    return 0;
}

static int
st_subj_new_id(struct st_index *ix, uint32_t *id)
{
    if (ix->nfree) {
        *id = ix->free_ids[--ix->nfree];
        return 0;
    }
    if (ix->nsubj == ix->subj_cap) {
        uint32_t cap = ix->subj_cap ? ix->subj_cap * 2 : 64;
        if (cap <= ix->subj_cap || cap >= ST_SUBJ_NONE)
            return -ENOMEM;
        struct st_subj *p = realloc(ix->subj, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        ix->subj = p;
        ix->subj_cap = cap;
    }
    *id = ix->nsubj++;
    memset(&ix->subj[*id], 0, sizeof(ix->subj[*id]));
    return 0;
}

static int
st_subj_define(struct st_index *ix, uint32_t id, const char *s, size_t n)
{
    if ((ix->live_subj + 1) * 2 > ix->nslots) {
        int rc = st_slots_grow(ix);
        if (rc < 0)
            return rc;
    }
    uint32_t off;
    int rc = st_arena_add(ix, s, n, &off);
    if (rc < 0)
        return rc;
    struct st_subj *sj = &ix->subj[id];
    memset(sj, 0, sizeof(*sj));
    sj->str_off = off;
    sj->len = (uint16_t)n;
    st_slot_insert(ix, id);
    ix->live_subj++;
    return 0;
}

int
st_index_subj_intern(struct st_index *ix, const char *s, size_t n,
                     uint32_t *id)
{
    if (n == 0 || n > UINT16_MAX)
        return -EINVAL;
    uint32_t slot;
    uint32_t found = st_slot_find(ix, s, n, &slot);
    if (found != ST_SUBJ_NONE) {
        *id = found;
        return 0;
    }
    bool reused = ix->nfree > 0;
    int rc = st_subj_new_id(ix, id);
    if (rc < 0)
        return rc;
    rc = st_subj_define(ix, *id, s, n);
    if (rc < 0) {
        if (reused)
            ix->nfree++;                /* the id is still in free_ids */
        else
            ix->nsubj--;
    }
    return rc;
}

static int
st_subj_free_push(struct st_index *ix, uint32_t id)
{
    if (ix->nfree == ix->free_cap) {
        uint32_t cap = ix->free_cap ? ix->free_cap * 2 : 64;
        uint32_t *p = realloc(ix->free_ids, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        ix->free_ids = p;
        ix->free_cap = cap;
    }
    ix->free_ids[ix->nfree++] = id;
    return 0;
}

static void
st_subj_release(struct st_index *ix, uint32_t id)
{
    struct st_subj *sj = &ix->subj[id];
    uint32_t slot;
    if (st_slot_find(ix, st_subj_bytes(ix, sj), sj->len, &slot) == id)
        st_slot_remove(ix, slot);
    ix->arena_dead += sj->len;
    sj->len = 0;
    sj->msgs = 0;
    ix->live_subj--;
    /* a failed push only loses the id for reuse, nothing else */
    (void)st_subj_free_push(ix, id);
    if (ix->arena_dead > ST_ARENA_COMPACT_MIN
        && ix->arena_dead * 2 > ix->arena_len)
        st_arena_compact(ix);
}

int
st_index_subj_load(struct st_index *ix, const char *s, size_t n)
{
    if (n > UINT16_MAX)
        return -EINVAL;
    if (ix->nsubj == ix->subj_cap) {
        uint32_t cap = ix->subj_cap ? ix->subj_cap * 2 : 64;
        if (cap >= ST_SUBJ_NONE)
            return -ENOMEM;
        struct st_subj *p = realloc(ix->subj, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        ix->subj = p;
        ix->subj_cap = cap;
    }
    uint32_t id = ix->nsubj++;
    memset(&ix->subj[id], 0, sizeof(ix->subj[id]));
    if (n == 0)
        return st_subj_free_push(ix, id);
    uint32_t slot;
    if (st_slot_find(ix, s, n, &slot) != ST_SUBJ_NONE)
        return -EINVAL;                 /* duplicate: a corrupt file */
    return st_subj_define(ix, id, s, n);
}

void
st_index_subj_sweep(struct st_index *ix)
{
    for (uint32_t id = 0; id < ix->nsubj; id++)
        if (ix->subj[id].len && ix->subj[id].msgs == 0)
            st_subj_release(ix, id);
}

uint64_t
st_index_subj_first(struct st_index *ix, uint32_t id)
{
    struct st_subj *sj = &ix->subj[id];
    if (sj->msgs == 0)
        return 0;
    if (sj->stale & ST_SUBJ_STALE_FIRST) {
        uint64_t seq = sj->first > ix->base ? sj->first : ix->base;
        uint64_t end = ix->base + ix->count;
        for (; seq < end; seq++) {
            const struct st_ient *e = &ix->e[ix->head + (seq - ix->base)];
            if (e->len && e->subj == id)
                break;
        }
        sj->first = seq;
        sj->stale &= (uint8_t)~ST_SUBJ_STALE_FIRST;
    }
    return sj->first;
}

uint64_t
st_index_subj_last(struct st_index *ix, uint32_t id)
{
    struct st_subj *sj = &ix->subj[id];
    if (sj->msgs == 0)
        return 0;
    if (sj->stale & ST_SUBJ_STALE_LAST) {
        uint64_t seq = sj->last;
        if (seq >= ix->base + ix->count)
            seq = ix->base + ix->count - 1;
        for (; seq >= ix->base; seq--) {
            const struct st_ient *e = &ix->e[ix->head + (seq - ix->base)];
            if (e->len && e->subj == id)
                break;
        }
        sj->last = seq;
        sj->stale &= (uint8_t)~ST_SUBJ_STALE_LAST;
    }
    return sj->last;
}

/* ---- sequences ---------------------------------------------------------- */

int
st_index_reserve(struct st_index *ix, uint64_t n)
{
    if (ix->head + ix->count + n <= ix->cap)
        return 0;
    if (ix->head > 0 && ix->count + n <= ix->cap) {
        memmove(ix->e, ix->e + ix->head, ix->count * sizeof(*ix->e));
        ix->head = 0;
        return 0;
    }
    uint64_t need = ix->count + n;
    uint64_t cap = ix->cap ? ix->cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > SIZE_MAX / sizeof(*ix->e))
        return -ENOMEM;
    struct st_ient *p = malloc((size_t)cap * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    if (ix->count)
        memcpy(p, ix->e + ix->head, ix->count * sizeof(*p));
    free(ix->e);
    ix->e = p;
    ix->cap = cap;
    ix->head = 0;
    return 0;
}

int
st_index_push(struct st_index *ix, uint64_t seq, uint32_t off, uint32_t len,
              uint32_t subj)
{
    if (ix->count == 0 && seq > ix->base)
        ix->base = seq;
    if (seq < ix->base + ix->count)
        return -EINVAL;
    uint64_t gap = seq - (ix->base + ix->count);
    int rc = st_index_reserve(ix, gap + 1);
    if (rc < 0)
        return rc;
    struct st_ient *e = ix->e + ix->head + ix->count;
    memset(e, 0, gap * sizeof(*e));
    e += gap;
    e->off = off;
    e->len = len;
    e->subj = subj;
    ix->count += gap + 1;
    struct st_subj *sj = &ix->subj[subj];
    if (sj->msgs++ == 0) {
        sj->first = seq;
        sj->stale = 0;
    }
    sj->last = seq;
    sj->stale &= (uint8_t)~ST_SUBJ_STALE_LAST;
    return 0;
}

struct st_ient *
st_index_at(const struct st_index *ix, uint64_t seq)
{
    if (seq < ix->base || seq - ix->base >= ix->count)
        return NULL;
    return &ix->e[ix->head + (seq - ix->base)];
}

int
st_index_kill(struct st_index *ix, uint64_t seq, struct st_ient *out)
{
    struct st_ient *e = st_index_at(ix, seq);
    if (e == NULL || e->len == 0)
        return -ENOENT;
    *out = *e;
    e->len = 0;
    struct st_subj *sj = &ix->subj[out->subj];
    if (--sj->msgs == 0) {
        st_subj_release(ix, out->subj);
        return 0;
    }
    if (seq == sj->first)
        sj->stale |= ST_SUBJ_STALE_FIRST;
    if (seq == sj->last)
        sj->stale |= ST_SUBJ_STALE_LAST;
    return 0;
}

void
st_index_trim(struct st_index *ix)
{
    while (ix->count && ix->e[ix->head].len == 0) {
        ix->head++;
        ix->base++;
        ix->count--;
    }
    if (ix->count == 0)
        ix->head = 0;
    else if (ix->head >= ST_IX_COMPACT_MIN && ix->head > ix->count) {
        memmove(ix->e, ix->e + ix->head, ix->count * sizeof(*ix->e));
        ix->head = 0;
    }
}

void
st_index_advance(struct st_index *ix, uint64_t n)
{
    if (n <= ix->base)
        return;
    if (n >= ix->base + ix->count) {
        ix->head = 0;
        ix->count = 0;
        ix->base = n;
        return;
    }
    ix->head += n - ix->base;
    ix->count -= n - ix->base;
    ix->base = n;
    st_index_trim(ix);
}

size_t
st_index_mem_seq(const struct st_index *ix)
{
    return (size_t)ix->cap * sizeof(struct st_ient);
}

size_t
st_index_mem_subj(const struct st_index *ix)
{
    return (size_t)ix->subj_cap * sizeof(struct st_subj)
        + (size_t)ix->nslots * sizeof(uint32_t)
        + (size_t)ix->free_cap * sizeof(uint32_t) + ix->arena_cap;
}
