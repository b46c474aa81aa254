/*
 * test_gw_subs.c -- a connection's subscription table: lookups by sid and
 * by id stay right through adds, deletes and slot reuse, and a stale id
 * (a delivery in flight for a removed sub) never finds the newer sub.
 */
#include <stdio.h>
#include <string.h>

#include "gw_subs.h"
#include "dt_check.h"

static struct gw_sub *
add(struct gw_subs *t, const char *sid, const char *subject)
{
    return gw_subs_add(t, sid, (uint32_t)strlen(sid), subject,
                       (uint32_t)strlen(subject), NULL, 0);
}

static void
test_many_subs(void)
{
    enum { N = 200000 };
    static uint32_t ids[N];
    struct gw_subs t = { 0 };
    char sid[32], subj[32];
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof(sid), "%d", i);
        snprintf(subj, sizeof(subj), "s.%d", i);
        struct gw_sub *s = add(&t, sid, subj);
        CHECK(s != NULL);
        ids[i] = s ? s->id : 0;
    }
    CHECK(t.count == N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof(sid), "%d", i);
        struct gw_sub *s = gw_subs_by_sid(&t, sid, (uint32_t)strlen(sid));
        bad += s == NULL || s->id != ids[i] || gw_subs_by_id(&t, ids[i]) != s;
    }
    CHECK(bad == 0);
    for (int i = 0; i < N; i += 2) {
        snprintf(sid, sizeof(sid), "%d", i);
        gw_subs_del(&t, gw_subs_by_sid(&t, sid, (uint32_t)strlen(sid)));
    }
    CHECK(t.count == N / 2);
    bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(sid, sizeof(sid), "%d", i);
        struct gw_sub *s = gw_subs_by_sid(&t, sid, (uint32_t)strlen(sid));
        bad += (i % 2 == 0) ? s != NULL || gw_subs_by_id(&t, ids[i]) != NULL
                            : s == NULL || s->id != ids[i];
    }
    CHECK(bad == 0);
    /* re-adding reuses slots under new ids */
    struct gw_sub *again = add(&t, "0", "s.0");
    CHECK(again != NULL && again->id != ids[0]);
    CHECK(gw_subs_by_id(&t, ids[0]) == NULL || ids[0] == again->id);
    gw_subs_free(&t);
}

static void
test_churn_keeps_hash_bounded(void)
{
    struct gw_subs t = { 0 };
    for (int i = 0; i < 100000; i++) {
        char sid[16];
        snprintf(sid, sizeof(sid), "r%d", i);
        struct gw_sub *s = add(&t, sid, "_INBOX.x");
        CHECK(s != NULL);
        if (s)
            gw_subs_del(&t, s);
    }
    CHECK(t.count == 0);
    CHECK(t.hcap <= 64);   /* tombstones were cleared, not accumulated */
    CHECK(t.cap <= 8);
    gw_subs_free(&t);
}

int
main(int argc, char **argv)
{
    test_many_subs();
    test_churn_keeps_hash_bounded();
    return dt_check_summary(argv[0]);
}
