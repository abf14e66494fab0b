#include "wire/icmp.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "wire/checksum.h"

int tw_icmp_view_check(const uint8_t *buf, size_t len)
{
    return len < TW_ICMP_HEADER_LEN ? -TW_ETRUNC : 0;
}

static bool is_error_type(uint8_t type)
{
    return type == TW_ICMP_DEST_UNREACH || type == TW_ICMP_TIME_EXCEEDED;
}

/* RFC 792: an error carries the offending datagram's internet header and
 * the first 64 bits of its data; anything shorter cannot be matched to a
 * flow and is useless or forged. */
static bool quote_valid(const uint8_t *quote, size_t len)
{
    if (len < TW_ICMP_QUOTE_MIN) {
        return false;
    }
    if (tw_ipv4_version(quote) != 4) {
        return false;
    }
    size_t header_len = tw_ipv4_header_len(quote);
    return header_len >= TW_IPV4_HEADER_LEN && len >= header_len + 8;
}

static bool code_valid(uint8_t type, uint8_t code)
{
    switch (type) {
    case TW_ICMP_ECHO_REQUEST:
    case TW_ICMP_ECHO_REPLY:
        return code == 0; /* RFC 792: code 0 */
    case TW_ICMP_DEST_UNREACH:
        return code <= TW_ICMP_UNREACH_CODE_MAX;
    case TW_ICMP_TIME_EXCEEDED:
        return code == TW_ICMP_EXCEEDED_TTL || code == TW_ICMP_EXCEEDED_REASSEMBLY;
    default:
        TW_UNREACHABLE();
    }
}

int tw_icmp_parse(const uint8_t *buf, size_t len, tw_icmp_repr *out)
{
    int err = tw_icmp_view_check(buf, len);
    if (err < 0) {
        return err;
    }
    /* RFC 792: the checksum is over the ICMP message from the type on. */
    if (!tw_csum_ok(tw_csum_add(0, buf, len))) {
        return -TW_EBADCSUM;
    }
    uint8_t type = tw_icmp_type(buf);
    if (type != TW_ICMP_ECHO_REQUEST && type != TW_ICMP_ECHO_REPLY && !is_error_type(type)) {
        return -TW_ENOTSUP;
    }
    uint8_t code = tw_icmp_code(buf);
    if (!code_valid(type, code)) {
        return -TW_EMALFORMED;
    }
    out->type = type;
    out->code = code;
    out->echo_id = 0;
    out->echo_seq = 0;
    out->next_hop_mtu = 0;
    out->data = tw_icmp_data(buf);
    out->data_len = len - TW_ICMP_HEADER_LEN;
    if (!is_error_type(type)) {
        out->echo_id = tw_icmp_echo_id(buf);
        out->echo_seq = tw_icmp_echo_seq(buf);
        return 0;
    }
    if (!quote_valid(out->data, out->data_len)) {
        return -TW_EMALFORMED;
    }
    if (type == TW_ICMP_DEST_UNREACH && code == TW_ICMP_UNREACH_FRAG_NEEDED) {
        /* RFC 1191 §4: the low 16 bits of the unused word; 0 from routers
         * that predate it, which net/ must then estimate (RFC 1191 §5). */
        out->next_hop_mtu = tw_icmp_next_hop_mtu(buf);
    }
    return 0;
}

void tw_icmp_emit(const tw_icmp_repr *r, uint8_t *buf)
{
    bool error = is_error_type(r->type);
    TW_ASSERT(error || r->type == TW_ICMP_ECHO_REQUEST || r->type == TW_ICMP_ECHO_REPLY);
    TW_ASSERT(code_valid(r->type, r->code));
    TW_ASSERT(!error || quote_valid(r->data, r->data_len));
    TW_ASSERT(r->data_len == 0 || r->data != NULL);
    TW_ASSERT(r->data_len <= TW_IPV4_TOTAL_LEN_MAX - TW_IPV4_HEADER_LEN - TW_ICMP_HEADER_LEN);
    /* Move the data first: it may overlap the header being written. */
    if (r->data_len > 0 && r->data != buf + TW_ICMP_HEADER_LEN) {
        memmove(buf + TW_ICMP_HEADER_LEN, r->data, r->data_len);
    }
    buf[0] = r->type;
    buf[1] = r->code;
    tw_bytes_store_be16(buf + 2, 0);
    if (error) {
        /* Unused, except the next-hop MTU of RFC 1191 §4. */
        bool mtu = r->type == TW_ICMP_DEST_UNREACH && r->code == TW_ICMP_UNREACH_FRAG_NEEDED;
        tw_bytes_store_be16(buf + 4, 0);
        tw_bytes_store_be16(buf + 6, mtu ? r->next_hop_mtu : 0);
    } else {
        tw_bytes_store_be16(buf + 4, r->echo_id);
        tw_bytes_store_be16(buf + 6, r->echo_seq);
    }
    tw_bytes_store_be16(buf + 2, tw_csum(buf, tw_icmp_repr_len(r)));
}

int tw_icmp_quote_parse(const tw_icmp_repr *r, tw_ipv4_repr *out)
{
    if (!is_error_type(r->type)) {
        return -TW_EINVAL;
    }
    /* parse accepted the quote, and an emitted repr asserted it. */
    TW_ASSERT(quote_valid(r->data, r->data_len));
    const uint8_t *q = r->data;
    size_t header_len = tw_ipv4_header_len(q);
    out->src = tw_ipv4_src(q);
    out->dst = tw_ipv4_dst(q);
    out->protocol = tw_ipv4_protocol(q);
    out->ttl = tw_ipv4_ttl(q);
    out->dscp = tw_ipv4_dscp(q);
    out->ecn = tw_ipv4_ecn(q);
    out->ident = tw_ipv4_ident(q);
    out->dont_frag = tw_ipv4_dont_frag(q);
    out->more_frags = tw_ipv4_more_frags(q);
    out->frag_offset = (uint16_t)tw_ipv4_frag_offset(q);
    out->payload = q + header_len;
    size_t quoted = r->data_len - header_len;
    out->payload_len = (uint16_t)(quoted < UINT16_MAX ? quoted : UINT16_MAX);
    out->options_len = (uint8_t)(header_len - TW_IPV4_HEADER_LEN);
    return 0;
}
