/*
 * dt_bench_report.c -- the markdown report over dt-bench's JSON lines
 * (dt-bench --report FILE.jsonl): reads the lines, groups the runs by
 * (server, scenario, size), takes medians, and prints one table row per
 * group with ratios against a baseline server, then notes for groups
 * with failed runs or with loss, duplicates or reordering.  A line with
 * "na" (a scenario the server does not support, e.g. JetStream refused at
 * start) makes an "n/a" row and one note per server and reason.
 *
 * NOTES
 *  - Only flat JSON objects of strings and numbers are understood (what
 *    dt_bench.c prints); a line that does not parse, or lacks "server"
 *    or "scenario", is skipped.  A failed run (one with "error") counts
 *    in its group's runs but not in its numbers.
 *  - Memory: one rep_group per distinct (server, scenario, size), each
 *    holding one value per successful run and metric; freed before
 *    bench_report() returns.
 *  - Errors: bench_report() prints the reason to stderr and returns 1
 *    when the file cannot be read or memory runs out; else 0.
 */
#include "dt_bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rep_field {
    RF_MSGS_S, RF_MB_S, RF_P50, RF_P90, RF_P99, RF_MAX, RF_BCPU, RF_CCPU,
    RF_RSS, RF_PSS, RF_LOST, RF_DUP, RF_REORD, RF_PER_CONN, RF_PER_SUB,
    RF_BCPU_RT, RF_DELIV_S, RF_SETUP, RF_BCPU_UNIT, RF_RSS0, RF_PSS0,
    RF_PROGRESS, RF_CLOSED, RF_ACKERR, RF_NOACK, RF_NOTSTORED, RF_ACKPEND,
    RF_N
};

static const char *const rep_keys[RF_N] = {
    "msgs_per_s", "mb_per_s", "p50_us", "p90_us", "p99_us", "max_us",
    "broker_cpu_us_per_msg", "client_cpu_us_per_msg", "broker_rss_kb",
    "broker_pss_kb", "lost", "dup", "reordered", "bytes_per_conn",
    "bytes_per_sub", "broker_cpu_us_per_rt", "deliv_per_s", "setup_secs",
    "broker_cpu_us_per_unit", "broker_rss0_kb", "broker_pss0_kb", "progress",
    "conns_closed", "ack_errors", "no_ack", "acked_not_stored", "ack_pending",
};

struct rep_line {
    char server[64], scenario[32], error[160], na[160];
    long size;
    double v[RF_N];
    bool has[RF_N];
};

struct rep_group {
    char server[64], scenario[32];
    long size;
    int runs, failed, na;      /* na: "n/a" lines, not runs */
    char na_why[160];
    double *vals[RF_N];        /* one value per successful run */
    int nvals[RF_N];
    struct rep_line last_failed;
};

static const char *
rep_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return s;
}

/* Reads a JSON string at *s (after its opening quote) into out. */
static const char *
rep_string(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    while (*s != '\0' && *s != '"') {
        if (*s == '\\' && s[1] != '\0')
            s++;
        if (n + 1 < outlen)
            out[n++] = *s;
        s++;
    }
    out[n] = '\0';
    return *s == '"' ? s + 1 : NULL;
}

static void
rep_store(struct rep_line *l, const char *key, const char *str, double num)
{
    int i;

    if (strcmp(key, "server") == 0)
        snprintf(l->server, sizeof l->server, "%s", str);
    else if (strcmp(key, "scenario") == 0)
        snprintf(l->scenario, sizeof l->scenario, "%s", str);
    else if (strcmp(key, "error") == 0)
        snprintf(l->error, sizeof l->error, "%s", str);
    else if (strcmp(key, "na") == 0)
        snprintf(l->na, sizeof l->na, "%s", str);
    else if (strcmp(key, "size") == 0)
        l->size = (long)num;
    for (i = 0; i < RF_N; i++)
        if (strcmp(key, rep_keys[i]) == 0 && str[0] == '\0') {
            l->v[i] = num;
            l->has[i] = true;
        }
}

/* A flat JSON object of strings and numbers; 0 or -EINVAL. */
static int
rep_parse(const char *s, struct rep_line *l)
{
    char key[64], str[256];
    char *end;
    double num;

    memset(l, 0, sizeof *l);
    s = rep_skip_ws(s);
    if (*s++ != '{')
        return -EINVAL;
    for (;;) {
        s = rep_skip_ws(s);
        if (*s == '}')
            break;
        if (*s++ != '"' || (s = rep_string(s, key, sizeof key)) == NULL)
            return -EINVAL;
        s = rep_skip_ws(s);
        if (*s++ != ':')
            return -EINVAL;
        s = rep_skip_ws(s);
        str[0] = '\0';
        num = 0;
        if (*s == '"') {
            if ((s = rep_string(s + 1, str, sizeof str)) == NULL)
                return -EINVAL;
        } else {
            num = strtod(s, &end);
            if (end == s) {        /* true, false, null */
                num = strncmp(s, "true", 4) == 0;
                while (isalpha((unsigned char)*end))
                    end++;
            }
            s = end;
        }
        rep_store(l, key, str, num);
        s = rep_skip_ws(s);
        if (*s == ',')
            s++;
        else if (*s != '}')
            return -EINVAL;
    }
    return l->server[0] != '\0' && l->scenario[0] != '\0' ? 0 : -EINVAL;
}

static int
rep_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
rep_median(struct rep_group *g, int f)
{
    int n = g->nvals[f];

    if (n == 0)
        return NAN;
    qsort(g->vals[f], (size_t)n, sizeof(double), rep_cmp_d);
    return n % 2 ? g->vals[f][n / 2]
                 : (g->vals[f][n / 2 - 1] + g->vals[f][n / 2]) / 2;
}

static double
rep_sum(const struct rep_group *g, int f)
{
    double s = 0;
    int i;

    for (i = 0; i < g->nvals[f]; i++)
        s += g->vals[f][i];
    return s;
}

static int
rep_add(struct rep_group *g, const struct rep_line *l)
{
    double *v;
    int f;

    if (l->na[0] != '\0') {          /* not supported: not a run */
        g->na++;
        snprintf(g->na_why, sizeof g->na_why, "%s", l->na);
        return 0;
    }
    g->runs++;
    if (l->error[0] != '\0') {        /* its numbers are not a result */
        g->failed++;
        g->last_failed = *l;
        return 0;
    }
    for (f = 0; f < RF_N; f++) {
        if (!l->has[f])
            continue;
        v = realloc(g->vals[f], (size_t)(g->nvals[f] + 1) * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        g->vals[f] = v;
        v[g->nvals[f]++] = l->v[f];
    }
    return 0;
}

static void
rep_fmt(char *out, size_t len, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(out, len, "–");
    else
        snprintf(out, len, fmt, v);
}

/* Throughput with SI suffix: 1.23M, 456k. */
static void
rep_rate(char *out, size_t len, double v)
{
    if (isnan(v))
        snprintf(out, len, "–");
    else if (v >= 1e6)
        snprintf(out, len, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, len, "%.1fk", v / 1e3);
    else
        snprintf(out, len, "%.0f", v);
}

/* The row's headline metric and whether higher is better. */
static double
rep_headline(struct rep_group *g, bool *higher)
{
    *higher = true;
    if (strcmp(g->scenario, "conns") == 0) {
        *higher = false;
        return rep_median(g, RF_PER_CONN);
    }
    if (strcmp(g->scenario, "subs") == 0) {
        *higher = false;
        return rep_median(g, RF_PER_SUB);
    }
    return rep_median(g, RF_MSGS_S);
}

static void
rep_row(struct rep_group *g, struct rep_group *base)
{
    char rate[128], lo[32], hi[32], mb[32], lat[96], bc[32], cc[32], mem[64];
    char per[32], ratio[48], a[24], b[24], c4[24], d[24];
    bool higher, lat_on = g->nvals[RF_P50] > 0;
    double h = rep_headline(g, &higher), bh;
    int n = g->nvals[RF_MSGS_S];
    char fails[32] = "";

    if (g->runs == 0 && g->na > 0) {
        printf("| %s | %ld | %s | n/a | n/a | | | | | | | | |\n",
               g->scenario, g->size, g->server);
        return;
    }
    if (g->failed > 0)
        snprintf(fails, sizeof fails, " (+%d failed)", g->failed);

    rep_rate(a, sizeof a, rep_median(g, RF_MSGS_S));
    rep_rate(lo, sizeof lo, n > 0 ? g->vals[RF_MSGS_S][0] : NAN);
    rep_rate(hi, sizeof hi, n > 0 ? g->vals[RF_MSGS_S][n - 1] : NAN);
    snprintf(rate, sizeof rate, "%s (%s–%s)", a, lo, hi);
    if (!higher) {         /* conns, subs: the rate is of the check only */
        rep_fmt(a, sizeof a, rep_median(g, RF_SETUP), "%.1f");
        snprintf(rate, sizeof rate, "setup %s s", a);
    }
    rep_fmt(mb, sizeof mb, rep_median(g, RF_MB_S), "%.1f");
    lat[0] = '\0';
    if (lat_on) {
        rep_fmt(a, sizeof a, rep_median(g, RF_P50), "%.0f");
        rep_fmt(b, sizeof b, rep_median(g, RF_P90), "%.0f");
        rep_fmt(c4, sizeof c4, rep_median(g, RF_P99), "%.0f");
        rep_fmt(d, sizeof d, rep_median(g, RF_MAX), "%.0f");
        snprintf(lat, sizeof lat, "%s/%s/%s/%s", a, b, c4, d);
    }
    rep_fmt(bc, sizeof bc, rep_median(g, higher ? RF_BCPU : RF_BCPU_UNIT),
            higher ? "%.3f" : "%.1f/unit");
    rep_fmt(cc, sizeof cc, higher ? rep_median(g, RF_CCPU) : NAN, "%.3f");
    if (!higher)
        snprintf(mb, sizeof mb, "–");
    rep_fmt(a, sizeof a, rep_median(g, RF_RSS) / 1024, "%.1f");
    rep_fmt(b, sizeof b, rep_median(g, RF_PSS) / 1024, "%.1f");
    snprintf(mem, sizeof mem, "%s / %s", a, b);
    per[0] = '\0';
    if (!higher)
        rep_fmt(per, sizeof per, h, "%.0f B");
    ratio[0] = '\0';
    if (base != NULL && base != g) {
        bool bhi;

        bh = rep_headline(base, &bhi);
        if (!isnan(h) && !isnan(bh) && bh > 0)
            snprintf(ratio, sizeof ratio, "%.2f×", h / bh);
    }
    printf("| %s | %ld | %s | %d%s | %s | %s | %s | %s | %s | %s | %s | "
           "%.0f/%.0f/%.0f | %s |\n",
           g->scenario, g->size, g->server, g->runs - g->failed,
           fails, rate, mb, lat, bc, cc, mem, per,
           rep_sum(g, RF_LOST), rep_sum(g, RF_DUP), rep_sum(g, RF_REORD),
           ratio);
}

/* A note under the table for a group with failed runs: the last error
 * and what the failed run still measured (loss, broker memory). */
static void
rep_failure(const struct rep_group *g, bool first)
{
    const struct rep_line *l = &g->last_failed;

    printf("%s- **%s %s %ld B: %d of %d runs failed**; last error: %s",
           first ? "\n" : "", g->server, g->scenario, g->size, g->failed,
           g->runs, l->error);
    if (l->has[RF_LOST] && (l->v[RF_LOST] > 0 || l->v[RF_DUP] > 0))
        printf("; lost %.0f, dup %.0f", l->v[RF_LOST], l->v[RF_DUP]);
    if (l->has[RF_PSS] && l->has[RF_PSS0])
        printf("; broker RSS/PSS then %.1f/%.1f MiB (growth %.1f/%.1f MiB)",
               l->v[RF_RSS] / 1024, l->v[RF_PSS] / 1024,
               (l->v[RF_RSS] - l->v[RF_RSS0]) / 1024,
               (l->v[RF_PSS] - l->v[RF_PSS0]) / 1024);
    printf("\n");
}

/* Sum of the JetStream acknowledgement troubles of a group. */
static double
rep_js_trouble(const struct rep_group *g)
{
    return rep_sum(g, RF_ACKERR) + rep_sum(g, RF_NOACK)
           + rep_sum(g, RF_NOTSTORED) + rep_sum(g, RF_ACKPEND);
}

/* A note for a group whose completed runs lost, duplicated or reordered
 * messages, had connections closed under them, or (JetStream) had
 * publish or consumer acks fail. */
static void
rep_loss(const struct rep_group *g, bool first)
{
    int i, bad = 0;

    for (i = 0; i < g->nvals[RF_LOST]; i++)
        bad += g->vals[RF_LOST][i] > 0;
    printf("%s- **%s %s %ld B: lost %.0f messages (in %d of %d runs), "
           "dup %.0f, reordered %.0f; %.0f connection(s) closed by the "
           "server", first ? "\n" : "", g->server, g->scenario, g->size,
           rep_sum(g, RF_LOST), bad, g->runs - g->failed, rep_sum(g, RF_DUP),
           rep_sum(g, RF_REORD), rep_sum(g, RF_CLOSED));
    if (rep_js_trouble(g) > 0)
        printf("; ack errors %.0f, publishes never acked %.0f, acked but "
               "not stored %.0f, consumer acks pending %.0f",
               rep_sum(g, RF_ACKERR), rep_sum(g, RF_NOACK),
               rep_sum(g, RF_NOTSTORED), rep_sum(g, RF_ACKPEND));
    printf("**\n");
}

/* One note per server and reason for its "n/a" groups. */
static void
rep_na(const struct rep_group *gs, int n, int i, bool first)
{
    int j;

    for (j = 0; j < i; j++)
        if (gs[j].na > 0 && strcmp(gs[j].server, gs[i].server) == 0
            && strcmp(gs[j].na_why, gs[i].na_why) == 0)
            return;                    /* said already */
    printf("%s- **%s: n/a rows** (", first ? "\n" : "", gs[i].server);
    for (j = i; j < n; j++)
        if (gs[j].na > 0 && strcmp(gs[j].server, gs[i].server) == 0
            && strcmp(gs[j].na_why, gs[i].na_why) == 0)
            printf("%s%s", j == i ? "" : ", ", gs[j].scenario);
    printf("): %s\n", gs[i].na_why);
}

static int
rep_load(const char *path, struct rep_group **out, int *nout)
{
    struct rep_group *gs = NULL, *g;
    struct rep_line l;
    char line[8192];
    int n = 0, i, rc = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return -errno;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        if (rep_parse(line, &l) != 0)
            continue;
        for (i = 0, g = NULL; i < n && g == NULL; i++)
            if (strcmp(gs[i].server, l.server) == 0
                && strcmp(gs[i].scenario, l.scenario) == 0
                && gs[i].size == l.size)
                g = &gs[i];
        if (g == NULL) {
            g = realloc(gs, (size_t)(n + 1) * sizeof *gs);
            if (g == NULL) {
                rc = -ENOMEM;
                break;
            }
            gs = g;
            g = &gs[n++];
            memset(g, 0, sizeof *g);
            snprintf(g->server, sizeof g->server, "%s", l.server);
            snprintf(g->scenario, sizeof g->scenario, "%s", l.scenario);
            g->size = l.size;
        }
        rc = rep_add(g, &l);
    }
    fclose(f);
    *out = gs;
    *nout = n;
    return rc;
}

/* One table row per (scenario, size, server), grouped by scenario and
 * size in first-seen order; ratios against the baseline server's row. */
int
bench_report(const char *path, const char *baseline)
{
    struct rep_group *gs = NULL, *base;
    bool *done;
    int n = 0, i, j, f, rc;

    rc = rep_load(path, &gs, &n);
    done = calloc((size_t)n + 1, sizeof *done);
    if (rc != 0 || done == NULL) {
        fprintf(stderr, "dt-bench: %s: %s\n", path,
                strerror(rc != 0 ? -rc : ENOMEM));
        rc = 1;
        goto out;
    }
    printf("| scenario | size B | server | runs | msgs/s median (min–max) | "
           "MB/s | p50/p90/p99/max µs | broker CPU µs/msg | "
           "client CPU µs/msg | broker RSS / PSS MiB | per conn/sub | "
           "lost/dup/reord | ratio vs %s |\n", baseline);
    printf("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
           "---:|\n");
    for (i = 0; i < n; i++) {
        if (done[i])
            continue;
        base = NULL;
        for (j = i; j < n; j++)
            if (strcmp(gs[j].scenario, gs[i].scenario) == 0
                && gs[j].size == gs[i].size
                && strcmp(gs[j].server, baseline) == 0)
                base = &gs[j];
        for (j = i; j < n; j++) {
            if (done[j] || strcmp(gs[j].scenario, gs[i].scenario) != 0
                || gs[j].size != gs[i].size)
                continue;
            rep_row(&gs[j], base);
            done[j] = true;
        }
    }
    for (i = 0, j = 0; i < n; i++) {
        if (gs[i].failed > 0)
            rep_failure(&gs[i], j++ == 0);
        if (rep_sum(&gs[i], RF_LOST) + rep_sum(&gs[i], RF_DUP)
            + rep_sum(&gs[i], RF_REORD) + rep_sum(&gs[i], RF_CLOSED)
            + rep_js_trouble(&gs[i]) > 0)
            rep_loss(&gs[i], j++ == 0);
        if (gs[i].na > 0 && gs[i].runs == 0)
            rep_na(gs, n, i, j++ == 0);
    }
    rc = 0;
out:
    for (i = 0; i < n; i++)
        for (f = 0; f < RF_N; f++)
            free(gs[i].vals[f]);
    free(gs);
    free(done);
    return rc;
}
