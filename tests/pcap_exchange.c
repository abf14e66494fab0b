/* Writes the frames of a back-to-back exchange between two stacks to a
 * nanosecond pcap, for Wireshark to judge (pytest/test_pcap.py runs this
 * and reads the file with tshark): gratuitous ARP, resolution, pings small
 * and fragmented, UDP small and fragmented both ways, and a port
 * unreachable. Every frame either stack sends is captured once, with the
 * simulated time it crossed the link.
 *
 *   pcap_exchange OUT.pcap
 *
 * Prints what it wrote as `key=value` lines and exits 0, or 1 when the
 * exchange did not go as it should (a missing reply or datagram), 2 on
 * usage or I/O errors. */
/* libpcap's headers use the BSD u_int family, which strict C11 hides. */
#define _DEFAULT_SOURCE
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

#include "net_harness.h"

#define A_ADDR TW_IPV4_ADDR(10, 7, 0, 1)
#define B_ADDR TW_IPV4_ADDR(10, 7, 0, 2)

typedef struct capture {
    pcap_dumper_t *dumper;
    uint64_t frames;
} capture;

static void tap(void *ctx, tw_ns now, uint32_t host, uint32_t iface, const uint8_t *frame,
                size_t len)
{
    (void)host;
    (void)iface;
    capture *c = ctx;
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof(h));
    /* With nanosecond precision the "usec" field carries nanoseconds. */
    h.ts.tv_sec = (time_t)(now / TW_SEC(1));
    h.ts.tv_usec = (suseconds_t)(now % TW_SEC(1));
    h.caplen = (bpf_u_int32)len;
    h.len = (bpf_u_int32)len;
    pcap_dump((u_char *)c->dumper, &h, frame);
    c->frames++;
}

static int failures;

static void expect(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "pcap_exchange: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pcap_exchange OUT.pcap\n");
        return 2;
    }
    pcap_t *dead =
        pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    if (dead == NULL) {
        fprintf(stderr, "pcap_exchange: pcap_open_dead failed\n");
        return 2;
    }
    capture cap = {.dumper = pcap_dump_open(dead, argv[1])};
    if (cap.dumper == NULL) {
        fprintf(stderr, "pcap_exchange: %s: %s\n", argv[1], pcap_geterr(dead));
        return 2;
    }

    /* Start at a round date so the capture reads well: 2024-01-01. */
    net_world *w = net_world_new(TW_SEC(1704067200), TW_US(5));
    w->tap = tap;
    w->tap_ctx = &cap;
    net_host_add(w, NULL);
    net_host_add(w, NULL);
    net_iface_add(w, 0, A_ADDR, 24, 0);
    net_iface_add(w, 1, B_ADDR, 24, 0);
    net_link_add(w, 0, 0, 1, 0);
    net_settle(w); /* the two announcements */
    tw_stack *a = w->hosts[0].s, *b = w->hosts[1].s;

    /* Three pings of 56 bytes (the first resolves B), one of 4000. */
    static uint8_t data[4000];
    net_fill(data, sizeof(data), 0x10);
    for (uint16_t seq = 1; seq <= 3; seq++) {
        expect(tw_stack_ping(a, w->now, B_ADDR, 0x7477, seq, data, 56) == 0, "ping");
        net_advance(w, TW_MS(1));
    }
    expect(tw_stack_ping(a, w->now, B_ADDR, 0x7477, 4, data, sizeof(data)) == 0, "big ping");
    net_advance(w, TW_MS(1));
    expect(net_event_count(w, 0, TW_NET_EV_ECHO_REPLY) == 4, "four echo replies");

    /* UDP: an echo service on B answers what A sends, small and large. */
    int ea = tw_stack_udp_bind(a, 0, 40000);
    int eb = tw_stack_udp_bind(b, 0, 7);
    expect(ea >= 0 && eb >= 0, "bind");
    static const size_t sizes[] = {11, 512, 3000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        expect(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 7, data, sizes[i]) == 0,
               "udp send");
        net_settle(w);
        const tw_net_event *ev = net_event(w, 1, TW_NET_EV_UDP_DATAGRAM, (uint32_t)i);
        expect(ev != NULL && ev->payload_len == sizes[i], "udp at B");
        if (ev != NULL) {
            expect(tw_stack_udp_send(b, w->now, (uint32_t)eb, ev->remote_addr, ev->remote_port,
                                     ev->payload, ev->payload_len) == 0,
                   "udp echo");
        }
        net_advance(w, TW_MS(1));
    }
    expect(net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM) == 3, "three echoes at A");

    /* A closed port: B answers with port unreachable, A gets the error. */
    expect(tw_stack_udp_send(a, w->now, (uint32_t)ea, B_ADDR, 9, "discard?", 8) == 0, "closed");
    net_advance(w, TW_MS(1));
    expect(net_event_count(w, 0, TW_NET_EV_UDP_ERROR) == 1, "port unreachable event");

    tw_stack_stats sa, sb;
    tw_stack_stats_get(a, &sa);
    tw_stack_stats_get(b, &sb);
    printf("frames=%llu\n", (unsigned long long)cap.frames);
    printf("arp=%llu\n", (unsigned long long)(sa.arp->requests_sent + sa.arp->replies_sent +
                                              sa.arp->announcements_sent + sb.arp->requests_sent +
                                              sb.arp->replies_sent + sb.arp->announcements_sent));
    printf("fragments=%llu\n", (unsigned long long)(sa.fragments_out + sb.fragments_out));
    printf("echo_replies=%u\n", net_event_count(w, 0, TW_NET_EV_ECHO_REPLY));
    printf("udp_echoes=%u\n", net_event_count(w, 0, TW_NET_EV_UDP_DATAGRAM));
    printf("drops=%llu\n", (unsigned long long)(tw_drop_total(tw_stack_iface_counters(a, 0)) +
                                                tw_drop_total(tw_stack_iface_counters(b, 0))));
    expect(net_accounts_balance(w), "accounts balance");

    net_world_free(w);
    pcap_dump_close(cap.dumper);
    pcap_close(dead);
    return failures ? 1 : 0;
}
