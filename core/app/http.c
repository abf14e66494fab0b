/* HTTP/1.1 server and load client as sans-io tasks.
 *
 * Reading list:
 *   RFC 9112  HTTP/1.1 message syntax: §2.2 message parsing (bare LF, bare
 *             CR, empty lines before the request line), §3 request line,
 *             §5 field syntax (no whitespace before the colon, obs-fold),
 *             §6 message body (Content-Length, Transfer-Encoding), §9.3
 *             persistence, §9.6 tear-down (lingering close)
 *   RFC 9110  HTTP semantics: §6.6.1 Date, §9.1 methods (case-sensitive),
 *             §15 status codes (405 with Allow, 413, 431 (RFC 6585), 501,
 *             505)
 *
 * IMPLEMENTATION NOTES. Both parsers are byte-at-a-time state machines
 * over whatever slice TCP delivers, so a message may be split anywhere;
 * neither keeps the message, only a few fields and a 24-byte token (a
 * method, a version, a header name, a Connection token). The server parses
 * one request per connection at a time: when a request head ends it stops
 * consuming, so the bytes of the next (pipelined) request stay in TCP's
 * receive buffer until the response has been handed to TCP; then it
 * consumes 0 bytes, which makes TCP deliver what is readable again. */
#include "app/http.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/rng.h"

/* ---- text helpers ----------------------------------------------------------- */

typedef struct wbuf {
    char *p;
    uint32_t len;
    uint32_t cap;
} wbuf;

static void put(wbuf *w, const char *s)
{
    for (; *s; s++) {
        TW_ASSERT(w->len < w->cap);
        w->p[w->len++] = *s;
    }
}

static void put_u64(wbuf *w, uint64_t v)
{
    char d[20];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        TW_ASSERT(w->len < w->cap);
        w->p[w->len++] = d[--n];
    }
}

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(uint8_t b)
{
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')) {
        return true;
    }
    return b != 0 && strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

static uint8_t lower(uint8_t b)
{
    return b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
}

#define TOK_MAX 24

typedef struct token {
    uint8_t len;
    bool over; /* longer than TOK_MAX: not one we look for */
    char s[TOK_MAX];
} token;

static void tok_add(token *t, uint8_t b)
{
    if (t->len < TOK_MAX) {
        t->s[t->len++] = (char)b;
    } else {
        t->over = true;
    }
}

static bool tok_is(const token *t, const char *s)
{
    size_t n = strlen(s);
    return !t->over && t->len == n && memcmp(t->s, s, n) == 0;
}

static void tok_clear(token *t)
{
    t->len = 0;
    t->over = false;
}

/* ---- the site ------------------------------------------------------------------- */

/* Bytes off .. off + n - 1 of page p's body, one mix per block of 8: the
 * server makes every byte it sends and the client checks every byte it
 * gets, so this is their inner loop. */
static void body_fill(uint32_t p, uint64_t off, uint8_t *out, size_t n)
{
    size_t j = 0;
    for (; j < n && ((off + j) & 7) != 0; j++) {
        out[j] = tw_app_http_body_byte(p, off + j);
    }
    for (; j + 8 <= n; j += 8) {
        uint64_t block = tw_app_http_body_block(p, (off + j) >> 3);
        for (uint32_t k = 0; k < 8; k++) {
            out[j + k] = tw_app_http_body_digit(block, k);
        }
    }
    for (; j < n; j++) {
        out[j] = tw_app_http_body_byte(p, off + j);
    }
}

void tw_app_http_site_resolve(tw_http_site *s)
{
    s->pages = s->pages ? s->pages : TW_HTTP_PAGES_DEFAULT;
    s->size_min = s->size_min ? s->size_min : TW_HTTP_SIZE_MIN_DEFAULT;
    s->size_median = s->size_median ? s->size_median : TW_HTTP_SIZE_MEDIAN_DEFAULT;
    s->size_max = s->size_max ? s->size_max : TW_HTTP_SIZE_MAX_DEFAULT;
    s->spread = s->spread ? s->spread : TW_HTTP_SPREAD_DEFAULT;
    TW_ASSERT(s->pages <= TW_HTTP_PAGES_MAX);
    TW_ASSERT(s->size_min <= s->size_median);
    TW_ASSERT(s->size_median <= s->size_max);
    TW_ASSERT(s->spread <= 32);
}

/* 2^(i/16) in Q16, i = 0..16: 2^f by linear interpolation between them is
 * within 0.02 % of the truth, in integers, so the same on every machine. */
static const uint32_t pow2_q16[17] = {65536,  68438,  71468,  74632,  77936,  81386,
                                      84990,  88752,  92682,  96785,  101070, 105545,
                                      110218, 115098, 120194, 125515, 131072};

static uint64_t pow2_frac_q16(uint32_t f)
{
    TW_ASSERT(f < 65536);
    uint32_t i = f >> 12;
    uint32_t r = f & 0xfff;
    return pow2_q16[i] + (((uint64_t)(pow2_q16[i + 1] - pow2_q16[i]) * r) >> 12);
}

uint32_t tw_app_http_page_size(const tw_http_site *s, uint32_t p)
{
    TW_ASSERT(p < s->pages);
    TW_ASSERT(s->size_median > 0);
    tw_rng r;
    tw_rng_init(&r, s->seed, p);
    /* Irwin-Hall: the sum of 12 uniforms less 6 has mean 0 and variance 1,
     * close to a standard normal (tails cut at 6 sigma); in Q16. */
    int64_t sum = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t x = tw_rng_next(&r);
        for (int j = 0; j < 4; j++) {
            sum += (int64_t)((x >> (16 * j)) & 0xffff);
        }
    }
    int64_t z = sum - 393210;                            /* (sum + 12 * 0.5) / 65536 - 6, in Q16 */
    int64_t e = z * s->spread / 4 + (int64_t)64 * 65536; /* log2 of size/median, offset */
    TW_ASSERT(e > 0);
    int32_t ip = (int32_t)(e >> 16) - 64;
    uint64_t v = (uint64_t)s->size_median * pow2_frac_q16((uint32_t)(e & 0xffff));
    int32_t shift = ip - 16;
    if (shift > 14) {
        v = UINT64_MAX; /* past any size_max */
    } else if (shift >= 0) {
        v <<= shift;
    } else {
        v = shift <= -64 ? 0 : v >> -shift;
    }
    v = v < s->size_min ? s->size_min : v;
    v = v > s->size_max ? s->size_max : v;
    return (uint32_t)v;
}

/* ---- server: the request parser ---------------------------------------------------- */

typedef enum sphase {
    S_FREE = 0,
    S_READ,    /* parsing a request head */
    S_BODY,    /* discarding a request body */
    S_RESPOND, /* handing the response to TCP */
    S_LINGER,  /* closed our side: discarding input until the end */
} sphase;

typedef enum pstate {
    P_START = 0, /* before the request line */
    P_METHOD,
    P_TARGET,
    P_VERSION,
    P_HLINE, /* the start of a field line, or the empty line */
    P_HNAME,
    P_HVALUE,
} pstate;

typedef enum hkind { H_OTHER = 0, H_HOST, H_CONNECTION, H_CONTENT_LENGTH, H_TE } hkind;
typedef enum method { M_OTHER = 0, M_GET, M_HEAD } method;

enum {
    F_V10 = 1 << 0,       /* HTTP/1.0 */
    F_CLOSE = 1 << 1,     /* Connection: close */
    F_KEEPALIVE = 1 << 2, /* Connection: keep-alive */
    F_NOT_PAGE = 1 << 3,  /* the target is no page of the site */
    F_QUERY = 1 << 4,     /* in the target's query */
    F_TE = 1 << 5,        /* Transfer-Encoding present */
    F_CL_SEEN = 1 << 6,   /* a Content-Length field came */
    F_DIGITS = 1 << 7,    /* Content-Length: digits seen in this field */
    F_AFTER_WS = 1 << 8,  /* Content-Length: whitespace after the digits */
    F_V_OTHER = 1 << 9,   /* HTTP/2 and later: 505 */
};

#define HEAD_BUF 256 /* bytes of a response head: the longest is about 140 */

typedef struct hs_conn {
    int64_t conn;
    uint8_t phase;
    uint8_t ps;
    uint8_t hdr;
    uint8_t method;
    bool cr; /* a CR came: only LF may follow */
    bool in_send;
    bool blocked;
    bool close_after; /* close once the response is out */
    bool peer_closed;
    bool rx_pending; /* bytes left unconsumed in TCP: consume 0 to see them again */
    bool want_rearm;
    bool want_close;
    bool want_abort;
    bool want_nodelay;
    uint8_t host_count;
    uint16_t flags;
    uint16_t status;
    uint16_t head_len;
    uint32_t head_bytes;
    uint32_t target_len;
    uint32_t page;
    uint32_t offered;
    uint64_t clen;       /* the request's Content-Length; then body bytes left to discard */
    uint64_t clen_field; /* the value in the field being parsed */
    uint64_t consume;
    uint64_t content_length; /* of the response */
    uint64_t body_len;       /* bytes of it sent: 0 for HEAD */
    uint64_t resp_len;
    uint64_t resp_off;
    tw_ns deadline; /* idle or linger */
    token tok;
    char head[HEAD_BUF]; /* the response's head, rendered once */
} hs_conn;

typedef struct server {
    tw_http_server_args a;
    bool want_listen;
    int32_t listen_error;
    int64_t refuse_conn; /* an accepted connection beyond the limit: abort it */
    tw_ns armed;
    uint32_t conns_max;
    uint64_t site_bytes;
    uint64_t requests, parse_errors;
    uint64_t responses_2xx, responses_4xx, responses_5xx;
    uint64_t bytes, body_bytes, bytes_received;
    uint64_t accepted, closed, resets, refused, timeouts;
    hs_conn c[TW_HTTP_CONNS_MAX];
    uint8_t buf[TW_HTTP_SEND_CHUNK]; /* the send in flight: ours until the next pop */
    /* The body bytes made last: a page asked for again (a hot page) costs
     * a copy, not a making (which is most of a small response's cost). */
    uint32_t made_page;
    uint32_t made_len; /* 0: nothing made yet */
    uint64_t made_off;
    uint8_t made[TW_HTTP_SEND_CHUNK + 8]; /* a chunk from a block's start */
} server;

static void parser_reset(hs_conn *c)
{
    c->ps = P_START;
    c->cr = false;
    c->hdr = H_OTHER;
    c->method = M_OTHER;
    c->host_count = 0;
    c->flags = 0;
    c->head_bytes = 0;
    c->target_len = 0;
    c->page = 0;
    c->clen = 0;
    c->clen_field = 0;
    tok_clear(&c->tok);
}

/* A byte of the request target (origin-form only): "/" is page 0, "/<n>"
 * page n when n < pages, written without leading zeros; a query is
 * ignored. NOTE: absolute-form and asterisk-form are answered 400. */
static bool on_target_byte(const server *s, hs_conn *c, uint8_t b)
{
    uint32_t at = c->target_len++;
    if (at == 0) {
        return b == '/';
    }
    if (c->flags & F_QUERY) {
        return true;
    }
    if (b == '?') {
        c->flags |= F_QUERY;
        return true;
    }
    bool digit = b >= '0' && b <= '9';
    bool leading_zero = at == 2 && c->page == 0; /* "/0" then more */
    if (!digit || leading_zero || c->page > (s->a.site.pages - 1) / 10) {
        c->flags |= F_NOT_PAGE;
        return true;
    }
    c->page = c->page * 10 + (uint32_t)(b - '0');
    if (c->page >= s->a.site.pages) {
        c->flags |= F_NOT_PAGE;
    }
    return true;
}

/* The version at the end of the request line; false: malformed. */
static bool on_version(hs_conn *c)
{
    const token *t = &c->tok;
    if (t->over || t->len != 8 || memcmp(t->s, "HTTP/", 5) != 0 || t->s[6] != '.' ||
        t->s[5] < '0' || t->s[5] > '9' || t->s[7] < '0' || t->s[7] > '9') {
        return false;
    }
    if (t->s[5] != '1') {
        c->flags |= F_V_OTHER;
    } else if (t->s[7] == '0') {
        c->flags |= F_V10;
    }
    /* RFC 9110 §6.2: a later 1.x minor version is answered as 1.1. */
    return true;
}

static void on_field_name(hs_conn *c)
{
    const token *t = &c->tok;
    c->hdr = tok_is(t, "host")                ? H_HOST
             : tok_is(t, "connection")        ? H_CONNECTION
             : tok_is(t, "content-length")    ? H_CONTENT_LENGTH
             : tok_is(t, "transfer-encoding") ? H_TE
                                              : H_OTHER;
    if (c->hdr == H_HOST) {
        c->host_count = (uint8_t)(c->host_count < 255 ? c->host_count + 1 : 255);
    } else if (c->hdr == H_TE) {
        c->flags |= F_TE;
    }
    c->flags &= (uint16_t) ~(F_DIGITS | F_AFTER_WS);
    c->clen_field = 0;
    tok_clear(&c->tok);
}

/* RFC 9110 §7.6.1: Connection is a list of tokens. */
static void on_connection_token(hs_conn *c)
{
    for (uint8_t i = 0; i < c->tok.len; i++) {
        c->tok.s[i] = (char)lower((uint8_t)c->tok.s[i]);
    }
    if (tok_is(&c->tok, "close")) {
        c->flags |= F_CLOSE;
    } else if (tok_is(&c->tok, "keep-alive")) {
        c->flags |= F_KEEPALIVE;
    }
    tok_clear(&c->tok);
}

/* RFC 9112 §6.3: Content-Length = 1*DIGIT (OWS around it); a value that
 * is not, or differs from an earlier one, is unrecoverable: 400. */
static bool on_clen_byte(hs_conn *c, uint8_t b)
{
    if (b == ' ' || b == '\t') {
        if (c->flags & F_DIGITS) {
            c->flags |= F_AFTER_WS;
        }
        return true;
    }
    if (b < '0' || b > '9' || (c->flags & F_AFTER_WS)) {
        return false;
    }
    c->flags |= F_DIGITS;
    /* Saturates far above TW_HTTP_BODY_MAX: such a body is 413 anyway. */
    c->clen_field = c->clen_field > (1ull << 40) ? c->clen_field : c->clen_field * 10 + (b - '0');
    return true;
}

static bool on_field_end(hs_conn *c)
{
    if (c->hdr == H_CONNECTION) {
        on_connection_token(c);
    } else if (c->hdr == H_CONTENT_LENGTH) {
        if (!(c->flags & F_DIGITS)) {
            return false;
        }
        if ((c->flags & F_CL_SEEN) && c->clen != c->clen_field) {
            return false;
        }
        c->flags |= F_CL_SEEN;
        c->clen = c->clen_field;
    }
    c->hdr = H_OTHER;
    return true;
}

static bool on_value_byte(hs_conn *c, uint8_t b)
{
    /* RFC 9110 §5.5: no NUL or other control characters but HTAB. */
    if ((b < 0x20 && b != '\t') || b == 0x7f) {
        return false;
    }
    if (c->hdr == H_CONTENT_LENGTH) {
        return on_clen_byte(c, b);
    }
    if (c->hdr == H_CONNECTION) {
        if (b == ',' || b == ' ' || b == '\t') {
            on_connection_token(c);
        } else {
            tok_add(&c->tok, b);
        }
    }
    return true;
}

typedef enum pres { PR_MORE, PR_HEAD, PR_BAD } pres;

/* One byte after the line ending was resolved: LF stands for CRLF too
 * (RFC 9112 §2.2). */
static pres parse_byte(server *s, hs_conn *c, uint8_t b)
{
    switch ((pstate)c->ps) {
    case P_START:
        if (b == '\n') {
            return PR_MORE; /* RFC 9112 §2.2: empty lines before the request line */
        }
        if (!is_tchar(b)) {
            return PR_BAD;
        }
        tok_add(&c->tok, b);
        c->ps = P_METHOD;
        return PR_MORE;
    case P_METHOD:
        if (is_tchar(b)) {
            tok_add(&c->tok, b);
            return PR_MORE;
        }
        if (b != ' ') {
            return PR_BAD;
        }
        /* RFC 9110 §9.1: method names are case-sensitive. */
        c->method = tok_is(&c->tok, "GET") ? M_GET : tok_is(&c->tok, "HEAD") ? M_HEAD : M_OTHER;
        tok_clear(&c->tok);
        c->ps = P_TARGET;
        return PR_MORE;
    case P_TARGET:
        if (b == ' ' && c->target_len > 0) {
            c->ps = P_VERSION;
            return PR_MORE;
        }
        if (b <= ' ' || b >= 0x7f) {
            return PR_BAD;
        }
        return on_target_byte(s, c, b) ? PR_MORE : PR_BAD;
    case P_VERSION:
        if (b == '\n') {
            if (!on_version(c)) {
                return PR_BAD;
            }
            tok_clear(&c->tok);
            c->ps = P_HLINE;
            return PR_MORE;
        }
        if (b <= ' ' || b >= 0x7f) {
            return PR_BAD;
        }
        tok_add(&c->tok, b);
        return PR_MORE;
    case P_HLINE:
        if (b == '\n') {
            return PR_HEAD;
        }
        if (!is_tchar(b)) {
            return PR_BAD; /* RFC 9112 §5.2: obs-fold may be rejected with 400 */
        }
        tok_add(&c->tok, lower(b));
        c->ps = P_HNAME;
        return PR_MORE;
    case P_HNAME:
        if (is_tchar(b)) {
            tok_add(&c->tok, lower(b));
            return PR_MORE;
        }
        if (b != ':') {
            return PR_BAD; /* RFC 9112 §5.1: no whitespace before the colon */
        }
        on_field_name(c);
        c->ps = P_HVALUE;
        return PR_MORE;
    case P_HVALUE:
        if (b == '\n') {
            c->ps = P_HLINE;
            return on_field_end(c) ? PR_MORE : PR_BAD;
        }
        return on_value_byte(c, b) ? PR_MORE : PR_BAD;
    }
    TW_UNREACHABLE();
}

/* Feeds one byte of a request head: handles line endings and the limit. */
static pres feed(server *s, hs_conn *c, uint8_t b)
{
    if (++c->head_bytes > TW_HTTP_HEAD_MAX) {
        return PR_BAD;
    }
    if (c->cr) {
        if (b != '\n') {
            return PR_BAD; /* RFC 9112 §2.2: a bare CR */
        }
        c->cr = false;
    } else if (b == '\r') {
        c->cr = true;
        return PR_MORE;
    }
    return parse_byte(s, c, b);
}

/* ---- server: responses --------------------------------------------------------------- */

static const char *reason(uint16_t status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    }
    TW_UNREACHABLE();
}

static uint32_t write_head(const hs_conn *c, char *out)
{
    wbuf w = {out, 0, HEAD_BUF};
    put(&w, "HTTP/1.1 ");
    put_u64(&w, c->status);
    put(&w, " ");
    put(&w, reason(c->status));
    put(&w, "\r\nServer: twin\r\nContent-Type: text/plain\r\nContent-Length: ");
    put_u64(&w, c->content_length);
    put(&w, "\r\n");
    if (c->status == 405) {
        put(&w, "Allow: GET, HEAD\r\n"); /* RFC 9110 §15.5.6 */
    }
    if (c->close_after) {
        put(&w, "Connection: close\r\n");
    } else if (c->flags & F_V10) {
        put(&w, "Connection: keep-alive\r\n");
    }
    put(&w, "\r\n");
    return w.len;
}

static void respond(server *s, hs_conn *c, uint16_t status)
{
    c->status = status;
    bool error_close = status != 200 && status != 404;
    bool v10_close = (c->flags & F_V10) && !(c->flags & F_KEEPALIVE);
    c->close_after = error_close || (c->flags & F_CLOSE) || v10_close || c->peer_closed;
    if (status == 200) {
        c->content_length = tw_app_http_page_size(&s->a.site, c->page);
    } else {
        c->content_length = strlen(reason(status)) + 1;
    }
    /* HEAD: the length a GET would have had, and no body (RFC 9110 §9.3.2). */
    c->body_len = c->method == M_HEAD ? 0 : c->content_length;
    c->head_len = (uint16_t)write_head(c, c->head);
    c->resp_len = c->head_len + c->body_len;
    c->resp_off = 0;
    c->phase = S_RESPOND;
}

/* The head is complete: what to answer. */
static void on_head(server *s, hs_conn *c)
{
    s->requests++;
    uint16_t status = 200;
    if (c->flags & F_V_OTHER) {
        status = 505;
    } else if (c->flags & F_TE) {
        status = 501; /* RFC 9112 §6.1: a transfer coding we do not implement */
    } else if (c->host_count > 1 || (c->host_count == 0 && !(c->flags & F_V10))) {
        status = 400; /* RFC 9112 §3.2 */
    } else if (c->clen > TW_HTTP_BODY_MAX) {
        status = 413;
    } else if (c->method == M_OTHER) {
        status = 405;
    } else if (c->flags & F_NOT_PAGE) {
        status = 404;
    }
    if (status == 400) {
        s->requests--;
        s->parse_errors++;
    }
    if ((status == 200 || status == 404) && c->clen > 0) {
        c->phase = S_BODY; /* RFC 9112 §6.3: read the body, then answer */
        c->status = status;
        return;
    }
    respond(s, c, status);
}

static void start_linger(hs_conn *c, tw_ns now)
{
    c->phase = S_LINGER;
    c->want_close = true;
    c->deadline = now + TW_HTTP_LINGER_NS;
    c->want_rearm = c->rx_pending; /* drain what waits */
    c->rx_pending = false;
}

static tw_ns idle_deadline(const server *s, tw_ns now)
{
    return s->a.idle_ms ? now + TW_MS(s->a.idle_ms) : TW_NS_NEVER;
}

/* Back to reading after a response, or the end of the connection. */
static void next_request(server *s, hs_conn *c, tw_ns now)
{
    if (c->close_after) {
        start_linger(c, now);
        return;
    }
    parser_reset(c);
    c->phase = S_READ;
    if (c->rx_pending) {
        c->want_rearm = true; /* a pipelined request waits */
        c->rx_pending = false;
    } else if (c->peer_closed) {
        start_linger(c, now);
    }
}

static void count_response(server *s, uint16_t status)
{
    if (status < 300) {
        s->responses_2xx++;
    } else if (status < 500) {
        s->responses_4xx++;
    } else {
        s->responses_5xx++;
    }
}

/* ---- server: the task --------------------------------------------------------------- */

static hs_conn *server_find(server *s, int64_t conn)
{
    for (uint32_t i = 0; i < s->conns_max; i++) {
        if (s->c[i].phase != S_FREE && s->c[i].conn == conn) {
            return &s->c[i];
        }
    }
    return NULL;
}

static void server_start(server *s, const tw_http_server_args *a)
{
    s->a = *a;
    tw_app_http_site_resolve(&s->a.site);
    TW_ASSERT(s->a.port != 0);
    TW_ASSERT(s->a.conns_max <= TW_HTTP_CONNS_MAX);
    s->conns_max = s->a.conns_max ? s->a.conns_max : TW_HTTP_CONNS_MAX;
    s->want_listen = true;
    s->refuse_conn = -1;
    s->armed = TW_NS_NEVER;
    /* The site's total size, a fingerprint that two hosts can compare. */
    for (uint32_t p = 0; p < s->a.site.pages; p++) {
        s->site_bytes += tw_app_http_page_size(&s->a.site, p);
    }
}

/* Request bytes on a reading connection: parse up to the end of one head. */
static uint64_t server_read(server *s, hs_conn *c, const uint8_t *d, uint64_t len, tw_ns now)
{
    uint64_t i = 0;
    while (i < len && c->phase == S_READ) {
        pres r = feed(s, c, d[i++]);
        if (r == PR_HEAD) {
            on_head(s, c);
        } else if (r == PR_BAD) {
            s->parse_errors++;
            c->flags |= F_CLOSE;
            respond(s, c, c->head_bytes > TW_HTTP_HEAD_MAX ? 431 : 400);
        }
    }
    if (c->phase == S_BODY) {
        uint64_t n = len - i < c->clen ? len - i : c->clen;
        i += n;
        c->clen -= n;
        if (c->clen == 0) {
            respond(s, c, c->status);
        }
    }
    return i;
}

static void server_data(server *s, hs_conn *c, const tw_tcp_event *ev, tw_ns now)
{
    if (c->phase == S_LINGER) {
        c->consume += ev->len; /* RFC 9112 §9.6: read and discard */
        s->bytes_received += ev->len;
        return;
    }
    c->deadline = idle_deadline(s, now);
    if (c->phase == S_RESPOND) {
        c->rx_pending = true; /* pipelined: it waits for this response */
        return;
    }
    uint64_t used = server_read(s, c, ev->data, ev->len, now);
    s->bytes_received += used;
    c->consume += used;
    c->rx_pending = used < ev->len;
    bool reading = c->phase == S_READ || c->phase == S_BODY;
    if (reading && c->peer_closed && !c->rx_pending) {
        start_linger(c, now); /* the peer's FIN cut a request short */
    }
}

static void server_accept(server *s, int64_t conn, tw_ns now)
{
    hs_conn *c = NULL;
    for (uint32_t i = 0; c == NULL && i < s->conns_max; i++) {
        if (s->c[i].phase == S_FREE) {
            c = &s->c[i];
        }
    }
    if (c == NULL) {
        s->refused++;
        TW_ASSERT(s->refuse_conn < 0);
        s->refuse_conn = conn;
        return;
    }
    memset(c, 0, sizeof(*c));
    c->conn = conn;
    c->phase = S_READ;
    c->deadline = idle_deadline(s, now);
    c->want_nodelay = !(s->a.flags & TW_HTTP_SERVER_NAGLE);
    parser_reset(c);
    s->accepted++;
}

static void server_peer_closed(server *s, hs_conn *c, tw_ns now)
{
    c->peer_closed = true;
    bool reading = c->phase == S_READ || c->phase == S_BODY;
    if (reading && !c->rx_pending && !c->want_rearm) {
        start_linger(c, now);
    }
}

static void server_sent(server *s, hs_conn *c, int32_t result, tw_ns now)
{
    c->in_send = false;
    if (result < 0 || c->phase != S_RESPOND) {
        return; /* the connection is ending; its terminal event follows */
    }
    uint64_t n = (uint64_t)result;
    TW_ASSERT(n <= c->offered);
    uint64_t body_before = c->resp_off > c->head_len ? c->resp_off - c->head_len : 0;
    c->resp_off += n;
    uint64_t body_after = c->resp_off > c->head_len ? c->resp_off - c->head_len : 0;
    s->bytes += n;
    s->body_bytes += body_after - body_before;
    c->blocked = n < c->offered;
    if (n > 0) {
        c->deadline = idle_deadline(s, now);
    }
    if (c->resp_off == c->resp_len) {
        count_response(s, c->status);
        next_request(s, c, now);
    }
}

static void server_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    server *s = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        tw_http_server_args a;
        memcpy(&a, in->msg->data, sizeof(a));
        server_start(s, &a);
        return;
    }
    if (in->kind != TW_TIN_NET) {
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_LISTENING) {
        s->listen_error = n->result;
        return;
    }
    hs_conn *c = server_find(s, n->conn);
    if (n->kind == TW_TNET_SENT) {
        if (c) {
            server_sent(s, c, n->result, now);
        }
        return;
    }
    if (n->kind != TW_TNET_TCP) {
        return;
    }
    const tw_tcp_event *ev = n->tcp;
    if (ev->kind == TW_TCP_EV_ACCEPTED) {
        server_accept(s, ev->conn, now);
        return;
    }
    if (c == NULL) {
        return;
    }
    switch (ev->kind) {
    case TW_TCP_EV_DATA:
        server_data(s, c, ev, now);
        return;
    case TW_TCP_EV_WRITABLE:
        c->blocked = false;
        return;
    case TW_TCP_EV_PEER_CLOSED:
        server_peer_closed(s, c, now);
        return;
    case TW_TCP_EV_CLOSED:
        s->closed++;
        c->phase = S_FREE;
        return;
    case TW_TCP_EV_RESET:
    case TW_TCP_EV_TIMED_OUT:
        s->resets++;
        c->phase = S_FREE;
        return;
    default:
        return;
    }
}

static void server_tick(tw_task *t, tw_ns now)
{
    server *s = tw_task_state(t);
    s->armed = TW_NS_NEVER;
    for (uint32_t i = 0; i < s->conns_max; i++) {
        hs_conn *c = &s->c[i];
        if (c->phase != S_FREE && !c->want_abort && c->deadline <= now) {
            s->timeouts++;
            c->want_abort = true;
        }
    }
}

/* Bytes off .. off + n - 1 (n <= TW_HTTP_SEND_CHUNK) of page p's body,
 * from what was made last when it holds them, else made afresh from off
 * (rounded down to a block) for as much as the page and the store hold. */
static void body_copy(server *s, uint32_t p, uint64_t off, uint8_t *out, uint32_t n)
{
    TW_ASSERT(n <= TW_HTTP_SEND_CHUNK);
    bool held = s->made_len > 0 && s->made_page == p && off >= s->made_off &&
                off + n <= s->made_off + s->made_len;
    if (!held) {
        uint64_t from = off & ~(uint64_t)7;
        uint64_t left = tw_app_http_page_size(&s->a.site, p) - from;
        s->made_page = p;
        s->made_off = from;
        s->made_len = left < sizeof s->made ? (uint32_t)left : (uint32_t)sizeof s->made;
        body_fill(p, from, s->made, s->made_len);
        TW_ASSERT(off + n <= s->made_off + s->made_len);
    }
    memcpy(out, s->made + (off - s->made_off), n);
}

/* The next chunk of c's response into s->buf: head, then body. */
static uint32_t fill_response(server *s, hs_conn *c)
{
    uint32_t n = 0;
    if (c->resp_off < c->head_len) {
        n = c->head_len - (uint32_t)c->resp_off;
        memcpy(s->buf, c->head + c->resp_off, n);
    }
    uint64_t body_off = c->resp_off + n - c->head_len;
    uint64_t left = c->resp_len - c->resp_off - n;
    uint32_t room = TW_HTTP_SEND_CHUNK - n;
    uint32_t take = left < room ? (uint32_t)left : room;
    if (c->status == 200) {
        body_copy(s, c->page, body_off, s->buf + n, take);
        return n + take;
    }
    const char *text = reason(c->status);
    for (uint32_t j = 0; j < take; j++) {
        uint64_t at = body_off + j;
        s->buf[n + j] = at < strlen(text) ? (uint8_t)text[at] : '\n';
    }
    return n + take;
}

static bool conn_pop(server *s, hs_conn *c, tw_task_output *out)
{
    if (c->want_abort) {
        out->kind = TW_TOUT_TCP_ABORT;
        out->u.tcp.conn = c->conn;
        c->phase = S_FREE; /* no event follows an abort */
        return true;
    }
    if (c->want_nodelay) {
        c->want_nodelay = false;
        out->kind = TW_TOUT_TCP_NODELAY;
        out->u.tcp.conn = c->conn;
        out->u.tcp.len = 1;
        return true;
    }
    if (c->consume || c->want_rearm) {
        /* Consuming 0 bytes makes TCP deliver what is readable again. */
        out->kind = TW_TOUT_TCP_CONSUME;
        out->u.tcp.conn = c->conn;
        out->u.tcp.len = c->consume;
        c->consume = 0;
        c->want_rearm = false;
        return true;
    }
    if (c->phase == S_RESPOND && !c->in_send && !c->blocked && c->resp_off < c->resp_len) {
        uint32_t n = fill_response(s, c);
        c->offered = n;
        c->in_send = true;
        out->kind = TW_TOUT_TCP_SEND;
        out->u.tcp.conn = c->conn;
        out->u.tcp.data = s->buf;
        out->u.tcp.len = n;
        return true;
    }
    if (c->want_close) {
        c->want_close = false;
        out->kind = TW_TOUT_TCP_CLOSE;
        out->u.tcp.conn = c->conn;
        return true;
    }
    return false;
}

static bool server_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    server *s = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    if (s->want_listen) {
        s->want_listen = false;
        out->kind = TW_TOUT_TCP_LISTEN;
        out->u.tcp_open.port = s->a.port;
        return true;
    }
    if (s->refuse_conn >= 0) {
        out->kind = TW_TOUT_TCP_ABORT;
        out->u.tcp.conn = s->refuse_conn;
        s->refuse_conn = -1;
        return true;
    }
    tw_ns d = TW_NS_NEVER;
    for (uint32_t i = 0; i < s->conns_max; i++) {
        hs_conn *c = &s->c[i];
        if (c->phase == S_FREE) {
            continue;
        }
        if (conn_pop(s, c, out)) {
            return true;
        }
        d = tw_ns_min(d, c->deadline);
    }
    if (d != s->armed) {
        s->armed = d;
        tw_task_out_timer(out, d);
        return true;
    }
    return false;
}

static void server_report(const tw_task *t, tw_metric_sink *m)
{
    const server *s = ((tw_task *)t)->state;
    m->counter(m, "requests", s->requests);
    m->counter(m, "responses_2xx", s->responses_2xx);
    m->counter(m, "responses_4xx", s->responses_4xx);
    m->counter(m, "responses_5xx", s->responses_5xx);
    m->counter(m, "parse_errors", s->parse_errors);
    m->counter(m, "bytes", s->bytes);
    m->counter(m, "body_bytes", s->body_bytes);
    m->counter(m, "bytes_received", s->bytes_received);
    m->counter(m, "accepted", s->accepted);
    m->counter(m, "closed", s->closed);
    m->counter(m, "resets", s->resets);
    m->counter(m, "refused", s->refused);
    m->counter(m, "timeouts", s->timeouts);
    m->counter(m, "site_bytes", s->site_bytes);
    m->counter(m, "listen_error", (uint64_t)(-(int64_t)s->listen_error));
}

const tw_task_ops tw_app_http_server = {
    .name = "http_server",
    .state_size = sizeof(server),
    .on_input = server_on_input,
    .on_tick = server_tick,
    .pop_output = server_pop,
    .report = server_report,
};

/* ---- client: the response parser ----------------------------------------------------- */

typedef enum rstate {
    R_VERSION = 0, /* "HTTP/1." and a digit */
    R_SP,
    R_CODE,
    R_REASON,
    R_HLINE,
    R_HNAME,
    R_HVALUE,
    R_BODY,
} rstate;

typedef struct hc_slot {
    uint32_t page;
    uint8_t rs;
    uint8_t pos; /* in the version, then the status code */
    uint8_t hdr;
    bool cr;
    bool v10;
    bool te;
    bool cl_seen;
    bool cl_digits;
    bool cl_ws;
    bool conn_close;
    bool keep_alive;
    bool mismatch;
    uint16_t status;
    uint32_t head_bytes;
    uint64_t cl;
    uint64_t cl_field;
    uint64_t body_len;
    uint64_t body_off;
    token tok;
} hc_slot;

typedef struct client {
    tw_http_client_args a;
    char host[32];         /* the Host field's value */
    uint64_t responses[6]; /* by class: [1] 1xx .. [5] 5xx; [0] unused */
    uint64_t body_bytes;
    uint64_t mismatches;
    hc_slot s[TW_LOAD_CONNS_MAX];
    tw_load load;
} client;

static void response_reset(hc_slot *h)
{
    uint32_t page = h->page;
    memset(h, 0, sizeof(*h));
    h->page = page;
}

static bool client_field_end(hc_slot *h)
{
    if (h->hdr == H_CONNECTION) {
        h->conn_close |= tok_is(&h->tok, "close");
        h->keep_alive |= tok_is(&h->tok, "keep-alive");
    } else if (h->hdr == H_CONTENT_LENGTH) {
        if (!h->cl_digits || (h->cl_seen && h->cl != h->cl_field)) {
            return false;
        }
        h->cl_seen = true;
        h->cl = h->cl_field;
    }
    tok_clear(&h->tok);
    h->hdr = H_OTHER;
    return true;
}

static bool client_value_byte(hc_slot *h, uint8_t b)
{
    if ((b < 0x20 && b != '\t') || b == 0x7f) {
        return false;
    }
    if (h->hdr == H_CONNECTION) {
        if (b == ',' || b == ' ' || b == '\t') {
            h->conn_close |= tok_is(&h->tok, "close");
            h->keep_alive |= tok_is(&h->tok, "keep-alive");
            tok_clear(&h->tok);
        } else {
            tok_add(&h->tok, lower(b));
        }
    } else if (h->hdr == H_CONTENT_LENGTH) {
        if (b == ' ' || b == '\t') {
            h->cl_ws = h->cl_digits;
            return true;
        }
        if (b < '0' || b > '9' || h->cl_ws || h->cl_field > (1ull << 40)) {
            return false; /* not a length, or one no page of ours has */
        }
        h->cl_digits = true;
        h->cl_field = h->cl_field * 10 + (b - '0');
    }
    return true;
}

/* One byte of a response head, line endings resolved. */
static pres client_head_byte(hc_slot *h, uint8_t b)
{
    static const char version[] = "HTTP/1.";
    switch ((rstate)h->rs) {
    case R_VERSION:
        if (h->pos < 7) {
            if (b != (uint8_t)version[h->pos++]) {
                return PR_BAD;
            }
            return PR_MORE;
        }
        if (b < '0' || b > '9') {
            return PR_BAD;
        }
        h->v10 = b == '0';
        h->rs = R_SP;
        return PR_MORE;
    case R_SP:
        if (b != ' ') {
            return PR_BAD;
        }
        h->rs = R_CODE;
        h->pos = 0;
        return PR_MORE;
    case R_CODE:
        if (b < '0' || b > '9') {
            return PR_BAD;
        }
        h->status = (uint16_t)(h->status * 10 + (b - '0'));
        if (++h->pos == 3) {
            h->rs = R_REASON;
        }
        return PR_MORE;
    case R_REASON:
        if (b == '\n') {
            if (h->status < 100) {
                return PR_BAD; /* RFC 9110 §15: 100 .. 599 */
            }
            h->rs = R_HLINE;
        }
        return PR_MORE; /* RFC 9112 §4: the reason phrase is to be ignored */
    case R_HLINE:
        if (b == '\n') {
            return PR_HEAD;
        }
        if (!is_tchar(b)) {
            return PR_BAD;
        }
        tok_add(&h->tok, lower(b));
        h->rs = R_HNAME;
        return PR_MORE;
    case R_HNAME:
        if (is_tchar(b)) {
            tok_add(&h->tok, lower(b));
            return PR_MORE;
        }
        if (b != ':') {
            return PR_BAD;
        }
        h->hdr = tok_is(&h->tok, "connection")          ? H_CONNECTION
                 : tok_is(&h->tok, "content-length")    ? H_CONTENT_LENGTH
                 : tok_is(&h->tok, "transfer-encoding") ? H_TE
                                                        : H_OTHER;
        h->te |= h->hdr == H_TE;
        h->cl_digits = false;
        h->cl_ws = false;
        h->cl_field = 0;
        tok_clear(&h->tok);
        h->rs = R_HVALUE;
        return PR_MORE;
    case R_HVALUE:
        if (b == '\n') {
            h->rs = R_HLINE;
            return client_field_end(h) ? PR_MORE : PR_BAD;
        }
        return client_value_byte(h, b) ? PR_MORE : PR_BAD;
    case R_BODY:
        break;
    }
    TW_UNREACHABLE();
}

static pres client_feed(hc_slot *h, uint8_t b)
{
    if (++h->head_bytes > TW_HTTP_HEAD_MAX) {
        return PR_BAD;
    }
    if (h->cr) {
        if (b != '\n') {
            return PR_BAD;
        }
        h->cr = false;
    } else if (b == '\r') {
        h->cr = true;
        return PR_MORE;
    }
    return client_head_byte(h, b);
}

static bool client_head(const client *k)
{
    return k->a.flags & TW_HTTP_CLIENT_HEAD;
}

/* The head ended: the body's length, or false when we cannot frame it.
 * NOTE: no Transfer-Encoding and no body delimited by the close; our
 * server sends neither. */
static bool on_response_head(const client *k, hc_slot *h)
{
    /* RFC 9112 §6.3: HEAD, 1xx, 204 and 304 have no body. */
    if (client_head(k) || h->status < 200 || h->status == 204 || h->status == 304) {
        h->body_len = 0;
        return true;
    }
    if (h->te || !h->cl_seen) {
        return false;
    }
    h->body_len = h->cl;
    return true;
}

static tw_load_rx response_done(client *k, hc_slot *h)
{
    uint32_t cls = h->status / 100;
    k->responses[cls <= 5 ? cls : 0]++;
    if (h->mismatch) {
        k->mismatches++;
    }
    /* RFC 9112 §9.3: 1.0 closes unless kept alive; 1.1 unless it says close. */
    bool closes = h->conn_close || (h->v10 && !h->keep_alive);
    return closes ? TW_LOAD_RX_DONE_CLOSE : TW_LOAD_RX_DONE;
}

static void check_body(client *k, hc_slot *h, const uint8_t *d, size_t n)
{
    if (h->status != 200 || client_head(k) || h->mismatch) {
        return;
    }
    uint8_t want[256];
    for (size_t j = 0; j < n; j += sizeof want) {
        size_t m = n - j < sizeof want ? n - j : sizeof want;
        body_fill(h->page, h->body_off + j, want, m);
        if (memcmp(d + j, want, m) != 0) {
            h->mismatch = true;
            return;
        }
    }
}

static tw_load_rx client_receive(void *app, uint32_t slot, const uint8_t *d, size_t len,
                                 size_t *used)
{
    client *k = app;
    hc_slot *h = &k->s[slot];
    size_t i = 0;
    while (i < len) {
        if (h->rs == R_BODY) {
            uint64_t left = h->body_len - h->body_off;
            size_t n = len - i < left ? len - i : (size_t)left;
            check_body(k, h, d + i, n);
            h->body_off += n;
            k->body_bytes += n;
            i += n;
            if (h->body_off == h->body_len) {
                *used = i;
                return response_done(k, h);
            }
            continue;
        }
        pres r = client_feed(h, d[i++]);
        if (r == PR_BAD || (r == PR_HEAD && !on_response_head(k, h))) {
            *used = i;
            return TW_LOAD_RX_BAD;
        }
        if (r != PR_HEAD) {
            continue;
        }
        if (h->status < 200) {
            k->responses[1]++; /* interim: the final response follows */
            response_reset(h);
        } else if (h->body_len == 0) {
            *used = i;
            return response_done(k, h);
        } else {
            h->rs = R_BODY;
        }
    }
    *used = len;
    return TW_LOAD_RX_MORE;
}

/* ---- client: requests ---------------------------------------------------------------- */

/* Zipf-like ranks: each octave of ranks [2^b, 2^(b+1)) is drawn with equal
 * probability and uniformly inside, so rank r has weight about 1/r; ranks
 * past `pages` are drawn again (bounded; then uniform). */
static uint32_t pick_page(tw_rng *rng, uint32_t pages, bool zipf)
{
    if (!zipf || pages < 2) {
        return (uint32_t)tw_rng_below(rng, pages);
    }
    uint32_t octaves = 64 - (uint32_t)__builtin_clzll(pages);
    for (int k = 0; k < 64; k++) {
        uint32_t b = (uint32_t)tw_rng_below(rng, octaves);
        uint64_t rank = (1ull << b) + tw_rng_below(rng, 1ull << b);
        if (rank <= pages) {
            return (uint32_t)(rank - 1);
        }
    }
    return (uint32_t)tw_rng_below(rng, pages);
}

#define REQUEST_MAX 128

static uint32_t write_request(const client *k, uint32_t page, char *out)
{
    wbuf w = {out, 0, REQUEST_MAX};
    put(&w, client_head(k) ? "HEAD /" : "GET /");
    put_u64(&w, page);
    put(&w, " HTTP/1.1\r\nHost: ");
    put(&w, k->host);
    put(&w, "\r\nUser-Agent: twin\r\n\r\n");
    return w.len;
}

static uint64_t client_begin(void *app, uint32_t slot, tw_rng *rng)
{
    client *k = app;
    hc_slot *h = &k->s[slot];
    memset(h, 0, sizeof(*h));
    h->page = pick_page(rng, k->a.pages, k->a.flags & TW_HTTP_CLIENT_ZIPF);
    char req[REQUEST_MAX];
    return write_request(k, h->page, req);
}

static void client_fill(void *app, uint32_t slot, uint64_t off, uint8_t *buf, uint32_t len)
{
    client *k = app;
    char req[REQUEST_MAX];
    uint32_t n = write_request(k, k->s[slot].page, req);
    TW_ASSERT(off + len <= n);
    memcpy(buf, req + off, len);
}

static const tw_load_ops client_ops = {
    .begin = client_begin,
    .fill = client_fill,
    .receive = client_receive,
};

/* RFC 9112 §3.2: Host is the server's address, and the port if not 80. */
static void write_host(client *k)
{
    wbuf w = {k->host, 0, sizeof(k->host) - 1};
    tw_ipv4_addr a = k->a.load.server;
    for (int i = 3; i >= 0; i--) {
        put_u64(&w, (a >> (8 * i)) & 0xff);
        if (i) {
            put(&w, ".");
        }
    }
    if (k->a.load.port != 80) {
        put(&w, ":");
        put_u64(&w, k->a.load.port);
    }
    k->host[w.len] = 0;
}

static void client_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    client *k = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&k->a, in->msg->data, sizeof(k->a));
        k->a.pages = k->a.pages ? k->a.pages : TW_HTTP_PAGES_DEFAULT;
        write_host(k);
        tw_load_start(&k->load, &k->a.load, &client_ops, k, k->a.flags & TW_HTTP_CLIENT_NAGLE, now);
        return;
    }
    if (in->kind == TW_TIN_NET) {
        tw_load_on_net(&k->load, now, in->net);
    }
}

static void client_tick(tw_task *t, tw_ns now)
{
    client *k = tw_task_state(t);
    tw_load_on_tick(&k->load, now);
}

static bool client_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    client *k = tw_task_state(t);
    return tw_load_pop(&k->load, tw_task_rng(t), now, out);
}

static void client_report(const tw_task *t, tw_metric_sink *m)
{
    const client *k = ((tw_task *)t)->state;
    tw_load_report(&k->load, m);
    m->counter(m, "responses_1xx", k->responses[1]);
    m->counter(m, "responses_2xx", k->responses[2]);
    m->counter(m, "responses_3xx", k->responses[3]);
    m->counter(m, "responses_4xx", k->responses[4]);
    m->counter(m, "responses_5xx", k->responses[5]);
    m->counter(m, "body_bytes", k->body_bytes);
    m->counter(m, "mismatches", k->mismatches);
}

const tw_task_ops tw_app_http_client = {
    .name = "http_client",
    .state_size = sizeof(client),
    .on_input = client_on_input,
    .on_tick = client_tick,
    .pop_output = client_pop,
    .report = client_report,
};
