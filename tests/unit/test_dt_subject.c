/*
 * test_dt_subject.c -- unit tests for the shared subject rules: SUB and
 * PUB validation, queue names and wildcard matching.
 *
 * NOTES
 *   Plain C, no framework; expectations follow nats-server 2.9.10,
 *   including '*' and '>' inside a token being literal ("foo*").
 */
#include "dt_subject.h"
#include "dt_check.h"

#include <stdio.h>
#include <string.h>

static bool
valid(const char *s)
{
    return dt_subject_valid(s, strlen(s));
}

static bool
literal(const char *s)
{
    return dt_subject_valid_literal(s, strlen(s));
}

static bool
matches(const char *p, const char *s)
{
    return dt_subject_matches(p, strlen(p), s, strlen(s));
}

static void
test_valid_subjects(void)
{
    CHECK(valid("foo"));
    CHECK(valid("foo.bar.baz"));
    CHECK(valid("*"));
    CHECK(valid(">"));
    CHECK(valid("foo.*.bar"));
    CHECK(valid("foo.>"));
    CHECK(valid("*.*.>"));
    CHECK(valid("$SYS.REQ.SERVER.PING"));
    CHECK(valid("_INBOX.abc-DEF_123"));
    CHECK(valid("a/b:c"));
}

static void
test_invalid_subjects(void)
{
    static const char *bad[] = {
        "foo..bar", "foo.>.bar", " ", "", "foo.", ".foo", ".",
        "..", "> ", "foo bar", "foo\tbar", "foo\r", "\n", "foo\f",
        ">.>", "a.>.*",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!valid(bad[i]));
        CHECK(!literal(bad[i]));
    }
    /* nats-server 2.9.10 takes '*' and '>' inside a token as literal */
    static const char *literal_tokens[] = { "foo*", "*a", "a*b", ">a", "a>",
                                            "foo.**" };
    for (size_t i = 0; i < sizeof(literal_tokens) / sizeof(*literal_tokens);
         i++) {
        CHECK(valid(literal_tokens[i]));
        CHECK(literal(literal_tokens[i]));
    }
    CHECK(!dt_subject_valid(NULL, 0));
    CHECK(!dt_subject_valid(NULL, 3));
    CHECK(!dt_subject_valid("foo.bar", 0));
    CHECK(dt_subject_valid("foo.bar", 3));      /* length bounds reads */
    CHECK(!dt_subject_valid("foo.bar", 4));     /* "foo." */
}

static void
test_literal_subjects(void)
{
    CHECK(literal("foo"));
    CHECK(literal("foo.bar"));
    CHECK(!literal("*"));
    CHECK(!literal(">"));
    CHECK(!literal("foo.*"));
    CHECK(!literal("foo.>"));
    CHECK(!literal("*.foo"));
}

static void
test_queue_names(void)
{
    CHECK(dt_queue_valid("q", 1));
    CHECK(dt_queue_valid("workers.v2", 10));
    CHECK(dt_queue_valid("q*", 2));             /* nats-server accepts */
    CHECK(dt_queue_valid("q.>", 3));
    CHECK(!dt_queue_valid("", 0));
    CHECK(!dt_queue_valid(NULL, 0));
    CHECK(!dt_queue_valid("a b", 3));
    CHECK(!dt_queue_valid("a\tb", 3));
    CHECK(!dt_queue_valid("ab\r\n", 4));
}

static void
test_matching(void)
{
    CHECK(matches("foo", "foo"));
    CHECK(!matches("foo", "foo.bar"));
    CHECK(!matches("foo.bar", "foo"));
    CHECK(!matches("foo", "fo"));
    CHECK(!matches("fo", "foo"));
    CHECK(matches("foo.*", "foo.bar"));
    CHECK(!matches("foo.*", "foo"));
    CHECK(!matches("foo.*", "foo.bar.baz"));
    CHECK(matches("*.bar", "foo.bar"));
    CHECK(matches("*", "foo"));
    CHECK(!matches("*", "foo.bar"));
    CHECK(matches("foo.>", "foo.bar"));
    CHECK(matches("foo.>", "foo.bar.baz"));
    CHECK(!matches("foo.>", "foo"));
    CHECK(matches(">", "foo"));
    CHECK(matches(">", "foo.bar.baz"));
    CHECK(matches("*.*.>", "a.b.c"));
    CHECK(!matches("*.*.>", "a.b"));
    CHECK(matches("a.*.c.>", "a.b.c.d.e"));
    CHECK(!matches("a.*.c.>", "a.b.x.d"));
    CHECK(matches("foo.*", "foo.*"));           /* subject tokens literal */
    CHECK(!matches("foo.bar", "foo.*"));
    CHECK(!matches("", "foo"));
    CHECK(!matches("foo", ""));
    CHECK(dt_subject_matches("foo.bar", 3, "foo", 3));
}

static bool
overlap(const char *a, const char *b)
{
    return dt_subject_overlap(a, strlen(a), b, strlen(b));
}

static bool
subset(const char *sub, const char *of)
{
    return dt_subject_subset(sub, strlen(sub), of, strlen(of));
}

/* Stream subjects that collide, consumer filters inside a stream. */
static void
test_overlap_and_subset(void)
{
    CHECK(overlap("foo.bar", "foo.bar"));
    CHECK(overlap("foo.*", "foo.bar"));
    CHECK(overlap("foo.>", "*.bar.baz"));
    CHECK(overlap("*.x", "y.*"));
    CHECK(!overlap("foo.*", "foo.bar.baz"));
    CHECK(!overlap("foo.bar", "foo.baz"));
    CHECK(!overlap("foo", "foo.>"));    /* '>' needs one more token */
    CHECK(overlap(">", "a.b.c.d.e.f.g.h.i.j.k"));

    CHECK(subset("foo.bar", "foo.*"));
    CHECK(subset("foo.*", "foo.*"));
    CHECK(subset("foo.*.baz", "foo.>"));
    CHECK(subset("foo.>", ">"));
    CHECK(!subset("foo.*", "foo.bar"));
    CHECK(!subset("foo.>", "foo.*"));
    CHECK(!subset("foo", "foo.>"));
    CHECK(!subset("foo.bar.baz", "foo.*"));
    CHECK(!subset("foo..bar", "foo.*.bar")); /* empty tokens never match */
}

int
main(int argc, char **argv)
{
    test_overlap_and_subset();
    test_valid_subjects();
    test_invalid_subjects();
    test_literal_subjects();
    test_queue_names();
    test_matching();
    return dt_check_summary(argv[0]);
}
