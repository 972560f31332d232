/*
 * Calibration checkpoints (DESIGN.md: MPI behaviour): one rank's partial statistics and the
 * global indices of the samples it has finished (and skipped), in a small HDF5 file written
 * atomically. Checkpoints of any number of ranks merge exactly into the state they describe.
 */
#ifndef QCAL_CKPT_H
#define QCAL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "qcal/stats.h"
#include "qcal/status.h"

typedef struct qcal_ckpt {
    char model_sha256[65];
    uint64_t n_samples;  /* size of the global sample list */
    size_t n_done;
    uint64_t *done;      /* finished sample indices (contributed to the collector) */
    size_t n_skipped;
    uint64_t *skipped;   /* skipped sample indices (--skip-bad) */
} qcal_ckpt;

/* Writes c's statistics and k's lists to path (temp name, fsync, rename). */
qcal_status qcal_ckpt_write(const char *path, const qcal_collector *c, const qcal_ckpt *k,
                            qcal_error *err);

/* Reads path: merges its statistics into c (created with the same tensor count and bins) and
 * fills k (arrays malloc'd: qcal_ckpt_fini). Errors name the file. */
qcal_status qcal_ckpt_read(const char *path, qcal_collector *c, qcal_ckpt *k, qcal_error *err);

void qcal_ckpt_fini(qcal_ckpt *k); /* NULL-safe */

/*
 * The checkpoint folder of a run writing `out` is "<out>.ckpt/": generation G of a run lives in
 * "<out>.ckpt/gen<G>/rank<R>.h5". A resumed run reads the newest generation only and writes the
 * next one (rank 0 first, with everything it resumed), so a generation never counts a sample
 * twice, and a kill at any moment leaves a consistent state.
 */
qcal_status qcal_ckpt_dir_rank_path(const char *out, int gen, int rank, char *buf, size_t size,
                                    qcal_error *err);
/* Newest generation present, -1 if none. */
int qcal_ckpt_dir_latest(const char *out);
/* Creates "<out>.ckpt/gen<G>" (and the parent); either existing as anything but a real folder
 * (a file, a symlink) is QCAL_E_INVALID naming it. */
qcal_status qcal_ckpt_dir_make(const char *out, int gen, qcal_error *err);
/* Removes the folder "<out>.ckpt" and everything in it (missing, or not a real folder: no-op). */
void qcal_ckpt_dir_remove(const char *out);

#endif
