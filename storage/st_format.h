/*
 * st_format.h -- the file store's on-disk format: segment header, record
 * header, checkpoint header.  Types and constants only.
 *
 * A stream directory holds:
 *   <16 hex digits>.seg   append-only segments, named by a segment id that
 *                         only grows (0000000000000001.seg, ...)
 *   index.ckp             the last complete checkpoint (optional)
 *   index.tmp             a checkpoint being written (removed at open)
 *   LOCK                  flock()ed by the process that has the store open
 *
 * Segment = st_seg_hdr, then records back to back (no padding, no
 * alignment).  Record = st_rec_hdr, then subject, headers, data.  A
 * record never spans two segments.
 *
 * Record types:
 *   MSG    seq = the message's sequence; subject, headers, data.
 *   DEL    deletes a set of sequences: seq = base, data = bitmap,
 *          bit i (LSB first in byte i / 8) set = base + i is deleted.
 *   FIRST  seq = N: every sequence below N is deleted, and the stream's
 *          last sequence is at least N - 1 (purge, limits, first_seq).
 *
 * NOTES
 *   Integers are little-endian (host order; big-endian hosts are refused
 *   at compile time).  Checksums are CRC32C (Castagnoli).  A record's crc
 *   covers its `len` field and every byte from `seq` to the end, so a
 *   torn or zero-filled tail never validates.
 *   Every sequence below a segment header's first_seq is dead and the
 *   stream's last sequence is at least its last_seq: this is how purges
 *   and deletes survive the removal of the segments that logged them.
 *   Bump ST_FORMAT_VERSION on any change here; open refuses other
 *   versions (-EPROTO) rather than guessing.
 */
#ifndef ST_FORMAT_H
#define ST_FORMAT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the file store's on-disk format is little-endian"
#endif

#define ST_FORMAT_VERSION 1u
#define ST_SEG_MAGIC "DTSTSEG1"         /* 8 bytes, no NUL */
#define ST_CKP_MAGIC "DTSTCKP1"
#define ST_SEG_SUFFIX ".seg"
#define ST_CKP_NAME "index.ckp"
#define ST_CKP_TMP "index.tmp"
#define ST_LOCK_NAME "LOCK"

enum st_rec_type {
    ST_REC_MSG = 1,
    ST_REC_DEL = 2,
    ST_REC_FIRST = 3,
};

/* At offset 0 of every segment. */
struct st_seg_hdr {
    char magic[8];          /* ST_SEG_MAGIC */
    uint32_t version;       /* ST_FORMAT_VERSION */
    uint32_t hdr_len;       /* sizeof(struct st_seg_hdr) */
    uint64_t seg_id;        /* equals the number in the file name */
    uint64_t first_seq;     /* stream's first seq at creation */
    uint64_t last_seq;      /* stream's last seq at creation */
    uint32_t flags;         /* 0 */
    uint32_t crc;           /* crc32c of the 44 bytes before this field */
};
static_assert(sizeof(struct st_seg_hdr) == 48, "segment header layout");
static_assert(offsetof(struct st_seg_hdr, crc) == 44, "segment header crc");

/* Record header: 36 bytes, unaligned on disk (always memcpy'd). */
struct __attribute__((packed)) st_rec_hdr {
    uint32_t len;           /* whole record, header included */
    uint32_t crc;           /* crc32c(len) continued over [seq, end) */
    uint64_t seq;           /* see the record types above */
    int64_t ts;             /* ns since the epoch (MSG: store time) */
    uint16_t subj_len;      /* MSG: > 0; DEL/FIRST: 0 */
    uint8_t type;           /* enum st_rec_type */
    uint8_t flags;          /* 0 */
    uint32_t hdr_len;       /* NATS headers ("NATS/1.0 ...") */
    uint32_t data_len;      /* payload (DEL: bitmap) */
};
static_assert(sizeof(struct st_rec_hdr) == 36, "record header layout");
static_assert(offsetof(struct st_rec_hdr, seq) == 8, "record crc span");

#define ST_REC_HDR ((uint32_t)sizeof(struct st_rec_hdr))
#define ST_SEG_HDR ((uint32_t)sizeof(struct st_seg_hdr))
#define ST_DEL_MAX_BITMAP 32768u    /* bytes of bitmap per DEL record */

/*
 * Checkpoint file (index.ckp): header, then
 *   nsegs  x struct st_ckp_seg
 *   nsubj  x uint16_t subject length (0 = free subject id)
 *   subj_bytes bytes of subject strings, concatenated in id order
 *   ix_count x struct st_ient (12 bytes: off, len|flags, subject id)
 * It describes the store exactly as it was after the record that ends at
 * (anchor_seg, anchor_end), and is written only after that record was
 * fsynced, so it never claims data the disk may not have.
 */
struct st_ckp_hdr {
    char magic[8];          /* ST_CKP_MAGIC */
    uint32_t version;       /* ST_FORMAT_VERSION */
    uint32_t crc;           /* crc32c of the whole file, this field 0 */
    uint64_t file_len;      /* bytes in the file */
    uint64_t anchor_seg;    /* segment of the last covered record */
    uint64_t anchor_off;    /* its offset (0: the segment header) */
    uint64_t anchor_end;    /* first uncovered byte: scanning resumes */
    uint32_t anchor_crc;    /* crc field of that record or header */
    uint32_t nsegs;
    uint32_t nsubj;         /* subject ids in use, free ones included */
    uint32_t reserved;
    uint64_t subj_bytes;
    uint64_t ix_base;       /* seq of entry 0 == the stream's first seq */
    uint64_t ix_count;
    uint64_t last_seq;
    int64_t last_ts;
};
static_assert(sizeof(struct st_ckp_hdr) == 104, "checkpoint header");

struct st_ckp_seg {
    uint64_t id;
    uint64_t size;          /* covered bytes (the anchor segment: end) */
    uint64_t max_seq;       /* highest MSG seq in it, or inherited */
    uint64_t tombs;         /* DEL/FIRST records in it */
    uint64_t tomb_max;      /* highest seq those records delete */
    int64_t last_ts;        /* newest MSG timestamp in it */
};
static_assert(sizeof(struct st_ckp_seg) == 48, "checkpoint segment");

/* One message in the in-memory index, and in the checkpoint.  The
 * segment is implied by the sequence (segments hold ascending ranges). */
struct st_ient {
    uint32_t off;           /* record offset in its segment */
    uint32_t len;           /* record length | ST_IENT_HDRS; 0 = deleted */
    uint32_t subj;          /* subject id */
};
static_assert(sizeof(struct st_ient) == 12, "index entry");
#define ST_IENT_HDRS 0x80000000u        /* the message has headers */
#define ST_IENT_LEN(e) ((e)->len & ~ST_IENT_HDRS)

#endif /* ST_FORMAT_H */
