/* Initial sequence numbers and timestamp offsets.
 *
 * Reading list:
 *   RFC 6528 §3  ISN = M + F(localip, localport, remoteip, remoteport,
 *                secretkey), M a 4-microsecond timer, F a keyed PRF
 *                (SipHash-2-4 here, base/siphash.h)
 *   RFC 9293 §3.4.1  the ISN clock and why ISNs must not repeat quickly
 *   RFC 7323 §5.4  a per-connection random offset for TSval, so that
 *                timestamps reveal no host-wide clock; per 4-tuple (not per
 *                connection) here so that a new incarnation of a tuple
 *                continues above the old one (RFC 6191 reuse depends on it)
 *
 * The key comes from the configured seed (tw_tcp_create), never from a
 * clock or an OS source: a simulated run must be reproducible, and a live
 * driver that wants secrecy passes a random seed. */
#include "net/tcp/tcb.h"

/* The 4-tuple and a domain tag in a fixed byte order, so F does not depend
 * on struct layout or host endianness. */
static uint64_t tuple_prf(const tw_tcp *tcp, uint8_t domain, tw_ipv4_addr laddr, uint16_t lport,
                          tw_ipv4_addr raddr, uint16_t rport)
{
    uint8_t m[13];
    tw_ipv4_addr_store(m, laddr);
    tw_bytes_store_be16(m + 4, lport);
    tw_ipv4_addr_store(m + 6, raddr);
    tw_bytes_store_be16(m + 10, rport);
    m[12] = domain;
    return tw_siphash24(&tcp->key, m, sizeof(m));
}

uint32_t tcp_isn(const tw_tcp *tcp, tw_ns now, tw_ipv4_addr laddr, uint16_t lport,
                 tw_ipv4_addr raddr, uint16_t rport)
{
    /* RFC 6528 §3: M, the 4 us timer, plus F. */
    uint32_t m = (uint32_t)(now / TW_US(4));
    return m + (uint32_t)tuple_prf(tcp, 'i', laddr, lport, raddr, rport);
}

uint32_t tcp_ts_offset(const tw_tcp *tcp, tw_ipv4_addr laddr, uint16_t lport, tw_ipv4_addr raddr,
                       uint16_t rport)
{
    return (uint32_t)tuple_prf(tcp, 't', laddr, lport, raddr, rport);
}
