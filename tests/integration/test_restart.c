/*
 * test_restart.c -- subsystems die under load and come back while clients
 * stay connected (Dialtone only; skipped for nats-server).
 *
 *   router:  kill -9 while a publisher streams sequence numbers to a
 *            subscriber on another connection.  Neither connection may
 *            drop; delivery resumes after the master restarts the router
 *            (the gateways re-announce their subscriptions); what arrives
 *            is in order and without duplicates, and at most what the dead
 *            router had taken off the ring is lost.
 *   gateway: kill -9 one of two gateway workers.  Its clients reconnect
 *            (libnats does that by itself), the other worker's clients
 *            never notice, and everyone can publish and receive after.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000
#define ROUTER_BATCH 256   /* most the dead router can have taken */
#define SPREAD_CONNS 16

struct stream {
    atomic_llong received, last, dups, reorders;
};

static void
on_seq(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    struct stream *st = arg;
    long long v = atoll(natsMsg_GetData(m));
    long long last = atomic_load(&st->last);
    if (v == last)
        atomic_fetch_add(&st->dups, 1);
    else if (v < last)
        atomic_fetch_add(&st->reorders, 1);
    atomic_store(&st->last, v);
    atomic_fetch_add(&st->received, 1);
    natsMsg_Destroy(m);
}

static atomic_int disconnects;

static void
on_disconnect(natsConnection *nc, void *arg)
{
    atomic_fetch_add(&disconnects, 1);
}

/* clients here ride out a dead gateway by reconnecting, and count it */
static const struct dt_nats_opts reconnecting = {
    .max_reconnect = 100,
    .reconnect_wait_ms = 50,
    .disconnected_cb = on_disconnect,
};

static void
test_router_restart(const struct dt_server *s)
{
    static struct stream st;
    natsConnection *pub = dt_nats_connect(s->url, &reconnecting);
    natsConnection *subc = dt_nats_connect(s->url, &reconnecting);
    natsSubscription *sub = NULL;
    REQUIRE(pub && subc);
    atomic_store(&disconnects, 0);
    atomic_store(&st.last, -1);
    REQUIRE(natsConnection_Subscribe(&sub, subc, "seq", on_seq, &st) ==
            NATS_OK);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    REQUIRE(natsConnection_Flush(subc) == NATS_OK);

    pid_t router = dt_server_child(s, "dialtone: router");
    REQUIRE(router > 0);
    char buf[32];
    long long seq = 0, killed_at = -1;
    long long deadline = dt_now_ms() + 3 * WAIT_MS;
    pid_t again = -1;
    while (dt_now_ms() < deadline) {
        snprintf(buf, sizeof(buf), "%lld", seq++);
        natsConnection_PublishString(pub, "seq", buf);
        if (seq % 1000 == 0)
            natsConnection_Flush(pub);
        if (seq == 20000) {
            killed_at = atomic_load(&st.received);
            kill(router, SIGKILL);
            again = dt_server_new_child(s, "dialtone: router", router, WAIT_MS);
        }
        if (seq >= 40000)
            break;
    }
    natsConnection_Flush(pub);
    CHECK_MSG(again > 0, "router was not restarted");
    long long end = dt_now_ms() + WAIT_MS;
    while (atomic_load(&st.last) < seq - 1 && dt_now_ms() < end)
        dt_sleep_ms(20);
    long long got = atomic_load(&st.received);
    printf("router restart: sent %lld, received %lld (%lld before kill), "
           "dups %lld, reorders %lld\n", seq, got, killed_at,
           (long long)atomic_load(&st.dups),
           (long long)atomic_load(&st.reorders));
    CHECK_INT(atomic_load(&st.last), ==, seq - 1); /* flowing again */
    CHECK_INT(got, >=, seq - ROUTER_BATCH);
    CHECK_INT((long long)atomic_load(&st.dups), ==, 0);
    CHECK_INT((long long)atomic_load(&st.reorders), ==, 0);
    CHECK_INT(atomic_load(&disconnects), ==, 0);
    CHECK(natsConnection_Status(pub) == NATS_CONN_STATUS_CONNECTED);
    CHECK(natsConnection_Status(subc) == NATS_CONN_STATUS_CONNECTED);
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(pub);
    natsConnection_Destroy(subc);
}

static void
test_gateway_restart(const struct dt_server *s)
{
    enum { N = 6 };
    natsConnection *nc[N] = { 0 };
    natsSubscription *sub[N] = { 0 };
    natsMsg *m = NULL;
    for (int i = 0; i < N; i++) {
        nc[i] = dt_nats_connect(s->url, &reconnecting);
        REQUIRE(nc[i] != NULL);
    }
    pid_t gw0 = dt_server_child(s, "dialtone: gateway 0");
    REQUIRE(gw0 > 0);
    atomic_store(&disconnects, 0);
    kill(gw0, SIGKILL);
    CHECK_MSG(dt_server_new_child(s, "dialtone: gateway 0", gw0, WAIT_MS) > 0,
              "gateway 0 was not restarted");
    /* every client works again, reconnected or not */
    for (int i = 0; i < N; i++) {
        long long end = dt_now_ms() + WAIT_MS;
        while (natsConnection_Status(nc[i]) != NATS_CONN_STATUS_CONNECTED &&
               dt_now_ms() < end)
            dt_sleep_ms(20);
        CHECK(natsConnection_Status(nc[i]) == NATS_CONN_STATUS_CONNECTED);
        CHECK(natsConnection_SubscribeSync(&sub[i], nc[i], "after.gw") ==
              NATS_OK);
        CHECK(natsConnection_Flush(nc[i]) == NATS_OK);
    }
    printf("gateway restart: %d of %d clients reconnected\n",
           atomic_load(&disconnects), N);
    CHECK(natsConnection_PublishString(nc[0], "after.gw", "x") == NATS_OK);
    CHECK(natsConnection_Flush(nc[0]) == NATS_OK);
    for (int i = 0; i < N; i++) {
        CHECK(natsSubscription_NextMsg(&m, sub[i], WAIT_MS) == NATS_OK);
        natsMsg_Destroy(m);
        m = NULL;
    }
out:
    for (int i = 0; i < N; i++) {
        natsSubscription_Destroy(sub[i]);
        natsConnection_Destroy(nc[i]);
    }
}

/* New connections spread over the workers (one listening socket each,
 * SO_REUSEPORT); with one shared socket all of them went to one. */
static void
test_connections_spread(const struct dt_server *s)
{
    natsConnection *nc[SPREAD_CONNS] = { NULL };
    pid_t gw[2] = { dt_server_child(s, "dialtone: gateway 0"),
                    dt_server_child(s, "dialtone: gateway 1") };
    REQUIRE(gw[0] > 0 && gw[1] > 0);
    int before[2] = { dt_proc_sockets(gw[0]), dt_proc_sockets(gw[1]) };
    for (int i = 0; i < SPREAD_CONNS; i++)
        nc[i] = dt_nats_connect(s->url, NULL);
    dt_sleep_ms(200);
    int got[2] = { dt_proc_sockets(gw[0]) - before[0],
                   dt_proc_sockets(gw[1]) - before[1] };
    printf("connections: %d on worker 0, %d on worker 1\n", got[0], got[1]);
    /* (not an exact sum: the start-up probe's socket may still close) */
    CHECK(got[0] > 0 && got[1] > 0);    /* all on one: 2 in 65,536 */
out:
    for (int i = 0; i < SPREAD_CONNS; i++)
        natsConnection_Destroy(nc[i]);
}

/* A second server on the same port is refused, as nats-server is, even
 * though the workers share the port among themselves (SO_REUSEPORT). */
static void
test_port_taken(const struct dt_server *s, const char *bin)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "timeout 10 %s -a 127.0.0.1 -p %d "
             "--gateway_workers 2 >%s/second.log 2>&1", bin, s->port, s->dir);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124);
    char path[300], line[512];
    snprintf(path, sizeof(path), "%s/second.log", s->dir);
    FILE *f = fopen(path, "r");
    bool said = false;
    while (f && fgets(line, sizeof(line), f))
        said |= strstr(line, "Address already in use") != NULL;
    if (f)
        fclose(f);
    CHECK(said);
}

int
main(int argc, char **argv)
{
    const char *bin = dt_server_bin();
    struct dt_server s;
    (void)argc;
    if (bin == NULL || dt_bin_is_dialtone(bin) != 1) {
        printf("SKIP: restarts are a Dialtone feature\n");
        return DT_EXIT_SKIP;
    }
    static const char *const args[] = { "--gateway_workers", "2", NULL };
    int rc = dt_server_start(&s, NULL, args);
    if (rc < 0) {
        fprintf(stderr, "cannot start server: %s\n", strerror(-rc));
        return 1;
    }
    test_connections_spread(&s);
    test_port_taken(&s, bin);
    test_router_restart(&s);
    test_gateway_restart(&s);
    if (dt_check_failures())
        dt_server_dump_log(&s);
    dt_server_stop(&s);
    nats_Close();
    return dt_check_summary(argv[0]);
}
