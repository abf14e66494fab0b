#include "wire/ipv4.h"

#include "base/assert.h"
#include "base/error.h"
#include "wire/checksum.h"

size_t tw_ipv4_addr_format(tw_ipv4_addr a, char out[TW_IPV4_ADDR_STRLEN])
{
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned v = (a >> shift) & 0xff;
        if (v >= 100) {
            out[n++] = (char)('0' + v / 100);
        }
        if (v >= 10) {
            out[n++] = (char)('0' + v / 10 % 10);
        }
        out[n++] = (char)('0' + v % 10);
        if (shift > 0) {
            out[n++] = '.';
        }
    }
    out[n] = '\0';
    return n;
}

int tw_ipv4_addr_parse(const char *s, tw_ipv4_addr *out)
{
    tw_ipv4_addr a = 0;
    for (int part = 0; part < 4; part++) {
        if (*s < '0' || *s > '9') {
            return -TW_EINVAL;
        }
        /* A leading zero is allowed only as the whole number ("0"). */
        if (s[0] == '0' && s[1] >= '0' && s[1] <= '9') {
            return -TW_EINVAL;
        }
        unsigned v = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (++digits > 3) {
                return -TW_EINVAL;
            }
            v = v * 10 + (unsigned)(*s - '0');
            s++;
        }
        if (v > 255) {
            return -TW_EINVAL;
        }
        a = a << 8 | v;
        if (*s != (part < 3 ? '.' : '\0')) {
            return -TW_EINVAL;
        }
        s++;
    }
    *out = a;
    return 0;
}

int tw_ipv4_view_check(const uint8_t *buf, size_t len)
{
    if (len < TW_IPV4_HEADER_LEN) {
        return -TW_ETRUNC;
    }
    size_t header_len = tw_ipv4_header_len(buf);
    if (header_len < TW_IPV4_HEADER_LEN) {
        return -TW_EMALFORMED; /* RFC 791 §3.1: IHL is at least 5 */
    }
    if (header_len > len) {
        return -TW_ETRUNC;
    }
    size_t total_len = tw_ipv4_total_len(buf);
    if (total_len < header_len) {
        return -TW_EMALFORMED;
    }
    if (total_len > len) {
        return -TW_ETRUNC;
    }
    return 0;
}

int tw_ipv4_parse(const uint8_t *buf, size_t len, tw_ipv4_repr *out)
{
    int err = tw_ipv4_view_check(buf, len);
    if (err < 0) {
        return err;
    }
    size_t header_len = tw_ipv4_header_len(buf);
    /* RFC 1122 §3.2.1.2: a host MUST verify the header checksum and
     * silently discard a datagram that fails. */
    if (!tw_csum_ok(tw_csum_add(0, buf, header_len))) {
        return -TW_EBADCSUM;
    }
    /* RFC 1122 §3.2.1.1: a datagram whose version is not 4 is discarded. */
    if (tw_ipv4_version(buf) != 4) {
        return -TW_EMALFORMED;
    }
    uint16_t flags = tw_bytes_load_be16(buf + 6);
    if (flags & TW_IPV4_FLAG_RESERVED) {
        return -TW_EMALFORMED; /* RFC 791 §3.1: bit 0 must be zero */
    }
    uint32_t frag_offset = tw_ipv4_frag_offset(buf);
    size_t payload_len = tw_ipv4_payload_len(buf);
    if (frag_offset + payload_len > TW_IPV4_TOTAL_LEN_MAX) {
        return -TW_EMALFORMED; /* would reassemble past the largest datagram */
    }
    out->src = tw_ipv4_src(buf);
    out->dst = tw_ipv4_dst(buf);
    out->protocol = tw_ipv4_protocol(buf);
    out->ttl = tw_ipv4_ttl(buf);
    out->dscp = tw_ipv4_dscp(buf);
    out->ecn = tw_ipv4_ecn(buf);
    out->ident = tw_ipv4_ident(buf);
    out->dont_frag = (flags & TW_IPV4_FLAG_DF) != 0;
    out->more_frags = (flags & TW_IPV4_FLAG_MF) != 0;
    out->frag_offset = (uint16_t)frag_offset;
    out->payload_len = (uint16_t)payload_len;
    out->payload = buf + header_len;
    out->options_len = (uint8_t)(header_len - TW_IPV4_HEADER_LEN);
    return 0;
}

void tw_ipv4_emit(const tw_ipv4_repr *r, uint8_t *buf)
{
    TW_ASSERT(r->dscp < 64);
    TW_ASSERT(r->ecn < 4);
    TW_ASSERT(r->frag_offset % 8 == 0);
    TW_ASSERT(r->payload_len <= TW_IPV4_TOTAL_LEN_MAX - TW_IPV4_HEADER_LEN);
    TW_ASSERT((uint32_t)r->frag_offset + r->payload_len <= TW_IPV4_TOTAL_LEN_MAX);
    buf[0] = 0x45; /* version 4, IHL 5: no options */
    buf[1] = (uint8_t)(r->dscp << 2 | r->ecn);
    tw_bytes_store_be16(buf + 2, (uint16_t)(TW_IPV4_HEADER_LEN + r->payload_len));
    tw_bytes_store_be16(buf + 4, r->ident);
    uint16_t flags = (uint16_t)(r->frag_offset / 8);
    if (r->dont_frag) {
        flags |= TW_IPV4_FLAG_DF;
    }
    if (r->more_frags) {
        flags |= TW_IPV4_FLAG_MF;
    }
    tw_bytes_store_be16(buf + 6, flags);
    buf[8] = r->ttl;
    buf[9] = r->protocol;
    tw_bytes_store_be16(buf + 10, 0);
    tw_ipv4_addr_store(buf + 12, r->src);
    tw_ipv4_addr_store(buf + 16, r->dst);
    tw_bytes_store_be16(buf + 10, tw_csum(buf, TW_IPV4_HEADER_LEN));
}
