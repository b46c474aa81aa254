/*
 * test_st_stream.c -- unit tests for the stream layer (storage/
 * st_stream*.c): config parsing, defaults and nats-server's validation
 * errors; the registry (create, equal re-create, overlap, update rules,
 * delete, reopen from disk, memory streams); the publish path (PubAck
 * bytes, durability tickets, dedupe and its window, every expected-*
 * header, max_msg_size, discard old/new, per-subject limits, rollups,
 * sealed, interest skip); purge variants, message delete errors,
 * retention acks, max_age expiry, and the hooks consumers rely on.
 *
 * NOTES
 *   Real io_uring (exit 77 without it); every registry lives in a fresh
 *   directory under $TMPDIR (or /tmp), removed at the end.  Time is
 *   passed in explicitly, so nothing sleeps.  Bounded: well under 10 s.
 */
#include "dt_buf.h"
#include "dt_check.h"
#include "dt_json.h"
#include "st_io.h"
#include "st_io_fault.h"
#include "st_stream.h"
#include "st_format.h"              /* record and segment header sizes */
#include "st_stream_int.h"          /* white box: pending removals */

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000ll
#define T0 (1700000000ll * SEC + 123456789)

static struct st_io *uio;
static char root[256];
static unsigned ndirs;

/* ---- harness ------------------------------------------------------------- */

struct events {
    unsigned opened, updated, deleting;
    unsigned appends, removes, purges;
    uint64_t last_append, last_remove, purge_first, purge_last;
    uint64_t durable_ticket;
    unsigned failures;
    bool interest;              /* answer of has_interest */
    unsigned interest_calls;
    char rlog[512];             /* on_remove: "seq subj," each, cut short */
    unsigned long_bad;          /* long-subject removals reported wrong */
};

static struct events ev;

static void
on_stream(void *arg, struct st_stream *s, enum st_stream_event e)
{
    if (e == ST_STREAM_OPENED)
        ev.opened++;
    else if (e == ST_STREAM_UPDATED)
        ev.updated++;
    else
        ev.deleting++;
}

static void
on_append(void *arg, struct st_stream *s, uint64_t seq, const char *subj,
          size_t len)
{
    ev.appends++;
    ev.last_append = seq;
}

/* Subject of message `seq` in test_remove_subjects (seq 1..N_LONG). */
#define N_LONG 400
#define LONG_PAD 200

static void
long_subject(char *out, size_t n, uint64_t seq)
{
    snprintf(out, n, "rs.l.%llu.%0*d", (unsigned long long)seq, LONG_PAD,
             0);
}

static void
on_remove(void *arg, struct st_stream *s, uint64_t seq, const char *subj,
          size_t len)
{
    size_t used = strlen(ev.rlog);

    ev.removes++;
    ev.last_remove = seq;
    if (len > 5 && memcmp(subj, "rs.l.", 5) == 0) {
        char want[LONG_PAD + 32];
        long_subject(want, sizeof(want), seq);
        ev.long_bad += len != strlen(want) || memcmp(subj, want, len) != 0;
        return;
    }
    snprintf(ev.rlog + used, sizeof(ev.rlog) - used, "%llu %.*s,",
             (unsigned long long)seq, (int)len, subj);
}

static const char *
rlog_take(void)
{
    static char out[sizeof(ev.rlog)];

    memcpy(out, ev.rlog, sizeof(out));
    ev.rlog[0] = '\0';
    return out;
}

static void
on_purge(void *arg, struct st_stream *s, uint64_t first, uint64_t last)
{
    ev.purges++;
    ev.purge_first = first;
    ev.purge_last = last;
}

static bool
has_interest(void *arg, struct st_stream *s, const char *subj, size_t len)
{
    ev.interest_calls++;
    return ev.interest;
}

static uint64_t
consumer_count(void *arg, struct st_stream *s)
{
    return 0;
}

static void
on_done(void *arg, struct st_stream *s, const struct st_done *d)
{
    if (d->status < 0)
        ev.failures++;
    else if (d->ticket > ev.durable_ticket)
        ev.durable_ticket = d->ticket;
}

static void
new_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/r%u", root, ndirs++);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int
reg_open(struct st_registry **r, const char *dir, bool with_interest)
{
    struct st_registry_opts o;

    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.io = uio;
    o.on_done = on_done;
    o.hooks.on_stream = on_stream;
    o.hooks.on_append = on_append;
    o.hooks.on_remove = on_remove;
    o.hooks.on_purge = on_purge;
    o.hooks.has_interest = with_interest ? has_interest : NULL;
    o.hooks.consumer_count = consumer_count;
    o.max_dedupe = 1000;
    return st_registry_open(r, &o);
}

/* Parse + check + create from JSON text. */
static struct st_stream *
mk(struct st_registry *r, const char *json, struct st_jserr *err)
{
    struct st_stream_config cfg;
    struct st_stream *s = NULL;
    bool created;

    memset(err, 0, sizeof(*err));
    if (st_stream_config_parse_text(json, strlen(json), &cfg, err) < 0)
        return NULL;
    if (st_stream_config_check(&cfg, err) == 0)
        st_registry_create(r, &cfg, T0, &s, &created, err);
    st_stream_config_free(&cfg);
    return s;
}

static struct dt_buf ackb;

/* Publish; returns res.status or -errno; the ack text is in ackb. */
static int
pubh(struct st_stream *s, const char *subj, const char *hdr,
     const char *data, int64_t now, struct st_pub_result *res)
{
    struct st_pub_result tmp;

    ackb.len = 0;
    int rc = st_stream_publish(s, subj, strlen(subj), "r", 1, hdr,
                               hdr ? strlen(hdr) : 0, data, strlen(data),
                               now, res ? res : &tmp, &ackb);
    if (rc < 0)
        return rc;
    dt_buf_append(&ackb, "", 1);
    return (res ? res : &tmp)->status;
}

static int
pub(struct st_stream *s, const char *subj, const char *data)
{
    return pubh(s, subj, NULL, data, T0, NULL);
}

static const char *
ack(void)
{
    return ackb.data ? ackb.data : "";
}

/* Flush and poll until the store reported `ticket` durable. */
static int
wait_durable(struct st_registry *r, uint64_t ticket)
{
    for (int i = 0; i < 100000 && ev.durable_ticket < ticket; i++) {
        st_registry_flush(r);
        if (st_io_poll(uio, 1) < 0)
            return -EIO;
    }
    return ev.durable_ticket >= ticket ? 0 : -ETIMEDOUT;
}

static struct st_state
state(struct st_stream *s)
{
    struct st_state st;
    st_store_state(st_stream_store(s), &st);
    return st;
}

static uint64_t
subj_count(struct st_stream *s, const char *subj)
{
    struct st_subject_state ss = { 0 };
    st_store_subject_state(st_stream_store(s), subj, strlen(subj), &ss);
    return ss.msgs;
}

/* ---- config -------------------------------------------------------------- */

struct cfg_case {
    const char *json;
    int err_code;               /* 0 = valid */
    const char *desc;
};

static const struct cfg_case cfg_cases[] = {
    { "{\"name\":\"A\"}", 0, NULL },
    { "{\"name\":\"A.B\"}", 10052, "stream name is required and can not "
      "contain '.', '*', '>'" },
    { "{}", 10052, "stream name is required and can not contain '.', '*', "
      "'>'" },
    { "{\"name\":\"A\",\"subjects\":[\"$JS.API.>\"]}", 10052,
      "subjects overlap with jetstream api" },
    { "{\"name\":\"A\",\"subjects\":[\"$JS.API.>.x\"]}", 10052,
      "subjects overlap with jetstream api" },
    { "{\"name\":\"A\",\"subjects\":[\"$JS.API.STREAM.INFO.x\"]}", 10052,
      "subjects overlap with jetstream api" },
    { "{\"name\":\"A\",\"subjects\":[\"$JS.>\"]}", 0, NULL },
    { "{\"name\":\"A\",\"subjects\":[\"a b\"]}", 10052, "invalid subject" },
    { "{\"name\":\"A\",\"subjects\":[\"a\",\"a\"]}", 10052,
      "duplicate subjects detected" },
    { "{\"name\":\"A\",\"subjects\":[\"a.*\",\"a.b\"]}", 10052,
      "subject \"a.*\" overlaps with \"a.b\"" },
    { "{\"name\":\"A\",\"subjects\":[\"a.>\",\"a.b.>\"]}", 10052,
      "subject \"a.>\" overlaps with \"a.b.>\"" },
    { "{\"name\":\"A\",\"max_age\":1000}", 10052,
      "max age needs to be >= 100ms" },
    { "{\"name\":\"A\",\"max_age\":-5}", 10052,
      "duplicates window can not be negative" },
    { "{\"name\":\"A\",\"duplicate_window\":-1}", 10052,
      "duplicates window can not be negative" },
    { "{\"name\":\"A\",\"duplicate_window\":1000}", 10052,
      "duplicates window needs to be >= 100ms" },
    { "{\"name\":\"A\",\"max_age\":1000000000,\"duplicate_window\":"
      "2000000000}", 10052, "duplicates window can not be larger then max "
      "age" },
    { "{\"name\":\"A\",\"deny_purge\":true,\"allow_rollup_hdrs\":true}",
      10052, "roll-ups require the purge permission" },
    { "{\"name\":\"A\",\"num_replicas\":7}", 10052, "maximum replicas is 5" },
    { "{\"name\":\"A\",\"num_replicas\":-1}", 10133,
      "replicas count cannot be negative" },
    { "{\"name\":\"A\",\"discard_new_per_subject\":true}", 10052,
      "discard new per subject requires discard new policy to be set" },
    { "{\"name\":\"A\",\"discard\":\"new\",\"discard_new_per_subject\":true}",
      10052, "discard new per subject requires max msgs per subject > 0" },
    { "{\"name\":\"A\",\"retention\":\"foo\"}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"retention\":\"Interest\"}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"retention\":null}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"storage\":\"Memory\"}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"discard\":\"NEW\"}", 0, NULL },
    { "{\"name\":\"A\",\"max_msgs\":\"x\"}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"max_msgs\":1.0}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"max_msg_size\":3000000000}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"subjects\":\"x\"}", 10025, "invalid JSON" },
    { "[1]", 10025, "invalid JSON" },
    { "junk", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"mirror\":{\"name\":\"S\"},\"subjects\":[\"x\"]}",
      10034, "stream mirrors can not contain subjects" },
    { "{\"name\":\"A\",\"mirror\":{\"name\":\"S\"}}", 0, NULL },
    { "{\"name\":\"A\",\"sources\":[{\"name\":\"S\"}]}", 0, NULL },
    { "{\"name\":\"A\",\"mirror\":{\"name\":\"S\"},\"sources\":"
      "[{\"name\":\"T\"}]}", 10031,
      "stream mirrors can not also contain other sources" },
    { "{\"name\":\"A\",\"mirror\":{\"name\":\"A\"}}", 10052,
      "detected cycle" },
    { "{\"name\":\"A\",\"sources\":[{\"name\":\"S\"},{\"name\":\"A\"}]}",
      10052, "detected cycle" },
    { "{\"name\":\"A\",\"sources\":[{\"name\":\"S\",\"external\":"
      "{\"api\":\"$JS.x.API\"}}]}", 10052, "stream source external is not "
      "supported by this server (no other JetStream domains)" },
    { "{\"name\":\"A\",\"mirror\":{\"name\":\"S\",\"external\":"
      "{\"api\":\"$JS.x.API\"}}}", 10052, "stream mirror external is not "
      "supported by this server (no other JetStream domains)" },
    { "{\"name\":\"A\",\"sources\":[{\"name\":\"S\",\"opt_start_time\":"
      "\"bad\"}]}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"sources\":[{\"name\":\"S\",\"opt_start_seq\":"
      "-1}]}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"sources\":[7]}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"republish\":{\"src\":\">\",\"dest\":\"x\"}}",
      10052, "stream configuration for republish not valid" },
    { "{\"name\":\"A\",\"republish\":{\"dest\":\"A\"}}",
      10052, "stream configuration for republish destination forms a cycle" },
    { "{\"name\":\"A\",\"republish\":{\"src\":\"B\",\"dest\":\"x\"}}",
      10052, "stream configuration for republish source is not valid subset "
      "of subjects" },
    { "{\"name\":\"A\",\"republish\":{\"dest\":\"x.>\"}}", 0, NULL },
    { "{\"name\":\"A\",\"republish\":{\"dest\":\"x.>\",\"headers_only\":"
      "1}}", 10025, "invalid JSON" },
    { "{\"name\":\"A\",\"sources\":[],\"mirror\":null}", 0, NULL },
    { "{\"name\":\"A\",\"max_msgs\":null,\"name\":null}", 0, NULL },
};

static void
test_config_errors(void)
{
    for (size_t i = 0; i < sizeof(cfg_cases) / sizeof(cfg_cases[0]); i++) {
        const struct cfg_case *c = &cfg_cases[i];
        struct st_stream_config cfg;
        struct st_jserr e = { 0 };
        int rc = st_stream_config_parse_text(c->json, strlen(c->json), &cfg,
                                             &e);
        if (rc == 0) {
            rc = st_stream_config_check(&cfg, &e);
            st_stream_config_free(&cfg);
        }
        if (c->err_code == 0) {
            CHECK_MSG(rc == 0, "%s: %s", c->json, e.description);
            continue;
        }
        CHECK_MSG(rc < 0, "%s accepted", c->json);
        CHECK_MSG(e.err_code == c->err_code, "%s: err_code %d", c->json,
                  e.err_code);
        CHECK_STR(e.description, c->desc);
    }
    /* description too long */
    char *big = malloc(5000);
    struct st_stream_config cfg;
    struct st_jserr e;
    int n = snprintf(big, 5000, "{\"name\":\"A\",\"description\":\"");
    memset(big + n, 'x', 4100);
    strcpy(big + n + 4100, "\"}");
    CHECK(st_stream_config_parse_text(big, strlen(big), &cfg, &e) == 0);
    CHECK(st_stream_config_check(&cfg, &e) == -EINVAL);
    CHECK_STR(e.description, "stream description is too long, maximum "
              "allowed is 4096");
    st_stream_config_free(&cfg);
    free(big);
}

static char *
cfg_json(const char *in)
{
    struct st_stream_config cfg;
    struct st_jserr e;
    struct dt_buf b = { 0 };
    struct dt_jw w;

    if (st_stream_config_parse_text(in, strlen(in), &cfg, &e) < 0
        || st_stream_config_check(&cfg, &e) < 0)
        return strdup(e.description);
    dt_jw_init(&w, &b, false);
    st_stream_config_json(&w, &cfg);
    dt_buf_append(&b, "", 1);
    st_stream_config_free(&cfg);
    return b.data;
}

static void
test_config_defaults(void)
{
    char *j = cfg_json("{\"name\":\"S1\",\"subjects\":[\"foo.>\"]}");
    CHECK_STR(j, "{\"name\":\"S1\",\"subjects\":[\"foo.>\"],\"retention\":"
              "\"limits\",\"max_consumers\":-1,\"max_msgs\":-1,\"max_bytes\":"
              "-1,\"max_age\":0,\"max_msgs_per_subject\":-1,\"max_msg_size\":"
              "-1,\"discard\":\"old\",\"storage\":\"file\",\"num_replicas\":1,"
              "\"duplicate_window\":120000000000,\"allow_direct\":false,"
              "\"mirror_direct\":false,\"sealed\":false,\"deny_delete\":false,"
              "\"deny_purge\":false,\"allow_rollup_hdrs\":false}");
    free(j);
    /* no subjects: [name]; negative limits kept; dup window = max_age */
    j = cfg_json("{\"NAME\":\"A\",\"Max_Msgs\":-7,\"max_bytes\":-3,"
                 "\"max_age\":5000000000,\"retention\":\"interest\","
                 "\"storage\":\"memory\"}");
    CHECK_STR(j, "{\"name\":\"A\",\"subjects\":[\"A\"],\"retention\":"
              "\"interest\",\"max_consumers\":-1,\"max_msgs\":-7,\"max_bytes\":"
              "-3,\"max_age\":5000000000,\"max_msgs_per_subject\":-1,"
              "\"max_msg_size\":-1,\"discard\":\"old\",\"storage\":\"memory\","
              "\"num_replicas\":1,\"duplicate_window\":5000000000,"
              "\"allow_direct\":false,\"mirror_direct\":false,\"sealed\":"
              "false,\"deny_delete\":false,\"deny_purge\":false,"
              "\"allow_rollup_hdrs\":false}");
    free(j);
    /* every optional member, in nats-server's order */
    j = cfg_json("{\"name\":\"A\",\"subjects\":[\"a.>\",\"b\"],\"retention\":"
                 "\"workqueue\",\"metadata\":{\"x\":\"y\"},\"description\":"
                 "\"hi\",\"no_ack\":true,\"max_age\":60000000000,\"discard\":"
                 "\"new\",\"discard_new_per_subject\":true,"
                 "\"max_msgs_per_subject\":2,\"deny_delete\":true,"
                 "\"allow_direct\":true,\"placement\":{\"cluster\":\"c\"}}");
    CHECK_STR(j, "{\"name\":\"A\",\"description\":\"hi\",\"subjects\":"
              "[\"a.>\",\"b\"],\"retention\":\"workqueue\",\"max_consumers\":"
              "-1,\"max_msgs\":-1,\"max_bytes\":-1,\"max_age\":60000000000,"
              "\"max_msgs_per_subject\":2,\"max_msg_size\":-1,\"discard\":"
              "\"new\",\"storage\":\"file\",\"num_replicas\":1,\"no_ack\":true,"
              "\"duplicate_window\":60000000000,\"placement\":{\"cluster\":"
              "\"c\"},\"allow_direct\":true,\"mirror_direct\":false,"
              "\"discard_new_per_subject\":true,\"sealed\":false,"
              "\"deny_delete\":true,\"deny_purge\":false,\"allow_rollup_hdrs\":"
              "false,\"metadata\":{\"x\":\"y\"}}");
    free(j);
}

/* Mirror and sources: kept, echoed as nats-server 2.9.10 writes them (a
 * mirror gets no duplicate window, neither gets default subjects), and
 * a mirror can not be updated. */
static void
test_mirror_config(void)
{
    static const char tail[] = "\"allow_direct\":false,\"mirror_direct\":"
        "false,\"sealed\":false,\"deny_delete\":false,\"deny_purge\":false,"
        "\"allow_rollup_hdrs\":false}";
    static const char head[] = "\"retention\":\"limits\",\"max_consumers\":"
        "-1,\"max_msgs\":-1,\"max_bytes\":-1,\"max_age\":0,"
        "\"max_msgs_per_subject\":-1,\"max_msg_size\":-1,\"discard\":"
        "\"old\",\"storage\":\"file\",\"num_replicas\":1,";
    char want[1024];
    char *j = cfg_json("{\"name\":\"M\",\"mirror\":{\"name\":\"O\","
                       "\"opt_start_seq\":2,\"opt_start_time\":"
                       "\"2020-01-01T00:00:00Z\",\"filter_subject\":\"o.a\"}}");
    snprintf(want, sizeof(want), "{\"name\":\"M\",%s\"mirror\":{\"name\":"
             "\"O\",\"opt_start_seq\":2,\"opt_start_time\":"
             "\"2020-01-01T00:00:00Z\",\"filter_subject\":\"o.a\"},%s", head,
             tail);
    CHECK_STR(j, want);
    free(j);
    j = cfg_json("{\"name\":\"S2\",\"subjects\":[\"s2\"],\"sources\":"
                 "[{\"name\":\"O\",\"opt_start_seq\":3},{\"name\":\"NOPE\"}]}");
    snprintf(want, sizeof(want), "{\"name\":\"S2\",\"subjects\":[\"s2\"],"
             "%s\"duplicate_window\":120000000000,\"sources\":[{\"name\":"
             "\"O\",\"opt_start_seq\":3},{\"name\":\"NOPE\"}],%s", head,
             tail);
    CHECK_STR(j, want);
    free(j);

    struct st_stream_config a, b, c;
    struct st_jserr e = { 0 };
    static const char ma[] = "{\"name\":\"M\",\"mirror\":{\"name\":\"O\"}}";
    static const char mb[] = "{\"name\":\"M\",\"mirror\":{\"name\":\"P\"}}";
    REQUIRE(st_stream_config_parse_text(ma, strlen(ma), &a, &e) == 0);
    REQUIRE(st_stream_config_check(&a, &e) == 0);
    REQUIRE(st_stream_config_parse_text(mb, strlen(mb), &b, &e) == 0);
    REQUIRE(st_stream_config_check(&b, &e) == 0);
    CHECK(!st_stream_config_equal(&a, &b));
    CHECK(st_stream_config_update_check(&a, &b, &e) < 0);
    CHECK_INT(e.err_code, ==, 10055);
    CHECK_STR(e.description, "stream mirror configuration can not be "
              "updated");
    REQUIRE(st_stream_config_copy(&c, &a) == 0);
    CHECK(st_stream_config_equal(&a, &c));
    CHECK(st_stream_config_update_check(&a, &c, &e) == 0);
    st_stream_config_free(&c);
    st_stream_config_free(&b);
out:
    st_stream_config_free(&a);
}

static void
test_subjects(void)
{
#define COLL(a, b) st_stream_subjects_collide(a, strlen(a), b, strlen(b))
    CHECK(COLL("foo.>", "*.x"));
    CHECK(COLL("a.*", "a.>"));
    CHECK(COLL("a.b", "a.b"));
    CHECK(!COLL("a.>", "a"));
    CHECK(!COLL("a.*", "a.b.c"));
    CHECK(COLL("a.*.c", "a.b.*"));
    CHECK(!COLL("a.b", "a.c"));
    CHECK(COLL(">", "x"));
#undef COLL
    struct st_jserr e;
    CHECK(st_stream_name_check("A/b", 3, &e) == -EINVAL && e.err_code == 10128);
    CHECK(st_stream_name_check("ok", 2, &e) == 0);
    size_t vl;
    const char *h = "NATS/1.0\r\nX-Nats-Msg-Id: a\r\n"
                    "Nats-Msg-Id:   b c\r\n\r\n";
    const char *v = st_stream_hdr_get(h, strlen(h), "Nats-Msg-Id", &vl);
    CHECK(v && vl == 3 && memcmp(v, "b c", 3) == 0);
    CHECK(st_stream_hdr_get(h, strlen(h), "nats-msg-id", &vl) == NULL);
}

/* ---- registry ------------------------------------------------------------ */

static void
test_registry(void)
{
    struct st_registry *r = NULL, *r2 = NULL;
    struct st_stream_config cfg;
    struct st_stream *s, *s2;
    struct st_jserr e;
    char dir[300];
    bool created;

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    CHECK(reg_open(&r2, dir, false) == -EBUSY);
    unsigned opened = ev.opened;
    s = mk(r, "{\"name\":\"S1\",\"subjects\":[\"foo.>\"]}", &e);
    REQUIRE(s != NULL);
    CHECK(ev.opened == opened + 1);
    CHECK(st_stream_created(s) == T0);
    CHECK(st_registry_find(r, "S1", 2) == s);
    CHECK(st_registry_match(r, "foo.bar", 7) == s);
    CHECK(st_registry_match(r, "foo", 3) == NULL);
    /* same config again: the existing stream, not created */
    const char *same = "{\"name\":\"S1\",\"subjects\":[\"foo.>\"]}";
    REQUIRE(st_stream_config_parse_text(same, strlen(same), &cfg, &e) == 0);
    REQUIRE(st_stream_config_check(&cfg, &e) == 0);
    CHECK(st_registry_create(r, &cfg, T0 + 5, &s2, &created, &e) == 0);
    CHECK(s2 == s && !created && st_stream_created(s) == T0);
    st_stream_config_free(&cfg);
    CHECK(mk(r, "{\"name\":\"S1\",\"subjects\":[\"foo.>\",\"bar\"]}", &e)
          == NULL);
    CHECK(e.err_code == 10058 && e.code == 400);
    CHECK_STR(e.description, "stream name already in use with a different "
              "configuration");
    CHECK(mk(r, "{\"name\":\"S2\",\"subjects\":[\"foo.x\"]}", &e) == NULL);
    CHECK(e.err_code == 10065);
    CHECK_STR(e.description, "subjects overlap with an existing stream");
    CHECK(mk(r, "{\"name\":\"S2\",\"num_replicas\":3}", &e) == NULL);
    CHECK(e.err_code == 10074 && e.code == 500);
    CHECK(mk(r, "{\"name\":\"S2\",\"sealed\":true}", &e) == NULL);
    CHECK_STR(e.description, "stream configuration for create can not be "
              "sealed");
    s2 = mk(r, "{\"name\":\"S2\"}", &e);
    REQUIRE(s2 != NULL);
    CHECK(st_registry_count(r) == 2);
    struct st_stream **v;
    size_t n;
    REQUIRE(st_registry_sorted(r, &v, &n) == 0);
    CHECK(n == 2 && v[0] == s && v[1] == s2);
    free(v);
    unsigned del = ev.deleting;
    CHECK(st_registry_delete(r, s2) == 0);
    CHECK(ev.deleting == del + 1);
    CHECK(st_registry_find(r, "S2", 2) == NULL);
    char p[400];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/S2", dir);
    CHECK(stat(p, &sb) == -1);
    /* the name can be created again, empty */
    s2 = mk(r, "{\"name\":\"S2\"}", &e);
    CHECK(s2 != NULL && state(s2).msgs == 0);
out:
    st_registry_close(r);
}

static void
test_update(void)
{
    struct st_registry *r = NULL;
    struct st_stream_config cfg;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"P\",\"subjects\":[\"p.*\"],"
           "\"max_msgs_per_subject\":5}", &e);
    REQUIRE(s != NULL);
    REQUIRE(mk(r, "{\"name\":\"O\",\"subjects\":[\"o.*\"]}", &e) != NULL);
    for (int i = 0; i < 10; i++)
        pub(s, i % 2 ? "p.a" : "p.b", "x");
    static const struct {
        const char *json;
        const char *desc;
    } bad[] = {
        { "{\"name\":\"P\",\"subjects\":[\"p.*\"],\"storage\":\"memory\"}",
          "stream configuration update can not change storage type" },
        { "{\"name\":\"P\",\"subjects\":[\"p.*\"],\"retention\":\"workqueue\"}",
          "stream configuration update can not change retention policy" },
        { "{\"name\":\"P\",\"subjects\":[\"p.*\"],\"max_consumers\":5}",
          "stream configuration update can not change MaxConsumers" },
        { "{\"name\":\"P\",\"subjects\":[\"o.x\"]}",
          "subjects overlap with an existing stream" },
        { "{\"name\":\"P\",\"subjects\":[\"p.*\"],\"num_replicas\":3}",
          "replicas > 1 not supported in non-clustered mode" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        REQUIRE(st_stream_config_parse_text(bad[i].json, strlen(bad[i].json),
                                            &cfg, &e) == 0);
        REQUIRE(st_stream_config_check(&cfg, &e) == 0);
        CHECK(st_registry_update(r, s, &cfg, T0, &e) < 0);
        CHECK_STR(e.description, bad[i].desc);
        st_stream_config_free(&cfg);
    }
    /* tighter limits are applied at once */
    unsigned upd = ev.updated;
    const char *ok = "{\"name\":\"P\",\"subjects\":[\"p.*\",\"q\"],"
                     "\"max_msgs\":6,\"max_msgs_per_subject\":2,"
                     "\"deny_delete\":true}";
    REQUIRE(st_stream_config_parse_text(ok, strlen(ok), &cfg, &e) == 0);
    REQUIRE(st_stream_config_check(&cfg, &e) == 0);
    CHECK(st_registry_update(r, s, &cfg, T0, &e) == 0);
    st_stream_config_free(&cfg);
    CHECK(ev.updated == upd + 1);
    CHECK(state(s).msgs == 4);
    CHECK(subj_count(s, "p.a") == 2 && subj_count(s, "p.b") == 2);
    CHECK(st_stream_config(s)->nsubjects == 2);
    CHECK(st_registry_match(r, "q", 1) == s);
    /* introducing a per-subject limit does not trim (nats-server 2.9.10) */
    struct st_stream *o = st_registry_find(r, "O", 1);
    for (int i = 0; i < 3; i++)
        pub(o, "o.a", "x");
    const char *intro = "{\"name\":\"O\",\"subjects\":[\"o.*\"],"
                        "\"max_msgs_per_subject\":1}";
    REQUIRE(st_stream_config_parse_text(intro, strlen(intro), &cfg, &e) == 0);
    REQUIRE(st_stream_config_check(&cfg, &e) == 0);
    CHECK(st_registry_update(r, o, &cfg, T0, &e) == 0);
    st_stream_config_free(&cfg);
    CHECK(subj_count(o, "o.a") == 3);
    CHECK(pub(o, "o.a", "x") == ST_PUB_STORED && subj_count(o, "o.a") == 1);
    /* deny_delete cannot be undone; sealing adjusts the config */
    const char *undo = "{\"name\":\"P\",\"subjects\":[\"p.*\"]}";
    REQUIRE(st_stream_config_parse_text(undo, strlen(undo), &cfg, &e) == 0);
    REQUIRE(st_stream_config_check(&cfg, &e) == 0);
    CHECK(st_registry_update(r, s, &cfg, T0, &e) < 0);
    CHECK_STR(e.description, "stream configuration update can not cancel "
              "deny message deletes");
    st_stream_config_free(&cfg);
    const char *seal = "{\"name\":\"P\",\"subjects\":[\"p.*\"],\"sealed\":true,"
                       "\"deny_delete\":true,\"max_age\":100000000000}";
    REQUIRE(st_stream_config_parse_text(seal, strlen(seal), &cfg, &e) == 0);
    REQUIRE(st_stream_config_check(&cfg, &e) == 0);
    CHECK(st_registry_update(r, s, &cfg, T0, &e) == 0);
    st_stream_config_free(&cfg);
    const struct st_stream_config *c = st_stream_config(s);
    CHECK(c->sealed && c->max_age == 0 && c->discard == ST_SDISCARD_NEW
          && c->deny_purge && c->deny_delete && !c->allow_rollup
          && c->duplicate_window == 100 * SEC);
    struct st_pub_result res;
    CHECK(pubh(s, "p.a", NULL, "x", T0, &res) == ST_PUB_ERROR);
    CHECK(res.err.err_code == 10109);
    CHECK_STR(ack(), "{\"error\":{\"code\":400,\"err_code\":10109,"
              "\"description\":\"invalid operation on sealed stream\"},"
              "\"stream\":\"P\",\"seq\":0}");
    const char *unseal = "{\"name\":\"P\",\"subjects\":[\"p.*\"],"
                         "\"deny_delete\":true,\"deny_purge\":true}";
    REQUIRE(st_stream_config_parse_text(unseal, strlen(unseal), &cfg, &e)
            == 0);
    REQUIRE(st_stream_config_check(&cfg, &e) == 0);
    CHECK(st_registry_update(r, s, &cfg, T0, &e) < 0);
    CHECK_STR(e.description, "stream configuration update can not unseal a "
              "sealed stream");
    st_stream_config_free(&cfg);
out:
    st_registry_close(r);
}

/* ---- publish ------------------------------------------------------------- */

static void
test_publish_basic(void)
{
    struct st_registry *r = NULL;
    struct st_pub_result res;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"S1\",\"subjects\":[\"foo.>\"]}", &e);
    REQUIRE(s != NULL);
    unsigned appends = ev.appends;
    CHECK(pubh(s, "foo.a", NULL, "hello", T0, &res) == ST_PUB_STORED);
    CHECK(res.seq == 1 && res.reply && res.ticket > 0);
    CHECK_STR(ack(), "{\"stream\":\"S1\", \"seq\":1}");
    CHECK(ev.appends == appends + 1 && ev.last_append == 1);
    CHECK(wait_durable(r, res.ticket) == 0);
    CHECK(ev.failures == 0);
    /* no reply subject: stored, nothing to send */
    CHECK(st_stream_publish(s, "foo.b", 5, NULL, 0, NULL, 0, "x", 1, T0, &res,
                            &ackb) == 0);
    CHECK(res.status == ST_PUB_STORED && !res.reply && res.seq == 2);
    struct st_state st = state(s);
    CHECK(st.msgs == 2 && st.last_seq == 2 && st.num_subjects == 2);
    /* bytes as nats-server counts them: 22 + subj + data + 8 */
    CHECK_INT(st.bytes, ==, (22 + 5 + 5 + 8) + (22 + 5 + 1 + 8));
    CHECK(st_stream_publish(NULL, "x", 1, NULL, 0, NULL, 0, "", 0, T0, &res,
                            &ackb) == -EINVAL);
out:
    st_registry_close(r);
}

static void
test_dedupe(void)
{
    struct st_registry *r = NULL;
    struct st_pub_result res;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];
    const char *h1 = "NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n";

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"D\",\"subjects\":[\"d.*\"],\"duplicate_window\":"
           "1000000000}", &e);
    REQUIRE(s != NULL);
    CHECK(pubh(s, "d.a", NULL, "x", T0, &res) == ST_PUB_STORED);
    CHECK(pubh(s, "d.a", h1, "x", T0, &res) == ST_PUB_STORED && res.seq == 2);
    CHECK(pubh(s, "d.a", h1, "y", T0 + 1, &res) == ST_PUB_DUPLICATE);
    CHECK(res.seq == 2 && res.reply);
    CHECK_STR(ack(), "{\"stream\":\"D\", \"seq\":2,\"duplicate\": true}");
    CHECK(state(s).msgs == 2);
    /* still inside the window after a tick; gone after it */
    st_registry_tick(r, T0 + SEC / 2, 1);
    CHECK(pubh(s, "d.a", h1, "y", T0 + SEC / 2, &res) == ST_PUB_DUPLICATE);
    st_registry_tick(r, T0 + SEC, 2);
    CHECK(pubh(s, "d.a", h1, "y", T0 + SEC, &res) == ST_PUB_STORED);
    CHECK(res.seq == 3);
    /* many ids: bounded table keeps working */
    char h[80];
    for (int i = 0; i < 1500; i++) {
        snprintf(h, sizeof(h), "NATS/1.0\r\nNats-Msg-Id: id-%d\r\n\r\n", i);
        if (pubh(s, "d.b", h, "z", T0 + SEC, &res) != ST_PUB_STORED)
            break;
    }
    CHECK(state(s).last_seq == 1503);
    CHECK(pubh(s, "d.b", h, "z", T0 + SEC, &res) == ST_PUB_DUPLICATE);
    CHECK(res.seq == 1503);
    /* rebuilt from the store after a restart */
    uint64_t t = st_store_ticket(st_stream_store(s));
    CHECK(wait_durable(r, t) == 0);
    st_registry_close(r);
    r = NULL;
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = st_registry_find(r, "D", 1);
    REQUIRE(s != NULL);
    CHECK(pubh(s, "d.b", h, "z", T0 + SEC + 1, &res) == ST_PUB_DUPLICATE);
    CHECK(res.seq == 1503);
    CHECK(pubh(s, "d.b", "NATS/1.0\r\nNats-Expected-Last-Msg-Id: id-1499"
               "\r\n\r\n", "z", T0 + SEC + 1, &res) == ST_PUB_STORED);
out:
    st_registry_close(r);
}

static void
test_expected_headers(void)
{
    struct st_registry *r = NULL;
    struct st_pub_result res;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"S1\",\"subjects\":[\"foo.>\"]}", &e);
    REQUIRE(s != NULL);
    pub(s, "foo.a", "1");
    pubh(s, "foo.a", "NATS/1.0\r\nNats-Msg-Id: m1\r\n\r\n", "2", T0, &res);
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Stream: S2\r\n\r\n", "x",
               T0, &res) == ST_PUB_ERROR);
    CHECK_STR(ack(), "{\"error\":{\"code\":400,\"err_code\":10060,"
              "\"description\":\"expected stream does not match\"},"
              "\"stream\":\"S1\",\"seq\":0}");
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Stream: S1\r\n\r\n", "x",
               T0, &res) == ST_PUB_STORED && res.seq == 3);
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Last-Sequence: 7\r\n"
               "\r\n", "x", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(ack(), "{\"error\":{\"code\":400,\"err_code\":10071,"
              "\"description\":\"wrong last sequence: 3\"},\"stream\":\"S1\","
              "\"seq\":0}");
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Last-Sequence: abc\r\n"
               "\r\n", "x", T0, &res) == ST_PUB_ERROR);
    CHECK(pubh(s, "foo.b", "NATS/1.0\r\nNats-Expected-Last-Sequence: 3\r\n"
               "\r\n", "x", T0, &res) == ST_PUB_STORED && res.seq == 4);
    /* last msg id: the last message (seq 4) had none */
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Last-Msg-Id: m1\r\n"
               "\r\n", "x", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(res.err.description, "wrong last msg ID: ");
    CHECK(res.err.err_code == 10070);
    pubh(s, "foo.c", "NATS/1.0\r\nNats-Msg-Id: m2\r\n\r\n", "x", T0, &res);
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Last-Msg-Id: m2\r\n"
               "\r\n", "x", T0, &res) == ST_PUB_STORED && res.seq == 6);
    /* last subject sequence */
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 9"
               "\r\n\r\n", "x", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(res.err.description, "wrong last sequence: 6");
    CHECK(pubh(s, "foo.zz", "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 0"
               "\r\n\r\n", "x", T0, &res) == ST_PUB_STORED && res.seq == 7);
    CHECK(pubh(s, "foo.a", "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 6"
               "\r\n\r\n", "x", T0, &res) == ST_PUB_STORED && res.seq == 8);
    /* errors changed nothing */
    CHECK(state(s).msgs == 8);
out:
    st_registry_close(r);
}

static void
test_limits(void)
{
    struct st_registry *r = NULL;
    struct st_pub_result res;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    /* discard new, max_msgs */
    s = mk(r, "{\"name\":\"D1\",\"subjects\":[\"d1.*\"],\"discard\":\"new\","
           "\"max_msgs\":2}", &e);
    REQUIRE(s != NULL);
    pub(s, "d1.a", "1");
    pub(s, "d1.a", "2");
    CHECK(pubh(s, "d1.a", NULL, "3", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(ack(), "{\"error\":{\"code\":503,\"err_code\":10077,"
              "\"description\":\"maximum messages exceeded\"},\"stream\":"
              "\"D1\",\"seq\":0}");
    /* discard new, max_bytes (35 bytes per message here): the check
     * compares stored bytes + raw size, and the limit is then enforced
     * by removing the oldest, as nats-server 2.9.10 does */
    s = mk(r, "{\"name\":\"D2\",\"subjects\":[\"d2.*\"],\"discard\":\"new\","
           "\"max_bytes\":100}", &e);
    REQUIRE(s != NULL);
    CHECK(pub(s, "d2.a", "1") == ST_PUB_STORED);
    CHECK(pub(s, "d2.a", "2") == ST_PUB_STORED);
    CHECK(pub(s, "d2.a", "3") == ST_PUB_STORED);
    CHECK(pub(s, "d2.a", "4") == ST_PUB_STORED);
    CHECK(state(s).msgs == 2 && state(s).first_seq == 3);
    CHECK(pubh(s, "d2.a", NULL, "0123456789012345678901234567890", T0, &res)
          == ST_PUB_ERROR);
    CHECK_STR(res.err.description, "maximum bytes exceeded");
    /* discard new per subject */
    s = mk(r, "{\"name\":\"D3\",\"subjects\":[\"d3.*\"],\"discard\":\"new\","
           "\"max_msgs_per_subject\":1,\"discard_new_per_subject\":true}", &e);
    REQUIRE(s != NULL);
    CHECK(pub(s, "d3.a", "1") == ST_PUB_STORED);
    CHECK(pubh(s, "d3.a", NULL, "2", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(res.err.description, "maximum messages per subject exceeded");
    CHECK(pub(s, "d3.b", "3") == ST_PUB_STORED);
    /* discard new + per subject: the subject's oldest makes room */
    s = mk(r, "{\"name\":\"D4\",\"subjects\":[\"d4.*\"],\"discard\":\"new\","
           "\"max_msgs\":2,\"max_msgs_per_subject\":1}", &e);
    REQUIRE(s != NULL);
    CHECK(pub(s, "d4.a", "1") == ST_PUB_STORED);
    unsigned removes = ev.removes;
    rlog_take();
    CHECK(pub(s, "d4.a", "2") == ST_PUB_STORED);
    CHECK(ev.removes == removes + 1 && ev.last_remove == 1);
    CHECK_STR(rlog_take(), "1 d4.a,");
    CHECK(pub(s, "d4.b", "3") == ST_PUB_STORED);
    CHECK(pubh(s, "d4.c", NULL, "4", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(res.err.description, "maximum messages exceeded");
    struct st_state st = state(s);
    CHECK(st.msgs == 2 && st.first_seq == 2 && st.last_seq == 3);
    /* max_msg_size (headers count) and the 64 KiB header cap */
    s = mk(r, "{\"name\":\"D5\",\"subjects\":[\"d5.*\"],\"max_msg_size\":10}",
           &e);
    REQUIRE(s != NULL);
    CHECK(pub(s, "d5.a", "0123456789") == ST_PUB_STORED);
    CHECK(pubh(s, "d5.a", NULL, "01234567890", T0, &res) == ST_PUB_ERROR);
    CHECK_STR(ack(), "{\"error\":{\"code\":400,\"err_code\":10054,"
              "\"description\":\"message size exceeds maximum allowed\"},"
              "\"stream\":\"D5\",\"seq\":0}");
    CHECK(pubh(s, "d5.a", "NATS/1.0\r\nX: 1\r\n\r\n", "1", T0, &res)
          == ST_PUB_ERROR);
    s = mk(r, "{\"name\":\"D6\",\"subjects\":[\"d6.*\"]}", &e);
    REQUIRE(s != NULL);
    char *big = malloc(70000);
    memset(big, 'a', 70000);
    memcpy(big, "NATS/1.0\r\nX: ", 13);
    memcpy(big + 69996, "\r\n\r\n", 4);
    CHECK(st_stream_publish(s, "d6.a", 4, "r", 1, big, 70000, "x", 1, T0,
                            &res, NULL) == 0);
    CHECK(res.status == ST_PUB_ERROR && res.err.err_code == 10097);
    free(big);
    /* discard old: max_msgs, max_bytes, per subject */
    s = mk(r, "{\"name\":\"O1\",\"subjects\":[\"o1.*\"],\"max_msgs\":3,"
           "\"max_msgs_per_subject\":2}", &e);
    REQUIRE(s != NULL);
    unsigned purges = ev.purges;
    for (int i = 0; i < 5; i++)
        CHECK(pub(s, "o1.a", "x") == ST_PUB_STORED);
    CHECK(subj_count(s, "o1.a") == 2);
    CHECK(pub(s, "o1.b", "x") == ST_PUB_STORED);
    CHECK(pub(s, "o1.c", "x") == ST_PUB_STORED);
    st = state(s);
    CHECK(st.msgs == 3 && st.first_seq == 5 && st.last_seq == 7);
    CHECK(ev.purges > purges && ev.purge_first == 5 && ev.purge_last == 7);
    s = mk(r, "{\"name\":\"O2\",\"subjects\":[\"o2.*\"],\"max_bytes\":200}",
           &e);
    REQUIRE(s != NULL);
    for (int i = 0; i < 10; i++)
        pub(s, "o2.a", "0123456789");   /* 44 bytes each */
    st = state(s);
    CHECK(st.msgs == 4 && st.bytes == 176 && st.last_seq == 10);
out:
    st_registry_close(r);
}

static void
test_rollup(void)
{
    struct st_registry *r = NULL;
    struct st_pub_result res;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"NR\",\"subjects\":[\"nr.*\"]}", &e);
    REQUIRE(s != NULL);
    CHECK(pubh(s, "nr.a", "NATS/1.0\r\nNats-Rollup: sub\r\n\r\n", "x", T0,
               &res) == ST_PUB_ERROR);
    CHECK_STR(ack(), "{\"error\":{\"code\":500,\"err_code\":10111,"
              "\"description\":\"rollup not permitted\"},\"stream\":\"NR\","
              "\"seq\":0}");
    s = mk(r, "{\"name\":\"R\",\"subjects\":[\"r.*\"],\"allow_rollup_hdrs\":"
           "true,\"max_msgs_per_subject\":3}", &e);
    REQUIRE(s != NULL);
    pub(s, "r.a", "1");
    pub(s, "r.a", "2");
    pub(s, "r.b", "3");
    pub(s, "r.a", "4");
    pub(s, "r.a", "5");
    unsigned removes = ev.removes;
    rlog_take();
    CHECK(pubh(s, "r.a", "NATS/1.0\r\nNats-Rollup: sub\r\n\r\n", "6", T0,
               &res) == ST_PUB_STORED && res.seq == 6);
    CHECK(subj_count(s, "r.a") == 1 && subj_count(s, "r.b") == 1);
    CHECK(ev.removes == removes + 3);
    /* seq 1 went to the per-subject limit (3) already */
    CHECK_STR(rlog_take(), "2 r.a,4 r.a,5 r.a,");
    struct st_state st = state(s);
    CHECK(st.msgs == 2 && st.first_seq == 3 && st.num_deleted == 2);
    CHECK(pubh(s, "r.b", "NATS/1.0\r\nNats-Rollup: ALL\r\n\r\n", "7", T0,
               &res) == ST_PUB_STORED && res.seq == 7);
    st = state(s);
    CHECK(st.msgs == 1 && st.first_seq == 7);
    CHECK(ev.purge_first == 7);
    /* an unknown value: dropped without a reply, as nats-server does */
    CHECK(pubh(s, "r.b", "NATS/1.0\r\nNats-Rollup: bogus\r\n\r\n", "8", T0,
               &res) == ST_PUB_DROPPED);
    CHECK(!res.reply && ack()[0] == '\0' && state(s).last_seq == 7);
out:
    st_registry_close(r);
}

static void
test_no_ack_and_interest(void)
{
    struct st_registry *r = NULL;
    struct st_pub_result res;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, true) == 0);
    s = mk(r, "{\"name\":\"NA\",\"subjects\":[\"na\"],\"no_ack\":true}", &e);
    REQUIRE(s != NULL);
    CHECK(pubh(s, "na", NULL, "x", T0, &res) == ST_PUB_STORED && !res.reply);
    /* interest: nobody interested -> sequence used, message dropped */
    s = mk(r, "{\"name\":\"I\",\"subjects\":[\"i.*\"],\"retention\":"
           "\"interest\"}", &e);
    REQUIRE(s != NULL);
    ev.interest = false;
    unsigned appends = ev.appends;
    CHECK(pubh(s, "i.a", NULL, "1", T0, &res) == ST_PUB_STORED);
    CHECK(res.seq == 1);
    CHECK_STR(ack(), "{\"stream\":\"I\", \"seq\":1}");
    CHECK(ev.appends == appends);
    struct st_state st = state(s);
    CHECK(st.msgs == 0 && st.last_seq == 1);
    CHECK(wait_durable(r, res.ticket) == 0);
    ev.interest = true;
    CHECK(pubh(s, "i.a", NULL, "2", T0, &res) == ST_PUB_STORED);
    CHECK(res.seq == 2 && state(s).msgs == 1 && ev.appends == appends + 1);
    /* the consumer layer says nobody needs it any more */
    unsigned removes = ev.removes;
    rlog_take();
    CHECK(st_stream_ack_remove(s, 2) == 0);
    CHECK(state(s).msgs == 0 && ev.removes == removes + 1);
    CHECK_STR(rlog_take(), "2 i.a,");
    CHECK(st_stream_ack_remove(s, 2) == -ENOENT);
    /* limits retention ignores retention acks */
    s = st_registry_find(r, "NA", 2);
    CHECK(st_stream_ack_remove(s, 1) == 0 && state(s).msgs == 1);
    /* workqueue */
    s = mk(r, "{\"name\":\"W\",\"subjects\":[\"w\"],\"retention\":"
           "\"workqueue\"}", &e);
    REQUIRE(s != NULL);
    pub(s, "w", "1");
    pub(s, "w", "2");
    CHECK(st_stream_ack_remove(s, 1) == 0);
    st = state(s);
    CHECK(st.msgs == 1 && st.first_seq == 2);
    CHECK_STR(rlog_take(), "1 w,");
out:
    st_registry_close(r);
}

static void
test_purge_delete(void)
{
    struct st_registry *r = NULL;
    struct st_stream *s;
    struct st_jserr e;
    uint64_t purged;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"P\",\"subjects\":[\"p.*\"]}", &e);
    REQUIRE(s != NULL);
    for (int i = 0; i < 6; i++) {
        pub(s, "p.a", "x");
        pub(s, "p.b", "x");
    }
    unsigned removes = ev.removes;
    rlog_take();
    CHECK(st_stream_purge(s, "p.a", 3, 0, 2, &purged, &e) == 0 && purged == 4);
    CHECK(ev.removes == removes + 4 && subj_count(s, "p.a") == 2);
    CHECK_STR(rlog_take(), "1 p.a,3 p.a,5 p.a,7 p.a,");
    CHECK(st_stream_purge(s, NULL, 0, 4, 0, &purged, &e) == 0 && purged == 1);
    CHECK(state(s).first_seq == 4 && ev.purge_first == 4);
    CHECK_STR(rlog_take(), "");     /* on_purge only */
    CHECK(st_stream_purge(s, "p.b", 3, 9, 0, &purged, &e) == 0 && purged == 3);
    CHECK_STR(rlog_take(), "4 p.b,6 p.b,8 p.b,");
    CHECK(st_stream_purge(s, "x.y", 3, 0, 0, &purged, &e) == 0 && purged == 0);
    CHECK(st_stream_purge(s, NULL, 0, 0, 1, &purged, &e) == 0 && purged == 3);
    CHECK(state(s).msgs == 1);
    CHECK(st_stream_purge(s, NULL, 0, 0, 0, &purged, &e) == 0 && purged == 1);
    struct st_state st = state(s);
    CHECK(st.msgs == 0 && st.first_seq == 13 && st.last_seq == 12);
    CHECK(st_stream_purge(s, NULL, 0, 100, 0, &purged, &e) == 0);
    st = state(s);
    CHECK(st.first_seq == 100 && st.last_seq == 99);
    /* message delete: nats-server's three "not there" answers */
    s = mk(r, "{\"name\":\"M\",\"subjects\":[\"m.*\"]}", &e);
    REQUIRE(s != NULL);
    for (int i = 0; i < 4; i++)
        pub(s, "m.a", "x");
    rlog_take();
    CHECK(st_stream_delete_msg(s, 2, false, &e) == 0);
    CHECK_STR(rlog_take(), "2 m.a,");
    CHECK(st_stream_delete_msg(s, 2, false, &e) < 0);
    CHECK_STR(rlog_take(), "");
    CHECK(e.code == 400 && e.err_code == 10043);
    CHECK_STR(e.description, "sequence 2 not found");
    CHECK(st_stream_delete_msg(s, 99, true, &e) < 0);
    CHECK_STR(e.description, "stream store EOF");
    CHECK(st_stream_delete_msg(s, 0, true, &e) < 0);
    CHECK(e.code == 500 && e.err_code == 10057);
    CHECK_STR(e.description, "no message found");
    CHECK(st_stream_delete_msg(s, 1, false, &e) == 0);
    CHECK(st_stream_delete_msg(s, 1, false, &e) < 0);
    CHECK_STR(e.description, "no message found");
    /* deny flags */
    s = mk(r, "{\"name\":\"DP\",\"subjects\":[\"dp\"],\"deny_purge\":true,"
           "\"deny_delete\":true}", &e);
    REQUIRE(s != NULL);
    pub(s, "dp", "x");
    CHECK(st_stream_purge(s, NULL, 0, 0, 0, &purged, &e) < 0);
    CHECK(e.err_code == 10110);
    CHECK_STR(e.description, "stream purge not permitted");
    CHECK(st_stream_delete_msg(s, 1, false, &e) < 0);
    CHECK_STR(e.description, "message delete not permitted");
out:
    st_registry_close(r);
}

static int
count_deleted(void *arg, uint64_t seq)
{
    (*(uint64_t *)arg)++;
    return 0;
}

static int
count_subjects(void *arg, const char *subj, size_t len, uint64_t msgs)
{
    *(uint64_t *)arg += msgs;
    return 0;
}

static void
test_expire_and_walks(void)
{
    struct st_registry *r = NULL;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];
    uint64_t n = 0;

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"A\",\"subjects\":[\"a.>\"],\"max_age\":"
           "2000000000}", &e);
    REQUIRE(s != NULL);
    for (int i = 0; i < 10; i++)
        pubh(s, i < 5 ? "a.old" : "a.new.x", NULL, "x", T0 + i * SEC / 2,
             NULL);
    st_stream_subjects(s, "a.*", 3, count_subjects, &n);
    CHECK(n == 5);
    n = 0;
    st_stream_subjects(s, ">", 1, count_subjects, &n);
    CHECK(n == 10);
    st_stream_delete_msg(s, 7, false, &e);
    n = 0;
    st_stream_deleted(s, 0, count_deleted, &n);
    CHECK(n == 1);
    /* at T0 + 4.6 s everything older than 2.6 s is gone: ts < T0+2.6s */
    st_registry_tick(r, T0 + 4 * SEC + 6 * SEC / 10, 1);
    struct st_state st = state(s);
    CHECK_INT(st.first_seq, ==, 7 + 1);
    CHECK(st.msgs == 3);
    st_registry_tick(r, T0 + 100 * SEC, 2);
    CHECK(state(s).msgs == 0);
out:
    st_registry_close(r);
}

static void
test_reopen(void)
{
    struct st_registry *r = NULL;
    struct st_stream *s;
    struct st_jserr e;
    struct st_pub_result res;
    char dir[300];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"F\",\"subjects\":[\"f.*\"],\"description\":\"d\","
           "\"max_msgs\":100,\"metadata\":{\"k\":\"v\"}}", &e);
    REQUIRE(s != NULL);
    REQUIRE(mk(r, "{\"name\":\"MEM\",\"storage\":\"memory\"}", &e) != NULL);
    for (int i = 0; i < 20; i++)
        pubh(s, i % 2 ? "f.a" : "f.b", NULL, "payload", T0 + i, &res);
    st_stream_delete_msg(s, 5, false, &e);
    struct st_state before = state(s);
    CHECK(wait_durable(r, st_store_ticket(st_stream_store(s))) == 0);
    st_registry_close(r);
    r = NULL;
    unsigned opened = ev.opened;
    REQUIRE(reg_open(&r, dir, false) == 0);
    CHECK(ev.opened == opened + 1);
    CHECK(st_registry_count(r) == 1);
    CHECK(st_registry_find(r, "MEM", 3) == NULL);
    s = st_registry_find(r, "F", 1);
    REQUIRE(s != NULL);
    struct st_state after = state(s);
    CHECK(after.msgs == before.msgs && after.bytes == before.bytes
          && after.first_seq == before.first_seq
          && after.last_seq == before.last_seq
          && after.num_deleted == 1 && after.first_ts == before.first_ts
          && after.last_ts == before.last_ts);
    CHECK(st_stream_created(s) == T0);
    const struct st_stream_config *c = st_stream_config(s);
    CHECK(c->max_msgs == 100 && c->nmeta == 1 && strcmp(c->description, "d")
          == 0 && c->duplicate_window == 120 * SEC);
    CHECK(pubh(s, "f.a", NULL, "x", T0 + 100, &res) == ST_PUB_STORED
          && res.seq == 21);
    /* a memory stream can be made again */
    CHECK(mk(r, "{\"name\":\"MEM\",\"storage\":\"memory\"}", &e) != NULL);
    st_registry_close(r);
    r = NULL;
    /* a stream whose config cannot be read is skipped and kept; a
     * directory without one (an unfinished create) is replaced */
    char p[400];
    FILE *fp;
    snprintf(p, sizeof(p), "%s/BAD", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/BAD/stream.json", dir);
    fp = fopen(p, "w");
    if (fp) {
        fputs("{\"version\":99}", fp);
        fclose(fp);
    }
    snprintf(p, sizeof(p), "%s/HALF", dir);
    mkdir(p, 0755);
    REQUIRE(reg_open(&r, dir, false) == 0);
    CHECK(st_registry_count(r) == 1);
    CHECK(mk(r, "{\"name\":\"BAD\"}", &e) == NULL);
    CHECK(e.err_code == 10049);
    struct stat sb;
    snprintf(p, sizeof(p), "%s/BAD/stream.json", dir);
    CHECK(stat(p, &sb) == 0);
    CHECK(mk(r, "{\"name\":\"HALF\"}", &e) != NULL);
out:
    st_registry_close(r);
}

/*
 * Busy buffers: with the fault backend holding a batch in flight, the
 * other write buffer fills up.  Deletes take buffer space beyond its
 * size, so they only meet -EAGAIN when the buffer has no segment extent
 * left; records that nearly fill a 64 KiB segment each make every append
 * and every delete start a new segment, so the removals after an append
 * (per-subject limit, rollup) soon wait as pending ops.  Publishes are
 * then refused with -EAGAIN before changing anything, and once the batch
 * completes the pending removals are applied.
 */
/*
 * Every removal names the subject of the message removed: a wildcard
 * filtered purge (keep), one subject's last message, and subjects long
 * enough to be copied to the heap whose index strings are freed (and
 * their arena compacted) by the removal itself.
 */
static void
test_remove_subjects(void)
{
    struct st_registry *r = NULL;
    struct st_stream *s;
    struct st_jserr e;
    uint64_t purged;
    char dir[300], subj[LONG_PAD + 32];

    new_dir(dir, sizeof(dir));
    REQUIRE(reg_open(&r, dir, false) == 0);
    s = mk(r, "{\"name\":\"RS\",\"subjects\":[\"rs.>\"]}", &e);
    REQUIRE(s != NULL);
    for (uint64_t seq = 1; seq <= N_LONG; seq++) {
        long_subject(subj, sizeof(subj), seq);
        REQUIRE(pub(s, subj, "x") == ST_PUB_STORED);
    }
    pub(s, "rs.a", "x");                /* N_LONG + 1 */
    pub(s, "rs.b.1", "x");
    pub(s, "rs.a", "x");
    pub(s, "rs.c", "x");                /* N_LONG + 4 */
    rlog_take();
    ev.long_bad = 0;
    unsigned removes = ev.removes;
    struct st_stats before, after;
    st_store_stats(st_stream_store(s), &before);
    /* one long subject alone (copied to the heap, then freed) */
    CHECK(st_stream_delete_msg(s, 7, false, &e) == 0);
    CHECK(ev.removes == removes + 1 && ev.long_bad == 0);
    /* all the others in one purge: their strings go, the arena shrinks */
    CHECK(st_stream_purge(s, "rs.l.>", 6, 0, 0, &purged, &e) == 0);
    CHECK(purged == N_LONG - 1);
    CHECK(ev.removes == removes + N_LONG && ev.long_bad == 0);
    CHECK_STR(rlog_take(), "");
    st_store_stats(st_stream_store(s), &after);
    CHECK(after.subject_bytes + 65536 < before.subject_bytes);  /* compacted */
    /* a wildcard filter with keep: the oldest go, each with its own */
    CHECK(st_stream_purge(s, "rs.*", 4, 0, 1, &purged, &e) == 0);
    CHECK(purged == 2);
    CHECK_STR(rlog_take(), "401 rs.a,403 rs.a,");
    /* the last message of a subject */
    CHECK(st_stream_delete_msg(s, N_LONG + 4, false, &e) == 0);
    CHECK_STR(rlog_take(), "404 rs.c,");
    CHECK(state(s).msgs == 1 && subj_count(s, "rs.b.1") == 1);
out:
    st_registry_close(r);
}

static void
test_busy_buffers(void)
{
    struct st_registry *r = NULL;
    struct st_registry_opts o;
    struct st_pub_result res;
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];
    char *data = NULL;
    bool saw_pending = false, saw_again = false;
    size_t n = 65536 - ST_SEG_HDR - ST_REC_HDR - 3 - 8;

    new_dir(dir, sizeof(dir));
    REQUIRE(st_io_open_fault(&fio, &f) == 0);
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.io = fio;
    o.store.write_buffer = 4u << 20;
    o.store.segment_size = 65536;
    o.hooks.on_remove = on_remove;
    REQUIRE(st_registry_open(&r, &o) == 0);
    s = mk(r, "{\"name\":\"B\",\"subjects\":[\"b.*\"],\"allow_rollup_hdrs\":"
           "true,\"max_msgs_per_subject\":1}", &e);
    REQUIRE(s != NULL);
    data = malloc(n + 1);
    REQUIRE(data != NULL);
    memset(data, 'd', n);
    data[n] = '\0';
    CHECK(pub(s, "b.a", "first") == ST_PUB_STORED);
    st_fault_hold(f, true);
    st_registry_flush(r);               /* this batch stays in flight */
    /* one extent for a new subject: the deletes after the big appends
     * then land on the buffer's last extent and run out */
    CHECK(pub(s, "b.z", "z") == ST_PUB_STORED);
    for (int i = 0; i < 40 && !saw_again; i++) {
        int rc = pubh(s, "b.a", NULL, data, T0, &res);
        if (rc == -EAGAIN)
            saw_again = true;
        else
            CHECK(rc == ST_PUB_STORED);
        if (s->npend)
            saw_pending = true;
    }
    CHECK(saw_again);
    CHECK(saw_pending);
    uint64_t last = state(s).last_seq;
    CHECK(pubh(s, "b.a", NULL, data, T0, &res) == -EAGAIN);
    CHECK(state(s).last_seq == last);   /* refused before any change */
    st_fault_hold(f, false);
    for (int i = 0; i < 1000 && (s->npend || st_io_inflight(fio)); i++) {
        st_registry_flush(r);
        st_io_poll(fio, 0);
    }
    CHECK(s->npend == 0 && !s->need_enforce);
    CHECK(subj_count(s, "b.a") == 1);
    CHECK(pub(s, "b.a", "after") == ST_PUB_STORED);
    CHECK(subj_count(s, "b.a") == 1);
out:
    free(data);
    st_registry_close(r);
    if (fio)
        st_io_close(fio);
}

/* A retention removal that meets busy buffers waits, and consumers hear
 * of it, with its subject, when it runs. */
static void
test_busy_retention(void)
{
    struct st_registry *r = NULL;
    struct st_registry_opts o;
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_stream *s;
    struct st_jserr e;
    char dir[300];
    char *data = NULL;
    bool saw_again = false;
    size_t n = 65536 - ST_SEG_HDR - ST_REC_HDR - 4 - 8;

    new_dir(dir, sizeof(dir));
    REQUIRE(st_io_open_fault(&fio, &f) == 0);
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.io = fio;
    o.store.write_buffer = 4u << 20;
    o.store.segment_size = 65536;
    o.hooks.on_remove = on_remove;
    REQUIRE(st_registry_open(&r, &o) == 0);
    s = mk(r, "{\"name\":\"WB\",\"subjects\":[\"wb.*\"],\"retention\":"
           "\"workqueue\"}", &e);
    REQUIRE(s != NULL);
    data = malloc(n + 1);
    REQUIRE(data != NULL);
    memset(data, 'd', n);
    data[n] = '\0';
    CHECK(pub(s, "wb.a", "first") == ST_PUB_STORED);
    st_fault_hold(f, true);
    st_registry_flush(r);               /* this batch stays in flight */
    for (int i = 0; i < 80 && !saw_again; i++) {
        int rc = pub(s, "wb.big", data);
        if (rc == -EAGAIN)
            saw_again = true;
        else
            CHECK(rc == ST_PUB_STORED);
    }
    CHECK(saw_again);
    rlog_take();
    CHECK(st_stream_ack_remove(s, 1) == 0);
    CHECK(s->npend == 1 && state(s).first_seq == 1);
    CHECK_STR(rlog_take(), "");
    st_fault_hold(f, false);
    for (int i = 0; i < 1000 && (s->npend || st_io_inflight(fio)); i++) {
        st_registry_flush(r);
        st_io_poll(fio, 0);
    }
    CHECK(s->npend == 0 && state(s).first_seq == 2);
    CHECK_STR(rlog_take(), "1 wb.a,");
out:
    free(data);
    st_registry_close(r);
    if (fio)
        st_io_close(fio);
}

int
main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/dt-stream-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    int rc = st_io_open_uring(&uio, 0);
    if (rc < 0) {
        printf("io_uring unavailable (%s): skipped\n", strerror(-rc));
        rmdir(root);
        return 77;
    }
    test_config_errors();
    test_config_defaults();
    test_mirror_config();
    test_subjects();
    test_registry();
    test_update();
    test_publish_basic();
    test_dedupe();
    test_expected_headers();
    test_limits();
    test_rollup();
    test_no_ack_and_interest();
    test_purge_delete();
    test_expire_and_walks();
    test_reopen();
    test_remove_subjects();
    test_busy_buffers();
    test_busy_retention();
    dt_buf_free(&ackb);
    st_io_close(uio);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return dt_check_summary("test_st_stream");
}
