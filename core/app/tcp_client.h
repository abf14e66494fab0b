/* A TCP request/response load client: `connections` connections to a TCP
 * echo server (tw_app_tcp_echo), each sending `size`-byte requests closed
 * loop or, with a period, open loop (app/load.h), and waiting for the whole
 * echo before the next. A request's bytes are a function of its connection
 * slot, its sequence number and the offset (tw_app_bulk_byte), so every
 * echoed byte is checked without a copy; latency is first byte offered to
 * TCP -> last byte of the echo. */
#ifndef TW_APP_TCP_CLIENT_H
#define TW_APP_TCP_CLIENT_H

#include <stdint.h>

#include "app/load.h"
#include "rt/task.h"

extern const tw_task_ops tw_app_tcp_client;

#define TW_TCP_CLIENT_SIZE_MAX (16u << 20)

enum {
    TW_TCP_CLIENT_NAGLE = 1 << 0, /* leave Nagle's algorithm on */
};

typedef struct tw_tcp_client_args {
    tw_load_args load; /* server, port, connections, period, count, timeout */
    uint32_t size;     /* bytes per request, 1..TW_TCP_CLIENT_SIZE_MAX */
    uint8_t flags;     /* TW_TCP_CLIENT_* */
    uint8_t pad_[3];
} tw_tcp_client_args;

_Static_assert(sizeof(tw_tcp_client_args) <= 48, "fits the spawn arguments");

/* Metrics: the engine's (tw_load_report: requests, responses, bytes_sent,
 * bytes_received, errors, timeouts, resets, malformed (echo bytes past the
 * request), ..., latency, latency_corrected) and mismatches (requests whose
 * echo differed). */

#endif
