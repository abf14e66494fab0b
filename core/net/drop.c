#include "net/drop.h"

#include "base/assert.h"

static const char *const names[TW_DROP_COUNT] = {
#define TW_DROP_NAME(id, name, what) [TW_DROP_##id] = name,
    TW_DROP_REASONS(TW_DROP_NAME)
#undef TW_DROP_NAME
};

static const char *const whats[TW_DROP_COUNT] = {
#define TW_DROP_WHAT(id, name, what) [TW_DROP_##id] = what,
    TW_DROP_REASONS(TW_DROP_WHAT)
#undef TW_DROP_WHAT
};

const char *tw_drop_name(tw_drop_reason r)
{
    TW_ASSERT((unsigned)r < TW_DROP_COUNT);
    return names[r];
}

const char *tw_drop_what(tw_drop_reason r)
{
    TW_ASSERT((unsigned)r < TW_DROP_COUNT);
    return whats[r];
}

uint64_t tw_drop_total(const tw_iface_counters *c)
{
    uint64_t n = 0;
    for (unsigned r = 0; r < TW_DROP_COUNT; r++) {
        n += c->drops[r];
    }
    return n;
}
