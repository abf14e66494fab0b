/* Operating errors: negative codes from one table, with names and messages
 * (after libuv). Functions that can fail return 0 or a positive count on
 * success and -TW_E* on failure. Programmer errors are assertions instead;
 * protocol drops are drop reasons with counters, not errors. */
#ifndef TW_BASE_ERROR_H
#define TW_BASE_ERROR_H

#define TW_ERRORS(X)                                                                               \
    X(EINVAL, "invalid argument")                                                                  \
    X(EFULL, "queue or table is full")                                                             \
    X(EEMPTY, "nothing to take")                                                                   \
    X(ENOMEM, "pool exhausted")                                                                    \
    X(ENOENT, "no such entry")                                                                     \
    X(EEXIST, "entry already exists")                                                              \
    X(ERANGE, "value out of range")                                                                \
    X(EAGAIN, "try again later")                                                                   \
    X(ESTATE, "not allowed in the current state")                                                  \
    X(ETOOBIG, "too big")                                                                          \
    X(ETRUNC, "truncated input")                                                                   \
    X(EMALFORMED, "malformed input")                                                               \
    X(EADDRINUSE, "address already in use")                                                        \
    X(ENOTCONN, "not connected")                                                                   \
    X(ECONNREFUSED, "connection refused")                                                          \
    X(ECONNRESET, "connection reset")                                                              \
    X(ETIMEDOUT, "timed out")                                                                      \
    X(EUNREACH, "destination unreachable")                                                         \
    X(ECLOSED, "closed")                                                                           \
    X(EBADCSUM, "bad checksum")                                                                    \
    X(ENOTSUP, "not supported")

enum {
    TW_OK = 0,
#define TW_ERROR_ENUM(name, msg) TW_##name,
    TW_ERRORS(TW_ERROR_ENUM)
#undef TW_ERROR_ENUM
        TW_ERROR_COUNT
};

/* The message for a code, given as negative (-TW_EFULL) or positive. */
const char *tw_strerror(int code);
/* The name for a code, such as "EFULL". */
const char *tw_error_name(int code);

#endif
