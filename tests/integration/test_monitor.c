/*
 * test_monitor.c -- the HTTP monitoring port: /varz (identity, limits and
 * counters), /connz (one entry per client with cid, ip, port, name, lang,
 * version, subscriptions, in/out counters), /subsz (num_subscriptions),
 * /healthz ({"status":"ok"}), /jsz (disabled, then with JetStream on:
 * streams, consumers, messages and API calls counted), 404 for an unknown
 * path; and that counters move as clients connect, subscribe and publish.
 *
 * NOTES
 *   Counters may be refreshed lazily, so every "after" value is polled with
 *   a bounded wait.  Checks are relative to a "before" snapshot: a server
 *   may have internal subscriptions or connections of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 3000
#define BODY_MAX (1 << 20)

static char body[BODY_MAX];

/* the names /connz shows for test_counters()' two clients */
static const struct dt_nats_opts pub_opts = { .name = "mon-pub" };
static const struct dt_nats_opts sub_opts = { .name = "mon-sub" };

static long long
get_int(int port, const char *path, const char *key)
{
    long long v = -1;

    if (dt_http_get(port, path, body, sizeof(body)) != 200 ||
        dt_json_int(body, key, &v) < 0)
        return -1;
    return v;
}

/*
 * Copy into out the JSON object of /connz whose "name" is name (the
 * innermost {...} around the match; connection entries hold no nested
 * objects by default).  0 or -ENOENT.
 */
static int
connz_entry(int port, const char *name, char *out, size_t outlen)
{
    const char *p, *open, *close_;
    int depth = 0;

    if (dt_http_get(port, "/connz", body, sizeof(body)) != 200)
        return -ENOENT;
    for (p = body; (p = strstr(p, "\"name\"")) != NULL; p++) {
        char v[128];

        if (dt_json_str(p, "name", v, sizeof(v)) == 0 && strcmp(v, name) == 0)
            break;
    }
    if (p == NULL)
        return -ENOENT;
    for (open = p; open > body && *open != '{'; open--)
        ;
    for (close_ = open; *close_; close_++) {
        depth += *close_ == '{';
        depth -= *close_ == '}';
        if (depth == 0)
            break;
    }
    if (*close_ == '\0' || (size_t)(close_ - open + 2) > outlen)
        return -ENOENT;
    memcpy(out, open, (size_t)(close_ - open + 1));
    out[close_ - open + 1] = '\0';
    return 0;
}

/* Poll the connz entry named name until key reaches min. */
static long long
wait_connz_int(int port, const char *name, const char *key, long long min)
{
    long long deadline = dt_now_ms() + WAIT_MS, v = -1;
    char entry[8192];

    do {
        if (connz_entry(port, name, entry, sizeof(entry)) == 0 &&
            dt_json_int(entry, key, &v) == 0 && v >= min)
            break;
        dt_sleep_ms(20);
    } while (dt_now_ms() < deadline);
    return v;
}

static void
test_varz(const struct dt_server *s)
{
    static const char *const counters[] = {
        "connections", "total_connections", "in_msgs", "out_msgs",
        "in_bytes", "out_bytes", "slow_consumers", "subscriptions",
    };
    char str[256];
    long long v;

    REQUIRE(dt_http_get(s->http_port, "/varz", body, sizeof(body)) == 200);
    CHECK(dt_json_str(body, "server_id", str, sizeof(str)) == 0 &&
          str[0] != '\0');
    CHECK(dt_json_str(body, "version", str, sizeof(str)) == 0 &&
          str[0] != '\0');
    CHECK(dt_json_int(body, "port", &v) == 0 && v == s->port);
    CHECK(dt_json_int(body, "http_port", &v) == 0 && v == s->http_port);
    CHECK(dt_json_int(body, "max_payload", &v) == 0 && v == 1048576);
    CHECK(dt_json_int(body, "max_connections", &v) == 0 && v == 65536);
    CHECK(dt_json_int(body, "max_control_line", &v) == 0 && v == 4096);
    CHECK(dt_json_int(body, "ping_max", &v) == 0 && v == 2);
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        CHECK_MSG(dt_json_int(body, counters[i], &v) == 0 && v >= 0,
                  "varz %s", counters[i]);
    CHECK(dt_json_str(body, "start", str, sizeof(str)) == 0);
    CHECK(dt_json_str(body, "now", str, sizeof(str)) == 0);
out:
    return;
}

static void
test_counters(const struct dt_server *s)
{
    natsConnection *pub = NULL, *subc = NULL;
    natsSubscription *subs[3] = { NULL, NULL, NULL };
    long long conns0 = -1, in0, out0, inb0, subs0, v = 0;
    char entry[8192], str[128];
    int i;

    /* the harness's start-up probe may still be counted for a moment */
    for (long long deadline = dt_now_ms() + 1000; dt_now_ms() < deadline;
         dt_sleep_ms(20))
        if ((conns0 = get_int(s->http_port, "/varz", "connections")) == 0)
            break;
    in0 = get_int(s->http_port, "/varz", "in_msgs");
    out0 = get_int(s->http_port, "/varz", "out_msgs");
    inb0 = get_int(s->http_port, "/varz", "in_bytes");
    subs0 = get_int(s->http_port, "/subsz", "num_subscriptions");
    REQUIRE(conns0 >= 0 && in0 >= 0 && out0 >= 0 && subs0 >= 0);

    pub = dt_nats_connect(s->url, &pub_opts);
    subc = dt_nats_connect(s->url, &sub_opts);
    REQUIRE(pub != NULL && subc != NULL);
    CHECK(dt_http_wait_int(s->http_port, "/varz", "connections", conns0 + 2,
                           WAIT_MS, &v) == 0);
    CHECK_INT(v, ==, conns0 + 2);

    for (i = 0; i < 3; i++)
        REQUIRE(natsConnection_SubscribeSync(&subs[i], subc,
                                             i ? "mon.other" : "mon.x") ==
                NATS_OK);
    REQUIRE(natsConnection_Flush(subc) == NATS_OK);
    CHECK(dt_http_wait_int(s->http_port, "/subsz", "num_subscriptions",
                           subs0 + 3, WAIT_MS, &v) == 0);
    CHECK_INT(v, ==, subs0 + 3);

    for (i = 0; i < 5; i++)
        CHECK(natsConnection_PublishString(pub, "mon.x", "12345") == NATS_OK);
    CHECK(natsConnection_Flush(pub) == NATS_OK);
    CHECK(dt_http_wait_int(s->http_port, "/varz", "in_msgs", in0 + 5,
                           WAIT_MS, &v) == 0);
    CHECK_INT(v, ==, in0 + 5);
    CHECK(dt_http_wait_int(s->http_port, "/varz", "out_msgs", out0 + 5,
                           WAIT_MS, &v) == 0);
    CHECK_INT(v, ==, out0 + 5);
    CHECK(dt_http_wait_int(s->http_port, "/varz", "in_bytes", inb0 + 25,
                           WAIT_MS, &v) == 0);
    CHECK_INT(v, ==, inb0 + 25);

    /* per connection */
    CHECK_INT(wait_connz_int(s->http_port, "mon-pub", "in_msgs", 5), ==, 5);
    CHECK_INT(wait_connz_int(s->http_port, "mon-sub", "out_msgs", 5), ==, 5);
    REQUIRE(connz_entry(s->http_port, "mon-sub", entry, sizeof(entry)) == 0);
    CHECK(dt_json_int(entry, "cid", &v) == 0 && v > 0);
    CHECK(dt_json_str(entry, "ip", str, sizeof(str)) == 0 &&
          strcmp(str, "127.0.0.1") == 0);
    CHECK(dt_json_int(entry, "port", &v) == 0 && v > 0 && v < 65536);
    CHECK(dt_json_str(entry, "lang", str, sizeof(str)) == 0 &&
          strcmp(str, "C") == 0);
    CHECK(dt_json_str(entry, "version", str, sizeof(str)) == 0 &&
          strcmp(str, NATS_VERSION_STRING) == 0);
    CHECK(dt_json_int(entry, "subscriptions", &v) == 0 && v == 3);
    CHECK(dt_json_int(entry, "in_msgs", &v) == 0 && v == 0);
    CHECK(dt_json_int(entry, "out_bytes", &v) == 0 && v == 25);
    REQUIRE(dt_http_get(s->http_port, "/connz", body, sizeof(body)) == 200);
    CHECK(dt_json_int(body, "num_connections", &v) == 0 && v >= 2);
    CHECK(strstr(body, "\"connections\"") != NULL);

    /* unsubscribing and leaving are seen too */
    natsSubscription_Unsubscribe(subs[1]);
    natsSubscription_Unsubscribe(subs[2]);
    CHECK(natsConnection_Flush(subc) == NATS_OK);
    for (long long deadline = dt_now_ms() + WAIT_MS; dt_now_ms() < deadline;
         dt_sleep_ms(20))
        if ((v = get_int(s->http_port, "/subsz", "num_subscriptions")) ==
            subs0 + 1)
            break;
    CHECK_INT(v, ==, subs0 + 1);
    natsConnection_Destroy(pub);
    pub = NULL;
    for (long long deadline = dt_now_ms() + WAIT_MS; dt_now_ms() < deadline;
         dt_sleep_ms(20))
        if ((v = get_int(s->http_port, "/varz", "connections")) == conns0 + 1)
            break;
    CHECK_INT(v, ==, conns0 + 1);
    CHECK(connz_entry(s->http_port, "mon-pub", entry, sizeof(entry)) ==
          -ENOENT);
out:
    for (i = 0; i < 3; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(pub);
    natsConnection_Destroy(subc);
}

static void
test_health_and_404(const struct dt_server *s)
{
    char str[64];

    CHECK_INT(dt_http_get(s->http_port, "/healthz", body, sizeof(body)), ==,
              200);
    CHECK(dt_json_str(body, "status", str, sizeof(str)) == 0 &&
          strcmp(str, "ok") == 0);
    CHECK_INT(dt_http_get(s->http_port, "/no-such-page", body, sizeof(body)),
              ==, 404);
    CHECK_INT(dt_http_get(s->http_port, "/subsz", body, sizeof(body)), ==,
              200);
    CHECK(strstr(body, "\"num_subscriptions\"") != NULL);
}

/* JetStream off: /jsz still answers, says so, counts nothing. */
static void
test_jsz_off(const struct dt_server *s)
{
    long long v = -1;
    int b = 0;

    REQUIRE(dt_http_get(s->http_port, "/jsz", body, sizeof(body)) == 200);
    CHECK(dt_json_bool(body, "disabled", &b) == 0 && b == 1);
    CHECK(dt_json_int(body, "streams", &v) == 0 && v == 0);
    CHECK(dt_json_int(body, "accounts", &v) == 0 && v == 0);
out:
    return;
}

static long long
wait_jsz_int(int port, const char *key, long long want)
{
    /* longer than WAIT_MS: the storage loop may sit in an fsync */
    long long deadline = dt_now_ms() + 4 * WAIT_MS, v = -1;

    do {
        if ((v = get_int(port, "/jsz", key)) == want)
            break;
        dt_sleep_ms(20);
    } while (dt_now_ms() < deadline);
    return v;
}

static void
js_fill(const struct dt_server *s)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamConfig cfg;
    jsConsumerConfig cc;
    const char *subjects[1] = { "mon.>" };

    REQUIRE((nc = dt_nats_connect(s->url, NULL)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    jsStreamConfig_Init(&cfg);
    cfg.Name = "MON";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    REQUIRE(js_AddStream(NULL, js, &cfg, NULL, NULL) == NATS_OK);
    for (int i = 0; i < 5; i++)
        CHECK(js_Publish(NULL, js, "mon.x", "hello", 5, NULL, NULL) ==
              NATS_OK);
    jsConsumerConfig_Init(&cc);
    cc.Durable = "d";
    CHECK(js_AddConsumer(NULL, js, "MON", &cc, NULL, NULL) == NATS_OK);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void
test_jsz_on(const char *store)
{
    struct dt_server s;
    char conf[512], str[256];
    long long v;
    int b = 0;

    memset(&s, 0, sizeof(s));
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    REQUIRE(dt_server_start(&s, conf, NULL) == 0);
    js_fill(&s);
    CHECK_INT(wait_jsz_int(s.http_port, "streams", 1), ==, 1);
    CHECK_INT(wait_jsz_int(s.http_port, "consumers", 1), ==, 1);
    CHECK_INT(wait_jsz_int(s.http_port, "messages", 5), ==, 5);
    REQUIRE(dt_http_get(s.http_port, "/jsz", body, sizeof(body)) == 200);
    CHECK(dt_json_bool(body, "disabled", &b) < 0);
    CHECK(dt_json_int(body, "bytes", &v) == 0 && v > 5 * 5);
    CHECK(dt_json_int(body, "storage", &v) == 0 && v > 0);
    CHECK(dt_json_int(body, "accounts", &v) == 0 && v == 1);
    CHECK(dt_json_int(body, "total", &v) == 0 && v >= 2);  /* api */
    CHECK(dt_json_int(body, "max_storage", &v) == 0 && v > 0);
    CHECK(dt_json_str(body, "store_dir", str, sizeof(str)) == 0 &&
          strncmp(str, store, strlen(store)) == 0);
    REQUIRE(dt_http_get(s.http_port, "/varz", body, sizeof(body)) == 200);
    CHECK(strstr(body, "\"jetstream\": {\n") != NULL ||
          strstr(body, "\"jetstream\":{") != NULL);
    CHECK(dt_json_str(body, "store_dir", str, sizeof(str)) == 0);
out:
    dt_server_finish(&s);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    char store[256];

    REQUIRE(dt_server_start_or_skip(&srv, NULL, NULL) == 0);
    test_varz(&srv);
    test_counters(&srv);
    test_health_and_404(&srv);
    test_jsz_off(&srv);
    REQUIRE(dt_mkdtemp(store, sizeof(store), "dt-mon") == 0);
    test_jsz_on(store);
    dt_remove_tree(store);
out:
    return dt_nats_finish(&srv, argv[0]);
}
