/* Send checksums: the payload's share of every data segment's checksum,
 * taken while tw_tcp_send copies the application's bytes into the send
 * ring, so that emitting a segment sums only its header.
 *
 * IMPLEMENTATION NOTES
 *
 * Without this every payload byte is read twice on the sending side: once
 * by the copy into the send ring and again by the checksum at emit. The
 * copy is fused with the sum (tw_csum_copy: one pass, AVX2 where the CPU
 * has it), and the sums are kept per *chunk*: a run of sequence space cut
 * the way segments will be cut, snd_mss bytes from where the last chunk
 * ended. A chunk is {seq, len, sum}, in a ring of chunks beside the
 * connection's buffers (tcp.c sizes it: a chunk is at least 512 bytes
 * unless a short segment sealed it, and when the ring is full further
 * bytes simply go unsummed). RFC 1071 §2 makes the pieces combine: sums
 * are added, and a piece at an odd offset of the segment adds byte-swapped
 * (tw_csum_block_add), so a sum never depends on where a byte sits in the
 * ring, only on its offset in the segment.
 *
 * A segment [seq, seq + len) is summed from the chunk that starts at seq
 * and those after it. Segments normally are whole chunks: the sender cuts
 * at snd_mss from snd_nxt, and a chunk that a short segment used up is
 * sealed so the next write starts a new one. When a segment ends inside a
 * chunk (a window, Nagle or an MSS change cut it short) the smaller side
 * of the chunk is summed from the ring and the other derived by one's-
 * complement subtraction, and the chunk shrinks to the part not yet sent,
 * so the next segment starts on a chunk again. Where no chunk starts at
 * seq (a retransmission after a partial acknowledgment, bytes written when
 * the chunk ring was full) the payload is summed from the ring, counted in
 * stats.tx_csum_resummed. Either way the result is the same number: every
 * path computes the one's-complement sum modulo 0xffff, and the finished
 * checksum of a segment (whose pseudo-header is never zero) has exactly
 * one representation.
 *
 * Chunks are dropped as the send ring's head moves past them; the
 * segment's bytes never change while they are in the ring, except for the
 * header room a segment built in place borrows, which is put back (and so
 * matches its chunk again) before anything reads it. */
#include "net/tcp/tcb.h"
#include "wire/checksum.h"

static tcp_chunk *chunk_at(tcp_chunk *ring, const tw_tcp *tcp, const tcb *t, uint32_t i)
{
    TW_ASSERT(i < t->ch_len);
    uint32_t k = t->ch_head + i;
    return &ring[k >= tcp->chunks_max ? k - tcp->chunks_max : k];
}

/* One's-complement difference: the sum that added to b gives a. */
static uint32_t sum_sub(uint32_t a, uint32_t b)
{
    return tw_csum_fold(a + (uint16_t)~tw_csum_fold(b));
}

/* A block's sum placed at an odd offset shifts by one byte; placing the
 * shifted sum back at the same odd offset undoes it (a 16-bit rotation by
 * 8, applied twice). */
static uint32_t sum_at(uint32_t block, uint32_t offset)
{
    return tw_csum_block_add(0, block, offset);
}

void tcp_sums_reset(tcb *t)
{
    t->ch_head = 0;
    t->ch_len = 0;
    t->flags &= ~TCB_CHUNK_OPEN;
}

void tcp_send_write(tw_tcp *tcp, tcb *t, const uint8_t *src, uint32_t n)
{
    TW_ASSERT(n <= t->sbuf.cap - t->sbuf.len);
    tcp_chunk *ring = tcp_chunks(tcp, t);
    uint32_t mss = t->snd_mss;
    while (n > 0) {
        uint32_t off = t->sbuf.len;
        uint32_t seq = t->snd_buf_seq + off;
        tcp_chunk *last = t->ch_len ? chunk_at(ring, tcp, t, t->ch_len - 1) : NULL;
        uint32_t k;
        if ((t->flags & TCB_CHUNK_OPEN) && last != NULL && last->seq + last->len == seq &&
            last->len < mss) {
            /* The last chunk grows to a full segment. */
            k = u32_min(n, mss - last->len);
            uint32_t s = tcp_ring_copy_sum(&t->sbuf, off, src, k);
            last->sum = (uint16_t)tw_csum_block_add(last->sum, s, last->len);
            last->len = (uint16_t)(last->len + k);
        } else if (t->ch_len < tcp->chunks_max) {
            k = u32_min(n, mss);
            t->ch_len++;
            tcp_chunk *c = chunk_at(ring, tcp, t, t->ch_len - 1);
            c->seq = seq;
            c->len = (uint16_t)k;
            c->sum = (uint16_t)tcp_ring_copy_sum(&t->sbuf, off, src, k);
            t->flags |= TCB_CHUNK_OPEN;
        } else {
            /* No room for sums: these bytes are summed at emit. */
            k = n;
            tcp_ring_write(&t->sbuf, off, src, k);
            t->flags &= ~TCB_CHUNK_OPEN;
        }
        t->sbuf.len += k;
        src += k;
        n -= k;
    }
}

void tcp_sums_drop(const tw_tcp *tcp, tcb *t)
{
    tcp_chunk *ring = tcp_chunks(tcp, t);
    while (t->ch_len > 0) {
        const tcp_chunk *c = chunk_at(ring, tcp, t, 0);
        if (seq_gt(c->seq + c->len, t->snd_buf_seq)) {
            break;
        }
        t->ch_head = t->ch_head + 1 == tcp->chunks_max ? 0 : t->ch_head + 1;
        t->ch_len--;
        t->ch_hint = t->ch_hint ? t->ch_hint - 1 : 0;
    }
    if (t->ch_len == 0) {
        t->flags &= ~TCB_CHUNK_OPEN;
    }
}

/* The index of the chunk that starts at seq, or ch_len: the hint (where
 * the last segment ended) first, then a binary search, since chunks are in
 * sequence order from the ring's head on. */
static uint32_t chunk_find(tcp_chunk *ring, const tw_tcp *tcp, const tcb *t, uint32_t seq)
{
    if (t->ch_hint < t->ch_len && chunk_at(ring, tcp, t, t->ch_hint)->seq == seq) {
        return t->ch_hint;
    }
    uint32_t lo = 0, hi = t->ch_len;
    int32_t want = (int32_t)(seq - t->snd_buf_seq);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int32_t at = (int32_t)(chunk_at(ring, tcp, t, mid)->seq - t->snd_buf_seq);
        if (at == want) {
            return mid;
        }
        if (at < want) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return t->ch_len;
}

uint32_t tcp_payload_sum(tw_tcp *tcp, tcb *t, uint32_t seq, uint32_t len)
{
    TW_ASSERT(len > 0);
    tcp_chunk *ring = tcp_chunks(tcp, t);
    uint32_t i = chunk_find(ring, tcp, t, seq);
    uint32_t sum = 0;
    uint32_t done = 0;
    while (done < len) {
        uint32_t at = seq + done;
        tcp_chunk *c = i < t->ch_len ? chunk_at(ring, tcp, t, i) : NULL;
        if (c == NULL || c->seq != at) {
            /* The rest has no chunk: from the ring. */
            uint32_t rest = len - done;
            tcp->stats.tx_csum_resummed += rest;
            uint32_t from = at - t->snd_buf_seq;
            sum = tw_csum_block_add(sum, tcp_ring_sum(&t->sbuf, from, rest), done);
            break;
        }
        uint32_t want = len - done;
        if (c->len <= want) {
            sum = tw_csum_block_add(sum, c->sum, done);
            done += c->len;
            i++;
            if (i == t->ch_len) {
                /* A short segment used the last chunk up: the next write
                 * starts a chunk where the next segment will. */
                t->flags &= ~TCB_CHUNK_OPEN;
            }
            continue;
        }
        /* The segment ends inside c: sum the smaller side from the ring,
         * derive the other, and keep the unsent part as the chunk. */
        uint32_t off = at - t->snd_buf_seq;
        uint32_t head, tail;
        if (want <= c->len - want) {
            head = tcp_ring_sum(&t->sbuf, off, want);
            tail = sum_at(sum_sub(c->sum, head), want);
            tcp->stats.tx_csum_resummed += want;
        } else {
            tail = tcp_ring_sum(&t->sbuf, off + want, c->len - want);
            head = sum_sub(c->sum, sum_at(tail, want));
            tcp->stats.tx_csum_resummed += c->len - want;
        }
        sum = tw_csum_block_add(sum, head, done);
        c->seq += want;
        c->len = (uint16_t)(c->len - want);
        c->sum = (uint16_t)tail;
        done = len;
    }
    t->ch_hint = i;
    return sum;
}
