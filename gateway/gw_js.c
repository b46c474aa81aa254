/*
 * gw_js.c -- the gateway's side of the direct path to the storage
 * process: publishes on the subjects storage subscribes to (streams,
 * $JS.API, acks) go into this gateway's direct ring to storage instead of
 * through the router (shm_direct.h), matched against storage's own list
 * of subjects (shm_js_subjects.h).
 *
 * NOTES
 *   Until storage has published its list (or when the list overflowed)
 *   nothing is sent directly and storage's interest keeps every publish
 *   on the router, as before.
 *   Order: every entry carries a mark (SHM_DIRECT_MARK): the position of
 *   our ring to the router after the last thing storage must see first
 *   (a subscription change, which the router forwards to storage; every
 *   publish made while we could not tell storage's subjects; everything
 *   before storage's list changed).  A client's SUB before its request,
 *   and its publishes before and after a new stream, keep their order.
 *   Full: a publisher whose message finds the direct ring or arena full
 *   waits (its connection stops being read, as when the fabric to the
 *   router is full) while storage is alive; once storage has not turned
 *   its loop for STORAGE_STUCK_NS the message is dropped (counted,
 *   logged), as the router drops what a stuck storage port would not
 *   take: a dead storage process must not stop the gateway's clients.
 *   Unacknowledged, so JetStream publishers retry.
 *   Too big for the direct arena (over half of it): through the router,
 *   once everything sent directly before has been taken (order).
 */
#include <stdlib.h>

#include "dt_log.h"
#include "gw.h"
#include "rt_sublist.h"
#include "shm_direct.h"

#define STORAGE_STUCK_NS (2ull * 1000000000ull)

void
gw_js_init(struct gw_worker *w)
{
    const struct shm_handle *h = &w->ch.h;
    unsigned sp = w->hdr->storage_port;
    if (sp == SHM_NO_PORT || w->ch.n_efd <= 1 + sp)
        return;
    shm_direct_init(&w->js_in, h, shm_direct_from_gw(w->hdr, w->index), sp,
                    w->ch.efd[1 + sp]);
    w->js_mark = w->prod.push_mark;     /* compared as a difference */
    w->js_table = shm_js_subjects(h);
}

void
gw_js_free(struct gw_worker *w)
{
    rt_sublist_free(w->js_subs);
    free(w->js_sub_arr);
    shm_js_subjects_copy_free(&w->js_copy);
}

/* Index the copy of storage's subjects; false when out of memory. */
static bool
index_subjects(struct gw_worker *w)
{
    struct shm_js_subjects_copy *c = &w->js_copy;
    struct rt_sublist *sl = rt_sublist_new(1024);
    struct rt_sub *arr = calloc(c->count ? c->count : 1, sizeof(*arr));
    if (sl == NULL || arr == NULL) {
        rt_sublist_free(sl);
        free(arr);
        return false;
    }
    const char *p = c->data;
    for (uint32_t i = 0; i < c->count; i++) {
        size_t n = strlen(p);
        arr[i].subject = p;
        arr[i].subject_len = (uint32_t)n;
        if (rt_sublist_insert(sl, &arr[i]) < 0)
            dt_debug("storage subject %s not indexed", p);
        p += n + 1;
    }
    rt_sublist_free(w->js_subs);
    free(w->js_sub_arr);
    w->js_subs = sl;
    w->js_sub_arr = arr;
    return true;
}

void
gw_js_refresh(struct gw_worker *w)
{
    if (w->js_table == NULL)
        return;
    int rc = shm_js_subjects_read(w->js_table, &w->js_copy);
    if (rc <= 0)
        return;
    if (w->js_copy.usable && !index_subjects(w))
        w->js_copy.usable = false;
    /* whatever went to the router before may have been storage's */
    w->js_mark = w->prod.push_mark;
}

bool
gw_js_usable(const struct gw_worker *w)
{
    return w->js_copy.usable;
}

bool
gw_js_wants(struct gw_worker *w, const struct gw_op *op)
{
    if (!w->js_copy.usable)
        return false;
    const struct rt_match *m = rt_sublist_match(w->js_subs, op->subject.p,
                                                op->subject.len);
    return m != NULL && m->n_psubs > 0;
}

static bool
storage_stuck(const struct gw_worker *w)
{
    uint64_t beat = atomic_load_explicit(&w->js_in.db->heartbeat_ns,
                                         memory_order_relaxed);
    return w->turn_ns > beat + STORAGE_STUCK_NS;
}

enum gw_js_way
gw_js_way(struct gw_worker *w, uint32_t len)
{
    if (!shm_direct_fits(&w->js_in, len)) {
        bool drained = shm_ring_applied_pos(&w->js_in.ring) ==
                       shm_ring_producer_pos(&w->js_in.ring);
        return drained ? GW_JS_ROUTER : GW_JS_WAIT;
    }
    if (shm_direct_has_room(&w->js_in, len))
        return GW_JS_DIRECT;
    if (!storage_stuck(w))
        return GW_JS_WAIT;
    if ((w->js_dropped++ & 0xffff) == 0)
        dt_warn("the storage process has stopped taking publishes; %llu "
                "dropped", (unsigned long long)w->js_dropped);
    return GW_JS_DROP;
}

void
gw_js_note_router(struct gw_worker *w)
{
    w->js_mark = w->prod.push_mark;
}

void
gw_js_send(struct gw_worker *w, struct gw_conn *c, const struct gw_op *op,
           uint16_t flags)
{
    uint32_t len = (uint32_t)sizeof(struct shm_msg) + op->subject.len +
                   op->reply.len + op->headers.len + op->payload.len;
    struct shm_desc d = {
        .kind = SHM_D_PUB, .flags = flags, .src_gw = (uint16_t)w->index,
        .conn = c->slot, .conn_gen = c->gen,
    };
    d.reserved[SHM_DIRECT_MARK] = w->js_mark;
    struct shm_msg *m = shm_direct_reserve(&w->js_in, &d, len);
    if (m == NULL)
        return;     /* gw_js_way() said there was room: not reached */
    gw_msg_write(m, op);
    shm_direct_push(&w->js_in, &d);
}

void
gw_js_wake(struct gw_worker *w)
{
    if (w->js_table != NULL)
        shm_direct_wake(&w->js_in);
}
