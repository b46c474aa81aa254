/*
 * mst_options.c -- the option table and the loader (see mst_options.h).
 *
 * Loading happens in four steps, mirroring nats-server 2.9.10:
 *   1. parse the command line (Go `flag` rules: one or two dashes, `-x v`,
 *      `-x=v`, booleans take only `=v`, parsing stops at the first
 *      non-flag, which must then be the command "version" or "help");
 *   2. defaults;
 *   3. the config file named by -c, applied in file order;
 *   4. the flags again, so that every flag given beats the file.
 * Integer, boolean and duration values are first collected per table row
 * in a staging area and written to their fields at the end, so that
 * "0 means default", ranges and cross-option rules are checked once,
 * against the final value, with the place it came from in the message.
 *
 * NOTES
 *   No globals besides the constant table; callers own all memory.
 *   Every string field is bounded by its array; longer values are
 *   errors, never truncated.
 */
#include "mst_options.h"

#include "mst_conf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#define SHM(f)  .home = MST_HOME_SHM, .off = offsetof(struct shm_settings, f), \
                .size = sizeof(((struct shm_settings *)0)->f)
#define MST(f)  .home = MST_HOME_MASTER, .off = offsetof(struct mst_options, f), \
                .size = sizeof(((struct mst_options *)0)->f)

#define I32MAX  ((int64_t)INT32_MAX)
#define MS(s)   ((int64_t)(s) * 1000)
#define DUR_MAX MS(86400LL * 365)   /* a year: anything longer is a typo */

#define REFUSE(...) .type = MST_OT_REFUSED, .owner = MST_SUB_ALL, \
                    .change = MST_CHANGE_RESTART, __VA_ARGS__

/* The one table.  Order within a section is the order of -h. */
const struct mst_option mst_option_table[] = {
    /* ---- server ---- */
    { .keys = {"host", "net"}, .flags = {"a", "addr", "net"}, .arg = "host",
      .type = MST_OT_STRING, SHM(host), .def_str = "0.0.0.0",
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_SUBSYS,
      .section = MST_SEC_SERVER,
      .help = "Bind to host address (default: 0.0.0.0)" },
    { .keys = {"port"}, .flags = {"p", "port"}, .arg = "port",
      .type = MST_OT_INT, SHM(port), .def = 4222, .min = -1, .max = 65535,
      .flags_mask = MST_OF_ZERO_DEFAULT | MST_OF_PORT,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_SUBSYS,
      .section = MST_SEC_SERVER,
      .help = "Use port for clients (default: 4222, -1: any free port)" },
    { .keys = {"listen"}, .type = MST_OT_HOSTPORT, SHM(host),
      .port_opt = "port", .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_SUBSYS, .section = MST_SEC_SERVER,
      .help = "Client listen address, \"host:port\" or a port" },
    { .keys = {"server_name"}, .flags = {"n", "name", "server_name"},
      .arg = "server_name", .type = MST_OT_STRING, SHM(server_name),
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_SUBSYS,
      .section = MST_SEC_SERVER, .help = "Server name (default: auto)" },
    { .keys = {"pid_file", "pidfile"}, .flags = {"P", "pid"}, .arg = "file",
      .type = MST_OT_STRING, MST(pid_file), .owner = MST_SUB_MASTER,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "File to store PID" },
    { .keys = {"http_port", "monitor_port"}, .flags = {"m", "http_port"},
      .arg = "port", .type = MST_OT_INT, SHM(http_port), .def = 0,
      .min = 0, .max = 65535, .flags_mask = MST_OF_NORANDOM,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_SUBSYS,
      .section = MST_SEC_SERVER, .help = "Use port for http monitoring" },
    { .keys = {"http"}, .type = MST_OT_HOSTPORT, MST(http_host),
      .port_opt = "http_port", .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_SUBSYS, .section = MST_SEC_SERVER,
      .help = "Monitoring listen address, \"host:port\" or a port" },
    { .flags = {"c", "config"}, .arg = "file", .type = MST_OT_STRING,
      MST(config_file), .owner = MST_SUB_MASTER,
      .change = MST_CHANGE_RESTART, .section = MST_SEC_SERVER,
      .help = "Configuration file" },
    { .flags = {"t"}, .type = MST_OT_BOOL, MST(test_config),
      .owner = MST_SUB_MASTER, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_SERVER, .help = "Test configuration and exit" },
    { .keys = {"max_payload"}, .type = MST_OT_INT, SHM(max_payload),
      .def = 1 << 20, .min = 0, .max = I32MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "Largest message payload in bytes (default: 1MB)" },
    { .keys = {"max_pending"}, .type = MST_OT_INT, SHM(max_pending),
      .def = 64 << 20, .min = 0, .max = INT64_MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "Bytes buffered per client before it is a slow consumer "
              "(default: 64MB)" },
    { .keys = {"max_control_line"}, .type = MST_OT_INT,
      SHM(max_control_line), .def = 4096, .min = 0, .max = I32MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "Longest protocol line in bytes (default: 4096)" },
    { .keys = {"max_connections", "max_conn"}, .type = MST_OT_INT,
      SHM(max_connections), .def = 65536, .min = 0, .max = I32MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "Client connections allowed (default: 65536)" },
    { .keys = {"max_subscriptions", "max_subs"}, .type = MST_OT_INT,
      SHM(max_subscriptions), .def = 0, .min = 0, .max = I32MAX,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_SERVER,
      .help = "Subscriptions per connection (default: 0, unlimited)" },
    { .keys = {"ping_interval"}, .type = MST_OT_DURATION,
      SHM(ping_interval_ms), .def = MS(120), .min = 0, .max = DUR_MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "Interval between server pings (default: 2m)" },
    { .keys = {"ping_max"}, .type = MST_OT_INT, SHM(ping_max), .def = 2,
      .min = 0, .max = I32MAX, .flags_mask = MST_OF_ZERO_DEFAULT,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_SERVER,
      .help = "Unanswered pings before closing (default: 2)" },
    { .keys = {"write_deadline"}, .type = MST_OT_DURATION,
      SHM(write_deadline_ms), .def = MS(10), .min = 0, .max = DUR_MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_SERVER,
      .help = "Time a blocked write may take (default: 10s)" },
    { .keys = {"lame_duck_duration"}, .type = MST_OT_DURATION,
      SHM(ldm_duration_ms), .def = MS(120), .min = MS(30), .max = DUR_MAX,
      .flags_mask = MST_OF_MIN_SECONDS,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_SERVER,
      .help = "Lame duck mode: clients are evicted over this long "
              "(default: 2m, at least 30s)" },
    { .keys = {"lame_duck_grace_period"}, .type = MST_OT_DURATION,
      SHM(ldm_grace_ms), .def = MS(10), .min = 0, .max = DUR_MAX,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_SERVER,
      .help = "Lame duck mode: wait before evicting (default: 10s)" },

    /* ---- logging ---- */
    { .keys = {"log_file", "logfile"}, .flags = {"l", "log"}, .arg = "file",
      .type = MST_OT_STRING, MST(log_file), .owner = MST_SUB_ALL,
      .change = MST_CHANGE_HOT, .section = MST_SEC_LOGGING,
      .help = "File to redirect log output" },
    { .keys = {"logtime"}, .flags = {"T", "logtime"}, .type = MST_OT_BOOL,
      MST(logtime), .def = 1, .min = 0, .max = 1, .owner = MST_SUB_ALL,
      .change = MST_CHANGE_HOT, .section = MST_SEC_LOGGING,
      .help = "Timestamp log entries (default: true)" },
    { .keys = {"debug"}, .flags = {"D", "debug"}, .type = MST_OT_BOOL,
      SHM(debug), .min = 0, .max = 1, .owner = MST_SUB_ALL,
      .change = MST_CHANGE_HOT, .section = MST_SEC_LOGGING,
      .help = "Enable debugging output" },
    { .keys = {"trace"}, .flags = {"V", "trace"}, .type = MST_OT_BOOL,
      SHM(trace), .min = 0, .max = 1, .owner = MST_SUB_ALL,
      .change = MST_CHANGE_HOT, .section = MST_SEC_LOGGING,
      .help = "Trace the raw protocol" },
    { .flags = {"DV"}, .type = MST_OT_ACTION, .owner = MST_SUB_ALL,
      .change = MST_CHANGE_HOT, .section = MST_SEC_LOGGING,
      .help = "Debug and trace" },

    /* ---- jetstream ---- */
    { .keys = {"jetstream"}, .flags = {"js", "jetstream"},
      .type = MST_OT_BOOL, SHM(jetstream), .min = 0, .max = 1,
      .flags_mask = MST_OF_JS_BLOCK, .owner = MST_SUB_ALL,
      .change = MST_CHANGE_RESTART, .section = MST_SEC_JETSTREAM,
      .help = "Enable JetStream functionality" },
    { .keys = {"store_dir", "storedir"}, .parent = "jetstream",
      .flags = {"sd", "store_dir"}, .arg = "dir", .type = MST_OT_STRING,
      SHM(store_dir), .def_str = "/tmp/nats", .owner = MST_SUB_STORAGE,
      .change = MST_CHANGE_SUBSYS, .section = MST_SEC_JETSTREAM,
      .help = "Set the storage directory" },
    { .keys = {"max_memory_store", "max_mem_store", "max_mem"},
      .parent = "jetstream", .type = MST_OT_INT, SHM(js_max_memory),
      .def = 0, .min = -1, .max = INT64_MAX, .owner = MST_SUB_STORAGE,
      .change = MST_CHANGE_SUBSYS, .section = MST_SEC_JETSTREAM,
      .help = "Bytes memory streams may hold (default: not limited)" },
    { .keys = {"max_file_store", "max_file"}, .parent = "jetstream",
      .type = MST_OT_INT, SHM(js_max_store), .def = 0, .min = -1,
      .max = INT64_MAX, .owner = MST_SUB_STORAGE,
      .change = MST_CHANGE_SUBSYS, .section = MST_SEC_JETSTREAM,
      .help = "Bytes file streams may hold (default: not limited)" },
    { .keys = {"sync_interval", "sync"}, .parent = "jetstream",
      .type = MST_OT_DURATION, SHM(js_sync_ms), .def = MS(120),
      .min = SHM_JS_SYNC_ALWAYS, .max = DUR_MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT | MST_OF_ALWAYS,
      .owner = MST_SUB_STORAGE, .change = MST_CHANGE_SUBSYS,
      .section = MST_SEC_JETSTREAM,
      .help = "fsync period, or \"always\": before every ack "
              "(default: 2m)" },
    { .keys = {"enabled", "enable"}, .parent = "jetstream",
      .type = MST_OT_BOOL, .home = MST_HOME_NONE, .min = 0, .max = 1,
      .owner = MST_SUB_ALL, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_JETSTREAM, .help = "false: JetStream stays off" },
    { REFUSE(.keys = {"domain"}, .parent = "jetstream",
             .feature = "JetStream domains") },
    { REFUSE(.keys = {"cipher", "key", "ek", "encryption_key"},
             .parent = "jetstream", .feature = "encryption at rest") },
    { REFUSE(.keys = {"unique_tag", "max_outstanding_catchup"},
             .parent = "jetstream", .feature = "JetStream clustering") },
    { REFUSE(.keys = {"limits"}, .parent = "jetstream",
             .feature = "JetStream server limits") },

    /* ---- authorization ---- */
    { .keys = {"authorization"}, .type = MST_OT_BLOCK,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_AUTH, .help = "Client authentication block" },
    { .keys = {"user", "username"}, .parent = "authorization",
      .flags = {"user"}, .arg = "user", .type = MST_OT_STRING,
      SHM(auth_user), .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_AUTH, .help = "User required for connections" },
    { .keys = {"password", "pass"}, .parent = "authorization",
      .flags = {"pass"}, .arg = "password", .type = MST_OT_STRING,
      SHM(auth_pass), .flags_mask = MST_OF_SECRET,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_AUTH, .help = "Password required for connections" },
    { .keys = {"token"}, .parent = "authorization", .flags = {"auth"},
      .arg = "token", .type = MST_OT_STRING, SHM(auth_token),
      .flags_mask = MST_OF_SECRET, .owner = MST_SUB_GATEWAY,
      .change = MST_CHANGE_HOT, .section = MST_SEC_AUTH,
      .help = "Authorization token required for connections" },
    { .keys = {"timeout"}, .parent = "authorization",
      .type = MST_OT_DURATION, SHM(auth_timeout_ms), .def = MS(2),
      .min = 0, .max = DUR_MAX,
      .flags_mask = MST_OF_ZERO_DEFAULT | MST_OF_SECONDS,
      .owner = MST_SUB_GATEWAY, .change = MST_CHANGE_HOT,
      .section = MST_SEC_AUTH,
      .help = "Seconds (or a duration) a client has to send CONNECT "
              "(default: 2)" },

    /* ---- dialtone-only ---- */
    { .keys = {"gateway_workers"}, .flags = {"gateway_workers"}, .arg = "n",
      .type = MST_OT_INT, MST(gateway_workers), .def = 0, .min = 1,
      .max = SHM_MAX_GATEWAYS, .flags_mask = MST_OF_NCPU,
      .owner = MST_SUB_ALL, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_DIALTONE,
      .help = "Gateway worker processes (default: online CPUs)" },
    { .keys = {"ring_entries"}, .type = MST_OT_INT, MST(ring_entries),
      .def = 65536, .min = 64, .max = 1 << 22,
      .flags_mask = MST_OF_ZERO_DEFAULT | MST_OF_POW2,
      .owner = MST_SUB_ALL, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_DIALTONE,
      .help = "Descriptors per shared-memory ring, a power of two "
              "(default: 65536)" },
    { .keys = {"arena_size"}, .type = MST_OT_INT, MST(arena_bytes),
      .def = 64LL << 20, .min = 1LL << 20, .max = 1LL << 34,
      .flags_mask = MST_OF_ZERO_DEFAULT | MST_OF_POW2,
      .owner = MST_SUB_ALL, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_DIALTONE,
      .help = "Payload arena per gateway in bytes, a power of two "
              "(default: 64MB)" },

    /* ---- common ---- */
    { .flags = {"h", "help"}, .type = MST_OT_BOOL, MST(show_help),
      .owner = MST_SUB_MASTER, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_COMMON, .help = "Show this message" },
    { .flags = {"v", "version"}, .type = MST_OT_BOOL, MST(show_version),
      .owner = MST_SUB_MASTER, .change = MST_CHANGE_RESTART,
      .section = MST_SEC_COMMON, .help = "Show version" },
    { .flags = {"sl", "signal"}, .arg = "signal[=pid]",
      .type = MST_OT_STRING, MST(signal_cmd), .owner = MST_SUB_MASTER,
      .change = MST_CHANGE_RESTART, .section = MST_SEC_COMMON,
      .help = "Send signal to dialtone process (ldm, stop, quit, term, "
              "reopen, reload); pid can be given as signal=<pid>" },

    /* ---- nats-server features Dialtone does not have yet ---- */
    { REFUSE(.keys = {"default_js_domain"}, .feature = "JetStream domains") },
    { REFUSE(.keys = {"tls"}, .flags = {"tls", "tlsverify"}, .feature = "TLS",
             .flags_mask = MST_OF_OFF_OK) },
    { REFUSE(.flags = {"tlscert", "tlskey", "tlscacert", "help_tls"},
             .feature = "TLS") },
    { REFUSE(.keys = {"allow_non_tls"}, .feature = "TLS") },
    { REFUSE(.keys = {"ocsp"}, .feature = "OCSP stapling") },
    { REFUSE(.keys = {"cluster"}, .flags = {"cluster", "cluster_listen",
             "cluster_advertise", "cluster_name"}, .feature = "clustering") },
    { REFUSE(.flags = {"routes", "no_advertise", "connect_retries"},
             .feature = "clustering") },
    { REFUSE(.keys = {"gateway"}, .feature = "super-cluster gateways") },
    { REFUSE(.keys = {"leafnodes", "leaf"}, .feature = "leaf nodes") },
    { REFUSE(.keys = {"websocket", "ws"}, .feature = "WebSocket") },
    { REFUSE(.keys = {"mqtt"}, .feature = "MQTT") },
    { REFUSE(.keys = {"accounts"}, .feature = "accounts") },
    { REFUSE(.keys = {"system_account", "system"},
             .feature = "the system account") },
    { REFUSE(.keys = {"no_system_account", "no_system", "no_sys_acc"},
             .feature = "the system account") },
    { REFUSE(.keys = {"operator", "operators", "root_operator",
             "root_operators"}, .feature = "operator mode (JWT)") },
    { REFUSE(.keys = {"trusted", "trusted_keys"},
             .feature = "operator mode (JWT)") },
    { REFUSE(.keys = {"resolver", "account_resolver", "accounts_resolver"},
             .feature = "account resolvers") },
    { REFUSE(.keys = {"resolver_tls", "resolver_preload",
             "resolver_pinned_accounts"}, .feature = "account resolvers") },
    { REFUSE(.keys = {"no_auth_user"}, .feature = "user lists") },
    { REFUSE(.keys = {"users"}, .parent = "authorization",
             .feature = "user lists") },
    { REFUSE(.keys = {"permissions", "default_permissions",
             "default_permission"}, .parent = "authorization",
             .feature = "permissions") },
    { REFUSE(.keys = {"mappings"}, .feature = "subject mappings") },
    { REFUSE(.keys = {"server_tags"}, .feature = "server tags") },
    { REFUSE(.keys = {"client_advertise"}, .flags = {"client_advertise"},
             .feature = "client URL advertisement") },
    { REFUSE(.keys = {"https", "https_port"}, .flags = {"ms", "https_port"},
             .feature = "HTTPS monitoring") },
    { REFUSE(.keys = {"http_base_path"}, .feature = "a monitoring base path") },
    { REFUSE(.keys = {"syslog"}, .flags = {"s", "syslog"},
             .feature = "syslog", .flags_mask = MST_OF_OFF_OK) },
    { REFUSE(.keys = {"remote_syslog"}, .flags = {"r", "remote_syslog"},
             .feature = "remote syslog") },
    { REFUSE(.keys = {"logfile_size_limit", "log_size_limit"},
             .flags = {"log_size_limit"}, .feature = "log rotation") },
    { REFUSE(.keys = {"max_traced_msg_len"}, .flags = {"max_traced_msg_len"},
             .feature = "trace truncation") },
    { REFUSE(.keys = {"trace_verbose"}, .flags = {"VV", "DVV"},
             .feature = "verbose tracing", .flags_mask = MST_OF_OFF_OK) },
    { REFUSE(.keys = {"ports_file_dir"}, .flags = {"ports_file_dir"},
             .feature = "ports files") },
    { REFUSE(.keys = {"prof_port"}, .flags = {"profile"},
             .feature = "profiling") },
    { REFUSE(.keys = {"disable_sublist_cache", "no_sublist_cache"},
             .feature = "disabling the subscription cache",
             .flags_mask = MST_OF_OFF_OK) },
    { REFUSE(.keys = {"no_header_support"}, .feature = "disabling headers",
             .flags_mask = MST_OF_OFF_OK) },
    { REFUSE(.keys = {"connect_error_reports", "reconnect_error_reports"},
             .feature = "route and gateway error reports") },
    { REFUSE(.keys = {"max_subscription_tokens"},
             .feature = "subject token limits") },
};

#define NOPTS (sizeof(mst_option_table) / sizeof(mst_option_table[0]))
const size_t mst_option_count = NOPTS;

/* ------------------------------------------------------------------ */
/* Table lookups.                                                       */

const struct mst_option *
mst_option_by_key(const char *key, const char *parent)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct mst_option *r = &mst_option_table[i];
        if ((parent == NULL) != (r->parent == NULL))
            continue;
        if (parent != NULL && strcasecmp(parent, r->parent) != 0)
            continue;
        for (size_t k = 0; k < MST_OPT_MAX_NAMES && r->keys[k]; k++)
            if (strcasecmp(key, r->keys[k]) == 0)
                return r;
    }
    return NULL;
}

const struct mst_option *
mst_option_by_flag(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        for (size_t k = 0; k < MST_OPT_MAX_NAMES &&
                           mst_option_table[i].flags[k]; k++)
            if (strcmp(name, mst_option_table[i].flags[k]) == 0)
                return &mst_option_table[i];
    return NULL;
}

static const struct mst_option *
row_by_name(const char *canonical)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (mst_option_table[i].keys[0] != NULL &&
            strcmp(mst_option_table[i].keys[0], canonical) == 0)
            return &mst_option_table[i];
    return NULL;
}

static size_t
row_index(const struct mst_option *r)
{
    return (size_t)(r - mst_option_table);
}

/* The name used in messages: the config key, else the long flag. */
static const char *
row_name(const struct mst_option *r)
{
    if (r->keys[0] != NULL)
        return r->keys[0];
    for (size_t k = MST_OPT_MAX_NAMES; k-- > 0;)
        if (r->flags[k] != NULL)
            return r->flags[k];
    return "?";
}

/* ------------------------------------------------------------------ */
/* Loader state.                                                        */

#define ORIGIN_MAX 300

struct stage {
    struct mst_options *o;
    int64_t v[NOPTS];
    bool set[NOPTS];
    char origin[NOPTS][ORIGIN_MAX];     /* "file:line:col" or "flag -p" */
    char *err;
    size_t errlen;
};

struct flag_act {
    const struct mst_option *row;
    const char *val;        /* NULL: boolean given without a value */
    char origin[80];        /* "flag -p" as typed, without the value */
};

static int
fail(struct stage *st, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "origin: message" into err; returns -EINVAL. */
static int
fail(struct stage *st, const char *origin, const char *fmt, ...)
{
    if (st->err == NULL || st->errlen == 0)
        return -EINVAL;
    int n = 0;
    if (origin != NULL && origin[0])
        n = snprintf(st->err, st->errlen, "%s: ", origin);
    if (n < 0 || (size_t)n >= st->errlen)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static void
warn(struct stage *st, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
warn(struct stage *st, const char *origin, const char *fmt, ...)
{
    char *w = st->o->warnings;
    size_t cap = sizeof(st->o->warnings), len = strlen(w);
    if (len + 1 >= cap)
        return;                 /* full: later warnings are dropped */
    int n = snprintf(w + len, cap - len, "%s%s: ", len ? "\n" : "", origin);
    if (n < 0 || (size_t)n >= cap - len)
        return;
    len += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w + len, cap - len, fmt, ap);
    va_end(ap);
}

static void *
field(struct mst_options *o, const struct mst_option *r)
{
    char *base = r->home == MST_HOME_SHM ? (char *)&o->s : (char *)o;
    return base + r->off;
}

static const void *
cfield(const struct mst_options *o, const struct mst_option *r)
{
    const char *base = r->home == MST_HOME_SHM ? (const char *)&o->s
                                               : (const char *)o;
    return base + r->off;
}

static void
stage_set(struct stage *st, const struct mst_option *r, int64_t v,
          const char *origin)
{
    size_t i = row_index(r);
    st->v[i] = v;
    st->set[i] = true;
    snprintf(st->origin[i], ORIGIN_MAX, "%s", origin);
}

static bool
is_bcrypt(const char *s)
{
    return s[0] == '$' && s[1] == '2' && s[2] != '\0' && s[3] == '$';
}

static int
set_string(struct stage *st, const struct mst_option *r, const char *val,
           const char *origin)
{
    size_t len = strlen(val);
    if (len >= r->size)
        return fail(st, origin, "%s is too long (%zu bytes, at most %zu)",
                    row_name(r), len, r->size - 1);
    if ((r->flags_mask & MST_OF_SECRET) && is_bcrypt(val))
        return fail(st, origin, "%s: bcrypt-hashed secrets are not supported "
                    "by Dialtone yet", row_name(r));
    memcpy(field(st->o, r), val, len + 1);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Value syntaxes shared with nats-server.                              */

/* Go's time.ParseDuration, result in milliseconds (a non-zero value
 * below 1ms rounds up to 1ms).  On error, msg gets Go's wording. */
static int
parse_duration_ms(const char *s, int64_t *ms, char *msg, size_t msglen)
{
    static const struct { const char *u; double ns; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
    };
    const char *orig = s;
    int sign = 1;
    if (*s == '-' || *s == '+')
        sign = *s++ == '-' ? -1 : 1;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*s == '\0')
        goto invalid;
    double total = 0;
    while (*s) {
        const char *start = s;
        double v = 0, scale = 1;
        bool digits = false;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s++ - '0');
            digits = true;
        }
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s)) {
                scale /= 10;
                v += (*s++ - '0') * scale;
                digits = true;
            }
        }
        if (!digits || s == start)
            goto invalid;
        const char *u = s;
        while (*s && *s != '.' && !isdigit((unsigned char)*s))
            s++;
        size_t ulen = (size_t)(s - u);
        if (ulen == 0) {
            snprintf(msg, msglen, "time: missing unit in duration \"%s\"",
                     orig);
            return -EINVAL;
        }
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
            if (strlen(units[k].u) == ulen &&
                strncmp(units[k].u, u, ulen) == 0)
                break;
        if (k == sizeof(units) / sizeof(units[0])) {
            snprintf(msg, msglen, "time: unknown unit \"%.*s\" in duration "
                     "\"%s\"", (int)ulen, u, orig);
            return -EINVAL;
        }
        total += v * units[k].ns;
    }
    if (total > 9.2e18)
        goto invalid;
    int64_t r = (int64_t)(total / 1e6);
    if (r == 0 && total > 0)
        r = 1;
    *ms = sign * r;
    return 0;
invalid:
    snprintf(msg, msglen, "time: invalid duration \"%s\"", orig);
    return -EINVAL;
}

/* Go's strconv.ParseBool. */
static int
parse_gobool(const char *s, int *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

/* Go's strconv.ParseInt(s, 0, 64): sign, 0x/0o/0b/0 prefixes, '_'
 * between digits when a prefix is present.  -ERANGE on overflow. */
static int
parse_goint(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    int base = 10;
    bool prefixed = false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16, s += 2, prefixed = true;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8, s += 2, prefixed = true;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2, s += 2, prefixed = true;
    } else if (s[0] == '0' && s[1] != '\0') {
        base = 8, s += 1, prefixed = true;
    }
    if (*s == '\0')
        return -EINVAL;
    uint64_t v = 0;
    bool last_us = true;
    for (; *s; s++) {
        if (*s == '_' && prefixed && !last_us) {
            last_us = true;
            continue;
        }
        int d = isdigit((unsigned char)*s) ? *s - '0'
              : isalpha((unsigned char)*s) ? tolower((unsigned char)*s) - 'a' + 10
              : 99;
        if (d >= base)
            return -EINVAL;
        last_us = false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return -ERANGE;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (last_us)
        return -EINVAL;         /* trailing '_' */
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return -ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Go's net.SplitHostPort, then the port as an integer. */
static int
split_hostport(const char *s, char *host, size_t hostlen, int64_t *port,
               char *msg, size_t msglen)
{
    const char *colon, *h = s, *hend;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            goto bad;
        h = s + 1;
        hend = rb;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            goto bad;
        hend = colon;
    }
    if ((size_t)(hend - h) >= hostlen) {
        snprintf(msg, msglen, "host in \"%s\" is too long", s);
        return -EINVAL;
    }
    if (parse_goint(colon + 1, port) < 0) {
        snprintf(msg, msglen, "could not parse port \"%s\"", colon + 1);
        return -EINVAL;
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    return 0;
bad:
    snprintf(msg, msglen, "could not parse address string \"%s\"", s);
    return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* The config file.                                                     */

static void
node_origin(const struct mst_conf_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u:%u", n->file[0] ? n->file : "<config>",
             n->line, n->col);
}

/* "a string", "an integer", ... */
static const char *
a_type(enum mst_conf_type t)
{
    return t == MST_CONF_INT || t == MST_CONF_ARRAY ? "an" : "a";
}

static int
wrong_type(struct stage *st, const struct mst_option *r,
           const struct mst_conf_node *n, const char *origin, const char *want)
{
    return fail(st, origin, "%s must be %s, got %s %s", row_name(r), want,
                a_type(n->type), mst_conf_type_name(n->type));
}

static bool
node_is_off(const struct mst_conf_node *n)
{
    if (n->type == MST_CONF_BOOL)
        return n->b == 0;
    if (n->type == MST_CONF_STRING)
        return strcasecmp(n->str, "disabled") == 0 ||
               strcasecmp(n->str, "false") == 0;
    return false;
}

static int
apply_duration_node(struct stage *st, const struct mst_option *r,
                    const struct mst_conf_node *n, const char *origin)
{
    char msg[200];
    int64_t ms;
    switch (n->type) {
    case MST_CONF_STRING:
        if ((r->flags_mask & MST_OF_ALWAYS) &&
            strcasecmp(n->str, "always") == 0) {
            ms = -1;
            break;
        }
        if (parse_duration_ms(n->str, &ms, msg, sizeof(msg)) < 0)
            return fail(st, origin, "error parsing %s: %s", row_name(r), msg);
        break;
    case MST_CONF_INT:
        if (n->i > DUR_MAX / 1000 || n->i < -DUR_MAX / 1000)
            return fail(st, origin, "%s: %lld seconds is out of range",
                        row_name(r), (long long)n->i);
        ms = n->i * 1000;
        if (!(r->flags_mask & MST_OF_SECONDS))
            warn(st, origin, "invalid use of field \"%s\": %s should be "
                 "converted to a duration", row_name(r), row_name(r));
        break;
    case MST_CONF_FLOAT:
        if (!(r->flags_mask & MST_OF_SECONDS))
            return wrong_type(st, r, n, origin, "a duration such as \"30s\"");
        if (!(fabs(n->f) <= (double)(DUR_MAX / 1000)))
            return fail(st, origin, "%s: %s seconds is out of range",
                        row_name(r), n->str);
        ms = (int64_t)llround(n->f * 1000.0);
        break;
    default:
        return wrong_type(st, r, n, origin, "a duration such as \"30s\"");
    }
    stage_set(st, r, ms, origin);
    return 0;
}

static int
apply_hostport(struct stage *st, const struct mst_option *r,
               const struct mst_conf_node *n, const char *origin)
{
    const struct mst_option *pr = row_by_name(r->port_opt);
    if (n->type == MST_CONF_INT) {
        stage_set(st, pr, n->i, origin);
        return 0;
    }
    if (n->type != MST_CONF_STRING)
        return wrong_type(st, r, n, origin, "\"host:port\" or a port");
    char host[SHM_NAME_MAX], msg[300];
    int64_t port;
    if (split_hostport(n->str, host, sizeof(host), &port, msg,
                       sizeof(msg)) < 0)
        return fail(st, origin, "%s", msg);
    if (host[0] != '\0') {
        int rc = set_string(st, r, host, origin);
        if (rc < 0)
            return rc;
    }
    stage_set(st, pr, port, origin);
    return 0;
}

static int
apply_node(struct stage *st, const struct mst_option *r,
           const struct mst_conf_node *n, const char *origin)
{
    switch (r->type) {
    case MST_OT_BOOL:
        if (n->type != MST_CONF_BOOL)
            return wrong_type(st, r, n, origin, "a boolean");
        stage_set(st, r, n->b, origin);
        return 0;
    case MST_OT_INT:
        if (n->type != MST_CONF_INT)
            return wrong_type(st, r, n, origin, "an integer");
        stage_set(st, r, n->i, origin);
        return 0;
    case MST_OT_DURATION:
        return apply_duration_node(st, r, n, origin);
    case MST_OT_STRING:
        if (n->type != MST_CONF_STRING)
            return wrong_type(st, r, n, origin, "a string");
        return set_string(st, r, n->str, origin);
    case MST_OT_HOSTPORT:
        return apply_hostport(st, r, n, origin);
    default:
        return fail(st, origin, "%s cannot be set here", row_name(r));
    }
}

static int apply_map(struct stage *st, const struct mst_conf_node *map,
                     const char *parent);

/* nats-server refuses a user/pass and a token in the same block. */
static int
apply_auth_block(struct stage *st, const struct mst_conf_node *n,
                 const char *origin)
{
    int rc = apply_map(st, n, "authorization");
    if (rc < 0)
        return rc;
    bool userpass = mst_conf_get(n, "user") || mst_conf_get(n, "username") ||
                    mst_conf_get(n, "password") || mst_conf_get(n, "pass");
    if (userpass && mst_conf_get(n, "token"))
        return fail(st, origin, "Cannot have a user/pass and token");
    return 0;
}

/* jetstream: true | enabled | disabled | { store_dir: ..., ... } */
static int
apply_js_node(struct stage *st, const struct mst_option *r,
              const struct mst_conf_node *n, const char *origin)
{
    if (n->type != MST_CONF_MAP) {
        bool on = n->type == MST_CONF_STRING &&
                  (strcasecmp(n->str, "enabled") == 0 ||
                   strcasecmp(n->str, "true") == 0);
        if (!on && !node_is_off(n) && n->type != MST_CONF_BOOL)
            return wrong_type(st, r, n, origin, "a boolean or a map");
        stage_set(st, r, on || (n->type == MST_CONF_BOOL && n->b), origin);
        return 0;
    }
    int rc = apply_map(st, n, "jetstream");
    if (rc < 0)
        return rc;
    const struct mst_conf_node *en = mst_conf_get(n, "enabled");
    if (en == NULL)
        en = mst_conf_get(n, "enable");
    stage_set(st, r, !(en != NULL && node_is_off(en)), origin);
    return 0;
}

static int
apply_map(struct stage *st, const struct mst_conf_node *map,
          const char *parent)
{
    for (size_t i = 0; i < map->nkids; i++) {
        const struct mst_conf_node *n = map->kids[i];
        char origin[ORIGIN_MAX];
        node_origin(n, origin, sizeof(origin));
        const struct mst_option *r = mst_option_by_key(n->key, parent);
        int rc = 0;
        if (r == NULL) {
            if (n->used_as_var)         /* a variable definition */
                continue;
            return fail(st, origin, "unknown field \"%s\"", n->key);
        }
        if (r->type == MST_OT_REFUSED) {
            if ((r->flags_mask & MST_OF_OFF_OK) && node_is_off(n))
                continue;
            return fail(st, origin, "config key '%s%s%s' (%s) is not "
                        "supported by Dialtone yet", parent ? parent : "",
                        parent ? "." : "", n->key, r->feature);
        }
        if (r->flags_mask & MST_OF_JS_BLOCK) {
            rc = apply_js_node(st, r, n, origin);
        } else if (r->type == MST_OT_BLOCK) {
            if (n->type != MST_CONF_MAP)
                return wrong_type(st, r, n, origin, "a map");
            rc = apply_auth_block(st, n, origin);
        } else {
            rc = apply_node(st, r, n, origin);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
load_file(struct stage *st, const char *path)
{
    struct mst_conf *c = NULL;
    int rc = mst_conf_parse_file(path, &c, st->err, st->errlen);
    if (rc < 0)
        return rc == -ENOMEM ? rc : -EINVAL;
    rc = apply_map(st, c->root, NULL);
    mst_conf_free(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The command line.                                                    */

static void write_int(void *f, size_t size, int64_t v);

static const char *
progname(char **argv)
{
    const char *p = argv && argv[0] ? argv[0] : "dialtone";
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int
flag_takes_value(const struct mst_option *r)
{
    return r->type != MST_OT_BOOL && r->type != MST_OT_ACTION &&
           !(r->type == MST_OT_REFUSED && (r->flags_mask & MST_OF_OFF_OK));
}

/* Check a flag's value now, so that errors come in command-line order
 * and before the config file is read. */
static int
check_flag_value(struct stage *st, struct flag_act *a, const char *name)
{
    const struct mst_option *r = a->row;
    if (r->type == MST_OT_REFUSED) {
        int off;
        if ((r->flags_mask & MST_OF_OFF_OK) && a->val != NULL &&
            parse_gobool(a->val, &off) == 0 && off == 0)
            return 1;           /* -js=false: nothing to refuse */
        return fail(st, NULL, "%s (%s) is not supported by Dialtone yet",
                    a->origin, r->feature);
    }
    if (!flag_takes_value(r)) {
        int b;
        if (a->val != NULL && parse_gobool(a->val, &b) < 0)
            return fail(st, NULL, "invalid boolean value \"%s\" for -%s: "
                        "parse error", a->val, name);
        return 0;
    }
    if (r->type == MST_OT_INT) {
        int64_t v;
        int rc = parse_goint(a->val, &v);
        if (rc < 0)
            return fail(st, NULL, "invalid value \"%s\" for flag -%s: %s",
                        a->val, name, rc == -ERANGE ? "value out of range"
                                                    : "parse error");
    }
    return 0;
}

/* Flag-only switches of the master: -c, -t, -h, -v. */
static bool
is_meta(const struct mst_option *r)
{
    return r->keys[0] == NULL && r->home == MST_HOME_MASTER;
}

static int
apply_meta_flag(struct stage *st, const struct flag_act *a)
{
    const struct mst_option *r = a->row;
    int b = 1;
    if (r->type == MST_OT_STRING)
        return set_string(st, r, a->val, a->origin);
    if (a->val != NULL)
        parse_gobool(a->val, &b);
    write_int(field(st->o, r), r->size, b);
    return 0;
}

static int
apply_flag(struct stage *st, const struct flag_act *a)
{
    const struct mst_option *r = a->row;
    int b = 1;
    int64_t v;
    switch (r->type) {
    case MST_OT_BOOL:
        if (a->val != NULL)
            parse_gobool(a->val, &b);
        stage_set(st, r, b, a->origin);
        return 0;
    case MST_OT_ACTION:         /* -DV; -DV=false changes nothing */
        if (a->val != NULL)
            parse_gobool(a->val, &b);
        if (b) {
            stage_set(st, row_by_name("debug"), 1, a->origin);
            stage_set(st, row_by_name("trace"), 1, a->origin);
        }
        return 0;
    case MST_OT_INT:
        parse_goint(a->val, &v);
        stage_set(st, r, v, a->origin);
        return 0;
    case MST_OT_STRING:
        return set_string(st, r, a->val, a->origin);
    default:
        return 0;
    }
}

/* One argument: "-name", "--name", "-name=value"; value may come from
 * the next argument.  Returns the number of extra arguments consumed,
 * or -EINVAL. */
static int
parse_one_flag(struct stage *st, char **argv, int i, int argc,
               struct flag_act *a, const char *prog)
{
    const char *arg = argv[i];
    const char *name = arg[1] == '-' ? arg + 2 : arg + 1;
    if (name[0] == '\0' || name[0] == '-' || name[0] == '=')
        return fail(st, NULL, "bad flag syntax: %s", arg);
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    char nbuf[64];
    if (nlen >= sizeof(nbuf))
        nlen = sizeof(nbuf) - 1;
    memcpy(nbuf, name, nlen);
    nbuf[nlen] = '\0';
    a->row = mst_option_by_flag(nbuf);
    if (a->row == NULL)
        return fail(st, NULL, "flag provided but not defined: -%s (see '%s "
                    "-h' for usage)", nbuf, prog);
    snprintf(a->origin, sizeof(a->origin), "flag %.*s",
             (int)(name - arg) + (int)nlen, arg);
    a->val = eq ? eq + 1 : NULL;
    if (a->row->type == MST_OT_REFUSED &&
        !(a->row->flags_mask & MST_OF_OFF_OK))    /* even without a value */
        return fail(st, NULL, "%s (%s) is not supported by Dialtone yet",
                    a->origin, a->row->feature);
    int used = 0;
    if (flag_takes_value(a->row) && a->val == NULL) {
        if (i + 1 >= argc)
            return fail(st, NULL, "flag needs an argument: -%s (see '%s "
                        "-h' for usage)", nbuf, prog);
        a->val = argv[i + 1];
        used = 1;
    }
    int rc = check_flag_value(st, a, nbuf);
    if (rc < 0)
        return rc;
    if (rc == 1)
        a->row = NULL;          /* accepted, no effect */
    return used;
}

static int
parse_flags(struct stage *st, int argc, char **argv, struct flag_act *acts,
            int *nacts)
{
    const char *prog = progname(argv);
    int i;
    *nacts = 0;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0')
            break;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        struct flag_act *a = &acts[*nacts];
        int used = parse_one_flag(st, argv, i, argc, a, prog);
        if (used < 0)
            return used;
        i += used;
        if (a->row != NULL)
            (*nacts)++;
    }
    if (i < argc) {         /* nats-server's commands after the flags */
        if (strcasecmp(argv[i], "version") == 0)
            st->o->show_version = 1;
        else if (strcasecmp(argv[i], "help") == 0)
            st->o->show_help = 1;
        else
            return fail(st, NULL, "unrecognized command: \"%s\" (see '%s "
                        "-h' for usage)", argv[i], prog);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Resolution.                                                          */

static void
write_int(void *f, size_t size, int64_t v)
{
    switch (size) {
    case 1: { uint8_t x = (uint8_t)v; memcpy(f, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)v; memcpy(f, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(f, &x, 4); break; }
    default: memcpy(f, &v, 8); break;
    }
}

static int64_t
online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > SHM_MAX_GATEWAYS)
        n = SHM_MAX_GATEWAYS;
    return n;
}

static int
range_error(struct stage *st, const struct mst_option *r, int64_t v,
            const char *origin)
{
    const char *u = r->type == MST_OT_DURATION ? "ms" : "";
    if (r->max == I32MAX && v > r->max)
        return fail(st, origin, "%s value is too big", row_name(r));
    if ((r->flags_mask & MST_OF_MIN_SECONDS) && v < r->min)
        return fail(st, origin, "invalid %s of %llds, minimum is %lld "
                    "seconds", row_name(r), (long long)(v / 1000),
                    (long long)(r->min / 1000));
    if ((r->flags_mask & MST_OF_NORANDOM) && v == -1)
        return fail(st, origin, "%s -1 (a random port) is not supported by "
                    "Dialtone yet", row_name(r));
    return fail(st, origin, "invalid value %lld%s for %s: must be between "
                "%lld%s and %lld%s", (long long)v, u, row_name(r),
                (long long)r->min, u, (long long)r->max, u);
}

static int
resolve_number(struct stage *st, const struct mst_option *r, int64_t *out)
{
    size_t i = row_index(r);
    int64_t v = st->set[i] ? st->v[i] : r->def;
    if ((r->flags_mask & MST_OF_ZERO_DEFAULT) && v == 0)
        v = r->def;
    if ((r->flags_mask & MST_OF_NCPU) && v == 0)
        v = online_cpus();
    if (v < r->min || v > r->max)
        return range_error(st, r, v, st->origin[i]);
    if ((r->flags_mask & MST_OF_POW2) && (v & (v - 1)) != 0)
        return fail(st, st->origin[i], "%s must be a power of two, got %lld "
                    "(write sizes as 64MB, not 64M: k/m/g are powers of 1000)",
                    row_name(r), (long long)v);
    *out = v;
    return 0;
}

static int
resolve_numbers(struct stage *st)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct mst_option *r = &mst_option_table[i];
        if (r->home == MST_HOME_NONE || is_meta(r) ||
            (r->type != MST_OT_INT && r->type != MST_OT_BOOL &&
             r->type != MST_OT_DURATION))
            continue;
        int64_t v = 0;
        int rc = resolve_number(st, r, &v);
        if (rc < 0)
            return rc;
        if ((r->flags_mask & MST_OF_PORT) && v == -1)
            v = 0;              /* bind(2) picks a free port */
        write_int(field(st->o, r), r->size, v);
    }
    return 0;
}

/* Rules between options, after each value is final. */
static int
cross_checks(struct stage *st)
{
    struct mst_options *o = st->o;
    if (o->s.max_payload > o->s.max_pending)
        return fail(st, NULL, "max_payload (%lld) cannot be higher than "
                    "max_pending (%lld)", (long long)o->s.max_payload,
                    (long long)o->s.max_pending);
    /* A message (payload plus subject, reply and chunk headers, at most a
     * control line) must always fit, even after a wrap filler. */
    uint64_t need = 2 * ((uint64_t)o->s.max_payload + o->s.max_control_line +
                         64);
    if (o->arena_bytes < need)
        return fail(st, st->origin[row_index(row_by_name("arena_size"))],
                    "arena_size (%llu) must be at least twice max_payload + "
                    "max_control_line + 64 (%llu) so that any message fits",
                    (unsigned long long)o->arena_bytes,
                    (unsigned long long)need);
    if (o->s.jetstream && o->gateway_workers >= SHM_MAX_GATEWAYS)
        return fail(st, st->origin[row_index(row_by_name("gateway_workers"))],
                    "gateway_workers can be at most %d with JetStream on",
                    SHM_MAX_GATEWAYS - 1);
    return 0;
}

static int
finish(struct stage *st)
{
    struct mst_options *o = st->o;
    int rc = resolve_numbers(st);
    if (rc == 0)
        rc = cross_checks(st);
    if (rc < 0)
        return rc;
    if ((rc = mst_options_new_server_id(o->s.server_id,
                                        sizeof(o->s.server_id))) < 0)
        return fail(st, NULL, "cannot generate a server id: %s",
                    strerror(-rc));
    if (o->s.server_name[0] == '\0')
        snprintf(o->s.server_name, sizeof(o->s.server_name), "%s",
                 o->s.server_id);
    if (o->http_host[0] == '\0')
        snprintf(o->http_host, sizeof(o->http_host), "%s", o->s.host);
    snprintf(o->s.config_file, sizeof(o->s.config_file), "%s",
             o->config_file);
    o->s.gateways = o->gateway_workers;
    if (o->test_config && o->warnings[0] != '\0')
        return fail(st, NULL, "%s", o->warnings);   /* as nats-server -t */
    return 0;
}

static void
set_defaults(struct mst_options *o)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct mst_option *r = &mst_option_table[i];
        if (r->type == MST_OT_STRING && r->def_str != NULL)
            snprintf(field(o, r), r->size, "%s", r->def_str);
    }
}

int
mst_options_load(struct mst_options *o, int argc, char **argv, char *err,
                 size_t errlen)
{
    memset(o, 0, sizeof(*o));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    struct stage *st = calloc(1, sizeof(*st));
    struct flag_act *acts = calloc((size_t)(argc > 0 ? argc : 1),
                                   sizeof(*acts));
    int rc = (st && acts) ? 0 : -ENOMEM, nacts = 0;
    if (rc == 0) {
        st->o = o;
        st->err = err;
        st->errlen = errlen;
        set_defaults(o);
        rc = parse_flags(st, argc, argv, acts, &nacts);
    }
    /* First pass: only what decides how to load (-c, -t, -h, -v). */
    for (int i = 0; rc == 0 && i < nacts; i++)
        if (is_meta(acts[i].row))
            rc = apply_meta_flag(st, &acts[i]);
    if (rc == 0 && (o->show_help || o->show_version))
        goto out;
    if (rc == 0 && o->test_config && o->config_file[0] == '\0')
        rc = fail(st, NULL, "must specify [-c, --config] option to check "
                  "configuration file syntax");
    if (rc == 0 && o->config_file[0] != '\0')
        rc = load_file(st, o->config_file);
    for (int i = 0; rc == 0 && i < nacts; i++)
        if (!is_meta(acts[i].row))
            rc = apply_flag(st, &acts[i]);
    if (rc == 0)
        rc = finish(st);
out:
    free(st);
    free(acts);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reload support.                                                      */

void *
mst_option_field(struct mst_options *o, const struct mst_option *r)
{
    return field(o, r);
}

const struct mst_option *
mst_options_changed(const struct mst_options *old_o,
                    const struct mst_options *new_o,
                    const struct mst_option *prev)
{
    size_t i = prev ? (size_t)(prev - mst_option_table) + 1 : 0;
    for (; i < NOPTS; i++) {
        const struct mst_option *r = &mst_option_table[i];
        if (r->home == MST_HOME_NONE || r->section == MST_SEC_COMMON ||
            (r->keys[0] == NULL && r->home == MST_HOME_MASTER))
            continue;           /* -c, -t, -h, -v are not reloadable */
        if (memcmp(cfield(old_o, r), cfield(new_o, r), r->size) != 0)
            return r;
    }
    return NULL;
}

enum mst_change
mst_options_compare(const struct mst_options *old_o,
                    const struct mst_options *new_o, unsigned *subsys)
{
    enum mst_change worst = MST_CHANGE_HOT;
    unsigned mask = 0;
    for (const struct mst_option *r = mst_options_changed(old_o, new_o, NULL);
         r != NULL; r = mst_options_changed(old_o, new_o, r)) {
        if (r->change > worst)
            worst = r->change;
        mask |= 1u << r->owner;
    }
    if (subsys != NULL)
        *subsys = mask;
    return worst;
}

void
mst_options_keep_identity(struct mst_options *new_o,
                          const struct mst_options *old_o)
{
    if (strcmp(new_o->s.server_name, new_o->s.server_id) == 0)
        memcpy(new_o->s.server_name, old_o->s.server_id,
               sizeof(new_o->s.server_name));
    memcpy(new_o->s.server_id, old_o->s.server_id,
           sizeof(new_o->s.server_id));
}

/* ------------------------------------------------------------------ */
/* Server id: an nkey public key (prefix 'N' for servers).              */

static uint16_t
crc16_xmodem(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
                                 : (uint16_t)(crc << 1);
    }
    return crc;
}

int
mst_options_new_server_id(char *buf, size_t len)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t raw[35];
    if (len < 57)
        return -ENOSPC;
    raw[0] = 13 << 3;           /* nkeys PrefixByteServer */
    size_t got = 0;
    while (got < 32) {
        ssize_t n = getrandom(raw + 1 + got, 32 - got, 0);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -errno;
        got += (size_t)n;
    }
    uint16_t crc = crc16_xmodem(raw, 33);
    raw[33] = (uint8_t)(crc & 0xff);
    raw[34] = (uint8_t)(crc >> 8);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < sizeof(raw); i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            buf[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    buf[o] = '\0';              /* 35 bytes = 280 bits = 56 chars, no rest */
    return 0;
}

/* ------------------------------------------------------------------ */
/* -h                                                                   */

static const char *const section_title[] = {
    [MST_SEC_SERVER] = "Server Options",
    [MST_SEC_LOGGING] = "Logging Options",
    [MST_SEC_JETSTREAM] = "JetStream Options",
    [MST_SEC_AUTH] = "Authorization Options",
    [MST_SEC_DIALTONE] = "Dialtone Options",
    [MST_SEC_COMMON] = "Common Options",
};

/* Go flags take one or two dashes; show the short ones (-p, -DV) with
 * one, as nats-server's -h does. */
static const char *
dashes(const char *flag)
{
    return strlen(flag) <= 2 || isupper((unsigned char)flag[0]) ? "-" : "--";
}

static void
usage_line(FILE *f, const struct mst_option *r)
{
    char left[160];
    size_t n = 0;
    if (strcmp(dashes(r->flags[0]), "--") == 0)
        n = (size_t)snprintf(left, sizeof(left), "    ");  /* no short form */
    for (size_t k = 0; k < MST_OPT_MAX_NAMES && r->flags[k]; k++)
        n += (size_t)snprintf(left + n, sizeof(left) - n, "%s%s%s",
                              k ? ", " : "", dashes(r->flags[k]),
                              r->flags[k]);
    if (r->arg != NULL && n < sizeof(left))
        snprintf(left + n, sizeof(left) - n, " <%s>", r->arg);
    if (strlen(left) > 32)
        fprintf(f, "    %s\n    %-32s %s\n", left, "", r->help);
    else
        fprintf(f, "    %-32s %s\n", left, r->help);
}

void
mst_options_usage(FILE *f)
{
    fprintf(f, "\nUsage: dialtone [options]\n");
    for (int sec = MST_SEC_SERVER; sec <= MST_SEC_COMMON; sec++) {
        fprintf(f, "\n%s:\n", section_title[sec]);
        for (size_t i = 0; i < NOPTS; i++) {
            const struct mst_option *r = &mst_option_table[i];
            if (r->section == (enum mst_opt_section)sec && r->flags[0] &&
                r->type != MST_OT_REFUSED)
                usage_line(f, r);
        }
    }
    fprintf(f, "\nNot supported by Dialtone yet (refused with an error):\n");
    int col = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        const struct mst_option *r = &mst_option_table[i];
        if (r->type != MST_OT_REFUSED)
            continue;
        for (size_t k = 0; k < MST_OPT_MAX_NAMES && r->flags[k]; k++) {
            int w = (int)strlen(r->flags[k]) + 4;
            if (col == 0 || col + w > 76) {
                fprintf(f, "%s   ", col ? "\n" : "");
                col = 3;
            }
            fprintf(f, " %s%s", dashes(r->flags[k]), r->flags[k]);
            col += w;
        }
    }
    fprintf(f, "\n\n");
}
