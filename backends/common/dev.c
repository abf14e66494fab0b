/* The frame devices by kind and by name, and the reason of a failed open. */
#include "backends/common/dev.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* By kind, so that a name is known even where its backend is not built:
 * "not in this build" and "no such backend" are different answers. */
static const char *const kind_names[TW_DEV_KIND_COUNT] = {
    [TW_DEV_POLL] = "poll", [TW_DEV_TAP] = "tap", [TW_DEV_XDP] = "xdp", [TW_DEV_URING] = "uring"};

/* Opens run on the thread that builds the world; one reason per thread. */
static _Thread_local char why[512];

const tw_dev_ops *tw_dev_ops_of(tw_dev_kind kind)
{
    switch (kind) {
    case TW_DEV_POLL: return &tw_dev_poll_ops;
    case TW_DEV_TAP: return &tw_dev_tap_ops;
    case TW_DEV_XDP: return &tw_dev_xdp_ops;
#ifdef TW_HAVE_URING
    case TW_DEV_URING: return &tw_dev_uring_ops;
#endif
    default: return NULL;
    }
}

int tw_dev_kind_named(const char *name)
{
    for (int k = 0; k < TW_DEV_KIND_COUNT; k++) {
        if (strcmp(kind_names[k], name) == 0) {
            return k;
        }
    }
    return -1;
}

const tw_dev_ops *tw_dev_ops_named(const char *name)
{
    int k = tw_dev_kind_named(name);
    return k < 0 ? NULL : tw_dev_ops_of((tw_dev_kind)k);
}

const char *tw_dev_why(void)
{
    return why;
}

void tw_dev_set_why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
}
