/* The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Reading list:
 *   RFC 1071  Computing the Internet Checksum (§2: properties that make a
 *             wide, byte-order-free computation legal)
 *   RFC 1141  Incremental Updating of the Internet Checksum
 *   RFC 1624  Computation of the Internet Checksum via Incremental Update
 *   RFC 768, RFC 9293 §3.1  the IPv4 pseudo-header of UDP and TCP
 *
 * Conventions. A *sum* is an unfinished one's-complement sum of big-endian
 * 16-bit words held in a uint32_t. Sums may be added with `+` (up to 65535
 * of them, each at most 0xffff after tw_csum_add; the pseudo-header sum is
 * larger but still small) and are folded and complemented once at the end
 * by tw_csum_finish. A *checksum* is the finished 16-bit field value in host
 * order, written with tw_bytes_store_be16. A message with a correct
 * checksum in it sums (checksum field included) to 0xffff, which is what
 * tw_csum_ok tests.
 *
 * Blocks summed separately combine by addition only if each block starts at
 * an even offset of the message; tw_csum_block_add places a block at any
 * offset (RFC 1071 §2(B): an odd offset swaps the block's bytes). */
#ifndef TW_WIRE_CHECKSUM_H
#define TW_WIRE_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Adds len bytes at data (any alignment, any length) to sum. data is taken
 * to begin at an even offset of the message; an odd final byte is padded
 * with zero as RFC 1071 §4 specifies. Returns a sum no larger than 0xffff. */
uint32_t tw_csum_add(uint32_t sum, const void *data, size_t len);

/* Copies len bytes from src to dst (which must not overlap) and adds them
 * to sum exactly as tw_csum_add(sum, src, len) would: one pass over the
 * bytes instead of a copy and then a sum. */
uint32_t tw_csum_copy(uint32_t sum, void *dst, const void *src, size_t len);
/* Folds the carries of sum back in (end-around carry); no complement.
 * Twice: a 32-bit sum folds to at most 0x1fffe, and that once more to
 * 16 bits. Inline: every segment folds several times. */
static inline uint16_t tw_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)sum;
}

/* The checksum field value for a finished sum. */
static inline uint16_t tw_csum_finish(uint32_t sum)
{
    return (uint16_t)~tw_csum_fold(sum);
}

/* The checksum of one contiguous buffer. */
uint16_t tw_csum(const void *data, size_t len);

/* True when sum covers a whole message including its checksum field and the
 * checksum is right. */
static inline bool tw_csum_ok(uint32_t sum)
{
    return tw_csum_fold(sum) == 0xffff;
}

/* Adds block_sum, the sum of a block as if it began at offset 0, to sum for
 * the block placed at byte offset `offset` of the message. */
static inline uint32_t tw_csum_block_add(uint32_t sum, uint32_t block_sum, size_t offset)
{
    uint16_t b = tw_csum_fold(block_sum);
    if (offset & 1) {
        /* RFC 1071 §2(B): a block shifted by one byte contributes its words
         * with the bytes swapped. */
        b = (uint16_t)(b << 8 | b >> 8);
    }
    return tw_csum_fold(sum + b);
}

/* The sum of the IPv4 pseudo-header (RFC 768; RFC 9293 §3.1): source and
 * destination address (host order), zero, protocol, and the length of the
 * UDP or TCP message (header and data). */
static inline uint32_t tw_csum_pseudo_ipv4(uint32_t source, uint32_t target, uint8_t protocol,
                                           uint16_t length)
{
    return (source >> 16) + (source & 0xffffu) + (target >> 16) + (target & 0xffffu) + protocol +
           length;
}

/* RFC 1624 eqn. 3: the checksum after one 16-bit field of the covered data
 * changes from old_value to new_value, HC' = ~(~HC + ~m + m'), without
 * touching the rest of the message. The field must sit at an even offset. */
uint16_t tw_csum_update16(uint16_t check, uint16_t old_value, uint16_t new_value);

/* The same for a 32-bit field (an address, a sequence number) at an even
 * offset: two 16-bit changes in one. */
uint16_t tw_csum_update32(uint16_t check, uint32_t old_value, uint32_t new_value);

#endif
