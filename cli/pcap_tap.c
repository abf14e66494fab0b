/* Nanosecond pcap files for a simulated world's taps, through libpcap.
 *
 * libpcap writes nanosecond pcap (magic 0xa1b23c4d) when the pcap_t it
 * dumps through was opened with PCAP_TSTAMP_PRECISION_NANO; the packet
 * header's ts.tv_usec then carries nanoseconds (pcap_dump documents the
 * field as "microseconds or nanoseconds, per the handle's precision"). */
/* libpcap's headers use the BSD types (u_char, u_int). */
#define _DEFAULT_SOURCE
#include "cli/pcap_tap.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SNAPLEN 65535

typedef struct tap_file {
    pcap_dumper_t *dumper;
    char *path;
} tap_file;

struct tw_pcap_tap {
    char *dir;
    pcap_t *pcap;    /* a dead handle: link type, snap length and precision */
    tap_file *links; /* [2 * link + dir] */
    uint32_t nlinks;
    tap_file *nics; /* [host * TW_WORLD_IFACES_MAX + iface] */
    uint32_t nnics;
    uint64_t frames;
    int failed;
    char error[256];
};

tw_pcap_tap *tw_pcap_tap_create(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return NULL;
    }
    tw_pcap_tap *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->dir = strdup(dir);
    t->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, SNAPLEN, PCAP_TSTAMP_PRECISION_NANO);
    if (t->dir == NULL || t->pcap == NULL) {
        tw_pcap_tap_close(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

void tw_pcap_tap_hooks(tw_pcap_tap *t, tw_world_taps *taps)
{
    taps->ctx = t;
    taps->link = tw_pcap_tap_link_frame;
    taps->nic = tw_pcap_tap_nic_frame;
}

/* Grows a table of files to hold index i. */
static int reserve(tap_file **files, uint32_t *n, uint32_t i)
{
    if (i < *n) {
        return 0;
    }
    uint32_t m = *n ? *n : 16;
    while (m <= i) {
        m *= 2;
    }
    tap_file *f = realloc(*files, (size_t)m * sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    memset(f + *n, 0, (size_t)(m - *n) * sizeof(*f));
    *files = f;
    *n = m;
    return 0;
}

static int open_file(tw_pcap_tap *t, tap_file *f, const char *name)
{
    if (f->dumper != NULL) {
        return 0;
    }
    size_t n = strlen(t->dir) + strlen(name) + 2;
    f->path = malloc(n);
    if (f->path == NULL) {
        snprintf(t->error, sizeof(t->error), "out of memory");
        return -1;
    }
    snprintf(f->path, n, "%s/%s", t->dir, name);
    f->dumper = pcap_dump_open(t->pcap, f->path);
    if (f->dumper == NULL) {
        snprintf(t->error, sizeof(t->error), "%s: %s", f->path, pcap_geterr(t->pcap));
        free(f->path);
        f->path = NULL;
        return -1;
    }
    return 0;
}

int tw_pcap_tap_link(tw_pcap_tap *t, tw_world *w, uint32_t link, uint32_t dirs)
{
    if (reserve(&t->links, &t->nlinks, 2 * link + 1) < 0) {
        snprintf(t->error, sizeof(t->error), "out of memory");
        return -1;
    }
    for (uint32_t d = 0; d < 2; d++) {
        if (!(dirs & (1u << d))) {
            continue;
        }
        char name[64];
        snprintf(name, sizeof(name), "link%u-%s.pcap", link, d == 0 ? "ab" : "ba");
        if (open_file(t, &t->links[2 * link + d], name) < 0) {
            return -1;
        }
    }
    return tw_world_tap_link(w, link, dirs);
}

int tw_pcap_tap_nic(tw_pcap_tap *t, tw_world *w, uint32_t host, uint32_t iface)
{
    if (iface >= TW_WORLD_IFACES_MAX) {
        return tw_world_tap_nic(w, host, iface); /* its error */
    }
    uint32_t i = host * TW_WORLD_IFACES_MAX + iface;
    if (reserve(&t->nics, &t->nnics, i) < 0) {
        snprintf(t->error, sizeof(t->error), "out of memory");
        return -1;
    }
    char name[64];
    snprintf(name, sizeof(name), "host%u-if%u.pcap", host, iface);
    if (open_file(t, &t->nics[i], name) < 0) {
        return -1;
    }
    return tw_world_tap_nic(w, host, iface);
}

static void dump(tw_pcap_tap *t, tap_file *f, tw_ns time, const uint8_t *frame, size_t len)
{
    if (f->dumper == NULL) {
        return; /* the world's tap was turned on by someone else */
    }
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof(h));
    h.ts.tv_sec = (time_t)(time / 1000000000u);
    h.ts.tv_usec = (suseconds_t)(time % 1000000000u); /* nanoseconds: see the top */
    h.caplen = (bpf_u_int32)(len < SNAPLEN ? len : SNAPLEN);
    h.len = (bpf_u_int32)len;
    pcap_dump((u_char *)f->dumper, &h, frame);
    t->frames++;
}

void tw_pcap_tap_link_frame(void *ctx, tw_ns time, uint32_t link, uint32_t dir,
                            const uint8_t *frame, size_t len)
{
    tw_pcap_tap *t = ctx;
    uint32_t i = 2 * link + dir;
    if (i < t->nlinks) {
        dump(t, &t->links[i], time, frame, len);
    }
}

void tw_pcap_tap_nic_frame(void *ctx, tw_ns time, uint32_t host, uint32_t iface,
                           const uint8_t *frame, size_t len)
{
    tw_pcap_tap *t = ctx;
    uint32_t i = host * TW_WORLD_IFACES_MAX + iface;
    if (iface < TW_WORLD_IFACES_MAX && i < t->nnics) {
        dump(t, &t->nics[i], time, frame, len);
    }
}

const char *tw_pcap_tap_link_path(const tw_pcap_tap *t, uint32_t link, uint32_t dir)
{
    uint32_t i = 2 * link + dir;
    return i < t->nlinks ? t->links[i].path : NULL;
}

const char *tw_pcap_tap_nic_path(const tw_pcap_tap *t, uint32_t host, uint32_t iface)
{
    uint32_t i = host * TW_WORLD_IFACES_MAX + iface;
    return iface < TW_WORLD_IFACES_MAX && i < t->nnics ? t->nics[i].path : NULL;
}

uint64_t tw_pcap_tap_frames(const tw_pcap_tap *t)
{
    return t->frames;
}
const char *tw_pcap_tap_error(const tw_pcap_tap *t)
{
    return t->error;
}

static void close_files(tw_pcap_tap *t, tap_file *files, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (files[i].dumper != NULL) {
            if (pcap_dump_flush(files[i].dumper) != 0) {
                snprintf(t->error, sizeof(t->error), "%s: write failed", files[i].path);
                t->failed = 1;
            }
            pcap_dump_close(files[i].dumper);
        }
        free(files[i].path);
    }
    free(files);
}

int tw_pcap_tap_close(tw_pcap_tap *t)
{
    if (t == NULL) {
        return 0;
    }
    close_files(t, t->links, t->nlinks);
    close_files(t, t->nics, t->nnics);
    if (t->pcap != NULL) {
        pcap_close(t->pcap);
    }
    int rc = t->failed ? -1 : 0;
    free(t->dir);
    free(t);
    return rc;
}
