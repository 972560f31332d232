/*
 * Internal interface of the export module: the atomic file writer every format uses and the
 * AIMET quantizer_args shared by the two AIMET JSON versions.
 */
#ifndef QCAL_SRC_EXPORT_H
#define QCAL_SRC_EXPORT_H

#include <stddef.h>

#include <jansson.h>

#include "qcal/export.h"

/*
 * Writes len bytes of buf to path atomically (STYLE.md): <path>.tmp.<pid>, fflush, fsync,
 * fclose, rename. On failure the temporary file is unlinked, path is untouched and QCAL_E_IO
 * (or QCAL_E_INVALID for a path too long) names the file and the reason.
 */
qcal_status qcal__export_write_bytes(const char *path, const char *buf, size_t len,
                                     qcal_error *err);

/*
 * Dumps root with sorted keys, indent 4 and 9 significant digits for reals (a float32 value
 * printed with %.9g reads back as the same float32, ALGORITHMS.md §1), adds a final newline and
 * writes it atomically as qcal__export_write_bytes. Does not take the reference to root.
 */
qcal_status qcal__export_write_json(const char *path, const json_t *root, qcal_error *err);

/*
 * The AIMET quantizer_args object of e (§4.1): activation_bitwidth, param_bitwidth, dtype "int",
 * is_symmetric (weights symmetric), per_channel_quantization, quant_scheme and, for entropy and
 * mse, qcal_method. Values come from e->params (the JSON written by qcal_encset_compute); keys
 * it lacks are derived from the entries. Returns a new reference, NULL on allocation failure.
 */
json_t *qcal__export_quantizer_args(const qcal_enc_set *e);

#endif
