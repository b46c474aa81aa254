/*
 * test_shm_direct.c -- the storage -> gateway direct path: messages come
 * out in order and intact, arena space returns only once the gateway
 * marked entries applied, wrap-around, refusal when the ring or the arena
 * is full, and producer / consumer restarts in the middle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"
#include "shm_direct.h"
#include "shm_js_subjects.h"
#include "shm_producer.h"
#include "dt_check.h"

static struct shm_handle h;
static int segfd;

static void
setup(void)
{
    struct shm_layout_params p = { .gateways = 2, .storage = 1,
                                   .ring_size = 64, .arena_size = 1u << 16,
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

/* A message of len bytes whose bytes all say `tag`. */
static bool
send_one(struct shm_direct *d, uint32_t tag, uint32_t len)
{
    struct shm_desc desc = { .kind = SHM_D_MSG, .conn = tag };
    uint8_t *body = shm_direct_reserve(d, &desc, len);
    if (body == NULL)
        return false;
    memset(body, (int)(tag & 0xff), len);
    shm_direct_push(d, &desc);
    return true;
}

/* Pops one; true when it is message `tag` of len bytes, intact. */
static bool
take_one(struct shm_ring_handle *rh, uint32_t tag, uint32_t len)
{
    struct shm_desc desc;
    if (!shm_ring_pop(rh, &desc))
        return false;
    struct shm_chunk *c = shm_chunk_of(&h, &desc);
    if (c == NULL || desc.conn != tag || desc.len != len)
        return false;
    const uint8_t *body = shm_chunk_body(c);
    for (uint32_t i = 0; i < len; i++)
        if (body[i] != (uint8_t)(tag & 0xff))
            return false;
    return true;
}

static void
test_in_order_and_intact(void)
{
    setup();
    struct shm_direct d;
    struct shm_ring_handle rh;
    shm_direct_init(&d, &h, 1, 1, -1);
    shm_direct_consumer_init(&rh, &h, 1);
    for (uint32_t i = 1; i <= 100; i++)
        CHECK(send_one(&d, i, 10 + i));
    for (uint32_t i = 1; i <= 100; i++)
        CHECK(take_one(&rh, i, 10 + i));
    CHECK(!shm_ring_pop(&rh, &(struct shm_desc){0}));
    /* the other gateway's path is untouched */
    struct shm_ring_handle other;
    shm_direct_consumer_init(&other, &h, 0);
    CHECK_INT(shm_ring_count(&other), ==, 0);
    teardown();
}

/* Space comes back only for what the gateway marked applied. */
static void
test_space_returns_when_applied(void)
{
    setup();
    struct shm_direct d;
    struct shm_ring_handle rh;
    shm_direct_init(&d, &h, 0, 0, -1);
    shm_direct_consumer_init(&rh, &h, 0);
    uint32_t big = SHM_DIRECT_ARENA / 8;   /* 7 fit (each + its header) */
    int n = 0;
    while (n < 100 && send_one(&d, (uint32_t)n + 1, big))
        n++;
    CHECK_INT(n, ==, 7);
    CHECK(shm_direct_fits(&d, big));
    CHECK(!shm_direct_has_room(&d, big));
    CHECK(shm_direct_has_room(&d, 100));   /* the tail end still has some */
    /* popped but not applied: still not free */
    CHECK(take_one(&rh, 1, big));
    CHECK(take_one(&rh, 2, big));
    CHECK(!send_one(&d, 50, big));
    shm_ring_mark_applied(&rh);
    /* two freed; the next wraps past the end of the arena */
    CHECK(send_one(&d, 8, big));
    CHECK(send_one(&d, 9, big));
    CHECK(!send_one(&d, 51, big));
    for (uint32_t i = 3; i <= 9; i++)
        CHECK(take_one(&rh, i, big));
    shm_ring_mark_applied(&rh);
    CHECK(send_one(&d, 10, big));
    CHECK(take_one(&rh, 10, big));
    /* bigger than half the arena: never the direct path */
    CHECK(!shm_direct_fits(&d, SHM_DIRECT_ARENA / 2));
    struct shm_desc desc = {0};
    CHECK(shm_direct_reserve(&d, &desc, SHM_DIRECT_ARENA / 2) == NULL);
    teardown();
}

/* The ring holds size - 1 unapplied entries, whatever was popped. */
static void
test_ring_full_counts_unapplied(void)
{
    setup();
    struct shm_direct d;
    struct shm_ring_handle rh;
    shm_direct_init(&d, &h, 0, 0, -1);
    shm_direct_consumer_init(&rh, &h, 0);
    uint32_t n = 0;
    while (n < SHM_DIRECT_RING + 10 && send_one(&d, n, 8))
        n++;
    CHECK_INT(n, ==, SHM_DIRECT_RING - 1);
    CHECK(take_one(&rh, 0, 8));
    CHECK(!send_one(&d, 1, 8));         /* popped, not applied */
    shm_ring_mark_applied(&rh);
    CHECK(send_one(&d, 7, 8));
    teardown();
}

/* A producer that dies after reserving (head moved, nothing published)
 * leaves a gap, never a chunk overwritten under the gateway; a gateway
 * that dies mid-way is replaced by one that discards what was queued. */
static void
test_restarts(void)
{
    setup();
    struct shm_direct d;
    struct shm_ring_handle rh;
    shm_direct_init(&d, &h, 1, 1, -1);
    shm_direct_consumer_init(&rh, &h, 1);
    CHECK(send_one(&d, 1, 100));
    struct shm_desc lost = { .conn = 2 };
    CHECK(shm_direct_reserve(&d, &lost, 100) != NULL);  /* then "dies" */
    struct shm_direct d2;
    shm_direct_init(&d2, &h, 1, 1, -1);
    CHECK(send_one(&d2, 3, 100));
    CHECK(take_one(&rh, 1, 100));
    CHECK(take_one(&rh, 3, 100));     /* 2 never appears, 1 was not hit */
    shm_ring_mark_applied(&rh);
    /* everything applied: the whole arena is free again, gap included */
    uint32_t big = SHM_DIRECT_ARENA / 8;
    int n = 0;
    while (n < 100 && send_one(&d2, 10, big))
        n++;
    CHECK_INT(n, ==, 7);
    /* a new gateway drops what its predecessor left and frees it */
    struct shm_ring_handle rh2;
    shm_direct_consumer_init(&rh2, &h, 1);
    shm_direct_discard(&rh2);
    CHECK_INT(shm_ring_count(&rh2), ==, 0);
    CHECK(send_one(&d2, 11, big));
    CHECK(take_one(&rh2, 11, big));
    teardown();
}

/* Marks are ring positions compared as differences: a producer that
 * starts on a ring past 2^31 entries must not look 2^31 behind. */
static void
test_marks_start_at_the_ring_position(void)
{
    setup();
    struct shm_ring *r = shm_in_ring(&h, 0);
    uint32_t far = 0x80000010u;
    r->ck.c_head = r->ck.p_tail = r->ck.p_head = far;
    atomic_store(&r->applied, far);
    struct shm_producer prod;
    shm_producer_init(&prod, &h, 0, -1);
    CHECK_INT(prod.push_mark, ==, far);
    CHECK((int32_t)(atomic_load(&r->applied) - prod.push_mark) >= 0);
    shm_producer_free(&prod);
    teardown();
}

/* Storage's subjects for the gateways: a reader sees a list once it is
 * whole; one that does not fit is published as unusable. */
static void
test_js_subjects(void)
{
    setup();
    struct shm_js_subjects *t = shm_js_subjects(&h);
    struct shm_js_subjects_copy c = {0};
    CHECK_INT(shm_js_subjects_read(t, &c), ==, 0);   /* never written */
    CHECK(!c.usable);
    const char *subs[3] = { "$JS.API.>", "orders.*", "kv.>" };
    size_t lens[3] = { 9, 8, 4 };
    shm_js_subjects_write(t, subs, lens, 3);
    CHECK_INT(shm_js_subjects_read(t, &c), ==, 1);
    CHECK(c.usable && c.count == 3);
    CHECK(c.data && strcmp(c.data + 10, "orders.*") == 0);
    CHECK_INT(shm_js_subjects_read(t, &c), ==, 0);   /* unchanged */
    /* too many to fit: published, but not usable */
    static char big[1024];
    memset(big, 'x', sizeof(big) - 1);
    enum { N = SHM_JS_SUBJECTS / 1000 + 8 };
    const char *many[N];
    size_t many_lens[N];
    for (int i = 0; i < N; i++) {
        many[i] = big;
        many_lens[i] = 999;
    }
    shm_js_subjects_write(t, many, many_lens, N);
    CHECK_INT(shm_js_subjects_read(t, &c), ==, 1);
    CHECK(!c.usable);
    shm_js_subjects_copy_free(&c);
    teardown();
}

int
main(int argc, char **argv)
{
    test_in_order_and_intact();
    test_space_returns_when_applied();
    test_ring_full_counts_unapplied();
    test_restarts();
    test_marks_start_at_the_ring_position();
    test_js_subjects();
    return dt_check_summary(argv[0]);
}
