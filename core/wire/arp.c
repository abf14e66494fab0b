#include "wire/arp.h"

#include "base/assert.h"
#include "base/error.h"

int tw_arp_view_check(const uint8_t *buf, size_t len)
{
    if (len < TW_ARP_LEN) {
        return -TW_ETRUNC;
    }
    size_t declared = TW_ARP_FIXED_LEN + 2 * ((size_t)tw_arp_hlen(buf) + tw_arp_plen(buf));
    if (declared > len) {
        return -TW_ETRUNC;
    }
    return 0;
}

int tw_arp_parse(const uint8_t *buf, size_t len, tw_arp_repr *out)
{
    int err = tw_arp_view_check(buf, len);
    if (err < 0) {
        return err;
    }
    if (tw_arp_htype(buf) != TW_ARP_HTYPE_ETHERNET || tw_arp_ptype(buf) != TW_ETHERTYPE_IPV4) {
        return -TW_ENOTSUP;
    }
    if (tw_arp_hlen(buf) != TW_MAC_LEN || tw_arp_plen(buf) != 4) {
        return -TW_EMALFORMED; /* RFC 826: the lengths are fixed by the types */
    }
    uint16_t op = tw_arp_op(buf);
    if (op != TW_ARP_OP_REQUEST && op != TW_ARP_OP_REPLY) {
        return -TW_ENOTSUP;
    }
    out->op = op;
    out->sha = tw_arp_sha(buf);
    out->spa = tw_arp_spa(buf);
    out->tha = tw_arp_tha(buf);
    out->tpa = tw_arp_tpa(buf);
    if (tw_mac_is_multicast(out->sha)) {
        return -TW_EMALFORMED;
    }
    return 0;
}

void tw_arp_emit(const tw_arp_repr *r, uint8_t *buf)
{
    TW_ASSERT(r->op == TW_ARP_OP_REQUEST || r->op == TW_ARP_OP_REPLY);
    TW_ASSERT(!tw_mac_is_multicast(r->sha));
    tw_bytes_store_be16(buf, TW_ARP_HTYPE_ETHERNET);
    tw_bytes_store_be16(buf + 2, TW_ETHERTYPE_IPV4);
    buf[4] = TW_MAC_LEN;
    buf[5] = 4;
    tw_bytes_store_be16(buf + 6, r->op);
    tw_mac_store(buf + 8, r->sha);
    tw_ipv4_addr_store(buf + 14, r->spa);
    tw_mac_store(buf + 18, r->tha);
    tw_ipv4_addr_store(buf + 24, r->tpa);
}
