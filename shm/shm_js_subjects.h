/*
 * shm_js_subjects.h -- the subjects the storage process subscribes to,
 * published in the fabric for gateways, which send publishes on them
 * straight to storage (shm_direct.h) instead of through the router.
 *
 * NOTES
 *   One writer (storage), many readers (gateways), a sequence lock: the
 *   writer makes seq odd, rewrites the whole list, makes it even; a
 *   reader copies and keeps the copy only if seq was even and unchanged.
 *   seq 0: never written (storage not up yet): readers must assume any
 *   subject may be storage's and use the router.  A list that does not
 *   fit is published as `overflow`, with the same meaning.
 */
#ifndef SHM_JS_SUBJECTS_H
#define SHM_JS_SUBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm.h"

/* Writer: the whole list (n subjects, lens[i] bytes each). */
void shm_js_subjects_write(struct shm_js_subjects *t,
                           const char *const *subjects, const size_t *lens,
                           uint32_t n);

/* A reader's copy. */
struct shm_js_subjects_copy {
    uint32_t seq;                   /* 0: nothing read yet */
    bool usable;                    /* written and complete */
    uint32_t count, len;
    char *data;                     /* count NUL-terminated subjects */
    size_t cap;
};

/* Reader: 1 when the list changed and `c` holds the new one, 0 when it
 * did not change, -EAGAIN when the writer was busy (try again later),
 * -ENOMEM. */
int shm_js_subjects_read(const struct shm_js_subjects *t,
                         struct shm_js_subjects_copy *c);
void shm_js_subjects_copy_free(struct shm_js_subjects_copy *c);

#endif /* SHM_JS_SUBJECTS_H */
