/*
 * st_consumer_int.h -- private structures shared by the consumer files
 * (st_consumer.c, st_consumer_set.c, st_consumer_cfg.c,
 * st_consumer_pend.c, st_consumer_pull.c, st_consumer_state.c).  Not for
 * other modules: use st_consumer.h.
 *
 * NOTES
 *   Memory: a consumer costs its struct (~400 B) plus its config blob;
 *   the pending table, waiting queue and last-per-subject list are only
 *   allocated while in use, so an idle durable stays well under 2 KiB.
 *   Single-threaded, like everything on the storage thread.
 */
#ifndef ST_CONSUMER_INT_H
#define ST_CONSUMER_INT_H

#include "st_consumer.h"

/* ------------------------------------------------------------------ */
/* Pending acks: entries sorted by stream sequence (deliveries only ever
 * add sequences above the ones already there), live in [head, n). */

#define PE_PENDING 0x1u     /* awaiting an ack (counts in num_ack_pending) */
#define PE_RDQ 0x2u         /* queued for redelivery */
/* An entry with dc > 1 and no PE_PENDING still counts in num_redelivered
 * (nats-server keeps its redelivery count after max_deliver). */

struct st_pent {
    uint64_t sseq;
    uint64_t dseq;          /* consumer sequence of the last delivery */
    int64_t ts;             /* last delivery time (ns), shifted by NAK delay */
    uint32_t dc;            /* deliveries so far */
    uint32_t flags;
};

struct st_pend {
    struct st_pent *e;
    uint32_t head, n, cap;
    uint32_t npending;      /* PE_PENDING entries */
    uint32_t nrdc;          /* live entries with dc > 1 */
    uint32_t ndead;         /* dead entries in [head, n) */
    uint64_t *rdq;          /* redelivery FIFO [rdq_head, rdq_n) */
    uint32_t rdq_head, rdq_n, rdq_cap;
};

/* ------------------------------------------------------------------ */
/* Pull requests waiting for messages (a ring, FIFO with round robin). */

struct st_wreq {
    int64_t expires;        /* 0 = never */
    int64_t received;
    int64_t hb;             /* idle heartbeat interval, 0 = none */
    int64_t hbt;            /* next heartbeat */
    int64_t n;              /* messages still wanted */
    int64_t d;              /* messages delivered */
    int64_t b;              /* max_bytes left (0 = no limit) */
    bool no_wait;
    uint16_t reply_len;
    char reply[];
};

struct st_waitq {
    struct st_wreq **r;
    uint32_t cap, head, n;
    int64_t last;           /* last request / delivery (inactivity) */
};

/* deliver_policy last_per_subject: the last sequence of each subject,
 * delivered first, then `resume`. */
struct st_lss {
    uint64_t resume;
    uint64_t *seqs;
    uint32_t i, n;
};

/* Several filters: per filter, where its next message is.  Valid while
 * c->sseq only grows (it is rebuilt when sseq < from): for every filter,
 * no message in [c->sseq, pos) matches it; when `hit`, pos matches it
 * (unless removed since), else pos is the last stream sequence seen + 1.
 * Choosing the next message is then a minimum over the filters, and only
 * the filter that was delivered from, or that saw new messages, goes
 * back to the store: no stream scan per message. */
struct st_fpos {
    uint64_t pos;
    bool hit;
};

struct st_fcache {
    uint64_t from;          /* c->sseq when last used */
    uint32_t n;
    struct st_fpos f[];
};

enum { L_READY = 0, L_TIMED, L_DIRTY, L_COUNT };

struct st_clink {
    struct st_consumer *prev, *next;
};

#define CF_ACTIVE 0x01u         /* push: deliver subject has interest */
#define CF_REPLAY 0x02u         /* replay original still catching up */
#define CF_FILTER_WC 0x04u      /* wildcard filter(s), or several */
#define CF_CLOSED 0x08u
#define CF_ON_DISK 0x10u        /* its CREATE record is in the log */

struct st_consumer {
    struct st_cons_set *set;
    struct st_consumer *hnext;      /* name hash chain */
    struct st_consumer *fnext;      /* filter chain (literal or wild) */
    struct st_clink link[L_COUNT];
    struct st_cons_config cfg;
    const char *name;               /* = name_buf */
    uint32_t name_len;
    uint32_t hash;
    uint32_t flags;
    uint32_t log_cfg, log_st;       /* bytes of its last CREATE / STATE */
    uint8_t lists;                  /* bit L_*: on that list */
    int64_t created;
    uint64_t sseq;                  /* next stream sequence to look at */
    uint64_t dseq;                  /* next consumer sequence */
    uint64_t adflr, asflr;          /* ack floor: consumer / stream */
    int64_t npc;                    /* num pending (may dip below 0) */
    uint64_t npf;                   /* npc is valid through this seq */
    int64_t ldt, lat;               /* last delivery / ack activity */
    int64_t pend_timer;             /* earliest ack deadline to check */
    int64_t timer;                  /* earliest timed work, INT64_MAX */
    struct st_pend *pend;
    struct st_waitq *wq;
    struct st_lss *lss;
    struct st_fcache *fc;           /* several filters: next positions */
    /* push */
    int64_t hb_next;
    int64_t pbytes, maxpb, pblimit, fcsz;
    uint32_t fcid;                  /* outstanding flow control, 0 = none */
    /* inactivity: pull = last activity; push = when interest went (0) */
    int64_t inact_from;
    /* replay original */
    int64_t replay_lts, replay_at, replay_due;
    uint64_t replay_lseq;
    char name_buf[];                /* the name, NUL-terminated */
};

struct st_cons_set {
    const struct st_cons_stream *s;
    struct st_consumer **buckets;   /* by name */
    uint32_t nbuckets;
    size_t count;
    struct st_consumer **fbuckets;  /* literal filters */
    uint32_t nfbuckets;
    struct st_consumer *wild;       /* wildcard / unfiltered consumers */
    struct st_consumer *head[L_COUNT];
    struct dt_buf scratch;          /* message reads */
    struct dt_buf hdrbuf;           /* headers_only header rewrite */
    uint32_t fc_counter;
    uint64_t rng;
    struct st_cons_log *log;        /* durable state log, NULL = not open */
    bool dir_ready;
    bool log_loaded;                /* the log's tail was checked */
};

/* A push consumer has a deliver subject; a pull consumer has none. */
static inline bool
st_cons_is_push(const struct st_consumer *c)
{
    return c->cfg.deliver_subject != NULL;
}

/* The consumer's one filter: NULL when it has none or several. */
static inline const char *
st_cons_single_filter(const struct st_cons_config *cfg)
{
    return st_cons_config_nfilters(cfg) == 1 ? st_cons_config_filter(cfg, 0)
                                             : NULL;
}

/* st_consumer.c */
void st_cons_fcache_reset(struct st_consumer *c);
int st_cons_heartbeat(struct st_consumer *c, struct st_outbox *out,
                      const char *to, size_t to_len);
void st_cons_update_timer(struct st_consumer *c);
int64_t st_cons_recount(struct st_consumer *c);
uint64_t st_cons_check_num_pending(struct st_consumer *c);
int st_cons_select_start(struct st_consumer *c);
int st_cons_status(struct st_outbox *out, const char *to, size_t to_len,
                   const char *hdr, size_t hdr_len);

/* st_consumer_set.c */
uint32_t st_cons_hash(const char *s, size_t n);
void st_cons_list_add(struct st_consumer *c, int which);
void st_cons_list_del(struct st_consumer *c, int which);
void st_cons_mark_ready(struct st_consumer *c);
void st_cons_mark_dirty(struct st_consumer *c);
bool st_cons_filter_match(const struct st_consumer *c, const char *subj,
                          size_t len);

/* st_consumer_pend.c */
struct st_pent *st_pend_find(struct st_pend *p, uint64_t sseq);
int st_pend_insert(struct st_consumer *c, uint64_t sseq, uint64_t dseq,
                   int64_t ts, uint32_t dc, uint32_t flags);
int64_t st_pend_deadline(const struct st_consumer *c, const struct st_pent *e);
uint32_t st_rdq_len(const struct st_consumer *c);
uint64_t st_rdq_front(const struct st_consumer *c);
void st_rdq_pop(struct st_consumer *c);
void st_pend_kill(struct st_consumer *c, struct st_pent *e);
void st_pend_exhaust(struct st_consumer *c, struct st_pent *e, uint32_t dc);
int st_pend_track(struct st_consumer *c, uint64_t sseq, uint64_t dseq,
                  uint32_t dc, int64_t now);
void st_pend_check(struct st_consumer *c, int64_t now);
void st_pend_ack(struct st_consumer *c, uint64_t sseq, uint64_t dseq,
                 int64_t now);
void st_pend_removed(struct st_consumer *c, uint64_t sseq, int64_t now);
void st_pend_purge(struct st_consumer *c, uint64_t first);
uint32_t st_pend_count(const struct st_consumer *c, uint32_t *nrdc);
void st_pend_free(struct st_consumer *c);

/* st_consumer_pull.c */
void st_pull_take(struct st_consumer *c, int64_t sz, int64_t now);
int64_t st_pull_timer(const struct st_consumer *c);
int st_pull_next_waiting(struct st_consumer *c, int64_t now, int64_t sz,
                         struct st_outbox *out, struct st_wreq **got);
int st_pull_process_waiting(struct st_consumer *c, int64_t now, bool eos,
                            struct st_outbox *out, int64_t *brp,
                            int64_t *fexp);
int st_pull_release_all(struct st_consumer *c, struct st_outbox *out);
void st_pull_free(struct st_consumer *c);
uint32_t st_pull_count_live(const struct st_consumer *c, int64_t now);
bool st_pull_interest(const struct st_consumer *c, const char *reply,
                      size_t len);

/* st_consumer_cfg.c */
int st_cons_check(const struct st_cons_set *set,
                  const struct st_cons_config *cfg, bool recovering,
                  struct st_jserr *err);
int st_cons_check_add(const struct st_cons_set *set,
                      const struct st_cons_config *cfg, const char *name,
                      struct st_jserr *err);
int st_cons_check_update(const struct st_cons_config *old,
                         const struct st_cons_config *nw,
                         struct st_jserr *err);
bool st_cons_config_equal(const struct st_cons_config *a,
                          const struct st_cons_config *b);
bool st_cons_partition_unique(const struct st_cons_set *set,
                              const struct st_consumer *self,
                              const struct st_cons_config *c,
                              struct st_jserr *err);

/* st_consumer_state.c: the durable state log.  The first three only
 * append to the set's buffer (opening the log on first use); nothing is
 * on disk before st_cons_log_flush(). */
struct st_cons_log;
int st_cons_log_create(struct st_consumer *c);      /* CREATE: config */
int st_cons_state_write(struct st_consumer *c);     /* STATE */
int st_cons_state_remove(struct st_consumer *c);    /* DELETE */
/* Write the buffer with one write() and (state_sync) one fdatasync();
 * compacts the log when it outgrew the live records. */
int st_cons_log_flush(struct st_cons_set *set);
void st_cons_log_close(struct st_cons_set *set);

#endif /* ST_CONSUMER_INT_H */
