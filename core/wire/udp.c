#include "wire/udp.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "wire/checksum.h"

int tw_udp_view_check(const uint8_t *buf, size_t len)
{
    if (len < TW_UDP_HEADER_LEN) {
        return -TW_ETRUNC;
    }
    size_t length = tw_udp_length(buf);
    if (length < TW_UDP_HEADER_LEN) {
        return -TW_EMALFORMED; /* RFC 768: the length includes the header */
    }
    if (length > len) {
        return -TW_ETRUNC;
    }
    return 0;
}

int tw_udp_parse(const uint8_t *buf, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst,
                 tw_udp_repr *out)
{
    int err = tw_udp_view_check(buf, len);
    if (err < 0) {
        return err;
    }
    uint16_t length = tw_udp_length(buf);
    if (tw_udp_checksum(buf) != 0) {
        uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_UDP, length);
        if (!tw_csum_ok(tw_csum_add(sum, buf, length))) {
            return -TW_EBADCSUM; /* RFC 1122 §4.1.3.4: discard silently */
        }
    }
    out->src_port = tw_udp_src_port(buf);
    out->dst_port = tw_udp_dst_port(buf);
    if (out->dst_port == 0) {
        return -TW_EMALFORMED;
    }
    out->payload = tw_udp_payload(buf);
    out->payload_len = tw_udp_payload_len(buf);
    return 0;
}

void tw_udp_emit(const tw_udp_repr *r, tw_ipv4_addr src, tw_ipv4_addr dst, uint8_t *buf)
{
    TW_ASSERT(r->dst_port != 0);
    TW_ASSERT(r->payload_len <= TW_UDP_PAYLOAD_LEN_MAX);
    TW_ASSERT(r->payload_len == 0 || r->payload != NULL);
    uint16_t length = (uint16_t)tw_udp_repr_len(r);
    if (r->payload_len > 0 && r->payload != buf + TW_UDP_HEADER_LEN) {
        memmove(buf + TW_UDP_HEADER_LEN, r->payload, r->payload_len);
    }
    tw_bytes_store_be16(buf, r->src_port);
    tw_bytes_store_be16(buf + 2, r->dst_port);
    tw_bytes_store_be16(buf + 4, length);
    tw_bytes_store_be16(buf + 6, 0);
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_UDP, length);
    uint16_t check = tw_csum_finish(tw_csum_add(sum, buf, length));
    /* RFC 768: "If the computed checksum is zero, it is transmitted as all
     * ones (the equivalent in one's complement arithmetic)." */
    tw_bytes_store_be16(buf + 6, check == 0 ? 0xffff : check);
}
