/*
 * test_limits.c -- configured limits and authentication: max_payload
 * (INFO advertises it, a bigger PUB gets -ERR 'Maximum Payload Violation'
 * and is closed, libnats refuses with NATS_MAX_PAYLOAD), max_control_line,
 * max_connections, user/password and token authorization (good, bad,
 * missing), and the authorization timeout.
 *
 * NOTES
 *   One server per configuration, started and stopped by each check.
 *   Raw clients never send anything after the line that must close them,
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

/* Silent: several of these connections are meant to be refused. */
static natsStatus
nconnect(natsConnection **nc, const char *url, const char *user,
         const char *pass, const char *token)
{
    const struct dt_nats_opts o = {
        .user = user, .pass = pass, .token = token,
    };

    return dt_nats_try_connect(nc, url, &o);
}

/* Start a server with conf; 0, or -1 after a failed check. */
static int
start(struct dt_server *s, const char *conf)
{
    int rc = dt_server_start(s, conf, NULL);

    CHECK_MSG(rc == 0, "server start with config '%s': %s", conf,
              strerror(-rc));
    return rc == 0 ? 0 : -1;
}

/* Expect "-ERR '<text>'" as the next line and then the close. */
static int
expect_err_close(int fd, const char *text, int timeout_ms)
{
    char want[256], line[512];
    int rc;

    snprintf(want, sizeof(want), "-ERR '%s'", text);
    rc = dt_raw_expect(fd, NULL, timeout_ms, line, sizeof(line));
    if (rc < 0) {
        fprintf(stderr, "waiting for %s: %s\n", want, strerror(-rc));
        return 0;
    }
    if (strcmp(line, want) != 0) {
        fprintf(stderr, "got '%s', want \"%s\"\n", line, want);
        return 0;
    }
    return dt_raw_expect_closed(fd, WAIT_MS) == 0;
}

static void
test_max_payload(void)
{
    struct dt_server s = { 0 };
    natsConnection *nc = NULL;
    char info[2048], *buf = NULL;
    long long mp = 0;
    int fd = -1;

    if (start(&s, "max_payload: 1024\nmax_control_line: 256\n") < 0)
        return;
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false}", info,
                             sizeof(info)) == 0);
    CHECK(dt_json_int(info, "max_payload", &mp) == 0 && mp == 1024);

    /* exactly the limit is fine */
    REQUIRE((buf = malloc(1100)) != NULL);
    memcpy(buf, "PUB lim.p 1024\r\n", 16);
    memset(buf + 16, 'p', 1024);
    memcpy(buf + 16 + 1024, "\r\nPING\r\n", 8);
    REQUIRE(dt_raw_send(fd, buf, 16 + 1024 + 8) == 0);
    CHECK(dt_raw_expect(fd, NULL, WAIT_MS, info, sizeof(info)) == 0 &&
          strcmp(info, "PONG") == 0);

    /* one more byte: refused on the control line, then closed */
    REQUIRE(dt_raw_sends(fd, "PUB lim.p 1025\r\n") == 0);
    CHECK(expect_err_close(fd, "Maximum Payload Violation", WAIT_MS));
    close(fd);

    /* HPUB counts headers and payload together */
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false,\"headers\":true}",
                             NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "HPUB lim.p 12 1025\r\n") == 0);
    CHECK(expect_err_close(fd, "Maximum Payload Violation", WAIT_MS));
    close(fd);

    /* libnats learns the limit from INFO and refuses locally */
    REQUIRE(nconnect(&nc, s.url, NULL, NULL, NULL) == NATS_OK);
    CHECK_INT(natsConnection_GetMaxPayload(nc), ==, 1024);
    CHECK(natsConnection_Publish(nc, "lim.p", buf, 1024) == NATS_OK);
    CHECK(natsConnection_Publish(nc, "lim.p", buf, 1025) ==
          NATS_MAX_PAYLOAD);
    CHECK(natsConnection_Flush(nc) == NATS_OK);

    /* control lines: under the limit fine, over it -ERR and close */
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false}", NULL, 0) == 0);
    memcpy(buf, "SUB ", 4);
    memset(buf + 4, 's', 200);
    memcpy(buf + 204, " 1\r\nPING\r\n", 11);
    REQUIRE(dt_raw_sends(fd, buf) == 0);
    CHECK(dt_raw_expect(fd, NULL, WAIT_MS, info, sizeof(info)) == 0 &&
          strcmp(info, "PONG") == 0);
    memset(buf + 4, 's', 300);
    memcpy(buf + 304, " 2\r\n", 5);
    REQUIRE(dt_raw_sends(fd, buf) == 0);
    CHECK(expect_err_close(fd, "maximum control line exceeded", WAIT_MS));
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    natsConnection_Destroy(nc);
    dt_server_finish(&s);
}

/*
 * A raw client that completed CONNECT/PING/PONG.  The server may still
 * count the harness's start-up probe for a moment, so a refusal is
 * retried briefly.
 */
static int
connect_counted(int port)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = dt_raw_connect(port);

        if (fd < 0)
            return fd;
        if (dt_raw_handshake(fd, "{\"verbose\":false}", NULL, 0) == 0)
            return fd;
        close(fd);
        dt_sleep_ms(20);
    }
    return -ETIMEDOUT;
}

static void
test_max_connections(void)
{
    struct dt_server s = { 0 };
    int a = -1, b = -1, c = -1;

    if (start(&s, "max_connections: 2\n") < 0)
        return;
    a = connect_counted(s.port);
    b = connect_counted(s.port);
    REQUIRE(a >= 0 && b >= 0);

    /* the third gets INFO, then the error, then is closed */
    c = dt_raw_connect(s.port);
    REQUIRE(c >= 0);
    CHECK(dt_raw_expect(c, "INFO ", WAIT_MS, NULL, 0) == 0);
    CHECK(expect_err_close(c, "maximum connections exceeded", WAIT_MS));
    close(c);
    c = -1;

    /* the two admitted ones are unaffected */
    REQUIRE(dt_raw_sends(a, "PING\r\n") == 0);
    CHECK(dt_raw_expect(a, "PONG", WAIT_MS, NULL, 0) == 0);

    /* once one leaves, a newcomer is admitted */
    close(b);
    b = connect_counted(s.port);
    CHECK(b >= 0);
out:
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    if (c >= 0)
        close(c);
    dt_server_finish(&s);
}

/* libnats connect must fail with an authorization error. */
static void
check_auth_refused(const char *url, const char *user, const char *pass,
                   const char *token)
{
    natsConnection *nc = NULL;
    natsStatus st = nconnect(&nc, url, user, pass, token);
    const char *why = nats_GetLastError(NULL);

    CHECK_MSG(st == NATS_CONNECTION_AUTH_FAILED, "status %d (%s): %s",
              (int)st, natsStatus_GetText(st), why ? why : "");
    natsConnection_Destroy(nc);
}

/* Raw CONNECT with connect_json: -ERR 'Authorization Violation', close. */
static void
check_raw_refused(int port, const char *connect_json)
{
    char line[512], info[2048];
    int fd = dt_raw_connect(port), req = 0;

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_expect(fd, "INFO ", WAIT_MS, info, sizeof(info)) == 0);
    CHECK(dt_json_bool(info, "auth_required", &req) == 0 && req == 1);
    snprintf(line, sizeof(line), "CONNECT %s\r\n", connect_json);
    REQUIRE(dt_raw_sends(fd, line) == 0);
    CHECK_MSG(expect_err_close(fd, "Authorization Violation", WAIT_MS),
              "CONNECT %s", connect_json);
out:
    if (fd >= 0)
        close(fd);
}

static void
check_auth_timeout(int port)
{
    long long t0, dt;
    int fd = dt_raw_connect(port);

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_expect(fd, "INFO ", WAIT_MS, NULL, 0) == 0);
    t0 = dt_now_ms();
    CHECK(expect_err_close(fd, "Authentication Timeout", 4000));
    dt = dt_now_ms() - t0;
    CHECK_MSG(dt >= 700 && dt <= 3000, "timed out after %lld ms", dt);
out:
    if (fd >= 0)
        close(fd);
}

static void
test_user_password(void)
{
    struct dt_server s = { 0 };
    natsConnection *nc = NULL;
    int fd = -1;

    if (start(&s, "authorization {\n  user: alice\n  password: s3cret\n"
                  "  timeout: 1\n}\n") < 0)
        return;
    CHECK(nconnect(&nc, s.url, "alice", "s3cret", NULL) == NATS_OK);
    CHECK(nc != NULL && natsConnection_Flush(nc) == NATS_OK);
    check_auth_refused(s.url, "alice", "wrong", NULL);
    check_auth_refused(s.url, "bob", "s3cret", NULL);
    check_auth_refused(s.url, NULL, NULL, NULL);

    check_raw_refused(s.port, "{\"verbose\":false,\"user\":\"alice\","
                              "\"pass\":\"nope\"}");
    check_raw_refused(s.port, "{\"verbose\":false}");
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    CHECK(dt_raw_handshake(fd, "{\"verbose\":false,\"user\":\"alice\","
                               "\"pass\":\"s3cret\"}", NULL, 0) == 0);
    close(fd);

    /* a command before CONNECT is refused as well */
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_expect(fd, "INFO ", WAIT_MS, NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "PING\r\n") == 0);
    CHECK(expect_err_close(fd, "Authorization Violation", WAIT_MS));

    check_auth_timeout(s.port);
out:
    if (fd >= 0)
        close(fd);
    natsConnection_Destroy(nc);
    dt_server_finish(&s);
}

static void
test_token(void)
{
    struct dt_server s = { 0 };
    natsConnection *nc = NULL;
    int fd = -1;

    if (start(&s, "authorization {\n  token: tok123\n  timeout: 1\n}\n") < 0)
        return;
    CHECK(nconnect(&nc, s.url, NULL, NULL, "tok123") == NATS_OK);
    CHECK(nc != NULL && natsConnection_Flush(nc) == NATS_OK);
    check_auth_refused(s.url, NULL, NULL, "tok124");
    check_auth_refused(s.url, NULL, NULL, NULL);
    check_raw_refused(s.port, "{\"verbose\":false,\"auth_token\":\"bad\"}");
    check_raw_refused(s.port, "{\"verbose\":false,\"user\":\"tok123\"}");
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    CHECK(dt_raw_handshake(fd, "{\"verbose\":false,"
                               "\"auth_token\":\"tok123\"}", NULL, 0) == 0);
out:
    if (fd >= 0)
        close(fd);
    natsConnection_Destroy(nc);
    dt_server_finish(&s);
}

/* Without authorization INFO does not ask for it. */
static void
test_no_auth_info(void)
{
    struct dt_server s = { 0 };
    char info[2048];
    int fd = -1, req = 0;

    if (start(&s, NULL) < 0)
        return;
    fd = dt_raw_connect(s.port);
    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_expect(fd, "INFO ", WAIT_MS, info, sizeof(info)) == 0);
    CHECK(dt_json_bool(info, "auth_required", &req) == -ENOENT || req == 0);
out:
    if (fd >= 0)
        close(fd);
    dt_server_finish(&s);
}

int
main(int argc, char **argv)
{
    (void)argc;
    if (dt_server_bin() == NULL) {
        printf("SKIP: $DIALTONE_BIN not set or not executable\n");
        return DT_EXIT_SKIP;
    }
    test_max_payload();
    test_max_connections();
    test_user_password();
    test_token();
    test_no_auth_info();
    return dt_nats_finish(NULL, argv[0]);
}
