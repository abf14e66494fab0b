/* Init-time memory. core/ allocates only while a world is being built; the
 * driver seals the allocator before the first input, after which any
 * allocation through it is a broken invariant (rule: no allocation after
 * init). Counting makes "the hot path allocates nothing" testable. */
#ifndef TW_BASE_MEM_H
#define TW_BASE_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Zeroed memory for n objects of size each, or a panic: running out of
 * memory while building a world is reported, not handled. */
void *tw_mem_calloc(size_t n, size_t size);
void tw_mem_free(void *p);

/* After tw_mem_seal(), tw_mem_calloc panics until tw_mem_unseal(). Drivers
 * seal around the run loop. */
void tw_mem_seal(void);
void tw_mem_unseal(void);

/* Allocations made so far (for tests and reports). */
uint64_t tw_mem_allocations(void);

#endif
