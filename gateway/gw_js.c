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
 *   Full: a direct ring or arena that is full drops the message (counted,
 *   logged): a storage process that stopped reading must not stop this
 *   gateway's clients, as the router drops what a stuck storage port
 *   would not take.  Unacknowledged, so JetStream publishers retry.
 */
#include <stdlib.h>

#include "dt_log.h"
#include "gw.h"
#include "rt_sublist.h"
#include "shm_direct.h"

void
gw_js_init(struct gw_worker *w)
{
    const struct shm_handle *h = &w->ch.h;
    unsigned sp = w->hdr->storage_port;
    if (sp == SHM_NO_PORT || w->ch.n_efd <= 1 + sp)
        return;
    shm_direct_init(&w->js_in, h, shm_direct_from_gw(w->hdr, w->index), sp,
                    w->ch.efd[1 + sp]);
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
    if (m == NULL) {
        if ((w->js_dropped++ & 0xffff) == 0)
            dt_warn("the storage process is not taking publishes; %llu "
                    "dropped", (unsigned long long)w->js_dropped);
        return;
    }
    gw_msg_write(m, op);
    shm_direct_push(&w->js_in, &d);
}

void
gw_js_wake(struct gw_worker *w)
{
    if (w->js_table != NULL)
        shm_direct_wake(&w->js_in);
}
