/* A small world with captures on: a switch, three hosts exchanging UDP and
 * ping, every link direction and NIC tapped. Writes the pcap files into
 * the directory given as argv[1], and beside them expect.txt, one line per
 * captured frame in capture order: "<file> <time_ns> <len>", the simulated
 * time each frame must carry. pytest/test_world_pcap.py runs it and reads
 * the files back with tshark. Not a meson test itself.
 *
 * Usage: world_pcap DIR [SEED [corrupt]]
 * With `corrupt`, host 0's link to the switch flips a bit in one frame of
 * four, so that a checker can show it finds damage where there is some. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/pcap_tap.h"
#include "world_harness.h"

typedef struct capture {
    tw_pcap_tap *tap;
    FILE *expect;
    uint64_t frames;
} capture;

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void link_frame(void *ctx, tw_ns time, uint32_t link, uint32_t dir, const uint8_t *frame,
                       size_t len)
{
    capture *c = ctx;
    const char *path = tw_pcap_tap_link_path(c->tap, link, dir);
    if (path != NULL) {
        fprintf(c->expect, "%s %" PRIu64 " %zu\n", base(path), time, len);
        c->frames++;
    }
    tw_pcap_tap_link_frame(c->tap, time, link, dir, frame, len);
}

static void nic_frame(void *ctx, tw_ns time, uint32_t host, uint32_t iface, const uint8_t *frame,
                      size_t len)
{
    capture *c = ctx;
    const char *path = tw_pcap_tap_nic_path(c->tap, host, iface);
    if (path != NULL) {
        fprintf(c->expect, "%s %" PRIu64 " %zu\n", base(path), time, len);
        c->frames++;
    }
    tw_pcap_tap_nic_frame(c->tap, time, host, iface, frame, len);
}

static void spawn_or_die(tw_world *w, uint32_t worker, uint32_t type, const void *args,
                         uint32_t len)
{
    if (tw_world_spawn(w, worker, type, 0, args, len) <= 0) {
        fprintf(stderr, "world_pcap: spawn failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: world_pcap DIR [SEED [corrupt]]\n");
        return 2;
    }
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    bool corrupt = argc > 3 && strcmp(argv[3], "corrupt") == 0;
    capture c = {0};
    c.tap = tw_pcap_tap_create(argv[1]);
    if (c.tap == NULL) {
        perror(argv[1]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/expect.txt", argv[1]);
    c.expect = fopen(path, "w");
    if (c.expect == NULL) {
        perror(path);
        return 2;
    }

    tw_world_config cfg;
    wt_world_config(&cfg, seed);
    cfg.taps = (tw_world_taps){.ctx = &c, .link = link_frame, .nic = nic_frame};
    tw_world *w = tw_world_create(&cfg);
    tw_world_switch_config sc;
    tw_world_switch_config_default(&sc);
    sc.ports = 4;
    tw_world_switch_add(w, &sc);
    tw_link_config lc = tw_link_config_default();
    lc.bandwidth_bps = 100000000ull; /* 100 Mbps */
    lc.delay_ns = TW_US(25);
    lc.jitter_ns = TW_NS(777); /* times that are not round */
    lc.pool_frames = 128;
    tw_link_config damaged = lc;
    damaged.corrupt = TW_RATIO(1, 4);
    for (uint32_t i = 0; i < 3; i++) {
        wt_host_add(w, i, i == 1 ? 2 : 1);
        tw_world_link_add(w, tw_world_host_end(i, 0), tw_world_switch_end(0, i),
                          corrupt && i == 0 ? &damaged : &lc, &lc);
        if (tw_pcap_tap_link(c.tap, w, i, TW_WORLD_DIR_BOTH) < 0 ||
            tw_pcap_tap_nic(c.tap, w, i, 0) < 0) {
            fprintf(stderr, "world_pcap: %s\n", tw_pcap_tap_error(c.tap));
            return 1;
        }
    }
    if (tw_world_start(w) < 0) {
        fprintf(stderr, "world_pcap: the world did not build\n");
        return 1;
    }
    /* Sinks on both of host 1's cores (RSS decides which gets a flow),
     * senders on hosts 0 and 2, from a second past the start. */
    for (uint32_t core = 0; core < 2; core++) {
        spawn_or_die(w, tw_world_host_core(w, 1, core), WT_SINK, NULL, 0);
    }
    for (uint32_t i = 0; i < 3; i += 2) {
        wt_sender_args a = {.dst = wt_addr(1),
                            .port = WT_SINK_PORT,
                            .size = 100 + 300 * i,
                            .count = 20,
                            .start_ns = TW_SEC(1) + TW_US(500) * (i + 1),
                            .interval_ns = TW_NS(1234567)};
        spawn_or_die(w, tw_world_host_core(w, i, 0), WT_SENDER, &a, sizeof(a));
    }
    /* Pings from host 0 to host 2, one every 3 ms. */
    for (uint16_t seq = 1; seq <= 10; seq++) {
        tw_world_run_until(w, TW_SEC(1) + seq * TW_MS(3) + 123);
        if (tw_world_ping(w, 0, 0, wt_addr(2), 0x7777, seq, 56) < 0) {
            fprintf(stderr, "world_pcap: ping %u refused\n", seq);
            return 1;
        }
    }
    tw_world_run_until(w, TW_SEC(2));

    tw_stack_stats st;
    tw_stack_stats_get(tw_world_stack(w, 0, 0), &st);
    uint64_t received = 0;
    for (uint32_t core = 0; core < 2; core++) {
        wt_sink *k = wt_task_state(w, tw_world_host_core(w, 1, core), 0);
        received += k ? k->received : 0;
    }
    printf("frames %" PRIu64 " received %" PRIu64 " echo_replies %" PRIu64 " hash %016" PRIx64 "\n",
           c.frames, received, st.icmp->echo_replies_in, tw_world_trace_hash(w));
    tw_world_destroy(w);
    int rc = fclose(c.expect) == 0 ? 0 : 1;
    if (tw_pcap_tap_close(c.tap) < 0) {
        rc = 1;
    }
    return rc;
}
