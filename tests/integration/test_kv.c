/*
 * test_kv.c -- the JetStream key-value store end to end through libnats'
 * kvStore API: put/get and revisions, create and update with their
 * conditions, delete and purge markers, keys, history depth, watchers
 * (initial values, the end-of-initial marker, then live updates in
 * order), watch-all, and bucket status.
 *
 * NOTES
 *   A bucket is a stream "KV_<bucket>" on subjects "$KV.<bucket>.>" that
 *   libnats drives with expected-last-subject-sequence headers, rollup
 *   purges and last-per-subject push consumers; these tests check what an
 *   application sees, so the server must get all of those right.
 *   JetStream is enabled with `jetstream { store_dir: "<dir>" }` in a
 *   config file; the store dir is a mkdtemp dir removed at the end.
 *   One server, one bucket per test.  Every wait is bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_check.h"
#include "dt_harness.h"
#include "dt_nats.h"

#define WAIT_MS 2000
#define QUIET_MS 300        /* how long "nothing more arrives" is watched */

/* Bucket `name` keeping `history` values per key; NULL printed. */
static kvStore *
bucket(jsCtx *js, const char *name, int history)
{
    kvStore *kv = NULL;
    kvConfig cfg;
    natsStatus st;

    kvConfig_Init(&cfg);
    cfg.Bucket = name;
    cfg.History = (uint8_t)history;
    cfg.StorageType = js_FileStorage;
    st = js_CreateKeyValue(&kv, js, &cfg);
    if (st != NATS_OK) {
        fprintf(stderr, "create bucket %s: %s: %s\n", name,
                natsStatus_GetText(st), nats_GetLastError(NULL));
        return NULL;
    }
    return kv;
}

static void
drop_bucket(jsCtx *js, kvStore *kv, const char *name)
{
    kvStore_Destroy(kv);
    js_DeleteKeyValue(js, name);
}

static int
value_is(kvEntry *e, const char *want)
{
    return e != NULL && kvEntry_ValueLen(e) == (int)strlen(want) &&
           memcmp(kvEntry_Value(e), want, strlen(want)) == 0;
}

/* The current value of key as a string in buf ("" on failure). */
static natsStatus
get_str(kvStore *kv, const char *key, char *buf, size_t len,
        uint64_t *rev)
{
    kvEntry *e = NULL;
    natsStatus st = kvStore_Get(&e, kv, key);

    buf[0] = '\0';
    if (st == NATS_OK) {
        snprintf(buf, len, "%.*s", kvEntry_ValueLen(e),
                 (const char *)kvEntry_Value(e));
        if (rev != NULL)
            *rev = kvEntry_Revision(e);
    }
    kvEntry_Destroy(e);
    return st;
}

/* ---- tests ---------------------------------------------------------- */

/* Put returns increasing revisions; get returns the latest value. */
static void
test_put_get(jsCtx *js)
{
    kvStore *kv = bucket(js, "PG", 1);
    kvEntry *e = NULL;
    uint64_t rev = 0;
    char buf[64];

    REQUIRE(kv != NULL);
    CHECK_STR(kvStore_Bucket(kv), "PG");
    CHECK(kvStore_PutString(&rev, kv, "a", "1") == NATS_OK);
    CHECK_INT(rev, ==, 1);
    CHECK(kvStore_PutString(&rev, kv, "b", "x") == NATS_OK);
    CHECK_INT(rev, ==, 2);
    CHECK(kvStore_Put(&rev, kv, "a", "two", 3) == NATS_OK);
    CHECK_INT(rev, ==, 3);

    REQUIRE(kvStore_Get(&e, kv, "a") == NATS_OK);
    CHECK(value_is(e, "two"));
    CHECK_STR(kvEntry_Key(e), "a");
    CHECK_STR(kvEntry_Bucket(e), "PG");
    CHECK_INT(kvEntry_Revision(e), ==, 3);
    CHECK(kvEntry_Operation(e) == kvOp_Put);
    CHECK(kvEntry_Created(e) > 0);
    kvEntry_Destroy(e);
    e = NULL;

    CHECK(get_str(kv, "b", buf, sizeof(buf), &rev) == NATS_OK);
    CHECK_STR(buf, "x");
    CHECK_INT(rev, ==, 2);
    CHECK(kvStore_Get(&e, kv, "missing") == NATS_NOT_FOUND);
    CHECK(e == NULL);
    /* history 1: revision 1 of "a" is gone, 3 is there */
    CHECK(kvStore_GetRevision(&e, kv, "a", 1) == NATS_NOT_FOUND);
    kvEntry_Destroy(e);
    e = NULL;
    CHECK(kvStore_GetRevision(&e, kv, "a", 3) == NATS_OK && value_is(e, "two"));
    kvEntry_Destroy(e);
    e = NULL;
    /* binary values, empty value */
    static const char bin[4] = { 0, 1, '\r', '\n' };
    CHECK(kvStore_Put(&rev, kv, "bin", bin, 4) == NATS_OK);
    REQUIRE(kvStore_Get(&e, kv, "bin") == NATS_OK);
    CHECK(kvEntry_ValueLen(e) == 4 && memcmp(kvEntry_Value(e), bin, 4) == 0);
    kvEntry_Destroy(e);
    e = NULL;
    CHECK(kvStore_Put(&rev, kv, "empty", "", 0) == NATS_OK);
    REQUIRE(kvStore_Get(&e, kv, "empty") == NATS_OK);
    CHECK_INT(kvEntry_ValueLen(e), ==, 0);
    CHECK(kvEntry_Operation(e) == kvOp_Put);
out:
    kvEntry_Destroy(e);
    drop_bucket(js, kv, "PG");
}

/* Create only when absent (or deleted); update only at the revision. */
static void
test_create_update(jsCtx *js)
{
    kvStore *kv = bucket(js, "CU", 5);
    uint64_t rev = 0, rev2 = 0;
    char buf[64];
    natsStatus st;

    REQUIRE(kv != NULL);
    CHECK(kvStore_CreateString(&rev, kv, "k", "first") == NATS_OK);
    CHECK_INT(rev, ==, 1);
    st = kvStore_CreateString(&rev2, kv, "k", "second");
    CHECK_MSG(st != NATS_OK, "create over an existing key: %s",
              natsStatus_GetText(st));
    CHECK(get_str(kv, "k", buf, sizeof(buf), NULL) == NATS_OK);
    CHECK_STR(buf, "first");

    CHECK(kvStore_UpdateString(&rev2, kv, "k", "third", rev) == NATS_OK);
    CHECK_INT(rev2, ==, 2);
    st = kvStore_UpdateString(NULL, kv, "k", "stale", rev);
    CHECK_MSG(st != NATS_OK, "update at an old revision: %s",
              natsStatus_GetText(st));
    st = kvStore_UpdateString(NULL, kv, "k", "future", 99);
    CHECK(st != NATS_OK);
    CHECK(get_str(kv, "k", buf, sizeof(buf), &rev) == NATS_OK);
    CHECK_STR(buf, "third");
    CHECK_INT(rev, ==, 2);

    /* update of a key that never existed fails, at revision 0 it works */
    CHECK(kvStore_UpdateString(NULL, kv, "nokey", "x", 1) != NATS_OK);
    CHECK(kvStore_UpdateString(&rev, kv, "nokey", "x", 0) == NATS_OK);
    CHECK_INT(rev, ==, 3);

    /* a deleted key can be created again */
    CHECK(kvStore_Delete(kv, "k") == NATS_OK);
    CHECK(kvStore_CreateString(&rev, kv, "k", "reborn") == NATS_OK);
    CHECK_INT(rev, ==, 5);
    CHECK(get_str(kv, "k", buf, sizeof(buf), NULL) == NATS_OK);
    CHECK_STR(buf, "reborn");
out:
    drop_bucket(js, kv, "CU");
}

/* Delete leaves a marker (history), purge keeps only its own marker. */
static void
test_delete_purge(jsCtx *js)
{
    kvStore *kv = bucket(js, "DP", 10);
    kvEntryList hist = { 0 };
    kvEntry *e = NULL;
    uint64_t rev = 0;
    char buf[16];

    REQUIRE(kv != NULL);
    CHECK(kvStore_PutString(NULL, kv, "x", "1") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "x", "2") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "y", "keep") == NATS_OK);
    CHECK(kvStore_Delete(kv, "x") == NATS_OK);
    CHECK(kvStore_Get(&e, kv, "x") == NATS_NOT_FOUND);
    kvEntry_Destroy(e);
    e = NULL;

    REQUIRE(kvStore_History(&hist, kv, "x", NULL) == NATS_OK);
    REQUIRE(hist.Count == 3);
    CHECK(kvEntry_Operation(hist.Entries[0]) == kvOp_Put);
    CHECK(value_is(hist.Entries[0], "1"));
    CHECK(kvEntry_Operation(hist.Entries[1]) == kvOp_Put);
    CHECK(kvEntry_Operation(hist.Entries[2]) == kvOp_Delete);
    CHECK_INT(kvEntry_Revision(hist.Entries[2]), ==, 4);
    kvEntryList_Destroy(&hist);
    memset(&hist, 0, sizeof(hist));

    /* purge: only the purge marker is left of x */
    CHECK(kvStore_PutString(NULL, kv, "x", "3") == NATS_OK);
    CHECK(kvStore_Purge(kv, "x", NULL) == NATS_OK);
    CHECK(kvStore_Get(&e, kv, "x") == NATS_NOT_FOUND);
    kvEntry_Destroy(e);
    e = NULL;
    REQUIRE(kvStore_History(&hist, kv, "x", NULL) == NATS_OK);
    REQUIRE(hist.Count == 1);
    CHECK(kvEntry_Operation(hist.Entries[0]) == kvOp_Purge);
    CHECK_INT(kvEntry_Revision(hist.Entries[0]), ==, 6);
    kvEntryList_Destroy(&hist);
    memset(&hist, 0, sizeof(hist));

    /* y untouched; x can be written again */
    CHECK(get_str(kv, "y", buf, sizeof(buf), NULL) == NATS_OK);
    CHECK_STR(buf, "keep");
    CHECK(kvStore_PutString(&rev, kv, "x", "4") == NATS_OK);
    CHECK_INT(rev, ==, 7);
    CHECK(get_str(kv, "x", buf, sizeof(buf), NULL) == NATS_OK);
    CHECK_STR(buf, "4");
out:
    kvEntry_Destroy(e);
    kvEntryList_Destroy(&hist);
    drop_bucket(js, kv, "DP");
}

static int
keys_have(const kvKeysList *l, const char *key)
{
    for (int i = 0; i < l->Count; i++)
        if (strcmp(l->Keys[i], key) == 0)
            return 1;
    return 0;
}

/* Keys lists live keys once each, not deleted or purged ones. */
static void
test_keys(jsCtx *js)
{
    kvStore *kv = bucket(js, "KEYS", 5);
    kvKeysList keys = { 0 };
    natsStatus st;

    REQUIRE(kv != NULL);
    st = kvStore_Keys(&keys, kv, NULL);
    CHECK_MSG(st == NATS_NOT_FOUND || (st == NATS_OK && keys.Count == 0),
              "keys of an empty bucket: %s, %d", natsStatus_GetText(st),
              keys.Count);
    kvKeysList_Destroy(&keys);
    memset(&keys, 0, sizeof(keys));

    CHECK(kvStore_PutString(NULL, kv, "k1", "a") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "k2", "b") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "k3", "c") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "k1", "again") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "dot.ted.key", "d") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "k4", "e") == NATS_OK);
    CHECK(kvStore_Delete(kv, "k2") == NATS_OK);
    CHECK(kvStore_Purge(kv, "k4", NULL) == NATS_OK);

    REQUIRE(kvStore_Keys(&keys, kv, NULL) == NATS_OK);
    CHECK_INT(keys.Count, ==, 3);
    CHECK(keys_have(&keys, "k1"));
    CHECK(keys_have(&keys, "k3"));
    CHECK(keys_have(&keys, "dot.ted.key"));
    CHECK(!keys_have(&keys, "k2"));
    CHECK(!keys_have(&keys, "k4"));
out:
    kvKeysList_Destroy(&keys);
    drop_bucket(js, kv, "KEYS");
}

/* History keeps the last N values of a key, oldest first. */
static void
test_history(jsCtx *js)
{
    kvStore *kv = bucket(js, "HIST", 3);
    kvEntryList hist = { 0 };
    kvStatus *sts = NULL;
    char val[16];

    REQUIRE(kv != NULL);
    for (int i = 1; i <= 5; i++) {
        snprintf(val, sizeof(val), "v%d", i);
        CHECK(kvStore_PutString(NULL, kv, "h", val) == NATS_OK);
        CHECK(kvStore_PutString(NULL, kv, "other", val) == NATS_OK);
    }
    REQUIRE(kvStore_History(&hist, kv, "h", NULL) == NATS_OK);
    REQUIRE(hist.Count == 3);
    for (int i = 0; i < 3; i++) {
        snprintf(val, sizeof(val), "v%d", i + 3);
        CHECK_MSG(value_is(hist.Entries[i], val), "entry %d is %s", i, val);
        /* h was put at revisions 1, 3, 5, 7, 9 */
        CHECK_INT(kvEntry_Revision(hist.Entries[i]), ==, 2 * (i + 3) - 1);
        CHECK_STR(kvEntry_Key(hist.Entries[i]), "h");
    }
    REQUIRE(kvStore_Status(&sts, kv) == NATS_OK);
    CHECK_INT(kvStatus_History(sts), ==, 3);
    CHECK_INT(kvStatus_Values(sts), ==, 6);     /* 3 of h, 3 of other */
    kvEntryList_Destroy(&hist);
    memset(&hist, 0, sizeof(hist));
    CHECK(kvStore_History(&hist, kv, "absent", NULL) == NATS_NOT_FOUND);
out:
    kvStatus_Destroy(sts);
    kvEntryList_Destroy(&hist);
    drop_bucket(js, kv, "HIST");
}

/*
 * Next entry from w within timeout_ms: NATS_OK with *e NULL is the
 * "initial values done" marker; NATS_TIMEOUT when nothing came.
 */
static natsStatus
next_entry(kvWatcher *w, kvEntry **e, int timeout_ms)
{
    *e = NULL;
    return kvWatcher_Next(e, w, timeout_ms);
}

/* Expect the next entry to be key=value (op) at revision rev. */
static void
expect_entry(kvWatcher *w, const char *key, const char *value,
             kvOperation op, uint64_t rev)
{
    kvEntry *e = NULL;
    natsStatus st = next_entry(w, &e, WAIT_MS);

    CHECK_MSG(st == NATS_OK && e != NULL, "watch: want %s@%llu, got %s%s",
              key, (unsigned long long)rev, natsStatus_GetText(st),
              st == NATS_OK ? " (the initial-done marker)" : "");
    if (e != NULL) {
        CHECK_STR(kvEntry_Key(e), key);
        CHECK(kvEntry_Operation(e) == op);
        CHECK_INT(kvEntry_Revision(e), ==, rev);
        if (value != NULL)
            CHECK_MSG(value_is(e, value), "%s@%llu value", key,
                      (unsigned long long)rev);
    }
    kvEntry_Destroy(e);
}

static void
expect_marker(kvWatcher *w)
{
    kvEntry *e = NULL;
    natsStatus st = next_entry(w, &e, WAIT_MS);

    CHECK_MSG(st == NATS_OK && e == NULL, "watch: want the initial-done "
              "marker, got %s %s", natsStatus_GetText(st),
              e != NULL ? kvEntry_Key(e) : "");
    kvEntry_Destroy(e);
}

static void
expect_quiet(kvWatcher *w)
{
    kvEntry *e = NULL;
    natsStatus st = next_entry(w, &e, QUIET_MS);

    CHECK_MSG(st == NATS_TIMEOUT, "watch: want nothing, got %s %s",
              natsStatus_GetText(st), e != NULL ? kvEntry_Key(e) : "");
    kvEntry_Destroy(e);
}

/* Watch a pattern: the current values, the marker, then live changes. */
static void
test_watch(jsCtx *js)
{
    kvStore *kv = bucket(js, "WATCH", 5);
    kvWatcher *w = NULL, *w2 = NULL;

    REQUIRE(kv != NULL);
    CHECK(kvStore_PutString(NULL, kv, "w.1", "old") == NATS_OK);    /* 1 */
    CHECK(kvStore_PutString(NULL, kv, "w.1", "a") == NATS_OK);      /* 2 */
    CHECK(kvStore_PutString(NULL, kv, "z", "other") == NATS_OK);    /* 3 */
    CHECK(kvStore_PutString(NULL, kv, "w.2", "b") == NATS_OK);      /* 4 */

    REQUIRE(kvStore_Watch(&w, kv, "w.*", NULL) == NATS_OK);
    /* the latest of each matching key, in revision order */
    expect_entry(w, "w.1", "a", kvOp_Put, 2);
    expect_entry(w, "w.2", "b", kvOp_Put, 4);
    expect_marker(w);

    CHECK(kvStore_PutString(NULL, kv, "w.3", "c") == NATS_OK);      /* 5 */
    CHECK(kvStore_PutString(NULL, kv, "z", "skip") == NATS_OK);     /* 6 */
    CHECK(kvStore_PutString(NULL, kv, "w.1", "d") == NATS_OK);      /* 7 */
    CHECK(kvStore_Delete(kv, "w.2") == NATS_OK);                    /* 8 */
    CHECK(kvStore_Purge(kv, "w.3", NULL) == NATS_OK);               /* 9 */
    expect_entry(w, "w.3", "c", kvOp_Put, 5);
    expect_entry(w, "w.1", "d", kvOp_Put, 7);
    expect_entry(w, "w.2", NULL, kvOp_Delete, 8);
    expect_entry(w, "w.3", NULL, kvOp_Purge, 9);
    expect_quiet(w);

    /* a watch on a key with no value yet: the marker comes first */
    REQUIRE(kvStore_Watch(&w2, kv, "fresh", NULL) == NATS_OK);
    expect_marker(w2);
    CHECK(kvStore_PutString(NULL, kv, "fresh", "new") == NATS_OK);  /* 10 */
    expect_entry(w2, "fresh", "new", kvOp_Put, 10);
    expect_quiet(w2);

    /* a stopped watcher returns at once */
    CHECK(kvWatcher_Stop(w) == NATS_OK);
    kvEntry *e = NULL;
    CHECK(kvWatcher_Next(&e, w, WAIT_MS) == NATS_ILLEGAL_STATE);
    kvEntry_Destroy(e);
out:
    kvWatcher_Destroy(w);
    kvWatcher_Destroy(w2);
    drop_bucket(js, kv, "WATCH");
}

/* Watch-all: every key's latest value, the marker, then any key. */
static void
test_watch_all(jsCtx *js)
{
    kvStore *kv = bucket(js, "WALL", 5);
    kvWatcher *w = NULL, *h = NULL;
    kvWatchOptions wo;

    REQUIRE(kv != NULL);
    CHECK(kvStore_PutString(NULL, kv, "a", "1") == NATS_OK);    /* 1 */
    CHECK(kvStore_PutString(NULL, kv, "b", "2") == NATS_OK);    /* 2 */
    CHECK(kvStore_PutString(NULL, kv, "a", "3") == NATS_OK);    /* 3 */
    CHECK(kvStore_Delete(kv, "b") == NATS_OK);                  /* 4 */
    CHECK(kvStore_PutString(NULL, kv, "c.d", "5") == NATS_OK);  /* 5 */

    REQUIRE(kvStore_WatchAll(&w, kv, NULL) == NATS_OK);
    expect_entry(w, "a", "3", kvOp_Put, 3);
    expect_entry(w, "b", NULL, kvOp_Delete, 4);
    expect_entry(w, "c.d", "5", kvOp_Put, 5);
    expect_marker(w);
    CHECK(kvStore_PutString(NULL, kv, "new", "6") == NATS_OK);  /* 6 */
    CHECK(kvStore_PutString(NULL, kv, "a", "7") == NATS_OK);    /* 7 */
    expect_entry(w, "new", "6", kvOp_Put, 6);
    expect_entry(w, "a", "7", kvOp_Put, 7);
    expect_quiet(w);

    /* with history and without deletes: every put, in order */
    kvWatchOptions_Init(&wo);
    wo.IncludeHistory = true;
    wo.IgnoreDeletes = true;
    REQUIRE(kvStore_WatchAll(&h, kv, &wo) == NATS_OK);
    expect_entry(h, "a", "1", kvOp_Put, 1);
    expect_entry(h, "b", "2", kvOp_Put, 2);
    expect_entry(h, "a", "3", kvOp_Put, 3);
    expect_entry(h, "c.d", "5", kvOp_Put, 5);
    expect_entry(h, "new", "6", kvOp_Put, 6);
    expect_entry(h, "a", "7", kvOp_Put, 7);
    expect_marker(h);
    expect_quiet(h);
out:
    kvWatcher_Destroy(w);
    kvWatcher_Destroy(h);
    drop_bucket(js, kv, "WALL");
}

/* Bucket status: name, values, history, TTL; the backing stream. */
static void
test_status(jsCtx *js)
{
    kvStore *kv = NULL;
    kvStatus *sts = NULL;
    jsStreamInfo *si = NULL;
    kvConfig cfg;

    kvConfig_Init(&cfg);
    cfg.Bucket = "STAT";
    cfg.History = 2;
    cfg.StorageType = js_FileStorage;
    /* TTL is in ns (it becomes the stream's max_age): 60 us is refused */
    cfg.TTL = 60000;
    CHECK(js_CreateKeyValue(&kv, js, &cfg) != NATS_OK);
    CHECK_CONTAINS(nats_GetLastError(NULL), "max age");
    kvStore_Destroy(kv);
    kv = NULL;
    cfg.TTL = 60000LL * 1000000LL;
    REQUIRE(js_CreateKeyValue(&kv, js, &cfg) == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "s1", "a") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "s1", "b") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "s1", "c") == NATS_OK);
    CHECK(kvStore_PutString(NULL, kv, "s2", "d") == NATS_OK);

    REQUIRE(kvStore_Status(&sts, kv) == NATS_OK);
    CHECK_STR(kvStatus_Bucket(sts), "STAT");
    CHECK_INT(kvStatus_Values(sts), ==, 3);     /* 2 of s1 + 1 of s2 */
    CHECK_INT(kvStatus_History(sts), ==, 2);
    CHECK_INT(kvStatus_TTL(sts), ==, cfg.TTL);
    CHECK_INT(kvStatus_Replicas(sts), ==, 1);

    /* the stream behind it, as libnats configured it */
    REQUIRE(js_GetStreamInfo(&si, js, "KV_STAT", NULL, NULL) == NATS_OK);
    CHECK_INT(si->Config->MaxMsgsPerSubject, ==, 2);
    CHECK(si->Config->SubjectsLen == 1 &&
          strcmp(si->Config->Subjects[0], "$KV.STAT.>") == 0);
    CHECK(si->Config->AllowRollup);
    CHECK(si->Config->DenyDelete);
    CHECK(si->Config->AllowDirect);
    CHECK_INT(si->Config->MaxAge, ==, cfg.TTL);
    CHECK_INT(si->State.Msgs, ==, 3);
    CHECK_INT(si->State.LastSeq, ==, 4);

    /* an existing bucket opens by name; a missing one does not */
    kvStore *again = NULL;
    CHECK(js_KeyValue(&again, js, "STAT") == NATS_OK);
    kvStore_Destroy(again);
    again = NULL;
    CHECK(js_KeyValue(&again, js, "NOPE") == NATS_NOT_FOUND);
    kvStore_Destroy(again);
out:
    jsStreamInfo_Destroy(si);
    kvStatus_Destroy(sts);
    kvStore_Destroy(kv);
    js_DeleteKeyValue(js, "STAT");
}

int
main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    struct dt_server srv;
    char store[256], conf[512];
    jsCtx *js = NULL;
    int rc;

    (void)argc;
    memset(&srv, 0, sizeof(srv));
    if (dt_server_bin() == NULL) {
        printf("SKIP: $DIALTONE_BIN not set or not executable\n");
        return DT_EXIT_SKIP;
    }
    if (dt_mkdtemp(store, sizeof(store), "dt-kv") < 0) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(conf, sizeof(conf), "jetstream {\n  store_dir: \"%s\"\n}\n",
             store);
    REQUIRE(dt_server_start(&srv, conf, NULL) == 0);
    REQUIRE((nc = dt_nats_connect(srv.url, NULL)) != NULL);
    REQUIRE(natsConnection_JetStream(&js, nc, NULL) == NATS_OK);

    test_put_get(js);
    test_create_update(js);
    test_delete_purge(js);
    test_keys(js);
    test_history(js);
    test_watch(js);
    test_watch_all(js);
    test_status(js);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    rc = dt_nats_finish(&srv, argv[0]);
    dt_remove_tree(store);
    return rc;
}
