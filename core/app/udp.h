/* UDP applications as sans-io tasks: an echo server and a load client.
 * The client runs closed loop (a fixed number of requests outstanding, the
 * next sent when an answer comes) or open loop (one request per period,
 * answers or not), stamps each request with its send time and sequence, and
 * keeps a latency histogram; a request unanswered after `timeout_ns` is
 * counted lost and, in closed loop, replaced. */
#ifndef TW_APP_UDP_H
#define TW_APP_UDP_H

#include <stdint.h>

#include "base/time.h"
#include "rt/task.h"
#include "wire/ipv4.h"

extern const tw_task_ops tw_app_udp_echo;
extern const tw_task_ops tw_app_udp_client;

typedef struct tw_udp_echo_args {
    uint16_t port;
    uint16_t flags; /* TW_UDP_ECHO_* */
} tw_udp_echo_args;

enum {
    /* Answer as sockperf's server does, so its client can measure us: a
     * datagram opens with a 14-byte header (sequence, 16-bit flags, length,
     * network order); only those with the pong-request flag are answered,
     * with the client flag cleared; the rest are counted and dropped. */
    TW_UDP_ECHO_SOCKPERF = 1 << 0,
};

#define TW_UDP_CLIENT_WINDOW_MAX 64
#define TW_UDP_PAYLOAD_MAX 1472

typedef struct tw_udp_client_args {
    tw_ipv4_addr server;
    uint16_t port;
    uint16_t size;        /* bytes per request, 16..TW_UDP_PAYLOAD_MAX */
    uint32_t concurrency; /* closed loop: requests outstanding (1..WINDOW_MAX) */
    uint32_t pad_;
    tw_ns period_ns;      /* open loop when > 0: one request per period */
    uint64_t count;       /* requests to send; 0: until stopped */
    tw_ns timeout_ns;     /* a request unanswered this long is lost */
} tw_udp_client_args;

_Static_assert(sizeof(tw_udp_client_args) <= 48, "fits the spawn arguments");

#endif
