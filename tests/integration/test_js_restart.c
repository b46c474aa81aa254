/*
 * test_js_restart.c -- JetStream across a router restart (Dialtone only):
 * kill -9 the router while a client publishes synchronously to a stream
 * and a push consumer (explicit acks, on another connection) receives.
 * Publishes during the outage may fail and are retried; afterwards every
 * acknowledged message has reached the consumer (redelivered if the
 * outage ate it), the consumer still counts as listened to (the storage
 * process's view of interest was rebuilt), and nobody was disconnected.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define MSGS 1500
#define KILL_AT 500
#define WAIT_MS 10000

static atomic_int got[MSGS + 1];
static atomic_int distinct;

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    (void)sub;
    (void)arg;
    int v = atoi(natsMsg_GetData(m));
    if (v > 0 && v <= MSGS && atomic_fetch_add(&got[v], 1) == 0)
        atomic_fetch_add(&distinct, 1);
    /* a plain subscription: ack by hand (natsMsg_Ack wants a JS one) */
    if (natsMsg_GetReply(m) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(m), "+ACK");
    natsMsg_Destroy(m);
}

static int
setup(jsCtx *js, natsConnection *nc2, natsSubscription **sub)
{
    jsStreamConfig cfg;
    jsConsumerConfig cc;
    const char *subjects[1] = { "rs.>" };

    jsStreamConfig_Init(&cfg);
    cfg.Name = "RS";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    if (js_AddStream(NULL, js, &cfg, NULL, NULL) != NATS_OK)
        return -1;
    if (natsConnection_Subscribe(sub, nc2, "deliver.rs", on_msg, NULL) !=
        NATS_OK || natsConnection_Flush(nc2) != NATS_OK)
        return -1;
    jsConsumerConfig_Init(&cc);
    cc.Durable = "rs";
    cc.DeliverSubject = "deliver.rs";
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = 1000 * 1000000LL;      /* ns: redeliver what was lost */
    return js_AddConsumer(NULL, js, "RS", &cc, NULL, NULL) == NATS_OK ? 0
                                                                       : -1;
}

/* Publish 1..MSGS in order, each retried until acked (bounded). */
static int
publish_all(const struct dt_server *s, jsCtx *js, int *retries)
{
    char buf[16];
    jsPubOptions po;
    for (int i = 1; i <= MSGS; i++) {
        if (i == KILL_AT) {
            pid_t r = dt_server_child(s, "dialtone: router");
            CHECK_MSG(r > 0 && kill(r, SIGKILL) == 0, "kill router %d",
                      (int)r);
        }
        int n = snprintf(buf, sizeof(buf), "%d", i);
        jsPubOptions_Init(&po);
        po.MaxWait = 500;
        po.MsgId = buf;             /* a retry is not stored twice */
        int tries = 0;
        while (js_Publish(NULL, js, "rs.x", buf, n, &po, NULL) != NATS_OK) {
            if (++tries > 40)
                return -1;
            (*retries)++;
            dt_sleep_ms(50);
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    natsConnection *nc = NULL, *nc2 = NULL;
    natsSubscription *sub = NULL;
    jsCtx *js = NULL;
    jsConsumerInfo *ci = NULL;
    char store[256], conf[400];
    int retries = 0;

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    const char *bin = dt_server_bin();
    if (bin == NULL || dt_bin_is_dialtone(bin) != 1) {
        printf("SKIP: needs Dialtone (it kills its router)\n");
        return DT_EXIT_SKIP;
    }
    if (dt_mkdtemp(store, sizeof(store), "dt-jsrs") < 0)
        return 1;
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    REQUIRE(dt_server_start(&srv, conf, NULL) == 0);
    struct dt_nats_opts o = { .max_reconnect = 0 };
    REQUIRE((nc = dt_nats_connect(srv.url, &o)) != NULL);
    REQUIRE((nc2 = dt_nats_connect(srv.url, &o)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    REQUIRE(setup(js, nc2, &sub) == 0);

    CHECK(publish_all(&srv, js, &retries) == 0);
    printf("%d publishes, %d retries across the router restart\n", MSGS,
           retries);
    long long deadline = dt_now_ms() + WAIT_MS;
    while (atomic_load(&distinct) < MSGS && dt_now_ms() < deadline)
        dt_sleep_ms(50);
    CHECK_INT(atomic_load(&distinct), ==, MSGS);
    CHECK(!natsConnection_IsClosed(nc) && !natsConnection_IsClosed(nc2));
    /* stored once each, and the consumer caught up */
    deadline = dt_now_ms() + WAIT_MS;
    do {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        if (js_GetConsumerInfo(&ci, js, "RS", "rs", NULL, NULL) != NATS_OK)
            break;
        if (ci->NumAckPending == 0 && ci->NumPending == 0)
            break;
        dt_sleep_ms(100);
    } while (dt_now_ms() < deadline);
    REQUIRE(ci != NULL);
    CHECK_INT(ci->Delivered.Stream, ==, MSGS);
    CHECK_INT(ci->NumPending, ==, 0);
    CHECK_INT(ci->NumAckPending, ==, 0);
out:
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc2);
    natsConnection_Destroy(nc);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
