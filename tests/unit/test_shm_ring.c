/*
 * test_shm_ring.c -- the fabric across two real processes: a forked
 * consumer takes millions of descriptors from one ring, each pointing at
 * a payload chunk in the producer's arena, and checks order and content;
 * the producer reclaims chunks as the consumer lets go, so the arena wraps
 * many times.  Also: a full ring refuses, doorbell wake-ups are batched.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm.h"
#include "dt_check.h"

static uint64_t
msg_count(void)
{
    const char *e = getenv("DT_RING_TEST_MSGS");
    return e ? strtoull(e, NULL, 10) : 3000000ull;
}

static void
make_segment(struct shm_handle *h, int *fd, uint32_t ring, uint64_t arena)
{
    struct shm_layout_params p = { .gateways = 1, .ring_size = ring,
                                   .arena_size = arena,
                                   .max_conns_per_gw = 16 };
    int rc = shm_segment_create(&p, fd, h);
    if (rc < 0) {
        fprintf(stderr, "shm_segment_create: %s\n", strerror(-rc));
        exit(99);
    }
}

/* payload of message i: length 8..71 bytes, a pattern derived from i */
static uint32_t
body_len(uint64_t i)
{
    return 8 + (uint32_t)(i % 64);
}

static void
fill_body(uint8_t *b, uint64_t i)
{
    memcpy(b, &i, 8);
    for (uint32_t k = 8; k < body_len(i); k++)
        b[k] = (uint8_t)(i * 31 + k);
}

static bool
body_ok(const uint8_t *b, uint64_t i)
{
    uint64_t v;
    memcpy(&v, b, 8);
    if (v != i)
        return false;
    for (uint32_t k = 8; k < body_len(i); k++)
        if (b[k] != (uint8_t)(i * 31 + k))
            return false;
    return true;
}

static int
consumer(int segfd, int efd, uint64_t n)
{
    struct shm_handle h;
    if (shm_segment_attach(segfd, &h) < 0)
        return 2;
    struct shm_ring_handle rh;
    shm_ring_handle_init(&rh, &h, shm_in_ring(&h, 0));
    struct shm_doorbell *db = shm_doorbell_of(&h, 0);
    uint64_t next = 0;
    while (next < n) {
        struct shm_desc d;
        if (!shm_ring_pop(&rh, &d)) {
            shm_doorbell_prepare_sleep(db);
            if (shm_ring_count(&rh) == 0) {
                struct pollfd pfd = { .fd = efd, .events = POLLIN };
                poll(&pfd, 1, 1000);
                shm_doorbell_clear(efd);
            }
            shm_doorbell_awake(db);
            continue;
        }
        struct shm_chunk *c = shm_chunk_of(&h, &d);
        if (d.seq != next || c == NULL || d.len != body_len(next) ||
            !body_ok(shm_chunk_body(c), next)) {
            fprintf(stderr, "consumer: bad message at %" PRIu64 "\n", next);
            return 1;
        }
        shm_chunk_release_router(c);
        next++;
    }
    return 0;
}

static void
test_two_process_stream(void)
{
    struct shm_handle h;
    int segfd;
    make_segment(&h, &segfd, 4096, 1u << 20);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t n = msg_count();

    pid_t pid = fork();
    if (pid == 0)
        _exit(consumer(segfd, efd, n));

    struct shm_ring_handle rh;
    struct shm_arena_handle ah;
    shm_ring_handle_init(&rh, &h, shm_in_ring(&h, 0));
    shm_arena_handle_init(&ah, &h, 0);
    struct shm_doorbell *db = shm_doorbell_of(&h, 0);
    uint64_t t0 = shm_now_ns(), stalls = 0;
    for (uint64_t i = 0; i < n;) {
        /* a batch of up to 64, then one doorbell */
        unsigned batch = 0;
        for (; batch < 64 && i < n; batch++, i++) {
            struct shm_chunk *c = NULL;
            if (shm_ring_space(&rh) > 0)
                c = shm_arena_alloc(&ah, body_len(i));
            if (c == NULL)
                break;
            fill_body(shm_chunk_body(c), i);
            c->ring_pos = shm_ring_next_pos(&rh);
            struct shm_desc d = { .kind = SHM_D_PUB, .seq = i,
                                  .len = body_len(i),
                                  .chunk = shm_off(&h, c) };
            CHECK(shm_ring_push(&rh, &d));
        }
        shm_doorbell_ring(db, efd);
        if (batch == 0) {
            stalls++;
            shm_arena_reclaim(&ah);
            sched_yield();
        }
    }
    int st;
    waitpid(pid, &st, 0);
    double secs = (double)(shm_now_ns() - t0) / 1e9;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    printf("two-process ring: %" PRIu64 " msgs in %.3f s = %.2f M msgs/s "
           "(%" PRIu64 " producer stalls, %" PRIu64 " wakeups)\n",
           n, secs, (double)n / secs / 1e6, stalls,
           (uint64_t)atomic_load(&db->wakeups));
    shm_arena_reclaim(&ah);
    CHECK(ah.a->tail == ah.a->head); /* every chunk came back */
    close(efd);
    close(segfd);
    shm_segment_detach(&h);
}

static void
test_full_ring_refuses(void)
{
    struct shm_handle h;
    int segfd;
    make_segment(&h, &segfd, 8, 1u << 16);
    struct shm_ring_handle rh;
    shm_ring_handle_init(&rh, &h, shm_in_ring(&h, 0));
    struct shm_desc d = { .kind = SHM_D_PUB };
    int pushed = 0;
    for (int i = 0; i < 20; i++)
        pushed += shm_ring_push(&rh, &d);
    CHECK(pushed == 7); /* size - 1 */
    CHECK(shm_ring_space(&rh) == 0);
    CHECK(shm_ring_pop(&rh, &d));
    CHECK(shm_ring_space(&rh) == 1);
    close(segfd);
    shm_segment_detach(&h);
}

static void
test_attach_rejects_foreign(void)
{
    int fd = memfd_create("not-a-fabric", MFD_CLOEXEC);
    CHECK(ftruncate(fd, 1 << 16) == 0);
    struct shm_handle h;
    CHECK(shm_segment_attach(fd, &h) == -EPROTO);
    close(fd);
}

int
main(int argc, char **argv)
{
    test_full_ring_refuses();
    test_attach_rejects_foreign();
    test_two_process_stream();
    return dt_check_summary(argv[0]);
}
