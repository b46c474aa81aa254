/*
 * shm_direct.c -- the storage port's direct path to a gateway (see
 * shm_direct.h for the rules of space and order).
 */
#include "shm_direct.h"

#include "shm.h"

#define DIRECT_ALIGN 16u

void
shm_direct_init(struct shm_direct *d, const struct shm_handle *h,
                unsigned i, unsigned port, int efd)
{
    d->h = h;
    shm_ring_handle_init(&d->ring, h, shm_direct_ring(h, i));
    d->a = shm_direct_arena(h, i);
    d->data = shm_at(h, d->a->data_off, d->a->size);
    d->db = shm_doorbell_of(h, 1 + port);
    d->efd = efd;
    d->pushed = false;
}

/* Arena position of the oldest byte a gateway may still read. */
static uint64_t
arena_tail(const struct shm_direct *d, uint32_t applied)
{
    if (applied == d->ring.tail)
        return d->a->head;
    return d->ring.entries[applied & d->ring.mask].seq;
}

/* Where a chunk of `total` bytes would start, or UINT64_MAX when the ring
 * or the arena has no room for it now. */
static uint64_t
find_room(const struct shm_direct *d, uint64_t total)
{
    uint32_t applied = shm_ring_applied_pos(&d->ring);
    if (d->data == NULL || d->ring.tail - applied >= d->ring.mask)
        return UINT64_MAX;
    uint64_t size = d->a->size;
    uint64_t head = d->a->head;
    uint64_t off = head & (size - 1);
    uint64_t pad = off + total > size ? size - off : 0;
    if (head + pad + total - arena_tail(d, applied) > size)
        return UINT64_MAX;
    return head + pad;
}

static uint64_t
chunk_bytes(uint32_t body_len)
{
    return ((uint64_t)body_len + sizeof(struct shm_chunk) + DIRECT_ALIGN -
            1) & ~(uint64_t)(DIRECT_ALIGN - 1);
}

bool
shm_direct_fits(const struct shm_direct *d, uint32_t body_len)
{
    return d->data != NULL && chunk_bytes(body_len) <= d->a->size / 2;
}

bool
shm_direct_has_room(const struct shm_direct *d, uint32_t body_len)
{
    return shm_direct_fits(d, body_len) &&
           find_room(d, chunk_bytes(body_len)) != UINT64_MAX;
}

void *
shm_direct_reserve(struct shm_direct *d, struct shm_desc *desc,
                   uint32_t body_len)
{
    if (!shm_direct_fits(d, body_len))
        return NULL;
    uint64_t total = chunk_bytes(body_len);
    uint64_t start = find_room(d, total);
    if (start == UINT64_MAX)
        return NULL;
    uint64_t size = d->a->size;
    struct shm_chunk *c = (struct shm_chunk *)(d->data + (start & (size - 1)));
    /* the gateway drops one ref as for any delivery; nothing counts it */
    atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
    atomic_store_explicit(&c->router_hold, 0, memory_order_relaxed);
    c->len = (uint32_t)total;
    c->ring_pos = SHM_CHUNK_UNSENT;
    desc->chunk = shm_off(d->h, c);
    desc->len = body_len;
    desc->seq = start;
    d->a->head = start + total;     /* before the entry is published */
    return shm_chunk_body(c);
}

void
shm_direct_push(struct shm_direct *d, struct shm_desc *desc)
{
    bool ok = shm_ring_push(&d->ring, desc);
    (void)ok;   /* room was checked against `applied` by the reserve */
    d->pushed = true;
}

void
shm_direct_wake(struct shm_direct *d)
{
    if (!d->pushed)
        return;
    d->pushed = false;
    shm_doorbell_ring(d->db, d->efd);
}

void
shm_direct_consumer_init(struct shm_ring_handle *rh,
                         const struct shm_handle *h, unsigned i)
{
    shm_ring_handle_init(rh, h, shm_direct_ring(h, i));
}

bool
shm_direct_peek(struct shm_ring_handle *rh, struct shm_desc *d)
{
    unsigned c = rh->ring->ck.c_head;
    if (c == ck_pr_load_uint(&rh->ring->ck.p_tail))
        return false;
    ck_pr_fence_load();
    *d = rh->entries[c & rh->mask];
    return true;
}

void
shm_direct_discard(struct shm_ring_handle *rh)
{
    struct shm_desc d;
    while (shm_ring_pop(rh, &d))
        ;
    shm_ring_mark_applied(rh);
}
