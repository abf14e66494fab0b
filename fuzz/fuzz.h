/* Shared by the fuzz targets: the libFuzzer entry point's declaration and
 * a reader that turns fuzz input into structured values.
 *
 * The reader never fails: past the end of the input it yields zeros, so a
 * target decodes a whole step from any prefix and the fuzzer's shortest
 * inputs still mean something. Header-only, static inline. */
#ifndef TW_FUZZ_FUZZ_H
#define TW_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

static inline uint8_t fin_u8(fuzz_in *in)
{
    if (in->n == 0) {
        return 0;
    }
    in->n--;
    return *in->p++;
}

static inline uint16_t fin_u16(fuzz_in *in)
{
    uint16_t hi = fin_u8(in);
    return (uint16_t)(hi << 8 | fin_u8(in));
}

static inline uint32_t fin_u32(fuzz_in *in)
{
    uint32_t hi = fin_u16(in);
    return hi << 16 | fin_u16(in);
}

/* Up to want bytes in place; *got says how many there were. */
static inline const uint8_t *fin_bytes(fuzz_in *in, size_t want, size_t *got)
{
    const uint8_t *p = in->p;
    *got = want < in->n ? want : in->n;
    in->p += *got;
    in->n -= *got;
    return p;
}

/* A broken property: say which, then abort so the fuzzer (or the
 * standalone runner, or meson test) reports the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
