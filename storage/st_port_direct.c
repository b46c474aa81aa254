/*
 * st_port_direct.c -- publishes that gateways send straight to the
 * storage port (shm_direct.h), and what makes that possible: our own
 * subscriptions indexed here (to find which of them a publish is for, as
 * the router would) and published as a list of subjects for the gateways
 * (shm_js_subjects.h).
 *
 * NOTES
 *   Order: an entry is taken only once the router has applied its
 *   gateway's ring up to the entry's mark, and after draining what the
 *   router gave us until then; otherwise the port is `deferred` and the
 *   loop looks again shortly (the router does not wake us for it).
 *   A publish none of our subscriptions wants (a stream deleted while the
 *   gateway still had the old list) is dropped; a request among those is
 *   told 503 (no responders), as the router would have.
 */
#include "st_port.h"

#include <errno.h>
#include <stdlib.h>

#include "dt_log.h"
#include "rt_sublist.h"
#include "shm_js_subjects.h"

#define OWN_CACHE 1024
#define MAX_TARGETS 16      /* our subscriptions matching one subject */

int
st_port_own_init(struct st_port *p)
{
    const struct shm_handle *h = &p->ch->h;
    for (unsigned g = 0; g < p->hdr->gateways; g++)
        shm_direct_consumer_init(&p->from_gw[g], h,
                                 shm_direct_from_gw(p->hdr, g));
    p->own = rt_sublist_new(OWN_CACHE);
    p->own_dirty = true;
    return p->own ? 0 : -ENOMEM;
}

void
st_port_own_free(struct st_port *p)
{
    for (uint32_t i = 0; i < p->nsubs; i++)
        st_port_own_del(p, &p->subs[i]);
    rt_sublist_free(p->own);
    p->own = NULL;
}

int
st_port_own_set(struct st_port *p, struct st_port_sub *s)
{
    st_port_own_del(p, s);
    struct rt_sub *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->subject = s->subject;
    r->subject_len = (uint32_t)strlen(s->subject);
    r->gw = (uint16_t)p->index;
    r->conn = ST_PORT_CONN;
    r->conn_gen = p->gen;
    r->sub_id = s->id;
    int rc = rt_sublist_insert(p->own, r);
    if (rc < 0) {
        free(r);
        return rc;
    }
    s->own = r;
    p->own_dirty = true;
    return 0;
}

void
st_port_own_del(struct st_port *p, struct st_port_sub *s)
{
    if (s->own == NULL)
        return;
    rt_sublist_remove(p->own, s->own);
    free(s->own);
    s->own = NULL;
    p->own_dirty = true;
}

void
st_port_own_publish(struct st_port *p)
{
    if (!p->own_dirty || p->hdr->storage_port == SHM_NO_PORT)
        return;
    const char **subjects = malloc((p->nsubs + 1) * sizeof(*subjects));
    size_t *lens = malloc((p->nsubs + 1) * sizeof(*lens));
    if (subjects != NULL && lens != NULL) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < p->nsubs; i++)
            if (p->subs[i].own != NULL) {
                subjects[n] = p->subs[i].subject;
                lens[n++] = strlen(p->subs[i].subject);
            }
        shm_js_subjects_write(shm_js_subjects(&p->ch->h), subjects, lens, n);
        p->own_dirty = false;
    }
    free(subjects);
    free(lens);
}

/* 503 to a request nobody here takes, as the router would answer it. */
static void
no_responders(struct st_port *p, const char *reply, uint32_t reply_len)
{
    static const char status[] = "NATS/1.0 503\r\n\r\n";
    st_port_publish(p, reply, reply_len, NULL, 0, NULL, 0, status,
                    sizeof(status) - 1, NULL, 0);
}

/* One publish from gateway g: to every subscription of ours it matches. */
static void
take_publish(struct st_port *p, const struct shm_desc *d,
             struct shm_chunk *c)
{
    struct st_port_msg v;
    if (d->kind != SHM_D_PUB || !st_port_msg_of(d, c, &v)) {
        p->dropped++;
        return;
    }
    /* ids first: a handler may subscribe or unsubscribe (a new stream) */
    uint32_t ids[MAX_TARGETS], n = 0;
    const struct rt_match *res = rt_sublist_match(p->own, v.subj, v.subj_len);
    for (uint32_t i = 0; res != NULL && i < res->n_psubs; i++) {
        if (n == MAX_TARGETS) {
            /* streams never overlap: only a bug gets here */
            dt_warn("storage: %.*s matches over %d of our subscriptions; "
                    "the rest skipped", (int)v.subj_len, v.subj,
                    MAX_TARGETS);
            break;
        }
        ids[n++] = res->psubs[i]->sub_id;
    }
    for (uint32_t i = 0; i < n; i++)
        p->on_msg(p->arg, ids[i], v.subj, v.subj_len, v.reply, v.reply_len,
                  v.hdr, v.hdr_len, v.data, v.data_len);
    if (n == 0 && v.reply_len && (d->flags & SHM_DF_NORESP_OK))
        no_responders(p, v.reply, v.reply_len);
}

/* May gateway g's next entry (mark) be taken: has the router applied
 * everything the gateway pushed to it before? */
static bool
router_caught_up(struct st_port *p, unsigned g, const struct shm_desc *d)
{
    const struct shm_ring *in = shm_in_ring(&p->ch->h, g);
    uint32_t applied = atomic_load_explicit(&in->applied,
                                            memory_order_acquire);
    return (int32_t)(applied - (uint32_t)d->reserved[SHM_DIRECT_MARK]) >= 0;
}

unsigned
st_port_drain_direct(struct st_port *p, unsigned max)
{
    unsigned n = 0;
    p->deferred = false;
    for (unsigned g = 0; g < p->hdr->gateways && n < max; g++) {
        struct shm_ring_handle *rh = &p->from_gw[g];
        unsigned took = 0;
        struct shm_desc d;
        while (n < max && shm_direct_peek(rh, &d)) {
            if (!router_caught_up(p, g, &d)) {
                p->deferred = true;
                break;
            }
            st_port_drain_router(p, max);
            shm_ring_pop(rh, &d);
            struct shm_chunk *c = shm_chunk_of(&p->ch->h, &d);
            if (c != NULL)
                take_publish(p, &d, c);
            else
                p->dropped++;
            took++;
            n++;
        }
        if (took)
            shm_ring_mark_applied(rh);
    }
    return n;
}

bool
st_port_direct_pending(struct st_port *p)
{
    if (p->deferred)
        return false;       /* the loop polls for those */
    for (unsigned g = 0; g < p->hdr->gateways; g++)
        if (shm_ring_count(&p->from_gw[g]))
            return true;
    return false;
}
