#include "base/units.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* Parses "123.456" into a scaled integer: value * 10^frac_digits, with the
 * number of fraction digits read. Stops at the first character that is not
 * part of the number; *end points there. */
static int parse_decimal(const char *s, const char **end, uint64_t *whole, uint64_t *frac,
                         uint32_t *frac_digits)
{
    const char *p = s;
    uint64_t w = 0, f = 0;
    uint32_t fd = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (w > (UINT64_MAX - d) / 10) {
            return -TW_ERANGE;
        }
        w = w * 10 + d;
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (fd < 18) {
                f = f * 10 + (uint64_t)(*p - '0');
                fd++;
            }
            p++;
            digits++;
        }
    }
    if (digits == 0) {
        return -TW_EINVAL;
    }
    *end = p;
    *whole = w;
    *frac = f;
    *frac_digits = fd;
    return 0;
}

static uint64_t pow10u(uint32_t n)
{
    uint64_t v = 1;
    while (n--) {
        v *= 10;
    }
    return v;
}

/* whole.frac * scale, exactly, rounding the fraction down. */
static int scale_decimal(uint64_t whole, uint64_t frac, uint32_t fd, uint64_t scale, uint64_t *out)
{
    unsigned __int128 v = (unsigned __int128)whole * scale;
    v += ((unsigned __int128)frac * scale) / pow10u(fd);
    if (v > UINT64_MAX) {
        return -TW_ERANGE;
    }
    *out = (uint64_t)v;
    return 0;
}

int tw_parse_duration(const char *s, tw_ns *out)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {
        {"ns", 1}, {"us", 1000}, {"µs", 1000}, {"ms", 1000000}, {"s", 1000000000ull},
        {"m", 60000000000ull}, {"min", 60000000000ull}, {"h", 3600000000000ull},
    };
    const char *end;
    uint64_t w, f;
    uint32_t fd;
    int rc = parse_decimal(s, &end, &w, &f, &fd);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            return scale_decimal(w, f, fd, units[i].ns, out);
        }
    }
    return -TW_EINVAL;
}

char *tw_format_duration(tw_ns ns, char *buf, unsigned len)
{
    if (ns == TW_NS_NEVER) {
        snprintf(buf, len, "never");
    } else if (ns >= 1000000000ull) {
        snprintf(buf, len, "%llu.%03llus", (unsigned long long)(ns / 1000000000ull),
                 (unsigned long long)(ns % 1000000000ull / 1000000ull));
    } else if (ns >= 1000000ull) {
        snprintf(buf, len, "%llu.%03llums", (unsigned long long)(ns / 1000000ull),
                 (unsigned long long)(ns % 1000000ull / 1000ull));
    } else if (ns >= 1000ull) {
        snprintf(buf, len, "%llu.%03lluus", (unsigned long long)(ns / 1000ull),
                 (unsigned long long)(ns % 1000ull));
    } else {
        snprintf(buf, len, "%lluns", (unsigned long long)ns);
    }
    return buf;
}
