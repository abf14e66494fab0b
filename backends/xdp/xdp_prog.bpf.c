/* The XDP program of the xdp backend: redirects to the AF_XDP socket of the
 * receive queue only what is the scenario's, and passes everything else to
 * the kernel. The scenario's traffic on a twin host's veth is what is sent
 * to the host's own MAC (the world builder gives the veth the scenario's
 * MAC) and the broadcasts that may be looking for it (ARP requests); the
 * rest (multicast, frames for other MACs) is none of twin's business.
 *
 * Compiled by meson with `clang -target bpf` and embedded in twin; the MAC
 * is written into tw_mac by the device after loading. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

/* The host interface's MAC in the low six bytes (byte 0 first). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} tw_mac SEC(".maps");

SEC("xdp")
int tw_xdp_steer(struct xdp_md *ctx)
{
    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *end = (const __u8 *)(long)ctx->data_end;
    if (data + ETH_HLEN > end) {
        return XDP_PASS;
    }
    __u32 zero = 0;
    const __u64 *mac = bpf_map_lookup_elem(&tw_mac, &zero);
    if (mac == 0) {
        return XDP_PASS;
    }
    int ours = 1, bcast = 1;
    for (int i = 0; i < ETH_ALEN; i++) {
        ours &= data[i] == (__u8)(*mac >> (8 * i));
        bcast &= data[i] == 0xff;
    }
    if (!ours && !bcast) {
        return XDP_PASS;
    }
    return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
