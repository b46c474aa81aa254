/*
 * dt_subject.h -- NATS subject and queue-name rules shared by the gateway
 * (validating SUB/PUB) and the router (matching).
 *
 * A subject is a sequence of tokens separated by '.'.  Tokens are never
 * empty and never contain whitespace (' ', '\t', '\n', '\r', '\f', the set
 * nats-server checks).  In a subscription, '*' (exactly one token) and '>'
 * (one or more tokens, last token only) are wildcards when they stand
 * alone as a whole token.
 *
 * NOTES
 *   Pure functions over length-prefixed bytes (no NUL needed, none
 *   assumed); no allocation, no state, safe from any thread.
 *   Like nats-server 2.9.10, '*' and '>' inside a longer token ("foo*",
 *   "a>b") are plain characters of a literal token, not wildcards: real
 *   clients and tests publish such subjects, so we accept them.
 */
#ifndef DT_SUBJECT_H
#define DT_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* Valid for SUB: non-empty tokens, no whitespace, a '>' token only last. */
bool dt_subject_valid(const char *s, size_t n);

/* Valid for PUB in pedantic mode: as dt_subject_valid() and no wildcard
 * token at all. */
bool dt_subject_valid_literal(const char *s, size_t n);

/* Does `pattern` (a subscription subject, wildcards allowed) match
 * `subj`?  Tokens of `subj` are compared literally, so a subject token "*"
 * is matched by a pattern '*' or '>' or a literal "*".  "foo.>" does not
 * match "foo".  Empty inputs match nothing. */
bool dt_subject_matches(const char *pattern, size_t pn,
                        const char *subj, size_t sn);

/* Queue group name: non-empty and no whitespace (nats-server accepts any
 * other byte, including '.', '*' and '>'). */
/* Can one literal subject match both patterns a and b? */
bool dt_subject_overlap(const char *a, size_t an, const char *b, size_t bn);

/* Is every subject matched by pattern `sub` also matched by `of`?
 * (nats-server's subjectIsSubsetMatch; empty tokens never match.) */
bool dt_subject_subset(const char *sub, size_t sn, const char *of,
                       size_t on);

bool dt_queue_valid(const char *s, size_t n);

#endif /* DT_SUBJECT_H */
