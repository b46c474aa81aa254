/*
 * test_js_stuck.c -- a gateway worker that stops taking its direct ring
 * (SIGSTOP) does not stop JetStream for the other worker's clients: a
 * delivery that must go through the router, to subscribers on both
 * workers, waits for the stopped worker at most ~2 s and then reaches the
 * live one; after SIGCONT the stopped worker's client gets everything, in
 * order.  Then that worker is killed (-9): the other worker's client goes
 * on publishing with acks, the killed one's client reconnects and
 * publishes again, and the stream holds every acknowledged message once.
 * Dialtone only (it stops and kills one of its processes).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define SOLO 10
#define MAX_TRIES 24
#define AFTER_KILL 200

/* clients ride out a killed gateway by reconnecting */
static const struct dt_nats_opts reconnecting = {
    .max_reconnect = 100,
    .reconnect_wait_ms = 50,
};

/* Connect until there is a client on each worker: on[w] is it. */
static natsConnection *extra[MAX_TRIES];

static bool
one_client_per_worker(const char *url, const pid_t gw[2],
                      natsConnection *on[2])
{
    for (int i = 0; i < MAX_TRIES && (!on[0] || !on[1]); i++) {
        int before[2] = { dt_proc_sockets(gw[0]), dt_proc_sockets(gw[1]) };
        natsConnection *nc = dt_nats_connect(url, &reconnecting);
        if (nc == NULL)
            return false;
        natsConnection_Flush(nc);
        int w = dt_proc_sockets(gw[0]) > before[0] ? 0 :
                dt_proc_sockets(gw[1]) > before[1] ? 1 : -1;
        if (w >= 0 && on[w] == NULL)
            on[w] = nc;
        else
            extra[i] = nc;
    }
    return on[0] && on[1];
}

static void
push_consumer(jsCtx *js, const char *name, const char *filter,
              const char *deliver)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name;
    cc.FilterSubject = filter;
    cc.DeliverSubject = deliver;
    cc.AckPolicy = js_AckNone;
    CHECK(js_AddConsumer(NULL, js, "S", &cc, NULL, NULL) == NATS_OK);
}

static int
payload_int(natsMsg *m)
{
    char body[16] = "";
    int len = natsMsg_GetDataLength(m);
    if (len > 0 && len < (int)sizeof(body))
        memcpy(body, natsMsg_GetData(m), (size_t)len);
    return atoi(body);
}

static int64_t
stream_msgs(jsCtx *js)
{
    jsStreamInfo *si = NULL;
    if (js_GetStreamInfo(&si, js, "S", NULL, NULL) != NATS_OK)
        return -1;
    int64_t n = (int64_t)si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* A publish acknowledged within a few seconds, retried meanwhile. */
static bool
publish_acked(jsCtx *js, const char *subject)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 1000;
    for (int i = 0; i < 10; i++) {
        if (js_Publish(NULL, js, subject, "k", 1, &po, NULL) == NATS_OK)
            return true;
        dt_sleep_ms(200);
    }
    return false;
}

static void
test_killed_worker(const struct dt_server *srv, pid_t gw0,
                   natsConnection *on[2], jsCtx *js1)
{
    jsCtx *js0 = NULL;
    int64_t before = stream_msgs(js1);
    CHECK(before > 0);
    CHECK(natsConnection_JetStream(&js0, on[0], NULL) == NATS_OK);
    CHECK(kill(gw0, SIGKILL) == 0);
    int acked = 0;
    for (int i = 0; i < AFTER_KILL; i++)
        acked += publish_acked(js1, "s.after");
    CHECK_INT(acked, ==, AFTER_KILL);
    CHECK_MSG(dt_server_new_child(srv, "dialtone: gateway 0", gw0, 5000) > 0,
              "gateway 0 was not restarted");
    /* the killed worker's client, reconnected, publishes again */
    CHECK(js0 != NULL && publish_acked(js0, "s.after"));
    CHECK_INT(stream_msgs(js1), ==, before + AFTER_KILL + 1);
    jsCtx_Destroy(js0);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    char store[256], conf[400];
    static const char *const args[] = { "--gateway_workers", "2", NULL };
    natsConnection *on[2] = { NULL, NULL };
    natsSubscription *solo = NULL, *both0 = NULL, *both1 = NULL;
    jsCtx *js = NULL;
    natsMsg *m = NULL;
    pid_t gw[2] = { -1, -1 };
    bool stopped = false;

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    if (dt_bin_is_dialtone(dt_server_bin()) != 1) {
        printf("SKIP: stops one of dialtone's gateway workers\n");
        return DT_EXIT_SKIP;
    }
    if (dt_mkdtemp(store, sizeof(store), "dt-jsstuck") < 0)
        return 1;
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    REQUIRE(dt_server_start_or_skip(&srv, conf, args) == 0);
    gw[0] = dt_server_child(&srv, "dialtone: gateway 0");
    gw[1] = dt_server_child(&srv, "dialtone: gateway 1");
    REQUIRE(gw[0] > 0 && gw[1] > 0);
    REQUIRE(one_client_per_worker(srv.url, gw, on));
    REQUIRE(natsConnection_JetStream(&js, on[1], NULL) == NATS_OK);

    jsStreamConfig cfg;
    const char *subjects[1] = { "s.>" };
    jsStreamConfig_Init(&cfg);
    cfg.Name = "S";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    REQUIRE(js_AddStream(NULL, js, &cfg, NULL, NULL) == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&solo, on[0], "d.solo") == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&both0, on[0], "d.both") ==
            NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&both1, on[1], "d.both") ==
            NATS_OK);
    natsConnection_Flush(on[0]);
    natsConnection_Flush(on[1]);
    push_consumer(js, "solo", "s.solo", "d.solo");
    push_consumer(js, "both", "s.both", "d.both");

    /* worker 0 stops: what storage sends its lone subscriber piles up in
     * worker 0's direct ring */
    REQUIRE(kill(gw[0], SIGSTOP) == 0);
    stopped = true;
    for (int i = 0; i < SOLO; i++) {
        char body[16];
        int len = snprintf(body, sizeof(body), "%d", i);
        CHECK(js_Publish(NULL, js, "s.solo", body, len, NULL, NULL) ==
              NATS_OK);
    }
    /* to both workers, through the router: it must not wait forever
     * (nor the ack, which storage sends after it) */
    int64_t t0 = dt_now_ms();
    CHECK(js_Publish(NULL, js, "s.both", "100", 3, NULL, NULL) == NATS_OK);
    CHECK(natsSubscription_NextMsg(&m, both1, 8000) == NATS_OK);
    CHECK(m != NULL && payload_int(m) == 100);
    printf("delivery to the live worker after %lld ms\n",
           (long long)(dt_now_ms() - t0));
    natsMsg_Destroy(m);
    m = NULL;

    CHECK(kill(gw[0], SIGCONT) == 0);
    stopped = false;
    int got = 0, bad = 0;
    while (got < SOLO && natsSubscription_NextMsg(&m, solo, 5000) == NATS_OK) {
        bad += payload_int(m) != got;
        got++;
        natsMsg_Destroy(m);
    }
    CHECK_INT(got, ==, SOLO);
    CHECK_INT(bad, ==, 0);
    CHECK(natsSubscription_NextMsg(&m, both0, 5000) == NATS_OK);
    CHECK(m != NULL && payload_int(m) == 100);
    natsMsg_Destroy(m);
    m = NULL;
    test_killed_worker(&srv, gw[0], on, js);
out:
    if (stopped)
        kill(gw[0], SIGCONT);
    natsSubscription_Destroy(solo);
    natsSubscription_Destroy(both0);
    natsSubscription_Destroy(both1);
    jsCtx_Destroy(js);
    natsConnection_Destroy(on[0]);
    natsConnection_Destroy(on[1]);
    for (int i = 0; i < MAX_TRIES; i++)
        natsConnection_Destroy(extra[i]);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
