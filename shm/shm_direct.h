/*
 * shm_direct.h -- a direct path between the storage port and one gateway,
 * either way: an SPSC ring of descriptors and a byte arena of their
 * messages, so that JetStream traffic skips the router.
 *
 * NOTES
 *   Storage -> gateway g (ring g): whatever storage sends (acks, API
 *   responses, consumer deliveries, pull statuses) to exactly one plain
 *   subscriber, which the storage process's replica of the others'
 *   interest names (connection and sub id); the gateway consumes them like
 *   its ring from the router (SHM_D_MSG; the chunk's refs are ignored
 *   here).  A subscriber's messages stay in order when storage switches
 *   paths (a second subscriber comes or goes): a direct one waits until
 *   the router applied storage's last message for that gateway, a routed
 *   one until the gateway took everything sent directly, and the gateway
 *   drains the router's ring before the direct entries that were there
 *   when it started (storage/st_port.c, st_port_send); replies (one per
 *   request) skip those waits.  Gateway g -> storage (ring gateways + g):
 *   publishes on the subjects storage subscribes to (SHM_D_PUB, `mark`
 *   below).  Consumers mark entries applied once they copied them out.
 *   Space: the arena is reclaimed in ring order, never by refcount: every
 *   byte before the chunk of the oldest entry not yet applied is free
 *   (each descriptor's `seq` holds its chunk's arena position).  The
 *   producer advances `head` before publishing an entry, so a producer
 *   that dies between the two leaves a gap that is reclaimed, never a
 *   chunk that is overwritten while a gateway may still read it.  No
 *   entry is pushed while ring size - 1 entries are unapplied, so the
 *   slot of the oldest unapplied entry is always intact.
 *   Concurrency: one producer process, one consumer process per pair.
 */
#ifndef SHM_DIRECT_H
#define SHM_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "shm.h"

/* Gateway -> storage: in shm_desc.reserved[SHM_DIRECT_MARK], the
 * position of the gateway's ring to the router after the last entry that
 * storage must see first (a subscription change, which the router
 * forwards to storage, or a publish storage might get that way).  Storage
 * takes the entry only once the router has applied that position, and
 * drains what the router gave it before.  So a client's SUB and then its
 * request, or its publishes before and after the gateway learned of a
 * new stream, are seen in the order it sent them. */
#define SHM_DIRECT_MARK 0

struct shm_direct {
    const struct shm_handle *h;
    struct shm_ring_handle ring;
    struct shm_arena *a;
    uint8_t *data;
    struct shm_doorbell *db;        /* the consumer's */
    int efd;
    bool pushed;                    /* since the last wake */
};

/* Index of the direct path to gateway gw, and of the one from it. */
static inline unsigned
shm_direct_to_gw(unsigned gw)
{
    return gw;
}

static inline unsigned
shm_direct_from_gw(const struct shm_header *hdr, unsigned gw)
{
    return hdr->gateways + gw;
}

/* Producer: attach to direct path `i`, whose consumer is `port` (its
 * doorbell, eventfd efd). */
void shm_direct_init(struct shm_direct *d, const struct shm_handle *h,
                     unsigned i, unsigned port, int efd);

/* Producer: room for a message of body_len bytes?  Then *desc is filled
 * (kind, conn, conn_gen, sub set by the caller beforehand) and the body
 * returned for the caller to write before shm_direct_push().  NULL when
 * the ring or the arena is full, or the message is too big: use the
 * router. */
void *shm_direct_reserve(struct shm_direct *d, struct shm_desc *desc,
                         uint32_t body_len);
void shm_direct_push(struct shm_direct *d, struct shm_desc *desc);
/* Could a message of body_len bytes ever take this path (not bigger than
 * half the arena)?  Is there room for it now? */
bool shm_direct_fits(const struct shm_direct *d, uint32_t body_len);
bool shm_direct_has_room(const struct shm_direct *d, uint32_t body_len);
/* Producer: ring the gateway's doorbell if anything was pushed. */
void shm_direct_wake(struct shm_direct *d);

/* Consumer: the ring of path i, and forgetting what a dead predecessor
 * left. */
void shm_direct_consumer_init(struct shm_ring_handle *rh,
                              const struct shm_handle *h, unsigned i);
void shm_direct_discard(struct shm_ring_handle *rh);
/* Consumer: the next entry without taking it. */
bool shm_direct_peek(struct shm_ring_handle *rh, struct shm_desc *d);

#endif /* SHM_DIRECT_H */
