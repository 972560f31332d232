/* NumPy .npy files (format 1.0, little-endian, C order). */
#ifndef QCAL_NPY_H
#define QCAL_NPY_H

#include "qcal/status.h"
#include "qcal/tensor.h"

/* Writes view as path (atomically: a temporary name, then rename). Supports float32, float64,
 * int8/16/32/64, uint8/16/32/64 and bool. */
qcal_status qcal_npy_write(const char *path, const qcal_tensor_view *view, qcal_error *err);

/* Replaces every character of name outside [A-Za-z0-9._-] by '_' into out (size bytes). An
 * empty name becomes "_". Returns out. */
char *qcal_npy_safe_name(const char *name, char *out, size_t size);

#endif
