/*
 * test_js_fuzz.c -- hostile JetStream API traffic: thousands of requests
 * to every $JS.API subject (and ack / flow-control subjects) with bodies
 * made of random JSON fragments, some well-formed; afterwards the server
 * must still serve JetStream (create, publish with ack, fetch) without any
 * of its processes having died, and /jsz must have counted API errors.
 *
 * NOTES
 *   Deterministic (fixed seed).  Replies are read and discarded after
 *   every batch (PING/PONG), so the fuzzing client is never a slow
 *   consumer.  Checked against nats-server 2.9.10 too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define REQUESTS 6000
#define BATCH 200

static const char *const subjects[] = {
    "$JS.API.INFO", "$JS.API.STREAM.CREATE.F", "$JS.API.STREAM.UPDATE.F",
    "$JS.API.STREAM.INFO.F", "$JS.API.STREAM.DELETE.F",
    "$JS.API.STREAM.PURGE.F", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.MSG.GET.F", "$JS.API.STREAM.MSG.DELETE.F",
    "$JS.API.DIRECT.GET.F", "$JS.API.DIRECT.GET.F.f.x",
    "$JS.API.CONSUMER.CREATE.F", "$JS.API.CONSUMER.CREATE.F.c.f.x",
    "$JS.API.CONSUMER.DURABLE.CREATE.F.d", "$JS.API.CONSUMER.INFO.F.d",
    "$JS.API.CONSUMER.DELETE.F.d", "$JS.API.CONSUMER.NAMES.F",
    "$JS.API.CONSUMER.LIST.F", "$JS.API.CONSUMER.MSG.NEXT.F.d",
    "$JS.ACK.F.d.1.1.1.1.1", "$JS.ACK.F.d.x", "$JS.FC.F.d.x", "f.x",
    "$JS.API.STREAM.CREATE.", "$JS.API.CONSUMER.CREATE.F.*",
};

static const char *const fragments[] = {
    "{", "}", "\"name\"", ":", "\"F\"", "[", "]", "\"subjects\"", "\"f.>\"",
    "123", "-1", "1e999", "\"max_msgs\"", ",", "null", "true", "\"config\"",
    "\"durable_name\"", "\"d\"", "\"deliver_subject\"", "\"_R.x\"",
    "\"batch\"", "99999999", "\"\\u0000\"", "\"filter_subject\"",
    "\"ack_policy\"", "\"explicit\"", "\"retention\"", "\"workqueue\"",
    "\xff\xfe", "\"max_age\"", "\"storage\"", "\"memory\"", "+ACK", "-NAK",
};

static const char *const wellformed[] = {
    "{\"name\":\"F\",\"subjects\":[\"f.>\"]}",
    "{\"durable_name\":\"d\",\"ack_policy\":\"explicit\"}",
    "{\"stream_name\":\"F\",\"config\":{\"durable_name\":\"d\"}}",
    "{\"batch\":5,\"no_wait\":true}",
    "{\"last_by_subj\":\"f.x\"}",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static size_t
random_body(char *b, size_t cap)
{
    if (rand() % 5 == 0)
        return (size_t)snprintf(b, cap, "%s", wellformed[rand() %
                                                         N(wellformed)]);
    size_t n = 0;
    for (int k = rand() % 20; k > 0; k--) {
        const char *f = fragments[rand() % N(fragments)];
        size_t l = strlen(f);
        if (n + l >= cap)
            break;
        memcpy(b + n, f, l);
        n += l;
    }
    return n;
}

static void
hammer(const struct dt_server *s)
{
    int fd = dt_raw_connect(s->port);
    char body[512], line[1024];

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false,\"headers\":true}",
                             NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "SUB _R.> 1\r\n") == 0);
    srand(20261126);
    for (int i = 0; i < REQUESTS; i++) {
        size_t n = random_body(body, sizeof(body));
        char head[256];
        int hl = snprintf(head, sizeof(head), "PUB %s _R.%d %zu\r\n",
                          subjects[rand() % N(subjects)], i, n);
        REQUIRE(dt_raw_send(fd, head, (size_t)hl) == 0);
        REQUIRE(dt_raw_send(fd, body, n) == 0);
        REQUIRE(dt_raw_sends(fd, "\r\n") == 0);
        if (i % BATCH == BATCH - 1) {
            REQUIRE(dt_raw_sends(fd, "PING\r\n") == 0);
            CHECK_MSG(dt_raw_expect(fd, "PONG", 10000, line,
                                    sizeof(line)) == 0,
                      "no PONG after request %d", i);
        }
    }
out:
    if (fd >= 0)
        close(fd);
}

/* JetStream still works: a fresh stream, an acked publish, a fetch. */
static void
still_serves(const struct dt_server *s)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsPubAck *pa = NULL;
    natsSubscription *sub = NULL;
    natsMsgList list = { 0 };
    jsStreamConfig cfg;
    const char *subs[1] = { "after.>" };

    REQUIRE((nc = dt_nats_connect(s->url, NULL)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    jsStreamConfig_Init(&cfg);
    cfg.Name = "AFTER";
    cfg.Subjects = subs;
    cfg.SubjectsLen = 1;
    REQUIRE(js_AddStream(NULL, js, &cfg, NULL, NULL) == NATS_OK);
    REQUIRE(js_Publish(&pa, js, "after.x", "ok", 2, NULL, NULL) == NATS_OK);
    CHECK(pa->Sequence == 1 && strcmp(pa->Stream, "AFTER") == 0);
    REQUIRE(js_PullSubscribe(&sub, js, "after.>", "p", NULL, NULL, NULL) ==
            NATS_OK);
    CHECK(natsSubscription_Fetch(&list, sub, 1, 3000, NULL) == NATS_OK &&
          list.Count == 1);
out:
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    jsPubAck_Destroy(pa);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Nothing of the server died and was restarted meanwhile. */
static void
nobody_died(const struct dt_server *s)
{
    char path[400], buf[4096];
    snprintf(path, sizeof(path), "%s/server.log", s->dir);
    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL);
    while (fgets(buf, sizeof(buf), f))
        CHECK_MSG(strstr(buf, "killed by signal") == NULL &&
                  strstr(buf, "exited with status") == NULL, "%s", buf);
    fclose(f);
out:
    return;
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    char store[256], conf[400];
    long long errors = -1;

    (void)argc;
    if (dt_mkdtemp(store, sizeof(store), "dt-jsfuzz") < 0) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    REQUIRE(dt_server_start_or_skip(&srv, conf, NULL) == 0);
    hammer(&srv);
    still_serves(&srv);
    CHECK(dt_http_wait_int(srv.http_port, "/jsz", "errors", 1, 3000,
                           &errors) == 0 && errors > 0);
    nobody_died(&srv);
out:
    dt_remove_tree(store);
    return dt_nats_finish(&srv, argv[0]);
}
