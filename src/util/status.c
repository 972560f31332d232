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

/*
 * A message longer than err->msg keeps its start and its end, joined by "...": messages begin
 * with what they are about (a file, a node) and end with the reason, and an echoed value (a
 * 2000-character path) in between must not push the reason out.
 */
#define KEEP_HEAD 160

/* Copies the n characters of src (n may exceed the buffer) into msg as one line. */
static void store(char *msg, size_t size, const char *src, size_t n)
{
    if (n < size) {
        memcpy(msg, src, n);
        msg[n] = '\0';
    } else {
        size_t tail = size - 1 - KEEP_HEAD - 3;
        memcpy(msg, src, KEEP_HEAD);
        memcpy(msg + KEEP_HEAD, "...", 3);
        memcpy(msg + KEEP_HEAD + 3, src + n - tail, tail);
        msg[size - 1] = '\0';
    }
    /* One line: a message never carries a newline. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

qcal_status qcal_error_set(qcal_error *err, qcal_status code, const char *fmt, ...)
{
    /* Room for two full paths and their reason; a longer text loses its end. No allocation:
     * errors are set on out-of-memory paths too. */
    char full[8192];
    va_list ap;
    int n;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    n = vsnprintf(full, sizeof full, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(full, sizeof full, "(message could not be formatted)");
    store(err->msg, sizeof err->msg, full, strlen(full));
    return code;
}

qcal_status qcal_error_prefix(qcal_error *err, const char *prefix)
{
    char tmp[sizeof err->msg * 2 + 8];
    size_t plen, mlen;

    if (!err)
        return QCAL_E_INVALID;
    /* Built by hand: snprintf of a buffer into itself's size trips -Wformat-truncation. A long
     * prefix is cut to the message's size first; store() then keeps both ends. */
    plen = strlen(prefix);
    if (plen > sizeof err->msg)
        plen = sizeof err->msg;
    memcpy(tmp, prefix, plen);
    tmp[plen] = ':';
    tmp[plen + 1] = ' ';
    mlen = strnlen(err->msg, sizeof err->msg);
    memcpy(tmp + plen + 2, err->msg, mlen);
    store(err->msg, sizeof err->msg, tmp, plen + 2 + mlen);
    return err->code;
}
