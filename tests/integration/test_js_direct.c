/*
 * test_js_direct.c -- JetStream over the direct gateway <-> storage paths
 * with two gateway workers and clients spread over both: publishes stored
 * exactly once while core subscribers on other workers get them too (the
 * router skips storage for what a gateway sent it directly), every
 * publisher's messages in its order under pipelining, a stream created
 * through one client and published to at once through another, a burst
 * of publishes without acks stored whole, a push consumer's subscriber
 * getting every message in order while another comes and goes on its
 * deliver subject, and a request nobody takes still answered by
 * no-responders.  Checked against
 * nats-server 2.9.10 too (one process: the same answers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define CONNS 8
#define SYNC_EACH 40
#define ASYNC_EACH 300
#define WAIT_MS 5000
#define BURST 50000
#define PUSH_EACH 1000

static natsConnection *nc[CONNS];
static jsCtx *js[CONNS];

static void
add_stream(jsCtx *j, const char *name, const char *subject)
{
    jsStreamConfig cfg;
    const char *subjects[1] = { subject };
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    CHECK(js_AddStream(NULL, j, &cfg, NULL, NULL) == NATS_OK);
}

static int64_t
stream_msgs(jsCtx *j, const char *name)
{
    jsStreamInfo *si = NULL;
    if (js_GetStreamInfo(&si, j, name, NULL, NULL) != NATS_OK)
        return -1;
    int64_t n = (int64_t)si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* Messages waiting on a sync subscription, taken until a quiet spell. */
static int
drain_count(natsSubscription *sub)
{
    natsMsg *m = NULL;
    int n = 0;
    while (natsSubscription_NextMsg(&m, sub, 500) == NATS_OK) {
        natsMsg_Destroy(m);
        n++;
    }
    return n;
}

/* Synchronous publishes from every client in turn: each stored once, and
 * core subscribers (on two clients, so on other workers too) get all. */
static void
test_stored_once_and_seen_by_core(void)
{
    natsSubscription *core[2] = { NULL, NULL };
    CHECK(natsConnection_SubscribeSync(&core[0], nc[1], "d.x") == NATS_OK);
    CHECK(natsConnection_SubscribeSync(&core[1], nc[6], "d.x") == NATS_OK);
    if (core[0] == NULL || core[1] == NULL)
        goto out;
    for (int i = 0; i < 2; i++) {
        natsSubscription_SetPendingLimits(core[i], -1, -1);
        natsConnection_Flush(i ? nc[6] : nc[1]);
    }
    int ok = 0;
    uint64_t last = 0;
    bool rising = true;
    for (int k = 0; k < SYNC_EACH; k++) {
        for (int i = 0; i < CONNS; i++) {
            jsPubAck *pa = NULL;
            char body[32];
            int n = snprintf(body, sizeof(body), "%d:%d", i, k);
            if (js_Publish(&pa, js[i], "d.x", body, n, NULL, NULL) ==
                NATS_OK) {
                ok++;
                rising &= pa->Sequence == last + 1;
                last = pa->Sequence;
            }
            jsPubAck_Destroy(pa);
        }
    }
    CHECK_INT(ok, ==, CONNS * SYNC_EACH);
    CHECK(rising);
    CHECK_INT(stream_msgs(js[0], "D"), ==, CONNS * SYNC_EACH);
    CHECK_INT(drain_count(core[0]), ==, CONNS * SYNC_EACH);
    CHECK_INT(drain_count(core[1]), ==, CONNS * SYNC_EACH);
out:
    natsSubscription_Destroy(core[0]);
    natsSubscription_Destroy(core[1]);
}

/* Pipelined publishes from every client at once: in the stream, each
 * client's messages in the order it sent them. */
static void
test_order_per_publisher(void)
{
    add_stream(js[2], "P", "p.>");
    for (int k = 0; k < ASYNC_EACH; k++)
        for (int i = 0; i < CONNS; i++) {
            char body[32];
            int n = snprintf(body, sizeof(body), "%d:%d", i, k);
            CHECK(js_PublishAsync(js[i], "p.x", body, n, NULL) == NATS_OK);
        }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    for (int i = 0; i < CONNS; i++)
        CHECK(js_PublishAsyncComplete(js[i], &po) == NATS_OK);
    CHECK_INT(stream_msgs(js[0], "P"), ==, CONNS * ASYNC_EACH);

    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckNone;
    CHECK(js_PullSubscribe(&sub, js[3], "p.x", "order", NULL, &so, NULL) ==
          NATS_OK);
    int next[CONNS] = { 0 }, got = 0, bad = 0;
    while (sub != NULL && got < CONNS * ASYNC_EACH) {
        natsMsgList list = { 0 };
        if (natsSubscription_Fetch(&list, sub, 500, WAIT_MS, NULL) != NATS_OK)
            break;
        for (int m = 0; m < list.Count; m++) {
            int i = -1, k = -1;
            char body[32] = "";
            int len = natsMsg_GetDataLength(list.Msgs[m]);
            if (len > 0 && len < (int)sizeof(body))
                memcpy(body, natsMsg_GetData(list.Msgs[m]), (size_t)len);
            if (sscanf(body, "%d:%d", &i, &k) != 2 || i < 0 || i >= CONNS ||
                k != next[i]++)
                bad++;
            got++;
        }
        natsMsgList_Destroy(&list);
    }
    CHECK_INT(got, ==, CONNS * ASYNC_EACH);
    CHECK_INT(bad, ==, 0);
    natsSubscription_Destroy(sub);
}

/* A stream made through one client takes a publish from another at once
 * (through whichever worker that one is on). */
static void
test_new_stream_at_once(void)
{
    int stored = 0;
    for (int r = 0; r < 20; r++) {
        char name[16], subject[16], pub[16];
        snprintf(name, sizeof(name), "N%d", r);
        snprintf(subject, sizeof(subject), "n%d.>", r);
        snprintf(pub, sizeof(pub), "n%d.a", r);
        add_stream(js[r % CONNS], name, subject);
        jsPubAck *pa = NULL;
        if (js_Publish(&pa, js[(r + 3) % CONNS], pub, "x", 1, NULL, NULL) ==
                NATS_OK && pa->Sequence == 1)
            stored++;
        jsPubAck_Destroy(pa);
    }
    CHECK_INT(stored, ==, 20);
}

/* Publishes without acks, as fast as one client sends them: a full
 * direct ring to storage holds the client back, nothing is dropped. */
static void
test_burst_stored_whole(void)
{
    add_stream(js[4], "B", "b.>");
    int sent = 0;
    for (int i = 0; i < BURST; i++)
        sent += natsConnection_Publish(nc[4], "b.x", "0123456789abcdef",
                                       16) == NATS_OK;
    CHECK_INT(sent, ==, BURST);
    CHECK(natsConnection_FlushTimeout(nc[4], 20000) == NATS_OK);
    int64_t stored = -1;
    for (int t = 0; t < 100 && stored < BURST; t++) {
        stored = stream_msgs(js[0], "B");
        if (stored < BURST)
            dt_sleep_ms(100);
    }
    CHECK_INT(stored, ==, BURST);
}

static void
publish_async(jsCtx *j, const char *subject, int from, int n)
{
    for (int k = from; k < from + n; k++) {
        char body[16];
        int len = snprintf(body, sizeof(body), "%d", k);
        CHECK(js_PublishAsync(j, subject, body, len, NULL) == NATS_OK);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    CHECK(js_PublishAsyncComplete(j, &po) == NATS_OK);
}

/* A push consumer's subscriber gets every message in order while a
 * second subscriber comes and goes on its deliver subject (storage sends
 * a lone subscriber's messages directly, several through the router). */
static void
test_push_order_across_paths(void)
{
    natsSubscription *a = NULL, *b = NULL;
    jsConsumerConfig cc;
    add_stream(js[0], "Q", "q.>");
    CHECK(natsConnection_SubscribeSync(&a, nc[5], "dq.in") == NATS_OK);
    if (a == NULL)
        return;
    natsSubscription_SetPendingLimits(a, -1, -1);
    natsConnection_Flush(nc[5]);
    jsConsumerConfig_Init(&cc);
    cc.Durable = "pq";
    cc.DeliverSubject = "dq.in";
    cc.AckPolicy = js_AckNone;
    CHECK(js_AddConsumer(NULL, js[0], "Q", &cc, NULL, NULL) == NATS_OK);
    publish_async(js[0], "q.x", 0, PUSH_EACH);
    CHECK(natsConnection_SubscribeSync(&b, nc[2], "dq.in") == NATS_OK);
    natsConnection_Flush(nc[2]);
    publish_async(js[0], "q.x", PUSH_EACH, PUSH_EACH);
    natsSubscription_Unsubscribe(b);
    natsConnection_Flush(nc[2]);
    publish_async(js[0], "q.x", 2 * PUSH_EACH, PUSH_EACH);
    int got = 0, bad = 0;
    natsMsg *m = NULL;
    while (got < 3 * PUSH_EACH &&
           natsSubscription_NextMsg(&m, a, WAIT_MS) == NATS_OK) {
        char body[16] = "";
        int len = natsMsg_GetDataLength(m);
        if (len > 0 && len < (int)sizeof(body))
            memcpy(body, natsMsg_GetData(m), (size_t)len);
        bad += atoi(body) != got;
        got++;
        natsMsg_Destroy(m);
    }
    CHECK_INT(got, ==, 3 * PUSH_EACH);
    CHECK_INT(bad, ==, 0);
    natsSubscription_Destroy(b);
    natsSubscription_Destroy(a);
}

static void
test_no_responders(void)
{
    for (int i = 0; i < CONNS; i++) {
        natsMsg *m = NULL;
        CHECK(natsConnection_RequestString(&m, nc[i], "nobody.home", "x",
                                           2000) == NATS_NO_RESPONDERS);
        natsMsg_Destroy(m);
    }
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    char store[256], conf[400];
    static const char *const args[] = { "--gateway_workers", "2", NULL };

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    if (dt_mkdtemp(store, sizeof(store), "dt-jsdirect") < 0)
        return 1;
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    bool dialtone = dt_bin_is_dialtone(dt_server_bin()) == 1;
    REQUIRE(dt_server_start_or_skip(&srv, conf, dialtone ? args : NULL) == 0);
    for (int i = 0; i < CONNS; i++) {
        REQUIRE((nc[i] = dt_nats_connect(srv.url, NULL)) != NULL);
        REQUIRE(natsConnection_JetStream(&js[i], nc[i], NULL) == NATS_OK);
    }
    add_stream(js[0], "D", "d.>");
    test_stored_once_and_seen_by_core();
    test_order_per_publisher();
    test_new_stream_at_once();
    test_burst_stored_whole();
    test_push_order_across_paths();
    test_no_responders();
out:
    for (int i = 0; i < CONNS; i++) {
        jsCtx_Destroy(js[i]);
        natsConnection_Destroy(nc[i]);
    }
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
