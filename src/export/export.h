/*
 * Internal interface of the export module: the JSON writer of the JSON formats and the AIMET
 * quantizer_args shared by the two AIMET JSON versions. Files are written atomically through
 * src/util/atomic.h.
 */
#ifndef QCAL_SRC_EXPORT_H
#define QCAL_SRC_EXPORT_H

#include <stddef.h>

#include <jansson.h>

#include "qcal/export.h"

/*
 * Dumps root with sorted keys, indent 4 and 9 significant digits for reals (a float32 value
 * printed with %.9g reads back as the same float32, ALGORITHMS.md §1), adds a final newline and
 * writes it atomically (qcal__atomic_write). Does not take the reference to root.
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
