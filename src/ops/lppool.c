/*
 * LpPool-1/2/11/18 and GlobalLpPool-1/2: y = (sum over the window of |x|^p)^(1/p), float32 and
 * float64. LpPool shares pool.c's geometry (qcal__pool_infer: pads, auto_pad, strides, and from
 * opset 18 dilations and ceil_mode); padding contributes zeros, so only the taps inside the input
 * are summed. Sums are accumulated in double in row-major window order and rounded once; p = 1
 * and p = 2 avoid pow(). p is a float attribute at opset 1 and an int from opset 2 (default 2).
 */
#include <math.h>
#include <stdlib.h>

#include "ops/pool_impl.h"

static double lp_term(double v, double p)
{
    if (p == 2.0)
        return v * v;
    if (p == 1.0)
        return fabs(v);
    return pow(fabs(v), p);
}

static double lp_root(double s, double p)
{
    if (p == 2.0)
        return sqrt(s);
    if (p == 1.0)
        return s;
    return pow(s, 1.0 / p);
}

static qcal_status lp_check_p(const qcal__node *n, qcal_error *err)
{
    float p = qcal__attr_float(n, "p", 2.0f);

    if (!(p > 0.0f) || isinf(p))
        return qcal__node_error(err, n, QCAL_E_INVALID, "p must be positive and finite (is %g)",
                                (double)p);
    return QCAL_OK;
}

static qcal_status lppool_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = lp_check_p(n, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out > 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "LpPool has one output");
    return qcal__pool_infer(n, POOL_LP, err);
}

#define DEFINE_LPPOOL(NAME, T)                                                                   \
    static void NAME(const pool_params *pp, double p, const T *x, T *y)                          \
    {                                                                                            \
        const int64_t H = pp->in[1], W = pp->in[2], plane = pp->in[0] * H * W;                   \
        for (int64_t pl = 0; pl < pp->planes; pl++) {                                            \
            const T *xp = x + pl * plane;                                                        \
            for (int64_t od = 0; od < pp->out[0]; od++) {                                        \
                const tap_span *sd = &pp->span[0][od];                                           \
                for (int64_t oh = 0; oh < pp->out[1]; oh++) {                                    \
                    const tap_span *sh = &pp->span[1][oh];                                       \
                    for (int64_t ow = 0; ow < pp->out[2]; ow++) {                                \
                        const tap_span *sw = &pp->span[2][ow];                                   \
                        double s = 0.0;                                                          \
                        for (int32_t jd = 0; jd < sd->count; jd++) {                             \
                            int64_t id = sd->start + jd * pp->dil[0];                            \
                            for (int32_t jh = 0; jh < sh->count; jh++) {                         \
                                int64_t ih = sh->start + jh * pp->dil[1];                        \
                                const T *row = xp + (id * H + ih) * W + sw->start;               \
                                for (int32_t jw = 0; jw < sw->count; jw++)                       \
                                    s += lp_term((double)row[jw * pp->dil[2]], p);               \
                            }                                                                    \
                        }                                                                        \
                        *y++ = (T)lp_root(s, p);                                                 \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_LPPOOL(lppool_f32, float)
DEFINE_LPPOOL(lppool_f64, double)

static void lppool_run(const qcal__node *n, void *scratch)
{
    const double p = (double)qcal__attr_float(n, "p", 2.0f);
    const qcal__tensor *x = n->in[0];

    (void)scratch;
    if (x->dtype == QCAL_DT_FLOAT)
        lppool_f32(n->params, p, x->data, n->out[0]->data);
    else
        lppool_f64(n->params, p, x->data, n->out[0]->data);
}

static qcal_status global_lppool_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = lp_check_p(n, err);

    return st != QCAL_OK ? st : qcal__pool_global_infer(n, err);
}

static void global_lppool_run(const qcal__node *n, void *scratch)
{
    const double p = (double)qcal__attr_float(n, "p", 2.0f);
    const qcal__tensor *x = n->in[0];
    const size_t planes = (size_t)(x->dims[0] * x->dims[1]);
    const size_t size = planes ? x->nelem / planes : 0;
    const bool f32 = x->dtype == QCAL_DT_FLOAT;

    (void)scratch;
    for (size_t pl = 0; pl < planes; pl++) {
        double s = 0.0;
        for (size_t i = 0; i < size; i++)
            s += lp_term(f32 ? (double)((const float *)x->data)[pl * size + i]
                             : ((const double *)x->data)[pl * size + i],
                         p);
        if (f32)
            ((float *)n->out[0]->data)[pl] = (float)lp_root(s, p);
        else
            ((double *)n->out[0]->data)[pl] = lp_root(s, p);
    }
}

#define LAST QCAL__OPSET_LAST

const qcal__op qcal__ops_lppool[] = {
    { "GlobalLpPool", 1, LAST, global_lppool_infer, global_lppool_run, 0 },
    { "LpPool", 1, 17, lppool_infer, lppool_run, 0 },
    { "LpPool", 18, LAST, lppool_infer, lppool_run, 0 }, /* dilations, ceil_mode */
    { NULL, 0, 0, NULL, NULL, 0 },
};
