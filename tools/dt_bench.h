/*
 * dt_bench.h -- what the parts of dt-bench share: dt_bench.c runs one
 * core-NATS scenario and prints its JSON line, dt_bench_js.c runs the
 * JetStream scenarios with dt_bench.c's plumbing (clock, deadline,
 * broker CPU and memory, connections, sequence tracking), and
 * dt_bench_report.c renders a file of such lines as a markdown table.
 *
 * NOTES
 *  - One run per process: the run's state is one bench_ctx (main's static)
 *    plus the deadline and progress globals inside dt_bench.c, reached
 *    through the functions below.
 *  - Functions returning int return 0 or -errno; bench_fail() records the
 *    run's first error text in the result, which the JSON line carries.
 */
#ifndef DT_BENCH_H
#define DT_BENCH_H

#include <nats/nats.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_PROBE_SEQ   UINT64_MAX   /* warm-up messages carry this seq */
#define BENCH_FLUSH_SEQ   (UINT64_MAX - 1)   /* reqrep: empty your bin */
#define BENCH_BIN_MSGS    64
#define BENCH_MAX_PIDS    512
#define BENCH_MAX_SUBS    4
#define BENCH_IDLE_NS     (3LL * 1000000000LL)   /* no progress: give up */
#define BENCH_WARMUP_NS   (10LL * 1000000000LL)
#define BENCH_RR_WAIT_MS  2000                   /* one reply, at most */
#define BENCH_NS          1000000000LL

struct bench_opts {
    const char *url;
    const char *scenario;
    const char *label;
    const char *report;        /* --report FILE: render, do not run */
    const char *baseline;      /* label the report's ratios divide by */
    int size;
    long count;
    double duration_s;         /* cap on publishing time; 0: none */
    double rate;               /* msgs/s; 0: as fast as possible */
    double timeout_s;          /* whole run */
    pid_t roots[BENCH_MAX_PIDS];
    int nroots;
    int conns;                 /* conns: connections */
    int subs_per_conn;         /* conns: subscriptions per connection */
    int batch;                 /* js-pull: messages per fetch */
    int inflight;              /* js-pub-async: acks outstanding at most */
    bool check;                /* exit 1 unless the numbers are sane */
};

/* What a JetStream run adds to the result (dt_bench_js.c). */
struct bench_js_result {
    bool used;                 /* a js-* scenario: print these fields */
    long acks;                 /* positive publish acks */
    long ack_errors;           /* negative acks, publish errors, timeouts */
    long no_ack;               /* async publishes never answered */
    long stored;               /* stream's message count after publishing */
    long acked_not_stored;     /* acks the stream does not hold */
    long prefilled;            /* js-pull: stream size before consuming */
    long prefill_ms;           /* js-pull: time the untimed prefill took */
    long fetches;              /* js-pull: fetch calls that returned msgs */
    long ack_pending;          /* js-pull: consumer's unacked, at the end */
    long redelivered;          /* js-pull: consumer's redelivered count */
};

struct bench_result {
    long msgs;                 /* published; round trips for reqrep */
    long delivered;            /* distinct deliveries */
    long received;             /* all deliveries, duplicates included */
    long lost, dup, reordered, bad;
    int streams;               /* delivery streams: 1 per sub, 1 per group */
    int closed;                /* connections found closed after the run */
    double secs;               /* first send -> last receive */
    double pub_secs;           /* first send -> publisher flushed */
    double broker_cpu_us;
    double client_cpu_us;
    long rss_kb, pss_kb;       /* after the run */
    long rss0_kb, pss0_kb;     /* before (conns, subs) */
    int nbroker;               /* broker processes measured */
    bool has_lat;              /* p50.. below are set (reqrep, js-pub-sync) */
    double p50, p90, p99, pmax, pmean;   /* microseconds */
    double setup_secs;         /* conns, subs */
    long units;                /* conns: connections; subs: subscriptions */
    bool warmup_ok;
    struct bench_js_result js;
    char error[240];
};

struct bench_tracker {
    _Atomic uint64_t *bits;    /* one bit per sequence number */
    long nbits;
};

struct bench_sub {
    struct bench_tracker *tr;
    natsSubscription *sub;
    int size;
    uint64_t max_seq;          /* delivery thread only */
    bool have_max;             /* delivery thread only */
    _Atomic long unique, received, dup, reordered, bad, probes;
    _Atomic int64_t last_ns;
};

/*
 * Messages a round trip is done with, freed BENCH_BIN_MSGS at a time:
 * libnats hands every natsMsg_Destroy to its garbage-collector thread, and
 * one wake-up of that thread per message lands inside the next round trip
 * on a 2-core machine.  One owner thread per bin.
 */
struct bench_bin {
    natsMsg *m[BENCH_BIN_MSGS];
    int n;
};

struct bench_ctx {
    struct bench_opts o;
    struct bench_result r;
    natsConnection *pub;       /* publisher / requester */
    natsConnection *rsp;       /* reqrep responder */
    natsConnection **conns;    /* subscriber connections */
    int nconns;
    natsSubscription **xsubs;  /* synchronous subscriptions */
    long nxsubs;
    struct bench_sub subs[BENCH_MAX_SUBS];
    int nsubs;
    struct bench_tracker tr[BENCH_MAX_SUBS];
    int ntr;
    char *buf;                 /* payload, o.size bytes */
    int64_t *lat;              /* round trips (reqrep, js-pub-sync), ns */
    struct bench_bin req_bin;  /* reqrep: replies, main thread's */
    struct bench_bin rsp_bin;  /* reqrep: requests, responder's thread's */
    char tag[64];              /* unique subject prefix of this run */
};

/* ---- dt_bench.c: clock, deadline, progress ---- */

int64_t bench_now_ns(void);
void bench_sleep_ns(int64_t ns);
/* Milliseconds left before the run's deadline, at least floor_ms. */
int64_t bench_left_ms(int64_t floor_ms);
bool bench_past_deadline(void);
/* The run's deadline (CLOCK_MONOTONIC ns). */
int64_t bench_deadline_ns(void);
/* Names what the main thread does now (and its total), for the watchdog. */
void bench_phase(const char *what, long total);
void bench_progress(long done);
/* Records the run's first error; returns err. */
int bench_fail(struct bench_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- dt_bench.c: what the broker and the client spend ---- */

double bench_client_cpu_us(void);
/* utime+stime of the --pids processes and their descendants; *nproc gets
 * how many processes were summed (may be NULL). */
double bench_broker_cpu_us(const struct bench_opts *o, int *nproc);
void bench_broker_mem(const struct bench_opts *o, long *rss_kb,
                      long *pss_kb);

/* ---- dt_bench.c: connections, payloads, sequence tracking ---- */

/* One connection to o.url, no reconnect; asap: no write coalescing. */
int bench_connect(struct bench_ctx *c, bool asap, natsConnection **nc);
int bench_flush(struct bench_ctx *c, natsConnection *nc, const char *what);
void bench_put_seq(char *buf, uint64_t seq);
/* One bitmap of o.count bits per tracker, n trackers. */
int bench_alloc_trackers(struct bench_ctx *c, int n);
/* Counts one delivery of seq (payload length len) against bs's tracker. */
void bench_track(struct bench_sub *bs, uint64_t seq, int len);
/* After 'sent' messages: true when publishing must stop (--duration-s or
 * the deadline); sleeps to hold --rate. */
bool bench_pace(const struct bench_opts *o, int64_t start, long sent);
/* Sorts c->lat[0..n) and fills r's percentiles and mean. */
void bench_latency(struct bench_ctx *c, long n);

/* ---- dt_bench_js.c ---- */

/* True for the scenarios dt_bench_js.c runs (js-pub-sync, js-pub-async,
 * js-pull). */
bool bench_js_scenario(const char *scenario);
/* Runs c->o.scenario against the broker's JetStream: creates the stream
 * afresh (deleting a leftover), measures, deletes it.  0 or -errno, the
 * reason in c->r.error. */
int bench_js_run(struct bench_ctx *c);
/* The JetStream fields of the JSON line, each starting with ','. */
void bench_js_print(const struct bench_ctx *c);
/* --check for a js-* run: no loss, no duplicates, no errors. */
bool bench_js_sane(const struct bench_ctx *c);

/* ---- dt_bench_report.c ---- */

/* Prints the markdown report over the JSON lines in path to stdout, one
 * row per (scenario, size, server), ratios against the server labelled
 * baseline.  Returns 0, or 1 (reason on stderr) when path cannot be read
 * or memory runs out: the value is dt-bench's exit status. */
int bench_report(const char *path, const char *baseline);

#endif /* DT_BENCH_H */
