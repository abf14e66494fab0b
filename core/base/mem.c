#include "base/mem.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/assert.h"

/* Process-wide: worlds are built on one thread before any worker thread
 * starts, and the run loop never allocates, so no locking is needed. */
static int sealed;
static uint64_t allocations;
static uint64_t bytes_live;
static uint64_t bytes_total;

/* Each block carries its size in front of it, so that freeing can keep the
 * live byte count; the header is as wide as the strictest alignment so the
 * caller's memory keeps calloc's alignment. */
#define HEADER_BYTES (sizeof(max_align_t) > sizeof(uint64_t) ? sizeof(max_align_t) : sizeof(uint64_t))

void *tw_mem_calloc(size_t n, size_t size)
{
    TW_ASSERT(!sealed);
    n = n ? n : 1;
    size = size ? size : 1;
    TW_ASSERT(n <= (SIZE_MAX - HEADER_BYTES) / size);
    size_t bytes = n * size;
    uint8_t *p = calloc(1, bytes + HEADER_BYTES);
    TW_ASSERT(p != NULL);
    *(uint64_t *)p = bytes;
    allocations++;
    bytes_live += bytes;
    bytes_total += bytes;
    return p + HEADER_BYTES;
}

void tw_mem_free(void *p)
{
    if (p == NULL) {
        return;
    }
    uint8_t *block = (uint8_t *)p - HEADER_BYTES;
    uint64_t bytes = *(uint64_t *)block;
    TW_ASSERT(bytes <= bytes_live);
    bytes_live -= bytes;
    free(block);
}

void tw_mem_seal(void) { sealed = 1; }
void tw_mem_unseal(void) { sealed = 0; }
bool tw_mem_sealed(void) { return sealed != 0; }
uint64_t tw_mem_allocations(void) { return allocations; }
uint64_t tw_mem_bytes_live(void) { return bytes_live; }
uint64_t tw_mem_bytes_total(void) { return bytes_total; }
