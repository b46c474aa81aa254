/*
 * test_js_republish.c -- stream republish as nats-server 2.9.10 runs it:
 * the config checks (source not a subset of the subjects, destination
 * forming a cycle, invalid transforms) with their exact errors, the
 * config echoed in StreamInfo ("src" defaulting to ">"), and the copies
 * a subscriber of the destination gets, compared byte for byte: the
 * message's own headers (status line kept) followed by Nats-Stream,
 * Nats-Subject, Nats-Sequence, Nats-Last-Sequence (the subject's previous
 * last sequence, also when max_msgs_per_subject removes it) and, with
 * headers_only, Nats-Msg-Size and no payload; $N and {{wildcard(N)}}
 * destination tokens; nothing for a duplicate or a subject outside src.
 * Checked against nats-server 2.9.10 too (DIALTONE_BIN=/usr/sbin/nats-server).
 *
 * NOTES
 *   The copies are read on a raw connection so that the header block is
 *   compared as sent.  Dialtone refuses the destination functions other
 *   than wildcard (partition, split...) that nats-server accepts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000

static bool dialtone;

static void
expect_err(natsConnection *nc, const char *name, const char *cfg,
           const char *desc)
{
    char r[2048];

    dt_js_create(nc, name, cfg, r, sizeof(r));
    CHECK_INT(dt_jint(r, "code"), ==, 500);
    CHECK_INT(dt_jint(r, "err_code"), ==, 10052);
    CHECK_MSG(strcmp(dt_jstr(r, "description"), desc) == 0, "%s: %s", name, r);
}

static void
test_errors(natsConnection *nc)
{
    static const char bad[] = "stream configuration for republish not valid";
    char r[2048];

    expect_err(nc, "A", "{\"name\":\"A\",\"subjects\":[\"a.>\"],\"republish\":"
               "{\"src\":\"a.>\",\"dest\":\"a.x\"}}",
               "stream configuration for republish destination forms a "
               "cycle");
    expect_err(nc, "B", "{\"name\":\"B\",\"subjects\":[\"b.>\"],\"republish\":"
               "{\"src\":\"c.>\",\"dest\":\"rp.x\"}}",
               "stream configuration for republish source is not valid "
               "subset of subjects");
    /* both faults: the source is checked first */
    expect_err(nc, "S", "{\"name\":\"S\",\"subjects\":[\"s.*\"],\"republish\":"
               "{\"src\":\"r.*\",\"dest\":\"s.*\"}}",
               "stream configuration for republish source is not valid "
               "subset of subjects");
    expect_err(nc, "F", "{\"name\":\"F\",\"subjects\":[\"f.>\"],\"republish\":"
               "{\"src\":\"f.*.z\",\"dest\":\"rp.x\"}}", bad);
    expect_err(nc, "G", "{\"name\":\"G\",\"subjects\":[\"g.>\"],\"republish\":"
               "{\"src\":\"g.>\",\"dest\":\"rp.*\"}}", bad);
    expect_err(nc, "H", "{\"name\":\"H\",\"subjects\":[\"h.>\"],\"republish\":"
               "{\"src\":\"h.>\",\"dest\":\"\"}}", bad);
    expect_err(nc, "I", "{\"name\":\"I\",\"subjects\":[\"i.>\"],\"republish\":"
               "{\"src\":\"i.>\",\"dest\":\"rp..x\"}}", bad);
    expect_err(nc, "L", "{\"name\":\"L\",\"subjects\":[\"l.>\"],\"republish\":"
               "{\"src\":\"l.>\",\"dest\":\"rp.x\"}}", bad);
    expect_err(nc, "M", "{\"name\":\"M\",\"subjects\":[\"m.*\"],\"republish\":"
               "{\"src\":\"m.*\",\"dest\":\"rp.$2\"}}", bad);
    expect_err(nc, "T", "{\"name\":\"T\",\"subjects\":[\"t.*\"],\"republish\":"
               "{\"src\":\"t.*\",\"dest\":\"rp.x.>\"}}", bad);
    /* a mirror has no subjects: no source can be a subset of them */
    expect_err(nc, "MR", "{\"name\":\"MR\",\"mirror\":{\"name\":\"X\"},"
               "\"republish\":{\"dest\":\"rp.m\"}}",
               "stream configuration for republish source is not valid "
               "subset of subjects");
    dt_js_create(nc, "O",
                 "{\"name\":\"O\",\"subjects\":[\"o.*\"],\"republish\":"
                 "{\"src\":\"o.*\",\"dest\":\"rp.{{partition(3,1)}}\"}}", r,
                 sizeof(r));
    if (dialtone)
        CHECK_INT(dt_jint(r, "err_code"), ==, 10052);
    else
        CHECK_STR(dt_jstr(r, "name"), "O");
}

/* The config as echoed: the republish member between sources and
 * allow_direct, src defaulted. */
static void
test_echo(natsConnection *nc)
{
    char r[4096];

    dt_js_create(nc, "D",
                 "{\"name\":\"D\",\"subjects\":[\"d.*\"],\"republish\":"
                 "{\"dest\":\"rp.>\"}}", r, sizeof(r));
    /* Dialtone's stream API does not Go-escape '>' (nor in subjects) */
    CHECK_MSG(strstr(r, dialtone
                     ? "\"duplicate_window\":120000000000,\"republish\":"
                       "{\"src\":\">\",\"dest\":\"rp.>\"},"
                       "\"allow_direct\":false"
                     : "\"duplicate_window\":120000000000,\"republish\":"
                       "{\"src\":\"\\u003e\",\"dest\":\"rp.\\u003e\"},"
                       "\"allow_direct\":false") != NULL, "%s", r);
    dt_js_create(nc, "J",
                 "{\"name\":\"J\",\"subjects\":[\"j.*\"],\"republish\":"
                 "{\"src\":\"j.*\",\"dest\":\"rp.j.$1\","
                 "\"headers_only\":true}}", r, sizeof(r));
    CHECK_MSG(strstr(r, "\"republish\":{\"src\":\"j.*\",\"dest\":\"rp.j.$1\","
                     "\"headers_only\":true},\"allow_direct\"") != NULL,
              "%s", r);
    dt_js_create(nc, "K", "{\"name\":\"K\",\"subjects\":[\"k.*.*\"],"
               "\"republish\":{\"src\":\"k.*.*\",\"dest\":"
               "\"rp.k.{{ Wildcard( 2 ) }}.$1\"}}", r, sizeof(r));
    CHECK_STR(dt_jstr(r, "type"),
              "io.nats.jetstream.api.v1.stream_create_response");
    dt_js_create(nc, "N", "{\"name\":\"N\",\"subjects\":[\"n.x\",\"n.y\"],"
               "\"max_msgs_per_subject\":1,\"republish\":{\"src\":\"n.x\","
               "\"dest\":\"rp.n\"}}", r, sizeof(r));
    CHECK_STR(dt_jstr(r, "type"),
              "io.nats.jetstream.api.v1.stream_create_response");
    /* the same config again is no change */
    dt_js_create(nc, "N", "{\"name\":\"N\",\"subjects\":[\"n.x\",\"n.y\"],"
               "\"max_msgs_per_subject\":1,\"republish\":{\"src\":\"n.x\","
               "\"dest\":\"rp.n\"}}", r, sizeof(r));
    CHECK_INT(dt_jint(r, "err_code"), ==, -999);
}

/* One HMSG from the raw subscriber: subject and the block (headers +
 * payload) into blk; -1 when none came. */
static int
next_copy(int fd, char *subj, size_t sl, char *blk, size_t bl, int wait_ms)
{
    char line[512], *tok[6];
    int n = 0;

    if (dt_raw_expect(fd, "HMSG ", wait_ms, line, sizeof(line)) != 0)
        return -1;
    for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < 6;
         t = strtok_r(NULL, " ", &save))
        tok[n++] = t;
    if (n < 4)
        return -1;
    size_t total = strtoul(tok[n - 1], NULL, 10);
    if (total + 3 > bl)
        return -1;
    snprintf(subj, sl, "%s", tok[1]);
    if (dt_raw_read_exact(fd, blk, total + 2, WAIT_MS) != 0)
        return -1;
    blk[total] = '\0';
    return (int)total;
}

static void
expect_copy(int fd, const char *subj, const char *blk)
{
    char s[256], b[4096];

    if (next_copy(fd, s, sizeof(s), b, sizeof(b), WAIT_MS) < 0) {
        CHECK_MSG(0, "no copy on %s", subj);
        return;
    }
    CHECK_STR(s, subj);
    CHECK_STR(b, blk);
}

static void
pub(jsCtx *js, natsConnection *nc, const char *subj, const char *hk,
    const char *hv, const char *data)
{
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;

    (void)nc;
    if (natsMsg_Create(&m, subj, NULL, data, (int)strlen(data)) != NATS_OK) {
        CHECK(0);
        return;
    }
    if (hk)
        natsMsgHeader_Add(m, hk, hv);
    natsStatus s = js_PublishMsg(&pa, js, m, NULL, &jerr);
    CHECK_MSG(s == NATS_OK, "publish %s: %s (%d)", subj,
              natsStatus_GetText(s), (int)jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
}

static void
test_copies(jsCtx *js, natsConnection *nc, int port)
{
    int fd = dt_raw_connect(port);
    char s[256], b[1024];

    if (!dt_check(fd >= 0, __FILE__, __LINE__, "raw connect"))
        return;
    CHECK_INT(dt_raw_handshake(fd, "{\"verbose\":false,\"headers\":true,"
                               "\"protocol\":1}", NULL, 0), ==, 0);
    dt_raw_sends(fd, "SUB rp.> 1\r\nPING\r\n");
    CHECK_INT(dt_raw_expect(fd, "PONG", WAIT_MS, NULL, 0), ==, 0);

    pub(js, nc, "j.one", "Foo", "bar", "hel");
    expect_copy(fd, "rp.j.one", "NATS/1.0\r\nFoo: bar\r\nNats-Stream: J\r\n"
                "Nats-Subject: j.one\r\nNats-Sequence: 1\r\n"
                "Nats-Last-Sequence: 0\r\nNats-Msg-Size: 3\r\n\r\n");
    pub(js, nc, "j.two", NULL, NULL, "");
    expect_copy(fd, "rp.j.two", "NATS/1.0\r\nNats-Stream: J\r\n"
                "Nats-Subject: j.two\r\nNats-Sequence: 2\r\n"
                "Nats-Last-Sequence: 0\r\nNats-Msg-Size: 0\r\n\r\n");
    pub(js, nc, "k.a.b", NULL, NULL, "hello");
    expect_copy(fd, "rp.k.b.a", "NATS/1.0\r\nNats-Stream: K\r\n"
                "Nats-Subject: k.a.b\r\nNats-Sequence: 1\r\n"
                "Nats-Last-Sequence: 0\r\n\r\nhello");
    pub(js, nc, "d.q", "Nats-Msg-Id", "id1", "x");
    expect_copy(fd, "rp.d.q", "NATS/1.0\r\nNats-Msg-Id: id1\r\n"
                "Nats-Stream: D\r\nNats-Subject: d.q\r\nNats-Sequence: 1\r\n"
                "Nats-Last-Sequence: 0\r\n\r\nx");
    pub(js, nc, "d.q", "Nats-Msg-Id", "id1", "x");     /* duplicate */
    pub(js, nc, "d.q", NULL, NULL, "yz");
    expect_copy(fd, "rp.d.q", "NATS/1.0\r\nNats-Stream: D\r\n"
                "Nats-Subject: d.q\r\nNats-Sequence: 2\r\n"
                "Nats-Last-Sequence: 1\r\n\r\nyz");
    /* n.y is outside src; n.x keeps one message per subject */
    pub(js, nc, "n.x", NULL, NULL, "A");
    expect_copy(fd, "rp.n", "NATS/1.0\r\nNats-Stream: N\r\n"
                "Nats-Subject: n.x\r\nNats-Sequence: 1\r\n"
                "Nats-Last-Sequence: 0\r\n\r\nA");
    pub(js, nc, "n.y", NULL, NULL, "B");
    pub(js, nc, "n.x", NULL, NULL, "C");
    expect_copy(fd, "rp.n", "NATS/1.0\r\nNats-Stream: N\r\n"
                "Nats-Subject: n.x\r\nNats-Sequence: 3\r\n"
                "Nats-Last-Sequence: 1\r\n\r\nC");
    pub(js, nc, "n.x", NULL, NULL, "D");
    expect_copy(fd, "rp.n", "NATS/1.0\r\nNats-Stream: N\r\n"
                "Nats-Subject: n.x\r\nNats-Sequence: 4\r\n"
                "Nats-Last-Sequence: 3\r\n\r\nD");
    /* nothing else came (no copy of the duplicate nor of n.y) */
    CHECK_INT(next_copy(fd, s, sizeof(s), b, sizeof(b), 300), <, 0);
    close(fd);
}

/* Created through libnats' jsStreamConfig.RePublish; status line kept. */
static void
test_libnats(jsCtx *js, natsConnection *nc, int port)
{
    jsStreamConfig sc;
    jsRePublish rp;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int fd;

    jsStreamConfig_Init(&sc);
    jsRePublish_Init(&rp);
    const char *subjs[1] = { "r.*" };
    sc.Name = "R";
    sc.Subjects = subjs;
    sc.SubjectsLen = 1;
    rp.Source = "r.*";
    rp.Destination = "rp.$1.$1";
    sc.RePublish = &rp;
    CHECK(js_AddStream(&si, js, &sc, NULL, &jerr) == NATS_OK);
    if (si != NULL && dt_check(si->Config->RePublish != NULL, __FILE__,
                               __LINE__, "RePublish echoed")) {
        CHECK_STR(si->Config->RePublish->Destination, "rp.$1.$1");
        CHECK(!si->Config->RePublish->HeadersOnly);
    }
    jsStreamInfo_Destroy(si);
    fd = dt_raw_connect(port);
    if (!dt_check(fd >= 0, __FILE__, __LINE__, "raw connect"))
        return;
    CHECK_INT(dt_raw_handshake(fd, "{\"verbose\":false,\"headers\":true,"
                               "\"protocol\":1}", NULL, 0), ==, 0);
    dt_raw_sends(fd, "SUB rp.> 1\r\nPING\r\n");
    CHECK_INT(dt_raw_expect(fd, "PONG", WAIT_MS, NULL, 0), ==, 0);
    dt_raw_sends(fd, "HPUB r.q 16 21\r\nNATS/1.0 503\r\n\r\nabcde\r\n");
    expect_copy(fd, "rp.q.q", "NATS/1.0 503\r\nNats-Stream: R\r\n"
                "Nats-Subject: r.q\r\nNats-Sequence: 1\r\n"
                "Nats-Last-Sequence: 0\r\n\r\nabcde");
    close(fd);
    (void)nc;
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    char store[256], conf[512];
    const char *bin = dt_server_bin();

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    if (bin == NULL || dt_mkdtemp(store, sizeof(store), "dt-jsrp") < 0) {
        printf("SKIP: no server binary or no temp dir\n");
        return DT_EXIT_SKIP;
    }
    dialtone = dt_bin_is_dialtone(bin) == 1;
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    if (dt_server_start_or_skip(&srv, conf, NULL) != 0) {
        CHECK(0);
        goto out;
    }
    REQUIRE((nc = dt_nats_connect(srv.url, NULL)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    test_errors(nc);
    test_echo(nc);
    test_copies(js, nc, srv.port);
    test_libnats(js, nc, srv.port);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
