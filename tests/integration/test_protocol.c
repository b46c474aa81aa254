/*
 * test_protocol.c -- the client protocol over raw sockets: INFO comes
 * first with the required fields, verbose mode acknowledges with +OK,
 * PING/PONG (also before CONNECT, in lower case, split across writes, LF
 * only), protocol errors (-ERR 'Unknown Protocol Operation' and close,
 * malformed arguments close) without harm to other clients, subject
 * validation (-ERR 'Invalid Subject' / 'Invalid Publish Subject', which
 * keep the connection), and the server's own PINGs closing a client that
 * never answers with -ERR 'Stale Connection'.
 *
 * NOTES
 *   A raw client never sends anything after the line that must close it,
 *   so the server closes with nothing unread and the -ERR cannot be lost
 *   to a TCP reset.
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

/* Connected raw client (CONNECT with json, then PING/PONG), or -1. */
static int
raw_client(int port, const char *json)
{
    int fd = dt_raw_connect(port);

    if (fd < 0)
        return -1;
    if (dt_raw_handshake(fd, json, NULL, 0) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Next line equals want. */
static int
next_line_is(int fd, const char *want)
{
    char line[1024];
    int rc = dt_raw_expect(fd, NULL, WAIT_MS, line, sizeof(line));

    if (rc < 0) {
        fprintf(stderr, "waiting for '%s': %s\n", want, strerror(-rc));
        return 0;
    }
    if (strcmp(line, want) != 0) {
        fprintf(stderr, "got '%s', want '%s'\n", line, want);
        return 0;
    }
    return 1;
}

static void
test_info(const struct dt_server *s)
{
    char info[4096], info2[4096], str[256];
    long long v = 0, id1 = 0, id2 = 0;
    int fd = dt_raw_connect(s->port), fd2 = -1, b = 0;

    REQUIRE(fd >= 0);
    /* the very first line, unprompted */
    REQUIRE(dt_raw_expect(fd, NULL, WAIT_MS, info, sizeof(info)) == 0);
    CHECK_MSG(strncmp(info, "INFO {", 6) == 0, "first line '%s'", info);
    CHECK(info[strlen(info) - 1] == '}' || info[strlen(info) - 1] == ' ');
    CHECK(dt_json_str(info, "server_id", str, sizeof(str)) == 0 &&
          str[0] != '\0');
    CHECK(dt_json_str(info, "version", str, sizeof(str)) == 0 &&
          str[0] != '\0');
    CHECK(dt_json_int(info, "proto", &v) == 0 && v == 1);
    CHECK(dt_json_bool(info, "headers", &b) == 0 && b == 1);
    CHECK(dt_json_int(info, "max_payload", &v) == 0 && v == 1048576);
    CHECK(dt_json_int(info, "client_id", &id1) == 0 && id1 > 0);
    CHECK(dt_json_str(info, "host", str, sizeof(str)) == 0 &&
          strcmp(str, "127.0.0.1") == 0);
    CHECK(dt_json_int(info, "port", &v) == 0 && v == s->port);

    /* each connection has its own client_id */
    fd2 = dt_raw_connect(s->port);
    REQUIRE(fd2 >= 0);
    REQUIRE(dt_raw_expect(fd2, "INFO ", WAIT_MS, info2, sizeof(info2)) == 0);
    CHECK(dt_json_int(info2, "client_id", &id2) == 0 && id2 != id1);
out:
    if (fd >= 0)
        close(fd);
    if (fd2 >= 0)
        close(fd2);
}

static void
test_verbose(const struct dt_server *s)
{
    char line[256];
    int fd = dt_raw_connect(s->port), oks = 0, msgs = 0, pong = 0;

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_expect(fd, "INFO ", WAIT_MS, NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "CONNECT {\"verbose\":true}\r\n") == 0);
    CHECK(next_line_is(fd, "+OK"));
    REQUIRE(dt_raw_sends(fd, "SUB pr.v 1\r\n") == 0);
    CHECK(next_line_is(fd, "+OK"));
    REQUIRE(dt_raw_sends(fd, "UNSUB 1 1\r\nPUB pr.v 2\r\nhi\r\n"
                             "PUB pr.v 2\r\nho\r\nPING\r\n") == 0);
    /* +OK for UNSUB and each PUB; one MSG (max 1); PONG */
    while (!pong || oks + msgs < 4) {
        if (dt_raw_expect(fd, NULL, WAIT_MS, line, sizeof(line)) < 0)
            break;
        if (strcmp(line, "+OK") == 0) {
            oks++;
        } else if (strcmp(line, "MSG pr.v 1 2") == 0) {
            msgs++;
            CHECK(next_line_is(fd, "hi"));
        } else if (strcmp(line, "PONG") == 0) {
            pong++;
        } else {
            CHECK_MSG(0, "unexpected line '%s'", line);
        }
    }
    CHECK_INT(oks, ==, 3);
    CHECK_INT(msgs, ==, 1);
    CHECK_INT(pong, ==, 1);
    /* PING gets PONG, not +OK */
    REQUIRE(dt_raw_sends(fd, "PING\r\n") == 0);
    CHECK(next_line_is(fd, "PONG"));
out:
    if (fd >= 0)
        close(fd);
}

static void
test_ping_forms(const struct dt_server *s)
{
    int fd = dt_raw_connect(s->port);

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_expect(fd, "INFO ", WAIT_MS, NULL, 0) == 0);
    /* before CONNECT (no auth configured) */
    REQUIRE(dt_raw_sends(fd, "PING\r\n") == 0);
    CHECK(next_line_is(fd, "PONG"));
    REQUIRE(dt_raw_sends(fd, "CONNECT {\"verbose\":false}\r\nping\r\n") == 0);
    CHECK(next_line_is(fd, "PONG"));
    /* split across writes */
    REQUIRE(dt_raw_sends(fd, "PI") == 0);
    dt_sleep_ms(50);
    REQUIRE(dt_raw_sends(fd, "NG\r\n") == 0);
    CHECK(next_line_is(fd, "PONG"));
    /* LF alone ends a control line */
    REQUIRE(dt_raw_sends(fd, "PING\n") == 0);
    CHECK(next_line_is(fd, "PONG"));
    /* an unsolicited PONG is ignored */
    REQUIRE(dt_raw_sends(fd, "PONG\r\nPING\r\n") == 0);
    CHECK(next_line_is(fd, "PONG"));
    /* lower-case verbs, a payload split mid-way */
    REQUIRE(dt_raw_sends(fd, "sub pr.lc 9\r\npub pr.lc 5\r\nab") == 0);
    dt_sleep_ms(50);
    REQUIRE(dt_raw_sends(fd, "cde\r\nPING\r\n") == 0);
    CHECK(next_line_is(fd, "MSG pr.lc 9 5"));
    CHECK(next_line_is(fd, "abcde"));
    CHECK(next_line_is(fd, "PONG"));
out:
    if (fd >= 0)
        close(fd);
}

/* Send bad (last thing ever sent), expect optional -ERR then close. */
static void
check_fatal(int port, const char *bad, const char *err)
{
    char want[128], line[512];
    int fd = raw_client(port, "{\"verbose\":false}");

    CHECK_MSG(fd >= 0, "connect for '%s'", bad);
    if (fd < 0)
        return;
    REQUIRE(dt_raw_sends(fd, bad) == 0);
    if (err) {
        snprintf(want, sizeof(want), "-ERR '%s'", err);
        CHECK_MSG(dt_raw_expect(fd, NULL, WAIT_MS, line, sizeof(line)) == 0 &&
                  strcmp(line, want) == 0, "after '%s': want %s", bad, want);
    }
    CHECK_MSG(dt_raw_expect_closed(fd, WAIT_MS) == 0,
              "still open after '%s'", bad);
out:
    close(fd);
}

static void
test_errors_fatal(const struct dt_server *s)
{
    char line[256];
    int side = -1, pub = -1;

    /* a subscriber that must not notice the others' trouble */
    side = raw_client(s->port, "{\"verbose\":false}");
    REQUIRE(side >= 0);
    REQUIRE(dt_raw_sends(side, "SUB pr.side 1\r\nPING\r\n") == 0);
    REQUIRE(dt_raw_expect(side, "PONG", WAIT_MS, NULL, 0) == 0);

    check_fatal(s->port, "FOO\r\n", "Unknown Protocol Operation");
    check_fatal(s->port, "MSG pr.x 1 1\r\n", "Unknown Protocol Operation");
    check_fatal(s->port, "UNSUB\r\n", "Unknown Protocol Operation");
    /* payload longer than announced */
    check_fatal(s->port, "PUB pr.x 3\r\nabcd\r\n",
                "Unknown Protocol Operation");
    /* malformed arguments: nats-server closes without a -ERR */
    check_fatal(s->port, "PUB pr.x\r\n", NULL);
    check_fatal(s->port, "PUB pr.x notanumber\r\n", NULL);
    check_fatal(s->port, "SUB pr.x\r\n", NULL);
    check_fatal(s->port, "HPUB pr.x 20 10\r\n", NULL);
    /* headers are refused when CONNECT did not ask for them */
    check_fatal(s->port, "HPUB pr.x 12 14\r\nNATS/1.0\r\n\r\nab\r\n", NULL);

    pub = raw_client(s->port, "{\"verbose\":false}");
    REQUIRE(pub >= 0);
    REQUIRE(dt_raw_sends(pub, "PUB pr.side 2\r\nok\r\nPING\r\n") == 0);
    CHECK(dt_raw_expect(pub, "PONG", WAIT_MS, NULL, 0) == 0);
    CHECK(dt_raw_expect(side, "MSG pr.side 1 2", WAIT_MS, line,
                        sizeof(line)) == 0);
    CHECK(next_line_is(side, "ok"));
    REQUIRE(dt_raw_sends(side, "PING\r\n") == 0);
    CHECK(next_line_is(side, "PONG"));
out:
    if (side >= 0)
        close(side);
    if (pub >= 0)
        close(pub);
}

static void
test_subjects(const struct dt_server *s)
{
    int fd = raw_client(s->port, "{\"verbose\":false,\"pedantic\":true}");
    int np = raw_client(s->port, "{\"verbose\":false,\"pedantic\":false}");

    REQUIRE(fd >= 0 && np >= 0);
    /* bad subscription subjects: an error, the connection stays */
    REQUIRE(dt_raw_sends(fd, "SUB pr..bad 1\r\nPING\r\n") == 0);
    CHECK(next_line_is(fd, "-ERR 'Invalid Subject'"));
    CHECK(next_line_is(fd, "PONG"));
    REQUIRE(dt_raw_sends(fd, "SUB pr.>.x 1\r\nPING\r\n") == 0);
    CHECK(next_line_is(fd, "-ERR 'Invalid Subject'"));
    CHECK(next_line_is(fd, "PONG"));
    REQUIRE(dt_raw_sends(np, "SUB .pr 1\r\nPING\r\n") == 0);
    CHECK(next_line_is(np, "-ERR 'Invalid Subject'"));
    CHECK(next_line_is(np, "PONG"));
    /* wildcards only count as whole tokens */
    REQUIRE(dt_raw_sends(fd, "SUB pr.a*b.c> 2\r\nPING\r\n") == 0);
    CHECK(next_line_is(fd, "PONG"));

    /* pedantic: a wildcard publish subject is refused, not fatal */
    REQUIRE(dt_raw_sends(fd, "PUB pr.* 1\r\nx\r\nPING\r\n") == 0);
    CHECK(next_line_is(fd, "-ERR 'Invalid Publish Subject'"));
    CHECK(next_line_is(fd, "PONG"));
    /* not pedantic: accepted silently */
    REQUIRE(dt_raw_sends(np, "PUB pr.nobody.* 1\r\nx\r\nPING\r\n") == 0);
    CHECK(next_line_is(np, "PONG"));
out:
    if (fd >= 0)
        close(fd);
    if (np >= 0)
        close(np);
}

/* ping_interval 1s, ping_max 2: the mute client is dropped, others stay. */
static void
test_stale(void)
{
    struct dt_server s = { 0 };
    natsConnection *nc = NULL;
    char line[256];
    long long t0, dt = 0;
    int fd = -1, pings = 0, rc;

    rc = dt_server_start(&s, "ping_interval: \"1s\"\nping_max: 2\n", NULL);
    CHECK_MSG(rc == 0, "start: %s", strerror(-rc));
    if (rc < 0)
        return;
    /* libnats answers the server's PINGs by itself */
    REQUIRE(dt_nats_try_connect(&nc, s.url, NULL) == NATS_OK);

    fd = raw_client(s.port, "{\"verbose\":false}");
    REQUIRE(fd >= 0);
    t0 = dt_now_ms();
    for (;;) {
        if (dt_raw_expect(fd, NULL, 5000, line, sizeof(line)) < 0) {
            CHECK_MSG(0, "no -ERR 'Stale Connection' after %d PINGs", pings);
            break;
        }
        if (strcmp(line, "PING") == 0) {
            pings++;
            continue;
        }
        dt = dt_now_ms() - t0;
        CHECK_STR(line, "-ERR 'Stale Connection'");
        break;
    }
    CHECK_INT(pings, ==, 2);
    CHECK_MSG(dt >= 2000 && dt <= 5000, "stale after %lld ms", dt);
    CHECK(dt_raw_expect_closed(fd, WAIT_MS) == 0);

    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED);
    CHECK(natsConnection_Flush(nc) == NATS_OK);
out:
    if (fd >= 0)
        close(fd);
    natsConnection_Destroy(nc);
    dt_server_finish(&s);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;

    REQUIRE(dt_server_start_or_skip(&srv, NULL, NULL) == 0);
    test_info(&srv);
    test_verbose(&srv);
    test_ping_forms(&srv);
    test_errors_fatal(&srv);
    test_subjects(&srv);
    test_stale();
out:
    return dt_nats_finish(&srv, argv[0]);
}
