/* HTTP/1.1 as sans-io tasks: a static server of a generated site, and a
 * keep-alive load client.
 *
 * The site. N pages at /0 .. /N-1 ("/" is page 0). Page sizes follow a
 * log-normal distribution (the shape measured for web objects) drawn with
 * integer arithmetic from a tw_rng seeded by the site's seed and the page
 * number, never from a worker's stream: the same site on every host, core
 * and build, and a page's size costs O(1) without a table. A page's bytes
 * are a function of its number and offset (tw_app_http_body_byte), made as
 * they are sent, so the server stores nothing and the client verifies
 * every byte. With the defaults (median 4 KiB, spread 2.5 doublings, 64 B
 * .. 1 MiB), 500 pages have a median size within 2 .. 8 KiB, a largest page
 * of 128 KiB .. 1 MiB and a mean near 17 KiB.
 *
 * The server (RFC 9112 message syntax, RFC 9110 semantics):
 *   - GET and HEAD; another method is 405 (with Allow) and a close.
 *   - 200 with Content-Length and a text/plain body; 404 for a path that
 *     is not a page (a query string is ignored); HEAD sends no body.
 *   - Persistent connections: HTTP/1.1 keeps the connection unless the
 *     request says "Connection: close"; HTTP/1.0 closes unless it says
 *     "Connection: keep-alive" (answered with the same header).
 *   - Pipelining is answered in order: a connection parses one request,
 *     answers it, then parses the next; bytes of later requests wait in
 *     TCP's receive buffer meanwhile (its window is the back pressure).
 *   - Malformed requests (bad request line or header syntax, a bare CR,
 *     obsolete line folding, a 1.1 request without exactly one Host, a bad
 *     Content-Length, a target not in origin-form) get 400 and a close. A request head over
 *     TW_HTTP_HEAD_MAX bytes is 431, a request body over
 *     TW_HTTP_BODY_MAX is 413, Transfer-Encoding is 501, a version other
 *     than HTTP/1.x is 505; all close. A request body within the limit is
 *     read and discarded. After a close the server drains and discards
 *     what the client still sends (RFC 9112 §9.6) for at most
 *     TW_HTTP_LINGER_NS, then aborts.
 *   - No Date header: the server has no clock of the world's time
 *     (RFC 9110 §6.6.1).
 *   - At most conns_max connections (TW_HTTP_CONNS_MAX); one more is
 *     aborted at once and counted as refused. A connection idle (no bytes
 *     in or accepted out) for idle_ms is aborted and counted as a timeout.
 *
 * The client (tw_app_http_client) runs on the engine in app/load.h:
 * closed or open loop over persistent connections, one request out per
 * connection (no pipelining), pages drawn with the worker's rng uniformly or
 * Zipf-like, each response parsed incrementally (status line, headers,
 * Content-Length body; 1xx interim responses skipped), the body of every 200
 * to a GET checked byte by byte. Transfer-Encoding and bodies delimited by
 * the close are not supported: such a response counts as malformed. */
#ifndef TW_APP_HTTP_H
#define TW_APP_HTTP_H

#include <stdint.h>

#include "app/load.h"
#include "base/time.h"
#include "rt/task.h"
#include "wire/ipv4.h"

extern const tw_task_ops tw_app_http_server;
extern const tw_task_ops tw_app_http_client;

#define TW_HTTP_CONNS_MAX 64
#define TW_HTTP_PAGES_MAX (1u << 20)
#define TW_HTTP_HEAD_MAX 8192       /* bytes of a request or response head */
#define TW_HTTP_BODY_MAX 65536      /* bytes of a request body the server reads */
#define TW_HTTP_LINGER_NS TW_SEC(2) /* draining after the server closes */
#define TW_HTTP_SEND_CHUNK 16384    /* bytes offered to TCP per send */

/* Defaults for zero fields of the site. */
#define TW_HTTP_PAGES_DEFAULT 500
#define TW_HTTP_SIZE_MIN_DEFAULT 64
#define TW_HTTP_SIZE_MEDIAN_DEFAULT 4096
#define TW_HTTP_SIZE_MAX_DEFAULT (1u << 20)
#define TW_HTTP_SPREAD_DEFAULT 10 /* quarter doublings: sigma = 2.5 doublings */

/* A generated site; zero fields take the defaults above. */
typedef struct tw_http_site {
    uint64_t seed;
    uint32_t pages;       /* 1..TW_HTTP_PAGES_MAX */
    uint32_t size_min;    /* bytes; sizes are clamped to [size_min, size_max] */
    uint32_t size_median; /* bytes: the log-normal's median before clamping */
    uint32_t size_max;
    uint8_t spread; /* the log-normal's sigma, in quarter doublings (<= 32) */
    uint8_t pad_[7];
} tw_http_site;

/* Fills the zero fields of *site with the defaults and asserts the bounds. */
void tw_app_http_site_resolve(tw_http_site *site);
/* The size in bytes of page p (< pages) of a resolved site. */
uint32_t tw_app_http_page_size(const tw_http_site *site, uint32_t p);

/* Page p's body is made in blocks of 8 bytes: block b is one mix of (p, b)
 * whose 6-bit digits, low first, pick the bytes from a base64 alphabet
 * (printable, so a person with curl can read it too). Whoever makes or
 * checks many bytes takes one mix per block, not one per byte. */
static inline uint64_t tw_app_http_body_block(uint32_t p, uint64_t b)
{
    uint64_t x = b * 0x9e3779b97f4a7c15ull + ((uint64_t)p << 32 | 0x5851f42du);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

/* Byte k (< 8) of a block. */
static inline uint8_t tw_app_http_body_digit(uint64_t block, uint32_t k)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    return (uint8_t)alphabet[(block >> (k * 6)) & 63];
}

/* The byte at offset i of page p's body. */
static inline uint8_t tw_app_http_body_byte(uint32_t p, uint64_t i)
{
    return tw_app_http_body_digit(tw_app_http_body_block(p, i >> 3), (uint32_t)(i & 7));
}

enum {
    /* Leave Nagle's algorithm on (servers turn it off, as nginx's
     * tcp_nodelay does: a response's tail segment would otherwise wait for
     * the client's delayed ACK). */
    TW_HTTP_SERVER_NAGLE = 1 << 0,
};

typedef struct tw_http_server_args {
    tw_http_site site;
    uint16_t port;
    uint16_t conns_max; /* 0: TW_HTTP_CONNS_MAX */
    uint32_t idle_ms;   /* 0: connections never time out idle */
    uint8_t flags;      /* TW_HTTP_SERVER_* */
    uint8_t pad_[7];
} tw_http_server_args;

_Static_assert(sizeof(tw_http_server_args) <= 48, "fits the spawn arguments");

enum {
    TW_HTTP_CLIENT_ZIPF = 1 << 0,  /* page k drawn with weight about 1/(k+1) */
    TW_HTTP_CLIENT_HEAD = 1 << 1,  /* HEAD instead of GET */
    TW_HTTP_CLIENT_NAGLE = 1 << 2, /* leave Nagle's algorithm on */
};

typedef struct tw_http_client_args {
    tw_load_args load; /* server, port, connections, period, count, timeout */
    uint32_t pages;    /* paths /0 .. /pages-1; 0: TW_HTTP_PAGES_DEFAULT. More
                        * than the server's site gives 404s. */
    uint8_t flags;     /* TW_HTTP_CLIENT_* */
    uint8_t pad_[3];
} tw_http_client_args;

_Static_assert(sizeof(tw_http_client_args) <= 48, "fits the spawn arguments");

/* Metrics.
 * server: requests (heads parsed whole), responses_2xx, responses_4xx,
 *   responses_5xx, parse_errors (400 and 431 answers), bytes (response
 *   bytes accepted by TCP), body_bytes, bytes_received, accepted, closed,
 *   resets (reset or timed out by TCP), refused, timeouts (idle or linger),
 *   site_bytes (the site's total size), listen_error.
 * client: the engine's (tw_load_report: requests, responses, errors, ...,
 *   latency, latency_corrected) and responses_1xx (interim), responses_2xx,
 *   responses_3xx, responses_4xx, responses_5xx, body_bytes, mismatches
 *   (200 responses whose body differed from the page). */

#endif
