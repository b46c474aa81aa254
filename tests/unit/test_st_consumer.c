/*
 * test_st_consumer.c -- unit tests for JetStream consumers (storage/
 * st_consumer*.c, st_ack.c, st_api_consumer.c): ack subjects and bodies,
 * config parsing and nats-server's errors, the API responses, every
 * deliver policy, every ack kind, redelivery after ack_wait and backoff
 * with fake time, max_deliver, max_ack_pending, AckAll, filters and
 * num_pending, pull requests with their exact status messages, push
 * heartbeats and flow control, a full outbox, the durable state log
 * (reload, damaged tail, delete), filter_subjects (2.10: parse, echo,
 * errors, workqueue rules, delivery order, num_pending, last per subject,
 * persistence, a random run against a brute-force scan, speed), and
 * 100,000 persisted durable consumers with distinct filters (time, heap
 * and disk per consumer are printed).
 *
 * NOTES
 *   Stores run on the fault I/O backend (no io_uring needed; reads are
 *   pread or the write buffer), in fresh directories under $TMPDIR (or
 *   /tmp), removed at the end.  Time is explicit: T0 + offsets.
 *   Expected strings were captured from nats-server 2.9.10.
 */
#include "dt_buf.h"
#include "dt_check.h"
#include "dt_json.h"
#include "dt_subject.h"
#include "st_ack.h"
#include "st_api_consumer.h"
#include "st_consumer.h"
#include "st_io.h"
#include "st_io_fault.h"
#include "st_store.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
#define SEC 1000000000LL
/* 2026-11-26T10:47:09.562263049Z */
#define T0 1795690029562263049LL

static char root[256];
static unsigned ndirs;

/* ---- fixture -------------------------------------------------------------- */

struct fx {
    char dir[300];
    char sdir[320];
    struct st_io *io;
    struct st_fault *fault;
    struct st_store *st;
    struct st_cons_stream s;
    struct st_cons_set *set;
    struct st_outbox out;
    const char *subjects[2];
    /* callbacks */
    uint64_t acked[64];
    unsigned nacked;
    unsigned created, deleted;
    bool interest;              /* has_interest answer */
    char no_interest[64];       /* ... except for this subject */
    bool remove_on_ack;         /* act as a workqueue stream */
};

static void
on_ack(void *arg, struct st_consumer *c, uint64_t lo, uint64_t hi)
{
    struct fx *f = arg;
    for (uint64_t s = lo; s <= hi && f->nacked < 64; s++) {
        f->acked[f->nacked++] = s;
        if (f->remove_on_ack && st_store_delete(f->st, s) == 0)
            /* what a workqueue stream does: remove, tell the consumers */
            st_cons_set_on_remove(f->set, s, "q.a", 3, 0);
    }
}

static void
on_event(void *arg, struct st_consumer *c, enum st_cons_event ev)
{
    struct fx *f = arg;
    if (ev == ST_CONS_CREATED)
        f->created++;
    else
        f->deleted++;
}

static bool
has_interest(void *arg, const char *subj, size_t len)
{
    struct fx *f = arg;
    if (f->no_interest[0] && strlen(f->no_interest) == len
        && memcmp(f->no_interest, subj, len) == 0)
        return false;
    return f->interest;
}

static struct st_cons_set *
lookup(void *arg, const char *name, size_t len)
{
    struct fx *f = arg;
    if (f->set && strlen(f->s.name) == len && memcmp(f->s.name, name, len) == 0)
        return f->set;
    return NULL;
}

static int
fx_open(struct fx *f, const char *name, const char *subj,
        enum st_retention ret, bool persist)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/s%u", root, ndirs++);
    snprintf(f->sdir, sizeof(f->sdir), "%s.cons", f->dir);
    if (st_io_open_fault(&f->io, &f->fault) < 0)
        return -1;
    if (st_store_open(&f->st, f->io, f->dir, NULL) < 0)
        return -1;
    f->subjects[0] = subj;
    f->s.name = name;
    f->s.store = f->st;
    f->s.retention = ret;
    f->s.subjects = f->subjects;
    f->s.nsubjects = 1;
    f->s.replicas = 1;
    f->s.on_ack = on_ack;
    f->s.on_event = on_event;
    f->s.has_interest = has_interest;
    f->s.arg = f;
    f->s.state_dir = persist ? f->sdir : NULL;
    f->interest = true;
    st_outbox_init(&f->out, 0, 0);
    return st_cons_set_new(&f->set, &f->s);
}

static void
fx_close(struct fx *f)
{
    st_cons_set_free(f->set);
    f->set = NULL;
    st_outbox_free(&f->out);
    if (f->st)
        st_store_close(f->st);
    if (f->io)
        st_io_close(f->io);
}

/* Append a message with timestamp ts and tell the consumers. */
static uint64_t
pub_h(struct fx *f, const char *subj, const char *hdr, const char *data,
      int64_t ts)
{
    struct st_rec_in in = {
        .subj = subj, .subj_len = strlen(subj),
        .hdr = hdr, .hdr_len = hdr ? strlen(hdr) : 0,
        .data = data, .data_len = strlen(data), .ts = ts,
    };
    uint64_t seq = 0;
    for (int i = 0; i < 1000; i++) {
        int rc = st_store_append(f->st, &in, &seq);
        if (rc == 0)
            break;
        if (rc != -EAGAIN)
            return 0;
        st_store_flush(f->st);
        st_io_poll(f->io, 1);
    }
    st_cons_set_on_append(f->set, seq, subj, strlen(subj));
    return seq;
}

static uint64_t
pub(struct fx *f, const char *subj, const char *data, int64_t ts)
{
    return pub_h(f, subj, NULL, data, ts);
}

/* Parse, default and create a consumer from config JSON. */
static struct st_consumer *
mk(struct fx *f, const char *json, int64_t now, struct st_jserr *err)
{
    struct st_jserr e0;
    struct dt_json_doc *doc = NULL;
    struct st_cons_config cfg;
    struct st_consumer *c = NULL;
    if (err == NULL)
        err = &e0;
    memset(err, 0, sizeof(*err));
    if (dt_json_parse(json, strlen(json), 0, &doc, NULL) < 0)
        return NULL;
    if (st_cons_config_parse(dt_json_root(doc), &cfg, err) == 0) {
        st_cons_config_defaults(&cfg);
        if (st_consumer_create(f->set, &cfg, now, false, &c, err) < 0)
            c = NULL;
        st_cons_config_free(&cfg);
    }
    dt_json_free(doc);
    return c;
}

/* API request; the response as a NUL-terminated string (static). */
static const char *
api(struct fx *f, const char *subj, const char *body, int64_t now)
{
    static struct dt_buf resp;
    struct st_api_cons_env env = { lookup, f };
    resp.len = 0;
    int rc = st_api_consumer_handle(&env, subj, strlen(subj), body,
                                    body ? strlen(body) : 0, "_INBOX.r", 8,
                                    now, &resp, &f->out);
    if (rc == ST_API_NO_REPLY)
        return "<no reply>";
    if (rc < 0)
        return "<error>";
    dt_buf_append(&resp, "", 1);
    return resp.data;
}

/* ---- outbox helpers --------------------------------------------------------- */

static char *
ostr(const struct st_outbox *o, uint32_t off, uint32_t len)
{
    static char bufs[8][4096];
    static unsigned k;
    char *b = bufs[k++ % 8];
    if (len >= sizeof(bufs[0]))
        len = sizeof(bufs[0]) - 1;
    memcpy(b, o->bytes.data + off, len);
    b[len] = '\0';
    return b;
}

static const char *
r_subj(struct fx *f, uint32_t i)
{
    const struct st_out_rec *r = &f->out.rec[i];
    return ostr(&f->out, r->subj_off, r->subj_len);
}

static const char *
r_reply(struct fx *f, uint32_t i)
{
    const struct st_out_rec *r = &f->out.rec[i];
    return ostr(&f->out, r->reply_off, r->reply_len);
}

static const char *
r_hdr(struct fx *f, uint32_t i)
{
    const struct st_out_rec *r = &f->out.rec[i];
    return ostr(&f->out, r->hdr_off, r->hdr_len);
}

static const char *
r_data(struct fx *f, uint32_t i)
{
    const struct st_out_rec *r = &f->out.rec[i];
    return ostr(&f->out, r->data_off, r->data_len);
}

static unsigned
count_kind(struct fx *f, enum st_out_kind k)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < f->out.n; i++)
        n += f->out.rec[i].kind == k;
    return n;
}

/* Index of the first record of kind k at or after `from`, or -1. */
static int
find_kind(struct fx *f, enum st_out_kind k, uint32_t from)
{
    for (uint32_t i = from; i < f->out.n; i++)
        if (f->out.rec[i].kind == k)
            return (int)i;
    return -1;
}

static int
run(struct fx *f, int64_t now)
{
    st_outbox_reset(&f->out);
    return st_cons_set_run(f->set, now, &f->out, 0);
}

static int
pull(struct fx *f, struct st_consumer *c, const char *reply, const char *body,
     int64_t now)
{
    st_outbox_reset(&f->out);
    int rc = st_consumer_pull(c, reply, strlen(reply), body, strlen(body),
                              now, &f->out);
    if (rc == 0)
        rc = st_cons_set_run(f->set, now, &f->out, 0);
    return rc;
}

static int
ack(struct fx *f, struct st_consumer *c, const char *ack_subj,
    const char *body, const char *reply, int64_t now)
{
    st_outbox_reset(&f->out);
    int rc = st_consumer_ack(c, ack_subj, strlen(ack_subj), body, strlen(body),
                             reply, reply ? strlen(reply) : 0, now, &f->out);
    if (rc == 0)
        rc = st_cons_set_run(f->set, now, &f->out, 0);
    return rc;
}

static struct st_cons_info
info(struct st_consumer *c, int64_t now)
{
    struct st_cons_info in;
    st_consumer_info(c, now, &in);
    return in;
}

static uint64_t
msg_seq(struct fx *f, uint32_t i)
{
    return f->out.rec[i].sseq;
}

/* ---- ack subjects and bodies -------------------------------------------------------- */

static void
test_ack_subject(void)
{
    char b[256];
    struct st_ack_meta m;
    int n = st_ack_format(b, sizeof(b), "P", 1, "C1", 2, 1, 2, 2,
                          1795690029561947487LL, 3);
    CHECK_STR(b, "$JS.ACK.P.C1.1.2.2.1795690029561947487.3");
    CHECK_INT(n, ==, (int)strlen(b));
    REQUIRE(st_ack_parse(b, (size_t)n, &m) == 0);
    CHECK_INT(m.delivered, ==, 1);
    CHECK_INT(m.sseq, ==, 2);
    CHECK_INT(m.dseq, ==, 2);
    CHECK_INT(m.ts, ==, 1795690029561947487LL);
    CHECK_INT(m.pending, ==, 3);
    CHECK(m.stream_len == 1 && memcmp(m.stream, "P", 1) == 0);
    CHECK(m.consumer_len == 2 && memcmp(m.consumer, "C1", 2) == 0);
    CHECK_INT(st_ack_format(b, 10, "P", 1, "C1", 2, 1, 2, 2, 3, 4), ==, -ENOSPC);
    static const char *bad[] = {
        "$JS.ACK.P.C1.1.2.2.3", "$JS.ACK.P.C1.1.2.2.3.4.5",
        "$JS.ACK.P.C1.x.2.2.3.4", "$JS.ACK.P..1.2.2.3.4", "$JS.NAK.P.C.1.2.2.3.4",
        "$JS.ACK.P.C.1.-2.2.3.4", "$JS.ACK.P.C.1.2.2.99999999999999999999.4", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_MSG(st_ack_parse(bad[i], strlen(bad[i]), &m) == -EINVAL, "%s", bad[i]);
out:;
}

static void
test_ack_body(void)
{
    struct st_ack_body b;
    st_ack_body_parse("", 0, &b);
    CHECK(b.kind == ST_ACK_ACK);
    st_ack_body_parse("+ACK", 4, &b);
    CHECK(b.kind == ST_ACK_ACK);
    st_ack_body_parse("+OK", 3, &b);
    CHECK(b.kind == ST_ACK_ACK);
    st_ack_body_parse("+WPI", 4, &b);
    CHECK(b.kind == ST_ACK_PROGRESS);
    st_ack_body_parse("+WPI x", 6, &b);
    CHECK(b.kind == ST_ACK_UNKNOWN);
    st_ack_body_parse("-NAK", 4, &b);
    CHECK(b.kind == ST_ACK_NAK && !b.has_delay);
    const char *nd = "-NAK {\"delay\": 500000000}";
    st_ack_body_parse(nd, strlen(nd), &b);
    CHECK(b.kind == ST_ACK_NAK && b.has_delay && b.delay == 500 * MS);
    st_ack_body_parse("-NAK 1.5s", 9, &b);
    CHECK(b.kind == ST_ACK_NAK && b.has_delay && b.delay == 1500 * MS);
    st_ack_body_parse("-NAK {bad", 9, &b);
    CHECK(b.kind == ST_ACK_NAK && !b.has_delay);
    st_ack_body_parse("+NXT {\"batch\":2}", 16, &b);
    CHECK(b.kind == ST_ACK_NEXT && b.arg_len == 11 && memcmp(b.arg, "{\"batch\":2}", 11) == 0);
    st_ack_body_parse("+TERM", 5, &b);
    CHECK(b.kind == ST_ACK_TERM && b.arg_len == 0);
    st_ack_body_parse("+TERM bad thing", 15, &b);
    CHECK(b.kind == ST_ACK_TERM && b.arg_len == 9);
    st_ack_body_parse("+TERMx", 6, &b);
    CHECK(b.kind == ST_ACK_UNKNOWN);
    st_ack_body_parse("hello", 5, &b);
    CHECK(b.kind == ST_ACK_UNKNOWN);
    int64_t d;
    CHECK(st_go_duration_parse("2h45m", 5, &d) == 0 && d == (2 * 3600 + 45 * 60) * SEC);
    CHECK(st_go_duration_parse("300ms", 5, &d) == 0 && d == 300 * MS);
    CHECK(st_go_duration_parse("-1.5h", 5, &d) == 0 && d == -5400 * SEC);
    CHECK(st_go_duration_parse("1\xc2\xb5s", 4, &d) == 0 && d == 1000);
    CHECK(st_go_duration_parse("0", 1, &d) == 0 && d == 0);
    CHECK(st_go_duration_parse("5", 1, &d) == -EINVAL);
    CHECK(st_go_duration_parse("5x", 2, &d) == -EINVAL);
    CHECK(st_go_duration_parse("", 0, &d) == -EINVAL);
    CHECK(st_go_duration_parse(".s", 2, &d) == -EINVAL);
    CHECK(st_go_duration_parse("9999999999h", 11, &d) == -ERANGE);
}

/* ---- config and API ------------------------------------------------------------------- */

static void
test_times(void)
{
    char b[64];
    int64_t ns;
    int32_t tz;
    CHECK(st_time_format(b, sizeof(b), T0, 0) > 0);
    CHECK_STR(b, "2026-11-26T10:47:09.562263049Z");
    CHECK(st_time_format(b, sizeof(b), 1577836800 * SEC + 500 * MS, 7200) > 0);
    CHECK_STR(b, "2020-01-01T02:00:00.5+02:00");
    CHECK(st_time_format(b, sizeof(b), 1577836800 * SEC, 0) > 0);
    CHECK_STR(b, "2020-01-01T00:00:00Z");
    const char *s = "2020-01-01T02:00:00.5+02:00";
    CHECK(st_time_parse(s, strlen(s), &ns, &tz) == 0);
    CHECK_INT(ns, ==, 1577836800 * SEC + 500 * MS);
    CHECK_INT(tz, ==, 7200);
    CHECK(st_time_parse("garbage", 7, &ns, &tz) < 0);
    CHECK(st_time_parse("2020-01-01T00:00:00", 19, &ns, &tz) < 0);
}

/* Every error answer below was captured from nats-server 2.9.10. */
static void
test_config_errors(void)
{
    struct fx f;
    static const struct { const char *subj, *body, *want; } cases[] = {
        { "$JS.API.CONSUMER.CREATE.S", "not json",
          "{\"code\":400,\"err_code\":10025,\"description\":\"invalid JSON\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "",
          "{\"code\":400,\"err_code\":10025,\"description\":\"invalid JSON\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"config\":{}}",
          "{\"code\":400,\"err_code\":10056,\"description\":\"stream name in subject does not match request\"}" },
        { "$JS.API.CONSUMER.CREATE.X", "{\"stream_name\":\"X\",\"config\":{}}",
          "{\"code\":404,\"err_code\":10059,\"description\":\"stream not found\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"flow_control\":true}}",
          "10089,\"description\":\"consumer flow control requires a push based consumer\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\",\"flow_control\":true}}",
          "10108,\"description\":\"consumer with flow control also needs heartbeats\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"backoff\":[1000000000,2000000000]}}",
          "10116,\"description\":\"max deliver is required to be \\u003e length of backoff values\"" },
        { "$JS.API.CONSUMER.DURABLE.CREATE.S.A", "{\"stream_name\":\"S\",\"config\":{}}",
          "10018,\"description\":\"consumer expected to be durable but a durable name was not set\"" },
        { "$JS.API.CONSUMER.DURABLE.CREATE.S.A", "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"B\"}}",
          "10017,\"description\":\"consumer name in subject does not match durable name in request\"" },
        { "$JS.API.CONSUMER.CREATE.S.A", "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"B\"}}",
          "10017,\"description\":\"consumer name in subject does not match durable name in request\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"A\"}}",
          "10020,\"description\":\"consumer expected to be ephemeral but a durable name was set in request\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"name\":\"a.b\"}}",
          "10103,\"description\":\"durable name can not contain '.', '*', '\\u003e'\"" },
        { "$JS.API.CONSUMER.DURABLE.CREATE.S.a/b", "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"a/b\"}}",
          "10127,\"description\":\"Consumer name can not contain path separators\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"bogus\"}}",
          "10025,\"description\":\"invalid JSON\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"ack_wait\":\"abc\"}}",
          "10025,\"description\":\"invalid JSON\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"max_deliver\":1.5}}",
          "10025,\"description\":\"invalid JSON\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"all\",\"opt_start_seq\":3}}",
          "10094,\"description\":\"consumer delivery policy is deliver all, but optional start sequence is also set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"by_start_sequence\"}}",
          "10094,\"description\":\"consumer delivery policy is deliver by start sequence, but optional start sequence is not set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"by_start_time\"}}",
          "10094,\"description\":\"consumer delivery policy is deliver by start time, but optional start time is not set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"last_per_subject\"}}",
          "10094,\"description\":\"consumer delivery policy is deliver last per subject, but optional filter subject is not set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"last\",\"opt_start_time\":\"2020-01-01T00:00:00Z\"}}",
          "10094,\"description\":\"consumer delivery policy is deliver last, but optional start time is also set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"new\",\"opt_start_seq\":1}}",
          "10094,\"description\":\"consumer delivery policy is deliver new, but optional start sequence is also set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"x.y\"}}",
          "10093,\"description\":\"consumer filter subject is not a valid subset of the interest subjects\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"s..y\"}}",
          "10093," },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.*\"}}",
          "10079,\"description\":\"consumer deliver subject has wildcards\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"s.x\"}}",
          "10081,\"description\":\"consumer deliver subject forms a cycle\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d..x\"}}",
          "10112,\"description\":\"invalid push consumer deliver subject\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\",\"max_waiting\":5}}",
          "10080,\"description\":\"consumer in push mode can not set max waiting\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\",\"max_ack_pending\":5}}",
          "10082,\"description\":\"consumer requires ack policy for max ack pending\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_subject\":\"d.x\",\"idle_heartbeat\":50000000}}",
          "10083,\"description\":\"consumer idle heartbeat needs to be \\u003e= 100ms\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"max_waiting\":-1}}",
          "10087,\"description\":\"consumer max waiting needs to be positive\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"idle_heartbeat\":5000000000}}",
          "10088,\"description\":\"consumer idle heartbeat requires a push based consumer\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"rate_limit_bps\":100}}",
          "10086,\"description\":\"consumer in pull mode can not have rate limit set\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"max_batch\":-1}}",
          "10114,\"description\":\"consumer max request batch needs to be \\u003e 0\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"max_expires\":10}}",
          "10115,\"description\":\"consumer max request expires needs to be \\u003e= 1ms\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"num_replicas\":3}}",
          "{\"code\":500,\"err_code\":10074,\"description\":\"replicas \\u003e 1 not supported in non-clustered mode\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"num_replicas\":-1}}",
          "10133,\"description\":\"replicas count cannot be negative\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"sample_freq\":\"abc\"}}",
          "10095,\"description\":\"failed to parse consumer sampling configuration: strconv.Atoi: parsing \\\"abc\\\": invalid syntax\"" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"direct\":true}}",
          "10090,\"description\":\"consumer direct requires a push based consumer\"" },
        { "$JS.API.CONSUMER.CREATE.S.N5.s.b", "{\"stream_name\":\"S\",\"config\":{\"name\":\"N5\",\"filter_subject\":\"s.a\"}}",
          "10131,\"description\":\"Consumer create request did not match filtered subject from create subject\"" },
        { "$JS.API.CONSUMER.INFO.S.XX", "",
          "{\"code\":404,\"err_code\":10014,\"description\":\"consumer not found\"}" },
        { "$JS.API.CONSUMER.INFO.S.XX", " ",
          "10038,\"description\":\"expected an empty request payload\"" },
        { "$JS.API.CONSUMER.INFO.NOSTREAM.D2", "",
          "10059,\"description\":\"stream not found\"" },
        { "$JS.API.CONSUMER.DURABLE.CREATE.S", "{}", "<no reply>" },
        { "$JS.API.CONSUMER.DURABLE.CREATE.S.A.B", "{}", "<no reply>" },
        { "$JS.API.CONSUMER.INFO.S", "", "<no reply>" },
        { "$JS.API.CONSUMER.CREATE", "{}", "<no reply>" },
    };
    REQUIRE(fx_open(&f, "S", "s.>", ST_RET_LIMITS, false) == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *r = api(&f, cases[i].subj, cases[i].body, T0);
        CHECK_CONTAINS(r, cases[i].want);
        if (strcmp(cases[i].want, "<no reply>") != 0)
            CHECK_CONTAINS(r, "{\"type\":\"io.nats.jetstream.api.v1.consumer_");
    }
    /* a description over 4096 bytes */
    char big[5200];
    int n = snprintf(big, sizeof(big), "{\"stream_name\":\"S\",\"config\":{\"description\":\"");
    memset(big + n, 'x', 5000);
    snprintf(big + n + 5000, sizeof(big) - (size_t)n - 5000, "\"}}");
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.CREATE.S", big, T0),
                   "10107,\"description\":\"consumer description is too long, maximum allowed is 4096\"");
    /* a name over 255 bytes */
    char lname[400], subj[500], body[600];
    memset(lname, 'd', 300);
    lname[300] = '\0';
    snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.DURABLE.CREATE.S.%s", lname);
    snprintf(body, sizeof(body), "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"%s\"}}", lname);
    CHECK_CONTAINS(api(&f, subj, body, T0),
                   "10102,\"description\":\"consumer name is too long, maximum allowed is 255\"");
    CHECK_INT(st_cons_set_count(f.set), ==, 0);
out:
    fx_close(&f);
}

static void
test_workqueue_rules(void)
{
    struct fx f;
    struct st_jserr e;
    REQUIRE(fx_open(&f, "W", "w.>", ST_RET_WORKQUEUE, false) == 0);
    CHECK(mk(&f, "{}", T0, &e) == NULL);
    CHECK_STR(e.description, "consumer in pull mode requires ack policy");
    CHECK(mk(&f, "{\"ack_policy\":\"all\"}", T0, &e) == NULL);
    CHECK_STR(e.description, "workqueue stream requires explicit ack");
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"deliver_policy\":\"new\"}", T0, &e) == NULL);
    CHECK_STR(e.description, "consumer must be deliver all on workqueue stream");
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W1\",\"filter_subject\":\"w.a.*\"}", T0, &e) != NULL);
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\"}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10099);
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\",\"filter_subject\":\"w.>\"}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10100);
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W3\",\"filter_subject\":\"w.b\"}", T0, &e) != NULL);
out:
    fx_close(&f);
}

/* The create response, byte for byte as nats-server 2.9.10 sent it. */
static void
test_api_create_json(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "P", "p.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 4; i++)
        pub(&f, "p.a", "m", T0);
    pub(&f, "p.b", "hello", T0);
    const char *r = api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.P.C1",
                        "{\"stream_name\":\"P\",\"config\":{\"durable_name\":\"C1\",\"ack_policy\":\"explicit\",\"max_waiting\":2,\"max_batch\":50,\"max_expires\":60000000000,\"max_bytes\":100000}}",
                        T0);
    CHECK_STR(r, "{\"type\":\"io.nats.jetstream.api.v1.consumer_create_response\",\"stream_name\":\"P\",\"name\":\"C1\",\"created\":\"2026-11-26T10:47:09.562263049Z\",\"config\":{\"durable_name\":\"C1\",\"deliver_policy\":\"all\",\"ack_policy\":\"explicit\",\"ack_wait\":30000000000,\"max_deliver\":-1,\"replay_policy\":\"instant\",\"max_waiting\":2,\"max_ack_pending\":1000,\"max_batch\":50,\"max_expires\":60000000000,\"max_bytes\":100000,\"num_replicas\":0},\"delivered\":{\"consumer_seq\":0,\"stream_seq\":0},\"ack_floor\":{\"consumer_seq\":0,\"stream_seq\":0},\"num_ack_pending\":0,\"num_redelivered\":0,\"num_waiting\":0,\"num_pending\":5}");
    /* an ephemeral with an empty config: ack none, no ack_wait, 5 s threshold */
    r = api(&f, "$JS.API.CONSUMER.CREATE.P", "{\"stream_name\":\"P\",\"config\":{}}", T0);
    CHECK_CONTAINS(r, "\"config\":{\"deliver_policy\":\"all\",\"ack_policy\":\"none\",\"max_deliver\":-1,\"replay_policy\":\"instant\",\"max_waiting\":512,\"inactive_threshold\":5000000000,\"num_replicas\":0},\"delivered\"");
    /* push with heartbeats, flow control, a group; push_bound */
    r = api(&f, "$JS.API.CONSUMER.CREATE.P.H", "{\"stream_name\":\"P\",\"config\":{\"deliver_subject\":\"d.x\",\"idle_heartbeat\":5000000000,\"flow_control\":true,\"deliver_group\":\"g\"}}", T0);
    CHECK_CONTAINS(r, "\"config\":{\"name\":\"H\",\"deliver_policy\":\"all\",\"ack_policy\":\"none\",\"max_deliver\":-1,\"replay_policy\":\"instant\",\"idle_heartbeat\":5000000000,\"flow_control\":true,\"deliver_subject\":\"d.x\",\"deliver_group\":\"g\",\"inactive_threshold\":5000000000,\"num_replicas\":0}");
    CHECK_CONTAINS(r, "\"num_pending\":5,\"push_bound\":true}");
    /* unknown members (metadata) are ignored, as in 2.9.10;
     * filter_subjects (2.10) is echoed after filter_subject's place */
    r = api(&f, "$JS.API.CONSUMER.CREATE.P", "{\"stream_name\":\"P\",\"config\":{\"max_batch\":10,\"max_expires\":10000000000,\"max_bytes\":1000,\"headers_only\":true,\"description\":\"hi\",\"inactive_threshold\":60000000000,\"num_replicas\":1,\"mem_storage\":true,\"metadata\":{\"a\":\"b\"},\"filter_subjects\":[\"p.a\"],\"ack_policy\":\"all\",\"max_ack_pending\":-1}}", T0);
    CHECK_CONTAINS(r, "\"config\":{\"description\":\"hi\",\"deliver_policy\":\"all\",\"ack_policy\":\"all\",\"ack_wait\":30000000000,\"max_deliver\":-1,\"filter_subjects\":[\"p.a\"],\"replay_policy\":\"instant\",\"max_waiting\":512,\"max_ack_pending\":-1,\"headers_only\":true,\"max_batch\":10,\"max_expires\":10000000000,\"max_bytes\":1000,\"inactive_threshold\":60000000000,\"num_replicas\":1,\"mem_storage\":true}");
    /* opt_start_time keeps its zone */
    r = api(&f, "$JS.API.CONSUMER.CREATE.P", "{\"stream_name\":\"P\",\"config\":{\"deliver_policy\":\"by_start_time\",\"opt_start_time\":\"2020-01-01T02:00:00.5+02:00\"}}", T0);
    CHECK_CONTAINS(r, "\"deliver_policy\":\"by_start_time\",\"opt_start_time\":\"2020-01-01T02:00:00.5+02:00\",\"ack_policy\":\"none\"");
    CHECK_CONTAINS(r, "\"num_pending\":5");
    /* by_start_sequence: delivered.stream_seq is start - 1, ack floor 0 */
    r = api(&f, "$JS.API.CONSUMER.CREATE.P", "{\"stream_name\":\"P\",\"config\":{\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":3}}", T0);
    CHECK_CONTAINS(r, "\"delivered\":{\"consumer_seq\":0,\"stream_seq\":2},\"ack_floor\":{\"consumer_seq\":0,\"stream_seq\":0},\"num_ack_pending\":0,\"num_redelivered\":0,\"num_waiting\":0,\"num_pending\":3}");
out:
    fx_close(&f);
}

static void
test_api_manage(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "U", "u.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 3; i++)
        pub(&f, "u.a", "m", T0);
    const char *base = "{\"stream_name\":\"U\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"filter_subject\":\"u.a\"}}";
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.U.D", base, T0), "\"name\":\"D\"");
    /* the same config again: the existing consumer */
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.U.D", base, T0 + SEC), "\"created\":\"2026-11-26T10:47:09.562263049Z\"");
    CHECK_INT(f.created, ==, 1);
    /* allowed updates */
    const char *r = api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.U.D", "{\"stream_name\":\"U\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"filter_subject\":\"u.*\",\"description\":\"new\",\"max_ack_pending\":5,\"ack_wait\":2000000000}}", T0);
    CHECK_CONTAINS(r, "\"config\":{\"durable_name\":\"D\",\"description\":\"new\",\"deliver_policy\":\"all\",\"ack_policy\":\"explicit\",\"ack_wait\":2000000000,\"max_deliver\":-1,\"filter_subject\":\"u.*\",\"replay_policy\":\"instant\",\"max_waiting\":512,\"max_ack_pending\":5,\"num_replicas\":0}");
    /* refused updates */
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.U.D", "{\"stream_name\":\"U\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"deliver_policy\":\"new\"}}", T0),
                   "{\"code\":500,\"err_code\":10012,\"description\":\"deliver policy can not be updated\"}");
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.U.D", "{\"stream_name\":\"U\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"all\"}}", T0),
                   "\"description\":\"ack policy can not be updated\"");
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.U.D", "{\"stream_name\":\"U\",\"config\":{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"deliver_subject\":\"x.y\"}}", T0),
                   "\"description\":\"max waiting can not be updated\"");
    /* named create with a filter in the subject; subject name wins */
    r = api(&f, "$JS.API.CONSUMER.CREATE.U.E.u.a", "{\"stream_name\":\"U\",\"config\":{\"name\":\"Z\",\"ack_policy\":\"explicit\",\"filter_subject\":\"u.a\"}}", T0);
    CHECK_CONTAINS(r, "\"name\":\"E\",\"created\"");
    CHECK_CONTAINS(r, "\"config\":{\"name\":\"E\",");
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.CREATE.U.E.u.a", "{\"stream_name\":\"U\",\"config\":{\"ack_policy\":\"explicit\"}}", T0), "10131");
    /* durable via the named endpoint: both names */
    r = api(&f, "$JS.API.CONSUMER.CREATE.U.A", "{\"stream_name\":\"U\",\"config\":{\"durable_name\":\"A\"}}", T0);
    CHECK_CONTAINS(r, "\"config\":{\"durable_name\":\"A\",\"name\":\"A\",\"deliver_policy\":\"all\"");
    /* names / list with offsets */
    CHECK_STR(api(&f, "$JS.API.CONSUMER.NAMES.U", "", T0),
              "{\"type\":\"io.nats.jetstream.api.v1.consumer_names_response\",\"total\":3,\"offset\":0,\"limit\":1024,\"consumers\":[\"A\",\"D\",\"E\"]}");
    CHECK_STR(api(&f, "$JS.API.CONSUMER.NAMES.U", "{\"offset\":5}", T0),
              "{\"type\":\"io.nats.jetstream.api.v1.consumer_names_response\",\"total\":3,\"offset\":3,\"limit\":1024,\"consumers\":[]}");
    CHECK_STR(api(&f, "$JS.API.CONSUMER.NAMES.U", "bad", T0),
              "{\"type\":\"io.nats.jetstream.api.v1.consumer_names_response\",\"error\":{\"code\":400,\"err_code\":10025,\"description\":\"invalid JSON\"},\"total\":0,\"offset\":0,\"limit\":0,\"consumers\":[]}");
    CHECK_STR(api(&f, "$JS.API.CONSUMER.LIST.NOPE", "", T0),
              "{\"type\":\"io.nats.jetstream.api.v1.consumer_list_response\",\"error\":{\"code\":404,\"err_code\":10059,\"description\":\"stream not found\"},\"total\":0,\"offset\":0,\"limit\":0,\"consumers\":[]}");
    r = api(&f, "$JS.API.CONSUMER.LIST.U", "{\"offset\":2}", T0);
    CHECK_CONTAINS(r, "{\"type\":\"io.nats.jetstream.api.v1.consumer_list_response\",\"total\":3,\"offset\":2,\"limit\":256,\"consumers\":[{\"stream_name\":\"U\",\"name\":\"E\",");
    CHECK(strstr(r, "\"name\":\"D\"") == NULL);
    /* info with {} is fine; delete */
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.INFO.U.D", "{}", T0), "consumer_info_response\",\"stream_name\":\"U\",\"name\":\"D\"");
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DELETE.U.E", "x", T0), "10038");
    CHECK_STR(api(&f, "$JS.API.CONSUMER.DELETE.U.E", "", T0),
              "{\"type\":\"io.nats.jetstream.api.v1.consumer_delete_response\",\"success\":true}");
    CHECK_STR(api(&f, "$JS.API.CONSUMER.DELETE.U.E", "", T0),
              "{\"type\":\"io.nats.jetstream.api.v1.consumer_delete_response\",\"error\":{\"code\":404,\"err_code\":10014,\"description\":\"consumer not found\"}}");
    CHECK_INT(f.deleted, ==, 1);
    /* max consumers */
    f.s.max_consumers = 2;
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.CREATE.U", "{\"stream_name\":\"U\",\"config\":{}}", T0),
                   "{\"code\":400,\"err_code\":10026,\"description\":\"maximum consumers limit reached\"}");
out:
    fx_close(&f);
}

/* ---- deliver policies ------------------------------------------------------------------ */

static uint64_t
first_delivery(struct fx *f, struct st_consumer *c, int64_t now)
{
    if (pull(f, c, "in.1", "{\"batch\":1}", now) < 0 || f->out.n < 1
        || f->out.rec[0].kind != ST_OUT_MSG)
        return 0;
    return msg_seq(f, 0);
}

static void
test_deliver_policies(void)
{
    struct fx f;
    struct st_consumer *c;
    REQUIRE(fx_open(&f, "S", "s.>", ST_RET_LIMITS, false) == 0);
    /* 1 s.a, 2 s.b, 3 s.a, 4 s.b, 5 s.a, one per second from T0 */
    for (int i = 0; i < 5; i++)
        pub(&f, i % 2 ? "s.b" : "s.a", "m", T0 + i * SEC);
    c = mk(&f, "{\"name\":\"all\"}", T0, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 5);
    CHECK_INT(first_delivery(&f, c, T0), ==, 1);
    c = mk(&f, "{\"name\":\"last\",\"deliver_policy\":\"last\"}", T0, NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 1);
    CHECK_INT(first_delivery(&f, c, T0), ==, 5);
    c = mk(&f, "{\"name\":\"lastf\",\"deliver_policy\":\"last\",\"filter_subject\":\"s.b\"}", T0, NULL);
    CHECK_INT(first_delivery(&f, c, T0), ==, 4);
    c = mk(&f, "{\"name\":\"new\",\"deliver_policy\":\"new\"}", T0, NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    CHECK_INT(first_delivery(&f, c, T0), ==, 0);
    /* the request waits; a new message is delivered to it */
    st_outbox_reset(&f.out);
    pub(&f, "s.c", "late", T0 + 10 * SEC);
    CHECK_INT(run(&f, T0 + 10 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(f.out.n ? msg_seq(&f, 0) : 0, ==, 6);
    c = mk(&f, "{\"name\":\"seq\",\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":3}", T0, NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 4);
    CHECK_INT(first_delivery(&f, c, T0), ==, 3);
    c = mk(&f, "{\"name\":\"time\",\"deliver_policy\":\"by_start_time\",\"opt_start_time\":\"2026-11-26T10:47:11.9Z\"}", T0, NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 3);
    CHECK_INT(first_delivery(&f, c, T0), ==, 4);
    c = mk(&f, "{\"name\":\"far\",\"deliver_policy\":\"by_start_time\",\"opt_start_time\":\"2099-01-01T00:00:00Z\"}", T0, NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    /* last per subject over s.*: 5 (s.a) and 4 (s.b), then new ones */
    c = mk(&f, "{\"name\":\"lps\",\"deliver_policy\":\"last_per_subject\",\"filter_subject\":\"s.*\"}", T0, NULL);
    REQUIRE(c != NULL);
    struct st_cons_info in = info(c, T0);
    CHECK_INT(in.num_pending, ==, 3);               /* s.a, s.b, s.c */
    CHECK_INT(in.delivered.stream_seq, ==, 3);
    CHECK_INT(pull(&f, c, "in.2", "{\"batch\":10,\"no_wait\":true}", T0), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 3);
    CHECK_INT(msg_seq(&f, 0), ==, 4);
    CHECK_INT(msg_seq(&f, 1), ==, 5);
    CHECK_INT(msg_seq(&f, 2), ==, 6);
    pub(&f, "s.a", "again", T0 + 20 * SEC);
    CHECK_INT(info(c, T0).num_pending, ==, 1);
    CHECK_INT(first_delivery(&f, c, T0 + 20 * SEC), ==, 7);
out:
    fx_close(&f);
}

/* ---- acks ---------------------------------------------------------------------------------- */

/* A pull consumer with its first n messages delivered into f->out. */
static struct st_consumer *
setup_acks(struct fx *f, const char *cfg, int msgs, int batch)
{
    char body[64];
    REQUIRE(fx_open(f, "Q", "q.>", ST_RET_INTEREST, false) == 0);
    for (int i = 0; i < msgs; i++)
        pub(f, "q.a", "m", T0 + i);
    struct st_consumer *c = mk(f, cfg, T0, NULL);
    REQUIRE(c != NULL);
    snprintf(body, sizeof(body), "{\"batch\":%d}", batch);
    REQUIRE(pull(f, c, "in.1", body, T0) == 0);
    return c;
out:
    return NULL;
}

static void
test_ack_explicit(void)
{
    struct fx f;
    char a1[128], a2[128], a3[128];
    struct st_consumer *c = setup_acks(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"explicit\"}", 3, 3);
    REQUIRE(c != NULL);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 3);
    CHECK_STR(r_subj(&f, 0), "in.1");
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.Q.D.1.1.1.1795690029562263049.2");
    CHECK_STR(r_reply(&f, 2), "$JS.ACK.Q.D.1.3.3.1795690029562263051.0");
    CHECK_STR(r_data(&f, 0), "m");
    snprintf(a1, sizeof(a1), "%s", r_reply(&f, 0));
    snprintf(a2, sizeof(a2), "%s", r_reply(&f, 1));
    snprintf(a3, sizeof(a3), "%s", r_reply(&f, 2));
    struct st_cons_info in = info(c, T0);
    CHECK_INT(in.num_ack_pending, ==, 3);
    CHECK_INT(in.delivered.consumer_seq, ==, 3);
    CHECK_INT(in.ack_floor.stream_seq, ==, 0);
    /* out of order: the floor waits for 1 */
    CHECK(ack(&f, c, a2, "+ACK", "in.ackack", T0 + MS) == 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK(f.out.n == 1 && f.out.rec[0].kind == ST_OUT_REPLY);
    CHECK_STR(r_subj(&f, 0), "in.ackack");
    CHECK_INT(f.out.n ? f.out.rec[0].data_len : 9, ==, 0);
    in = info(c, T0);
    CHECK_INT(in.num_ack_pending, ==, 2);
    CHECK_INT(in.ack_floor.consumer_seq, ==, 0);
    CHECK_INT(in.ack_floor.last_active, ==, T0 + MS);
    CHECK(ack(&f, c, a1, "", NULL, T0 + MS) == 0);
    in = info(c, T0);
    CHECK_INT(in.ack_floor.consumer_seq, ==, 2);
    CHECK_INT(in.ack_floor.stream_seq, ==, 2);
    CHECK(ack(&f, c, a3, "+OK", NULL, T0 + MS) == 0);
    in = info(c, T0);
    CHECK_INT(in.ack_floor.consumer_seq, ==, 3);
    CHECK_INT(in.num_ack_pending, ==, 0);
    /* interest retention: the stream was told 2, 1, 3 */
    CHECK_INT(f.nacked, ==, 3);
    CHECK(f.acked[0] == 2 && f.acked[1] == 1 && f.acked[2] == 3);
    CHECK(!st_consumer_needs_ack(c, 2, "q.a", 3));
    CHECK(st_consumer_needs_ack(c, 4, "q.a", 3));
    /* a malformed ack subject is refused */
    CHECK(ack(&f, c, "$JS.ACK.Q.D.1.2", "", NULL, T0) == -EINVAL);
out:
    fx_close(&f);
}

static void
test_nak_term_wpi(void)
{
    struct fx f;
    char a[3][128];
    struct st_consumer *c = setup_acks(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"ack_wait\":5000000000}", 3, 10);
    REQUIRE(c != NULL);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 3);
    for (int i = 0; i < 3; i++)
        snprintf(a[i], sizeof(a[i]), "%s", r_reply(&f, (uint32_t)i));
    /* NAK: redelivered at once to the waiting request (7 more wanted) */
    CHECK(ack(&f, c, a[0], "-NAK", NULL, T0 + SEC) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.Q.D.2.1.4.1795690029562263049.0");
    CHECK_INT(info(c, T0).num_redelivered, ==, 1);
    /* NAK with a delay: due 500 ms later */
    CHECK(ack(&f, c, a[1], "-NAK {\"delay\": 500000000}", NULL, T0 + SEC) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    CHECK_INT(st_consumer_next_timer(c), <=, T0 + SEC + 500 * MS);
    CHECK_INT(run(&f, T0 + SEC + 499 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    CHECK_INT(run(&f, T0 + SEC + 500 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(f.out.n ? msg_seq(&f, 0) : 0, ==, 2);
    /* TERM with a reason: never redelivered */
    CHECK(ack(&f, c, a[2], "+TERM bad thing", NULL, T0 + 2 * SEC) == 0);
    CHECK_INT(info(c, T0).num_ack_pending, ==, 2);
    /* WPI pushes the deadline of 1 (redelivered at T0+1s, wait 5 s) */
    char a1[128];
    snprintf(a1, sizeof(a1), "$JS.ACK.Q.D.2.1.4.1795690029562263049.0");
    CHECK(ack(&f, c, a1, "+WPI", "in.wpi", T0 + 5 * SEC) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_REPLY), ==, 1);
    CHECK_INT(run(&f, T0 + 6 * SEC + 100 * MS), ==, 0);
    /* 2 is due (redelivered at 1.5 s + 5 s = 6.5 s), 1 not (5 + 5 s) */
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    CHECK_INT(run(&f, T0 + 6 * SEC + 600 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(f.out.n ? msg_seq(&f, 0) : 0, ==, 2);
    CHECK_INT(run(&f, T0 + 10 * SEC + 2 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(f.out.n ? msg_seq(&f, 0) : 0, ==, 1);
    CHECK_INT(info(c, T0).num_redelivered, ==, 2);
out:
    fx_close(&f);
}

static void
test_ack_next(void)
{
    struct fx f;
    char a[128];
    struct st_consumer *c = setup_acks(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"explicit\"}", 3, 1);
    REQUIRE(c != NULL);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 1);
    snprintf(a, sizeof(a), "%s", r_reply(&f, 0));
    CHECK(ack(&f, c, a, "+NXT", "in.4", T0 + MS) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_REPLY), ==, 0);     /* no ack of the ack */
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 1);
    CHECK_STR(r_subj(&f, 0), "in.4");
    CHECK_INT(msg_seq(&f, 0), ==, 2);
    snprintf(a, sizeof(a), "%s", r_reply(&f, 0));
    CHECK(ack(&f, c, a, "+NXT {\"batch\":2, \"no_wait\": true}", "in.5", T0 + MS) == 0);
    CHECK_INT(f.out.n, ==, 2);
    CHECK_INT(f.out.n ? msg_seq(&f, 0) : 0, ==, 3);
    CHECK_STR(r_hdr(&f, 1), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 0\r\n\r\n");
    CHECK_INT(info(c, T0).ack_floor.stream_seq, ==, 2);
out:
    fx_close(&f);
}

static void
test_ack_all_and_none(void)
{
    struct fx f;
    char a2[128];
    struct st_consumer *c = setup_acks(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"all\"}", 4, 4);
    REQUIRE(c != NULL);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 4);
    snprintf(a2, sizeof(a2), "%s", r_reply(&f, 2));
    CHECK(ack(&f, c, a2, "", NULL, T0 + MS) == 0);
    struct st_cons_info in = info(c, T0);
    CHECK_INT(in.ack_floor.consumer_seq, ==, 3);
    CHECK_INT(in.ack_floor.stream_seq, ==, 3);
    CHECK_INT(in.num_ack_pending, ==, 1);
    CHECK_INT(f.nacked, ==, 3);                 /* 1..3 */
    CHECK(f.acked[0] == 1 && f.acked[2] == 3);
    /* acking below the floor does nothing */
    CHECK(ack(&f, c, "$JS.ACK.Q.D.1.1.1.1.1", "", NULL, T0 + MS) == 0);
    CHECK_INT(f.nacked, ==, 3);
    fx_close(&f);
    /* ack none: the floor follows deliveries, acks are ignored (but
     * answered), interest streams are told on delivery */
    c = setup_acks(&f, "{\"name\":\"N\",\"filter_subject\":\"q.a\"}", 3, 2);
    REQUIRE(c != NULL);
    in = info(c, T0);
    CHECK_INT(in.ack_floor.stream_seq, ==, 2);
    CHECK_INT(in.num_ack_pending, ==, 0);
    CHECK_INT(in.num_pending, ==, 1);
    CHECK_INT(f.nacked, ==, 2);
    CHECK(ack(&f, c, "$JS.ACK.Q.N.1.1.1.1.1", "+ACK", "in.8", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_REPLY), ==, 1);
out:
    fx_close(&f);
}

static void
test_redelivery_backoff_maxdeliver(void)
{
    struct fx f;
    /* ack_wait 1 s, max_deliver 3 */
    struct st_consumer *c = setup_acks(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"ack_wait\":1000000000,\"max_deliver\":3}", 2, 100);
    REQUIRE(c != NULL);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 2);
    CHECK_INT(run(&f, T0 + 999 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    CHECK_INT(st_cons_set_next_timer(f.set), ==, T0 + SEC);
    CHECK_INT(run(&f, T0 + SEC), ==, 0);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 2);
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.Q.D.2.1.3.1795690029562263049.0");
    CHECK_STR(r_reply(&f, 1), "$JS.ACK.Q.D.2.2.4.1795690029562263050.0");
    CHECK_INT(run(&f, T0 + 2 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.Q.D.3.1.5.1795690029562263049.0");
    /* the 4th delivery would pass max_deliver: nothing more */
    CHECK_INT(run(&f, T0 + 3 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    struct st_cons_info in = info(c, T0);
    CHECK_INT(in.num_ack_pending, ==, 0);
    CHECK_INT(in.num_redelivered, ==, 2);       /* as nats-server */
    CHECK_INT(in.delivered.consumer_seq, ==, 6);
    CHECK_INT(run(&f, T0 + 60 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    fx_close(&f);

    /* backoff 300 ms, 1.2 s (repeats), max_deliver 4 */
    c = setup_acks(&f, "{\"durable_name\":\"B\",\"ack_policy\":\"explicit\",\"backoff\":[300000000,1200000000],\"max_deliver\":4}", 1, 100);
    REQUIRE(c != NULL);
    CHECK_INT(st_consumer_config(c)->ack_wait, ==, 300 * MS);
    int64_t at[] = { 300 * MS, 1500 * MS, 2700 * MS };
    for (int i = 0; i < 3; i++) {
        CHECK_INT(run(&f, T0 + at[i] - 1), ==, 0);
        CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
        CHECK_INT(run(&f, T0 + at[i]), ==, 0);
        CHECK_MSG(count_kind(&f, ST_OUT_MSG) == 1, "backoff delivery %d", i + 2);
    }
    in = info(c, T0);
    CHECK_INT(in.num_ack_pending, ==, 1);
    CHECK_INT(in.num_redelivered, ==, 1);
    CHECK_INT(run(&f, T0 + 3900 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    CHECK_INT(info(c, T0).num_ack_pending, ==, 0);
out:
    fx_close(&f);
}

static void
test_max_ack_pending(void)
{
    struct fx f;
    char a[128];
    struct st_consumer *c = setup_acks(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"max_ack_pending\":2}", 5, 5);
    REQUIRE(c != NULL);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    snprintf(a, sizeof(a), "%s", r_reply(&f, 0));
    CHECK_INT(info(c, T0).num_waiting, ==, 1);
    CHECK(ack(&f, c, a, "", NULL, T0 + MS) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(f.out.n ? msg_seq(&f, 0) : 0, ==, 3);
    CHECK_INT(info(c, T0).num_ack_pending, ==, 2);
    /* a no_wait request while blocked by max_ack_pending stays queued */
    CHECK_INT(info(c, T0).num_pending, ==, 2);
out:
    fx_close(&f);
}

/* ---- filters and num_pending ------------------------------------------------------------ */

static void
test_filter_num_pending(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "F", "f.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 10; i++)
        pub(&f, i % 3 == 0 ? "f.a.x" : i % 3 == 1 ? "f.b.x" : "f.a.y", "m", T0);
    struct st_consumer *lit = mk(&f, "{\"name\":\"lit\",\"filter_subject\":\"f.a.x\"}", T0, NULL);
    struct st_consumer *wc = mk(&f, "{\"name\":\"wc\",\"filter_subject\":\"f.a.*\"}", T0, NULL);
    struct st_consumer *all = mk(&f, "{\"name\":\"all\"}", T0, NULL);
    REQUIRE(lit && wc && all);
    CHECK_INT(info(lit, T0).num_pending, ==, 4);        /* 1 4 7 10 */
    CHECK_INT(info(wc, T0).num_pending, ==, 7);
    CHECK_INT(info(all, T0).num_pending, ==, 10);
    REQUIRE(pull(&f, wc, "in.w", "{\"batch\":3}", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 3);
    CHECK_INT(msg_seq(&f, 1), ==, 3);
    CHECK_STR(r_reply(&f, 2), "$JS.ACK.F.wc.1.4.3.1795690029562263049.4");
    CHECK_INT(info(wc, T0).num_pending, ==, 4);
    /* new messages count for the consumers they match */
    pub(&f, "f.a.x", "m", T0);
    pub(&f, "f.b.z", "m", T0);
    CHECK_INT(info(lit, T0).num_pending, ==, 5);
    CHECK_INT(info(wc, T0).num_pending, ==, 5);
    CHECK_INT(info(all, T0).num_pending, ==, 12);
    /* removal of an undelivered matching message */
    REQUIRE(st_store_delete(f.st, 10) == 0);
    st_cons_set_on_remove(f.set, 10, "f.a.x", 5, T0);
    CHECK_INT(info(lit, T0).num_pending, ==, 4);
    CHECK_INT(info(wc, T0).num_pending, ==, 4);
    CHECK_INT(info(all, T0).num_pending, ==, 11);
    /* a recount from the store agrees with the running counts */
    CHECK_INT(st_consumer_update(wc, st_consumer_config(wc), T0, NULL), ==, 0);
    struct st_cons_config cc;
    REQUIRE(st_cons_config_copy(&cc, st_consumer_config(wc)) == 0);
    cc.max_ack_pending = 7;             /* an update recounts */
    CHECK_INT(st_consumer_update(wc, &cc, T0, NULL), ==, 0);
    st_cons_config_free(&cc);
    CHECK_INT(info(wc, T0).num_pending, ==, 4);
    /* purge below 8: pending follows, delivered moves up */
    uint64_t purged;
    struct st_purge p = { .seq = 8 };
    REQUIRE(st_store_purge(f.st, &p, &purged) == 0);
    st_cons_set_on_purge(f.set, 8, 12, T0);
    struct st_cons_info in = info(wc, T0);
    CHECK_INT(in.num_pending, ==, 2);           /* 9 f.a.y, 11 f.a.x */
    CHECK_INT(in.delivered.stream_seq, ==, 7);
    CHECK_INT(in.ack_floor.stream_seq, ==, 7);
    CHECK_INT(info(all, T0).num_pending, ==, 4);
out:
    fx_close(&f);
}

/* ---- pull requests ------------------------------------------------------------------------ */

static void
test_pull_statuses(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "P", "p.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 4; i++)
        pub(&f, "p.a", "m0", T0);
    pub_h(&f, "p.b", "NATS/1.0\r\nX: y\r\n\r\n", "hello", T0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"C1\",\"ack_policy\":\"explicit\",\"max_waiting\":2,\"max_batch\":50,\"max_expires\":60000000000,\"max_bytes\":100000}", T0, NULL);
    REQUIRE(c != NULL);
    /* batch 2 */
    CHECK(pull(&f, c, "in.1", "{\"batch\":2}", T0) == 0);
    CHECK_INT(f.out.n, ==, 2);
    CHECK_INT(info(c, T0).num_waiting, ==, 0);
    /* no_wait with 3 left of 10: 3 messages then 408 with 7 */
    CHECK(pull(&f, c, "in.2", "{\"batch\":10,\"no_wait\":true}", T0) == 0);
    REQUIRE(f.out.n == 4);
    CHECK_STR(r_hdr(&f, 2), "NATS/1.0\r\nX: y\r\n\r\n");
    CHECK_STR(r_data(&f, 2), "hello");
    CHECK_STR(r_subj(&f, 3), "in.2");
    CHECK_STR(r_hdr(&f, 3), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 7\r\nNats-Pending-Bytes: 0\r\n\r\n");
    CHECK(f.out.rec[3].kind == ST_OUT_STATUS && f.out.rec[3].data_len == 0);
    /* no_wait, nothing */
    CHECK(pull(&f, c, "in.3", "{\"batch\":10,\"no_wait\":true}", T0) == 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 404 No Messages\r\n\r\n");
    /* expires */
    CHECK(pull(&f, c, "in.4", "{\"batch\":10,\"expires\":300000000}", T0) == 0);
    CHECK_INT(f.out.n, ==, 0);
    CHECK_INT(info(c, T0).num_waiting, ==, 1);
    CHECK_INT(st_cons_set_next_timer(f.set), ==, T0 + 300 * MS);
    CHECK_INT(run(&f, T0 + 300 * MS), ==, 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_STR(r_subj(&f, 0), "in.4");
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 10\r\nNats-Pending-Bytes: 0\r\n\r\n");
    /* limits */
    CHECK(pull(&f, c, "in.5", "{\"batch\":100}", T0) == 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Exceeded MaxRequestBatch of 50\r\n\r\n");
    CHECK(pull(&f, c, "in.6", "{\"batch\":1,\"expires\":120000000000}", T0) == 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Exceeded MaxRequestExpires of 1m0s\r\n\r\n");
    CHECK(pull(&f, c, "in.7", "{\"batch\":1,\"max_bytes\":200000}", T0) == 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Exceeded MaxRequestMaxBytes of 100000\r\n\r\n");
    CHECK(pull(&f, c, "in.9", "{\"batch\":1,\"expires\":1000000000,\"idle_heartbeat\":800000000}", T0) == 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n");
    CHECK(pull(&f, c, "in.x", "{\"batch\":\"x\"}", T0) == 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 400 Bad Request - json: cannot unmarshal string into Go struct field JSApiConsumerGetNextRequest.batch of type int\r\n\r\n");
    CHECK(pull(&f, c, "in.8", "{bad", T0) == 0);
    CHECK_CONTAINS(r_hdr(&f, 0), "NATS/1.0 400 Bad Request - ");
    /* max waiting 2 */
    CHECK(pull(&f, c, "in.w0", "{\"batch\":1,\"expires\":2000000000}", T0) == 0);
    CHECK(pull(&f, c, "in.w1", "{\"batch\":1,\"expires\":2000000000}", T0) == 0);
    CHECK(pull(&f, c, "in.w2", "{\"batch\":1,\"expires\":2000000000}", T0) == 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n");
    CHECK_INT(info(c, T0).num_waiting, ==, 2);
    CHECK_INT(run(&f, T0 + 2 * SEC), ==, 0);
    CHECK_INT(f.out.n, ==, 2);
    CHECK_STR(r_hdr(&f, 1), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 0\r\n\r\n");
    /* a request with heartbeats: two heartbeats, then the timeout */
    CHECK(pull(&f, c, "in.h", "{\"batch\":1,\"expires\":1500000000,\"idle_heartbeat\":500000000}", T0) == 0);
    CHECK_INT(run(&f, T0 + 500 * MS), ==, 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK(f.out.n == 1 && f.out.rec[0].kind == ST_OUT_HEARTBEAT);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\nNats-Last-Stream: 5\r\n\r\n");
    CHECK_INT(run(&f, T0 + 1000 * MS), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_HEARTBEAT), ==, 1);
    CHECK_INT(run(&f, T0 + 1500 * MS), ==, 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_CONTAINS(r_hdr(&f, 0), "408 Request Timeout");
    /* a waiting request gets a new message, then times out for the rest */
    CHECK(pull(&f, c, "in.x", "{\"batch\":3,\"expires\":1000000000}", T0 + 2 * SEC) == 0);
    st_outbox_reset(&f.out);
    pub(&f, "p.c", "new1", T0 + 2 * SEC);
    CHECK_INT(run(&f, T0 + 2 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(run(&f, T0 + 3 * SEC), ==, 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n");
    /* max_bytes: too small for the next message; then room for two */
    pub(&f, "p.c", "new2", T0 + 3 * SEC);
    pub(&f, "p.c", "new3", T0 + 3 * SEC);
    CHECK(pull(&f, c, "in.mb", "{\"batch\":5,\"max_bytes\":10}", T0 + 3 * SEC) == 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 5\r\nNats-Pending-Bytes: 10\r\n\r\n");
    CHECK(pull(&f, c, "in.mb2", "{\"batch\":5,\"max_bytes\":120}", T0 + 3 * SEC) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    CHECK_INT(info(c, T0).num_waiting, ==, 1);
    /* plain number and empty bodies (batch n / 1) */
    pub(&f, "p.c", "n1", T0 + 4 * SEC);
    pub(&f, "p.c", "n2", T0 + 4 * SEC);
    /* in.mb2 has 26 bytes left: the next message ends it */
    CHECK_INT(run(&f, T0 + 4 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_STR(r_subj(&f, 0), "in.mb2");
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Message Size Exceeds MaxBytes\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 26\r\n\r\n");
    CHECK(pull(&f, c, "in.n1", "2", T0 + 4 * SEC) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    CHECK_STR(r_subj(&f, 1), "in.n1");
    /* push-based consumers refuse pulls */
    struct st_consumer *p = mk(&f, "{\"name\":\"push\",\"deliver_subject\":\"dp.x\"}", T0, NULL);
    REQUIRE(p != NULL);
    CHECK(pull(&f, p, "in.p", "", T0) == 0);
    CHECK_STR(r_hdr(&f, find_kind(&f, ST_OUT_STATUS, 0) >= 0 ? (uint32_t)find_kind(&f, ST_OUT_STATUS, 0) : 0),
              "NATS/1.0 409 Consumer is push based\r\n\r\n");
    /* deleting with waiting requests: 409 Consumer Deleted */
    CHECK(pull(&f, c, "in.d", "{\"batch\":5}", T0 + 5 * SEC) == 0);
    st_outbox_reset(&f.out);
    st_consumer_delete(c, T0 + 5 * SEC, &f.out);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_STR(r_subj(&f, 0), "in.d");
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 409 Consumer Deleted\r\n\r\n");
out:
    fx_close(&f);
}

static void
test_pull_misc(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "B", "b.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 3; i++)
        pub(&f, "b.a", "m0", T0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"C\",\"ack_policy\":\"explicit\",\"headers_only\":true}", T0, NULL);
    REQUIRE(c != NULL);
    /* batch 0 still gets one message; headers only */
    CHECK(pull(&f, c, "in.x", "{\"batch\":0}", T0) == 0);
    REQUIRE(f.out.n == 1);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0\r\nNats-Msg-Size: 2\r\n\r\n");
    CHECK_INT(f.out.rec[0].data_len, ==, 0);
    CHECK_INT(info(c, T0).num_waiting, ==, 0);
    /* no interest in the reply subject: dropped silently */
    CHECK(pull(&f, c, "in.gone", "{\"batch\":5,\"expires\":9000000000}", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    snprintf(f.no_interest, sizeof(f.no_interest), "in.gone");
    CHECK_INT(info(c, T0).num_waiting, ==, 0);
    pub(&f, "b.a", "m1", T0);
    CHECK_INT(run(&f, T0), ==, 0);
    CHECK_INT(f.out.n, ==, 0);
    /* no_wait with requests already wanting more than is pending */
    f.no_interest[0] = '\0';
    CHECK(pull(&f, c, "in.a", "{\"batch\":5,\"expires\":9000000000}", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    pub(&f, "b.a", "m2", T0);
    st_cons_set_on_append(f.set, 0, "x", 1);    /* harmless */
    CHECK(st_consumer_pull(c, "in.b", 4, "{\"batch\":1,\"no_wait\":true}", 26, T0, &f.out) == 0);
    CHECK_STR(r_hdr(&f, f.out.n - 1), "NATS/1.0 408 Requests Pending\r\n\r\n");
out:
    fx_close(&f);
}

/* ---- push ------------------------------------------------------------------------------------- */

static void
test_push(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "Q", "q.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 3; i++)
        pub(&f, "q.a", "m", T0 + i);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"P1\",\"ack_policy\":\"explicit\",\"deliver_subject\":\"dq.1\",\"ack_wait\":1000000000,\"max_deliver\":3,\"idle_heartbeat\":700000000}", T0, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(run(&f, T0), ==, 0);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 3);
    CHECK_STR(r_subj(&f, 0), "dq.1");
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.Q.P1.1.1.1.1795690029562263049.2");
    CHECK(info(c, T0).push_bound);
    /* idle: heartbeat 700 ms after the last delivery */
    CHECK_INT(run(&f, T0 + 699 * MS), ==, 0);
    CHECK_INT(f.out.n, ==, 0);
    CHECK_INT(run(&f, T0 + 700 * MS), ==, 0);
    REQUIRE(f.out.n == 1);
    CHECK(f.out.rec[0].kind == ST_OUT_HEARTBEAT);
    CHECK_STR(r_subj(&f, 0), "dq.1");
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\nNats-Last-Stream: 3\r\n\r\n");
    /* redelivery at ack_wait resets the heartbeat timer */
    CHECK_INT(run(&f, T0 + SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 3);
    CHECK_INT(run(&f, T0 + 1699 * MS), ==, 0);
    CHECK_INT(f.out.n, ==, 0);
    CHECK_INT(run(&f, T0 + 1700 * MS), ==, 0);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 6\r\nNats-Last-Stream: 3\r\n\r\n");
    /* no interest: nothing is sent, not even heartbeats */
    st_consumer_set_active(c, false, T0 + 1800 * MS);
    CHECK(!info(c, T0).push_bound);
    CHECK_INT(run(&f, T0 + 5 * SEC), ==, 0);
    CHECK_INT(f.out.n, ==, 0);
    st_consumer_set_active(c, true, T0 + 5 * SEC);
    CHECK_INT(run(&f, T0 + 5 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 3);       /* 3rd delivery */
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.Q.P1.3.1.7.1795690029562263049.0");
out:
    fx_close(&f);
}

static void
test_flow_control(void)
{
    struct fx f;
    static char big[6001];
    REQUIRE(fx_open(&f, "F", "f.>", ST_RET_LIMITS, false) == 0);
    f.s.fc_window = 16 * 20000;         /* maxpb 20000, FC at > 10000 */
    memset(big, 'x', 6000);
    for (int i = 0; i < 6; i++)
        pub(&f, "f.a", big, T0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"F1\",\"deliver_subject\":\"df.1\",\"flow_control\":true,\"idle_heartbeat\":1000000000}", T0, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(run(&f, T0), ==, 0);
    /* ~6040 B each: the 2nd passes 10000 (request), the 4th 20000 (stop) */
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 4);
    int fc = find_kind(&f, ST_OUT_FLOWCTL, 0);
    REQUIRE(fc == 2);
    CHECK_STR(r_subj(&f, (uint32_t)fc), "df.1");
    CHECK_STR(r_hdr(&f, (uint32_t)fc), "NATS/1.0 100 FlowControl Request\r\n\r\n");
    CHECK_INT(f.out.rec[fc].data_len, ==, 0);
    char fcs[128];
    snprintf(fcs, sizeof(fcs), "%s", r_reply(&f, (uint32_t)fc));
    CHECK(strncmp(fcs, "$JS.FC.F.F1.", 12) == 0 && strlen(fcs) == 16);
    /* stalled: heartbeats say so */
    CHECK_INT(run(&f, T0 + SEC), ==, 0);
    REQUIRE(f.out.n == 1);
    char want[256];
    snprintf(want, sizeof(want), "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 4\r\nNats-Last-Stream: 4\r\nNats-Consumer-Stalled: %s\r\n\r\n", fcs);
    CHECK_STR(r_hdr(&f, 0), want);
    /* a stale answer does nothing, the right one resumes */
    CHECK(st_consumer_fc_reply(c, "$JS.FC.F.F1.zzzz", 16, T0) == 0);
    CHECK_INT(run(&f, T0 + SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    struct st_api_cons_env env = { lookup, &f };
    CHECK(st_api_consumer_fc(&env, fcs, strlen(fcs), T0 + SEC) == 0);
    CHECK_INT(run(&f, T0 + SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    CHECK_INT(count_kind(&f, ST_OUT_FLOWCTL), ==, 1);    /* the next one */
out:
    fx_close(&f);
}

/* ---- bounded output ------------------------------------------------------------------------ */

static void
test_outbox_full(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "O", "o.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < 50; i++)
        pub(&f, "o.a", "0123456789", T0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"D\",\"ack_policy\":\"explicit\",\"deliver_subject\":\"do.1\"}", T0, NULL);
    REQUIRE(c != NULL);
    st_outbox_free(&f.out);
    st_outbox_init(&f.out, 0, 7);
    uint64_t next = 1;
    int rounds = 0, rc;
    do {
        st_outbox_reset(&f.out);
        rc = st_cons_set_run(f.set, T0, &f.out, 0);
        for (uint32_t i = 0; i < f.out.n; i++)
            CHECK_INT(msg_seq(&f, i), ==, next++);
    } while (rc == -ENOBUFS && ++rounds < 100);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(next, ==, 51);
    CHECK_INT(info(c, T0).num_ack_pending, ==, 50);
    /* a budget stops early and says so */
    pub(&f, "o.a", "x", T0);
    pub(&f, "o.a", "y", T0);
    st_outbox_reset(&f.out);
    CHECK_INT(st_cons_set_run(f.set, T0, &f.out, 1), ==, 1);
    CHECK_INT(f.out.n, ==, 1);
    CHECK_INT(st_cons_set_run(f.set, T0, &f.out, 0), ==, 0);
    CHECK_INT(f.out.n, ==, 2);
out:
    fx_close(&f);
}

/* ---- inactivity, persistence ----------------------------------------------------------------- */

static void
test_inactive_threshold(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "I", "i.>", ST_RET_LIMITS, false) == 0);
    struct st_consumer *c = mk(&f, "{\"name\":\"eph\"}", T0, NULL);
    struct st_consumer *d = mk(&f, "{\"durable_name\":\"dur\"}", T0, NULL);
    REQUIRE(c && d);
    CHECK_INT(st_consumer_config(c)->inactive_threshold, ==, 5 * SEC);
    CHECK_INT(st_consumer_next_timer(c), ==, T0 + 5 * SEC);
    /* a request keeps it alive while it waits */
    CHECK(pull(&f, c, "in.1", "{\"batch\":1,\"expires\":8000000000}", T0 + 4 * SEC) == 0);
    CHECK_INT(run(&f, T0 + 9 * SEC), ==, 0);
    CHECK(st_cons_set_find(f.set, "eph", 3) != NULL);
    CHECK_INT(run(&f, T0 + 12 * SEC), ==, 0);   /* request expired at 12 s */
    CHECK_INT(run(&f, T0 + 17 * SEC), ==, 0);
    CHECK(st_cons_set_find(f.set, "eph", 3) == NULL);
    CHECK(st_cons_set_find(f.set, "dur", 3) != NULL);
    CHECK_INT(f.deleted, ==, 1);
    /* push ephemeral without interest */
    f.interest = false;
    c = mk(&f, "{\"name\":\"p\",\"deliver_subject\":\"di.p\"}", T0 + 20 * SEC, NULL);
    REQUIRE(c != NULL);
    CHECK(!info(c, T0).push_bound);
    CHECK_INT(run(&f, T0 + 25 * SEC), ==, 0);
    CHECK(st_cons_set_find(f.set, "p", 1) == NULL);
out:
    fx_close(&f);
}

static void
test_persistence(void)
{
    struct fx f;
    char a[4][128];
    REQUIRE(fx_open(&f, "D", "d.>", ST_RET_LIMITS, true) == 0);
    for (int i = 0; i < 6; i++)
        pub(&f, "d.a", "m", T0 + i);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"dur.x\",\"ack_policy\":\"explicit\",\"max_deliver\":2,\"ack_wait\":1000000000,\"description\":\"d\"}", T0, NULL);
    CHECK(c == NULL);                           /* '.' not allowed */
    c = mk(&f, "{\"durable_name\":\"dur\",\"ack_policy\":\"explicit\",\"max_deliver\":2,\"ack_wait\":1000000000,\"description\":\"d\"}", T0, NULL);
    REQUIRE(c != NULL);
    REQUIRE(mk(&f, "{\"name\":\"eph\"}", T0, NULL) != NULL);
    REQUIRE(pull(&f, c, "in.1", "{\"batch\":4}", T0) == 0);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 4);
    for (int i = 0; i < 4; i++)
        snprintf(a[i], sizeof(a[i]), "%s", r_reply(&f, (uint32_t)i));
    CHECK(ack(&f, c, a[0], "", NULL, T0 + MS) == 0);
    CHECK(ack(&f, c, a[2], "", NULL, T0 + MS) == 0);
    /* 2 and 4 expire; 2 is redelivered once (the request wants none) */
    CHECK(pull(&f, c, "in.2", "{\"batch\":1}", T0 + SEC) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    struct st_cons_info before = info(c, T0 + SEC);
    CHECK_INT(before.num_ack_pending, ==, 2);
    CHECK_INT(before.num_redelivered, ==, 1);
    CHECK_INT(st_cons_set_flush(f.set), ==, 0);
    char bodyb[4096];
    snprintf(bodyb, sizeof(bodyb), "%s", api(&f, "$JS.API.CONSUMER.INFO.D.dur", "", T0 + SEC));
    /* restart */
    st_cons_set_free(f.set);
    f.set = NULL;
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    size_t loaded = 0;
    CHECK_INT(st_cons_set_load(f.set, T0 + SEC, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 1);
    c = st_cons_set_find(f.set, "dur", 3);
    REQUIRE(c != NULL);
    CHECK(st_cons_set_find(f.set, "eph", 3) == NULL);
    CHECK_STR(api(&f, "$JS.API.CONSUMER.INFO.D.dur", "", T0 + SEC), bodyb);
    /* the restored state goes on: 4 is redelivered (dc 2) */
    CHECK(pull(&f, c, "in.3", "{\"batch\":5,\"no_wait\":true}", T0 + SEC) == 0);
    REQUIRE(count_kind(&f, ST_OUT_MSG) >= 2);
    CHECK_STR(r_reply(&f, 0), "$JS.ACK.D.dur.2.4.6.1795690029562263052.2");
    CHECK_INT(msg_seq(&f, 1), ==, 5);
    /* a damaged tail record (the STATE written after these pulls) is
     * cut and saved as .bad; the records before it survive */
    char path[512];
    struct stat sb0, sb1;
    st_cons_set_free(f.set);
    f.set = NULL;
    snprintf(path, sizeof(path), "%s/consumers.log", f.sdir);
    REQUIRE(stat(path, &sb0) == 0);
    FILE *fp = fopen(path, "r+b");
    REQUIRE(fp != NULL);
    fseek(fp, sb0.st_size - 3, SEEK_SET);
    fputc(0x5a ^ fgetc(fp), fp);
    fclose(fp);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 1);
    REQUIRE(stat(path, &sb1) == 0);
    CHECK(sb1.st_size < sb0.st_size);
    CHECK_STR(api(&f, "$JS.API.CONSUMER.INFO.D.dur", "", T0 + SEC), bodyb);
    snprintf(path, sizeof(path), "%s/consumers.log.bad", f.sdir);
    CHECK(access(path, F_OK) == 0);
    /* delete: the durable is gone after a flush and a reload */
    c = mk(&f, "{\"durable_name\":\"gone\"}", T0, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(st_cons_set_flush(f.set), ==, 0);
    st_consumer_delete(c, T0, NULL);
    CHECK_INT(st_cons_set_flush(f.set), ==, 0);
    st_cons_set_free(f.set);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 1);
    CHECK(st_cons_set_find(f.set, "gone", 4) == NULL);
    CHECK(st_cons_set_find(f.set, "dur", 3) != NULL);
    /* a name created again after its delete starts afresh */
    c = mk(&f, "{\"durable_name\":\"gone\"}", T0, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(st_consumer_persist(c), ==, 0);
    st_cons_set_free(f.set);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 2);
    c = st_cons_set_find(f.set, "gone", 4);
    REQUIRE(c != NULL);
    CHECK_INT(info(c, T0).delivered.stream_seq, ==, 0);
out:
    fx_close(&f);
}

/* The log is rewritten when it outgrows the live state several times. */
static void
test_log_compaction(void)
{
    struct fx f;
    struct stat sb;
    char path[512];
    size_t loaded = 0;
    REQUIRE(fx_open(&f, "K", "k.>", ST_RET_LIMITS, true) == 0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"k1\",\"ack_policy\":\"explicit\"}", T0, NULL);
    REQUIRE(c != NULL);
    for (int i = 0; i < 2000; i++)
        CHECK_INT(st_consumer_persist(c), ==, 0);
    snprintf(path, sizeof(path), "%s/consumers.log", f.sdir);
    REQUIRE(stat(path, &sb) == 0);
    CHECK_MSG(sb.st_size < 70 * 1024, "%lld bytes", (long long)sb.st_size);
    pub(&f, "k.a", "m", T0);
    REQUIRE(pull(&f, c, "in.1", "{\"batch\":1}", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    st_cons_set_free(f.set);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 1);
    c = st_cons_set_find(f.set, "k1", 2);
    REQUIRE(c != NULL);
    CHECK_INT(info(c, T0).delivered.stream_seq, ==, 1);
    CHECK_INT(info(c, T0).num_ack_pending, ==, 1);
    /* a log without its magic is set aside whole; a new one starts */
    st_cons_set_free(f.set);
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp != NULL);
    fputs("garbage, not a consumer log", fp);
    fclose(fp);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 0);
    snprintf(path, sizeof(path), "%s/consumers.log.bad", f.sdir);
    CHECK(access(path, F_OK) == 0);
    REQUIRE(mk(&f, "{\"durable_name\":\"k2\"}", T0, NULL) != NULL);
    st_cons_set_free(f.set);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 1);
    CHECK(st_cons_set_find(f.set, "k2", 2) != NULL);
out:
    fx_close(&f);
}

static void
test_replay_original(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "R", "r.>", ST_RET_LIMITS, false) == 0);
    pub(&f, "r.a", "1", T0);
    pub(&f, "r.a", "2", T0 + 2 * SEC);
    pub(&f, "r.a", "3", T0 + 2 * SEC);
    struct st_consumer *c = mk(&f, "{\"name\":\"r\",\"deliver_subject\":\"dr.1\",\"replay_policy\":\"original\"}", T0 + 10 * SEC, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(run(&f, T0 + 10 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(st_consumer_next_timer(c), ==, T0 + 12 * SEC);
    CHECK_INT(run(&f, T0 + 12 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 2);
    /* caught up: new messages go at once */
    pub(&f, "r.a", "4", T0 + 100 * SEC);
    CHECK_INT(run(&f, T0 + 12 * SEC), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
out:
    fx_close(&f);
}

static void
test_workqueue_flow(void)
{
    struct fx f;
    char a[128];
    REQUIRE(fx_open(&f, "Q", "q.>", ST_RET_WORKQUEUE, false) == 0);
    f.remove_on_ack = true;
    for (int i = 0; i < 3; i++)
        pub(&f, "q.a", "m", T0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"W\",\"ack_policy\":\"explicit\"}", T0, NULL);
    REQUIRE(c != NULL);
    REQUIRE(pull(&f, c, "in.1", "{\"batch\":2}", T0) == 0);
    REQUIRE(count_kind(&f, ST_OUT_MSG) == 2);
    snprintf(a, sizeof(a), "%s", r_reply(&f, 0));
    /* the ack makes the stream remove the message, which calls back */
    CHECK(ack(&f, c, a, "", NULL, T0) == 0);
    struct st_state st;
    st_store_state(f.st, &st);
    CHECK_INT(st.msgs, ==, 2);
    struct st_cons_info in = info(c, T0);
    CHECK_INT(in.num_ack_pending, ==, 1);
    CHECK_INT(in.num_pending, ==, 1);
    CHECK_INT(in.ack_floor.stream_seq, ==, 1);
    /* a pending message removed by the stream is dropped as terminated */
    REQUIRE(st_store_delete(f.st, 2) == 0);
    st_cons_set_on_remove(f.set, 2, "q.a", 3, T0);
    in = info(c, T0);
    CHECK_INT(in.num_ack_pending, ==, 0);
    CHECK_INT(in.ack_floor.stream_seq, ==, 2);
    /* deletion: the owner hears about it with the consumer still readable */
    f.deleted = 0;
    CHECK_STR(api(&f, "$JS.API.CONSUMER.DELETE.Q.W", "", T0), "{\"type\":\"io.nats.jetstream.api.v1.consumer_delete_response\",\"success\":true}");
    CHECK_INT(f.deleted, ==, 1);
    CHECK_INT(st_cons_set_count(f.set), ==, 0);
out:
    fx_close(&f);
}

static void
test_headers_only(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "H", "h.>", ST_RET_LIMITS, false) == 0);
    pub_h(&f, "h.a", "NATS/1.0\r\nX: y\r\n\r\n", "hello", T0);
    struct st_consumer *c = mk(&f, "{\"name\":\"h\",\"headers_only\":true}", T0, NULL);
    REQUIRE(c != NULL);
    REQUIRE(pull(&f, c, "in.1", "", T0) == 0);
    REQUIRE(f.out.n == 1);
    CHECK_STR(r_hdr(&f, 0), "NATS/1.0\r\nX: y\r\nNats-Msg-Size: 5\r\n\r\n");
    CHECK_INT(f.out.rec[0].data_len, ==, 0);
out:
    fx_close(&f);
}

/* Garbage in: no crash, sane answers. */
static void
test_bad_input(void)
{
    struct fx f;
    char buf[256], subj[300];
    uint64_t r = 88172645463325252ull;
    static const char alpha[] = "{}[]\":,.0123456789-+eE truefalsnul$JSACKbatch\\";
    REQUIRE(fx_open(&f, "Z", "z.>", ST_RET_LIMITS, false) == 0);
    pub(&f, "z.a", "m", T0);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"C\",\"ack_policy\":\"explicit\"}", T0, NULL);
    REQUIRE(c != NULL);
    static const char *subjects[] = {
        "$JS.API.CONSUMER.CREATE.Z", "$JS.API.CONSUMER.CREATE.Z.n",
        "$JS.API.CONSUMER.DURABLE.CREATE.Z.C", "$JS.API.CONSUMER.INFO.Z.C",
        "$JS.API.CONSUMER.NAMES.Z", "$JS.API.CONSUMER.LIST.Z",
        "$JS.API.CONSUMER.MSG.NEXT.Z.C", "$JS.API.CONSUMER..Z",
        "$JS.API.CONSUMER.CREATE.Z.n.z.*.>",
    };
    for (int i = 0; i < 3000; i++) {
        size_t n = 0;
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        size_t len = r % 80;
        if (i % 3 == 0) {
            n = (size_t)snprintf(buf, sizeof(buf), "{\"stream_name\":\"Z\",\"config\":");
        }
        for (size_t k = 0; k < len && n < sizeof(buf) - 1; k++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            buf[n++] = alpha[r % (sizeof(alpha) - 1)];
        }
        buf[n] = '\0';
        st_outbox_reset(&f.out);
        const char *resp = api(&f, subjects[i % 9], buf, T0 + i);
        CHECK(resp != NULL && strcmp(resp, "<error>") != 0);
        snprintf(subj, sizeof(subj), "$JS.ACK.Z.C.%s", buf);
        st_outbox_reset(&f.out);
        (void)st_consumer_ack(c, subj, strlen(subj), buf, n, "r", 1, T0 + i, &f.out);
        (void)st_consumer_ack(c, "$JS.ACK.Z.C.1.1.1.1.0", 21, buf, n, NULL, 0, T0 + i, &f.out);
        (void)st_consumer_pull(c, "in.z", 4, buf, n, T0 + i, &f.out);
        (void)st_cons_set_run(f.set, T0 + i, &f.out, 0);
    }
    /* the consumer survived and still answers */
    CHECK(st_cons_set_find(f.set, "C", 1) != NULL);
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.INFO.Z.C", "", T0), "\"name\":\"C\"");
out:
    fx_close(&f);
}

/* ---- scale ------------------------------------------------------------------------------------ */

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#endif
#endif
    return false;
}

/* Create n durable pull consumers d<i> with filter big.<i> through the
 * API; returns the seconds taken (heap growth per consumer in *per). */
static double
create_many(struct fx *f, int n, double *per)
{
    char subj[96], body[256];
    int ok = 0;
    struct mallinfo2 m0 = mallinfo2();
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(subj, sizeof(subj), "$JS.API.CONSUMER.DURABLE.CREATE.BIG.d%d", i);
        snprintf(body, sizeof(body), "{\"stream_name\":\"BIG\",\"config\":{\"durable_name\":\"d%d\",\"ack_policy\":\"explicit\",\"filter_subject\":\"big.%d\"}}", i, i);
        const char *r = api(f, subj, body, T0);
        ok += strstr(r, "\"num_pending\":") != NULL && strstr(r, "error") == NULL;
    }
    double dt = now_s() - t0;
    struct mallinfo2 m1 = mallinfo2();
    CHECK_INT(ok, ==, n);
    CHECK_INT(st_cons_set_count(f->set), ==, (size_t)n);
    *per = (double)(m1.uordblks - m0.uordblks) / n;
    return dt;
}

static int
big_stream(struct fx *f, bool persist)
{
    if (fx_open(f, "BIG", "big.>", ST_RET_LIMITS, persist) < 0)
        return -1;
    for (int i = 0; i < 100; i++) {
        char s[32];
        snprintf(s, sizeof(s), "big.%d", i * 1000);
        pub(f, s, "m", T0);
    }
    return 0;
}

/* 100,000 durable pull consumers with distinct filters on one stream,
 * persisted (state log with fdatasync, one flush at the end covering all
 * the creates): time, heap and disk bytes per consumer (the goal: < 30 s,
 * < 2 KiB each), the cost of a publish among them, and their reload. */
static void
test_scale(void)
{
    struct fx f;
    bool asan = under_asan();
    int n = asan ? 10000 : 100000;
    double per, dt;
    char path[512];
    struct stat sb;
    REQUIRE(big_stream(&f, true) == 0);
    f.s.state_sync = true;
    double t0 = now_s();
    dt = create_many(&f, n, &per);
    double tf = now_s();
    CHECK_INT(st_cons_set_flush(f.set), ==, 0);
    tf = now_s() - tf;
    dt = now_s() - t0;
    snprintf(path, sizeof(path), "%s/consumers.log", f.sdir);
    REQUIRE(stat(path, &sb) == 0);
    double disk = (double)sb.st_size / n;
    printf("# %d durable pull consumers, distinct filters, persisted: %.2f s "
           "(%.1f us each, final flush %.3f s), %.0f B heap + %.0f B disk "
           "each%s\n", n, dt, dt * 1e6 / n, tf, per, disk,
           asan ? " (ASan: scaled down; its allocator hides the heap)" : "");
    if (!asan) {
        CHECK_MSG(per + disk < 2048, "%.0f + %.0f B per consumer", per, disk);
        CHECK_MSG(dt < 10.0, "%.2f s", dt);
    }
    /* a publish wakes exactly the matching consumer (filter index) */
    struct st_consumer *c = st_cons_set_find(f.set, "d7000", 5);
    REQUIRE(c != NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 1);
    REQUIRE(pull(&f, c, "in.s", "{\"batch\":2,\"expires\":5000000000}", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    t0 = now_s();
    for (int i = 0; i < 1000; i++)
        pub(&f, "big.7000", "more", T0);
    st_outbox_reset(&f.out);
    CHECK_INT(st_cons_set_run(f.set, T0, &f.out, 0), ==, 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 1);
    CHECK_INT(info(c, T0).num_pending, ==, 999);
    printf("# a publish with %d consumers on the stream: %.1f us\n", n,
           (now_s() - t0) * 1e3);
    /* restart: every durable comes back, with its state */
    t0 = now_s();
    st_cons_set_free(f.set);
    f.set = NULL;
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    size_t loaded = 0;
    CHECK_INT(st_cons_set_load(f.set, T0, &loaded), ==, 0);
    CHECK_INT(loaded, ==, (size_t)n);
    printf("# reload of %d durables: %.2f s\n", n, now_s() - t0);
    c = st_cons_set_find(f.set, "d0", 2);
    REQUIRE(c != NULL);
    CHECK_STR(st_consumer_config(c)->filter, "big.0");
    CHECK_INT(info(c, T0).num_pending, ==, 1);
    c = st_cons_set_find(f.set, "d7000", 5);
    REQUIRE(c != NULL);
    CHECK_INT(info(c, T0).delivered.stream_seq, ==, 101);
out:
    fx_close(&f);
}

/* ---- filter_subjects (nats-server 2.10) ------------------------------------------------ */

/* The stream sequences of the messages in f->out, in order, into v. */
static unsigned
out_seqs(struct fx *f, uint64_t *v, unsigned cap)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < f->out.n && n < cap; i++)
        if (f->out.rec[i].kind == ST_OUT_MSG)
            v[n++] = f->out.rec[i].sseq;
    return n;
}

/* Parse, defaults, the JSON echo (after filter_subject's place, omitted
 * when empty), Go's decoding of odd values, copy / equal / set. */
static void
test_filters_parse_echo(void)
{
    struct fx f;
    REQUIRE(fx_open(&f, "M", "m.>", ST_RET_LIMITS, false) == 0);
    pub(&f, "m.a", "1", T0);
    pub(&f, "m.b.x", "2", T0);
    pub(&f, "m.c", "3", T0);
    const char *r = api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.M.F1", "{\"stream_name\":\"M\",\"config\":{\"durable_name\":\"F1\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"m.a\",\"m.b.>\"]}}", T0);
    CHECK_CONTAINS(r, "\"config\":{\"durable_name\":\"F1\",\"deliver_policy\":\"all\",\"ack_policy\":\"explicit\",\"ack_wait\":30000000000,\"max_deliver\":-1,\"filter_subjects\":[\"m.a\",\"m.b.\\u003e\"],\"replay_policy\":\"instant\",\"max_waiting\":512,\"max_ack_pending\":1000,\"num_replicas\":0}");
    CHECK_CONTAINS(r, "\"num_pending\":2}");
    CHECK(strstr(r, "\"filter_subject\"") == NULL);
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.INFO.M.F1", "", T0), "\"filter_subjects\":[\"m.a\",\"m.b.\\u003e\"],\"replay_policy\"");
    /* [] and null are no filters: omitted, everything pending */
    r = api(&f, "$JS.API.CONSUMER.CREATE.M", "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[]}}", T0);
    CHECK(strstr(r, "filter_subjects") == NULL);
    CHECK_CONTAINS(r, "\"num_pending\":3");
    r = api(&f, "$JS.API.CONSUMER.CREATE.M", "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":null,\"filter_subject\":\"m.c\"}}", T0);
    CHECK(strstr(r, "filter_subjects") == NULL);
    CHECK_CONTAINS(r, "\"filter_subject\":\"m.c\"");
    CHECK_CONTAINS(r, "\"num_pending\":1");
    /* one filter in filter_subjects acts as filter_subject, echoed as given */
    r = api(&f, "$JS.API.CONSUMER.CREATE.M", "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[\"m.c\"]}}", T0);
    CHECK_CONTAINS(r, "\"filter_subjects\":[\"m.c\"]");
    CHECK_CONTAINS(r, "\"num_pending\":1");
    /* wrong types are invalid JSON; a null element is "" (Go) */
    static const char *const bad[] = {
        "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":\"m.a\"}}",
        "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[1]}}",
        "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[\"m.a\",[\"m.b\"]]}}",
        "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":{\"a\":\"m.a\"}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.CREATE.M", bad[i], T0),
                       "{\"code\":400,\"err_code\":10025,\"description\":\"invalid JSON\"}");
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.CREATE.M", "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[\"m.a\",null]}}", T0),
                   "{\"code\":400,\"err_code\":10139,\"description\":\"consumer filter in FilterSubjects cannot be empty\"}");
    /* the last of a repeated member wins (case-insensitive keys) */
    r = api(&f, "$JS.API.CONSUMER.CREATE.M", "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[\"m.a\"],\"Filter_Subjects\":[\"m.c\",\"m.b.x\"]}}", T0);
    CHECK_CONTAINS(r, "\"filter_subjects\":[\"m.c\",\"m.b.x\"]");
    /* more than ST_CONS_MAX_FILTERS: refused, nothing created */
    struct dt_buf big = { 0 };
    dt_buf_puts(&big, "{\"stream_name\":\"M\",\"config\":{\"filter_subjects\":[");
    for (int i = 0; i <= ST_CONS_MAX_FILTERS; i++)
        dt_buf_printf(&big, "%s\"m.f%d\"", i ? "," : "", i);
    dt_buf_puts(&big, "]}}");
    dt_buf_append(&big, "", 1);
    size_t before = st_cons_set_count(f.set);
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.CREATE.M", big.data, T0), "\"err_code\":10025");
    CHECK_INT(st_cons_set_count(f.set), ==, before);
    dt_buf_free(&big);
    /* copy, equal, set_filters */
    struct st_consumer *c = st_cons_set_find(f.set, "F1", 2);
    REQUIRE(c != NULL);
    struct st_cons_config a, b;
    REQUIRE(st_cons_config_copy(&a, st_consumer_config(c)) == 0);
    REQUIRE(st_cons_config_copy(&b, &a) == 0);
    CHECK_INT(b.nfilters, ==, 2);
    CHECK_STR(b.filters[1], "m.b.>");
    CHECK_INT(st_cons_config_nfilters(&b), ==, 2);
    CHECK_STR(st_cons_config_filter(&b, 0), "m.a");
    CHECK(b.filters != a.filters && b.filters[0] != a.filters[0]);
    const char *rev[] = { "m.b.>", "m.a" };
    REQUIRE(st_cons_config_set_filters(&b, rev, 2) == 0);
    CHECK_STR(b.filters[0], "m.b.>");
    CHECK_STR(b.durable, "F1");             /* the rest survives the repack */
    CHECK_INT(st_cons_config_set_filters(&b, rev, ST_CONS_MAX_FILTERS + 1), ==, -EINVAL);
    /* order matters for equality (Go's DeepEqual on the slice) */
    CHECK_INT(st_consumer_update(c, &a, T0, NULL), ==, 0);
    CHECK_INT(st_consumer_update(c, &b, T0, NULL), ==, 0);
    CHECK_STR(st_consumer_config(c)->filters[0], "m.b.>");
    REQUIRE(st_cons_config_set_filters(&b, NULL, 0) == 0);
    CHECK(b.filters == NULL);
    CHECK_INT(st_cons_config_nfilters(&b), ==, 0);
    st_cons_config_free(&a);
    st_cons_config_free(&b);
out:
    fx_close(&f);
}

/* Each error with its code and wording (nats-server errors.json). */
static void
test_filters_errors(void)
{
    struct fx f;
    static const struct { const char *subj, *body, *want; } cases[] = {
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"s.a\",\"filter_subjects\":[\"s.b\"]}}",
          "{\"code\":400,\"err_code\":10136,\"description\":\"consumer cannot have both FilterSubject and FilterSubjects specified\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.a\",\"\"]}}",
          "{\"code\":400,\"err_code\":10139,\"description\":\"consumer filter in FilterSubjects cannot be empty\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.a.*\",\"s.a.b\"]}}",
          "{\"code\":400,\"err_code\":10138,\"description\":\"consumer subject filters cannot overlap\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.b\",\"s.\\u003e\"]}}",
          "\"err_code\":10138," },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.*.x\",\"s.a.*\"]}}",
          "\"err_code\":10138," },                   /* s.a.x matches both */
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.a\",\"s.c\",\"s.a\"]}}",
          "\"err_code\":10138," },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.a\",\"x.y\"]}}",
          "{\"code\":400,\"err_code\":10093,\"description\":\"consumer filter subject is not a valid subset of the interest subjects\"}" },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.a\",\"s..b\"]}}",
          "\"err_code\":10093," },
        { "$JS.API.CONSUMER.CREATE.S.N.s.a", "{\"stream_name\":\"S\",\"config\":{\"name\":\"N\",\"filter_subjects\":[\"s.a\"]}}",
          "{\"code\":400,\"err_code\":10137,\"description\":\"consumer with multiple subject filters cannot use subject based API\"}" },
        { "$JS.API.CONSUMER.CREATE.S.N.s.a", "{\"stream_name\":\"S\",\"config\":{\"name\":\"N\",\"filter_subjects\":[\"s.a\",\"s.b\"]}}",
          "\"err_code\":10137," },
        /* last_per_subject is satisfied by filter_subjects */
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"last_per_subject\",\"filter_subjects\":[]}}",
          "\"err_code\":10094," },
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"deliver_policy\":\"last_per_subject\",\"filter_subjects\":[\"s.a\",\"s.b.*\"]}}",
          "\"num_pending\":0" },
        /* disjoint filters, and an empty filter_subject beside them */
        { "$JS.API.CONSUMER.CREATE.S", "{\"stream_name\":\"S\",\"config\":{\"filter_subject\":\"\",\"filter_subjects\":[\"s.a.*\",\"s.b.\\u003e\",\"s.c\"]}}",
          "\"filter_subjects\":[\"s.a.*\",\"s.b.\\u003e\",\"s.c\"]" },
        /* the named form takes filter_subjects from the body */
        { "$JS.API.CONSUMER.CREATE.S.NM", "{\"stream_name\":\"S\",\"config\":{\"filter_subjects\":[\"s.a\",\"s.b\"]}}",
          "\"config\":{\"name\":\"NM\",\"deliver_policy\":\"all\",\"ack_policy\":\"none\",\"max_deliver\":-1,\"filter_subjects\":[\"s.a\",\"s.b\"]," },
    };
    REQUIRE(fx_open(&f, "S", "s.>", ST_RET_LIMITS, false) == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *r = api(&f, cases[i].subj, cases[i].body, T0);
        CHECK_CONTAINS(r, cases[i].want);
    }
    CHECK_INT(st_cons_set_count(f.set), ==, 3);
    /* checks run on updates too; a recovering create still refuses an
     * overlap but skips the stream-subject check, as nats */
    struct st_jserr e;
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"U\",\"filter_subjects\":[\"s.a\",\"s.b\"]}", T0, &e);
    REQUIRE(c != NULL);
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.S.U", "{\"stream_name\":\"S\",\"config\":{\"durable_name\":\"U\",\"filter_subjects\":[\"s.a\",\"s.*\"]}}", T0),
                   "\"err_code\":10138,");
    struct st_cons_config cfg = { 0 };
    const char *ov[] = { "q.a", "q.*" }, *ok[] = { "q.a", "q.b" };
    REQUIRE(st_cons_config_set_filters(&cfg, ov, 2) == 0);
    REQUIRE(st_cons_config_set_str(&cfg, &cfg.durable, "R", 1) == 0);
    st_cons_config_defaults(&cfg);
    struct st_consumer *rc = NULL;
    CHECK_INT(st_consumer_create(f.set, &cfg, T0, true, &rc, &e), ==, -EINVAL);
    CHECK_INT(e.err_code, ==, 10138);
    REQUIRE(st_cons_config_set_filters(&cfg, ok, 2) == 0);
    CHECK_INT(st_cons_config_check(f.set, &cfg, &e), ==, -EINVAL);
    CHECK_INT(e.err_code, ==, 10093);
    CHECK_INT(st_consumer_create(f.set, &cfg, T0, true, &rc, &e), ==, 0);
    st_cons_config_free(&cfg);
out:
    fx_close(&f);
}

/* Workqueue streams: a consumer's filters may not overlap any other
 * consumer's (create and update), nor may a second consumer be
 * unfiltered. */
static void
test_filters_workqueue(void)
{
    struct fx f;
    struct st_jserr e;
    REQUIRE(fx_open(&f, "W", "w.>", ST_RET_WORKQUEUE, false) == 0);
    struct st_consumer *w1 = mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W1\",\"filter_subjects\":[\"w.a\",\"w.b.*\"]}", T0, &e);
    REQUIRE(w1 != NULL);
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\",\"filter_subjects\":[\"w.c\",\"w.b.x\"]}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10100);
    CHECK_STR(e.description, "filtered consumer not unique on workqueue stream");
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\",\"filter_subject\":\"w.a\"}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10100);
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\",\"filter_subject\":\"w.*.y\"}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10100);           /* w.b.y */
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\"}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10099);
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\",\"filter_subjects\":[]}", T0, &e) == NULL);
    CHECK_INT(e.err_code, ==, 10099);
    struct st_consumer *w2 = mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W2\",\"filter_subjects\":[\"w.c\",\"w.d\"]}", T0, &e);
    REQUIRE(w2 != NULL);
    /* update: W1 may not take W2's w.c; it may take w.e */
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.W.W1", "{\"stream_name\":\"W\",\"config\":{\"durable_name\":\"W1\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"w.a\",\"w.c\"]}}", T0),
                   "{\"code\":400,\"err_code\":10100,\"description\":\"filtered consumer not unique on workqueue stream\"}");
    CHECK_STR(st_consumer_config(w1)->filters[1], "w.b.*");
    const char *r = api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.W.W1", "{\"stream_name\":\"W\",\"config\":{\"durable_name\":\"W1\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"w.a\",\"w.e\"]}}", T0);
    CHECK_CONTAINS(r, "\"filter_subjects\":[\"w.a\",\"w.e\"]");
    /* its own filters never clash with themselves; W1's old w.b.* is free */
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.W.W1", "{\"stream_name\":\"W\",\"config\":{\"durable_name\":\"W1\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"w.a\",\"w.e\"]}}", T0),
                   "\"name\":\"W1\"");
    CHECK(mk(&f, "{\"ack_policy\":\"explicit\",\"durable_name\":\"W3\",\"filter_subject\":\"w.b.x\"}", T0, &e) != NULL);
    /* messages go to the one consumer whose filters match */
    pub(&f, "w.d", "1", T0);
    pub(&f, "w.a", "2", T0);
    pub(&f, "w.c", "3", T0);
    CHECK_INT(info(w1, T0).num_pending, ==, 1);
    CHECK_INT(info(w2, T0).num_pending, ==, 2);
    REQUIRE(pull(&f, w2, "in.w2", "{\"batch\":5,\"no_wait\":true}", T0) == 0);
    uint64_t v[8];
    CHECK_INT(out_seqs(&f, v, 8), ==, 2);
    CHECK_INT(v[0], ==, 1);
    CHECK_INT(v[1], ==, 3);
out:
    fx_close(&f);
}

/* Two (and three) filters: delivery in stream order, num_pending, new
 * messages, removals of messages a filter had found, purges, updates of
 * the filters, last / by_start_sequence; then a random run checked
 * against a brute-force scan of the store. */
static void
test_filters_delivery(void)
{
    struct fx f;
    uint64_t v[64];
    REQUIRE(fx_open(&f, "D", "d.>", ST_RET_LIMITS, false) == 0);
    static const char *const subj[] = {
        "d.a", "d.b", "d.c", "d.a", "d.x.1", "d.b", "d.c", "d.x.2", "d.a", "d.c",
    };
    for (int i = 0; i < 10; i++)
        pub(&f, subj[i], "m", T0 + i);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"two\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"d.x.*\",\"d.a\"]}", T0, NULL);
    snprintf(f.no_interest, sizeof(f.no_interest), "out.p");
    struct st_consumer *p = mk(&f, "{\"name\":\"push\",\"deliver_subject\":\"out.p\",\"filter_subjects\":[\"d.a\",\"d.x.*\"]}", T0, NULL);
    REQUIRE(c != NULL && p != NULL);
    CHECK_INT(info(c, T0).num_pending, ==, 5);          /* 1 4 5 8 9 */
    REQUIRE(pull(&f, c, "in.1", "{\"batch\":3}", T0) == 0);
    CHECK_INT(out_seqs(&f, v, 64), ==, 3);
    CHECK_INT(v[0], ==, 1);
    CHECK_INT(v[1], ==, 4);
    CHECK_INT(v[2], ==, 5);
    CHECK_STR(r_reply(&f, 2), "$JS.ACK.D.two.1.5.3.1795690029562263053.2");
    CHECK_INT(info(c, T0).num_pending, ==, 2);
    CHECK_INT(info(c, T0).delivered.stream_seq, ==, 5);
    /* the push consumer gets the same messages once it has interest */
    st_consumer_set_active(p, true, T0);
    CHECK_INT(run(&f, T0), ==, 0);
    CHECK_INT(out_seqs(&f, v, 64), ==, 5);
    CHECK_INT(v[3], ==, 8);
    CHECK_INT(v[4], ==, 9);
    CHECK_INT(info(p, T0).num_pending, ==, 0);
    st_consumer_set_active(p, false, T0);
    /* new messages count where they match */
    pub(&f, "d.x.3", "m", T0 + 10);                    /* 11 */
    pub(&f, "d.b", "m", T0 + 11);                      /* 12 */
    CHECK_INT(info(c, T0).num_pending, ==, 3);
    CHECK_INT(info(p, T0).num_pending, ==, 1);
    /* 8 was found by d.x.* already; removing it is noticed */
    REQUIRE(st_store_delete(f.st, 8) == 0);
    st_cons_set_on_remove(f.set, 8, "d.x.2", 5, T0);
    CHECK_INT(info(c, T0).num_pending, ==, 2);
    REQUIRE(pull(&f, c, "in.2", "{\"batch\":10,\"no_wait\":true}", T0) == 0);
    CHECK_INT(out_seqs(&f, v, 64), ==, 2);
    CHECK_INT(v[0], ==, 9);
    CHECK_INT(v[1], ==, 11);
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    CHECK_INT(info(c, T0).num_ack_pending, ==, 5);
    /* a waiting request is served by either filter */
    REQUIRE(pull(&f, c, "in.3", "{\"batch\":2,\"expires\":5000000000}", T0) == 0);
    CHECK_INT(count_kind(&f, ST_OUT_MSG), ==, 0);
    st_outbox_reset(&f.out);
    pub(&f, "d.c", "m", T0 + 12);                      /* 13: no */
    pub(&f, "d.a", "m", T0 + 13);                      /* 14 */
    CHECK_INT(run(&f, T0), ==, 0);
    CHECK_INT(out_seqs(&f, v, 64), ==, 1);
    CHECK_INT(v[0], ==, 14);
    CHECK_INT(info(p, T0).num_pending, ==, 2);          /* 11 14 */
    /* update to other filters: recount, delivery follows them (from
     * where the consumer is: 12 d.b and 13 d.c are behind it) */
    struct st_cons_config cc;
    REQUIRE(st_cons_config_copy(&cc, st_consumer_config(c)) == 0);
    const char *nf[] = { "d.b", "d.c" };
    REQUIRE(st_cons_config_set_filters(&cc, nf, 2) == 0);
    CHECK_INT(st_consumer_update(c, &cc, T0, NULL), ==, 0);
    st_cons_config_free(&cc);
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    pub(&f, "d.c", "m", T0 + 14);                      /* 15 */
    pub(&f, "d.a", "m", T0 + 15);                      /* 16: no longer */
    pub(&f, "d.b", "m", T0 + 16);                      /* 17 */
    CHECK_INT(info(c, T0).num_pending, ==, 2);
    REQUIRE(pull(&f, c, "in.4", "{\"batch\":5,\"no_wait\":true}", T0) == 0);
    CHECK_INT(out_seqs(&f, v, 64), ==, 2);
    CHECK_INT(v[0], ==, 15);
    CHECK_INT(v[1], ==, 17);
    /* purge below 16: d.c has nothing left */
    uint64_t purged;
    struct st_purge pg = { .seq = 16 };
    REQUIRE(st_store_purge(f.st, &pg, &purged) == 0);
    st_cons_set_on_purge(f.set, 16, 17, T0);
    pub(&f, "d.b", "m", T0 + 17);                      /* 18 */
    CHECK_INT(info(c, T0).num_pending, ==, 1);
    /* deliver last over the filters: the latest of their last messages
     * (d.c 19, d.a 20 -> 20); by start sequence: the first match */
    pub(&f, "d.c", "m", T0 + 18);                      /* 19 */
    pub(&f, "d.a", "m", T0 + 19);                      /* 20 */
    pub(&f, "d.b", "m", T0 + 20);                      /* 21 */
    struct st_consumer *l = mk(&f, "{\"name\":\"last\",\"deliver_policy\":\"last\",\"filter_subjects\":[\"d.c\",\"d.a\"]}", T0, NULL);
    REQUIRE(l != NULL);
    CHECK_INT(info(l, T0).num_pending, ==, 1);
    CHECK_INT(first_delivery(&f, l, T0), ==, 20);
    struct st_consumer *bs = mk(&f, "{\"name\":\"bs\",\"deliver_policy\":\"by_start_sequence\",\"opt_start_seq\":17,\"filter_subjects\":[\"d.c\",\"d.a\"]}", T0, NULL);
    REQUIRE(bs != NULL);
    CHECK_INT(info(bs, T0).num_pending, ==, 2);
    CHECK_INT(first_delivery(&f, bs, T0), ==, 19);
out:
    fx_close(&f);
}

/* A random stream with deletes, delivered in random batches while more
 * arrives: a three-filter consumer gets exactly the matching messages
 * of a brute-force scan, in order, and num_pending agrees. */
static void
test_filters_random(void)
{
    struct fx f;
    static const char *const subj[] = {
        "r.a", "r.b", "r.c.1", "r.c.2", "r.d", "r.e.x.y", "r.e.z",
    };
    static const char *const filters[] = { "r.c.*", "r.a", "r.e.>" };
    uint64_t got[4096], want[4096];
    unsigned ngot = 0, nwant = 0;
    uint32_t rng = 12345;
    REQUIRE(fx_open(&f, "R", "r.>", ST_RET_LIMITS, false) == 0);
    struct st_consumer *c = mk(&f, "{\"name\":\"rnd\",\"inactive_threshold\":3600000000000,\"filter_subjects\":[\"r.c.*\",\"r.a\",\"r.e.\\u003e\"]}", T0, NULL);
    REQUIRE(c != NULL);
    for (int round = 0; round < 200; round++) {
        int np = (int)((rng = rng * 1103515245 + 12345) >> 16) % 12;
        for (int i = 0; i < np; i++) {
            rng = rng * 1103515245 + 12345;
            pub(&f, subj[(rng >> 16) % 7], "m", T0);
        }
        rng = rng * 1103515245 + 12345;
        struct st_state st;
        st_store_state(f.st, &st);
        if ((rng >> 16) % 3 == 0 && st.msgs > 0) {
            /* delete a random live message (maybe one a filter found) */
            uint64_t seq = st.first_seq + (rng >> 8) % (st.last_seq - st.first_seq + 1);
            size_t sl = 0;
            const char *s = st_store_subject(f.st, seq, &sl);
            char sb[64];
            if (s != NULL && sl < sizeof(sb)) {
                memcpy(sb, s, sl);
                REQUIRE(st_store_delete(f.st, seq) == 0);
                st_cons_set_on_remove(f.set, seq, sb, sl, T0);
            }
        }
        char body[64];
        rng = rng * 1103515245 + 12345;
        snprintf(body, sizeof(body), "{\"batch\":%u,\"no_wait\":true}", 1 + (rng >> 16) % 6);
        REQUIRE(pull(&f, c, "in.r", body, T0) == 0);
        ngot += out_seqs(&f, got + ngot, 4096 - ngot);
    }
    /* drain */
    for (int i = 0; i < 100; i++) {
        REQUIRE(pull(&f, c, "in.r", "{\"batch\":50,\"no_wait\":true}", T0) == 0);
        unsigned k = out_seqs(&f, got + ngot, 4096 - ngot);
        ngot += k;
        if (k == 0)
            break;
    }
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    /* brute force over everything ever delivered: each delivered message
     * matches a filter, comes in order, and nothing live is missed */
    bool ordered = true, match = true;
    for (unsigned i = 0; i < ngot; i++)
        ordered &= i == 0 || got[i] > got[i - 1];
    CHECK(ordered);
    struct st_state st;
    st_store_state(f.st, &st);
    for (uint64_t seq = st.first_seq; seq <= st.last_seq; seq++) {
        size_t sl = 0;
        const char *s = st_store_subject(f.st, seq, &sl);
        if (s == NULL)
            continue;
        for (int k = 0; k < 3; k++)
            if (dt_subject_matches(filters[k], strlen(filters[k]), s, sl))
                want[nwant++] = seq;
    }
    /* every live matching message was delivered (deleted ones may or may
     * not have been, depending on when they went) */
    unsigned j = 0;
    for (unsigned i = 0; i < nwant; i++) {
        while (j < ngot && got[j] < want[i])
            j++;
        match &= j < ngot && got[j] == want[i];
    }
    CHECK(match);
    for (unsigned i = 0; i < ngot; i++) {
        struct st_msg m;
        struct dt_buf b = { 0 };
        if (st_store_get(f.st, got[i], &m, &b) == 0) {
            bool any = false;
            for (int k = 0; k < 3; k++)
                any |= dt_subject_matches(filters[k], strlen(filters[k]), m.subj, m.subj_len);
            match &= any;
        }
        dt_buf_free(&b);
    }
    CHECK(match);
    CHECK(nwant > 100);
    /* running count vs a recount (an update recounts) as messages arrive */
    for (int i = 0; i < 7; i++)
        pub(&f, subj[i], "m", T0);
    CHECK_INT(info(c, T0).num_pending, ==, 5);  /* a c.1 c.2 e.x.y e.z */
    struct st_cons_config cc;
    REQUIRE(st_cons_config_copy(&cc, st_consumer_config(c)) == 0);
    REQUIRE(st_cons_config_set_str(&cc, &cc.description, "x", 1) == 0);
    CHECK_INT(st_consumer_update(c, &cc, T0, NULL), ==, 0);
    st_cons_config_free(&cc);
    CHECK_INT(info(c, T0).num_pending, ==, 5);
out:
    fx_close(&f);
}

/* deliver_policy last_per_subject with filter_subjects: the last message
 * of each subject of each filter, in stream order, then new ones. */
static void
test_filters_last_per_subject(void)
{
    struct fx f;
    uint64_t v[16];
    REQUIRE(fx_open(&f, "L", "l.>", ST_RET_LIMITS, false) == 0);
    static const char *const subj[] = {
        "l.a.1", "l.b.1", "l.a.2", "l.a.1", "l.c.1", "l.b.1", "l.b.2", "l.c.1",
    };
    for (int i = 0; i < 8; i++)
        pub(&f, subj[i], "m", T0 + i);
    struct st_consumer *c = mk(&f, "{\"name\":\"lps\",\"deliver_policy\":\"last_per_subject\",\"filter_subjects\":[\"l.a.*\",\"l.b.1\"]}", T0, NULL);
    REQUIRE(c != NULL);
    struct st_cons_info in = info(c, T0);
    CHECK_INT(in.num_pending, ==, 3);                  /* 3 l.a.2, 4 l.a.1, 6 l.b.1 */
    CHECK_INT(in.delivered.stream_seq, ==, 2);
    pub(&f, "l.b.2", "m", T0 + 10);                    /* 9: not matched */
    pub(&f, "l.b.1", "m", T0 + 11);                    /* 10 */
    CHECK_INT(info(c, T0).num_pending, ==, 4);
    REQUIRE(pull(&f, c, "in.l", "{\"batch\":10,\"no_wait\":true}", T0) == 0);
    CHECK_INT(out_seqs(&f, v, 16), ==, 4);
    CHECK_INT(v[0], ==, 3);
    CHECK_INT(v[1], ==, 4);
    CHECK_INT(v[2], ==, 6);
    CHECK_INT(v[3], ==, 10);
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    /* a listed message removed before delivery: the next match at or
     * after it is taken, as with one filter (nats' LoadNextMsg) */
    struct st_consumer *d = mk(&f, "{\"name\":\"lps2\",\"deliver_policy\":\"last_per_subject\",\"filter_subjects\":[\"l.c.*\",\"l.a.*\"]}", T0, NULL);
    REQUIRE(d != NULL);
    CHECK_INT(info(d, T0).num_pending, ==, 3);          /* 3 l.a.2, 4 l.a.1, 8 l.c.1 */
    REQUIRE(st_store_delete(f.st, 4) == 0);
    st_cons_set_on_remove(f.set, 4, "l.a.1", 5, T0);
    REQUIRE(pull(&f, d, "in.l", "{\"batch\":10,\"no_wait\":true}", T0) == 0);
    CHECK_INT(out_seqs(&f, v, 16), ==, 3);
    CHECK_INT(v[0], ==, 3);
    CHECK_INT(v[1], ==, 5);
    CHECK_INT(v[2], ==, 8);
    pub(&f, "l.a.3", "m", T0 + 12);                    /* 11 */
    CHECK_INT(first_delivery(&f, d, T0), ==, 11);
out:
    fx_close(&f);
}

/* A durable with filter_subjects survives st_cons_set_free() /
 * st_cons_set_load() with its filters and state, beside durables of the
 * older kinds (filter_subject, none) in the same log; an update of the
 * filters is what comes back after the next restart. */
static void
test_filters_persistence(void)
{
    struct fx f;
    uint64_t v[16];
    char a0[128], infob[4096];
    REQUIRE(fx_open(&f, "P", "p.>", ST_RET_LIMITS, true) == 0);
    static const char *const subj[] = { "p.a", "p.b", "p.c.1", "p.a", "p.c.2", "p.b" };
    for (int i = 0; i < 6; i++)
        pub(&f, subj[i], "m", T0 + i);
    struct st_consumer *c = mk(&f, "{\"durable_name\":\"PF\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"p.a\",\"p.c.*\"]}", T0, NULL);
    REQUIRE(c != NULL);
    REQUIRE(mk(&f, "{\"durable_name\":\"OLD\",\"filter_subject\":\"p.b\"}", T0, NULL) != NULL);
    REQUIRE(mk(&f, "{\"durable_name\":\"ALL\"}", T0, NULL) != NULL);
    REQUIRE(pull(&f, c, "in.1", "{\"batch\":2}", T0) == 0);
    CHECK_INT(out_seqs(&f, v, 16), ==, 2);
    CHECK_INT(v[1], ==, 3);
    snprintf(a0, sizeof(a0), "%s", r_reply(&f, 0));
    CHECK(ack(&f, c, a0, "", NULL, T0 + MS) == 0);
    CHECK_INT(st_cons_set_flush(f.set), ==, 0);
    snprintf(infob, sizeof(infob), "%s", api(&f, "$JS.API.CONSUMER.INFO.P.PF", "", T0 + SEC));
    CHECK_CONTAINS(infob, "\"filter_subjects\":[\"p.a\",\"p.c.*\"]");
    CHECK_CONTAINS(infob, "\"num_ack_pending\":1,\"num_redelivered\":0,\"num_waiting\":0,\"num_pending\":2}");
    /* restart */
    st_cons_set_free(f.set);
    f.set = NULL;
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    size_t loaded = 0;
    CHECK_INT(st_cons_set_load(f.set, T0 + SEC, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 3);
    c = st_cons_set_find(f.set, "PF", 2);
    REQUIRE(c != NULL);
    CHECK_STR(api(&f, "$JS.API.CONSUMER.INFO.P.PF", "", T0 + SEC), infob);
    CHECK_INT(st_consumer_config(c)->nfilters, ==, 2);
    CHECK_STR(st_consumer_config(st_cons_set_find(f.set, "OLD", 3))->filter, "p.b");
    CHECK_INT(info(st_cons_set_find(f.set, "OLD", 3), T0).num_pending, ==, 2);
    /* it goes on where it was, with both filters */
    pub(&f, "p.b", "m", T0 + 7);                       /* 7: no */
    pub(&f, "p.c.3", "m", T0 + 8);                     /* 8 */
    REQUIRE(pull(&f, c, "in.2", "{\"batch\":10,\"no_wait\":true}", T0 + SEC) == 0);
    CHECK_INT(out_seqs(&f, v, 16), ==, 3);
    CHECK_INT(v[0], ==, 4);
    CHECK_INT(v[1], ==, 5);
    CHECK_INT(v[2], ==, 8);
    /* update the filters; the new ones come back */
    CHECK_CONTAINS(api(&f, "$JS.API.CONSUMER.DURABLE.CREATE.P.PF", "{\"stream_name\":\"P\",\"config\":{\"durable_name\":\"PF\",\"ack_policy\":\"explicit\",\"filter_subjects\":[\"p.b\",\"p.d\"]}}", T0 + SEC),
                   "\"filter_subjects\":[\"p.b\",\"p.d\"]");
    CHECK_INT(st_cons_set_flush(f.set), ==, 0);
    st_cons_set_free(f.set);
    REQUIRE(st_cons_set_new(&f.set, &f.s) == 0);
    CHECK_INT(st_cons_set_load(f.set, T0 + SEC, &loaded), ==, 0);
    CHECK_INT(loaded, ==, 3);
    c = st_cons_set_find(f.set, "PF", 2);
    REQUIRE(c != NULL);
    CHECK_INT(st_consumer_config(c)->nfilters, ==, 2);
    CHECK_STR(st_consumer_config(c)->filters[0], "p.b");
    CHECK_STR(st_consumer_config(c)->filters[1], "p.d");
    CHECK_INT(info(c, T0).delivered.stream_seq, ==, 8);
    CHECK_INT(info(c, T0).num_pending, ==, 0);
    pub(&f, "p.d", "m", T0 + 9);
    CHECK_INT(info(c, T0).num_pending, ==, 1);
out:
    fx_close(&f);
}

/* Many messages for one filter, one for the other at the very end: the
 * second filter's position is found once, not rescanned per message. */
static void
test_filters_scale(void)
{
    struct fx f;
    int n = under_asan() ? 20000 : 100000;
    char s[32];
    REQUIRE(fx_open(&f, "Z", "z.>", ST_RET_LIMITS, false) == 0);
    for (int i = 0; i < n; i++) {
        snprintf(s, sizeof(s), "z.a.%d", i % 10);
        pub(&f, s, "m", T0);
    }
    pub(&f, "z.b.1", "m", T0);
    struct st_consumer *c = mk(&f, "{\"name\":\"z\",\"inactive_threshold\":3600000000000,\"filter_subjects\":[\"z.a.*\",\"z.b.*\"]}", T0, NULL);
    REQUIRE(c != NULL);
    CHECK_INT(info(c, T0).num_pending, ==, (uint64_t)n + 1);
    double t0 = now_s();
    uint64_t got = 0, last = 0;
    bool ordered = true;
    for (int i = 0; i < n; i++) {
        REQUIRE(pull(&f, c, "in.z", "{\"batch\":1000,\"no_wait\":true}", T0) == 0);
        for (uint32_t k = 0; k < f.out.n; k++) {
            if (f.out.rec[k].kind != ST_OUT_MSG)
                continue;
            ordered &= f.out.rec[k].sseq > last;
            last = f.out.rec[k].sseq;
            got++;
        }
        if (got >= (uint64_t)n + 1)
            break;
    }
    double dt = now_s() - t0;
    CHECK_INT(got, ==, (uint64_t)n + 1);
    CHECK(ordered);
    CHECK_INT(last, ==, (uint64_t)n + 1);
    printf("# %d messages through a 2-filter consumer: %.3f s\n", n + 1, dt);
    if (!under_asan())
        CHECK_MSG(dt < 5.0, "%.2f s", dt);
out:
    fx_close(&f);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

int
main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/dt-cons-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    double t0 = now_s();
    test_ack_subject();
    test_ack_body();
    test_times();
    test_config_errors();
    test_workqueue_rules();
    test_api_create_json();
    test_api_manage();
    test_deliver_policies();
    test_ack_explicit();
    test_nak_term_wpi();
    test_ack_next();
    test_ack_all_and_none();
    test_redelivery_backoff_maxdeliver();
    test_max_ack_pending();
    test_filter_num_pending();
    test_pull_statuses();
    test_pull_misc();
    test_push();
    test_flow_control();
    test_outbox_full();
    test_inactive_threshold();
    test_persistence();
    test_log_compaction();
    test_replay_original();
    test_workqueue_flow();
    test_headers_only();
    test_bad_input();
    test_filters_parse_echo();
    test_filters_errors();
    test_filters_workqueue();
    test_filters_delivery();
    test_filters_random();
    test_filters_last_per_subject();
    test_filters_persistence();
    test_filters_scale();
    if (!(argc > 1 && strcmp(argv[1], "--no-scale") == 0))
        test_scale();
    printf("# total %.2f s\n", now_s() - t0);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return dt_check_summary(argv[0]);
}
