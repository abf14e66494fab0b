#include "wire/tcp.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "wire/checksum.h"

int tw_tcp_view_check(const uint8_t *buf, size_t len)
{
    if (len < TW_TCP_HEADER_LEN) {
        return -TW_ETRUNC;
    }
    size_t header_len = tw_tcp_header_len(buf);
    if (header_len < TW_TCP_HEADER_LEN) {
        return -TW_EMALFORMED; /* RFC 9293 §3.1: data offset is at least 5 */
    }
    if (header_len > len) {
        return -TW_ETRUNC;
    }
    return 0;
}

/* The fixed lengths of the known kinds (RFC 9293 §3.2, RFC 7323 §2.2 and
 * §3.2, RFC 2018 §2); SACK is checked on its own. */
static bool fixed_len_ok(uint8_t kind, uint8_t len)
{
    switch (kind) {
    case TW_TCP_OPT_MSS:
        return len == 4;
    case TW_TCP_OPT_WSCALE:
        return len == 3;
    case TW_TCP_OPT_SACK_PERMITTED:
        return len == 2;
    case TW_TCP_OPT_TIMESTAMP:
        return len == 10;
    default:
        return true;
    }
}

/* RFC 2018 §3: kind, length, then n (left, right) pairs of 32-bit edges. */
static bool sack_len_ok(uint8_t len)
{
    return len >= 10 && (len - 2) % 8 == 0 && (len - 2) / 8 <= TW_TCP_SACK_BLOCKS_MAX;
}

static void decode_one(uint8_t kind, const uint8_t *p, uint8_t len, tw_tcp_options *out)
{
    switch (kind) {
    case TW_TCP_OPT_MSS:
        out->has_mss = true;
        out->mss = tw_bytes_load_be16(p + 2);
        break;
    case TW_TCP_OPT_WSCALE:
        out->has_wscale = true;
        /* RFC 7323 §2.3: a shift above 14 MUST be used as 14. */
        out->wscale = p[2] < TW_TCP_WSCALE_MAX ? p[2] : TW_TCP_WSCALE_MAX;
        break;
    case TW_TCP_OPT_SACK_PERMITTED:
        out->sack_permitted = true;
        break;
    case TW_TCP_OPT_SACK:
        out->sack_count = (uint8_t)((len - 2) / 8);
        for (unsigned i = 0; i < out->sack_count; i++) {
            out->sack[i].left = tw_bytes_load_be32(p + 2 + 8 * i);
            out->sack[i].right = tw_bytes_load_be32(p + 6 + 8 * i);
        }
        break;
    case TW_TCP_OPT_TIMESTAMP:
        out->has_timestamp = true;
        out->ts_val = tw_bytes_load_be32(p + 2);
        out->ts_ecr = tw_bytes_load_be32(p + 6);
        break;
    default:
        break; /* RFC 9293 §3.2: unknown kinds are skipped by their length */
    }
}

int tw_tcp_options_decode(const uint8_t **cursor, const uint8_t *end, tw_tcp_options *out)
{
    const uint8_t *p = *cursor;
    memset(out, 0, sizeof *out);
    while (p < end) {
        uint8_t kind = p[0];
        if (kind == TW_TCP_OPT_EOL) {
            p = end; /* RFC 9293 §3.2: the rest is padding */
            break;
        }
        if (kind == TW_TCP_OPT_NOP) {
            p++;
            continue;
        }
        /* RFC 9293 §3.2 ("MUST be prepared to handle an illegal option
         * length (e.g., zero)"): every other kind has a length byte that
         * counts itself and the kind, and must stay inside the list. */
        if (end - p < 2) {
            goto error;
        }
        uint8_t len = p[1];
        if (len < 2 || len > end - p) {
            goto error;
        }
        if (!fixed_len_ok(kind, len)) {
            goto error;
        }
        if (kind == TW_TCP_OPT_SACK && !sack_len_ok(len)) {
            goto error;
        }
        decode_one(kind, p, len, out);
        p += len;
    }
    *cursor = p;
    return 0;

error:
    *cursor = p;
    return -TW_EMALFORMED;
}

size_t tw_tcp_options_encoded_len(const tw_tcp_options *opts)
{
    size_t n = 0;
    if (opts->has_mss) {
        n += 4;
    }
    if (opts->has_timestamp) {
        n += 12; /* SACK-permitted or NOP NOP, then the 10-byte option */
    } else if (opts->sack_permitted) {
        n += 4; /* NOP NOP SACK-permitted */
    }
    if (opts->has_wscale) {
        n += 4; /* NOP, then the 3-byte option */
    }
    if (opts->sack_count > 0) {
        n += 4 + 8 * (size_t)opts->sack_count; /* NOP NOP, kind, length */
    }
    return n;
}

size_t tw_tcp_options_encode(const tw_tcp_options *opts, uint8_t *buf)
{
    TW_ASSERT(opts->sack_count <= TW_TCP_SACK_BLOCKS_MAX);
    TW_ASSERT(!opts->has_wscale || opts->wscale <= TW_TCP_WSCALE_MAX);
    uint8_t *p = buf;
    if (opts->has_mss) {
        p[0] = TW_TCP_OPT_MSS;
        p[1] = 4;
        tw_bytes_store_be16(p + 2, opts->mss);
        p += 4;
    }
    if (opts->has_timestamp) {
        /* RFC 7323 appendix A: NOP NOP before the timestamps aligns them;
         * Linux puts SACK-permitted in the NOPs' place when it has one. */
        if (opts->sack_permitted) {
            p[0] = TW_TCP_OPT_SACK_PERMITTED;
            p[1] = 2;
        } else {
            p[0] = TW_TCP_OPT_NOP;
            p[1] = TW_TCP_OPT_NOP;
        }
        p[2] = TW_TCP_OPT_TIMESTAMP;
        p[3] = 10;
        tw_bytes_store_be32(p + 4, opts->ts_val);
        tw_bytes_store_be32(p + 8, opts->ts_ecr);
        p += 12;
    } else if (opts->sack_permitted) {
        p[0] = TW_TCP_OPT_NOP;
        p[1] = TW_TCP_OPT_NOP;
        p[2] = TW_TCP_OPT_SACK_PERMITTED;
        p[3] = 2;
        p += 4;
    }
    if (opts->has_wscale) {
        p[0] = TW_TCP_OPT_NOP;
        p[1] = TW_TCP_OPT_WSCALE;
        p[2] = 3;
        p[3] = opts->wscale;
        p += 4;
    }
    if (opts->sack_count > 0) {
        p[0] = TW_TCP_OPT_NOP;
        p[1] = TW_TCP_OPT_NOP;
        p[2] = TW_TCP_OPT_SACK;
        p[3] = (uint8_t)(2 + 8 * opts->sack_count);
        for (unsigned i = 0; i < opts->sack_count; i++) {
            tw_bytes_store_be32(p + 4 + 8 * i, opts->sack[i].left);
            tw_bytes_store_be32(p + 8 + 8 * i, opts->sack[i].right);
        }
        p += 4 + 8 * (size_t)opts->sack_count;
    }
    /* fuzz_wire checks n against tw_tcp_options_encoded_len; emit asserts
     * the header length the data offset field says. */
    size_t n = (size_t)(p - buf);
    TW_ASSERT(n % 4 == 0 && n <= TW_TCP_HEADER_LEN_MAX - TW_TCP_HEADER_LEN);
    return n;
}

static bool flags_possible(uint8_t flags)
{
    if ((flags & TW_TCP_SYN) && (flags & (TW_TCP_RST | TW_TCP_FIN))) {
        return false;
    }
    return true;
}

int tw_tcp_parse(const uint8_t *buf, size_t len, tw_ipv4_addr src, tw_ipv4_addr dst,
                 tw_tcp_repr *out)
{
    int err = tw_tcp_view_check(buf, len);
    if (err < 0) {
        return err;
    }
    if (len > TW_IPV4_TOTAL_LEN_MAX - TW_IPV4_HEADER_LEN) {
        return -TW_ETOOBIG; /* no IPv4 datagram carries this much */
    }
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_TCP, (uint16_t)len);
    if (!tw_csum_ok(tw_csum_add(sum, buf, len))) {
        return -TW_EBADCSUM;
    }
    return tw_tcp_parse_summed(buf, len, out);
}

int tw_tcp_parse_summed(const uint8_t *buf, size_t len, tw_tcp_repr *out)
{
    TW_ASSERT(tw_tcp_view_check(buf, len) == 0);
    out->src_port = tw_tcp_src_port(buf);
    out->dst_port = tw_tcp_dst_port(buf);
    out->seq = tw_tcp_seq(buf);
    out->ack = tw_tcp_ack(buf);
    out->flags = tw_tcp_flags(buf);
    out->window = tw_tcp_window(buf);
    out->urgent = tw_tcp_urgent(buf);
    if (out->src_port == 0 || out->dst_port == 0) {
        return -TW_EMALFORMED;
    }
    if (!flags_possible(out->flags)) {
        return -TW_EMALFORMED;
    }
    size_t header_len = tw_tcp_header_len(buf);
    const uint8_t *cursor = tw_tcp_option_bytes(buf);
    int err = tw_tcp_options_decode(&cursor, buf + header_len, &out->opts);
    if (err < 0) {
        return err;
    }
    out->payload = buf + header_len;
    out->payload_len = len - header_len;
    return 0;
}

/* Writes the header in front of the payload (moved to buf + header length
 * first where it is elsewhere) and returns the segment's length; the
 * checksum field is left zero. */
static size_t emit_header(const tw_tcp_repr *r, uint8_t *buf)
{
    TW_ASSERT(r->src_port != 0);
    TW_ASSERT(r->dst_port != 0);
    TW_ASSERT(flags_possible(r->flags));
    TW_ASSERT(r->payload_len == 0 || r->payload != NULL);
    size_t header_len = tw_tcp_repr_header_len(r);
    TW_ASSERT(header_len <= TW_TCP_HEADER_LEN_MAX);
    size_t len = header_len + r->payload_len;
    TW_ASSERT(len <= TW_IPV4_TOTAL_LEN_MAX - TW_IPV4_HEADER_LEN);
    /* Move the payload first: it may overlap where the header goes. */
    if (r->payload_len > 0 && r->payload != buf + header_len) {
        memmove(buf + header_len, r->payload, r->payload_len);
    }
    tw_bytes_store_be16(buf, r->src_port);
    tw_bytes_store_be16(buf + 2, r->dst_port);
    tw_bytes_store_be32(buf + 4, r->seq);
    tw_bytes_store_be32(buf + 8, r->ack);
    buf[12] = (uint8_t)(header_len / 4 << 4); /* reserved bits zero (RFC 9293 §3.1) */
    buf[13] = r->flags;
    tw_bytes_store_be16(buf + 14, r->window);
    tw_bytes_store_be16(buf + 16, 0);
    tw_bytes_store_be16(buf + 18, r->urgent);
    size_t opts_len = tw_tcp_options_encode(&r->opts, buf + TW_TCP_HEADER_LEN);
    TW_ASSERT(TW_TCP_HEADER_LEN + opts_len == header_len);
    return len;
}

size_t tw_tcp_emit(const tw_tcp_repr *r, tw_ipv4_addr src, tw_ipv4_addr dst, uint8_t *buf)
{
    size_t len = emit_header(r, buf);
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_TCP, (uint16_t)len);
    tw_bytes_store_be16(buf + 16, tw_csum_finish(tw_csum_add(sum, buf, len)));
    return len;
}

size_t tw_tcp_emit_summed(const tw_tcp_repr *r, tw_ipv4_addr src, tw_ipv4_addr dst, uint8_t *buf,
                          uint32_t payload_sum)
{
    size_t len = emit_header(r, buf);
    size_t header_len = len - r->payload_len;
    /* The header is a multiple of 4 bytes: the payload's sum adds as is. */
    uint32_t sum = tw_csum_pseudo_ipv4(src, dst, TW_IP_PROTO_TCP, (uint16_t)len);
    sum = tw_csum_add(sum, buf, header_len) + tw_csum_fold(payload_sum);
    tw_bytes_store_be16(buf + 16, tw_csum_finish(sum));
    return len;
}

void tw_tcp_flags_format(uint8_t flags, char out[TW_TCP_FLAGS_STRLEN])
{
    /* tcpdump's order: F S R P . U E W. */
    static const struct {
        uint8_t bit;
        char letter;
    } letters[] = {
        {TW_TCP_FIN, 'F'}, {TW_TCP_SYN, 'S'}, {TW_TCP_RST, 'R'}, {TW_TCP_PSH, 'P'},
        {TW_TCP_ACK, '.'}, {TW_TCP_URG, 'U'}, {TW_TCP_ECE, 'E'}, {TW_TCP_CWR, 'W'},
    };
    size_t n = 0;
    for (size_t i = 0; i < TW_ARRAY_LEN(letters); i++) {
        if (flags & letters[i].bit) {
            out[n++] = letters[i].letter;
        }
    }
    if (n == 0) {
        memcpy(out, "none", 5);
        return;
    }
    out[n] = '\0';
}
