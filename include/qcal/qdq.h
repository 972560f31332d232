/*
 * QDQ ONNX export (ALGORITHMS.md §4.4): the original float model with the encodings of one set
 * written in as QuantizeLinear/DequantizeLinear pairs, so any ONNX runtime can simulate (or,
 * with graph optimizations, execute) the quantized model.
 */
#ifndef QCAL_QDQ_H
#define QCAL_QDQ_H

#include "qcal/status.h"
#include "qcal/store.h"

/*
 * Reads the ONNX model at model_path and writes the QDQ model of the encoding set e to out_path
 * (atomically: out_path.tmp.<pid>, fsync, rename; nothing is left behind on failure).
 *
 * - Opset: the default domain's opset becomes max(13, model opset) (per-channel `axis` needs
 *   13), the IR version at least 7. A model below opset 13 that uses an operator whose
 *   definition changed incompatibly on the way to 13 (Squeeze/Unsqueeze/Split/ReduceSum axes,
 *   Softmax axis, Pad, Clip, Slice, ...) is refused, as is any model below opset 7.
 * - Activations: every non-float entry of e->act names a graph input or node output T; T gets
 *   one T -> QuantizeLinear -> DequantizeLinear pair feeding all of T's consumers. For a graph
 *   output, the producer's output is renamed and the DequantizeLinear output keeps T's name.
 *   y_scale is a float32 scalar initializer; y_zero_point a scalar initializer: int8 0 for
 *   signed and strict symmetric encodings (offset -128 or -127: q_s = q + offset), uint8
 *   -offset otherwise (asymmetric and the unsigned-symmetric fallback). Float entries
 *   (is_float) stay float.
 * - Weights: every entry of e->param names a float32 initializer (or Constant-node output) W,
 *   which is replaced by the integer initializer W_q plus DequantizeLinear(W_q, scale, zp) whose
 *   output keeps the name W. Symmetric (offsets -128/-127): int8, round_half_even(w / scale)
 *   clamped to [offset, 127]; otherwise uint8, round_half_even(w / scale) - offset clamped to
 *   [0, 255] (the division in float32, as QuantizeLinear). Per-channel entries (ch_count > 1)
 *   use 1-D scale/zero point along the weight's channel axis: the axis of W's row in s->weights,
 *   or, when s is NULL or has no row for W, the rule of ALGORITHMS.md §2.3 applied to W's first
 *   consumer (Conv 0, ConvTranspose 1, Gemm B: 0 if transB else 1, MatMul: last).
 * - Biases (§2.4): input 2 of a Conv, ConvTranspose or Gemm whose input 0 has an integer
 *   activation encoding and whose weight has a parameter entry, and that has no entry itself,
 *   becomes an int32 initializer round_half_even(b / s_b), s_b = s_x * s_w in float32 (per
 *   channel when the weight is, then 1-D and axis 0), dequantized with zero point int32 0. A
 *   bias with another use, or whose shape does not fit the per-channel scale, stays float.
 * - Everything else (nodes, attributes, other initializers, metadata) is kept as it was.
 *
 * s may be NULL (see weights). Only 8-bit encodings are accepted. Errors: QCAL_E_UNSUPPORTED
 * for another bitwidth, external tensor data or an opset that cannot be raised; QCAL_E_INVALID
 * for an entry naming a tensor the model lacks, a duplicate entry, a channel count that does not
 * match the weight, or an encoding that does not fit its storage type; QCAL_E_NUMERIC for a
 * non-finite weight or bias or a scale that is not a positive finite number; QCAL_E_CORRUPT for
 * a file that is not an ONNX model; QCAL_E_IO, QCAL_E_NOMEM. Messages name the file and the
 * tensor.
 */
qcal_status qcal_export_qdq(const char *model_path, const qcal_stats *s, const qcal_enc_set *e,
                            const char *out_path, qcal_error *err);

#endif
