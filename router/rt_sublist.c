/*
 * rt_sublist.c -- the router's subscription index (see rt_sublist.h).
 *
 * Trie: one node per token of a subscription subject.  A node holds its
 * literal children in an open-addressed hash table (linear probing,
 * backward-shift deletion, so no tombstones), its '*' child and its '>'
 * child in two pointers, its plain subs in an array (inline when there
 * is one) and its queue subs in one small list entry per queue name.
 * Each sub remembers its holder and index (sl_owner, sl_idx), so removal
 * is O(1) plus pruning of the nodes it leaves empty.
 *
 * Cache: up to cache_max results keyed by literal subject, in a fixed
 * entry array indexed by an open-addressed table of entry numbers.  When
 * full, CLOCK picks the victim: a hit sets the entry's reference bit and
 * the hand clears bits until it finds an entry without one.  Entries keep
 * their buffers when recycled, so a match allocates nothing once buffers
 * have reached their working size.  A change touches only the entries
 * whose subject the changed sub's subject matches (one lookup for a
 * literal subject; for a wildcard one, a walk of the entries that share
 * its literal first one or two tokens, kept in per-prefix lists, and a
 * scan of all entries only when it starts with a wildcard): adding a
 * plain sub appends to them, removing a sub deletes it from them in
 * place, adding a queue sub drops them (they are rebuilt on next use).
 *
 * NOTES
 *   Single-threaded: the router loop owns the sublist.  No recursion: the
 *   match walk and the teardown use explicit stacks or parent pointers,
 *   so deep subjects cannot overflow the C stack.  Out of memory leaves
 *   the index unchanged; a cache entry that cannot be updated is dropped.
 */
#include "rt_sublist.h"

#include "dt_subject.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RT_CACHE_MAX_LIMIT  (1u << 24)
#define RT_NONE             UINT32_MAX

struct rt_kid;

union rt_subs {
    struct rt_sub *one;         /* ps_cap == 0 */
    struct rt_sub **many;       /* ps_cap > 0 */
};

/* The subs of one queue name at one node; never empty. */
struct rt_nqueue {
    struct rt_nqueue *next;
    struct rt_node *node;
    struct rt_sub **subs;
    uint32_t n, cap;
};

struct rt_node {
    struct rt_node *parent;     /* NULL for the root */
    struct rt_kid *kids;        /* kmask + 1 slots, NULL when no kids */
    struct rt_node *pwc;        /* '*' child */
    struct rt_node *fwc;        /* '>' child */
    union rt_subs ps;           /* plain subs */
    struct rt_nqueue *queues;
    uint32_t nkids, kmask;
    uint32_t nps, ps_cap;
    uint32_t hash;              /* of tok; reused as a cursor by teardown */
    uint32_t toklen;
    char tok[];
};

struct rt_blink {
    uint32_t prev, next;        /* entry indexes, RT_NONE ends */
};

struct rt_centry {
    uint64_t hash;
    char *key;
    struct rt_match m;          /* psubs and qgroups are owned buffers */
    struct rt_sub **qs;         /* storage the qgroups point into */
    uint32_t key_len, key_cap, ps_cap, qg_cap, qs_cap;
    uint32_t next_free;
    uint32_t bh[2];             /* hash of the first one / two tokens */
    struct rt_blink bl[2];      /* in the prefix lists; bl[1] iff deep */
    uint8_t used, ref, deep;
};

struct rt_tok {
    uint32_t off, len, hash;
};

struct rt_walk {
    struct rt_node *node;
    uint32_t i;
};

struct rt_sublist {
    struct rt_node *root;
    uint64_t seed;
    uint64_t count, nodes, inserts, removes, matches, hits;
    /* cache */
    struct rt_centry *ents;     /* cache_max entries */
    uint32_t *slots;            /* entry index + 1, 0 = empty */
    uint32_t smask, cache_max, cache_used, hw, hand, free_head;
    uint32_t *bheads[2];        /* prefix lists: first token, first two */
    uint32_t bmask;
    struct rt_centry nocache;   /* result buffer when cache_max == 0 */
    /* scratch reused by every uncached match */
    struct rt_tok *toks;
    struct rt_node **found;
    struct rt_walk *stack;
    uint32_t *qtab, *qgi;
    uint32_t toks_cap, found_cap, stack_cap, qtab_cap, qgi_cap, nfound;
};

static const struct rt_match rt_empty;

/* ---- helpers ---------------------------------------------------------- */

/* Seeded word-at-a-time hash; the seed makes crafted collisions harder. */
static uint64_t
rt_hash(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
    uint64_t w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    if (n) {
        w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t
rt_pow2(uint64_t n)
{
    uint32_t c = 4;
    while (c < n && c < (1u << 31))
        c <<= 1;
    return c;
}

/* Make room for `need` elements of *pp (any pointer type: read and
 * written with memcpy, so no aliasing games); also shrinks a buffer that
 * has become far too big.  The buffer is unchanged on failure. */
static int
rt_reserve(void *pp, uint32_t *cap, uint64_t need, size_t elem)
{
    void *p, *q;
    if (need > (1u << 31))
        return -ENOMEM;
    if (need <= *cap && !(*cap > 1024 && need * 8 < *cap))
        return 0;
    uint32_t nc = rt_pow2(need);
    memcpy(&p, pp, sizeof(p));
    q = realloc(p, (size_t)nc * elem);
    if (q == NULL)
        return need <= *cap ? 0 : -ENOMEM;
    memcpy(pp, &q, sizeof(q));
    *cap = nc;
    return 0;
}

static size_t
rt_toklen(const char *p, size_t avail)
{
    const char *dot = avail ? memchr(p, '.', avail) : NULL;
    return dot ? (size_t)(dot - p) : avail;
}

/* ---- literal children: open addressing --------------------------------- */

/* A slot keeps the child's hash and token length next to the pointer, so
 * a probe touches one cache line of the table and dereferences only the
 * child it will return (the trie's cache misses are in the children). */
struct rt_kid {
    uint32_t hash;
    uint32_t toklen;
    struct rt_node *node;       /* NULL = empty slot */
};

static struct rt_node *
rt_kid_find(const struct rt_node *n, const char *t, uint32_t tl, uint32_t h)
{
    if (n->kids == NULL)
        return NULL;
    for (uint32_t i = h & n->kmask;; i = (i + 1) & n->kmask) {
        const struct rt_kid *k = &n->kids[i];
        if (k->node == NULL)
            return NULL;
        if (k->hash == h && k->toklen == tl &&
            memcmp(k->node->tok, t, tl) == 0)
            return k->node;
    }
}

static void
rt_kid_place(struct rt_kid *tab, uint32_t mask, struct rt_node *k)
{
    uint32_t i = k->hash & mask;
    while (tab[i].node != NULL)
        i = (i + 1) & mask;
    tab[i].hash = k->hash;
    tab[i].toklen = k->toklen;
    tab[i].node = k;
}

static int
rt_kids_resize(struct rt_node *n, uint32_t cap)
{
    struct rt_kid *tab = calloc(cap, sizeof(*tab));
    if (tab == NULL)
        return -ENOMEM;
    if (n->kids != NULL) {
        for (uint32_t i = 0; i <= n->kmask; i++)
            if (n->kids[i].node != NULL)
                rt_kid_place(tab, cap - 1, n->kids[i].node);
        free(n->kids);
    }
    n->kids = tab;
    n->kmask = cap - 1;
    return 0;
}

/* Keeps the load factor at most 3/4. */
static int
rt_kid_add(struct rt_node *n, struct rt_node *k)
{
    uint64_t cap = n->kids ? (uint64_t)n->kmask + 1 : 0;
    if (((uint64_t)n->nkids + 1) * 4 > cap * 3) {
        if (cap >= (1u << 30))
            return -ENOMEM;
        int rc = rt_kids_resize(n, cap ? (uint32_t)cap * 2 : 2);
        if (rc < 0)
            return rc;
    }
    rt_kid_place(n->kids, n->kmask, k);
    n->nkids++;
    return 0;
}

/* Backward-shift deletion: later entries of the probe run move up so
 * lookups never need tombstones. */
static void
rt_kid_del(struct rt_node *n, struct rt_node *k)
{
    uint32_t mask = n->kmask, i = k->hash & mask;
    struct rt_kid *tab = n->kids;
    while (tab[i].node != k)
        i = (i + 1) & mask;
    tab[i].node = NULL;
    for (uint32_t j = (i + 1) & mask; tab[j].node != NULL;
         j = (j + 1) & mask) {
        if (((j - (tab[j].hash & mask)) & mask) >= ((j - i) & mask)) {
            tab[i] = tab[j];
            tab[j].node = NULL;
            i = j;
        }
    }
    if (--n->nkids == 0) {
        free(n->kids);
        n->kids = NULL;
        n->kmask = 0;
    } else if (mask + 1 > 16 && (uint64_t)n->nkids * 8 < mask + 1) {
        (void)rt_kids_resize(n, (mask + 1) / 4);   /* failure: keep big */
    }
}

/* ---- nodes ------------------------------------------------------------- */

static struct rt_node *
rt_node_new(struct rt_sublist *sl, struct rt_node *parent, const char *t,
            uint32_t tl, uint32_t h)
{
    struct rt_node *n = calloc(1, sizeof(*n) + tl);
    if (n == NULL)
        return NULL;
    n->parent = parent;
    n->hash = h;
    n->toklen = tl;
    memcpy(n->tok, t, tl);
    if (parent != NULL)
        sl->nodes++;
    return n;
}

/* Find or create the child of n for token t; NULL on ENOMEM. */
static struct rt_node *
rt_node_child(struct rt_sublist *sl, struct rt_node *n, const char *t,
              uint32_t tl)
{
    if (tl == 1 && (t[0] == '*' || t[0] == '>')) {
        struct rt_node **slot = t[0] == '*' ? &n->pwc : &n->fwc;
        if (*slot == NULL)
            *slot = rt_node_new(sl, n, t, 1, 0);
        return *slot;
    }
    uint32_t h = (uint32_t)rt_hash(t, tl, sl->seed);
    struct rt_node *k = rt_kid_find(n, t, tl, h);
    if (k != NULL)
        return k;
    k = rt_node_new(sl, n, t, tl, h);
    if (k != NULL && rt_kid_add(n, k) < 0) {
        free(k);
        sl->nodes--;
        k = NULL;
    }
    return k;
}

static bool
rt_node_empty(const struct rt_node *n)
{
    return n->nps == 0 && n->queues == NULL && n->nkids == 0 &&
           n->pwc == NULL && n->fwc == NULL;
}

/* Free n and its now-empty ancestors, up to (not including) the root. */
static void
rt_prune(struct rt_sublist *sl, struct rt_node *n)
{
    while (n->parent != NULL && rt_node_empty(n)) {
        struct rt_node *p = n->parent;
        if (p->pwc == n)
            p->pwc = NULL;
        else if (p->fwc == n)
            p->fwc = NULL;
        else
            rt_kid_del(p, n);
        free(n);
        sl->nodes--;
        n = p;
    }
}

static struct rt_sub **
rt_node_ps(struct rt_node *n)
{
    return n->ps_cap ? n->ps.many : &n->ps.one;
}

static int
rt_plain_add(struct rt_node *n, struct rt_sub *s)
{
    if (n->ps_cap == 0 && n->nps == 0) {
        n->ps.one = s;
    } else if (n->ps_cap == 0) {
        struct rt_sub **a = malloc(4 * sizeof(*a));
        if (a == NULL)
            return -ENOMEM;
        a[0] = n->ps.one;
        n->ps.many = a;
        n->ps_cap = 4;
    } else if (n->nps == n->ps_cap) {
        int rc = rt_reserve(&n->ps.many, &n->ps_cap, (uint64_t)n->nps + 1,
                            sizeof(struct rt_sub *));
        if (rc < 0)
            return rc;
    }
    rt_node_ps(n)[n->nps] = s;
    s->sl_owner = n;
    s->sl_idx = n->nps++;
    return 0;
}

static int
rt_plain_del(struct rt_node *n, struct rt_sub *s)
{
    struct rt_sub **a = rt_node_ps(n);
    uint32_t i = s->sl_idx;
    if (i >= n->nps || a[i] != s)
        return -ENOENT;
    a[i] = a[--n->nps];
    a[i]->sl_idx = i;
    if (n->ps_cap != 0 && n->nps <= 1) {
        struct rt_sub *one = n->nps ? a[0] : NULL;
        free(a);
        n->ps.one = one;
        n->ps_cap = 0;
    } else if (n->ps_cap != 0) {
        (void)rt_reserve(&n->ps.many, &n->ps_cap, n->nps,
                         sizeof(struct rt_sub *));
    }
    return 0;
}

static struct rt_nqueue *
rt_queue_find(const struct rt_node *n, const char *name, uint32_t len)
{
    for (struct rt_nqueue *q = n->queues; q != NULL; q = q->next)
        if (q->subs[0]->queue_len == len &&
            memcmp(q->subs[0]->queue, name, len) == 0)
            return q;
    return NULL;
}

static int
rt_queue_add(struct rt_node *n, struct rt_sub *s)
{
    struct rt_nqueue *q = rt_queue_find(n, s->queue, s->queue_len);
    if (q == NULL) {
        q = calloc(1, sizeof(*q));
        if (q == NULL)
            return -ENOMEM;
        if (rt_reserve(&q->subs, &q->cap, 1, sizeof(*q->subs)) < 0) {
            free(q);
            return -ENOMEM;
        }
        q->node = n;
        q->next = n->queues;
        n->queues = q;
    } else if (q->n == q->cap) {
        int rc = rt_reserve(&q->subs, &q->cap, (uint64_t)q->n + 1,
                            sizeof(*q->subs));
        if (rc < 0)
            return rc;
    }
    q->subs[q->n] = s;
    s->sl_owner = q;
    s->sl_idx = q->n++;
    return 0;
}

static void
rt_queue_unlink(struct rt_node *n, struct rt_nqueue *q)
{
    struct rt_nqueue **pp = &n->queues;
    while (*pp != q)
        pp = &(*pp)->next;
    *pp = q->next;
    free(q->subs);
    free(q);
}

/* Returns the node the sub was at, NULL when s is not where it says. */
static struct rt_node *
rt_queue_del(struct rt_sub *s)
{
    struct rt_nqueue *q = s->sl_owner;
    uint32_t i = s->sl_idx;
    if (i >= q->n || q->subs[i] != s)
        return NULL;
    struct rt_node *n = q->node;
    q->subs[i] = q->subs[--q->n];
    q->subs[i]->sl_idx = i;
    if (q->n == 0)
        rt_queue_unlink(n, q);
    else
        (void)rt_reserve(&q->subs, &q->cap, q->n, sizeof(*q->subs));
    return n;
}

/* ---- cache index ------------------------------------------------------- */

static struct rt_centry *
rt_cache_find(const struct rt_sublist *sl, const char *subj, uint32_t len,
              uint64_t h)
{
    for (uint32_t i = (uint32_t)h & sl->smask;; i = (i + 1) & sl->smask) {
        uint32_t v = sl->slots[i];
        if (v == 0)
            return NULL;
        struct rt_centry *e = &sl->ents[v - 1];
        if (e->hash == h && e->key_len == len &&
            memcmp(e->key, subj, len) == 0)
            return e;
    }
}

static void
rt_cache_put_free(struct rt_sublist *sl, struct rt_centry *e)
{
    e->used = 0;
    e->ref = 0;
    e->next_free = sl->free_head;
    sl->free_head = (uint32_t)(e - sl->ents);
}

/* Bytes of the first k (1 or 2) tokens of s; 0 when s has fewer tokens
 * or, for a pattern, when one of them is a wildcard. */
static uint32_t
rt_prefix_len(const char *s, uint32_t n, int k, bool pattern)
{
    uint64_t i = 0;
    for (int t = 0; t < k; t++) {
        if (i > n)
            return 0;
        uint32_t tl = (uint32_t)rt_toklen(s + i, n - i);
        if (pattern && tl == 1 && (s[i] == '*' || s[i] == '>'))
            return 0;
        i += tl + 1;
    }
    return (uint32_t)(i - 1);
}

static void
rt_blist_link(struct rt_sublist *sl, struct rt_centry *e, int k)
{
    uint32_t idx = (uint32_t)(e - sl->ents);
    uint32_t *head = &sl->bheads[k][e->bh[k] & sl->bmask];
    e->bl[k].prev = RT_NONE;
    e->bl[k].next = *head;
    if (*head != RT_NONE)
        sl->ents[*head].bl[k].prev = idx;
    *head = idx;
}

static void
rt_blist_unlink(struct rt_sublist *sl, struct rt_centry *e, int k)
{
    struct rt_blink *l = &e->bl[k];
    if (l->prev != RT_NONE)
        sl->ents[l->prev].bl[k].next = l->next;
    else
        sl->bheads[k][e->bh[k] & sl->bmask] = l->next;
    if (l->next != RT_NONE)
        sl->ents[l->next].bl[k].prev = l->prev;
}

/* Drop e from the index (backward shift) and recycle it. */
static void
rt_cache_drop(struct rt_sublist *sl, struct rt_centry *e)
{
    uint32_t mask = sl->smask, want = (uint32_t)(e - sl->ents) + 1;
    uint32_t i = (uint32_t)e->hash & mask;
    while (sl->slots[i] != want)
        i = (i + 1) & mask;
    sl->slots[i] = 0;
    for (uint32_t j = (i + 1) & mask; sl->slots[j] != 0; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)sl->ents[sl->slots[j] - 1].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            sl->slots[i] = sl->slots[j];
            sl->slots[j] = 0;
            i = j;
        }
    }
    rt_blist_unlink(sl, e, 0);
    if (e->deep)
        rt_blist_unlink(sl, e, 1);
    sl->cache_used--;
    rt_cache_put_free(sl, e);
}

/* A free entry: from the free list, never used yet, or a CLOCK victim. */
static struct rt_centry *
rt_cache_take(struct rt_sublist *sl)
{
    if (sl->free_head == RT_NONE && sl->hw < sl->cache_max)
        return &sl->ents[sl->hw++];
    while (sl->free_head == RT_NONE) {    /* at most two sweeps */
        struct rt_centry *e = &sl->ents[sl->hand];
        sl->hand = sl->hand + 1 == sl->cache_max ? 0 : sl->hand + 1;
        if (e->ref)
            e->ref = 0;
        else
            rt_cache_drop(sl, e);
    }
    struct rt_centry *e = &sl->ents[sl->free_head];
    sl->free_head = e->next_free;
    return e;
}

static void
rt_cache_link(struct rt_sublist *sl, struct rt_centry *e)
{
    uint32_t i = (uint32_t)e->hash & sl->smask;
    while (sl->slots[i] != 0)
        i = (i + 1) & sl->smask;
    sl->slots[i] = (uint32_t)(e - sl->ents) + 1;
    uint32_t p1 = rt_prefix_len(e->key, e->key_len, 1, false);
    uint32_t p2 = rt_prefix_len(e->key, e->key_len, 2, false);
    e->bh[0] = (uint32_t)rt_hash(e->key, p1, sl->seed);
    rt_blist_link(sl, e, 0);
    e->deep = p2 != 0;
    if (e->deep) {
        e->bh[1] = (uint32_t)rt_hash(e->key, p2, sl->seed);
        rt_blist_link(sl, e, 1);
    }
    e->used = 1;
    e->ref = 0;
    sl->cache_used++;
}

/* ---- cache maintenance on insert/remove -------------------------------- */

static bool
rt_centry_remove(struct rt_centry *e, const struct rt_sub *s)
{
    struct rt_match *m = &e->m;
    if (s->queue_len == 0) {
        for (uint32_t i = 0; i < m->n_psubs; i++)
            if (m->psubs[i] == s) {
                m->psubs[i] = m->psubs[--m->n_psubs];
                return true;
            }
        return false;
    }
    for (uint32_t g = 0; g < m->n_qgroups; g++) {
        struct rt_qgroup *qg = &m->qgroups[g];
        if (qg->name_len != s->queue_len ||
            memcmp(qg->name, s->queue, s->queue_len) != 0)
            continue;
        for (uint32_t i = 0; i < qg->n; i++)
            if (qg->subs[i] == s) {
                qg->subs[i] = qg->subs[--qg->n];
                if (qg->n == 0)
                    *qg = m->qgroups[--m->n_qgroups];
                else
                    qg->name = qg->subs[0]->queue;  /* s may go away */
                return true;
            }
        return false;
    }
    return false;
}

static void
rt_centry_update(struct rt_sublist *sl, struct rt_centry *e,
                 struct rt_sub *s, bool added)
{
    bool ok;
    if (!added) {
        ok = rt_centry_remove(e, s);
    } else if (s->queue_len != 0) {
        ok = false;                 /* rebuilt on next use */
    } else {
        ok = rt_reserve(&e->m.psubs, &e->ps_cap, (uint64_t)e->m.n_psubs + 1,
                        sizeof(*e->m.psubs)) == 0;
        if (ok)
            e->m.psubs[e->m.n_psubs++] = s;
    }
    if (!ok)
        rt_cache_drop(sl, e);
}

/* Visit the cached entries a wildcard pattern may match: those sharing
 * its literal prefix of two tokens, else of one, else all of them. */
static void
rt_cache_on_wild(struct rt_sublist *sl, struct rt_sub *s, bool added)
{
    int k = 1;
    uint32_t pl = rt_prefix_len(s->subject, s->subject_len, 2, true);
    if (pl == 0) {
        k = 0;
        pl = rt_prefix_len(s->subject, s->subject_len, 1, true);
    }
    if (pl == 0) {
        for (uint32_t i = 0; i < sl->hw; i++) {
            struct rt_centry *e = &sl->ents[i];
            if (e->used && dt_subject_matches(s->subject, s->subject_len,
                                              e->key, e->key_len))
                rt_centry_update(sl, e, s, added);
        }
        return;
    }
    uint32_t bh = (uint32_t)rt_hash(s->subject, pl, sl->seed);
    for (uint32_t i = sl->bheads[k][bh & sl->bmask]; i != RT_NONE; ) {
        struct rt_centry *e = &sl->ents[i];
        i = e->bl[k].next;          /* before an update may drop e */
        if (e->bh[k] == bh && dt_subject_matches(s->subject, s->subject_len,
                                                 e->key, e->key_len))
            rt_centry_update(sl, e, s, added);
    }
}

static void
rt_cache_on_change(struct rt_sublist *sl, struct rt_sub *s, bool added)
{
    if (sl->cache_used == 0)
        return;
    if (!dt_subject_valid_literal(s->subject, s->subject_len)) {
        rt_cache_on_wild(sl, s, added);
        return;
    }
    uint64_t h = rt_hash(s->subject, s->subject_len, sl->seed);
    struct rt_centry *e = rt_cache_find(sl, s->subject, s->subject_len, h);
    if (e != NULL)
        rt_centry_update(sl, e, s, added);
}

/* ---- match ------------------------------------------------------------- */

/* Split subj into sl->toks; returns the token count, 0 for an empty
 * token (matches nothing, as in nats-server), or -ENOMEM. */
static int64_t
rt_tokenize(struct rt_sublist *sl, const char *subj, uint32_t len)
{
    uint32_t nt = 0;
    for (uint64_t i = 0; i <= len; ) {
        uint32_t tl = (uint32_t)rt_toklen(subj + i, len - i);
        if (tl == 0)
            return 0;
        if (rt_reserve(&sl->toks, &sl->toks_cap, (uint64_t)nt + 1,
                       sizeof(*sl->toks)) < 0)
            return -ENOMEM;
        sl->toks[nt].off = (uint32_t)i;
        sl->toks[nt].len = tl;
        sl->toks[nt].hash = (uint32_t)rt_hash(subj + i, tl, sl->seed);
        nt++;
        i += tl + 1;
    }
    return nt;
}

static int
rt_found_add(struct rt_sublist *sl, struct rt_node *n)
{
    if (n->nps == 0 && n->queues == NULL)
        return 0;
    if (rt_reserve(&sl->found, &sl->found_cap, (uint64_t)sl->nfound + 1,
                   sizeof(*sl->found)) < 0)
        return -ENOMEM;
    sl->found[sl->nfound++] = n;
    return 0;
}

static int
rt_push(struct rt_sublist *sl, uint32_t *sp, struct rt_node *n, uint32_t i)
{
    if (rt_reserve(&sl->stack, &sl->stack_cap, (uint64_t)*sp + 1,
                   sizeof(*sl->stack)) < 0)
        return -ENOMEM;
    sl->stack[*sp].node = n;
    sl->stack[(*sp)++].i = i;
    return 0;
}

/* Collect every node whose pattern matches the tokens into sl->found.
 * Each node is reached by one path only, so there are no duplicates. */
static int
rt_collect(struct rt_sublist *sl, const char *subj, uint32_t nt)
{
    uint32_t sp = 0;
    sl->nfound = 0;
    if (rt_push(sl, &sp, sl->root, 0) < 0)
        return -ENOMEM;
    while (sp > 0) {
        struct rt_node *n = sl->stack[--sp].node;
        uint32_t i = sl->stack[sp].i;
        for (; n != NULL && i < nt; i++) {
            const struct rt_tok *t = &sl->toks[i];
            if (n->fwc != NULL && rt_found_add(sl, n->fwc) < 0)
                return -ENOMEM;
            if (n->pwc != NULL && rt_push(sl, &sp, n->pwc, i + 1) < 0)
                return -ENOMEM;
            n = rt_kid_find(n, subj + t->off, t->len, t->hash);
        }
        if (n != NULL && rt_found_add(sl, n) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Group index for queue name, adding a group to m when new. */
static uint32_t
rt_group_of(struct rt_sublist *sl, struct rt_match *m, const char *name,
            uint32_t len)
{
    uint32_t mask = sl->qtab_cap - 1;
    for (uint32_t i = (uint32_t)rt_hash(name, len, sl->seed) & mask;;
         i = (i + 1) & mask) {
        uint32_t v = sl->qtab[i];
        if (v == 0) {
            struct rt_qgroup *g = &m->qgroups[m->n_qgroups];
            g->name = name;
            g->name_len = len;
            g->n = 0;
            sl->qtab[i] = ++m->n_qgroups;
            return m->n_qgroups - 1;
        }
        struct rt_qgroup *g = &m->qgroups[v - 1];
        if (g->name_len == len && memcmp(g->name, name, len) == 0)
            return v - 1;
    }
}

/* Queue subs of the found nodes, merged by name across nodes. */
static int
rt_build_queues(struct rt_sublist *sl, struct rt_centry *e, uint32_t nq,
                uint64_t nqs)
{
    struct rt_match *m = &e->m;
    uint32_t k = 0;
    if (rt_reserve(&m->qgroups, &e->qg_cap, nq, sizeof(*m->qgroups)) < 0 ||
        rt_reserve(&e->qs, &e->qs_cap, nqs, sizeof(*e->qs)) < 0 ||
        rt_reserve(&sl->qgi, &sl->qgi_cap, nq, sizeof(*sl->qgi)) < 0 ||
        rt_reserve(&sl->qtab, &sl->qtab_cap, (uint64_t)nq * 2,
                   sizeof(*sl->qtab)) < 0)
        return -ENOMEM;
    memset(sl->qtab, 0, sl->qtab_cap * sizeof(*sl->qtab));
    for (uint32_t f = 0; f < sl->nfound; f++)
        for (struct rt_nqueue *q = sl->found[f]->queues; q; q = q->next) {
            struct rt_sub *s0 = q->subs[0];
            uint32_t g = rt_group_of(sl, m, s0->queue, s0->queue_len);
            m->qgroups[g].n += q->n;
            sl->qgi[k++] = g;
        }
    uint32_t off = 0;
    for (uint32_t g = 0; g < m->n_qgroups; g++) {
        m->qgroups[g].subs = e->qs + off;
        off += m->qgroups[g].n;
        m->qgroups[g].n = 0;
    }
    k = 0;
    for (uint32_t f = 0; f < sl->nfound; f++)
        for (struct rt_nqueue *q = sl->found[f]->queues; q; q = q->next) {
            struct rt_qgroup *g = &m->qgroups[sl->qgi[k++]];
            memcpy(g->subs + g->n, q->subs, q->n * sizeof(*q->subs));
            g->n += q->n;
        }
    return 0;
}

static int
rt_build(struct rt_sublist *sl, struct rt_centry *e)
{
    uint64_t nps = 0, nqs = 0;
    uint32_t nq = 0;
    for (uint32_t f = 0; f < sl->nfound; f++) {
        nps += sl->found[f]->nps;
        for (struct rt_nqueue *q = sl->found[f]->queues; q; q = q->next) {
            nq++;
            nqs += q->n;
        }
    }
    e->m.n_psubs = 0;
    e->m.n_qgroups = 0;
    if (rt_reserve(&e->m.psubs, &e->ps_cap, nps, sizeof(*e->m.psubs)) < 0)
        return -ENOMEM;
    for (uint32_t f = 0; f < sl->nfound; f++) {
        struct rt_node *n = sl->found[f];
        if (n->nps == 0)
            continue;               /* psubs may still be NULL */
        memcpy(e->m.psubs + e->m.n_psubs, rt_node_ps(n),
               n->nps * sizeof(*e->m.psubs));
        e->m.n_psubs += n->nps;
    }
    return nq ? rt_build_queues(sl, e, nq, nqs) : 0;
}

/* Uncached path: walk the trie and build a result, cached when enabled. */
static const struct rt_match *
rt_match_slow(struct rt_sublist *sl, const char *subj, uint32_t len,
              uint64_t h)
{
    int64_t nt = rt_tokenize(sl, subj, len);
    if (nt < 0)
        return NULL;
    if (nt == 0)
        return &rt_empty;
    if (rt_collect(sl, subj, (uint32_t)nt) < 0)
        return NULL;
    if (sl->cache_max == 0)
        return rt_build(sl, &sl->nocache) < 0 ? NULL : &sl->nocache.m;
    struct rt_centry *e = rt_cache_take(sl);
    if (rt_build(sl, e) < 0 ||
        rt_reserve(&e->key, &e->key_cap, len, 1) < 0) {
        rt_cache_put_free(sl, e);
        return NULL;
    }
    memcpy(e->key, subj, len);
    e->key_len = len;
    e->hash = h;
    rt_cache_link(sl, e);
    return &e->m;
}

const struct rt_match *
rt_sublist_match(struct rt_sublist *sl, const char *subject, uint32_t len)
{
    sl->matches++;
    if (subject == NULL || len == 0)
        return &rt_empty;
    uint64_t h = rt_hash(subject, len, sl->seed);
    if (sl->cache_max != 0) {
        struct rt_centry *e = rt_cache_find(sl, subject, len, h);
        if (e != NULL) {
            e->ref = 1;
            sl->hits++;
            return &e->m;
        }
    }
    return rt_match_slow(sl, subject, len, h);
}

/* ---- insert / remove --------------------------------------------------- */

int
rt_sublist_insert(struct rt_sublist *sl, struct rt_sub *s)
{
    if (sl == NULL || s == NULL ||
        !dt_subject_valid(s->subject, s->subject_len))
        return -EINVAL;
    if (s->queue_len != 0 && !dt_queue_valid(s->queue, s->queue_len))
        return -EINVAL;
    if (s->sl_owner != NULL)
        return -EEXIST;
    struct rt_node *n = sl->root;
    for (uint64_t i = 0; i <= s->subject_len; ) {
        uint32_t tl = (uint32_t)rt_toklen(s->subject + i,
                                          s->subject_len - i);
        struct rt_node *c = rt_node_child(sl, n, s->subject + i, tl);
        if (c == NULL) {
            rt_prune(sl, n);
            return -ENOMEM;
        }
        n = c;
        i += tl + 1;
    }
    int rc = s->queue_len ? rt_queue_add(n, s) : rt_plain_add(n, s);
    if (rc < 0) {
        rt_prune(sl, n);
        return rc;
    }
    sl->count++;
    sl->inserts++;
    rt_cache_on_change(sl, s, true);
    return 0;
}

int
rt_sublist_remove(struct rt_sublist *sl, struct rt_sub *s)
{
    if (sl == NULL || s == NULL || s->sl_owner == NULL)
        return -ENOENT;
    struct rt_node *n;
    if (s->queue_len != 0) {
        n = rt_queue_del(s);
        if (n == NULL)
            return -ENOENT;
    } else {
        n = s->sl_owner;
        if (rt_plain_del(n, s) < 0)
            return -ENOENT;
    }
    s->sl_owner = NULL;
    s->sl_idx = 0;
    sl->count--;
    sl->removes++;
    rt_prune(sl, n);
    rt_cache_on_change(sl, s, false);
    return 0;
}

/* ---- lifetime ---------------------------------------------------------- */

static uint64_t
rt_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
           (uint64_t)ts.tv_sec;
}

struct rt_sublist *
rt_sublist_new(uint32_t cache_max)
{
    struct rt_sublist *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return NULL;
    sl->seed = rt_seed();
    sl->free_head = RT_NONE;
    sl->cache_max = cache_max > RT_CACHE_MAX_LIMIT ? RT_CACHE_MAX_LIMIT
                                                   : cache_max;
    sl->root = rt_node_new(sl, NULL, "", 0, 0);
    if (sl->root == NULL)
        goto err;
    if (sl->cache_max != 0) {
        uint32_t ns = rt_pow2((uint64_t)sl->cache_max * 2);
        uint32_t nb = rt_pow2(sl->cache_max);
        sl->ents = calloc(sl->cache_max, sizeof(*sl->ents));
        sl->slots = calloc(ns, sizeof(*sl->slots));
        sl->bheads[0] = malloc(nb * sizeof(uint32_t));
        sl->bheads[1] = malloc(nb * sizeof(uint32_t));
        if (sl->ents == NULL || sl->slots == NULL || sl->bheads[0] == NULL ||
            sl->bheads[1] == NULL)
            goto err;
        memset(sl->bheads[0], 0xff, nb * sizeof(uint32_t));  /* RT_NONE */
        memset(sl->bheads[1], 0xff, nb * sizeof(uint32_t));
        sl->smask = ns - 1;
        sl->bmask = nb - 1;
    }
    return sl;
err:
    rt_sublist_free(sl);
    return NULL;
}

static void
rt_node_free(struct rt_node *n)
{
    while (n->queues != NULL)
        rt_queue_unlink(n, n->queues);
    if (n->ps_cap != 0)
        free(n->ps.many);
    free(n->kids);
    free(n);
}

/* Post-order teardown without recursion: descend into any remaining
 * child (detaching it), free a node once it has none, climb to parent.
 * A node's hash field is its cursor into its kids table. */
static void
rt_trie_free(struct rt_node *n)
{
    n->hash = 0;
    while (n != NULL) {
        struct rt_node *c = NULL;
        if (n->pwc != NULL) {
            c = n->pwc;
            n->pwc = NULL;
        } else if (n->fwc != NULL) {
            c = n->fwc;
            n->fwc = NULL;
        } else if (n->nkids != 0) {
            while (n->kids[n->hash].node == NULL)
                n->hash++;
            c = n->kids[n->hash].node;
            n->kids[n->hash].node = NULL;
            n->nkids--;
        }
        if (c != NULL) {
            c->hash = 0;
            n = c;
            continue;
        }
        struct rt_node *p = n->parent;
        rt_node_free(n);
        n = p;
    }
}

static void
rt_centry_free(struct rt_centry *e)
{
    free(e->key);
    free(e->m.psubs);
    free(e->m.qgroups);
    free(e->qs);
}

void
rt_sublist_free(struct rt_sublist *sl)
{
    if (sl == NULL)
        return;
    if (sl->root != NULL)
        rt_trie_free(sl->root);
    for (uint32_t i = 0; sl->ents != NULL && i < sl->hw; i++)
        rt_centry_free(&sl->ents[i]);
    rt_centry_free(&sl->nocache);
    free(sl->ents);
    free(sl->slots);
    free(sl->bheads[0]);
    free(sl->bheads[1]);
    free(sl->toks);
    free(sl->found);
    free(sl->stack);
    free(sl->qtab);
    free(sl->qgi);
    free(sl);
}

void
rt_sublist_stats(const struct rt_sublist *sl, struct rt_sublist_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (sl == NULL)
        return;
    st->count = sl->count;
    st->cache_entries = sl->cache_used;
    st->inserts = sl->inserts;
    st->removes = sl->removes;
    st->matches = sl->matches;
    st->cache_hits = sl->hits;
    st->nodes = sl->nodes;
}
