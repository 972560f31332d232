/*
 * Intermediate-tensor dumps (DESIGN.md: HDF5 stats file, last paragraph): the activations whose
 * names match a regex, for the first n samples of the global order, in one file written
 * collectively by all ranks with parallel HDF5: one chunked float32 dataset [S_dump, ...shape]
 * per tensor (attribute `name` = the tensor name), plus `sample_index` [S_dump] uint64. Lives in
 * dist because it needs the communicator.
 */
#ifndef QCAL_DIST_DUMP_H
#define QCAL_DIST_DUMP_H

#include <stdbool.h>
#include <stddef.h>

#include "dist/dist.h"
#include "qcal/model.h"
#include "qcal/status.h"

typedef struct qcal_dump qcal_dump; /* opaque */

/* Collective. Selects the float32 activations (graph inputs and node outputs computed per
 * sample) of the prepared model m whose names match regex (POSIX extended, unanchored), for the
 * samples 0 .. n_dump-1 (n_dump already clamped to the sample count). Nothing is written yet. */
qcal_status qcal_dump_create(const qcal_dist *d, const qcal_model *m, const char *regex,
                             size_t n_dump, qcal_dump **out, qcal_error *err);

/* A qcal_calib tap (qcal_calib_set_tap): copies the tensor if it is selected and sample <
 * n_dump. Never fails; an allocation failure is remembered and reported by qcal_dump_write. */
void qcal_dump_tap(void *dump, size_t sample, size_t tensor, const qcal_tensor_view *view);

/* Collective. Writes path (each rank its own samples' rows, collective I/O), to a temporary
 * name renamed by rank 0 on success; on failure nothing is left behind. */
qcal_status qcal_dump_write(qcal_dump *dp, const char *path, qcal_error *err);

void qcal_dump_destroy(qcal_dump *dp); /* NULL-safe, not collective */

#endif
