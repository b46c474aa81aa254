/*
 * test_js_crash.c -- JetStream durability under kill -9: every message
 * the server acknowledged before a crash is there after it, exactly once
 * and at the sequence the ack named, the stream state is consistent, and
 * a durable consumer's ack floor is what was acked before the crash.
 *
 *   group:     kill -9 the whole server process group while a publisher
 *              thread publishes synchronously, restart on the same store
 *              dir (nats-server and Dialtone).
 *   storage:   kill -9 only Dialtone's storage process while publishing;
 *              clients stay connected, failed or timed-out publishes are
 *              retried (same Nats-Msg-Id, so a retry of a stored message
 *              is a duplicate, not a second copy) until the master has
 *              restarted storage (Dialtone only).
 *   torn tail: as "group", plus garbage appended to the newest segment
 *              file before the restart (Dialtone's *.seg; nats-server's
 *              message blocks *.blk, so the test is checked against the
 *              reference too): recovery cuts it and keeps every
 *              acknowledged message.
 *
 * NOTES
 *   JetStream is enabled with a config file: `jetstream { store_dir:
 *   "<dir>" }`, plus `sync_interval: always` for Dialtone (nats-server
 *   2.9.10 does not know sync_interval; after kill -9 the page cache
 *   keeps what it wrote, which is what this test can observe anyway).
 *   Each phase uses its own mkdtemp store dir, removed at its end.
 *   The publisher thread only records (id, seq) pairs; the main thread
 *   reads them after joining it, and runs every check.  Every wait is
 *   bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 5000
#define MAX_RECS 50000          /* most publishes one phase records */
#define PRE_MSGS 100            /* published and partly acked before */
#define PRE_ACKED 50            /* the durable consumer's floor */
#define KILL_AFTER 3000         /* acked publishes before the kill */
#define STREAM "CRASH"
#define SUBJ "crash.x"

/* ---- store dir ------------------------------------------------------ */

/* The newest *<seg_suffix> under the store dir (latest mtime, then name). */
static const char *seg_suffix = ".seg";
static char newest_seg[1024];
static struct timespec newest_mtime;

static int
seg_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);

    (void)ftw;
    if (flag != FTW_F || n < strlen(seg_suffix) ||
        strcmp(path + n - strlen(seg_suffix), seg_suffix) != 0)
        return 0;
    if (newest_seg[0] == '\0' ||
        st->st_mtim.tv_sec > newest_mtime.tv_sec ||
        (st->st_mtim.tv_sec == newest_mtime.tv_sec &&
         st->st_mtim.tv_nsec > newest_mtime.tv_nsec) ||
        (st->st_mtim.tv_sec == newest_mtime.tv_sec &&
         st->st_mtim.tv_nsec == newest_mtime.tv_nsec &&
         strcmp(path, newest_seg) > 0)) {
        snprintf(newest_seg, sizeof(newest_seg), "%s", path);
        newest_mtime = st->st_mtim;
    }
    return 0;
}

/* Append garbage to the newest segment; its old size, or -errno. */
static long long
tear_tail(const char *store)
{
    /* looks like the start of a record, then junk: a torn append */
    static const unsigned char junk[53] = {
        0x30, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x41, 0x42,
        0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
        0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff,
        0x13, 0x37, 0x13, 0x37, 0x13, 0x37, 0x13, 0x37, 0x13, 0x37,
        0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
        0x01, 0x02, 0x03,
    };
    struct stat st;
    int fd, rc = 0;

    newest_seg[0] = '\0';
    nftw(store, seg_entry, 16, FTW_PHYS);
    if (newest_seg[0] == '\0')
        return -ENOENT;
    fd = open(newest_seg, O_WRONLY | O_APPEND);
    if (fd == -1)
        return -errno;
    if (fstat(fd, &st) == -1 ||
        write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
        rc = -EIO;
    close(fd);
    return rc < 0 ? rc : (long long)st.st_size;
}

/* ---- processes ------------------------------------------------------ */

/* kill -9 the server's process group and reap it.  0 or -1. */
static int
kill_group(struct dt_server *s)
{
    int rc;

    if (s->pid <= 0 || killpg(s->pid, SIGKILL) == -1)
        return -1;
    rc = dt_server_wait(s, WAIT_MS);
    CHECK_MSG(rc == 128 + SIGKILL, "server status after kill -9: %d", rc);
    dt_server_cleanup(s);       /* the rest of the group, the log dir */
    return rc == 128 + SIGKILL ? 0 : -1;
}

/* ---- publisher ------------------------------------------------------ */

struct rec {
    uint64_t seq;
    int id;
    bool dup;
};

struct publisher {
    jsCtx *js;
    bool retry;             /* retry a failed publish (storage restart) */
    atomic_int stop;
    atomic_int acked;       /* recs[0..acked) are filled */
    atomic_int failures;    /* failed attempts */
    int next_id;            /* the id being published */
    natsStatus last_err;
    struct rec recs[MAX_RECS];
};

/* Publish "m-<id>" with Nats-Msg-Id "m-<id>" once. */
static natsStatus
publish_id(jsCtx *js, int id, uint64_t *seq, bool *dup)
{
    char buf[32];
    jsPubOptions po;
    jsPubAck *pa = NULL;
    natsStatus st;

    snprintf(buf, sizeof(buf), "m-%d", id);
    jsPubOptions_Init(&po);
    po.MsgId = buf;
    po.MaxWait = 1000;
    st = js_Publish(&pa, js, SUBJ, buf, (int)strlen(buf), &po, NULL);
    if (st == NATS_OK) {
        *seq = pa->Sequence;
        *dup = pa->Duplicate;
    }
    jsPubAck_Destroy(pa);
    return st;
}

static void *
publisher_main(void *arg)
{
    struct publisher *p = arg;
    long long deadline = dt_now_ms() + 20000;

    while (!atomic_load(&p->stop) && dt_now_ms() < deadline) {
        int n = atomic_load(&p->acked);
        uint64_t seq = 0;
        bool dup = false;
        natsStatus st;

        if (n >= MAX_RECS)
            break;
        st = publish_id(p->js, p->next_id, &seq, &dup);
        if (st == NATS_OK) {
            p->recs[n] = (struct rec){ .seq = seq, .id = p->next_id,
                                       .dup = dup };
            p->next_id++;
            atomic_store(&p->acked, n + 1);
            continue;
        }
        p->last_err = st;
        atomic_fetch_add(&p->failures, 1);
        if (!p->retry)
            break;
        dt_sleep_ms(20);
    }
    return NULL;
}

/* Wait until the publisher has `n` acks (or stopped); the count. */
static int
wait_acked(struct publisher *p, int n, int timeout_ms)
{
    long long deadline = dt_now_ms() + timeout_ms;
    int got;

    while ((got = atomic_load(&p->acked)) < n && dt_now_ms() < deadline)
        dt_sleep_ms(5);
    return got;
}

/* ---- one phase ------------------------------------------------------ */

enum phase { PHASE_GROUP, PHASE_STORAGE, PHASE_TORN };

static const char *const phase_name[] = { "group", "storage", "torn tail" };

struct env {
    struct dt_server srv;
    char store[256];
    char conf[512];
    natsConnection *nc;
    jsCtx *js;
};

static int
env_connect(struct env *e)
{
    jsOptions jo;

    e->nc = dt_nats_connect(e->srv.url, NULL);
    if (e->nc == NULL)
        return -1;
    jsOptions_Init(&jo);
    jo.Wait = WAIT_MS;
    return natsConnection_JetStream(&e->js, e->nc, &jo) == NATS_OK ? 0 : -1;
}

static void
env_disconnect(struct env *e)
{
    jsCtx_Destroy(e->js);
    e->js = NULL;
    natsConnection_Destroy(e->nc);
    e->nc = NULL;
}

/* The stream, a durable pull consumer, PRE_MSGS messages, PRE_ACKED acked. */
static int
setup_stream(struct env *e, int *next_id)
{
    const char *subjects[1] = { "crash.>" };
    natsSubscription *sub = NULL;
    natsMsgList list = { 0 };
    jsStreamConfig cfg;
    jsConsumerConfig cc;
    jsSubOptions so;
    int rc = -1, acked = 0;
    const char *step = "stream create";

    jsStreamConfig_Init(&cfg);
    cfg.Name = STREAM;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    if (js_AddStream(NULL, e->js, &cfg, NULL, NULL) != NATS_OK)
        goto out;
    step = "consumer create";
    jsConsumerConfig_Init(&cc);
    cc.Durable = "floor";
    cc.AckPolicy = js_AckExplicit;
    if (js_AddConsumer(NULL, e->js, STREAM, &cc, NULL, NULL) != NATS_OK)
        goto out;
    step = "publish";
    for (; *next_id < PRE_MSGS; (*next_id)++) {
        uint64_t seq = 0;
        bool dup = false;

        if (publish_id(e->js, *next_id, &seq, &dup) != NATS_OK ||
            seq != (uint64_t)*next_id + 1)
            goto out;
    }
    step = "fetch";
    jsSubOptions_Init(&so);
    so.Stream = STREAM;
    so.Consumer = "floor";
    if (js_PullSubscribe(&sub, e->js, NULL, "floor", NULL, &so, NULL) !=
        NATS_OK ||
        natsSubscription_Fetch(&list, sub, PRE_ACKED, WAIT_MS, NULL) !=
        NATS_OK || list.Count != PRE_ACKED)
        goto out;
    step = "ack";
    for (int i = 0; i < list.Count; i++)
        if (natsMsg_AckSync(list.Msgs[i], NULL, NULL) == NATS_OK)
            acked++;
    rc = acked == PRE_ACKED ? 0 : -1;
out:
    if (rc < 0)
        fprintf(stderr, "setup failed at %s (message %d, %d acked): %s\n",
                step, *next_id, acked, nats_GetLastError(NULL));
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    return rc;
}

/*
 * After the crash: each acked id exactly once at its acked sequence,
 * no id twice, no holes, the consumer's floor, and the stream goes on.
 * pre: ids 0..PRE_MSGS-1 were stored at seq id + 1 before the crash.
 */
static void
verify(struct env *e, const struct publisher *p, enum phase ph)
{
    int max_id = p->next_id + 1;            /* one may be in flight */
    uint64_t *at = calloc((size_t)max_id + 1, sizeof(*at));
    int *seen = calloc((size_t)max_id + 1, sizeof(*seen));
    jsStreamInfo *si = NULL;
    jsConsumerInfo *ci = NULL;
    uint64_t first = 0, last = 0, msgs = 0, found = 0;
    int twice = 0, missing = 0, wrong_seq = 0, strays = 0, unacked = 0;

    REQUIRE(at != NULL && seen != NULL);
    REQUIRE(js_GetStreamInfo(&si, e->js, STREAM, NULL, NULL) == NATS_OK);
    first = si->State.FirstSeq;
    last = si->State.LastSeq;
    msgs = si->State.Msgs;
    CHECK_INT(first, ==, 1);
    CHECK_INT(msgs, ==, last - first + 1);     /* no holes */
    CHECK_INT(si->State.NumDeleted, ==, 0);

    /* read the whole stream back */
    for (uint64_t seq = first; seq <= last && seq > 0; seq++) {
        natsMsg *m = NULL;
        char buf[32];
        int id = -1;

        if (js_GetMsg(&m, e->js, STREAM, seq, NULL, NULL) != NATS_OK) {
            missing++;
            continue;
        }
        found++;
        snprintf(buf, sizeof(buf), "%.*s", natsMsg_GetDataLength(m),
                 natsMsg_GetData(m));
        natsMsg_Destroy(m);
        if (sscanf(buf, "m-%d", &id) != 1 || id < 0 || id > max_id) {
            strays++;
            continue;
        }
        if (seen[id]++ > 0)
            twice++;
        at[id] = seq;
    }
    CHECK_INT(found, ==, msgs);
    CHECK_INT(missing, ==, 0);
    CHECK_INT(strays, ==, 0);
    CHECK_INT(twice, ==, 0);

    /* the messages stored before the publisher started */
    for (int id = 0; id < PRE_MSGS; id++)
        if (seen[id] != 1 || at[id] != (uint64_t)id + 1)
            wrong_seq++;
    /* every publish the server acked */
    for (int i = 0; i < atomic_load(&p->acked); i++) {
        int id = p->recs[i].id;

        if (seen[id] != 1)
            missing++;
        else if (at[id] != p->recs[i].seq)
            wrong_seq++;
    }
    for (int id = PRE_MSGS; id <= max_id; id++)
        if (seen[id] && id >= p->next_id)
            unacked++;
    printf("%s: %d acked publishes, %d failed attempts, stream %llu..%llu "
           "(%llu msgs), %d stored unacked\n", phase_name[ph],
           atomic_load(&p->acked), atomic_load(&p->failures),
           (unsigned long long)first, (unsigned long long)last,
           (unsigned long long)msgs, unacked);
    CHECK_MSG(missing == 0, "%d acked messages lost", missing);
    CHECK_MSG(wrong_seq == 0, "%d acked messages at another sequence",
              wrong_seq);
    /* at most the one publish in flight when it stopped, and it is last */
    CHECK_INT(unacked, <=, 1);
    CHECK_INT(msgs, ==, (uint64_t)(PRE_MSGS + atomic_load(&p->acked) +
                                   unacked));

    /* the durable consumer, as acked before the crash */
    REQUIRE(js_GetConsumerInfo(&ci, e->js, STREAM, "floor", NULL, NULL) ==
            NATS_OK);
    CHECK_INT(ci->AckFloor.Stream, ==, PRE_ACKED);
    CHECK_INT(ci->AckFloor.Consumer, ==, PRE_ACKED);
    CHECK_INT(ci->NumPending, ==, msgs - PRE_ACKED);
    CHECK_INT(ci->NumAckPending, ==, 0);

    /* and the stream takes new messages after them */
    uint64_t seq = 0;
    bool dup = true;
    CHECK(publish_id(e->js, max_id + 1, &seq, &dup) == NATS_OK);
    CHECK_INT(seq, ==, last + 1);
    CHECK(!dup);
out:
    jsConsumerInfo_Destroy(ci);
    jsStreamInfo_Destroy(si);
    free(at);
    free(seen);
}

/* kill -9 the storage child; wait for the master to start a new one. */
static int
kill_storage(struct env *e)
{
    pid_t old = dt_server_child(&e->srv, "dialtone: storage"), now = -1;

    CHECK_MSG(old > 0, "no storage child of %d", (int)e->srv.pid);
    if (old <= 0)
        return -1;
    if (kill(old, SIGKILL) == -1)
        return -1;
    now = dt_server_new_child(&e->srv, "dialtone: storage", old, WAIT_MS);
    CHECK_MSG(now > 0, "storage was not restarted");
    return now > 0 ? 0 : -1;
}

static void
run_phase(enum phase ph, bool dialtone)
{
    static struct publisher pubr;
    struct env e;
    pthread_t th;
    bool started = false;
    int n;

    memset(&e, 0, sizeof(e));
    memset(&pubr, 0, sizeof(pubr));
    int mk = dt_mkdtemp(e.store, sizeof(e.store), "dt-jscrash");
    if (mk < 0) {
        CHECK_MSG(0, "mkdtemp: %s", strerror(-mk));
        return;
    }
    snprintf(e.conf, sizeof(e.conf),
             "jetstream {\n  store_dir: \"%s\"\n%s}\n", e.store,
             dialtone ? "  sync_interval: always\n" : "");
    REQUIRE(dt_server_start(&e.srv, e.conf, NULL) == 0);
    REQUIRE(env_connect(&e) == 0);
    REQUIRE(setup_stream(&e, &pubr.next_id) == 0);

    pubr.js = e.js;
    pubr.retry = ph == PHASE_STORAGE;
    REQUIRE(pthread_create(&th, NULL, publisher_main, &pubr) == 0);
    started = true;
    n = wait_acked(&pubr, KILL_AFTER, 15000);
    CHECK_INT(n, >=, KILL_AFTER);

    if (ph == PHASE_STORAGE) {
        int before = n;

        CHECK(kill_storage(&e) == 0);
        /* publishing resumes: 500 more acks after the restart */
        n = wait_acked(&pubr, atomic_load(&pubr.acked) + 500, 15000);
        CHECK_MSG(n >= before + 500, "publishing did not resume: %d acked "
                  "(%d at the kill), last error %s", n, before,
                  natsStatus_GetText(pubr.last_err));
        atomic_store(&pubr.stop, 1);
        pthread_join(th, NULL);
        started = false;
        CHECK(natsConnection_Status(e.nc) == NATS_CONN_STATUS_CONNECTED);
        verify(&e, &pubr, ph);
        goto out;
    }

    REQUIRE(kill_group(&e.srv) == 0);
    pthread_join(th, NULL);     /* it stops at its first failure */
    started = false;
    CHECK(atomic_load(&pubr.failures) == 1);
    env_disconnect(&e);
    if (ph == PHASE_TORN) {
        long long size = tear_tail(e.store);

        CHECK_MSG(size > 0, "no segment to tear under %s: %lld", e.store,
                  size);
    }
    REQUIRE(dt_server_start(&e.srv, e.conf, NULL) == 0);
    REQUIRE(env_connect(&e) == 0);
    verify(&e, &pubr, ph);
out:
    if (started) {
        atomic_store(&pubr.stop, 1);
        pthread_join(th, NULL);
    }
    env_disconnect(&e);
    if (e.srv.pid != 0)
        dt_server_finish(&e.srv);
    dt_remove_tree(e.store);
}

int
main(int argc, char **argv)
{
    const char *bin = dt_server_bin();
    bool dialtone;

    (void)argc;
    if (bin == NULL) {
        printf("SKIP: $DIALTONE_BIN not set or not executable\n");
        return DT_EXIT_SKIP;
    }
    dialtone = dt_bin_is_dialtone(bin) == 1;
    seg_suffix = dialtone ? ".seg" : ".blk";
    run_phase(PHASE_GROUP, dialtone);
    run_phase(PHASE_TORN, dialtone);
    if (dialtone)
        run_phase(PHASE_STORAGE, dialtone);
    else
        printf("storage restart: Dialtone only, skipped\n");
    return dt_nats_finish(NULL, argv[0]);
}
