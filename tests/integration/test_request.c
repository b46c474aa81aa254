/*
 * test_request.c -- request/reply and headers: natsConnection_Request
 * against a responder, the no-responders status (a 503 the server sends
 * at once when a request's subject has no subscriber), header round trip
 * with multi-valued keys, and header stripping for a raw client that
 * declared "headers":false (it must get MSG with only the payload).
 *
 * NOTES
 *   The responder is an async subscription on its own connection; it only
 *   publishes the reply, so no check runs off the main thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 2000

/* Replies "re:<data>", copying header X-Echo into the reply when set. */
static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    char buf[256];
    const char *echo = NULL;
    natsMsg *reply = NULL;
    int len = natsMsg_GetDataLength(m);

    (void)sub;
    (void)arg;
    if (len > (int)sizeof(buf) - 4)
        len = (int)sizeof(buf) - 4;
    memcpy(buf, "re:", 3);
    memcpy(buf + 3, natsMsg_GetData(m), (size_t)len);
    if (natsMsg_GetReply(m) != NULL &&
        natsMsg_Create(&reply, natsMsg_GetReply(m), NULL, buf,
                       len + 3) == NATS_OK) {
        if (natsMsgHeader_Get(m, "X-Echo", &echo) == NATS_OK)
            natsMsgHeader_Set(reply, "X-Echo", echo);
        natsConnection_PublishMsg(nc, reply);
        natsMsg_Destroy(reply);
    }
    natsMsg_Destroy(m);
}

static int
data_is(natsMsg *m, const char *want)
{
    return m != NULL && natsMsg_GetDataLength(m) == (int)strlen(want) &&
           memcmp(natsMsg_GetData(m), want, strlen(want)) == 0;
}

static void
test_request_reply(natsConnection *client, natsConnection *svc)
{
    natsSubscription *sub = NULL;
    natsMsg *reply = NULL, *req = NULL;
    const char *v = NULL;
    int ok = 0;

    REQUIRE(natsConnection_Subscribe(&sub, svc, "svc.echo", on_request,
                                     NULL) == NATS_OK);
    REQUIRE(natsConnection_Flush(svc) == NATS_OK);

    REQUIRE(natsConnection_RequestString(&reply, client, "svc.echo", "hello",
                                         WAIT_MS) == NATS_OK);
    CHECK(data_is(reply, "re:hello"));
    natsMsg_Destroy(reply);
    reply = NULL;

    /* many in a row: each gets its own answer */
    for (int i = 0; i < 50; i++) {
        char q[16], a[20];

        snprintf(q, sizeof(q), "q%d", i);
        snprintf(a, sizeof(a), "re:q%d", i);
        if (natsConnection_RequestString(&reply, client, "svc.echo", q,
                                         WAIT_MS) == NATS_OK &&
            data_is(reply, a))
            ok++;
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    CHECK_INT(ok, ==, 50);

    /* headers travel both ways through a request */
    REQUIRE(natsMsg_Create(&req, "svc.echo", NULL, "h", 1) == NATS_OK);
    CHECK(natsMsgHeader_Set(req, "X-Echo", "ping-42") == NATS_OK);
    REQUIRE(natsConnection_RequestMsg(&reply, client, req, WAIT_MS) ==
            NATS_OK);
    CHECK(data_is(reply, "re:h"));
    CHECK(natsMsgHeader_Get(reply, "X-Echo", &v) == NATS_OK && v != NULL &&
          strcmp(v, "ping-42") == 0);
out:
    natsMsg_Destroy(req);
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(sub);
}

static void
test_no_responders(natsConnection *client)
{
    natsMsg *reply = NULL;
    long long t0 = dt_now_ms();
    natsStatus st;

    st = natsConnection_RequestString(&reply, client, "svc.nobody", "x",
                                      5000);
    CHECK_MSG(st == NATS_NO_RESPONDERS, "status %d (%s)", (int)st,
              natsStatus_GetText(st));
    CHECK_INT(dt_now_ms() - t0, <, 1000);
    natsMsg_Destroy(reply);
}

static void
test_headers(natsConnection *pub, natsConnection *subc)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL, *got = NULL;
    const char **vals = NULL;
    const char *v = NULL;
    int count = 0;

    REQUIRE(natsConnection_HasHeaderSupport(pub) == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&sub, subc, "hdr.test") == NATS_OK);
    REQUIRE(natsConnection_Flush(subc) == NATS_OK);
    REQUIRE(natsMsg_Create(&m, "hdr.test", NULL, "body", 4) == NATS_OK);
    CHECK(natsMsgHeader_Set(m, "X-One", "1") == NATS_OK);
    CHECK(natsMsgHeader_Add(m, "X-Multi", "a") == NATS_OK);
    CHECK(natsMsgHeader_Add(m, "X-Multi", "b c") == NATS_OK);
    CHECK(natsConnection_PublishMsg(pub, m) == NATS_OK);
    CHECK(natsConnection_Flush(pub) == NATS_OK);

    REQUIRE(natsSubscription_NextMsg(&got, sub, WAIT_MS) == NATS_OK);
    CHECK(data_is(got, "body"));
    CHECK(natsMsgHeader_Get(got, "X-One", &v) == NATS_OK && v &&
          strcmp(v, "1") == 0);
    REQUIRE(natsMsgHeader_Values(got, "X-Multi", &vals, &count) == NATS_OK);
    CHECK_INT(count, ==, 2);
    CHECK(count == 2 && strcmp(vals[0], "a") == 0 &&
          strcmp(vals[1], "b c") == 0);
    CHECK(natsMsgHeader_Get(got, "X-Absent", &v) == NATS_NOT_FOUND);
out:
    free((void *)vals);
    natsMsg_Destroy(m);
    natsMsg_Destroy(got);
    natsSubscription_Destroy(sub);
}

/*
 * Raw subscribers, one with "headers":false and one with true, get the
 * same header message from libnats: HMSG for the latter, MSG with the
 * payload alone for the former.
 */
static void
test_headers_stripped(int port, natsConnection *pub)
{
    char line[512], payload[16];
    natsMsg *m = NULL;
    int plain = dt_raw_connect(port), hdr = dt_raw_connect(port);
    long long hlen = 0, tlen = 0;

    REQUIRE(plain >= 0 && hdr >= 0);
    REQUIRE(dt_raw_handshake(plain, "{\"verbose\":false,\"headers\":false}",
                             NULL, 0) == 0);
    REQUIRE(dt_raw_handshake(hdr, "{\"verbose\":false,\"headers\":true}",
                             NULL, 0) == 0);
    REQUIRE(dt_raw_sends(plain, "SUB hdr.raw 1\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(plain, "PONG", WAIT_MS, NULL, 0) == 0);
    REQUIRE(dt_raw_sends(hdr, "SUB hdr.raw 7\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(hdr, "PONG", WAIT_MS, NULL, 0) == 0);

    REQUIRE(natsMsg_Create(&m, "hdr.raw", NULL, "payload", 7) == NATS_OK);
    CHECK(natsMsgHeader_Set(m, "X-Key", "value") == NATS_OK);
    CHECK(natsConnection_PublishMsg(pub, m) == NATS_OK);
    CHECK(natsConnection_Flush(pub) == NATS_OK);

    REQUIRE(dt_raw_expect(plain, NULL, WAIT_MS, line, sizeof(line)) == 0);
    CHECK_STR(line, "MSG hdr.raw 1 7");
    REQUIRE(dt_raw_expect(plain, NULL, WAIT_MS, line, sizeof(line)) == 0);
    CHECK_STR(line, "payload");

    REQUIRE(dt_raw_expect(hdr, NULL, WAIT_MS, line, sizeof(line)) == 0);
    CHECK_MSG(sscanf(line, "HMSG hdr.raw 7 %lld %lld", &hlen, &tlen) == 2,
              "line '%s'", line);
    CHECK_INT(tlen - hlen, ==, 7);
    REQUIRE(hlen > 0 && hlen < (long long)sizeof(line));
    REQUIRE(dt_raw_read_exact(hdr, line, (size_t)hlen, WAIT_MS) == 0);
    line[hlen] = '\0';
    CHECK(strncmp(line, "NATS/1.0\r\n", 10) == 0);
    CHECK(strstr(line, "X-Key: value\r\n") != NULL);
    CHECK(hlen >= 4 && strcmp(line + hlen - 4, "\r\n\r\n") == 0);
    REQUIRE(dt_raw_read_exact(hdr, payload, 9, WAIT_MS) == 0);
    CHECK(memcmp(payload, "payload\r\n", 9) == 0);
out:
    natsMsg_Destroy(m);
    if (plain >= 0)
        close(plain);
    if (hdr >= 0)
        close(hdr);
}

/* Raw: a request (PUB with reply) to nobody returns a 503 status HMSG. */
static void
test_raw_no_responders(int port)
{
    char line[256], hdr[64];
    long long hlen = 0, tlen = 0;
    int fd = dt_raw_connect(port);

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false,\"headers\":true,"
                                 "\"no_responders\":true}", NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "SUB nr.inbox 1\r\n"
                             "PUB nr.nobody nr.inbox 2\r\nhi\r\n") == 0);
    REQUIRE(dt_raw_expect(fd, NULL, WAIT_MS, line, sizeof(line)) == 0);
    CHECK_MSG(sscanf(line, "HMSG nr.inbox 1 %lld %lld", &hlen, &tlen) == 2,
              "line '%s'", line);
    CHECK_INT(hlen, ==, tlen);
    REQUIRE(hlen > 0 && hlen < (long long)sizeof(hdr));
    REQUIRE(dt_raw_read_exact(fd, hdr, (size_t)hlen + 2, WAIT_MS) == 0);
    hdr[hlen] = '\0';
    CHECK(strncmp(hdr, "NATS/1.0 503", 12) == 0);
out:
    if (fd >= 0)
        close(fd);
}

int
main(int argc, char **argv)
{
    natsConnection *client = NULL, *svc = NULL;
    struct dt_server srv;

    REQUIRE(dt_server_start_or_skip(&srv, NULL, NULL) == 0);
    client = dt_nats_connect(srv.url, NULL);
    svc = dt_nats_connect(srv.url, NULL);
    REQUIRE(client != NULL && svc != NULL);

    test_request_reply(client, svc);
    test_no_responders(client);
    test_headers(client, svc);
    test_headers_stripped(srv.port, client);
    test_raw_no_responders(srv.port);
out:
    natsConnection_Destroy(client);
    natsConnection_Destroy(svc);
    return dt_nats_finish(&srv, argv[0]);
}
