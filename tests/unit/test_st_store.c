/*
 * test_st_store.c -- unit tests for the JetStream file store (storage/):
 * append and read back, group commit, reopen and index rebuild,
 * checkpoints, torn tails, simulated crashes, a full disk, a failing
 * fsync, deletes, purges, limits, subject lookups, bad input; then the
 * index memory cost and a small group-commit benchmark (printed only).
 *
 * NOTES
 *   Real io_uring where it matters (exit 77 when the kernel has none),
 *   the fault backend (storage/st_io_fault.h) for crashes and errors.
 *   Every store lives in a fresh directory under $TMPDIR (or /tmp),
 *   removed at the end.  Bounded: well under 10 s, also with ASan.
 */
#include "dt_buf.h"
#include "dt_check.h"
#include "st_crc32c.h"
#include "st_io.h"
#include "st_io_fault.h"
#include "st_store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KiB 1024u

static struct st_io *uio;           /* the real io_uring context */
static char root[256];              /* temp dir holding every store */
static unsigned ndirs;

/* ---- helpers ---------------------------------------------------------------- */

static void
new_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/s%u", root, ndirs++);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static uint64_t
now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct acks {
    uint64_t ok_hi;         /* highest sequence reported durable */
    uint64_t ticket;
    unsigned reports;
    unsigned fails;
    int status;             /* of the last failure */
    uint64_t fail_lo, fail_hi;
};

static void
on_done(void *arg, const struct st_done *d)
{
    struct acks *a = arg;
    a->reports++;
    a->ticket = d->ticket;
    if (d->status == 0) {
        if (d->seq_hi > a->ok_hi)
            a->ok_hi = d->seq_hi;
        return;
    }
    a->fails++;
    a->status = d->status;
    a->fail_lo = d->seq_lo;
    a->fail_hi = d->seq_hi;
}

static struct st_config
cfg_make(enum st_sync sync, uint64_t seg_size, struct acks *a)
{
    struct st_config c;
    memset(&c, 0, sizeof(c));
    c.sync = sync;
    c.segment_size = seg_size;
    c.on_done = a ? on_done : NULL;
    c.on_done_arg = a;
    return c;
}

/* The content of message `seq`: derived from seq, so any read can be
 * checked without remembering what was written. */
static size_t
payload(uint64_t seq, unsigned char *buf, size_t cap)
{
    size_t n = 8 + (size_t)(seq * 7919 % 300);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(seq * 31 + i * 7);
    return n;
}

static size_t
header_of(uint64_t seq, char *buf, size_t cap)
{
    if (seq % 3)
        return 0;
    return (size_t)snprintf(buf, cap, "NATS/1.0\r\nX-Seq: %" PRIu64
                            "\r\n\r\n", seq);
}

static int
append_seq(struct st_store *st, const char *subj, uint64_t seq,
           uint64_t *out)
{
    unsigned char data[512];
    char hdr[64];
    struct st_rec_in in;
    memset(&in, 0, sizeof(in));
    in.subj = subj;
    in.subj_len = strlen(subj);
    in.data = data;
    in.data_len = payload(seq, data, sizeof(data));
    in.hdr_len = header_of(seq, hdr, sizeof(hdr));
    in.hdr = in.hdr_len ? hdr : NULL;
    return st_store_append(st, &in, out);
}

/* Append the message the next sequence should hold, polling the io
 * while the buffers are busy. */
static int
append_next(struct st_store *st, struct st_io *io, const char *subj,
            uint64_t *out)
{
    struct st_state s;
    st_store_state(st, &s);
    for (int i = 0; i < 10000; i++) {
        int rc = append_seq(st, subj, s.last_seq + 1, out);
        if (rc != -EAGAIN)
            return rc;
        st_store_flush(st);
        if (st_io_poll(io, 1) < 0)
            return -EIO;
    }
    return -ETIMEDOUT;
}

/* 0 when message seq reads back with the content append_seq() wrote. */
static int
check_msg(struct st_store *st, uint64_t seq, const char *subj,
          struct dt_buf *buf)
{
    struct st_msg m;
    int rc = st_store_get(st, seq, &m, buf);
    if (rc < 0)
        return rc;
    unsigned char data[512];
    char hdr[64];
    size_t n = payload(seq, data, sizeof(data));
    size_t hn = header_of(seq, hdr, sizeof(hdr));
    if (m.seq != seq || m.data_len != n || memcmp(m.data, data, n) != 0
        || m.hdr_len != hn || (hn && memcmp(m.hdr, hdr, hn) != 0))
        return -EBADMSG;
    if (subj && (m.subj_len != strlen(subj)
                 || memcmp(m.subj, subj, m.subj_len) != 0))
        return -EBADMSG;
    return 0;
}

static int
wait_acked(struct st_io *io, struct st_store *st, struct acks *a,
           uint64_t seq)
{
    for (int i = 0; i < 100000 && a->ok_hi < seq && a->fails == 0; i++) {
        st_store_flush(st);
        if (st_io_poll(io, 1) < 0)
            return -EIO;
    }
    return a->ok_hi >= seq ? 0 : -ETIMEDOUT;
}

static uint64_t
file_size(const char *dir, const char *name)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static unsigned
count_segments(const char *dir)
{
    unsigned n = 0;
    char p[512];
    for (uint64_t id = 1; id < 4096; id++) {
        snprintf(p, sizeof(p), "%s/%016" PRIx64 ".seg", dir, id);
        if (access(p, F_OK) == 0)
            n++;
    }
    return n;
}

static uint64_t
last_segment(const char *dir, char *name, size_t n)
{
    char p[512];
    uint64_t last = 0;
    for (uint64_t id = 1; id < 4096; id++) {
        snprintf(p, sizeof(p), "%s/%016" PRIx64 ".seg", dir, id);
        if (access(p, F_OK) == 0)
            last = id;
    }
    snprintf(name, n, "%016" PRIx64 ".seg", last);
    return last;
}

/* A fingerprint of everything visible: state, per-subject state, and a
 * crc over every message in order. */
struct snap {
    struct st_state s;
    struct st_subject_state subj[24];
    uint32_t crc;
    uint64_t n;
};

static void
take_snap(struct st_store *st, struct snap *sn, unsigned nsubj,
          const char *fmt)
{
    memset(sn, 0, sizeof(*sn));
    st_store_state(st, &sn->s);
    for (unsigned i = 0; i < nsubj && i < 24; i++) {
        char subj[32];
        snprintf(subj, sizeof(subj), fmt, i);
        st_store_subject_state(st, subj, strlen(subj), &sn->subj[i]);
    }
    struct dt_buf buf = { 0 };
    struct st_msg m;
    uint64_t seq = 0;
    while (st_store_next(st, seq + 1, NULL, 0, &m, &buf) == 0) {
        seq = m.seq;
        sn->crc = st_crc32c(sn->crc, &m.seq, sizeof(m.seq));
        sn->crc = st_crc32c(sn->crc, m.subj, m.subj_len);
        sn->crc = st_crc32c(sn->crc, m.data, m.data_len);
        if (m.hdr_len)
            sn->crc = st_crc32c(sn->crc, m.hdr, m.hdr_len);
        sn->n++;
    }
    dt_buf_free(&buf);
}

static int
snap_eq(const struct snap *a, const struct snap *b)
{
    return memcmp(&a->s, &b->s, sizeof(a->s)) == 0
        && memcmp(a->subj, b->subj, sizeof(a->subj)) == 0
        && a->crc == b->crc && a->n == b->n;
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_crc32c(void)
{
    CHECK(st_crc32c(0, "123456789", 9) == 0xE3069283u);
    uint32_t c = st_crc32c(0, "1234", 4);
    CHECK(st_crc32c(c, "56789", 5) == 0xE3069283u);
    CHECK(st_crc32c(0, "", 0) == 0);
}

static void
test_append_read(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_store *st = NULL;
    struct dt_buf buf = { 0 };
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    uint64_t bytes = 0, seq = 0;
    int bad = 0;
    for (uint64_t i = 1; i <= 500; i++) {
        char subj[32];
        snprintf(subj, sizeof(subj), "orders.%u", (unsigned)(i % 5));
        REQUIRE(append_next(st, uio, subj, &seq) == 0);
        CHECK_INT(seq, ==, i);
        unsigned char d[512];
        char h[64];
        size_t hn = header_of(i, h, sizeof(h));
        bytes += 22 + strlen(subj) + payload(i, d, sizeof(d)) + 8
            + (hn ? 4 + hn : 0);
        if (check_msg(st, i, subj, &buf) != 0)  /* from the write buffer */
            bad++;
    }
    CHECK_INT(bad, ==, 0);
    struct st_state s;
    st_store_state(st, &s);
    CHECK_INT(s.msgs, ==, 500);
    CHECK_INT(s.first_seq, ==, 1);
    CHECK_INT(s.last_seq, ==, 500);
    CHECK_INT(s.bytes, ==, bytes);
    CHECK_INT(s.num_subjects, ==, 5);
    CHECK(s.first_ts > 0 && s.last_ts >= s.first_ts);
    REQUIRE(st_store_sync(st) == 0);
    for (uint64_t i = 1; i <= 500; i++) {
        char subj[32];
        snprintf(subj, sizeof(subj), "orders.%u", (unsigned)(i % 5));
        if (check_msg(st, i, subj, &buf) != 0)  /* from disk */
            bad++;
    }
    CHECK_INT(bad, ==, 0);
    struct st_msg m;
    CHECK_INT(st_store_get(st, 0, &m, &buf), ==, -ENOENT);
    CHECK_INT(st_store_get(st, 501, &m, &buf), ==, -ENOENT);
out:
    dt_buf_free(&buf);
    CHECK(st_store_close(st) == 0);
}

static void
test_group_commit(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct acks a = { 0 };
    struct st_config c = cfg_make(ST_SYNC_ALWAYS, 0, &a);
    struct st_store *st = NULL;
    struct st_io_stats s0, s1, s2;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    char data[128];
    memset(data, 'x', sizeof(data));
    struct st_rec_in in = { .subj = "gc.x", .subj_len = 4, .data = data,
                            .data_len = sizeof(data) };
    st_io_get_stats(uio, &s0);
    for (int i = 0; i < 1000; i++)
        REQUIRE(st_store_append(st, &in, NULL) == 0);
    CHECK_INT(a.ok_hi, ==, 0);          /* nothing acked before fsync */
    REQUIRE(st_store_flush(st) == 0);
    REQUIRE(wait_acked(uio, st, &a, 1000) == 0);
    st_io_get_stats(uio, &s1);
    /* first batch: one write, the segment's fdatasync, the directory's */
    CHECK_INT(s1.writes - s0.writes, ==, 1);
    CHECK_INT(s1.fsyncs - s0.fsyncs, ==, 2);
    for (int i = 0; i < 1000; i++)
        REQUIRE(st_store_append(st, &in, NULL) == 0);
    REQUIRE(st_store_flush(st) == 0);
    REQUIRE(wait_acked(uio, st, &a, 2000) == 0);
    st_io_get_stats(uio, &s2);
    CHECK_INT(s2.writes - s1.writes, ==, 1);
    CHECK_INT(s2.fsyncs - s1.fsyncs, ==, 1);    /* 1000 records, 1 fsync */
    CHECK_INT(a.fails, ==, 0);
    CHECK_INT(a.ticket, ==, st_store_ticket(st));
out:
    CHECK(st_store_close(st) == 0);
}

/* Acks wait for the fsync: hold the batch in flight, nothing is acked;
 * release it, everything is. */
static void
test_ack_after_fsync(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_store *st = NULL;
    struct acks a = { 0 };
    struct st_config c = cfg_make(ST_SYNC_ALWAYS, 0, &a);
    REQUIRE(st_io_open_fault(&fio, &f) == 0);
    REQUIRE(st_store_open(&st, fio, dir, &c) == 0);
    st_fault_hold(f, true);
    for (int i = 0; i < 10; i++)
        REQUIRE(append_seq(st, "h.x", (uint64_t)i + 1, NULL) == 0);
    REQUIRE(st_store_flush(st) == 0);
    for (int i = 0; i < 5; i++)
        st_io_poll(fio, 0);
    CHECK_INT(a.reports, ==, 0);
    /* appends go on while the batch is in flight: the next group */
    for (int i = 10; i < 20; i++)
        REQUIRE(append_seq(st, "h.x", (uint64_t)i + 1, NULL) == 0);
    st_store_flush(st);
    st_fault_hold(f, false);
    st_io_poll(fio, 1);
    CHECK_INT(a.ok_hi, ==, 10);
    REQUIRE(wait_acked(fio, st, &a, 20) == 0);
    CHECK_INT(a.reports, ==, 2);
out:
    CHECK(st_store_close(st) == 0);
    st_io_close(fio);
}

/* A crash between a batch's writes and its fsync: the writes completed
 * (their completions even arrive) but nothing may be acked, and after a
 * power loss nothing of the batch may be required to survive. */
static void
test_crash_mid_batch(void)
{
    for (int prefix = 0; prefix <= 3; prefix++) {
        char dir[300];
        new_dir(dir, sizeof(dir));
        struct st_io *fio = NULL;
        struct st_fault *f = NULL;
        struct st_store *st = NULL;
        struct acks a = { 0 };
        struct st_config c = cfg_make(ST_SYNC_ALWAYS, 0, &a);
        REQUIRE(st_io_open_fault(&fio, &f) == 0);
        REQUIRE(st_store_open(&st, fio, dir, &c) == 0);
        for (int i = 0; i < 10; i++)
            REQUIRE(append_next(st, fio, "mb.x", NULL) == 0);
        REQUIRE(st_store_sync(st) == 0);
        CHECK_INT(a.ok_hi, ==, 10);
        for (int i = 0; i < 10; i++)
            REQUIRE(append_next(st, fio, "mb.x", NULL) == 0);
        /* the batch is: write, fdatasync; run `prefix` of it, then die */
        st_fault_hold(f, true);
        st_store_flush(st);
        st_io_submit(fio);
        st_fault_set_prefix(f, prefix);
        CHECK(st_fault_crash(f, 7, ST_CRASH_DROP) == 0);
        st_store_close(st);
        st = NULL;
        st_io_close(fio);
        fio = NULL;
        CHECK_INT(a.ok_hi, ==, prefix >= 2 ? 20 : 10);
        REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
        struct st_state s;
        st_store_state(st, &s);
        CHECK_INT(s.last_seq, ==, a.ok_hi);
        CHECK_INT(s.msgs, ==, a.ok_hi);
out:
        st_store_close(st);
        if (fio)
            st_io_close(fio);
    }
}

static void
fill_mixed(struct st_store *st, uint64_t n, unsigned nsubj)
{
    for (uint64_t i = 1; i <= n; i++) {
        char subj[32];
        snprintf(subj, sizeof(subj), "s.%u", (unsigned)(i * 13 % nsubj));
        if (append_next(st, uio, subj, NULL) != 0) {
            CHECK_MSG(0, "append %" PRIu64 " failed", i);
            return;
        }
    }
}

static void
test_reopen_rebuild(void)
{
    char dir[300], ckp[512];
    new_dir(dir, sizeof(dir));
    struct st_config c = cfg_make(ST_SYNC_INTERVAL, 64 * KiB, NULL);
    struct st_store *st = NULL;
    struct snap a, b;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    fill_mixed(st, 3000, 20);
    for (uint64_t seq = 7; seq <= 3000; seq += 7)
        CHECK(st_store_delete(st, seq) == 0);
    uint64_t n = 0;
    struct st_purge p = { .filter = "s.3", .filter_len = 3, .keep = 2 };
    CHECK(st_store_purge(st, &p, &n) == 0 && n > 0);
    CHECK(st_store_delete(st, 1) == 0);
    take_snap(st, &a, 20, "s.%u");
    CHECK(a.s.num_deleted > 0);
    CHECK(a.n == a.s.msgs);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;

    struct st_stats ss;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    st_store_stats(st, &ss);
    CHECK_INT(ss.rec_used_checkpoint, ==, 1);
    CHECK(ss.segments > 3);
    take_snap(st, &b, 20, "s.%u");
    CHECK(snap_eq(&a, &b));
    REQUIRE(st_store_close(st) == 0);
    st = NULL;

    snprintf(ckp, sizeof(ckp), "%s/index.ckp", dir);
    CHECK(unlink(ckp) == 0);
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    st_store_stats(st, &ss);
    CHECK_INT(ss.rec_used_checkpoint, ==, 0);
    CHECK(ss.rec_bytes_scanned > 100 * KiB);
    take_snap(st, &b, 20, "s.%u");
    CHECK(snap_eq(&a, &b));
out:
    CHECK(st_store_close(st) == 0);
}

static void
test_checkpoint(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_config c = cfg_make(ST_SYNC_INTERVAL, 64 * KiB, NULL);
    struct st_store *st = NULL;
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_stats ss;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    fill_mixed(st, 5000, 10);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    st_store_stats(st, &ss);
    uint64_t total = ss.disk_bytes;
    CHECK_INT(ss.rec_used_checkpoint, ==, 1);
    CHECK_INT(ss.rec_bytes_scanned, ==, 0);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;

    /* append a tail, then "kill -9": no checkpoint at close */
    REQUIRE(st_io_open_fault(&fio, &f) == 0);
    REQUIRE(st_store_open(&st, fio, dir, &c) == 0);
    for (int i = 0; i < 200; i++)
        REQUIRE(append_next(st, fio, "tail.x", NULL) == 0);
    REQUIRE(st_store_sync(st) == 0);
    CHECK(st_fault_crash(f, 1, ST_CRASH_KEEP) == 0);
    st_store_close(st);         /* its checkpoint write fails: tolerated */
    st = NULL;
    st_io_close(fio);
    fio = NULL;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    st_store_stats(st, &ss);
    CHECK_INT(ss.rec_used_checkpoint, ==, 1);
    CHECK_INT(ss.rec_records, ==, 200);
    CHECK(ss.rec_bytes_scanned > 0 && ss.rec_bytes_scanned < total / 10);
    printf("# checkpoint: reopen scanned %" PRIu64 " of %" PRIu64
           " bytes (%" PRIu64 " records)\n", ss.rec_bytes_scanned,
           ss.disk_bytes, ss.rec_records);
    struct st_state s;
    st_store_state(st, &s);
    CHECK_INT(s.last_seq, ==, 5200);
    CHECK_INT(s.msgs, ==, 5200);

    /* periodic checkpoints from the timer */
    uint64_t t = now_mono();
    st_store_stats(st, &ss);
    uint64_t before = ss.checkpoints;
    CHECK(st_store_tick(st, t) == 0);   /* the timers start here */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 800; i++)
            REQUIRE(append_next(st, uio, "tick.x", NULL) == 0);
        t += 200ull * 1000000000ull;    /* past both intervals */
        CHECK(st_store_tick(st, t) == 0);
        REQUIRE(st_store_sync(st) == 0);
    }
    st_store_stats(st, &ss);
    CHECK(ss.checkpoints >= before + 3);
out:
    CHECK(st_store_close(st) == 0);
    if (fio)
        st_io_close(fio);
}

static void
test_torn_tail(void)
{
    char dir[300], seg[64], path[512];
    new_dir(dir, sizeof(dir));
    struct st_store *st = NULL;
    struct st_stats ss;
    struct st_state s;
    struct dt_buf buf = { 0 };
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    for (int i = 0; i < 100; i++)
        REQUIRE(append_next(st, uio, "t.x", NULL) == 0);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    last_segment(dir, seg, sizeof(seg));
    snprintf(path, sizeof(path), "%s/%s", dir, seg);
    uint64_t size = file_size(dir, seg);

    /* 1: a partial last record */
    REQUIRE(truncate(path, (off_t)(size - 5)) == 0);
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    st_store_stats(st, &ss);
    st_store_state(st, &s);
    CHECK_INT(s.last_seq, ==, 99);
    CHECK_INT(s.msgs, ==, 99);
    CHECK(ss.rec_truncated > 0);
    CHECK_INT(ss.rec_used_checkpoint, ==, 0);   /* its anchor is gone */
    CHECK(file_size(dir, seg) < size - 5);
    REQUIRE(append_next(st, uio, "t.x", NULL) == 0);     /* seq 100 again */
    CHECK(check_msg(st, 100, "t.x", &buf) == 0);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;

    /* 2: a flipped byte in the last record */
    size = file_size(dir, seg);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    char b;
    CHECK(pread(fd, &b, 1, (off_t)size - 3) == 1);
    b ^= 0x40;
    CHECK(pwrite(fd, &b, 1, (off_t)size - 3) == 1);
    /* 3: and a zero-filled tail after it (preallocation, a torn page) */
    char zero[4096] = { 0 };
    CHECK(pwrite(fd, zero, sizeof(zero), (off_t)size) == (ssize_t)sizeof(zero));
    close(fd);
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    st_store_state(st, &s);
    st_store_stats(st, &ss);
    CHECK_INT(s.last_seq, ==, 99);
    CHECK_INT(ss.rec_truncated, >=, 4096);
    int bad = 0;
    for (uint64_t i = 1; i <= 99; i++)
        bad += check_msg(st, i, "t.x", &buf) != 0;
    CHECK_INT(bad, ==, 0);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;

    /* 4: a garbage checkpoint is ignored */
    snprintf(path, sizeof(path), "%s/index.ckp", dir);
    fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "garbage garbage garbage garbage garbage garbage garbage "
                "garbage garbage garbage garbage garbage garbage", 100) == 100);
    close(fd);
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    st_store_stats(st, &ss);
    st_store_state(st, &s);
    CHECK_INT(ss.rec_used_checkpoint, ==, 0);
    CHECK_INT(s.last_seq, ==, 99);
    CHECK_INT(s.msgs, ==, 99);
out:
    dt_buf_free(&buf);
    CHECK(st_store_close(st) == 0);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* One crash scenario: returns the number of messages recovered. */
static uint64_t
crash_once(enum st_sync sync, uint64_t seed, uint64_t *acked_out,
           int *corrupt)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_store *st = NULL;
    struct acks a = { 0 };
    struct st_config c = cfg_make(sync, 64 * KiB, &a);
    uint64_t recovered = 0;
    struct dt_buf buf = { 0 };
    *corrupt = 0;
    if (st_io_open_fault(&fio, &f) != 0 || st_store_open(&st, fio, dir, &c))
        goto fail;
    rng_state = seed * 0x9E3779B97F4A7C15ull + 7;
    unsigned rounds = 1 + (unsigned)(rnd() % 12);
    for (unsigned r = 0; r < rounds; r++) {
        unsigned k = 1 + (unsigned)(rnd() % 80);
        for (unsigned i = 0; i < k; i++)
            if (append_next(st, fio, "crash.x", NULL) != 0)
                goto fail;
        unsigned what = (unsigned)(rnd() % 4);
        if (r + 1 == rounds && what == 0)
            break;                      /* crash with records unflushed */
        if (r + 1 == rounds && (what == 1 || what == 3)) {
            st_fault_hold(f, true);     /* crash inside a batch */
            st_store_flush(st);
            st_io_submit(fio);
            break;
        }
        st_store_flush(st);
        st_io_poll(fio, 1);
        if (sync == ST_SYNC_INTERVAL && what == 2)
            st_store_tick(st, now_mono() + (r + 1) * 300ull * 1000000000ull);
    }
    enum st_crash_mode mode = (enum st_crash_mode)(rnd() % 3);
    if (st_fault_crash(f, seed, mode) != 0)
        goto fail;
    st_store_close(st);                 /* failed: frees, writes nothing */
    st = NULL;
    st_io_close(fio);
    fio = NULL;
    *acked_out = a.ok_hi;

    /* verify through a fresh fault backend: the same recovery, without
     * real fsyncs (they only cost time on a shared disk here) */
    if (st_io_open_fault(&fio, &f) != 0 || st_store_open(&st, fio, dir, &c))
        goto fail;
    struct st_state s;
    st_store_state(st, &s);
    for (uint64_t seq = s.first_seq; seq <= s.last_seq; seq++) {
        int rc = check_msg(st, seq, "crash.x", &buf);
        if (rc == 0)
            recovered++;
        else if (rc != -ENOENT)
            (*corrupt)++;
    }
    if (recovered != s.msgs)
        (*corrupt)++;
    /* ALWAYS: every acked message is there, in one unbroken run */
    if (sync == ST_SYNC_ALWAYS
        && (s.last_seq < a.ok_hi || s.first_seq != 1 || s.msgs != s.last_seq))
        (*corrupt)++;
    /* and the store keeps working */
    if (append_next(st, fio, "crash.x", NULL) != 0 || st_store_sync(st) != 0)
        (*corrupt)++;
    st_store_close(st);
    st_io_close(fio);
    dt_buf_free(&buf);
    return recovered;
fail:
    (*corrupt)++;
    dt_buf_free(&buf);
    if (st)
        st_store_close(st);
    if (fio)
        st_io_close(fio);
    return 0;
}

static void
test_crash(void)
{
    static const struct {
        enum st_sync sync;
        const char *name;
    } modes[] = { { ST_SYNC_ALWAYS, "always" }, { ST_SYNC_INTERVAL,
                                                  "interval" } };
    for (size_t m = 0; m < 2; m++) {
        uint64_t acked = 0, recovered = 0, lost_acked = 0;
        int corrupt_runs = 0;
        for (uint64_t seed = 1; seed <= 25; seed++) {
            uint64_t ack = 0;
            int corrupt = 0;
            uint64_t got = crash_once(modes[m].sync, seed, &ack, &corrupt);
            CHECK_MSG(corrupt == 0, "crash seed %" PRIu64 " mode %s: %d "
                      "problems", seed, modes[m].name, corrupt);
            corrupt_runs += corrupt != 0;
            acked += ack;
            recovered += got;
            if (got < ack)
                lost_acked += ack - got;
        }
        printf("# crash %s: 25 runs, %" PRIu64 " acked, %" PRIu64
               " recovered, %" PRIu64 " acked lost, %d bad runs\n",
               modes[m].name, acked, recovered, lost_acked, corrupt_runs);
    }
}

/* Live sequences of a store, as a bitmap [0, n). */
static unsigned char *
live_set(struct st_store *st, uint64_t n)
{
    unsigned char *live = calloc(n + 1, 1);
    struct dt_buf buf = { 0 };
    struct st_msg m;
    uint64_t seq = 0;
    while (live && st_store_next(st, seq + 1, NULL, 0, &m, &buf) == 0
           && m.seq <= n) {
        live[m.seq] = 1;
        seq = m.seq;
    }
    dt_buf_free(&buf);
    return live;
}

static void
random_removals(struct st_store *st)
{
    struct st_state s;
    st_store_state(st, &s);
    unsigned what = (unsigned)(rnd() % 4);
    if (what == 0 && s.msgs) {
        for (int i = 0; i < 5; i++)
            st_store_delete(st, s.first_seq + rnd() % (s.last_seq
                                                       - s.first_seq + 1));
    } else if (what == 1) {
        struct st_limits lim = { .max_msgs = 40 + rnd() % 200 };
        st_store_enforce(st, &lim, 0, NULL);
    } else if (what == 2) {
        struct st_purge p = { .filter = "d.1", .filter_len = 3, .keep = 3 };
        st_store_purge(st, &p, NULL);
    }
}

/* ALWAYS mode with deletes, purges and limits (so segments get removed):
 * after a crash, a message whose delete was acked never comes back and
 * an acked message that was never deleted is always there. */
static int
crash_deletes_once(uint64_t seed, int *removed_segs)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_store *st = NULL;
    struct acks a = { 0 };
    struct st_config c = cfg_make(ST_SYNC_ALWAYS, 64 * KiB, &a);
    unsigned char *s1 = NULL, *s2 = NULL;
    struct dt_buf buf = { 0 };
    int bad = 0;
    rng_state = seed * 0x2545F4914F6CDD1Dull + 3;
    if (st_io_open_fault(&fio, &f) != 0 || st_store_open(&st, fio, dir, &c))
        goto fail;
    unsigned rounds = 2 + (unsigned)(rnd() % 10);
    for (unsigned r = 0; r < rounds; r++) {
        unsigned k = 20 + (unsigned)(rnd() % 150);
        for (unsigned i = 0; i < k; i++) {
            char subj[8];
            snprintf(subj, sizeof(subj), "d.%u", (unsigned)(rnd() % 3));
            if (append_next(st, fio, subj, NULL) != 0)
                goto fail;
        }
        random_removals(st);
        st_store_flush(st);
        for (int i = 0; i < 1000 && a.ticket < st_store_ticket(st); i++) {
            st_store_flush(st);
            st_io_poll(fio, 1);
        }
        if (a.ticket < st_store_ticket(st) || a.fails)
            goto fail;
    }
    struct st_state sa;
    st_store_state(st, &sa);
    uint64_t last_a = sa.last_seq;
    uint64_t cap = last_a + 400;
    s1 = live_set(st, cap);             /* everything here is acked */
    /* unacked tail: more appends and removals, maybe mid-batch */
    for (unsigned i = 0; i < (unsigned)(rnd() % 200); i++)
        if (append_next(st, fio, "d.0", NULL) != 0)
            goto fail;
    random_removals(st);
    s2 = live_set(st, cap);
    if (rnd() % 2) {
        st_fault_hold(f, true);
        st_store_flush(st);
        st_io_submit(fio);
    }
    if (s1 == NULL || s2 == NULL
        || st_fault_crash(f, seed, (enum st_crash_mode)(rnd() % 3)) != 0)
        goto fail;
    st_store_close(st);
    st = NULL;
    st_io_close(fio);
    fio = NULL;
    if (st_io_open_fault(&fio, &f) != 0 || st_store_open(&st, fio, dir, &c))
        goto fail;
    for (uint64_t seq = 1; seq <= cap; seq++) {
        int rc = check_msg(st, seq, NULL, &buf);
        if (rc != 0 && rc != -ENOENT)
            bad++;                      /* damaged */
        else if (rc == 0 && seq <= last_a && !s1[seq])
            bad++;                      /* an acked delete came back */
        else if (rc != 0 && s1[seq] && s2[seq])
            bad++;                      /* an acked message vanished */
    }
    if (bad)
        fprintf(stderr, "crash with deletes, seed %" PRIu64 ": %d bad\n",
                seed, bad);
    char seg[64];
    *removed_segs = count_segments(dir) < last_segment(dir, seg, sizeof(seg));
    goto done;
fail:
    bad++;
done:
    free(s1);
    free(s2);
    dt_buf_free(&buf);
    if (st)
        st_store_close(st);
    if (fio)
        st_io_close(fio);
    return bad;
}

static void
test_crash_deletes(void)
{
    int bad_runs = 0, gc_runs = 0;
    for (uint64_t seed = 1; seed <= 25; seed++) {
        int gc = 0;
        int bad = crash_deletes_once(seed, &gc);
        CHECK_MSG(bad == 0, "crash with deletes, seed %" PRIu64, seed);
        bad_runs += bad != 0;
        gc_runs += gc;
    }
    CHECK(gc_runs > 0);                 /* segment removal was exercised */
    printf("# crash with deletes/purges/limits (always): 25 runs, %d bad, "
           "%d removed segments\n", bad_runs, gc_runs);
}

static void
test_enospc(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_store *st = NULL;
    struct acks a = { 0 };
    struct st_config c = cfg_make(ST_SYNC_ALWAYS, 0, &a);
    struct dt_buf buf = { 0 };
    REQUIRE(st_io_open_fault(&fio, &f) == 0);
    REQUIRE(st_store_open(&st, fio, dir, &c) == 0);
    for (int i = 0; i < 50; i++)
        REQUIRE(append_next(st, fio, "full.x", NULL) == 0);
    REQUIRE(st_store_sync(st) == 0);
    st_fault_set_space(f, 3000);        /* a short write, then ENOSPC */
    for (int i = 0; i < 100; i++)
        REQUIRE(append_next(st, fio, "full.x", NULL) == 0);
    st_store_flush(st);
    for (int i = 0; i < 100 && a.fails == 0; i++)
        st_io_poll(fio, 1);
    CHECK_INT(a.fails, ==, 1);
    CHECK_INT(a.status, ==, -ENOSPC);
    CHECK_INT(a.fail_lo, ==, 51);
    CHECK_INT(a.fail_hi, ==, 150);
    struct st_state s;
    st_store_state(st, &s);
    CHECK_INT(s.last_seq, ==, 50);      /* rolled back to what is on disk */
    CHECK_INT(s.msgs, ==, 50);
    int bad = 0;
    for (uint64_t i = 1; i <= 50; i++)
        bad += check_msg(st, i, "full.x", &buf) != 0;
    CHECK_INT(bad, ==, 0);
    /* still full: fails again, cleanly */
    REQUIRE(append_next(st, fio, "full.x", NULL) == 0);
    st_store_flush(st);
    for (int i = 0; i < 100 && a.fails == 1; i++)
        st_io_poll(fio, 1);
    CHECK_INT(a.fails, ==, 2);
    /* space again: the store goes on, sequences continue from 51 */
    st_fault_set_space(f, -1);
    uint64_t seq = 0;
    for (int i = 0; i < 10; i++)
        REQUIRE(append_next(st, fio, "full.x", &seq) == 0);
    CHECK_INT(seq, ==, 60);
    CHECK(st_store_sync(st) == 0);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    st_store_state(st, &s);
    CHECK_INT(s.last_seq, ==, 60);
    CHECK_INT(s.msgs, ==, 60);
    for (uint64_t i = 1; i <= 60; i++)
        bad += check_msg(st, i, "full.x", &buf) != 0;
    CHECK_INT(bad, ==, 0);
out:
    dt_buf_free(&buf);
    CHECK(st_store_close(st) == 0);
    if (fio)
        st_io_close(fio);
}

static void
test_fsync_error(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_io *fio = NULL;
    struct st_fault *f = NULL;
    struct st_store *st = NULL;
    struct acks a = { 0 };
    struct st_config c = cfg_make(ST_SYNC_ALWAYS, 0, &a);
    struct dt_buf buf = { 0 };
    REQUIRE(st_io_open_fault(&fio, &f) == 0);
    REQUIRE(st_store_open(&st, fio, dir, &c) == 0);
    for (int i = 0; i < 10; i++)
        REQUIRE(append_next(st, fio, "eio.x", NULL) == 0);
    REQUIRE(st_store_sync(st) == 0);
    st_fault_fail_fsync(f, 0, EIO);
    for (int i = 0; i < 10; i++)
        REQUIRE(append_next(st, fio, "eio.x", NULL) == 0);
    st_store_flush(st);
    for (int i = 0; i < 100 && a.fails == 0; i++)
        st_io_poll(fio, 1);
    CHECK_INT(a.fails, ==, 1);
    CHECK_INT(a.status, ==, -EIO);
    CHECK_INT(a.ok_hi, ==, 10);
    CHECK_INT(append_seq(st, "eio.x", 21, NULL), ==, -EIO);
    CHECK_INT(st_store_delete(st, 1), ==, -EIO);
    CHECK(check_msg(st, 5, "eio.x", &buf) == 0);    /* reads still work */
    CHECK_INT(st_store_close(st), ==, -EIO);
    st = NULL;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    struct st_state s;
    st_store_state(st, &s);
    CHECK(s.last_seq == 10 || s.last_seq == 20);
    CHECK_INT(s.msgs, ==, s.last_seq);
    int bad = 0;
    for (uint64_t i = 1; i <= s.last_seq; i++)
        bad += check_msg(st, i, "eio.x", &buf) != 0;
    CHECK_INT(bad, ==, 0);
out:
    dt_buf_free(&buf);
    CHECK(st_store_close(st) == 0);
    if (fio)
        st_io_close(fio);
}

static uint64_t
live_in(struct st_store *st, uint64_t lo, uint64_t hi)
{
    struct dt_buf buf = { 0 };
    struct st_msg m;
    uint64_t n = 0;
    for (uint64_t seq = lo; seq <= hi; seq++)
        n += st_store_get(st, seq, &m, &buf) == 0;
    dt_buf_free(&buf);
    return n;
}

static void
test_delete_purge(void)
{
    char dir[300], ckp[512];
    new_dir(dir, sizeof(dir));
    struct st_store *st = NULL;
    struct st_state s;
    struct st_subject_state ss;
    struct st_msg m;
    struct dt_buf buf = { 0 };
    uint64_t n = 0;
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    for (uint64_t i = 1; i <= 100; i++) {
        char subj[16];
        snprintf(subj, sizeof(subj), "a.%u", (unsigned)(i % 4));
        REQUIRE(append_next(st, uio, subj, NULL) == 0);
    }
    CHECK(st_store_delete(st, 50) == 0);
    CHECK_INT(st_store_delete(st, 50), ==, -ENOENT);
    CHECK_INT(st_store_delete(st, 1000), ==, -ENOENT);
    CHECK_INT(st_store_get(st, 50, &m, &buf), ==, -ENOENT);
    CHECK(st_store_delete(st, 1) == 0);
    CHECK(st_store_delete(st, 100) == 0);
    st_store_state(st, &s);
    CHECK_INT(s.first_seq, ==, 2);
    CHECK_INT(s.last_seq, ==, 100);
    CHECK_INT(s.msgs, ==, 97);
    CHECK_INT(s.num_deleted, ==, 2);    /* 50 and 100 */

    /* a.1 = 1, 5, ..., 97 minus 1 and 97 live => keep 5 */
    struct st_purge p = { .filter = "a.1", .filter_len = 3, .keep = 5 };
    CHECK(st_store_purge(st, &p, &n) == 0);
    CHECK_INT(st_store_subject_state(st, "a.1", 3, &ss), ==, 0);
    CHECK_INT(ss.msgs, ==, 5);
    CHECK_INT(ss.first_seq, ==, 81);
    CHECK_INT(ss.last_seq, ==, 97);
    CHECK_INT(n, ==, 24 - 5);           /* 25 a.1, seq 1 deleted */

    /* wildcard filter below a sequence */
    struct st_purge p2 = { .filter = "a.*", .filter_len = 3, .seq = 30 };
    CHECK(st_store_purge(st, &p2, &n) == 0);
    CHECK_INT(n, ==, 28 - 7);           /* 2..29 live minus a.1's purged */
    st_store_state(st, &s);
    CHECK_INT(s.first_seq, ==, 30);

    /* keep 10 without a filter: nats-server compacts at last - 10 + 1 */
    struct st_purge p3 = { .keep = 10 };
    CHECK(st_store_purge(st, &p3, &n) == 0);
    st_store_state(st, &s);
    CHECK_INT(s.first_seq, ==, 91);
    CHECK_INT(s.msgs, ==, live_in(st, 91, 100));
    CHECK_INT(s.msgs, ==, 9);           /* 100 was deleted */

    /* purge to a sequence past the end: first = 200, last = 199 */
    struct st_purge p4 = { .seq = 200 };
    CHECK(st_store_purge(st, &p4, &n) == 0);
    st_store_state(st, &s);
    CHECK_INT(s.msgs, ==, 0);
    CHECK_INT(s.first_seq, ==, 200);
    CHECK_INT(s.last_seq, ==, 199);
    uint64_t seq = 0;
    CHECK(append_seq(st, "a.9", 200, &seq) == 0 && seq == 200);
    struct snap a, b;
    take_snap(st, &a, 4, "a.%u");
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    take_snap(st, &b, 4, "a.%u");
    CHECK(snap_eq(&a, &b));
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    snprintf(ckp, sizeof(ckp), "%s/index.ckp", dir);
    CHECK(unlink(ckp) == 0);
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    take_snap(st, &b, 4, "a.%u");
    CHECK(snap_eq(&a, &b));
    CHECK_INT(b.s.first_seq, ==, 200);
    CHECK_INT(b.s.last_seq, ==, 200);

    struct st_purge all = { 0 };
    CHECK(st_store_purge(st, &all, &n) == 0);
    CHECK_INT(n, ==, 1);
    st_store_state(st, &s);
    CHECK_INT(s.msgs, ==, 0);
    CHECK_INT(s.first_seq, ==, 201);
    CHECK_INT(s.bytes, ==, 0);
    CHECK_INT(s.num_subjects, ==, 0);
out:
    dt_buf_free(&buf);
    CHECK(st_store_close(st) == 0);
}

static void
test_limits(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_config c = cfg_make(ST_SYNC_INTERVAL, 64 * KiB, NULL);
    struct st_store *st = NULL;
    struct st_state s;
    struct st_stats ss;
    uint64_t n = 0, total = 0;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    struct st_limits lim = { .max_msgs = 100 };
    for (int i = 0; i < 3000; i++) {
        REQUIRE(append_next(st, uio, "lim.x", NULL) == 0);
        CHECK(st_store_enforce(st, &lim, 0, &n) == 0);
        total += n;
    }
    st_store_state(st, &s);
    CHECK_INT(s.msgs, ==, 100);
    CHECK_INT(s.first_seq, ==, 2901);
    CHECK_INT(total, ==, 2900);
    REQUIRE(st_store_sync(st) == 0);    /* removal waits for the fsync */
    st_store_stats(st, &ss);
    CHECK(ss.segments <= 3);
    CHECK_INT(count_segments(dir), ==, ss.segments);

    struct st_limits lb = { .max_bytes = 5000 };
    CHECK(st_store_enforce(st, &lb, 0, &n) == 0 && n > 0);
    st_store_state(st, &s);
    CHECK(s.bytes <= 5000 && s.bytes > 4000);

    /* max_age, from explicit timestamps 1 ms apart (oldest first, as
     * the stream layer stores them: start from an empty stream) */
    struct st_purge all = { 0 };
    CHECK(st_store_purge(st, &all, &n) == 0);
    int64_t t0 = 1700000000000000000ll;
    struct st_rec_in in = { .subj = "age.x", .subj_len = 5, .data = "d",
                            .data_len = 1 };
    for (int i = 0; i < 500; i++) {
        in.ts = t0 + (int64_t)i * 1000000;
        for (int k = 0; k < 1000; k++) {
            int rc = st_store_append(st, &in, NULL);
            if (rc != -EAGAIN) {
                CHECK(rc == 0);
                break;
            }
            st_store_flush(st);
            st_io_poll(uio, 1);
        }
    }
    struct st_limits la = { .max_age_ns = 100 * 1000000ll };
    CHECK(st_store_enforce(st, &la, t0 + 400 * 1000000ll, &n) == 0);
    struct st_subject_state sub;
    st_store_subject_state(st, "age.x", 5, &sub);
    CHECK_INT(sub.msgs, ==, 200);       /* ts >= t0 + 300 ms survive */
    st_store_state(st, &s);
    CHECK_INT(s.msgs, ==, 200);
    CHECK_INT(s.first_ts, ==, t0 + 300 * 1000000ll);

    /* max_msgs_per_subject */
    for (int i = 0; i < 100; i++)
        REQUIRE(append_next(st, uio, i % 2 ? "k.x" : "k.y", NULL) == 0);
    CHECK(st_store_enforce_subject(st, "k.x", 3, 10, &n) == 0);
    CHECK_INT(n, ==, 40);
    st_store_subject_state(st, "k.x", 3, &sub);
    CHECK_INT(sub.msgs, ==, 10);
    st_store_state(st, &s);
    CHECK_INT(sub.last_seq, ==, s.last_seq);
    CHECK_INT(sub.first_seq, ==, s.last_seq - 18);
    st_store_subject_state(st, "k.y", 3, &sub);
    CHECK_INT(sub.msgs, ==, 50);
    CHECK(st_store_enforce_subject(st, "k.x", 3, 10, &n) == 0 && n == 0);
    CHECK(st_store_enforce_subject(st, "nope", 4, 1, &n) == 0 && n == 0);

    struct snap a, b;
    take_snap(st, &a, 0, "");
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    take_snap(st, &b, 0, "");
    CHECK(snap_eq(&a, &b));
out:
    CHECK(st_store_close(st) == 0);
}

static void
test_subjects(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_store *st = NULL;
    struct st_msg m;
    struct st_subject_state ss;
    struct dt_buf buf = { 0 };
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    static const char *subj[] = { "a.1", "a.2", "a.1", "b", "a.1" };
    for (int i = 0; i < 5; i++)
        REQUIRE(append_next(st, uio, subj[i], NULL) == 0);
    CHECK(st_store_last(st, "a.1", 3, &m, &buf) == 0 && m.seq == 5);
    CHECK(st_store_delete(st, 5) == 0);
    CHECK(st_store_last(st, "a.1", 3, &m, &buf) == 0 && m.seq == 3);
    CHECK(st_store_last(st, "a.*", 3, &m, &buf) == 0 && m.seq == 3);
    CHECK(st_store_last(st, "b", 1, &m, &buf) == 0 && m.seq == 4);
    CHECK(st_store_last(st, ">", 1, &m, &buf) == 0 && m.seq == 4);
    CHECK_INT(st_store_last(st, "zzz", 3, &m, &buf), ==, -ENOENT);
    CHECK(check_msg(st, 3, "a.1", &buf) == 0);
    CHECK(st_store_subject_state(st, "a.*", 3, &ss) == 0);
    CHECK(ss.msgs == 3 && ss.first_seq == 1 && ss.last_seq == 3);
    CHECK(st_store_subject_state(st, "a.1", 3, &ss) == 0);
    CHECK(ss.msgs == 2 && ss.first_seq == 1 && ss.last_seq == 3);
    CHECK(st_store_subject_state(st, NULL, 0, &ss) == 0);
    CHECK(ss.msgs == 4 && ss.first_seq == 1 && ss.last_seq == 4);
    CHECK(st_store_delete(st, 1) == 0);
    CHECK(st_store_subject_state(st, "a.1", 3, &ss) == 0);
    CHECK(ss.msgs == 1 && ss.first_seq == 3 && ss.last_seq == 3);
    CHECK(st_store_next(st, 1, "a.1", 3, &m, &buf) == 0 && m.seq == 3);
    CHECK(st_store_next(st, 4, "a.1", 3, &m, &buf) == -ENOENT);
    CHECK(st_store_next(st, 1, "b", 1, &m, &buf) == 0 && m.seq == 4);
    CHECK(st_store_next(st, 0, NULL, 0, &m, &buf) == 0 && m.seq == 2);
    CHECK(st_store_next(st, 3, "*.2", 3, &m, &buf) == -ENOENT);
    CHECK(st_store_next(st, 1, "*.2", 3, &m, &buf) == 0 && m.seq == 2);
    CHECK(st_store_next(st, 1, "a.>", 3, &m, &buf) == 0 && m.seq == 2);
    CHECK_INT(st_store_next(st, 1, "a..b", 4, &m, &buf), ==, -EINVAL);
    CHECK_INT(st_store_last(st, "a.>.b", 5, &m, &buf), ==, -EINVAL);
    CHECK_INT(st_store_next(st, 1, "nope", 4, &m, &buf), ==, -ENOENT);
out:
    dt_buf_free(&buf);
    CHECK(st_store_close(st) == 0);
}

static void
test_bad_input(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_store *st = NULL, *st2 = NULL;
    struct st_config c = cfg_make(ST_SYNC_INTERVAL, 0, NULL);
    c.max_record = 8192;
    struct st_config bad = cfg_make(ST_SYNC_INTERVAL, 1000, NULL);
    CHECK_INT(st_store_open(&st, uio, dir, &bad), ==, -EINVAL);
    CHECK_INT(st_store_open(&st, NULL, dir, &c), ==, -EINVAL);
    CHECK_INT(st_store_open(&st, uio, "", &c), ==, -EINVAL);
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    CHECK_INT(st_store_open(&st2, uio, dir, &c), ==, -EBUSY);
    struct st_rec_in in = { .subj = "ok", .subj_len = 2 };
    static const char *bad_subj[] = { "", "a b", "a.*", "a.>", "a..b", ".a" };
    for (size_t i = 0; i < sizeof(bad_subj) / sizeof(*bad_subj); i++) {
        in.subj = bad_subj[i];
        in.subj_len = strlen(bad_subj[i]);
        CHECK_INT(st_store_append(st, &in, NULL), ==, -EINVAL);
    }
    in.subj = "ok";
    in.subj_len = 2;
    in.data_len = 5;                    /* data NULL with a length */
    CHECK_INT(st_store_append(st, &in, NULL), ==, -EINVAL);
    static char big[9000];
    in.data = big;
    in.data_len = sizeof(big);
    CHECK_INT(st_store_append(st, &in, NULL), ==, -EMSGSIZE);
    CHECK_INT(st_store_append(st, NULL, NULL), ==, -EINVAL);
    CHECK_INT(st_store_append(NULL, &in, NULL), ==, -EINVAL);
    in.data_len = 10;
    uint64_t seq = 0;
    CHECK(st_store_append(st, &in, &seq) == 0 && seq == 1);
    in.seq = 1;
    CHECK_INT(st_store_append(st, &in, NULL), ==, -EINVAL);
    in.seq = 10;                        /* a gap: 2..9 never existed */
    CHECK(st_store_append(st, &in, &seq) == 0 && seq == 10);
    struct st_state s;
    st_store_state(st, &s);
    CHECK(s.msgs == 2 && s.last_seq == 10 && s.num_deleted == 8);
    CHECK_INT(st_store_purge(st, NULL, NULL), ==, -EINVAL);
    struct st_purge p = { .filter = "a..b", .filter_len = 4 };
    CHECK_INT(st_store_purge(st, &p, NULL), ==, -EINVAL);
    CHECK_INT(st_store_delete(NULL, 1), ==, -EINVAL);
    CHECK_INT(st_store_enforce(st, NULL, 0, NULL), ==, -EINVAL);
    REQUIRE(st_store_close(st) == 0);
    st = NULL;
    REQUIRE(st_store_open(&st, uio, dir, &c) == 0);
    st_store_state(st, &s);
    CHECK(s.msgs == 2 && s.last_seq == 10 && s.num_deleted == 8);
out:
    CHECK(st_store_close(st) == 0);
    CHECK(st_store_close(st2) == 0);
}

/* Memory cost of the indexes (printed, and bounded loosely). */
static void
test_index_memory(void)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct st_store *st = NULL;
    struct st_stats ss;
    REQUIRE(st_store_open(&st, uio, dir, NULL) == 0);
    struct st_rec_in in = { .data = "x", .data_len = 1 };
    char subj[32];
    for (unsigned i = 0; i < 100000; i++) {
        in.subj = subj;
        in.subj_len = (size_t)snprintf(subj, sizeof(subj), "dev.%05u.t",
                                       i % 2000);
        int rc;
        while ((rc = st_store_append(st, &in, NULL)) == -EAGAIN) {
            st_store_flush(st);
            st_io_poll(uio, 1);
        }
        REQUIRE(rc == 0);
    }
    st_store_stats(st, &ss);
    double per_msg = (double)ss.index_bytes / (double)ss.index_entries;
    double per_subj = (double)ss.subject_bytes / (double)ss.subjects;
    printf("# index: %" PRIu64 " msgs in %" PRIu64 " bytes = %.1f B/msg "
           "(entry 12 B + growth slack); %" PRIu64 " subjects (11 chars) in "
           "%" PRIu64 " bytes = %.1f B/subject\n", ss.index_entries,
           ss.index_bytes, per_msg, ss.subjects, ss.subject_bytes, per_subj);
    CHECK(per_msg <= 24.0);
    CHECK(per_subj <= 128.0);
out:
    CHECK(st_store_close(st) == 0);
}

/* appends/s with sync=always for a given batch size (printed only) */
static void
bench_one(unsigned batch, double budget_s)
{
    char dir[300];
    new_dir(dir, sizeof(dir));
    struct acks a = { 0 };
    struct st_config c = cfg_make(ST_SYNC_ALWAYS, 0, &a);
    struct st_store *st = NULL;
    struct st_io_stats s0, s1;
    if (st_store_open(&st, uio, dir, &c) != 0) {
        CHECK(0);
        return;
    }
    char data[128];
    memset(data, 'b', sizeof(data));
    struct st_rec_in in = { .subj = "bench", .subj_len = 5, .data = data,
                            .data_len = sizeof(data) };
    st_io_get_stats(uio, &s0);
    uint64_t t0 = now_mono(), n = 0, seq = 0;
    while (n < 2000000 && (double)(now_mono() - t0) / 1e9 < budget_s) {
        for (unsigned i = 0; i < batch; i++)
            if (st_store_append(st, &in, &seq) == 0)
                n++;
        if (wait_acked(uio, st, &a, seq) != 0)
            break;
    }
    double secs = (double)(now_mono() - t0) / 1e9;
    st_io_get_stats(uio, &s1);
    printf("# bench sync=always batch %4u: %9.0f appends/s, %.4f fsync per "
           "append (%" PRIu64 " appends in %.2f s)\n", batch,
           (double)n / secs, (double)(s1.fsyncs - s0.fsyncs) / (double)n, n,
           secs);
    CHECK(a.fails == 0);
    st_store_close(st);
}

int
main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/dt-st-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    int rc = st_io_open_uring(&uio, 0);
    if (rc < 0) {
        printf("io_uring unavailable (%s): skipped\n", strerror(-rc));
        rmdir(root);
        return 77;                      /* meson: skipped */
    }
    uint64_t t0 = now_mono();
    test_crc32c();
    test_append_read();
    test_group_commit();
    test_ack_after_fsync();
    test_reopen_rebuild();
    test_checkpoint();
    test_torn_tail();
    test_crash_mid_batch();
    test_crash();
    test_crash_deletes();
    test_enospc();
    test_fsync_error();
    test_delete_purge();
    test_limits();
    test_subjects();
    test_bad_input();
    test_index_memory();
    bool bench = !(argc > 1 && strcmp(argv[1], "--no-bench") == 0);
    if (bench) {
        bench_one(1, 0.6);
        bench_one(64, 0.6);
        bench_one(1024, 0.6);
    }
    printf("# total %.2f s\n", (double)(now_mono() - t0) / 1e9);
    st_io_close(uio);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return dt_check_summary(argv[0]);
}
