/*
 * gw_ldm.c -- lame duck mode on a gateway worker, as nats-server does it:
 * on the master's Drain the worker stops accepting (closes its listening
 * socket), sends every client an INFO with "ldm":true (clients that know
 * it move to another server), and after lame_duck_grace_period evicts
 * its clients one at a time, spread over lame_duck_duration but never
 * more than 1 s apart.  The master stops the server once no client is
 * left.
 */
#include <sys/epoll.h>
#include <unistd.h>

#include "dt_log.h"
#include "gw.h"

#define LDM_MAX_GAP_NS (1000ull * 1000000ull)

void
gw_ldm_begin(struct gw_worker *w)
{
    if (w->ldm)
        return;
    w->ldm = true;
    if (w->ch.listen_fd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->ch.listen_fd, NULL);
        close(w->ch.listen_fd);
        w->ch.listen_fd = -1;
    }
    uint64_t n = 0;
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c == NULL || c->closing)
            continue;
        gw_proto_send_info(w, c);     /* now with "ldm":true */
        n++;
    }
    const struct shm_settings *s = w->set;
    uint64_t gap = n ? s->ldm_duration_ms * 1000000ull / n : LDM_MAX_GAP_NS;
    w->ldm_gap_ns = gap < LDM_MAX_GAP_NS ? gap : LDM_MAX_GAP_NS;
    w->ldm_next_ns = w->turn_ns + s->ldm_grace_ms * 1000000ull;
    dt_info("lame duck mode: %llu clients to evict",
            (unsigned long long)n);
}

void
gw_ldm_tick(struct gw_worker *w, uint64_t now)
{
    if (!w->ldm || now < w->ldm_next_ns)
        return;
    w->ldm_next_ns = now + w->ldm_gap_ns;
    for (uint32_t i = 0; i < w->max_conns; i++) {
        struct gw_conn *c = w->conns[i];
        if (c != NULL && !c->closing) {
            gw_conn_close(w, c, "Server Shutdown");
            return;
        }
    }
}
