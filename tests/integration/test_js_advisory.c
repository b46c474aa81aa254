/*
 * test_js_advisory.c -- the JetStream advisories nats-server 2.9.10
 * publishes that clients rely on most: $JS.EVENT.ADVISORY.STREAM.CREATED /
 * UPDATED / DELETED.<stream> (stream_action), CONSUMER.CREATED /
 * DELETED.<stream>.<consumer> (consumer_action; every consumer of a
 * deleted stream before the stream's own) and
 * CONSUMER.MAX_DELIVERIES.<stream>.<consumer> (max_deliver, once a
 * message was delivered max_deliver times and is due again), with their
 * JSON members in nats-server's order; none for a create that changes
 * nothing.  Checked against nats-server 2.9.10 too
 * (DIALTONE_BIN=/usr/sbin/nats-server).
 *
 * NOTES
 *   The API audit advisories ($JS.EVENT.ADVISORY.API) of nats-server are
 *   not produced by Dialtone: the subscriptions here leave them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000

/* The next advisory other than an API audit. */
static natsStatus
next_adv(natsSubscription *sub, natsMsg **m, int ms)
{
    natsStatus s;

    for (int i = 0; i < 64; i++) {
        if ((s = natsSubscription_NextMsg(m, sub, ms)) != NATS_OK)
            return s;
        if (strcmp(natsMsg_GetSubject(*m), "$JS.EVENT.ADVISORY.API") != 0)
            return NATS_OK;
        natsMsg_Destroy(*m);
        *m = NULL;
    }
    return NATS_TIMEOUT;
}

/* The next advisory must be on subj, of this type, its JSON ending with
 * tail (the members after "timestamp"). */
static void
expect_adv(natsSubscription *sub, const char *subj, const char *type,
           const char *tail)
{
    natsMsg *m = NULL;
    char body[2048], t[128];

    if (next_adv(sub, &m, WAIT_MS) != NATS_OK) {
        CHECK_MSG(0, "no advisory %s", subj);
        return;
    }
    snprintf(body, sizeof(body), "%.*s", natsMsg_GetDataLength(m),
             natsMsg_GetData(m));
    CHECK_STR(natsMsg_GetSubject(m), subj);
    snprintf(t, sizeof(t), "io.nats.jetstream.advisory.v1.%s", type);
    CHECK_STR(dt_jstr(body, "type"), t);
    CHECK_INT(strlen(dt_jstr(body, "id")), ==, 22);
    CHECK(strlen(dt_jstr(body, "timestamp")) >= 20);
    CHECK_MSG(strncmp(body, "{\"type\":", 8) == 0
              && strstr(body, "\",\"id\":\"") != NULL
              && strstr(body, "\",\"timestamp\":\"") != NULL, "%s", body);
    size_t bl = strlen(body), tl = strlen(tail);
    CHECK_MSG(bl > tl && strcmp(body + bl - tl, tail) == 0
              && body[bl - tl - 2] == 'Z', "%s", body);
    natsMsg_Destroy(m);
}

static void
expect_none(natsSubscription *sub, int ms)
{
    natsMsg *m = NULL;

    if (next_adv(sub, &m, ms) == NATS_OK) {
        CHECK_MSG(0, "unexpected advisory %s", natsMsg_GetSubject(m));
        natsMsg_Destroy(m);
    }
}

static void
run(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    char r[4096];
    natsMsg *m = NULL;
    const char *ccfg = "{\"stream_name\":\"ADV\",\"config\":{\"durable_name\":"
                       "\"D\",\"ack_policy\":\"explicit\",\"ack_wait\":"
                       "300000000,\"max_deliver\":1}}";

    if (natsConnection_SubscribeSync(&sub, nc,
                                     "$JS.EVENT.ADVISORY.>")
        != NATS_OK) {
        CHECK(0);
        return;
    }
    natsConnection_Flush(nc);
    dt_js_req(nc, "$JS.API.STREAM.CREATE.ADV",
              "{\"name\":\"ADV\",\"subjects\":"
              "[\"adv\"]}", r, sizeof(r));
    dt_js_req(nc, "$JS.API.STREAM.CREATE.ADV",
              "{\"name\":\"ADV\",\"subjects\":"
              "[\"adv\"]}", r, sizeof(r));
    expect_adv(sub, "$JS.EVENT.ADVISORY.STREAM.CREATED.ADV", "stream_action",
               ",\"stream\":\"ADV\",\"action\":\"create\"}");
    dt_js_req(nc, "$JS.API.STREAM.UPDATE.ADV",
              "{\"name\":\"ADV\",\"subjects\":"
              "[\"adv\",\"adv2\"]}", r, sizeof(r));
    expect_adv(sub, "$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV", "stream_action",
               ",\"stream\":\"ADV\",\"action\":\"modify\"}");
    dt_js_req(nc, "$JS.API.CONSUMER.DURABLE.CREATE.ADV.D", ccfg, r, sizeof(r));
    dt_js_req(nc, "$JS.API.CONSUMER.DURABLE.CREATE.ADV.D", ccfg, r, sizeof(r));
    CHECK_STR(dt_jstr(r, "name"), "D");
    expect_adv(sub, "$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.D",
               "consumer_action", ",\"stream\":\"ADV\",\"consumer\":\"D\","
               "\"action\":\"create\"}");
    expect_none(sub, 300);
    dt_js_req(nc, "adv", "x", r, sizeof(r));
    /* delivered once, not acked; the next pull finds it exhausted */
    dt_js_req(nc, "$JS.API.CONSUMER.MSG.NEXT.ADV.D", "{\"batch\":1}", r,
            sizeof(r));
    CHECK_STR(r, "x");
    dt_sleep_ms(600);
    const char *pull = "{\"batch\":1,\"expires\":500000000}";
    natsConnection_Request(&m, nc, "$JS.API.CONSUMER.MSG.NEXT.ADV.D", pull,
                           (int)strlen(pull), 2000);
    natsMsg_Destroy(m);
    expect_adv(sub, "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ADV.D",
               "max_deliver", ",\"stream\":\"ADV\",\"consumer\":\"D\","
               "\"stream_seq\":1,\"deliveries\":1}");
    dt_js_req(nc, "$JS.API.CONSUMER.DELETE.ADV.D", "", r, sizeof(r));
    expect_adv(sub, "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.D",
               "consumer_action", ",\"stream\":\"ADV\",\"consumer\":\"D\","
               "\"action\":\"delete\"}");
    dt_js_req(nc, "$JS.API.CONSUMER.DURABLE.CREATE.ADV.E", "{\"stream_name\":"
            "\"ADV\",\"config\":{\"durable_name\":\"E\"}}", r, sizeof(r));
    expect_adv(sub, "$JS.EVENT.ADVISORY.CONSUMER.CREATED.ADV.E",
               "consumer_action", ",\"stream\":\"ADV\",\"consumer\":\"E\","
               "\"action\":\"create\"}");
    dt_js_req(nc, "$JS.API.STREAM.DELETE.ADV", "", r, sizeof(r));
    expect_adv(sub, "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ADV.E",
               "consumer_action", ",\"stream\":\"ADV\",\"consumer\":\"E\","
               "\"action\":\"delete\"}");
    expect_adv(sub, "$JS.EVENT.ADVISORY.STREAM.DELETED.ADV", "stream_action",
               ",\"stream\":\"ADV\",\"action\":\"delete\"}");
    expect_none(sub, 300);
    natsSubscription_Destroy(sub);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    natsConnection *nc = NULL;
    char store[256], conf[512];
    const char *bin = dt_server_bin();

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    if (bin == NULL || dt_mkdtemp(store, sizeof(store), "dt-jsadv") < 0) {
        printf("SKIP: no server binary or no temp dir\n");
        return DT_EXIT_SKIP;
    }
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    if (dt_server_start_or_skip(&srv, conf, NULL) != 0) {
        CHECK(0);
        goto out;
    }
    REQUIRE((nc = dt_nats_connect(srv.url, NULL)) != NULL);
    run(nc);
out:
    natsConnection_Destroy(nc);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
