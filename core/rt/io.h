/* The inputs and outputs of the runtime's sans-io state machines (worker and
 * controller). A driver moves tw_input in and tw_output out; that is all a
 * driver does. Frames join these when the network service lands. */
#ifndef TW_RT_IO_H
#define TW_RT_IO_H

#include <stddef.h>

#include "rt/bus.h"
#include "wire/ipv4.h"

typedef enum tw_input_kind {
    TW_IN_MSG = 1, /* a bus message that reached this endpoint */
    TW_IN_FRAME,   /* a frame for the worker's network service */
    TW_IN_NET_CPL, /* kernel network service: a socket operation completed */
} tw_input_kind;

/* ---- the kernel network service -------------------------------------------
 *
 * A worker configured with kernel_net (and no stack) does not run TCP/IP
 * itself: a task's UDP and TCP outputs leave it as requests (TW_OUT_NET_REQ)
 * that a driver performs on kernel sockets, and what the sockets do comes
 * back as completions (TW_IN_NET_CPL) that the worker routes to the owning
 * task as the same TW_TIN_NET events the user-space stack produces.
 *
 * Ids are the worker's: it allocates UDP endpoints (slot | generation << 16),
 * TCP connections (slot | generation << 32) and listeners (slot) from the
 * tables the stack path uses, so a driver indexes its sockets by the slot
 * (id & 0xffff for endpoints, (uint32_t)id for connections) and tells stale
 * ids apart by the rest. Requests for one id are performed in the order
 * they were popped. */
typedef enum tw_net_op {
    TW_NET_UDP_BIND = 1, /* id; addr, port (0: ephemeral); remote, rport: connect it */
    TW_NET_UDP_SEND,     /* id; addr:port the destination; data, len */
    TW_NET_UDP_CLOSE,    /* id; no completion */
    TW_NET_TCP_LISTEN,   /* id (listener slot); addr, port, backlog */
    TW_NET_TCP_UNLISTEN, /* id (listener slot); no completion */
    TW_NET_TCP_ACCEPT,   /* id: the connection for the socket `handle` of an
                          * ACCEPTED completion; id < 0: refused, close it */
    TW_NET_TCP_CONNECT,  /* id; addr:port the remote */
    TW_NET_TCP_SEND,     /* id; data, len: answered by TW_NET_CPL_TCP_SENT */
    TW_NET_TCP_CONSUME,  /* id; len bytes of the last DATA are consumed */
    TW_NET_TCP_CLOSE,    /* id; FIN after the queued data */
    TW_NET_TCP_ABORT,    /* id; RST, the id is dead on return: no completion follows */
    TW_NET_TCP_NODELAY,  /* id; len != 0 turns Nagle off */
} tw_net_op;

typedef struct tw_net_req {
    tw_net_op op;
    uint32_t backlog;
    int64_t id;
    uint64_t handle; /* TCP_ACCEPT: the driver's socket, from the completion */
    uint64_t cookie; /* echoed in the completion */
    tw_ipv4_addr addr;
    tw_ipv4_addr remote;
    uint16_t port;
    uint16_t rport;
    uint32_t pad_;
    const uint8_t *data; /* valid until the next pop: a driver copies it */
    uint64_t len;
} tw_net_req;

typedef enum tw_net_cpl_kind {
    TW_NET_CPL_UDP_BOUND = 1,    /* id; result 0 or -TW_E* */
    TW_NET_CPL_UDP_DATAGRAM,     /* id; addr:port the source, local:lport; data, len */
    TW_NET_CPL_UDP_SEND_FAILED,  /* id; result -TW_E*; cookie */
    TW_NET_CPL_TCP_LISTENING,    /* id (listener slot); result */
    TW_NET_CPL_TCP_ACCEPTED,     /* id (listener slot); handle: the driver's socket */
    TW_NET_CPL_TCP_CONNECTED,    /* id; result 0, or -TW_E* (terminal) */
    TW_NET_CPL_TCP_DATA,         /* id; data, len: readable until consumed */
    TW_NET_CPL_TCP_SENT,         /* id; result the bytes taken or -TW_E*; cookie */
    TW_NET_CPL_TCP_WRITABLE,     /* id; room again after a short send */
    TW_NET_CPL_TCP_PEER_CLOSED,  /* id; the peer's FIN */
    TW_NET_CPL_TCP_CLOSED,       /* id; terminal: both directions closed */
    TW_NET_CPL_TCP_RESET,        /* id; terminal; result -TW_ECONNRESET or other */
} tw_net_cpl_kind;

typedef struct tw_net_cpl {
    tw_net_cpl_kind kind;
    int32_t result;
    int64_t id;
    uint64_t handle;
    uint64_t cookie;
    tw_ipv4_addr addr;
    tw_ipv4_addr local;
    uint16_t port;
    uint16_t lport;
    uint32_t pad_;
    const uint8_t *data; /* valid for the duration of the call */
    uint64_t len;
} tw_net_cpl;

/* Inputs are views: the driver keeps what they point at alive for the
 * duration of the call, and the node copies what it keeps. */
typedef struct tw_input {
    tw_input_kind kind;
    uint32_t iface;        /* TW_IN_FRAME */
    const tw_msg *msg;     /* TW_IN_MSG */
    const tw_net_cpl *cpl; /* TW_IN_NET_CPL */
    const uint8_t *frame;  /* TW_IN_FRAME */
    size_t frame_len;
} tw_input;

typedef enum tw_output_kind {
    TW_OUT_MSG = 1, /* a bus message to route (tw_bus_fanout says where) */
    TW_OUT_FRAME,   /* a frame to transmit on iface; valid until the next pop */
    TW_OUT_NET_REQ, /* kernel network service: a socket operation to perform */
    /* A frame for another core of this host (core), to be received there on
     * iface as if the NIC had steered it there (see tw_frame_out.steer);
     * valid until the next pop. The driver must not steer it by its hash,
     * and one it cannot place is a counted drop. */
    TW_OUT_STEER,
} tw_output_kind;

typedef struct tw_output {
    tw_output_kind kind;
    uint32_t iface;
    uint32_t core; /* TW_OUT_STEER: the target core, 0..ncores-1 on this host */
    const uint8_t *frame;
    size_t frame_len;
    tw_msg msg;
    tw_net_req req; /* TW_OUT_NET_REQ */
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
