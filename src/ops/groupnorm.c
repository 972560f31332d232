/*
 * GroupNormalization-18/21 and LpNormalization-1, float32.
 *
 * GroupNormalization: X [N, C, D...] is split into num_groups groups of C / num_groups channels;
 * each (n, group) block is contiguous, and its mean and population variance come from
 * qcal__mean_var_f32 (two passes, double, index order). y = (x - mean) * inv_std * scale + bias
 * in float32, inv_std = 1 / sqrt(var + epsilon). Opsets 18-20 take scale and bias per group
 * ([num_groups], as the opset-18 text says); opset 21 per channel ([C]). stash_type (21) asks
 * for at least float32 statistics, which double satisfies.
 *
 * LpNormalization: x / ||x||_p along axis (p 1 or 2), the norm accumulated in double; a zero
 * vector stays zero (instead of 0 / 0).
 */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"

typedef struct gn_params {
    size_t n, groups, cpg, spatial; /* batch, groups, channels per group, elements per channel */
    bool per_channel;               /* opset 21: scale/bias [C]; else [num_groups] */
    float eps;
} gn_params;

static qcal_status gn_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 3, 3, err);
    const qcal__tensor *x;
    int64_t groups = qcal__attr_int(n, "num_groups", 0), spatial;
    size_t want;
    gn_params *p;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input rank %d, expected N x C x ...",
                                x->rank);
    if (!qcal__attr_find(n, "num_groups") || groups < 1 || x->dims[1] % groups != 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "num_groups %lld must be >= 1 and divide "
                                "the %lld channels", (long long)groups, (long long)x->dims[1]);
    st = qcal__dims_product(n, "spatial size", x->rank - 2, x->dims + 2, &spatial, err);
    if (st != QCAL_OK)
        return st;
    want = n->opset >= 21 ? (size_t)x->dims[1] : (size_t)groups;
    for (int i = 1; i < 3; i++)
        if (n->in[i]->dtype != QCAL_DT_FLOAT || n->in[i]->nelem != want)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "%s must be float32 of %zu values "
                                    "(one per %s at opset %d)", i == 1 ? "scale" : "bias", want,
                                    n->opset >= 21 ? "channel" : "group", n->opset);
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->n = (size_t)x->dims[0];
    p->groups = (size_t)groups;
    p->cpg = (size_t)(x->dims[1] / groups);
    p->spatial = (size_t)spatial;
    p->per_channel = n->opset >= 21;
    p->eps = qcal__attr_float(n, "epsilon", 1e-5f);
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static void gn_run(const qcal__node *n, void *scratch)
{
    const gn_params *p = n->params;
    const float *x = n->in[0]->data, *scale = n->in[1]->data, *bias = n->in[2]->data;
    float *y = n->out[0]->data;
    const size_t block = p->cpg * p->spatial;

    (void)scratch;
    for (size_t b = 0; b < p->n; b++) {
        for (size_t g = 0; g < p->groups; g++, x += block, y += block) {
            double m, v;
            float mf, inv;
            qcal__mean_var_f32(x, block, &m, &v);
            mf = (float)m;
            inv = 1.0f / sqrtf((float)v + p->eps);
            for (size_t c = 0; c < p->cpg; c++) {
                const size_t k = p->per_channel ? g * p->cpg + c : g;
                const float s = scale[k], bb = bias[k];
                const float *xc = x + c * p->spatial;
                float *yc = y + c * p->spatial;
                for (size_t i = 0; i < p->spatial; i++)
                    yc[i] = (xc[i] - mf) * inv * s + bb;
            }
        }
    }
}

/* ---- LpNormalization ---- */

typedef struct lpn_params {
    size_t outer, len, inner;
    int p;
} lpn_params;

static qcal_status lpn_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);
    const qcal__tensor *x;
    int64_t pv = qcal__attr_int(n, "p", 2);
    lpn_params *p;
    int axis;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (pv != 1 && pv != 2)
        return qcal__node_error(err, n, QCAL_E_INVALID, "p must be 1 or 2 (is %lld)",
                                (long long)pv);
    if (x->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must have rank >= 1");
    st = qcal__norm_axis(n, qcal__attr_int(n, "axis", -1), x->rank, &axis, err);
    if (st == QCAL_OK)
        st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->outer = p->inner = 1;
    for (int d = 0; d < axis; d++)
        p->outer *= (size_t)x->dims[d];
    p->len = (size_t)x->dims[axis];
    for (int d = axis + 1; d < x->rank; d++)
        p->inner *= (size_t)x->dims[d];
    p->p = (int)pv;
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static void lpn_run(const qcal__node *n, void *scratch)
{
    const lpn_params *p = n->params;
    const float *x = n->in[0]->data;
    float *y = n->out[0]->data;

    (void)scratch;
    for (size_t o = 0; o < p->outer; o++) {
        for (size_t i = 0; i < p->inner; i++) {
            const size_t base = o * p->len * p->inner + i;
            double s = 0.0;
            float norm;
            for (size_t a = 0; a < p->len; a++) {
                double v = (double)x[base + a * p->inner];
                s += p->p == 1 ? fabs(v) : v * v;
            }
            norm = (float)(p->p == 1 ? s : sqrt(s));
            for (size_t a = 0; a < p->len; a++) {
                const size_t k = base + a * p->inner;
                y[k] = norm > 0.0f ? x[k] / norm : 0.0f;
            }
        }
    }
}

#define LAST QCAL__OPSET_LAST

const qcal__op qcal__ops_groupnorm[] = {
    { "GroupNormalization", 18, 20, gn_infer, gn_run, 0 }, /* scale, bias per group */
    { "GroupNormalization", 21, LAST, gn_infer, gn_run, 0 }, /* per channel */
    { "LpNormalization", 1, LAST, lpn_infer, lpn_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
