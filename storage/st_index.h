/*
 * st_index.h -- the file store's in-memory indexes: sequence -> record
 * location (a dense array, 12 bytes per sequence) and subject -> count,
 * first and last sequence (an open-addressing hash over a subject table
 * whose strings live in one arena).
 *
 * NOTES
 *   The sequence index covers [base, base + count): base is the stream's
 *   first live sequence (or last + 1 when empty), so trimming the head
 *   keeps deleted prefixes free.  Interior deletes stay as zero-length
 *   entries (12 bytes per gap, like a delete map).  The segment of an
 *   entry is implied by its sequence and is the caller's business.
 *   Subject ids are small integers, reused after a subject's last message
 *   goes.  A subject's first/last may be marked stale by a delete and are
 *   then recomputed on demand by walking the sequence index.
 *   Ownership: the index owns all its memory.  Single-threaded.
 *   Errors: 0 or -errno (-ENOMEM; -ENOENT for an absent sequence).
 */
#ifndef ST_INDEX_H
#define ST_INDEX_H

#include "st_format.h"

#include <stddef.h>
#include <stdint.h>

#define ST_SUBJ_NONE UINT32_MAX
#define ST_SUBJ_STALE_FIRST 0x1u
#define ST_SUBJ_STALE_LAST 0x2u

struct st_subj {
    uint64_t first;         /* lower bound while STALE_FIRST */
    uint64_t last;          /* upper bound while STALE_LAST */
    uint64_t msgs;
    uint32_t str_off;       /* in the arena */
    uint16_t len;           /* 0 = free id */
    uint8_t stale;
    uint8_t pad;
};

struct st_index {
    struct st_ient *e;
    uint64_t head;          /* e[head] holds sequence `base` */
    uint64_t count;
    uint64_t cap;
    uint64_t base;
    struct st_subj *subj;
    uint32_t nsubj;         /* ids handed out, free ones included */
    uint32_t subj_cap;
    uint32_t live_subj;
    uint32_t *free_ids;
    uint32_t nfree, free_cap;
    uint32_t *slots;        /* 0 = empty, else id + 1 */
    uint32_t nslots;        /* power of two */
    uint64_t seed;
    char *arena;
    size_t arena_len, arena_cap, arena_dead;
};

void st_index_init(struct st_index *ix, uint64_t seed);
void st_index_free(struct st_index *ix);

/* Find or add a subject (a new one has msgs 0). */
int st_index_subj_intern(struct st_index *ix, const char *s, size_t n,
                         uint32_t *id);
uint32_t st_index_subj_find(const struct st_index *ix, const char *s,
                            size_t n);
const char *st_index_subj_str(const struct st_index *ix, uint32_t id,
                              size_t *len);
/* Checkpoint load: define id == ix->nsubj (n == 0: a free id). */
int st_index_subj_load(struct st_index *ix, const char *s, size_t n);
/* Free every subject with no message (after a checkpoint load). */
void st_index_subj_sweep(struct st_index *ix);

/* Exact first/last live sequence of a subject (recomputed if stale). */
uint64_t st_index_subj_first(struct st_index *ix, uint32_t id);
uint64_t st_index_subj_last(struct st_index *ix, uint32_t id);

/* Add sequence `seq` (>= base + count; a gap becomes deleted entries). */
int st_index_push(struct st_index *ix, uint64_t seq, uint32_t off,
                  uint32_t len, uint32_t subj);
/* Make room for n more entries (checkpoint load). */
int st_index_reserve(struct st_index *ix, uint64_t n);

/* Entry of `seq`, or NULL outside [base, base + count). */
struct st_ient *st_index_at(const struct st_index *ix, uint64_t seq);

/* Delete `seq`; *out gets the entry as it was.  -ENOENT if absent. */
int st_index_kill(struct st_index *ix, uint64_t seq, struct st_ient *out);

/* Drop deleted entries at the head (base moves to the first live). */
void st_index_trim(struct st_index *ix);

/* Move base to n: every entry below n must be deleted already; n may be
 * past the end (the index becomes empty at n). */
void st_index_advance(struct st_index *ix, uint64_t n);

size_t st_index_mem_seq(const struct st_index *ix);
size_t st_index_mem_subj(const struct st_index *ix);

#endif /* ST_INDEX_H */
