/* IPv4 headers and addresses.
 *
 * Reading list:
 *   RFC 791   Internet Protocol (§3.1 the header)
 *   RFC 1122  §3.2.1 what a host must check on receipt
 *   RFC 2474, RFC 3168  the DSCP and ECN fields of the old TOS octet
 *   RFC 6864  the Identification field and atomic datagrams
 *
 * Conventions as in wire/ethernet.h. Parse skips options by their length
 * (IHL > 5) without interpreting them; emit writes a 20-byte header with no
 * options. */
#ifndef TW_WIRE_IPV4_H
#define TW_WIRE_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/bytes.h"

/* An IPv4 address in host order: 10.0.0.1 is 0x0a000001. */
typedef uint32_t tw_ipv4_addr;

#define TW_IPV4_ADDR(a, b, c, d)                                                                   \
    ((tw_ipv4_addr)(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |         \
                    (uint32_t)(d)))
#define TW_IPV4_ADDR_ANY ((tw_ipv4_addr)0)
#define TW_IPV4_ADDR_BROADCAST ((tw_ipv4_addr)0xffffffffu)
/* "255.255.255.255" and its terminating zero. */
#define TW_IPV4_ADDR_STRLEN 16

static inline tw_ipv4_addr tw_ipv4_addr_load(const uint8_t *p)
{
    return tw_bytes_load_be32(p);
}
static inline void tw_ipv4_addr_store(uint8_t *p, tw_ipv4_addr a)
{
    tw_bytes_store_be32(p, a);
}

/* Writes the dotted quad and its terminating zero; returns its length. */
size_t tw_ipv4_addr_format(tw_ipv4_addr a, char out[TW_IPV4_ADDR_STRLEN]);

/* Parses exactly four decimal numbers 0..255 separated by dots, without
 * leading zeros (which inet_aton would read as octal), signs or spaces.
 * Returns 0 or -TW_EINVAL. */
int tw_ipv4_addr_parse(const char *s, tw_ipv4_addr *out);

/* The netmask of a prefix length 0..32. */
static inline tw_ipv4_addr tw_ipv4_prefix_mask(unsigned prefix_len)
{
    return prefix_len == 0 ? 0 : (tw_ipv4_addr)(0xffffffffu << (32 - prefix_len));
}
static inline bool tw_ipv4_addr_in_subnet(tw_ipv4_addr a, tw_ipv4_addr net, unsigned prefix_len)
{
    tw_ipv4_addr mask = tw_ipv4_prefix_mask(prefix_len);
    return (a & mask) == (net & mask);
}
static inline bool tw_ipv4_addr_is_unspecified(tw_ipv4_addr a)
{
    return a == 0;
}
static inline bool tw_ipv4_addr_is_broadcast(tw_ipv4_addr a)
{
    return a == TW_IPV4_ADDR_BROADCAST;
}
/* RFC 5771: 224.0.0.0/4. */
static inline bool tw_ipv4_addr_is_multicast(tw_ipv4_addr a)
{
    return (a >> 28) == 0xe;
}
/* RFC 1122 §3.2.1.3: 127.0.0.0/8. */
static inline bool tw_ipv4_addr_is_loopback(tw_ipv4_addr a)
{
    return (a >> 24) == 127;
}

enum {
    TW_IP_PROTO_ICMP = 1,
    TW_IP_PROTO_TCP = 6,
    TW_IP_PROTO_UDP = 17,
};

#define TW_IPV4_HEADER_LEN 20
#define TW_IPV4_HEADER_LEN_MAX 60
#define TW_IPV4_TOTAL_LEN_MAX 65535
#define TW_IPV4_DEFAULT_TTL 64

/* Flag bits of the 16-bit flags/fragment-offset word (RFC 791 §3.1). */
#define TW_IPV4_FLAG_RESERVED 0x8000
#define TW_IPV4_FLAG_DF 0x4000
#define TW_IPV4_FLAG_MF 0x2000
#define TW_IPV4_FRAG_OFFSET_MASK 0x1fff

/* 0, -TW_ETRUNC when the buffer is shorter than 20 bytes, the IHL, or the
 * total length, -TW_EMALFORMED when IHL < 5 or the total length is shorter
 * than the header. Bytes past the total length (link padding) are allowed. */
int tw_ipv4_view_check(const uint8_t *buf, size_t len);

static inline uint8_t tw_ipv4_version(const uint8_t *buf)
{
    return buf[0] >> 4;
}
/* The header length in bytes (IHL * 4), options included. */
static inline size_t tw_ipv4_header_len(const uint8_t *buf)
{
    return (size_t)(buf[0] & 15) * 4;
}
static inline uint8_t tw_ipv4_dscp(const uint8_t *buf)
{
    return buf[1] >> 2;
}
static inline uint8_t tw_ipv4_ecn(const uint8_t *buf)
{
    return buf[1] & 3;
}
static inline uint16_t tw_ipv4_total_len(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 2);
}
static inline uint16_t tw_ipv4_ident(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 4);
}
static inline bool tw_ipv4_dont_frag(const uint8_t *buf)
{
    return (tw_bytes_load_be16(buf + 6) & TW_IPV4_FLAG_DF) != 0;
}
static inline bool tw_ipv4_more_frags(const uint8_t *buf)
{
    return (tw_bytes_load_be16(buf + 6) & TW_IPV4_FLAG_MF) != 0;
}
/* The fragment offset in bytes (the field counts 8-byte units). */
static inline uint32_t tw_ipv4_frag_offset(const uint8_t *buf)
{
    return (uint32_t)(tw_bytes_load_be16(buf + 6) & TW_IPV4_FRAG_OFFSET_MASK) * 8;
}
static inline uint8_t tw_ipv4_ttl(const uint8_t *buf)
{
    return buf[8];
}
static inline uint8_t tw_ipv4_protocol(const uint8_t *buf)
{
    return buf[9];
}
static inline uint16_t tw_ipv4_checksum(const uint8_t *buf)
{
    return tw_bytes_load_be16(buf + 10);
}
static inline tw_ipv4_addr tw_ipv4_src(const uint8_t *buf)
{
    return tw_ipv4_addr_load(buf + 12);
}
static inline tw_ipv4_addr tw_ipv4_dst(const uint8_t *buf)
{
    return tw_ipv4_addr_load(buf + 16);
}
static inline const uint8_t *tw_ipv4_payload(const uint8_t *buf)
{
    return buf + tw_ipv4_header_len(buf);
}
static inline size_t tw_ipv4_payload_len(const uint8_t *buf)
{
    return tw_ipv4_total_len(buf) - tw_ipv4_header_len(buf);
}

typedef struct tw_ipv4_repr {
    tw_ipv4_addr src;
    tw_ipv4_addr dst;
    uint8_t protocol;
    uint8_t ttl;
    uint8_t dscp; /* RFC 2474, 6 bits */
    uint8_t ecn;  /* RFC 3168, 2 bits */
    uint16_t ident;
    bool dont_frag;
    bool more_frags;
    uint16_t frag_offset; /* in bytes, a multiple of 8 */
    uint16_t payload_len; /* total length less the header */
    /* parse only: the payload (payload_len bytes) and the option bytes that
     * were skipped. Emit ignores both and writes no options. */
    const uint8_t *payload;
    uint8_t options_len;
} tw_ipv4_repr;

/* Checks lengths, then the header checksum (-TW_EBADCSUM, so corruption is
 * told apart from nonsense), then the version and the flags: a set
 * reserved flag, or a fragment that would end past 65535 bytes, is
 * -TW_EMALFORMED (RFC 791 §3.1). Fragments are accepted; reassembly is
 * net/'s job. */
int tw_ipv4_parse(const uint8_t *buf, size_t len, tw_ipv4_repr *out);

static inline size_t tw_ipv4_repr_len(const tw_ipv4_repr *r)
{
    (void)r;
    return TW_IPV4_HEADER_LEN;
}

/* Writes the 20-byte header with its checksum; the payload goes at
 * buf + TW_IPV4_HEADER_LEN (written before or after: the checksum covers
 * only the header). */
void tw_ipv4_emit(const tw_ipv4_repr *r, uint8_t *buf);

#endif
