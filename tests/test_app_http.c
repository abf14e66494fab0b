/* The HTTP server and load client, and the TCP request/response client,
 * through workers whose stacks run TCP, wired back to back. A small raw
 * task sends hand-written requests and keeps what comes back, for the
 * server's edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "app/http.h"
#include "app/tcp.h"
#include "app/tcp_client.h"
#include "base/assert.h"
#include "base/error.h"
#include "pair_harness.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

/* ---- a raw client: one connection, one hand-written byte string ------------ */

#define RAW_BUF 65536
#define RAW_REQUESTS 8

/* The request bytes, by index (spawn arguments are too small for them). */
static const char *raw_text[RAW_REQUESTS];

typedef struct raw_args {
    tw_ipv4_addr server;
    uint16_t port;
    uint8_t which;         /* raw_text[which] */
    uint8_t abort_on_data; /* reset the connection at the first response bytes */
} raw_args;

typedef struct raw {
    raw_args a;
    const char *text;
    int64_t conn;
    bool want_connect;
    bool connected;
    bool in_send;
    bool peer_closed;
    bool want_close;
    bool want_abort;
    bool aborted;
    int terminal; /* the terminal event's kind + 1; 0: none yet */
    uint64_t sent;
    uint64_t consume;
    uint64_t got; /* bytes received, all of them (the first RAW_BUF kept) */
    uint8_t buf[RAW_BUF];
} raw;

static void raw_on_input(tw_task *t, tw_ns now, const tw_task_input *in)
{
    raw *r = tw_task_state(t);
    if (in->kind == TW_TIN_START) {
        memcpy(&r->a, in->msg->data, sizeof(r->a));
        r->text = raw_text[r->a.which];
        r->conn = -1;
        r->want_connect = true;
        return;
    }
    const tw_task_net *n = in->net;
    if (n->kind == TW_TNET_CONNECTING) {
        assert_true(n->result >= 0);
        r->conn = n->conn;
        return;
    }
    if (n->kind == TW_TNET_SENT) {
        r->in_send = false;
        assert_true(n->result >= 0);
        r->sent += (uint64_t)n->result;
        return;
    }
    if (n->kind != TW_TNET_TCP || r->aborted) {
        return;
    }
    const tw_tcp_event *ev = n->tcp;
    switch (ev->kind) {
    case TW_TCP_EV_CONNECTED:
        r->connected = true;
        return;
    case TW_TCP_EV_DATA:
        for (size_t i = 0; i < ev->len && r->got + i < RAW_BUF; i++) {
            r->buf[r->got + i] = ev->data[i];
        }
        r->got += ev->len;
        r->consume += ev->len;
        r->want_abort = r->a.abort_on_data;
        return;
    case TW_TCP_EV_PEER_CLOSED:
        r->peer_closed = true;
        r->want_close = true;
        return;
    case TW_TCP_EV_WRITABLE:
        return;
    default:
        r->terminal = (int)ev->kind + 1;
        r->conn = -1;
        return;
    }
}

static bool raw_pop(tw_task *t, tw_ns now, tw_task_output *out)
{
    raw *r = tw_task_state(t);
    memset(out, 0, sizeof(*out));
    const char *text = r->text;
    if (r->want_connect) {
        r->want_connect = false;
        out->kind = TW_TOUT_TCP_CONNECT;
        out->u.tcp_open.addr = r->a.server;
        out->u.tcp_open.port = r->a.port;
        return true;
    }
    if (r->conn < 0 || !r->connected) {
        return false;
    }
    if (r->want_abort) {
        r->want_abort = false;
        r->aborted = true;
        out->kind = TW_TOUT_TCP_ABORT;
        out->u.tcp.conn = r->conn;
        r->conn = -1;
        return true;
    }
    if (r->consume) {
        out->kind = TW_TOUT_TCP_CONSUME;
        out->u.tcp.conn = r->conn;
        out->u.tcp.len = r->consume;
        r->consume = 0;
        return true;
    }
    if (!r->in_send && r->sent < strlen(text)) {
        r->in_send = true;
        out->kind = TW_TOUT_TCP_SEND;
        out->u.tcp.conn = r->conn;
        out->u.tcp.data = text + r->sent;
        out->u.tcp.len = strlen(text) - r->sent;
        return true;
    }
    if (r->want_close) {
        r->want_close = false;
        out->kind = TW_TOUT_TCP_CLOSE;
        out->u.tcp.conn = r->conn;
        return true;
    }
    return false;
}

static void raw_tick(tw_task *t, tw_ns now) {}

static const tw_task_ops raw_ops = {
    .name = "raw",
    .state_size = sizeof(raw),
    .on_input = raw_on_input,
    .on_tick = raw_tick,
    .pop_output = raw_pop,
};

/* ---- the world ---------------------------------------------------------------- */

enum { T_SERVER, T_CLIENT, T_TCP_CLIENT, T_ECHO, T_SINK, T_RAW };
static const tw_task_ops *const types[] = {&tw_app_http_server, &tw_app_http_client,
                                           &tw_app_tcp_client,  &tw_app_tcp_echo,
                                           &tw_app_bulk_sink,   &raw_ops};
static const tw_task_registry registry = {types, 6};

#define STATE_MAX (128 * 1024)
#define COUNTERS_MAX 32

typedef struct metrics {
    const char *name[COUNTERS_MAX];
    uint64_t value[COUNTERS_MAX];
    int n;
    tw_hist latency;
} metrics;

static void m_counter(tw_metric_sink *s, const char *name, uint64_t v)
{
    metrics *m = s->ctx;
    assert_true(m->n < COUNTERS_MAX);
    m->name[m->n] = name;
    m->value[m->n++] = v;
}

static void m_hist(tw_metric_sink *s, const char *name, const tw_hist *h)
{
    metrics *m = s->ctx;
    if (!strcmp(name, "latency")) {
        m->latency = *h;
    }
}

static pair P;
static metrics M;

static bool lossy(void *ctx, int to, const uint8_t *frame, size_t len);

static tw_task *task(int side, tw_addr a)
{
    tw_task *t = tw_worker_task(&P.worker[side], a);
    assert_non_null(t);
    return t;
}

static uint64_t metric(int side, tw_addr a, const char *name)
{
    memset(&M, 0, sizeof(M));
    tw_metric_sink sink = {m_counter, m_hist, &M};
    tw_task *t = task(side, a);
    t->ops->report(t, &sink);
    for (int i = 0; i < M.n; i++) {
        if (!strcmp(M.name[i], name)) {
            return M.value[i];
        }
    }
    fail_msg("no metric %s", name);
    return 0;
}

static tw_addr spawn(int side, uint32_t type, const void *args, uint32_t len)
{
    int64_t rc = tw_worker_spawn(&P.worker[side], P.now, type, 0, args, len);
    assert_true(rc >= 0);
    pair_drain(&P, side);
    return (tw_addr)rc;
}

/* A site small enough to fetch a thousand pages fast: median 2 KiB, at most
 * 64 KiB. */
static const tw_http_site small_site = {
    .seed = 5, .pages = 500, .size_median = 2048, .size_max = 65536};

static tw_addr start_server(const tw_http_site *site, uint16_t port)
{
    tw_http_server_args a = {.site = *site, .port = port};
    tw_addr s = spawn(1, T_SERVER, &a, sizeof(a));
    pair_settle(&P);
    assert_int_equal(metric(1, s, "listen_error"), 0);
    return s;
}

static void setup_world(void)
{
    pair_init_tcp(&P, &registry, STATE_MAX, true);
}

static tw_http_client_args client_args(uint16_t conns, uint64_t count)
{
    tw_http_client_args a = {.load = {.server = PAIR_B,
                                      .port = 80,
                                      .connections = conns,
                                      .count = count,
                                      .timeout_ns = TW_SEC(10)}};
    return a;
}

/* ---- the site ------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void test_app_http_site_sizes_follow_seed(void **state)
{
    static uint32_t sizes[3][TW_HTTP_PAGES_DEFAULT];
    for (uint64_t seed = 1; seed <= 16; seed++) {
        tw_http_site site[3] = {{.seed = seed}, {.seed = seed}, {.seed = seed + 1000}};
        uint32_t differ = 0;
        for (int k = 0; k < 3; k++) {
            tw_app_http_site_resolve(&site[k]);
            for (uint32_t p = 0; p < site[k].pages; p++) {
                sizes[k][p] = tw_app_http_page_size(&site[k], p);
            }
        }
        for (uint32_t p = 0; p < TW_HTTP_PAGES_DEFAULT; p++) {
            assert_int_equal(sizes[0][p], sizes[1][p]);
            differ += sizes[0][p] != sizes[2][p];
        }
        assert_true(differ > TW_HTTP_PAGES_DEFAULT / 2);
        /* The documented range of the defaults, for 500 pages. */
        qsort(sizes[0], TW_HTTP_PAGES_DEFAULT, sizeof(uint32_t), cmp_u32);
        uint32_t median = sizes[0][TW_HTTP_PAGES_DEFAULT / 2];
        uint32_t max = sizes[0][TW_HTTP_PAGES_DEFAULT - 1];
        assert_in_range(median, 2048, 8192);
        assert_in_range(max, 128 * 1024, 1024 * 1024);
        assert_true(sizes[0][0] >= TW_HTTP_SIZE_MIN_DEFAULT);
    }
}

static void test_app_http_site_clamps_to_bounds(void **state)
{
    tw_http_site site = {.seed = 3,
                         .pages = 2000,
                         .size_min = 1000,
                         .size_median = 1500,
                         .size_max = 3000,
                         .spread = 32};
    tw_app_http_site_resolve(&site);
    uint32_t at_min = 0, at_max = 0;
    for (uint32_t p = 0; p < site.pages; p++) {
        uint32_t s = tw_app_http_page_size(&site, p);
        assert_in_range(s, 1000, 3000);
        at_min += s == 1000;
        at_max += s == 3000;
    }
    assert_true(at_min > 0);
    assert_true(at_max > 0);
}

static void test_app_http_servers_agree_on_the_site(void **state)
{
    setup_world();
    tw_http_server_args a = {.site = {.seed = 77}, .port = 80};
    tw_addr s1 = spawn(1, T_SERVER, &a, sizeof(a));
    tw_addr s0 = spawn(0, T_SERVER, &a, sizeof(a));
    a.site.seed = 78;
    a.port = 81;
    tw_addr s2 = spawn(1, T_SERVER, &a, sizeof(a));
    pair_settle(&P);
    uint64_t b1 = metric(1, s1, "site_bytes");
    assert_int_equal(metric(0, s0, "site_bytes"), b1);
    assert_int_not_equal(metric(1, s2, "site_bytes"), b1);
    /* Mean near 18 KiB a page. */
    assert_in_range(b1, 500 * 8192, 500 * 40000);
    pair_free(&P);
}

/* ---- the client against the server ------------------------------------------------ */

static void test_app_http_client_fetches_1000_pages(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    tw_http_client_args a = client_args(4, 1000);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(60));
    assert_int_equal(metric(0, cli, "done"), 1);
    assert_int_equal(metric(0, cli, "requests"), 1000);
    assert_int_equal(metric(0, cli, "responses_2xx"), 1000);
    assert_int_equal(metric(0, cli, "responses_4xx"), 0);
    assert_int_equal(metric(0, cli, "mismatches"), 0);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(metric(0, cli, "connects"), 4);
    assert_int_equal(M.latency.count, 1000);
    uint64_t body = metric(0, cli, "body_bytes");
    assert_true(body > 1000 * 1024);
    assert_int_equal(metric(1, srv, "body_bytes"), body);
    assert_int_equal(metric(1, srv, "requests"), 1000);
    assert_int_equal(metric(1, srv, "responses_2xx"), 1000);
    assert_int_equal(metric(1, srv, "accepted"), 4);
    /* The client closed its keep-alive connections when done. */
    assert_int_equal(metric(1, srv, "closed"), 4);
    assert_int_equal(metric(1, srv, "parse_errors"), 0);
    pair_free(&P);
}

static void test_app_http_client_unknown_pages_404(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    tw_http_client_args a = client_args(2, 300);
    a.pages = 1000; /* half of them are not on the site */
    a.flags = TW_HTTP_CLIENT_ZIPF;
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(60));
    uint64_t ok = metric(0, cli, "responses_2xx");
    uint64_t missing = metric(0, cli, "responses_4xx");
    assert_int_equal(ok + missing, 300);
    assert_true(missing > 0);
    /* Zipf-like: the low half of the ranks draws most requests. */
    assert_true(ok > missing);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(metric(0, cli, "mismatches"), 0);
    assert_int_equal(metric(1, srv, "responses_4xx"), missing);
    /* A 404 keeps the connection. */
    assert_int_equal(metric(1, srv, "accepted"), 2);
    pair_free(&P);
}

static void test_app_http_client_head_has_no_body(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    tw_http_client_args a = client_args(2, 50);
    a.flags = TW_HTTP_CLIENT_HEAD;
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(60));
    assert_int_equal(metric(0, cli, "responses_2xx"), 50);
    assert_int_equal(metric(0, cli, "body_bytes"), 0);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(metric(1, srv, "body_bytes"), 0);
    assert_int_equal(metric(1, srv, "accepted"), 2);
    pair_free(&P);
}

static void test_app_http_client_open_loop_rate(void **state)
{
    setup_world();
    start_server(&small_site, 80);
    tw_http_client_args a = client_args(4, 0);
    a.load.period_ns = TW_MS(1);
    tw_ns start = P.now;
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    /* Due at start + k ms: a thousand in [start, start + 1 s). */
    pair_run_until(&P, start + TW_SEC(1) - 1);
    assert_int_equal(metric(0, cli, "scheduled"), 1000);
    uint64_t sent = metric(0, cli, "requests");
    uint64_t answered = metric(0, cli, "responses_2xx");
    assert_in_range(sent, 990, 1000);
    assert_in_range(answered, 980, sent);
    assert_int_equal(metric(0, cli, "overflows"), 0);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(metric(0, cli, "done"), 0);
    pair_free(&P);
}

static void test_app_http_client_open_loop_count_finishes(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    tw_http_client_args a = client_args(3, 200);
    a.load.period_ns = TW_US(500);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(30));
    assert_int_equal(metric(0, cli, "done"), 1);
    assert_int_equal(metric(0, cli, "scheduled"), 200);
    assert_int_equal(metric(0, cli, "responses_2xx"), 200);
    assert_int_equal(metric(1, srv, "closed"), 3);
    pair_free(&P);
}

/* A server that accepts and never answers (a bulk sink): every request
 * times out, its connection is replaced. */
static void test_app_http_client_timeout_reconnects(void **state)
{
    setup_world();
    tw_bulk_sink_args ka = {.port = 80};
    spawn(1, T_SINK, &ka, sizeof(ka));
    pair_settle(&P);
    tw_http_client_args a = client_args(1, 3);
    a.load.timeout_ns = TW_MS(300);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(5));
    assert_int_equal(metric(0, cli, "timeouts"), 3);
    assert_int_equal(metric(0, cli, "errors"), 3);
    assert_int_equal(metric(0, cli, "responses"), 0);
    assert_int_equal(metric(0, cli, "connects"), 3);
    assert_int_equal(metric(0, cli, "done"), 1);
    pair_free(&P);
}

static void test_app_http_client_refused_retries(void **state)
{
    setup_world();
    tw_http_client_args a = client_args(2, 10);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_MS(450));
    /* Each connection retries every TW_LOAD_RETRY_NS: at 0, 100 .. 400 ms. */
    assert_int_equal(metric(0, cli, "connect_errors"), 10);
    assert_int_equal(metric(0, cli, "requests"), 0);
    /* The server comes up late; the requests go through. */
    tw_addr srv = start_server(&small_site, 80);
    pair_run_until(&P, TW_SEC(10));
    assert_int_equal(metric(0, cli, "responses_2xx"), 10);
    assert_int_equal(metric(1, srv, "accepted"), 2);
    pair_free(&P);
}

static void test_app_http_server_refuses_past_its_limit(void **state)
{
    setup_world();
    tw_http_server_args sa = {.site = small_site, .port = 80, .conns_max = 2};
    tw_addr srv = spawn(1, T_SERVER, &sa, sizeof(sa));
    pair_settle(&P);
    tw_http_client_args a = client_args(3, 30);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(20));
    assert_true(metric(1, srv, "refused") > 0);
    assert_int_equal(metric(0, cli, "done"), 1);
    uint64_t ok = metric(0, cli, "responses_2xx");
    assert_int_equal(ok + metric(0, cli, "errors"), 30);
    assert_true(ok >= 20);
    assert_int_equal(metric(1, srv, "responses_2xx"), ok);
    pair_free(&P);
}

/* The same world twice: the same pages drawn, the same frames, the same
 * latencies. */
static void test_app_http_client_is_deterministic(void **state)
{
    uint64_t body[2], frames[2], sum[2];
    for (int run = 0; run < 2; run++) {
        setup_world();
        uint64_t n = 0;
        P.filter = lossy;
        P.filter_ctx = &n;
        start_server(&small_site, 80);
        tw_http_client_args a = client_args(3, 0);
        a.load.period_ns = TW_US(700);
        a.flags = TW_HTTP_CLIENT_ZIPF;
        tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
        pair_run_until(&P, TW_SEC(2));
        body[run] = metric(0, cli, "body_bytes");
        sum[run] = M.latency.sum;
        frames[run] = P.frames;
        pair_free(&P);
    }
    assert_true(body[0] > 0);
    assert_int_equal(body[0], body[1]);
    assert_int_equal(frames[0], frames[1]);
    assert_int_equal(sum[0], sum[1]);
}

/* ---- the server's edge cases, by hand ------------------------------------------------ */

static tw_addr raw_send(const char *text, bool abort_on_data)
{
    raw_text[0] = text;
    raw_args ra = {.server = PAIR_B, .port = 80, .which = 0, .abort_on_data = abort_on_data};
    tw_addr r = spawn(0, T_RAW, &ra, sizeof(ra));
    pair_run_until(&P, P.now + TW_SEC(5));
    return r;
}

static raw *raw_state(tw_addr r)
{
    return tw_task_state(task(0, r));
}

/* The response text, NUL-terminated (bodies are printable). */
static const char *raw_reply(tw_addr r)
{
    raw *x = raw_state(r);
    assert_true(x->got < RAW_BUF);
    x->buf[x->got] = 0;
    return (const char *)x->buf;
}

static uint64_t count_of(const char *hay, const char *needle)
{
    uint64_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_app_http_server_malformed_400_and_close(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /1 HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        "GET /1 HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET /1 HTTP/1.1\rHost: x\r\n\r\n",
        "GET /1 HTTP/1.1\r\n\r\n", /* no Host */
        "GET /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
        "GET 1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /1 HTTX/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(bad); i++) {
        tw_addr r = raw_send(bad[i], false);
        const char *reply = raw_reply(r);
        assert_non_null(strstr(reply, "HTTP/1.1 400 Bad Request\r\n"));
        assert_non_null(strstr(reply, "Connection: close\r\n"));
        assert_true(raw_state(r)->peer_closed);
        assert_int_equal(raw_state(r)->terminal, TW_TCP_EV_CLOSED + 1);
    }
    assert_int_equal(metric(1, srv, "parse_errors"), TW_ARRAY_LEN(bad));
    assert_int_equal(metric(1, srv, "responses_4xx"), TW_ARRAY_LEN(bad));
    assert_int_equal(metric(1, srv, "requests"), 0);
    assert_int_equal(metric(1, srv, "closed"), TW_ARRAY_LEN(bad));
    pair_free(&P);
}

static void test_app_http_server_other_errors_close(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    static char big[TW_HTTP_HEAD_MAX + 100];
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: %0*d\r\n\r\n",
             TW_HTTP_HEAD_MAX, 0);
    struct {
        const char *req;
        const char *status;
    } cases[] = {
        {"POST /1 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
        {"GET /1 HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 "},
        {"GET /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 501 "},
        {"GET /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 413 "},
        {big, "HTTP/1.1 431 "},
        {"GET /1 HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK\r\n"}, /* 1.0 closes by default */
    };
    for (size_t i = 0; i < TW_ARRAY_LEN(cases); i++) {
        tw_addr r = raw_send(cases[i].req, false);
        const char *reply = raw_reply(r);
        assert_ptr_equal(strstr(reply, cases[i].status), reply);
        assert_non_null(strstr(reply, "Connection: close\r\n"));
        assert_int_equal(raw_state(r)->terminal, TW_TCP_EV_CLOSED + 1);
    }
    assert_non_null(strstr(raw_reply(raw_send(cases[0].req, false)), "Allow: GET, HEAD\r\n"));
    assert_int_equal(metric(1, srv, "responses_5xx"), 2);
    pair_free(&P);
}

static void test_app_http_server_head_has_no_body(void **state)
{
    setup_world();
    start_server(&small_site, 80);
    tw_http_site site = small_site;
    tw_app_http_site_resolve(&site);
    tw_addr r = raw_send("HEAD /7 HTTP/1.1\r\nHost: x\r\n\r\n", false);
    char want[64];
    snprintf(want, sizeof(want), "Content-Length: %u\r\n", tw_app_http_page_size(&site, 7));
    const char *reply = raw_reply(r);
    assert_ptr_equal(strstr(reply, "HTTP/1.1 200 OK\r\n"), reply);
    assert_non_null(strstr(reply, want));
    /* Nothing after the head, and the connection stays open. */
    const char *end = strstr(reply, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(end + 4 - reply, raw_state(r)->got);
    assert_false(raw_state(r)->peer_closed);
    assert_int_equal(raw_state(r)->terminal, 0);
    pair_free(&P);
}

static void test_app_http_server_http10_keep_alive(void **state)
{
    setup_world();
    start_server(&small_site, 80);
    tw_addr r = raw_send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                         "GET /2 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                         false);
    const char *reply = raw_reply(r);
    assert_int_equal(count_of(reply, "HTTP/1.1 200 OK\r\n"), 2);
    assert_int_equal(count_of(reply, "Connection: keep-alive\r\n"), 2);
    assert_false(raw_state(r)->peer_closed);
    assert_int_equal(raw_state(r)->terminal, 0);
    pair_free(&P);
}

static void test_app_http_server_connection_close_closes(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    tw_http_site site = small_site;
    tw_app_http_site_resolve(&site);
    tw_addr r = raw_send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
    const char *reply = raw_reply(r);
    const char *end = strstr(reply, "\r\n\r\n");
    assert_non_null(end);
    uint32_t size = tw_app_http_page_size(&site, 0);
    assert_int_equal(raw_state(r)->got, (uint64_t)(end + 4 - reply) + size);
    for (uint32_t i = 0; i < size; i++) {
        assert_int_equal((uint8_t)end[4 + i], tw_app_http_body_byte(0, i));
    }
    assert_non_null(strstr(reply, "Connection: close\r\n"));
    assert_true(raw_state(r)->peer_closed);
    assert_int_equal(raw_state(r)->terminal, TW_TCP_EV_CLOSED + 1);
    assert_int_equal(metric(1, srv, "closed"), 1);
    pair_free(&P);
}

static void test_app_http_server_pipelined_in_order(void **state)
{
    setup_world();
    tw_addr srv = start_server(&small_site, 80);
    tw_addr r = raw_send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                         "HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                         "\r\nGET /3?q=1 HTTP/1.1\nhost: x\nconnection: Close\n\n",
                         false);
    const char *reply = raw_reply(r);
    const char *a = strstr(reply, "HTTP/1.1 200 OK");
    const char *b = strstr(reply, "HTTP/1.1 404 Not Found");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_int_equal(count_of(reply, "HTTP/1.1 200 OK"), 3);
    assert_int_equal(count_of(reply, "Connection: close"), 1);
    assert_int_equal(metric(1, srv, "requests"), 4);
    assert_int_equal(metric(1, srv, "responses_2xx"), 3);
    assert_int_equal(metric(1, srv, "responses_4xx"), 1);
    assert_int_equal(raw_state(r)->terminal, TW_TCP_EV_CLOSED + 1);
    pair_free(&P);
}

/* A page of several send chunks (TW_HTTP_SEND_CHUNK): the body is made in
 * blocks of 8 bytes, and the later chunks start inside a block. */
static void test_app_http_server_large_page_every_byte(void **state)
{
    setup_world();
    start_server(&small_site, 80);
    tw_http_site site = small_site;
    tw_app_http_site_resolve(&site);
    uint32_t p = 0;
    while (tw_app_http_page_size(&site, p) < 2 * TW_HTTP_SEND_CHUNK + 100 ||
           tw_app_http_page_size(&site, p) > RAW_BUF - 1000) {
        p++;
        assert_true(p < site.pages);
    }
    static char req[64];
    snprintf(req, sizeof(req), "GET /%u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p);
    tw_addr r = raw_send(req, false);
    const char *reply = raw_reply(r);
    const char *end = strstr(reply, "\r\n\r\n");
    assert_non_null(end);
    uint32_t size = tw_app_http_page_size(&site, p);
    assert_int_equal(raw_state(r)->got, (uint64_t)(end + 4 - reply) + size);
    for (uint32_t i = 0; i < size; i++) {
        assert_int_equal((uint8_t)end[4 + i], tw_app_http_body_byte(p, i));
    }
    pair_free(&P);
}

static void test_app_http_server_survives_client_reset(void **state)
{
    setup_world();
    tw_http_site site = {.seed = 5};
    tw_app_http_site_resolve(&site);
    tw_addr srv = start_server(&site, 80);
    uint32_t big = 0;
    while (tw_app_http_page_size(&site, big) < 200000) {
        big++;
    }
    static char req[64];
    snprintf(req, sizeof(req), "GET /%u HTTP/1.1\r\nHost: x\r\n\r\n", big);
    tw_addr r = raw_send(req, true);
    assert_true(raw_state(r)->aborted);
    assert_true(raw_state(r)->got < 200000);
    assert_int_equal(metric(1, srv, "resets"), 1);
    assert_int_equal(metric(1, srv, "responses_2xx"), 0);
    /* The server goes on serving. */
    tw_http_client_args a = client_args(2, 100);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, P.now + TW_SEC(60));
    assert_int_equal(metric(0, cli, "responses_2xx"), 100);
    assert_int_equal(metric(0, cli, "mismatches"), 0);
    assert_int_equal(metric(1, srv, "accepted"), 3);
    pair_free(&P);
}

static void test_app_http_server_idle_timeout(void **state)
{
    setup_world();
    tw_http_server_args sa = {.site = small_site, .port = 80, .idle_ms = 1000};
    tw_addr srv = spawn(1, T_SERVER, &sa, sizeof(sa));
    pair_settle(&P);
    tw_addr r = raw_send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert_int_equal(metric(1, srv, "responses_2xx"), 1);
    assert_int_equal(metric(1, srv, "timeouts"), 1);
    assert_int_equal(raw_state(r)->terminal, TW_TCP_EV_RESET + 1);
    pair_free(&P);
}

/* ---- loss ---------------------------------------------------------------------------- */

/* Drops every 13th TCP segment that carries data, both ways. */
static bool lossy(void *ctx, int to, const uint8_t *frame, size_t len)
{
    uint64_t *n = ctx;
    tw_eth_repr eth;
    tw_ipv4_repr ip;
    if (tw_eth_parse(frame, len, &eth) < 0 || eth.ethertype != TW_ETHERTYPE_IPV4 ||
        tw_ipv4_parse(eth.payload, eth.payload_len, &ip) < 0 || ip.protocol != TW_IP_PROTO_TCP ||
        ip.payload_len <= 40) {
        return true;
    }
    return ++*n % 13 != 0;
}

static void test_app_http_lossy_link_completes_every_request(void **state)
{
    setup_world();
    uint64_t n = 0;
    P.filter = lossy;
    P.filter_ctx = &n;
    tw_addr srv = start_server(&small_site, 80);
    tw_http_client_args a = client_args(4, 300);
    tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(600));
    assert_true(n > 200);
    assert_int_equal(metric(0, cli, "done"), 1);
    assert_int_equal(metric(0, cli, "responses_2xx"), 300);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(metric(0, cli, "mismatches"), 0);
    assert_true(M.latency.max >= TW_MS(200)); /* some waited for a retransmission */
    assert_int_equal(metric(1, srv, "responses_2xx"), 300);
    assert_true(tw_tcp_get_stats(tw_stack_tcp(P.stack[1]))->retransmits > 0);
    pair_free(&P);
}

/* Nagle's algorithm holds a response's tail segment until the client's
 * delayed ACK (40 ms) acknowledges the rest; the server and client turn it
 * off unless told not to. */
static void test_app_http_nodelay_avoids_delayed_ack_stalls(void **state)
{
    for (int nagle = 0; nagle < 2; nagle++) {
        setup_world();
        tw_http_server_args sa = {
            .site = small_site, .port = 80, .flags = nagle ? TW_HTTP_SERVER_NAGLE : 0};
        spawn(1, T_SERVER, &sa, sizeof(sa));
        pair_settle(&P);
        tw_http_client_args a = client_args(1, 100);
        a.flags = nagle ? TW_HTTP_CLIENT_NAGLE : 0;
        tw_addr cli = spawn(0, T_CLIENT, &a, sizeof(a));
        pair_run_until(&P, TW_SEC(60));
        assert_int_equal(metric(0, cli, "responses_2xx"), 100);
        if (nagle) {
            assert_true(M.latency.max >= TW_MS(40));
        } else {
            assert_int_equal(M.latency.max, 0); /* the wire has no delay */
        }
        pair_free(&P);
    }
}

/* ---- the TCP client over the echo server ---------------------------------------------- */

static void test_app_tcp_client_over_echo(void **state)
{
    setup_world();
    tw_tcp_echo_args ea = {.port = 7};
    tw_addr echo = spawn(1, T_ECHO, &ea, sizeof(ea));
    pair_settle(&P);
    tw_tcp_client_args a = {.load = {.server = PAIR_B,
                                     .port = 7,
                                     .connections = 4,
                                     .count = 400,
                                     .timeout_ns = TW_SEC(10)},
                            .size = 5000};
    tw_addr cli = spawn(0, T_TCP_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(60));
    assert_int_equal(metric(0, cli, "done"), 1);
    assert_int_equal(metric(0, cli, "requests"), 400);
    assert_int_equal(metric(0, cli, "responses"), 400);
    assert_int_equal(metric(0, cli, "mismatches"), 0);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(metric(0, cli, "bytes_sent"), 400 * 5000);
    assert_int_equal(metric(0, cli, "bytes_received"), 400 * 5000);
    assert_int_equal(M.latency.count, 400);
    assert_true(M.latency.max < TW_SEC(1));
    assert_int_equal(metric(1, echo, "bytes"), 400 * 5000);
    assert_int_equal(metric(1, echo, "closed"), 4);
    pair_free(&P);
}

static void test_app_tcp_client_over_lossy_link(void **state)
{
    setup_world();
    uint64_t n = 0;
    P.filter = lossy;
    P.filter_ctx = &n;
    tw_tcp_echo_args ea = {.port = 7};
    spawn(1, T_ECHO, &ea, sizeof(ea));
    pair_settle(&P);
    tw_tcp_client_args a = {.load = {.server = PAIR_B,
                                     .port = 7,
                                     .connections = 2,
                                     .count = 200,
                                     .timeout_ns = TW_SEC(30)},
                            .size = 3000};
    tw_addr cli = spawn(0, T_TCP_CLIENT, &a, sizeof(a));
    pair_run_until(&P, TW_SEC(120));
    assert_true(n > 50);
    assert_int_equal(metric(0, cli, "done"), 1);
    assert_int_equal(metric(0, cli, "responses"), 200);
    assert_int_equal(metric(0, cli, "mismatches"), 0);
    assert_int_equal(metric(0, cli, "errors"), 0);
    assert_int_equal(M.latency.count, 200);
    assert_true(M.latency.max >= TW_MS(200));
    pair_free(&P);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_http_site_sizes_follow_seed),
        cmocka_unit_test(test_app_http_site_clamps_to_bounds),
        cmocka_unit_test(test_app_http_servers_agree_on_the_site),
        cmocka_unit_test(test_app_http_client_fetches_1000_pages),
        cmocka_unit_test(test_app_http_client_unknown_pages_404),
        cmocka_unit_test(test_app_http_client_head_has_no_body),
        cmocka_unit_test(test_app_http_client_open_loop_rate),
        cmocka_unit_test(test_app_http_client_open_loop_count_finishes),
        cmocka_unit_test(test_app_http_client_timeout_reconnects),
        cmocka_unit_test(test_app_http_client_refused_retries),
        cmocka_unit_test(test_app_http_server_refuses_past_its_limit),
        cmocka_unit_test(test_app_http_client_is_deterministic),
        cmocka_unit_test(test_app_http_server_malformed_400_and_close),
        cmocka_unit_test(test_app_http_server_other_errors_close),
        cmocka_unit_test(test_app_http_server_head_has_no_body),
        cmocka_unit_test(test_app_http_server_http10_keep_alive),
        cmocka_unit_test(test_app_http_server_connection_close_closes),
        cmocka_unit_test(test_app_http_server_pipelined_in_order),
        cmocka_unit_test(test_app_http_server_large_page_every_byte),
        cmocka_unit_test(test_app_http_server_survives_client_reset),
        cmocka_unit_test(test_app_http_server_idle_timeout),
        cmocka_unit_test(test_app_http_lossy_link_completes_every_request),
        cmocka_unit_test(test_app_http_nodelay_avoids_delayed_ack_stalls),
        cmocka_unit_test(test_app_tcp_client_over_echo),
        cmocka_unit_test(test_app_tcp_client_over_lossy_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
