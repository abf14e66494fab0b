#include "wire/ethernet.h"

#include "base/assert.h"
#include "base/error.h"

tw_mac tw_mac_from_id(uint64_t id)
{
    /* 0x02: locally administered (bit 1), unicast (bit 0 clear). */
    tw_mac m = {{0x02, (uint8_t)(id >> 32), (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                 (uint8_t)(id >> 8), (uint8_t)id}};
    return m;
}

void tw_mac_format(tw_mac m, char out[TW_MAC_STRLEN])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < TW_MAC_LEN; i++) {
        out[3 * i] = hex[m.b[i] >> 4];
        out[3 * i + 1] = hex[m.b[i] & 15];
        out[3 * i + 2] = i + 1 < TW_MAC_LEN ? ':' : '\0';
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int tw_mac_parse(const char *s, tw_mac *out)
{
    tw_mac m;
    for (int i = 0; i < TW_MAC_LEN; i++) {
        int hi = hex_digit(s[0]);
        int lo = hi < 0 ? -1 : hex_digit(s[1]);
        if (lo < 0) {
            return -TW_EINVAL;
        }
        m.b[i] = (uint8_t)(hi << 4 | lo);
        char sep = s[2];
        if (sep != (i + 1 < TW_MAC_LEN ? ':' : '\0')) {
            return -TW_EINVAL;
        }
        s += 3;
    }
    *out = m;
    return 0;
}

int tw_eth_view_check(const uint8_t *buf, size_t len)
{
    if (len < TW_ETH_HEADER_LEN) {
        return -TW_ETRUNC;
    }
    if (tw_eth_has_vlan(buf) && len < TW_ETH_VLAN_HEADER_LEN) {
        return -TW_ETRUNC;
    }
    return 0;
}

int tw_eth_parse(const uint8_t *buf, size_t len, tw_eth_repr *out)
{
    int err = tw_eth_view_check(buf, len);
    if (err < 0) {
        return err;
    }
    out->dst = tw_eth_dst(buf);
    out->src = tw_eth_src(buf);
    out->has_vlan = tw_eth_has_vlan(buf);
    out->vlan_tci = out->has_vlan ? tw_eth_vlan_tci(buf) : 0;
    out->ethertype = tw_eth_ethertype(buf);
    if (out->ethertype < TW_ETHERTYPE_MIN) {
        return -TW_ENOTSUP; /* IEEE 802.3 §3.2.6: a length, not a type */
    }
    if (out->has_vlan && out->ethertype == TW_ETHERTYPE_VLAN) {
        return -TW_ENOTSUP; /* stacked tags (Q-in-Q) */
    }
    if (out->has_vlan && tw_vlan_id(out->vlan_tci) == TW_VLAN_ID_RESERVED) {
        return -TW_EMALFORMED;
    }
    size_t header_len = tw_eth_header_len(buf);
    out->payload = buf + header_len;
    out->payload_len = len - header_len;
    return 0;
}

void tw_eth_emit(const tw_eth_repr *r, uint8_t *buf)
{
    TW_ASSERT(r->ethertype >= TW_ETHERTYPE_MIN);
    TW_ASSERT(r->ethertype != TW_ETHERTYPE_VLAN);
    tw_mac_store(buf, r->dst);
    tw_mac_store(buf + 6, r->src);
    uint8_t *type = buf + 12;
    if (r->has_vlan) {
        TW_ASSERT(tw_vlan_id(r->vlan_tci) != TW_VLAN_ID_RESERVED);
        tw_bytes_store_be16(buf + 12, TW_ETHERTYPE_VLAN);
        tw_bytes_store_be16(buf + 14, r->vlan_tci);
        type = buf + 16;
    }
    tw_bytes_store_be16(type, r->ethertype);
}
