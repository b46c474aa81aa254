/*
 * shm.h -- the fabric's process-local API: segment handle, rings, arena,
 * doorbells.  Types shared across processes live in shm_types.h; this file
 * holds the handles each process keeps privately (never put in shm).
 *
 * NOTES
 *   Every function returns 0 or -errno unless it says otherwise.
 *   Rings are SPSC: exactly one producer process and one consumer process
 *   per ring.  The arena of gateway k is written and reclaimed only by
 *   gateway k; other processes only read chunk bodies and drop refs.
 */
#ifndef SHM_H
#define SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "shm_types.h"

CK_RING_PROTOTYPE(shm_desc, shm_desc)

struct shm_layout_params {
    uint32_t gateways;          /* client gateway workers, >= 1 */
    uint32_t storage;           /* 1: one more port, for the storage
                                   process; gateways + storage <=
                                   SHM_MAX_GATEWAYS */
    uint32_t ring_size;         /* entries per ring, power of two >= 4 */
    uint64_t arena_size;        /* bytes per gateway arena, power of two */
    uint32_t max_conns_per_gw;
};

/* A process's view of the segment. */
struct shm_handle {
    uint8_t *base;
    uint64_t size;
    struct shm_header *hdr;
};

int  shm_segment_create(const struct shm_layout_params *p, int *fd_out,
                        struct shm_handle *h);
int  shm_segment_attach(int fd, struct shm_handle *h);
void shm_segment_detach(struct shm_handle *h);

/* Offset -> pointer, bounds-checked against the segment; NULL if off+len
 * does not fit (a corrupt or hostile descriptor never faults us). */
static inline void *
shm_at(const struct shm_handle *h, uint64_t off, uint64_t len)
{
    if (off > h->size || len > h->size - off)
        return NULL;
    return h->base + off;
}

static inline uint64_t
shm_off(const struct shm_handle *h, const void *p)
{
    return (uint64_t)((const uint8_t *)p - h->base);
}

struct shm_ring *shm_in_ring(const struct shm_handle *h, unsigned gw);
struct shm_ring *shm_out_ring(const struct shm_handle *h, unsigned gw);
struct shm_arena *shm_arena_of(const struct shm_handle *h, unsigned gw);
/* Direct paths (shm_direct.h), only with JetStream: index g is storage ->
 * gateway g, gateways + g is gateway g -> storage. */
struct shm_ring *shm_direct_ring(const struct shm_handle *h, unsigned i);
struct shm_arena *shm_direct_arena(const struct shm_handle *h, unsigned i);
struct shm_js_subjects *shm_js_subjects(const struct shm_handle *h);
struct shm_doorbell *shm_doorbell_of(const struct shm_handle *h,
                                     unsigned consumer); /* 0 = router,
                                                            1+k = gateway k */
struct shm_conn_slot *shm_conn_slots(const struct shm_handle *h, unsigned gw);
struct shm_router_stats *shm_router_stats(const struct shm_handle *h);
struct shm_js_stats *shm_js_stats(const struct shm_handle *h);

/* ------------------------------------------------------------------ */
/* Rings.
 *
 * ck's SPSC enqueue publishes p_tail (with a store fence) on every entry,
 * and its dequeue stores c_head on every entry: one cross-core cache-line
 * transfer per message each way.  The producer side here stages entries
 * and publishes them with one p_tail store per batch, and the consumer
 * takes a batch with one p_tail load and one c_head store, on the same
 * ck_ring_t layout and with ck's fences, so the single-entry ck calls
 * (shm_ring_pop) still interoperate. */

struct shm_ring_handle {
    struct shm_ring *ring;
    struct shm_desc *entries;
    uint32_t mask;
    uint32_t tail;        /* producer: next slot to stage */
    uint32_t head_seen;   /* producer: c_head when last looked */
};

void shm_ring_handle_init(struct shm_ring_handle *rh,
                          const struct shm_handle *h, struct shm_ring *r);

/* Producer: write d into the next slot, not yet visible to the consumer.
 * False when the ring is full (counting staged entries). */
static inline bool
shm_ring_stage(struct shm_ring_handle *rh, const struct shm_desc *d)
{
    if (rh->tail - rh->head_seen >= rh->mask) {
        rh->head_seen = ck_pr_load_uint(&rh->ring->ck.c_head);
        if (rh->tail - rh->head_seen >= rh->mask) {
            atomic_fetch_add_explicit(&rh->ring->full_events, 1,
                                      memory_order_relaxed);
            return false;
        }
    }
    rh->entries[rh->tail & rh->mask] = *d;
    rh->tail++;
    return true;
}

/* Producer: make every staged entry visible; true if there were any. */
static inline bool
shm_ring_publish(struct shm_ring_handle *rh)
{
    if (rh->tail == rh->ring->ck.p_tail)
        return false;
    ck_pr_fence_store();
    ck_pr_store_uint(&rh->ring->ck.p_tail, rh->tail);
    return true;
}

static inline bool
shm_ring_push(struct shm_ring_handle *rh, struct shm_desc *d)
{
    if (!shm_ring_stage(rh, d))
        return false;
    shm_ring_publish(rh);
    return true;
}

/* Consumer: one entry (ck's own dequeue). */
static inline bool
shm_ring_pop(struct shm_ring_handle *rh, struct shm_desc *d)
{
    return ck_ring_dequeue_spsc_shm_desc(&rh->ring->ck, rh->entries, d);
}

/* Consumer: up to max entries into out[]; returns how many. */
static inline unsigned
shm_ring_pop_batch(struct shm_ring_handle *rh, struct shm_desc *out,
                   unsigned max)
{
    unsigned c = rh->ring->ck.c_head;
    unsigned p = ck_pr_load_uint(&rh->ring->ck.p_tail);
    unsigned n = p - c < max ? p - c : max;
    if (n == 0)
        return 0;
    ck_pr_fence_load();
    for (unsigned i = 0; i < n; i++)
        out[i] = rh->entries[(c + i) & rh->mask];
    ck_pr_fence_store();
    ck_pr_store_uint(&rh->ring->ck.c_head, c + n);
    return n;
}

/* Entries published and not yet consumed. */
static inline unsigned
shm_ring_count(const struct shm_ring_handle *rh)
{
    return ck_ring_size(&rh->ring->ck);
}

/* Producer: can one more entry be staged?  Loads c_head only when the
 * cached view says full. */
static inline bool
shm_ring_has_space(struct shm_ring_handle *rh)
{
    if (rh->tail - rh->head_seen < rh->mask)
        return true;
    rh->head_seen = ck_pr_load_uint(&rh->ring->ck.c_head);
    return rh->tail - rh->head_seen < rh->mask;
}

/* Producer: free slots left for staging (a ring holds size-1 entries). */
static inline unsigned
shm_ring_space(struct shm_ring_handle *rh)
{
    rh->head_seen = ck_pr_load_uint(&rh->ring->ck.c_head);
    return rh->mask - (rh->tail - rh->head_seen);
}

/* Producer: position the next staged entry will get; stored in the chunk
 * header so that a producer can tell which chunks a dead consumer had
 * already taken. */
static inline uint32_t
shm_ring_next_pos(const struct shm_ring_handle *rh)
{
    return rh->tail;
}

/* Consumer: everything dequeued so far has taken effect. */
static inline void
shm_ring_mark_applied(struct shm_ring_handle *rh)
{
    atomic_store_explicit(&rh->ring->applied, rh->ring->ck.c_head,
                          memory_order_release);
}

static inline uint32_t
shm_ring_applied_pos(const struct shm_ring_handle *rh)
{
    return atomic_load_explicit(&rh->ring->applied, memory_order_acquire);
}

/* Published position: every entry before it is visible to the consumer. */
static inline uint32_t
shm_ring_producer_pos(const struct shm_ring_handle *rh)
{
    return ck_pr_load_uint(&rh->ring->ck.p_tail);
}

static inline uint32_t
shm_ring_consumer_pos(const struct shm_ring_handle *rh)
{
    return ck_pr_load_uint(&rh->ring->ck.c_head);
}

/* ------------------------------------------------------------------ */
/* Arena (producer side: gateway k only). */

struct shm_arena_handle {
    const struct shm_handle *h;
    struct shm_arena *a;
    uint8_t *data;
};

void shm_arena_handle_init(struct shm_arena_handle *ah,
                           const struct shm_handle *h, unsigned gw);

/* Allocate a chunk with body_len bytes of body; returns the chunk header
 * (refs=0, router_hold=1) or NULL when the arena is full after reclaiming.
 * The body follows the header.  The caller fills the body, sets ring_pos
 * and pushes a descriptor. */
struct shm_chunk *shm_arena_alloc(struct shm_arena_handle *ah,
                                  uint32_t body_len);

/* Give back the newest chunk if it was not published (ring full). */
void shm_arena_unalloc(struct shm_arena_handle *ah, struct shm_chunk *c);

/* Reclaim from the tail every chunk nobody holds any more; returns bytes
 * reclaimed. */
uint64_t shm_arena_reclaim(struct shm_arena_handle *ah);

/* After a router restart: clear the router hold on chunks whose
 * descriptors the old router had dequeued (ring_pos before c_head). */
void shm_arena_drop_lost_holds(struct shm_arena_handle *ah,
                               uint32_t consumer_pos);

/* A successor producer: release chunks its predecessor allocated but never
 * published (staged past p_tail, or not pushed at all); nobody will ever
 * dispatch them, and they would block reclamation for good. */
void shm_arena_drop_unpublished(struct shm_arena_handle *ah,
                                uint32_t published_pos);

static inline void *
shm_chunk_body(struct shm_chunk *c)
{
    return (uint8_t *)c + sizeof(*c);
}

/* Consumer side: resolve a descriptor's chunk, checking bounds. */
struct shm_chunk *shm_chunk_of(const struct shm_handle *h,
                               const struct shm_desc *d);

static inline void
shm_chunk_unref(struct shm_chunk *c)
{
    atomic_fetch_sub_explicit(&c->refs, 1, memory_order_release);
}

static inline void
shm_chunk_release_router(struct shm_chunk *c)
{
    atomic_store_explicit(&c->router_hold, 0, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* Doorbells. eventfds are created by the master; fds[i] pairs with
 * shm_doorbell_of(h, i). */

/* Producer: after a batch of pushes, wake the consumer if it sleeps. */
void shm_doorbell_ring(struct shm_doorbell *db, int efd);

/* Consumer: announce intent to sleep.  The caller must re-check its rings
 * after this and call shm_doorbell_awake() if work appeared; otherwise it
 * may block on efd. */
void shm_doorbell_prepare_sleep(struct shm_doorbell *db);
void shm_doorbell_awake(struct shm_doorbell *db);
/* Consumer: drain the eventfd counter after waking. */
void shm_doorbell_clear(int efd);

uint64_t shm_now_ns(void);       /* CLOCK_MONOTONIC */
uint64_t shm_wall_ns(void);      /* CLOCK_REALTIME */

#endif /* SHM_H */
