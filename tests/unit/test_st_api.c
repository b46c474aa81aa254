/*
 * test_st_api.c -- unit tests for the stream half of the JetStream API
 * (storage/st_api_stream.c) through st_api_handle(): account info,
 * stream create / update / info (subjects filter, paging, deleted
 * details) / delete / purge / names / list, message get and delete,
 * direct get (JSON and by-subject forms, 404 and 408 statuses), the
 * dispatcher's silent and not-mine answers, API counters, and the same
 * stream info after the registry is reopened from disk.
 *
 * NOTES
 *   Expected answers are nats-server 2.9.10's bytes (captured from the
 *   real server), except that '>' is not escaped as \u003e (same JSON).
 *   Times are fixed (T0 ...), so whole answers compare as strings.
 *   Real io_uring (exit 77 without it); temp dirs under $TMPDIR or /tmp.
 */
#include "dt_buf.h"
#include "dt_check.h"
#include "dt_json.h"
#include "st_api.h"
#include "st_io.h"
#include "st_stream.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000ll
#define T0 (1700000000ll * SEC + 123456789)     /* 2023-11-14T22:13:20... */
#define T0S "2023-11-14T22:13:20.123456789Z"

#define TP "{\"type\":\"io.nats.jetstream.api.v1."
#define ZERO_TS "0001-01-01T00:00:00Z"

static struct st_io *uio;
static char root[256];
static unsigned ndirs;
static struct st_api_out out;
static char *text;                  /* out.data as a C string */
static uint64_t durable;

static void
on_done(void *arg, struct st_stream *s, const struct st_done *d)
{
    if (d->status == 0 && d->ticket > durable)
        durable = d->ticket;
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int
reg_open(struct st_registry **r, const char *dir)
{
    struct st_registry_opts o;

    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.io = uio;
    o.on_done = on_done;
    return st_registry_open(r, &o);
}

/* Send one request; returns the st_api_handle() result, text = answer. */
static int
api(struct st_registry *r, const char *subj, const char *body)
{
    int rc = st_api_handle(r, subj, strlen(subj), "_R.1", 4, body,
                           strlen(body), T0, &out);

    free(text);
    text = malloc(out.data.len + 1);
    memcpy(text, out.data.data ? out.data.data : "", out.data.len);
    text[out.data.len] = '\0';
    return rc;
}

/* The answer's header block as a C string. */
static char *
hdr_text(void)
{
    static char buf[1024];
    size_t n = out.hdr.len < sizeof(buf) - 1 ? out.hdr.len : sizeof(buf) - 1;

    memcpy(buf, out.hdr.data ? out.hdr.data : "", n);
    buf[n] = '\0';
    return buf;
}

static void
pub(struct st_registry *r, const char *subj, const char *hdr,
    const char *data, int64_t now)
{
    struct st_stream *s = st_registry_match(r, subj, strlen(subj));
    struct st_pub_result res;

    if (s == NULL) {
        CHECK_MSG(0, "no stream for %s", subj);
        return;
    }
    CHECK(st_stream_publish(s, subj, strlen(subj), NULL, 0, hdr,
                            hdr ? strlen(hdr) : 0, data, strlen(data), now,
                            &res, NULL) == 0);
    CHECK(res.status == ST_PUB_STORED);
}

#define CFG_S1 "{\"name\":\"S1\",\"subjects\":[\"foo.>\"],\"retention\":" \
    "\"limits\",\"max_consumers\":-1,\"max_msgs\":-1,\"max_bytes\":-1," \
    "\"max_age\":0,\"max_msgs_per_subject\":-1,\"max_msg_size\":-1," \
    "\"discard\":\"old\",\"storage\":\"file\",\"num_replicas\":1," \
    "\"duplicate_window\":120000000000,\"allow_direct\":false," \
    "\"mirror_direct\":false,\"sealed\":false,\"deny_delete\":false," \
    "\"deny_purge\":false,\"allow_rollup_hdrs\":false}"

#define EMPTY_STATE "\"state\":{\"messages\":0,\"bytes\":0,\"first_seq\":0," \
    "\"first_ts\":\"" ZERO_TS "\",\"last_seq\":0,\"last_ts\":\"" ZERO_TS \
    "\",\"consumer_count\":0}"

/* ---- tests --------------------------------------------------------------- */

static void
test_time(void)
{
    char t[64];

    st_api_time(t, sizeof(t), T0);
    CHECK_STR(t, T0S);
    st_api_time(t, sizeof(t), 1700000000ll * SEC + 683964060);
    CHECK_STR(t, "2023-11-14T22:13:20.68396406Z");
    st_api_time(t, sizeof(t), 1700000000ll * SEC);
    CHECK_STR(t, "2023-11-14T22:13:20Z");
    st_api_time(t, sizeof(t), 0);
    CHECK_STR(t, ZERO_TS);
}

static void
test_create_info(struct st_registry *r)
{
    CHECK(api(r, "$JS.API.INFO", "") == ST_API_REPLY);
    CHECK_STR(text, TP "account_info_response\",\"memory\":0,\"storage\":0,"
              "\"streams\":0,\"consumers\":0,\"limits\":{\"max_memory\":-1,"
              "\"max_storage\":-1,\"max_streams\":-1,\"max_consumers\":-1,"
              "\"max_ack_pending\":-1,\"memory_max_stream_bytes\":-1,"
              "\"storage_max_stream_bytes\":-1,\"max_bytes_required\":false},"
              "\"api\":{\"total\":0,\"errors\":0}}");
    const char *c1 = "{\"name\":\"S1\",\"subjects\":[\"foo.>\"]}";
    CHECK(api(r, "$JS.API.STREAM.CREATE.S1", c1) == ST_API_REPLY);
    CHECK_STR(text, TP "stream_create_response\",\"config\":" CFG_S1
              ",\"created\":\"" T0S "\"," EMPTY_STATE ",\"did_create\":true}");
    /* the same again: the same answer */
    CHECK(api(r, "$JS.API.STREAM.CREATE.S1", c1) == ST_API_REPLY);
    CHECK_STR(text, TP "stream_create_response\",\"config\":" CFG_S1
              ",\"created\":\"" T0S "\"," EMPTY_STATE ",\"did_create\":true}");
    api(r, "$JS.API.STREAM.CREATE.S1",
        "{\"name\":\"S1\",\"subjects\":[\"foo.>\",\"bar\"]}");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":400,"
              "\"err_code\":10058,\"description\":\"stream name already in "
              "use with a different configuration\"}}");
    api(r, "$JS.API.STREAM.CREATE.S2", "{\"name\":\"S2\",\"subjects\":"
        "[\"foo.x\"]}");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":400,"
              "\"err_code\":10065,\"description\":\"subjects overlap with an "
              "existing stream\"}}");
    api(r, "$JS.API.STREAM.CREATE.A", "{\"name\":\"S3\"}");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":400,"
              "\"err_code\":10056,\"description\":\"stream name in subject "
              "does not match request\"}}");
    api(r, "$JS.API.STREAM.CREATE.A", "");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":400,"
              "\"err_code\":10025,\"description\":\"invalid JSON\"}}");
    api(r, "$JS.API.STREAM.CREATE.A/b", "{\"name\":\"A/b\"}");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":400,"
              "\"err_code\":10128,\"description\":\"Stream name can not "
              "contain path separators\"}}");
    api(r, "$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"max_age\":1000}");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":500,"
              "\"err_code\":10052,\"description\":\"max age needs to be >= "
              "100ms\"}}");
    api(r, "$JS.API.STREAM.CREATE.A", "{\"name\":\"A\",\"num_replicas\":3}");
    CHECK_STR(text, TP "stream_create_response\",\"error\":{\"code\":500,"
              "\"err_code\":10074,\"description\":\"replicas > 1 not "
              "supported in non-clustered mode\"}}");
    CHECK(api(r, "$JS.API.STREAM.INFO.S1", "") == ST_API_REPLY);
    CHECK_STR(text, TP "stream_info_response\",\"total\":0,\"offset\":0,"
              "\"limit\":0,\"config\":" CFG_S1 ",\"created\":\"" T0S "\","
              EMPTY_STATE "}");
    api(r, "$JS.API.STREAM.INFO.S9", "");
    CHECK_STR(text, TP "stream_info_response\",\"error\":{\"code\":404,"
              "\"err_code\":10059,\"description\":\"stream not found\"},"
              "\"total\":0,\"offset\":0,\"limit\":0}");
    api(r, "$JS.API.STREAM.INFO.S9", "junk");
    CHECK_STR(text, TP "stream_info_response\",\"error\":{\"code\":400,"
              "\"err_code\":10025,\"description\":\"invalid JSON\"},"
              "\"total\":0,\"offset\":0,\"limit\":0}");
}

static void
test_state_details(struct st_registry *r)
{
    const char *c3 = "{\"name\":\"S3\",\"subjects\":[\"bar.*\"],"
                     "\"allow_direct\":true}";

    CHECK(api(r, "$JS.API.STREAM.CREATE.S3", c3) == ST_API_REPLY);
    pub(r, "bar.a", NULL, "1", T0 + 1 * SEC);
    pub(r, "bar.b", "NATS/1.0\r\nX-A: 1\r\n\r\n", "2", T0 + 2 * SEC);
    pub(r, "bar.a", NULL, "3", T0 + 3 * SEC);
    pub(r, "bar.c", NULL, "", T0 + 4 * SEC);
    CHECK(api(r, "$JS.API.STREAM.MSG.DELETE.S3", "{\"seq\":2}")
          == ST_API_REPLY);
    CHECK_STR(text, TP "stream_msg_delete_response\",\"success\":true}");
    api(r, "$JS.API.STREAM.MSG.DELETE.S3", "{\"seq\":2}");
    CHECK_STR(text, TP "stream_msg_delete_response\",\"error\":{\"code\":400,"
              "\"err_code\":10043,\"description\":\"sequence 2 not found\"}}");
    api(r, "$JS.API.STREAM.MSG.DELETE.S3", "{\"seq\":3,\"no_erase\":true}");
    CHECK_STR(text, TP "stream_msg_delete_response\",\"success\":true}");
    api(r, "$JS.API.STREAM.MSG.DELETE.S3", "{\"seq\":99}");
    CHECK_STR(text, TP "stream_msg_delete_response\",\"error\":{\"code\":500,"
              "\"err_code\":10057,\"description\":\"stream store EOF\"}}");
    api(r, "$JS.API.STREAM.MSG.DELETE.S3", "");
    CHECK_STR(text, TP "stream_msg_delete_response\",\"error\":{\"code\":400,"
              "\"err_code\":10003,\"description\":\"bad request\"}}");
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\">\","
        "\"deleted_details\":true}");
    CHECK_CONTAINS(text, TP "stream_info_response\",\"total\":2,\"offset\":0,"
                   "\"limit\":100000,\"config\":{\"name\":\"S3\"");
    CHECK_CONTAINS(text, "\"state\":{\"messages\":2,\"bytes\":71,\"first_seq\""
                   ":1,\"first_ts\":\"2023-11-14T22:13:21.123456789Z\","
                   "\"last_seq\":4,\"last_ts\":\"2023-11-14T22:13:24.123456789Z"
                   "\",\"num_subjects\":2,\"subjects\":{\"bar.a\":1,"
                   "\"bar.c\":1},\"num_deleted\":2,\"deleted\":[2,3],"
                   "\"consumer_count\":0}}");
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\"bar.a\"}");
    CHECK_CONTAINS(text, "\"total\":1,\"offset\":0,\"limit\":100000,");
    CHECK_CONTAINS(text, "\"subjects\":{\"bar.a\":1},\"num_deleted\":2,"
                   "\"consumer_count\":0}}");
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\">\","
        "\"offset\":1}");
    CHECK_CONTAINS(text, "\"total\":2,\"offset\":1,\"limit\":100000,");
    CHECK_CONTAINS(text, "\"subjects\":{\"bar.c\":1},");
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\"zzz\"}");
    CHECK_CONTAINS(text, "\"total\":0,\"offset\":0,\"limit\":0,");
    CHECK(strstr(text, "\"subjects\":{") == NULL);
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\"bar.a\","
        "\"offset\":5}");
    CHECK_CONTAINS(text, "\"total\":1,\"offset\":1,\"limit\":100000,");
    CHECK(strstr(text, "\"subjects\":{") == NULL);
    /* message get */
    pub(r, "bar.a", "NATS/1.0\r\nX-A: 1\r\n\r\n", "five", T0 + 5 * SEC);
    api(r, "$JS.API.STREAM.MSG.GET.S3", "{\"seq\":1}");
    CHECK_STR(text, TP "stream_msg_get_response\",\"message\":{\"subject\":"
              "\"bar.a\",\"seq\":1,\"data\":\"MQ==\",\"time\":"
              "\"2023-11-14T22:13:21.123456789Z\"}}");
    api(r, "$JS.API.STREAM.MSG.GET.S3", "{\"last_by_subj\":\"bar.a\"}");
    CHECK_STR(text, TP "stream_msg_get_response\",\"message\":{\"subject\":"
              "\"bar.a\",\"seq\":5,\"hdrs\":\"TkFUUy8xLjANClgtQTogMQ0KDQo=\","
              "\"data\":\"Zml2ZQ==\",\"time\":"
              "\"2023-11-14T22:13:25.123456789Z\"}}");
    api(r, "$JS.API.STREAM.MSG.GET.S3", "{\"last_by_subj\":\"bar.*\"}");
    CHECK_CONTAINS(text, "\"seq\":5,");
    api(r, "$JS.API.STREAM.MSG.GET.S3", "{\"next_by_subj\":\"bar.c\","
        "\"seq\":2}");
    CHECK_STR(text, TP "stream_msg_get_response\",\"message\":{\"subject\":"
              "\"bar.c\",\"seq\":4,\"time\":"
              "\"2023-11-14T22:13:24.123456789Z\"}}");
    api(r, "$JS.API.STREAM.MSG.GET.S3", "{\"seq\":2}");
    CHECK_STR(text, TP "stream_msg_get_response\",\"error\":{\"code\":404,"
              "\"err_code\":10037,\"description\":\"no message found\"}}");
    api(r, "$JS.API.STREAM.MSG.GET.S3", "{\"last_by_subj\":\"bar.zz\"}");
    CHECK_CONTAINS(text, "\"err_code\":10037");
    static const char *const bad[] = {
        "", "{}", "{\"seq\":0}", "{\"seq\":1,\"last_by_subj\":\"bar.a\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api(r, "$JS.API.STREAM.MSG.GET.S3", bad[i]);
        CHECK_STR(text, TP "stream_msg_get_response\",\"error\":{\"code\":"
                  "400,\"err_code\":10003,\"description\":\"bad request\"}}");
    }
    api(r, "$JS.API.STREAM.MSG.GET.S3", "junk");
    CHECK_CONTAINS(text, "\"err_code\":10025");
    api(r, "$JS.API.STREAM.MSG.GET.S9", "{\"seq\":1}");
    CHECK_CONTAINS(text, "\"err_code\":10059");
}

static void
test_direct_get(struct st_registry *r)
{
    CHECK(api(r, "$JS.API.DIRECT.GET.S3", "{\"seq\":1}") == ST_API_REPLY);
    CHECK_STR(hdr_text(), "NATS/1.0\r\nNats-Stream: S3\r\nNats-Subject: bar.a"
              "\r\nNats-Sequence: 1\r\nNats-Time-Stamp: "
              "2023-11-14T22:13:21.123456789Z\r\n\r\n");
    CHECK_STR(text, "1");
    CHECK(api(r, "$JS.API.DIRECT.GET.S3", "{\"seq\":5}") == ST_API_REPLY);
    CHECK_STR(hdr_text(), "NATS/1.0\r\nX-A: 1\r\nNats-Stream: S3\r\n"
              "Nats-Subject: bar.a\r\nNats-Sequence: 5\r\nNats-Time-Stamp: "
              "2023-11-14T22:13:25.123456789Z\r\n\r\n");
    CHECK_STR(text, "five");
    api(r, "$JS.API.DIRECT.GET.S3", "{\"seq\":2}");
    CHECK_STR(hdr_text(), "NATS/1.0 404 Message Not Found\r\n\r\n");
    CHECK_STR(text, "");
    api(r, "$JS.API.DIRECT.GET.S3", "{\"next_by_subj\":\"bar.>\",\"seq\":2}");
    CHECK_CONTAINS(hdr_text(), "Nats-Sequence: 4\r\n");
    api(r, "$JS.API.DIRECT.GET.S3", "");
    CHECK_STR(hdr_text(), "NATS/1.0 408 Empty Request\r\n\r\n");
    api(r, "$JS.API.DIRECT.GET.S3", "{}");
    CHECK_STR(hdr_text(), "NATS/1.0 408 Empty Request\r\n\r\n");
    api(r, "$JS.API.DIRECT.GET.S3", "junk");
    CHECK_STR(hdr_text(), "NATS/1.0 408 Malformed Request\r\n\r\n");
    api(r, "$JS.API.DIRECT.GET.S3", "{\"seq\":1,\"last_by_subj\":\"bar.a\"}");
    CHECK_STR(hdr_text(), "NATS/1.0 408 Bad Request\r\n\r\n");
    CHECK(api(r, "$JS.API.DIRECT.GET.S3.bar.a", "") == ST_API_REPLY);
    CHECK_CONTAINS(hdr_text(), "Nats-Sequence: 5\r\n");
    CHECK_STR(text, "five");
    api(r, "$JS.API.DIRECT.GET.S3.bar.zz", "");
    CHECK_STR(hdr_text(), "NATS/1.0 404 Message Not Found\r\n\r\n");
    api(r, "$JS.API.DIRECT.GET.S3.bar.a", "x");
    CHECK_STR(hdr_text(), "NATS/1.0 408 Bad Request\r\n\r\n");
    /* no allow_direct, or no stream: nats-server does not answer */
    CHECK(api(r, "$JS.API.DIRECT.GET.S1", "{\"seq\":1}") == ST_API_NO_REPLY);
    CHECK(api(r, "$JS.API.DIRECT.GET.S9", "{\"seq\":1}") == ST_API_NO_REPLY);
}

static void
test_names_list(struct st_registry *r)
{
    api(r, "$JS.API.STREAM.NAMES", "");
    CHECK_STR(text, TP "stream_names_response\",\"total\":2,\"offset\":0,"
              "\"limit\":1024,\"streams\":[\"S1\",\"S3\"]}");
    api(r, "$JS.API.STREAM.NAMES", "{\"subject\":\"bar.x\"}");
    CHECK_STR(text, TP "stream_names_response\",\"total\":1,\"offset\":0,"
              "\"limit\":1024,\"streams\":[\"S3\"]}");
    api(r, "$JS.API.STREAM.NAMES", "{\"subject\":\"*.x\"}");
    CHECK_CONTAINS(text, "\"streams\":[\"S1\",\"S3\"]}");
    api(r, "$JS.API.STREAM.NAMES", "{\"subject\":\"nomatch\"}");
    CHECK_STR(text, TP "stream_names_response\",\"total\":0,\"offset\":0,"
              "\"limit\":1024,\"streams\":null}");
    api(r, "$JS.API.STREAM.NAMES", "{\"offset\":1}");
    CHECK_STR(text, TP "stream_names_response\",\"total\":2,\"offset\":1,"
              "\"limit\":1024,\"streams\":[\"S3\"]}");
    api(r, "$JS.API.STREAM.NAMES", "{\"offset\":5}");
    CHECK_STR(text, TP "stream_names_response\",\"total\":2,\"offset\":2,"
              "\"limit\":1024,\"streams\":null}");
    api(r, "$JS.API.STREAM.NAMES", "junk");
    CHECK_STR(text, TP "stream_names_response\",\"error\":{\"code\":400,"
              "\"err_code\":10025,\"description\":\"invalid JSON\"},"
              "\"total\":0,\"offset\":0,\"limit\":0,\"streams\":null}");
    api(r, "$JS.API.STREAM.LIST", "{\"offset\":1}");
    CHECK_CONTAINS(text, TP "stream_list_response\",\"total\":2,\"offset\":1,"
                   "\"limit\":256,\"streams\":[{\"config\":{\"name\":\"S3\"");
    CHECK_CONTAINS(text, "\"created\":\"" T0S "\",\"state\":{\"messages\":3,");
    api(r, "$JS.API.STREAM.LIST", "{\"subject\":\"nomatch\"}");
    CHECK_STR(text, TP "stream_list_response\",\"total\":0,\"offset\":0,"
              "\"limit\":256,\"streams\":[]}");
    api(r, "$JS.API.STREAM.LIST", "junk");
    CHECK_STR(text, TP "stream_list_response\",\"error\":{\"code\":400,"
              "\"err_code\":10025,\"description\":\"invalid JSON\"},"
              "\"total\":0,\"offset\":0,\"limit\":0,\"streams\":[]}");
}

static void
test_purge_update_delete(struct st_registry *r)
{
    api(r, "$JS.API.STREAM.CREATE.P", "{\"name\":\"P\",\"subjects\":"
        "[\"p.*\"]}");
    for (int i = 1; i <= 6; i++) {
        pub(r, "p.a", NULL, "x", T0 + i);
        pub(r, "p.b", NULL, "x", T0 + i);
    }
    api(r, "$JS.API.STREAM.PURGE.P", "{\"filter\":\"p.a\",\"keep\":2}");
    CHECK_STR(text, TP "stream_purge_response\",\"success\":true,"
              "\"purged\":4}");
    api(r, "$JS.API.STREAM.PURGE.P", "{\"seq\":4}");
    CHECK_STR(text, TP "stream_purge_response\",\"success\":true,"
              "\"purged\":1}");
    api(r, "$JS.API.STREAM.PURGE.P", "{\"filter\":\"p.b\",\"seq\":9}");
    CHECK_CONTAINS(text, "\"purged\":3}");
    api(r, "$JS.API.STREAM.PURGE.P", "{\"seq\":3,\"keep\":1}");
    CHECK_STR(text, TP "stream_purge_response\",\"error\":{\"code\":400,"
              "\"err_code\":10003,\"description\":\"bad request\"},"
              "\"purged\":0}");
    api(r, "$JS.API.STREAM.PURGE.P", "junk");
    CHECK_STR(text, TP "stream_purge_response\",\"error\":{\"code\":400,"
              "\"err_code\":10025,\"description\":\"invalid JSON\"},"
              "\"purged\":0}");
    api(r, "$JS.API.STREAM.PURGE.ZZ", "");
    CHECK_STR(text, TP "stream_purge_response\",\"error\":{\"code\":404,"
              "\"err_code\":10059,\"description\":\"stream not found\"},"
              "\"purged\":0}");
    api(r, "$JS.API.STREAM.PURGE.P", "");
    CHECK_CONTAINS(text, "\"purged\":4}");
    api(r, "$JS.API.STREAM.INFO.P", "");
    CHECK_CONTAINS(text, "\"state\":{\"messages\":0,\"bytes\":0,\"first_seq\":"
                   "13,\"first_ts\":\"" ZERO_TS "\",\"last_seq\":12,"
                   "\"last_ts\":\"2023-11-14T22:13:20.123456795Z\","
                   "\"consumer_count\":0}}");
    /* update */
    api(r, "$JS.API.STREAM.UPDATE.P", "{\"name\":\"P\",\"subjects\":[\"p.*\"],"
        "\"max_msgs\":5}");
    CHECK_CONTAINS(text, TP "stream_update_response\",\"config\":{\"name\":"
                   "\"P\",\"subjects\":[\"p.*\"],\"retention\":\"limits\","
                   "\"max_consumers\":-1,\"max_msgs\":5,");
    CHECK(strstr(text, "did_create") == NULL);
    api(r, "$JS.API.STREAM.UPDATE.P", "{\"name\":\"P\",\"subjects\":[\"p.*\"],"
        "\"storage\":\"memory\"}");
    CHECK_STR(text, TP "stream_update_response\",\"error\":{\"code\":500,"
              "\"err_code\":10052,\"description\":\"stream configuration "
              "update can not change storage type\"}}");
    api(r, "$JS.API.STREAM.UPDATE.P", "{\"name\":\"Q\"}");
    CHECK_CONTAINS(text, "\"err_code\":10056");
    api(r, "$JS.API.STREAM.UPDATE.ZZ", "{\"name\":\"ZZ\"}");
    CHECK_CONTAINS(text, "\"err_code\":10059");
    api(r, "$JS.API.STREAM.UPDATE.P", "{\"name\":\"P\",\"subjects\":"
        "[\"foo.x\"]}");
    CHECK_CONTAINS(text, "\"err_code\":10065");
    api(r, "$JS.API.STREAM.UPDATE.P", "{\"name\":\"P\",\"subjects\":[\"p.*\"],"
        "\"sealed\":true}");
    CHECK_CONTAINS(text, "\"discard\":\"new\",");
    CHECK_CONTAINS(text, "\"sealed\":true,\"deny_delete\":true,\"deny_purge\":"
                   "true,\"allow_rollup_hdrs\":false}");
    api(r, "$JS.API.STREAM.PURGE.P", "");
    CHECK_STR(text, TP "stream_purge_response\",\"error\":{\"code\":400,"
              "\"err_code\":10109,\"description\":\"invalid operation on "
              "sealed stream\"},\"purged\":0}");
    /* delete */
    api(r, "$JS.API.STREAM.DELETE.P", "x");
    CHECK_STR(text, TP "stream_delete_response\",\"error\":{\"code\":400,"
              "\"err_code\":10038,\"description\":\"expected an empty request "
              "payload\"}}");
    CHECK(api(r, "$JS.API.STREAM.DELETE.P", "{}") == ST_API_REPLY);
    CHECK_STR(text, TP "stream_delete_response\",\"success\":true}");
    api(r, "$JS.API.STREAM.DELETE.P", "");
    CHECK_STR(text, TP "stream_delete_response\",\"error\":{\"code\":404,"
              "\"err_code\":10059,\"description\":\"stream not found\"}}");
}

static void
test_dispatch(struct st_registry *r)
{
    CHECK(api(r, "$JS.API.FOO", "") == ST_API_NO_REPLY);
    CHECK(api(r, "$JS.API.STREAM.INFO", "") == ST_API_NO_REPLY);
    CHECK(api(r, "$JS.API.STREAM.INFO.S1.x", "") == ST_API_NO_REPLY);
    CHECK(api(r, "$JS.API.STREAM.NAMESX", "") == ST_API_NO_REPLY);
    CHECK(api(r, "$JS.API.CONSUMER.INFO.S1.C", "") == ST_API_NOT_MINE);
    CHECK(api(r, "foo.bar", "") == ST_API_NOT_MINE);
    api(r, "$JS.API.STREAM.LEADER.STEPDOWN.S1", "");
    CHECK_STR(text, TP "stream_leader_stepdown_response\",\"error\":{\"code\":"
              "503,\"err_code\":10010,\"description\":\"JetStream clustering "
              "support required\"}}");
    /* no reply subject: carried out, nothing to send */
    const char *b = "{\"name\":\"NR\"}";
    CHECK(st_api_handle(r, "$JS.API.STREAM.CREATE.NR", 24, NULL, 0, b,
                        strlen(b), T0, &out) == ST_API_NO_REPLY);
    CHECK(st_registry_find(r, "NR", 2) != NULL);
    /* Go unmarshals null into a zero request; other shapes are errors */
    api(r, "$JS.API.STREAM.MSG.GET.NR", "null");
    CHECK_CONTAINS(text, "\"err_code\":10003");
    api(r, "$JS.API.STREAM.INFO.NR", "5");
    CHECK_CONTAINS(text, "\"err_code\":10025");
    api(r, "$JS.API.STREAM.NAMES", "[]");
    CHECK_CONTAINS(text, "\"err_code\":10025");
    api(r, "$JS.API.STREAM.DELETE.NR", "null");
    CHECK_CONTAINS(text, "\"err_code\":10038");
    /* purging a stream that never held a message: first_seq 1 */
    api(r, "$JS.API.STREAM.INFO.NR", "null");
    CHECK_CONTAINS(text, "\"first_seq\":0,");
    api(r, "$JS.API.STREAM.PURGE.NR", "null");
    CHECK_CONTAINS(text, "\"success\":true,\"purged\":0}");
    api(r, "$JS.API.STREAM.INFO.NR", "");
    CHECK_CONTAINS(text, "\"first_seq\":1,");
    api(r, "$JS.API.STREAM.DELETE.NR", "");
    /* counters: the requests above, errors among them */
    uint64_t total, errors;
    st_registry_api_stats(r, &total, &errors);
    api(r, "$JS.API.INFO", "");
    char want[128];
    snprintf(want, sizeof(want), "\"api\":{\"total\":%llu,\"errors\":%llu}}",
             (unsigned long long)total, (unsigned long long)errors);
    CHECK_CONTAINS(text, want);
    CHECK(errors > 10 && total > errors);
    CHECK_CONTAINS(text, "\"streams\":2,\"consumers\":0,");
}

static void
test_reopen(const char *dir)
{
    struct st_registry *r = NULL;
    char *before = NULL;

    REQUIRE(reg_open(&r, dir) == 0);
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\">\","
        "\"deleted_details\":true}");
    before = strdup(text);
    struct st_stream *s = st_registry_find(r, "S3", 2);
    REQUIRE(s != NULL);
    uint64_t t = st_store_ticket(st_stream_store(s));
    for (int i = 0; i < 100000 && durable < t; i++) {
        st_registry_flush(r);
        st_io_poll(uio, 1);
    }
    st_registry_close(r);
    r = NULL;
    REQUIRE(reg_open(&r, dir) == 0);
    api(r, "$JS.API.STREAM.INFO.S3", "{\"subjects_filter\":\">\","
        "\"deleted_details\":true}");
    CHECK_STR(text, before);
    api(r, "$JS.API.STREAM.NAMES", "");
    CHECK_CONTAINS(text, "\"streams\":[\"S1\",\"S3\"]}");
out:
    free(before);
    st_registry_close(r);
}

int
main(void)
{
    struct st_registry *r = NULL;
    char dir[300];
    int rc;

    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/dt-api-XXXXXX",
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
    snprintf(dir, sizeof(dir), "%s/r%u", root, ndirs++);
    test_time();
    if (reg_open(&r, dir) == 0) {
        test_create_info(r);
        test_state_details(r);
        test_direct_get(r);
        test_names_list(r);
        test_purge_update_delete(r);
        test_dispatch(r);
        st_registry_close(r);
        test_reopen(dir);
    } else {
        CHECK_MSG(0, "registry open failed");
    }
    free(text);
    st_api_out_free(&out);
    st_io_close(uio);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return dt_check_summary("test_st_api");
}
