#include "base/error.h"

static const char *const messages[TW_ERROR_COUNT] = {
    [TW_OK] = "ok",
#define TW_ERROR_MSG(name, msg) [TW_##name] = msg,
    TW_ERRORS(TW_ERROR_MSG)
#undef TW_ERROR_MSG
};

static const char *const names[TW_ERROR_COUNT] = {
    [TW_OK] = "OK",
#define TW_ERROR_NAME(name, msg) [TW_##name] = #name,
    TW_ERRORS(TW_ERROR_NAME)
#undef TW_ERROR_NAME
};

static int normalise(int code) { return code < 0 ? -code : code; }

const char *tw_strerror(int code)
{
    int c = normalise(code);
    return c < TW_ERROR_COUNT ? messages[c] : "unknown error";
}

const char *tw_error_name(int code)
{
    int c = normalise(code);
    return c < TW_ERROR_COUNT ? names[c] : "EUNKNOWN";
}
