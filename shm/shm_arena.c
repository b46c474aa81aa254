/*
 * shm_arena.c -- payload chunks in a byte ring, owned by one gateway.
 *
 * NOTES
 *   Only the producing gateway allocates and reclaims, in order, so head
 *   and tail need no atomics.  Consumers (the router, other gateways) read
 *   chunk bodies and signal they are done through the chunk header's
 *   atomic router_hold and refs; a chunk is reclaimable when both are
 *   zero.  One long-held chunk stops reclamation behind it: the arena is
 *   then full and the gateway stops reading from its sockets
 *   (backpressure) until the holder lets go.
 *   Chunks are 16-byte aligned and never straddle the end of the byte
 *   area; a filler chunk (ring_pos SHM_CHUNK_PAD) covers the gap.
 */
#include "shm.h"

#define CHUNK_ALIGN 16u

void
shm_arena_handle_init(struct shm_arena_handle *ah, const struct shm_handle *h,
                      unsigned gw)
{
    ah->h = h;
    ah->a = shm_arena_of(h, gw);
    ah->data = shm_at(h, ah->a->data_off, ah->a->size);
}

static struct shm_chunk *
chunk_at(struct shm_arena_handle *ah, uint64_t pos)
{
    return (struct shm_chunk *)(ah->data + (pos & (ah->a->size - 1)));
}

uint64_t
shm_arena_reclaim(struct shm_arena_handle *ah)
{
    struct shm_arena *a = ah->a;
    uint64_t start = a->tail;
    while (a->tail != a->head) {
        struct shm_chunk *c = chunk_at(ah, a->tail);
        if (atomic_load_explicit(&c->router_hold, memory_order_acquire) ||
            atomic_load_explicit(&c->refs, memory_order_acquire))
            break;
        a->tail += c->len;
    }
    return a->tail - start;
}

static bool
has_room(const struct shm_arena *a, uint64_t need)
{
    return a->head + need - a->tail <= a->size;
}

struct shm_chunk *
shm_arena_alloc(struct shm_arena_handle *ah, uint32_t body_len)
{
    struct shm_arena *a = ah->a;
    uint64_t total = ((uint64_t)body_len + sizeof(struct shm_chunk) +
                      CHUNK_ALIGN - 1) & ~(uint64_t)(CHUNK_ALIGN - 1);
    if (total > a->size / 2)
        return NULL;

    uint64_t off = a->head & (a->size - 1);
    uint64_t pad = off + total > a->size ? a->size - off : 0;
    if (!has_room(a, pad + total)) {
        shm_arena_reclaim(ah);
        if (!has_room(a, pad + total)) {
            atomic_fetch_add_explicit(&a->full_events, 1,
                                      memory_order_relaxed);
            return NULL;
        }
    }
    if (pad) {
        struct shm_chunk *f = chunk_at(ah, a->head);
        atomic_store_explicit(&f->refs, 0, memory_order_relaxed);
        atomic_store_explicit(&f->router_hold, 0, memory_order_relaxed);
        f->len = (uint32_t)pad;
        f->ring_pos = SHM_CHUNK_PAD;
        a->head += pad;
    }
    struct shm_chunk *c = chunk_at(ah, a->head);
    atomic_store_explicit(&c->refs, 0, memory_order_relaxed);
    atomic_store_explicit(&c->router_hold, 1, memory_order_relaxed);
    c->len = (uint32_t)total;
    c->ring_pos = SHM_CHUNK_UNSENT;
    a->head += total;
    return c;
}

void
shm_arena_unalloc(struct shm_arena_handle *ah, struct shm_chunk *c)
{
    struct shm_arena *a = ah->a;
    if (chunk_at(ah, a->head - c->len) == c)
        a->head -= c->len;
}

void
shm_arena_drop_lost_holds(struct shm_arena_handle *ah, uint32_t consumer_pos)
{
    struct shm_arena *a = ah->a;
    for (uint64_t pos = a->tail; pos != a->head;) {
        struct shm_chunk *c = chunk_at(ah, pos);
        if (c->ring_pos < SHM_CHUNK_UNSENT &&
            (int32_t)(c->ring_pos - consumer_pos) < 0)
            shm_chunk_release_router(c);
        pos += c->len;
    }
}

void
shm_arena_drop_unpublished(struct shm_arena_handle *ah,
                           uint32_t published_pos)
{
    struct shm_arena *a = ah->a;
    for (uint64_t pos = a->tail; pos != a->head;) {
        struct shm_chunk *c = chunk_at(ah, pos);
        if (c->ring_pos == SHM_CHUNK_UNSENT ||
            (c->ring_pos != SHM_CHUNK_PAD &&
             (int32_t)(c->ring_pos - published_pos) >= 0))
            shm_chunk_release_router(c);
        pos += c->len;
    }
}

struct shm_chunk *
shm_chunk_of(const struct shm_handle *h, const struct shm_desc *d)
{
    struct shm_chunk *c = shm_at(h, d->chunk, sizeof(struct shm_chunk));
    if (c == NULL || c->len < sizeof(*c) ||
        shm_at(h, d->chunk, c->len) == NULL ||
        (uint64_t)d->len + sizeof(*c) > c->len)
        return NULL;
    return c;
}
