/* ICMPv4: echo, destination unreachable, time exceeded.
 *
 * Reading list:
 *   RFC 792   Internet Control Message Protocol
 *   RFC 1122  §3.2.2 (hosts: what to send and accept)
 *   RFC 1191  Path MTU Discovery (the next-hop MTU in "fragmentation
 *             needed")
 *   RFC 1812  §4.3.2.3 (how much of the offending datagram to quote),
 *             §5.2.7.1 (unreachable codes 0..15)
 *   RFC 5927  ICMP attacks against TCP (why the quote is parsed and checked)
 *
 * Conventions as in wire/ethernet.h. The checksum covers the whole ICMP
 * message (RFC 792), so a repr carries its data and emit writes all of it:
 * the echo payload, or for errors the quoted datagram (its IP header and at
 * least the first 8 bytes of its data). Other message types are
 * -TW_ENOTSUP. */
#ifndef TW_WIRE_ICMP_H
#define TW_WIRE_ICMP_H

#include <stddef.h>
#include <stdint.h>

#include "wire/bytes.h"
#include "wire/ipv4.h"

#define TW_ICMP_HEADER_LEN 8
/* RFC 792: an error quotes the internet header and 64 bits of data. */
#define TW_ICMP_QUOTE_MIN (TW_IPV4_HEADER_LEN + 8)
/* RFC 1812 §4.3.2.3: quote as much as fits in a 576-byte datagram. */
#define TW_ICMP_QUOTE_MAX (576 - TW_IPV4_HEADER_LEN - TW_ICMP_HEADER_LEN)

enum {
    TW_ICMP_ECHO_REPLY = 0,
    TW_ICMP_DEST_UNREACH = 3,
    TW_ICMP_ECHO_REQUEST = 8,
    TW_ICMP_TIME_EXCEEDED = 11,
};

/* Destination unreachable codes (RFC 792, RFC 1812 §5.2.7.1). */
enum {
    TW_ICMP_UNREACH_NET = 0,
    TW_ICMP_UNREACH_HOST = 1,
    TW_ICMP_UNREACH_PROTOCOL = 2,
    TW_ICMP_UNREACH_PORT = 3,
    TW_ICMP_UNREACH_FRAG_NEEDED = 4, /* carries the next-hop MTU */
    TW_ICMP_UNREACH_SOURCE_ROUTE = 5,
    TW_ICMP_UNREACH_ADMIN_PROHIBITED = 13,
    TW_ICMP_UNREACH_CODE_MAX = 15,
};

/* Time exceeded codes (RFC 792). */
enum {
    TW_ICMP_EXCEEDED_TTL = 0,
    TW_ICMP_EXCEEDED_REASSEMBLY = 1,
};

/* 0, or -TW_ETRUNC when the buffer is shorter than the 8-byte header. The
 * buffer is the whole ICMP message (the IPv4 payload). */
int tw_icmp_view_check(const uint8_t *buf, size_t len);

static inline uint8_t tw_icmp_type(const uint8_t *buf)
{
    return buf[0];
}
static inline uint8_t tw_icmp_code(const uint8_t *buf)
{
    return buf[1];
}
static inline uint16_t tw_icmp_checksum(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 2);
}
/* Echo request and reply. */
static inline uint16_t tw_icmp_echo_id(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 4);
}
static inline uint16_t tw_icmp_echo_seq(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 6);
}
/* Destination unreachable, fragmentation needed (RFC 1191 §4). */
static inline uint16_t tw_icmp_next_hop_mtu(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 6);
}
static inline const uint8_t *tw_icmp_data(const uint8_t *buf)
{
    return buf + TW_ICMP_HEADER_LEN;
}

typedef struct tw_icmp_repr {
    uint8_t type;
    uint8_t code;
    uint16_t echo_id;      /* echo request and reply */
    uint16_t echo_seq;     /* echo request and reply */
    uint16_t next_hop_mtu; /* unreachable, fragmentation needed; 0 otherwise */
    /* Echo: the payload, returned verbatim in the reply. Errors: the quoted
     * datagram, TW_ICMP_QUOTE_MIN bytes or more. */
    const uint8_t *data;
    size_t data_len;
} tw_icmp_repr;

/* len is the whole message. Checks the checksum first (-TW_EBADCSUM), then
 * the type (-TW_ENOTSUP for others) and code (-TW_EMALFORMED: echo code
 * other than 0, unknown unreachable or time-exceeded codes), and for errors
 * that the quote holds a version-4 header and 8 bytes past it
 * (-TW_EMALFORMED). */
int tw_icmp_parse(const uint8_t *buf, size_t len, tw_icmp_repr *out);

static inline size_t tw_icmp_repr_len(const tw_icmp_repr *r)
{
    return TW_ICMP_HEADER_LEN + r->data_len;
}

/* Writes the header, the data and the checksum. r->data may already sit at
 * buf + TW_ICMP_HEADER_LEN (then it is not copied) or anywhere else,
 * overlapping included. */
void tw_icmp_emit(const tw_icmp_repr *r, uint8_t *buf);

/* The quoted datagram of an error message as an IPv4 repr whose payload is
 * the quoted transport bytes (at least 8: the ports, and for TCP the
 * sequence number), so net/ can find the flow the error is about. The
 * quote is taken as the offending host sent it: its total length and
 * checksum describe the original, not the quote, and are not checked;
 * payload_len is how many transport bytes were quoted. Returns 0, or
 * -TW_EINVAL when r is not an error message. */
int tw_icmp_quote_parse(const tw_icmp_repr *r, tw_ipv4_repr *out);

/* How many bytes of an offending datagram of len bytes to quote in an
 * error: all of it up to TW_ICMP_QUOTE_MAX (RFC 1812 §4.3.2.3). */
static inline size_t tw_icmp_quote_len(size_t datagram_len)
{
    return datagram_len < TW_ICMP_QUOTE_MAX ? datagram_len : TW_ICMP_QUOTE_MAX;
}

#endif
