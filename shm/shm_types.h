/*
 * shm_types.h -- layout of the shared-memory fabric.
 *
 * One memfd segment, created and held by the master, mapped by every
 * subsystem at whatever address it lands.  Nothing in it is a pointer:
 * every reference is a byte offset from the segment base, resolved by
 * shm_at().  Every struct here has fixed-width fields and a named single
 * writer; a layout change bumps SHM_LAYOUT_VERSION so that a subsystem
 * built against another layout refuses to attach.
 *
 * Segment map (offsets recorded in shm_header.toc, in this order):
 *   shm_header            magic, versions, generations, settings
 *   shm_doorbell[]        one per consumer process (router, port k)
 *   shm_router_stats      written by the router, read by monitoring
 *   shm_js_stats          written by the storage process (JetStream)
 *   per port k (gateway workers 0..gateways-1, then the storage process
 *   when JetStream is on; the router treats every port alike):
 *     shm_ring  in[k]     gateway k -> router     (SPSC, descriptors)
 *     shm_ring  out[k]    router    -> gateway k  (SPSC, descriptors)
 *     shm_arena arena[k]  payload chunks produced by gateway k
 *     shm_conn_slot conns[k][max_conns_per_gw]
 */
#ifndef SHM_TYPES_H
#define SHM_TYPES_H

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <ck_ring.h>

#define SHM_MAGIC           0x44544f4e45464142ULL /* "DTONEFAB" */
#define SHM_LAYOUT_VERSION  8u
#define SHM_CACHELINE       128   /* x86 adjacent-line prefetch pairs lines */
#define SHM_MAX_GATEWAYS    64    /* ports, storage included */
#define SHM_NO_PORT         0xffffffffu
#define SHM_NAME_MAX        64
#define SHM_DIRECT_RING     4096          /* entries per direct ring */
#define SHM_DIRECT_ARENA    (4u << 20)    /* bytes per direct arena */
#define SHM_JS_SUBJECTS     (256u << 10)  /* bytes of storage's subjects */
#define SHM_AUTH_MAX        256

static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics");
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "address-free 64-bit atomics");
static_assert(ATOMIC_INT_LOCK_FREE == 2, "address-free 32-bit atomics");

/* ------------------------------------------------------------------ */
/* Descriptors: the only thing that crosses a ring, by value.          */

enum shm_desc_kind {
    SHM_D_NONE = 0,
    SHM_D_PUB,          /* gw->router: chunk holds a shm_msg */
    SHM_D_CTRL,         /* gw->router: chunk holds a protobuf Control */
    SHM_D_MSG,          /* router->gw: deliver chunk to (conn, sub) */
    SHM_D_NORESP,       /* router->gw: nobody took the request in chunk */
    SHM_D_RELEASE,      /* router->gw: drop one ref on chunk, nothing else */
};

/* Flags on SHM_D_PUB, set by the publishing gateway. */
#define SHM_DF_NO_ECHO      0x0001u /* publisher said echo:false */
#define SHM_DF_NORESP_OK    0x0002u /* publisher has headers+no_responders */
#define SHM_DF_LOCAL_DONE   0x0004u /* the gateway delivered to its own plain
                                       subscribers already; desc.sub holds
                                       how many */
#define SHM_DF_STORAGE_DONE 0x0008u /* the gateway sent it to the storage
                                       port directly: skip that port */

struct shm_desc {
    uint16_t kind;      /* enum shm_desc_kind */
    uint16_t flags;     /* SHM_DF_* */
    uint16_t src_gw;    /* gateway whose arena holds the chunk */
    uint16_t reserved0;
    uint32_t conn;      /* connection slot: publisher (PUB) or target (MSG) */
    uint32_t conn_gen;  /* generation of that slot; stale deliveries drop */
    uint64_t chunk;     /* segment offset of the shm_chunk */
    uint32_t sub;       /* MSG: subscription id on the target connection;
                           PUB: deliveries the gateway made itself */
    uint32_t len;       /* bytes of chunk body (for sanity checks) */
    uint64_t seq;       /* per-ring sequence, for tests and tracing */
    uint64_t reserved[3];
};
static_assert(sizeof(struct shm_desc) == 64, "descriptor is one cache line");

/* ------------------------------------------------------------------ */
/* Payload arena: a byte ring of chunks, allocated and reclaimed only   */
/* by its producing gateway, in order.  A chunk is reclaimable when     */
/* router_hold and refs are both zero.                                  */

struct shm_chunk {
    _Atomic uint32_t refs;        /* deliveries still to copy; router adds,
                                     consumers subtract */
    _Atomic uint32_t router_hold; /* 1 until the router has dispatched it */
    uint32_t len;                 /* total chunk bytes incl. this header,
                                     multiple of 8; producer writes */
    uint32_t ring_pos;            /* in-ring sequence of its descriptor
                                     (lets a producer detect a lost router
                                     hold after a router restart) */
};
static_assert(sizeof(struct shm_chunk) == 16, "chunk header");

#define SHM_CHUNK_PAD   0xffffffffu /* ring_pos value of a wrap filler */
#define SHM_CHUNK_UNSENT 0xfffffffeu /* ring_pos before it is pushed.
                                        A real position equal to one of
                                        these two (once per 2^32 entries)
                                        is misread only if a restart
                                        falls exactly then. */

/* Body of a SHM_D_PUB chunk: a message as published.  route: when set,
 * the subject the router matches instead of `subject`, which is then only
 * what subscribers see (JetStream delivers a stream message, subject and
 * all, to a consumer's deliver subject or a pull request's inbox). */
struct shm_msg {
    uint32_t subject_len;
    uint32_t reply_len;
    uint32_t hdr_len;       /* 0 = no headers; else includes final CRLFCRLF */
    uint32_t payload_len;
    uint32_t route_len;     /* 0 = route by subject */
    uint32_t reserved;
    /* followed by subject, reply, headers, payload, route bytes, no NULs */
};
static_assert(sizeof(struct shm_msg) == 24, "msg header");

static inline uint64_t
shm_msg_size(const struct shm_msg *m)
{
    return sizeof(*m) + (uint64_t)m->subject_len + m->reply_len +
           m->hdr_len + m->payload_len + m->route_len;
}

struct shm_arena {
    /* producer line */
    uint64_t head;          /* gateway: next allocation position */
    uint64_t tail;          /* gateway: oldest unreclaimed position */
    uint64_t size;          /* power of two; set at creation */
    uint64_t data_off;      /* segment offset of the byte area */
    _Atomic uint64_t full_events; /* gateway: allocations refused */
    uint8_t pad[SHM_CACHELINE - 40];
};
static_assert(sizeof(struct shm_arena) == SHM_CACHELINE, "arena header");

/* ------------------------------------------------------------------ */
/* Rings: ck_ring header plus an entry array, both in the segment.      */

struct shm_ring {
    ck_ring_t ck;            /* c_head: consumer; p_tail/p_head: producer */
    uint8_t pad0[SHM_CACHELINE * 3 - sizeof(ck_ring_t)];
    uint64_t entries_off;    /* segment offset of shm_desc[size]; master */
    uint32_t size;           /* power of two >= 4; master */
    _Atomic uint32_t applied;/* consumer: every entry before this position
                                has been acted on (not just dequeued) */
    _Atomic uint64_t full_events; /* producer: enqueue refused */
    uint8_t pad1[SHM_CACHELINE - 24];
};
static_assert(sizeof(ck_ring_t) <= SHM_CACHELINE * 3, "ck_ring fits");

/* ------------------------------------------------------------------ */
/* Doorbells: a consumer sets sleeping before it blocks on its eventfd; */
/* producers wake it only then, once per batch.                         */

struct shm_doorbell {
    _Atomic uint32_t sleeping;    /* consumer */
    uint32_t pid;                 /* consumer, for tools */
    _Atomic uint64_t wakeups;     /* producers: eventfd writes made */
    _Atomic uint64_t heartbeat_ns;/* consumer: last loop turn, CLOCK_MONOTONIC */
    uint8_t pad[SHM_CACHELINE - 24];
};
static_assert(sizeof(struct shm_doorbell) == SHM_CACHELINE, "doorbell");

/* ------------------------------------------------------------------ */
/* Connection slots: what monitoring shows and a successor could adopt. */

enum shm_conn_state { SHM_CONN_FREE = 0, SHM_CONN_OPEN, SHM_CONN_CLOSING };

/* shm_conn_slot.flags, from the client's CONNECT */
#define SHM_CF_VERBOSE   0x01u
#define SHM_CF_PEDANTIC  0x02u
#define SHM_CF_NO_ECHO   0x04u
#define SHM_CF_HEADERS   0x08u
#define SHM_CF_NORESP    0x10u
#define SHM_CF_CONNECTED 0x20u  /* CONNECT accepted */

struct shm_conn_slot {
    _Atomic uint32_t state;       /* gateway; enum shm_conn_state */
    uint32_t gen;                 /* gateway; bumped on each reuse */
    uint64_t cid;                 /* gateway; server-wide client id */
    uint64_t start_ns;            /* gateway; CLOCK_REALTIME */
    _Atomic uint64_t last_activity_ns;
    _Atomic uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    _Atomic uint64_t pending_bytes;
    _Atomic uint32_t subs;
    uint16_t port;
    uint16_t flags;               /* SHM_CF_* */
    char ip[48];
    char name[SHM_NAME_MAX];
    char lang[16];
    char version[16];
    uint64_t rtt_ns;
    uint8_t pad[88];
};
static_assert(sizeof(struct shm_conn_slot) == 320, "conn slot");

/* ------------------------------------------------------------------ */
/* Settings, resolved by the master from flags and config; read-only    */
/* for everybody else.                                                  */

struct shm_settings {
    char host[SHM_NAME_MAX];
    char server_name[SHM_NAME_MAX];
    char server_id[SHM_NAME_MAX];
    char store_dir[256];
    char auth_user[SHM_AUTH_MAX];
    char auth_pass[SHM_AUTH_MAX];
    char auth_token[SHM_AUTH_MAX];
    uint32_t port;
    uint32_t http_port;           /* 0 = monitoring off */
    int64_t max_payload;
    int64_t max_pending;
    uint32_t max_control_line;
    uint32_t max_connections;
    uint32_t max_subscriptions;   /* per connection, 0 = unlimited */
    uint32_t ping_max;
    uint64_t ping_interval_ms;
    uint64_t write_deadline_ms;
    uint64_t auth_timeout_ms;
    uint32_t gateways;            /* gateway worker processes */
    uint32_t debug;
    uint32_t trace;
    uint32_t jetstream;           /* 1: run the storage process */
    uint64_t start_ns;            /* CLOCK_REALTIME at master start */
    char config_file[256];
    char http_host[SHM_NAME_MAX]; /* monitoring bind address */
    int64_t js_sync_ms;           /* fsync period; SHM_JS_SYNC_ALWAYS:
                                     before every ack */
    int64_t js_max_memory;        /* bytes; 0 = not limited */
    int64_t js_max_store;
    uint64_t ldm_duration_ms;     /* lame duck mode: evictions spread over */
    uint64_t ldm_grace_ms;        /* ... after this wait */
};

#define SHM_JS_SYNC_ALWAYS (-1)

/* ------------------------------------------------------------------ */
/* JetStream statistics, for /jsz and /varz (writer: storage process).  */

struct shm_js_stats {
    _Atomic uint64_t streams, consumers, messages, bytes;
    _Atomic uint64_t memory, store;
    _Atomic uint64_t api_total, api_errors;
    _Atomic uint64_t reserved_memory, reserved_store; /* max_bytes sums */
    _Atomic uint64_t updated_ns;  /* CLOCK_REALTIME of the last update */
    uint8_t pad[2 * SHM_CACHELINE - 88];
};

/* ------------------------------------------------------------------ */
/* Router statistics, for /subsz and /varz.                            */

struct shm_router_stats {
    _Atomic uint64_t num_subscriptions;
    _Atomic uint64_t num_cache;
    _Atomic uint64_t num_inserts;
    _Atomic uint64_t num_removes;
    _Atomic uint64_t num_matches;
    _Atomic uint64_t cache_hits;
    _Atomic uint64_t msgs_routed;
    _Atomic uint64_t deliveries;
    _Atomic uint64_t no_interest;
    uint8_t pad[SHM_CACHELINE * 2 - 72];
};

/* The subjects the storage process subscribes to, for gateways to send
 * those publishes straight to it (shm_js_subjects.c).  Writer: storage,
 * under a sequence lock (odd while writing). */
struct shm_js_subjects {
    _Atomic uint32_t seq;
    uint32_t count;
    uint32_t len;                 /* bytes of data used */
    uint32_t overflow;            /* 1: did not fit, use the router */
    uint8_t pad[SHM_CACHELINE - 16];
    char data[SHM_JS_SUBJECTS];   /* count subjects, each NUL-terminated */
};

/* ------------------------------------------------------------------ */
/* Header.                                                              */

enum shm_role { SHM_ROLE_MASTER = 0, SHM_ROLE_ROUTER, SHM_ROLE_GATEWAY };

struct shm_header {
    uint64_t magic;               /* master */
    uint32_t layout_version;      /* master */
    uint32_t cacheline;           /* master: CK_MD_CACHELINE at build */
    uint32_t desc_size, ring_hdr_size, conn_slot_size, arena_hdr_size;
    uint64_t segment_size;        /* master */
    uint32_t gateways;            /* master: client gateway workers */
    uint32_t ports;               /* master: gateways (+1 with JetStream) */
    uint32_t storage_port;        /* master: its port, or SHM_NO_PORT */
    uint32_t ring_size;           /* master: entries per ring */
    uint64_t arena_size;          /* master: bytes per gateway arena */
    uint32_t max_conns_per_gw;    /* master */
    uint32_t master_pid;          /* master */
    /* table of contents: segment offsets, master */
    uint64_t doorbells_off;       /* shm_doorbell[1 + ports], router first */
    uint64_t router_stats_off;
    uint64_t js_stats_off;
    uint64_t in_rings_off;        /* shm_ring[ports] */
    uint64_t out_rings_off;       /* shm_ring[ports] */
    uint64_t arenas_off;          /* shm_arena[ports] */
    uint64_t conns_off;           /* shm_conn_slot[ports][max_conns] */
    /* direct paths (with JetStream only; 0 without): shm_ring and
     * shm_arena [2 * gateways], storage -> gateway g at g, gateway g ->
     * storage at gateways + g; storage's subjects for the gateways */
    uint64_t direct_rings_off;
    uint64_t direct_arenas_off;
    uint64_t js_subjects_off;     /* struct shm_js_subjects */
    uint8_t pad0[SHM_CACHELINE - 24];
    /* generations: bumped by the master on each (re)start of a child */
    _Atomic uint32_t router_gen;
    _Atomic uint32_t gateway_gen[SHM_MAX_GATEWAYS]; /* per port */
    _Atomic uint64_t next_cid;    /* any gateway: fetch_add for client ids */
    _Atomic uint32_t num_conns;   /* gateways: open client connections */
    _Atomic uint32_t shutting_down; /* master */
    _Atomic uint64_t total_conns; /* gateways: accepted since start */
    /* Subscriptions held by all gateways together, and by each (writer:
     * that gateway).  A gateway whose publishes could interest nobody but
     * its own plain subscribers (everyone else holds none, and it holds no
     * queue subscription) skips the router for them. */
    _Atomic uint64_t interest_total;
    _Atomic uint32_t interest[SHM_MAX_GATEWAYS];
    /* Bumped by a process that needs every gateway to announce all its
     * subscriptions again (the storage process at start: its replica of
     * their interest is built from what the router forwards). */
    _Atomic uint32_t announce_gen;
    _Atomic uint64_t slow_consumers;
    _Atomic uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    uint8_t pad1[SHM_CACHELINE];
    struct shm_settings settings; /* master */
};

#endif /* SHM_TYPES_H */
