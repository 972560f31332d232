/* Status names and the error record. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qcal/status.h"

static const char *const NAMES[] = {
    "OK", "E_INVALID", "E_NOMEM", "E_IO", "E_CORRUPT", "E_UNSUPPORTED", "E_SHAPE", "E_NUMERIC",
    "E_MPI",
};
_Static_assert(sizeof NAMES / sizeof NAMES[0] == QCAL_STATUS_COUNT, "one name per status");

const char *qcal_status_name(qcal_status st)
{
    if ((unsigned)st >= QCAL_STATUS_COUNT)
        return "E_UNKNOWN";
    return NAMES[st];
}

qcal_status qcal_error_set(qcal_error *err, qcal_status code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* One line: a message never carries a newline. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

qcal_status qcal_error_prefix(qcal_error *err, const char *prefix)
{
    char tmp[sizeof err->msg];
    size_t plen, mlen;

    if (!err)
        return QCAL_E_INVALID;
    /* Built by hand: snprintf of a buffer into itself's size trips -Wformat-truncation. */
    plen = strlen(prefix);
    if (plen > sizeof tmp - 3)
        plen = sizeof tmp - 3;
    memcpy(tmp, prefix, plen);
    tmp[plen] = ':';
    tmp[plen + 1] = ' ';
    mlen = strnlen(err->msg, sizeof err->msg);
    if (mlen > sizeof tmp - plen - 3)
        mlen = sizeof tmp - plen - 3;
    memcpy(tmp + plen + 2, err->msg, mlen);
    tmp[plen + 2 + mlen] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
    return err->code;
}
