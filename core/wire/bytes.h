/* Big-endian loads and stores for wire formats.
 *
 * Every multi-byte field on the wire is big-endian ("network order"), and
 * frames sit at any alignment in a receive buffer, so fields are read byte
 * by byte rather than through casts: no alignment traps, no aliasing
 * questions, and compilers turn these into one load and a byte swap. */
#ifndef TW_WIRE_BYTES_H
#define TW_WIRE_BYTES_H

#include <stdint.h>

static inline uint16_t tw_bytes_load_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t tw_bytes_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void tw_bytes_store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void tw_bytes_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint64_t tw_bytes_load_be64(const uint8_t *p)
{
    return ((uint64_t)tw_bytes_load_be32(p) << 32) | tw_bytes_load_be32(p + 4);
}

static inline void tw_bytes_store_be64(uint8_t *p, uint64_t v)
{
    tw_bytes_store_be32(p, (uint32_t)(v >> 32));
    tw_bytes_store_be32(p + 4, (uint32_t)v);
}

#endif
