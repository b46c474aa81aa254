/*
 * test_pubsub.c -- core publish/subscribe through a real client (libnats):
 * order of 10k messages, empty and max_payload-sized payloads, '*' and
 * '>' wildcards (and that 'foo.>' does not match 'foo'), fan-out to
 * several subscribers, and delivery across connections.
 *
 * NOTES
 *   One server for the whole program; each check uses its own subjects.
 *   Synchronous subscriptions only, so every check runs on the main thread.
 *   Exits 77 when $DIALTONE_BIN is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 2000
#define ORDER_MSGS 10000

/* test_order() keeps all ORDER_MSGS pending before reading any */
static const struct dt_nats_opts client_opts = {
    .max_pending_msgs = 2 * ORDER_MSGS,
};

/* Next message on sub as a string compare; destroys the message. */
static int
next_is(natsSubscription *sub, const char *subject, const char *data)
{
    natsMsg *m = NULL;
    int ok;

    if (natsSubscription_NextMsg(&m, sub, WAIT_MS) != NATS_OK)
        return 0;
    ok = strcmp(natsMsg_GetSubject(m), subject) == 0 &&
         natsMsg_GetDataLength(m) == (int)strlen(data) &&
         memcmp(natsMsg_GetData(m), data, strlen(data)) == 0;
    if (!ok)
        fprintf(stderr, "got '%s' '%.*s', want '%s' '%s'\n",
                natsMsg_GetSubject(m), natsMsg_GetDataLength(m),
                natsMsg_GetData(m), subject, data);
    natsMsg_Destroy(m);
    return ok;
}

/* 1 when nothing more arrives on sub within a short grace period. */
static int
nothing_more(natsSubscription *sub)
{
    natsMsg *m = NULL;
    natsStatus st = natsSubscription_NextMsg(&m, sub, 200);

    if (st == NATS_OK) {
        fprintf(stderr, "unexpected message on '%s'\n",
                natsMsg_GetSubject(m));
        natsMsg_Destroy(m);
    }
    return st == NATS_TIMEOUT;
}

static void
test_order(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    char buf[32];
    int i, in_order = 0;

    REQUIRE(natsConnection_SubscribeSync(&sub, nc, "ps.order") == NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    for (i = 0; i < ORDER_MSGS; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        if (natsConnection_PublishString(nc, "ps.order", buf) != NATS_OK)
            break;
    }
    CHECK_INT(i, ==, ORDER_MSGS);
    CHECK(natsConnection_FlushTimeout(nc, 5000) == NATS_OK);
    for (i = 0; i < ORDER_MSGS; i++) {
        natsMsg *m = NULL;

        if (natsSubscription_NextMsg(&m, sub, WAIT_MS) != NATS_OK)
            break;
        snprintf(buf, sizeof(buf), "%d", i);
        if (natsMsg_GetDataLength(m) == (int)strlen(buf) &&
            memcmp(natsMsg_GetData(m), buf, strlen(buf)) == 0)
            in_order++;
        natsMsg_Destroy(m);
    }
    CHECK_INT(i, ==, ORDER_MSGS);
    CHECK_INT(in_order, ==, ORDER_MSGS);
    CHECK(nothing_more(sub));
out:
    natsSubscription_Destroy(sub);
}

static void
test_payload_sizes(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    int64_t max = natsConnection_GetMaxPayload(nc);
    char *big = NULL;

    CHECK_INT(max, ==, 1048576);
    REQUIRE(max > 0);
    REQUIRE((big = malloc((size_t)max)) != NULL);
    for (int64_t i = 0; i < max; i++)
        big[i] = (char)('a' + i % 26);
    REQUIRE(natsConnection_SubscribeSync(&sub, nc, "ps.size") == NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);

    CHECK(natsConnection_Publish(nc, "ps.size", NULL, 0) == NATS_OK);
    CHECK(natsConnection_Publish(nc, "ps.size", big, (int)max) == NATS_OK);
    CHECK(natsConnection_Flush(nc) == NATS_OK);

    REQUIRE(natsSubscription_NextMsg(&m, sub, WAIT_MS) == NATS_OK);
    CHECK_INT(natsMsg_GetDataLength(m), ==, 0);
    natsMsg_Destroy(m);
    m = NULL;
    REQUIRE(natsSubscription_NextMsg(&m, sub, WAIT_MS) == NATS_OK);
    CHECK_INT(natsMsg_GetDataLength(m), ==, max);
    CHECK(natsMsg_GetDataLength(m) == max &&
          memcmp(natsMsg_GetData(m), big, (size_t)max) == 0);
    natsMsg_Destroy(m);
    m = NULL;
    CHECK(nothing_more(sub));
out:
    natsSubscription_Destroy(sub);
    free(big);
}

static void
test_wildcards(natsConnection *nc)
{
    natsSubscription *star = NULL, *gt = NULL, *mid = NULL, *full = NULL;

    REQUIRE(natsConnection_SubscribeSync(&star, nc, "wc.*") == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&gt, nc, "wc.>") == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&mid, nc, "wc.*.end") == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&full, nc, ">") == NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);

    CHECK(natsConnection_PublishString(nc, "wc", "0") == NATS_OK);
    CHECK(natsConnection_PublishString(nc, "wc.a", "1") == NATS_OK);
    CHECK(natsConnection_PublishString(nc, "wc.a.b", "2") == NATS_OK);
    CHECK(natsConnection_PublishString(nc, "wc.a.end", "3") == NATS_OK);
    CHECK(natsConnection_PublishString(nc, "wcx.a", "4") == NATS_OK);
    CHECK(natsConnection_Flush(nc) == NATS_OK);

    /* '*' is exactly one token */
    CHECK(next_is(star, "wc.a", "1"));
    CHECK(nothing_more(star));
    /* '>' is one or more tokens: never "wc" itself */
    CHECK(next_is(gt, "wc.a", "1"));
    CHECK(next_is(gt, "wc.a.b", "2"));
    CHECK(next_is(gt, "wc.a.end", "3"));
    CHECK(nothing_more(gt));
    CHECK(next_is(mid, "wc.a.end", "3"));
    CHECK(nothing_more(mid));
    /* '>' alone matches every subject */
    CHECK(next_is(full, "wc", "0"));
    CHECK(next_is(full, "wc.a", "1"));
    CHECK(next_is(full, "wc.a.b", "2"));
    CHECK(next_is(full, "wc.a.end", "3"));
    CHECK(next_is(full, "wcx.a", "4"));
    CHECK(nothing_more(full));
out:
    natsSubscription_Destroy(star);
    natsSubscription_Destroy(gt);
    natsSubscription_Destroy(mid);
    natsSubscription_Destroy(full);
}

/* Three subscribers on one connection and one on another: each a copy. */
static void
test_fanout(natsConnection *nc, natsConnection *nc2)
{
    natsSubscription *subs[4] = { NULL, NULL, NULL, NULL };

    for (int i = 0; i < 3; i++)
        REQUIRE(natsConnection_SubscribeSync(&subs[i], nc, "ps.fan") ==
                NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&subs[3], nc2, "ps.fan") == NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    REQUIRE(natsConnection_Flush(nc2) == NATS_OK);
    for (int i = 0; i < 5; i++) {
        char buf[8];

        snprintf(buf, sizeof(buf), "m%d", i);
        CHECK(natsConnection_PublishString(nc, "ps.fan", buf) == NATS_OK);
    }
    CHECK(natsConnection_Flush(nc) == NATS_OK);
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < 5; i++) {
            char buf[8];

            snprintf(buf, sizeof(buf), "m%d", i);
            CHECK_MSG(next_is(subs[s], "ps.fan", buf), "sub %d msg %d", s, i);
        }
        CHECK(nothing_more(subs[s]));
    }
out:
    for (int i = 0; i < 4; i++)
        natsSubscription_Destroy(subs[i]);
}

/* Publisher and subscriber on different connections, both directions. */
static void
test_two_connections(natsConnection *nc, natsConnection *nc2)
{
    natsSubscription *s1 = NULL, *s2 = NULL;
    natsMsg *m = NULL;

    REQUIRE(natsConnection_SubscribeSync(&s1, nc, "ps.to1") == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&s2, nc2, "ps.to2") == NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    REQUIRE(natsConnection_Flush(nc2) == NATS_OK);
    CHECK(natsConnection_PublishString(nc, "ps.to2", "from1") == NATS_OK);
    CHECK(natsConnection_PublishString(nc2, "ps.to1", "from2") == NATS_OK);
    CHECK(natsConnection_Flush(nc) == NATS_OK);
    CHECK(natsConnection_Flush(nc2) == NATS_OK);
    CHECK(next_is(s2, "ps.to2", "from1"));
    CHECK(next_is(s1, "ps.to1", "from2"));

    /* with a reply subject: it reaches the subscriber unchanged */
    CHECK(natsConnection_PublishRequestString(nc, "ps.to2", "ps.reply.x",
                                              "r") == NATS_OK);
    CHECK(natsConnection_Flush(nc) == NATS_OK);
    REQUIRE(natsSubscription_NextMsg(&m, s2, WAIT_MS) == NATS_OK);
    CHECK(natsMsg_GetReply(m) != NULL &&
          strcmp(natsMsg_GetReply(m), "ps.reply.x") == 0);
    natsMsg_Destroy(m);
    m = NULL;

    /* after unsubscribing, the other connection's messages stop */
    CHECK(natsSubscription_Unsubscribe(s2) == NATS_OK);
    CHECK(natsConnection_Flush(nc2) == NATS_OK);
    CHECK(natsConnection_PublishString(nc, "ps.to2", "late") == NATS_OK);
    CHECK(natsConnection_Flush(nc) == NATS_OK);
    CHECK(natsSubscription_NextMsg(&m, s2, 200) != NATS_OK);
    natsMsg_Destroy(m);
out:
    natsSubscription_Destroy(s1);
    natsSubscription_Destroy(s2);
}

int
main(int argc, char **argv)
{
    natsConnection *nc = NULL, *nc2 = NULL;
    struct dt_server srv;

    REQUIRE(dt_server_start_or_skip(&srv, NULL, NULL) == 0);
    nc = dt_nats_connect(srv.url, &client_opts);
    nc2 = dt_nats_connect(srv.url, &client_opts);
    REQUIRE(nc != NULL && nc2 != NULL);

    test_order(nc);
    test_payload_sizes(nc);
    test_wildcards(nc);
    test_fanout(nc, nc2);
    test_two_connections(nc, nc2);
out:
    natsConnection_Destroy(nc);
    natsConnection_Destroy(nc2);
    return dt_nats_finish(&srv, argv[0]);
}
