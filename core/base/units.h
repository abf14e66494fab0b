/* Quantities written the way people write them: "250us", "1.5s", "10Gbps",
 * "64KiB", "1.5%". Parsed exactly with integer arithmetic (no floats), so a
 * value means the same on every machine. Each parser takes the whole string
 * and returns 0, or -TW_EINVAL (no number, unknown unit, junk after it) or
 * -TW_ERANGE (does not fit). */
#ifndef TW_BASE_UNITS_H
#define TW_BASE_UNITS_H

#include <stdint.h>

#include "base/ratio.h"
#include "base/time.h"

/* ns, us, ms, s, m (minutes), h; a bare number is an error. */
int tw_parse_duration(const char *s, tw_ns *out);
/* Like tw_parse_duration, in picoseconds, with "ps" added: for per-byte
 * costs, which are fractions of a nanosecond on current hardware. */
int tw_parse_duration_ps(const char *s, uint64_t *out);

/* Bits per second: bps, kbps, Mbps, Gbps, Tbps (SI, powers of 1000, the
 * way link speeds are sold). Case matters: "mbps" would be millibits. The
 * value must come out a whole number of bits/s ("1.5Gbps" does, "0.5bps"
 * does not: -TW_EINVAL); a bare number is an error. */
int tw_parse_rate(const char *s, uint64_t *out);

/* Bytes: B; SI kB (also KB), MB, GB, TB; binary KiB, MiB, GiB, TiB. A
 * whole number of bytes ("1.5KiB" = 1536; "0.1KiB" is -TW_EINVAL); a bare
 * number is an error, since "64" could be bytes, KiB or packets. */
int tw_parse_size(const char *s, uint64_t *out);

/* A probability, exactly: "1.5%" (a decimal percentage, any number of
 * fraction digits that still fits) or "3/200" (integers), or "0". Never a
 * bare decimal such as "0.015", which reads too easily as a percentage.
 * The result is reduced to lowest terms (1.5% is 3/200); -TW_ERANGE above
 * 100% or when the reduced denominator does not fit 32 bits. */
int tw_parse_ratio(const char *s, tw_ratio *out);

/* A percentage in parts per million, unbounded above ("150%" is 1500000):
 * for ratios that are not probabilities, such as a max/min balance bound.
 * Exact: "1.00001%" (0.1 ppm) is -TW_EINVAL. */
int tw_parse_ppm(const char *s, uint64_t *out);

/* Writes a short human form with three decimals ("1.500ms") into buf;
 * returns buf. */
char *tw_format_duration(tw_ns ns, char *buf, unsigned len);

#endif
