#include "net/icmp.h"

#include <string.h>

#include "base/error.h"
#include "net/internal.h"
#include "net/udp.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

void tw_icmp_init(tw_icmp_state *st, const tw_icmp_config *cfg, tw_ns now)
{
    memset(st, 0, sizeof(*st));
    st->cfg = *cfg;
    st->credit_ns = (tw_ns)cfg->error_burst * cfg->error_interval_ns;
    st->last_ns = now;
}

bool tw_icmp_rate_allow(tw_icmp_state *st, tw_ns now)
{
    /* RFC 1812 §4.3.2.8: errors are rate limited; a token bucket lets a
     * burst through and then one per interval. All in integer ns. */
    if (st->cfg.error_interval_ns == 0) {
        return true;
    }
    tw_ns cap = (tw_ns)st->cfg.error_burst * st->cfg.error_interval_ns;
    if (now > st->last_ns) {
        tw_ns earned = now - st->last_ns;
        st->credit_ns = earned >= cap - st->credit_ns ? cap : st->credit_ns + earned;
        st->last_ns = now;
    }
    if (st->credit_ns < st->cfg.error_interval_ns) {
        st->stats.errors_rate_limited++;
        return false;
    }
    st->credit_ns -= st->cfg.error_interval_ns;
    return true;
}

/* RFC 1122 §3.2.2: an error MUST NOT be sent about an ICMP error, a
 * datagram to a broadcast or multicast address or in a link-layer
 * broadcast, a fragment other than the first, or a datagram whose source
 * is not one host. We also never send one to ourselves. */
static bool error_allowed(const tw_stack *s, const tw_net_dgram *d)
{
    if (d->broadcast || d->link_broadcast || tw_ipv4_addr_is_multicast(d->dst)) {
        return false;
    }
    if (d->frag_offset != 0) {
        return false;
    }
    tw_ipv4_addr src = d->src;
    if (tw_ipv4_addr_is_unspecified(src) || tw_ipv4_addr_is_broadcast(src) ||
        tw_ipv4_addr_is_multicast(src) || tw_ipv4_addr_is_loopback(src) ||
        tw_net_is_bcast(s, src) || tw_net_is_local(s, src)) {
        return false;
    }
    if (d->protocol == TW_IP_PROTO_ICMP) {
        /* Only queries may be answered with an error; anything else (an
         * error, or a message too short to tell) may not. */
        if (d->payload_len < 1) {
            return false;
        }
        uint8_t type = d->payload[0];
        return type == TW_ICMP_ECHO_REQUEST || type == TW_ICMP_ECHO_REPLY;
    }
    return true;
}

void tw_icmp_send_error(tw_stack *s, tw_ns now, const tw_net_dgram *d, uint8_t type, uint8_t code,
                        uint16_t mtu)
{
    tw_icmp_state *st = &s->icmp;
    TW_ASSERT(d->payload == d->header + d->header_len); /* one contiguous datagram */
    size_t dgram_len = (size_t)d->header_len + d->payload_len;
    if (!error_allowed(s, d) || dgram_len < (size_t)d->header_len + 8) {
        /* The second case: too short to quote the 8 bytes RFC 792 asks
         * for, so there would be nothing for the sender to match. */
        st->stats.errors_suppressed++;
        return;
    }
    if (!tw_icmp_rate_allow(st, now)) {
        return;
    }
    uint8_t msg[TW_ICMP_HEADER_LEN + TW_ICMP_QUOTE_MAX];
    tw_icmp_repr r = {
        .type = type,
        .code = code,
        .next_hop_mtu = mtu,
        .data = d->header,
        .data_len = tw_icmp_quote_len(dgram_len),
    };
    tw_icmp_emit(&r, msg);
    /* RFC 1812 §4.3.2.4: the source is an address of ours: the one the
     * datagram was sent to when that was us, else the outgoing
     * interface's (tw_ipv4_send picks it). */
    tw_ipv4_out o = {
        .src = tw_net_is_local(s, d->dst) ? d->dst : 0,
        .dst = d->src,
        .protocol = TW_IP_PROTO_ICMP,
        .ttl = s->cfg.ttl,
        .origin = TW_NET_ORIGIN_STACK,
        .head = msg,
        .head_len = tw_icmp_repr_len(&r),
    };
    if (tw_ipv4_send(s, now, &o) == 0) {
        st->stats.errors_out++;
    }
}

/* Builds an echo header and its checksum over header and data. */
static void echo_header(uint8_t hdr[TW_ICMP_HEADER_LEN], uint8_t type, uint16_t id, uint16_t seq,
                        const uint8_t *data, size_t len)
{
    hdr[0] = type;
    hdr[1] = 0;
    tw_bytes_store_be16(hdr + 2, 0);
    tw_bytes_store_be16(hdr + 4, id);
    tw_bytes_store_be16(hdr + 6, seq);
    uint32_t sum = tw_csum_add(tw_csum_add(0, hdr, TW_ICMP_HEADER_LEN), data, len);
    tw_bytes_store_be16(hdr + 2, tw_csum_finish(sum));
}

static void on_echo_request(tw_stack *s, tw_ns now, const tw_net_dgram *d, const tw_icmp_repr *r)
{
    tw_icmp_state *st = &s->icmp;
    st->stats.echo_requests_in++;
    /* RFC 1122 §3.2.2.6: an echo request to a broadcast address MAY be
     * silently discarded; we do, so a ping to .255 is no amplifier. */
    if (d->broadcast) {
        tw_net_rx_drop(s, TW_DROP_ICMP_BROADCAST_ECHO);
        return;
    }
    tw_net_rx_outcome(s, TW_RX_DELIVERED);
    /* RFC 1122 §3.2.2.6: the reply carries the request's identifier,
     * sequence number and data, from the address the request was sent to. */
    uint8_t hdr[TW_ICMP_HEADER_LEN];
    echo_header(hdr, TW_ICMP_ECHO_REPLY, r->echo_id, r->echo_seq, r->data, r->data_len);
    tw_ipv4_out o = {
        .src = d->dst,
        .dst = d->src,
        .protocol = TW_IP_PROTO_ICMP,
        .ttl = s->cfg.ttl,
        .origin = TW_NET_ORIGIN_STACK,
        .head = hdr,
        .head_len = sizeof(hdr),
        .body = r->data,
        .body_len = r->data_len,
    };
    if (tw_ipv4_send(s, now, &o) == 0) {
        st->stats.echo_replies_out++;
    }
}

static void on_echo_reply(tw_stack *s, const tw_net_dgram *d, const tw_icmp_repr *r)
{
    s->icmp.stats.echo_replies_in++;
    tw_net_event ev = {
        .kind = TW_NET_EV_ECHO_REPLY,
        .endpoint = TW_UDP_EP_NONE,
        .iface = d->iface,
        .local_addr = d->dst,
        .remote_addr = d->src,
        .echo_id = r->echo_id,
        .echo_seq = r->echo_seq,
        .payload_len = r->data_len,
    };
    if (tw_net_event_push(s, &ev) < 0) {
        tw_net_rx_outcome(s, TW_RX_DROPPED); /* counted by the push */
        return;
    }
    tw_net_rx_outcome(s, TW_RX_DELIVERED);
}

/* The error codes an application sees (RFC 1122 §3.2.2.1: unreachable
 * codes are passed up; port unreachable means the peer refused). */
static int error_of(uint8_t type, uint8_t code)
{
    if (type == TW_ICMP_TIME_EXCEEDED) {
        return -TW_ETIMEDOUT;
    }
    if (code == TW_ICMP_UNREACH_PORT) {
        return -TW_ECONNREFUSED;
    }
    if (code == TW_ICMP_UNREACH_FRAG_NEEDED) {
        return -TW_ETOOBIG;
    }
    return -TW_EUNREACH;
}

/* An error about a datagram: find which of ours it quotes. RFC 5927 §4.1
 * asks the quote to match a live flow, which for UDP means an open
 * endpoint at the quoted source address and port. */
static void on_error(tw_stack *s, const tw_net_dgram *d, const tw_icmp_repr *r)
{
    tw_icmp_state *st = &s->icmp;
    st->stats.errors_in++;
    tw_ipv4_repr q;
    int err = tw_icmp_quote_parse(r, &q);
    TW_ASSERT(err == 0);
    uint32_t origin = TW_NET_ORIGIN_STACK;
    if (tw_net_is_local(s, q.src) && q.frag_offset == 0) {
        if (q.protocol == TW_IP_PROTO_UDP) {
            uint16_t sport = tw_bytes_load_be16(q.payload);
            uint32_t slot = tw_udp_match(&s->udp, q.src, sport, false);
            origin = slot == TW_UDP_EP_NONE ? origin : tw_udp_id_of(&s->udp, slot);
        } else if (q.protocol == TW_IP_PROTO_ICMP && q.payload[0] == TW_ICMP_ECHO_REQUEST) {
            origin = TW_NET_ORIGIN_ECHO;
        }
    }
    if (origin == TW_NET_ORIGIN_STACK) {
        tw_net_rx_drop(s, TW_DROP_ICMP_UNMATCHED);
        return;
    }
    tw_net_dgram sent = {
        .header = r->data,
        .header_len = (uint16_t)(TW_IPV4_HEADER_LEN + q.options_len),
        .payload = q.payload,
        .payload_len = q.payload_len,
        .src = q.src,
        .dst = q.dst,
        .protocol = q.protocol,
        .iface = d->iface,
        .ref = TW_NET_REF_NONE,
    };
    int told = tw_net_report_error(s, origin, &sent, error_of(r->type, r->code), r->type, r->code,
                                   r->next_hop_mtu, d->src, d->iface);
    if (told == -TW_ENOENT) {
        tw_net_rx_drop(s, TW_DROP_ICMP_UNMATCHED);
    } else {
        tw_net_rx_outcome(s, told == 0 ? TW_RX_DELIVERED : TW_RX_DROPPED);
    }
}

void tw_icmp_input(tw_stack *s, tw_ns now, const tw_net_dgram *d)
{
    tw_icmp_repr r;
    int err = tw_icmp_parse(d->payload, d->payload_len, &r);
    switch (err) {
    case 0:
        break;
    case -TW_ETRUNC:
        tw_net_rx_drop(s, TW_DROP_ICMP_TRUNCATED);
        return;
    case -TW_EBADCSUM:
        tw_net_rx_drop(s, TW_DROP_ICMP_BAD_CHECKSUM);
        return;
    case -TW_ENOTSUP:
        tw_net_rx_drop(s, TW_DROP_ICMP_UNSUPPORTED);
        return;
    default:
        tw_net_rx_drop(s, TW_DROP_ICMP_MALFORMED);
        return;
    }
    switch (r.type) {
    case TW_ICMP_ECHO_REQUEST:
        on_echo_request(s, now, d, &r);
        return;
    case TW_ICMP_ECHO_REPLY:
        on_echo_reply(s, d, &r);
        return;
    default:
        on_error(s, d, &r);
        return;
    }
}

int tw_icmp_send_echo(tw_stack *s, tw_ns now, tw_ipv4_addr dst, uint16_t id, uint16_t seq,
                      const void *data, size_t len)
{
    if (tw_ipv4_addr_is_unspecified(dst) || tw_ipv4_addr_is_multicast(dst) ||
        (len > 0 && data == NULL)) {
        return -TW_EINVAL;
    }
    if (tw_net_is_local(s, dst)) {
        return -TW_ENOTSUP; /* no loopback */
    }
    uint8_t hdr[TW_ICMP_HEADER_LEN];
    echo_header(hdr, TW_ICMP_ECHO_REQUEST, id, seq, data, len);
    tw_ipv4_out o = {
        .dst = dst,
        .protocol = TW_IP_PROTO_ICMP,
        .ttl = s->cfg.ttl,
        .origin = TW_NET_ORIGIN_ECHO,
        .head = hdr,
        .head_len = sizeof(hdr),
        .body = data,
        .body_len = len,
    };
    int err = tw_ipv4_send(s, now, &o);
    if (err == 0) {
        s->icmp.stats.echo_requests_out++;
    }
    return err;
}
