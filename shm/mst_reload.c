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

static void *
field_of(struct mst_options *o, const struct mst_option *r)
{
    if (r->home == MST_HOME_SHM)
        return (char *)&o->s + r->off;
    return (char *)o + r->off;
}

static bool
reloadable(const struct mst_option *r)
{
    return r->home == MST_HOME_SHM && r->change == MST_CHANGE_HOT &&
           (r->owner == MST_SUB_GATEWAY || r->owner == MST_SUB_ALL) &&
           r->type != MST_OT_STRING && (r->size == 4 || r->size == 8);
}

/* The first option that changed and cannot be applied, or NULL. */
static const struct mst_option *
blocker(struct mst_options *old_o, struct mst_options *new_o)
{
    for (size_t i = 0; i < mst_option_count; i++) {
        const struct mst_option *r = &mst_option_table[i];
        if (r->home == MST_HOME_NONE || r->size == 0)
            continue;
        if (memcmp(field_of(old_o, r), field_of(new_o, r), r->size) != 0 &&
            !reloadable(r))
            return r;
    }
    return NULL;
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
    const struct mst_option *r = blocker(running, fresh);
    if (r != NULL) {
        dt_error("Failed to reload server configuration: config reload not "
                 "supported for %s", name_of(r));
        free(fresh);
        return -1;
    }
    for (size_t i = 0; i < mst_option_count; i++) {
        const struct mst_option *o = &mst_option_table[i];
        if (!reloadable(o) ||
            memcmp(field_of(running, o), field_of(fresh, o), o->size) == 0)
            continue;
        void *dst = (char *)live + o->off;
        if (o->size == 8)
            __atomic_store_n((uint64_t *)dst, *(uint64_t *)field_of(fresh, o),
                             __ATOMIC_RELEASE);
        else
            __atomic_store_n((uint32_t *)dst, *(uint32_t *)field_of(fresh, o),
                             __ATOMIC_RELEASE);
        memcpy(field_of(running, o), field_of(fresh, o), o->size);
        dt_info("Reloaded: %s", name_of(o));
    }
    free(fresh);
    dt_info("Reloaded server configuration");
    return 0;
}
