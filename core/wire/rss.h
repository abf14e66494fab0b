/* Receive-side scaling: the Toeplitz hash and the indirection table.
 *
 * Reading list:
 *   Microsoft, "RSS Hashing Functions" and "Verifying the RSS Hash
 *   Calculation" (the Toeplitz algorithm, the input order, the verification
 *   key and vectors the tests use)
 *   Intel 82599 datasheet §7.1.2.8 (the same function in a NIC)
 *
 * Flows are steered to cores with the same function in the simulated NIC
 * and in the live XDP queue layout, so a connection lands on the same
 * worker in both worlds: the hash of a packet's IPv4 4-tuple (or 2-tuple
 * for packets without ports) picks one of 128 indirection-table entries by
 * its low seven bits, and the entry names the queue.
 *
 * Input order is the Microsoft one: source address, destination address,
 * source port, destination port, each big-endian. The hash is therefore not
 * symmetric: the two directions of a connection hash differently unless
 * the key is built for symmetry (a repeating 16-bit pattern such as
 * 0x6d5a). Hashing is a table lookup per input byte; the tables are built
 * from the key at init. */
#ifndef TW_WIRE_RSS_H
#define TW_WIRE_RSS_H

#include <stddef.h>
#include <stdint.h>

/* 40 bytes is what NICs take for IPv4 and IPv6 inputs (36 bytes of input
 * plus a 32-bit window); a hash needs key_len >= input bytes + 4. */
#define TW_RSS_KEY_LEN_MAX 40
/* The longest input hashed here: the IPv4 4-tuple. IPv6 would need 36. */
#define TW_RSS_INPUT_MAX 12
#define TW_RSS_INDIR_LEN 128

/* The Microsoft verification key, which is also the default key of many
 * NIC drivers. */
extern const uint8_t tw_rss_default_key[TW_RSS_KEY_LEN_MAX];

typedef struct tw_rss {
    /* table[i][v]: the hash contribution of byte value v at input byte i. */
    uint32_t table[TW_RSS_INPUT_MAX][256];
    uint16_t indir[TW_RSS_INDIR_LEN];
    uint8_t key[TW_RSS_KEY_LEN_MAX];
    uint8_t key_len;
} tw_rss;

/* Builds the lookup tables for key (NULL: the default key, key_len ignored;
 * otherwise TW_RSS_INPUT_MAX + 4 <= key_len <= TW_RSS_KEY_LEN_MAX) and sets
 * the indirection table to a single queue (0). Init time only: about 3000
 * table entries are computed. */
void tw_rss_init(tw_rss *rss, const uint8_t *key, size_t key_len);

/* The Toeplitz hash of len (<= TW_RSS_INPUT_MAX) bytes of input. */
uint32_t tw_rss_hash(const tw_rss *rss, const uint8_t *input, size_t len);

/* The hash of an IPv4 packet without ports (addresses in host order). */
uint32_t tw_rss_hash_ipv4(const tw_rss *rss, uint32_t source, uint32_t target);

/* The hash of an IPv4 TCP or UDP packet. */
uint32_t tw_rss_hash_ipv4_ports(const tw_rss *rss, uint32_t source, uint32_t target,
                                uint16_t source_port, uint16_t target_port);

/* Spreads the indirection table over queue_count queues round robin (entry
 * i -> i % queue_count), which is the Linux default (ethtool_rxfh_indir_
 * default), so a live NIC left at its defaults agrees with the simulator. */
void tw_rss_indir_spread(tw_rss *rss, uint16_t queue_count);

/* Sets one indirection-table entry. */
void tw_rss_indir_set(tw_rss *rss, uint32_t index, uint16_t queue);

/* The queue a hash maps to: the entry selected by the hash's low 7 bits. */
static inline uint16_t tw_rss_queue(const tw_rss *rss, uint32_t hash)
{
    return rss->indir[hash & (TW_RSS_INDIR_LEN - 1)];
}

#endif
