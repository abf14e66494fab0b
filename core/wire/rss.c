/* IMPLEMENTATION NOTES
 *
 * Toeplitz, as Microsoft specifies it: for every set bit of the input,
 * taken from the most significant bit of the first byte on, XOR into the
 * result the 32 key bits that start at that bit's position. Since XOR is
 * linear, the contribution of a whole input byte depends only on its value
 * and position, so a 256-entry table per input position turns the 96-bit
 * loop into twelve lookups. */
#include "wire/rss.h"

#include <string.h>

#include "base/assert.h"

const uint8_t tw_rss_default_key[TW_RSS_KEY_LEN_MAX] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/* The 32 key bits starting at bit position `bit` (0 = the most significant
 * bit of key[0]). The key is zero-padded to its full array length, and
 * callers stay within TW_RSS_INPUT_MAX * 8 bits, so the five bytes read
 * always exist. */
static uint32_t key_window(const uint8_t *key, unsigned bit)
{
    unsigned byte = bit / 8;
    TW_ASSERT(byte + 5 <= TW_RSS_KEY_LEN_MAX);
    uint64_t w = 0;
    for (unsigned i = 0; i < 5; i++) {
        w = w << 8 | key[byte + i];
    }
    return (uint32_t)(w >> (8 - bit % 8));
}

void tw_rss_init(tw_rss *rss, const uint8_t *key, size_t key_len)
{
    if (key == NULL) {
        key = tw_rss_default_key;
        key_len = TW_RSS_KEY_LEN_MAX;
    }
    TW_ASSERT(key_len >= TW_RSS_INPUT_MAX + 4);
    TW_ASSERT(key_len <= TW_RSS_KEY_LEN_MAX);
    memset(rss, 0, sizeof *rss);
    memcpy(rss->key, key, key_len);
    rss->key_len = (uint8_t)key_len;

    for (unsigned pos = 0; pos < TW_RSS_INPUT_MAX; pos++) {
        uint32_t window[8];
        for (unsigned j = 0; j < 8; j++) {
            window[j] = key_window(rss->key, pos * 8 + j);
        }
        for (unsigned v = 0; v < 256; v++) {
            uint32_t h = 0;
            for (unsigned j = 0; j < 8; j++) {
                if (v & (0x80u >> j)) {
                    h ^= window[j];
                }
            }
            rss->table[pos][v] = h;
        }
    }
}

uint32_t tw_rss_hash(const tw_rss *rss, const uint8_t *input, size_t len)
{
    TW_ASSERT(len <= TW_RSS_INPUT_MAX);
    uint32_t h = 0;
    for (size_t i = 0; i < len; i++) {
        h ^= rss->table[i][input[i]];
    }
    return h;
}

/* The contribution of a big-endian 32-bit word at input byte pos. */
static inline uint32_t hash32(const tw_rss *rss, unsigned pos, uint32_t v)
{
    return rss->table[pos][v >> 24] ^ rss->table[pos + 1][(v >> 16) & 0xff] ^
           rss->table[pos + 2][(v >> 8) & 0xff] ^ rss->table[pos + 3][v & 0xff];
}

uint32_t tw_rss_hash_ipv4(const tw_rss *rss, uint32_t source, uint32_t target)
{
    return hash32(rss, 0, source) ^ hash32(rss, 4, target);
}

uint32_t tw_rss_hash_ipv4_ports(const tw_rss *rss, uint32_t source, uint32_t target,
                                uint16_t source_port, uint16_t target_port)
{
    uint32_t ports = (uint32_t)source_port << 16 | target_port;
    return hash32(rss, 0, source) ^ hash32(rss, 4, target) ^ hash32(rss, 8, ports);
}

void tw_rss_indir_spread(tw_rss *rss, uint16_t queue_count)
{
    TW_ASSERT(queue_count > 0);
    for (uint32_t i = 0; i < TW_RSS_INDIR_LEN; i++) {
        rss->indir[i] = (uint16_t)(i % queue_count);
    }
}

void tw_rss_indir_set(tw_rss *rss, uint32_t index, uint16_t queue)
{
    TW_ASSERT(index < TW_RSS_INDIR_LEN);
    rss->indir[index] = queue;
}
