/* The inputs and outputs of the runtime's sans-io state machines (worker and
 * controller). A driver moves tw_input in and tw_output out; that is all a
 * driver does. Frames join these when the network service lands. */
#ifndef TW_RT_IO_H
#define TW_RT_IO_H

#include <stddef.h>

#include "rt/bus.h"

typedef enum tw_input_kind {
    TW_IN_MSG = 1, /* a bus message that reached this endpoint */
    TW_IN_FRAME,   /* a frame for the worker's network service */
} tw_input_kind;

/* Inputs are views: the driver keeps what they point at alive for the
 * duration of the call, and the node copies what it keeps. */
typedef struct tw_input {
    tw_input_kind kind;
    uint32_t iface;        /* TW_IN_FRAME */
    const tw_msg *msg;     /* TW_IN_MSG */
    const uint8_t *frame;  /* TW_IN_FRAME */
    size_t frame_len;
} tw_input;

typedef enum tw_output_kind {
    TW_OUT_MSG = 1, /* a bus message to route (tw_bus_fanout says where) */
    TW_OUT_FRAME,   /* a frame to transmit on iface; valid until the next pop */
} tw_output_kind;

typedef struct tw_output {
    tw_output_kind kind;
    uint32_t iface;
    const uint8_t *frame;
    size_t frame_len;
    tw_msg msg;
} tw_output;

/* The controller's spawn request and the worker's answer, carried in
 * tw_msg.data; tw_msg.tag is the request id. */
#define TW_SPAWN_ARGS_MAX 48
typedef struct tw_spawn_req {
    uint32_t type;
    uint32_t group;
    uint32_t args_len;
    uint32_t pad_;
    uint8_t args[TW_SPAWN_ARGS_MAX];
} tw_spawn_req;

typedef struct tw_spawn_ack {
    int32_t status; /* 0 or -TW_E* */
    tw_addr addr;
    uint32_t type;
    uint32_t group;
} tw_spawn_ack;

/* A worker's status report (TW_MSG_STATUS). The driver fills the fields it
 * alone can measure (busy time, queue depth and drops) through
 * tw_worker_driver_stats(). */
typedef struct tw_worker_status {
    uint64_t inputs;
    uint64_t outputs;
    uint64_t timers_fired;
    uint64_t busy_ns;
    uint64_t drops;       /* messages no task could take, subscriptions refused */
    uint64_t queue_drops; /* inbound messages refused by a full queue */
    uint32_t tasks;
    uint32_t timers_armed;
    uint32_t queue_depth;
    uint32_t queue_high;
} tw_worker_status;

_Static_assert(sizeof(tw_spawn_req) <= TW_MSG_DATA_MAX, "spawn request fits a message");
_Static_assert(sizeof(tw_worker_status) <= TW_MSG_DATA_MAX, "status fits a message");

#endif
