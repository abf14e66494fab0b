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
/* Writes a short human form with three decimals ("1.500ms") into buf;
 * returns buf. */
char *tw_format_duration(tw_ns ns, char *buf, unsigned len);

#endif
