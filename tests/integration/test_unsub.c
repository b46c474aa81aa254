/*
 * test_unsub.c -- ending subscriptions: natsSubscription_AutoUnsubscribe(N)
 * delivers exactly N; over a raw socket the server itself stops after
 * "UNSUB <sid> <max>" (counting messages already delivered), "UNSUB <sid>"
 * stops at once and an unknown sid is harmless; echo off
 * (natsOptions_SetNoEcho / "echo":false) hides a connection's own
 * messages from itself but not from others, echo on shows them.
 *
 * NOTES
 *   Raw checks end with PING and count messages up to the PONG and for a
 *   short quiet period after it, so extra deliveries are caught without
 *   relying on their order relative to the PONG.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 2000

static const struct dt_nats_opts no_echo = { .no_echo = true };

/* Messages received on sub until it stays quiet for quiet_ms. */
static int
drain_count(natsSubscription *sub, int quiet_ms)
{
    natsMsg *m = NULL;
    int n = 0;

    while (n < 100000 &&
           natsSubscription_NextMsg(&m, sub, quiet_ms) == NATS_OK) {
        natsMsg_Destroy(m);
        m = NULL;
        n++;
    }
    return n;
}

static void
test_auto_unsubscribe(natsConnection *nc, natsConnection *pub)
{
    natsSubscription *sub = NULL;

    REQUIRE(natsConnection_SubscribeSync(&sub, nc, "un.auto") == NATS_OK);
    REQUIRE(natsSubscription_AutoUnsubscribe(sub, 5) == NATS_OK);
    REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    for (int i = 0; i < 10; i++)
        CHECK(natsConnection_PublishString(pub, "un.auto", "x") == NATS_OK);
    CHECK(natsConnection_Flush(pub) == NATS_OK);
    CHECK_INT(drain_count(sub, 300), ==, 5);
    CHECK(!natsSubscription_IsValid(sub));
out:
    natsSubscription_Destroy(sub);
}

/*
 * Count "MSG <subject> ..." messages until PONG, then for a short quiet
 * period more (delivery through other processes may trail the PONG).
 * Returns the count, or -1 on an unexpected line or a missing PONG.
 */
static int
count_msgs(int fd, const char *subject)
{
    char line[256], want[128];
    int got = 0, pong = 0;

    snprintf(want, sizeof(want), "MSG %s ", subject);
    for (;;) {
        int rc = dt_raw_expect(fd, NULL, pong ? 150 : WAIT_MS, line,
                               sizeof(line));

        if (rc == -ETIMEDOUT && pong)
            return got;
        if (rc < 0)
            return -1;
        if (strcmp(line, "PONG") == 0 && !pong) {
            pong = 1;
        } else if (strncmp(line, want, strlen(want)) == 0) {
            got++;
            if (dt_raw_expect(fd, NULL, WAIT_MS, line, sizeof(line)) < 0)
                return -1;   /* the payload line */
        } else {
            fprintf(stderr, "unexpected line '%s'\n", line);
            return -1;
        }
    }
}

static void
test_raw_unsub(int port)
{
    int fd = dt_raw_connect(port);

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false}", NULL, 0) == 0);

    /* UNSUB with max: the server delivers exactly max */
    REQUIRE(dt_raw_sends(fd, "SUB un.max 1\r\nUNSUB 1 3\r\n") == 0);
    for (int i = 0; i < 6; i++)
        REQUIRE(dt_raw_sends(fd, "PUB un.max 1\r\nx\r\n") == 0);
    REQUIRE(dt_raw_sends(fd, "PING\r\n") == 0);
    CHECK_INT(count_msgs(fd, "un.max"), ==, 3);

    /* max counts what was already delivered: 2 seen, max 3 => 1 more */
    REQUIRE(dt_raw_sends(fd, "SUB un.late 2\r\nPUB un.late 1\r\na\r\n"
                             "PUB un.late 1\r\nb\r\nPING\r\n") == 0);
    CHECK_INT(count_msgs(fd, "un.late"), ==, 2);
    REQUIRE(dt_raw_sends(fd, "UNSUB 2 3\r\n") == 0);
    for (int i = 0; i < 4; i++)
        REQUIRE(dt_raw_sends(fd, "PUB un.late 1\r\nc\r\n") == 0);
    REQUIRE(dt_raw_sends(fd, "PING\r\n") == 0);
    CHECK_INT(count_msgs(fd, "un.late"), ==, 1);

    /* plain UNSUB: nothing after it; the other sid is untouched */
    REQUIRE(dt_raw_sends(fd, "SUB un.now 3\r\nSUB un.now 4\r\nUNSUB 3\r\n"
                             "PUB un.now 1\r\nx\r\nPING\r\n") == 0);
    CHECK_INT(count_msgs(fd, "un.now"), ==, 1);

    /* an unknown sid is not an error and the connection stays */
    REQUIRE(dt_raw_sends(fd, "UNSUB 999\r\nUNSUB 999 5\r\nPING\r\n") == 0);
    CHECK_INT(count_msgs(fd, "un.none"), ==, 0);
out:
    if (fd >= 0)
        close(fd);
}

static void
test_echo(const char *url)
{
    natsConnection *quiet = dt_nats_connect(url, &no_echo);
    natsConnection *loud = dt_nats_connect(url, NULL);
    natsSubscription *qs = NULL, *ls = NULL;

    REQUIRE(quiet != NULL && loud != NULL);
    REQUIRE(natsConnection_SubscribeSync(&qs, quiet, "un.echo") == NATS_OK);
    REQUIRE(natsConnection_SubscribeSync(&ls, loud, "un.echo") == NATS_OK);
    REQUIRE(natsConnection_Flush(quiet) == NATS_OK);
    REQUIRE(natsConnection_Flush(loud) == NATS_OK);

    /* no echo: its own message reaches the other connection only */
    CHECK(natsConnection_PublishString(quiet, "un.echo", "q") == NATS_OK);
    CHECK(natsConnection_Flush(quiet) == NATS_OK);
    CHECK_INT(drain_count(ls, 200), ==, 1);
    CHECK_INT(drain_count(qs, 200), ==, 0);

    /* echo on (the default): both get it, the publisher included */
    CHECK(natsConnection_PublishString(loud, "un.echo", "l") == NATS_OK);
    CHECK(natsConnection_Flush(loud) == NATS_OK);
    CHECK_INT(drain_count(ls, 200), ==, 1);
    CHECK_INT(drain_count(qs, 200), ==, 1);
out:
    natsSubscription_Destroy(qs);
    natsSubscription_Destroy(ls);
    natsConnection_Destroy(quiet);
    natsConnection_Destroy(loud);
}

/* The same over raw sockets, so the server (not libnats) must filter. */
static void
test_raw_echo(int port)
{
    int off = dt_raw_connect(port), on = dt_raw_connect(port);

    REQUIRE(off >= 0 && on >= 0);
    REQUIRE(dt_raw_handshake(off, "{\"verbose\":false,\"echo\":false}",
                             NULL, 0) == 0);
    REQUIRE(dt_raw_handshake(on, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_sends(off, "SUB un.recho 1\r\nPING\r\n") == 0);
    CHECK_INT(count_msgs(off, "un.recho"), ==, 0);
    REQUIRE(dt_raw_sends(on, "SUB un.recho 1\r\nPING\r\n") == 0);
    CHECK_INT(count_msgs(on, "un.recho"), ==, 0);

    REQUIRE(dt_raw_sends(off, "PUB un.recho 1\r\na\r\nPING\r\n") == 0);
    CHECK_INT(count_msgs(off, "un.recho"), ==, 0);
    REQUIRE(dt_raw_sends(on, "PUB un.recho 1\r\nb\r\nPING\r\n") == 0);
    /* on: got a (from off) and b (its own echo) */
    CHECK_INT(count_msgs(on, "un.recho"), ==, 2);
    REQUIRE(dt_raw_sends(off, "PING\r\n") == 0);
    CHECK_INT(count_msgs(off, "un.recho"), ==, 1);
out:
    if (off >= 0)
        close(off);
    if (on >= 0)
        close(on);
}

int
main(int argc, char **argv)
{
    natsConnection *nc = NULL, *pub = NULL;
    struct dt_server srv;

    REQUIRE(dt_server_start_or_skip(&srv, NULL, NULL) == 0);
    nc = dt_nats_connect(srv.url, NULL);
    pub = dt_nats_connect(srv.url, NULL);
    REQUIRE(nc != NULL && pub != NULL);

    test_auto_unsubscribe(nc, pub);
    test_raw_unsub(srv.port);
    test_echo(srv.url);
    test_raw_echo(srv.port);
out:
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pub);
    return dt_nats_finish(&srv, argv[0]);
}
