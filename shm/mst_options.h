/*
 * mst_options.h -- the master's configuration: one table of every option
 * (config keys, flags, defaults, limits, owner, reload class, help), and
 * the loader that resolves defaults, then the config file (-c), then the
 * command line, the way nats-server 2.9.10 does.
 *
 * NOTES
 *   Ownership: struct mst_options is plain data owned by the caller (the
 *   master); its `s` member is what the master copies into the segment
 *   header for the children.  Nothing here keeps state between calls, so
 *   a reload is another mst_options_load() into a fresh struct, compared
 *   with the running one (mst_options_changed, mst_options_compare; see
 *   mst_reload.c).
 *   Errors: mst_options_load() returns 0 or -EINVAL and writes one line
 *   naming the problem into err ("file:line:col: ..." for the config
 *   file, "flag ..." for the command line).  Non-fatal problems that
 *   nats-server reports as warnings (e.g. `ping_interval: 30` instead of
 *   "30s") land in o->warnings; under -t they are errors, as in
 *   nats-server.
 *   Features Dialtone does not have yet (TLS, clustering, ...)
 *   are refused by name in the file and on the command line, never
 *   ignored; keys nats-server does not know are errors ("unknown field"),
 *   as they are in nats-server.
 *   As in nats-server: 0 means "default" for the limits and durations,
 *   port -1 means any free port (stored as 0 in s.port for bind(2)),
 *   flags beat the file even when given before -c, `-p 0` is 4222, keys
 *   are case-insensitive, later keys beat earlier ones.
 *   Stricter than nats-server (which accepts these and misbehaves later):
 *   out-of-range values (port 70000, negative limits) are errors;
 *   http_port -1 and bcrypt-hashed secrets are refused as unsupported;
 *   an authorization timeout given as a duration string ("500ms") is
 *   honoured where nats-server silently uses 1s.
 */
#ifndef MST_OPTIONS_H
#define MST_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shm_types.h"

struct mst_options {
    struct shm_settings s;           /* what children read */
    char config_file[256], pid_file[256], log_file[256];
    char signal_cmd[64];             /* --signal: send it and exit */
    int logtime, show_version, show_help, test_config;
    uint32_t gateway_workers;        /* dialtone-only: gateway worker processes,
                                        default = number of online CPUs */
    uint32_t ring_entries;           /* dialtone-only: entries per ring, power
                                        of two, default 65536 */
    uint64_t arena_bytes;            /* dialtone-only: payload arena per
                                        gateway, power of two, default 64 MiB */
    /* Monitoring bind address from `http: "host:port"`; defaults to host
     * as in nats-server.  Not in shm_settings yet: the master must pass
     * it on (see the report to the lead). */
    char http_host[SHM_NAME_MAX];
    char warnings[1024];             /* "\n"-separated, "" if none */
};

/* Types of values an option takes. */
enum mst_opt_type {
    MST_OT_BOOL,        /* true/false/yes/no/on/off; flags: -x or -x=false */
    MST_OT_INT,         /* integer, size suffixes allowed in the file */
    MST_OT_DURATION,    /* "2m", "30s", "1h30m", "500ms"; stored in ms */
    MST_OT_STRING,
    MST_OT_HOSTPORT,    /* "host:port" or a bare port (listen, http) */
    MST_OT_BLOCK,       /* a map of sub-options (authorization) */
    MST_OT_ACTION,      /* flag-only switches with side effects (-DV) */
    MST_OT_REFUSED,     /* a nats-server feature Dialtone lacks */
};

/* Where a value lands. */
enum mst_opt_home {
    MST_HOME_NONE,      /* no field of its own (blocks, refused, -DV) */
    MST_HOME_SHM,       /* offsetof into struct shm_settings */
    MST_HOME_MASTER,    /* offsetof into struct mst_options */
};

/* The subsystem that consumes the value. */
enum mst_subsys {
    MST_SUB_MASTER,
    MST_SUB_GATEWAY,
    MST_SUB_ROUTER,
    MST_SUB_STORAGE,
    MST_SUB_ALL,
};

/* What applying a changed value takes. */
enum mst_change {
    MST_CHANGE_HOT = 0,         /* children pick it up from shm/reload */
    MST_CHANGE_SUBSYS = 1,      /* restart the owning subsystem */
    MST_CHANGE_RESTART = 2,     /* restart the whole service */
};

/* Help sections for -h, in nats-server's order. */
enum mst_opt_section {
    MST_SEC_SERVER,
    MST_SEC_LOGGING,
    MST_SEC_JETSTREAM,
    MST_SEC_AUTH,
    MST_SEC_DIALTONE,
    MST_SEC_COMMON,
};

/* mst_option.flags */
#define MST_OF_ZERO_DEFAULT 0x01u   /* 0 means "use the default" */
#define MST_OF_POW2         0x02u   /* must be a power of two */
#define MST_OF_PORT         0x04u   /* -1 = ephemeral port (stored as 0) */
#define MST_OF_OFF_OK       0x08u   /* REFUSED: false/"disabled" is fine */
#define MST_OF_SECONDS      0x10u   /* DURATION: numbers are seconds, no
                                       warning (authorization timeout) */
#define MST_OF_SECRET       0x20u   /* never echo the value in messages;
                                       bcrypt hashes are refused */
#define MST_OF_NORANDOM     0x40u   /* -1 (random port) is refused */
#define MST_OF_NCPU         0x80u   /* 0 = number of online CPUs */
#define MST_OF_JS_BLOCK     0x100u  /* BOOL in flags; in the file also a
                                       block of options (jetstream {}) */
#define MST_OF_ALWAYS       0x200u  /* DURATION: "always" is accepted,
                                       stored as -1 (sync_interval) */
#define MST_OF_MIN_SECONDS  0x400u  /* DURATION: below .min, nats-server's
                                       "minimum is N seconds" */

#define MST_OPT_MAX_NAMES   4

struct mst_option {
    const char *keys[MST_OPT_MAX_NAMES];  /* config keys, canonical first;
                                             {NULL} = flag only */
    const char *parent;                   /* enclosing block key, or NULL */
    const char *flags[MST_OPT_MAX_NAMES]; /* flag names without dashes */
    const char *arg;                      /* flag argument name in -h */
    enum mst_opt_type type;
    enum mst_opt_home home;
    size_t off, size;                     /* field in the home struct */
    int64_t def, min, max;                /* ints, bools; durations in ms */
    const char *def_str;                  /* STRING default */
    const char *port_opt;                 /* HOSTPORT: row taking the port
                                             (the host goes to off/size) */
    enum mst_subsys owner;
    enum mst_change change;
    unsigned flags_mask;                  /* MST_OF_* */
    enum mst_opt_section section;
    const char *feature;                  /* REFUSED: what is missing */
    const char *help;
};

extern const struct mst_option mst_option_table[];
extern const size_t mst_option_count;

/* Row for a config key (case-insensitive) inside parent (NULL = top). */
const struct mst_option *mst_option_by_key(const char *key,
                                           const char *parent);
/* Row for a flag name given without dashes (case-sensitive, like Go). */
const struct mst_option *mst_option_by_flag(const char *name);

/* Defaults, then the config file (-c), then flags override the file.
 * argv[0] is the program name; o need not be initialised.  0 or -EINVAL
 * (-ENOMEM if out of memory) with a message naming the problem in err.
 * With -h or -v it returns 0 at once with show_help or show_version set
 * and nothing else loaded.  A new server_id is generated on each call. */
int  mst_options_load(struct mst_options *o, int argc, char **argv,
                      char *err, size_t errlen);
void mst_options_usage(FILE *f);     /* -h text */

/* The strongest change class needed to go from old to new, and (if
 * subsys is not NULL) a bit mask of 1u << enum mst_subsys owning the
 * options that differ.  MST_CHANGE_HOT with *subsys == 0: no change. */
enum mst_change mst_options_compare(const struct mst_options *old_o,
                                    const struct mst_options *new_o,
                                    unsigned *subsys);

/* The next option (after prev; NULL: the first) whose value differs
 * between old and new, or NULL; -c, -t, -h, -v and --signal never count. */
const struct mst_option *mst_options_changed(const struct mst_options *old_o,
                                             const struct mst_options *new_o,
                                             const struct mst_option *prev);
/* The option's field in o. */
void *mst_option_field(struct mst_options *o, const struct mst_option *r);

/* After a reload: keep the running server's id (each load makes a new
 * one), and its name too when the name was defaulted to the id. */
void mst_options_keep_identity(struct mst_options *new_o,
                               const struct mst_options *old_o);

/* A fresh nats-server-style server id: 56 characters of base32 starting
 * with 'N' (an nkey server public key built from random bytes).
 * buf must hold 57 bytes.  0 or -errno. */
int  mst_options_new_server_id(char *buf, size_t len);

#endif /* MST_OPTIONS_H */
