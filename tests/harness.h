/* Shared helpers for the cmocka unit tests: a panic handler that turns a
 * broken TW_ASSERT into cmocka's mock_assert (so expect_assert_failure can
 * check that an invariant is enforced), message and input templates, and a
 * drain helper for the sans-io state machines.
 *
 * Header-only; every helper is static inline so a test file uses what it
 * needs and the rest costs nothing. Include it after <cmocka.h>. */
#ifndef TW_TESTS_HARNESS_H
#define TW_TESTS_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/assert.h"
#include "rt/bus.h"
#include "rt/io.h"

/* A broken invariant reports through cmocka: inside expect_assert_failure it
 * is the expected failure, anywhere else it fails the test with the
 * condition's text and place. mock_assert does not return for a false
 * result. */
static inline void harness_panic(const char *file, int line, const char *what)
{
    mock_assert(0, what, file, line);
}

static inline void harness_install_panic(void)
{
    tw_panic_set_handler(harness_panic);
}

/* A group setup that installs the panic handler. */
static inline int harness_group_setup(void **state)
{
    (void)state;
    harness_install_panic();
    return 0;
}

/* A message template: callers override fields with designated initialisers
 * on the returned value, or use the helpers below. */
static inline tw_msg harness_msg(tw_msg_mode mode, uint32_t type, tw_addr source, uint64_t target,
                                 const void *data, uint32_t len)
{
    tw_msg m;
    memset(&m, 0, sizeof(m));
    m.mode = (uint8_t)mode;
    m.type = type;
    m.source = source;
    m.target = target;
    m.len = len;
    if (len) {
        memcpy(m.data, data, len);
    }
    return m;
}

static inline tw_msg harness_direct(uint32_t type, tw_addr source, tw_addr target)
{
    return harness_msg(TW_MSG_DIRECT, type, source, target, NULL, 0);
}

static inline tw_input harness_input(const tw_msg *m)
{
    tw_input in;
    memset(&in, 0, sizeof(in));
    in.kind = TW_IN_MSG;
    in.msg = m;
    return in;
}

/* The pseudo-address a worker's system messages (acks, reports) go to. */
static inline tw_addr harness_worker_addr(uint32_t worker)
{
    return tw_addr_make(worker, 0, 0xffff);
}

/* A list of outputs collected from one drain. */
#define HARNESS_OUTS_MAX 64
typedef struct harness_outs {
    uint32_t n;
    tw_output items[HARNESS_OUTS_MAX];
} harness_outs;

/* The first collected message of the given type, or NULL. */
static inline const tw_msg *harness_find(const harness_outs *o, uint32_t type)
{
    for (uint32_t i = 0; i < o->n; i++) {
        if (o->items[i].msg.type == type) {
            return &o->items[i].msg;
        }
    }
    return NULL;
}

static inline uint32_t harness_count(const harness_outs *o, uint32_t type)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < o->n; i++) {
        n += o->items[i].msg.type == type;
    }
    return n;
}

#endif
