#include "net/iface.h"

#include <string.h>

#include "base/error.h"

int tw_iface_init(tw_iface *ifc, const tw_iface_config *cfg)
{
    uint16_t mtu = cfg->mtu ? cfg->mtu : TW_IFACE_MTU_DEFAULT;
    if (tw_mac_is_multicast(cfg->mac) || tw_mac_is_zero(cfg->mac)) {
        return -TW_EINVAL;
    }
    if (cfg->prefix_len < 1 || cfg->prefix_len > 32 || mtu < TW_IFACE_MTU_MIN) {
        return -TW_EINVAL;
    }
    tw_ipv4_addr a = cfg->addr;
    if (tw_ipv4_addr_is_unspecified(a) || tw_ipv4_addr_is_broadcast(a) ||
        tw_ipv4_addr_is_multicast(a) || tw_ipv4_addr_is_loopback(a)) {
        return -TW_EINVAL;
    }
    memset(ifc, 0, sizeof(*ifc));
    ifc->mac = cfg->mac;
    ifc->addr = a;
    ifc->prefix_len = cfg->prefix_len;
    ifc->mtu = mtu;
    ifc->up = false;
    /* The subnet's own address and its broadcast address are nobody's
     * (RFC 1122 §3.2.1.3: host number 0 and -1), except on /31 and /32. */
    tw_ipv4_addr host = a & ~tw_ipv4_prefix_mask(cfg->prefix_len);
    if (cfg->prefix_len < 31 && (host == 0 || a == tw_iface_bcast(ifc))) {
        return -TW_EINVAL;
    }
    return 0;
}
