/* SipHash-2-4 after the reference implementation (Aumasson, Bernstein):
 * two compression rounds per 8-byte word, four finalisation rounds. */
#include "base/siphash.h"

#include "base/assert.h"

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state;

static inline void sip_round(sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static inline void sip_compress(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s); /* c = 2 */
    sip_round(s);
    s->v0 ^= m;
}

tw_siphash_key tw_siphash_key_from_bytes(const uint8_t bytes[16])
{
    tw_siphash_key k = {.k0 = load_le64(bytes), .k1 = load_le64(bytes + 8)};
    return k;
}

uint64_t tw_siphash24(const tw_siphash_key *key, const void *data, size_t len)
{
    TW_ASSERT(key != NULL);
    TW_ASSERT(data != NULL || len == 0);
    const uint8_t *p = data;
    /* "somepseudorandomlygeneratedbytes", the paper's initialisation. */
    sip_state s = {
        .v0 = key->k0 ^ 0x736f6d6570736575ull,
        .v1 = key->k1 ^ 0x646f72616e646f6dull,
        .v2 = key->k0 ^ 0x6c7967656e657261ull,
        .v3 = key->k1 ^ 0x7465646279746573ull,
    };
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        sip_compress(&s, load_le64(p + i));
    }
    /* The last word holds the 0..7 remaining bytes and the length's low
     * byte in its top byte. */
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < (len & 7); i++) {
        last |= (uint64_t)p[whole + i] << (8 * i);
    }
    sip_compress(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++) { /* d = 4 */
        sip_round(&s);
    }
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
