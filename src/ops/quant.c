/*
 * QuantizeLinear and DequantizeLinear, opsets 10, 13 (per axis), 19 (float8 types and
 * `saturate`, which only applies to them: qcal refuses float8 at load) and 21 (blocks, int16,
 * uint16; QuantizeLinear's `output_dtype`).
 *
 *   QuantizeLinear:   y = saturate(qcal_round_half_evenf(x / scale) + zero_point)
 *   DequantizeLinear: y = (x - zero_point) * scale
 *
 * Quantized types: uint8, int8, uint16 and int16 (DequantizeLinear also int32, whose zero point
 * must be 0 or absent). Scale is float32: per tensor (one value), per axis (opset 13+: 1-D of x's
 * size along `axis`, default 1) or per block (opset 21+, `block_size` > 0: x's rank, x's dims but
 * ceil(dim / block_size) along `axis`). The zero point has scale's shape and decides
 * QuantizeLinear's output type (absent: `output_dtype`, default uint8, zero point 0). Scale and
 * zero point are read at run time, so they may be computed tensors; only their shapes are checked
 * at infer time.
 */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "qcal/round.h"

/* x viewed as [outer, channels, inner]; the scale element of x's (a, c, k) is
 * a * s_outer + (c / block) * s_chan + k * s_inner. */
typedef struct quant_params {
    size_t outer, channels, inner;
    size_t block, s_outer, s_chan, s_inner;
} quant_params;

/*
 * Checks scale (input 1) and zero point (input 2, optional) against x (input 0) and fills the
 * view: one value means per tensor; a 1-D tensor of x's size along the axis means per axis (the
 * `axis` attribute exists from opset 13; before, only per tensor is valid ONNX, but a matching
 * 1-D scale on axis 1 is accepted); with block_size (opset 21) per block.
 */
static qcal_status quant_view(qcal__node *n, quant_params *v, qcal_error *err)
{
    const qcal__tensor *x = n->in[0], *s = n->in[1], *zp = qcal__in(n, 2);
    int64_t block = n->opset >= 21 ? qcal__attr_int(n, "block_size", 0) : 0;
    int axis = 0;
    qcal_status st;

    if (s->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "scale is %s, expected float32",
                                qcal_dtype_name(s->dtype));
    if (zp && (zp->rank != s->rank || zp->nelem != s->nelem))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "zero point and scale shapes differ");
    if (block < 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "block_size is %lld",
                                (long long)block);
    v->outer = 1;
    v->channels = 1;
    v->inner = x->nelem;
    v->block = 1;
    v->s_outer = v->s_chan = v->s_inner = 0;
    if (s->nelem == 1 && s->rank <= 1 && block == 0)
        return QCAL_OK;
    if (block == 0 && s->rank != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "scale must be a scalar or 1-D, has rank %d",
                                s->rank);
    st = qcal__norm_axis(n, qcal__attr_int(n, "axis", 1), x->rank, &axis, err);
    if (st != QCAL_OK)
        return st;
    if (x->rank == 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "x is a scalar but scale is not");
    v->outer = 1;
    for (int d = 0; d < axis; d++)
        v->outer *= (size_t)x->dims[d];
    v->channels = (size_t)x->dims[axis];
    v->inner = 1;
    for (int d = axis + 1; d < x->rank; d++)
        v->inner *= (size_t)x->dims[d];
    if (block == 0) {
        if (s->dims[0] != x->dims[axis])
            return qcal__node_error(err, n, QCAL_E_SHAPE,
                                    "scale has %lld values, x has %lld along axis %d",
                                    (long long)s->dims[0], (long long)x->dims[axis], axis);
        v->s_chan = 1;
        return QCAL_OK;
    }
    if (s->rank != x->rank)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "blocked scale has rank %d, x has %d",
                                s->rank, x->rank);
    for (int d = 0; d < x->rank; d++) {
        /* ceil(dim / block) without overflow */
        int64_t want = d == axis ? x->dims[d] / block + (x->dims[d] % block != 0) : x->dims[d];
        if (s->dims[d] != want)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "blocked scale has %lld along dim %d, "
                                    "expected %lld (block_size %lld)", (long long)s->dims[d], d,
                                    (long long)want, (long long)block);
    }
    v->block = (size_t)block;
    v->s_inner = 1;
    v->s_chan = v->inner;
    v->s_outer = (size_t)s->dims[axis] * v->inner;
    return QCAL_OK;
}

static qcal_status quant_common(qcal__node *n, qcal_dtype out_dt, qcal_error *err)
{
    quant_params *p = malloc(sizeof *p);
    const qcal__tensor *x = n->in[0];
    qcal_status st;

    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p; /* freed by the graph, also on failure */
    n->scratch = 0;
    st = quant_view(n, p, err);
    if (st != QCAL_OK)
        return st;
    return qcal__tensor_set_shape(n->out[0], out_dt, x->rank, x->dims, err);
}

static qcal_status check_io(const qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 3, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    return QCAL_OK;
}

/* Element i of an integer tensor (uint8, int8, uint16, int16 or int32) as float. */
static float int_at(const void *data, qcal_dtype dt, size_t i)
{
    switch (dt) {
    case QCAL_DT_UINT8: return (float)((const uint8_t *)data)[i];
    case QCAL_DT_INT8: return (float)((const int8_t *)data)[i];
    case QCAL_DT_UINT16: return (float)((const uint16_t *)data)[i];
    case QCAL_DT_INT16: return (float)((const int16_t *)data)[i];
    default: return (float)((const int32_t *)data)[i];
    }
}

static bool q_type(qcal_dtype dt)
{
    return dt == QCAL_DT_UINT8 || dt == QCAL_DT_INT8 || dt == QCAL_DT_UINT16 ||
           dt == QCAL_DT_INT16;
}

/* ---- QuantizeLinear ---- */

static qcal_status quantize_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = check_io(n, err);
    const qcal__tensor *zp;
    qcal_dtype x_dt, out_dt = QCAL_DT_UINT8;

    if (st != QCAL_OK)
        return st;
    x_dt = n->in[0]->dtype;
    zp = qcal__in(n, 2);
    if (x_dt != QCAL_DT_FLOAT && x_dt != QCAL_DT_INT32)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "x is %s, expected float32 or int32",
                                qcal_dtype_name(x_dt));
    if (n->opset >= 21 && qcal__attr_int(n, "output_dtype", 0) != 0) {
        out_dt = (qcal_dtype)qcal__attr_int(n, "output_dtype", 0);
        if (zp && zp->dtype != out_dt)
            return qcal__node_error(err, n, QCAL_E_INVALID, "output_dtype is %s but the zero "
                                    "point is %s", qcal_dtype_name(out_dt),
                                    qcal_dtype_name(zp->dtype));
    }
    if (zp)
        out_dt = zp->dtype;
    if (!q_type(out_dt) || ((out_dt == QCAL_DT_UINT16 || out_dt == QCAL_DT_INT16) &&
                            n->opset < 21))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "zero point is %s, expected uint8 "
                                "or int8 (uint16, int16 from opset 21)",
                                qcal_dtype_name(out_dt));
    return quant_common(n, out_dt, err);
}

/* Saturates a rounded value to [lo, hi]; NaN maps to lo (the conversion must stay defined). */
static int32_t saturate(float v, float lo, float hi)
{
    return (int32_t)(v >= lo ? (v <= hi ? v : hi) : lo);
}

static void quantize_run(const qcal__node *n, void *scratch)
{
    const quant_params *p = n->params;
    const qcal__tensor *x = n->in[0], *zp = qcal__in(n, 2);
    const float *scale = n->in[1]->data;
    const qcal_dtype dt = n->out[0]->dtype;
    const float lo = dt == QCAL_DT_INT8 ? -128.0f : dt == QCAL_DT_INT16 ? -32768.0f : 0.0f;
    const float hi = dt == QCAL_DT_INT8 ? 127.0f : dt == QCAL_DT_INT16 ? 32767.0f
                   : dt == QCAL_DT_UINT16 ? 65535.0f : 255.0f;
    void *y = n->out[0]->data;
    size_t i = 0;

    (void)scratch;
    for (size_t a = 0; a < p->outer; a++) {
        for (size_t c = 0; c < p->channels; c++) {
            const size_t sbase = a * p->s_outer + (c / p->block) * p->s_chan;
            for (size_t k = 0; k < p->inner; k++, i++) {
                const size_t si = sbase + k * p->s_inner;
                const float s = scale[si], z = zp ? int_at(zp->data, dt, si) : 0.0f;
                float xv = x->dtype == QCAL_DT_FLOAT ? ((const float *)x->data)[i]
                                                     : (float)((const int32_t *)x->data)[i];
                int32_t q = saturate(qcal_round_half_evenf(xv / s) + z, lo, hi);
                switch (dt) {
                case QCAL_DT_INT8: ((int8_t *)y)[i] = (int8_t)q; break;
                case QCAL_DT_UINT16: ((uint16_t *)y)[i] = (uint16_t)q; break;
                case QCAL_DT_INT16: ((int16_t *)y)[i] = (int16_t)q; break;
                default: ((uint8_t *)y)[i] = (uint8_t)q; break;
                }
            }
        }
    }
}

/* ---- DequantizeLinear ---- */

static qcal_status dequantize_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = check_io(n, err);
    const qcal__tensor *x, *zp;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    zp = qcal__in(n, 2);
    if (!(q_type(x->dtype) || x->dtype == QCAL_DT_INT32) ||
        ((x->dtype == QCAL_DT_UINT16 || x->dtype == QCAL_DT_INT16) && n->opset < 21))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "x is %s, expected uint8, int8 or int32 (uint16, int16 from "
                                "opset 21)", qcal_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "zero point is %s but x is %s",
                                qcal_dtype_name(zp->dtype), qcal_dtype_name(x->dtype));
    return quant_common(n, QCAL_DT_FLOAT, err);
}

/* Computes (x - zp) * scale in float32, in the ONNX reference's order. */
static void dequantize_run(const qcal__node *n, void *scratch)
{
    const quant_params *p = n->params;
    const qcal__tensor *x = n->in[0], *zp = qcal__in(n, 2);
    const float *scale = n->in[1]->data;
    float *y = n->out[0]->data;
    size_t i = 0;

    (void)scratch;
    for (size_t a = 0; a < p->outer; a++) {
        for (size_t c = 0; c < p->channels; c++) {
            const size_t sbase = a * p->s_outer + (c / p->block) * p->s_chan;
            if (p->s_inner == 0) {
                const float s = scale[sbase], z = zp ? int_at(zp->data, zp->dtype, sbase) : 0.0f;
                if (x->dtype == QCAL_DT_UINT8) {
                    const uint8_t *xv = x->data;
                    for (size_t k = 0; k < p->inner; k++, i++)
                        y[i] = ((float)xv[i] - z) * s;
                } else {
                    for (size_t k = 0; k < p->inner; k++, i++)
                        y[i] = (int_at(x->data, x->dtype, i) - z) * s;
                }
                continue;
            }
            for (size_t k = 0; k < p->inner; k++, i++) {
                const size_t si = sbase + k;
                const float z = zp ? int_at(zp->data, zp->dtype, si) : 0.0f;
                y[i] = (int_at(x->data, x->dtype, i) - z) * scale[si];
            }
        }
    }
}

/* Versions (ONNX changelog): 10, 13 (axis), 19 (float8, saturate), 21 (blocks, 16-bit types). */
const qcal__op qcal__ops_quant[] = {
    { "DequantizeLinear", 10, 12, dequantize_infer, dequantize_run, 0 },
    { "DequantizeLinear", 13, 18, dequantize_infer, dequantize_run, 0 },
    { "DequantizeLinear", 19, 20, dequantize_infer, dequantize_run, 0 },
    { "DequantizeLinear", 21, QCAL__OPSET_LAST, dequantize_infer, dequantize_run, 0 },
    { "QuantizeLinear", 10, 12, quantize_infer, quantize_run, 0 },
    { "QuantizeLinear", 13, 18, quantize_infer, quantize_run, 0 },
    { "QuantizeLinear", 19, 20, quantize_infer, quantize_run, 0 },
    { "QuantizeLinear", 21, QCAL__OPSET_LAST, quantize_infer, quantize_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
