/*
 * Internal atomic file writing (STYLE.md "Errors and cleanup"): a file is written under the
 * temporary name <path>.tmp.<pid>, made durable (fflush, fsync), closed and renamed onto path;
 * on any failure the temporary file is unlinked, so path is either the old file or the whole
 * new one, never a partial file. Used by every writer of the library (exports, plots, QDQ
 * models, .npy, stats and checkpoint files) and by the MPI dump writer.
 */
#ifndef QCAL_UTIL_ATOMIC_H
#define QCAL_UTIL_ATOMIC_H

#include <stddef.h>

#include "qcal/status.h"

/*
 * Whether path may be written as a regular file: it does not exist yet (a dangling symlink counts
 * as not existing), or it is a regular file or a symlink to one. Anything else (a directory, a
 * character or block device such as /dev/null, a FIFO, a socket, or a symlink to one of these)
 * is refused with QCAL_E_INVALID "<path>: is a <kind>, not a regular file (refusing to replace
 * it)"; a path that cannot be examined (a component is not a folder, permission denied) is
 * QCAL_E_IO "<path>: <reason>". Every writer checks this right before its rename, and the
 * command line checks every output before any work starts. Does not allocate.
 */
qcal_status qcal__output_check(const char *path, qcal_error *err);

/* One piece of a file written by qcal__atomic_writev: len bytes at data (data may be NULL when
 * len is 0). */
typedef struct qcal__atomic_part {
    const void *data;
    size_t len;
} qcal__atomic_part;

/*
 * Writes "<path>.tmp.<pid>" into tmp (size bytes, PATH_MAX is enough for any valid path).
 * pid is the writer's process id, (long)getpid(); under MPI, rank 0's id broadcast to every
 * rank, so that all ranks name the same file. Fails with QCAL_E_INVALID "<path>: path too long"
 * when the name does not fit. Does not allocate.
 */
qcal_status qcal__atomic_tmp_name(const char *path, long pid, char *tmp, size_t size,
                                  qcal_error *err);

/*
 * Writes the n parts, in order, to path atomically: <path>.tmp.<pid> is created (exclusively,
 * never through a symlink; a stale file of that name is removed first), written, flushed,
 * fsynced, closed and renamed onto path. On failure the temporary file is unlinked, path is
 * untouched and the error names the file and the reason: the error of qcal__output_check when
 * path is not a regular file, QCAL_E_INVALID for no path or a path too long, QCAL_E_IO for open ("<tmp>: <reason>"), write or fsync ("<tmp>: write failed:
 * <reason>"), close ("<tmp>: close failed: <reason>") and rename ("<path>: rename from <tmp>
 * failed: <reason>"). Does not allocate beyond stdio's buffer.
 */
qcal_status qcal__atomic_writev(const char *path, const qcal__atomic_part *parts, size_t n,
                                qcal_error *err);

/* qcal__atomic_writev of the one buffer buf of len bytes. */
qcal_status qcal__atomic_write(const char *path, const void *buf, size_t len, qcal_error *err);

/*
 * Publishes a temporary file that its writer has already closed (an HDF5 file written through
 * its own library): when st is QCAL_OK, fsyncs tmp and renames it onto path, failing with
 * QCAL_E_IO "<path>: fsync of <tmp> failed: <reason>" or "<path>: rename from <tmp> failed:
 * <reason>", or with the error of qcal__output_check when path is not a regular file. Whenever
 * the result is not QCAL_OK (st itself, or the failed check, fsync or rename), tmp is unlinked
 * (it may not exist: harmless) and err keeps the first error. Returns the resulting status, so
 * a writer ends with st = qcal__atomic_finish(tmp, path, st, err).
 */
qcal_status qcal__atomic_finish(const char *tmp, const char *path, qcal_status st,
                                qcal_error *err);

#endif
