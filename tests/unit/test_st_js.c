/*
 * test_st_js.c -- unit tests for the JetStream engine (storage/st_js.c,
 * st_js_pub.c, st_js_run.c) driven as the storage process would drive
 * it: messages in through st_js_on_msg(), completions through
 * st_io_poll(), then st_js_run(); everything it sends is recorded by a
 * fake port.  Covers: the API subscriptions, stream create/delete and
 * their subject subscriptions, PubAck only after the store reported
 * the write durable, Nats-Msg-Id duplicates, sealed and limit errors,
 * pull consumers (batch, $JS.ACK reply subjects, +ACK and the ack
 * floor, no_wait 404), push delivery (routed to the deliver subject,
 * showing the stream subject), redelivery at the deadline, workqueue
 * and interest retention (including a consumer delete), removals from
 * the middle of a stream (message delete, filtered purge) counted at
 * once in num_pending and num_ack_pending, replies held
 * until a durable create is flushed, stream subject changes, API
 * counters and stats, close + reopen (messages and durable consumer
 * positions survive), the port refusing publishes (-ENOBUFS): later
 * delivery in order, a burst that finds the store buffers busy (queued,
 * all stored in order), interval sync and memory streams, and the
 * server limits (max_memory / max_store) as nats-server 2.9.10 applies
 * them: creates and updates against the reservations (500/10047,
 * 500/10028, with the order of the checks around them), publishes past
 * the usage limit (503/10023), the reserved counters, a reopen under a
 * smaller limit.
 *
 * NOTES
 *   Real io_uring (exit 77 without it), sync "always" (the last test:
 *   interval); a temp dir under $TMPDIR or /tmp removed at the end.
 *   Replies are checked member by member (parsed with dt_json), PubAcks
 *   byte for byte (stable: nats-server's "{"stream":"S", "seq":1}").
 *   The tests share one engine and build on each other's streams, in
 *   the order main() runs them.
 */
#include "dt_check.h"
#include "dt_json.h"
#include "dt_subject.h"
#include "st_ack.h"
#include "st_io.h"
#include "st_js.h"
#include "st_stream.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000ll
#define T0 (1700000000ll * SEC)

/* ---- the fake port ------------------------------------------------------- */

#define MAX_PUBS 4096
#define MAX_SUBS 1024

struct pubrec {
    char *subj, *reply, *hdr, *data;
    char *msubj;                /* deliveries: the subject shown */
};

struct subrec {
    uint32_t id;
    char *subject;
    bool active;
};

static struct pubrec pubs[MAX_PUBS];
static size_t npubs;
static struct subrec subs[MAX_SUBS];
static size_t nsubs;
static bool refuse;             /* publish answers -ENOBUFS */
static unsigned refused;

static char *
dupn(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int
port_publish(void *arg, const char *subj, size_t sl, const char *reply,
             size_t rl, const void *hdr, size_t hl, const void *data,
             size_t dl)
{
    (void)arg;
    if (refuse) {
        refused++;
        return -ENOBUFS;
    }
    if (npubs == MAX_PUBS)
        return -ENOBUFS;
    pubs[npubs].subj = dupn(subj, sl);
    pubs[npubs].reply = dupn(reply, rl);
    pubs[npubs].hdr = dupn(hdr, hl);
    pubs[npubs].data = dupn(data, dl);
    pubs[npubs].msubj = NULL;
    npubs++;
    return 0;
}

static int
port_deliver(void *arg, const char *subj, size_t sl, const char *route,
             size_t tl, const char *reply, size_t rl, const void *hdr,
             size_t hl, const void *data, size_t dl)
{
    int rc = port_publish(arg, route, tl, reply, rl, hdr, hl, data, dl);

    if (rc == 0)
        pubs[npubs - 1].msubj = dupn(subj, sl);
    return rc;
}

static int
port_subscribe(void *arg, uint32_t id, const char *subject, size_t len)
{
    (void)arg;
    for (size_t i = 0; i < nsubs; i++)
        if (subs[i].id == id && subs[i].active)
            return 0;               /* a new announcement */
    if (nsubs == MAX_SUBS)
        return -ENOBUFS;
    subs[nsubs].id = id;
    subs[nsubs].subject = dupn(subject, len);
    subs[nsubs].active = true;
    nsubs++;
    return 0;
}

static int
port_unsubscribe(void *arg, uint32_t id)
{
    (void)arg;
    for (size_t i = 0; i < nsubs; i++)
        if (subs[i].id == id)
            subs[i].active = false;
    return 0;
}

static const struct st_js_port port = {
    .publish = port_publish,
    .subscribe = port_subscribe,
    .unsubscribe = port_unsubscribe,
    .deliver = port_deliver,
};

static void
pubs_clear(void)
{
    for (size_t i = 0; i < npubs; i++) {
        free(pubs[i].subj);
        free(pubs[i].reply);
        free(pubs[i].hdr);
        free(pubs[i].data);
        free(pubs[i].msubj);
    }
    npubs = 0;
}

static void
subs_clear(void)
{
    for (size_t i = 0; i < nsubs; i++)
        free(subs[i].subject);
    nsubs = 0;
}

/* The active subscription id for exactly `subject` (0: none). */
static uint32_t
sub_id(const char *subject)
{
    for (size_t i = 0; i < nsubs; i++)
        if (subs[i].active && strcmp(subs[i].subject, subject) == 0)
            return subs[i].id;
    return 0;
}

/* The active stream subscription whose subject matches `subj`. */
static uint32_t
stream_sub(const char *subj)
{
    for (size_t i = 0; i < nsubs; i++)
        if (subs[i].active && subs[i].id >= ST_JS_SUB_STREAMS
            && dt_subject_matches(subs[i].subject, strlen(subs[i].subject),
                                  subj, strlen(subj)))
            return subs[i].id;
    return 0;
}

/* Index of the n-th (0-based) publish to `subj` since `from` (-1 none). */
static long
find_pub(const char *subj, size_t from, unsigned n)
{
    for (size_t i = from; i < npubs; i++)
        if (strcmp(pubs[i].subj, subj) == 0 && n-- == 0)
            return (long)i;
    return -1;
}

static unsigned
count_pubs(const char *subj, size_t from)
{
    unsigned n = 0;

    for (size_t i = from; i < npubs; i++)
        n += strcmp(pubs[i].subj, subj) == 0;
    return n;
}

/* ---- driving the engine -------------------------------------------------- */

static struct st_io *uio;
static struct st_js *js;
static char root[256];
static char dir[300];
static int64_t now = T0;
static unsigned inbox;

static int
open_js(void)
{
    struct st_js_opts o;

    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.io = uio;
    o.sync_always = true;
    return st_js_open(&js, &o, &port, now);
}

/* What the storage process does after a batch: run, poll completions,
 * run again, until the engine is idle (bounded). */
static void
pump(void)
{
    for (int i = 0; i < 500; i++) {
        now += 1000;
        int rc = st_js_run(js, now);
        if (st_io_inflight(uio) > 0) {
            st_io_poll(uio, 1);
            continue;
        }
        if (rc != 1 && st_js_next_deadline(js) > now)
            return;
    }
    CHECK_MSG(0, "engine never idle");
}

static void
msg(uint32_t id, const char *subj, const char *reply, const char *hdr,
    const char *data)
{
    st_js_on_msg(js, id, subj, strlen(subj), reply, reply ? strlen(reply) : 0,
                 hdr, hdr ? strlen(hdr) : 0, data, data ? strlen(data) : 0,
                 now);
}

/* An API request; returns the reply's payload (static) or "". */
static const char *
api(const char *subj, const char *body)
{
    static char reply[64], *last;
    long i;

    snprintf(reply, sizeof(reply), "_INBOX.%u", ++inbox);
    msg(ST_JS_SUB_API, subj, reply, NULL, body);
    pump();
    i = find_pub(reply, 0, 0);
    free(last);
    last = strdup(i >= 0 ? pubs[i].data : "");
    return last;
}

/* Publish to a stream subject (reply may be NULL). */
static void
publish(const char *subj, const char *reply, const char *hdr,
        const char *data)
{
    uint32_t id = stream_sub(subj);

    CHECK_MSG(id != 0, "no subscription for %s", subj);
    msg(id, subj, reply, hdr, data);
}

/* A member of a JSON text by dotted path: integer (or -999). */
static long long
jint(const char *text, const char *path)
{
    struct dt_json_doc *doc;
    const struct dt_json *v;
    char key[64];
    int64_t out = -999;

    if (dt_json_parse(text, strlen(text), 0, &doc, NULL) < 0)
        return -999;
    v = dt_json_root(doc);
    for (const char *p = path; v != NULL && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        v = dt_json_get(v, key);
        p += n + (dot != NULL);
    }
    if (v == NULL || dt_json_int64(v, &out) < 0)
        out = -999;
    dt_json_free(doc);
    return out;
}

/* A string member by dotted path (static copy, "" when absent). */
static const char *
jstr(const char *text, const char *path)
{
    static char buf[512];
    struct dt_json_doc *doc;
    const struct dt_json *v;
    char key[64];
    const char *s;
    size_t n = 0;

    buf[0] = '\0';
    if (dt_json_parse(text, strlen(text), 0, &doc, NULL) < 0)
        return buf;
    v = dt_json_root(doc);
    for (const char *p = path; v != NULL && *p;) {
        const char *dot = strchr(p, '.');
        size_t kl = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof(key), "%.*s", (int)kl, p);
        v = dt_json_get(v, key);
        p += kl + (dot != NULL);
    }
    if (v != NULL && dt_json_str(v, &s, &n) == 0)
        snprintf(buf, sizeof(buf), "%.*s", (int)n, s);
    dt_json_free(doc);
    return buf;
}

#define TYPE(t) "io.nats.jetstream.api.v1." t

/* ---- tests --------------------------------------------------------------- */

static void
test_open_subscribes(void)
{
    CHECK_INT(sub_id("$JS.API.>"), ==, ST_JS_SUB_API);
    CHECK_INT(sub_id("$JS.ACK.>"), ==, ST_JS_SUB_ACK);
    CHECK_INT(sub_id("$JS.FC.>"), ==, ST_JS_SUB_FC);
    CHECK_INT(nsubs, ==, 3);
}

static void
test_stream_create(void)
{
    const char *r = api("$JS.API.STREAM.CREATE.S",
                        "{\"name\":\"S\",\"subjects\":[\"s.>\"]}");

    CHECK_STR(jstr(r, "type"), TYPE("stream_create_response"));
    CHECK_STR(jstr(r, "config.name"), "S");
    CHECK_INT(jint(r, "state.messages"), ==, 0);
    CHECK_INT(sub_id("s.>"), >=, ST_JS_SUB_STREAMS);
    r = api("$JS.API.INFO", "");
    CHECK_INT(jint(r, "streams"), ==, 1);
    CHECK_INT(jint(r, "limits.max_memory"), ==, -1);
}

/* The PubAck waits for the store's completion (sync always: fsync). */
static void
test_publish_ack_durable(void)
{
    publish("s.a", "_P.1", NULL, "hello");
    CHECK_INT(st_js_run(js, now), >=, 0);
    CHECK_INT(count_pubs("_P.1", 0), ==, 0);
    CHECK_INT(st_io_inflight(uio), >, 0);       /* write + fsync queued */
    pump();
    long i = find_pub("_P.1", 0, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "{\"stream\":\"S\", \"seq\":1}");
    CHECK_STR(pubs[i].hdr, "");
out:
    return;
}

static void
test_duplicate(void)
{
    const char *h = "NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n";
    long i;

    publish("s.b", "_P.2", h, "b");
    pump();
    publish("s.b", "_P.3", h, "b again");
    /* a duplicate is answered at once, no store round trip */
    i = find_pub("_P.3", 0, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data,
              "{\"stream\":\"S\", \"seq\":2,\"duplicate\": true}");
    i = find_pub("_P.2", 0, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "{\"stream\":\"S\", \"seq\":2}");
    publish("s.c", "_P.4", NULL, "c");
    pump();
    i = find_pub("_P.4", 0, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "{\"stream\":\"S\", \"seq\":3}");
out:
    return;
}

static void
test_publish_errors(void)
{
    const char *r = api("$JS.API.STREAM.CREATE.L",
                        "{\"name\":\"L\",\"subjects\":[\"l.*\"],"
                        "\"max_msgs\":1,\"discard\":\"new\"}");
    long i;

    CHECK_STR(jstr(r, "config.discard"), "new");
    publish("l.a", "_L.1", NULL, "1");
    pump();
    publish("l.a", "_L.2", NULL, "2");
    pump();
    i = find_pub("_L.2", 0, 0);
    REQUIRE(i >= 0);
    CHECK_INT(jint(pubs[i].data, "error.code"), ==, 503);
    CHECK_INT(jint(pubs[i].data, "error.err_code"), ==, 10077);
    CHECK_STR(jstr(pubs[i].data, "error.description"),
              "maximum messages exceeded");
    CHECK_STR(jstr(pubs[i].data, "stream"), "L");
    r = api("$JS.API.STREAM.UPDATE.L",
            "{\"name\":\"L\",\"subjects\":[\"l.*\"],\"max_msgs\":1,"
            "\"discard\":\"new\",\"sealed\":true}");
    CHECK_STR(jstr(r, "type"), TYPE("stream_update_response"));
    publish("l.b", "_L.3", NULL, "3");
    pump();
    i = find_pub("_L.3", 0, 0);
    REQUIRE(i >= 0);
    CHECK_INT(jint(pubs[i].data, "error.code"), ==, 400);
    CHECK_INT(jint(pubs[i].data, "error.err_code"), ==, 10109);
    CHECK_STR(jstr(pubs[i].data, "error.description"),
              "invalid operation on sealed stream");
out:
    return;
}

/* A durable create is answered only once st_js_run() flushed its log. */
static void
test_durable_create_held(void)
{
    size_t from = npubs;

    msg(ST_JS_SUB_API, "$JS.API.CONSUMER.DURABLE.CREATE.S.D", "_C.1", NULL,
        "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"D\","
        "\"ack_policy\":\"explicit\"}}");
    CHECK_INT(count_pubs("_C.1", from), ==, 0);
    pump();
    long i = find_pub("_C.1", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(jstr(pubs[i].data, "type"), TYPE("consumer_create_response"));
    CHECK_STR(jstr(pubs[i].data, "name"), "D");
    CHECK_STR(jstr(pubs[i].data, "stream_name"), "S");
    CHECK_INT(jint(pubs[i].data, "num_pending"), ==, 3);
out:
    return;
}

static void
check_ack_subject(const char *subj, uint64_t sseq, uint64_t dseq,
                  uint64_t pending)
{
    struct st_ack_meta m;

    REQUIRE(st_ack_parse(subj, strlen(subj), &m) == 0);
    CHECK(m.stream_len == 1 && memcmp(m.stream, "S", 1) == 0);
    CHECK(m.consumer_len == 1 && memcmp(m.consumer, "D", 1) == 0);
    CHECK_INT(m.delivered, ==, 1);
    CHECK_INT(m.sseq, ==, sseq);
    CHECK_INT(m.dseq, ==, dseq);
    CHECK_INT(m.pending, ==, pending);
    CHECK_INT(m.ts, >=, T0);
out:
    return;
}

static void
test_pull_batch_and_ack(void)
{
    size_t from = npubs;
    long a, b;
    const char *r;

    msg(ST_JS_SUB_API, "$JS.API.CONSUMER.MSG.NEXT.S.D", "_PULL.1", NULL,
        "{\"batch\":2}");
    pump();
    CHECK_INT(count_pubs("_PULL.1", from), ==, 2);
    a = find_pub("_PULL.1", from, 0);
    b = find_pub("_PULL.1", from, 1);
    REQUIRE(a >= 0 && b >= 0);
    CHECK_STR(pubs[a].data, "hello");
    CHECK_STR(pubs[a].msubj, "s.a");        /* the stream subject shows */
    CHECK_STR(pubs[b].data, "b");
    CHECK_STR(pubs[b].msubj, "s.b");
    CHECK_STR(pubs[b].hdr, "NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n");
    check_ack_subject(pubs[a].reply, 1, 1, 2);
    check_ack_subject(pubs[b].reply, 2, 2, 1);
    msg(ST_JS_SUB_ACK, pubs[a].reply, NULL, NULL, "+ACK");
    pump();
    r = api("$JS.API.CONSUMER.INFO.S.D", "");
    CHECK_STR(jstr(r, "type"), TYPE("consumer_info_response"));
    CHECK_INT(jint(r, "ack_floor.stream_seq"), ==, 1);
    CHECK_INT(jint(r, "ack_floor.consumer_seq"), ==, 1);
    CHECK_INT(jint(r, "delivered.stream_seq"), ==, 2);
    CHECK_INT(jint(r, "num_ack_pending"), ==, 1);
    CHECK_INT(jint(r, "num_pending"), ==, 1);
out:
    return;
}

static void
test_pull_no_wait_empty(void)
{
    size_t from = npubs;
    long i;

    msg(ST_JS_SUB_API, "$JS.API.CONSUMER.MSG.NEXT.S.D", "_PULL.2", NULL,
        "{\"batch\":5,\"no_wait\":true}");
    pump();
    i = find_pub("_PULL.2", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "c");
    msg(ST_JS_SUB_API, "$JS.API.CONSUMER.MSG.NEXT.S.D", "_PULL.3", NULL,
        "{\"no_wait\":true}");
    pump();
    i = find_pub("_PULL.3", from, 0);
    REQUIRE(i >= 0);
    CHECK_CONTAINS(pubs[i].hdr, "NATS/1.0 404 No Messages");
    CHECK_STR(pubs[i].data, "");
    CHECK(pubs[i].msubj == NULL);           /* a status: plain publish */
    CHECK_INT(count_pubs("_PULL.3", from), ==, 1);
out:
    return;
}

static void
test_push_delivery(void)
{
    size_t from = npubs;
    const char *r;
    long i;

    r = api("$JS.API.CONSUMER.DURABLE.CREATE.S.P",
            "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"P\","
            "\"deliver_subject\":\"push.p\",\"ack_policy\":\"explicit\"}}");
    CHECK_STR(jstr(r, "config.deliver_subject"), "push.p");
    pump();
    CHECK_INT(count_pubs("push.p", from), ==, 3);
    publish("s.d", NULL, NULL, "d");
    pump();
    CHECK_INT(count_pubs("push.p", from), ==, 4);
    i = find_pub("push.p", from, 3);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "d");
    CHECK_STR(pubs[i].msubj, "s.d");
    CHECK(strncmp(pubs[i].reply, "$JS.ACK.S.P.1.4.4.", 18) == 0);
out:
    return;
}

/* The port refuses: deliveries wait in the backlog, then go in order. */
static void
test_port_enobufs(void)
{
    size_t from = npubs;
    long i;

    refuse = true;
    refused = 0;
    publish("s.e", "_P.5", NULL, "e");
    publish("s.f", NULL, NULL, "f");
    pump();
    CHECK_INT(refused, >, 0);
    CHECK_INT(count_pubs("push.p", from), ==, 0);
    CHECK_INT(st_js_next_deadline(js), <=, now + 2 * 1000000);
    refuse = false;
    pump();
    CHECK_INT(count_pubs("push.p", from), ==, 2);
    i = find_pub("push.p", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "e");
    i = find_pub("push.p", from, 1);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "f");
    CHECK_STR(pubs[i].msubj, "s.f");        /* the route survived the wait */
    i = find_pub("_P.5", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "{\"stream\":\"S\", \"seq\":5}");
    struct st_js_stats st;
    st_js_stats(js, &st);
    CHECK_INT(st.dropped, ==, 0);
out:
    return;
}

/* Unacked push deliveries come back after ack_wait: the deadline says
 * when, st_js_run() at that time redelivers. */
static void
test_redelivery_timer(void)
{
    size_t from = npubs;
    int64_t start = now;
    long i;

    for (int k = 0; k < 1000 && count_pubs("push.p", from) == 0; k++) {
        int64_t d = st_js_next_deadline(js);
        CHECK_INT(d, <=, now + 250 * 1000000ll);    /* the store tick */
        now = d > now ? d : now + 1;
        pump();
    }
    CHECK_INT(now - start, >=, 29 * SEC);
    CHECK_INT(now - start, <, 31 * SEC);
    start = now;                /* the later deliveries follow */
    for (int k = 0; k < 100 && now - start < SEC; k++) {
        int64_t d = st_js_next_deadline(js);
        now = d > now ? d : now + 1;
        pump();
    }
    CHECK_INT(count_pubs("push.p", from), ==, 6);
    i = find_pub("push.p", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "hello");
    CHECK(strncmp(pubs[i].reply, "$JS.ACK.S.P.2.1.", 16) == 0);
    /* an ack with a reply subject is answered with an empty message */
    msg(ST_JS_SUB_ACK, pubs[i].reply, "_AA.1", NULL, "+ACK");
    pump();
    i = find_pub("_AA.1", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "");
out:
    return;
}

static void
test_workqueue(void)
{
    size_t from = npubs;
    const char *r;
    long i;

    r = api("$JS.API.STREAM.CREATE.W",
            "{\"name\":\"W\",\"subjects\":[\"w.>\"],"
            "\"retention\":\"workqueue\"}");
    CHECK_STR(jstr(r, "config.retention"), "workqueue");
    publish("w.1", NULL, NULL, "w1");
    publish("w.2", NULL, NULL, "w2");
    pump();
    r = api("$JS.API.CONSUMER.DURABLE.CREATE.W.C",
            "{\"stream_name\":\"W\",\"config\":{\"durable_name\":\"C\","
            "\"ack_policy\":\"explicit\"}}");
    CHECK_STR(jstr(r, "name"), "C");
    msg(ST_JS_SUB_API, "$JS.API.CONSUMER.MSG.NEXT.W.C", "_W.1", NULL, "1");
    pump();
    i = find_pub("_W.1", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "w1");
    msg(ST_JS_SUB_ACK, pubs[i].reply, NULL, NULL, "+ACK");
    pump();
    r = api("$JS.API.STREAM.INFO.W", "");
    CHECK_INT(jint(r, "state.messages"), ==, 1);
    CHECK_INT(jint(r, "state.first_seq"), ==, 2);
    CHECK_INT(jint(r, "state.consumer_count"), ==, 1);
    /* the removal of what it acked changed none of its counts */
    r = api("$JS.API.CONSUMER.INFO.W.C", "");
    CHECK_INT(jint(r, "num_pending"), ==, 1);
    CHECK_INT(jint(r, "num_ack_pending"), ==, 0);
    CHECK_INT(jint(r, "ack_floor.stream_seq"), ==, 1);
out:
    return;
}

static void
pull_ack_all(const char *cons, const char *reply, unsigned n)
{
    char subj[128];
    size_t from = npubs;

    snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.MSG.NEXT.I.%s", cons);
    msg(ST_JS_SUB_API, subj, reply, NULL, "{\"batch\":10,\"no_wait\":true}");
    pump();
    CHECK_INT(count_pubs(reply, from), ==, n + 1);   /* + 408/404 status */
    for (unsigned k = 0; k < n; k++) {
        long i = find_pub(reply, from, k);
        if (i >= 0 && pubs[i].reply[0] != '\0')
            msg(ST_JS_SUB_ACK, pubs[i].reply, NULL, NULL, "+ACK");
    }
    pump();
}

static const char *cons_cfg =
    "{\"stream_name\":\"I\",\"config\":{\"durable_name\":\"%s\","
    "\"ack_policy\":\"explicit\"}}";

static void
create_i(const char *name)
{
    char subj[128], body[256];

    snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.DURABLE.CREATE.I.%s",
             name);
    snprintf(body, sizeof(body), cons_cfg, name);
    CHECK_STR(jstr(api(subj, body), "name"), name);
}

/* Interest: no consumer, no message; acked by all, gone; a consumer
 * deleted leaves nothing behind that nobody needs. */
static void
test_interest(void)
{
    const char *r = api("$JS.API.STREAM.CREATE.I",
                        "{\"name\":\"I\",\"subjects\":[\"i.>\"],"
                        "\"retention\":\"interest\"}");

    CHECK_STR(jstr(r, "config.retention"), "interest");
    publish("i.1", "_I.1", NULL, "1");
    pump();
    CHECK_STR(pubs[find_pub("_I.1", 0, 0)].data,
              "{\"stream\":\"I\", \"seq\":1}");
    CHECK_INT(jint(api("$JS.API.STREAM.INFO.I", ""), "state.messages"), ==,
              0);
    create_i("A");
    create_i("B");
    publish("i.2", NULL, NULL, "2");
    publish("i.3", NULL, NULL, "3");
    pump();
    CHECK_INT(jint(api("$JS.API.STREAM.INFO.I", ""), "state.messages"), ==,
              2);
    pull_ack_all("A", "_IA.1", 2);
    CHECK_INT(jint(api("$JS.API.STREAM.INFO.I", ""), "state.messages"), ==,
              2);
    r = api("$JS.API.CONSUMER.DELETE.I.B", "");
    CHECK_STR(jstr(r, "type"), TYPE("consumer_delete_response"));
    r = api("$JS.API.STREAM.INFO.I", "");
    CHECK_INT(jint(r, "state.messages"), ==, 0);
    CHECK_INT(jint(r, "state.last_seq"), ==, 3);
    CHECK_INT(jint(r, "state.consumer_count"), ==, 1);
}

/* Pull up to n messages of X.<cons> (no_wait) and ack those whose
 * stream sequence is `ack` (0: none); returns the first delivery's
 * stream sequence (0: none). */
static uint64_t
pull_x(const char *cons, const char *reply, unsigned n, uint64_t ack)
{
    char subj[128], body[64];
    size_t from = npubs;
    uint64_t first = 0;
    struct st_ack_meta m;

    snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.MSG.NEXT.X.%s", cons);
    snprintf(body, sizeof(body), "{\"batch\":%u,\"no_wait\":true}", n);
    msg(ST_JS_SUB_API, subj, reply, NULL, body);
    pump();
    for (unsigned k = 0; k < n; k++) {
        long i = find_pub(reply, from, k);
        if (i < 0 || pubs[i].reply[0] == '\0'
            || st_ack_parse(pubs[i].reply, strlen(pubs[i].reply), &m) < 0)
            break;
        if (first == 0)
            first = m.sseq;
        if (m.sseq == ack)
            msg(ST_JS_SUB_ACK, pubs[i].reply, NULL, NULL, "+ACK");
    }
    pump();
    return first;
}

/* CONSUMER.INFO of X.<cons>: num_pending and num_ack_pending. */
static void
x_counts(const char *cons, long long pending, long long ack_pending)
{
    char subj[128];
    const char *r;

    snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.INFO.X.%s", cons);
    r = api(subj, "");
    CHECK_MSG(jint(r, "num_pending") == pending, "%s num_pending %lld, "
              "want %lld", cons, jint(r, "num_pending"), pending);
    CHECK_MSG(jint(r, "num_ack_pending") == ack_pending, "%s "
              "num_ack_pending %lld, want %lld", cons,
              jint(r, "num_ack_pending"), ack_pending);
}

/*
 * A message removed from the middle of the stream (STREAM.MSG.DELETE, a
 * filtered purge) counts at once for the consumers whose filter matches
 * it: one less num_pending when not delivered yet, one less
 * num_ack_pending (and no redelivery) when delivered and unacked.  The
 * others do not move.  Seqs: 1 x.a, 2 x.b, 3 x.a, 4 x.b, 5 x.a, 6 x.b,
 * 7 x.a; FA filters x.a, FB x.b.
 */
static void
test_remove_counts(void)
{
    const char *r = api("$JS.API.STREAM.CREATE.X",
                        "{\"name\":\"X\",\"subjects\":[\"x.>\"]}");

    CHECK_STR(jstr(r, "config.name"), "X");
    for (int k = 1; k <= 7; k++)
        publish(k % 2 ? "x.a" : "x.b", NULL, NULL, "x");
    pump();
    r = api("$JS.API.CONSUMER.DURABLE.CREATE.X.FA",
            "{\"stream_name\":\"X\",\"config\":{\"durable_name\":\"FA\","
            "\"ack_policy\":\"explicit\",\"filter_subject\":\"x.a\"}}");
    CHECK_STR(jstr(r, "name"), "FA");
    r = api("$JS.API.CONSUMER.DURABLE.CREATE.X.FB",
            "{\"stream_name\":\"X\",\"config\":{\"durable_name\":\"FB\","
            "\"ack_policy\":\"explicit\",\"filter_subject\":\"x.b\"}}");
    CHECK_STR(jstr(r, "name"), "FB");
    CHECK_INT(pull_x("FA", "_XA.1", 2, 1), ==, 1);     /* 1 acked, 3 not */
    x_counts("FA", 2, 1);
    x_counts("FB", 3, 0);
    /* not delivered yet: num_pending */
    r = api("$JS.API.STREAM.MSG.DELETE.X", "{\"seq\":5}");
    CHECK_MSG(strstr(r, "\"success\":true") != NULL, "delete: %s", r);
    x_counts("FA", 1, 1);
    x_counts("FB", 3, 0);
    /* delivered, unacked: no longer pending an ack */
    r = api("$JS.API.STREAM.MSG.DELETE.X", "{\"seq\":3}");
    CHECK_MSG(strstr(r, "\"success\":true") != NULL, "delete: %s", r);
    x_counts("FA", 1, 0);
    x_counts("FB", 3, 0);
    /* a filtered purge below 5: 2 (acked) and 4 (delivered) go */
    CHECK_INT(pull_x("FB", "_XB.1", 2, 2), ==, 2);
    x_counts("FB", 1, 1);
    r = api("$JS.API.STREAM.PURGE.X", "{\"filter\":\"x.b\",\"seq\":5}");
    CHECK_INT(jint(r, "purged"), ==, 2);
    x_counts("FB", 1, 0);
    x_counts("FA", 1, 0);
    r = api("$JS.API.STREAM.INFO.X", "");
    CHECK_INT(jint(r, "state.first_seq"), ==, 1);
    CHECK_INT(jint(r, "state.messages"), ==, 3);
    /* what is left comes next, no redelivery of the removed ones */
    now += 60 * SEC;                    /* past ack_wait */
    pump();
    CHECK_INT(pull_x("FA", "_XA.2", 1, 7), ==, 7);
    CHECK_INT(pull_x("FB", "_XB.2", 1, 6), ==, 6);
    x_counts("FA", 0, 0);
    x_counts("FB", 0, 0);
    r = api("$JS.API.STREAM.DELETE.X", "");    /* the stats count on it */
    CHECK_MSG(strstr(r, "\"success\":true") != NULL, "delete: %s", r);
}

static void
test_api_counts(void)
{
    const char *r = api("$JS.API.INFO", "");
    long long total = jint(r, "api.total"), errors = jint(r, "api.errors");

    r = api("$JS.API.CONSUMER.INFO.S.NOPE", "");
    CHECK_INT(jint(r, "error.code"), ==, 404);
    CHECK_INT(jint(r, "error.err_code"), ==, 10014);
    CHECK_STR(jstr(r, "error.description"), "consumer not found");
    r = api("$JS.API.INFO", "");
    CHECK_INT(jint(r, "api.total"), ==, total + 2);
    CHECK_INT(jint(r, "api.errors"), ==, errors + 1);
}

static void
test_stream_delete_unsubscribes(void)
{
    uint32_t id = sub_id("w.>");
    const char *r;

    CHECK_INT(id, >=, ST_JS_SUB_STREAMS);
    r = api("$JS.API.STREAM.DELETE.W", "");
    CHECK_STR(jstr(r, "type"), TYPE("stream_delete_response"));
    CHECK(strstr(r, "\"success\":true") != NULL);
    CHECK_INT(sub_id("w.>"), ==, 0);
    for (size_t i = 0; i < nsubs; i++)
        if (subs[i].id == id)
            CHECK(!subs[i].active);
    /* a late message on the old subscription is nobody's */
    size_t from = npubs;
    msg(id, "w.3", "_W.9", NULL, "late");
    pump();
    CHECK_INT(count_pubs("_W.9", from), ==, 0);
}

static void
test_stream_update_subjects(void)
{
    const char *r;
    uint32_t keep = sub_id("l.*");

    r = api("$JS.API.STREAM.CREATE.U", "{\"name\":\"U\",\"subjects\":"
            "[\"u.a\",\"u.b\"]}");
    CHECK_STR(jstr(r, "type"), TYPE("stream_create_response"));
    uint32_t a = sub_id("u.a"), b = sub_id("u.b");
    CHECK(a >= ST_JS_SUB_STREAMS && b >= ST_JS_SUB_STREAMS && a != b);
    r = api("$JS.API.STREAM.UPDATE.U", "{\"name\":\"U\",\"subjects\":"
            "[\"u.b\",\"u.c\"]}");
    CHECK_STR(jstr(r, "type"), TYPE("stream_update_response"));
    CHECK_INT(sub_id("u.a"), ==, 0);
    CHECK_INT(sub_id("u.b"), ==, b);
    CHECK_INT(sub_id("u.c"), >, b);
    CHECK_INT(sub_id("l.*"), ==, keep);
}

/* Many streams, some deleted, some with new subjects: a publish reaches
 * its stream by the subscription it came on (the engine's sub id map,
 * grown and shrunk through all of this), and one on a dropped
 * subscription reaches nothing. */
static void
test_many_streams(void)
{
    enum { N = 120 };
    char name[32], subj[32], body[160], reply[32];
    const char *r;
    uint32_t gone_id = 0;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "$JS.API.STREAM.CREATE.M%d", i);
        snprintf(body, sizeof(body), "{\"name\":\"M%d\",\"subjects\":"
                 "[\"m%d.x\"],\"storage\":\"memory\"}", i, i);
        r = api(name, body);
        CHECK_STR(jstr(r, "config.name"), name + 22);
    }
    for (int i = 0; i < N; i += 3) {        /* scattered deletes */
        snprintf(subj, sizeof(subj), "m%d.x", i);
        if (gone_id == 0)
            gone_id = stream_sub(subj);
        snprintf(name, sizeof(name), "$JS.API.STREAM.DELETE.M%d", i);
        r = api(name, "");
        CHECK(strstr(r, "\"success\":true") != NULL);
    }
    for (int i = 1; i < N; i += 5) {        /* new subjects, new ids */
        if (i % 3 == 0)
            continue;                       /* deleted above */
        snprintf(name, sizeof(name), "$JS.API.STREAM.UPDATE.M%d", i);
        snprintf(body, sizeof(body), "{\"name\":\"M%d\",\"subjects\":"
                 "[\"m%d.y\"],\"storage\":\"memory\"}", i, i);
        r = api(name, body);
        snprintf(subj, sizeof(subj), "[\"m%d.y\"]", i);
        CHECK_MSG(strstr(r, subj) != NULL, "%s", r);
    }
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            continue;
        snprintf(subj, sizeof(subj), "m%d.%c", i, i % 5 == 1 ? 'y' : 'x');
        snprintf(reply, sizeof(reply), "_MANY.%d", i);
        publish(subj, reply, NULL, "v");
        pump();
        long k = find_pub(reply, 0, 0);
        REQUIRE(k >= 0);
        snprintf(name, sizeof(name), "M%d", i);
        CHECK_STR(jstr(pubs[k].data, "stream"), name);
        CHECK_INT(jint(pubs[k].data, "seq"), ==, 1);
    }
    /* a late message on a deleted stream's subscription: no reply */
    REQUIRE(gone_id != 0);
    msg(gone_id, "m0.x", "_MANY.gone", NULL, "v");
    pump();
    CHECK(find_pub("_MANY.gone", 0, 0) < 0);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            continue;
        snprintf(name, sizeof(name), "$JS.API.STREAM.DELETE.M%d", i);
        (void)api(name, "");
    }
out:
    return;
}

static void
test_stats(void)
{
    struct st_js_stats st;

    st_js_stats(js, &st);
    CHECK_INT(st.streams, ==, 4);       /* S, L, I, U */
    CHECK_INT(st.consumers, ==, 3);     /* S.D, S.P, I.A */
    CHECK_INT(st.messages, ==, 6 + 1);  /* S: 6, L: 1, I: 0 */
    CHECK_INT(st.store, ==, st.bytes);
    CHECK_INT(st.memory, ==, 0);
    CHECK_INT(st.api_total, >, 10);
}

/* Close and reopen: the stream's messages and the durable's position are
 * back, and the subscriptions are announced again. */
static void
test_reopen(void)
{
    const char *r;

    st_js_close(js);
    js = NULL;
    for (size_t i = 0; i < nsubs; i++)
        CHECK_MSG(!subs[i].active, "%s still subscribed", subs[i].subject);
    subs_clear();
    REQUIRE(open_js() == 0);
    CHECK_INT(sub_id("$JS.API.>"), ==, ST_JS_SUB_API);
    CHECK_INT(stream_sub("s.x"), >=, ST_JS_SUB_STREAMS);
    CHECK_INT(stream_sub("i.x"), >=, ST_JS_SUB_STREAMS);
    r = api("$JS.API.STREAM.INFO.S", "");
    CHECK_INT(jint(r, "state.messages"), ==, 6);
    CHECK_INT(jint(r, "state.last_seq"), ==, 6);
    CHECK_INT(jint(r, "state.consumer_count"), ==, 2);
    r = api("$JS.API.CONSUMER.INFO.S.D", "");
    CHECK_INT(jint(r, "ack_floor.stream_seq"), ==, 1);
    CHECK_INT(jint(r, "delivered.stream_seq"), ==, 3);
    CHECK_INT(jint(r, "num_ack_pending"), ==, 2);
    CHECK_INT(jint(r, "num_pending"), ==, 3);
    r = api("$JS.API.CONSUMER.INFO.I.A", "");
    CHECK_INT(jint(r, "ack_floor.stream_seq"), ==, 3);
    /* the stream goes on where it was */
    publish("s.g", "_P.9", NULL, "g");
    pump();
    long i = find_pub("_P.9", 0, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "{\"stream\":\"S\", \"seq\":7}");
    st_js_resubscribe(js);
    CHECK_INT(sub_id("$JS.ACK.>"), ==, ST_JS_SUB_ACK);
out:
    return;
}

/* More than both store buffers hold, without a poll in between: the
 * publishes that meet busy buffers wait in order and are all stored. */
static void
test_busy_store(void)
{
    enum { N = 400, SZ = 8192 };
    char *data = malloc(SZ + 1), reply[32], want[64];
    struct st_js_stats st;
    size_t from = npubs;
    const char *r;

    memset(data, 'x', SZ);
    data[SZ] = '\0';
    r = api("$JS.API.STREAM.CREATE.B", "{\"name\":\"B\",\"subjects\":"
            "[\"b.*\"]}");
    CHECK_STR(jstr(r, "config.name"), "B");
    for (int k = 0; k < N; k++) {
        snprintf(reply, sizeof(reply), "_B.%d", k);
        publish("b.x", reply, NULL, data);
    }
    st_js_stats(js, &st);
    CHECK_INT(st.pub_waiting, >, 0);
    pump();
    st_js_stats(js, &st);
    CHECK_INT(st.pub_waiting, ==, 0);
    for (int k = 0; k < N; k++) {
        snprintf(reply, sizeof(reply), "_B.%d", k);
        snprintf(want, sizeof(want), "{\"stream\":\"B\", \"seq\":%d}",
                 k + 1);
        long i = find_pub(reply, from, 0);
        CHECK_MSG(i >= 0 && strcmp(pubs[i].data, want) == 0, "ack %d", k);
    }
    r = api("$JS.API.STREAM.INFO.B", "");
    CHECK_INT(jint(r, "state.messages"), ==, N);
    free(data);
}

/* Interval sync (the default): the PubAck follows the write; a memory
 * stream counts as memory and does not come back after a reopen. */
static void
test_interval_and_memory(void)
{
    struct st_js_opts o;
    struct st_js_stats st;
    const char *r;
    long i;

    st_js_close(js);
    js = NULL;
    subs_clear();
    memset(&o, 0, sizeof(o));
    snprintf(dir, sizeof(dir), "%s/js2", root);
    o.dir = dir;
    o.io = uio;
    REQUIRE(st_js_open(&js, &o, &port, now) == 0);
    r = api("$JS.API.STREAM.CREATE.M", "{\"name\":\"M\",\"subjects\":"
            "[\"m.>\"],\"storage\":\"memory\"}");
    CHECK_STR(jstr(r, "config.storage"), "memory");
    publish("m.1", "_M.1", NULL, "mem");
    pump();
    i = find_pub("_M.1", 0, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].data, "{\"stream\":\"M\", \"seq\":1}");
    st_js_stats(js, &st);
    CHECK_INT(st.memory, >, 0);
    CHECK_INT(st.store, ==, 0);
    st_js_close(js);
    js = NULL;
    subs_clear();
    REQUIRE(st_js_open(&js, &o, &port, now) == 0);
    st_js_stats(js, &st);
    CHECK_INT(st.streams, ==, 0);
    CHECK_INT(nsubs, ==, 3);
out:
    return;
}

/* ---- server limits (jetstream max_memory_store / max_file_store) --------- */

#define LIM (1ll << 20)                 /* 1 MiB of each */
#define KIB 1024ll

static const char *insufficient_store = "insufficient storage resources "
                                        "available";
static const char *insufficient_mem = "insufficient memory resources "
                                      "available";

/* A fresh engine on <root>/<sub> with these server limits. */
static int
open_limited(const char *sub, int64_t max_memory, int64_t max_store)
{
    struct st_js_opts o;

    st_js_close(js);
    js = NULL;
    subs_clear();
    pubs_clear();
    memset(&o, 0, sizeof(o));
    snprintf(dir, sizeof(dir), "%s/%s", root, sub);
    o.dir = dir;
    o.io = uio;
    o.sync_always = true;
    o.max_memory = max_memory;
    o.max_store = max_store;
    return st_js_open(&js, &o, &port, now);
}

/* $JS.API.STREAM.CREATE of {"name":name,"subjects":[subj]} + extra. */
static const char *
create(const char *name, const char *subj, const char *extra)
{
    char s[96], body[512];

    snprintf(s, sizeof(s), "$JS.API.STREAM.CREATE.%s", name);
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"subjects\":[\"%s\"]%s%s}",
             name, subj, extra ? "," : "", extra ? extra : "");
    return api(s, body);
}

static const char *
update(const char *name, const char *subj, const char *extra)
{
    char s[96], body[512];

    snprintf(s, sizeof(s), "$JS.API.STREAM.UPDATE.%s", name);
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"subjects\":[\"%s\"]%s%s}",
             name, subj, extra ? "," : "", extra ? extra : "");
    return api(s, body);
}

/* An API error reply is nats-server's, member by member. */
static void
check_api_err(const char *r, const char *type, int code, int err_code,
              const char *desc)
{
    CHECK_STR(jstr(r, "type"), type);
    CHECK_INT(jint(r, "error.code"), ==, code);
    CHECK_INT(jint(r, "error.err_code"), ==, err_code);
    CHECK_STR(jstr(r, "error.description"), desc);
}

static uint64_t
reserved_store(void)
{
    struct st_js_stats st;

    st_js_stats(js, &st);
    return st.reserved_store;
}

static uint64_t
reserved_memory(void)
{
    struct st_js_stats st;

    st_js_stats(js, &st);
    return st.reserved_memory;
}

/* One publish with a reply, run to its answer; returns the reply text
 * (static copy, "" when none came). */
static const char *
pub_wait(const char *subj, const char *hdr, const char *data)
{
    static char reply[32], *last;
    long i;

    snprintf(reply, sizeof(reply), "_LIM.%u", ++inbox);
    publish(subj, reply, hdr, data);
    pump();
    i = find_pub(reply, 0, 0);
    free(last);
    last = strdup(i >= 0 ? pubs[i].data : "");
    return last;
}

/* (a) a max_bytes above the limit; reservations against the limit; the
 * order of the checks around it. */
static void
test_limit_create(void)
{
    const char *r;
    char extra[64];

    REQUIRE(open_limited("lim1", LIM, LIM) == 0);
    r = api("$JS.API.INFO", "");
    CHECK_INT(jint(r, "limits.max_memory"), ==, -1);    /* as nats-server */
    CHECK_INT(jint(r, "limits.max_storage"), ==, -1);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 2 * LIM);
    r = create("A", "a", extra);
    check_api_err(r, TYPE("stream_create_response"), 500, 10047,
                  insufficient_store);
    CHECK_STR(jstr(r, "config.name"), "");
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld,\"storage\":"
             "\"memory\"", 2 * LIM);
    check_api_err(create("AM", "am", extra), TYPE("stream_create_response"),
                  500, 10028, insufficient_mem);
    CHECK_INT(reserved_store(), ==, 0);
    /* exactly the limit fits and reserves all of it */
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", LIM);
    r = create("A", "a", extra);
    CHECK_STR(jstr(r, "config.name"), "A");
    CHECK_INT(jint(r, "config.max_bytes"), ==, LIM);
    CHECK_INT(reserved_store(), ==, LIM);
    CHECK_INT(reserved_memory(), ==, 0);
    /* no max_bytes counts as 1 byte: refused now */
    check_api_err(create("B", "b", NULL), TYPE("stream_create_response"),
                  500, 10047, insufficient_store);
    check_api_err(create("B", "b", "\"max_bytes\":0"),
                  TYPE("stream_create_response"), 500, 10047,
                  insufficient_store);
    /* the name checks come first: the same config is the stream */
    r = create("A", "a", extra);
    CHECK_STR(jstr(r, "config.name"), "A");
    check_api_err(create("A", "a", "\"max_bytes\":1000"),
                  TYPE("stream_create_response"), 400, 10058,
                  "stream name already in use with a different "
                  "configuration");
    check_api_err(create("B", "b", "\"num_replicas\":3,\"max_bytes\":5"),
                  TYPE("stream_create_response"), 500, 10074,
                  "replicas > 1 not supported in non-clustered mode");
    /* the limit before the subject overlap */
    check_api_err(create("B", "a", "\"max_bytes\":5"),
                  TYPE("stream_create_response"), 500, 10047,
                  insufficient_store);
    /* memory has its own limit */
    r = create("BM", "bm", "\"storage\":\"memory\",\"max_bytes\":1000");
    CHECK_STR(jstr(r, "config.storage"), "memory");
    CHECK_INT(reserved_memory(), ==, 1000);
    CHECK_INT(reserved_store(), ==, LIM);
    /* updates check only the growth, before replicas and overlap */
    r = update("A", "a", extra);
    CHECK_STR(jstr(r, "config.name"), "A");
    check_api_err(update("A", "a", "\"num_replicas\":3,\"max_bytes\":"
                         "2097152"), TYPE("stream_update_response"), 500,
                  10047, insufficient_store);
    check_api_err(update("BM", "a", "\"storage\":\"memory\",\"max_bytes\":"
                         "2097152"), TYPE("stream_update_response"), 500,
                  10028, insufficient_mem);
    r = api("$JS.API.INFO", "");
    CHECK_INT(jint(r, "streams"), ==, 2);
out:
    return;
}

/* (c) two reservations together past the limit; nats-server's update
 * arithmetic (-1 -> N reserves N + 1, N -> -1 releases N + 1). */
static void
test_limit_reservations(void)
{
    const char *r;
    char extra[64];

    r = api("$JS.API.STREAM.DELETE.A", "");
    CHECK(strstr(r, "\"success\":true") != NULL);
    CHECK_INT(reserved_store(), ==, 0);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 512 * KIB);
    CHECK_STR(jstr(create("C", "c", extra), "config.name"), "C");
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 600 * KIB);
    check_api_err(create("D", "d", extra), TYPE("stream_create_response"),
                  500, 10047, insufficient_store);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 512 * KIB);
    CHECK_STR(jstr(create("D", "d", extra), "config.name"), "D");
    CHECK_INT(reserved_store(), ==, LIM);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 512 * KIB + 1);
    check_api_err(update("D", "d", extra), TYPE("stream_update_response"),
                  500, 10047, insufficient_store);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 100 * KIB);
    r = update("D", "d", extra);
    CHECK_INT(jint(r, "config.max_bytes"), ==, 100 * KIB);
    CHECK_INT(reserved_store(), ==, 612 * KIB);
    r = update("D", "d", NULL);
    CHECK_INT(jint(r, "config.max_bytes"), ==, -1);
    CHECK_INT(reserved_store(), ==, 512 * KIB - 1);
    api("$JS.API.STREAM.DELETE.C", "");
    CHECK_INT(reserved_store(), ==, UINT64_MAX);    /* -1, as nats-server */
    CHECK_STR(jstr(create("E", "e", "\"max_bytes\":1"), "config.name"), "E");
    CHECK_INT(reserved_store(), ==, 0);
    /* an update from -1 to the whole limit asks for limit + 1 */
    r = create("F", "f", "\"storage\":\"memory\"");
    CHECK_STR(jstr(r, "config.name"), "F");
    snprintf(extra, sizeof(extra), "\"storage\":\"memory\",\"max_bytes\":"
             "%lld", LIM);
    api("$JS.API.STREAM.DELETE.BM", "");
    check_api_err(update("F", "f", extra), TYPE("stream_update_response"),
                  500, 10028, insufficient_mem);
    snprintf(extra, sizeof(extra), "\"storage\":\"memory\",\"max_bytes\":"
             "%lld", LIM - 1);
    CHECK_INT(jint(update("F", "f", extra), "config.max_bytes"), ==, LIM - 1);
    CHECK_INT(reserved_memory(), ==, LIM);
    update("F", "f", "\"storage\":\"memory\"");
    CHECK_INT(reserved_memory(), ==, 0);
    api("$JS.API.STREAM.DELETE.D", "");
    api("$JS.API.STREAM.DELETE.E", "");
    api("$JS.API.STREAM.DELETE.F", "");
}

/* Publish 10000-byte messages until the first error: every stream of
 * that storage type is then refused with 503/10023.  Returns how many
 * were acknowledged. */
static int
fill(const char *subj, const char *stream, char *big)
{
    char want[160];
    const char *r = "";
    int acked = 0;

    for (int k = 0; k < 200; k++) {
        r = pub_wait(subj, NULL, big);
        if (strstr(r, "\"error\"") != NULL)
            break;
        acked++;
    }
    snprintf(want, sizeof(want), "{\"error\":{\"code\":503,\"err_code\":"
             "10023,\"description\":\"insufficient resources\"},"
             "\"stream\":\"%s\",\"seq\":0}", stream);
    CHECK_STR(r, want);
    return acked;
}

/* (b) a stream without max_bytes published past the limit; (d) the
 * same in memory, with its own limit. */
static void
test_limit_publish(void)
{
    char *big = malloc(10001);
    struct st_js_stats st;
    const char *r;

    REQUIRE(big != NULL);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    CHECK_STR(jstr(create("F", "f", NULL), "config.name"), "F");
    CHECK_STR(jstr(create("I", "i", "\"retention\":\"interest\""),
                   "config.retention"), "interest");
    CHECK_STR(jstr(create("H", "h", "\"max_bytes\":100000"),
                   "config.name"), "H");
    CHECK_STR(pub_wait("f", "NATS/1.0\r\nNats-Msg-Id: d1\r\n\r\n", "x"),
              "{\"stream\":\"F\", \"seq\":1}");
    /* nats-server stores while usage <= limit: 1 + 104 x 10031 B fit,
     * the next one passes the limit and is still stored */
    CHECK_INT(fill("f", "F", big), ==, 105);
    st_js_stats(js, &st);
    CHECK_INT(st.store, >, LIM);
    CHECK_INT(st.memory, ==, 0);
    /* checks before the limit still answer first */
    CHECK_STR(pub_wait("f", "NATS/1.0\r\nNats-Msg-Id: d1\r\n\r\n", "x"),
              "{\"stream\":\"F\", \"seq\":1,\"duplicate\": true}");
    r = pub_wait("f", "NATS/1.0\r\nNats-Expected-Last-Sequence: 3\r\n\r\n",
                 "x");
    CHECK_INT(jint(r, "error.err_code"), ==, 10071);
    /* every file stream is refused, even one with room of its own, and
     * an interest stream without consumers */
    CHECK_STR(pub_wait("h", NULL, "x"), "{\"error\":{\"code\":503,"
              "\"err_code\":10023,\"description\":\"insufficient "
              "resources\"},\"stream\":\"H\",\"seq\":0}");
    CHECK_INT(jint(pub_wait("i", NULL, "x"), "error.err_code"), ==, 10023);
    /* creates look at reservations only */
    CHECK_STR(jstr(create("G", "g", NULL), "config.name"), "G");
    /* (d) memory: its own limit, file streams stay refused */
    CHECK_STR(jstr(create("M", "m", "\"storage\":\"memory\""),
                   "config.storage"), "memory");
    CHECK_INT(fill("m", "M", big), ==, 105);
    st_js_stats(js, &st);
    CHECK_INT(st.memory, >, LIM);
    CHECK_INT(st.reserved_memory, ==, 0);
    /* H, less the 1 byte test_limit_reservations left below 0 */
    CHECK_INT(st.reserved_store, ==, 100000 - 1);
    /* room again: the refusals used no sequence */
    r = api("$JS.API.STREAM.PURGE.F", "{\"keep\":50}");
    CHECK_INT(jint(r, "purged"), ==, 56);
    CHECK_STR(pub_wait("f", NULL, "x"), "{\"stream\":\"F\", \"seq\":107}");
    CHECK_STR(pub_wait("h", NULL, "x"), "{\"stream\":\"H\", \"seq\":1}");
    CHECK_INT(jint(pub_wait("m", NULL, "x"), "error.err_code"), ==, 10023);
    r = api("$JS.API.STREAM.DELETE.M", "");
    CHECK(strstr(r, "\"success\":true") != NULL);
    CHECK_STR(pub_wait("h", NULL, "x"), "{\"stream\":\"H\", \"seq\":2}");
out:
    free(big);
}

/* A restart under a smaller limit: streams are loaded in name order and
 * one whose reservation no longer fits stays on disk, unloaded. */
static void
test_limit_reopen(void)
{
    char extra[64], path[400];
    struct st_js_stats st;
    struct stat sb;
    const char *r;

    REQUIRE(open_limited("lim2", LIM, 2 * LIM) == 0);
    snprintf(extra, sizeof(extra), "\"max_bytes\":%lld", 512 * KIB);
    CHECK_STR(jstr(create("A", "a", extra), "config.name"), "A");
    CHECK_STR(jstr(create("B", "b", extra), "config.name"), "B");
    CHECK_STR(jstr(create("N", "n", NULL), "config.name"), "N");
    CHECK_STR(pub_wait("b", NULL, "kept"), "{\"stream\":\"B\", \"seq\":1}");
    CHECK_INT(reserved_store(), ==, LIM);
    REQUIRE(open_limited("lim2", LIM, 700 * KIB) == 0);
    st_js_stats(js, &st);
    CHECK_INT(st.streams, ==, 2);
    CHECK_INT(st.reserved_store, ==, 512 * KIB);
    r = api("$JS.API.STREAM.NAMES", "");
    CHECK(strstr(r, "\"streams\":[\"A\",\"N\"]") != NULL);
    CHECK_INT(stream_sub("b"), ==, 0);
    snprintf(path, sizeof(path), "%s/B", dir);
    CHECK(stat(path, &sb) == 0);
    /* a larger limit brings it back with its message */
    REQUIRE(open_limited("lim2", LIM, 2 * LIM) == 0);
    r = api("$JS.API.STREAM.INFO.B", "");
    CHECK_INT(jint(r, "state.messages"), ==, 1);
    CHECK_INT(reserved_store(), ==, LIM);
out:
    return;
}

/* Mirrors and sources: catch-up at creation (a mirror keeps the origin's
 * sequences, gaps included; a source adds Nats-Stream-Source after the
 * origin's own headers), live copies past the per-call budget, StreamInfo
 * members, and a reopen that copies nothing twice. */
static void
test_mirror_sources(void)
{
    enum { N = 2500 };
    const char *r;

    REQUIRE(open_limited("mir", 0, 0) == 0);
    CHECK_STR(jstr(create("O", "o.>", NULL), "config.name"), "O");
    CHECK_STR(pub_wait("o.a", NULL, "1"), "{\"stream\":\"O\", \"seq\":1}");
    CHECK_STR(pub_wait("o.b", NULL, "2"), "{\"stream\":\"O\", \"seq\":2}");
    CHECK_STR(pub_wait("o.a", NULL, "3"), "{\"stream\":\"O\", \"seq\":3}");
    r = api("$JS.API.STREAM.MSG.DELETE.O", "{\"seq\":2}");
    CHECK(strstr(r, "\"success\":true") != NULL);
    r = api("$JS.API.STREAM.CREATE.M", "{\"name\":\"M\",\"mirror\":"
            "{\"name\":\"O\"}}");
    CHECK_STR(jstr(r, "config.mirror.name"), "O");
    CHECK_INT(jint(r, "config.duplicate_window"), ==, -999);
    CHECK_STR(jstr(r, "mirror.name"), "");      /* not in a create reply */
    r = api("$JS.API.STREAM.CREATE.S", "{\"name\":\"S\",\"sources\":"
            "[{\"name\":\"O\",\"filter_subject\":\"o.a\"}]}");
    CHECK(strstr(r, "\"sources\":[{\"name\":\"O\",\"filter_subject\":"
                 "\"o.a\"}]") != NULL);
    CHECK(strstr(r, "\"subjects\"") == NULL);
    pump();
    r = api("$JS.API.STREAM.INFO.M", "");
    CHECK_INT(jint(r, "state.messages"), ==, 2);
    CHECK_INT(jint(r, "state.first_seq"), ==, 1);
    CHECK_INT(jint(r, "state.last_seq"), ==, 3);
    CHECK_INT(jint(r, "state.num_deleted"), ==, 1);
    CHECK_STR(jstr(r, "mirror.name"), "O");
    CHECK_INT(jint(r, "mirror.lag"), ==, 0);
    CHECK_INT(jint(r, "mirror.active"), >=, 0);
    r = api("$JS.API.STREAM.MSG.GET.M", "{\"seq\":3}");
    CHECK_STR(jstr(r, "message.subject"), "o.a");
    CHECK_STR(jstr(r, "message.hdrs"), "");
    r = api("$JS.API.STREAM.INFO.S", "");
    CHECK_INT(jint(r, "state.messages"), ==, 2);
    r = api("$JS.API.STREAM.MSG.GET.S", "{\"seq\":2}");
    CHECK_STR(jstr(r, "message.hdrs"), "TkFUUy8xLjANCk5hdHMtU3RyZWFtLVNvdXJj"
              "ZTogTyAzDQoNCg==");         /* Nats-Stream-Source: O 3 */
    /* the origin's headers come first */
    CHECK_STR(pub_wait("o.a", "NATS/1.0\r\nX: y\r\n\r\n", "4"),
              "{\"stream\":\"O\", \"seq\":4}");
    pump();
    r = api("$JS.API.STREAM.MSG.GET.S", "{\"seq\":3}");
    CHECK_STR(jstr(r, "message.hdrs"), "TkFUUy8xLjANClg6IHkNCk5hdHMtU3RyZWFt"
              "LVNvdXJjZTogTyA0DQoNCg==");
    /* more than one call's budget */
    for (int k = 0; k < N; k++)
        publish(k % 2 ? "o.b" : "o.a", NULL, NULL, "x");
    pump();
    pump();
    r = api("$JS.API.STREAM.INFO.M", "");
    CHECK_INT(jint(r, "state.last_seq"), ==, 4 + N);
    CHECK_INT(jint(r, "state.messages"), ==, 3 + N);
    r = api("$JS.API.STREAM.INFO.S", "");
    CHECK_INT(jint(r, "state.messages"), ==, 3 + N / 2);
    /* reopen: nothing twice, then the next one */
    REQUIRE(open_limited("mir", 0, 0) == 0);
    pump();
    r = api("$JS.API.STREAM.INFO.S", "");
    CHECK_INT(jint(r, "state.messages"), ==, 3 + N / 2);
    CHECK_STR(pub_wait("o.a", NULL, "z"), "{\"stream\":\"O\", \"seq\":2505}");
    pump();
    r = api("$JS.API.STREAM.INFO.S", "");
    CHECK_INT(jint(r, "state.messages"), ==, 4 + N / 2);
    r = api("$JS.API.STREAM.MSG.GET.S", "{\"seq\":1254}");
    CHECK_STR(jstr(r, "message.hdrs"), "TkFUUy8xLjANCk5hdHMtU3RyZWFtLVNvdXJj"
              "ZTogTyAyNTA1DQoNCg==");     /* O 2505 */
    r = api("$JS.API.STREAM.INFO.M", "");
    CHECK_INT(jint(r, "state.last_seq"), ==, 2505);
    CHECK_INT(jint(r, "state.messages"), ==, 2504);
out:
    return;
}

/* ---- republish ------------------------------------------------------------ */

/* st_stream_republish_map(): subj mapped, or the error. */
static struct dt_buf rp_buf;

static const char *
rp_map(const char *src, const char *dest, const char *subj, int *rc)
{
    struct dt_buf *bp = &rp_buf;

    bp->len = 0;
    *rc = st_stream_republish_map(src, dest, subj, subj ? strlen(subj) : 0,
                                  bp);
    if (dt_buf_append(bp, "", 1) < 0)
        return "";
    return bp->data;
}

/* The transform: $N, {{wildcard(N)}}, '>' and the refusals of 2.9.10's
 * newTransform (checked against the real server). */
static void
test_republish_map(void)
{
    int rc;

    CHECK_STR(rp_map("k.*.*", "rp.$2.$1", "k.a.b", &rc), "rp.b.a");
    CHECK_INT(rc, ==, 0);
    CHECK_STR(rp_map("k.*.*", "rp.{{ Wildcard( 2 ) }}.{{wildcard(1)}}",
                     "k.a.b", &rc), "rp.b.a");
    CHECK_STR(rp_map(">", "rp.>", "d.x.y", &rc), "rp.d.x.y");
    CHECK_STR(rp_map(NULL, "rp.>", "d", &rc), "rp.d");
    CHECK_STR(rp_map("a.*.>", "x.$1.>", "a.b.c.d", &rc), "x.b.c.d");
    CHECK_STR(rp_map("r.*", "rp.$1.$1", "r.q", &rc), "rp.q.q");
    /* nats-server maps wildcard 0 to the subject's first token */
    CHECK_STR(rp_map("z.*", "rp.$0", "z.a", &rc), "rp.z");
    CHECK_STR(rp_map("z.*", "rp.{{wildcard(0)}}", "z.a", &rc), "rp.z");
    CHECK_STR(rp_map("n.x", "rp.$1", "n.x", &rc), "rp.$1");  /* literal */
    CHECK_INT(rc, ==, 0);
    rp_map("k.*", "rp.$1", "k.a.b", &rc);
    CHECK_INT(rc, ==, -ENOENT);
    rp_map("a.>", "x.>", "a", &rc);
    CHECK_INT(rc, ==, -ENOENT);
    rp_map("n.x", "rp", "n.y", &rc);
    CHECK_INT(rc, ==, -ENOENT);
    static const char *const bad[][2] = {
        { "f.*.z", "rp.x" },        /* a wildcard not used */
        { "g.>", "rp.*" },          /* '*' in dest */
        { "h.>", "" },
        { "i.>", "rp..x" },
        { "l.>", "rp.x" },          /* '>' in src only */
        { "t.*", "rp.x.>" },        /* '>' in dest only */
        { "m.*", "rp.$2" },         /* index past the wildcards */
        { "m.*", "rp.$1x" },        /* not a reference: $1 unused */
        { "m.*", "rp.{{nope(1)}}" },
        { "m.*", "rp.{{wildcard(x)}}" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rp_map(bad[i][0], bad[i][1], NULL, &rc);
        CHECK_MSG(rc == -EINVAL, "%s -> %s: %d", bad[i][0], bad[i][1], rc);
    }
    rp_map("o.*", "rp.{{partition(3,1)}}", NULL, &rc);
    CHECK_INT(rc, ==, -ENOTSUP);
    dt_buf_free(&rp_buf);
}

/* Copies through the port: own headers + Nats-Stream/Subject/Sequence/
 * Last-Sequence (per subject), headers_only with Nats-Msg-Size; sent
 * before the PubAck; none for a duplicate or outside src; the config
 * survives a reopen; an update can drop it. */
static void
test_republish(void)
{
    static const char cfg_err[] = "stream configuration for republish ";
    const char *r;
    char desc[128];
    long i;

    REQUIRE(open_limited("rp", 0, 0) == 0);
    r = create("E1", "e1.>", "\"republish\":{\"src\":\"e1.>\","
               "\"dest\":\"e1.x\"}");
    snprintf(desc, sizeof(desc), "%sdestination forms a cycle", cfg_err);
    check_api_err(r, TYPE("stream_create_response"), 500, 10052, desc);
    r = create("E2", "e2.>", "\"republish\":{\"src\":\"e3.>\","
               "\"dest\":\"rp\"}");
    snprintf(desc, sizeof(desc), "%ssource is not valid subset of subjects",
             cfg_err);
    check_api_err(r, TYPE("stream_create_response"), 500, 10052, desc);
    r = create("E3", "e3.>", "\"republish\":{\"src\":\"e3.>\","
               "\"dest\":\"rp.x\"}");
    snprintf(desc, sizeof(desc), "%snot valid", cfg_err);
    check_api_err(r, TYPE("stream_create_response"), 500, 10052, desc);
    r = create("E4", "e4.*", "\"republish\":{\"dest\":\"rp.{{split(1,-)}}\"}");
    CHECK_INT(jint(r, "error.err_code"), ==, 10052);
    r = create("E5", "e5.*", "\"republish\":7");
    CHECK_INT(jint(r, "error.err_code"), ==, 10025);

    /* src defaults to ">", which needs a '>' in dest */
    r = create("RP", "rpa.*", "\"republish\":{\"dest\":\"rpo.$1\"}");
    check_api_err(r, TYPE("stream_create_response"), 500, 10052, desc);
    r = create("RP", "rpa.*", "\"max_msgs_per_subject\":1,\"republish\":"
               "{\"src\":\"rpa.*\",\"dest\":\"rpo.$1\"}");
    CHECK(strstr(r, "\"duplicate_window\":120000000000,\"republish\":"
                 "{\"src\":\"rpa.*\",\"dest\":\"rpo.$1\"},\"allow_direct\"")
          != NULL);
    r = create("RH", "rph.>", "\"republish\":{\"dest\":\"rpo.h.>\","
               "\"headers_only\":true}");
    CHECK(strstr(r, "\"republish\":{\"src\":\">\",\"dest\":\"rpo.h.>\","
                 "\"headers_only\":true},") != NULL);

    size_t from = npubs;
    CHECK_STR(pub_wait("rpa.k", "NATS/1.0\r\nFoo: bar\r\n\r\n", "v1"),
              "{\"stream\":\"RP\", \"seq\":1}");
    i = find_pub("rpo.k", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].hdr, "NATS/1.0\r\nFoo: bar\r\nNats-Stream: RP\r\n"
              "Nats-Subject: rpa.k\r\nNats-Sequence: 1\r\n"
              "Nats-Last-Sequence: 0\r\n\r\n");
    CHECK_STR(pubs[i].data, "v1");
    CHECK_STR(pubs[i].reply, "");
    CHECK_INT(i + 1, <, (long)npubs);               /* the ack came after */
    CHECK_STR(pubs[i + 1].data, "{\"stream\":\"RP\", \"seq\":1}");
    pub_wait("rpa.j", NULL, "v2");
    pub_wait("rpa.k", "NATS/1.0\r\nNats-Msg-Id: d1\r\n\r\n", "v3");
    pub_wait("rpa.k", "NATS/1.0\r\nNats-Msg-Id: d1\r\n\r\n", "v3");
    CHECK_INT(count_pubs("rpo.k", from), ==, 2);    /* not the duplicate */
    CHECK_INT(count_pubs("rpo.j", from), ==, 1);
    i = find_pub("rpo.k", from, 1);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].hdr, "NATS/1.0\r\nNats-Msg-Id: d1\r\nNats-Stream: RP\r\n"
              "Nats-Subject: rpa.k\r\nNats-Sequence: 3\r\n"
              "Nats-Last-Sequence: 1\r\n\r\n");

    pub_wait("rph.a.b", NULL, "12345");
    i = find_pub("rpo.h.rph.a.b", from, 0);
    REQUIRE(i >= 0);
    CHECK_STR(pubs[i].hdr, "NATS/1.0\r\nNats-Stream: RH\r\n"
              "Nats-Subject: rph.a.b\r\nNats-Sequence: 1\r\n"
              "Nats-Last-Sequence: 0\r\nNats-Msg-Size: 5\r\n\r\n");
    CHECK_STR(pubs[i].data, "");

    /* the config is kept on disk */
    REQUIRE(open_limited("rp", 0, 0) == 0);
    r = api("$JS.API.STREAM.INFO.RP", "");
    CHECK_STR(jstr(r, "config.republish.dest"), "rpo.$1");
    from = npubs;
    pub_wait("rpa.k", NULL, "v4");
    i = find_pub("rpo.k", from, 0);
    REQUIRE(i >= 0);
    CHECK(strstr(pubs[i].hdr, "Nats-Sequence: 4\r\nNats-Last-Sequence: 3\r\n")
          != NULL);
    /* an update drops it: no more copies */
    r = update("RP", "rpa.*", "\"max_msgs_per_subject\":1");
    CHECK_STR(jstr(r, "config.republish.dest"), "");
    pub_wait("rpa.k", NULL, "v5");
    CHECK_INT(count_pubs("rpo.k", from), ==, 1);
out:
    return;
}

/* An advisory published since `from` on subj: its JSON (static) or "". */
static const char *
advisory(const char *subj, size_t from)
{
    long i = find_pub(subj, from, 0);

    return i >= 0 ? pubs[i].data : "";
}

/* The members every advisory has, then its own. */
static void
check_adv(const char *r, const char *type, const char *stream,
          const char *consumer, const char *action)
{
    char t[96];

    snprintf(t, sizeof(t), "io.nats.jetstream.advisory.v1.%s", type);
    CHECK_STR(jstr(r, "type"), t);
    CHECK_INT(strlen(jstr(r, "id")), ==, 22);
    CHECK(strncmp(jstr(r, "timestamp"), "2023-11-14T22:", 14) == 0);
    CHECK_STR(jstr(r, "stream"), stream);
    if (consumer)
        CHECK_STR(jstr(r, "consumer"), consumer);
    if (action)
        CHECK_STR(jstr(r, "action"), action);
}

/* Stream and consumer created / updated / deleted, max_deliver (member
 * order as nats-server 2.9.10), nothing for what a reopen restores. */
static void
test_advisories(void)
{
    static const char pfx[] = "$JS.EVENT.ADVISORY.";
    const char *r;
    size_t from;

    REQUIRE(open_limited("adv", 0, 0) == 0);
    create("AV", "av.*", NULL);
    r = advisory("$JS.EVENT.ADVISORY.STREAM.CREATED.AV", 0);
    check_adv(r, "stream_action", "AV", NULL, "create");
    CHECK(strstr(r, "Z\",\"stream\":\"AV\",\"action\":\"create\"}") != NULL);
    from = npubs;
    create("AV", "av.*", NULL);                     /* no change: none */
    CHECK_INT(count_pubs("$JS.EVENT.ADVISORY.STREAM.CREATED.AV", from), ==, 0);
    update("AV", "av.*", "\"max_msgs\":100");
    check_adv(advisory("$JS.EVENT.ADVISORY.STREAM.UPDATED.AV", from),
              "stream_action", "AV", NULL, "modify");

    r = api("$JS.API.CONSUMER.DURABLE.CREATE.AV.P", "{\"stream_name\":\"AV\","
            "\"config\":{\"durable_name\":\"P\",\"deliver_subject\":\"adv.p\","
            "\"ack_policy\":\"explicit\",\"ack_wait\":1000000000,"
            "\"max_deliver\":2}}");
    CHECK_STR(jstr(r, "name"), "P");
    r = advisory("$JS.EVENT.ADVISORY.CONSUMER.CREATED.AV.P", from);
    check_adv(r, "consumer_action", "AV", "P", "create");
    CHECK(strstr(r, "\"stream\":\"AV\",\"consumer\":\"P\",\"action\":"
                 "\"create\"}") != NULL);
    api("$JS.API.CONSUMER.DURABLE.CREATE.AV.Q", "{\"stream_name\":\"AV\","
        "\"config\":{\"durable_name\":\"Q\",\"ack_policy\":\"explicit\"}}");
    CHECK_STR(pub_wait("av.x", NULL, "m"), "{\"stream\":\"AV\", \"seq\":1}");
    /* two deliveries, then the third attempt gives up */
    int64_t start = now;
    for (int k = 0; k < 200 && now - start < 5 * SEC; k++) {
        int64_t d = st_js_next_deadline(js);
        now = d > now ? d : now + 1;
        pump();
    }
    CHECK_INT(count_pubs("adv.p", from), ==, 2);
    r = advisory("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AV.P", from);
    check_adv(r, "max_deliver", "AV", "P", NULL);
    CHECK(strstr(r, "\"stream\":\"AV\",\"consumer\":\"P\",\"stream_seq\":1,"
                 "\"deliveries\":2}") != NULL);
    CHECK_INT(count_pubs("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AV.P",
                         from), ==, 1);

    /* a reopen restores streams and consumers silently */
    from = npubs;
    REQUIRE(open_limited("adv", 0, 0) == 0);
    for (size_t i = 0; i < npubs; i++)
        CHECK_MSG(strncmp(pubs[i].subj, pfx, sizeof(pfx) - 1) != 0,
                  "advisory %s at open", pubs[i].subj);
    api("$JS.API.CONSUMER.DELETE.AV.P", "");
    check_adv(advisory("$JS.EVENT.ADVISORY.CONSUMER.DELETED.AV.P", 0),
              "consumer_action", "AV", "P", "delete");
    from = npubs;
    api("$JS.API.STREAM.DELETE.AV", "");
    long q = find_pub("$JS.EVENT.ADVISORY.CONSUMER.DELETED.AV.Q", from, 0);
    long s = find_pub("$JS.EVENT.ADVISORY.STREAM.DELETED.AV", from, 0);
    CHECK(q >= 0 && s > q);
    check_adv(advisory("$JS.EVENT.ADVISORY.STREAM.DELETED.AV", from),
              "stream_action", "AV", NULL, "delete");
out:
    return;
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int
main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    int rc;

    (void)argc;
    snprintf(root, sizeof(root), "%s/dt-js-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    rc = st_io_open_uring(&uio, 0);
    if (rc < 0) {
        printf("io_uring unavailable (%s): skipped\n", strerror(-rc));
        rmdir(root);
        return 77;
    }
    snprintf(dir, sizeof(dir), "%s/js", root);
    rc = open_js();
    if (rc < 0) {
        CHECK_MSG(0, "st_js_open: %s", strerror(-rc));
        goto out;
    }
    test_open_subscribes();
    test_stream_create();
    test_publish_ack_durable();
    test_duplicate();
    test_publish_errors();
    test_durable_create_held();
    test_pull_batch_and_ack();
    test_pull_no_wait_empty();
    test_push_delivery();
    test_port_enobufs();
    test_redelivery_timer();
    test_workqueue();
    test_interest();
    test_remove_counts();
    test_api_counts();
    test_stream_delete_unsubscribes();
    test_stream_update_subjects();
    test_stats();
    test_many_streams();
    test_reopen();
    if (js != NULL)
        test_busy_store();
    test_interval_and_memory();
    test_limit_create();
    test_limit_reservations();
    test_limit_publish();
    test_limit_reopen();
    test_mirror_sources();
    test_republish_map();
    test_republish();
    test_advisories();
out:
    st_js_close(js);
    st_io_close(uio);
    pubs_clear();
    subs_clear();
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return dt_check_summary(argv[0]);
}
