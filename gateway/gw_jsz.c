/*
 * gw_jsz.c -- JetStream monitoring: /jsz and the "jetstream" member of
 * /varz, with nats-server 2.9.10's members, from the counters the storage
 * process keeps in shm_js_stats.
 *
 * NOTES
 *   One account ($G) and no clustering: accounts is 1 (0 when JetStream
 *   is off), ha_assets is 0; reserved_* are the streams' max_bytes.  The counters are as fresh
 *   as the storage process's last update (every 250 ms).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dt_json.h"
#include "gw_http.h"

static uint64_t
ld(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void
js_config(struct dt_jw *w, const struct shm_settings *s)
{
    bool on = s->jetstream;
    dt_jw_key(w, "config");
    dt_jw_begin_object(w);
    dt_jw_kint(w, "max_memory", on ? s->js_max_memory : 0);
    dt_jw_kint(w, "max_storage", on ? s->js_max_store : 0);
    if (on) {
        char dir[sizeof(s->store_dir) + 16];
        snprintf(dir, sizeof(dir), "%.*s/dialtone",
                 (int)strnlen(s->store_dir, sizeof(s->store_dir)),
                 s->store_dir);
        dt_jw_kstr(w, "store_dir", dir);
    }
    dt_jw_end_object(w);
}

/* memory ... api: the members /jsz and /varz's "stats" share */
static void
js_usage(struct dt_jw *w, const struct shm_js_stats *st, bool on)
{
    dt_jw_kuint(w, "memory", ld(&st->memory));
    dt_jw_kuint(w, "storage", ld(&st->store));
    dt_jw_kuint(w, "reserved_memory", ld(&st->reserved_memory));
    dt_jw_kuint(w, "reserved_storage", ld(&st->reserved_store));
    dt_jw_kint(w, "accounts", on ? 1 : 0);
    dt_jw_kint(w, "ha_assets", 0);
    dt_jw_key(w, "api");
    dt_jw_begin_object(w);
    dt_jw_kuint(w, "total", ld(&st->api_total));
    dt_jw_kuint(w, "errors", ld(&st->api_errors));
    dt_jw_end_object(w);
}

void
gw_jsz_varz(struct dt_jw *w, const struct shm_handle *h)
{
    const struct shm_settings *s = &h->hdr->settings;
    dt_jw_key(w, "jetstream");
    dt_jw_begin_object(w);
    if (s->jetstream) {
        js_config(w, s);
        dt_jw_key(w, "stats");
        dt_jw_begin_object(w);
        js_usage(w, shm_js_stats(h), true);
        dt_jw_end_object(w);
    }
    dt_jw_end_object(w);
}

void
gw_jsz_body(struct dt_jw *w, const struct shm_handle *h)
{
    const struct shm_settings *s = &h->hdr->settings;
    const struct shm_js_stats *st = shm_js_stats(h);
    if (!s->jetstream)      /* nats-server says so and prints zeros */
        dt_jw_kbool(w, "disabled", true);
    js_config(w, s);
    js_usage(w, st, s->jetstream);
    dt_jw_kuint(w, "streams", ld(&st->streams));
    dt_jw_kuint(w, "consumers", ld(&st->consumers));
    dt_jw_kuint(w, "messages", ld(&st->messages));
    dt_jw_kuint(w, "bytes", ld(&st->bytes));
}
