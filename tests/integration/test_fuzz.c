/*
 * test_fuzz.c -- bad input never crashes a process or hurts other
 * clients: thousands of connections send valid, truncated and mutated
 * protocol in odd splits for a few seconds while a well-behaved client
 * keeps a request/reply loop going (on a subject the fuzzer never uses,
 * so that the responder never echoes garbage reply subjects); afterwards
 * that client is still served, and (for Dialtone) no subsystem died and
 * had to be restarted.
 */
#include <errno.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define FUZZ_MS 4000

static const char *const ops[] = {
    "PUB a 3\r\nabc\r\n", "SUB a 1\r\n", "SUB a.* q 2\r\n", "UNSUB 1 2\r\n",
    "HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "PING\r\n", "PONG\r\n",
    "CONNECT {\"headers\":true,\"verbose\":true}\r\n", "CONNECT {bad\r\n",
    "PUB a.b r 2\r\nxy\r\n", "PUB a -1\r\n", "HPUB a 99 2\r\n", "SUB \r\n",
    "MSG a 1 2\r\n", "PUB svc _INBOX.x 1\r\nq\r\n", "UNSUB\r\n",
    "CONNECT {\"protocol\":7}\r\n", "\x00\xff\r\n",
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* One hostile connection: a random script, maybe mutated, sent in
 * random-sized pieces; whatever comes back is ignored. */
static int
fuzz_one(int port)
{
    char buf[2048];
    size_t len = 0;
    int n = 1 + (int)(next() % 30);
    for (int i = 0; i < n; i++) {
        const char *op = ops[next() % (sizeof(ops) / sizeof(ops[0]))];
        size_t l = strlen(op);
        if (len + l >= sizeof(buf))
            break;
        memcpy(buf + len, op, l);
        len += l;
    }
    if (next() % 2)
        for (int k = 1 + (int)(next() % 8); k > 0 && len; k--)
            buf[next() % len] = (char)next();
    int fd = dt_raw_connect(port);
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < len;) {
        size_t piece = 1 + next() % 40;
        if (piece > len - off)
            piece = len - off;
        if (send(fd, buf + off, piece, MSG_NOSIGNAL) < 0)
            break;
        off += piece;
    }
    char sink[4096];
    struct timeval tv = { 0, 2000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (recv(fd, sink, sizeof(sink), 0) > 0)
        ;
    close(fd);
    return 0;
}

static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *a)
{
    natsConnection_PublishString(nc, natsMsg_GetReply(m), "ok");
    natsMsg_Destroy(m);
}

int
main(int argc, char **argv)
{
    struct dt_server s;
    natsConnection *svc = NULL, *cli = NULL;
    natsSubscription *sub = NULL;
    natsMsg *reply = NULL;
    int rc = dt_server_start_or_skip(&s, NULL, NULL);
    REQUIRE(rc == 0);
    svc = dt_nats_connect(s.url, NULL);
    cli = dt_nats_connect(s.url, NULL);
    REQUIRE(svc && cli);
    REQUIRE(natsConnection_Subscribe(&sub, svc, "legit.service", on_request, NULL) ==
            NATS_OK);
    REQUIRE(natsConnection_Flush(svc) == NATS_OK);

    long long end = dt_now_ms() + FUZZ_MS;
    int conns = 0, failed_requests = 0;
    while (dt_now_ms() < end) {
        for (int i = 0; i < 20; i++)
            conns += fuzz_one(s.port) == 0;
        /* the well-behaved client is served all along */
        if (natsConnection_RequestString(&reply, cli, "legit.service", "hi", 2000) !=
            NATS_OK)
            failed_requests++;
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    printf("fuzz: %d hostile connections, %d failed requests\n", conns,
           failed_requests);
    CHECK_INT(conns, >, 100);
    CHECK_INT(failed_requests, ==, 0);
    CHECK(natsConnection_Status(cli) == NATS_CONN_STATUS_CONNECTED);
    CHECK(natsConnection_Status(svc) == NATS_CONN_STATUS_CONNECTED);
    if (dt_bin_is_dialtone(dt_server_bin()) == 1) {
        /* a subsystem that crashed would have been restarted and logged */
        char path[320], line[512];
        snprintf(path, sizeof(path), "%s/server.log", s.dir);
        FILE *f = fopen(path, "r");
        int deaths = 0;
        while (f && fgets(line, sizeof(line), f))
            deaths += strstr(line, "killed by signal") != NULL ||
                      strstr(line, "exited with status") != NULL;
        if (f)
            fclose(f);
        CHECK_INT(deaths, ==, 0);
    }
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(cli);
    natsConnection_Destroy(svc);
    return dt_nats_finish(&s, argv[0]);
}
