/*
 * mst_reload.c -- config reload (SIGHUP, `--signal reload`): load the
 * configuration again (same flags, same -c file), and if every option
 * that changed is one the gateway workers read from the fabric at use
 * (limits, timeouts, lame duck settings), write the new values there;
 * otherwise change nothing and say which option stands in the way, as
 * nats-server does ("config reload not supported for ...").
 *
 * NOTES
 *   Applied values are 4- and 8-byte fields, each stored whole; the
 *   gateways pick them up for new connections (parser limits, buffers,
 *   pings) and at once where they are read per use (max_pending,
 *   max_connections, max_subscriptions); every process follows debug and
 *   trace from there (dt_log_follow).  Strings (credentials, names, the
 *   log file) and what the other processes read only at start (ports,
 *   JetStream) are not reloadable yet.
 */
#include "mst_reload.h"

#include <stdlib.h>
#include <string.h>

#include "dt_log.h"

static bool
reloadable(const struct mst_option *r)
{
    return r->home == MST_HOME_SHM && r->change == MST_CHANGE_HOT &&
           (r->owner == MST_SUB_GATEWAY || r->owner == MST_SUB_ALL) &&
           r->type != MST_OT_STRING && (r->size == 4 || r->size == 8);
}

static const char *
name_of(const struct mst_option *r)
{
    return r->keys[0] ? r->keys[0] : r->flags[0];
}

int
mst_reload(struct mst_options *running, struct shm_settings *live,
           int argc, char **argv)
{
    struct mst_options *fresh = malloc(sizeof(*fresh));
    char err[512];
    if (fresh == NULL)
        return -1;
    int rc = mst_options_load(fresh, argc, argv, err, sizeof(err));
    if (rc < 0) {
        dt_error("Failed to reload server configuration: %s", err);
        free(fresh);
        return -1;
    }
    mst_options_keep_identity(fresh, running);
    const struct mst_option *r = mst_options_changed(running, fresh, NULL);
    while (r != NULL && reloadable(r))
        r = mst_options_changed(running, fresh, r);
    if (r != NULL) {
        dt_error("Failed to reload server configuration: config reload not "
                 "supported for %s", name_of(r));
        free(fresh);
        return -1;
    }
    /* every change is reloadable now: apply them, each field whole */
    for (r = mst_options_changed(running, fresh, NULL); r != NULL;
         r = mst_options_changed(running, fresh, r)) {
        const void *v = mst_option_field(fresh, r);
        void *dst = (char *)live + r->off;
        if (r->size == 8)
            __atomic_store_n((uint64_t *)dst, *(const uint64_t *)v,
                             __ATOMIC_RELEASE);
        else
            __atomic_store_n((uint32_t *)dst, *(const uint32_t *)v,
                             __ATOMIC_RELEASE);
        memcpy(mst_option_field(running, r), v, r->size);
        dt_info("Reloaded: %s", name_of(r));
    }
    free(fresh);
    dt_info("Reloaded server configuration");
    return 0;
}
