/* Assertions state invariants. They are on in every build the tests use
 * (NDEBUG does not turn them off): a broken invariant in a simulator is a
 * bug report, and the seed that produced it is the reproduction.
 *
 * Split compound conditions into several assertions so the failing one is
 * named exactly. */
#ifndef TW_BASE_ASSERT_H
#define TW_BASE_ASSERT_H

#include <stdbool.h>

typedef void (*tw_panic_fn)(const char *file, int line, const char *what);

/* Reports a broken invariant and does not return. The default handler prints
 * to stderr and aborts; drivers and tests may install their own (a test
 * harness longjmps out of it). Installing is an init-time operation. */
_Noreturn void tw_panic(const char *file, int line, const char *what);
void tw_panic_set_handler(tw_panic_fn fn);

#define TW_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            tw_panic(__FILE__, __LINE__, #cond);                                                   \
    } while (0)

#define TW_UNREACHABLE() tw_panic(__FILE__, __LINE__, "unreachable")

#define TW_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

#define TW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
