/*
 * rt_interest.c -- who subscribed what (see rt_interest.h): per-port
 * connection tables of subscriptions and the sublist built from them.
 */
#include "rt_interest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dt_log.h"

static void
free_sub(struct rt_interest *in, struct rt_conn *rc, uint32_t idx)
{
    struct rt_sub *s = rc->subs[idx];
    if (s == NULL)
        return;
    rt_sublist_remove(in->sl, s);
    rc->subs[idx] = NULL;
    rc->count--;
    free(s);
}

static void
clear_conn(struct rt_interest *in, struct rt_conn *rc)
{
    for (uint32_t i = 0; i < rc->cap && rc->count; i++)
        free_sub(in, rc, i);
    free(rc->subs);
    rc->subs = NULL;
    rc->cap = rc->count = 0;
}

static struct rt_conn *
conn_of(struct rt_interest *in, unsigned port, uint32_t conn, uint32_t gen)
{
    if (port >= in->nports || conn >= in->max_conns)
        return NULL;
    struct rt_conn *rc = &in->conns[port][conn];
    if (rc->gen != gen) {
        /* the slot was reused and we missed its close: forget the old */
        clear_conn(in, rc);
        rc->gen = gen;
    }
    return rc;
}

static int
grow_conn(struct rt_conn *rc, uint32_t idx)
{
    if (idx < rc->cap)
        return 0;
    uint32_t n = rc->cap ? rc->cap : 8;
    while (n <= idx)
        n *= 2;
    struct rt_sub **p = realloc(rc->subs, n * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    memset(p + rc->cap, 0, (n - rc->cap) * sizeof(*p));
    rc->subs = p;
    rc->cap = n;
    return 0;
}

static void
apply_sub(struct rt_interest *in, unsigned port, const Dialtone__Sub *m)
{
    struct rt_conn *rc = conn_of(in, port, m->conn, m->conn_gen);
    uint32_t idx = m->sub_id & RT_SUB_INDEX_MASK;
    if (rc == NULL || grow_conn(rc, idx) < 0)
        return;
    size_t sl = strlen(m->subject), ql = strlen(m->queue);
    const struct rt_sub *old = rc->subs[idx];
    if (old && old->sub_id == m->sub_id && old->subject_len == sl &&
        old->queue_len == ql && memcmp(old->subject, m->subject, sl) == 0 &&
        (ql == 0 || memcmp(old->queue, m->queue, ql) == 0))
        return;     /* announced again (a replica is being rebuilt) */
    free_sub(in, rc, idx);
    struct rt_sub *s = calloc(1, sizeof(*s) + sl + ql + 2);
    if (s == NULL)
        return;
    char *p = (char *)(s + 1);
    memcpy(p, m->subject, sl + 1);
    memcpy(p + sl + 1, m->queue, ql + 1);
    s->subject = p;
    s->subject_len = (uint32_t)sl;
    s->queue = ql ? p + sl + 1 : NULL;
    s->queue_len = (uint32_t)ql;
    s->gw = (uint16_t)port;
    s->conn = m->conn;
    s->conn_gen = m->conn_gen;
    s->sub_id = m->sub_id;
    if (rt_sublist_insert(in->sl, s) < 0) {
        dt_warn("rejected subscription to '%s' from port %u", p, port);
        free(s);
        return;
    }
    rc->subs[idx] = s;
    rc->count++;
}

static void
apply_unsub(struct rt_interest *in, unsigned port, const Dialtone__Unsub *m)
{
    struct rt_conn *rc = conn_of(in, port, m->conn, m->conn_gen);
    uint32_t idx = m->sub_id & RT_SUB_INDEX_MASK;
    if (rc && idx < rc->cap && rc->subs[idx] &&
        rc->subs[idx]->sub_id == m->sub_id)
        free_sub(in, rc, idx);
}

void
rt_interest_reset_port(struct rt_interest *in, unsigned port)
{
    if (port >= in->nports)
        return;
    for (uint32_t c = 0; c < in->max_conns; c++)
        clear_conn(in, &in->conns[port][c]);
}

int
rt_interest_apply(struct rt_interest *in, unsigned port,
                  const Dialtone__Control *m)
{
    switch (m->body_case) {
    case DIALTONE__CONTROL__BODY_SUB:
        apply_sub(in, port, m->sub);
        break;
    case DIALTONE__CONTROL__BODY_UNSUB:
        apply_unsub(in, port, m->unsub);
        break;
    case DIALTONE__CONTROL__BODY_CONN_CLOSED: {
        struct rt_conn *rc = conn_of(in, port, m->conn_closed->conn,
                                     m->conn_closed->conn_gen);
        if (rc)
            clear_conn(in, rc);
        break;
    }
    case DIALTONE__CONTROL__BODY_RESET:
        if (!m->reset->complete)
            rt_interest_reset_port(in, port);
        break;
    default:
        break;
    }
    return (int)m->body_case;
}

int
rt_interest_init(struct rt_interest *in, unsigned nports, uint32_t max_conns,
                 uint32_t cache_size)
{
    memset(in, 0, sizeof(*in));
    if (nports > SHM_MAX_GATEWAYS)
        return -EINVAL;
    in->nports = nports;
    in->max_conns = max_conns;
    in->sl = rt_sublist_new(cache_size);
    if (in->sl == NULL)
        return -ENOMEM;
    for (unsigned p = 0; p < nports; p++) {
        in->conns[p] = calloc(max_conns, sizeof(struct rt_conn));
        if (in->conns[p] == NULL)
            return -ENOMEM;
    }
    return 0;
}

void
rt_interest_free(struct rt_interest *in)
{
    for (unsigned p = 0; p < in->nports; p++) {
        if (in->conns[p])
            rt_interest_reset_port(in, p);
        free(in->conns[p]);
        in->conns[p] = NULL;
    }
    rt_sublist_free(in->sl);
    in->sl = NULL;
}
