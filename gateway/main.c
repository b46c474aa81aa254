/*
 * main.c -- `dialtone-gateway`: one worker process, started by the master.
 */
#include <signal.h>
#include <stdio.h>

#include "dt_log.h"
#include "gw.h"
#include "shm_direct.h"

static struct gw_worker worker;

static int
worker_init(struct gw_worker *w)
{
    struct shm_handle *h = &w->ch.h;
    w->index = w->ch.index;
    if (w->index >= h->hdr->gateways || w->ch.listen_fd < 0 ||
        w->ch.n_efd < 1 + h->hdr->gateways)
        return -1;
    w->hdr = h->hdr;
    w->set = &h->hdr->settings;
    shm_producer_init(&w->prod, h, w->index, w->ch.efd[0]);
    shm_ring_handle_init(&w->out, h, shm_out_ring(h, w->index));
    w->has_direct = h->hdr->storage_port != SHM_NO_PORT;
    if (w->has_direct)
        shm_direct_consumer_init(&w->direct, h, shm_direct_to_gw(w->index));
    w->db = shm_doorbell_of(h, 1 + w->index);
    w->db->pid = (uint32_t)getpid();
    if (gw_worker_init_conns(w) < 0 || gw_local_init(w) < 0 ||
        gw_loop_init(w) < 0)
        return -1;
    gw_js_init(w);
    gw_deliver_discard_all(w);
    return 0;
}

int
main(int argc, char **argv)
{
    dt_child_signals(&worker.stop);
    char tag[32];
    snprintf(tag, sizeof(tag), "gateway");
    if (dt_child_init(&worker.ch, argc, argv, DIALTONE__SUBSYSTEM__GATEWAY,
                      tag) < 0)
        return 2;
    snprintf(tag, sizeof(tag), "gateway %u", worker.ch.index);
    dt_log_set_tag(tag);
    if (worker_init(&worker) < 0) {
        dt_error("cannot start: bad arguments or out of memory");
        return 2;
    }
    int rc = gw_loop_run(&worker);
    gw_js_free(&worker);
    return rc;
}
