/* UDP over IPv4.
 *
 * Reading list:
 *   RFC 768   User Datagram Protocol (the header, the pseudo-header, and a
 *             zero checksum meaning none)
 *   RFC 1122  §4.1.3.4 (a datagram with a bad checksum is discarded)
 *
 * Conventions as in wire/ethernet.h. The checksum covers the pseudo-header,
 * the header and the data, so parse and emit take the IPv4 addresses and a
 * repr carries its payload. */
#ifndef TW_WIRE_UDP_H
#define TW_WIRE_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "wire/bytes.h"
#include "wire/ipv4.h"

#define TW_UDP_HEADER_LEN 8
#define TW_UDP_PAYLOAD_LEN_MAX (TW_IPV4_TOTAL_LEN_MAX - TW_IPV4_HEADER_LEN - TW_UDP_HEADER_LEN)

/* 0, -TW_ETRUNC when the buffer is shorter than the header or the UDP
 * length, -TW_EMALFORMED when the UDP length is below 8. The buffer is the
 * IPv4 payload; bytes past the UDP length are ignored. */
int tw_udp_view_check(const uint8_t *buf, size_t len);

static inline uint16_t tw_udp_src_port(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf);
}
static inline uint16_t tw_udp_dst_port(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 2);
}
static inline uint16_t tw_udp_length(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 4);
}
static inline uint16_t tw_udp_checksum(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 6);
}
static inline const uint8_t *tw_udp_payload(const uint8_t *buf)
{
    return buf + TW_UDP_HEADER_LEN;
}
static inline size_t tw_udp_payload_len(const uint8_t *buf)
{
    return (size_t)tw_udp_length(buf) - TW_UDP_HEADER_LEN;
}

typedef struct tw_udp_repr {
    uint16_t src_port;
    uint16_t dst_port;
    const uint8_t *payload;
    size_t payload_len;
} tw_udp_repr;

/* src and dst are the enclosing IPv4 addresses, for the pseudo-header.
 * A zero checksum field means the sender computed none (RFC 768) and is
 * accepted; any other wrong value is -TW_EBADCSUM. Destination port 0 is
 * reserved and cannot be addressed: -TW_EMALFORMED. */
int tw_udp_parse(const uint8_t *buf, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst,
                 tw_udp_repr *out);

static inline size_t tw_udp_repr_len(const tw_udp_repr *r)
{
    return TW_UDP_HEADER_LEN + r->payload_len;
}

/* Writes header, payload and checksum: always computed, and sent as 0xffff
 * when it comes out 0, since 0 means "no checksum" (RFC 768). r->payload
 * may already sit at buf + TW_UDP_HEADER_LEN (then it is not copied). */
void tw_udp_emit(const tw_udp_repr *r, tw_ipv4_addr src, tw_ipv4_addr dst, uint8_t *buf);

#endif
