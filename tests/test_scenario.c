/* Scenario files: every example loads; every malformed file in
 * tests/scenarios/bad names its problem at the right line and column (the
 * expected text is the file's first line, "# expect: L:C: message"); the
 * model holds values in base units; --set overrides pass the same checks;
 * and no mutation of an example makes the loader crash or answer without a
 * position. Tests are not core/, so they read the files themselves. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "harness.h"
#include "scenario/scenario.h"

#ifndef TW_SOURCE_DIR
#error "tests/meson.build passes TW_SOURCE_DIR"
#endif

#define ERR_LEN 512

/* ---- helpers -------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

typedef struct file_list {
    char names[128][64];
    uint32_t count;
} file_list;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The *.yaml files of a directory under the source tree, sorted. */
static void list_yaml(const char *dir, file_list *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", TW_SOURCE_DIR, dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        fail_msg("cannot open %s", path);
    }
    out->count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && n < 64 && strcmp(e->d_name + n - 5, ".yaml") == 0 && out->count < 128) {
            memcpy(out->names[out->count++], e->d_name, n + 1);
        }
    }
    closedir(d);
    qsort(out->names, out->count, sizeof(out->names[0]), cmp_names);
}

static tw_scenario *load_text(const char *text)
{
    tw_scenario *s = NULL;
    char err[ERR_LEN];
    int rc = tw_scenario_load("inline.yaml", text, strlen(text), &s, err, sizeof(err));
    if (rc != 0) {
        fail_msg("inline scenario failed: %s", err);
    }
    return s;
}

static void expect_load_error(const char *text, const char *want)
{
    tw_scenario *s = (tw_scenario *)0x1;
    char err[ERR_LEN];
    int rc = tw_scenario_load("inline.yaml", text, strlen(text), &s, err, sizeof(err));
    assert_int_equal(rc, -TW_EINVAL);
    assert_null(s);
    if (strstr(err, want) == NULL) {
        fail_msg("got \"%s\", want \"%s\"", err, want);
    }
}

static tw_scenario *load_example(const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/scenarios/%s", TW_SOURCE_DIR, name);
    char *bytes = read_file(path, &len);
    tw_scenario *s = NULL;
    char err[ERR_LEN];
    int rc = tw_scenario_load(name, bytes, len, &s, err, sizeof(err));
    free(bytes);
    if (rc != 0) {
        fail_msg("%s", err);
    }
    return s;
}

/* "name:L:C: " with L, C >= 1, or an override's "--set k=v: ". */
static bool has_position(const char *err, const char *name)
{
    if (strncmp(err, "--set ", 6) == 0) {
        return strstr(err, ": ") != NULL;
    }
    size_t n = strlen(name);
    if (strncmp(err, name, n) != 0 || err[n] != ':') {
        return false;
    }
    char *end;
    unsigned long line = strtoul(err + n + 1, &end, 10);
    if (end == err + n + 1 || *end != ':' || line < 1) {
        return false;
    }
    const char *col_start = end + 1;
    unsigned long col = strtoul(col_start, &end, 10);
    return end != col_start && col >= 1 && end[0] == ':' && end[1] == ' ' && end[2] != '\0';
}

/* ---- examples ------------------------------------------------------------- */

static void test_scenario_examples_all_load(void **state)
{
    file_list files;
    list_yaml("scenarios", &files);
    assert_true(files.count >= 12);
    for (uint32_t i = 0; i < files.count; i++) {
        tw_scenario *s = load_example(files.names[i]);
        assert_true(s->host_count > 0);
        assert_true(s->duration_ns > 0);
        tw_scenario_free(s);
    }
}

static void test_scenario_quickstart_model_in_base_units(void **state)
{
    tw_scenario *s = load_example("quickstart.yaml");
    assert_string_equal(s->name, "quickstart");
    assert_int_equal(s->duration_ns, TW_SEC(10));
    assert_int_equal(s->host_count, 3);
    uint32_t server = tw_scenario_find_host(s, "server");
    assert_int_equal(s->hosts[server].cores, 4);
    assert_int_equal(s->hosts[server].ifaces[0].addr, TW_IPV4_ADDR(10, 0, 0, 1));
    assert_int_equal(s->hosts[server].ifaces[0].prefix_len, 24);

    const tw_scenario_link *l1 = &s->links[tw_scenario_find_link(s, "l1")];
    for (int d = 0; d < 2; d++) {
        assert_int_equal(l1->dir[d].bandwidth_bps, 100000000ull);
        assert_int_equal(l1->dir[d].delay_ns, TW_MS(10));
        assert_int_equal(l1->dir[d].jitter_ns, TW_MS(1));
        assert_int_equal(l1->dir[d].loss.num, 1);
        assert_int_equal(l1->dir[d].loss.den, 100);
        assert_int_equal(l1->dir[d].aqm, TW_LINK_AQM_CODEL);
        assert_int_equal(l1->dir[d].queue_packets_limit, 256);
    }
    assert_int_equal(l1->end[0].kind, TW_SCENARIO_END_IFACE);
    assert_int_equal(l1->end[1].kind, TW_SCENARIO_END_SWITCH);
    assert_int_equal(s->switches[0].ports, 4);
    assert_int_equal(s->switches[0].ports_used, 3);

    const tw_scenario_app *web = &s->apps[tw_scenario_find_app(s, "server")];
    assert_int_equal(web->type, TW_SCENARIO_APP_HTTP_SERVER);
    assert_int_equal(web->port, 80);
    assert_int_equal(web->pages, 500);
    assert_int_equal(web->page_size.dist, TW_SCENARIO_DIST_UNIFORM);
    assert_int_equal(web->page_size.min_bytes, 1024);
    assert_int_equal(web->page_size.max_bytes, 65536);
    const tw_scenario_app *c2 = &s->apps[tw_scenario_find_app(s, "client2")];
    assert_false(c2->closed_loop);
    assert_int_equal(c2->rate_per_s, 400);
    assert_int_equal(c2->peer_host, server);
    assert_int_equal(c2->peer_addr, TW_IPV4_ADDR(10, 0, 0, 1));

    assert_int_equal(s->fault_count, 1);
    assert_int_equal(s->faults[0].kind, TW_SCENARIO_FAULT_PARTITION);
    assert_int_equal(s->faults[0].at_ns, TW_SEC(3));
    assert_int_equal(s->faults[0].until_ns, TW_SEC(5));

    assert_int_equal(s->expect_count, 5);
    assert_string_equal(s->expects[1].metric, "app.client2.latency.p99");
    assert_int_equal(s->expects[1].unit, TW_SCENARIO_UNIT_NS);
    assert_int_equal(s->expects[1].hi, TW_MS(500));
    assert_string_equal(s->expects[2].name, "app.client2.resets == 0");
    assert_int_equal(s->expects[3].hi, 3000000); /* 300% in ppm */
    const tw_scenario_expect *ev = &s->expects[4];
    assert_string_equal(ev->name, "client1 recovers after the partition");
    assert_int_equal(ev->when, TW_SCENARIO_WHEN_EVENTUALLY);
    assert_int_equal(ev->after_ns, TW_SEC(5)); /* last_heal */
    assert_int_equal(ev->within_ns, TW_SEC(2));
    assert_true(ev->delta);
    assert_int_equal(ev->lo, 1);
    assert_int_equal(ev->hi, UINT64_MAX);

    assert_int_equal(s->capture.pcap_count, 1);
    assert_true(s->capture.pcaps[0].is_link);
    assert_int_equal(s->capture.metrics_interval_ns, TW_MS(100));
    tw_scenario_free(s);
}

/* ---- malformed files ------------------------------------------------------ */

static void test_scenario_bad_files_name_their_problem(void **state)
{
    file_list files;
    list_yaml("tests/scenarios/bad", &files);
    assert_true(files.count >= 25);
    for (uint32_t i = 0; i < files.count; i++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof(path), "%s/tests/scenarios/bad/%s", TW_SOURCE_DIR, files.names[i]);
        char *bytes = read_file(path, &len);
        static const char tag[] = "# expect: ";
        if (strncmp(bytes, tag, strlen(tag)) != 0) {
            fail_msg("%s: first line is not \"# expect: L:C: message\"", files.names[i]);
        }
        char want[ERR_LEN];
        const char *nl = strchr(bytes, '\n');
        size_t wlen = (size_t)(nl - bytes) - strlen(tag);
        assert_true(wlen < sizeof(want));
        memcpy(want, bytes + strlen(tag), wlen);
        want[wlen] = '\0';

        tw_scenario *s = (tw_scenario *)0x1;
        char err[ERR_LEN];
        int rc = tw_scenario_load(files.names[i], bytes, len, &s, err, sizeof(err));
        free(bytes);
        if (rc != -TW_EINVAL || s != NULL) {
            fail_msg("%s: loaded (rc %d), want \"%s\"", files.names[i], rc, want);
        }
        char full[ERR_LEN + 80];
        snprintf(full, sizeof(full), "%s:%s", files.names[i], want);
        if (strcmp(err, full) != 0) {
            fail_msg("%s:\n  got  \"%s\"\n  want \"%s\"", files.names[i], err, full);
        }
    }
}

static void test_scenario_load_error_truncates_message(void **state)
{
    tw_scenario *s = NULL;
    char err[16];
    memset(err, 'x', sizeof(err));
    int rc = tw_scenario_load("t.yaml", "duration: fast\n", 15, &s, err, sizeof(err));
    assert_int_equal(rc, -TW_EINVAL);
    assert_null(s);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(strncmp(err, "t.yaml:1:11: ", 13), 0);
    /* No buffer at all is allowed too. */
    assert_int_equal(tw_scenario_load("t.yaml", "duration: fast\n", 15, &s, NULL, 0), -TW_EINVAL);
    tw_scenario_free(NULL);
}

/* ---- the model ------------------------------------------------------------ */

static const char two_hosts[] =
    "duration: 3s\n"
    "hosts:\n"
    "  - name: server\n"
    "    cores: 2\n"
    "    address: 10.0.0.1/24\n"
    "    apps: [{type: udp_echo, port: 7}]\n"
    "  - name: client\n"
    "    interfaces:\n"
    "      - {name: eth0, address: 10.0.0.2/24, mtu: 9000}\n"
    "      - {name: eth1, address: 10.9.0.2/16, mac: 02:aa:bb:cc:dd:ee}\n"
    "    gateway: 10.9.0.1\n"
    "    routes: [{to: 192.168.0.0/16, via: 10.0.0.1}]\n"
    "    apps:\n"
    "      - {type: udp_client, server: 10.0.0.1, port: 7, rate: 50/s,\n"
    "         size: 1KiB, start: 250ms, duration: 1.5s}\n"
    "links:\n"
    "  - endpoints: [client.eth0, server]\n"
    "    bandwidth: 1.5Gbps\n"
    "    delay: 250us\n"
    "    loss: 1.5%\n"
    "    queue: {bytes: 64KiB, packets: 50}\n"
    "    forward: {delay: 1ms, loss: {gilbert: {good_to_bad: 1/100, "
    "bad_to_good: 30%}}}\n"
    "    reverse: {reorder: {ratio: 2%, delay: 3ms}, mtu: 9000,\n"
    "              queue: {bytes: 1MB}}\n"
    "faults:\n"
    "  - {at: 2s, crash: server, for: 500ms}\n"
    "  - {at: 1s, clog: link0, for: 10ms}\n"
    "  - {at: 1s, link_down: link0}\n";

static void test_scenario_model_units_defaults_and_directions(void **state)
{
    tw_scenario *s = load_text(two_hosts);
    assert_string_equal(s->name, "inline");
    assert_int_equal(s->seed, 1);
    const tw_scenario_host *client = &s->hosts[1];
    assert_int_equal(client->iface_count, 2);
    assert_int_equal(client->ifaces[0].mtu, 9000);
    assert_int_equal(client->ifaces[1].mtu, 1500);
    /* Derived MAC from host 1, interface 0; the given one kept. */
    const uint8_t derived[6] = {0x02, 0x74, 0x77, 0x00, 0x01, 0x00};
    assert_memory_equal(client->ifaces[0].mac, derived, 6);
    const uint8_t given[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    assert_memory_equal(client->ifaces[1].mac, given, 6);
    assert_true(client->ifaces[1].mac_given);
    assert_int_equal(client->ifaces[0].link, 0);
    assert_int_equal(client->ifaces[1].link, TW_SCENARIO_NONE);

    assert_int_equal(client->route_count, 2);
    assert_int_equal(client->routes[0].dest, TW_IPV4_ADDR(192, 168, 0, 0));
    assert_int_equal(client->routes[0].iface, 0);
    assert_int_equal(client->routes[1].prefix_len, 0); /* the default route, last */
    assert_int_equal(client->routes[1].via, TW_IPV4_ADDR(10, 9, 0, 1));
    assert_int_equal(client->routes[1].iface, 1);

    const tw_scenario_app *a = &s->apps[1];
    assert_string_equal(a->name, "client"); /* a host's only app takes its name */
    assert_int_equal(a->peer_host, 0);
    assert_int_equal(a->rate_per_s, 50);
    assert_int_equal(a->size_bytes, 1024);
    assert_int_equal(a->start_ns, TW_MS(250));
    assert_int_equal(a->stop_ns, TW_MS(1750));
    assert_int_equal(a->core, TW_SCENARIO_CORE_ANY);

    const tw_scenario_link *l = &s->links[0];
    assert_string_equal(l->name, "link0");
    const tw_link_config *f = &l->dir[TW_SCENARIO_FORWARD];
    const tw_link_config *r = &l->dir[TW_SCENARIO_REVERSE];
    assert_int_equal(f->bandwidth_bps, 1500000000ull);
    assert_int_equal(r->bandwidth_bps, 1500000000ull);
    assert_int_equal(f->delay_ns, TW_MS(1));
    assert_int_equal(r->delay_ns, TW_US(250));
    assert_int_equal(l->loss_model[TW_SCENARIO_FORWARD], TW_SCENARIO_LOSS_GILBERT);
    assert_int_equal(f->loss.num, 0);
    assert_int_equal(f->gilbert.good_to_bad.num, 1);
    assert_int_equal(f->gilbert.good_to_bad.den, 100);
    assert_int_equal(f->gilbert.bad_to_good.num, 3);
    assert_int_equal(f->gilbert.bad_to_good.den, 10);
    assert_int_equal(f->gilbert.loss_bad.num, 1); /* 100% unless given */
    assert_int_equal(l->loss_model[TW_SCENARIO_REVERSE], TW_SCENARIO_LOSS_BERNOULLI);
    assert_int_equal(r->loss.num, 3);
    assert_int_equal(r->loss.den, 200);
    /* Sub-mappings merge key by key: reverse keeps the shared packets. */
    assert_int_equal(f->queue_bytes_limit, 65536);
    assert_int_equal(r->queue_bytes_limit, 1000000);
    assert_int_equal(r->queue_packets_limit, 50);
    assert_int_equal(r->reorder.num, 1);
    assert_int_equal(r->reorder.den, 50);
    assert_int_equal(r->reorder_delay_ns, TW_MS(3));
    assert_int_equal(r->mtu, 9000);
    assert_int_equal(f->mtu, 1500);

    /* Faults come out sorted by time, ties in file order. */
    assert_int_equal(s->fault_count, 3);
    assert_int_equal(s->faults[0].kind, TW_SCENARIO_FAULT_CLOG);
    assert_int_equal(s->faults[0].until_ns, TW_MS(1010));
    assert_int_equal(s->faults[1].kind, TW_SCENARIO_FAULT_LINK_DOWN);
    assert_int_equal(s->faults[1].until_ns, TW_NS_NEVER);
    assert_int_equal(s->faults[2].kind, TW_SCENARIO_FAULT_CRASH);
    assert_int_equal(s->faults[2].until_ns, TW_MS(2500));
    tw_scenario_free(s);
}

static void test_scenario_model_inline_errors(void **state)
{
    /* A partition naming the same host on both sides, via a scalar side. */
    expect_load_error("duration: 3s\n"
                      "hosts: [{name: a, address: 10.0.0.1/24}, {name: b, address: 10.0.0.2/24}]\n"
                      "links: [{endpoints: [a, b]}]\n"
                      "faults: [{at: 1s, partition: {a: a, b: [b, a]}}]\n",
                      "inline.yaml:4:44: host 'a' is on both sides of the partition");
    /* A link from an interface to itself. */
    expect_load_error("duration: 3s\n"
                      "hosts: [{name: a, address: 10.0.0.1/24}]\n"
                      "links: [{endpoints: [a, a.eth0]}]\n",
                      "inline.yaml:3:25: link 'link0' joins 'a.eth0' to itself");
    /* A clog that runs past the end. */
    expect_load_error("duration: 3s\n"
                      "hosts: [{name: a, address: 10.0.0.1/24}, {name: b, address: 10.0.0.2/24}]\n"
                      "links: [{name: l, endpoints: [a, b]}]\n"
                      "faults: [{at: 2s, clog: l, for: 2s}]\n",
                      "inline.yaml:4:33: the fault ends at 4s, after the scenario ends "
                      "(duration 3s)");
    /* Ratios and sizes that cannot be exact. */
    expect_load_error("duration: 3s\n"
                      "hosts: [{name: a, address: 10.0.0.1/24}, {name: b, address: 10.0.0.2/24}]\n"
                      "links: [{endpoints: [a, b], queue: {bytes: 0.1KiB}}]\n",
                      "inline.yaml:3:44: expected a size such as 64KiB, got '0.1KiB'");
    /* A NUL byte inside a quoted value. */
    expect_load_error("duration: \"1\\0s\"\n", "inline.yaml:1:11: expected a duration such as "
                                               "250us, got a value holding a NUL byte");
    /* A cyclic alias reaches the loader only where a value is expected. */
    expect_load_error("duration: 1s\nhosts: &h [*h]\n",
                      "inline.yaml:2:8: expected a host (a mapping of keys), got a list");
}

/* ---- live: -------------------------------------------------------------------- */

static const char kernel_hosts[] =
    "duration: 2s\n"
    "hosts:\n"
    "  - {name: linux, kind: kernel, address: 10.0.0.1/24, apps: [{type: http_server}]}\n"
    "  - {name: c, address: 10.0.0.2/24, apps: [{type: http_client, server: linux}]}\n"
    "links: [{endpoints: [linux, c]}]\n";

/* live.programs: false makes every app of a kernel host twin's task; by
 * default http_server is nginx. --set turns a kernel host into a twin host
 * (how the simulator runs such a file). */
static void test_scenario_live_programs_and_kind_override(void **state)
{
    tw_scenario *s = load_text(kernel_hosts);
    assert_false(s->live.programs_off);
    assert_int_equal(s->hosts[0].kind, TW_SCENARIO_HOST_KERNEL);
    char err[ERR_LEN];
    assert_int_equal(tw_scenario_set(s, "hosts.linux.kind", "twin", err, sizeof(err)), 0);
    assert_int_equal(s->hosts[0].kind, TW_SCENARIO_HOST_TWIN);
    assert_int_equal(tw_scenario_set(s, "live.programs", "false", err, sizeof(err)), 0);
    assert_true(s->live.programs_off);
    tw_scenario_free(s);
    char text[sizeof(kernel_hosts) + 64];
    snprintf(text, sizeof text, "%slive: {programs: false}\n", kernel_hosts);
    s = load_text(text);
    assert_true(s->live.programs_off);
    tw_scenario_free(s);
    snprintf(text, sizeof text, "%slive: {programs: nginx}\n", kernel_hosts);
    expect_load_error(text, "inline.yaml:6:18: expected true or false, got 'nginx'");
}

/* ---- hosts' tcp: ------------------------------------------------------------ */

static const char tcp_hosts[] =
    "duration: 2s\n"
    "hosts:\n"
    "  - name: a\n"
    "    interfaces: [{name: eth0, address: 10.0.0.1/24, mtu: 9000}]\n"
    "    tcp:\n"
    "      mss: 8960B\n"
    "      send_buffer: 16KiB\n"
    "      receive_buffer: 1MiB\n"
    "      nagle: false\n"
    "      delayed_ack: off\n"
    "      rto_min: 20ms\n"
    "      msl: 250ms\n"
    "      keepalive: {idle: 5s, interval: 1s, probes: 3}\n"
    "  - name: b\n"
    "    address: 10.0.0.2/24\n"
    "    tcp: {nagle: true, delayed_ack: 10ms, keepalive: off}\n"
    "  - {name: c, address: 10.0.0.3/24}\n";

static void test_scenario_host_tcp_settings_in_base_units(void **state)
{
    tw_scenario *s = load_text(tcp_hosts);
    const tw_scenario_tcp *a = &s->hosts[0].tcp;
    assert_int_equal(a->mss_bytes, 8960);
    assert_int_equal(a->send_buffer_bytes, 16384);
    assert_int_equal(a->receive_buffer_bytes, 1 << 20);
    assert_int_equal(a->nagle, TW_SCENARIO_NAGLE_OFF);
    assert_true(a->delayed_ack_set);
    assert_int_equal(a->delayed_ack_ns, 0); /* off */
    assert_int_equal(a->rto_min_ns, TW_MS(20));
    assert_int_equal(a->msl_ns, TW_MS(250));
    assert_true(a->keepalive);
    assert_int_equal(a->keepalive_idle_ns, TW_SEC(5));
    assert_int_equal(a->keepalive_interval_ns, TW_SEC(1));
    assert_int_equal(a->keepalive_probes, 3);
    const tw_scenario_tcp *b = &s->hosts[1].tcp;
    assert_int_equal(b->nagle, TW_SCENARIO_NAGLE_ON);
    assert_int_equal(b->delayed_ack_ns, TW_MS(10));
    assert_false(b->keepalive);
    assert_int_equal(b->mss_bytes, 0); /* the driver's choice: from the MTU */
    /* A host without tcp: leaves every choice to the driver. */
    const tw_scenario_tcp *c = &s->hosts[2].tcp;
    assert_int_equal(c->nagle, TW_SCENARIO_NAGLE_APP);
    assert_false(c->delayed_ack_set);
    assert_int_equal(c->send_buffer_bytes, 0);
    assert_int_equal(c->rto_min_ns, 0);
    /* --set reaches into the mapping, and adds it where there is none. */
    char err[ERR_LEN];
    assert_int_equal(tw_scenario_set(s, "hosts.c.tcp.mss", "1000B", err, sizeof(err)), 0);
    assert_int_equal(s->hosts[2].tcp.mss_bytes, 1000);
    assert_int_equal(tw_scenario_set(s, "hosts.c.tcp.mss", "1461B", err, sizeof(err)),
                     -TW_EINVAL);
    assert_non_null(strstr(err, "mss 1461B does not fit host 'c''s MTU 1500 (at most 1460B)"));
    tw_scenario_free(s);
}

static void test_scenario_host_tcp_errors(void **state)
{
    const char *head = "duration: 1s\nhosts:\n  - name: a\n    address: 10.0.0.1/24\n";
    static const struct {
        const char *tcp;
        const char *want;
    } cases[] = {
        {"    tcp: {mss: 87B}\n", "inline.yaml:5:16: 'mss' must be between 88B and 65495B"},
        {"    tcp: {send_buffer: 512B}\n", "'send_buffer' must be between 1KiB and 1GiB"},
        {"    tcp: {delayed_ack: 0s}\n", "'delayed_ack' must be between"},
        {"    tcp: {delayed_ack: soon}\n", "expected a duration such as 250us, got 'soon'"},
        {"    tcp: {rto_min: 2m}\n", "'rto_min' must be between 1ms and 1m"},
        {"    tcp: {nagle: yes}\n", "expected true or false, got 'yes'"},
        {"    tcp: {keepalive: {idle: 1s, interval: 1s, probes: 0}}\n",
         "'probes' must be between 1 and 255"},
        {"    tcp: [mss]\n", "expected TCP settings (a mapping of keys), got a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "%s%s", head, cases[i].tcp);
        expect_load_error(text, cases[i].want);
    }
}

/* ---- --set ---------------------------------------------------------------- */

static void expect_set(tw_scenario *s, const char *key, const char *value)
{
    char err[ERR_LEN];
    int rc = tw_scenario_set(s, key, value, err, sizeof(err));
    if (rc != 0) {
        fail_msg("--set %s=%s: %s", key, value, err);
    }
}

static void expect_set_error(tw_scenario *s, const char *key, const char *value, const char *want)
{
    char err[ERR_LEN];
    uint64_t seed = s->seed;
    tw_ns duration = s->duration_ns;
    int rc = tw_scenario_set(s, key, value, err, sizeof(err));
    assert_int_equal(rc, -TW_EINVAL);
    if (strcmp(err, want) != 0) {
        fail_msg("--set %s=%s:\n  got  \"%s\"\n  want \"%s\"", key, value, err, want);
    }
    /* A failed override leaves the model as it was. */
    assert_int_equal(s->seed, seed);
    assert_int_equal(s->duration_ns, duration);
}

static void test_scenario_set_overrides_apply(void **state)
{
    tw_scenario *s = load_example("udp_echo.yaml");
    expect_set(s, "seed", "7");
    expect_set(s, "duration", "2.5s");
    expect_set(s, "links.l1.loss", "2%");
    expect_set(s, "links.l1.forward.delay", "5ms"); /* creates `forward:` */
    expect_set(s, "hosts.server.cores", "4");
    expect_set(s, "hosts.client.apps.0.count", "10");
    expect_set(s, "hosts.client.apps.client.size", "100B"); /* the app's default name */
    expect_set(s, "expect.0.==", "10");
    expect_set(s, "name", "overridden");
    assert_int_equal(s->seed, 7);
    assert_int_equal(s->duration_ns, TW_MS(2500));
    const tw_scenario_link *l = &s->links[0];
    assert_int_equal(l->dir[0].loss.num, 1);
    assert_int_equal(l->dir[0].loss.den, 50);
    assert_int_equal(l->dir[1].loss.den, 50);
    assert_int_equal(l->dir[0].delay_ns, TW_MS(5));
    assert_int_equal(l->dir[1].delay_ns, TW_US(50));
    assert_int_equal(s->hosts[0].cores, 4);
    assert_int_equal(s->apps[tw_scenario_find_app(s, "client")].count, 10);
    assert_int_equal(s->apps[tw_scenario_find_app(s, "client")].size_bytes, 100);
    assert_int_equal(s->expects[0].lo, 10);
    assert_string_equal(s->name, "overridden");
    /* Earlier overrides survive later ones, and a later one wins. */
    expect_set(s, "seed", "8");
    assert_int_equal(s->seed, 8);
    assert_int_equal(s->duration_ns, TW_MS(2500));
    tw_scenario_free(s);
}

static void test_scenario_set_overrides_rejected(void **state)
{
    tw_scenario *s = load_example("udp_echo.yaml");
    expect_set(s, "seed", "9");
    expect_set_error(s, "links.l9.loss", "2%",
                     "--set links.l9.loss=2%: no entry 'l9' in 'links' (did you mean 'l1'?)");
    expect_set_error(s, "links.l1.bandwith", "1Gbps",
                     "--set links.l1.bandwith=1Gbps: unknown key 'bandwith' (did you mean "
                     "'bandwidth'?)");
    expect_set_error(s, "hosts.server.cores", "0",
                     "--set hosts.server.cores=0: 'cores' must be between 1 and 256, got '0'");
    expect_set_error(s, "duration", "fast",
                     "--set duration=fast: expected a duration such as 250us, got 'fast'");
    expect_set_error(s, "seed", "-1",
                     "--set seed=-1: expected a whole number such as 42, got '-1'");
    expect_set_error(s, "links.l1.loss", "0.02",
                     "--set links.l1.loss=0.02: expected a probability such as 1.5% or 1/1000, "
                     "got '0.02'");
    expect_set_error(s, "links.l1", "x",
                     "--set links.l1=x: 'l1' names a whole entry of 'links', "
                     "not a value");
    expect_set_error(s, "seed.x", "1",
                     "--set seed.x=1: 'seed' is a value, so 'x' cannot be set "
                     "inside it");
    expect_set_error(s, "links..loss", "1%",
                     "--set links..loss=1%: expected a key path such as links.l1.loss");
    assert_int_equal(s->seed, 9);
    tw_scenario_free(s);

    /* An override that breaks a check elsewhere is reported where it bites. */
    s = load_example("quickstart.yaml");
    expect_set_error(s, "duration", "4s",
                     "quickstart.yaml:50:11: the fault ends at 5s, after the scenario ends "
                     "(duration 4s)");
    expect_set_error(s, "hosts.client1.apps.0.connections", "0",
                     "--set hosts.client1.apps.0.connections=0: 'connections' must be between 1 "
                     "and 65535, got '0'");
    tw_scenario_free(s);
}

/* ---- robustness ----------------------------------------------------------- */

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Bytes that mean something to YAML, so mutations reach the loader's
 * checks rather than stopping at the scanner. */
static const char yaml_bytes[] = ":-[]{},#&*!|>'\"%@` \n\t.0123456789abcdefs%/";

static void test_scenario_mutations_never_crash(void **state)
{
    file_list files;
    list_yaml("scenarios", &files);
    assert_true(files.count > 0);
    char *sources[128];
    size_t lens[128];
    for (uint32_t i = 0; i < files.count; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/scenarios/%s", TW_SOURCE_DIR, files.names[i]);
        sources[i] = read_file(path, &lens[i]);
    }
    uint64_t rng = 0x9e3779b97f4a7c15ull; /* seed: change it to explore, keep it to reproduce */
    uint32_t loaded = 0, refused = 0;
    for (uint32_t iter = 0; iter < 10000; iter++) {
        uint32_t which = (uint32_t)(xorshift(&rng) % files.count);
        size_t len = lens[which];
        char *buf = malloc(len + 16);
        memcpy(buf, sources[which], len);
        uint32_t edits = 1 + (uint32_t)(xorshift(&rng) % 4);
        for (uint32_t e = 0; e < edits; e++) {
            size_t at = len ? (size_t)(xorshift(&rng) % len) : 0;
            uint64_t r = xorshift(&rng);
            char byte = (r & 8) ? yaml_bytes[(r >> 8) % (sizeof(yaml_bytes) - 1)] : (char)(r >> 16);
            switch (r % 3) {
            case 0: /* flip */
                if (len) {
                    buf[at] = byte;
                }
                break;
            case 1: /* delete */
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: /* insert */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = byte;
                len++;
                break;
            }
        }
        tw_scenario *s = (tw_scenario *)0x1;
        char err[ERR_LEN];
        err[0] = '\0';
        int rc = tw_scenario_load(files.names[which], buf, len, &s, err, sizeof(err));
        if (rc == 0) {
            assert_non_null(s);
            loaded++;
            tw_scenario_free(s);
        } else {
            assert_int_equal(rc, -TW_EINVAL);
            assert_null(s);
            if (!has_position(err, files.names[which])) {
                fail_msg("iteration %u (seed 0x9e3779b97f4a7c15): no position in \"%s\"", iter,
                         err);
            }
            refused++;
        }
        free(buf);
    }
    for (uint32_t i = 0; i < files.count; i++) {
        free(sources[i]);
    }
    /* Both outcomes occur, or the mutations test too little. */
    assert_true(loaded > 100);
    assert_true(refused > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_examples_all_load),
        cmocka_unit_test(test_scenario_quickstart_model_in_base_units),
        cmocka_unit_test(test_scenario_bad_files_name_their_problem),
        cmocka_unit_test(test_scenario_load_error_truncates_message),
        cmocka_unit_test(test_scenario_model_units_defaults_and_directions),
        cmocka_unit_test(test_scenario_model_inline_errors),
        cmocka_unit_test(test_scenario_live_programs_and_kind_override),
        cmocka_unit_test(test_scenario_host_tcp_settings_in_base_units),
        cmocka_unit_test(test_scenario_host_tcp_errors),
        cmocka_unit_test(test_scenario_set_overrides_apply),
        cmocka_unit_test(test_scenario_set_overrides_rejected),
        cmocka_unit_test(test_scenario_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, NULL);
}
