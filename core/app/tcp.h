/* TCP applications as sans-io tasks: an echo server, and a bulk sender and
 * sink that verify every byte. The bulk stream's content is a function of
 * its offset (tw_app_bulk_byte), so the sink checks it without either side
 * keeping a copy, and a stream is "delivered intact" when the sink saw
 * every byte, in order, each equal to what the sender sent, and a clean
 * close. */
#ifndef TW_APP_TCP_H
#define TW_APP_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/time.h"
#include "rt/task.h"
#include "wire/ipv4.h"

extern const tw_task_ops tw_app_tcp_echo;
extern const tw_task_ops tw_app_bulk_send;
extern const tw_task_ops tw_app_bulk_sink;

typedef struct tw_tcp_echo_args {
    uint16_t port;
} tw_tcp_echo_args;

typedef struct tw_bulk_send_args {
    tw_ipv4_addr server;
    uint16_t port;
    uint16_t pad_;
    uint64_t bytes;   /* to send (the 8-byte header included), then close */
    uint64_t stream;  /* seeds the content, so streams differ */
} tw_bulk_send_args;

typedef struct tw_bulk_sink_args {
    uint16_t port;
} tw_bulk_sink_args;

/* A bulk stream opens with its 8-byte stream id (big-endian), so the sink
 * knows what to expect; the byte at offset i >= 8 is tw_app_bulk_byte(s, i). */
#define TW_BULK_HEADER 8

/* The byte at offset i (>= TW_BULK_HEADER) of stream s. */
static inline uint8_t tw_app_bulk_byte(uint64_t s, uint64_t i)
{
    uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull + s;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (uint8_t)(x >> ((i & 7) * 8));
}

/* The byte at offset i of stream s, header included. */
static inline uint8_t tw_app_bulk_stream_byte(uint64_t s, uint64_t i)
{
    return i < TW_BULK_HEADER ? (uint8_t)(s >> (8 * (TW_BULK_HEADER - 1 - i)))
                              : tw_app_bulk_byte(s, i);
}

/* Every 8-byte-aligned word of the stream is one hash (the header is word
 * 0), so filling and checking a word at a time gives the same bytes as
 * tw_app_bulk_stream_byte at an eighth of the hashing: the per-byte loops
 * were most of a 10 Gbps bulk run's wall time. Byte b of word w is bits
 * 8b..8b+7 of the word, so these are endian-neutral. */
static inline uint64_t tw_app_bulk_stream_word(uint64_t s, uint64_t w)
{
    if (w == 0) {
        /* The big-endian stream id: byte b is s >> 8 * (7 - b). */
        uint64_t x = 0;
        for (int b = 0; b < TW_BULK_HEADER; b++) {
            x |= ((s >> (8 * (TW_BULK_HEADER - 1 - b))) & 0xff) << (8 * b);
        }
        return x;
    }
    uint64_t x = w * 0x9e3779b97f4a7c15ull + s;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

/* buf[0..n) = the stream's bytes at offsets off..off+n. */
void tw_app_bulk_fill(uint64_t s, uint64_t off, uint8_t *buf, uint64_t n);

/* How many of data[0..n) differ from the stream's bytes at off..off+n. */
uint64_t tw_app_bulk_mismatches(uint64_t s, uint64_t off, const uint8_t *data, uint64_t n);

/* The word kernels behind those two: the portable one, and vector ones
 * where the CPU has them. tw_app_bulk_fill and tw_app_bulk_mismatches take
 * the fastest this CPU supports; the _with forms take the one named (it
 * must be supported), so that tests hold each to the scalar definition. */
typedef enum tw_bulk_kernel {
    TW_BULK_KERNEL_SCALAR = 0,
    TW_BULK_KERNEL_AVX2,
    TW_BULK_KERNEL_AVX512, /* AVX-512 F, DQ and VL, on 256-bit vectors */
    TW_BULK_KERNEL_COUNT
} tw_bulk_kernel;

bool tw_app_bulk_kernel_supported(tw_bulk_kernel k);
void tw_app_bulk_fill_with(tw_bulk_kernel k, uint64_t s, uint64_t off, uint8_t *buf, uint64_t n);
uint64_t tw_app_bulk_mismatches_with(tw_bulk_kernel k, uint64_t s, uint64_t off,
                                     const uint8_t *data, uint64_t n);

#endif
