/*
 * gw_conn.c -- client connections of one gateway worker: the slot table,
 * input and output buffers, writing, closing, and the shm mirror.
 *
 * NOTES
 *   Output is appended to a per-connection buffer and written once per
 *   loop turn (gw_conn_flush_all), so many MSGs share one write(2).
 *   The buffer is capped at max_pending: a connection whose reader falls
 *   that far behind, or whose socket accepts nothing for write_deadline,
 *   is closed as a slow consumer, as nats-server does, and nobody else
 *   waits for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dt_log.h"
#include "gw.h"

int
gw_worker_init_conns(struct gw_worker *w)
{
    w->max_conns = w->hdr->max_conns_per_gw;
    w->conns = calloc(w->max_conns, sizeof(*w->conns));
    w->free_slots = calloc(w->max_conns, sizeof(*w->free_slots));
    w->flush = calloc(w->max_conns, sizeof(*w->flush));
    w->blocked = calloc(w->max_conns, sizeof(*w->blocked));
    w->pong_waiters = calloc(w->max_conns, sizeof(*w->pong_waiters));
    w->heavy = calloc(w->max_conns, sizeof(*w->heavy));
    if (!w->conns || !w->free_slots || !w->flush || !w->blocked ||
        !w->pong_waiters || !w->heavy)
        return -ENOMEM;
    /* a successor: whatever its predecessor had open is gone */
    struct shm_conn_slot *slots = shm_conn_slots(&w->ch.h, w->index);
    for (uint32_t i = 0; i < w->max_conns; i++) {
        if (atomic_load(&slots[i].state) != SHM_CONN_FREE) {
            atomic_store(&slots[i].state, SHM_CONN_FREE);
            atomic_fetch_sub(&w->hdr->num_conns, 1);
        }
    }
    for (uint32_t i = 0; i < w->max_conns; i++)
        w->free_slots[w->n_free++] = w->max_conns - 1 - i;
    return 0;
}

static void
fill_peer(struct gw_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    static_assert(sizeof(c->shm->ip) >= INET6_ADDRSTRLEN, "ip fits");
    c->shm->ip[0] = '\0';
    c->shm->port = 0;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == -1)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, c->shm->ip, sizeof(c->shm->ip));
        c->shm->port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, c->shm->ip, sizeof(c->shm->ip));
        c->shm->port = ntohs(a->sin6_port);
    }
}

struct gw_conn *
gw_conn_open(struct gw_worker *w, int fd)
{
    if (w->n_free == 0)
        return NULL;
    struct gw_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    uint32_t slot = w->free_slots[--w->n_free];
    struct shm_conn_slot *s = &shm_conn_slots(&w->ch.h, w->index)[slot];
    c->fd = fd;
    c->slot = slot;
    c->shm = s;
    c->gen = s->gen + 1;
    c->cid = atomic_fetch_add(&w->hdr->next_cid, 1);
    const struct shm_settings *set = w->set;
    gw_parser_init(&c->ps, set->max_control_line, set->max_payload);
    c->in.cap = set->max_control_line + (size_t)set->max_payload +
                GW_READ_CHUNK + 64;
    c->out.cap = (size_t)set->max_pending + GW_READ_CHUNK;
    c->protocol = 0;
    c->flags = SHM_CF_VERBOSE | SHM_CF_PEDANTIC; /* until CONNECT says */
    uint64_t now = shm_now_ns();
    c->ping_due_ns = now + set->ping_interval_ms * 1000000ull;
    bool auth = set->auth_user[0] || set->auth_token[0];
    if (auth)
        c->auth_deadline_ns = now + set->auth_timeout_ms * 1000000ull;

    /* reset the public mirror; gen last so readers see a new conn */
    s->cid = c->cid;
    s->start_ns = shm_wall_ns();
    atomic_store(&s->last_activity_ns, s->start_ns);
    atomic_store(&s->in_msgs, 0);
    atomic_store(&s->out_msgs, 0);
    atomic_store(&s->in_bytes, 0);
    atomic_store(&s->out_bytes, 0);
    atomic_store(&s->pending_bytes, 0);
    atomic_store(&s->subs, 0);
    s->flags = 0;
    s->name[0] = s->lang[0] = s->version[0] = '\0';
    s->rtt_ns = 0;
    fill_peer(c);
    s->gen = c->gen;
    atomic_store(&s->state, SHM_CONN_OPEN);
    w->conns[slot] = c;
    atomic_fetch_add(&w->hdr->num_conns, 1);
    atomic_fetch_add(&w->hdr->total_conns, 1);
    return c;
}

struct gw_conn *
gw_conn_by_slot(struct gw_worker *w, uint32_t slot, uint32_t gen)
{
    if (slot >= w->max_conns)
        return NULL;
    struct gw_conn *c = w->conns[slot];
    return c && c->gen == gen && !c->closing ? c : NULL;
}

void
gw_conn_sync_stats(struct gw_worker *w, struct gw_conn *c)
{
    struct shm_conn_slot *s = c->shm;
    if (c->in_msgs | c->out_msgs | c->in_bytes | c->out_bytes) {
        atomic_fetch_add_explicit(&s->in_msgs, c->in_msgs,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&s->in_bytes, c->in_bytes,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&s->out_msgs, c->out_msgs,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&s->out_bytes, c->out_bytes,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&w->hdr->in_msgs, c->in_msgs,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&w->hdr->in_bytes, c->in_bytes,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&w->hdr->out_msgs, c->out_msgs,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&w->hdr->out_bytes, c->out_bytes,
                                  memory_order_relaxed);
        c->in_msgs = c->in_bytes = c->out_msgs = c->out_bytes = 0;
    }
    atomic_store_explicit(&s->pending_bytes, c->out.len - c->out_head,
                          memory_order_relaxed);
    atomic_store_explicit(&s->subs, c->subs.count, memory_order_relaxed);
}

static void
slow_consumer(struct gw_worker *w, struct gw_conn *c, const char *why)
{
    atomic_fetch_add(&w->hdr->slow_consumers, 1);
    dt_info("%s:%u - cid:%llu - Slow Consumer Detected: %s", c->shm->ip,
            c->shm->port, (unsigned long long)c->cid, why);
    gw_conn_close(w, c, "Slow Consumer (Pending Bytes)");
}

static void
mark_dirty(struct gw_worker *w, struct gw_conn *c)
{
    if (c->in_flush_list)
        return;
    if (w->n_flush == w->max_conns) {
        /* stale entries of closed conns filled the list: flush now */
        gw_conn_flush_all(w);
    }
    c->in_flush_list = true;
    w->flush[w->n_flush++] = c->slot;
}

char *
gw_conn_out_reserve(struct gw_worker *w, struct gw_conn *c, size_t n)
{
    if (c->closing)
        return NULL;
    size_t pending = c->out.len - c->out_head;
    if (pending + n > (size_t)w->set->max_pending) {
        slow_consumer(w, c, "Pending Bytes exceeded");
        return NULL;
    }
    /* compact once the written prefix dominates, or when it is in the
     * way of the cap, so the buffer stays bounded by what is pending */
    if (c->out_head &&
        (c->out_head >= pending || c->out.len + n > c->out.cap)) {
        memmove(c->out.data, c->out.data + c->out_head, pending);
        c->out.len = pending;
        c->out_head = 0;
    }
    if (dt_buf_reserve(&c->out, n) < 0) {
        slow_consumer(w, c, "out of buffer memory");
        return NULL;
    }
    return c->out.data + c->out.len;
}

void
gw_conn_out_commit(struct gw_worker *w, struct gw_conn *c, size_t n)
{
    c->out.len += n;
    mark_dirty(w, c);
    if (!c->heavy &&
        c->out.len - c->out_head > (size_t)w->set->max_pending / 2) {
        c->heavy = true;
        w->heavy[w->n_heavy++] = c->slot;
    }
}

bool
gw_conn_should_stall(struct gw_worker *w, uint64_t now)
{
    bool stall = false;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < w->n_heavy; i++) {
        struct gw_conn *c = w->conns[w->heavy[i]];
        if (c == NULL || !c->heavy)
            continue;
        if (c->closing ||
            c->out.len - c->out_head <= (size_t)w->set->max_pending / 2) {
            c->heavy = false;
            continue;
        }
        w->heavy[kept++] = c->slot;
        if (now - c->wrote_ns < 100ull * 1000000ull)
            stall = true;
    }
    w->n_heavy = kept;
    return stall;
}

void
gw_conn_send(struct gw_worker *w, struct gw_conn *c, const char *s, size_t n)
{
    char *p = gw_conn_out_reserve(w, c, n);
    if (p == NULL)
        return;
    memcpy(p, s, n);
    gw_conn_out_commit(w, c, n);
}

void
gw_conn_send_err(struct gw_worker *w, struct gw_conn *c, const char *text)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "-ERR '%s'\r\n", text);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    gw_conn_send(w, c, line, (size_t)n);
}

/* Write what we can; returns -1 when the connection is gone. */
static int
write_out(struct gw_worker *w, struct gw_conn *c)
{
    while (c->out_head < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_head,
                         c->out.len - c->out_head,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_head += (size_t)n;
            c->stall_since_ns = 0;
            c->wrote_ns = w->turn_ns;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN) {
            if (c->stall_since_ns == 0)
                c->stall_since_ns = w->turn_ns;
            gw_loop_want_write(w, c, true);
            return 0;
        }
        return -1;
    }
    c->out.len = c->out_head = 0;
    if (c->epollout)
        gw_loop_want_write(w, c, false);
    return 0;
}

void
gw_conn_flush(struct gw_worker *w, struct gw_conn *c)
{
    if (write_out(w, c) < 0 && !c->closing)
        gw_conn_close(w, c, "write error");
}

void
gw_conn_flush_all(struct gw_worker *w)
{
    /* closing a connection may not add to the list: it only writes */
    for (uint32_t i = 0; i < w->n_flush; i++) {
        struct gw_conn *c = w->conns[w->flush[i]];
        if (c == NULL)
            continue;
        c->in_flush_list = false;
        gw_conn_flush(w, c);
    }
    w->n_flush = 0;
}

void
gw_conn_fail(struct gw_worker *w, struct gw_conn *c, const char *text)
{
    if (c->closing)
        return;
    /* what is pending goes first, then the reason, as nats-server does;
     * best effort: a client that does not read will not see it */
    gw_conn_send_err(w, c, text);
    if (!c->closing)
        write_out(w, c);
    gw_conn_close(w, c, text);
}

void
gw_conn_close(struct gw_worker *w, struct gw_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    dt_debug("%s:%u - cid:%llu - connection closed: %s", c->shm->ip,
             c->shm->port, (unsigned long long)c->cid, why ? why : "");
    if (c->subs.count)
        gw_fabric_ctrl_closed(w, c);
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        if (c->subs.slot[i].id == 0)
            continue;
        gw_local_del(w, &c->subs.slot[i]);
        gw_local_interest(w, &c->subs.slot[i], -1);
    }
    for (uint32_t i = 0; c->heavy && i < w->n_heavy; i++)
        if (w->heavy[i] == c->slot)
            w->heavy[i] = w->heavy[--w->n_heavy];
    for (uint32_t i = 0; c->pong_waiting && i < w->n_pong_waiters; i++)
        if (w->pong_waiters[i] == c->slot)
            w->pong_waiters[i] = w->pong_waiters[--w->n_pong_waiters];
    gw_conn_sync_stats(w, c);
    close(c->fd); /* also removes it from epoll */
    atomic_store(&c->shm->state, SHM_CONN_FREE);
    atomic_fetch_sub(&w->hdr->num_conns, 1);
    w->conns[c->slot] = NULL;
    w->free_slots[w->n_free++] = c->slot;
    /* callers up the stack may still hold c: free it after this turn */
    c->next_dead = w->dead;
    w->dead = c;
}

void
gw_conn_reap(struct gw_worker *w)
{
    while (w->dead) {
        struct gw_conn *c = w->dead;
        w->dead = c->next_dead;
        gw_subs_free(&c->subs);
        dt_buf_free(&c->in);
        dt_buf_free(&c->out);
        free(c);
    }
}
