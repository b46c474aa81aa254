/*
 * st_crc32c.c -- CRC32C with a hardware path (x86-64 SSE4.2) and a
 * portable slice-by-8 path (see st_crc32c.h).
 *
 * NOTES
 *   The tables and the CPU check are set up by a constructor before
 *   main(), so callers never race on lazy initialisation.
 *   Loads go through memcpy: buffers are records at arbitrary offsets.
 */
#include "st_crc32c.h"

#include <stdbool.h>
#include <string.h>

#define ST_CRC32C_POLY 0x82F63B78u     /* reflected Castagnoli */

static uint32_t st_crc_tab[8][256];
static bool st_crc_hw;

__attribute__((constructor)) static void
st_crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ ST_CRC32C_POLY : c >> 1;
        st_crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            st_crc_tab[t][i] = (st_crc_tab[t - 1][i] >> 8)
                ^ st_crc_tab[0][st_crc_tab[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    st_crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t
st_crc32c_sw(uint32_t c, const unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= c;
        c = st_crc_tab[7][v & 0xff] ^ st_crc_tab[6][(v >> 8) & 0xff]
            ^ st_crc_tab[5][(v >> 16) & 0xff] ^ st_crc_tab[4][(v >> 24) & 0xff]
            ^ st_crc_tab[3][(v >> 32) & 0xff] ^ st_crc_tab[2][(v >> 40) & 0xff]
            ^ st_crc_tab[1][(v >> 48) & 0xff] ^ st_crc_tab[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ st_crc_tab[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
st_crc32c_hw(uint32_t c, const unsigned char *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t
st_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (st_crc_hw)
        return ~st_crc32c_hw(c, p, len);
#endif
    return ~st_crc32c_sw(c, p, len);
}
