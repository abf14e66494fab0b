#include "base/mem.h"

#include <stdlib.h>

#include "base/assert.h"

/* Process-wide: worlds are built on one thread before any worker thread
 * starts, and the run loop never allocates, so no locking is needed. */
static int sealed;
static uint64_t allocations;

void *tw_mem_calloc(size_t n, size_t size)
{
    TW_ASSERT(!sealed);
    void *p = calloc(n ? n : 1, size ? size : 1);
    TW_ASSERT(p != NULL);
    allocations++;
    return p;
}

void tw_mem_free(void *p) { free(p); }

void tw_mem_seal(void) { sealed = 1; }
void tw_mem_unseal(void) { sealed = 0; }
uint64_t tw_mem_allocations(void) { return allocations; }
