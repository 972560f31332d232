/*
 * qcal encodings: the quantization grid of one tensor (or one weight channel) and the calibration
 * methods that choose it. ALGORITHMS.md §1-§3 is the specification; section numbers below refer
 * to it. No MPI, no file formats: exporters read qcal_encoding records.
 *
 * Convention (§1): dequantize x = (q + offset) * scale with q in [0, 2^n - 1], offset <= 0.
 * ONNX zero point zp = -offset. Everything is computed in double from float32 inputs, then scale,
 * min and max are rounded once to float32; offset is an exact integer.
 */
#ifndef QCAL_ENCODE_H
#define QCAL_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcal/status.h"

/* Default percentile (§3.2): 99.99 % kept on each side. */
#define QCAL_ENC_DEFAULT_PERCENTILE 99.99

/* Calibration method (§3). Names: "minmax", "percentile", "entropy", "mse", "enhanced". */
typedef enum qcal_method {
    QCAL_METHOD_MINMAX = 0,
    QCAL_METHOD_PERCENTILE,
    QCAL_METHOD_ENTROPY,
    QCAL_METHOD_MSE,
    QCAL_METHOD_ENHANCED,
    QCAL_METHOD_COUNT
} qcal_method;

/*
 * Symmetry mode (§2.2; CLI --act-symmetric / --param-symmetric none|signed|strict|unsigned).
 * NONE: asymmetric "tf" (§2.1). SIGNED: s = A/127, offset -128 (8-bit). STRICT: s = A/127,
 * offset -127, min = -max = -A. UNSIGNED: asymmetric with offset 0 when the range has lo >= 0,
 * else SIGNED; the record is flagged symmetric either way.
 */
typedef enum qcal_sym {
    QCAL_SYM_NONE = 0,
    QCAL_SYM_SIGNED,
    QCAL_SYM_STRICT,
    QCAL_SYM_UNSIGNED,
    QCAL_SYM_COUNT
} qcal_sym;

/*
 * One encoding. scale, min and max are the float32 values runtimes load (computed in double,
 * rounded once, -0.0 stored as +0.0); offset is exact. symmetric is the exported flag (true for
 * signed, strict and unsigned modes, including the unsigned fallback whose offset is 0).
 * is_float marks a float passthrough (fp16/fp32: no scale/offset, §2.5). none marks a tensor with
 * no finite value (T = 0, §3): it has no encoding and every other field except bitwidth is zero.
 */
typedef struct qcal_encoding {
    int bitwidth;
    float scale;
    int64_t offset;
    float min, max;
    bool symmetric;
    bool is_float;
    bool none;
} qcal_encoding;

/*
 * A histogram as the methods read it (DESIGN.md: mergeable histogram). Bin k = k0 + i covers
 * [k * 2^e, (k+1) * 2^e) and holds counts[i], i < bins. dmin/dmax are the exact finite data
 * min/max (-0.0 canonicalised to +0.0) and total the finite count T, which must equal the sum of
 * counts. Callers fill it from a qcal_hist; counts is borrowed for the duration of the call.
 * With total == 0 the other fields are not read (dmin/dmax may be NaN, counts NULL).
 */
typedef struct qcal_enc_hist {
    int e;
    int64_t k0;
    size_t bins;
    const uint64_t *counts;
    float dmin, dmax;
    uint64_t total;
} qcal_enc_hist;

/*
 * Method parameters. qcal_enc_params_default() gives minmax, 8-bit, asymmetric, p = 99.99,
 * default entropy levels. bitwidth is 2..32. percentile is in percent, 50 < p <= 100, used by
 * QCAL_METHOD_PERCENTILE only. levels overrides the entropy level count L (§3.3; 0 = default:
 * 2^n for unsigned data, dmin >= 0, and 2^(n-1) for signed data); it exists for tests and
 * experiments.
 */
typedef struct qcal_enc_params {
    qcal_method method;
    int bitwidth;
    qcal_sym sym;
    double percentile;
    int64_t levels;
} qcal_enc_params;

/* Fills p with the defaults listed above. */
void qcal_enc_params_default(qcal_enc_params *p);

/* Static name of a method ("minmax", ...), or "?" when out of range. Never NULL. */
const char *qcal_enc_method_name(qcal_method m);

/* Parses a method name (exact, lower case). On failure *out is QCAL_METHOD_MINMAX and err names
 * the accepted values. */
qcal_status qcal_enc_method_parse(const char *name, qcal_method *out, qcal_error *err);

/* Static name of a symmetry mode ("none", "signed", "strict", "unsigned"), or "?". Never NULL. */
const char *qcal_enc_sym_name(qcal_sym s);

/* Parses a symmetry mode name; like qcal_enc_method_parse (failure: *out is QCAL_SYM_NONE). */
qcal_status qcal_enc_sym_parse(const char *name, qcal_sym *out, qcal_error *err);

/*
 * Encoding of the range [lo, hi] (§2.1 for QCAL_SYM_NONE, §2.2 otherwise): zero is pulled into
 * the range, the range is widened to at least 0.01, and the offset is rounded half away from
 * zero. lo and hi are exact doubles (method bounds are not rounded to float32 first).
 * Fails with QCAL_E_NUMERIC on a non-finite bound or a result that overflows float32, and with
 * QCAL_E_INVALID when lo > hi or the bitwidth is outside 2..32. On failure *out is zeroed.
 */
qcal_status qcal_enc_from_range(double lo, double hi, int bitwidth, qcal_sym sym,
                                qcal_encoding *out, qcal_error *err);

/*
 * Encoding of a whole histogram with a calibration method (§3): minmax, percentile and entropy
 * choose a range clamped to [dmin, dmax] and pass it to qcal_enc_from_range; mse (gamma 1) and
 * enhanced (gamma 3) search scale and offset directly (§3.5). When h->total == 0 this succeeds
 * with out->none set (no encoding; the caller warns). Fails with QCAL_E_INVALID on bad
 * parameters or a histogram whose counts disagree with total, dmin or dmax, QCAL_E_NOMEM on
 * allocation failure (percentile, entropy and the searches allocate at most O(bins) temporarily).
 * On failure *out is zeroed.
 */
qcal_status qcal_enc_compute(const qcal_enc_hist *h, const qcal_enc_params *p, qcal_encoding *out,
                             qcal_error *err);

/*
 * The range a method chooses before §2 (for exports that need it, e.g. the TensorRT cache of
 * §4.3, amax = max(|lo|, |hi|), without the 0.01 widening). minmax, percentile and entropy: the
 * clamped range of §3 (a symmetric p->sym selects the folded |x| variants). mse and enhanced: the
 * grid [offset * s, (offset + N) * s] of the search result, in double. With h->total == 0 both
 * bounds are NaN and the call succeeds. Errors as qcal_enc_compute; on failure *lo = *hi = NaN.
 */
qcal_status qcal_enc_range(const qcal_enc_hist *h, const qcal_enc_params *p, double *lo,
                           double *hi, qcal_error *err);

/*
 * Weight encoding from the exact min/max of a tensor or of one output channel (§2.2, §2.3).
 * QCAL_SYM_NONE gives tf (§2.1); SIGNED and UNSIGNED both give signed symmetric (weights never
 * take the unsigned fallback, so per-channel zero points agree); STRICT gives strict symmetric.
 * An all-zero channel gets the 0.01 minimum range (vector P2). Errors as qcal_enc_from_range.
 */
qcal_status qcal_enc_weight(float min, float max, int bitwidth, qcal_sym sym, qcal_encoding *out,
                            qcal_error *err);

/*
 * Per-channel (or per-tensor) weight encodings straight from the data. w is viewed as
 * [outer, channels, inner] (row-major): channel c is w[(o * channels + c) * inner + i]. Axis 0
 * of a Conv weight is outer = 1; axis 1 of a ConvTranspose weight is outer = dims[0]; per-tensor
 * is channels = 1. out has `channels` entries. Fails with QCAL_E_NUMERIC on a NaN or infinite
 * weight (naming its flat index), QCAL_E_INVALID on zero sizes or size overflow. Does not
 * allocate. On failure the contents of out are unspecified.
 */
qcal_status qcal_enc_weight_channels(const float *w, size_t outer, size_t channels, size_t inner,
                                     int bitwidth, qcal_sym sym, qcal_encoding *out,
                                     qcal_error *err);

/* 32-bit bias scale s_b = s_x * s_w, computed in float32 (§2.4; per channel: s_w[c]). */
float qcal_enc_bias_scale(float s_x, float s_w);

/*
 * 32-bit bias code round_half_even(b / s_b), the division in double, saturated to the int32
 * range (§2.4). A NaN quotient gives 0; callers reject non-finite biases before (the QDQ export
 * must not write them).
 */
int32_t qcal_enc_bias_code(float b, float s_b);

/* A float passthrough record (fp16 or fp32 tensors left unquantized, §2.5). */
void qcal_enc_float(int bitwidth, qcal_encoding *out);

/*
 * True when the integer storage is signed with zero point 0 (signed or strict symmetric:
 * q_s = q + offset, ONNX int8); false for asymmetric and the unsigned-symmetric fallback (uint8,
 * zp = -offset). Float and none records give false.
 */
bool qcal_enc_storage_signed(const qcal_encoding *enc);

#endif
