/*
 * shm_segment.c -- creation and attachment of the fabric segment.
 *
 * NOTES
 *   The master creates the segment once in a sealed memfd and keeps the
 *   fd for the life of the service; children inherit it (or get it by
 *   SCM_RIGHTS) and map it wherever the kernel likes.  Layout is computed
 *   here and only here; attachers trust the header's TOC after checking
 *   magic, layout version and the sizes of every shared struct, so that a
 *   child built against another layout refuses to attach.
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dt_log.h"

static uint64_t
align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static bool
is_pow2(uint64_t v)
{
    return v >= 4 && (v & (v - 1)) == 0;
}

/* Lay out every region after the header; returns the total size. */
static uint64_t
plan_layout(const struct shm_layout_params *p, struct shm_header *hdr)
{
    uint64_t off = align_up(sizeof(struct shm_header), SHM_CACHELINE);
    unsigned g = p->gateways + p->storage;

    hdr->doorbells_off = off;
    off += (uint64_t)(1 + g) * sizeof(struct shm_doorbell);
    hdr->router_stats_off = off;
    off = align_up(off + sizeof(struct shm_router_stats), SHM_CACHELINE);
    hdr->js_stats_off = off;
    off = align_up(off + sizeof(struct shm_js_stats), SHM_CACHELINE);
    hdr->in_rings_off = off;
    off += (uint64_t)g * sizeof(struct shm_ring);
    hdr->out_rings_off = off;
    off += (uint64_t)g * sizeof(struct shm_ring);
    hdr->arenas_off = off;
    off += (uint64_t)g * sizeof(struct shm_arena);
    hdr->conns_off = off;
    off += (uint64_t)g * p->max_conns_per_gw * sizeof(struct shm_conn_slot);
    if (p->storage) {
        hdr->direct_rings_off = off;
        off += 2ull * p->gateways * sizeof(struct shm_ring);
        hdr->direct_arenas_off = off;
        off += 2ull * p->gateways * sizeof(struct shm_arena);
        hdr->js_subjects_off = off;
        off += sizeof(struct shm_js_subjects);
    }
    off = align_up(off, 4096);
    /* ring entry arrays and arena bytes follow, page aligned */
    return off;
}

static void
init_ring(struct shm_ring *r, uint64_t entries_off, uint32_t size)
{
    /* ck_ring keeps no buffer pointer of its own; each process passes
     * base + entries_off on every call, so the ring works at any mapping
     * address. */
    ck_ring_init(&r->ck, size);
    r->entries_off = entries_off;
    r->size = size;
}

static void
fill_header(struct shm_header *hdr, const struct shm_layout_params *p,
            uint64_t size)
{
    hdr->magic = SHM_MAGIC;
    hdr->layout_version = SHM_LAYOUT_VERSION;
    hdr->cacheline = CK_MD_CACHELINE;
    hdr->desc_size = sizeof(struct shm_desc);
    hdr->ring_hdr_size = sizeof(struct shm_ring);
    hdr->conn_slot_size = sizeof(struct shm_conn_slot);
    hdr->arena_hdr_size = sizeof(struct shm_arena);
    hdr->segment_size = size;
    hdr->gateways = p->gateways;
    hdr->ports = p->gateways + p->storage;
    hdr->storage_port = p->storage ? p->gateways : SHM_NO_PORT;
    hdr->ring_size = p->ring_size;
    hdr->arena_size = p->arena_size;
    hdr->max_conns_per_gw = p->max_conns_per_gw;
    hdr->master_pid = (uint32_t)getpid();
    atomic_store(&hdr->next_cid, 1);
}

static int
map_fd(int fd, uint64_t size, struct shm_handle *h)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    h->base = p;
    h->size = size;
    h->hdr = p;
    return 0;
}

int
shm_segment_create(const struct shm_layout_params *p, int *fd_out,
                   struct shm_handle *h)
{
    unsigned ports = p->gateways + (p->storage ? 1 : 0);
    if (p->gateways == 0 || p->storage > 1 || ports > SHM_MAX_GATEWAYS ||
        !is_pow2(p->ring_size) || !is_pow2(p->arena_size) ||
        p->max_conns_per_gw == 0)
        return -EINVAL;

    struct shm_header plan = {0};
    uint64_t off = plan_layout(p, &plan);
    uint64_t ring_bytes = align_up((uint64_t)p->ring_size *
                                   sizeof(struct shm_desc), 4096);
    uint64_t direct_ring_bytes = align_up((uint64_t)SHM_DIRECT_RING *
                                          sizeof(struct shm_desc), 4096);
    uint64_t direct_bytes = p->storage ? 2ull * p->gateways *
                            (direct_ring_bytes + SHM_DIRECT_ARENA) : 0;
    uint64_t size = off + 2ull * ports * ring_bytes +
                    (uint64_t)ports * p->arena_size + direct_bytes;

    int fd = memfd_create("dialtone-fabric", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd == -1) {
        int e = errno;
        dt_error("memfd_create() failed: %s", strerror(e));
        return -e;
    }
    int rc;
    if (ftruncate(fd, (off_t)size) == -1 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
            == -1) {
        rc = -errno;
        dt_error("sizing fabric segment to %llu bytes failed: %s",
                 (unsigned long long)size, strerror(-rc));
        goto err;
    }
    rc = map_fd(fd, size, h);
    if (rc < 0)
        goto err;

    memcpy(h->hdr, &plan, sizeof(plan));
    fill_header(h->hdr, p, size);
    for (unsigned g = 0; g < ports; g++) {
        init_ring(shm_in_ring(h, g), off, p->ring_size);
        off += ring_bytes;
        init_ring(shm_out_ring(h, g), off, p->ring_size);
        off += ring_bytes;
    }
    for (unsigned g = 0; g < ports; g++) {
        struct shm_arena *a = shm_arena_of(h, g);
        a->size = p->arena_size;
        a->data_off = off;
        off += p->arena_size;
    }
    for (unsigned g = 0; p->storage && g < 2 * p->gateways; g++) {
        init_ring(shm_direct_ring(h, g), off, SHM_DIRECT_RING);
        off += direct_ring_bytes;
        struct shm_arena *a = shm_direct_arena(h, g);
        a->size = SHM_DIRECT_ARENA;
        a->data_off = off;
        off += SHM_DIRECT_ARENA;
    }
    *fd_out = fd;
    return 0;
err:
    close(fd);
    return rc;
}

static int
check_header(const struct shm_header *hdr, uint64_t size)
{
    if (hdr->magic != SHM_MAGIC)
        return -EPROTO;
    if (hdr->layout_version != SHM_LAYOUT_VERSION ||
        hdr->cacheline != CK_MD_CACHELINE ||
        hdr->desc_size != sizeof(struct shm_desc) ||
        hdr->ring_hdr_size != sizeof(struct shm_ring) ||
        hdr->conn_slot_size != sizeof(struct shm_conn_slot) ||
        hdr->arena_hdr_size != sizeof(struct shm_arena))
        return -EPROTONOSUPPORT;
    if (hdr->segment_size != size || hdr->gateways == 0 ||
        hdr->ports < hdr->gateways || hdr->ports > SHM_MAX_GATEWAYS ||
        (hdr->storage_port != SHM_NO_PORT &&
         hdr->storage_port >= hdr->ports))
        return -EBADMSG;
    return 0;
}

int
shm_segment_attach(int fd, struct shm_handle *h)
{
    struct stat st;
    if (fstat(fd, &st) == -1)
        return -errno;
    if ((uint64_t)st.st_size < sizeof(struct shm_header))
        return -EBADMSG;
    int rc = map_fd(fd, (uint64_t)st.st_size, h);
    if (rc < 0)
        return rc;
    rc = check_header(h->hdr, (uint64_t)st.st_size);
    if (rc < 0) {
        dt_error("fabric segment layout mismatch (%s): this binary has "
                 "layout %u; a full restart is needed", strerror(-rc),
                 SHM_LAYOUT_VERSION);
        shm_segment_detach(h);
    }
    return rc;
}

void
shm_segment_detach(struct shm_handle *h)
{
    if (h->base != NULL)
        munmap(h->base, h->size);
    h->base = NULL;
    h->hdr = NULL;
    h->size = 0;
}

struct shm_ring *
shm_in_ring(const struct shm_handle *h, unsigned gw)
{
    return (struct shm_ring *)(h->base + h->hdr->in_rings_off) + gw;
}

struct shm_ring *
shm_out_ring(const struct shm_handle *h, unsigned gw)
{
    return (struct shm_ring *)(h->base + h->hdr->out_rings_off) + gw;
}

struct shm_arena *
shm_arena_of(const struct shm_handle *h, unsigned gw)
{
    return (struct shm_arena *)(h->base + h->hdr->arenas_off) + gw;
}

struct shm_ring *
shm_direct_ring(const struct shm_handle *h, unsigned gw)
{
    return (struct shm_ring *)(h->base + h->hdr->direct_rings_off) + gw;
}

struct shm_arena *
shm_direct_arena(const struct shm_handle *h, unsigned gw)
{
    return (struct shm_arena *)(h->base + h->hdr->direct_arenas_off) + gw;
}

struct shm_js_subjects *
shm_js_subjects(const struct shm_handle *h)
{
    return (struct shm_js_subjects *)(h->base + h->hdr->js_subjects_off);
}

struct shm_doorbell *
shm_doorbell_of(const struct shm_handle *h, unsigned consumer)
{
    return (struct shm_doorbell *)(h->base + h->hdr->doorbells_off) +
           consumer;
}

struct shm_conn_slot *
shm_conn_slots(const struct shm_handle *h, unsigned gw)
{
    return (struct shm_conn_slot *)(h->base + h->hdr->conns_off) +
           (uint64_t)gw * h->hdr->max_conns_per_gw;
}

struct shm_router_stats *
shm_router_stats(const struct shm_handle *h)
{
    return (struct shm_router_stats *)(h->base + h->hdr->router_stats_off);
}

struct shm_js_stats *
shm_js_stats(const struct shm_handle *h)
{
    return (struct shm_js_stats *)(h->base + h->hdr->js_stats_off);
}
