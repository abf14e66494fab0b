/* Frame buffers: a fixed pool of equal buffers, each large enough for one
 * Ethernet frame of the largest interface MTU, sized at init.
 *
 * Every frame the stack sends is built in one of these, waits in one
 * queue (transmit, or the ARP pending list of its next hop) and returns to
 * the pool once the driver has taken it; a received UDP datagram is copied
 * into one until the application has read it. Buffers are named by index
 * so queues hold 32-bit handles. Unlike tw_pool, a take does not zero the
 * buffer: the builder writes every byte it hands out, and clearing 1.5 kB
 * per packet would be the most expensive thing on the receive path. */
#ifndef TW_NET_FBUF_H
#define TW_NET_FBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_FBUF_NONE UINT32_MAX

/* What the stack remembers about a buffer besides its bytes. */
typedef struct tw_fbuf_meta {
    uint32_t next;   /* link in an ARP pending list, TW_FBUF_NONE at the end */
    uint32_t len;    /* bytes in use */
    uint32_t origin; /* who sent it (TW_NET_ORIGIN_* or a UDP endpoint id) */
    uint16_t iface;  /* the interface it leaves by */
    uint8_t taken;
    uint8_t pad_;
} tw_fbuf_meta;

typedef struct tw_fbuf_pool {
    uint8_t *mem;
    tw_fbuf_meta *meta;
    uint32_t *free_stack; /* indices of free buffers; the top is taken next */
    uint32_t free_len;
    uint32_t count;
    uint32_t size; /* bytes per buffer */
    uint32_t high_water;
    uint64_t exhausted; /* takes refused because every buffer was in use */
} tw_fbuf_pool;

/* Allocates count buffers of size bytes (init time only). */
void tw_fbuf_pool_init(tw_fbuf_pool *p, uint32_t count, uint32_t size);
void tw_fbuf_pool_free(tw_fbuf_pool *p);

/* A buffer index with meta reset (len 0, no link), or TW_FBUF_NONE, counted,
 * when the pool is empty. The bytes are not cleared. */
uint32_t tw_fbuf_take(tw_fbuf_pool *p);
/* Returns a taken buffer; putting a free one is a programmer error. */
void tw_fbuf_put(tw_fbuf_pool *p, uint32_t index);

static inline uint8_t *tw_fbuf_data(const tw_fbuf_pool *p, uint32_t index)
{
    return p->mem + (size_t)index * p->size;
}
static inline tw_fbuf_meta *tw_fbuf_meta_of(const tw_fbuf_pool *p, uint32_t index)
{
    return &p->meta[index];
}
static inline uint32_t tw_fbuf_available(const tw_fbuf_pool *p)
{
    return p->free_len;
}
static inline uint32_t tw_fbuf_in_use(const tw_fbuf_pool *p)
{
    return p->count - p->free_len;
}

#endif
