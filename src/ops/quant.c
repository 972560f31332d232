/*
 * QuantizeLinear and DequantizeLinear (opsets 10-13+).
 *
 *   QuantizeLinear:   y = saturate(qcal_round_half_evenf(x / scale) + zero_point)
 *   DequantizeLinear: y = (x - zero_point) * scale
 *
 * Quantized types: uint8 and int8 (DequantizeLinear also int32, whose zero point must be 0 or
 * absent). Scale is float32, per tensor (one value) or, from opset 13, per axis (1-D of x's size
 * along `axis`, default 1); zero_point has scale's shape and decides QuantizeLinear's output type
 * (absent: uint8 with zero point 0). Scale and zero point are read at run time, so they may be
 * computed tensors; only their shapes are checked at infer time.
 */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "qcal/round.h"

typedef struct quant_params {
    size_t outer, channels, inner; /* x viewed as [outer, channels, inner]; channels 1 per tensor */
} quant_params;

/*
 * Checks scale (input 1) and zero point (input 2, optional) against x (input 0) and fills the
 * [outer, channels, inner] view: one value means per tensor; a 1-D tensor of x's size along the
 * axis means per axis (the `axis` attribute exists from opset 13; before, only per tensor is
 * valid ONNX, but a matching 1-D scale on axis 1 is accepted).
 */
static qcal_status quant_view(qcal__node *n, quant_params *v, qcal_error *err)
{
    const qcal__tensor *x = n->in[0], *s = n->in[1], *zp = qcal__in(n, 2);
    int axis = 0;
    qcal_status st;

    if (s->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "scale is %s, expected float32",
                                qcal_dtype_name(s->dtype));
    if (zp && (zp->rank != s->rank || zp->nelem != s->nelem))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "zero point and scale shapes differ");
    v->outer = 1;
    v->channels = 1;
    v->inner = x->nelem;
    if (s->nelem == 1 && s->rank <= 1)
        return QCAL_OK;
    if (s->rank != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "scale must be a scalar or 1-D, has rank %d",
                                s->rank);
    st = qcal__norm_axis(n, qcal__attr_int(n, "axis", 1), x->rank, &axis, err);
    if (st != QCAL_OK)
        return st;
    if (x->rank == 0 || s->dims[0] != x->dims[axis])
        return qcal__node_error(err, n, QCAL_E_SHAPE,
                                "scale has %lld values, x has %lld along axis %d",
                                (long long)s->dims[0], (long long)(x->rank ? x->dims[axis] : 1),
                                axis);
    v->outer = 1;
    for (int d = 0; d < axis; d++)
        v->outer *= (size_t)x->dims[d];
    v->channels = (size_t)x->dims[axis];
    v->inner = 1;
    for (int d = axis + 1; d < x->rank; d++)
        v->inner *= (size_t)x->dims[d];
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
    if (zp)
        out_dt = zp->dtype;
    if (out_dt != QCAL_DT_UINT8 && out_dt != QCAL_DT_INT8)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "zero point is %s, expected uint8 or int8",
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
    const bool is_int8 = n->out[0]->dtype == QCAL_DT_INT8;
    const float lo = is_int8 ? -128.0f : 0.0f, hi = is_int8 ? 127.0f : 255.0f;
    size_t i = 0;

    (void)scratch;
    for (size_t a = 0; a < p->outer; a++) {
        for (size_t c = 0; c < p->channels; c++) {
            const float s = scale[c];
            float z = 0.0f;
            if (zp)
                z = is_int8 ? (float)((const int8_t *)zp->data)[c]
                            : (float)((const uint8_t *)zp->data)[c];
            for (size_t k = 0; k < p->inner; k++, i++) {
                float xv = x->dtype == QCAL_DT_FLOAT ? ((const float *)x->data)[i]
                                                     : (float)((const int32_t *)x->data)[i];
                int32_t q = saturate(qcal_round_half_evenf(xv / s) + z, lo, hi);
                if (is_int8)
                    ((int8_t *)n->out[0]->data)[i] = (int8_t)q;
                else
                    ((uint8_t *)n->out[0]->data)[i] = (uint8_t)q;
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
    if (x->dtype != QCAL_DT_UINT8 && x->dtype != QCAL_DT_INT8 && x->dtype != QCAL_DT_INT32)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "x is %s, expected uint8, int8 or int32",
                                qcal_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "zero point is %s but x is %s",
                                qcal_dtype_name(zp->dtype), qcal_dtype_name(x->dtype));
    return quant_common(n, QCAL_DT_FLOAT, err);
}

/* Element i of an integer tensor of type dt (uint8, int8 or int32) as float. */
static float int_at(const void *data, qcal_dtype dt, size_t i)
{
    switch (dt) {
    case QCAL_DT_UINT8: return (float)((const uint8_t *)data)[i];
    case QCAL_DT_INT8: return (float)((const int8_t *)data)[i];
    default: return (float)((const int32_t *)data)[i];
    }
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
            const float s = scale[c], z = zp ? int_at(zp->data, zp->dtype, c) : 0.0f;
            if (x->dtype == QCAL_DT_UINT8) {
                const uint8_t *xv = x->data;
                for (size_t k = 0; k < p->inner; k++, i++)
                    y[i] = ((float)xv[i] - z) * s;
            } else {
                for (size_t k = 0; k < p->inner; k++, i++)
                    y[i] = (int_at(x->data, x->dtype, i) - z) * s;
            }
        }
    }
}

const qcal__op qcal__ops_quant[] = {
    { "DequantizeLinear", 10, QCAL__OPSET_LAST, dequantize_infer, dequantize_run, 0 },
    { "QuantizeLinear", 10, QCAL__OPSET_LAST, quantize_infer, quantize_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
