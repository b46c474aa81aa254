/*
 * gw_loop.c -- the gateway worker's event loop: accept, read, parse,
 * drain deliveries, write, tick.
 *
 * NOTES
 *   epoll, level-triggered.  Each worker accepts from its own listening
 *   socket, which the master holds: all of them share the client port
 *   (SO_REUSEPORT), and the kernel spreads connections over them.
 *   One loop turn: handle socket events; retry connections blocked on a
 *   full fabric; push queued control messages; drain up to DRAIN_MAX
 *   deliveries; wake the router once; write every connection with output
 *   once; free what closed.  Before sleeping the worker tells producers
 *   so on its doorbell and re-checks its ring (see shm_doorbell.c).
 *   epoll, not io_uring, for now: perf of a 16-byte pub->sub run (one
 *   worker, 4M messages) put the gateway's kernel time at 19% of all
 *   broker CPU and its own code at 45% (parser 12%, copy into the arena
 *   9%), the router at 26%.  With reads of 64 KiB and one send per
 *   connection per turn, io_uring could save part of the 19% at most;
 *   the router hop is the bigger lever (see README, Performance).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dt_log.h"
#include "gw.h"
#include "gw_http.h"

#define DRAIN_MAX      8192
#define ACCEPT_BATCH   64
#define TICK_NS        (100ull * 1000000ull)
#define HTTP_MAX       64
#define HTTP_TIMEOUT_NS (5ull * 1000000000ull)

enum { T_LISTEN = 1, T_HTTP_LISTEN, T_CONN, T_HTTP, T_EFD, T_CTL };
#define TAG(kind, idx) (((uint64_t)(idx) << 8) | (kind))

static struct dt_buf http_out[HTTP_MAX];
static size_t http_out_head[HTTP_MAX];

static void
ep_set(struct gw_worker *w, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = { .events = events, .data.u64 = tag };
    if (epoll_ctl(w->epfd, op, fd, &ev) == -1 && errno != ENOENT)
        dt_warn("epoll_ctl(%d) failed: %s", op, strerror(errno));
}

static void
conn_events(struct gw_worker *w, struct gw_conn *c)
{
    uint32_t ev = (c->blocked ? 0 : EPOLLIN) | (c->epollout ? EPOLLOUT : 0);
    ep_set(w, EPOLL_CTL_MOD, c->fd, ev, TAG(T_CONN, c->slot));
}

void
gw_loop_want_write(struct gw_worker *w, struct gw_conn *c, bool on)
{
    if (c->epollout == on || c->closing)
        return;
    c->epollout = on;
    conn_events(w, c);
}

void
gw_loop_want_read(struct gw_worker *w, struct gw_conn *c, bool on)
{
    if (!c->closing)
        conn_events(w, c);
}

/* ------------------------------------------------------------------ */
/* Clients */

/* Like nats-server: INFO first, then the reason, then close. */
static void
refuse(struct gw_worker *w, int fd, const char *text)
{
    struct dt_buf b = { .cap = 4096 };
    if (gw_proto_format_info(w, NULL, &b) == 0 &&
        dt_buf_printf(&b, "-ERR '%s'\r\n", text) == 0) {
        ssize_t wr = send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)wr;
    }
    dt_buf_free(&b);
    close(fd);
}

static void
accept_clients(struct gw_worker *w)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(w->ch.listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1)
            return;
        if (atomic_load(&w->hdr->num_conns) >= w->set->max_connections) {
            refuse(w, fd, "maximum connections exceeded");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct gw_conn *c = gw_conn_open(w, fd);
        if (c == NULL) {
            refuse(w, fd, "maximum connections exceeded");
            continue;
        }
        ep_set(w, EPOLL_CTL_ADD, fd, EPOLLIN, TAG(T_CONN, c->slot));
        gw_proto_send_info(w, c);
    }
}

static void
read_conn(struct gw_worker *w, struct gw_conn *c)
{
    if (c->blocked)
        return;
    if (w->stalled && !c->heavy) {
        /* a reader here is over half its max_pending and still taking
         * bytes: hold the writers back rather than let it become a slow
         * consumer (nats-server stalls its producers the same way) */
        gw_proto_pause_input(w, c);
        return;
    }
    /* keep only unparsed bytes: the buffer's cap is one maximal op plus
     * one read, which the parser's limits guarantee is enough */
    if (c->in_head) {
        memmove(c->in.data, c->in.data + c->in_head, c->in.len - c->in_head);
        c->in.len -= c->in_head;
        c->in_head = 0;
    }
    size_t room = c->in.cap - c->in.len;
    if (room > GW_READ_CHUNK)
        room = GW_READ_CHUNK;
    if (room == 0 || dt_buf_reserve(&c->in, room) < 0) {
        gw_conn_fail(w, c, "Maximum Payload Violation");
        return;
    }
    ssize_t n = recv(c->fd, c->in.data + c->in.len, room, 0);
    if (n == 0) {
        gw_conn_close(w, c, "Client Closed");
        return;
    }
    if (n == -1) {
        if (errno != EAGAIN && errno != EINTR)
            gw_conn_close(w, c, "Client Closed");
        return;
    }
    c->in.len += (size_t)n;
    /* once per read, not per op: clock reads showed up at 9% */
    c->last_in_ns = w->turn_ns;
    atomic_store_explicit(&c->shm->last_activity_ns, w->turn_wall_ns,
                          memory_order_relaxed);
    gw_proto_process(w, c);
}

static void
retry_blocked(struct gw_worker *w)
{
    if (w->n_blocked == 0 || w->stalled)
        return;
    shm_arena_reclaim(&w->prod.arena);
    uint32_t n = w->n_blocked;
    w->n_blocked = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct gw_conn *c = w->conns[w->blocked[i]];
        if (c == NULL || !c->blocked)
            continue;
        c->blocked = false;
        gw_proto_process(w, c);
        if (!c->closing && !c->blocked)
            gw_loop_want_read(w, c, true);
    }
}

/* ------------------------------------------------------------------ */
/* Monitoring connections: read a request, write the answer, close. */

static void
http_close(struct gw_worker *w, int i)
{
    close(w->http_conns[i]);
    w->http_conns[i] = -1;
    dt_buf_free(&w->http_in[i]);
    dt_buf_free(&http_out[i]);
    http_out_head[i] = 0;
}

static void
http_accept(struct gw_worker *w)
{
    int fd = accept4(w->ch.http_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1)
        return;
    for (int i = 0; i < HTTP_MAX; i++) {
        if (w->http_conns[i] < 0) {
            w->http_conns[i] = fd;
            w->http_in[i] = (struct dt_buf){ .cap = 16384 };
            http_out[i] = (struct dt_buf){ .cap = 256u << 20 };
            w->http_since[i] = shm_now_ns();
            ep_set(w, EPOLL_CTL_ADD, fd, EPOLLIN, TAG(T_HTTP, i));
            return;
        }
    }
    close(fd); /* too many monitoring clients at once */
}

static void
http_write(struct gw_worker *w, int i)
{
    struct dt_buf *o = &http_out[i];
    while (http_out_head[i] < o->len) {
        ssize_t n = send(w->http_conns[i], o->data + http_out_head[i],
                         o->len - http_out_head[i], MSG_NOSIGNAL);
        if (n > 0) {
            http_out_head[i] += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            ep_set(w, EPOLL_CTL_MOD, w->http_conns[i], EPOLLOUT,
                   TAG(T_HTTP, i));
            return;
        }
        break;
    }
    http_close(w, i);
}

static void
http_event(struct gw_worker *w, int i, uint32_t events)
{
    if (http_out[i].len) {
        http_write(w, i);
        return;
    }
    struct dt_buf *in = &w->http_in[i];
    if (dt_buf_reserve(in, 4096) < 0) {
        http_close(w, i);
        return;
    }
    ssize_t n = recv(w->http_conns[i], in->data + in->len, 4096, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            http_close(w, i);
        return;
    }
    in->len += (size_t)n;
    size_t used = 0;
    if (gw_http_handle(&w->ch.h, in->data, in->len, &used, &http_out[i]) == 1)
        http_write(w, i);
}

static void
http_expire(struct gw_worker *w, uint64_t now)
{
    for (int i = 0; i < HTTP_MAX; i++)
        if (w->http_conns[i] >= 0 && now - w->http_since[i] > HTTP_TIMEOUT_NS)
            http_close(w, i);
}

/* ------------------------------------------------------------------ */

static void
tick(struct gw_worker *w, uint64_t now)
{
    w->next_tick_ns = now + TICK_NS;
    /* the wall clock is derived from the monotonic one between ticks:
     * one clock read per turn instead of two (perf: clock reads were 6%
     * of a request/reply run) */
    w->wall_offset_ns = (int64_t)(shm_wall_ns() - shm_now_ns());
    atomic_store_explicit(&w->db->heartbeat_ns, now, memory_order_relaxed);
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c && !c->closing)
            gw_proto_tick(w, c, now);
    }
    http_expire(w, now);
    gw_ldm_tick(w, now);
    shm_arena_reclaim(&w->prod.arena);
}

static void
handle_event(struct gw_worker *w, const struct epoll_event *ev)
{
    uint64_t idx = ev->data.u64 >> 8;
    switch (ev->data.u64 & 0xff) {
    case T_LISTEN:
        accept_clients(w);
        break;
    case T_HTTP_LISTEN:
        http_accept(w);
        break;
    case T_CONN: {
        struct gw_conn *c = idx < w->max_conns ? w->conns[idx] : NULL;
        if (c == NULL || c->closing)
            break;
        if (ev->events & EPOLLOUT)
            gw_conn_flush(w, c);
        if (!c->closing && (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            read_conn(w, c);
        break;
    }
    case T_HTTP:
        http_event(w, (int)idx, ev->events);
        break;
    case T_EFD:
        shm_doorbell_clear(w->ch.efd[1 + w->index]);
        break;
    case T_CTL: {
        int rc = dt_child_poll_ctl(&w->ch);
        if (rc < 0 || rc == DIALTONE__SUPERVISE__BODY_TERMINATE)
            w->stop = 1;
        else if (rc == DIALTONE__SUPERVISE__BODY_DRAIN)
            gw_ldm_begin(w);
        break;
    }
    }
}

/* How long epoll may sleep: 0 when work is waiting, else until the tick,
 * after announcing sleep on our doorbell. */
static int
sleep_budget(struct gw_worker *w, uint64_t now)
{
    if (shm_producer_ctrl_waiting(&w->prod))
        return 0;
    if (w->n_blocked || w->n_pong_waiters || w->stalled)
        return 1;
    shm_doorbell_prepare_sleep(w->db);
    if (gw_deliver_pending(w)) {
        shm_doorbell_awake(w->db);
        return 0;
    }
    uint64_t left = w->next_tick_ns > now ? w->next_tick_ns - now : 0;
    return (int)(left / 1000000ull) + 1;
}

int
gw_loop_run(struct gw_worker *w)
{
    dt_child_ready(&w->ch);
    while (!w->stop) {
        uint64_t now = shm_now_ns();
        int timeout = sleep_budget(w, now);
        struct epoll_event evs[256];
        int n = epoll_wait(w->epfd, evs, 256, timeout);
        shm_doorbell_awake(w->db);
        w->turn_ns = shm_now_ns();
        w->turn_wall_ns = w->turn_ns + (uint64_t)w->wall_offset_ns;
        gw_js_refresh(w);
        for (int i = 0; i < n; i++)
            handle_event(w, &evs[i]);
        gw_fabric_flush_ctrl(w);
        /* read before draining: deliveries the router pushed before it
         * marked this position are then surely drained below */
        uint32_t applied = shm_ring_applied_pos(&w->prod.in);
        uint32_t out_mark = shm_ring_producer_pos(&w->out);
        w->stalled = gw_conn_should_stall(w, w->turn_ns);
        if (!w->stalled)
            gw_deliver_drain(w, DRAIN_MAX);
        gw_fabric_check_router(w);
        gw_fabric_release_pongs(w, applied,
                                (int32_t)(shm_ring_consumer_pos(&w->out) -
                                          out_mark) >= 0);
        retry_blocked(w);
        gw_fabric_wake_router(w);
        gw_conn_flush_all(w);
        gw_conn_reap(w);
        if (w->turn_ns >= w->next_tick_ns)
            tick(w, w->turn_ns);
    }
    return 0;
}

int
gw_loop_init(struct gw_worker *w)
{
    w->wall_offset_ns = (int64_t)(shm_wall_ns() - shm_now_ns());
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd == -1)
        return -errno;
    for (int i = 0; i < HTTP_MAX; i++)
        w->http_conns[i] = -1;
    ep_set(w, EPOLL_CTL_ADD, w->ch.listen_fd, EPOLLIN | EPOLLEXCLUSIVE,
           T_LISTEN);
    if (w->ch.http_fd >= 0)
        ep_set(w, EPOLL_CTL_ADD, w->ch.http_fd, EPOLLIN | EPOLLEXCLUSIVE,
               T_HTTP_LISTEN);
    ep_set(w, EPOLL_CTL_ADD, w->ch.efd[1 + w->index], EPOLLIN, T_EFD);
    ep_set(w, EPOLL_CTL_ADD, w->ch.ctl_fd, EPOLLIN, T_CTL);
    return 0;
}
