/* Init-time memory. core/ allocates only while a world is being built; the
 * driver seals the allocator before the first input, after which any
 * allocation through it is a broken invariant (rule: no allocation after
 * init). Counting makes "the hot path allocates nothing" testable. */
#ifndef TW_BASE_MEM_H
#define TW_BASE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zeroed memory for n objects of size each, or a panic: running out of
 * memory while building a world is reported, not handled. */
void *tw_mem_calloc(size_t n, size_t size);
void tw_mem_free(void *p);

/* After tw_mem_seal(), tw_mem_calloc panics until tw_mem_unseal(). Drivers
 * seal around the run loop. The one exception is a documented
 * world-building operation inside the run: a simulated host restart
 * re-creates its stacks and workers between tw_mem_unseal() and
 * tw_mem_seal(), restoring the state tw_mem_sealed() reported. */
void tw_mem_seal(void);
void tw_mem_unseal(void);
bool tw_mem_sealed(void);

/* Allocations made so far (for tests and reports). */
uint64_t tw_mem_allocations(void);
/* Bytes asked of tw_mem_calloc and not yet freed, and ever asked. */
uint64_t tw_mem_bytes_live(void);
uint64_t tw_mem_bytes_total(void);

#endif
