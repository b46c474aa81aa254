/*
 * test_js_interest.c -- push consumers follow the interest in their
 * deliver subject: a durable push consumer nobody listens to delivers
 * nothing (its messages wait as pending) and starts delivering when a
 * subscriber appears, on another connection; an ephemeral push consumer
 * whose client went away without deleting it expires after its
 * inactive_threshold.  Checked against nats-server 2.9.10 too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000

static jsCtx *
js_of(natsConnection *nc)
{
    jsCtx *js = NULL;
    if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return NULL;
    return js;
}

static void
make_stream(jsCtx *js)
{
    jsStreamConfig cfg;
    const char *subjects[1] = { "in.>" };
    jsStreamConfig_Init(&cfg);
    cfg.Name = "IN";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    CHECK(js_AddStream(NULL, js, &cfg, NULL, NULL) == NATS_OK);
}

/* A durable push consumer without a listener, then with one. */
static void
test_durable_waits_for_listener(natsConnection *nc, natsConnection *nc2)
{
    jsCtx *js = js_of(nc);
    jsConsumerConfig cc;
    jsConsumerInfo *ci = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;

    REQUIRE(js != NULL);
    jsConsumerConfig_Init(&cc);
    cc.Durable = "pushd";
    cc.DeliverSubject = "deliver.pushd";
    cc.AckPolicy = js_AckNone;
    REQUIRE(js_AddConsumer(NULL, js, "IN", &cc, NULL, NULL) == NATS_OK);
    for (int i = 0; i < 3; i++)
        CHECK(js_Publish(NULL, js, "in.a", "x", 1, NULL, NULL) == NATS_OK);
    dt_sleep_ms(300);
    REQUIRE(js_GetConsumerInfo(&ci, js, "IN", "pushd", NULL, NULL) ==
            NATS_OK);
    CHECK_INT(ci->Delivered.Consumer, ==, 0);    /* nobody listened */
    CHECK_INT(ci->NumPending, ==, 3);
    jsConsumerInfo_Destroy(ci);
    ci = NULL;

    /* a listener on another connection: the three arrive */
    REQUIRE(natsConnection_SubscribeSync(&sub, nc2, "deliver.pushd") ==
            NATS_OK);
    REQUIRE(natsConnection_Flush(nc2) == NATS_OK);
    int got = 0;
    while (got < 3 && natsSubscription_NextMsg(&m, sub, WAIT_MS) == NATS_OK) {
        CHECK(strcmp(natsMsg_GetSubject(m), "in.a") == 0);
        natsMsg_Destroy(m);
        m = NULL;
        got++;
    }
    CHECK_INT(got, ==, 3);
out:
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
}

/* An ephemeral push consumer outlives its client only for a while. */
static void
test_ephemeral_expires(const struct dt_server *s, natsConnection *nc)
{
    natsConnection *gone = dt_nats_connect(s->url, NULL);
    jsCtx *js = js_of(nc), *js_gone = NULL;
    jsSubOptions so;
    natsSubscription *sub = NULL;
    jsConsumerInfo *ci = NULL;
    char name[128] = "";

    REQUIRE(gone != NULL && js != NULL);
    REQUIRE((js_gone = js_of(gone)) != NULL);
    jsSubOptions_Init(&so);
    so.Config.InactiveThreshold = 500 * 1000000LL;  /* ns */
    REQUIRE(js_SubscribeSync(&sub, js_gone, "in.b", NULL, &so, NULL) ==
            NATS_OK);
    REQUIRE(natsSubscription_GetConsumerInfo(&ci, sub, NULL, NULL) ==
            NATS_OK);
    snprintf(name, sizeof(name), "%s", ci->Name);
    jsConsumerInfo_Destroy(ci);
    ci = NULL;
    /* the client dies without deleting its consumer */
    natsConnection_Close(gone);
    long long deadline = dt_now_ms() + WAIT_MS;
    natsStatus st = NATS_OK;
    jsErrCode ec = 0;
    while (dt_now_ms() < deadline) {
        st = js_GetConsumerInfo(&ci, js, "IN", name, NULL, &ec);
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        if (st == NATS_NOT_FOUND)
            break;
        dt_sleep_ms(100);
    }
    CHECK_MSG(st == NATS_NOT_FOUND, "ephemeral %s still there (%d, %d)",
              name, (int)st, (int)ec);
out:
    jsConsumerInfo_Destroy(ci);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js_gone);
    jsCtx_Destroy(js);
    natsConnection_Destroy(gone);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    natsConnection *nc = NULL, *nc2 = NULL;
    jsCtx *js = NULL;
    char store[256], conf[400];

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    if (dt_mkdtemp(store, sizeof(store), "dt-jsint") < 0)
        return 1;
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    REQUIRE(dt_server_start_or_skip(&srv, conf, NULL) == 0);
    REQUIRE((nc = dt_nats_connect(srv.url, NULL)) != NULL);
    REQUIRE((nc2 = dt_nats_connect(srv.url, NULL)) != NULL);
    REQUIRE((js = js_of(nc)) != NULL);
    make_stream(js);
    test_durable_waits_for_listener(nc, nc2);
    test_ephemeral_expires(&srv, nc);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc2);
    natsConnection_Destroy(nc);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
