#include "base/hash.h"

#include <string.h>

uint64_t tw_hash_bytes(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = tw_hash_fold(h, w);
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        h = tw_hash_fold(h, w);
    }
    return tw_hash_fold(h, (uint64_t)len);
}
