/*
 * test_gw_http.c -- unit tests for the gateway's monitoring endpoints
 * (gw_http).
 *
 * Builds a real segment with shm_segment_create(), fills settings,
 * counters, router statistics and a few connection slots by hand, then
 * drives gw_http_handle() with raw request bytes and checks the HTTP
 * framing and, through the dt_json reader, every JSON field: /varz,
 * /connz (sorting, paging, filters, bad parameters), /subsz and its
 * alias, /healthz, /, 404, HEAD, JSONP, requests arriving in pieces,
 * malformed and oversized requests, a full output buffer, and the Go
 * duration/uptime/time formats.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dt_config.h"
#include "dt_json.h"
#include "gw_http.h"
#include "shm.h"
#include "dt_check.h"

#define NS 1000000000ull

static struct shm_handle H;
static uint64_t T0;            /* wall clock when the fixture was built */

static uint64_t
now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void
set_conn(unsigned gw, unsigned idx, uint64_t cid, uint32_t state,
         uint64_t start_ago_s, uint64_t idle_s, uint64_t in_msgs,
         uint64_t out_msgs, uint32_t subs, const char *name)
{
    struct shm_conn_slot *c = &shm_conn_slots(&H, gw)[idx];

    atomic_store(&c->state, state);
    c->gen = 3;
    c->cid = cid;
    c->start_ns = T0 - start_ago_s * NS;
    atomic_store(&c->last_activity_ns, T0 - idle_s * NS);
    atomic_store(&c->in_msgs, in_msgs);
    atomic_store(&c->out_msgs, out_msgs);
    atomic_store(&c->in_bytes, in_msgs * 10);
    atomic_store(&c->out_bytes, out_msgs * 100);
    atomic_store(&c->pending_bytes, cid * 3 % 7);
    atomic_store(&c->subs, subs);
    c->port = (uint16_t)(50000 + cid);
    snprintf(c->ip, sizeof(c->ip), "10.0.0.%u", (unsigned)cid);
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->lang, sizeof(c->lang), "%s", name[0] ? "go" : "");
    snprintf(c->version, sizeof(c->version), "%s", name[0] ? "1.30.0" : "");
    c->rtt_ns = cid * 500000;   /* cid 3 -> 1.5ms */
}

/* Two gateways, four slots each:
 *   gw0[0] cid 5  open     gw1[1] cid 9 open
 *   gw0[2] cid 2  open     gw1[3] cid 7 closing (never shown)
 * Distinct values per sort key; see test_connz_sorts for the orders. */
static int
fixture(void)
{
    struct shm_layout_params p = {
        .gateways = 2, .ring_size = 4, .arena_size = 4096,
        .max_conns_per_gw = 4,
    };
    struct shm_settings *s;
    struct shm_router_stats *rt;
    int fd = -1;
    int rc = shm_segment_create(&p, &fd, &H);

    if (rc < 0)
        return rc;
    T0 = now_wall();
    s = &H.hdr->settings;
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    snprintf(s->server_id, sizeof(s->server_id), "NTESTSERVERID");
    s->port = 4222;
    s->http_port = 8222;
    s->max_payload = 1048576;
    s->max_pending = 67108864;
    s->max_control_line = 4096;
    s->max_connections = 65536;
    s->ping_max = 2;
    s->ping_interval_ms = 120000;
    s->write_deadline_ms = 10000;
    s->auth_timeout_ms = 500;
    s->start_ns = T0 - 3723 * NS - NS / 5;     /* up 1h2m3.2s */
    atomic_store(&H.hdr->num_conns, 3);
    atomic_store(&H.hdr->total_conns, 10);
    atomic_store(&H.hdr->slow_consumers, 1);
    atomic_store(&H.hdr->in_msgs, 100);
    atomic_store(&H.hdr->out_msgs, 200);
    atomic_store(&H.hdr->in_bytes, 1000);
    atomic_store(&H.hdr->out_bytes, 2000);
    H.hdr->master_pid = (uint32_t)getpid();
    shm_doorbell_of(&H, 0)->pid = (uint32_t)getpid();   /* deduplicated */
    rt = shm_router_stats(&H);
    atomic_store(&rt->num_subscriptions, 7);
    atomic_store(&rt->num_cache, 3);
    atomic_store(&rt->num_inserts, 9);
    atomic_store(&rt->num_removes, 2);
    atomic_store(&rt->num_matches, 8);
    atomic_store(&rt->cache_hits, 6);
    /*        gw idx cid state           age idle  in  out subs name */
    set_conn(0, 0, 5, SHM_CONN_OPEN,    100,  50, 30,  1,  4, "alpha");
    set_conn(0, 2, 2, SHM_CONN_OPEN,    300,  10, 10, 20,  1, "");
    set_conn(1, 1, 9, SHM_CONN_OPEN,     20,   5, 20,  5,  9, "gamma");
    set_conn(1, 3, 7, SHM_CONN_CLOSING, 400,   1, 99, 99, 99, "dead");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Response helpers. */

struct resp {
    int status;
    char ctype[64];
    size_t clen;
    const char *body;
    size_t body_len;
    int conn_close;
};

/* Split one HTTP response out of buf; 0 if well formed. */
static int
split_response(const struct dt_buf *b, struct resp *r)
{
    const char *p = b->data, *end = b->data + b->len;
    const char *hend;

    memset(r, 0, sizeof(*r));
    if (b->len < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0)
        return -1;
    r->status = atoi(p + 9);
    hend = memmem(p, b->len, "\r\n\r\n", 4);
    if (hend == NULL)
        return -1;
    for (const char *l = memchr(p, '\n', (size_t)(hend - p)); l && l < hend;
         l = memchr(l + 1, '\n', (size_t)(hend - l - 1))) {
        const char *h = l + 1;
        if (strncmp(h, "Content-Type: ", 14) == 0)
            sscanf(h + 14, "%63[^\r]", r->ctype);
        else if (strncmp(h, "Content-Length: ", 16) == 0)
            r->clen = strtoul(h + 16, NULL, 10);
        else if (strncmp(h, "Connection: close\r", 18) == 0)
            r->conn_close = 1;
    }
    r->body = hend + 4;
    r->body_len = (size_t)(end - r->body);
    return 0;
}

/* Send raw bytes; expects one complete response. */
static int
request_raw(const char *req, size_t len, struct dt_buf *out, struct resp *r)
{
    size_t used = 12345;
    int rc;

    out->len = 0;
    rc = gw_http_handle(&H, req, len, &used, out);
    CHECK(rc == 1);
    if (rc != 1 || split_response(out, r) != 0)
        return -1;
    CHECK(r->conn_close);
    return 0;
}

static int
get(const char *target, struct dt_buf *out, struct resp *r)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost"
                     "\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n\r\n", target);
    size_t used = 0;
    int rc;

    out->len = 0;
    rc = gw_http_handle(&H, req, (size_t)n, &used, out);
    CHECK(rc == 1);
    CHECK(used == (size_t)n);
    if (rc != 1 || split_response(out, r) != 0)
        return -1;
    CHECK(r->conn_close);
    CHECK(r->clen == r->body_len);
    return 0;
}

/* GET target, expect 200 JSON, parse the body. */
static const struct dt_json *
get_json(const char *target, struct dt_buf *out, struct dt_json_doc **doc)
{
    struct resp r;
    struct dt_json_error err = { 0, NULL };

    *doc = NULL;
    if (get(target, out, &r) < 0)
        return NULL;
    CHECK(r.status == 200);
    CHECK(strcmp(r.ctype, "application/json") == 0);
    if (dt_json_parse(r.body, r.body_len, 0, doc, &err) != 0) {
        fprintf(stderr, "%s: bad JSON at %zu: %s\n%.*s\n", target, err.pos,
                err.reason, (int)r.body_len, r.body);
        CHECK(0);
        return NULL;
    }
    return dt_json_root(*doc);
}

static uint64_t
u64(const struct dt_json *o, const char *key)
{
    uint64_t v = UINT64_MAX;

    CHECK(dt_json_uint64(dt_json_get(o, key), &v) == 0);
    return v;
}

/* A counter that may be absent (0 then). */
static uint64_t
u64_or0(const struct dt_json *o, const char *key)
{
    uint64_t v = 0;

    return dt_json_uint64(dt_json_get(o, key), &v) == 0 ? v : 0;
}

static int
str_eq(const struct dt_json *o, const char *key, const char *want)
{
    const char *s;
    size_t n;

    if (dt_json_str(dt_json_get(o, key), &s, &n) != 0) {
        fprintf(stderr, "no string '%s'\n", key);
        return 0;
    }
    if (n != strlen(want) || memcmp(s, want, n) != 0) {
        fprintf(stderr, "'%s' is '%s', want '%s'\n", key, s, want);
        return 0;
    }
    return 1;
}

/* RFC 3339 UTC: YYYY-MM-DDTHH:MM:SS[.frac]Z */
static int
is_rfc3339(const struct dt_json *v)
{
    const char *s;
    size_t n;

    if (dt_json_str(v, &s, &n) != 0 || n < 20)
        return 0;
    return s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
           s[16] == ':' && s[n - 1] == 'Z' && (n == 20 || s[19] == '.');
}

/* ------------------------------------------------------------------ */
/* /varz */

static void
test_varz_fields(void)
{
    struct dt_buf out = { 0 };
    struct dt_json_doc *doc;
    const struct dt_json *v = get_json("/varz", &out, &doc);
    double d = -1;
    char t[64];
    int64_t cores = 0;

    CHECK(v != NULL);
    CHECK(strcmp(dt_json_key(dt_json_first(v), NULL), "server_id") == 0);
    CHECK(str_eq(v, "server_id", "NTESTSERVERID"));
    CHECK(str_eq(v, "server_name", "NTESTSERVERID"));  /* unnamed */
    CHECK(str_eq(v, "version", DT_NATS_COMPAT_VERSION));
    CHECK(str_eq(v, "version", "2.9.10"));
    CHECK(str_eq(v, "dialtone_version", DT_VERSION));
    CHECK(u64(v, "proto") == 1);
    CHECK(str_eq(v, "go", "dialtone"));
    CHECK(str_eq(v, "host", "127.0.0.1"));
    CHECK(u64(v, "port") == 4222);
    CHECK(dt_json_get(v, "auth_required") == NULL);
    CHECK(dt_json_get(v, "max_subscriptions") == NULL);
    CHECK(u64(v, "max_connections") == 65536);
    CHECK(u64(v, "ping_interval") == 120000000000ull);
    CHECK(u64(v, "ping_max") == 2);
    CHECK(str_eq(v, "http_host", "127.0.0.1"));
    CHECK(u64(v, "http_port") == 8222);
    CHECK(str_eq(v, "http_base_path", ""));
    CHECK(u64(v, "https_port") == 0);
    CHECK(dt_json_double(dt_json_get(v, "auth_timeout"), &d) == 0 && d == 0.5);
    CHECK(u64(v, "max_control_line") == 4096);
    CHECK(u64(v, "max_payload") == 1048576);
    CHECK(u64(v, "max_pending") == 67108864);
    CHECK(dt_json_is(dt_json_get(v, "cluster"), DT_JSON_OBJECT));
    CHECK(dt_json_count(dt_json_get(v, "jetstream")) == 0);
    CHECK(u64(v, "write_deadline") == 10000000000ull);
    CHECK(is_rfc3339(dt_json_get(v, "start")));
    gw_http_fmt_time(t, sizeof(t), H.hdr->settings.start_ns);
    CHECK(str_eq(v, "start", t));
    CHECK(str_eq(v, "config_load_time", t));
    CHECK(is_rfc3339(dt_json_get(v, "now")));
    CHECK(str_eq(v, "uptime", "1h2m3s"));
    CHECK(u64(v, "mem") > 0);
    CHECK(dt_json_int64(dt_json_get(v, "cores"), &cores) == 0 && cores >= 1);
    CHECK(dt_json_double(dt_json_get(v, "cpu"), &d) == 0 && d >= 0);
    CHECK(u64(v, "connections") == 3);
    CHECK(u64(v, "total_connections") == 10);
    CHECK(u64(v, "routes") == 0);
    CHECK(u64(v, "remotes") == 0);
    CHECK(u64(v, "leafnodes") == 0);
    CHECK(u64(v, "in_msgs") == 100);
    CHECK(u64(v, "out_msgs") == 200);
    CHECK(u64(v, "in_bytes") == 1000);
    CHECK(u64(v, "out_bytes") == 2000);
    CHECK(u64(v, "slow_consumers") == 1);
    CHECK(u64(v, "subscriptions") == 7);
    CHECK(u64(dt_json_get(v, "http_req_stats"), "/varz") >= 1);
    /* nothing Go-specific or unsupported is claimed */
    CHECK(dt_json_get(v, "gomaxprocs") == NULL);
    CHECK(dt_json_get(v, "tls_timeout") == NULL);
    CHECK(dt_json_get(v, "system_account") == NULL);
    dt_json_free(doc);
    dt_buf_free(&out);
}

static void
test_varz_auth_and_name(void)
{
    struct shm_settings *s = &H.hdr->settings;
    struct dt_buf out = { 0 };
    struct dt_json_doc *doc;
    const struct dt_json *v;
    bool b = false;

    snprintf(s->server_name, sizeof(s->server_name), "edge-1");
    snprintf(s->auth_user, sizeof(s->auth_user), "admin");
    s->max_subscriptions = 100;
    v = get_json("/varz", &out, &doc);
    CHECK(str_eq(v, "server_name", "edge-1"));
    CHECK(dt_json_bool(dt_json_get(v, "auth_required"), &b) == 0 && b);
    CHECK(u64(v, "max_subscriptions") == 100);
    CHECK(memmem(out.data, out.len, "admin", 5) == NULL); /* no secrets */
    dt_json_free(doc);
    s->server_name[0] = '\0';
    s->auth_user[0] = '\0';
    s->max_subscriptions = 0;
    dt_buf_free(&out);
}

static void
test_http_req_stats_count(void)
{
    struct dt_buf out = { 0 };
    struct dt_json_doc *doc;
    struct resp r;
    uint64_t before, after;

    before = u64_or0(dt_json_get(get_json("/varz", &out, &doc),
                                 "http_req_stats"), "/healthz");
    dt_json_free(doc);
    get("/healthz", &out, &r);
    get("/healthz", &out, &r);
    get("/subscriptionsz", &out, &r);
    const struct dt_json *st = dt_json_get(get_json("/varz", &out, &doc),
                                           "http_req_stats");
    after = u64(st, "/healthz");
    CHECK(after == before + 2);
    CHECK(u64(st, "/subsz") >= 1);      /* the alias counts as /subsz */
    dt_json_free(doc);
    dt_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* /connz */

/* cids of the connections array, in order, into cids[]; returns count. */
static size_t
connz_cids(const char *target, uint64_t *cids, size_t max,
           struct dt_json_doc **doc, const struct dt_json **root)
{
    struct dt_buf out = { 0 };
    const struct dt_json *c;
    size_t n = 0;

    *root = get_json(target, &out, doc);    /* the tree copies what it needs */
    dt_buf_free(&out);
    for (c = dt_json_first(dt_json_get(*root, "connections")); c && n < max;
         c = dt_json_next(c))
        cids[n++] = u64(c, "cid");
    return n;
}

static int
cids_are(const char *target, const uint64_t *want, size_t nwant)
{
    uint64_t got[8];
    struct dt_json_doc *doc;
    const struct dt_json *root;
    size_t n = connz_cids(target, got, 8, &doc, &root);
    int ok = n == nwant && (n == 0 || memcmp(got, want, n * sizeof(*got)) == 0);

    if (!ok) {
        fprintf(stderr, "%s: got", target);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %llu", (unsigned long long)got[i]);
        fprintf(stderr, "\n");
    }
    dt_json_free(doc);
    return ok;
}

static void
test_connz_default(void)
{
    struct dt_buf out = { 0 };
    struct dt_json_doc *doc;
    const struct dt_json *v = get_json("/connz", &out, &doc), *c;
    char t[64];

    CHECK(str_eq(v, "server_id", "NTESTSERVERID"));
    CHECK(is_rfc3339(dt_json_get(v, "now")));
    CHECK(u64(v, "num_connections") == 3);
    CHECK(u64(v, "total") == 3);
    CHECK(u64(v, "offset") == 0);
    CHECK(u64(v, "limit") == 1024);
    CHECK(dt_json_count(dt_json_get(v, "connections")) == 3);
    c = dt_json_first(dt_json_get(v, "connections"));   /* cid 2 */
    CHECK(u64(c, "cid") == 2);
    CHECK(str_eq(c, "kind", "Client"));
    CHECK(str_eq(c, "type", "nats"));
    CHECK(str_eq(c, "ip", "10.0.0.2"));
    CHECK(u64(c, "port") == 50002);
    gw_http_fmt_time(t, sizeof(t), T0 - 300 * NS);
    CHECK(str_eq(c, "start", t));
    gw_http_fmt_time(t, sizeof(t), T0 - 10 * NS);
    CHECK(str_eq(c, "last_activity", t));
    CHECK(str_eq(c, "rtt", "1ms"));
    CHECK(str_eq(c, "uptime", "5m0s"));
    CHECK(str_eq(c, "idle", "10s"));
    CHECK(u64(c, "pending_bytes") == 6);
    CHECK(u64(c, "in_msgs") == 10);
    CHECK(u64(c, "out_msgs") == 20);
    CHECK(u64(c, "in_bytes") == 100);
    CHECK(u64(c, "out_bytes") == 2000);
    CHECK(u64(c, "subscriptions") == 1);
    /* empty name/lang/version are omitted, as nats-server does */
    CHECK(dt_json_get(c, "name") == NULL);
    CHECK(dt_json_get(c, "lang") == NULL);
    CHECK(dt_json_get(c, "version") == NULL);
    c = dt_json_next(c);                                 /* cid 5 */
    CHECK(u64(c, "cid") == 5);
    CHECK(str_eq(c, "name", "alpha"));
    CHECK(str_eq(c, "lang", "go"));
    CHECK(str_eq(c, "version", "1.30.0"));
    CHECK(str_eq(c, "rtt", "2.5ms"));
    CHECK(str_eq(c, "uptime", "1m40s"));
    CHECK(u64(dt_json_next(c), "cid") == 9);
    CHECK(dt_json_next(dt_json_next(c)) == NULL);        /* 7 is closing */
    dt_json_free(doc);
    dt_buf_free(&out);
}

static void
test_connz_sorts(void)
{
    /* cid: 2 5 9; start (oldest first): 2(300s) 5(100s) 9(20s);
     * subs desc: 9(9) 5(4) 2(1); msgs_to (out) desc: 2(20) 9(5) 5(1);
     * msgs_from (in) desc: 5(30) 9(20) 2(10); pending desc: 2(6) 5(1) 9(6)
     * -> ties by cid: 2 9 5; last desc: 9(5s) 2(10s) 5(50s);
     * idle desc: 5 2 9; rtt desc: 9 5 2. */
    static const struct { const char *q; uint64_t want[3]; } cases[] = {
        { "/connz?sort=cid", { 2, 5, 9 } },
        { "/connz?sort=start", { 2, 5, 9 } },
        { "/connz?sort=uptime", { 2, 5, 9 } },
        { "/connz?sort=subs", { 9, 5, 2 } },
        { "/connz?sort=msgs_to", { 2, 9, 5 } },
        { "/connz?sort=bytes_to", { 2, 9, 5 } },
        { "/connz?sort=msgs_from", { 5, 9, 2 } },
        { "/connz?sort=bytes_from", { 5, 9, 2 } },
        { "/connz?sort=pending", { 2, 9, 5 } },
        { "/connz?sort=last", { 9, 2, 5 } },
        { "/connz?sort=idle", { 5, 2, 9 } },
        { "/connz?sort=rtt", { 9, 5, 2 } },
        { "/connz?sort=msgs%5Fto", { 2, 9, 5 } },     /* URL-encoded */
        { "/connz?sort=", { 2, 5, 9 } },              /* empty = default */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(cids_are(cases[i].q, cases[i].want, 3));
}

static void
test_connz_paging_and_filters(void)
{
    struct dt_json_doc *doc;
    const struct dt_json *v;
    uint64_t cids[8];
    static const uint64_t c5[] = { 5 }, c9[] = { 9 }, all[] = { 2, 5, 9 };

    CHECK(connz_cids("/connz?offset=1&limit=1", cids, 8, &doc, &v) == 1);
    CHECK(cids[0] == 5);
    CHECK(u64(v, "num_connections") == 1);
    CHECK(u64(v, "total") == 3);
    CHECK(u64(v, "offset") == 1);
    CHECK(u64(v, "limit") == 1);
    dt_json_free(doc);

    CHECK(connz_cids("/connz?offset=10", cids, 8, &doc, &v) == 0);
    CHECK(u64(v, "num_connections") == 0);
    CHECK(u64(v, "total") == 3);
    CHECK(u64(v, "offset") == 10);
    CHECK(dt_json_is(dt_json_get(v, "connections"), DT_JSON_ARRAY));
    dt_json_free(doc);

    CHECK(connz_cids("/connz?limit=0&offset=-4", cids, 8, &doc, &v) == 3);
    CHECK(u64(v, "limit") == 1024);
    CHECK(u64(v, "offset") == 0);
    dt_json_free(doc);

    CHECK(connz_cids("/connz?limit=-1", cids, 8, &doc, &v) == 3);
    CHECK(u64(v, "limit") == 1024);
    dt_json_free(doc);

    CHECK(cids_are("/connz?sort=subs&offset=1&limit=1", c5, 1));
    CHECK(cids_are("/connz?cid=9", c9, 1));
    CHECK(connz_cids("/connz?cid=9", cids, 8, &doc, &v) == 1);
    CHECK(u64(v, "limit") == 1);
    dt_json_free(doc);
    CHECK(cids_are("/connz?cid=7", NULL, 0));       /* closing: not shown */
    CHECK(cids_are("/connz?state=open", all, 3));
    CHECK(cids_are("/connz?state=all", all, 3));
    CHECK(cids_are("/connz?state=closed", NULL, 0));
    CHECK(cids_are("/connz?state=closed&sort=stop", NULL, 0));
    CHECK(cids_are("/connz?subs=1", all, 3));       /* accepted, no lists */
    CHECK(cids_are("/connz?foo=bar&&limit=2", all, 2));
}

static void
test_connz_bad_params(void)
{
    static const struct { const char *q; const char *msg; } cases[] = {
        { "/connz?sort=foo", "invalid sorting option: foo" },
        { "/connz?limit=abc", "Error decoding int for 'limit': strconv.Atoi: "
                              "parsing \"abc\": invalid syntax" },
        { "/connz?offset=1x", "Error decoding int for 'offset': strconv.Atoi:"
                              " parsing \"1x\": invalid syntax" },
        { "/connz?limit=99999999999999999999", "Error decoding int for "
          "'limit': strconv.Atoi: parsing \"99999999999999999999\": value "
          "out of range" },
        { "/connz?state=bogus", "Error decoding state for bogus" },
        { "/connz?sort=stop", "sort by stop only valid on closed connections" },
        { "/connz?sort=reason&state=all",
          "sort by reason only valid on closed connections" },
    };
    struct dt_buf out = { 0 };
    struct resp r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (get(cases[i].q, &out, &r) < 0)
            continue;
        CHECK(r.status == 400);
        CHECK(strcmp(r.ctype, "text/plain; charset=utf-8") == 0);
        CHECK(r.body_len == strlen(cases[i].msg) &&
              memcmp(r.body, cases[i].msg, r.body_len) == 0);
        if (r.body_len != strlen(cases[i].msg))
            fprintf(stderr, "%s -> '%.*s'\n", cases[i].q, (int)r.body_len,
                    r.body);
    }
    dt_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* /subsz, /healthz, /, 404 */

static void
test_subsz(void)
{
    static const char *const paths[] = { "/subsz", "/subscriptionsz" };
    struct dt_buf out = { 0 };

    for (size_t i = 0; i < 2; i++) {
        struct dt_json_doc *doc;
        const struct dt_json *v = get_json(paths[i], &out, &doc);
        double d = -1;
        CHECK(u64(v, "num_subscriptions") == 7);
        CHECK(u64(v, "num_cache") == 3);
        CHECK(u64(v, "num_inserts") == 9);
        CHECK(u64(v, "num_removes") == 2);
        CHECK(u64(v, "num_matches") == 8);
        CHECK(dt_json_double(dt_json_get(v, "cache_hit_rate"), &d) == 0 &&
              d == 0.75);
        CHECK(u64(v, "max_fanout") == 0);
        CHECK(dt_json_double(dt_json_get(v, "avg_fanout"), &d) == 0 && d == 0);
        dt_json_free(doc);
    }
    /* no matches yet: rate 0, not NaN */
    atomic_store(&shm_router_stats(&H)->num_matches, 0);
    struct dt_json_doc *doc;
    const struct dt_json *v = get_json("/subsz", &out, &doc);
    double d = -1;
    CHECK(dt_json_double(dt_json_get(v, "cache_hit_rate"), &d) == 0 && d == 0);
    dt_json_free(doc);
    atomic_store(&shm_router_stats(&H)->num_matches, 8);
    dt_buf_free(&out);
}

static void
test_healthz(void)
{
    struct dt_buf out = { 0 };
    struct resp r;

    CHECK(get("/healthz", &out, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strcmp(r.ctype, "application/json") == 0);
    CHECK(r.body_len == 15 && memcmp(r.body, "{\"status\":\"ok\"}", 15) == 0);
    atomic_store(&H.hdr->shutting_down, 1);
    CHECK(get("/healthz", &out, &r) == 0);
    CHECK(r.status == 503);
    CHECK(memmem(r.body, r.body_len, "\"unavailable\"", 13) != NULL);
    atomic_store(&H.hdr->shutting_down, 0);
    dt_buf_free(&out);
}

static void
test_root_index(void)
{
    struct dt_buf out = { 0 };
    struct resp r;
    static const char *const links[] = {
        "href=./varz", "href=./connz", "href=./subsz", "href=./healthz",
    };

    CHECK(get("/", &out, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strcmp(r.ctype, "text/html; charset=utf-8") == 0);
    for (size_t i = 0; i < 4; i++)
        CHECK(memmem(r.body, r.body_len, links[i], strlen(links[i])) != NULL);
    dt_buf_free(&out);
}

static void
test_not_found(void)
{
    static const char *const paths[] = {
        "/nothere", "/varz/", "/VARZ", "/varzz", "/routez", "//varz",
    };
    struct dt_buf out = { 0 };
    struct resp r;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        CHECK(get(paths[i], &out, &r) == 0);
        CHECK(r.status == 404);
        CHECK(r.body_len == 19 &&
              memcmp(r.body, "404 page not found\n", 19) == 0);
    }
    dt_buf_free(&out);
}

static void
test_head_and_jsonp(void)
{
    const char head[] = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    struct dt_buf out = { 0 };
    struct resp r;

    CHECK(request_raw(head, sizeof(head) - 1, &out, &r) == 0);
    CHECK(r.status == 200 && r.clen == 15 && r.body_len == 0);

    CHECK(get("/healthz?callback=cb", &out, &r) == 0);
    CHECK(strcmp(r.ctype, "application/javascript") == 0);
    CHECK(r.body_len == 19 &&
          memcmp(r.body, "cb({\"status\":\"ok\"})", 19) == 0);
    CHECK(get("/varz?callback=my.cb_1", &out, &r) == 0);
    CHECK(r.status == 200 && r.body_len > 10 &&
          memcmp(r.body, "my.cb_1({", 9) == 0 &&
          r.body[r.body_len - 1] == ')');
    CHECK(get("/healthz?callback=alert(1)%3B", &out, &r) == 0);
    CHECK(r.status == 400);
    CHECK(get("/connz?sort=foo&callback=cb", &out, &r) == 0);
    CHECK(r.status == 400);                 /* errors are not wrapped */
    dt_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Framing. */

static void
test_split_arrival(void)
{
    const char req[] = "GET /subsz HTTP/1.1\r\nHost: localhost:8222\r\n"
                       "Accept: */*\r\n\r\nGET /varz HTTP/1.1\r\n";
    size_t first_len = strlen("GET /subsz HTTP/1.1\r\nHost: localhost:8222"
                              "\r\nAccept: */*\r\n\r\n");
    struct dt_buf out = { 0 };
    size_t used = 99;
    struct resp r;

    for (size_t n = 0; n < first_len; n++) {
        int rc = gw_http_handle(&H, req, n, &used, &out);
        if (rc != 0)
            fprintf(stderr, "prefix %zu: rc %d\n", n, rc);
        CHECK(rc == 0);
        CHECK(out.len == 0);
        CHECK(used == 0);
    }
    /* complete, with the start of a pipelined request behind it */
    CHECK(gw_http_handle(&H, req, sizeof(req) - 1, &used, &out) == 1);
    CHECK(used == first_len);
    CHECK(split_response(&out, &r) == 0 && r.status == 200);
    CHECK(memmem(r.body, r.body_len, "num_subscriptions", 17) != NULL);

    /* bare LF line ends are accepted, as by Go */
    const char lf[] = "GET /healthz HTTP/1.0\nHost: x\n\n";
    CHECK(request_raw(lf, sizeof(lf) - 1, &out, &r) == 0 && r.status == 200);
    /* leading empty lines are skipped */
    const char lead[] = "\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n";
    CHECK(request_raw(lead, sizeof(lead) - 1, &out, &r) == 0 &&
          r.status == 200);
    dt_buf_free(&out);
}

static void
test_bad_requests(void)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET varz HTTP/1.1\r\n\r\n",
        "GET /varz HTTP/2.0\r\n\r\n",
        "GET /varz\r\n\r\n",
        "GET  /varz HTTP/1.1\r\n\r\n",
        "get /varz HTTP/1.1\r\n\r\n",
        "GET /va rz HTTP/1.1\r\n\r\n",
        "GET /varz HTTP/1.1 \r\n\r\n",
        "GET /varz HTTP/1.1\r\nNoColonHere\r\n\r\n",
        "GET /varz HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET /varz HTTP/1.1\r\nX: a\001b\r\n\r\n",
        "GET /varz HTTP/1.1\r\n folded: x\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "\x16\x03\x01\x02\x10\x01\x05\x01\xfc\x03\x03\n", /* TLS hello */
        "BLAH BLAH\r\n",                /* refused before the blank line */
    };
    struct dt_buf out = { 0 };
    struct resp r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]), used = 0;
        out.len = 0;
        CHECK(gw_http_handle(&H, bad[i], len, &used, &out) == 1);
        CHECK(used == len);
        CHECK(split_response(&out, &r) == 0);
        if (r.status != 400)
            fprintf(stderr, "bad[%zu] got %d\n", i, r.status);
        CHECK(r.status == 400);
        CHECK(r.clen == r.body_len && r.body_len > 0);
    }
    /* a NUL inside the request line */
    const char nul[] = "GET /va\0rz HTTP/1.1\r\n\r\n";
    size_t used = 0;
    out.len = 0;
    CHECK(gw_http_handle(&H, nul, sizeof(nul) - 1, &used, &out) == 1);
    CHECK(split_response(&out, &r) == 0 && r.status == 400);
    dt_buf_free(&out);
}

static void
test_oversized_request(void)
{
    size_t big = GW_HTTP_MAX_REQUEST + 100, used = 0;
    char *req = malloc(big);
    struct dt_buf out = { 0 };
    struct resp r;
    int n = snprintf(req, big, "GET /varz HTTP/1.1\r\nX-Pad: ");

    memset(req + n, 'a', big - (size_t)n);
    /* one byte short of the limit, no end yet: wait */
    CHECK(gw_http_handle(&H, req, GW_HTTP_MAX_REQUEST - 1, &used, &out) == 0);
    CHECK(out.len == 0);
    /* at the limit without a blank line: 400 */
    CHECK(gw_http_handle(&H, req, GW_HTTP_MAX_REQUEST, &used, &out) == 1);
    CHECK(used == GW_HTTP_MAX_REQUEST);
    CHECK(split_response(&out, &r) == 0 && r.status == 400);
    /* far past it */
    out.len = 0;
    CHECK(gw_http_handle(&H, req, big, &used, &out) == 1);
    CHECK(split_response(&out, &r) == 0 && r.status == 400);
    /* a complete request whose end lies beyond the limit is refused too */
    memcpy(req + big - 4, "\r\n\r\n", 4);
    out.len = 0;
    CHECK(gw_http_handle(&H, req, big, &used, &out) == 1);
    CHECK(split_response(&out, &r) == 0 && r.status == 400);
    free(req);
    dt_buf_free(&out);
}

static void
test_out_buffer_full(void)
{
    const char req[] = "GET /varz HTTP/1.1\r\n\r\n";
    struct dt_buf out = { .cap = 64 };
    size_t used = 0;

    dt_buf_append(&out, "prior", 5);
    CHECK(gw_http_handle(&H, req, sizeof(req) - 1, &used, &out) == -ENOBUFS);
    CHECK(out.len == 5 && memcmp(out.data, "prior", 5) == 0);
    dt_buf_free(&out);
}

static void
test_formatters(void)
{
    static const struct { uint64_t ns; const char *s; } dur[] = {
        { 0, "0s" }, { 999, "999ns" }, { 1000, "1\xc2\xb5s" },
        { 406000, "406\xc2\xb5s" }, { 406123, "406.123\xc2\xb5s" },
        { 1500000, "1.5ms" }, { 999999999, "999.999999ms" },
        { NS, "1s" }, { 61 * NS + NS / 2, "1m1.5s" },
        { 3600 * NS, "1h0m0s" }, { 90061 * NS, "25h1m1s" },
    }, up[] = {
        { 0, "0s" }, { 5 * NS + 999, "5s" }, { 182 * NS, "3m2s" },
        { 3600 * NS, "1h0m0s" }, { (2 * 86400 + 3 * 3600 + 4 * 60 + 5) * NS,
                                   "2d3h4m5s" },
        { 366 * 86400 * NS, "1y1d0h0m0s" },
    }, tm[] = {
        { 0, "1970-01-01T00:00:00Z" },
        { NS + NS / 2, "1970-01-01T00:00:01.5Z" },
        { 1795686594348074000ull, "2026-11-26T09:49:54.348074Z" },
        { 1795686594000000001ull, "2026-11-26T09:49:54.000000001Z" },
    };
    char buf[64];

    for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
        CHECK(gw_http_fmt_duration(buf, sizeof(buf), dur[i].ns) ==
              strlen(dur[i].s));
        CHECK(strcmp(buf, dur[i].s) == 0);
    }
    for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
        gw_http_fmt_uptime(buf, sizeof(buf), up[i].ns);
        CHECK(strcmp(buf, up[i].s) == 0);
    }
    for (size_t i = 0; i < sizeof(tm) / sizeof(tm[0]); i++) {
        gw_http_fmt_time(buf, sizeof(buf), tm[i].ns);
        CHECK_STR(buf, tm[i].s);
    }
    /* a short buffer truncates safely */
    CHECK(gw_http_fmt_duration(buf, 3, 90061 * NS) == 2 &&
          strcmp(buf, "25") == 0);
}

int
main(int argc, char **argv)
{
    int rc = fixture();

    if (rc < 0) {
        fprintf(stderr, "cannot create a segment (%s): skipping\n",
                strerror(-rc));
        return 77;
    }
    test_varz_fields();
    test_varz_auth_and_name();
    test_http_req_stats_count();
    test_connz_default();
    test_connz_sorts();
    test_connz_paging_and_filters();
    test_connz_bad_params();
    test_subsz();
    test_healthz();
    test_root_index();
    test_not_found();
    test_head_and_jsonp();
    test_split_arrival();
    test_bad_requests();
    test_oversized_request();
    test_out_buffer_full();
    test_formatters();
    shm_segment_detach(&H);
    return dt_check_summary(argv[0]);
}
