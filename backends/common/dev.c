/* The frame devices by kind and by name. */
#include "backends/common/dev.h"

#include <string.h>

const tw_dev_ops *tw_dev_ops_of(tw_dev_kind kind)
{
    switch (kind) {
    case TW_DEV_POLL: return &tw_dev_poll_ops;
    case TW_DEV_TAP: return &tw_dev_tap_ops;
    case TW_DEV_XDP: return &tw_dev_xdp_ops;
    default: return NULL;
    }
}

const tw_dev_ops *tw_dev_ops_named(const char *name)
{
    for (int k = 0; k < TW_DEV_KIND_COUNT; k++) {
        const tw_dev_ops *ops = tw_dev_ops_of((tw_dev_kind)k);
        if (strcmp(ops->name, name) == 0) {
            return ops;
        }
    }
    return NULL;
}
