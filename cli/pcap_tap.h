/* Nanosecond pcap captures of a simulated world: the driver side of the
 * world's tap hooks (sim/world.h). sim/ does no I/O; this writes one file
 * per tapped link direction or NIC through libpcap, with the simulated
 * time of each frame as its timestamp (nanosecond pcap, so
 * `tshark -r F -T fields -e frame.time_epoch` reads the simulated time to
 * the nanosecond; simulated time 0 is the epoch).
 *
 * Files, under the directory given at create:
 *   link<L>-ab.pcap, link<L>-ba.pcap   frames a link direction accepted
 *   host<H>-if<I>.pcap                  frames a host's NIC received
 *
 * Use: create the tap, put its hooks in the world configuration
 * (tw_pcap_tap_hooks) before tw_world_create, then enable taps through it
 * (tw_pcap_tap_link, tw_pcap_tap_nic: each opens its files and turns the
 * world's tap on) before tw_world_start, run, and close. */
#ifndef TW_CLI_PCAP_TAP_H
#define TW_CLI_PCAP_TAP_H

#include <stddef.h>
#include <stdint.h>

#include "sim/world.h"

typedef struct tw_pcap_tap tw_pcap_tap;

/* NULL when the directory cannot be used (the reason is in errno). */
tw_pcap_tap *tw_pcap_tap_create(const char *dir);
/* Fills in the world's tap hooks with this tap's. */
void tw_pcap_tap_hooks(tw_pcap_tap *t, tw_world_taps *taps);
/* Opens the files and enables the world's taps. 0, -1 when a file cannot
 * be opened (tw_pcap_tap_error says why), or the world's error. */
int tw_pcap_tap_link(tw_pcap_tap *t, tw_world *w, uint32_t link, uint32_t dirs);
int tw_pcap_tap_nic(tw_pcap_tap *t, tw_world *w, uint32_t host, uint32_t iface);

/* The hooks themselves, for a driver that wraps them (ctx is the tap). */
void tw_pcap_tap_link_frame(void *ctx, tw_ns time, uint32_t link, uint32_t dir,
                            const uint8_t *frame, size_t len);
void tw_pcap_tap_nic_frame(void *ctx, tw_ns time, uint32_t host, uint32_t iface,
                           const uint8_t *frame, size_t len);

/* The path of a tap's file (for reports), or NULL when it is not open. */
const char *tw_pcap_tap_link_path(const tw_pcap_tap *t, uint32_t link, uint32_t dir);
const char *tw_pcap_tap_nic_path(const tw_pcap_tap *t, uint32_t host, uint32_t iface);
uint64_t tw_pcap_tap_frames(const tw_pcap_tap *t);
const char *tw_pcap_tap_error(const tw_pcap_tap *t);

/* Flushes and closes every file and frees the tap. 0, or -1 when a write
 * or a close failed. */
int tw_pcap_tap_close(tw_pcap_tap *t);

#endif
