/*
 * st_stream.c -- the registry of streams in one store directory: open
 * (reload every stream, clean leftovers), create, update, delete, lookup
 * by name and by subject, the config file of each stream, and the timers
 * and flushes that walk every stream.  Create and update also check a
 * mirror's or source's filter against its origin's subjects and refuse
 * cycles as nats-server 2.9.10 does (any stream reached twice through
 * mirrors and sources, a diamond included: "detected cycle").
 *
 * NOTES
 *   Layout: <dir>/LOCK (flock: one registry per directory),
 *   <dir>/<name>/stream.json, <dir>/<name>/msgs/ (the st_store),
 *   <mem_dir>/<name>/msgs/ for memory streams, <dir>/.trash.N while a
 *   delete is under way.  Stream names never start with '.', so no
 *   stream can collide with those.
 *   stream.json is the commit point of a create: written to a temporary
 *   file, fsynced, renamed over, then the directory fsynced.  A directory
 *   without it is a create that did not finish: it is skipped at open
 *   and moved aside if the name is created again.
 *   Server limits: reservations (max_bytes) are taken in reg_add and
 *   given back in reg_remove, moved by updates; usage totals follow
 *   st_stream_changed(), on_done and the tick (st_registry_opts).
 *   Ownership: the registry owns its streams (array of pointers, so a
 *   stream pointer stays valid until that stream is deleted).
 *   Errors: 0 or -errno; API-level errors in struct st_jserr.
 */
#include "st_stream_int.h"

#include "dt_log.h"
#include "dt_subject.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_FILE "stream.json"
#define META_TMP "stream.json.tmp"
#define META_VERSION 1
#define META_MAX (1u << 20)

/* ---- files --------------------------------------------------------------- */

static char *
path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);

    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (remove(p) == -1 && errno != ENOENT)
        dt_warn("storage: remove(%s) failed: %s", p, strerror(errno));
    return 0;
}

static void
rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd == -1)
        return -errno;
    if (fsync(fd) == -1)
        rc = -errno;
    close(fd);
    return rc;
}

static int
mkdir_one(const char *path)
{
    if (mkdir(path, 0755) == -1 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Write dir/name atomically: tmp file, fsync, rename, fsync dir. */
static int
write_atomic(const char *dir, const char *data, size_t len, bool sync)
{
    char *tmp = path_join(dir, META_TMP), *dst = path_join(dir, META_FILE);
    int rc = 0, fd = -1;

    if (tmp == NULL || dst == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rc = -errno;
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w == -1 ? -errno : -EIO;
            goto out;
        }
        off += (size_t)w;
    }
    if (sync && fsync(fd) == -1) {
        rc = -errno;
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, dst) == -1) {
        rc = -errno;
        goto out;
    }
    if (sync)
        rc = fsync_dir(dir);
out:
    if (fd != -1)
        close(fd);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(dst);
    return rc;
}

static int
read_file(const char *path, struct dt_buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (fd == -1)
        return -errno;
    for (;;) {
        if ((rc = dt_buf_reserve(b, 4096)) < 0)
            break;
        ssize_t r = read(fd, b->data + b->len, b->alloc - b->len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        b->len += (size_t)r;
    }
    close(fd);
    return rc;
}

/* ---- the config file ----------------------------------------------------- */

static int
meta_write(struct st_stream *s)
{
    struct dt_buf b = { .cap = META_MAX };
    struct dt_jw w;
    int rc;

    if (s->cfg.storage == ST_SSTORAGE_MEMORY)
        return 0;                   /* not recovered: nothing to keep */
    dt_jw_init(&w, &b, false);
    dt_jw_begin_object(&w);
    dt_jw_kint(&w, "version", META_VERSION);
    dt_jw_kint(&w, "created_ns", s->created);
    dt_jw_key(&w, "config");
    st_stream_config_json(&w, &s->cfg);
    dt_jw_end_object(&w);
    rc = dt_jw_finish(&w);
    if (rc == 0)
        rc = write_atomic(s->dir, b.data, b.len, true);
    dt_buf_free(&b);
    return rc;
}

/* Load <dir>/stream.json into cfg (checked) and *created. */
static int
meta_read(const char *dir, struct st_stream_config *cfg, int64_t *created)
{
    struct dt_buf b = { .cap = META_MAX };
    struct dt_json_doc *doc = NULL;
    struct st_jserr err;
    char *path = path_join(dir, META_FILE);
    int64_t version = 0;
    int rc;

    if (path == NULL)
        return -ENOMEM;
    rc = read_file(path, &b);
    free(path);
    if (rc < 0)
        goto out;
    rc = dt_json_parse(b.data, b.len, 0, &doc, NULL);
    if (rc < 0)
        goto out;
    const struct dt_json *root = dt_json_root(doc);
    if (dt_json_int64(dt_json_get(root, "version"), &version) < 0
        || version != META_VERSION
        || dt_json_int64(dt_json_get(root, "created_ns"), created) < 0) {
        rc = -EPROTO;
        goto out;
    }
    rc = st_stream_config_parse(dt_json_get(root, "config"), cfg, &err);
    if (rc == 0 && (rc = st_stream_config_check(cfg, &err)) < 0)
        st_stream_config_free(cfg);
    if (rc < 0)
        dt_warn("storage: %s: bad config: %s", dir, err.description);
out:
    dt_json_free(doc);
    dt_buf_free(&b);
    return rc;
}

/* ---- server limits ------------------------------------------------------- */

/* Index of the per-storage-type arrays of the registry. */
static unsigned
kind(uint8_t storage)
{
    return storage == ST_SSTORAGE_MEMORY ? 1 : 0;
}

static int64_t
limit_of(const struct st_registry *r, uint8_t storage)
{
    return storage == ST_SSTORAGE_MEMORY ? r->o.max_memory : r->o.max_store;
}

/* a + b with Go's int64 wrap-around (no undefined behaviour). */
static int64_t
wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* reserveStreamResources (sign 1) / releaseStreamResources (-1): only a
 * positive max_bytes counts. */
static void
reserve(struct st_registry *r, uint8_t storage, int64_t max_bytes, int sign)
{
    int64_t *res = &r->reserved[kind(storage)];

    if (max_bytes > 0)
        *res = wrap_add(*res, sign > 0 ? max_bytes : -max_bytes);
}

/* checkBytesLimits() of the server (no account limits): may `add` more
 * bytes of `storage` be reserved?  A negative add counts as 1 (a stream
 * without max_bytes).  -ENOSPC with err set when not. */
static int
limits_check(const struct st_registry *r, uint8_t storage, int64_t add,
             struct st_jserr *err)
{
    int64_t max = limit_of(r, storage), total;

    if (max <= 0)
        return 0;
    if (add < 0)
        add = 1;
    /* Go wraps on overflow; a sum past INT64_MAX is simply too much */
    if (!__builtin_add_overflow(r->reserved[kind(storage)], add, &total)
        && total <= max)
        return 0;
    if (storage == ST_SSTORAGE_MEMORY)
        st_jserr_set(err, 500, 10028,
                     "insufficient memory resources available");
    else
        st_jserr_set(err, 500, 10047,
                     "insufficient storage resources available");
    return -ENOSPC;
}

void
st_stream_acct(struct st_stream *s)
{
    struct st_fast_state fs;
    uint64_t *used;

    if (!s->counted || s->store == NULL)
        return;
    st_stream_fast_state(s->store, &fs);
    used = &s->reg->used[kind(s->cfg.storage)];
    *used = *used - s->acct + fs.bytes;
    s->acct = fs.bytes;
}

void
st_stream_changed(struct st_stream *s)
{
    s->dirty = true;
    st_stream_acct(s);
}

bool
st_registry_over(struct st_registry *r, uint8_t storage)
{
    int64_t max = limit_of(r, storage);
    unsigned k = kind(storage);
    bool over = max > 0 && r->used[k] > (uint64_t)max;

    if (over && !r->over_logged[k])
        dt_warn("storage: JetStream %s limit of %" PRId64 " bytes exceeded: "
                "publishes to %s streams are refused", k ? "memory" : "file",
                max, k ? "memory" : "file");
    r->over_logged[k] = over;
    return over;
}

void
st_registry_usage(const struct st_registry *r, struct st_registry_usage *out)
{
    out->reserved_store = r->reserved[0];
    out->reserved_memory = r->reserved[1];
    out->store = r->used[0];
    out->memory = r->used[1];
}

/* ---- streams ------------------------------------------------------------- */

static void
stream_on_done(void *arg, const struct st_done *d)
{
    struct st_stream *s = arg;

    if (s->reg->o.on_done)
        s->reg->o.on_done(s->reg->o.on_done_arg, s, d);
    st_stream_acct(s);      /* a failed write may have cut the files back */
}

static void
stream_free(struct st_stream *s)
{
    if (s == NULL)
        return;
    st_stream_config_free(&s->cfg);
    st_stream_dd_free(&s->dd);
    st_stream_pend_free(s);
    free(s->last_msg_id);
    free(s->dir);
    free(s);
}

static int
stream_new(struct st_registry *r, const struct st_stream_config *cfg,
           int64_t created, struct st_stream **out)
{
    struct st_stream *s = calloc(1, sizeof(*s));
    const char *root = cfg->storage == ST_SSTORAGE_MEMORY ? r->mem_dir
                                                           : r->dir;

    if (s == NULL)
        return -ENOMEM;
    s->reg = r;
    s->created = created;
    if (st_stream_config_copy(&s->cfg, cfg) < 0
        || (s->dir = path_join(root, cfg->name)) == NULL) {
        stream_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

static int
stream_open_store(struct st_stream *s)
{
    struct st_config c = s->reg->o.store;
    char *msgs = path_join(s->dir, "msgs");
    int rc;

    if (msgs == NULL)
        return -ENOMEM;
    c.on_done = stream_on_done;
    c.on_done_arg = s;
    if (s->cfg.storage == ST_SSTORAGE_MEMORY)
        c.sync = ST_SYNC_INTERVAL;
    rc = mkdir_one(s->dir);
    if (rc == 0)
        rc = st_store_open(&s->store, s->reg->o.io, msgs, &c);
    free(msgs);
    return rc;
}

/* ---- the by-name index --------------------------------------------------- */

static uint64_t
name_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;        /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static bool
name_is(const struct st_stream *s, const char *name, size_t len)
{
    const char *n = s->cfg.name;
    return strncmp(n, name, len) == 0 && n[len] == '\0';
}

static void
byname_put(struct st_name_slot *v, size_t cap, struct st_stream *s,
           uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (v[i].s != NULL)
        i = (i + 1) & (cap - 1);
    v[i] = (struct st_name_slot){ h, s };
}

/* Rebuild at a new size (both at growth and after a removal: streams are
 * few and removals rare, so no tombstones to manage). */
static int
byname_rebuild(struct st_registry *r, size_t cap)
{
    struct st_name_slot *v = calloc(cap, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        const char *n = r->streams[i]->cfg.name;
        byname_put(v, cap, r->streams[i], name_hash(n, strlen(n)));
    }
    free(r->byname);
    r->byname = v;
    r->byname_cap = cap;
    return 0;
}

static int
reg_add(struct st_registry *r, struct st_stream *s)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct st_stream **v = realloc(r->streams, ncap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        r->streams = v;
        r->cap = ncap;
    }
    if (2 * (r->n + 1) >= r->byname_cap) {
        size_t cap = 64;
        while (cap <= 2 * (r->n + 1))
            cap *= 2;
        if (byname_rebuild(r, cap) < 0)
            return -ENOMEM;
    }
    r->streams[r->n++] = s;
    byname_put(r->byname, r->byname_cap, s,
               name_hash(s->cfg.name, strlen(s->cfg.name)));
    reserve(r, s->cfg.storage, s->cfg.max_bytes, 1);
    s->counted = true;
    st_stream_acct(s);
    return 0;
}

static void
reg_remove(struct st_registry *r, struct st_stream *s)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->streams[i] == s) {
            r->streams[i] = r->streams[--r->n];
            if (r->byname_cap && byname_rebuild(r, r->byname_cap) < 0) {
                free(r->byname);        /* lookups fall back to a scan */
                r->byname = NULL;
                r->byname_cap = 0;
            }
            reserve(r, s->cfg.storage, s->cfg.max_bytes, -1);
            r->used[kind(s->cfg.storage)] -= s->acct;
            s->acct = 0;
            s->counted = false;
            return;
        }
}

static void
notify(struct st_stream *s, enum st_stream_event ev)
{
    const struct st_stream_hooks *h = &s->reg->o.hooks;

    if (h->on_stream)
        h->on_stream(h->arg, s, ev);
}

/* Move a directory out of the way, then remove it (fsync first, so the
 * name is gone even if the removal is cut short by a crash). */
static void
trash(struct st_registry *r, const char *path)
{
    char name[64];
    char *dst;

    snprintf(name, sizeof(name), ".trash.%" PRIu64 ".%d", ++r->trash_seq,
             (int)getpid());
    dst = path_join(r->dir, name);
    if (dst == NULL || rename(path, dst) == -1) {
        rm_rf(path);
        free(dst);
        return;
    }
    fsync_dir(r->dir);
    rm_rf(dst);
    free(dst);
}

/* Remove what a previous run left: trash and memory streams. */
static void
clean_dir(const char *dir, bool everything)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!everything && strncmp(e->d_name, ".trash.", 7) != 0)
            continue;
        char *p = path_join(dir, e->d_name);
        if (p)
            rm_rf(p);
        free(p);
    }
    closedir(d);
}

static void
load_one(struct st_registry *r, const char *name)
{
    struct st_stream_config cfg = { 0 };
    struct st_stream *s = NULL;
    struct st_jserr err;
    int64_t created = 0;
    char *dir = path_join(r->dir, name);
    int rc;

    if (dir == NULL)
        return;
    rc = meta_read(dir, &cfg, &created);
    if (rc < 0) {
        dt_warn("storage: %s: not a stream (%s), skipped", dir,
                strerror(-rc));
        goto out;
    }
    if (strcmp(cfg.name, name) != 0 || cfg.storage != ST_SSTORAGE_FILE) {
        dt_warn("storage: %s: config names stream '%s', skipped", dir,
                cfg.name);
        goto out;
    }
    if (limits_check(r, cfg.storage, cfg.max_bytes, &err) < 0) {
        /* nats-server leaves it too: a larger limit brings it back */
        dt_warn("storage: stream '%s' not loaded: %s (%d)", name,
                err.description, err.err_code);
        goto out;
    }
    rc = stream_new(r, &cfg, created, &s);
    if (rc == 0)
        rc = stream_open_store(s);
    if (rc == 0)
        rc = reg_add(r, s);
    if (rc < 0) {
        dt_error("storage: stream '%s' could not be opened: %s", name,
                 strerror(-rc));
        if (s && s->store)
            st_store_close(s->store);
        stream_free(s);
        goto out;
    }
    notify(s, ST_STREAM_OPENED);
out:
    st_stream_config_free(&cfg);
    free(dir);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every stream directory, in name order (nats-server's os.ReadDir order:
 * it decides which streams still fit the server limits). */
static int
load_all(struct st_registry *r)
{
    DIR *d = opendir(r->dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (d == NULL)
        return -errno;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "LOCK") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **v = realloc(names, ncap * sizeof(*v));
            if (v == NULL) {
                rc = -ENOMEM;
                break;
            }
            names = v;
            cap = ncap;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            rc = -ENOMEM;
        else
            n++;
    }
    closedir(d);
    if (rc == 0 && n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            load_one(r, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- registry ------------------------------------------------------------ */

int
st_registry_open(struct st_registry **out, const struct st_registry_opts *o)
{
    struct st_registry *r;
    char *lock = NULL;
    int rc;

    *out = NULL;
    if (o == NULL || o->dir == NULL || o->io == NULL)
        return -EINVAL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->o = *o;
    r->lockfd = -1;
    r->dir = strdup(o->dir);
    r->mem_dir = o->mem_dir ? strdup(o->mem_dir) : path_join(o->dir, ".mem");
    lock = r->dir ? path_join(r->dir, "LOCK") : NULL;
    if (r->dir == NULL || r->mem_dir == NULL || lock == NULL) {
        rc = -ENOMEM;
        goto err;
    }
    r->o.dir = r->dir;
    r->o.mem_dir = r->mem_dir;
    if ((rc = mkdir_one(r->dir)) < 0)
        goto err;
    r->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (r->lockfd == -1) {
        rc = -errno;
        goto err;
    }
    if (flock(r->lockfd, LOCK_EX | LOCK_NB) == -1) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        goto err;
    }
    clean_dir(r->dir, false);
    if ((rc = mkdir_one(r->mem_dir)) < 0)
        goto err;
    clean_dir(r->mem_dir, true);
    if ((rc = load_all(r)) < 0)
        goto err;
    free(lock);
    *out = r;
    return 0;
err:
    free(lock);
    st_registry_close(r);
    return rc;
}

void
st_registry_close(struct st_registry *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct st_stream *s = r->streams[i];
        int rc = st_store_close(s->store);
        if (rc < 0)
            dt_warn("storage: stream '%s': close: %s", s->cfg.name,
                    strerror(-rc));
        stream_free(s);
    }
    free(r->streams);
    free(r->byname);
    if (r->lockfd != -1)
        close(r->lockfd);
    free(r->dir);
    free(r->mem_dir);
    free(r);
}

size_t
st_registry_count(const struct st_registry *r)
{
    return r->n;
}

struct st_stream *
st_registry_find(const struct st_registry *r, const char *name, size_t len)
{
    if (r->byname_cap == 0) {
        for (size_t i = 0; i < r->n; i++)
            if (name_is(r->streams[i], name, len))
                return r->streams[i];
        return NULL;
    }
    uint64_t h = name_hash(name, len);
    size_t mask = r->byname_cap - 1;
    for (size_t i = (size_t)h & mask; r->byname[i].s; i = (i + 1) & mask)
        if (r->byname[i].hash == h && name_is(r->byname[i].s, name, len))
            return r->byname[i].s;
    return NULL;
}

struct st_stream *
st_registry_match(const struct st_registry *r, const char *subj, size_t len)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct st_stream_config *c = &r->streams[i]->cfg;
        for (size_t j = 0; j < c->nsubjects; j++)
            if (dt_subject_matches(c->subjects[j], strlen(c->subjects[j]),
                                   subj, len))
                return r->streams[i];
    }
    return NULL;
}

static int
by_name(const void *a, const void *b)
{
    const struct st_stream *x = *(struct st_stream *const *)a;
    const struct st_stream *y = *(struct st_stream *const *)b;

    return strcmp(x->cfg.name, y->cfg.name);
}

int
st_registry_sorted(const struct st_registry *r, struct st_stream ***out,
                   size_t *n)
{
    *out = NULL;
    *n = r->n;
    if (r->n == 0)
        return 0;
    *out = malloc(r->n * sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    memcpy(*out, r->streams, r->n * sizeof(**out));
    qsort(*out, r->n, sizeof(**out), by_name);
    return 0;
}

/* Do the subjects of cfg overlap those of a stream other than `self`? */
static bool
overlaps(const struct st_registry *r, const struct st_stream_config *cfg,
         const struct st_stream *self)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct st_stream_config *o = &r->streams[i]->cfg;
        if (r->streams[i] == self)
            continue;
        for (size_t a = 0; a < cfg->nsubjects; a++)
            for (size_t b = 0; b < o->nsubjects; b++)
                if (st_stream_subjects_collide(cfg->subjects[a],
                                               strlen(cfg->subjects[a]),
                                               o->subjects[b],
                                               strlen(o->subjects[b])))
                    return true;
    }
    return false;
}

static int
refuse_replicas(const struct st_stream_config *cfg, struct st_jserr *err)
{
    if (cfg->num_replicas <= 1)
        return 0;
    st_jserr_set(err, 500, 10074,
                 "replicas > 1 not supported in non-clustered mode");
    return -EINVAL;
}

/* ---- mirrors and sources ------------------------------------------------ */

/* Names seen by the cycle walk (bounded by the streams of the registry
 * plus the top level). */
struct seen {
    const char **v;
    size_t n, cap;
};

static bool
seen_add(struct seen *sn, const char *name)
{
    for (size_t i = 0; i < sn->n; i++)
        if (strcmp(sn->v[i], name) == 0)
            return false;
    if (sn->n < sn->cap)
        sn->v[sn->n++] = name;
    return true;
}

/* nats-server's walk: every stream reached through mirrors and sources
 * must be new to the walk (a diamond counts as a cycle, as there). */
static bool
visit(const struct st_registry *r, struct seen *sn, const char *name)
{
    const struct st_stream *s;
    const struct st_stream_config *c;

    if (!seen_add(sn, name))
        return false;
    if ((s = st_registry_find(r, name, strlen(name))) == NULL)
        return true;
    c = &s->cfg;
    if (c->mirror && c->mirror->name && !visit(r, sn, c->mirror->name))
        return false;
    for (size_t i = 0; i < c->nsources; i++)
        if (c->sources[i].name && !visit(r, sn, c->sources[i].name))
            return false;
    return true;
}

/* Does the stream filter select anything of origin's subjects? */
static int
filter_check(const struct st_registry *r, const char *what,
             const struct st_stream_source *ss, struct st_jserr *err)
{
    const struct st_stream *o;
    const char *f = ss->filter_subject;

    if (f == NULL || *f == '\0' || ss->name == NULL
        || (o = st_registry_find(r, ss->name, strlen(ss->name))) == NULL)
        return 0;
    for (size_t i = 0; i < o->cfg.nsubjects; i++)
        if (st_stream_subjects_collide(f, strlen(f), o->cfg.subjects[i],
                                       strlen(o->cfg.subjects[i])))
            return 0;
    st_jserr_set(err, 500, 10052, "%s '%s' filter subject '%s' does not "
                 "overlap with any origin stream subject", what, ss->name, f);
    return -EINVAL;
}

/* Origins: filters that select nothing, cycles. */
static int
origin_checks(const struct st_registry *r, const struct st_stream_config *cfg,
              struct st_jserr *err)
{
    struct seen sn = { 0 };
    bool ok = true;

    if (cfg->mirror && filter_check(r, "mirror", cfg->mirror, err) < 0)
        return -EINVAL;
    for (size_t i = 0; i < cfg->nsources; i++)
        if (filter_check(r, "source", &cfg->sources[i], err) < 0)
            return -EINVAL;
    if (cfg->mirror == NULL && cfg->nsources == 0)
        return 0;
    sn.cap = r->n + cfg->nsources + 2;
    if ((sn.v = calloc(sn.cap, sizeof(*sn.v))) == NULL) {
        st_jserr_set(err, 500, 10049, "out of memory");
        return -ENOMEM;
    }
    seen_add(&sn, cfg->name);
    if (cfg->mirror && cfg->mirror->name)
        ok = visit(r, &sn, cfg->mirror->name);
    for (size_t i = 0; ok && i < cfg->nsources; i++) {
        const char *n = cfg->sources[i].name;
        bool dup = false;
        for (size_t j = 0; j < i; j++)      /* one walk per name */
            dup |= cfg->sources[j].name && n && strcmp(n,
                                                  cfg->sources[j].name) == 0;
        if (n && !dup)
            ok = visit(r, &sn, n);
    }
    free(sn.v);
    if (ok)
        return 0;
    st_jserr_set(err, 500, 10052, "detected cycle");
    return -EINVAL;
}

static int
create_checks(struct st_registry *r, const struct st_stream_config *cfg,
              struct st_stream **existing, struct st_jserr *err)
{
    struct st_stream *s;

    if (cfg->sealed) {
        st_jserr_set(err, 500, 10052,
                     "stream configuration for create can not be sealed");
        return -EINVAL;
    }
    if (refuse_replicas(cfg, err) < 0)
        return -EINVAL;
    s = st_registry_find(r, cfg->name, strlen(cfg->name));
    if (s != NULL) {
        if (st_stream_config_equal(&s->cfg, cfg)) {
            *existing = s;
            return 0;
        }
        st_jserr_set(err, 400, 10058,
                     "stream name already in use with a different "
                     "configuration");
        return -EEXIST;
    }
    if (r->o.max_streams && r->n >= r->o.max_streams) {
        st_jserr_set(err, 400, 10027, "maximum number of streams reached");
        return -EINVAL;
    }
    if (limits_check(r, cfg->storage, cfg->max_bytes, err) < 0)
        return -EINVAL;
    if (origin_checks(r, cfg, err) < 0)
        return -EINVAL;
    if (overlaps(r, cfg, NULL)) {
        st_jserr_set(err, 400, 10065,
                     "subjects overlap with an existing stream");
        return -EINVAL;
    }
    return 0;
}

int
st_registry_create(struct st_registry *r, const struct st_stream_config *cfg,
                   int64_t now, struct st_stream **out, bool *created,
                   struct st_jserr *err)
{
    struct st_stream *s = NULL, *existing = NULL;
    struct stat sb;
    int rc;

    *out = NULL;
    *created = false;
    rc = create_checks(r, cfg, &existing, err);
    if (rc < 0 || existing) {
        *out = existing;
        return rc;
    }
    rc = stream_new(r, cfg, now, &s);
    if (rc < 0)
        goto fail;
    if (stat(s->dir, &sb) == 0) {
        char *meta = path_join(s->dir, META_FILE);
        bool kept = meta && stat(meta, &sb) == 0;
        free(meta);
        if (kept) {
            /* a stream that failed to load at open: never destroy it */
            dt_error("storage: %s exists but is not loaded; not replaced",
                     s->dir);
            st_jserr_set(err, 500, 10049, "stream directory %s exists",
                         cfg->name);
            stream_free(s);
            return -EEXIST;
        }
        trash(r, s->dir);           /* an unfinished create */
    }
    if ((rc = stream_open_store(s)) < 0 || (rc = meta_write(s)) < 0
        || (rc = reg_add(r, s)) < 0)
        goto fail;
    *out = s;
    *created = true;
    notify(s, ST_STREAM_OPENED);
    return 0;
fail:
    st_jserr_set(err, 500, 10049, "%s", strerror(-rc));
    if (s) {
        if (s->store)
            st_store_close(s->store);
        trash(r, s->dir);
        stream_free(s);
    }
    return rc;
}

/* configUpdateCheck's limit check: only a growth of max_bytes is
 * checked (new - old, 0 when it shrinks or stays: then the check passes
 * unless the reservations are already past the limit). */
static int
update_limits_check(const struct st_registry *r,
                    const struct st_stream_config *old,
                    const struct st_stream_config *upd, struct st_jserr *err)
{
    int64_t diff;

    if (__builtin_sub_overflow(upd->max_bytes, old->max_bytes, &diff))
        diff = INT64_MAX;
    return limits_check(r, upd->storage, diff < 0 ? 0 : diff, err) < 0
               ? -EINVAL : 0;
}

int
st_registry_update(struct st_registry *r, struct st_stream *s,
                   const struct st_stream_config *cfg, int64_t now,
                   struct st_jserr *err)
{
    struct st_stream_config ncfg, old;
    int rc;

    if (st_stream_config_copy(&ncfg, cfg) < 0) {
        st_jserr_set(err, 500, 10069, "out of memory");
        return -ENOMEM;
    }
    if ((rc = st_stream_config_update_check(&s->cfg, &ncfg, err)) < 0
        || (rc = update_limits_check(r, &s->cfg, &ncfg, err)) < 0
        || (rc = refuse_replicas(&ncfg, err)) < 0
        || (rc = origin_checks(r, &ncfg, err)) < 0)
        goto out;
    if (overlaps(r, &ncfg, s)) {
        st_jserr_set(err, 400, 10065,
                     "subjects overlap with an existing stream");
        rc = -EINVAL;
        goto out;
    }
    old = s->cfg;
    s->cfg = ncfg;
    rc = meta_write(s);
    if (rc < 0) {
        ncfg = s->cfg;
        s->cfg = old;
        st_jserr_set(err, 500, 10069, "%s", strerror(-rc));
        goto out;
    }
    ncfg = old;                     /* the old one is freed below */
    /* nats-server moves the reservation by the plain difference, so
     * -1 -> N reserves N + 1 and N -> -1 releases N + 1 */
    r->reserved[kind(s->cfg.storage)] = wrap_add(
        r->reserved[kind(s->cfg.storage)],
        (int64_t)((uint64_t)s->cfg.max_bytes - (uint64_t)old.max_bytes));
    notify(s, ST_STREAM_UPDATED);
    /* like nats-server, per-subject limits are re-applied only when an
     * existing limit is lowered (not when one is introduced) */
    st_stream_enforce_all(s, now, old.max_msgs_per_subject > 0
                          && s->cfg.max_msgs_per_subject > 0
                          && s->cfg.max_msgs_per_subject
                             < old.max_msgs_per_subject);
out:
    st_stream_config_free(&ncfg);
    return rc;
}

int
st_registry_delete(struct st_registry *r, struct st_stream *s)
{
    int rc;

    notify(s, ST_STREAM_DELETING);
    reg_remove(r, s);
    rc = st_store_close(s->store);
    if (rc < 0)
        dt_warn("storage: stream '%s': close before delete: %s", s->cfg.name,
                strerror(-rc));
    s->store = NULL;
    trash(r, s->dir);
    stream_free(s);
    return 0;
}

int
st_registry_flush(struct st_registry *r)
{
    int first = 0;

    for (size_t i = 0; i < r->n; i++) {
        struct st_stream *s = r->streams[i];
        if (s->npend || s->need_enforce)
            st_stream_maintain(s);
        if (!s->dirty)
            continue;
        s->dirty = false;
        int rc = st_store_flush(s->store);
        if (rc < 0 && first == 0)
            first = rc;
    }
    return first;
}

int
st_registry_tick(struct st_registry *r, int64_t now, uint64_t now_mono)
{
    int first = 0;

    for (size_t i = 0; i < r->n; i++) {
        struct st_stream *s = r->streams[i];
        st_stream_maintain(s);
        st_stream_dd_expire(s, now);
        if (s->cfg.max_age > 0)
            st_stream_expire(s, now);
        int rc = st_store_tick(s->store, now_mono);
        st_stream_acct(s);
        if (rc < 0 && first == 0)
            first = rc;
    }
    return first;
}

void
st_registry_api_count(struct st_registry *r, bool error)
{
    r->api_total++;
    if (error)
        r->api_errors++;
}

void
st_registry_api_stats(const struct st_registry *r, uint64_t *total,
                      uint64_t *errors)
{
    *total = r->api_total;
    *errors = r->api_errors;
}

const struct st_stream_hooks *
st_registry_hooks(const struct st_registry *r)
{
    return &r->o.hooks;
}

/* ---- accessors ----------------------------------------------------------- */

const char *
st_stream_name(const struct st_stream *s)
{
    return s->cfg.name;
}

const struct st_stream_config *
st_stream_config(const struct st_stream *s)
{
    return &s->cfg;
}

struct st_store *
st_stream_store(struct st_stream *s)
{
    return s->store;
}

struct st_registry *
st_stream_registry(struct st_stream *s)
{
    return s->reg;
}

int64_t
st_stream_created(const struct st_stream *s)
{
    return s->created;
}

const char *
st_stream_dir(const struct st_stream *s)
{
    return s->dir;
}

uint64_t
st_stream_consumer_count(struct st_stream *s)
{
    const struct st_stream_hooks *h = &s->reg->o.hooks;

    return h->consumer_count ? h->consumer_count(h->arg, s) : 0;
}

void
st_stream_state(struct st_stream *s, struct st_state *out)
{
    st_store_state(s->store, out);
    if (out->last_seq == 0 && out->msgs == 0 && !s->purged_empty)
        out->first_seq = 0;
}

void
st_stream_set_user(struct st_stream *s, void *user)
{
    s->user = user;
}

void *
st_stream_user(const struct st_stream *s)
{
    return s->user;
}
