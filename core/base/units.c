#include "base/units.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* Parses "123.456" into a scaled integer: value * 10^frac_digits, with the
 * number of fraction digits read. Stops at the first character that is not
 * part of the number; *end points there. Fraction digits past the 18th are
 * dropped; *dropped (when asked for) says whether any of them was not 0, so
 * the exact parsers can refuse what they cannot represent. */
static int parse_decimal_x(const char *s, const char **end, uint64_t *whole, uint64_t *frac,
                           uint32_t *frac_digits, bool *dropped)
{
    const char *p = s;
    uint64_t w = 0, f = 0;
    uint32_t fd = 0;
    int digits = 0;
    bool lost = false;
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
            } else if (*p != '0') {
                lost = true;
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
    if (dropped) {
        *dropped = lost;
    }
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

typedef struct unit_scale {
    const char *unit;
    uint64_t scale;
} unit_scale;

/* number unit -> number * scale. Exact: the fraction times the scale must
 * be a whole number that fits (0.5bps or 0.1KiB name no quantity that
 * exists); otherwise the fraction is rounded down (a duration of 1.0000005us
 * is 1000 ns). */
static int parse_scaled(const char *s, const unit_scale *units, size_t n, bool exact,
                        uint64_t *out)
{
    const char *end;
    uint64_t w, f;
    uint32_t fd;
    bool dropped;
    int rc = parse_decimal_x(s, &end, &w, &f, &fd, &dropped);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(end, units[i].unit) != 0) {
            continue;
        }
        if (exact && (dropped || ((unsigned __int128)f * units[i].scale) % pow10u(fd) != 0)) {
            return -TW_EINVAL;
        }
        return scale_decimal(w, f, fd, units[i].scale, out);
    }
    return -TW_EINVAL;
}

static int parse_exact(const char *s, const unit_scale *units, size_t n, uint64_t *out)
{
    return parse_scaled(s, units, n, true, out);
}

int tw_parse_duration(const char *s, tw_ns *out)
{
    static const unit_scale units[] = {
        {"ns", 1}, {"us", 1000}, {"µs", 1000}, {"ms", 1000000}, {"s", 1000000000ull},
        {"m", 60000000000ull}, {"min", 60000000000ull}, {"h", 3600000000000ull},
    };
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), false, out);
}

int tw_parse_duration_ps(const char *s, uint64_t *out)
{
    static const unit_scale units[] = {
        {"ps", 1}, {"ns", 1000}, {"us", 1000000}, {"µs", 1000000}, {"ms", 1000000000ull},
        {"s", 1000000000000ull},
    };
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), false, out);
}

int tw_parse_rate(const char *s, uint64_t *out)
{
    static const unit_scale units[] = {
        {"bps", 1}, {"kbps", 1000}, {"Mbps", 1000000}, {"Gbps", 1000000000ull},
        {"Tbps", 1000000000000ull},
    };
    return parse_exact(s, units, sizeof(units) / sizeof(units[0]), out);
}

int tw_parse_size(const char *s, uint64_t *out)
{
    static const unit_scale units[] = {
        {"B", 1},
        {"kB", 1000},
        {"KB", 1000},
        {"MB", 1000000},
        {"GB", 1000000000ull},
        {"TB", 1000000000000ull},
        {"KiB", 1ull << 10},
        {"MiB", 1ull << 20},
        {"GiB", 1ull << 30},
        {"TiB", 1ull << 40},
    };
    return parse_exact(s, units, sizeof(units) / sizeof(units[0]), out);
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Only digits, at least one, into a 64-bit value. */
static int parse_uint(const char *s, const char **end, uint64_t *out)
{
    const char *p = s;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return -TW_ERANGE;
        }
        v = v * 10 + d;
        p++;
    }
    if (p == s) {
        return -TW_EINVAL;
    }
    *end = p;
    *out = v;
    return 0;
}

/* "P%" as num/den with den = 100 * 10^fraction digits, trailing zeros of
 * the fraction dropped first so that "1.50%" needs no more room than "1.5%". */
static int parse_percent(const char *s, uint64_t *num, uint64_t *den)
{
    const char *end;
    uint64_t w, f;
    uint32_t fd;
    bool dropped;
    int rc = parse_decimal_x(s, &end, &w, &f, &fd, &dropped);
    if (rc < 0) {
        return rc;
    }
    if (strcmp(end, "%") != 0) {
        return -TW_EINVAL;
    }
    if (dropped) {
        return -TW_ERANGE; /* a fraction finer than 10^-18 % */
    }
    while (fd > 0 && f % 10 == 0) {
        f /= 10;
        fd--;
    }
    /* fd <= 18 here; 100 * 10^17 still fits, 10^20 does not. */
    if (fd > 17) {
        return -TW_ERANGE;
    }
    uint64_t d = 100 * pow10u(fd);
    unsigned __int128 n = (unsigned __int128)w * pow10u(fd) + f;
    if (n > UINT64_MAX) {
        return -TW_ERANGE;
    }
    *num = (uint64_t)n;
    *den = d;
    return 0;
}

int tw_parse_ratio(const char *s, tw_ratio *out)
{
    uint64_t num, den;
    if (strcmp(s, "0") == 0) {
        *out = TW_RATIO_ZERO;
        return 0;
    }
    const char *slash = strchr(s, '/');
    int rc;
    if (slash) {
        const char *end;
        rc = parse_uint(s, &end, &num);
        if (rc == 0 && end != slash) {
            rc = -TW_EINVAL;
        }
        if (rc == 0) {
            rc = parse_uint(slash + 1, &end, &den);
        }
        if (rc == 0 && *end != '\0') {
            rc = -TW_EINVAL;
        }
        if (rc == 0 && den == 0) {
            rc = -TW_EINVAL;
        }
    } else {
        rc = parse_percent(s, &num, &den);
    }
    if (rc < 0) {
        return rc;
    }
    if (num > den) {
        return -TW_ERANGE;
    }
    uint64_t g = num == 0 ? den : gcd_u64(num, den);
    num /= g;
    den /= g;
    if (den > UINT32_MAX) {
        return -TW_ERANGE;
    }
    *out = TW_RATIO((uint32_t)num, (uint32_t)den);
    return 0;
}

int tw_parse_ppm(const char *s, uint64_t *out)
{
    uint64_t num, den;
    int rc = parse_percent(s, &num, &den);
    if (rc < 0) {
        return rc;
    }
    /* ppm = num / den * 10^6, which must be whole. */
    unsigned __int128 v = (unsigned __int128)num * 1000000u;
    if (v % den != 0) {
        return -TW_EINVAL;
    }
    v /= den;
    if (v > UINT64_MAX) {
        return -TW_ERANGE;
    }
    *out = (uint64_t)v;
    return 0;
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
