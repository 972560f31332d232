/*
 * Normalisation kernels: BatchNormalization (inference form, and the training form of opset 14+),
 * InstanceNormalization, LayerNormalization, Softmax, LogSoftmax and Hardmax, every opset from 1
 * to 17. The loss operators built on LogSoftmax are in norm_loss.c and share this family's table.
 *
 * Precision: per-element arithmetic is float (double for double tensors) in a fixed order.
 * Statistics over a data-sized extent (instance/layer mean and variance, the softmax
 * denominator) are accumulated in double and converted to float once: their length is set by the
 * model, and a float running sum over tens of thousands of terms would lose digits the ONNX
 * tolerance (rtol 1e-3) notices. Variances are two-pass (mean first), never E[x^2] - E[x]^2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/norm_loss.h"
#include "ops/ops.h"

static bool is_float_type(qcal_dtype dt)
{
    return dt == QCAL_DT_FLOAT || dt == QCAL_DT_DOUBLE;
}

/* Fails when any output from index `from` on is requested (training-only outputs). */
static qcal_status no_extra_outputs(const qcal__node *n, int from, const char *what,
                                    qcal_error *err)
{
    for (int i = from; i < n->n_out; i++)
        if (n->out[i])
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "%s", what);
    return QCAL_OK;
}

/* ---- BatchNormalization: y = (x - mean) / sqrt(var + epsilon) * scale + B ---- */

typedef struct bn_params {
    float eps;
    float momentum;   /* training: running = input * momentum + batch * (1 - momentum) */
    bool per_element; /* opset < 9 with spatial=0: statistics per (C, D1, ...) element */
    bool training;    /* opset 14+ training_mode=1: statistics of this batch */
} bn_params;

/*
 * Opset 1-5 is_test and consumed_inputs are ignored; opset 1-8 spatial=0 takes statistics of
 * shape C x D1 x .... Opset 14+ training_mode=1 normalises with the batch mean and population
 * variance over every axis but 1 and may output running_mean and running_var (both of shape C).
 * The opset 1-9 training outputs (mean, var, saved_mean, saved_var) are not produced: no ONNX
 * test uses them, and qcal only needs the inference form of those opsets.
 */
static qcal_status bn_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    bn_params *p;
    size_t want;
    bool per_element = false;
    const bool training = n->opset >= 14 && qcal__attr_int(n, "training_mode", 0) != 0;
    qcal_status st = qcal__check_inputs(n, 5, 5, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (training)
        st = no_extra_outputs(n, 3, "only Y, running_mean and running_var are outputs in "
                              "training mode", err);
    else
        st = no_extra_outputs(n, 1, "the training statistics outputs of opset < 14 (is_test=0) "
                              "are not supported", err);
    if (st != QCAL_OK)
        return st;
    if (!is_float_type(x->dtype))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input rank %d, expected N x C x ...",
                                x->rank);
    if (n->opset < 9 && qcal__attr_int(n, "spatial", 1) == 0)
        per_element = true;
    want = per_element ? x->nelem / (size_t)(x->dims[0] ? x->dims[0] : 1) : (size_t)x->dims[1];
    for (int i = 1; i < 5; i++) {
        if (n->in[i]->dtype != x->dtype)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                    "input %d is %s, expected %s like X", i,
                                    qcal_dtype_name(n->in[i]->dtype), qcal_dtype_name(x->dtype));
        if (n->in[i]->nelem != want)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "input %d has %zu values, expected %zu",
                                    i, n->in[i]->nelem, want);
    }
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    for (int i = 1; i < 3 && i < n->n_out && st == QCAL_OK; i++)
        if (n->out[i])
            st = qcal__tensor_set_shape(n->out[i], x->dtype, 1, &x->dims[1], err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->eps = qcal__attr_float(n, "epsilon", 1e-5f);
    p->momentum = qcal__attr_float(n, "momentum", 0.9f);
    p->per_element = per_element;
    p->training = training;
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

/* Statistics index k applies to `run` consecutive elements; per channel or per element. */
#define DEFINE_BN(NAME, T, SQRT)                                                                 \
    static void NAME(const qcal__node *n, const bn_params *p)                                    \
    {                                                                                            \
        const qcal__tensor *xt = n->in[0];                                                       \
        const T *x = xt->data, *scale = n->in[1]->data, *bias = n->in[2]->data;                  \
        const T *mean = n->in[3]->data, *var = n->in[4]->data;                                   \
        T *y = n->out[0]->data;                                                                  \
        const size_t batch = (size_t)xt->dims[0];                                                \
        const size_t stats = n->in[1]->nelem;                                                    \
        const size_t run = (batch && stats) ? xt->nelem / batch / stats : 0;                     \
        for (size_t b = 0; b < batch; b++) {                                                     \
            for (size_t k = 0; k < stats; k++) {                                                 \
                T a = scale[k] / SQRT(var[k] + (T)p->eps);                                       \
                T c = bias[k] - mean[k] * a;                                                     \
                for (size_t i = 0; i < run; i++, x++, y++)                                       \
                    *y = *x * a + c;                                                             \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_BN(bn_f32, float, sqrtf)
DEFINE_BN(bn_f64, double, sqrt)

/*
 * Training form, one channel at a time: the batch mean and population variance (divide by the
 * count) over the batch and spatial axes, accumulated in double in two passes and rounded to T
 * once; Y = (x - mean) / sqrt(var + eps) * scale + B; the optional running statistics are
 * input_mean * momentum + mean * (1 - momentum), and likewise for the variance.
 */
#define DEFINE_BN_TRAIN(NAME, T, SQRT)                                                           \
    static void NAME(const qcal__node *n, const bn_params *p)                                    \
    {                                                                                            \
        const qcal__tensor *xt = n->in[0];                                                       \
        const T *x = xt->data, *scale = n->in[1]->data, *bias = n->in[2]->data;                  \
        const T *in_mean = n->in[3]->data, *in_var = n->in[4]->data;                             \
        T *y = n->out[0]->data;                                                                  \
        T *out_mean = (n->n_out > 1 && n->out[1]) ? n->out[1]->data : NULL;                      \
        T *out_var = (n->n_out > 2 && n->out[2]) ? n->out[2]->data : NULL;                       \
        const size_t batch = (size_t)xt->dims[0];                                                \
        const size_t chans = (size_t)xt->dims[1];                                                \
        const size_t run = (batch && chans) ? xt->nelem / batch / chans : 0;                     \
        const size_t count = batch * run;                                                        \
        const T mom = (T)p->momentum;                                                            \
        for (size_t c = 0; c < chans; c++) {                                                     \
            double s = 0.0, q = 0.0;                                                             \
            T m, v, a;                                                                           \
            for (size_t b = 0; b < batch; b++) {                                                 \
                const T *r = x + (b * chans + c) * run;                                          \
                for (size_t i = 0; i < run; i++)                                                 \
                    s += (double)r[i];                                                           \
            }                                                                                    \
            s = count ? s / (double)count : 0.0;                                                 \
            for (size_t b = 0; b < batch; b++) {                                                 \
                const T *r = x + (b * chans + c) * run;                                          \
                for (size_t i = 0; i < run; i++) {                                               \
                    double d = (double)r[i] - s;                                                 \
                    q += d * d;                                                                  \
                }                                                                                \
            }                                                                                    \
            m = (T)s;                                                                            \
            v = (T)(count ? q / (double)count : 0.0);                                            \
            a = scale[c] / SQRT(v + (T)p->eps);                                                  \
            for (size_t b = 0; b < batch; b++) {                                                 \
                const T *r = x + (b * chans + c) * run;                                          \
                T *w = y + (b * chans + c) * run;                                                \
                for (size_t i = 0; i < run; i++)                                                 \
                    w[i] = (r[i] - m) * a + bias[c];                                             \
            }                                                                                    \
            if (out_mean)                                                                        \
                out_mean[c] = in_mean[c] * mom + m * ((T)1 - mom);                               \
            if (out_var)                                                                         \
                out_var[c] = in_var[c] * mom + v * ((T)1 - mom);                                 \
        }                                                                                        \
    }

DEFINE_BN_TRAIN(bn_train_f32, float, sqrtf)
DEFINE_BN_TRAIN(bn_train_f64, double, sqrt)

static void bn_run(const qcal__node *n, void *scratch)
{
    const bn_params *p = n->params;

    (void)scratch;
    if (n->in[0]->dtype == QCAL_DT_FLOAT) {
        if (p->training)
            bn_train_f32(n, p);
        else
            bn_f32(n, p);
    } else {
        if (p->training)
            bn_train_f64(n, p);
        else
            bn_f64(n, p);
    }
}

/* ---- InstanceNormalization: per (n, c) plane, y = scale * (x - mean) / sqrt(var + eps) + B ---- */

static qcal_status in_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    float *eps;
    qcal_status st = qcal__check_inputs(n, 3, 3, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 3)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input rank %d, expected N x C x D1 ...",
                                x->rank);
    for (int i = 1; i < 3; i++)
        if (n->in[i]->dtype != QCAL_DT_FLOAT || n->in[i]->nelem != (size_t)x->dims[1])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "input %d must be float32 of %lld "
                                    "values", i, (long long)x->dims[1]);
    eps = malloc(sizeof *eps);
    if (!eps)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    *eps = qcal__attr_float(n, "epsilon", 1e-5f);
    n->params = eps;
    n->scratch = 0;
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* Two-pass mean and population variance of v[0..len) in double. */
static void mean_var(const float *v, size_t len, double *mean, double *var)
{
    double s = 0.0, q = 0.0;

    for (size_t i = 0; i < len; i++)
        s += (double)v[i];
    s = len ? s / (double)len : 0.0;
    for (size_t i = 0; i < len; i++) {
        double d = (double)v[i] - s;
        q += d * d;
    }
    *mean = s;
    *var = len ? q / (double)len : 0.0;
}

void qcal__mean_var_f32(const float *v, size_t len, double *mean, double *var)
{
    mean_var(v, len, mean, var);
}

static void in_run(const qcal__node *n, void *scratch)
{
    const qcal__tensor *xt = n->in[0];
    const float eps = *(const float *)n->params;
    const float *x = xt->data, *scale = n->in[1]->data, *bias = n->in[2]->data;
    float *y = n->out[0]->data;
    const size_t C = (size_t)xt->dims[1], planes = (size_t)xt->dims[0] * C;
    const size_t len = planes ? xt->nelem / planes : 0;

    (void)scratch;
    for (size_t pl = 0; pl < planes; pl++, x += len, y += len) {
        double m, v;
        float mf, a;
        mean_var(x, len, &m, &v);
        mf = (float)m;
        a = scale[pl % C] / sqrtf((float)v + eps);
        for (size_t i = 0; i < len; i++)
            y[i] = (x[i] - mf) * a + bias[pl % C];
    }
}

/* ---- LayerNormalization-17: normalise over axes [axis, rank) ---- */

typedef struct ln_params {
    size_t outer, inner;
    float eps;
    bool scalar_scale, scalar_bias;
} ln_params;

/*
 * Scale and B must hold either one value or exactly the normalised extent (any shape with that
 * many values, which covers the usual X.shape[axis:]). Mean and InvStdDev (optional, float32)
 * have X's shape with the normalised axes set to 1.
 */
static qcal_status ln_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *b;
    int64_t sdims[QCAL_MAX_RANK];
    ln_params *p;
    int axis;
    size_t outer = 1, inner = 1;
    qcal_status st = qcal__check_inputs(n, 2, 3, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    b = qcal__in(n, 2);
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    st = qcal__norm_axis(n, qcal__attr_int(n, "axis", -1), x->rank, &axis, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            outer *= (size_t)x->dims[i];
        else
            inner *= (size_t)x->dims[i];
        sdims[i] = i < axis ? x->dims[i] : 1;
    }
    if (n->in[1]->dtype != QCAL_DT_FLOAT || (b && b->dtype != QCAL_DT_FLOAT))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "Scale and B must be float32");
    if ((n->in[1]->nelem != inner && n->in[1]->nelem != 1) ||
        (b && b->nelem != inner && b->nelem != 1))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "Scale and B must have 1 or %zu values",
                                inner);
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    for (int i = 1; i < 3 && i < n->n_out && st == QCAL_OK; i++)
        if (n->out[i])
            st = qcal__tensor_set_shape(n->out[i], QCAL_DT_FLOAT, x->rank, sdims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->outer = outer;
    p->inner = inner;
    p->eps = qcal__attr_float(n, "epsilon", 1e-5f);
    p->scalar_scale = n->in[1]->nelem == 1 && inner != 1;
    p->scalar_bias = b && b->nelem == 1 && inner != 1;
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

/* Mirrors the ONNX function body: D = X - Mean; Y = D * InvStdDev * Scale + B. */
static void ln_run(const qcal__node *n, void *scratch)
{
    const ln_params *p = n->params;
    const float *x = n->in[0]->data, *scale = n->in[1]->data;
    const qcal__tensor *bt = qcal__in(n, 2);
    const float *bias = bt ? bt->data : NULL;
    float *y = n->out[0]->data;
    float *mo = (n->n_out > 1 && n->out[1]) ? n->out[1]->data : NULL;
    float *io = (n->n_out > 2 && n->out[2]) ? n->out[2]->data : NULL;

    (void)scratch;
    for (size_t o = 0; o < p->outer; o++, x += p->inner, y += p->inner) {
        double m, v;
        float mf, inv;
        mean_var(x, p->inner, &m, &v);
        mf = (float)m;
        inv = 1.0f / sqrtf((float)v + p->eps);
        for (size_t i = 0; i < p->inner; i++) {
            float t = (x[i] - mf) * inv * scale[p->scalar_scale ? 0 : i];
            y[i] = bias ? t + bias[p->scalar_bias ? 0 : i] : t;
        }
        if (mo)
            mo[o] = mf;
        if (io)
            io[o] = inv;
    }
}

/* ---- Softmax, LogSoftmax, Hardmax ---- */

/*
 * The input is viewed as outer x len x inner; the op runs along len. Opset < 13: the input is
 * coerced to 2-D at axis (default 1), so len is the product of dims[axis:] and inner is 1.
 * Opset 13+: len is dims[axis] (axis default -1) and inner the product of the dims after it.
 */
typedef struct sm_params {
    size_t outer, len, inner;
} sm_params;

static qcal_status sm_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    sm_params *p;
    bool coerce = n->opset < 13;
    int axis;
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must have rank >= 1");
    if (coerce && qcal__attr_int(n, "axis", 1) == x->rank) {
        axis = x->rank; /* legal before 13: one row per element */
    } else {
        st = qcal__norm_axis(n, qcal__attr_int(n, "axis", coerce ? 1 : -1), x->rank, &axis, err);
        if (st != QCAL_OK)
            return st;
    }
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->outer = p->len = p->inner = 1;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            p->outer *= (size_t)x->dims[i];
        else if (i == axis || coerce)
            p->len *= (size_t)x->dims[i];
        else
            p->inner *= (size_t)x->dims[i];
    }
    n->params = p;
    /* Per inner column: the running max (float) and the sum or argmax (8 bytes). */
    n->scratch = p->inner * (sizeof(float) + sizeof(double));
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* Column-wise maxima of one outer block into mx[inner]; NaN propagates. */
static void block_max(const sm_params *p, const float *x, float *mx)
{
    for (size_t i = 0; i < p->inner; i++)
        mx[i] = x[i];
    for (size_t l = 1; l < p->len; l++) {
        const float *r = x + l * p->inner;
        for (size_t i = 0; i < p->inner; i++)
            if (r[i] > mx[i] || isnan(r[i]))
                mx[i] = r[i];
    }
}

/*
 * Softmax (log_form false): exp(x - max) / sum; LogSoftmax: (x - max) - log(sum). Subtracting the
 * max keeps exp() in range for any input. Rows are processed in memory order for every inner.
 */
static void softmax_common(const qcal__node *n, void *scratch, bool log_form)
{
    const sm_params *p = n->params;
    const float *x = n->in[0]->data;
    float *y = n->out[0]->data;
    double *sum = scratch;
    float *mx = (float *)(sum + p->inner);
    const size_t block = p->len * p->inner;

    if (p->len == 0)
        return;
    for (size_t o = 0; o < p->outer; o++, x += block, y += block) {
        block_max(p, x, mx);
        for (size_t i = 0; i < p->inner; i++)
            sum[i] = 0.0;
        for (size_t l = 0; l < p->len; l++) {
            const float *r = x + l * p->inner;
            float *w = y + l * p->inner;
            for (size_t i = 0; i < p->inner; i++) {
                float e = expf(r[i] - mx[i]);
                sum[i] += (double)e;
                if (!log_form)
                    w[i] = e;
            }
        }
        for (size_t l = 0; l < p->len; l++) {
            const float *r = x + l * p->inner;
            float *w = y + l * p->inner;
            for (size_t i = 0; i < p->inner; i++) {
                if (log_form)
                    w[i] = (r[i] - mx[i]) - (float)log(sum[i]);
                else
                    w[i] = w[i] / (float)sum[i];
            }
        }
    }
}

static void softmax_run(const qcal__node *n, void *scratch)
{
    softmax_common(n, scratch, false);
}

static void logsoftmax_run(const qcal__node *n, void *scratch)
{
    softmax_common(n, scratch, true);
}

/* Hardmax: 1 at the first maximum along the axis, 0 elsewhere. */
static void hardmax_run(const qcal__node *n, void *scratch)
{
    const sm_params *p = n->params;
    const float *x = n->in[0]->data;
    float *y = n->out[0]->data;
    int64_t *arg = scratch;
    float *mx = (float *)(arg + p->inner);
    const size_t block = p->len * p->inner;

    memset(y, 0, n->out[0]->nelem * sizeof *y);
    if (p->len == 0)
        return;
    for (size_t o = 0; o < p->outer; o++, x += block, y += block) {
        for (size_t i = 0; i < p->inner; i++) {
            mx[i] = x[i];
            arg[i] = 0;
        }
        for (size_t l = 1; l < p->len; l++) {
            const float *r = x + l * p->inner;
            for (size_t i = 0; i < p->inner; i++)
                if (r[i] > mx[i]) {
                    mx[i] = r[i];
                    arg[i] = (int64_t)l;
                }
        }
        for (size_t i = 0; i < p->inner; i++)
            y[(size_t)arg[i] * p->inner + i] = 1.0f;
    }
}

const qcal__op qcal__ops_norm[] = {
    { "BatchNormalization", 1, QCAL__OPSET_LAST, bn_infer, bn_run, 0 },
    { "InstanceNormalization", 1, QCAL__OPSET_LAST, in_infer, in_run, 0 },
    { "LayerNormalization", 17, QCAL__OPSET_LAST, ln_infer, ln_run, 0 },
    { "Softmax", 1, QCAL__OPSET_LAST, sm_infer, softmax_run, 0 },
    { "LogSoftmax", 1, QCAL__OPSET_LAST, sm_infer, logsoftmax_run, 0 },
    { "Hardmax", 1, QCAL__OPSET_LAST, sm_infer, hardmax_run, 0 },
    { "NegativeLogLikelihoodLoss", 12, QCAL__OPSET_LAST, qcal__nll_infer, qcal__nll_run, 0 },
    { "SoftmaxCrossEntropyLoss", 12, QCAL__OPSET_LAST, qcal__sce_infer, qcal__sce_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
