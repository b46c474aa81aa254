/*
 * test_js_mirror.c -- stream mirrors and sources of the same server, as
 * nats-server 2.9.10 runs them: a mirror keeps the origin's sequences
 * and timestamps (deleted origin messages are gaps), a source appends
 * with a "Nats-Stream-Source: <origin> <seq>" header, filter_subject and
 * opt_start_seq select what is copied, existing messages are caught up
 * at creation, a source or mirror of a stream that does not exist yet
 * reports "stream not found" in StreamInfo and catches up once it
 * appears; the config errors (mirror with subjects, mirror plus
 * sources, cycles, a filter outside the origin's subjects, a mirror
 * update), a publish to a mirror's name (nobody listens), and restarts:
 * a clean one and a kill -9 during the copy, after which every copy is
 * there once (no duplicate, no gap).  Checked against nats-server 2.9.10
 * too (DIALTONE_BIN=/usr/sbin/nats-server).
 *
 * NOTES
 *   Dialtone runs with `sync_interval: always` (nats-server 2.9.10 does
 *   not know it; its writes reach the page cache, which outlives kill
 *   -9 of the process).  "external" is refused by Dialtone only (no
 *   other domains exist there); nats-server accepts it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000
#define MAXSEQ 4096

static bool dialtone;

/* REQUIRE for helpers: check, and return from the function on failure. */
#define NEED(e) \
    do { \
        if (!dt_check(!!(e), __FILE__, __LINE__, "%s", #e)) \
            return; \
    } while (0)

static void
publish(jsCtx *js, const char *subj, const char *data)
{
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(&pa, js, subj, data, (int)strlen(data), NULL,
                              &jerr);

    CHECK_MSG(s == NATS_OK, "publish %s: %s (%d)", subj, natsStatus_GetText(s),
              (int)jerr);
    jsPubAck_Destroy(pa);
}

/* The stream's state (msgs, last_seq); -1 on error. */
static int
state(jsCtx *js, const char *stream, uint64_t *msgs, uint64_t *last)
{
    jsStreamInfo *si = NULL;

    if (js_GetStreamInfo(&si, js, stream, NULL, NULL) != NATS_OK)
        return -1;
    *msgs = si->State.Msgs;
    *last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return 0;
}

/* Wait (10 s at most) until the stream holds msgs messages, last last. */
static bool
wait_state(jsCtx *js, const char *stream, uint64_t msgs, uint64_t last)
{
    uint64_t m = 0, l = 0;

    for (int i = 0; i < 200; i++) {
        if (state(js, stream, &m, &l) == 0 && m == msgs && l == last)
            return true;
        dt_sleep_ms(50);
    }
    CHECK_MSG(0, "%s: %llu msgs, last %llu; want %llu, %llu", stream,
              (unsigned long long)m, (unsigned long long)l,
              (unsigned long long)msgs, (unsigned long long)last);
    return false;
}

/* Message seq of stream as the raw MSG.GET reply ("" when none). */
static void
msg_get(natsConnection *nc, const char *stream, uint64_t seq, char *r,
        size_t len)
{
    char subj[128], body[64];

    snprintf(subj, sizeof(subj), "$JS.API.STREAM.MSG.GET.%s", stream);
    snprintf(body, sizeof(body), "{\"seq\":%llu}", (unsigned long long)seq);
    dt_js_req(nc, subj, body, r, len);
    if (strstr(r, "\"error\"") != NULL)
        r[0] = '\0';
}

/* The Nats-Stream-Source value of message seq ("" when none). */
static void
source_hdr(jsCtx *js, const char *stream, uint64_t seq, char *out,
           size_t len)
{
    natsMsg *m = NULL;
    const char *v = NULL;

    out[0] = '\0';
    if (js_GetMsg(&m, js, stream, seq, NULL, NULL) != NATS_OK)
        return;
    if (natsMsgHeader_Get(m, "Nats-Stream-Source", &v) == NATS_OK && v)
        snprintf(out, len, "%s", v);
    natsMsg_Destroy(m);
}

/* A mirror holds exactly the origin's live messages, same sequences,
 * subjects, data and times, up to the origin's last. */
static void
check_mirror(natsConnection *nc, jsCtx *js, const char *mirror,
             const char *origin)
{
    char a[1024], b[1024], ta[64], da[256];
    uint64_t om, ol, mm, ml;

    NEED(state(js, origin, &om, &ol) == 0);
    if (!wait_state(js, mirror, om, ol))
        return;
    NEED(state(js, mirror, &mm, &ml) == 0);
    for (uint64_t q = 1; q <= ol; q++) {
        msg_get(nc, origin, q, a, sizeof(a));
        msg_get(nc, mirror, q, b, sizeof(b));
        CHECK_MSG((a[0] == '\0') == (b[0] == '\0'), "%s seq %llu: origin "
                  "%s, mirror %s", mirror, (unsigned long long)q,
                  a[0] ? "has it" : "none", b[0] ? "has it" : "none");
        if (a[0] == '\0' || b[0] == '\0')
            continue;
        snprintf(ta, sizeof(ta), "%s", dt_jstr(a, "time"));
        snprintf(da, sizeof(da), "%s", dt_jstr(a, "data"));
        CHECK_STR(dt_jstr(b, "time"), ta);
        CHECK_INT(dt_jint(b, "seq"), ==, (long long)q);
        CHECK_STR(dt_jstr(b, "data"), da);
    }
}

/* A source holds the origin's messages on `subj` (NULL = all) from
 * `from` on, each once and in order, with "<origin> <seq>" headers. */
static void
check_source(jsCtx *js, natsConnection *nc, const char *source,
             const char *origin, const char *subj, uint64_t from)
{
    static uint64_t want[MAXSEQ];
    char r[1024], h[128], exp[128];
    uint64_t om, ol, sm = 0, sl = 0, n = 0, k = 0;

    NEED(state(js, origin, &om, &ol) == 0);
    for (uint64_t q = from; q <= ol && n < MAXSEQ; q++) {
        msg_get(nc, origin, q, r, sizeof(r));
        if (r[0] && (subj == NULL || strcmp(dt_jstr(r, "subject"), subj) == 0))
            want[n++] = q;
    }
    /* the source may hold direct publishes too: count only its copies */
    for (int i = 0; i < 200; i++) {
        if (state(js, source, &sm, &sl) == 0 && sm >= n)
            break;
        dt_sleep_ms(50);
    }
    for (uint64_t q = 1; q <= sl; q++) {
        source_hdr(js, source, q, h, sizeof(h));
        if (strncmp(h, origin, strlen(origin)) != 0
            || h[strlen(origin)] != ' ')
            continue;
        snprintf(exp, sizeof(exp), "%s %llu", origin,
                 (unsigned long long)(k < n ? want[k] : 0));
        CHECK_STR(h, exp);
        k++;
    }
    CHECK_MSG(k == n, "%s: %llu copies of %s, want %llu", source,
              (unsigned long long)k, origin, (unsigned long long)n);
}

static natsStatus
add(jsCtx *js, const char *name, const char *subj, jsStreamSource *mirror,
    jsStreamSource **src, int nsrc, jsErrCode *jerr)
{
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    const char *subjects[1] = { subj };

    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Storage = js_FileStorage;
    if (subj) {
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
    }
    cfg.Mirror = mirror;
    cfg.Sources = src;
    cfg.SourcesLen = nsrc;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, jerr);
    jsStreamInfo_Destroy(si);
    return s;
}

/* Origin O (o.a 1, o.b 2, o.a 3, 2 deleted), then a mirror M, a
 * source S of o.a, a source S2 from seq 3 plus one of NOPE (missing). */
static void
test_catch_up(natsConnection *nc, jsCtx *js)
{
    jsStreamSource m = { .Name = "O" }, s1 = { .Name = "O",
                                               .FilterSubject = "o.a" };
    jsStreamSource s2a = { .Name = "O", .OptStartSeq = 3 },
                   s2b = { .Name = "NOPE" };
    jsStreamSource *v1[1] = { &s1 }, *v2[2] = { &s2a, &s2b };
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    char h[128];

    NEED(add(js, "O", "o.>", NULL, NULL, 0, &jerr) == NATS_OK);
    publish(js, "o.a", "1");
    publish(js, "o.b", "2");
    publish(js, "o.a", "3");
    CHECK(js_DeleteMsg(js, "O", 2, NULL, NULL) == NATS_OK);
    CHECK(add(js, "M", NULL, &m, NULL, 0, &jerr) == NATS_OK);
    CHECK(add(js, "S", NULL, NULL, v1, 1, &jerr) == NATS_OK);
    CHECK(add(js, "S2", "s2", NULL, v2, 2, &jerr) == NATS_OK);
    if (wait_state(js, "M", 2, 3))
        check_mirror(nc, js, "M", "O");
    if (wait_state(js, "S", 2, 2)) {
        source_hdr(js, "S", 1, h, sizeof(h));
        CHECK_STR(h, "O 1");
        source_hdr(js, "S", 2, h, sizeof(h));
        CHECK_STR(h, "O 3");
    }
    if (wait_state(js, "S2", 1, 1)) {
        source_hdr(js, "S2", 1, h, sizeof(h));
        CHECK_STR(h, "O 3");
    }
    /* StreamInfo: mirror / sources, NOPE "stream not found" */
    NEED(js_GetStreamInfo(&si, js, "M", NULL, NULL) == NATS_OK);
    CHECK(si->Mirror != NULL && strcmp(si->Mirror->Name, "O") == 0);
    CHECK(si->Mirror != NULL && si->Mirror->Lag == 0
          && si->Mirror->Active >= 0);
    CHECK(si->Config->Subjects == NULL || si->Config->SubjectsLen == 0);
    jsStreamInfo_Destroy(si);
    si = NULL;
    NEED(js_GetStreamInfo(&si, js, "S2", NULL, NULL) == NATS_OK);
    CHECK_INT(si->SourcesLen, ==, 2);
    if (si->SourcesLen == 2) {
        CHECK_STR(si->Sources[0]->Name, "O");
        CHECK_STR(si->Sources[1]->Name, "NOPE");
        CHECK_INT(si->Sources[1]->Active, ==, -1);
    }
    jsStreamInfo_Destroy(si);
    char r[4096];
    dt_js_req(nc, "$JS.API.STREAM.INFO.S2", "", r, sizeof(r));
    CHECK(strstr(r, "\"sources\":[{\"name\":\"O\",\"lag\":0,\"active\":")
          != NULL);
    CHECK(strstr(r, "{\"name\":\"NOPE\",\"lag\":0,\"active\":-1,\"error\":"
                 "{\"code\":404,\"err_code\":10059,\"description\":"
                 "\"stream not found\"}}]") != NULL);
    dt_js_req(nc, "$JS.API.STREAM.INFO.S", "", r, sizeof(r));
    CHECK(strstr(r, "\"config\":{\"name\":\"S\",\"retention\"") != NULL);
    CHECK(strstr(r, "\"sources\":[{\"name\":\"O\",\"filter_subject\":"
                 "\"o.a\"}]") != NULL);
}

/* A mirror of a stream that appears later catches up then. */
static void
test_late_origin(natsConnection *nc, jsCtx *js)
{
    jsStreamSource m = { .Name = "LATE" };
    jsErrCode jerr = 0;
    char r[4096];

    CHECK(add(js, "ML", NULL, &m, NULL, 0, &jerr) == NATS_OK);
    dt_js_req(nc, "$JS.API.STREAM.INFO.ML", "", r, sizeof(r));
    CHECK(strstr(r, "\"mirror\":{\"name\":\"LATE\",\"lag\":0,\"active\":-1,"
                 "\"error\":{\"code\":404,\"err_code\":10059,"
                 "\"description\":\"stream not found\"}}") != NULL);
    CHECK(add(js, "LATE", "late", NULL, NULL, 0, &jerr) == NATS_OK);
    publish(js, "late", "x");
    publish(js, "late", "y");
    if (wait_state(js, "ML", 2, 2))
        check_mirror(nc, js, "ML", "LATE");
}

static void
test_errors(natsConnection *nc)
{
    char r[2048];
    natsMsg *m = NULL;

    dt_js_create(nc, "E1", "{\"name\":\"E1\",\"subjects\":[\"e1\"],\"mirror\":"
               "{\"name\":\"O\"}}", r, sizeof(r));
    dt_js_err(r, 400, 10034, "stream mirrors can not contain subjects");
    dt_js_create(nc, "E2", "{\"name\":\"E2\",\"mirror\":{\"name\":\"O\"},"
               "\"sources\":[{\"name\":\"O\"}]}", r, sizeof(r));
    dt_js_err(r, 400, 10031, "stream mirrors can not also contain other "
              "sources");
    dt_js_create(nc, "E3", "{\"name\":\"E3\",\"mirror\":{\"name\":\"E3\"}}", r,
               sizeof(r));
    dt_js_err(r, 500, 10052, "detected cycle");
    dt_js_create(nc, "E4", "{\"name\":\"E4\",\"sources\":[{\"name\":\"O\","
               "\"filter_subject\":\"x.y\"}]}", r, sizeof(r));
    dt_js_err(r, 500, 10052, "source 'O' filter subject 'x.y' does not "
              "overlap with any origin stream subject");
    dt_js_create(nc, "E5", "{\"name\":\"E5\",\"mirror\":{\"name\":\"O\","
               "\"filter_subject\":\"x.y\"}}", r, sizeof(r));
    dt_js_err(r, 500, 10052, "mirror 'O' filter subject 'x.y' does not "
              "overlap with any origin stream subject");
    /* S sources O: O sourcing S closes a cycle */
    dt_js_req(nc, "$JS.API.STREAM.UPDATE.O", "{\"name\":\"O\",\"subjects\":"
            "[\"o.>\"],\"sources\":[{\"name\":\"S\"}]}", r, sizeof(r));
    dt_js_err(r, 500, 10052, "detected cycle");
    dt_js_req(nc, "$JS.API.STREAM.UPDATE.M", "{\"name\":\"M\",\"mirror\":"
            "{\"name\":\"S\"}}", r, sizeof(r));
    dt_js_err(r, 400, 10055, "stream mirror configuration can not be "
              "updated");
    dt_js_req(nc, "$JS.API.STREAM.UPDATE.S", "{\"name\":\"S\",\"mirror\":"
            "{\"name\":\"O\"}}", r, sizeof(r));
    dt_js_err(r, 400, 10055, "stream mirror configuration can not be "
              "updated");
    dt_js_create(nc, "E6", "{\"name\":\"E6\",\"mirror\":{\"name\":\"O\","
               "\"external\":{\"api\":\"$JS.x.API\",\"deliver\":\"\"}}}", r,
               sizeof(r));
    if (dialtone)
        CHECK_INT(dt_jint(r, "err_code"), ==, 10052);
    else
        CHECK_STR(dt_jstr(r, "name"), "E6");
    /* a mirror has no subjects: nobody answers a publish to its name */
    CHECK(natsConnection_Request(&m, nc, "M", "x", 1, 1000)
          == NATS_NO_RESPONDERS);
    natsMsg_Destroy(m);
}

/* Live copies after creation, then everything checked again. */
static void
test_live(natsConnection *nc, jsCtx *js, int n)
{
    for (int i = 0; i < n; i++)
        publish(js, i % 2 ? "o.b" : "o.a", "live");
    check_mirror(nc, js, "M", "O");
    check_source(js, nc, "S", "O", "o.a", 1);
    check_source(js, nc, "S2", "O", NULL, 3);
}

/* kill -9 the server's process group and reap it. */
static void
kill_group(struct dt_server *s)
{
    int rc;

    NEED(s->pid > 0 && killpg(s->pid, SIGKILL) == 0);
    rc = dt_server_wait(s, WAIT_MS);
    CHECK_MSG(rc == 128 + SIGKILL, "server status after kill -9: %d", rc);
    dt_server_cleanup(s);
}

static void
reconnect(struct dt_server *s, const char *conf, natsConnection **nc,
          jsCtx **js)
{
    jsCtx_Destroy(*js);
    natsConnection_Destroy(*nc);
    *js = NULL;
    *nc = NULL;
    NEED(dt_server_start(s, conf, NULL) == 0);
    NEED((*nc = dt_nats_connect(s->url, NULL)) != NULL);
    NEED(natsConnection_JetStream(js, *nc, NULL) == NATS_OK);
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
    if (bin == NULL || dt_mkdtemp(store, sizeof(store), "dt-jsmir") < 0) {
        printf("SKIP: no server binary or no temp dir\n");
        return DT_EXIT_SKIP;
    }
    dialtone = dt_bin_is_dialtone(bin) == 1;
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n%s}\n",
             store, dialtone ? "  sync_interval: always\n" : "");
    if (dt_server_start_or_skip(&srv, conf, NULL) != 0) {
        CHECK(0);
        goto out;
    }
    REQUIRE((nc = dt_nats_connect(srv.url, NULL)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    test_catch_up(nc, js);
    test_late_origin(nc, js);
    test_errors(nc);
    test_live(nc, js, 20);
    /* a clean restart: nothing copied twice, new messages follow */
    CHECK_INT(dt_server_stop(&srv), >=, 0);
    reconnect(&srv, conf, &nc, &js);
    test_live(nc, js, 10);
    /* kill -9 right after a burst: the copies resume where they got */
    for (int i = 0; i < 300; i++)
        publish(js, i % 3 ? "o.a" : "o.b", "burst");
    /* and two new copies of O (~360 messages) killed while they catch up */
    jsStreamSource mk = { .Name = "O" }, sk = { .Name = "O" };
    jsStreamSource *skv[1] = { &sk };
    jsErrCode jerr = 0;
    CHECK(add(js, "MK", NULL, &mk, NULL, 0, &jerr) == NATS_OK);
    CHECK(add(js, "SK", "sk", NULL, skv, 1, &jerr) == NATS_OK);
    kill_group(&srv);
    reconnect(&srv, conf, &nc, &js);
    test_live(nc, js, 5);
    check_mirror(nc, js, "MK", "O");
    check_source(js, nc, "SK", "O", NULL, 1);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    int rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
