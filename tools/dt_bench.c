/*
 * dt_bench.c -- one benchmark scenario against a NATS-protocol broker,
 * printed as one JSON line.  The markdown report over many such lines
 * (--report) is in dt_bench_report.c.
 *
 * tools/bench drives this program against Dialtone and nats-server with the
 * same client (libnats), so a difference in the numbers is the broker's.
 * Scenarios, one per run:
 *   pub      publish only (no interest), first send -> flush returned
 *   pubsub   1 publisher -> 1 subscriber, separate connections
 *   fanout4  1 publisher -> 4 subscribers
 *   queue4   1 publisher -> queue group of 4 (each message delivered once)
 *   reqrep   request/reply round trips, one in flight, latency percentiles
 *   conns    N connections x M subscriptions: broker memory per connection
 *   subs     N distinct subjects on one connection: memory per subscription
 *   js-pub-sync, js-pub-async, js-pull: JetStream, in dt_bench_js.c
 * Every payload starts with a 64-bit sequence number.  Subscribers keep one
 * bitmap per delivery stream (per subscriber, or per queue group) and count
 * lost, duplicated and reordered messages.  Core NATS may drop for a slow
 * consumer: the counts are reported, never hidden.
 *
 * NOTES
 *  - Threads: libnats runs a reader thread per connection and a delivery
 *    thread per async subscription.  A bench_sub is written only by its own
 *    delivery thread (max_seq, have_max); its counters are relaxed atomics
 *    the main thread polls.  A queue group shares one bitmap, set with an
 *    atomic OR, so a message seen twice by the group counts as a duplicate.
 *    Closures live in bench_ctx until nats_CloseAndWait() has joined every
 *    libnats thread.
 *  - Broker cost: utime+stime summed over every --pids process and all its
 *    descendants (/proc scan for ppid, re-resolved at each sample), RSS and
 *    PSS from /proc/<pid>/smaps_rollup.  Dialtone's processes share the
 *    fabric mapping, so RSS double counts; PSS does not.
 *  - Every wait has a deadline (--timeout-s).  A watchdog thread, 15 s
 *    past it, prints an error line with the progress so far and _exit()s:
 *    a broker that stops reading blocks libnats in write(), and the
 *    driver must still get its line.
 *  - Exit status: 0 run completed (and --check passed), 1 --check failed,
 *    2 run could not complete (the JSON line carries "error"), 64 usage.
 */
#include "dt_bench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static _Atomic long g_async_errors;
static int64_t g_deadline_ns;
static int64_t g_pub_stop_ns;      /* publishers stop: leaves time to drain */
/* What the main thread is doing, for the watchdog's report. */
static _Atomic long g_progress;
static long g_progress_total;
static const char *_Atomic g_phase = "starting";
static _Atomic long g_rss0_kb, g_pss0_kb;   /* broker memory at the start */

/* ---- small helpers ---------------------------------------------------- */

int64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * BENCH_NS + ts.tv_nsec;
}

void
bench_sleep_ns(int64_t ns)
{
    struct timespec ts = { .tv_sec = ns / BENCH_NS, .tv_nsec = ns % BENCH_NS };

    if (ns > 0)
        nanosleep(&ts, NULL);
}

/* Milliseconds left before the run's deadline, at least 'floor_ms'. */
int64_t
bench_left_ms(int64_t floor_ms)
{
    int64_t left = (g_deadline_ns - bench_now_ns()) / 1000000;

    return left > floor_ms ? left : floor_ms;
}

bool
bench_past_deadline(void)
{
    return bench_now_ns() >= g_deadline_ns;
}

int64_t
bench_deadline_ns(void)
{
    return g_deadline_ns;
}

void
bench_phase(const char *what, long total)
{
    g_progress_total = total;
    atomic_store(&g_progress, 0);
    atomic_store(&g_phase, what);
}

void
bench_progress(long done)
{
    atomic_store_explicit(&g_progress, done, memory_order_relaxed);
}

/* Record the first error of the run; returns 'err' for tail calls. */
int
bench_fail(struct bench_result *r, int err, const char *fmt, ...)
{
    va_list ap;

    if (r->error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof r->error, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* JSON string body: escape quotes, backslashes and control characters. */
static void
bench_json_str(char *out, size_t outlen, const char *s)
{
    size_t n = 0;

    for (; *s != '\0' && n + 7 < outlen; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
}

double
bench_client_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) == -1)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- broker processes ------------------------------------------------- */

/*
 * Fields of /proc/<pid>/stat after the ')' closing the command name:
 * index 0 is field 3 (state), so ppid is 1, utime 11 and stime 12.
 */
static int
bench_proc_stat(pid_t pid, long *ppid, unsigned long long *ticks)
{
    char path[64], line[1024], *p, *save = NULL, *tok;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    int i;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    p = fgets(line, sizeof line, f);
    fclose(f);
    if (p == NULL || (p = strrchr(line, ')')) == NULL)
        return -EINVAL;
    for (i = 0, tok = strtok_r(p + 1, " ", &save); tok != NULL && i <= 12;
         i++, tok = strtok_r(NULL, " ", &save)) {
        if (i == 1 && ppid != NULL)
            *ppid = strtol(tok, NULL, 10);
        else if (i == 11)
            ut = strtoull(tok, NULL, 10);
        else if (i == 12)
            st = strtoull(tok, NULL, 10);
    }
    if (i <= 12)
        return -EINVAL;
    if (ticks != NULL)
        *ticks = ut + st;
    return 0;
}

/*
 * The roots and all their descendants, found by scanning /proc for ppid
 * (works without CONFIG_PROC_CHILDREN).  Returns the number of pids.
 */
static int
bench_pid_tree(const struct bench_opts *o, pid_t *out, int max)
{
    static pid_t all[65536];
    static long parent[65536];
    struct dirent *de;
    int nall = 0, n = 0, i, j;
    DIR *d;

    for (i = 0; i < o->nroots && n < max; i++)
        if (bench_proc_stat(o->roots[i], NULL, NULL) == 0)
            out[n++] = o->roots[i];
    d = opendir("/proc");
    if (d == NULL)
        return n;
    while ((de = readdir(d)) != NULL && nall < 65536) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        all[nall] = (pid_t)strtol(de->d_name, NULL, 10);
        if (bench_proc_stat(all[nall], &parent[nall], NULL) == 0)
            nall++;
    }
    closedir(d);
    for (i = 0; i < n; i++)            /* out[] grows while we walk it */
        for (j = 0; j < nall && n < max; j++)
            if (parent[j] == out[i])
                out[n++] = all[j];
    return n;
}

double
bench_broker_cpu_us(const struct bench_opts *o, int *nproc)
{
    pid_t pids[BENCH_MAX_PIDS];
    unsigned long long ticks, sum = 0;
    long hz = sysconf(_SC_CLK_TCK);
    int n = bench_pid_tree(o, pids, BENCH_MAX_PIDS), i;

    for (i = 0; i < n; i++)
        if (bench_proc_stat(pids[i], NULL, &ticks) == 0)
            sum += ticks;
    if (nproc != NULL)
        *nproc = n;
    return hz > 0 ? (double)sum * 1e6 / (double)hz : 0;
}

/* Adds the value of "Key:   123 kB" from 'path' to *kb; 0 or -errno. */
static int
bench_proc_kb(const char *path, const char *key, long *kb)
{
    char line[256];
    size_t klen = strlen(key);
    FILE *f = fopen(path, "r");
    int rc = -ENOENT;

    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) == 0) {
            *kb += strtol(line + klen, NULL, 10);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

void
bench_broker_mem(const struct bench_opts *o, long *rss_kb, long *pss_kb)
{
    pid_t pids[BENCH_MAX_PIDS];
    char path[64];
    int n = bench_pid_tree(o, pids, BENCH_MAX_PIDS), i;

    *rss_kb = 0;
    *pss_kb = 0;
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pids[i]);
        if (bench_proc_kb(path, "Rss:", rss_kb) == 0) {
            bench_proc_kb(path, "Pss:", pss_kb);
            continue;
        }
        snprintf(path, sizeof path, "/proc/%d/status", (int)pids[i]);
        bench_proc_kb(path, "VmRSS:", rss_kb);
    }
}

/* ---- libnats plumbing ------------------------------------------------- */

static void
bench_on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
               void *closure)
{
    atomic_fetch_add_explicit(&g_async_errors, 1, memory_order_relaxed);
}

/*
 * One connection.  No reconnect: a broker that drops us must show up as an
 * error, not as a silent gap.  'asap' turns off libnats's write coalescing
 * (latency runs).
 */
int
bench_connect(struct bench_ctx *c, bool asap, natsConnection **nc)
{
    natsOptions *opts = NULL;
    natsStatus s;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, c->o.url);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, 5000);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(opts, asap);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(opts, bench_on_error, NULL);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        *nc = NULL;
        return bench_fail(&c->r, -ECONNREFUSED, "connect %s: %s", c->o.url,
                          natsStatus_GetText(s));
    }
    return 0;
}

int
bench_flush(struct bench_ctx *c, natsConnection *nc, const char *what)
{
    natsStatus s = natsConnection_FlushTimeout(nc, bench_left_ms(1000));

    if (s != NATS_OK)
        return bench_fail(&c->r, -ETIMEDOUT, "flush (%s): %s", what,
                          natsStatus_GetText(s));
    return 0;
}

/* Closes every connection first so no subscription sends UNSUB, then
 * destroys, then waits for libnats's threads before closures go away. */
static void
bench_ctx_free(struct bench_ctx *c)
{
    long i;

    if (c->pub != NULL)
        natsConnection_Close(c->pub);
    if (c->rsp != NULL)
        natsConnection_Close(c->rsp);
    for (i = 0; i < c->nconns; i++)
        if (c->conns[i] != NULL)
            natsConnection_Close(c->conns[i]);
    for (i = 0; i < c->nxsubs; i++)
        natsSubscription_Destroy(c->xsubs[i]);
    for (i = 0; i < c->nsubs; i++)
        natsSubscription_Destroy(c->subs[i].sub);
    for (i = 0; i < c->nconns; i++)
        natsConnection_Destroy(c->conns[i]);
    natsConnection_Destroy(c->rsp);
    natsConnection_Destroy(c->pub);
    nats_CloseAndWait(10000);
    for (i = 0; i < c->ntr; i++)
        free(c->tr[i].bits);
    free(c->conns);
    free(c->xsubs);
    free(c->buf);
    free(c->lat);
}

/* ---- receiving -------------------------------------------------------- */

void
bench_track(struct bench_sub *bs, uint64_t seq, int len)
{
    struct bench_tracker *tr = bs->tr;
    uint64_t bit, old;

    atomic_store_explicit(&bs->last_ns, bench_now_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&bs->received, 1, memory_order_relaxed);
    if (seq >= (uint64_t)tr->nbits || len != bs->size) {
        atomic_fetch_add_explicit(&bs->bad, 1, memory_order_relaxed);
        return;
    }
    bit = 1ULL << (seq & 63);
    old = atomic_fetch_or_explicit(&tr->bits[seq >> 6], bit,
                                   memory_order_relaxed);
    if ((old & bit) != 0) {
        atomic_fetch_add_explicit(&bs->dup, 1, memory_order_relaxed);
        return;
    }
    if (bs->have_max && seq < bs->max_seq) {
        atomic_fetch_add_explicit(&bs->reordered, 1, memory_order_relaxed);
    } else {
        bs->max_seq = seq;
        bs->have_max = true;
    }
    atomic_fetch_add_explicit(&bs->unique, 1, memory_order_release);
}

static void
bench_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
             void *closure)
{
    struct bench_sub *bs = closure;
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    uint64_t seq;

    if (data == NULL || len < (int)sizeof seq) {
        atomic_fetch_add_explicit(&bs->bad, 1, memory_order_relaxed);
    } else {
        memcpy(&seq, data, sizeof seq);
        if (seq == BENCH_PROBE_SEQ)
            atomic_fetch_add_explicit(&bs->probes, 1, memory_order_relaxed);
        else
            bench_track(bs, seq, len);
    }
    natsMsg_Destroy(msg);
}

static long
bench_sum_unique(const struct bench_ctx *c)
{
    long sum = 0;
    int i;

    for (i = 0; i < c->nsubs; i++)
        sum += atomic_load_explicit(&c->subs[i].unique, memory_order_acquire);
    return sum;
}

/*
 * Waits until 'expected' distinct deliveries arrived, the stream went idle
 * for BENCH_IDLE_NS (messages lost), or the deadline passed.
 */
static void
bench_wait_delivery(const struct bench_ctx *c, long expected)
{
    int64_t last_change = bench_now_ns(), now;
    long last = -1, got;

    for (;;) {
        got = bench_sum_unique(c);
        atomic_store_explicit(&g_progress, got, memory_order_relaxed);
        if (got >= expected || bench_past_deadline())
            return;
        now = bench_now_ns();
        if (got != last) {
            last = got;
            last_change = now;
        } else if (now - last_change > BENCH_IDLE_NS) {
            return;
        }
        bench_sleep_ns(1000000);
    }
}

static int
bench_add_sub(struct bench_ctx *c, const char *subj, const char *queue)
{
    struct bench_sub *bs = &c->subs[c->nsubs];
    natsConnection *nc = NULL;
    natsStatus s;
    int rc;

    rc = bench_connect(c, false, &nc);
    if (rc != 0)
        return rc;
    c->conns[c->nconns++] = nc;
    bs->size = c->o.size;
    bs->tr = &c->tr[queue != NULL ? 0 : c->nsubs];
    if (queue != NULL)
        s = natsConnection_QueueSubscribe(&bs->sub, nc, subj, queue,
                                          bench_on_msg, bs);
    else
        s = natsConnection_Subscribe(&bs->sub, nc, subj, bench_on_msg, bs);
    if (s != NATS_OK)
        return bench_fail(&c->r, -EIO, "subscribe %s: %s", subj,
                          natsStatus_GetText(s));
    c->nsubs++;
    s = natsSubscription_SetPendingLimits(bs->sub, -1, -1);
    if (s != NATS_OK)
        return bench_fail(&c->r, -EIO, "pending limits: %s",
                          natsStatus_GetText(s));
    return bench_flush(c, nc, "subscribe");
}

/* ---- publishing ------------------------------------------------------- */

void
bench_put_seq(char *buf, uint64_t seq)
{
    memcpy(buf, &seq, sizeof seq);
}

/*
 * Probes until every subscriber saw one: proves interest reached the
 * broker's routing (Dialtone propagates it between processes).  A queue
 * member that never got a probe after 10 s is reported (warmup_ok false),
 * not fatal; no subscriber at all is.
 */
static int
bench_warmup(struct bench_ctx *c, const char *subj)
{
    int64_t end = bench_now_ns() + BENCH_WARMUP_NS;
    int i, seen;
    natsStatus s;

    bench_put_seq(c->buf, BENCH_PROBE_SEQ);
    do {
        s = natsConnection_Publish(c->pub, subj, c->buf, c->o.size);
        if (s != NATS_OK)
            return bench_fail(&c->r, -EIO, "warm-up publish: %s",
                              natsStatus_GetText(s));
        if (bench_flush(c, c->pub, "warm-up") != 0)
            return -ETIMEDOUT;
        bench_sleep_ns(5000000);
        for (i = 0, seen = 0; i < c->nsubs; i++)
            seen += atomic_load(&c->subs[i].probes) > 0;
        if (seen == c->nsubs) {
            c->r.warmup_ok = true;
            return 0;
        }
    } while (bench_now_ns() < end && !bench_past_deadline());
    if (seen > 0)
        return 0;
    return bench_fail(&c->r, -ETIMEDOUT,
                      "warm-up: no subscriber received a probe in 10 s");
}

/* After 'sent' messages: true to stop (duration or deadline); sleeps to
 * hold --rate. */
bool
bench_pace(const struct bench_opts *o, int64_t start, long sent)
{
    int64_t now = bench_now_ns(), target;

    if (o->duration_s > 0 && now - start >= (int64_t)(o->duration_s * 1e9))
        return true;
    if (now >= g_pub_stop_ns)
        return true;
    if (o->rate > 0) {
        target = start + (int64_t)((double)sent / o->rate * 1e9);
        bench_sleep_ns(target - now);
    }
    return false;
}

static int
bench_publish(struct bench_ctx *c, const char *subj, int64_t *t0)
{
    const struct bench_opts *o = &c->o;
    long mask = o->rate > 0 ? 15 : 255, i = 0;
    natsStatus s = NATS_OK;
    int rc;

    bench_phase("publishing", o->count);
    *t0 = bench_now_ns();
    while (i < o->count) {
        bench_put_seq(c->buf, (uint64_t)i);
        s = natsConnection_Publish(c->pub, subj, c->buf, o->size);
        if (s != NATS_OK)
            break;
        i++;
        if ((i & mask) == 0) {
            atomic_store_explicit(&g_progress, i, memory_order_relaxed);
            if (bench_pace(o, *t0, i))
                break;
        }
    }
    c->r.msgs = i;
    if (s != NATS_OK)
        return bench_fail(&c->r, -EIO, "publish #%ld: %s", i,
                          natsStatus_GetText(s));
    rc = bench_flush(c, c->pub, "publisher");
    c->r.pub_secs = (double)(bench_now_ns() - *t0) / 1e9;
    return rc;
}

/* ---- scenarios -------------------------------------------------------- */

int
bench_alloc_trackers(struct bench_ctx *c, int n)
{
    long words = (c->o.count + 63) / 64;
    int i;

    for (i = 0; i < n; i++) {
        c->tr[i].bits = calloc((size_t)words, sizeof(uint64_t));
        if (c->tr[i].bits == NULL)
            return bench_fail(&c->r, -ENOMEM, "bitmap of %ld bits",
                              c->o.count);
        c->tr[i].nbits = c->o.count;
        c->ntr++;
    }
    return 0;
}

/* pub, pubsub, fanout4, queue4: 'nsubs' subscribers, one stream each, or
 * one shared stream for a queue group. */
static int
bench_stream(struct bench_ctx *c, int nsubs, bool queue)
{
    struct bench_result *r = &c->r;
    char subj[128];
    double cpu0, ccpu0;
    int64_t t0, last = 0, ln;
    long expected;
    int i, rc;

    snprintf(subj, sizeof subj, "%s.stream", c->tag);
    c->conns = calloc(BENCH_MAX_SUBS, sizeof *c->conns);
    if (c->conns == NULL)
        return bench_fail(r, -ENOMEM, "out of memory");
    rc = bench_alloc_trackers(c, queue ? 1 : nsubs);
    if (rc == 0)
        rc = bench_connect(c, false, &c->pub);
    bench_phase("subscribing", nsubs);
    for (i = 0; rc == 0 && i < nsubs; i++)
        rc = bench_add_sub(c, subj, queue ? "bench" : NULL);
    bench_phase("warming up", 0);
    if (rc == 0 && nsubs > 0)
        rc = bench_warmup(c, subj);
    if (rc != 0)
        return rc;

    cpu0 = bench_broker_cpu_us(&c->o, NULL);
    ccpu0 = bench_client_cpu_us();
    rc = bench_publish(c, subj, &t0);
    expected = (long)c->ntr * r->msgs;
    bench_phase("awaiting delivery", expected);
    if (nsubs > 0)
        bench_wait_delivery(c, expected);
    r->broker_cpu_us = bench_broker_cpu_us(&c->o, &r->nbroker) - cpu0;
    r->client_cpu_us = bench_client_cpu_us() - ccpu0;
    bench_broker_mem(&c->o, &r->rss_kb, &r->pss_kb);
    if (nsubs > 0)
        bench_sleep_ns(100000000);     /* late duplicates still count */

    for (i = 0; i < c->nsubs; i++) {
        struct bench_sub *bs = &c->subs[i];

        r->delivered += atomic_load(&bs->unique);
        r->received += atomic_load(&bs->received);
        r->dup += atomic_load(&bs->dup);
        r->reordered += atomic_load(&bs->reordered);
        r->bad += atomic_load(&bs->bad);
        ln = atomic_load(&bs->last_ns);
        last = ln > last ? ln : last;
    }
    r->lost = nsubs > 0 ? expected - r->delivered : 0;
    r->streams = c->ntr;
    for (i = 0; i < c->nconns; i++)   /* no reconnect: closed means lost */
        r->closed += natsConnection_IsClosed(c->conns[i]);
    r->closed += natsConnection_IsClosed(c->pub);
    r->secs = last > t0 ? (double)(last - t0) / 1e9 : r->pub_secs;
    return rc;
}

static void
bench_bin_empty(struct bench_bin *bin)
{
    while (bin->n > 0)
        natsMsg_Destroy(bin->m[--bin->n]);
}

static void
bench_bin_put(struct bench_bin *bin, natsMsg *m)
{
    if (bin->n == BENCH_BIN_MSGS)
        bench_bin_empty(bin);
    bin->m[bin->n++] = m;
}

static uint64_t
bench_msg_seq(natsMsg *m)
{
    uint64_t seq = 0;

    if (natsMsg_GetDataLength(m) >= (int)sizeof seq)
        memcpy(&seq, natsMsg_GetData(m), sizeof seq);
    return seq;
}

/* Echoes a request; BENCH_FLUSH_SEQ asks it to free what it kept first. */
static void
bench_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                 void *closure)
{
    struct bench_bin *bin = closure;
    const char *reply = natsMsg_GetReply(msg);

    if (bench_msg_seq(msg) == BENCH_FLUSH_SEQ)
        bench_bin_empty(bin);
    if (reply != NULL)
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg),
                               natsMsg_GetDataLength(msg));
    bench_bin_put(bin, msg);
    if (bench_msg_seq(msg) == BENCH_FLUSH_SEQ)
        bench_bin_empty(bin);
}

static int
bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted 'v', in microseconds. */
static double
bench_pct_us(const int64_t *v, long n, double p)
{
    long idx = (long)ceil(p / 100.0 * (double)n) - 1;

    if (n == 0)
        return 0;
    idx = idx < 0 ? 0 : (idx >= n ? n - 1 : idx);
    return (double)v[idx] / 1e3;
}

void
bench_latency(struct bench_ctx *c, long n)
{
    struct bench_result *r = &c->r;
    int64_t sum = 0;
    long i;

    for (i = 0; i < n; i++)
        sum += c->lat[i];
    qsort(c->lat, (size_t)n, sizeof *c->lat, bench_cmp_i64);
    r->has_lat = n > 0;
    r->p50 = bench_pct_us(c->lat, n, 50);
    r->p90 = bench_pct_us(c->lat, n, 90);
    r->p99 = bench_pct_us(c->lat, n, 99);
    r->pmax = bench_pct_us(c->lat, n, 100);
    r->pmean = n > 0 ? (double)sum / (double)n / 1e3 : 0;
}

/*
 * Waits for the reply carrying 'seq' (stale replies are skipped).
 * 0 on the reply, -ETIMEDOUT, or -EIO when the connection failed.
 */
static int
bench_await_reply(struct bench_ctx *c, natsSubscription *inbox, uint64_t seq,
                  int64_t wait_ms)
{
    int64_t end = bench_now_ns() + wait_ms * 1000000;
    natsMsg *m = NULL;
    uint64_t got;
    natsStatus s;

    for (;;) {
        int64_t left = (end - bench_now_ns()) / 1000000;

        if (left <= 0)
            return -ETIMEDOUT;
        s = natsSubscription_NextMsg(&m, inbox, left);
        if (s == NATS_TIMEOUT)
            return -ETIMEDOUT;
        if (s != NATS_OK)
            return bench_fail(&c->r, -EIO, "await reply: %s",
                              natsStatus_GetText(s));
        got = bench_msg_seq(m);
        if (got == seq && natsMsg_GetDataLength(m) != c->o.size)
            c->r.bad++;
        bench_bin_put(&c->req_bin, m);
        if (got == seq)
            return 0;
    }
}

static int
bench_reqrep_setup(struct bench_ctx *c, const char *subj, char **inbox_out)
{
    natsSubscription *sub = NULL;
    natsInbox *inbox = NULL;
    natsStatus s;
    int rc;

    c->xsubs = calloc(2, sizeof *c->xsubs);
    c->lat = calloc((size_t)c->o.count, sizeof *c->lat);
    if (c->xsubs == NULL || c->lat == NULL)
        return bench_fail(&c->r, -ENOMEM, "out of memory");
    rc = bench_connect(c, true, &c->rsp);
    if (rc == 0)
        rc = bench_connect(c, true, &c->pub);
    if (rc != 0)
        return rc;
    s = natsConnection_Subscribe(&sub, c->rsp, subj, bench_on_request,
                                 &c->rsp_bin);
    if (s == NATS_OK)
        c->xsubs[c->nxsubs++] = sub;
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (s == NATS_OK)
        s = natsInbox_Create(&inbox);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, c->pub, inbox);
    if (s == NATS_OK)
        c->xsubs[c->nxsubs++] = sub;
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (s != NATS_OK) {
        natsInbox_Destroy(inbox);
        return bench_fail(&c->r, -EIO, "reqrep setup: %s",
                          natsStatus_GetText(s));
    }
    *inbox_out = inbox;
    rc = bench_flush(c, c->rsp, "responder");
    return rc == 0 ? bench_flush(c, c->pub, "requester") : rc;
}

/* Has the responder free the requests it kept (its bin is its thread's). */
static int
bench_reqrep_flush(struct bench_ctx *c, const char *subj, const char *inbox,
                   natsSubscription *isub)
{
    bench_put_seq(c->buf, BENCH_FLUSH_SEQ);
    if (natsConnection_PublishRequest(c->pub, subj, inbox, c->buf,
                                      c->o.size) != NATS_OK)
        return bench_fail(&c->r, -EIO, "reqrep: final request failed");
    if (bench_await_reply(c, isub, BENCH_FLUSH_SEQ, BENCH_RR_WAIT_MS) != 0)
        return bench_fail(&c->r, -ETIMEDOUT, "reqrep: no final reply");
    return 0;
}

/*
 * One request in flight on a hand-made inbox: PublishRequest + NextMsg is
 * one thread hop per direction in libnats, where natsConnection_Request
 * adds its response multiplexer's.
 */
static int
bench_reqrep(struct bench_ctx *c)
{
    struct bench_result *r = &c->r;
    char subj[128], *inbox = NULL;
    int64_t t0, t, end;
    double cpu0, ccpu0;
    natsSubscription *isub;
    int rc, timeouts = 0;
    long i = 0, n = 0;

    snprintf(subj, sizeof subj, "%s.rr", c->tag);
    rc = bench_reqrep_setup(c, subj, &inbox);
    if (rc != 0)
        goto out;
    isub = c->xsubs[1];
    bench_phase("warming up", 0);
    bench_put_seq(c->buf, BENCH_PROBE_SEQ);
    end = bench_now_ns() + BENCH_WARMUP_NS;
    do {
        natsConnection_PublishRequest(c->pub, subj, inbox, c->buf, c->o.size);
        rc = bench_await_reply(c, isub, BENCH_PROBE_SEQ, 200);
    } while (rc == -ETIMEDOUT && bench_now_ns() < end);
    if (rc != 0) {
        rc = bench_fail(r, rc, "reqrep warm-up: no reply in 10 s");
        goto out;
    }
    r->warmup_ok = true;

    cpu0 = bench_broker_cpu_us(&c->o, NULL);
    ccpu0 = bench_client_cpu_us();
    bench_phase("requesting", c->o.count);
    t0 = bench_now_ns();
    for (i = 0; i < c->o.count; i++) {
        atomic_store_explicit(&g_progress, i, memory_order_relaxed);
        if ((i & 63) == 63 && bench_pace(&c->o, t0, i))
            break;
        bench_put_seq(c->buf, (uint64_t)i);
        t = bench_now_ns();
        if (natsConnection_PublishRequest(c->pub, subj, inbox, c->buf,
                                          c->o.size) != NATS_OK) {
            rc = bench_fail(r, -EIO, "request #%ld: publish failed", i);
            break;
        }
        rc = bench_await_reply(c, isub, (uint64_t)i, BENCH_RR_WAIT_MS);
        if (rc == -ETIMEDOUT) {
            r->lost++;
            rc = 0;
            if (++timeouts >= 3) {
                rc = bench_fail(r, -ETIMEDOUT, "request #%ld: 3 replies "
                                "timed out (%d ms each)", i, BENCH_RR_WAIT_MS);
                break;
            }
            continue;
        }
        if (rc != 0)
            break;
        timeouts = 0;
        c->lat[n++] = bench_now_ns() - t;
    }
    r->secs = (double)(bench_now_ns() - t0) / 1e9;
    r->broker_cpu_us = bench_broker_cpu_us(&c->o, &r->nbroker) - cpu0;
    r->client_cpu_us = bench_client_cpu_us() - ccpu0;
    bench_broker_mem(&c->o, &r->rss_kb, &r->pss_kb);
    r->msgs = i;
    r->delivered = n;
    r->received = n;
    r->streams = 1;
    r->closed = natsConnection_IsClosed(c->pub)
                + natsConnection_IsClosed(c->rsp);
    bench_latency(c, n);
    if (rc == 0)
        rc = bench_reqrep_flush(c, subj, inbox, isub);
out:
    bench_bin_empty(&c->req_bin);
    natsInbox_Destroy(inbox);
    return rc;
}

/* Sums pending messages over sync subscriptions [from, n) step 'step';
 * counts subscriptions still empty in *empty. */
static long
bench_pending(struct bench_ctx *c, long step, long *empty)
{
    long i, sum = 0;
    int msgs, bytes;

    *empty = 0;
    for (i = 0; i < c->nxsubs; i += step) {
        msgs = 0;
        if (natsSubscription_GetPending(c->xsubs[i], &msgs, &bytes) != NATS_OK)
            msgs = 0;
        sum += msgs;
        *empty += msgs == 0;
    }
    return sum;
}

/*
 * Publishes one message to every 'step'-th subject of the sync
 * subscriptions and waits until each has it: the broker routes them all,
 * so its memory is measured with the whole index built.
 */
static int
bench_verify_subs(struct bench_ctx *c, char **subjects, long step)
{
    struct bench_result *r = &c->r;
    int64_t last_change = bench_now_ns(), t0 = last_change;
    long i, sent = 0, got = 0, prev = -1, empty = 0;
    natsStatus s;

    for (i = 0; i < c->nxsubs; i += step, sent++) {
        bench_put_seq(c->buf, (uint64_t)i);
        s = natsConnection_Publish(c->pub, subjects[i], c->buf, c->o.size);
        if (s != NATS_OK)
            return bench_fail(r, -EIO, "verify publish: %s",
                              natsStatus_GetText(s));
    }
    if (bench_flush(c, c->pub, "verify") != 0)
        return -ETIMEDOUT;
    bench_phase("awaiting verification messages", sent);
    while (!bench_past_deadline()) {
        got = bench_pending(c, step, &empty);
        atomic_store_explicit(&g_progress, sent - empty, memory_order_relaxed);
        if (empty == 0)
            break;
        if (got != prev) {
            prev = got;
            last_change = bench_now_ns();
        } else if (bench_now_ns() - last_change > BENCH_IDLE_NS) {
            break;
        }
        bench_sleep_ns(20000000);
    }
    r->msgs = sent;
    r->received = got;
    r->lost = empty;
    r->delivered = sent - empty;
    r->dup = got > r->delivered ? got - r->delivered : 0;
    r->secs = (double)(bench_now_ns() - t0) / 1e9;
    return 0;
}

static char **
bench_subjects(long n)
{
    return calloc((size_t)n, sizeof(char *));
}

static void
bench_free_subjects(char **v, long n)
{
    long i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* conns (nconn x per) or subs (1 x per): sync subscriptions on distinct
 * subjects; memory growth of the broker per connection / subscription. */
static int
bench_memory(struct bench_ctx *c, int nconn, long per, bool per_conn)
{
    struct bench_result *r = &c->r;
    long total = (long)nconn * per, i, j, k = 0;
    char **subjects = bench_subjects(total), name[160];
    double cpu0, ccpu0;
    int64_t t0;
    natsStatus s;
    int rc;

    c->conns = calloc((size_t)nconn, sizeof *c->conns);
    c->xsubs = calloc((size_t)total, sizeof *c->xsubs);
    if (subjects == NULL || c->conns == NULL || c->xsubs == NULL) {
        rc = bench_fail(r, -ENOMEM, "out of memory");
        goto out;
    }
    bench_broker_mem(&c->o, &r->rss0_kb, &r->pss0_kb);
    atomic_store(&g_rss0_kb, r->rss0_kb);
    atomic_store(&g_pss0_kb, r->pss0_kb);
    cpu0 = bench_broker_cpu_us(&c->o, NULL);
    ccpu0 = bench_client_cpu_us();
    rc = bench_connect(c, false, &c->pub);
    bench_phase(per_conn ? "connecting and subscribing (connections)"
                : "subscribing", per_conn ? nconn : total);
    t0 = bench_now_ns();
    for (i = 0; rc == 0 && i < nconn; i++) {
        rc = bench_connect(c, false, &c->conns[i]);
        if (rc != 0) {
            bench_fail(r, rc, "connection %ld of %d refused", i + 1, nconn);
            break;
        }
        c->nconns++;
        for (j = 0; j < per && !bench_past_deadline(); j++, k++) {
            snprintf(name, sizeof name, "%s.m.%ld.%ld", c->tag, i, j);
            subjects[k] = strdup(name);
            s = natsConnection_SubscribeSync(&c->xsubs[k], c->conns[i], name);
            if (subjects[k] == NULL || s != NATS_OK) {
                rc = bench_fail(r, -EIO, "subscription %ld: %s", k + 1,
                                natsStatus_GetText(s));
                break;
            }
            c->nxsubs++;
            if (!per_conn)
                atomic_store_explicit(&g_progress, k + 1,
                                      memory_order_relaxed);
        }
        if (per_conn)
            atomic_store_explicit(&g_progress, i + 1, memory_order_relaxed);
        if (rc == 0 && j < per)
            rc = bench_fail(r, -ETIMEDOUT, "deadline after %ld subs", k);
        if (rc == 0)
            rc = bench_flush(c, c->conns[i], "subscriptions");
    }
    r->setup_secs = (double)(bench_now_ns() - t0) / 1e9;
    r->units = per_conn ? c->nconns : c->nxsubs;
    if (rc == 0)     /* conns: one message per connection */
        rc = bench_verify_subs(c, subjects, per_conn ? per
                               : (total > 2000 ? total / 1000 : 1));
    bench_broker_mem(&c->o, &r->rss_kb, &r->pss_kb);
    r->broker_cpu_us = bench_broker_cpu_us(&c->o, &r->nbroker) - cpu0;
    r->client_cpu_us = bench_client_cpu_us() - ccpu0;
out:
    bench_free_subjects(subjects, total);
    return rc;
}

/* ---- output ----------------------------------------------------------- */

static double
bench_div(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void
bench_print(const struct bench_ctx *c)
{
    const struct bench_opts *o = &c->o;
    const struct bench_result *r = &c->r;
    double per = (double)(r->delivered > 0 ? r->delivered : r->msgs);
    /* the headline rate counts what arrived, per stream: loss lowers it */
    double good = r->streams > 0 ? (double)r->delivered / r->streams
                                 : (double)r->msgs;
    bool rr = strcmp(o->scenario, "reqrep") == 0;
    bool mem = strcmp(o->scenario, "conns") == 0
               || strcmp(o->scenario, "subs") == 0;
    char label[128], err[512];

    bench_json_str(label, sizeof label, o->label);
    bench_json_str(err, sizeof err, r->error);
    if (rr)
        per *= 2;      /* a round trip is two messages through the broker */
    printf("{\"server\":\"%s\",\"scenario\":\"%s\",\"size\":%d,"
           "\"msgs\":%ld,\"secs\":%.6f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,"
           "\"delivered\":%ld,\"deliv_per_s\":%.1f,\"received\":%ld,"
           "\"lost\":%ld,\"dup\":%ld,\"reordered\":%ld,\"bad\":%ld,"
           "\"pub_secs\":%.6f,\"pub_msgs_per_s\":%.1f,"
           "\"broker_cpu_us_per_msg\":%.3f,\"client_cpu_us_per_msg\":%.3f,"
           "\"broker_rss_kb\":%ld,\"broker_pss_kb\":%ld,\"broker_procs\":%d,"
           "\"warmup_ok\":%s,\"async_errors\":%ld,\"conns_closed\":%d",
           label, o->scenario, o->size, r->msgs, r->secs,
           bench_div(good, r->secs),
           bench_div(good * o->size, r->secs * 1e6),
           r->delivered, bench_div((double)r->delivered, r->secs),
           r->received, r->lost, r->dup, r->reordered, r->bad,
           r->pub_secs, bench_div((double)r->msgs, r->pub_secs),
           bench_div(r->broker_cpu_us, per), bench_div(r->client_cpu_us, per),
           r->rss_kb, r->pss_kb, r->nbroker, r->warmup_ok ? "true" : "false",
           atomic_load(&g_async_errors), r->closed);
    if (r->has_lat || rr)
        printf(",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
               "\"max_us\":%.1f,\"mean_us\":%.1f",
               r->p50, r->p90, r->p99, r->pmax, r->pmean);
    if (rr)
        printf(",\"broker_cpu_us_per_rt\":%.3f",
               bench_div(r->broker_cpu_us, (double)r->delivered));
    if (r->js.used)
        bench_js_print(c);
    if (mem)
        printf(",\"units\":%ld,\"setup_secs\":%.3f,\"broker_rss0_kb\":%ld,"
               "\"broker_pss0_kb\":%ld,\"rss_growth_kb\":%ld,"
               "\"pss_growth_kb\":%ld,\"bytes_per_%s\":%.1f,"
               "\"broker_cpu_us_per_unit\":%.3f",
               r->units, r->setup_secs, r->rss0_kb, r->pss0_kb,
               r->rss_kb - r->rss0_kb, r->pss_kb - r->pss0_kb,
               strcmp(o->scenario, "conns") == 0 ? "conn" : "sub",
               bench_div((double)(r->pss_kb - r->pss0_kb) * 1024,
                         (double)r->units),
               bench_div(r->broker_cpu_us, (double)r->units));
    if (r->error[0] != '\0')
        printf(",\"error\":\"%s\"", err);
    printf("}\n");
    fflush(stdout);
}

/* --check: the run completed and its numbers are plausible.  Loss is
 * checked only with --rate (a paced run must not lose); duplicates and
 * reordering never happen in core NATS with one publisher. */
static bool
bench_sane(const struct bench_ctx *c)
{
    const struct bench_result *r = &c->r;
    bool ok;

    if (bench_js_scenario(c->o.scenario))
        return bench_js_sane(c);
    ok = r->error[0] == '\0' && r->msgs > 0 && r->secs > 0
              && isfinite(r->secs) && r->dup == 0 && r->reordered == 0
              && r->bad == 0;

    if (strcmp(c->o.scenario, "pub") != 0)
        ok = ok && r->delivered > 0;
    if (c->o.rate > 0 || strcmp(c->o.scenario, "reqrep") == 0
        || strcmp(c->o.scenario, "conns") == 0
        || strcmp(c->o.scenario, "subs") == 0)
        ok = ok && r->lost == 0;
    if (strcmp(c->o.scenario, "reqrep") == 0)
        ok = ok && r->p50 > 0 && r->p50 <= r->p99 && r->p99 <= r->pmax;
    return ok;
}

/* ---- main ------------------------------------------------------------- */

/* Sleeps until 15 s past the deadline; then the run is stuck (libnats
 * blocked on a broker that stopped reading): say where, with the broker's
 * memory then, and exit. */
static void *
bench_watchdog(void *arg)
{
    const struct bench_opts *o = arg;
    int64_t end = g_deadline_ns + 15 * BENCH_NS;
    char label[128], line[768];
    long rss, pss;
    ssize_t w;
    int n;

    while (bench_now_ns() < end)
        bench_sleep_ns(end - bench_now_ns());
    bench_broker_mem(o, &rss, &pss);
    bench_json_str(label, sizeof label, o->label);
    n = snprintf(line, sizeof line,
                 "{\"server\":\"%s\",\"scenario\":\"%.32s\",\"size\":%d,"
                 "\"progress\":%ld,\"broker_rss_kb\":%ld,"
                 "\"broker_pss_kb\":%ld,\"broker_rss0_kb\":%ld,"
                 "\"broker_pss0_kb\":%ld,"
                 "\"error\":\"hard timeout after %.0f s while %s "
                 "(%ld of %ld)\"}\n", label, o->scenario, o->size,
                 atomic_load(&g_progress), rss, pss, atomic_load(&g_rss0_kb),
                 atomic_load(&g_pss0_kb), o->timeout_s + 15,
                 atomic_load(&g_phase), atomic_load(&g_progress),
                 g_progress_total);
    if (n > 0) {
        w = write(STDOUT_FILENO, line, (size_t)n < sizeof line
                  ? (size_t)n : sizeof line - 1);
        (void)w;
    }
    _exit(2);
    return NULL;
}

static void
bench_usage(void)
{
    fprintf(stderr,
        "usage: dt-bench --url nats://HOST:PORT --scenario S --size B "
        "--count N [options]\n"
        "       dt-bench --report FILE.jsonl [--baseline LABEL]\n"
        "scenarios: pub pubsub fanout4 queue4 reqrep conns subs\n"
        "           js-pub-sync js-pub-async js-pull (JetStream, file "
        "stream)\n"
        "  --label L          server label in the output (default: server)\n"
        "  --duration-s D     stop publishing after D seconds\n"
        "  --rate R           publish at R msgs/s (default: flat out)\n"
        "  --pids p1,p2       broker pids (descendants included)\n"
        "  --conns N          conns: connections (default 2000)\n"
        "  --subs-per-conn M  conns: subscriptions each (default 10)\n"
        "  --batch B          js-pull: messages per fetch (default 256)\n"
        "  --inflight N       js-pub-async: acks outstanding (default 4096)\n"
        "  --timeout-s T      whole run (default 120)\n"
        "  --check            exit 1 unless the numbers are sane\n");
}

static int
bench_parse_pids(struct bench_opts *o, const char *arg)
{
    char *end;
    long v;

    while (*arg != '\0' && o->nroots < BENCH_MAX_PIDS) {
        v = strtol(arg, &end, 10);
        if (end == arg || v <= 0)
            return -EINVAL;
        o->roots[o->nroots++] = (pid_t)v;
        arg = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            return -EINVAL;
    }
    return 0;
}

static int
bench_parse(struct bench_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        { "url", required_argument, NULL, 'u' },
        { "scenario", required_argument, NULL, 's' },
        { "size", required_argument, NULL, 'z' },
        { "count", required_argument, NULL, 'n' },
        { "duration-s", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'r' },
        { "pids", required_argument, NULL, 'p' },
        { "label", required_argument, NULL, 'l' },
        { "conns", required_argument, NULL, 'C' },
        { "subs-per-conn", required_argument, NULL, 'S' },
        { "timeout-s", required_argument, NULL, 't' },
        { "batch", required_argument, NULL, 'b' },
        { "inflight", required_argument, NULL, 'i' },
        { "check", no_argument, NULL, 'k' },
        { "report", required_argument, NULL, 'R' },
        { "baseline", required_argument, NULL, 'B' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    *o = (struct bench_opts){ .url = "nats://127.0.0.1:4222",
        .scenario = "pubsub", .label = "server", .baseline = "nats-server",
        .size = 16, .count = 100000, .timeout_s = 120, .conns = 2000,
        .subs_per_conn = 10, .batch = 256, .inflight = 4096 };
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'u': o->url = optarg; break;
        case 's': o->scenario = optarg; break;
        case 'z': o->size = atoi(optarg); break;
        case 'n': o->count = atol(optarg); break;
        case 'd': o->duration_s = atof(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        case 'p':
            if (bench_parse_pids(o, optarg) != 0)
                return -EINVAL;
            break;
        case 'l': o->label = optarg; break;
        case 'C': o->conns = atoi(optarg); break;
        case 'S': o->subs_per_conn = atoi(optarg); break;
        case 't': o->timeout_s = atof(optarg); break;
        case 'b': o->batch = atoi(optarg); break;
        case 'i': o->inflight = atoi(optarg); break;
        case 'k': o->check = true; break;
        case 'R': o->report = optarg; break;
        case 'B': o->baseline = optarg; break;
        default: return -EINVAL;
        }
    }
    if (optind != argc || o->size < 8 || o->size > (64 << 20)
        || o->count < 1 || o->count > 100000000 || o->timeout_s <= 0
        || o->conns < 1 || o->subs_per_conn < 1 || o->rate < 0
        || o->batch < 1 || o->batch > 100000 || o->inflight < 1
        || o->inflight > 1000000)
        return -EINVAL;
    return 0;
}

static int
bench_run(struct bench_ctx *c)
{
    const char *s = c->o.scenario;

    c->buf = calloc(1, (size_t)c->o.size);
    if (c->buf == NULL)
        return bench_fail(&c->r, -ENOMEM, "payload of %d bytes", c->o.size);
    memset(c->buf + 8, 'x', (size_t)c->o.size - 8);
    if (strcmp(s, "pub") == 0)
        return bench_stream(c, 0, false);
    if (strcmp(s, "pubsub") == 0)
        return bench_stream(c, 1, false);
    if (strcmp(s, "fanout4") == 0)
        return bench_stream(c, 4, false);
    if (strcmp(s, "queue4") == 0)
        return bench_stream(c, 4, true);
    if (strcmp(s, "reqrep") == 0)
        return bench_reqrep(c);
    if (strcmp(s, "conns") == 0)
        return bench_memory(c, c->o.conns, c->o.subs_per_conn, true);
    if (strcmp(s, "subs") == 0)
        return bench_memory(c, 1, c->o.count, false);
    if (bench_js_scenario(s))
        return bench_js_run(c);
    return bench_fail(&c->r, -EINVAL, "unknown scenario %s", s);
}

int
main(int argc, char **argv)
{
    static struct bench_ctx c;
    pthread_t wd;
    int rc;

    if (bench_parse(&c.o, argc, argv) != 0) {
        bench_usage();
        return 64;
    }
    if (c.o.report != NULL)
        return bench_report(c.o.report, c.o.baseline);

    g_deadline_ns = bench_now_ns() + (int64_t)(c.o.timeout_s * 1e9);
    g_pub_stop_ns = g_deadline_ns
                    - (int64_t)(fmin(5.0, c.o.timeout_s / 3) * 1e9);
    if (pthread_create(&wd, NULL, bench_watchdog, &c.o) != 0
        || pthread_detach(wd) != 0) {
        fprintf(stderr, "dt-bench: cannot start the watchdog\n");
        return 2;
    }
    snprintf(c.tag, sizeof c.tag, "bench.%d.%lx", (int)getpid(),
             (unsigned long)(bench_now_ns() & 0xffffff));

    rc = bench_run(&c);
    bench_print(&c);
    bench_ctx_free(&c);
    if (rc != 0)
        return 2;
    return c.o.check && !bench_sane(&c) ? 1 : 0;
}
