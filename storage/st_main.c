/*
 * st_main.c -- `dialtone-storage`: the JetStream process, started by the
 * master when JetStream is on.  One thread, one epoll loop: deliveries
 * from the router (st_port) go to the engine (st_js), whose writes go
 * through io_uring; completions, the doorbell and the master's control
 * socket all wake the same epoll.
 *
 * NOTES
 *   Streams live in <store_dir>/dialtone/streams.
 *   Every turn: new router? -> drain deliveries -> reap I/O -> run the
 *   engine (acks, consumers, timers) -> publish what was staged.  The
 *   loop sleeps only when all four found nothing to do.
 *   /jsz reads the counters this process writes into shm_js_stats.
 *   Interest: the router forwards every gateway's subscription changes
 *   to us; `others` replays them (rt_interest, the router's own code), so
 *   that push consumers deliver only while their deliver subject has a
 *   listener and ephemeral ones expire once nobody listens.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dt_child.h"
#include "dt_log.h"
#include "rt_interest.h"
#include "st_js.h"
#include "st_port.h"

#define DRAIN_MAX     1024
#define STATS_EVERY_NS 250000000ll
#define IDLE_WAIT_MS  250
/* A send or a gateway's publish waiting for the router or a gateway to
 * catch up (st_port_deferred): they need microseconds, so look again
 * every 50 us at first, every 1 ms once it has lasted 2 ms. */
#define DEFER_POLL_NS 50000
#define DEFER_FAST_NS 2000000

enum { EV_DOORBELL = 1, EV_IO, EV_CTL };

struct st_proc {
    struct dt_child ch;
    struct st_port port;
    struct st_io *io;
    struct st_js *js;
    struct rt_interest others;  /* the other ports' subscriptions */
    bool interest_moved;        /* others changed since the last turn */
    struct shm_js_stats *stats;
    int epfd, io_efd;
    int64_t now;            /* CLOCK_REALTIME, once per turn */
    uint64_t deferred_since;    /* CLOCK_MONOTONIC; 0 = nothing waits */
    int64_t stats_at;
    volatile int stop;
};

static struct st_proc proc;

static void
on_msg(void *arg, uint32_t sub_id, const char *subj, size_t subj_len,
       const char *reply, size_t reply_len, const void *hdr, size_t hdr_len,
       const void *data, size_t data_len)
{
    struct st_proc *sp = arg;
    st_js_on_msg(sp->js, sub_id, subj, subj_len, reply, reply_len, hdr,
                 hdr_len, data, data_len, sp->now);
}

/* A gateway's subscription change, forwarded by the router. */
static void
on_ctrl(void *arg, unsigned from, const void *body, size_t len)
{
    struct st_proc *sp = arg;
    Dialtone__Control *m = dialtone__control__unpack(NULL, len, body);
    if (m == NULL)
        return;
    rt_interest_apply(&sp->others, from, m);
    dialtone__control__free_unpacked(m, NULL);
    sp->interest_moved = true;
}

static bool
port_has_interest(void *arg, const char *subj, size_t len)
{
    const struct rt_match *r = rt_sublist_match(proc.others.sl, subj, len);
    return r != NULL && (r->n_psubs || r->n_qgroups);
}

/* Where the others' interest says a message on `subj` goes. */
static void
target_of(const char *subj, size_t len, struct st_port_target *t)
{
    memset(t, 0, sizeof(*t));
    const struct rt_match *r = rt_sublist_match(proc.others.sl, subj,
                                                (uint32_t)len);
    if (r == NULL) {
        t->ports = ~0ull;       /* out of memory: assume anyone */
        return;
    }
    if (r->n_psubs == 1 && r->n_qgroups == 0) {
        const struct rt_sub *s = r->psubs[0];
        *t = (struct st_port_target){ .one = true, .gw = s->gw,
                                      .conn = s->conn,
                                      .conn_gen = s->conn_gen,
                                      .sub_id = s->sub_id };
        return;
    }
    for (uint32_t i = 0; i < r->n_psubs; i++)
        t->ports |= 1ull << (r->psubs[i]->gw & 63);
    for (uint32_t i = 0; i < r->n_qgroups; i++)
        for (uint32_t k = 0; k < r->qgroups[i].n; k++)
            t->ports |= 1ull << (r->qgroups[i].subs[k]->gw & 63);
}

/* Everything storage sends: to its one subscriber's gateway directly
 * when our replica knows exactly one, else through the router
 * (st_port_send keeps a subscriber's messages in order either way).
 * The replica is never older than a request it answers: the request came
 * through the router after the requester's subscription did, or directly
 * with a mark that made us wait for it. */
static int
port_publish(void *arg, const char *subj, size_t subj_len, const char *reply,
             size_t reply_len, const void *hdr, size_t hdr_len,
             const void *data, size_t data_len)
{
    struct st_port_target t;
    target_of(subj, subj_len, &t);
    return st_port_send(arg, &t, false, subj, subj_len, NULL, 0, reply,
                        reply_len, hdr, hdr_len, data, data_len);
}

/* A reply (one per request) waits behind nothing. */
static int
port_reply(void *arg, const char *subj, size_t subj_len, const void *hdr,
           size_t hdr_len, const void *data, size_t data_len)
{
    struct st_port_target t;
    target_of(subj, subj_len, &t);
    return st_port_send(arg, &t, true, subj, subj_len, NULL, 0, NULL, 0,
                        hdr, hdr_len, data, data_len);
}

static int
port_deliver(void *arg, const char *subj, size_t subj_len, const char *route,
             size_t route_len, const char *reply, size_t reply_len,
             const void *hdr, size_t hdr_len, const void *data,
             size_t data_len)
{
    struct st_port_target t;
    target_of(route, route_len, &t);
    return st_port_send(arg, &t, false, subj, subj_len, route, route_len,
                        reply, reply_len, hdr, hdr_len, data, data_len);
}

static int
port_subscribe(void *arg, uint32_t id, const char *subject, size_t len)
{
    return st_port_subscribe(arg, id, subject, len);
}

static int
port_unsubscribe(void *arg, uint32_t id)
{
    return st_port_unsubscribe(arg, id);
}

static int
make_dirs(const char *store_dir, char *out, size_t len)
{
    const char *parts[] = { "", "/dialtone", "/dialtone/streams" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(out, len, "%s%s", store_dir, parts[i]);
        if (mkdir(out, 0750) == -1 && errno != EEXIST) {
            dt_error("cannot create the store directory %s: %s", out,
                     strerror(errno));
            return -errno;
        }
    }
    return 0;
}

static int
open_engine(struct st_proc *sp)
{
    const struct shm_settings *set = &sp->ch.h.hdr->settings;
    char dir[512];
    int rc = make_dirs(set->store_dir, dir, sizeof(dir));
    if (rc < 0)
        return rc;
    rc = st_io_open_uring_efd(&sp->io, 0, sp->io_efd);
    if (rc < 0) {
        dt_error("io_uring is not available: %s", strerror(-rc));
        return rc;
    }
    struct st_js_opts o = {
        .dir = dir, .io = sp->io,
        .sync_always = set->js_sync_ms == SHM_JS_SYNC_ALWAYS,
        .sync_interval_ns = set->js_sync_ms > 0 ? set->js_sync_ms * 1000000
                                                : 0,
        .max_memory = set->js_max_memory, .max_store = set->js_max_store,
    };
    struct st_js_port port = {
        .arg = &sp->port, .publish = port_publish,
        .subscribe = port_subscribe, .unsubscribe = port_unsubscribe,
        .deliver = port_deliver, .has_interest = port_has_interest,
        .reply = port_reply,
    };
    rc = st_js_open(&sp->js, &o, &port, (int64_t)shm_wall_ns());
    if (rc < 0)
        dt_error("cannot open the JetStream store in %s: %s", dir,
                 strerror(-rc));
    else
        dt_info("JetStream store in %s (sync %s)", dir,
                o.sync_always ? "always" : "periodic");
    return rc;
}

static int
watch(int epfd, int fd, uint64_t tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int
init(struct st_proc *sp)
{
    sp->epfd = epoll_create1(EPOLL_CLOEXEC);
    sp->io_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sp->epfd < 0 || sp->io_efd < 0)
        return -errno;
    const struct shm_header *hdr = sp->ch.h.hdr;
    int rc = rt_interest_init(&sp->others, hdr->ports, hdr->max_conns_per_gw,
                              4096);
    if (rc < 0)
        return rc;
    rc = st_port_init(&sp->port, &sp->ch, on_msg, on_ctrl, sp);
    if (rc < 0)
        return rc;
    sp->stats = shm_js_stats(&sp->ch.h);
    if (watch(sp->epfd, sp->port.efd, EV_DOORBELL) < 0 ||
        watch(sp->epfd, sp->io_efd, EV_IO) < 0 ||
        watch(sp->epfd, sp->ch.ctl_fd, EV_CTL) < 0)
        return -errno;
    return open_engine(sp);
}

static void
publish_stats(struct st_proc *sp)
{
    struct st_js_stats s;
    st_js_stats(sp->js, &s);
    struct shm_js_stats *o = sp->stats;
    atomic_store_explicit(&o->streams, s.streams, memory_order_relaxed);
    atomic_store_explicit(&o->consumers, s.consumers, memory_order_relaxed);
    atomic_store_explicit(&o->messages, s.messages, memory_order_relaxed);
    atomic_store_explicit(&o->bytes, s.bytes, memory_order_relaxed);
    atomic_store_explicit(&o->memory, s.memory, memory_order_relaxed);
    atomic_store_explicit(&o->store, s.store, memory_order_relaxed);
    atomic_store_explicit(&o->api_total, s.api_total, memory_order_relaxed);
    atomic_store_explicit(&o->api_errors, s.api_errors,
                          memory_order_relaxed);
    atomic_store_explicit(&o->reserved_memory, s.reserved_memory,
                          memory_order_relaxed);
    atomic_store_explicit(&o->reserved_store, s.reserved_store,
                          memory_order_relaxed);
    atomic_store_explicit(&o->updated_ns, (uint64_t)sp->now,
                          memory_order_release);
    sp->stats_at = sp->now + STATS_EVERY_NS;
}

/* How long epoll may sleep, in ms, or -1 for DEFER_POLL_NS. */
static int
sleep_budget(struct st_proc *sp, int64_t deadline, bool busy)
{
    if (st_port_deferred(&sp->port)) {
        uint64_t t = shm_now_ns();
        if (sp->deferred_since == 0)
            sp->deferred_since = t;
        if (t - sp->deferred_since < DEFER_FAST_NS)
            return -1;
        return 1;
    }
    sp->deferred_since = 0;
    if (busy)
        return 1;               /* the router is full: retry shortly */
    int timeout = IDLE_WAIT_MS;
    if (deadline != INT64_MAX)
        timeout = deadline <= sp->now ? 0 :
                  (int)((deadline - sp->now) / 1000000 + 1);
    return timeout > IDLE_WAIT_MS ? IDLE_WAIT_MS : timeout;
}

/* Wait for a delivery, an I/O completion, the master or the next timer. */
static void
sleep_until_work(struct st_proc *sp, int64_t deadline, bool busy)
{
    shm_doorbell_prepare_sleep(sp->port.db);
    if (st_port_pending(&sp->port) || sp->stop) {
        shm_doorbell_awake(sp->port.db);
        return;
    }
    int timeout = sleep_budget(sp, deadline, busy);
    struct epoll_event evs[4];
    static const struct timespec poll_ts = { 0, DEFER_POLL_NS };
    int n = timeout < 0 ? epoll_pwait2(sp->epfd, evs, 4, &poll_ts, NULL)
                        : epoll_wait(sp->epfd, evs, 4, timeout);
    shm_doorbell_awake(sp->port.db);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == EV_DOORBELL)
            shm_doorbell_clear(sp->port.efd);
        else if (evs[i].data.u64 == EV_IO)
            shm_doorbell_clear(sp->io_efd);
        else if (evs[i].data.u64 == EV_CTL) {
            int rc = dt_child_poll_ctl(&sp->ch);
            if (rc < 0 || rc == DIALTONE__SUPERVISE__BODY_TERMINATE)
                sp->stop = 1;
        }
    }
}

static int
run(struct st_proc *sp)
{
    dt_child_ready(&sp->ch);
    while (!sp->stop) {
        sp->now = (int64_t)shm_wall_ns();
        atomic_store_explicit(&sp->port.db->heartbeat_ns, shm_now_ns(),
                              memory_order_relaxed);
        st_port_check_router(&sp->port);
        unsigned got = st_port_drain(&sp->port, DRAIN_MAX);
        if (sp->interest_moved) {
            sp->interest_moved = false;
            st_js_interest_changed(sp->js, sp->now);
        }
        int done = st_io_poll(sp->io, 0);
        int more = st_js_run(sp->js, sp->now);
        st_port_flush(&sp->port);
        if (sp->now >= sp->stats_at)
            publish_stats(sp);
        if (got || done > 0)
            continue;
        sleep_until_work(sp, st_js_next_deadline(sp->js), more > 0);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct st_proc *sp = &proc;
    dt_child_signals(&sp->stop);
    if (dt_child_init(&sp->ch, argc, argv, DIALTONE__SUBSYSTEM__STORAGE,
                      "storage") < 0)
        return 2;
    int rc = init(sp);
    if (rc < 0) {
        dt_error("cannot start: %s", strerror(-rc));
        return 2;
    }
    rc = run(sp);
    st_js_close(sp->js);
    st_io_close(sp->io);
    st_port_flush(&sp->port);
    st_port_free(&sp->port);
    rt_interest_free(&sp->others);
    dt_info("storage stopped");
    return rc;
}
