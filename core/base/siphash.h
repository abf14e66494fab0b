/* SipHash-2-4: a keyed 64-bit pseudo-random function.
 *
 * Reading list:
 *   Aumasson, Bernstein, "SipHash: a fast short-input PRF" (2012): the
 *   algorithm and, in its appendix A and the reference implementation's
 *   vectors.h, the test vectors the tests check.
 *   RFC 6528 §3  ISNs as M + F(4-tuple, secret key), F a keyed PRF: the
 *                reason this lives in base/.
 *
 * Pure and allocation-free. The key is 128 bits, the output 64 bits; input
 * bytes are read little-endian as the paper specifies, so the value does not
 * depend on the host. */
#ifndef TW_BASE_SIPHASH_H
#define TW_BASE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct tw_siphash_key {
    uint64_t k0; /* key bytes 0..7, little-endian */
    uint64_t k1; /* key bytes 8..15, little-endian */
} tw_siphash_key;

/* The key as the paper writes it: 16 bytes. */
tw_siphash_key tw_siphash_key_from_bytes(const uint8_t bytes[16]);

/* SipHash-2-4 of len bytes at data. */
uint64_t tw_siphash24(const tw_siphash_key *key, const void *data, size_t len);

#endif
