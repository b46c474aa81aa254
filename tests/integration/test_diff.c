/*
 * test_diff.c -- differential test: the same raw protocol scripts are
 * played against the reference nats-server and $DIALTONE_BIN (both started
 * with the same config), and the transcripts must be equal once INFO is
 * reduced to what both must agree on (a fixed key set and a few values;
 * ids, names, versions and ports are masked).
 *
 * NOTES
 *   A script is a list of steps for up to two connections: "A:" or "B:"
 *   (default A) then bytes to send, "@<ms>" to wait while collecting, and
 *   "!longsub" for a SUB whose control line is 5000 bytes.  After the last
 *   step output is collected until both connections are closed or quiet.
 *   Scripts put the line that closes a connection last, so the server
 *   never closes with unread input and the -ERR cannot be lost to a reset.
 *   The reference is $NATS_SERVER_BIN, /usr/bin/nats-server or
 *   /usr/sbin/nats-server; without one the test is skipped.
 *   DT_DIFF_SHOW=1 prints every transcript.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"

#define MAX_STEPS 16
#define TRANSCRIPT_MAX 8192
#define QUIET_AFTER_PONG_MS 60
#define QUIET_MS 400
#define COLLECT_CAP_MS 4000

struct script {
    const char *name;
    const char *steps[MAX_STEPS];
};

/* ---- scripts ---------------------------------------------------------- */

#define CONNECT_QUIET "CONNECT {\"verbose\":false}\r\n"

static const struct script default_scripts[] = {
    { "connect_verbose", { "CONNECT {\"verbose\":true}\r\n", "PING\r\n" } },
    /* verbose and pedantic default to true; the PINGs pin down where a
     * connection's own message lands among its +OK lines (nats-server
     * delivers inline, Dialtone by the next PONG) */
    { "connect_empty_defaults",
      { "CONNECT {}\r\n", "SUB d.* 1\r\n", "PUB d.x 1\r\na\r\nPING\r\n",
        "PUB d.* 1\r\nb\r\nPING\r\n" } },
    { "no_connect_ping", { "PING\r\n" } },
    { "no_connect_pubsub", { "SUB n 1\r\nPUB n 2\r\nhi\r\nPING\r\n" } },
    { "lowercase", { CONNECT_QUIET, "sub l 1\r\npub l 2\r\nhi\r\nping\r\n" } },
    { "split_writes",
      { CONNECT_QUIET, "SUB s 1\r\nPU", "@50", "B s 5\r\nab", "@50",
        "cde\r\nPI", "@50", "NG\r\n" } },
    { "lf_only_control_lines", { CONNECT_QUIET, "SUB f 1\nPUB f 1\nx\r\nPING\n" } },
    { "pub_sub", { CONNECT_QUIET, "SUB foo 7\r\nPUB foo 5\r\nhello\r\n"
                                  "PING\r\n" } },
    { "pub_reply", { CONNECT_QUIET, "SUB foo 1\r\nPUB foo bar.baz 2\r\nhi\r\n"
                                    "PING\r\n" } },
    { "zero_payload", { CONNECT_QUIET, "SUB z 1\r\nPUB z 0\r\n\r\nPING\r\n" } },
    { "payload_with_crlf_inside",
      { CONNECT_QUIET, "SUB c 1\r\nPUB c 4\r\na\r\nb\r\nPING\r\n" } },
    { "wildcards",
      { CONNECT_QUIET, "SUB w.* 1\r\nSUB v.> 2\r\n",
        "PUB w.x 1\r\na\r\nPUB w.x.y 1\r\nb\r\nPUB v 1\r\nc\r\n"
        "PUB v.x.y 1\r\nd\r\nPUB w 1\r\ne\r\nPING\r\n" } },
    { "unsub_max", { CONNECT_QUIET, "SUB u 1\r\nUNSUB 1 2\r\n"
                                    "PUB u 1\r\na\r\nPUB u 1\r\nb\r\n"
                                    "PUB u 1\r\nc\r\nPING\r\n" } },
    { "unsub", { CONNECT_QUIET, "SUB u 1\r\nUNSUB 1\r\nPUB u 1\r\na\r\n"
                                "PING\r\n" } },
    { "unsub_unknown_sid", { "CONNECT {\"verbose\":true}\r\n",
                             "UNSUB 99\r\nPING\r\n" } },
    { "duplicate_sid", { CONNECT_QUIET, "SUB d 1\r\nSUB d 1\r\n"
                                        "PUB d 1\r\nx\r\nPING\r\n" } },
    { "echo_off", { "CONNECT {\"verbose\":false,\"echo\":false}\r\n",
                    "SUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n" } },
    { "hpub_hmsg",
      { "CONNECT {\"verbose\":false,\"headers\":true}\r\n",
        "SUB h 1\r\nHPUB h 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n"
        "PING\r\n" } },
    { "no_responders",
      { "CONNECT {\"verbose\":false,\"headers\":true,"
        "\"no_responders\":true}\r\n",
        "SUB inbox 1\r\nPUB nobody inbox 2\r\nhi\r\nPING\r\n" } },
    { "verbose_invalid_subjects",
      { "CONNECT {\"verbose\":true,\"pedantic\":false}\r\n",
        "SUB a..b 1\r\nSUB .a 2\r\nSUB a.>.b 3\r\nSUB a*.b> 4\r\n"
        "PING\r\n" } },
    { "pedantic_publish",
      { "CONNECT {\"verbose\":false,\"pedantic\":true}\r\n",
        "PUB p.* 1\r\nx\r\nPUB p..q 1\r\ny\r\nPUB p.ok 1\r\nz\r\n"
        "PING\r\n" } },
    { "two_connections",
      { "A:" CONNECT_QUIET, "B:" CONNECT_QUIET, "A:SUB t 1\r\nPING\r\n",
        "@100", "B:PUB t 2\r\nhi\r\nPUB t.x 1\r\nx\r\nPING\r\n", "@100",
        "A:PING\r\n" } },
    { "two_connections_queue_and_plain",
      { "A:" CONNECT_QUIET, "B:" CONNECT_QUIET,
        "A:SUB t q 1\r\nPING\r\n", "B:SUB t 2\r\nPING\r\n", "@100",
        "B:PUB t 2\r\nhi\r\nPING\r\n", "@100", "A:PING\r\n" } },
    /* fatal errors: always the last thing sent */
    { "unknown_op", { CONNECT_QUIET, "FOO bar\r\n" } },
    { "unknown_op_before_connect", { "BAR\r\n" } },
    { "msg_from_client", { CONNECT_QUIET, "MSG a 1 1\r\n" } },
    { "unsub_no_args", { CONNECT_QUIET, "UNSUB\r\n" } },
    { "pub_missing_size", { CONNECT_QUIET, "PUB foo\r\n" } },
    { "pub_bad_size", { CONNECT_QUIET, "PUB foo x\r\n" } },
    { "sub_missing_sid", { CONNECT_QUIET, "SUB foo\r\n" } },
    { "payload_too_long", { CONNECT_QUIET, "PUB foo 3\r\nabcd\r\n" } },
    { "max_payload", { CONNECT_QUIET, "PUB foo 1048577\r\n" } },
    { "max_control_line", { CONNECT_QUIET, "!longsub" } },
    { "hpub_without_headers", { CONNECT_QUIET, "HPUB h 12 14\r\n" } },
    { "hpub_sizes_inverted",
      { "CONNECT {\"verbose\":false,\"headers\":true}\r\n", "HPUB h 20 10\r\n" } },
    { "connect_bad_json", { "CONNECT {bad\r\n" } },
    { "connect_bad_protocol", { "CONNECT {\"protocol\":2}\r\n" } },
    { "no_responders_without_headers",
      { "CONNECT {\"no_responders\":true,\"headers\":false}\r\n" } },
};

static const char auth_conf[] =
    "authorization {\n  user: u\n  password: p\n  timeout: 1\n}\n"
    "max_payload: 1024\n";

static const struct script auth_scripts[] = {
    { "auth_ok", { "CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\n",
                   "PING\r\n" } },
    { "auth_bad_password",
      { "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"x\"}\r\n" } },
    { "auth_missing", { "CONNECT {\"verbose\":false}\r\n" } },
    { "auth_ping_first", { "PING\r\n" } },
    { "auth_timeout", { "@1600" } },
    { "auth_max_payload",
      { "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n",
        "PUB foo 2\r\nhi\r\nPING\r\n", "@50", "PUB foo 1025\r\n" } },
};

/* ---- transcripts ------------------------------------------------------ */

struct conn {
    int fd;
    int open;
    int last_pong;          /* the last line received was PONG */
    size_t len;
    char out[TRANSCRIPT_MAX];
};

static void
append(struct conn *c, const char *line)
{
    int n = snprintf(c->out + c->len, sizeof(c->out) - c->len, "%s\n", line);

    if (n > 0)
        c->len += (size_t)n < sizeof(c->out) - c->len
                      ? (size_t)n : sizeof(c->out) - c->len - 1;
}

/*
 * Reduce INFO to what both servers must agree on: which of the common
 * keys are present, and the values that are not per-server identity.
 */
static void
mask_info(const char *info, int port, char *out, size_t outlen)
{
    static const char *const keys[] = {
        "server_id", "server_name", "version", "proto", "host", "port",
        "headers", "max_payload", "client_id", "client_ip", "auth_required",
    };
    size_t len = 0;
    long long v;
    char s[128];
    int b;

    len += (size_t)snprintf(out + len, outlen - len, "INFO keys=");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char pat[64];

        snprintf(pat, sizeof(pat), "\"%s\"", keys[i]);
        if (strstr(info, pat) && len < outlen)
            len += (size_t)snprintf(out + len, outlen - len, "%s,", keys[i]);
    }
    if (dt_json_int(info, "proto", &v) == 0 && len < outlen)
        len += (size_t)snprintf(out + len, outlen - len, " proto=%lld", v);
    if (dt_json_bool(info, "headers", &b) == 0 && len < outlen)
        len += (size_t)snprintf(out + len, outlen - len, " headers=%d", b);
    if (dt_json_int(info, "max_payload", &v) == 0 && len < outlen)
        len += (size_t)snprintf(out + len, outlen - len, " max_payload=%lld",
                                v);
    if (dt_json_bool(info, "auth_required", &b) == 0 && len < outlen)
        len += (size_t)snprintf(out + len, outlen - len, " auth=%d", b);
    if (dt_json_str(info, "host", s, sizeof(s)) == 0 && len < outlen)
        len += (size_t)snprintf(out + len, outlen - len, " host=%s", s);
    if (dt_json_int(info, "port", &v) == 0 && len < outlen)
        len += (size_t)snprintf(out + len, outlen - len, " port=%s",
                                v == port ? "<self>" : "<other>");
    if (dt_json_str(info, "client_ip", s, sizeof(s)) == 0 && len < outlen)
        snprintf(out + len, outlen - len, " client_ip=%s", s);
}

/* Take whatever c has to say within wait_ms; returns lines read. */
static int
collect_one(struct conn *c, int port, int wait_ms)
{
    char line[8192], masked[512];
    int n = 0, rc;

    while (c->open) {
        rc = dt_raw_expect(c->fd, NULL, wait_ms, line, sizeof(line));
        if (rc == -ETIMEDOUT)
            break;
        if (rc < 0) {
            append(c, "<closed>");
            c->open = 0;
            break;
        }
        if (strncmp(line, "INFO ", 5) == 0) {
            mask_info(line, port, masked, sizeof(masked));
            append(c, masked);
        } else {
            append(c, line);
        }
        c->last_pong = strcmp(line, "PONG") == 0;
        n++;
        wait_ms = 0;
    }
    return n;
}

/* Collect from all connections until the deadline. */
static void
collect_until(struct conn *cs, int n, int port, long long deadline)
{
    do {
        int got = 0;

        for (int i = 0; i < n; i++)
            got += collect_one(&cs[i], port, 5);
        if (!got)
            dt_sleep_ms(5);
    } while (dt_now_ms() < deadline);
}

/* Collect until every connection is closed or quiet long enough. */
static void
collect_final(struct conn *cs, int n, int port)
{
    long long cap = dt_now_ms() + COLLECT_CAP_MS, last = dt_now_ms();

    while (dt_now_ms() < cap) {
        int got = 0, quiet_ms = QUIET_AFTER_PONG_MS, open = 0;

        for (int i = 0; i < n; i++) {
            got += collect_one(&cs[i], port, 5);
            open += cs[i].open;
            if (cs[i].open && !cs[i].last_pong)
                quiet_ms = QUIET_MS;
        }
        if (got)
            last = dt_now_ms();
        if (!open || dt_now_ms() - last >= quiet_ms)
            break;
    }
}

static char longsub[5100];

/* Play script against the server on port; transcripts into cs[0..1]. */
static void
play(const struct script *sc, int port, struct conn *cs)
{
    int nconn = 1;

    for (int i = 0; i < MAX_STEPS && sc->steps[i]; i++)
        if (strncmp(sc->steps[i], "B:", 2) == 0)
            nconn = 2;
    for (int i = 0; i < 2; i++) {
        cs[i].len = 0;
        cs[i].out[0] = '\0';
        cs[i].last_pong = 0;
        cs[i].fd = i < nconn ? dt_raw_connect(port) : -1;
        cs[i].open = cs[i].fd >= 0;
        if (i < nconn && cs[i].fd < 0)
            append(&cs[i], "<connect failed>");
    }
    /* INFO first, so that it is never interleaved with a step's output */
    for (int i = 0; i < nconn; i++)
        collect_one(&cs[i], port, 2000);
    for (int i = 0; i < MAX_STEPS && sc->steps[i]; i++) {
        const char *st = sc->steps[i];
        struct conn *c = &cs[0];

        if (st[0] == '@') {
            collect_until(cs, nconn, port, dt_now_ms() + atoi(st + 1));
            continue;
        }
        if (strncmp(st, "A:", 2) == 0 || strncmp(st, "B:", 2) == 0) {
            c = &cs[st[0] - 'A'];
            st += 2;
        }
        if (strcmp(st, "!longsub") == 0)
            st = longsub;
        if (c->open && dt_raw_sends(c->fd, st) < 0)
            append(c, "<send failed>");
    }
    collect_final(cs, nconn, port);
    for (int i = 0; i < nconn; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
}

static void
run_group(const char *ref_bin, const char *conf, const struct script *scripts,
          size_t n, int show)
{
    static struct conn ref[2], got[2];
    struct dt_server rs, ds;
    int rc;

    rc = dt_server_start_bin(&rs, ref_bin, conf, NULL);
    CHECK_MSG(rc == 0, "reference start: %s", strerror(-rc));
    if (rc < 0)
        return;
    rc = dt_server_start(&ds, conf, NULL);
    CHECK_MSG(rc == 0, "server start: %s", strerror(-rc));
    if (rc < 0) {
        dt_server_stop(&rs);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        play(&scripts[i], rs.port, ref);
        play(&scripts[i], ds.port, got);
        for (int c = 0; c < 2; c++) {
            int same = strcmp(ref[c].out, got[c].out) == 0;

            CHECK_MSG(same, "script %s (connection %c) differs:\n"
                      "--- nats-server\n%s--- %s\n%s---", scripts[i].name,
                      'A' + c, ref[c].out, dt_server_bin(), got[c].out);
            if (show && ref[c].len)
                printf("=== %s (%c)\n%s", scripts[i].name, 'A' + c,
                       ref[c].out);
        }
    }
    CHECK(dt_server_stop(&ds) >= 0);
    dt_server_stop(&rs);
}

static const char *
reference_bin(void)
{
    static const char *const candidates[] = {
        "/usr/bin/nats-server", "/usr/sbin/nats-server",
    };
    const char *env = getenv("NATS_SERVER_BIN");

    if (env && *env && access(env, X_OK) == 0)
        return env;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *ref = reference_bin();
    const char *show = getenv("DT_DIFF_SHOW");

    (void)argc;
    if (ref == NULL || dt_server_bin() == NULL) {
        printf("SKIP: no reference nats-server or no $DIALTONE_BIN\n");
        return DT_EXIT_SKIP;
    }
    memcpy(longsub, "SUB ", 4);
    memset(longsub + 4, 'x', 5000);
    memcpy(longsub + 5004, " 1\r\n", 5);

    run_group(ref, NULL, default_scripts,
              sizeof(default_scripts) / sizeof(default_scripts[0]),
              show != NULL);
    run_group(ref, auth_conf, auth_scripts,
              sizeof(auth_scripts) / sizeof(auth_scripts[0]), show != NULL);
    return dt_check_summary(argv[0]);
}
