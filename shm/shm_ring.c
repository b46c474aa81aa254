/*
 * shm_ring.c -- process-local handles on the SPSC descriptor rings.
 *
 * NOTES
 *   The ring itself (ck_ring_t plus an entry array) lives in the segment;
 *   a handle caches the entry array's address in this process.  Push and
 *   pop are inline in shm.h (ck's spsc enqueue/dequeue); the one producer
 *   and the one consumer of each ring are fixed by the layout:
 *   in[k]: gateway k -> router, out[k]: router -> gateway k.
 */
#include "shm.h"

void
shm_ring_handle_init(struct shm_ring_handle *rh, const struct shm_handle *h,
                     struct shm_ring *r)
{
    rh->ring = r;
    rh->entries = shm_at(h, r->entries_off,
                         (uint64_t)r->size * sizeof(struct shm_desc));
    rh->mask = r->size - 1;
    /* a successor producer continues after what its predecessor
     * published; anything it had staged but not published is lost */
    rh->tail = ck_pr_load_uint(&r->ck.p_tail);
    rh->head_seen = ck_pr_load_uint(&r->ck.c_head);
}
