/* Atomic file writing: <path>.tmp.<pid>, flush, fsync, close, rename; unlink on failure. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/atomic.h"

qcal_status qcal__atomic_tmp_name(const char *path, long pid, char *tmp, size_t size,
                                  qcal_error *err)
{
    int w = snprintf(tmp, size, "%s.tmp.%ld", path, pid);

    if (w < 0 || (size_t)w >= size)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: path too long", path);
    return QCAL_OK;
}

/* What a file of mode m is, for the refusal message. */
static const char *kind_name(mode_t m)
{
    if (S_ISDIR(m))
        return "directory";
    if (S_ISCHR(m))
        return "character device";
    if (S_ISBLK(m))
        return "block device";
    if (S_ISFIFO(m))
        return "FIFO";
    if (S_ISSOCK(m))
        return "socket";
    return "special file";
}

qcal_status qcal__output_check(const char *path, qcal_error *err)
{
    struct stat ls, ts;

    if (!path || !*path)
        return qcal_error_set(err, QCAL_E_INVALID, "no output path");
    if (lstat(path, &ls) != 0) {
        if (errno == ENOENT)
            return QCAL_OK;
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISREG(ls.st_mode))
        return QCAL_OK;
    if (!S_ISLNK(ls.st_mode))
        return qcal_error_set(err, QCAL_E_INVALID, "%s: is a %s, not a regular file (refusing "
                              "to replace it)", path, kind_name(ls.st_mode));
    if (stat(path, &ts) != 0) {
        if (errno == ENOENT) /* a dangling symlink: replaced like a missing file */
            return QCAL_OK;
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISREG(ts.st_mode))
        return QCAL_OK;
    return qcal_error_set(err, QCAL_E_INVALID, "%s: is a symlink to a %s, not a regular file "
                          "(refusing to replace it)", path, kind_name(ts.st_mode));
}

/*
 * The common end of both writers: when st is QCAL_OK the durable, closed tmp is renamed onto
 * path; whenever the result is a failure tmp is unlinked (it may not exist: harmless).
 */
static qcal_status rename_or_unlink(const char *tmp, const char *path, qcal_status st,
                                    qcal_error *err)
{
    if (st == QCAL_OK)
        st = qcal__output_check(path, err);
    if (st == QCAL_OK && rename(tmp, path) != 0)
        st = qcal_error_set(err, QCAL_E_IO, "%s: rename from %s failed: %s", path, tmp,
                            strerror(errno));
    if (st != QCAL_OK)
        unlink(tmp);
    return st;
}

qcal_status qcal__atomic_writev(const char *path, const qcal__atomic_part *parts, size_t n,
                                qcal_error *err)
{
    qcal_status st = QCAL_OK;
    FILE *fp = NULL;
    char tmp[PATH_MAX];
    int rc, fd;

    if (!path || !*path)
        return qcal_error_set(err, QCAL_E_INVALID, "no output path");
    st = qcal__atomic_tmp_name(path, (long)getpid(), tmp, sizeof tmp, err);
    if (st != QCAL_OK)
        return st;
    st = qcal__output_check(path, err);
    if (st != QCAL_OK)
        return st;
    /* Created, never opened through a symlink or onto a FIFO left under the name: a stale
     * temporary file (a killed run of the same pid) is removed first. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", tmp, strerror(errno));
    fp = fdopen(fd, "wb");
    if (!fp) {
        st = qcal_error_set(err, QCAL_E_IO, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return st;
    }
    for (size_t i = 0; i < n && st == QCAL_OK; i++) {
        if (parts[i].len > 0 && fwrite(parts[i].data, 1, parts[i].len, fp) != parts[i].len)
            st = qcal_error_set(err, QCAL_E_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (st == QCAL_OK && (fflush(fp) != 0 || fsync(fileno(fp)) != 0))
        st = qcal_error_set(err, QCAL_E_IO, "%s: write failed: %s", tmp, strerror(errno));
    rc = fclose(fp);
    if (rc != 0 && st == QCAL_OK)
        st = qcal_error_set(err, QCAL_E_IO, "%s: close failed: %s", tmp, strerror(errno));
    return rename_or_unlink(tmp, path, st, err);
}

qcal_status qcal__atomic_write(const char *path, const void *buf, size_t len, qcal_error *err)
{
    const qcal__atomic_part part = { buf, len };

    return qcal__atomic_writev(path, &part, 1, err);
}

qcal_status qcal__atomic_finish(const char *tmp, const char *path, qcal_status st,
                                qcal_error *err)
{
    int fd;

    if (st == QCAL_OK) {
        /* The writer closed the file; reopen it to make its contents durable before the rename
         * publishes it. */
        fd = open(tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0)
            st = qcal_error_set(err, QCAL_E_IO, "%s: fsync of %s failed: %s", path, tmp,
                                strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return rename_or_unlink(tmp, path, st, err);
}
