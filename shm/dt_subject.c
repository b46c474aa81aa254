/*
 * dt_subject.c -- subject validation and wildcard matching (see
 * dt_subject.h for the rules).
 *
 * NOTES
 *   Every function walks the input once, token by token, with memchr();
 *   nothing is allocated and nothing is written.  Lengths, not NULs,
 *   bound every read.
 */
#include "dt_subject.h"

#include <string.h>

static bool
dt_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Length of the token starting at p (up to the next '.' or the end). */
static size_t
dt_token_len(const char *p, size_t avail)
{
    const char *dot = avail ? memchr(p, '.', avail) : NULL;
    return dot ? (size_t)(dot - p) : avail;
}

/* Shared walk for both validators; `allow_wc` selects SUB or PUB rules. */
static bool
dt_subject_check(const char *s, size_t n, bool allow_wc)
{
    if (s == NULL || n == 0)
        return false;
    bool after_fwc = false;
    for (size_t i = 0; i <= n; ) {
        size_t tl = dt_token_len(s + i, n - i);
        if (tl == 0 || after_fwc)
            return false;           /* empty token, or a token after '>' */
        const char *t = s + i;
        if (tl == 1 && (t[0] == '*' || t[0] == '>')) {
            if (!allow_wc)
                return false;
            after_fwc = t[0] == '>';
        } else {
            for (size_t k = 0; k < tl; k++)
                if (dt_is_space(t[k]))
                    return false;
        }
        i += tl + 1;                /* past the '.'; i == n + 1 ends */
    }
    return true;
}

bool
dt_subject_valid(const char *s, size_t n)
{
    return dt_subject_check(s, n, true);
}

bool
dt_subject_valid_literal(const char *s, size_t n)
{
    return dt_subject_check(s, n, false);
}

bool
dt_subject_matches(const char *pattern, size_t pn, const char *subj,
                   size_t sn)
{
    if (pattern == NULL || subj == NULL || pn == 0 || sn == 0)
        return false;
    size_t pi = 0, si = 0;
    /* pi > pn (or si > sn) means that side has no token left. */
    while (pi <= pn && si <= sn) {
        size_t pl = dt_token_len(pattern + pi, pn - pi);
        size_t sl = dt_token_len(subj + si, sn - si);
        const char *pt = pattern + pi;
        if (pl == 1 && pt[0] == '>')
            return true;            /* the subject has at least one token */
        if (!(pl == 1 && pt[0] == '*') &&
            (pl != sl || memcmp(pt, subj + si, pl) != 0))
            return false;
        pi += pl + 1;
        si += sl + 1;
    }
    return pi > pn && si > sn;
}

static bool
dt_tok_is(const char *t, size_t n, char c)
{
    return n == 1 && t[0] == c;
}

bool
dt_subject_overlap(const char *a, size_t an, const char *b, size_t bn)
{
    size_t ai = 0, bi = 0;
    while (ai <= an && bi <= bn) {
        size_t al = dt_token_len(a + ai, an - ai);
        size_t bl = dt_token_len(b + bi, bn - bi);
        const char *ta = a + ai, *tb = b + bi;
        /* '>' takes one or more tokens: the other side has one here */
        if (dt_tok_is(ta, al, '>') || dt_tok_is(tb, bl, '>'))
            return true;
        if (!dt_tok_is(ta, al, '*') && !dt_tok_is(tb, bl, '*') &&
            (al != bl || memcmp(ta, tb, al) != 0))
            return false;
        ai += al + 1;
        bi += bl + 1;
    }
    return ai > an && bi > bn;
}

bool
dt_subject_subset(const char *sub, size_t sn, const char *of, size_t on)
{
    size_t si = 0, oi = 0;
    while (oi <= on) {
        if (si > sn)
            return false;
        size_t sl = dt_token_len(sub + si, sn - si);
        size_t ol = dt_token_len(of + oi, on - oi);
        const char *ts = sub + si, *to = of + oi;
        if (ol == 0)
            return false;
        if (dt_tok_is(to, ol, '>'))
            return true;
        if (sl == 0 || dt_tok_is(ts, sl, '>'))
            return false;
        if (dt_tok_is(ts, sl, '*')) {
            if (!dt_tok_is(to, ol, '*'))
                return false;
        } else if (!dt_tok_is(to, ol, '*') &&
                   (sl != ol || memcmp(ts, to, sl) != 0)) {
            return false;
        }
        si += sl + 1;
        oi += ol + 1;
    }
    return si > sn;
}

bool
dt_queue_valid(const char *s, size_t n)
{
    if (s == NULL || n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (dt_is_space(s[i]))
            return false;
    return true;
}
