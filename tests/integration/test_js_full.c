/*
 * test_js_full.c -- a full disk: JetStream on a small tmpfs.  Publishes
 * that no longer fit get an error reply (never a false ack), the broker
 * keeps serving (stream info, core messages), and once the stream is
 * purged publishing works again; every message acknowledged before is
 * still there.
 *
 * NOTES
 *   Needs root for mount(2); skips (77) where tmpfs cannot be mounted.
 *   The store limit is set above the tmpfs size, so that the disk really
 *   fills up (below it, the limit answers first: test_js_limits).
 *   Dialtone only: nats-server 2.9.10 stops answering the publisher and
 *   then SIGTERM when its disk is full.
 *   The tmpfs is unmounted and its mount point removed at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define TMPFS_SIZE "size=6m"
#define MSG_SIZE 8192
#define MAX_PUBS 4000

static char payload[MSG_SIZE];

/* Publish until the first failure; returns how many were acked, *code
 * gets the JetStream error code of the failure (0 if none). */
static int
fill(jsCtx *js, int *code)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 3000;
    for (int i = 0; i < MAX_PUBS; i++) {
        jsPubAck *pa = NULL;
        jsErrCode ec = 0;
        natsStatus s = js_Publish(&pa, js, "full.x", payload, MSG_SIZE, NULL,
                                  &ec);
        jsPubAck_Destroy(pa);
        if (s != NATS_OK) {
            *code = (int)ec;
            printf("publish refused: %s\n", nats_GetLastError(NULL));
            return i;
        }
    }
    *code = 0;
    return MAX_PUBS;
}

static void
core_still_works(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    REQUIRE(natsConnection_SubscribeSync(&sub, nc, "core.ping") == NATS_OK);
    REQUIRE(natsConnection_PublishString(nc, "core.ping", "pong") == NATS_OK);
    CHECK(natsSubscription_NextMsg(&m, sub, 2000) == NATS_OK);
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
}

static void
run(const struct dt_server *s)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    jsStreamConfig cfg;
    const char *subjects[1] = { "full.>" };
    int code = 0;

    REQUIRE((nc = dt_nats_connect(s->url, NULL)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);
    jsStreamConfig_Init(&cfg);
    cfg.Name = "FULL";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    REQUIRE(js_AddStream(NULL, js, &cfg, NULL, NULL) == NATS_OK);

    int acked = fill(js, &code);
    printf("full after %d acked publishes of %d B, error code %d\n", acked,
           MSG_SIZE, code);
    CHECK(acked > 0 && acked < MAX_PUBS);
    CHECK_INT(code, ==, 10023);     /* insufficient resources */
    /* every acked message is there, nothing more */
    REQUIRE(js_GetStreamInfo(&si, js, "FULL", NULL, NULL) == NATS_OK);
    CHECK_INT(si->State.Msgs, ==, acked);
    jsStreamInfo_Destroy(si);
    si = NULL;
    core_still_works(nc);

    /* room again: publishing resumes */
    REQUIRE(js_PurgeStream(js, "FULL", NULL, NULL) == NATS_OK);
    int again = 0;
    for (int i = 0; i < 50 && again == 0; i++) {
        if (js_Publish(NULL, js, "full.y", "after", 5, NULL, NULL) ==
            NATS_OK)
            again = 1;
        else
            dt_sleep_ms(100);
    }
    CHECK(again == 1);
out:
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

int
main(int argc, char **argv)
{
    struct dt_server srv;
    char dir[256], conf[400];

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    memset(payload, 'f', sizeof(payload));
    if (dt_server_bin() == NULL || dt_bin_is_dialtone(dt_server_bin()) != 1) {
        /* nats-server 2.9.10 on a really full disk stops answering the
         * publisher and then SIGTERM (checked by hand): no reference */
        printf("SKIP: Dialtone only\n");
        return DT_EXIT_SKIP;
    }
    if (dt_mkdtemp(dir, sizeof(dir), "dt-jsfull") < 0)
        return 1;
    if (mount("dt-jsfull", dir, "tmpfs", 0, TMPFS_SIZE) != 0) {
        printf("SKIP: cannot mount a tmpfs (%s)\n", strerror(errno));
        rmdir(dir);
        return DT_EXIT_SKIP;
    }
    /* a limit above the tmpfs size: the disk itself fills up */
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n"
             "  max_file_store: 1GB\n}\n", dir);
    if (dt_server_start(&srv, conf, NULL) == 0)
        run(&srv);
    else
        CHECK(0);
    int rc = dt_nats_finish(&srv, argv[0]);
    if (umount2(dir, MNT_DETACH) != 0)
        fprintf(stderr, "umount %s: %s\n", dir, strerror(errno));
    rmdir(dir);
    return rc;
}
