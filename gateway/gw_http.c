/*
 * gw_http.c -- monitoring over HTTP/1.x: request framing, routing, and the
 * /varz, /connz, /subsz (/subscriptionsz), /healthz and / pages, built
 * from the shared-memory segment with nats-server 2.9.10's field names,
 * order and formats (Go durations, RFC 3339 times, 2-space indented JSON).
 *
 * NOTES
 *   Contract in gw_http.h.  Only fields Dialtone can fill honestly are
 *   printed: nothing Go-specific (gomaxprocs), no TLS, accounts or
 *   cluster data beyond the empty objects nats-server itself prints when
 *   those features are off.
 *   Request framing is strict and bounded: a request line and headers
 *   within GW_HTTP_MAX_REQUEST bytes, CRLF or bare LF line ends, no
 *   control characters.  A malformed request line is refused as soon as
 *   it is complete, without waiting for the rest.
 *   Reading the segment: slot and counter values are read with relaxed
 *   atomics; a connection slot is shown only if it is OPEN and has the
 *   same generation before and after its fields were copied.
 *   Process state: request counts (http_req_stats) and the previous CPU
 *   sample live in static variables; one loop per process calls us.
 */
#include "gw_http.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dt_config.h"
#include "dt_json.h"

#define BODY_CAP   ((size_t)64 << 20)   /* largest response body */
#define PARAM_MAX  256                  /* longest query value we read */
#define NS_PER_SEC 1000000000ull

/* Routes, sorted by their http_req_stats name (Go prints map keys in
 * sorted order). */
enum route_stat { ST_ROOT, ST_CONNZ, ST_HEALTHZ, ST_JSZ, ST_SUBSZ, ST_VARZ,
                  ST_COUNT };

static const char *const stat_names[ST_COUNT] = {
    "/", "/connz", "/healthz", "/jsz", "/subsz", "/varz",
};
static uint64_t req_counts[ST_COUNT];

struct http_req {
    const char *path;
    size_t path_len;
    const char *query;          /* after '?', may be empty */
    size_t query_len;
    bool head;                  /* HEAD: headers only */
};

struct http_resp {
    int status;
    const char *ctype;
    struct dt_buf body;
};

typedef int (*route_fn)(const struct shm_handle *h, const struct http_req *rq,
                        struct http_resp *rs);

static const char CT_JSON[] = "application/json";
static const char CT_JS[] = "application/javascript";
static const char CT_TEXT[] = "text/plain; charset=utf-8";
static const char CT_HTML[] = "text/html; charset=utf-8";

/* ------------------------------------------------------------------ */
/* Formatting. */

/* Fraction digits of v (prec of them) with trailing zeros dropped, after
 * a '.'; empty when the fraction is zero. */
static void
frac_str(char *out, size_t size, uint64_t v, int prec)
{
    char d[16];
    int n = prec;

    snprintf(d, sizeof(d), "%0*" PRIu64, prec, v);
    while (n > 0 && d[n - 1] == '0')
        n--;
    if (n == 0)
        out[0] = '\0';
    else
        snprintf(out, size, ".%.*s", n, d);
}

size_t
gw_http_fmt_duration(char *buf, size_t size, uint64_t ns)
{
    char frac[16];
    int n;

    if (ns == 0) {
        n = snprintf(buf, size, "0s");
    } else if (ns < NS_PER_SEC) {
        uint64_t div = ns < 1000 ? 1 : ns < 1000000 ? 1000 : 1000000;
        const char *unit = div == 1 ? "ns" : div == 1000 ? "\xc2\xb5s" : "ms";
        int prec = div == 1 ? 0 : div == 1000 ? 3 : 6;
        frac_str(frac, sizeof(frac), ns % div, prec);
        n = snprintf(buf, size, "%" PRIu64 "%s%s", ns / div, frac, unit);
    } else {
        uint64_t s = ns / NS_PER_SEC, m = s / 60, h = m / 60;
        frac_str(frac, sizeof(frac), ns % NS_PER_SEC, 9);
        if (h)
            n = snprintf(buf, size, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss",
                         h, m % 60, s % 60, frac);
        else if (m)
            n = snprintf(buf, size, "%" PRIu64 "m%" PRIu64 "%ss", m, s % 60,
                         frac);
        else
            n = snprintf(buf, size, "%" PRIu64 "%ss", s, frac);
    }
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

size_t
gw_http_fmt_uptime(char *buf, size_t size, uint64_t ns)
{
    uint64_t s = ns / NS_PER_SEC, m = s / 60, h = m / 60, d = h / 24;
    uint64_t y = d / 365;
    int n;

    if (y)
        n = snprintf(buf, size, "%" PRIu64 "y%" PRIu64 "d%" PRIu64 "h%"
                     PRIu64 "m%" PRIu64 "s", y, d % 365, h % 24, m % 60,
                     s % 60);
    else if (d)
        n = snprintf(buf, size, "%" PRIu64 "d%" PRIu64 "h%" PRIu64 "m%"
                     PRIu64 "s", d, h % 24, m % 60, s % 60);
    else if (h)
        n = snprintf(buf, size, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s",
                     h, m % 60, s % 60);
    else if (m)
        n = snprintf(buf, size, "%" PRIu64 "m%" PRIu64 "s", m, s % 60);
    else
        n = snprintf(buf, size, "%" PRIu64 "s", s);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

size_t
gw_http_fmt_time(char *buf, size_t size, uint64_t wall_ns)
{
    time_t sec = (time_t)(wall_ns / NS_PER_SEC);
    struct tm tm;
    char frac[16], date[40];
    int n;

    if (gmtime_r(&sec, &tm) == NULL ||
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        date[0] = '\0';
    frac_str(frac, sizeof(frac), wall_ns % NS_PER_SEC, 9);
    n = snprintf(buf, size, "%s%sZ", date, frac);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static uint64_t
wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t
since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* JSON helpers over fixed-size, possibly unterminated char fields. */
static void
kfixed(struct dt_jw *w, const char *key, const char *field, size_t size)
{
    dt_jw_key(w, key);
    dt_jw_strn(w, field, strnlen(field, size));
}

static void
ktime(struct dt_jw *w, const char *key, uint64_t wall)
{
    char t[64];

    dt_jw_key(w, key);
    dt_jw_strn(w, t, gw_http_fmt_time(t, sizeof(t), wall));
}

static void
kuptime(struct dt_jw *w, const char *key, uint64_t ns)
{
    char t[64];

    dt_jw_key(w, key);
    dt_jw_strn(w, t, gw_http_fmt_uptime(t, sizeof(t), ns));
}

static uint64_t
ld64(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

/* The router's statistics, or zeros if the TOC points outside the
 * segment (a damaged header must not fault the monitor). */
static const struct shm_router_stats *
router_stats(const struct shm_handle *h)
{
    static const struct shm_router_stats zero;

    if (shm_at(h, h->hdr->router_stats_off, sizeof(zero)) == NULL)
        return &zero;
    return shm_router_stats(h);
}

/* ------------------------------------------------------------------ */
/* Query strings. */

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* URL-decode s[0..n) ('+' is a space) into out[size]; -1 if malformed or
 * too long, else the decoded length. */
static int
url_decode(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

/* First value of parameter `name`, decoded: its length, -1 when absent,
 * -2 when present but malformed or longer than PARAM_MAX. */
static int
query_get(const struct http_req *rq, const char *name, char *val,
          size_t size)
{
    const char *q = rq->query, *end = q + rq->query_len;

    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        const char *ke = eq ? eq : pe;
        char key[PARAM_MAX];
        if (url_decode(q, (size_t)(ke - q), key, sizeof(key)) >= 0 &&
            strcmp(key, name) == 0) {
            if (eq == NULL) {
                val[0] = '\0';
                return 0;
            }
            int n = url_decode(eq + 1, (size_t)(pe - eq - 1), val, size);
            return n < 0 ? -2 : n;
        }
        q = pe + 1;
    }
    return -1;
}

/* Replace the body with a plain-text error, as nats-server's handlers
 * do with http.Error. */
static void resp_errorf(struct http_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
resp_errorf(struct http_resp *rs, int status, const char *fmt, ...)
{
    char msg[2 * PARAM_MAX + 128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rs->body.len = 0;
    rs->status = status;
    rs->ctype = CT_TEXT;
    if (n > 0)
        dt_buf_append(&rs->body, msg, (size_t)n < sizeof(msg) ? (size_t)n
                                                        : sizeof(msg) - 1);
}

/* An integer parameter, read like Go's strconv.Atoi; absent or empty
 * leaves *out alone.  -1 after writing a 400 into rs. */
static int
query_int(const struct http_req *rq, struct http_resp *rs, const char *name,
          int64_t *out)
{
    char v[PARAM_MAX];
    int n = query_get(rq, name, v, sizeof(v));
    const char *p = v;
    bool neg = false;
    uint64_t mag = 0;

    if (n == -1 || n == 0)
        return 0;
    if (n < 0)
        v[0] = '\0';
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (n < 0 || *p == '\0')
        goto syntax;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto syntax;
        if (mag > ((uint64_t)INT64_MAX + 1 - (uint64_t)(*p - '0')) / 10)
            goto range;
        mag = mag * 10 + (uint64_t)(*p - '0');
    }
    if (!neg && mag > (uint64_t)INT64_MAX)
        goto range;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
syntax:
    resp_errorf(rs, 400, "Error decoding int for '%s': strconv.Atoi: "
                "parsing \"%s\": invalid syntax", name, v);
    return -1;
range:
    resp_errorf(rs, 400, "Error decoding int for '%s': strconv.Atoi: "
                "parsing \"%s\": value out of range", name, v);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Process statistics for /varz, from /proc. */

struct proc_stat {
    uint64_t ticks;         /* utime + stime */
    uint64_t start_ticks;   /* since boot */
    uint64_t rss_pages;
};

static int
read_proc_stat(uint32_t pid, struct proc_stat *ps)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;
    const char *p;
    unsigned long long utime, stime, start;
    long long rss;

    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    f = fopen(path, "re");
    if (f == NULL)
        return errno ? -errno : -EIO;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');      /* the command name may hold spaces */
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
               " %*d %*d %*d %*d %*d %*d %llu %*u %lld",
               &utime, &stime, &start, &rss) != 4)
        return -EINVAL;
    ps->ticks = utime + stime;
    ps->start_ticks = start;
    ps->rss_pages = rss > 0 ? (uint64_t)rss : 0;
    return 0;
}

static double
boot_uptime_s(void)
{
    double up = 0;
    FILE *f = fopen("/proc/uptime", "re");

    if (f) {
        if (fscanf(f, "%lf", &up) != 1)
            up = 0;
        fclose(f);
    }
    return up;
}

/* The Dialtone processes: the master and every doorbell's consumer
 * (router first, then the gateways and storage), without duplicates. */
static size_t
dialtone_pids(const struct shm_handle *h, uint32_t *pids, size_t max)
{
    unsigned g = h->hdr->ports, bells = 0;
    size_t n = 0;

    if (g <= SHM_MAX_GATEWAYS &&
        shm_at(h, h->hdr->doorbells_off,
               (uint64_t)(1 + g) * sizeof(struct shm_doorbell)) != NULL)
        bells = 1 + g;
    for (unsigned i = 0; i <= bells && n < max; i++) {
        uint32_t pid = i == 0 ? h->hdr->master_pid
                              : shm_doorbell_of(h, i - 1)->pid;
        bool seen = pid == 0;
        for (size_t k = 0; k < n && !seen; k++)
            seen = pids[k] == pid;
        if (!seen)
            pids[n++] = pid;
    }
    return n;
}

/* Previous CPU sample, so that cpu is the recent load (as nats-server
 * samples it) rather than the average since start. */
static struct {
    bool valid;
    uint64_t pid_sig;
    uint64_t ticks;
    uint64_t mono;
    double pct;
} cpu_prev;

/* Sum of RSS (bytes) and of CPU percent over the Dialtone processes.
 * CPU is measured between two /varz requests at least 0.5 s apart; the
 * first time (or after a process changed) it is the average since each
 * process started, like ps(1). */
static void
process_usage(const struct shm_handle *h, uint64_t *mem, double *cpu)
{
    uint32_t pids[SHM_MAX_GATEWAYS + 2];
    size_t n = dialtone_pids(h, pids, SHM_MAX_GATEWAYS + 2);
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    double up = boot_uptime_s(), life = 0;
    uint64_t ticks = 0, sig = 1469598103934665603ull, now = mono_ns();

    if (hz <= 0)
        hz = 100;
    *mem = 0;
    for (size_t i = 0; i < n; i++) {
        struct proc_stat ps = { 0, 0, 0 };
        if (read_proc_stat(pids[i], &ps) < 0)
            continue;
        *mem += ps.rss_pages * (uint64_t)(page > 0 ? page : 4096);
        ticks += ps.ticks;
        sig = (sig ^ pids[i]) * 1099511628211ull;
        double age = up - (double)ps.start_ticks / (double)hz;
        if (age > 0)
            life += (double)ps.ticks / (double)hz / age * 100.0;
    }
    if (cpu_prev.valid && cpu_prev.pid_sig == sig && ticks >= cpu_prev.ticks) {
        uint64_t dt = since(now, cpu_prev.mono);
        if (dt >= NS_PER_SEC / 2) {
            cpu_prev.pct = (double)(ticks - cpu_prev.ticks) / (double)hz /
                           ((double)dt / NS_PER_SEC) * 100.0;
            cpu_prev.ticks = ticks;
            cpu_prev.mono = now;
        }
    } else {
        cpu_prev.valid = true;
        cpu_prev.pid_sig = sig;
        cpu_prev.ticks = ticks;
        cpu_prev.mono = now;
        cpu_prev.pct = life;
    }
    *cpu = round(cpu_prev.pct * 10.0) / 10.0;
}

static int
online_cores(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ------------------------------------------------------------------ */
/* /varz */

static void
varz_settings(struct dt_jw *w, const struct shm_handle *h)
{
    const struct shm_settings *s = &h->hdr->settings;
    dt_jw_kuint(w, "max_connections", s->max_connections);
    if (s->max_subscriptions)
        dt_jw_kuint(w, "max_subscriptions", s->max_subscriptions);
    dt_jw_kuint(w, "ping_interval", s->ping_interval_ms * 1000000ull);
    dt_jw_kuint(w, "ping_max", s->ping_max);
    kfixed(w, "http_host", s->host, sizeof(s->host));
    dt_jw_kuint(w, "http_port", s->http_port);
    dt_jw_kstr(w, "http_base_path", "");
    dt_jw_kint(w, "https_port", 0);
    dt_jw_kdouble(w, "auth_timeout", (double)s->auth_timeout_ms / 1000.0);
    dt_jw_kuint(w, "max_control_line", s->max_control_line);
    dt_jw_kint(w, "max_payload", s->max_payload);
    dt_jw_kint(w, "max_pending", s->max_pending);
    /* features nats-server prints as {} when they are off */
    static const char *const off[] = {
        "cluster", "gateway", "leaf", "mqtt", "websocket",
    };
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        dt_jw_key(w, off[i]);
        dt_jw_begin_object(w);
        dt_jw_end_object(w);
    }
    gw_jsz_varz(w, h);
    dt_jw_kuint(w, "write_deadline", s->write_deadline_ms * 1000000ull);
}

static void
varz_counters(struct dt_jw *w, const struct shm_handle *h)
{
    struct shm_header *hdr = h->hdr;
    const struct shm_router_stats *rt = router_stats(h);

    dt_jw_kuint(w, "connections",
                atomic_load_explicit(&hdr->num_conns, memory_order_relaxed));
    dt_jw_kuint(w, "total_connections", ld64(&hdr->total_conns));
    dt_jw_kint(w, "routes", 0);
    dt_jw_kint(w, "remotes", 0);
    dt_jw_kint(w, "leafnodes", 0);
    dt_jw_kuint(w, "in_msgs", ld64(&hdr->in_msgs));
    dt_jw_kuint(w, "out_msgs", ld64(&hdr->out_msgs));
    dt_jw_kuint(w, "in_bytes", ld64(&hdr->in_bytes));
    dt_jw_kuint(w, "out_bytes", ld64(&hdr->out_bytes));
    dt_jw_kuint(w, "slow_consumers", ld64(&hdr->slow_consumers));
    dt_jw_kuint(w, "subscriptions", ld64(&rt->num_subscriptions));
    dt_jw_key(w, "http_req_stats");
    dt_jw_begin_object(w);
    for (int i = 0; i < ST_COUNT; i++)
        if (req_counts[i])
            dt_jw_kuint(w, stat_names[i], req_counts[i]);
    dt_jw_end_object(w);
}

static int
handle_varz(const struct shm_handle *h, const struct http_req *rq,
            struct http_resp *rs)
{
    const struct shm_settings *s = &h->hdr->settings;
    uint64_t now = wall_ns(), mem = 0;
    double cpu = 0;
    struct dt_jw w;

    process_usage(h, &mem, &cpu);
    dt_jw_init(&w, &rs->body, true);
    dt_jw_begin_object(&w);
    kfixed(&w, "server_id", s->server_id, sizeof(s->server_id));
    if (s->server_name[0])
        kfixed(&w, "server_name", s->server_name, sizeof(s->server_name));
    else    /* nats-server names an unnamed server by its id */
        kfixed(&w, "server_name", s->server_id, sizeof(s->server_id));
    dt_jw_kstr(&w, "version", DT_NATS_COMPAT_VERSION);
    dt_jw_kstr(&w, "dialtone_version", DT_VERSION);
    dt_jw_kint(&w, "proto", DT_PROTO);
    dt_jw_kstr(&w, "go", "dialtone");
    kfixed(&w, "host", s->host, sizeof(s->host));
    dt_jw_kuint(&w, "port", s->port);
    if (s->auth_user[0] || s->auth_token[0])
        dt_jw_kbool(&w, "auth_required", true);
    varz_settings(&w, h);
    ktime(&w, "start", s->start_ns);
    ktime(&w, "now", now);
    kuptime(&w, "uptime", since(now, s->start_ns));
    dt_jw_kuint(&w, "mem", mem);
    dt_jw_kint(&w, "cores", online_cores());
    dt_jw_kdouble(&w, "cpu", cpu);
    varz_counters(&w, h);
    /* Dialtone has no reload yet: the configuration is the one loaded at
     * start. */
    ktime(&w, "config_load_time", s->start_ns);
    dt_jw_end_object(&w);
    return dt_jw_finish(&w);
}

/* ------------------------------------------------------------------ */
/* /connz */

enum sort_by {
    BY_CID, BY_START, BY_SUBS, BY_PENDING, BY_MSGS_TO, BY_MSGS_FROM,
    BY_BYTES_TO, BY_BYTES_FROM, BY_LAST, BY_IDLE, BY_UPTIME, BY_RTT,
    BY_STOP, BY_REASON,
};

static const struct { const char *name; enum sort_by by; } sort_opts[] = {
    { "cid", BY_CID }, { "start", BY_START }, { "subs", BY_SUBS },
    { "pending", BY_PENDING }, { "msgs_to", BY_MSGS_TO },
    { "msgs_from", BY_MSGS_FROM }, { "bytes_to", BY_BYTES_TO },
    { "bytes_from", BY_BYTES_FROM }, { "last", BY_LAST },
    { "idle", BY_IDLE }, { "uptime", BY_UPTIME }, { "rtt", BY_RTT },
    { "stop", BY_STOP }, { "reason", BY_REASON },
};

enum conn_state_opt { STATE_OPEN, STATE_CLOSED, STATE_ALL };

struct connz_opts {
    enum sort_by sort;
    enum conn_state_opt state;
    int64_t offset;
    int64_t limit;
    int64_t cid;                /* > 0: only this connection */
};

/* A sort key per open slot; keys are stored so that ascending order is
 * the wanted order (descending sorts store the complement). */
struct conn_key {
    uint64_t key;
    uint64_t cid;
    uint32_t gw;
    uint32_t idx;
};

/* What one /connz entry shows, copied out of the slot. */
struct conn_view {
    uint64_t cid, start_ns, last_ns, rtt_ns, pending;
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    uint32_t subs;
    uint16_t port;
    char ip[48];
    char name[SHM_NAME_MAX];
    char lang[16];
    char version[16];
};

static uint64_t
sort_key(const struct shm_conn_slot *c, enum sort_by by)
{
    switch (by) {
    case BY_START:
    case BY_UPTIME:     return c->start_ns;         /* oldest first */
    case BY_SUBS:       return ~(uint64_t)atomic_load_explicit(&c->subs,
                                                memory_order_relaxed);
    case BY_PENDING:    return ~ld64(&c->pending_bytes);
    case BY_MSGS_TO:    return ~ld64(&c->out_msgs);
    case BY_MSGS_FROM:  return ~ld64(&c->in_msgs);
    case BY_BYTES_TO:   return ~ld64(&c->out_bytes);
    case BY_BYTES_FROM: return ~ld64(&c->in_bytes);
    case BY_LAST:       return ~ld64(&c->last_activity_ns);
    case BY_IDLE:       return ld64(&c->last_activity_ns); /* most idle */
    case BY_RTT:        return ~c->rtt_ns;
    default:            return c->cid;
    }
}

static int
key_cmp(const void *a, const void *b)
{
    const struct conn_key *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->cid < y->cid ? -1 : x->cid > y->cid;
}

static int
connz_opts(const struct http_req *rq, struct http_resp *rs,
           struct connz_opts *o)
{
    char v[PARAM_MAX];
    int n;

    memset(o, 0, sizeof(*o));
    o->limit = GW_HTTP_DEFAULT_LIMIT;
    n = query_get(rq, "sort", v, sizeof(v));
    if (n > 0 || n == -2) {
        size_t i = 0;
        if (n == -2)
            v[0] = '\0';
        while (i < sizeof(sort_opts) / sizeof(sort_opts[0]) &&
               strcmp(sort_opts[i].name, v) != 0)
            i++;
        if (i == sizeof(sort_opts) / sizeof(sort_opts[0])) {
            resp_errorf(rs, 400, "invalid sorting option: %s", v);
            return -1;
        }
        o->sort = sort_opts[i].by;
    }
    n = query_get(rq, "state", v, sizeof(v));
    if (n > 0 || n == -2) {
        if (n > 0 && strcmp(v, "open") == 0)
            o->state = STATE_OPEN;
        else if (n > 0 && strcmp(v, "closed") == 0)
            o->state = STATE_CLOSED;
        else if (n > 0 && (strcmp(v, "any") == 0 || strcmp(v, "all") == 0))
            o->state = STATE_ALL;
        else {
            resp_errorf(rs, 400, "Error decoding state for %s",
                        n > 0 ? v : "");
            return -1;
        }
    }
    if ((o->sort == BY_STOP || o->sort == BY_REASON) &&
        o->state != STATE_CLOSED) {
        resp_errorf(rs, 400, "sort by %s only valid on closed connections",
                    o->sort == BY_STOP ? "stop" : "reason");
        return -1;
    }
    if (query_int(rq, rs, "offset", &o->offset) < 0 ||
        query_int(rq, rs, "limit", &o->limit) < 0 ||
        query_int(rq, rs, "cid", &o->cid) < 0)
        return -1;
    if (o->offset < 0)
        o->offset = 0;
    if (o->limit <= 0)
        o->limit = GW_HTTP_DEFAULT_LIMIT;
    if (o->cid > 0) {
        o->offset = 0;
        o->limit = 1;
    }
    /* "subs" (subscription lists) is accepted and ignored: the segment
     * holds per-connection counts, not subjects, so there is nothing
     * honest to list. */
    return 0;
}

/* Slots of every gateway, or NULL when the TOC does not fit the segment. */
static struct shm_conn_slot *
all_slots(const struct shm_handle *h, uint64_t *count)
{
    const struct shm_header *hdr = h->hdr;
    uint64_t n = (uint64_t)hdr->gateways * hdr->max_conns_per_gw;

    *count = 0;
    if (hdr->gateways > SHM_MAX_GATEWAYS ||
        shm_at(h, hdr->conns_off, n * sizeof(struct shm_conn_slot)) == NULL)
        return NULL;
    *count = n;
    return shm_conn_slots(h, 0);
}

static bool
slot_open(const struct shm_conn_slot *c)
{
    return atomic_load_explicit(&c->state, memory_order_acquire) ==
           SHM_CONN_OPEN;
}

/* Open slots matching o, as sort keys.  *n = how many. */
static int
connz_collect(struct shm_conn_slot *slots, uint64_t nslots, uint32_t per_gw,
              const struct connz_opts *o, struct conn_key **out, size_t *n)
{
    size_t cap = 0, k = 0;
    struct conn_key *keys;

    *out = NULL;
    *n = 0;
    if (o->state == STATE_CLOSED)
        return 0;   /* closed connections are not kept */
    for (uint64_t i = 0; i < nslots; i++)
        cap += slot_open(&slots[i]);
    cap += 64;      /* a few may open while we scan */
    keys = malloc(cap * sizeof(*keys));
    if (keys == NULL)
        return -ENOMEM;
    for (uint64_t i = 0; i < nslots && k < cap; i++) {
        const struct shm_conn_slot *c = &slots[i];
        if (!slot_open(c) || (o->cid > 0 && c->cid != (uint64_t)o->cid))
            continue;
        keys[k].key = sort_key(c, o->sort);
        keys[k].cid = c->cid;
        keys[k].gw = (uint32_t)(i / per_gw);
        keys[k].idx = (uint32_t)(i % per_gw);
        k++;
    }
    qsort(keys, k, sizeof(*keys), key_cmp);
    *out = keys;
    *n = k;
    return 0;
}

/* Copy a slot; false if it closed or was reused meanwhile. */
static bool
conn_copy(const struct shm_conn_slot *c, uint64_t cid, struct conn_view *v)
{
    uint32_t gen = c->gen;

    if (!slot_open(c) || c->cid != cid)
        return false;
    v->cid = c->cid;
    v->start_ns = c->start_ns;
    v->last_ns = ld64(&c->last_activity_ns);
    v->rtt_ns = c->rtt_ns;
    v->pending = ld64(&c->pending_bytes);
    v->in_msgs = ld64(&c->in_msgs);
    v->out_msgs = ld64(&c->out_msgs);
    v->in_bytes = ld64(&c->in_bytes);
    v->out_bytes = ld64(&c->out_bytes);
    v->subs = atomic_load_explicit(&c->subs, memory_order_relaxed);
    v->port = c->port;
    memcpy(v->ip, c->ip, sizeof(v->ip));
    memcpy(v->name, c->name, sizeof(v->name));
    memcpy(v->lang, c->lang, sizeof(v->lang));
    memcpy(v->version, c->version, sizeof(v->version));
    return slot_open(c) && c->gen == gen && c->cid == cid;
}

static void
connz_entry(struct dt_jw *w, const struct conn_view *v, uint64_t now)
{
    char rtt[64];

    dt_jw_begin_object(w);
    dt_jw_kuint(w, "cid", v->cid);
    dt_jw_kstr(w, "kind", "Client");
    dt_jw_kstr(w, "type", "nats");
    kfixed(w, "ip", v->ip, sizeof(v->ip));
    dt_jw_kuint(w, "port", v->port);
    ktime(w, "start", v->start_ns);
    ktime(w, "last_activity", v->last_ns);
    dt_jw_key(w, "rtt");
    dt_jw_strn(w, rtt, gw_http_fmt_duration(rtt, sizeof(rtt), v->rtt_ns));
    kuptime(w, "uptime", since(now, v->start_ns));
    kuptime(w, "idle", since(now, v->last_ns));
    dt_jw_kuint(w, "pending_bytes", v->pending);
    dt_jw_kuint(w, "in_msgs", v->in_msgs);
    dt_jw_kuint(w, "out_msgs", v->out_msgs);
    dt_jw_kuint(w, "in_bytes", v->in_bytes);
    dt_jw_kuint(w, "out_bytes", v->out_bytes);
    dt_jw_kuint(w, "subscriptions", v->subs);
    /* omitted when empty, as nats-server does */
    if (v->name[0])
        kfixed(w, "name", v->name, sizeof(v->name));
    if (v->lang[0])
        kfixed(w, "lang", v->lang, sizeof(v->lang));
    if (v->version[0])
        kfixed(w, "version", v->version, sizeof(v->version));
    dt_jw_end_object(w);
}

static int
connz_write(const struct shm_handle *h, const struct connz_opts *o,
            struct shm_conn_slot *slots, const struct conn_key *keys,
            size_t nkeys, struct http_resp *rs)
{
    uint32_t per_gw = h->hdr->max_conns_per_gw;
    size_t first = (uint64_t)o->offset < nkeys ? (size_t)o->offset : nkeys;
    size_t last = nkeys - first < (uint64_t)o->limit ? nkeys
                                                     : first + (size_t)o->limit;
    struct conn_view *views = malloc((last - first + 1) * sizeof(*views));
    size_t nv = 0;
    uint64_t now = wall_ns();
    struct dt_jw w;

    if (views == NULL)
        return -ENOMEM;
    for (size_t i = first; i < last; i++) {
        const struct conn_key *k = &keys[i];
        nv += conn_copy(&slots[(uint64_t)k->gw * per_gw + k->idx], k->cid,
                        &views[nv]);
    }
    dt_jw_init(&w, &rs->body, true);
    dt_jw_begin_object(&w);
    kfixed(&w, "server_id", h->hdr->settings.server_id,
           sizeof(h->hdr->settings.server_id));
    ktime(&w, "now", now);
    dt_jw_kuint(&w, "num_connections", nv);
    dt_jw_kuint(&w, "total", nkeys);
    dt_jw_kint(&w, "offset", o->offset);
    dt_jw_kint(&w, "limit", o->limit);
    dt_jw_key(&w, "connections");
    dt_jw_begin_array(&w);
    for (size_t i = 0; i < nv; i++)
        connz_entry(&w, &views[i], now);
    dt_jw_end_array(&w);
    dt_jw_end_object(&w);
    free(views);
    return dt_jw_finish(&w);
}

static int
handle_connz(const struct shm_handle *h, const struct http_req *rq,
             struct http_resp *rs)
{
    struct connz_opts o;
    struct conn_key *keys = NULL;
    struct shm_conn_slot *slots;
    uint64_t nslots;
    size_t nkeys = 0;
    int rc;

    if (connz_opts(rq, rs, &o) < 0)
        return 0;
    slots = all_slots(h, &nslots);
    if (slots == NULL || h->hdr->max_conns_per_gw == 0)
        nslots = 0;
    rc = connz_collect(slots, nslots, h->hdr->max_conns_per_gw, &o, &keys,
                       &nkeys);
    if (rc == 0)
        rc = connz_write(h, &o, slots, keys, nkeys, rs);
    free(keys);
    return rc;
}

/* ------------------------------------------------------------------ */
/* /subsz, /healthz, / */

static int
handle_subsz(const struct shm_handle *h, const struct http_req *rq,
             struct http_resp *rs)
{
    const struct shm_router_stats *rt = router_stats(h);
    uint64_t matches = ld64(&rt->num_matches), hits = ld64(&rt->cache_hits);
    struct dt_jw w;

    dt_jw_init(&w, &rs->body, true);
    dt_jw_begin_object(&w);
    dt_jw_kuint(&w, "num_subscriptions", ld64(&rt->num_subscriptions));
    dt_jw_kuint(&w, "num_cache", ld64(&rt->num_cache));
    dt_jw_kuint(&w, "num_inserts", ld64(&rt->num_inserts));
    dt_jw_kuint(&w, "num_removes", ld64(&rt->num_removes));
    dt_jw_kuint(&w, "num_matches", matches);
    dt_jw_kdouble(&w, "cache_hit_rate",
                  matches ? (double)hits / (double)matches : 0.0);
    /* fanout comes from the router's match cache, which it does not
     * export; deliveries/msgs_routed is a different average. */
    dt_jw_kint(&w, "max_fanout", 0);
    dt_jw_kdouble(&w, "avg_fanout", 0.0);
    dt_jw_end_object(&w);
    return dt_jw_finish(&w);
}

static int
handle_healthz(const struct shm_handle *h, const struct http_req *rq,
               struct http_resp *rs)
{
    struct dt_jw w;

    dt_jw_init(&w, &rs->body, false);
    dt_jw_begin_object(&w);
    if (atomic_load_explicit(&h->hdr->shutting_down, memory_order_relaxed)) {
        rs->status = 503;
        dt_jw_kstr(&w, "status", "unavailable");
        dt_jw_kstr(&w, "error", "server is shutting down");
    } else {
        dt_jw_kstr(&w, "status", "ok");
    }
    dt_jw_end_object(&w);
    return dt_jw_finish(&w);
}

static int
handle_jsz(const struct shm_handle *h, const struct http_req *rq,
           struct http_resp *rs)
{
    const struct shm_settings *s = &h->hdr->settings;
    struct dt_jw w;
    dt_jw_init(&w, &rs->body, true);
    dt_jw_begin_object(&w);
    kfixed(&w, "server_id", s->server_id, sizeof(s->server_id));
    ktime(&w, "now", wall_ns());
    gw_jsz_body(&w, h);
    dt_jw_end_object(&w);
    return dt_jw_finish(&w);
}

static int
handle_root(const struct shm_handle *h, const struct http_req *rq,
            struct http_resp *rs)
{
    static const char *const links[][2] = {
        { "varz", "General" }, { "connz", "Connections" },
        { "subsz", "Subscriptions" }, { "jsz", "JetStream" },
        { "healthz", "Health Probe" },
    };
    int rc;

    rs->ctype = CT_HTML;
    rc = dt_buf_printf(&rs->body,
        "<html lang=\"en\">\n<head><title>Dialtone</title></head>\n<body>\n"
        "<h1>Dialtone</h1>\n<p>v%s (NATS server protocol %s)</p>\n",
        DT_VERSION, DT_NATS_COMPAT_VERSION);
    for (size_t i = 0; rc == 0 && i < sizeof(links) / sizeof(links[0]); i++)
        rc = dt_buf_printf(&rs->body, "<a href=./%s>%s</a><br/>\n",
                           links[i][0], links[i][1]);
    if (rc == 0)
        rc = dt_buf_puts(&rs->body, "<a href=https://docs.nats.io/"
                         "running-a-nats-service/nats_admin/monitoring>"
                         "Help</a>\n</body>\n</html>\n");
    return rc;
}

static const struct route {
    const char *path;
    enum route_stat stat;
    route_fn fn;
} routes[] = {
    { "/", ST_ROOT, handle_root },
    { "/varz", ST_VARZ, handle_varz },
    { "/connz", ST_CONNZ, handle_connz },
    { "/subsz", ST_SUBSZ, handle_subsz },
    { "/subscriptionsz", ST_SUBSZ, handle_subsz },
    { "/healthz", ST_HEALTHZ, handle_healthz },
    { "/jsz", ST_JSZ, handle_jsz },
};

/* ------------------------------------------------------------------ */
/* Request framing. */

static bool
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* "METHOD /target HTTP/1.x" */
static bool
parse_request_line(const char *s, size_t n, struct http_req *rq)
{
    size_t m = 0, t;

    while (m < n && m < 16 && s[m] >= 'A' && s[m] <= 'Z')
        m++;
    if (m == 0 || m >= n || s[m] != ' ' || m + 1 >= n || s[m + 1] != '/')
        return false;
    t = m + 1;
    while (t < n && (unsigned char)s[t] > 0x20 && (unsigned char)s[t] < 0x7f)
        t++;
    if (t >= n || s[t] != ' ' || n - t - 1 != 8 ||
        (memcmp(s + t + 1, "HTTP/1.1", 8) != 0 &&
         memcmp(s + t + 1, "HTTP/1.0", 8) != 0))
        return false;
    const char *target = s + m + 1, *q;
    size_t tlen = t - m - 1;
    q = memchr(target, '?', tlen);
    rq->path = target;
    rq->path_len = q ? (size_t)(q - target) : tlen;
    rq->query = q ? q + 1 : target + tlen;
    rq->query_len = q ? tlen - rq->path_len - 1 : 0;
    rq->head = m == 4 && memcmp(s, "HEAD", 4) == 0;
    return true;
}

/* "Name: value" with a token name and no control characters but HTAB. */
static bool
header_line_ok(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return false;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* 1: complete request, *end = bytes through the blank line; 0: need more;
 * -1: malformed or too long. */
static int
request_frame(const char *req, size_t len, struct http_req *rq, size_t *end)
{
    size_t lim = len < GW_HTTP_MAX_REQUEST ? len : GW_HTTP_MAX_REQUEST;
    size_t pos = 0;
    bool first = true;

    while (pos < lim && (req[pos] == '\r' || req[pos] == '\n'))
        pos++;      /* RFC 9112 2.2: ignore empty lines before a request */
    for (;;) {
        const char *nl = memchr(req + pos, '\n', lim - pos);
        if (nl == NULL)
            return len >= GW_HTTP_MAX_REQUEST ? -1 : 0;
        size_t eol = (size_t)(nl - req), n = eol - pos;
        if (n > 0 && req[eol - 1] == '\r')
            n--;
        if (first) {
            if (!parse_request_line(req + pos, n, rq))
                return -1;
            first = false;
        } else if (n == 0) {
            *end = eol + 1;
            return 1;
        } else if (!header_line_ok(req + pos, n)) {
            return -1;
        }
        pos = eol + 1;
    }
}

/* ------------------------------------------------------------------ */
/* Responses. */

static const char *
status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

static int
write_response(struct dt_buf *out, int status, const char *ctype,
               const char *body, size_t blen, bool head)
{
    size_t saved = out->len;
    time_t now = time(NULL);
    struct tm tm;
    char date[64] = "";
    int rc;

    if (gmtime_r(&now, &tm))
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    rc = dt_buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                       "Date: %s\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n",
                       status, status_text(status), ctype, date, blen);
    if (rc == 0 && !head)
        rc = dt_buf_append(out, body, blen);
    if (rc < 0)
        out->len = saved;
    return rc;
}

static bool
callback_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '$' ||
              *s == '.'))
            return false;
    return true;
}

/* JSONP: ?callback=name wraps a JSON body as name(...). */
static int
apply_callback(const struct http_req *rq, struct http_resp *rs)
{
    char cb[PARAM_MAX];
    int n = query_get(rq, "callback", cb, sizeof(cb));

    if (n == -1 || n == 0 || rs->ctype != CT_JSON)
        return 0;
    if (n < 0 || !callback_ok(cb)) {
        resp_errorf(rs, 400, "invalid callback name");
        return 0;
    }
    struct dt_buf wrapped = { .cap = BODY_CAP };
    int rc = dt_buf_printf(&wrapped, "%s(", cb);
    if (rc == 0)
        rc = dt_buf_append(&wrapped, rs->body.data, rs->body.len);
    if (rc == 0)
        rc = dt_buf_append(&wrapped, ")", 1);
    if (rc < 0) {
        dt_buf_free(&wrapped);
        return rc;
    }
    dt_buf_free(&rs->body);
    rs->body = wrapped;
    rs->ctype = CT_JS;
    return 0;
}

static int
route_request(const struct shm_handle *h, const struct http_req *rq,
              struct http_resp *rs)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (strlen(r->path) != rq->path_len ||
            memcmp(r->path, rq->path, rq->path_len) != 0)
            continue;
        req_counts[r->stat]++;
        int rc = r->fn(h, rq, rs);
        return rc < 0 ? rc : apply_callback(rq, rs);
    }
    resp_errorf(rs, 404, "404 page not found\n");
    return 0;
}

int
gw_http_handle(const struct shm_handle *h, const char *req, size_t len,
               size_t *used, struct dt_buf *out)
{
    struct http_req rq;
    struct http_resp rs = { 200, CT_JSON, { .cap = BODY_CAP } };
    size_t end = 0;
    int rc, fr;

    *used = 0;
    memset(&rq, 0, sizeof(rq));
    fr = request_frame(req, len, &rq, &end);
    if (fr == 0)
        return 0;
    if (fr < 0) {
        static const char bad[] = "400 Bad Request";
        *used = len;
        rc = write_response(out, 400, CT_TEXT, bad, sizeof(bad) - 1, false);
        return rc < 0 ? rc : 1;
    }
    *used = end;
    rc = route_request(h, &rq, &rs);
    if (rc < 0)     /* out of memory or a body past BODY_CAP */
        resp_errorf(&rs, 500, "cannot build the response: %s",
                    strerror(-rc));
    rc = write_response(out, rs.status, rs.ctype, rs.body.data, rs.body.len,
                        rq.head);
    dt_buf_free(&rs.body);
    return rc < 0 ? rc : 1;
}
