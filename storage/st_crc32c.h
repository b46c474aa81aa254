/*
 * st_crc32c.h -- CRC32C (Castagnoli), the checksum of every record,
 * segment header and checkpoint in the file store.
 *
 * NOTES
 *   Uses the SSE4.2 crc32 instruction when the CPU has it (checked once
 *   at load time) and a slice-by-8 table otherwise; both give the same
 *   result.  Pure function, safe from any thread.
 */
#ifndef ST_CRC32C_H
#define ST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue `crc` (0 to start) over `len` bytes: chaining
 * st_crc32c(st_crc32c(0, a), b) equals the crc of a followed by b. */
uint32_t st_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* ST_CRC32C_H */
