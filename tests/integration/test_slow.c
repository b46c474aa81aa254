/*
 * test_slow.c -- slow consumers: a raw subscriber that never reads while
 * a publisher floods its subject must be cut off (and counted in /varz
 * slow_consumers) once its pending output passes max_pending, while the
 * publisher, a bystander subscriber and a later subscriber on the same
 * subject keep working.
 *
 * NOTES
 *   Config: max_pending 64 KiB, max_payload 32 KiB (nats-server refuses a
 *   max_payload above max_pending), messages of 30000 bytes: two queued
 *   messages exceed the limit once the kernel buffers are full, so the
 *   cut-off comes within a few MB whatever the producer stalling policy.
 *   The flood is bounded (FLOOD_MAX_BYTES, FLOOD_MAX_MS); the publisher's
 *   socket is written with poll() so a stalled write never leaves half a
 *   message behind.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"

#define MSG_SIZE 30000
#define BATCH 8
#define FLOOD_MAX_BYTES (256LL << 20)
#define FLOOD_MAX_MS 20000
#define WAIT_MS 3000

static const char conf[] =
    "max_payload: 32768\n"
    "max_pending: 65536\n"
    "write_deadline: \"2s\"\n";

/* Write all of buf before deadline, waiting on POLLOUT: 0 or -errno. */
static int
send_all(int fd, const char *buf, size_t len, long long deadline)
{
    while (len > 0) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        long long left = deadline - dt_now_ms();
        ssize_t n;

        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* BATCH messages of MSG_SIZE bytes on subject, as one buffer. */
static char *
make_batch(const char *subject, size_t *len)
{
    char hdr[64];
    int hl = snprintf(hdr, sizeof(hdr), "PUB %s %d\r\n", subject, MSG_SIZE);
    size_t one = (size_t)hl + MSG_SIZE + 2;
    char *b = malloc(one * BATCH);

    if (b == NULL)
        return NULL;
    for (int i = 0; i < BATCH; i++) {
        char *p = b + one * (size_t)i;

        memcpy(p, hdr, (size_t)hl);
        memset(p + hl, 'x', MSG_SIZE);
        memcpy(p + hl + MSG_SIZE, "\r\n", 2);
    }
    *len = one * BATCH;
    return b;
}

/* Flood until the server reports a slow consumer; returns bytes sent. */
static long long
flood(const struct dt_server *s, int pub, long long *slow)
{
    long long deadline = dt_now_ms() + FLOOD_MAX_MS, sent = 0;
    size_t len = 0;
    char *batch = make_batch("slow.flood", &len), body[65536];

    *slow = 0;
    if (batch == NULL)
        return -1;
    while (sent < FLOOD_MAX_BYTES && dt_now_ms() < deadline) {
        if (send_all(pub, batch, len, deadline) < 0)
            break;
        sent += (long long)len;
        if (dt_http_get(s->http_port, "/varz", body, sizeof(body)) == 200 &&
            dt_json_int(body, "slow_consumers", slow) == 0 && *slow > 0)
            break;
    }
    free(batch);
    return sent;
}

/* Count "MSG <subject>" deliveries until n arrived or nothing for a while. */
static int
count_msgs(int fd, const char *subject, int n)
{
    char line[256], want[128];
    int got = 0;

    snprintf(want, sizeof(want), "MSG %s ", subject);
    while (got < n &&
           dt_raw_expect(fd, want, WAIT_MS, line, sizeof(line)) == 0) {
        got++;
        if (dt_raw_expect(fd, NULL, WAIT_MS, line, sizeof(line)) < 0)
            break;
    }
    return got;
}

static int
publish_small(int pub, const char *subject, int n)
{
    char buf[128];

    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "PUB %s 4\r\n%04d\r\n", subject, i);
        if (dt_raw_sends(pub, buf) < 0)
            return -1;
    }
    return 0;
}

/* Poll /varz until it reports want connections; returns the last value. */
static long long
wait_connections(const struct dt_server *s, long long want)
{
    long long deadline = dt_now_ms() + WAIT_MS, v = -1;
    char body[65536];

    do {
        if (dt_http_get(s->http_port, "/varz", body, sizeof(body)) == 200 &&
            dt_json_int(body, "connections", &v) == 0 && v == want)
            break;
        dt_sleep_ms(20);
    } while (dt_now_ms() < deadline);
    return v;
}

static void
test_slow_consumer(const struct dt_server *s)
{
    int slow = -1, pub = -1, side = -1, late = -1;
    long long before = -1, after = 0, sent;

    slow = dt_raw_connect(s->port);
    side = dt_raw_connect(s->port);
    pub = dt_raw_connect(s->port);
    REQUIRE(slow >= 0 && side >= 0 && pub >= 0);
    REQUIRE(dt_raw_handshake(slow, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_handshake(side, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_handshake(pub, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_sends(slow, "SUB slow.flood 1\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(slow, "PONG", WAIT_MS, NULL, 0) == 0);
    REQUIRE(dt_raw_sends(side, "SUB slow.side 1\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(side, "PONG", WAIT_MS, NULL, 0) == 0);
    REQUIRE(dt_http_wait_int(s->http_port, "/varz", "slow_consumers", 0,
                             WAIT_MS, &before) == 0);
    CHECK_INT(before, ==, 0);

    /* from here on `slow` is never read until we check that it closed */
    sent = flood(s, pub, &after);
    CHECK_MSG(after > before, "no slow consumer after %lld bytes", sent);
    CHECK(dt_http_wait_int(s->http_port, "/varz", "slow_consumers",
                           before + 1, WAIT_MS, &after) == 0);
    CHECK_INT(after, ==, before + 1);
    CHECK_MSG(dt_raw_expect_closed(slow, 10000) == 0,
              "slow consumer still connected");

    /* the publisher is still connected and served */
    REQUIRE(dt_raw_sends(pub, "PING\r\n") == 0);
    CHECK(dt_raw_expect(pub, "PONG", 10000, NULL, 0) == 0);

    /* the bystander still gets everything published after */
    REQUIRE(publish_small(pub, "slow.side", 100) == 0);
    CHECK_INT(count_msgs(side, "slow.side", 100), ==, 100);

    /* a new subscriber on the flooded subject gets everything after */
    late = dt_raw_connect(s->port);
    REQUIRE(late >= 0);
    REQUIRE(dt_raw_handshake(late, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_sends(late, "SUB slow.flood 1\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(late, "PONG", WAIT_MS, NULL, 0) == 0);
    REQUIRE(publish_small(pub, "slow.flood", 100) == 0);
    CHECK_INT(count_msgs(late, "slow.flood", 100), ==, 100);

    /* the cut-off connection is gone from the server's books */
    CHECK_INT(wait_connections(s, 3), ==, 3);
out:
    if (slow >= 0)
        close(slow);
    if (side >= 0)
        close(side);
    if (pub >= 0)
        close(pub);
    if (late >= 0)
        close(late);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;

    REQUIRE(dt_server_start_or_skip(&srv, conf, NULL) == 0);
    test_slow_consumer(&srv);
out:
    dt_server_finish(&srv);
    return dt_check_summary(argv[0]);
}
