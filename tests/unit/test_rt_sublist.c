/*
 * test_rt_sublist.c -- unit tests for the router's subscription index:
 * literal and wildcard matching, queue groups merged across subjects,
 * removal and pruning, the match cache against a brute-force matcher,
 * and a 1M-subscription scale run that prints memory and match timings.
 *
 * NOTES
 *   Plain C, no framework: CHECK prints file:line and the failed
 *   expression and counts; main() returns 1 if any check failed.
 *   Randomized parts use a fixed seed, so a failure reproduces.
 */
#include "dt_subject.h"
#include "rt_sublist.h"
#include "dt_check.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define SCALE_N     250000u     /* ASan's malloc is ~4x slower */
#define SANITIZED   1           /* and mallinfo2 does not see its heap */
#else
#define SCALE_N     1000000u
#define SANITIZED   0
#endif

static struct rt_sub
mk(const char *subject, const char *queue)
{
    struct rt_sub s = {
        .subject = subject,
        .subject_len = (uint32_t)strlen(subject),
        .queue = queue,
        .queue_len = queue ? (uint32_t)strlen(queue) : 0,
    };
    return s;
}

static const struct rt_match *
match(struct rt_sublist *sl, const char *subj)
{
    return rt_sublist_match(sl, subj, (uint32_t)strlen(subj));
}

static bool
has_psub(const struct rt_match *m, const struct rt_sub *s)
{
    for (uint32_t i = 0; i < m->n_psubs; i++)
        if (m->psubs[i] == s)
            return true;
    return false;
}

static const struct rt_qgroup *
group(const struct rt_match *m, const char *name)
{
    for (uint32_t i = 0; i < m->n_qgroups; i++)
        if (m->qgroups[i].name_len == strlen(name) &&
            memcmp(m->qgroups[i].name, name, strlen(name)) == 0)
            return &m->qgroups[i];
    return NULL;
}

static bool
group_has(const struct rt_qgroup *g, const struct rt_sub *s)
{
    for (uint32_t i = 0; g != NULL && i < g->n; i++)
        if (g->subs[i] == s)
            return true;
    return false;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- behaviour ---------------------------------------------------------- */

static void
test_literal(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub a = mk("foo.bar", NULL), b = mk("foo.baz", NULL);
    struct rt_sub c = mk("foo", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(rt_sublist_insert(sl, &b) == 0);
    CHECK(rt_sublist_insert(sl, &c) == 0);
    const struct rt_match *m = match(sl, "foo.bar");
    CHECK(m != NULL && m->n_psubs == 1 && has_psub(m, &a));
    CHECK(m->n_qgroups == 0);
    m = match(sl, "foo");
    CHECK(m->n_psubs == 1 && has_psub(m, &c));
    CHECK(match(sl, "foo.bar.baz")->n_psubs == 0);
    CHECK(match(sl, "fo")->n_psubs == 0);
    CHECK(match(sl, "bar")->n_psubs == 0);
    rt_sublist_free(sl);
}

static void
test_pwc(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub a = mk("foo.*", NULL), b = mk("*.bar", NULL);
    struct rt_sub c = mk("*", NULL), d = mk("*.*.baz", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(rt_sublist_insert(sl, &b) == 0);
    CHECK(rt_sublist_insert(sl, &c) == 0);
    CHECK(rt_sublist_insert(sl, &d) == 0);
    const struct rt_match *m = match(sl, "foo.bar");
    CHECK(m->n_psubs == 2 && has_psub(m, &a) && has_psub(m, &b));
    m = match(sl, "foo");
    CHECK(m->n_psubs == 1 && has_psub(m, &c));
    m = match(sl, "foo.bar.baz");
    CHECK(m->n_psubs == 1 && has_psub(m, &d));
    CHECK(match(sl, "x.y.z.baz")->n_psubs == 0);
    rt_sublist_free(sl);
}

static void
test_fwc(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub a = mk("foo.>", NULL), b = mk(">", NULL);
    struct rt_sub c = mk("foo.bar.>", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(rt_sublist_insert(sl, &b) == 0);
    CHECK(rt_sublist_insert(sl, &c) == 0);
    const struct rt_match *m = match(sl, "foo");
    CHECK(m->n_psubs == 1 && has_psub(m, &b));      /* not foo.> */
    m = match(sl, "foo.bar");
    CHECK(m->n_psubs == 2 && has_psub(m, &a) && has_psub(m, &b));
    m = match(sl, "foo.bar.baz.qux");
    CHECK(m->n_psubs == 3);
    m = match(sl, "bar");
    CHECK(m->n_psubs == 1 && has_psub(m, &b));
    rt_sublist_free(sl);
}

static void
test_mixed(void)
{
    struct rt_sublist *sl = rt_sublist_new(0);      /* uncached path too */
    struct rt_sub a = mk("a.*.c.>", NULL), b = mk("a.b.c.d", NULL);
    struct rt_sub c = mk("*.b.>", NULL), d = mk("a.*.*.d", NULL);
    struct rt_sub e = mk("a.b.*", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(rt_sublist_insert(sl, &b) == 0);
    CHECK(rt_sublist_insert(sl, &c) == 0);
    CHECK(rt_sublist_insert(sl, &d) == 0);
    CHECK(rt_sublist_insert(sl, &e) == 0);
    const struct rt_match *m = match(sl, "a.b.c.d");
    CHECK(m->n_psubs == 4 && !has_psub(m, &e));
    m = match(sl, "a.b.c");
    CHECK(m->n_psubs == 2 && has_psub(m, &c) && has_psub(m, &e));
    m = match(sl, "a.x.c.y.z");
    CHECK(m->n_psubs == 1 && has_psub(m, &a));
    CHECK(match(sl, "a.b")->n_psubs == 0);
    rt_sublist_free(sl);
}

static void
test_queue_groups_merge(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub q1 = mk("foo.*", "q"), q2 = mk("foo.bar", "q");
    struct rt_sub q3 = mk("foo.bar", "q"), r1 = mk("foo.>", "r");
    struct rt_sub p = mk("foo.bar", NULL);
    CHECK(rt_sublist_insert(sl, &q1) == 0);
    CHECK(rt_sublist_insert(sl, &q2) == 0);
    CHECK(rt_sublist_insert(sl, &q3) == 0);
    CHECK(rt_sublist_insert(sl, &r1) == 0);
    CHECK(rt_sublist_insert(sl, &p) == 0);
    const struct rt_match *m = match(sl, "foo.bar");
    CHECK(m->n_psubs == 1 && has_psub(m, &p));
    CHECK(m->n_qgroups == 2);
    const struct rt_qgroup *g = group(m, "q");
    CHECK(g != NULL && g->n == 3);
    CHECK(group_has(g, &q1) && group_has(g, &q2) && group_has(g, &q3));
    g = group(m, "r");
    CHECK(g != NULL && g->n == 1 && group_has(g, &r1));
    m = match(sl, "foo.baz");
    CHECK(m->n_psubs == 0 && m->n_qgroups == 2);
    CHECK(group(m, "q")->n == 1 && group_has(group(m, "q"), &q1));
    /* removal from a cached result keeps the merged group right */
    CHECK(rt_sublist_remove(sl, &q1) == 0);
    m = match(sl, "foo.bar");
    CHECK(group(m, "q") != NULL && group(m, "q")->n == 2);
    CHECK(!group_has(group(m, "q"), &q1));
    CHECK(rt_sublist_remove(sl, &q2) == 0);
    CHECK(rt_sublist_remove(sl, &q3) == 0);
    m = match(sl, "foo.bar");
    CHECK(m->n_qgroups == 1 && group(m, "r") != NULL);
    rt_sublist_free(sl);
}

static void
test_remove_prunes(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub s[] = {
        mk("a.b.c", NULL), mk("a.*.d", NULL), mk("a.>", NULL),
        mk("a.b.c", "q"), mk("x", NULL), mk(">", "q2"),
    };
    struct rt_sublist_stats st;
    size_t n = sizeof(s) / sizeof(s[0]);
    for (size_t i = 0; i < n; i++)
        CHECK(rt_sublist_insert(sl, &s[i]) == 0);
    rt_sublist_stats(sl, &st);
    CHECK(st.count == n && st.nodes == 8);   /* a b c * d > x > */
    CHECK(match(sl, "a.b.c")->n_psubs == 2);
    CHECK(rt_sublist_remove(sl, &s[1]) == 0);
    rt_sublist_stats(sl, &st);
    CHECK(st.nodes == 6);                   /* "*" and "d" pruned */
    for (size_t i = 0; i < n; i++)
        if (i != 1)
            CHECK(rt_sublist_remove(sl, &s[i]) == 0);
    rt_sublist_stats(sl, &st);
    CHECK(st.count == 0 && st.nodes == 0);
    CHECK(st.inserts == n && st.removes == n);
    CHECK(rt_sublist_remove(sl, &s[0]) == -ENOENT);
    const struct rt_match *m = match(sl, "a.b.c");
    CHECK(m->n_psubs == 0 && m->n_qgroups == 0);
    CHECK(rt_sublist_insert(sl, &s[0]) == 0);       /* re-insert works */
    CHECK(match(sl, "a.b.c")->n_psubs == 1);
    rt_sublist_free(sl);
}

static void
test_duplicates(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub a = mk("foo", NULL), b = mk("foo", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(rt_sublist_insert(sl, &a) == -EEXIST);
    CHECK(rt_sublist_insert(sl, &b) == 0);          /* same subject, 2nd */
    const struct rt_match *m = match(sl, "foo");
    CHECK(m->n_psubs == 2 && has_psub(m, &a) && has_psub(m, &b));
    CHECK(rt_sublist_remove(sl, &a) == 0);
    CHECK(rt_sublist_remove(sl, &a) == -ENOENT);
    m = match(sl, "foo");
    CHECK(m->n_psubs == 1 && has_psub(m, &b));
    rt_sublist_free(sl);
}

static void
test_invalid_rejected(void)
{
    static const char *bad[] = {
        "foo..bar", "foo.>.bar", " ", "", "foo.", ".foo", ".",
        "foo bar", "foo.\tbar", ">.foo", "\r",
    };
    struct rt_sublist *sl = rt_sublist_new(16);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rt_sub s = mk(bad[i], NULL);
        CHECK(rt_sublist_insert(sl, &s) == -EINVAL);
        CHECK(s.sl_owner == NULL);
    }
    struct rt_sub q1 = mk("foo", NULL), q2 = mk("foo", "a b");
    q1.queue_len = 2;                               /* length, no bytes */
    struct rt_sub nul = { .subject = NULL, .subject_len = 3 };
    CHECK(rt_sublist_insert(sl, &q1) == -EINVAL);
    CHECK(rt_sublist_insert(sl, &q2) == -EINVAL);
    CHECK(rt_sublist_insert(sl, &nul) == -EINVAL);
    struct rt_sub ok1 = mk(">", NULL), ok2 = mk("*.*", "q.>");
    CHECK(rt_sublist_insert(sl, &ok1) == 0);
    CHECK(rt_sublist_insert(sl, &ok2) == 0);
    struct rt_sublist_stats st;
    rt_sublist_stats(sl, &st);
    CHECK(st.count == 2);
    rt_sublist_free(sl);
}

static void
test_match_odd_subjects(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub all = mk(">", NULL), one = mk("*", NULL);
    CHECK(rt_sublist_insert(sl, &all) == 0);
    CHECK(rt_sublist_insert(sl, &one) == 0);
    CHECK(match(sl, "foo..bar")->n_psubs == 0);     /* empty token */
    CHECK(match(sl, "foo.")->n_psubs == 0);
    CHECK(match(sl, ".foo")->n_psubs == 0);
    CHECK(match(sl, "")->n_psubs == 0);
    CHECK(rt_sublist_match(sl, NULL, 0)->n_psubs == 0);
    CHECK(match(sl, "x")->n_psubs == 2);
    /* a deep subject must not blow the stack */
    size_t n = 20001;
    char *deep = malloc(n + 1);
    CHECK(deep != NULL);
    for (size_t i = 0; deep && i < n; i++)
        deep[i] = (i % 2) ? '.' : 'a';
    if (deep) {
        deep[n] = 0;
        CHECK(match(sl, deep)->n_psubs == 1);
        struct rt_sub d = mk(deep, NULL);
        CHECK(rt_sublist_insert(sl, &d) == 0);
        CHECK(match(sl, deep)->n_psubs == 2);
        CHECK(rt_sublist_remove(sl, &d) == 0);
    }
    free(deep);
    rt_sublist_free(sl);
}

static void
test_wildcard_tokens_in_subject(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sub a = mk("foo.*", NULL), b = mk("foo.bar", NULL);
    struct rt_sub c = mk("foo.>", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(rt_sublist_insert(sl, &b) == 0);
    const struct rt_match *m = match(sl, "foo.*");
    CHECK(m->n_psubs == 1 && has_psub(m, &a));
    CHECK(rt_sublist_insert(sl, &c) == 0);
    m = match(sl, "foo.*");
    CHECK(m->n_psubs == 2 && has_psub(m, &c) && !has_psub(m, &b));
    rt_sublist_free(sl);
}

/* Many subs on one subject: arrays grow, shrink and fall back to the
 * inline slot, while a cached result is edited in place. */
static void
test_many_on_one_subject(void)
{
    enum { NP = 10000, NQ = 1000 };
    struct rt_sub *p = calloc(NP, sizeof(*p)), *q = calloc(NQ, sizeof(*q));
    struct rt_sublist *sl = rt_sublist_new(16);
    int bad = 0;
    CHECK(p != NULL && q != NULL && sl != NULL);
    for (int i = 0; p && q && sl && i < NP; i++) {
        p[i] = mk("fan.out", NULL);
        bad += rt_sublist_insert(sl, &p[i]) != 0;
        if (i < NQ) {
            q[i] = mk(i % 2 ? "fan.*" : "fan.out", "workers");
            bad += rt_sublist_insert(sl, &q[i]) != 0;
        }
    }
    const struct rt_match *m = match(sl, "fan.out");
    CHECK(m->n_psubs == NP && m->n_qgroups == 1 && m->qgroups[0].n == NQ);
    for (int i = 0; p && q && sl && i < NP; i++) {
        bad += rt_sublist_remove(sl, &p[i]) != 0;
        if (i < NQ)
            bad += rt_sublist_remove(sl, &q[i]) != 0;
        if (i % 97 == 0 || i > NP - 3) {
            m = match(sl, "fan.out");
            uint32_t nq = i + 1 < NQ ? NQ - (uint32_t)i - 1 : 0;
            bad += m->n_psubs != (uint32_t)(NP - i - 1);
            bad += m->n_qgroups != (nq ? 1u : 0u);
            bad += nq && m->qgroups[0].n != nq;
            bad += i + 1 < NP && !has_psub(m, &p[NP - 1]);
        }
    }
    CHECK(bad == 0);
    struct rt_sublist_stats st;
    rt_sublist_stats(sl, &st);
    CHECK(st.count == 0 && st.nodes == 0 && st.cache_hits > 50);
    rt_sublist_free(sl);
    free(p);
    free(q);
}

static void
test_cache_updates_in_place(void)
{
    struct rt_sublist *sl = rt_sublist_new(16);
    struct rt_sublist_stats st;
    struct rt_sub a = mk("foo.bar", NULL), b = mk("foo.*", NULL);
    struct rt_sub c = mk("foo.bar", "q"), d = mk("x.y", NULL);
    CHECK(rt_sublist_insert(sl, &a) == 0);
    CHECK(match(sl, "foo.bar")->n_psubs == 1);
    CHECK(match(sl, "x.y")->n_psubs == 0);
    CHECK(match(sl, "foo.bar")->n_psubs == 1);
    rt_sublist_stats(sl, &st);
    CHECK(st.cache_hits == 1 && st.cache_entries == 2 && st.matches == 3);
    CHECK(rt_sublist_insert(sl, &b) == 0);          /* wildcard: appended */
    const struct rt_match *m = match(sl, "foo.bar");
    CHECK(m->n_psubs == 2 && has_psub(m, &b));
    CHECK(rt_sublist_insert(sl, &c) == 0);          /* queue: rebuilt */
    m = match(sl, "foo.bar");
    CHECK(m->n_psubs == 2 && m->n_qgroups == 1 && group_has(group(m, "q"), &c));
    CHECK(rt_sublist_insert(sl, &d) == 0);          /* literal: appended */
    m = match(sl, "x.y");
    CHECK(m->n_psubs == 1 && has_psub(m, &d));
    rt_sublist_stats(sl, &st);
    CHECK(st.cache_hits == 3 && st.cache_entries == 2);
    CHECK(rt_sublist_remove(sl, &b) == 0);
    CHECK(rt_sublist_remove(sl, &c) == 0);
    m = match(sl, "foo.bar");
    CHECK(m->n_psubs == 1 && has_psub(m, &a) && m->n_qgroups == 0);
    rt_sublist_stats(sl, &st);
    CHECK(st.cache_hits == 4);
    rt_sublist_free(sl);
}

static void
test_cache_bounded(void)
{
    struct rt_sublist *sl = rt_sublist_new(4);
    struct rt_sublist_stats st;
    struct rt_sub all = mk(">", NULL);
    CHECK(rt_sublist_insert(sl, &all) == 0);
    char subj[32];
    for (int i = 0; i < 100; i++) {
        snprintf(subj, sizeof(subj), "s.%d", i % 10);
        CHECK(match(sl, subj)->n_psubs == 1);
        /* a hot subject survives CLOCK eviction */
        CHECK(match(sl, "hot")->n_psubs == 1);
    }
    rt_sublist_stats(sl, &st);
    CHECK(st.cache_entries == 4);
    CHECK(st.cache_hits >= 99);         /* every "hot" after the first */
    rt_sublist_free(sl);
}

/* Wildcard subs such as "_INBOX.<id>.*" come and go with connections;
 * with a full cache each change must visit only the entries that share
 * its literal prefix, not all of them. */
static void
test_wildcard_churn_full_cache(void)
{
    enum { CACHE = 65536, CONNS = 512, PER = CACHE / CONNS };
    struct rt_sublist *sl = rt_sublist_new(CACHE);
    struct rt_sub *w = calloc(CONNS, sizeof(*w));
    char (*pat)[32] = calloc(CONNS, sizeof(*pat));
    struct rt_sub all = mk(">", NULL);
    char subj[48];
    int bad = 0;
    CHECK(sl != NULL && w != NULL && pat != NULL);
    if (sl == NULL || w == NULL || pat == NULL)
        goto out;
    CHECK(rt_sublist_insert(sl, &all) == 0);
    for (int c = 0; c < CONNS; c++)
        for (int r = 0; r < PER; r++) {
            snprintf(subj, sizeof(subj), "_INBOX.c%d.%d", c, r);
            bad += match(sl, subj)->n_psubs != 1;
        }
    struct rt_sublist_stats st;
    rt_sublist_stats(sl, &st);
    CHECK(st.cache_entries == CACHE);
    double t0 = now_s();
    for (int c = 0; c < CONNS; c++) {
        snprintf(pat[c], sizeof(pat[c]), "_INBOX.c%d.*", c);
        w[c] = mk(pat[c], NULL);
        bad += rt_sublist_insert(sl, &w[c]) != 0;
    }
    for (int c = 0; c < CONNS; c++)
        bad += rt_sublist_remove(sl, &w[c]) != 0;
    double per = (now_s() - t0) * 1e6 / (2 * CONNS);
    rt_sublist_stats(sl, &st);
    CHECK(st.cache_entries == CACHE);       /* edited in place, kept */
    CHECK(rt_sublist_insert(sl, &w[7]) == 0);
    const struct rt_match *m = match(sl, "_INBOX.c7.3");
    CHECK(m->n_psubs == 2 && has_psub(m, &w[7]));
    CHECK(match(sl, "_INBOX.c8.3")->n_psubs == 1);
    CHECK(bad == 0);
    printf("wildcard churn with %d cached subjects: %.1f us per change\n",
           CACHE, per);
    CHECK(per < 500.0);     /* a scan of every entry would be ~1 ms+ */
out:
    rt_sublist_free(sl);
    free(w);
    free(pat);
}

/* ---- randomized comparison with a brute-force matcher ------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

#define R_POOL  400
#define R_SUBJ  24

struct rsub {
    struct rt_sub s;
    char subj[R_SUBJ];
    bool live;
};

static void
rand_subject(char *out, bool wild)
{
    static const char *toks[] = { "a", "b", "c", "dd" };
    uint32_t depth = 1 + rng(4), len = 0;
    for (uint32_t i = 0; i < depth; i++) {
        const char *t = toks[rng(4)];
        if (wild && rng(5) == 0)
            t = "*";
        if (wild && i == depth - 1 && rng(6) == 0)
            t = ">";
        len += (uint32_t)sprintf(out + len, "%s%s", i ? "." : "", t);
    }
}

/* Does the result hold exactly the live subs that match subj? */
static bool
same_as_brute(const struct rt_match *m, struct rsub *pool, const char *subj)
{
    uint32_t want_p = 0, want_q = 0, got_q = 0;
    for (int i = 0; i < R_POOL; i++) {
        struct rt_sub *s = &pool[i].s;
        if (!pool[i].live || !dt_subject_matches(s->subject, s->subject_len,
                                                 subj, strlen(subj)))
            continue;
        if (s->queue_len == 0) {
            want_p++;
            if (!has_psub(m, s))
                return false;
        } else {
            want_q++;
            if (!group_has(group(m, s->queue), s))
                return false;
        }
    }
    /* every member carries its group's name; names are not repeated */
    for (uint32_t g = 0; g < m->n_qgroups; g++) {
        const struct rt_qgroup *qg = &m->qgroups[g];
        got_q += qg->n;
        if (qg->n == 0 || (group(m, "q1") != qg && group(m, "q2") != qg))
            return false;
        for (uint32_t j = 0; j < qg->n; j++)
            if (qg->subs[j]->queue_len != qg->name_len ||
                memcmp(qg->subs[j]->queue, qg->name, qg->name_len) != 0)
                return false;
    }
    return m->n_psubs == want_p && got_q == want_q;
}

static void
random_run(uint32_t cache_max, int iters)
{
    static const char *queues[] = { NULL, NULL, NULL, "q1", "q2" };
    struct rsub *pool = calloc(R_POOL, sizeof(*pool));
    struct rt_sublist *sl = rt_sublist_new(cache_max);
    int bad = 0, live = 0;
    char subj[R_SUBJ];
    for (int it = 0; it < iters && pool && sl; it++) {
        struct rsub *r = &pool[rng(R_POOL)];
        uint32_t op = rng(10);
        if (op < 3 && !r->live) {
            rand_subject(r->subj, true);
            r->s = mk(r->subj, queues[rng(5)]);
            bad += rt_sublist_insert(sl, &r->s) != 0;
            r->live = true;
            live++;
        } else if (op < 5 && r->live) {
            bad += rt_sublist_remove(sl, &r->s) != 0;
            r->live = false;
            live--;
        } else {
            rand_subject(subj, rng(8) == 0);    /* "*" matched literally */
            const struct rt_match *m = match(sl, subj);
            bad += m == NULL || !same_as_brute(m, pool, subj);
        }
    }
    CHECK(bad == 0);
    struct rt_sublist_stats st;
    rt_sublist_stats(sl, &st);
    CHECK(st.count == (uint64_t)live);
    CHECK(st.cache_entries <= cache_max);
    printf("random cache_max=%u: %d ops, %llu matches, %llu hits\n",
           cache_max, iters, (unsigned long long)st.matches,
           (unsigned long long)st.cache_hits);
    for (int i = 0; i < R_POOL && pool && sl; i++)
        if (pool[i].live)
            CHECK(rt_sublist_remove(sl, &pool[i].s) == 0);
    rt_sublist_stats(sl, &st);
    CHECK(st.count == 0 && st.nodes == 0);
    rt_sublist_free(sl);
    free(pool);
}

static void
test_random_vs_brute(void)
{
    random_run(0, 20000);
    random_run(4, 20000);
    random_run(64, 30000);
    random_run(4096, 30000);
}

/* ---- scale -------------------------------------------------------------- */

#define SUBJ_W  32

static void
fill_subjects(char *buf, struct rt_sub *subs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        char *p = buf + (size_t)i * SUBJ_W;
        int len = snprintf(p, SUBJ_W, "svc.%u.inst.%u", i % 1000, i);
        subs[i] = mk(p, NULL);
        subs[i].subject_len = (uint32_t)len;
    }
}

static void
test_memory_200k(void)
{
    uint32_t n = 200000;
    char *buf = malloc((size_t)n * SUBJ_W);
    struct rt_sub *subs = calloc(n, sizeof(*subs));
    CHECK(buf != NULL && subs != NULL);
    if (buf == NULL || subs == NULL)
        goto out;
    fill_subjects(buf, subs, n);
    struct mallinfo2 before = mallinfo2();
    struct rt_sublist *sl = rt_sublist_new(4096);
    int bad = 0;
    for (uint32_t i = 0; i < n; i++)
        bad += rt_sublist_insert(sl, &subs[i]) != 0;
    CHECK(bad == 0);
    struct mallinfo2 after = mallinfo2();
    if (SANITIZED)
        printf("memory: not measured under ASan\n");
    else
        printf("memory: %u literal subs, index %.1f bytes/sub "
               "(+%zu bytes/sub for the caller's struct rt_sub)\n", n,
               (double)(after.uordblks - before.uordblks) / n,
               sizeof(struct rt_sub));
    rt_sublist_free(sl);
out:
    free(subs);
    free(buf);
}

static void
test_scale_1m(void)
{
    uint32_t n = SCALE_N;
    char *buf = malloc((size_t)n * SUBJ_W);
    struct rt_sub *subs = calloc(n, sizeof(*subs));
    struct rt_sub w1 = mk("svc.*.inst.*", NULL), w2 = mk("svc.>", NULL);
    struct rt_sublist *sl = rt_sublist_new(4096);
    CHECK(buf != NULL && subs != NULL && sl != NULL);
    if (buf == NULL || subs == NULL || sl == NULL)
        goto out;
    fill_subjects(buf, subs, n);
    int bad = 0;
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++)
        bad += rt_sublist_insert(sl, &subs[i]) != 0;
    double t_ins = now_s() - t0;
    CHECK(bad == 0);
    CHECK(rt_sublist_insert(sl, &w1) == 0 && rt_sublist_insert(sl, &w2) == 0);

    /* uncached: each match is a distinct subject, so a miss + eviction */
    uint32_t nm = n < 200000 ? n : 200000;
    t0 = now_s();
    for (uint32_t i = 0; i < nm; i++) {
        const struct rt_match *m = rt_sublist_match(sl, subs[i].subject,
                                                    subs[i].subject_len);
        bad += m == NULL || m->n_psubs != 3 || !has_psub(m, &subs[i]);
    }
    double t_miss = now_s() - t0;
    /* cached: 1000 hot subjects that fit in the cache */
    t0 = now_s();
    for (uint32_t i = 0; i < nm; i++) {
        const struct rt_sub *s = &subs[i % 1000];
        bad += rt_sublist_match(sl, s->subject, s->subject_len)->n_psubs != 3;
    }
    double t_hit = now_s() - t0;
    CHECK(bad == 0);
    struct rt_sublist_stats st;
    rt_sublist_stats(sl, &st);
    CHECK(st.count == (uint64_t)n + 2 && st.cache_hits >= nm - 1000);

    t0 = now_s();
    for (uint32_t i = 0; i < n; i++)
        bad += rt_sublist_remove(sl, &subs[i]) != 0;
    double t_rm = now_s() - t0;
    CHECK(bad == 0);
    CHECK(rt_sublist_remove(sl, &w1) == 0 && rt_sublist_remove(sl, &w2) == 0);
    rt_sublist_stats(sl, &st);
    CHECK(st.count == 0 && st.nodes == 0);
    printf("scale: %u inserts %.2f s (%.0f ns each), removes %.2f s; "
           "match uncached %.0f ns, cached %.0f ns%s\n", n, t_ins,
           t_ins * 1e9 / n, t_rm, t_miss * 1e9 / nm, t_hit * 1e9 / nm,
           SANITIZED ? " (sanitized build)" : "");
    CHECK(t_ins < 30.0);        /* catches quadratic behaviour, not noise */
out:
    rt_sublist_free(sl);
    free(subs);
    free(buf);
}

int
main(int argc, char **argv)
{
    test_literal();
    test_pwc();
    test_fwc();
    test_mixed();
    test_queue_groups_merge();
    test_remove_prunes();
    test_duplicates();
    test_invalid_rejected();
    test_match_odd_subjects();
    test_wildcard_tokens_in_subject();
    test_many_on_one_subject();
    test_cache_updates_in_place();
    test_cache_bounded();
    test_wildcard_churn_full_cache();
    test_random_vs_brute();
    test_memory_200k();
    test_scale_1m();
    return dt_check_summary(argv[0]);
}
