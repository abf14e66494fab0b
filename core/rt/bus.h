/* The bus: messages between tasks, workers and the controller.
 *
 * Everything that crosses a worker boundary is a tw_msg: application
 * messages between tasks, and the controller's commands and the workers'
 * status reports (system types below TW_MSG_APP). Addressing is
 * share-nothing: a direct message names one endpoint; a group broadcast or
 * a publication goes to every worker endpoint, and each worker delivers it
 * to its own member or subscriber tasks from its own tables, so no table
 * is shared between cores.
 *
 * Queues are bounded mailboxes; a push into a full one fails with
 * -TW_EFULL and is counted, never silently lost. */
#ifndef TW_RT_BUS_H
#define TW_RT_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/ring.h"

/* A task address: endpoint (16 bits) | slot generation (16) | slot (32).
 * Endpoints are workers across every host of a world, so a thousand hosts
 * fit; the generation makes an address kept after its task exited stale
 * for 65536 reuses of the slot. */
typedef uint64_t tw_addr;

#define TW_ADDR_NONE UINT64_MAX
#define TW_ENDPOINT_CONTROLLER 0xffffu
/* Workers 0..32766: a worker address then stays positive as an int64_t,
 * which tw_worker_spawn returns alongside negative errors. */
#define TW_ENDPOINTS_MAX 0x7fffu
#define TW_TASK_SLOTS_MAX 0xfffffffeu
/* The slot of an address that names an endpoint itself, not a task. */
#define TW_SLOT_ENDPOINT UINT32_MAX

static inline tw_addr tw_addr_make(uint32_t endpoint, uint32_t gen, uint32_t slot)
{
    return ((uint64_t)(endpoint & 0xffffu) << 48) | ((uint64_t)(gen & 0xffffu) << 32) | slot;
}
static inline uint32_t tw_addr_endpoint(tw_addr a) { return (uint32_t)(a >> 48); }
static inline uint32_t tw_addr_gen(tw_addr a) { return (uint32_t)(a >> 32) & 0xffffu; }
static inline uint32_t tw_addr_slot(tw_addr a) { return (uint32_t)a; }
/* The controller's own address (it is not a task but can be messaged). */
#define TW_ADDR_CONTROLLER ((tw_addr)TW_ENDPOINT_CONTROLLER << 48)

typedef enum tw_msg_mode {
    TW_MSG_DIRECT = 0, /* to `target` */
    TW_MSG_GROUP = 1,  /* to every task whose group is `target` */
    TW_MSG_PUBLISH = 2 /* to every task subscribed to channel `target` */
} tw_msg_mode;

/* System message types; application types start at TW_MSG_APP. */
enum {
    TW_MSG_SPAWN = 1,      /* controller -> worker: start a task */
    TW_MSG_SPAWNED,        /* worker -> controller: the task's address, or an error */
    TW_MSG_KILL,           /* controller -> worker: stop the task at `target` */
    TW_MSG_STATUS_REQ,     /* controller -> worker */
    TW_MSG_STATUS,         /* worker -> controller: tw_worker_status */
    TW_MSG_EXITED,         /* worker -> controller: a task exited */
    TW_MSG_WORLD,          /* driver -> controller: news of a simulated world (sim/world.h) */
    TW_MSG_APP = 0x100
};

#define TW_MSG_DATA_MAX 64

typedef struct tw_msg {
    uint8_t mode;        /* tw_msg_mode */
    uint8_t pad_[3];
    uint32_t type;       /* TW_MSG_* */
    tw_addr source;
    uint64_t target;     /* address, group or channel, by mode */
    uint32_t len;        /* bytes of data used */
    uint32_t pad2_;
    uint64_t tag;        /* free for the sender: request ids, sequence numbers */
    uint8_t data[TW_MSG_DATA_MAX];
} tw_msg;

/* Which endpoints receive msg, as a range: a direct message its target's
 * endpoint (*first, count 1); a group or publish message every worker
 * endpoint (*first = 0, count = workers). Returns the count. */
uint32_t tw_bus_fanout(const tw_msg *msg, uint32_t workers, uint32_t *first);

/* A bounded FIFO of messages for one endpoint. */
typedef struct tw_mailbox {
    tw_ring ring;
    uint64_t drops; /* messages refused because the mailbox was full */
} tw_mailbox;

void tw_mailbox_init(tw_mailbox *mb, uint32_t capacity);
void tw_mailbox_free(tw_mailbox *mb);
/* 0, or -TW_EFULL (counted) when the mailbox is full. */
int tw_mailbox_push(tw_mailbox *mb, const tw_msg *msg);
bool tw_mailbox_pop(tw_mailbox *mb, tw_msg *out);
static inline uint32_t tw_mailbox_len(const tw_mailbox *mb) { return tw_ring_len(&mb->ring); }

/* A single-threaded bus: one mailbox per endpoint (workers, then the
 * controller), with fan-out. The simulator delivers through per-endpoint
 * mailboxes of its own (messages travel with a latency first); tests and
 * simple drivers use this directly. */
typedef struct tw_bus {
    uint32_t workers;
    tw_mailbox *boxes; /* workers + 1; the last is the controller's */
    uint64_t sent;
    uint64_t delivered;
    uint64_t refused; /* endpoint deliveries refused by a full mailbox */
} tw_bus;

void tw_bus_init(tw_bus *bus, uint32_t workers, uint32_t capacity);
void tw_bus_free(tw_bus *bus);
/* Delivers msg to every endpoint of its fan-out. Returns the number of
 * endpoints that took it, or -TW_EFULL when at least one refused it (the
 * others still took it; each refusal is counted on its mailbox). */
int tw_bus_send(tw_bus *bus, const tw_msg *msg);
/* Pops the next message for endpoint ep (a worker id, or
 * TW_ENDPOINT_CONTROLLER). */
bool tw_bus_recv(tw_bus *bus, uint32_t ep, tw_msg *out);
tw_mailbox *tw_bus_mailbox(tw_bus *bus, uint32_t ep);

#endif
