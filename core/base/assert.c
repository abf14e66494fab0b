#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>

static tw_panic_fn panic_handler;

void tw_panic_set_handler(tw_panic_fn fn) { panic_handler = fn; }

_Noreturn void tw_panic(const char *file, int line, const char *what)
{
    if (panic_handler) {
        panic_handler(file, line, what);
    }
    /* A handler that returns is treated as the default. Printing and aborting
     * are the only side effects core/ ever has, and only on a bug. */
    fprintf(stderr, "twin: assertion failed: %s (%s:%d)\n", what, file, line);
    fflush(stderr);
    abort();
}
