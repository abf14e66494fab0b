/* TCP segments over IPv4: the header, its options, the checksum.
 *
 * Reading list:
 *   RFC 9293  Transmission Control Protocol (§3.1 header format, §3.2
 *             options: MSS, NOP, EOL, and how to skip unknown kinds)
 *   RFC 7323  TCP Extensions for High Performance (§2 window scale, §3
 *             timestamps, appendix A option layout)
 *   RFC 2018  TCP Selective Acknowledgment Options (SACK-permitted, SACK)
 *   RFC 3168  ECN (the ECE and CWR flags)
 *
 * Conventions as in wire/ethernet.h. A repr holds everything the TCP state
 * machine reads or writes: ports, sequence and acknowledgment numbers,
 * flags, the raw (unscaled) window, the urgent pointer, the options with a
 * presence flag each, and the payload. The checksum covers the
 * pseudo-header, so parse and emit take the IPv4 addresses.
 *
 * The wire layer reports what the segment says; what it means in a state
 * (an MSS option on a non-SYN segment, a window scale without SYN) is the
 * state machine's business, not a parse error. */
#ifndef TW_WIRE_TCP_H
#define TW_WIRE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/bytes.h"
#include "wire/ipv4.h"

#define TW_TCP_HEADER_LEN 20
#define TW_TCP_HEADER_LEN_MAX 60
#define TW_TCP_OPTIONS_LEN_MAX (TW_TCP_HEADER_LEN_MAX - TW_TCP_HEADER_LEN)
/* RFC 2018 §3: at most 4 blocks fit in 40 option bytes (3 beside
 * timestamps). */
#define TW_TCP_SACK_BLOCKS_MAX 4
/* RFC 7323 §2.3: larger shifts are used as 14. */
#define TW_TCP_WSCALE_MAX 14

/* RFC 9293 §3.1 control bits, plus ECE and CWR of RFC 3168 §6.1. */
enum {
    TW_TCP_FIN = 0x01,
    TW_TCP_SYN = 0x02,
    TW_TCP_RST = 0x04,
    TW_TCP_PSH = 0x08,
    TW_TCP_ACK = 0x10,
    TW_TCP_URG = 0x20,
    TW_TCP_ECE = 0x40,
    TW_TCP_CWR = 0x80,
};

/* Option kinds (IANA "TCP Option Kind Numbers"). */
enum {
    TW_TCP_OPT_EOL = 0,
    TW_TCP_OPT_NOP = 1,
    TW_TCP_OPT_MSS = 2,
    TW_TCP_OPT_WSCALE = 3,
    TW_TCP_OPT_SACK_PERMITTED = 4,
    TW_TCP_OPT_SACK = 5,
    TW_TCP_OPT_TIMESTAMP = 8,
};

/* 0, -TW_ETRUNC when the buffer is shorter than 20 bytes or than the data
 * offset says, -TW_EMALFORMED when the data offset is below 5. The buffer
 * is the whole segment (the IPv4 payload). */
int tw_tcp_view_check(const uint8_t *buf, size_t len);

static inline uint16_t tw_tcp_src_port(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf);
}
static inline uint16_t tw_tcp_dst_port(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 2);
}
static inline uint32_t tw_tcp_seq(const uint8_t *buf)
{
    return tw_bytes_load_be32(buf + 4);
}
static inline uint32_t tw_tcp_ack(const uint8_t *buf)
{
    return tw_bytes_load_be32(buf + 8);
}
/* The header length in bytes (data offset * 4), options included. */
static inline size_t tw_tcp_header_len(const uint8_t *buf)
{
    return (size_t)(buf[12] >> 4) * 4;
}
static inline uint8_t tw_tcp_flags(const uint8_t *buf)
{
    return buf[13];
}
static inline uint16_t tw_tcp_window(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 14);
}
static inline uint16_t tw_tcp_checksum(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 16);
}
static inline uint16_t tw_tcp_urgent(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 18);
}
static inline const uint8_t *tw_tcp_option_bytes(const uint8_t *buf)
{
    return buf + TW_TCP_HEADER_LEN;
}
static inline size_t tw_tcp_option_bytes_len(const uint8_t *buf)
{
    return tw_tcp_header_len(buf) - TW_TCP_HEADER_LEN;
}

typedef struct tw_tcp_sack_block {
    uint32_t left;  /* first sequence number of the block */
    uint32_t right; /* sequence number just past the block */
} tw_tcp_sack_block;

typedef struct tw_tcp_options {
    bool has_mss;
    bool has_wscale;
    bool sack_permitted;
    bool has_timestamp;
    uint16_t mss;   /* RFC 9293 §3.7.1 */
    uint8_t wscale; /* RFC 7323 §2.2; parse clamps to TW_TCP_WSCALE_MAX */
    uint8_t sack_count;
    uint32_t ts_val; /* RFC 7323 §3.2 */
    uint32_t ts_ecr;
    tw_tcp_sack_block sack[TW_TCP_SACK_BLOCKS_MAX];
} tw_tcp_options;

typedef struct tw_tcp_repr {
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack; /* meaningful when TW_TCP_ACK is set; sent as given */
    uint8_t flags;
    uint16_t window; /* as on the wire, not scaled */
    uint16_t urgent; /* meaningful when TW_TCP_URG is set */
    tw_tcp_options opts;
    const uint8_t *payload;
    size_t payload_len;
} tw_tcp_repr;

/* Decodes an option list. Option rules, RFC 9293 §3.2: EOL ends the list,
 * NOP is one byte, every other kind has a length byte counting kind and
 * length; unknown kinds are skipped by it. -TW_EMALFORMED when a length is
 * 0 or 1, runs past the list, or is wrong for a known kind (MSS 4, window
 * scale 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n with 1 <= n <= 4).
 * A repeated option overwrites the earlier one. Fails through one goto as
 * the decoders do: *cursor is left where the error was found. */
int tw_tcp_options_decode(const uint8_t **cursor, const uint8_t *end, tw_tcp_options *out);

/* The bytes tw_tcp_options_encode writes for opts: a multiple of 4. */
size_t tw_tcp_options_encoded_len(const tw_tcp_options *opts);

/* Writes opts in Linux's layout, NOP-aligned so each 32-bit value is
 * aligned and the total is a multiple of 4 (RFC 7323 appendix A): MSS;
 * SACK-permitted + timestamps (or NOP NOP + timestamps); NOP NOP
 * SACK-permitted when no timestamps; NOP + window scale; NOP NOP + SACK.
 * Returns the length. */
size_t tw_tcp_options_encode(const tw_tcp_options *opts, uint8_t *buf);

/* src and dst are the enclosing IPv4 addresses, for the pseudo-header.
 * Checks lengths, then the checksum (-TW_EBADCSUM; RFC 9293 §3.1 makes it
 * mandatory), then: a zero port (-TW_EMALFORMED: port 0 cannot be bound or
 * connected), SYN together with RST or FIN (-TW_EMALFORMED: no state sends
 * them, and they are classic scan probes), and the options. Reserved header
 * bits are ignored (RFC 9293 §3.1). */
int tw_tcp_parse(const uint8_t *buf, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst,
                 tw_tcp_repr *out);
/* The same, for a caller that has checked the view (tw_tcp_view_check),
 * the length and the checksum itself, e.g. while copying the payload
 * (tw_csum_copy): everything after the checksum. */
int tw_tcp_parse_summed(const uint8_t *buf, size_t len, tw_tcp_repr *out);

/* The header length emit will write: 20 plus the encoded options. */
static inline size_t tw_tcp_repr_header_len(const tw_tcp_repr *r)
{
    return TW_TCP_HEADER_LEN + tw_tcp_options_encoded_len(&r->opts);
}

static inline size_t tw_tcp_repr_len(const tw_tcp_repr *r)
{
    return tw_tcp_repr_header_len(r) + r->payload_len;
}

/* The sequence space the segment occupies (RFC 9293 §3.4 SEG.LEN): the
 * payload plus one for SYN and one for FIN. */
static inline uint32_t tw_tcp_seg_len(const tw_tcp_repr *r)
{
    return (uint32_t)r->payload_len + ((r->flags & TW_TCP_SYN) ? 1u : 0u) +
           ((r->flags & TW_TCP_FIN) ? 1u : 0u);
}

/* Writes header, options, payload and checksum. Asserts that the options
 * fit in 40 bytes (a SYN with everything takes 20; with timestamps at most
 * 3 SACK blocks fit). r->payload may already sit at
 * buf + tw_tcp_repr_header_len(r) (then it is not copied): a sender can
 * build the payload in place and emit the header around it. Returns the
 * segment's length (header and payload). */
size_t tw_tcp_emit(const tw_tcp_repr *r, tw_ipv4_addr src, tw_ipv4_addr dst, uint8_t *buf);

/* tw_tcp_emit with the payload's checksum share already known: payload_sum
 * is the RFC 1071 sum of the payload bytes as if at an even offset (what
 * tw_csum_add(0, payload, len) gives), so only the header is summed. */
size_t tw_tcp_emit_summed(const tw_tcp_repr *r, tw_ipv4_addr src, tw_ipv4_addr dst, uint8_t *buf,
                          uint32_t payload_sum);

/* Writes the flags as letters in tcpdump's order and case ("S", "S.",
 * "FP.", "R"; "." is ACK; E and W for ECE and CWR, U for URG) and a
 * terminating zero, for traces and test messages. */
#define TW_TCP_FLAGS_STRLEN 9
void tw_tcp_flags_format(uint8_t flags, char out[TW_TCP_FLAGS_STRLEN]);

#endif
