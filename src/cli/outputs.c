/*
 * Output checks of the command line, made before any work starts: an output's folder must exist
 * and be writable, and the name must be a regular file or not exist yet (qcal__output_check:
 * never a device, FIFO, directory or a symlink to one). The atomic writer checks again right
 * before its rename.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/atomic.h"

/* The folder of path into dir ("." when path has no '/'). */
static void folder_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", (int)(slash == path ? 1 : slash - path), path);
}

qcal_status qcal_cli_check_output(const char *path, const char *what, qcal_error *err)
{
    char dir[PATH_MAX];
    qcal_status st;

    if (!path)
        return QCAL_OK;
    if (!*path)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: empty file name", what);
    st = qcal__output_check(path, err);
    if (st != QCAL_OK)
        return qcal_error_prefix(err, what);
    folder_of(path, dir, sizeof dir);
    if (access(dir, W_OK) != 0)
        return qcal_error_set(err, QCAL_E_IO, "%s %s: folder %s: %s", what, path, dir,
                              strerror(errno));
    return QCAL_OK;
}

bool qcal_cli_same_output(const char *a, const char *b)
{
    struct stat sa, sb;
    char da[PATH_MAX], db[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];
    const char *ba, *bb;

    if (!a || !b)
        return false;
    if (strcmp(a, b) == 0)
        return true;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* Not both existing: the same base name in the same folder (after resolving the folders). */
    ba = strrchr(a, '/') ? strrchr(a, '/') + 1 : a;
    bb = strrchr(b, '/') ? strrchr(b, '/') + 1 : b;
    if (strcmp(ba, bb) != 0)
        return false;
    folder_of(a, da, sizeof da);
    folder_of(b, db, sizeof db);
    return realpath(da, ra) && realpath(db, rb) && strcmp(ra, rb) == 0;
}
