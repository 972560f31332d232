/*
 * Exports of an encoding set (ALGORITHMS.md §4): AIMET encodings JSON 0.6.1 (also what QNN's
 * --quantization_overrides reads, format "qnn"), AIMET 1.0.0 JSON, and the TensorRT calibration
 * cache. Every writer is atomic: it writes <path>.tmp.<pid>, flushes, fsyncs, closes and renames
 * it over path; on any failure the temporary file is removed and path is left as it was.
 * The QDQ ONNX export lives elsewhere.
 */
#ifndef QCAL_EXPORT_H
#define QCAL_EXPORT_H

#include "qcal/encset.h"
#include "qcal/status.h"
#include "qcal/store.h"

/* TensorRT version written into the cache header when none is given (--trt-version). */
#define QCAL_EXPORT_TRT_DEFAULT_VERSION 8601

/* Output formats (CLI --format). */
typedef enum qcal_export_format {
    QCAL_EXPORT_AIMET = 0, /* "aimet": AIMET 0.6.1 JSON (§4.1) */
    QCAL_EXPORT_AIMET1,    /* "aimet1": AIMET 1.0.0 JSON (§4.2) */
    QCAL_EXPORT_QNN,       /* "qnn": the 0.6.1 JSON, as QNN --quantization_overrides reads */
    QCAL_EXPORT_TRT,       /* "trt": TensorRT calibration cache (§4.3) */
    QCAL_EXPORT_COUNT
} qcal_export_format;

/* Static name of a format ("aimet", ...), "?" when out of range. Never NULL. */
const char *qcal_export_format_name(qcal_export_format f);

/* Parses a format name (exact, lower case). On failure *out is QCAL_EXPORT_AIMET and err lists
 * the accepted names (QCAL_E_INVALID; "qdq" gets QCAL_E_UNSUPPORTED here). */
qcal_status qcal_export_format_parse(const char *name, qcal_export_format *out, qcal_error *err);

/*
 * AIMET quant_scheme of a method name (§4.2): "post_training_tf" for minmax, entropy and mse,
 * "post_training_tf_enhanced" for enhanced, "post_training_percentile" for percentile. For
 * entropy and mse *extra_method is set to the method name (written as quantizer_args.qcal_method),
 * otherwise to NULL. Unknown or NULL methods: "post_training_tf". Static strings.
 */
const char *qcal_export_quant_scheme(const char *method, const char **extra_method);

/*
 * AIMET 0.6.1 encodings JSON (§4.1) of e: version "0.6.1"; activation_encodings and
 * param_encodings map each name to a list (one entry per tensor, one per channel); integer
 * entries carry bitwidth, dtype "int", is_symmetric as the string "True"/"False", min, max,
 * offset (JSON integer) and scale; float entries only bitwidth and dtype "float". quantizer_args
 * (activation_bitwidth, param_bitwidth, dtype "int", is_symmetric and per_channel_quantization
 * as JSON booleans, quant_scheme, qcal_method for entropy/mse) are taken from e->params, or
 * derived from the entries when params lacks them. Keys sorted, indent 4, floats as %.9g of the
 * float32 value, final newline. QCAL_E_INVALID on a duplicate tensor name or a malformed set,
 * QCAL_E_IO on a write failure (the message names the file).
 */
qcal_status qcal_export_aimet(const qcal_enc_set *e, const char *path, qcal_error *err);

/*
 * AIMET 1.0.0 encodings JSON (§4.2): activation_encodings and param_encodings are lists of
 * {name, bw, dtype "INT"|"FLOAT", enc_type "PER_TENSOR"|"PER_CHANNEL", is_sym (boolean),
 * scale [..], offset [..] (integers)}; float entries have no is_sym/scale/offset. Plus
 * excluded_layers [], quantizer_args (as above) and version "1.0.0". A parameter entry with more
 * than one channel is PER_CHANNEL. Errors as qcal_export_aimet.
 */
qcal_status qcal_export_aimet1(const qcal_enc_set *e, const char *path, qcal_error *err);

/* Format "qnn": the same file as qcal_export_aimet. */
qcal_status qcal_export_qnn(const qcal_enc_set *e, const char *path, qcal_error *err);

/*
 * TensorRT calibration cache (§4.3) from the histograms of s: first line
 * "TRT-<version>-EntropyCalibration2" ("MinMaxCalibration" for minmax), then for each activation
 * of s->act with a finite value, in order, "name: hex" with hex the lowercase bits of the float32
 * scale = amax / 127, amax = max(|lo|, |hi|) of the method's clamped range (qcal_enc_range with
 * strict symmetric 8-bit parameters: for mse/enhanced the grid is [-127 s, 127 s], so amax/127
 * is the searched scale); no 0.01 widening, so an all-zero tensor writes "0". LF line ends,
 * final newline. Uses o's method and percentile; activations matching a "float" override are
 * left out (TensorRT keeps them in float), activations without a finite value too (the encoding
 * set warns about them). trt_version <= 0 means QCAL_EXPORT_TRT_DEFAULT_VERSION.
 * Refused: a name containing ':' or a line break (ORT's TensorRT EP splits at the first ':'),
 * QCAL_E_INVALID naming the tensor; act_bitwidth or an integer override other than 8
 * (QCAL_E_UNSUPPORTED: TensorRT calibration caches are int8).
 */
qcal_status qcal_export_trt(const qcal_stats *s, const qcal_encset_opts *o, int trt_version,
                            const char *path, qcal_error *err);

/*
 * Writes format f: the JSON formats from e (s and o unused, may be NULL), TRT from s and o (e
 * unused) with trt_version as in qcal_export_trt.
 */
qcal_status qcal_export_write(qcal_export_format f, const qcal_enc_set *e, const qcal_stats *s,
                              const qcal_encset_opts *o, int trt_version, const char *path,
                              qcal_error *err);

#endif
