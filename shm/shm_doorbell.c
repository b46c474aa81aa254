/*
 * shm_doorbell.c -- waking a sleeping consumer, once per batch.
 *
 * NOTES
 *   Dekker-style handshake on the doorbell's `sleeping` word: the consumer
 *   stores sleeping=1, fences, re-checks its rings and only then blocks on
 *   its eventfd; a producer pushes, fences, and writes the eventfd only if
 *   it swaps sleeping from 1 to 0.  So a busy consumer costs producers no
 *   syscall at all, and a sleeping one costs one write per batch.
 *   The eventfds belong to the master, so they outlive any child.
 */
#include "shm.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

void
shm_doorbell_ring(struct shm_doorbell *db, int efd)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&db->sleeping, memory_order_relaxed) == 0)
        return;
    if (atomic_exchange(&db->sleeping, 0) == 0)
        return;
    uint64_t one = 1;
    ssize_t n = write(efd, &one, sizeof(one));
    (void)n; /* EAGAIN means the counter is already non-zero: awake anyway */
    atomic_fetch_add_explicit(&db->wakeups, 1, memory_order_relaxed);
}

void
shm_doorbell_prepare_sleep(struct shm_doorbell *db)
{
    atomic_store(&db->sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst);
}

void
shm_doorbell_awake(struct shm_doorbell *db)
{
    atomic_store_explicit(&db->sleeping, 0, memory_order_relaxed);
}

void
shm_doorbell_clear(int efd)
{
    uint64_t v;
    ssize_t n = read(efd, &v, sizeof(v));
    (void)n; /* EAGAIN: nothing pending, which is fine */
}

uint64_t
shm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
shm_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
