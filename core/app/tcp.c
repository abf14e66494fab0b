#include "app/tcp.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BULK_VECTOR 1
#endif

#include "base/assert.h"
#include "base/error.h"

#define CONNS_MAX 256
#define ECHO_BUF 256

/* The per-connection table both servers keep: connections come and go. */
typedef struct conn_entry {
    int64_t conn; /* -1: free */
    uint64_t offset;
    uint64_t stream;
    uint32_t pending; /* echo: bytes buffered, not yet accepted by TCP */
    bool in_send;     /* echo: a send is out, its answer not back */
    bool blocked;     /* echo: TCP took less than offered; wait for WRITABLE */
    bool want_close;
    bool peer_closed;
    bool mismatch;
    uint8_t *buf; /* echo: its buffer in the task's state */
} conn_entry;

static conn_entry *find(conn_entry *t, int64_t conn)
{
    for (int i = 0; i < CONNS_MAX; i++) {
        if (t[i].conn == conn) {
            return &t[i];
        }
    }
    return NULL;
}

static void table_init(conn_entry *t)
{
    for (int i = 0; i < CONNS_MAX; i++) {
        t[i].conn = -1;
    }
}

/* Byte b of a stream word is bits 8b..8b+7: on a little-endian host that is
 * its memory layout, so one 8-byte copy does (gcc does not merge the byte
 * loop's stores on its own). */
static inline void put_word(uint8_t *p, uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &x, sizeof(x));
#else
    for (int b = 0; b < 8; b++) {
        p[b] = (uint8_t)(x >> (8 * b));
    }
#endif
}

static inline uint64_t get_word(const uint8_t *p)
{
    uint64_t x = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&x, p, sizeof(x));
#else
    for (int b = 0; b < 8; b++) {
        x |= (uint64_t)p[b] << (8 * b);
    }
#endif
    return x;
}

#define BULK_STEP 0x9e3779b97f4a7c15ull

/* The hash of a body word from its seed, w * BULK_STEP + s: consecutive
 * words' seeds differ by BULK_STEP, so loops step the seed with an add and
 * save a multiply per word. */
static inline uint64_t bulk_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

/* The bytes that differ in a word of got ^ want. */
static inline uint64_t word_mismatches(uint64_t d)
{
    uint64_t bad = 0;
    for (; d != 0; d >>= 8) {
        bad += (d & 0xff) != 0;
    }
    return bad;
}

/* The body kernels: `words` whole words from the one whose seed is `seed`
 * (its index times BULK_STEP plus the stream), never the header word. */
static void fill_words_scalar(uint64_t seed, uint8_t *buf, uint64_t words)
{
    for (uint64_t k = 0; k < words; k++, seed += BULK_STEP) {
        put_word(buf + 8 * k, bulk_mix(seed));
    }
}

static uint64_t mismatch_words_scalar(uint64_t seed, const uint8_t *data, uint64_t words)
{
    uint64_t bad = 0;
    uint64_t k = 0;
    /* Whole words match almost always: 8 words at a time are OR-ed
     * together and counted byte by byte only when something differs. */
    for (; words - k >= 8; k += 8, seed += 8 * BULK_STEP) {
        uint64_t any = 0;
        for (uint64_t j = 0; j < 8; j++) {
            any |= get_word(data + 8 * (k + j)) ^ bulk_mix(seed + j * BULK_STEP);
        }
        if (any != 0) {
            for (uint64_t j = 0; j < 8; j++) {
                bad +=
                    word_mismatches(get_word(data + 8 * (k + j)) ^ bulk_mix(seed + j * BULK_STEP));
            }
        }
    }
    for (; k < words; k++, seed += BULK_STEP) {
        bad += word_mismatches(get_word(data + 8 * k) ^ bulk_mix(seed));
    }
    return bad;
}

/* The vector kernels fill and check four words at a time. AVX2 has no
 * 64-bit multiply: with x = xh * 2^32 + xl and the constant likewise,
 * x * c mod 2^64 = xl * cl + ((xl * ch + xh * cl) << 32), three 32x32->64
 * multiplies (vpmuludq) per four words, against the scalar loop's one imul
 * per word: about three times as fast. AVX-512 (DQ, on 256-bit vectors
 * through VL) has the 64-bit multiply (vpmullq), half again as fast; the
 * 512-bit registers would be faster still but slow the clock on some CPUs.
 * Filling and checking were a fifth of a bulk run's wall time. The words
 * are stored little-endian, byte b of a word being bits 8b..8b+7, which is
 * the stream's definition on x86. The CPU is asked once per call (a load
 * of a flag the runtime set at start), as in wire/checksum.c. */
#ifdef BULK_VECTOR
#define BULK_MIX_MUL 0xbf58476d1ce4e5b9ull
#define TARGET_AVX2 __attribute__((target("avx2")))
#define TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512dq,avx512vl")))

TARGET_AVX2 static inline __m256i mix_avx2(__m256i x)
{
    const __m256i c = _mm256_set1_epi64x((long long)BULK_MIX_MUL);
    const __m256i c_high = _mm256_set1_epi64x((long long)(BULK_MIX_MUL >> 32));
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 31));
    __m256i low = _mm256_mul_epu32(x, c);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x, 32), c),
                                     _mm256_mul_epu32(x, c_high));
    x = _mm256_add_epi64(low, _mm256_slli_epi64(cross, 32));
    return _mm256_xor_si256(x, _mm256_srli_epi64(x, 29));
}

TARGET_AVX512 static inline __m256i mix_avx512(__m256i x)
{
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 31));
    x = _mm256_mullo_epi64(x, _mm256_set1_epi64x((long long)BULK_MIX_MUL));
    return _mm256_xor_si256(x, _mm256_srli_epi64(x, 29));
}

/* The seeds of four consecutive words from the first's (AVX2 is a part of
 * both kernels' targets). */
TARGET_AVX2 static inline __m256i seeds4(uint64_t seed)
{
    return _mm256_set_epi64x((long long)(seed + 3 * BULK_STEP), (long long)(seed + 2 * BULK_STEP),
                             (long long)(seed + BULK_STEP), (long long)seed);
}

/* The two kernels of one instruction set, around its mix. Checking takes
 * eight words a step: a step with a difference is recounted by the scalar
 * kernel, so the count is exact and the common path only tests. */
#define BULK_KERNELS(target, isa)                                                                  \
    target static void fill_words_##isa(uint64_t seed, uint8_t *buf, uint64_t words)               \
    {                                                                                              \
        const __m256i step = _mm256_set1_epi64x((long long)(4 * BULK_STEP));                       \
        __m256i v = seeds4(seed);                                                                  \
        uint64_t k = 0;                                                                            \
        for (; words - k >= 4; k += 4) {                                                           \
            _mm256_storeu_si256((__m256i *)(void *)(buf + 8 * k), mix_##isa(v));                   \
            v = _mm256_add_epi64(v, step);                                                         \
        }                                                                                          \
        fill_words_scalar(seed + k * BULK_STEP, buf + 8 * k, words - k);                           \
    }                                                                                              \
                                                                                                   \
    target static uint64_t mismatch_words_##isa(uint64_t seed, const uint8_t *data,                \
                                                uint64_t words)                                    \
    {                                                                                              \
        const __m256i step = _mm256_set1_epi64x((long long)(4 * BULK_STEP));                       \
        __m256i v = seeds4(seed);                                                                  \
        uint64_t bad = 0;                                                                          \
        uint64_t k = 0;                                                                            \
        for (; words - k >= 8; k += 8) {                                                           \
            const uint8_t *p = data + 8 * k;                                                       \
            __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);                      \
            __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));               \
            __m256i va = mix_##isa(v);                                                             \
            v = _mm256_add_epi64(v, step);                                                         \
            __m256i vb = mix_##isa(v);                                                             \
            v = _mm256_add_epi64(v, step);                                                         \
            __m256i any = _mm256_or_si256(_mm256_xor_si256(a, va), _mm256_xor_si256(b, vb));       \
            if (!_mm256_testz_si256(any, any)) {                                                   \
                bad += mismatch_words_scalar(seed + k * BULK_STEP, p, 8);                          \
            }                                                                                      \
        }                                                                                          \
        /* A 1448-byte segment ends in five words: four in one more step. */                       \
        if (words - k >= 4) {                                                                      \
            const uint8_t *p = data + 8 * k;                                                       \
            __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)p),     \
                                         mix_##isa(v));                                            \
            if (!_mm256_testz_si256(x, x)) {                                                       \
                bad += mismatch_words_scalar(seed + k * BULK_STEP, p, 4);                          \
            }                                                                                      \
            k += 4;                                                                                \
        }                                                                                          \
        return bad + mismatch_words_scalar(seed + k * BULK_STEP, data + 8 * k, words - k);         \
    }

BULK_KERNELS(TARGET_AVX2, avx2)
BULK_KERNELS(TARGET_AVX512, avx512)
#endif

bool tw_app_bulk_kernel_supported(tw_bulk_kernel k)
{
    switch (k) {
    case TW_BULK_KERNEL_SCALAR:
        return true;
#ifdef BULK_VECTOR
    case TW_BULK_KERNEL_AVX2:
        return __builtin_cpu_supports("avx2");
    case TW_BULK_KERNEL_AVX512:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    default:
        return false;
    }
}

static tw_bulk_kernel best_kernel(void)
{
    return tw_app_bulk_kernel_supported(TW_BULK_KERNEL_AVX512) ? TW_BULK_KERNEL_AVX512
           : tw_app_bulk_kernel_supported(TW_BULK_KERNEL_AVX2) ? TW_BULK_KERNEL_AVX2
                                                               : TW_BULK_KERNEL_SCALAR;
}

static void fill_words(tw_bulk_kernel k, uint64_t seed, uint8_t *buf, uint64_t words)
{
    switch (k) {
#ifdef BULK_VECTOR
    case TW_BULK_KERNEL_AVX2:
        fill_words_avx2(seed, buf, words);
        return;
    case TW_BULK_KERNEL_AVX512:
        fill_words_avx512(seed, buf, words);
        return;
#endif
    default:
        fill_words_scalar(seed, buf, words);
        return;
    }
}

static uint64_t mismatch_words(tw_bulk_kernel k, uint64_t seed, const uint8_t *data, uint64_t words)
{
    switch (k) {
#ifdef BULK_VECTOR
    case TW_BULK_KERNEL_AVX2:
        return mismatch_words_avx2(seed, data, words);
    case TW_BULK_KERNEL_AVX512:
        return mismatch_words_avx512(seed, data, words);
#endif
    default:
        return mismatch_words_scalar(seed, data, words);
    }
}

/* The unaligned head and tail go a byte at a time and the header word by
 * itself, so the kernels see only whole body words. */
void tw_app_bulk_fill_with(tw_bulk_kernel k, uint64_t s, uint64_t off, uint8_t *buf, uint64_t n)
{
    TW_ASSERT(tw_app_bulk_kernel_supported(k));
    uint64_t i = 0;
    for (; i < n && ((off + i) & 7) != 0; i++) {
        buf[i] = tw_app_bulk_stream_byte(s, off + i);
    }
    if (n - i >= 8 && off + i == 0) {
        put_word(buf, tw_app_bulk_stream_word(s, 0));
        i += 8;
    }
    uint64_t words = (n - i) >> 3;
    fill_words(k, ((off + i) >> 3) * BULK_STEP + s, buf + i, words);
    for (i += 8 * words; i < n; i++) {
        buf[i] = tw_app_bulk_stream_byte(s, off + i);
    }
}

uint64_t tw_app_bulk_mismatches_with(tw_bulk_kernel k, uint64_t s, uint64_t off,
                                     const uint8_t *data, uint64_t n)
{
    TW_ASSERT(tw_app_bulk_kernel_supported(k));
    uint64_t bad = 0;
    uint64_t i = 0;
    for (; i < n && ((off + i) & 7) != 0; i++) {
        bad += data[i] != tw_app_bulk_stream_byte(s, off + i);
    }
    if (n - i >= 8 && off + i == 0) {
        bad += word_mismatches(get_word(data) ^ tw_app_bulk_stream_word(s, 0));
        i += 8;
    }
    uint64_t words = (n - i) >> 3;
    bad += mismatch_words(k, ((off + i) >> 3) * BULK_STEP + s, data + i, words);
    for (i += 8 * words; i < n; i++) {
        bad += data[i] != tw_app_bulk_stream_byte(s, off + i);
    }
    return bad;
}

void tw_app_bulk_fill(uint64_t s, uint64_t off, uint8_t *buf, uint64_t n)
{
    tw_app_bulk_fill_with(best_kernel(), s, off, buf, n);
}

uint64_t tw_app_bulk_mismatches(uint64_t s, uint64_t off, const uint8_t *data, uint64_t n)
{
    return tw_app_bulk_mismatches_with(best_kernel(), s, off, data, n);
}

/* ---- echo ---------------------------------------------------------------- */

typedef struct echo {
    uint16_t port;
    bool want_listen;
    int32_t listen_error;
    conn_entry c[CONNS_MAX];
    uint8_t bufs[CONNS_MAX][ECHO_BUF];
    /* pending actions, made in pop_output */
    int64_t consume_conn;
    uint64_t consume_n;
    uint64_t accepted, refused, bytes, closed, resets;
} echo;

static void echo_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    echo *e = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        tw_tcp_echo_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        e->port = a.port;
        e->want_listen = true;
        e->consume_conn = -1;
        table_init(e->c);
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    conn_entry *c = find(e->c, n->conn);
    switch (n->kind) {
    case TW_TNET_LISTENING:
        e->listen_error = n->result;
        return;
    case TW_TNET_SENT:
        if (c == NULL) {
            return;
        }
        c->in_send = false;
        if (n->result >= 0) {
            c->blocked = (uint32_t)n->result < c->pending;
            memmove(c->buf, c->buf + n->result, c->pending - (uint32_t)n->result);
            c->pending -= (uint32_t)n->result;
        }
        return;
    case TW_TNET_TCP:
        break;
    default:
        return;
    }
    const tw_tcp_event *ev = n->tcp;
    switch (ev->kind) {
    case TW_TCP_EV_ACCEPTED:
        c = find(e->c, -1);
        if (c == NULL) {
            e->refused++; /* the table is full: the connection is aborted below */
            e->consume_conn = ev->conn;
            e->consume_n = UINT64_MAX;
            return;
        }
        memset(c, 0, sizeof(*c));
        c->conn = ev->conn;
        c->buf = e->bufs[c - e->c];
        e->accepted++;
        return;
    case TW_TCP_EV_DATA: {
        if (c == NULL) {
            return;
        }
        /* Take what fits in the buffer; the rest stays in TCP's receive
         * buffer (its window closes) until the echo drains. */
        uint32_t take = (uint32_t)(ev->len < ECHO_BUF - c->pending ? ev->len : ECHO_BUF - c->pending);
        memcpy(c->buf + c->pending, ev->data, take);
        c->pending += take;
        e->bytes += take;
        e->consume_conn = ev->conn;
        e->consume_n = take;
        return;
    }
    case TW_TCP_EV_PEER_CLOSED:
        if (c) {
            c->peer_closed = true;
            c->want_close = true;
        }
        return;
    case TW_TCP_EV_WRITABLE:
        if (c) {
            c->blocked = false;
        }
        return;
    default: /* terminal */
        if (ev->kind == TW_TCP_EV_CLOSED) {
            e->closed++;
        } else {
            e->resets++;
        }
        if (c) {
            c->conn = -1;
        }
        return;
    }
}

static bool echo_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    echo *e = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (e->want_listen) {
        e->want_listen = false;
        out->kind = TW_TOUT_TCP_LISTEN;
        out->u.tcp_open.port = e->port;
        return true;
    }
    if (e->consume_conn >= 0) {
        out->kind = e->consume_n == UINT64_MAX ? TW_TOUT_TCP_ABORT : TW_TOUT_TCP_CONSUME;
        out->u.tcp.conn = e->consume_conn;
        out->u.tcp.len = e->consume_n;
        e->consume_conn = -1;
        return true;
    }
    for (int i = 0; i < CONNS_MAX; i++) {
        conn_entry *c = &e->c[i];
        if (c->conn < 0 || c->in_send) {
            continue;
        }
        if (c->pending && !c->blocked) {
            c->in_send = true;
            out->kind = TW_TOUT_TCP_SEND;
            out->u.tcp.conn = c->conn;
            out->u.tcp.data = c->buf;
            out->u.tcp.len = c->pending;
            return true;
        }
        if (c->want_close && c->pending == 0) {
            c->want_close = false;
            out->kind = TW_TOUT_TCP_CLOSE;
            out->u.tcp.conn = c->conn;
            return true;
        }
    }
    return false;
}

static void no_tick(tw_task *t, tw_ns now) {}

static void echo_report(const tw_task *t, tw_metric_sink *s)
{
    const echo *e = ((tw_task *)t)->state;
    s->counter(s, "accepted", e->accepted);
    s->counter(s, "refused", e->refused);
    s->counter(s, "bytes", e->bytes);
    s->counter(s, "closed", e->closed);
    s->counter(s, "resets", e->resets);
    s->counter(s, "listen_error", (uint64_t)(-(int64_t)e->listen_error));
}

const tw_task_ops tw_app_tcp_echo = {
    .name = "tcp_echo",
    .state_size = sizeof(echo),
    .on_input = echo_on_input,
    .on_tick = no_tick,
    .pop_output = echo_pop,
    .report = echo_report,
};

/* ---- bulk sender ------------------------------------------------------------ */

/* A send offers up to SEND_CHUNK bytes; TCP takes what its buffer has
 * room for. What it left stays in the sender's buffer and is offered again
 * from where it lies, so each byte of the stream is generated once (the
 * whole chunk was regenerated after each short send: 4.5% of the bytes
 * generated in a 10 Gbps run). The buffer holds two chunks so that the
 * left-over tail is moved to the front only when the next offer would run
 * past the end. */
#define SEND_CHUNK 16384
#define SEND_BUF (2 * SEND_CHUNK)

typedef struct sender {
    tw_bulk_send_args a;
    bool want_connect;
    bool in_send;
    bool blocked; /* TCP took less than offered: wait for WRITABLE */
    bool closed_sent;
    uint64_t offered;
    uint64_t received;       /* bytes that came back (from an echo server) */
    uint64_t echo_mismatches; /* of them, bytes unlike what we sent there */
    uint64_t consume;        /* bytes to free in pop_output */
    bool done;     /* a terminal event came */
    bool established;
    int64_t conn;
    int32_t error; /* connect or terminal error */
    uint64_t sent; /* accepted by TCP */
    tw_ns started;
    tw_ns connected;
    tw_ns finished; /* the terminal event: all data acknowledged and closed */
    uint32_t head;  /* buf[head..tail): the stream from offset sent, generated, not accepted */
    uint32_t tail;
    uint8_t buf[SEND_BUF];
} sender;

static void send_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    sender *s = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&s->a, in->msg->data, sizeof(s->a));
        s->want_connect = true;
        s->conn = -1;
        s->started = now;
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    switch (n->kind) {
    case TW_TNET_CONNECTING:
        if (n->result < 0) {
            s->error = n->result;
            s->done = true;
        } else {
            s->conn = n->conn;
        }
        return;
    case TW_TNET_SENT:
        s->in_send = false;
        if (n->result >= 0) {
            TW_ASSERT((uint64_t)n->result <= s->offered);
            s->sent += (uint64_t)n->result;
            s->blocked = (uint64_t)n->result < s->offered;
            s->head += (uint32_t)n->result;
            if (s->head == s->tail) {
                s->head = s->tail = 0;
            }
        } else {
            s->error = n->result;
            s->done = true;
        }
        return;
    case TW_TNET_TCP:
        break;
    default:
        return;
    }
    switch (n->tcp->kind) {
    case TW_TCP_EV_CONNECTED:
        s->established = true;
        s->connected = now;
        return;
    case TW_TCP_EV_CLOSED:
    case TW_TCP_EV_RESET:
    case TW_TCP_EV_TIMED_OUT:
        s->done = true;
        s->finished = now;
        if (n->tcp->kind != TW_TCP_EV_CLOSED) {
            s->error = n->tcp->error ? n->tcp->error : -TW_ETIMEDOUT;
        }
        return;
    case TW_TCP_EV_WRITABLE:
        s->blocked = false;
        return;
    case TW_TCP_EV_DATA:
        /* A sender facing an echo server checks what comes back. */
        s->echo_mismatches +=
            tw_app_bulk_mismatches(s->a.stream, s->received, n->tcp->data, n->tcp->len);
        s->received += n->tcp->len;
        s->consume += n->tcp->len;
        return;
    case TW_TCP_EV_PEER_CLOSED:
    default:
        return;
    }
}

static bool send_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    sender *s = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (s->want_connect) {
        s->want_connect = false;
        out->kind = TW_TOUT_TCP_CONNECT;
        out->u.tcp_open.addr = s->a.server;
        out->u.tcp_open.port = s->a.port;
        return true;
    }
    if (s->consume && s->conn >= 0 && !s->done) {
        out->kind = TW_TOUT_TCP_CONSUME;
        out->u.tcp.conn = s->conn;
        out->u.tcp.len = s->consume;
        s->consume = 0;
        return true;
    }
    if (s->conn < 0 || s->done || s->in_send || s->blocked || !s->established) {
        return false;
    }
    if (s->sent < s->a.bytes) {
        uint32_t n =
            (uint32_t)(s->a.bytes - s->sent < SEND_CHUNK ? s->a.bytes - s->sent : SEND_CHUNK);
        uint32_t have = s->tail - s->head;
        TW_ASSERT(have <= n);
        if (s->head + n > SEND_BUF) {
            memmove(s->buf, s->buf + s->head, have);
            s->head = 0;
            s->tail = have;
        }
        tw_app_bulk_fill(s->a.stream, s->sent + have, s->buf + s->tail, n - have);
        s->tail = s->head + n;
        s->offered = n;
        s->in_send = true;
        out->kind = TW_TOUT_TCP_SEND;
        out->u.tcp.conn = s->conn;
        out->u.tcp.data = s->buf + s->head;
        out->u.tcp.len = n;
        return true;
    }
    if (!s->closed_sent) {
        s->closed_sent = true;
        out->kind = TW_TOUT_TCP_CLOSE;
        out->u.tcp.conn = s->conn;
        return true;
    }
    return false;
}

/* A short send sets blocked; the WRITABLE event that follows clears it and,
 * being an input, makes the task dirty so pop_output sends again. */

static void send_report(const tw_task *t, tw_metric_sink *m)
{
    const sender *s = ((tw_task *)t)->state;
    m->counter(m, "bytes_sent", s->sent);
    m->counter(m, "bytes_target", s->a.bytes);
    m->counter(m, "bytes_received", s->received);
    m->counter(m, "echo_mismatches", s->echo_mismatches);
    m->counter(m, "done", s->done && s->error == 0);
    m->counter(m, "error", (uint64_t)(-(int64_t)s->error));
    m->counter(m, "connect_ns", s->established ? s->connected - s->started : 0);
    m->counter(m, "duration_ns", s->finished ? s->finished - s->started : 0);
}

const tw_task_ops tw_app_bulk_send = {
    .name = "bulk_send",
    .state_size = sizeof(sender),
    .on_input = send_on_input,
    .on_tick = no_tick,
    .pop_output = send_pop,
    .report = send_report,
};

/* ---- bulk sink ---------------------------------------------------------------- */

typedef struct sink {
    uint16_t port;
    bool want_listen;
    int32_t listen_error;
    conn_entry c[CONNS_MAX];
    int64_t consume_conn;
    uint64_t consume_n;
    uint64_t bytes;
    uint64_t streams_intact; /* closed cleanly with every byte right */
    uint64_t streams_bad;    /* a wrong byte, a reset or a timeout */
    uint64_t mismatches;     /* wrong bytes seen */
    uint64_t accepted;
    uint32_t want_closes; /* entries with want_close set: pop scans only then */
} sink;

static void sink_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    sink *k = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        tw_bulk_sink_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        k->port = a.port;
        k->want_listen = true;
        k->consume_conn = -1;
        table_init(k->c);
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_LISTENING) {
        k->listen_error = n->result;
        return;
    }
    if (n->kind != TW_TNET_TCP) {
        return;
    }
    const tw_tcp_event *ev = n->tcp;
    conn_entry *c = find(k->c, ev->conn);
    switch (ev->kind) {
    case TW_TCP_EV_ACCEPTED:
        c = find(k->c, -1);
        if (c == NULL) {
            k->consume_conn = ev->conn;
            k->consume_n = UINT64_MAX;
            return;
        }
        memset(c, 0, sizeof(*c));
        c->conn = ev->conn;
        k->accepted++;
        return;
    case TW_TCP_EV_DATA:
        if (c == NULL) {
            return;
        }
        /* The stream id is the first 8 bytes; every byte after is a
         * function of it and the offset. */
        {
            size_t i = 0;
            for (; i < ev->len && c->offset + i < TW_BULK_HEADER; i++) {
                c->stream = (c->stream << 8) | ev->data[i];
            }
            /* The header is complete before any byte after it is checked. */
            uint64_t bad =
                tw_app_bulk_mismatches(c->stream, c->offset + i, ev->data + i, ev->len - i);
            if (bad) {
                c->mismatch = true;
                k->mismatches += bad;
            }
        }
        c->offset += ev->len;
        k->bytes += ev->len;
        k->consume_conn = ev->conn;
        k->consume_n = ev->len;
        return;
    case TW_TCP_EV_PEER_CLOSED:
        if (c) {
            k->want_closes += !c->want_close;
            c->want_close = true;
            c->peer_closed = true;
        }
        return;
    case TW_TCP_EV_WRITABLE:
    case TW_TCP_EV_CONNECTED:
        return;
    default:
        if (c) {
            if (ev->kind == TW_TCP_EV_CLOSED && c->peer_closed && !c->mismatch) {
                k->streams_intact++;
            } else {
                k->streams_bad++;
            }
            k->want_closes -= c->want_close;
            c->want_close = false;
            c->conn = -1;
        }
        return;
    }
}

static bool sink_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    sink *k = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (k->want_listen) {
        k->want_listen = false;
        out->kind = TW_TOUT_TCP_LISTEN;
        out->u.tcp_open.port = k->port;
        return true;
    }
    if (k->consume_conn >= 0) {
        out->kind = k->consume_n == UINT64_MAX ? TW_TOUT_TCP_ABORT : TW_TOUT_TCP_CONSUME;
        out->u.tcp.conn = k->consume_conn;
        out->u.tcp.len = k->consume_n;
        k->consume_conn = -1;
        return true;
    }
    /* Scanning the table on every pop was ~6% of a bulk run's wall time. */
    for (int i = 0; k->want_closes != 0 && i < CONNS_MAX; i++) {
        if (k->c[i].conn >= 0 && k->c[i].want_close) {
            k->c[i].want_close = false;
            k->want_closes--;
            out->kind = TW_TOUT_TCP_CLOSE;
            out->u.tcp.conn = k->c[i].conn;
            return true;
        }
    }
    return false;
}

static void sink_report(const tw_task *t, tw_metric_sink *m)
{
    const sink *k = ((tw_task *)t)->state;
    m->counter(m, "bytes", k->bytes);
    m->counter(m, "accepted", k->accepted);
    m->counter(m, "streams_intact", k->streams_intact);
    m->counter(m, "streams_bad", k->streams_bad);
    m->counter(m, "mismatches", k->mismatches);
    m->counter(m, "listen_error", (uint64_t)(-(int64_t)k->listen_error));
}

const tw_task_ops tw_app_bulk_sink = {
    .name = "bulk_sink",
    .state_size = sizeof(sink),
    .on_input = sink_on_input,
    .on_tick = no_tick,
    .pop_output = sink_pop,
    .report = sink_report,
};
