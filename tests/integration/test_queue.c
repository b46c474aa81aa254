/*
 * test_queue.c -- queue groups: a group of 4 members on separate
 * connections shares 4000 messages, each delivered exactly once and every
 * member getting some; a plain subscriber beside the group still gets all
 * of them; two groups on one subject each get every message once.
 *
 * NOTES
 *   Callbacks run on libnats threads and only record into a tally under
 *   its mutex; the main thread polls the tally (bounded) and checks.
 *   Payload = message index, so duplicates and losses are both visible.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define NMSGS 4000
#define NMEMBERS 4
#define WAIT_MS 5000

/* What one subscriber (or a group of them) has seen. */
struct tally {
    pthread_mutex_t mu;
    int total;              /* messages received */
    int bad;                /* unparsable payloads */
    int seen[NMSGS];        /* times each index was received */
};

/* One subscription's closure: its own count plus the shared tally. */
struct member {
    struct tally *t;
    int count;
};

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    struct member *mb = arg;
    char buf[16];
    int len = natsMsg_GetDataLength(m), idx = -1;

    (void)nc;
    (void)sub;
    if (len > 0 && len < (int)sizeof(buf)) {
        memcpy(buf, natsMsg_GetData(m), (size_t)len);
        buf[len] = '\0';
        idx = atoi(buf);
    }
    pthread_mutex_lock(&mb->t->mu);
    mb->count++;
    mb->t->total++;
    if (idx >= 0 && idx < NMSGS)
        mb->t->seen[idx]++;
    else
        mb->t->bad++;
    pthread_mutex_unlock(&mb->t->mu);
    natsMsg_Destroy(m);
}

static struct tally *
tally_new(void)
{
    struct tally *t = calloc(1, sizeof(*t));

    if (t)
        pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void
tally_free(struct tally *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int
tally_total(struct tally *t)
{
    int n;

    pthread_mutex_lock(&t->mu);
    n = t->total;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/*
 * Wait until t has want messages, then a little longer so that
 * duplicates would show; returns the final total.
 */
static int
tally_wait(struct tally *t, int want)
{
    long long deadline = dt_now_ms() + WAIT_MS;

    while (tally_total(t) < want && dt_now_ms() < deadline)
        dt_sleep_ms(10);
    dt_sleep_ms(200);
    return tally_total(t);
}

static int
member_count(struct member *mb)
{
    int n;

    pthread_mutex_lock(&mb->t->mu);
    n = mb->count;
    pthread_mutex_unlock(&mb->t->mu);
    return n;
}

/* Number of indexes seen exactly once. */
static int
tally_once(struct tally *t)
{
    int n = 0;

    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < NMSGS; i++)
        n += t->seen[i] == 1;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static int
publish_n(natsConnection *nc, const char *subject, int n)
{
    char buf[16];

    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        if (natsConnection_PublishString(nc, subject, buf) != NATS_OK)
            return -1;
    }
    return natsConnection_FlushTimeout(nc, 5000) == NATS_OK ? 0 : -1;
}

/* 4 members on 4 connections, plus one plain subscriber on a 5th. */
static void
test_group_and_plain(const char *url)
{
    natsConnection *conns[NMEMBERS + 2] = { NULL };
    natsSubscription *subs[NMEMBERS + 1] = { NULL };
    struct member members[NMEMBERS + 1];
    struct tally *group = tally_new(), *plain = tally_new();
    natsConnection *pub;
    int i;

    REQUIRE(group != NULL && plain != NULL);
    for (i = 0; i < NMEMBERS + 2; i++)
        REQUIRE((conns[i] = dt_nats_connect(url, NULL)) != NULL);
    pub = conns[NMEMBERS + 1];
    for (i = 0; i < NMEMBERS; i++) {
        members[i] = (struct member){ .t = group };
        REQUIRE(natsConnection_QueueSubscribe(&subs[i], conns[i], "q.work",
                                              "workers", on_msg,
                                              &members[i]) == NATS_OK);
        REQUIRE(natsConnection_Flush(conns[i]) == NATS_OK);
    }
    members[NMEMBERS] = (struct member){ .t = plain };
    REQUIRE(natsConnection_Subscribe(&subs[NMEMBERS], conns[NMEMBERS],
                                     "q.work", on_msg,
                                     &members[NMEMBERS]) == NATS_OK);
    REQUIRE(natsConnection_Flush(conns[NMEMBERS]) == NATS_OK);

    REQUIRE(publish_n(pub, "q.work", NMSGS) == 0);
    CHECK_INT(tally_wait(group, NMSGS), ==, NMSGS);
    CHECK_INT(tally_once(group), ==, NMSGS);
    for (i = 0; i < NMEMBERS; i++)
        CHECK_MSG(member_count(&members[i]) > 0, "member %d got nothing", i);
    CHECK_INT(tally_wait(plain, NMSGS), ==, NMSGS);
    CHECK_INT(tally_once(plain), ==, NMSGS);

    /* a member leaves: the others still share everything exactly once */
    CHECK(natsSubscription_Unsubscribe(subs[0]) == NATS_OK);
    CHECK(natsConnection_Flush(conns[0]) == NATS_OK);
    pthread_mutex_lock(&group->mu);
    memset(group->seen, 0, sizeof(group->seen));
    group->total = 0;
    members[0].count = 0;
    pthread_mutex_unlock(&group->mu);
    REQUIRE(publish_n(pub, "q.work", 1000) == 0);
    CHECK_INT(tally_wait(group, 1000), ==, 1000);
    CHECK_INT(tally_once(group), ==, 1000);
    CHECK_INT(member_count(&members[0]), ==, 0);
out:
    for (i = 0; i < NMEMBERS + 1; i++)
        natsSubscription_Destroy(subs[i]);
    for (i = 0; i < NMEMBERS + 2; i++)
        natsConnection_Destroy(conns[i]);
    tally_free(group);
    tally_free(plain);
}

/* Groups g1 and g2 (2 members each) on one subject: each gets all once. */
static void
test_two_groups(const char *url)
{
    natsConnection *conns[5] = { NULL };
    natsSubscription *subs[4] = { NULL };
    struct member members[4];
    struct tally *g[2] = { tally_new(), tally_new() };
    int i;

    REQUIRE(g[0] != NULL && g[1] != NULL);
    for (i = 0; i < 5; i++)
        REQUIRE((conns[i] = dt_nats_connect(url, NULL)) != NULL);
    for (i = 0; i < 4; i++) {
        members[i] = (struct member){ .t = g[i / 2] };
        REQUIRE(natsConnection_QueueSubscribe(&subs[i], conns[i], "q.two",
                                              i < 2 ? "g1" : "g2", on_msg,
                                              &members[i]) == NATS_OK);
        REQUIRE(natsConnection_Flush(conns[i]) == NATS_OK);
    }
    REQUIRE(publish_n(conns[4], "q.two", 1000) == 0);
    for (i = 0; i < 2; i++) {
        CHECK_INT(tally_wait(g[i], 1000), ==, 1000);
        CHECK_INT(tally_once(g[i]), ==, 1000);
    }
out:
    for (i = 0; i < 4; i++)
        natsSubscription_Destroy(subs[i]);
    for (i = 0; i < 5; i++)
        natsConnection_Destroy(conns[i]);
    tally_free(g[0]);
    tally_free(g[1]);
}

/* Raw: queue members on one connection with different sids share too. */
static void
test_raw_same_connection(int port)
{
    char line[256];
    int fd = dt_raw_connect(port), got = 0, pongs = 0;

    REQUIRE(fd >= 0);
    REQUIRE(dt_raw_handshake(fd, "{\"verbose\":false}", NULL, 0) == 0);
    REQUIRE(dt_raw_sends(fd, "SUB q.raw grp 1\r\nSUB q.raw grp 2\r\n"
                             "PUB q.raw 1\r\na\r\nPUB q.raw 1\r\nb\r\n"
                             "PING\r\n") == 0);
    while (pongs == 0 && dt_raw_expect(fd, NULL, 2000, line,
                                       sizeof(line)) == 0) {
        if (strncmp(line, "MSG q.raw ", 10) == 0)
            got++;
        pongs += strcmp(line, "PONG") == 0;
    }
    CHECK_INT(pongs, ==, 1);
    CHECK_INT(got, ==, 2);
out:
    if (fd >= 0)
        close(fd);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;

    REQUIRE(dt_server_start_or_skip(&srv, NULL, NULL) == 0);
    test_group_and_plain(srv.url);
    test_two_groups(srv.url);
    test_raw_same_connection(srv.port);
out:
    return dt_nats_finish(&srv, argv[0]);
}
