/*
 * test_shm_arena.c -- chunk allocation, in-order reclamation, wrap-around
 * fillers, refusal when full, and recovery of holds lost with a router.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shm.h"
#include "dt_check.h"

static struct shm_handle h;
static int segfd;

static void
setup(uint64_t arena)
{
    struct shm_layout_params p = { .gateways = 2, .ring_size = 64,
                                   .arena_size = arena,
                                   .max_conns_per_gw = 4 };
    if (shm_segment_create(&p, &segfd, &h) < 0)
        exit(99);
}

static void
teardown(void)
{
    close(segfd);
    shm_segment_detach(&h);
}

static void
test_alloc_until_full_then_reclaim(void)
{
    setup(4096);
    struct shm_arena_handle ah;
    shm_arena_handle_init(&ah, &h, 1);
    struct shm_chunk *c[64];
    int n = 0;
    while (n < 64 && (c[n] = shm_arena_alloc(&ah, 100)) != NULL)
        n++;
    CHECK(n == 4096 / 128); /* 16-byte header + 100, rounded to 128 */
    CHECK(atomic_load(&ah.a->full_events) == 1);
    /* the oldest is still held: nothing comes back */
    CHECK(shm_arena_reclaim(&ah) == 0);
    /* release out of order: only the prefix is reclaimed */
    shm_chunk_release_router(c[1]);
    CHECK(shm_arena_reclaim(&ah) == 0);
    shm_chunk_release_router(c[0]);
    CHECK(shm_arena_reclaim(&ah) == 256);
    /* a chunk with outstanding deliveries is not reclaimed */
    atomic_store(&c[2]->refs, 2);
    shm_chunk_release_router(c[2]);
    CHECK(shm_arena_reclaim(&ah) == 0);
    shm_chunk_unref(c[2]);
    shm_chunk_unref(c[2]);
    CHECK(shm_arena_reclaim(&ah) == 128);
    teardown();
}

static void
test_wrap_inserts_filler(void)
{
    setup(1024);
    struct shm_arena_handle ah;
    shm_arena_handle_init(&ah, &h, 0);
    struct shm_chunk *a1 = shm_arena_alloc(&ah, 480); /* 496 */
    struct shm_chunk *a2 = shm_arena_alloc(&ah, 480); /* head at 992 */
    CHECK(a1 != NULL && a2 != NULL);
    shm_chunk_release_router(a1);
    shm_chunk_release_router(a2);
    struct shm_chunk *b = shm_arena_alloc(&ah, 400); /* 416: does not fit
                                                        at the end */
    CHECK(b != NULL);
    CHECK((uint8_t *)b == ah.data); /* wrapped to the start */
    CHECK(ah.a->head == 1024 + 416);
    shm_chunk_release_router(b);
    /* alloc already reclaimed a1, a2; filler and b remain */
    CHECK(shm_arena_reclaim(&ah) == 32 + 416);
    CHECK(ah.a->tail == ah.a->head);
    CHECK(shm_arena_alloc(&ah, 600) == NULL); /* over half the arena */
    teardown();
}

static void
test_lost_router_holds_dropped(void)
{
    setup(4096);
    struct shm_arena_handle ah;
    shm_arena_handle_init(&ah, &h, 0);
    struct shm_chunk *c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = shm_arena_alloc(&ah, 32);
        c[i]->ring_pos = (uint32_t)(10 + i);
    }
    /* the old router had dequeued positions 10 and 11 and died */
    shm_arena_drop_lost_holds(&ah, 12);
    CHECK(atomic_load(&c[0]->router_hold) == 0);
    CHECK(atomic_load(&c[1]->router_hold) == 0);
    CHECK(atomic_load(&c[2]->router_hold) == 1);
    CHECK(shm_arena_reclaim(&ah) == 2 * 48);
    teardown();
}

static void
test_unpublished_chunks_dropped(void)
{
    setup(4096);
    struct shm_arena_handle ah;
    shm_arena_handle_init(&ah, &h, 0);
    struct shm_chunk *c[4];
    for (int i = 0; i < 4; i++)
        c[i] = shm_arena_alloc(&ah, 32);
    c[0]->ring_pos = 5;  /* published: the router will release it */
    c[1]->ring_pos = 6;  /* staged past p_tail = 6: never visible */
    /* c[2], c[3] were allocated and never pushed */
    shm_arena_drop_unpublished(&ah, 6);
    CHECK(atomic_load(&c[0]->router_hold) == 1);
    CHECK(atomic_load(&c[1]->router_hold) == 0);
    CHECK(atomic_load(&c[2]->router_hold) == 0);
    CHECK(atomic_load(&c[3]->router_hold) == 0);
    shm_chunk_release_router(c[0]);
    CHECK(shm_arena_reclaim(&ah) == 4 * 48);
    teardown();
}

static void
test_chunk_of_rejects_bad_offsets(void)
{
    setup(4096);
    struct shm_desc d = { .chunk = h.size - 8, .len = 4 };
    CHECK(shm_chunk_of(&h, &d) == NULL);
    d.chunk = h.size + 4096;
    CHECK(shm_chunk_of(&h, &d) == NULL);
    struct shm_arena_handle ah;
    shm_arena_handle_init(&ah, &h, 0);
    struct shm_chunk *c = shm_arena_alloc(&ah, 40);
    d.chunk = shm_off(&h, c);
    d.len = 40;
    CHECK(shm_chunk_of(&h, &d) == c);
    d.len = 4000; /* claims more than the chunk holds */
    CHECK(shm_chunk_of(&h, &d) == NULL);
    teardown();
}

int
main(int argc, char **argv)
{
    test_alloc_until_full_then_reclaim();
    test_wrap_inserts_filler();
    test_lost_router_holds_dropped();
    test_unpublished_chunks_dropped();
    test_chunk_of_rejects_bad_offsets();
    return dt_check_summary(argv[0]);
}
