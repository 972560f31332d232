/*
 * The error record (src/util/status.c): a message longer than its 512 bytes keeps its start and
 * its end (the reason), joined by "...", instead of losing the reason behind a long echoed
 * value; qcal_error_prefix does the same; messages stay one line.
 */
#include <string.h>

#include "qcal/status.h"
#include "qtest.h"

static char g_long[2001];

static void test_short_unchanged(void)
{
    qcal_error err;

    QT_EQ_I64(qcal_error_set(&err, QCAL_E_IO, "%s: %s", "a.h5", "No such file"), QCAL_E_IO);
    QT_EQ_I64(err.code, QCAL_E_IO);
    QT_TRUE(strcmp(err.msg, "a.h5: No such file") == 0);
    /* Newlines become spaces. */
    qcal_error_set(&err, QCAL_E_INVALID, "line 1\nline 2\r");
    QT_TRUE(strcmp(err.msg, "line 1 line 2 ") == 0);
    /* Exactly 511 characters fit without a cut. */
    qcal_error_set(&err, QCAL_E_INVALID, "%.511s", g_long);
    QT_EQ_U64(strlen(err.msg), 511);
    QT_TRUE(strstr(err.msg, "...") == NULL);
    QT_EQ_I64(qcal_error_set(NULL, QCAL_E_NOMEM, "x"), QCAL_E_NOMEM);
}

static void test_long_value_keeps_reason(void)
{
    qcal_error err;
    const char *reason = ": is a character device, not a regular file";

    qcal_error_set(&err, QCAL_E_INVALID, "-o %s%s", g_long, reason);
    QT_EQ_U64(strlen(err.msg), sizeof err.msg - 1);
    QT_TRUE(strncmp(err.msg, "-o /", 4) == 0);
    QT_TRUE(strstr(err.msg, "...") != NULL);
    QT_TRUE(strcmp(err.msg + strlen(err.msg) - strlen(reason), reason) == 0);
}

static void test_prefix(void)
{
    qcal_error err;

    qcal_error_set(&err, QCAL_E_CORRUPT, "dataset /activations/name: bad");
    QT_EQ_I64(qcal_error_prefix(&err, "f.h5"), QCAL_E_CORRUPT);
    QT_TRUE(strcmp(err.msg, "f.h5: dataset /activations/name: bad") == 0);
    /* A 2000-character prefix on a short message: the start of the prefix and the whole
     * message survive. */
    qcal_error_set(&err, QCAL_E_CORRUPT, "dataset /activations/name: bad");
    qcal_error_prefix(&err, g_long);
    QT_EQ_U64(strlen(err.msg), sizeof err.msg - 1);
    QT_TRUE(strncmp(err.msg, "/xxx", 4) == 0);
    QT_TRUE(strstr(err.msg, "...") != NULL);
    QT_TRUE(strstr(err.msg, ": dataset /activations/name: bad") != NULL);
    /* A long message under a short prefix keeps its reason. */
    qcal_error_set(&err, QCAL_E_IO, "%s: No such file or directory", g_long);
    qcal_error_prefix(&err, "--data");
    QT_TRUE(strncmp(err.msg, "--data: /xxx", 12) == 0);
    QT_TRUE(strstr(err.msg, "xxx: No such file or directory") != NULL);
    QT_EQ_I64(qcal_error_prefix(NULL, "x"), QCAL_E_INVALID);
}

int main(void)
{
    memset(g_long, 'x', sizeof g_long - 1);
    g_long[0] = '/';
    QT_RUN(test_short_unchanged);
    QT_RUN(test_long_value_keeps_reason);
    QT_RUN(test_prefix);
    return qt_report();
}
