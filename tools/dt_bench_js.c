/*
 * dt_bench_js.c -- the JetStream scenarios of dt-bench, each against one
 * file stream (BENCH_JS_STREAM) with one subject, created afresh for the
 * run (a leftover of an earlier run is deleted first) and deleted after:
 *   js-pub-sync   js_Publish, one in flight: msgs/s and latency per ack
 *   js-pub-async  js_PublishAsync, --inflight outstanding (default 4096),
 *                 then js_PublishAsyncComplete: msgs/s over the acks
 *   js-pull       the stream prefilled with --count messages (untimed),
 *                 then a durable pull consumer fetching --batch at a time
 *                 and acking each message with natsMsg_Ack (no reply
 *                 awaited): msgs/s from first fetch to acks flushed
 * Every payload starts with its 64-bit index, so the checks are the core
 * scenarios' ones: publishers compare each ack's stream sequence with the
 * one before it and the stream's message count with what was sent; the
 * consumer tracks every index in a bitmap (lost, dup, reordered).
 *
 * NOTES
 *  - Threads: libnats calls the async ack handler on one thread of its
 *    own; its counters are atomics in g_js (static, so they outlive
 *    nats_CloseAndWait()), read by the main thread after
 *    js_PublishAsyncComplete().  Everything else runs on the main thread.
 *  - Memory: at most --inflight async messages held by libnats, one fetch
 *    batch, the --count bit bitmap (js-pull) or --count latencies
 *    (js-pub-sync).  Async messages still unacknowledged when the wait
 *    ends are taken back from libnats and freed.
 *  - Every wait is bounded: JetStream API calls by BENCH_JS_API_MS,
 *    publishing and consuming by the run's deadline and BENCH_IDLE_NS of
 *    no progress, the untimed prefill by BENCH_JS_PREFILL_SHARE of the
 *    run's time.
 *  - Errors: 0 or -errno with the reason in c->r.error (bench_fail);
 *    ack errors are counted, not fatal, so the line still reports rates.
 */
#include "dt_bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_JS_STREAM        "DTBENCH"
#define BENCH_JS_SUBJECT       "dtbench.js"
#define BENCH_JS_DURABLE       "dtbench"
#define BENCH_JS_API_MS        5000    /* one JetStream API request */
#define BENCH_JS_STALL_MS      1000    /* one PublishAsync stall */
#define BENCH_JS_ERRMAX        3       /* consecutive errors: give up */
#define BENCH_JS_PREFILL_SHARE 0.4     /* of the run's time, at most */
#define BENCH_JS_FETCH_MS      1000    /* one fetch, at most */

/* The async publisher's ack counters (written by libnats's thread). */
struct bench_js_acks {
    _Atomic long acks, errors, misordered;
    uint64_t last_seq;         /* ack handler thread only */
};

static struct bench_js_acks g_js;

bool
bench_js_scenario(const char *scenario)
{
    return strcmp(scenario, "js-pub-sync") == 0
           || strcmp(scenario, "js-pub-async") == 0
           || strcmp(scenario, "js-pull") == 0;
}

/* ---- context and stream ---------------------------------------------- */

/* libnats's words for a failure: its status, the thread's last error text
 * when it adds something, and JetStream's err_code when there is one. */
static const char *
bench_js_why(char *out, size_t len, natsStatus s, jsErrCode jerr)
{
    const char *last = nats_GetLastError(NULL);
    int n;

    n = snprintf(out, len, "%s", natsStatus_GetText(s));
    if (n >= 0 && (size_t)n < len && last != NULL && last[0] != '\0'
        && strcmp(last, natsStatus_GetText(s)) != 0)
        n += snprintf(out + n, len - (size_t)n, ": %s", last);
    if (n >= 0 && (size_t)n < len && jerr != 0)
        snprintf(out + n, len - (size_t)n, " (err_code %d)", (int)jerr);
    return out;
}

static void
bench_js_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                void *closure)
{
    struct bench_js_acks *a = closure;

    if (pa != NULL) {
        atomic_fetch_add_explicit(&a->acks, 1, memory_order_relaxed);
        if (pa->Sequence != a->last_seq + 1)
            atomic_fetch_add_explicit(&a->misordered, 1,
                                      memory_order_relaxed);
        a->last_seq = pa->Sequence;
    } else {
        atomic_fetch_add_explicit(&a->errors, 1, memory_order_relaxed);
    }
    natsMsg_Destroy(msg);
}

/* A JetStream context on c->pub; async publishes report to g_js. */
static int
bench_js_ctx(struct bench_ctx *c, jsCtx **js)
{
    jsOptions jo;
    natsStatus s;

    jsOptions_Init(&jo);
    jo.Wait = BENCH_JS_API_MS;
    jo.PublishAsync.MaxPending = c->o.inflight;
    jo.PublishAsync.StallWait = BENCH_JS_STALL_MS;
    jo.PublishAsync.AckHandler = bench_js_on_ack;
    jo.PublishAsync.AckHandlerClosure = &g_js;
    s = natsConnection_JetStream(js, c->pub, &jo);
    if (s != NATS_OK)
        return bench_fail(&c->r, -EIO, "JetStream context: %s",
                          natsStatus_GetText(s));
    return 0;
}

/* Deletes the stream; a stream that does not exist is not an error. */
static int
bench_js_delete(struct bench_ctx *c, jsCtx *js)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteStream(js, BENCH_JS_STREAM, NULL, &jerr);
    char why[160];

    if (s == NATS_OK || s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
        return 0;
    return bench_fail(&c->r, -EIO, "delete stream %s: %s", BENCH_JS_STREAM,
                      bench_js_why(why, sizeof why, s, jerr));
}

/* The stream afresh: file storage, one subject, limits retention. */
static int
bench_js_create(struct bench_ctx *c, jsCtx *js)
{
    const char *subjects[] = { BENCH_JS_SUBJECT };
    jsStreamInfo *si = NULL;
    jsStreamConfig cfg;
    jsErrCode jerr = 0;
    natsStatus s;
    char why[160];
    int rc;

    bench_phase("creating the stream", 0);
    rc = bench_js_delete(c, js);
    if (rc != 0)
        return rc;
    jsStreamConfig_Init(&cfg);
    cfg.Name = BENCH_JS_STREAM;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK)
        return bench_fail(&c->r, -EIO, "add stream %s: %s", BENCH_JS_STREAM,
                          bench_js_why(why, sizeof why, s, jerr));
    return 0;
}

/* The stream's message count, or -1 (error recorded). */
static long
bench_js_stored(struct bench_ctx *c, jsCtx *js)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, BENCH_JS_STREAM, NULL, &jerr);
    char why[160];
    long n = -1;

    if (s == NATS_OK && si != NULL)
        n = (long)si->State.Msgs;
    else
        bench_fail(&c->r, -EIO, "stream info: %s",
                   bench_js_why(why, sizeof why, s, jerr));
    jsStreamInfo_Destroy(si);
    return n;
}

/* After publishing: what the stream holds against what was sent/acked. */
static void
bench_js_settle(struct bench_ctx *c, jsCtx *js)
{
    struct bench_result *r = &c->r;
    long stored = bench_js_stored(c, js);

    if (stored < 0)
        return;
    r->js.stored = stored;
    r->lost = r->msgs > stored ? r->msgs - stored : 0;
    r->dup = stored > r->msgs ? stored - r->msgs : 0;
    r->js.acked_not_stored = r->js.acks > stored ? r->js.acks - stored : 0;
}

/* Broker and client cost since cpu0/ccpu0, broker memory now. */
static void
bench_js_cost(struct bench_ctx *c, double cpu0, double ccpu0)
{
    struct bench_result *r = &c->r;

    r->broker_cpu_us = bench_broker_cpu_us(&c->o, &r->nbroker) - cpu0;
    r->client_cpu_us = bench_client_cpu_us() - ccpu0;
    bench_broker_mem(&c->o, &r->rss_kb, &r->pss_kb);
}

/* ---- js-pub-sync ----------------------------------------------------- */

/* One js_Publish; its ack's latency into c->lat.  0, or -EIO after
 * BENCH_JS_ERRMAX consecutive failures. */
static int
bench_js_pub_one(struct bench_ctx *c, jsCtx *js, long i, long *n,
                 uint64_t *last_seq, int *errs)
{
    struct bench_result *r = &c->r;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    char why[160];
    int64_t t;

    bench_put_seq(c->buf, (uint64_t)i);
    t = bench_now_ns();
    s = js_Publish(&pa, js, BENCH_JS_SUBJECT, c->buf, c->o.size, NULL, &jerr);
    if (s != NATS_OK) {
        r->js.ack_errors++;
        if (++*errs < BENCH_JS_ERRMAX)
            return 0;
        return bench_fail(r, -EIO, "publish #%ld: %d errors in a row, last "
                          "%s", i, *errs, bench_js_why(why, sizeof why, s,
                                                       jerr));
    }
    c->lat[(*n)++] = bench_now_ns() - t;
    *errs = 0;
    r->js.acks++;
    if (pa->Sequence != *last_seq + 1)
        r->reordered++;
    *last_seq = pa->Sequence;
    jsPubAck_Destroy(pa);
    return 0;
}

static int
bench_js_pub_sync(struct bench_ctx *c, jsCtx *js)
{
    struct bench_result *r = &c->r;
    uint64_t last_seq = 0;
    double cpu0, ccpu0;
    long i, n = 0;
    int64_t t0;
    int rc = 0, errs = 0;

    c->lat = calloc((size_t)c->o.count, sizeof *c->lat);
    if (c->lat == NULL)
        return bench_fail(r, -ENOMEM, "%ld latencies", c->o.count);
    cpu0 = bench_broker_cpu_us(&c->o, NULL);
    ccpu0 = bench_client_cpu_us();
    bench_phase("publishing (sync)", c->o.count);
    t0 = bench_now_ns();
    for (i = 0; i < c->o.count && rc == 0; i++) {
        if ((i & 15) == 15 && bench_pace(&c->o, t0, i))
            break;
        rc = bench_js_pub_one(c, js, i, &n, &last_seq, &errs);
        bench_progress(i + 1);
    }
    r->secs = (double)(bench_now_ns() - t0) / 1e9;
    r->pub_secs = r->secs;
    bench_js_cost(c, cpu0, ccpu0);
    r->msgs = i;
    bench_latency(c, n);
    return rc;
}

/* ---- js-pub-async ---------------------------------------------------- */

/*
 * Publishes up to 'count' messages asynchronously (indices from 0) until
 * 'stop_ns' or --duration-s, then waits for every ack until the deadline.
 * r->msgs: published; r->js.acks/ack_errors/no_ack: what came back.
 */
static int
bench_js_pub_async_n(struct bench_ctx *c, jsCtx *js, long count,
                     int64_t stop_ns, int64_t *t0)
{
    struct bench_result *r = &c->r;
    jsPubOptions po;
    natsMsgList pending = { NULL, 0 };
    natsStatus s = NATS_OK;
    char why[160];
    long i = 0;

    *t0 = bench_now_ns();
    while (i < count) {
        if ((i & 255) == 255 && (bench_pace(&c->o, *t0, i)
                                 || bench_now_ns() >= stop_ns))
            break;
        bench_put_seq(c->buf, (uint64_t)i);
        s = js_PublishAsync(js, BENCH_JS_SUBJECT, c->buf, c->o.size, NULL);
        if (s == NATS_TIMEOUT && !bench_past_deadline())
            continue;              /* stalled at --inflight: try again */
        if (s != NATS_OK)
            break;
        bench_progress(++i);
    }
    r->msgs = i;
    r->pub_secs = (double)(bench_now_ns() - *t0) / 1e9;
    if (s != NATS_OK)
        bench_fail(r, -EIO, "async publish #%ld: %s", i,
                   bench_js_why(why, sizeof why, s, 0));
    bench_phase("awaiting publish acks", i);
    jsPubOptions_Init(&po);
    po.MaxWait = bench_left_ms(1000);
    if (s != NATS_OK && po.MaxWait > BENCH_IDLE_NS / 1000000)
        po.MaxWait = BENCH_IDLE_NS / 1000000;  /* acks may never come */
    s = js_PublishAsyncComplete(js, &po);
    r->js.acks = atomic_load(&g_js.acks);
    r->js.ack_errors = atomic_load(&g_js.errors);
    r->reordered = atomic_load(&g_js.misordered);
    if (s == NATS_OK)
        return r->error[0] != '\0' ? -EIO : 0;
    if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) {
        r->js.no_ack = pending.Count;
        natsMsgList_Destroy(&pending);
    }
    return bench_fail(r, -ETIMEDOUT, "publish acks: %s, %ld outstanding",
                      natsStatus_GetText(s), r->js.no_ack);
}

static int
bench_js_pub_async(struct bench_ctx *c, jsCtx *js)
{
    struct bench_result *r = &c->r;
    double cpu0, ccpu0;
    int64_t t0;
    int rc;

    cpu0 = bench_broker_cpu_us(&c->o, NULL);
    ccpu0 = bench_client_cpu_us();
    bench_phase("publishing (async)", c->o.count);
    rc = bench_js_pub_async_n(c, js, c->o.count, INT64_MAX, &t0);
    r->secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_js_cost(c, cpu0, ccpu0);
    return rc;
}

/* ---- js-pull --------------------------------------------------------- */

/* The untimed prefill: --count messages, or what fits in the prefill's
 * share of the run.  Returns the stream's size (> 0) or -errno. */
static long
bench_js_prefill(struct bench_ctx *c, jsCtx *js)
{
    struct bench_result *r = &c->r;
    int64_t t0 = bench_now_ns(), stop;
    double dur = c->o.duration_s, rate = c->o.rate;
    long stored;
    int rc;

    stop = t0 + (int64_t)((double)(bench_deadline_ns() - t0)
                          * BENCH_JS_PREFILL_SHARE);
    bench_phase("prefilling the stream", c->o.count);
    c->o.duration_s = 0;           /* --duration-s, --rate: timed part */
    c->o.rate = 0;
    rc = bench_js_pub_async_n(c, js, c->o.count, stop, &t0);
    c->o.duration_s = dur;
    c->o.rate = rate;
    r->pub_secs = 0;
    r->js.prefill_ms = (long)((bench_now_ns() - t0) / 1000000);
    if (rc != 0)
        return rc;
    stored = bench_js_stored(c, js);
    if (stored <= 0)
        return bench_fail(r, -EIO, "prefill: stream holds %ld messages",
                          stored);
    r->js.prefilled = stored;
    r->js.stored = stored;
    return stored;
}

static int
bench_js_consumer(struct bench_ctx *c, jsCtx *js, natsSubscription **sub)
{
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus s;
    char why[160];

    bench_phase("creating the consumer", 0);
    jsSubOptions_Init(&so);
    so.Stream = BENCH_JS_STREAM;
    so.Config.Durable = BENCH_JS_DURABLE;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = 4 * (int64_t)c->o.batch;
    s = js_PullSubscribe(sub, js, BENCH_JS_SUBJECT, BENCH_JS_DURABLE, NULL,
                         &so, &jerr);
    if (s != NATS_OK)
        return bench_fail(&c->r, -EIO, "pull subscribe: %s",
                          bench_js_why(why, sizeof why, s, jerr));
    return 0;
}

/* Tracks and acks one fetched batch. */
static void
bench_js_consume(struct bench_ctx *c, struct bench_sub *bs, natsMsgList *l)
{
    uint64_t seq;
    int i, len;

    for (i = 0; i < l->Count; i++) {
        natsMsg *m = l->Msgs[i];

        len = natsMsg_GetDataLength(m);
        if (len < (int)sizeof seq) {
            atomic_fetch_add_explicit(&bs->bad, 1, memory_order_relaxed);
        } else {
            memcpy(&seq, natsMsg_GetData(m), sizeof seq);
            bench_track(bs, seq, len);
        }
        if (natsMsg_Ack(m, NULL) != NATS_OK)
            c->r.js.ack_errors++;
    }
    c->r.js.fetches++;
}

/* Fetches until 'expected' distinct messages, the deadline, or
 * BENCH_IDLE_NS without a message. */
static int
bench_js_fetch_all(struct bench_ctx *c, natsSubscription *sub,
                   struct bench_sub *bs, long expected)
{
    int64_t last_change = bench_now_ns();
    natsMsgList list;
    jsErrCode jerr = 0;
    natsStatus s;
    char why[160];

    while (atomic_load(&bs->unique) < expected && !bench_past_deadline()) {
        int64_t wait = bench_left_ms(1);

        wait = wait < BENCH_JS_FETCH_MS ? wait : BENCH_JS_FETCH_MS;
        s = natsSubscription_Fetch(&list, sub, c->o.batch, wait, &jerr);
        if (s == NATS_OK) {
            bench_js_consume(c, bs, &list);
            natsMsgList_Destroy(&list);
            last_change = bench_now_ns();
            bench_progress(atomic_load(&bs->unique));
        } else if (s != NATS_TIMEOUT) {
            return bench_fail(&c->r, -EIO, "fetch: %s",
                              bench_js_why(why, sizeof why, s, jerr));
        } else if (bench_now_ns() - last_change > BENCH_IDLE_NS) {
            break;                     /* the rest is lost */
        }
    }
    return 0;
}

/* After the run: the consumer's unacked and redelivered counts, polled
 * until nothing is pending (acks are fire-and-forget) or 3 s passed. */
static void
bench_js_consumer_state(struct bench_ctx *c, jsCtx *js)
{
    int64_t end = bench_now_ns() + BENCH_IDLE_NS;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    char why[160];

    do {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        s = js_GetConsumerInfo(&ci, js, BENCH_JS_STREAM, BENCH_JS_DURABLE,
                               NULL, &jerr);
        if (s != NATS_OK || ci == NULL) {
            bench_fail(&c->r, -EIO, "consumer info: %s",
                       bench_js_why(why, sizeof why, s, jerr));
            return;
        }
        if (ci->NumAckPending == 0)
            break;
        bench_sleep_ns(50000000);
    } while (bench_now_ns() < end && !bench_past_deadline());
    c->r.js.ack_pending = (long)ci->NumAckPending;
    c->r.js.redelivered = (long)ci->NumRedelivered;
    jsConsumerInfo_Destroy(ci);
}

static int
bench_js_pull(struct bench_ctx *c, jsCtx *js)
{
    struct bench_result *r = &c->r;
    struct bench_sub *bs = &c->subs[0];
    natsSubscription *sub = NULL;
    double cpu0, ccpu0;
    long expected;
    int64_t t0;
    int rc;

    expected = bench_js_prefill(c, js);
    if (expected < 0)
        return (int)expected;
    rc = bench_alloc_trackers(c, 1);
    if (rc == 0)
        rc = bench_js_consumer(c, js, &sub);
    if (rc != 0)
        goto out;
    bs->tr = &c->tr[0];
    bs->size = c->o.size;
    cpu0 = bench_broker_cpu_us(&c->o, NULL);
    ccpu0 = bench_client_cpu_us();
    bench_phase("fetching and acking", expected);
    t0 = bench_now_ns();
    rc = bench_js_fetch_all(c, sub, bs, expected);
    if (bench_flush(c, c->pub, "acks") != 0 && rc == 0)
        rc = -ETIMEDOUT;
    r->secs = (double)(bench_now_ns() - t0) / 1e9;
    bench_js_cost(c, cpu0, ccpu0);
    r->msgs = expected;
    r->delivered = atomic_load(&bs->unique);
    r->received = atomic_load(&bs->received);
    r->dup = atomic_load(&bs->dup);
    r->reordered = atomic_load(&bs->reordered);
    r->bad = atomic_load(&bs->bad);
    r->lost = expected - r->delivered;
    if (rc == 0)
        bench_js_consumer_state(c, js);
out:
    if (sub != NULL) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    return rc;
}

/* ---- entry points ---------------------------------------------------- */

int
bench_js_run(struct bench_ctx *c)
{
    struct bench_result *r = &c->r;
    const char *s = c->o.scenario;
    jsCtx *js = NULL;
    int rc, rc2;

    r->js.used = true;
    r->streams = 1;
    r->warmup_ok = true;
    rc = bench_connect(c, strcmp(s, "js-pub-sync") == 0, &c->pub);
    if (rc == 0)
        rc = bench_js_ctx(c, &js);
    if (rc == 0)
        rc = bench_js_create(c, js);
    if (rc != 0)
        goto out;
    if (strcmp(s, "js-pub-sync") == 0)
        rc = bench_js_pub_sync(c, js);
    else if (strcmp(s, "js-pub-async") == 0)
        rc = bench_js_pub_async(c, js);
    else
        rc = bench_js_pull(c, js);
    if (strcmp(s, "js-pull") != 0) {
        r->delivered = r->js.acks;
        r->received = r->js.acks;
        if (rc == 0)
            bench_js_settle(c, js);
    }
    bench_phase("deleting the stream", 0);
    rc2 = bench_js_delete(c, js);
    rc = rc != 0 ? rc : rc2;
out:
    r->closed = c->pub != NULL && natsConnection_IsClosed(c->pub);
    jsCtx_Destroy(js);
    return rc;
}

void
bench_js_print(const struct bench_ctx *c)
{
    const struct bench_js_result *j = &c->r.js;

    printf(",\"acks\":%ld,\"ack_errors\":%ld,\"no_ack\":%ld,\"stored\":%ld,"
           "\"acked_not_stored\":%ld,\"inflight\":%d",
           j->acks, j->ack_errors, j->no_ack, j->stored, j->acked_not_stored,
           strcmp(c->o.scenario, "js-pub-sync") == 0 ? 1 : c->o.inflight);
    if (strcmp(c->o.scenario, "js-pull") == 0)
        printf(",\"batch\":%d,\"prefilled\":%ld,\"prefill_ms\":%ld,"
               "\"fetches\":%ld,\"ack_pending\":%ld,\"redelivered\":%ld",
               c->o.batch, j->prefilled, j->prefill_ms, j->fetches,
               j->ack_pending, j->redelivered);
}

bool
bench_js_sane(const struct bench_ctx *c)
{
    const struct bench_result *r = &c->r;
    const struct bench_js_result *j = &r->js;
    bool ok = r->error[0] == '\0' && r->msgs > 0 && r->secs > 0
              && r->delivered > 0 && r->lost == 0 && r->dup == 0
              && r->reordered == 0 && r->bad == 0 && j->ack_errors == 0
              && j->no_ack == 0 && j->acked_not_stored == 0
              && j->ack_pending == 0;

    if (strcmp(c->o.scenario, "js-pull") != 0)
        ok = ok && j->acks == r->msgs && j->stored == r->msgs;
    else
        ok = ok && r->delivered == j->prefilled;
    if (strcmp(c->o.scenario, "js-pub-sync") == 0)
        ok = ok && r->has_lat && r->p50 > 0 && r->p50 <= r->p99;
    return ok;
}
