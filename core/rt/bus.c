#include "rt/bus.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/mem.h"

uint32_t tw_bus_fanout(const tw_msg *msg, uint32_t workers, uint32_t *first)
{
    TW_ASSERT(workers <= TW_ENDPOINTS_MAX);
    if (msg->mode == TW_MSG_DIRECT) {
        uint32_t ep = tw_addr_endpoint(msg->target);
        TW_ASSERT(ep == TW_ENDPOINT_CONTROLLER || ep < workers);
        *first = ep;
        return 1;
    }
    TW_ASSERT(msg->mode == TW_MSG_GROUP || msg->mode == TW_MSG_PUBLISH);
    *first = 0;
    return workers;
}

void tw_mailbox_init(tw_mailbox *mb, uint32_t capacity)
{
    memset(mb, 0, sizeof(*mb));
    tw_ring_init(&mb->ring, capacity, sizeof(tw_msg));
}

void tw_mailbox_free(tw_mailbox *mb) { tw_ring_free(&mb->ring); }

int tw_mailbox_push(tw_mailbox *mb, const tw_msg *msg)
{
    TW_ASSERT(msg->len <= TW_MSG_DATA_MAX);
    int rc = tw_ring_push(&mb->ring, msg);
    if (rc < 0) {
        mb->drops++;
    }
    return rc;
}

bool tw_mailbox_pop(tw_mailbox *mb, tw_msg *out) { return tw_ring_pop(&mb->ring, out); }

void tw_bus_init(tw_bus *bus, uint32_t workers, uint32_t capacity)
{
    TW_ASSERT(workers > 0);
    TW_ASSERT(workers <= TW_ENDPOINTS_MAX);
    memset(bus, 0, sizeof(*bus));
    bus->workers = workers;
    bus->boxes = tw_mem_calloc(workers + 1, sizeof(tw_mailbox));
    for (uint32_t i = 0; i <= workers; i++) {
        tw_mailbox_init(&bus->boxes[i], capacity);
    }
}

void tw_bus_free(tw_bus *bus)
{
    for (uint32_t i = 0; i <= bus->workers; i++) {
        tw_mailbox_free(&bus->boxes[i]);
    }
    tw_mem_free(bus->boxes);
    bus->boxes = NULL;
}

tw_mailbox *tw_bus_mailbox(tw_bus *bus, uint32_t ep)
{
    if (ep == TW_ENDPOINT_CONTROLLER) {
        return &bus->boxes[bus->workers];
    }
    TW_ASSERT(ep < bus->workers);
    return &bus->boxes[ep];
}

int tw_bus_send(tw_bus *bus, const tw_msg *msg)
{
    uint32_t first;
    uint32_t n = tw_bus_fanout(msg, bus->workers, &first);
    uint32_t took = 0;
    bus->sent++;
    for (uint32_t i = 0; i < n; i++) {
        if (tw_mailbox_push(tw_bus_mailbox(bus, first + i), msg) == 0) {
            took++;
        } else {
            bus->refused++;
        }
    }
    bus->delivered += took;
    return took == n ? (int)took : -TW_EFULL;
}

bool tw_bus_recv(tw_bus *bus, uint32_t ep, tw_msg *out)
{
    return tw_mailbox_pop(tw_bus_mailbox(bus, ep), out);
}
