/*
 * Element-wise unary operators: math (Abs, Neg, Reciprocal, Floor, Ceil, Round, Sqrt, Exp, Log,
 * Erf), activations (Relu, LeakyRelu, Elu, Selu, Sigmoid, HardSigmoid, HardSwish, Tanh, Softplus,
 * Softsign), Clip and Not.
 *
 * Types: float32 for all; Abs, Neg, Relu and Clip also float64 and integer types (Abs and Clip
 * unsigned ones too); Reciprocal, Floor, Ceil, Sqrt, Exp, Log, Sigmoid and Tanh also float64 (in
 * double); Not takes bool. Formulas follow the ONNX reference implementation where
 * the float32 result depends on the form (Elu/Selu use exp(x) - 1 as the reference does).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "ops/unary_impl.h"
#include "qcal/round.h"

typedef qcal__unary_params unary_params;
typedef qcal__unary_fn unary_fn;

#define NDT QCAL__UNARY_NDT

/* log(1 + e^x) without overflow for large x. */
static float softplus(float x)
{
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

#define UNARY QCAL__UNARY

/* ---- float32-only math and activations ---- */
UNARY(reciprocal_f32, float, 1.0f / x)
UNARY(floor_f32, float, floorf(x))
UNARY(ceil_f32, float, ceilf(x))
/* ONNX Round: ties to even, and -0.4 gives -0.0 like numpy.round (STYLE.md: rounding by name). */
UNARY(round_f32, float, qcal_round_half_evenf(x))
UNARY(sqrt_f32, float, sqrtf(x))
UNARY(exp_f32, float, expf(x))
UNARY(log_f32, float, logf(x))
UNARY(erf_f32, float, erff(x))
UNARY(leaky_relu_f32, float, x < 0.0f ? p->alpha * x : x)
UNARY(elu_f32, float, x < 0.0f ? (expf(x) - 1.0f) * p->alpha : x)
UNARY(selu_f32, float, x > 0.0f ? x * p->gamma : (expf(x) - 1.0f) * p->alpha * p->gamma)
UNARY(sigmoid_f32, float, 1.0f / (1.0f + expf(-x)))
UNARY(hard_sigmoid_f32, float, clamp01(p->alpha * x + p->beta))
UNARY(hard_swish_f32, float, x * clamp01(p->alpha * x + p->beta))
UNARY(tanh_f32, float, tanhf(x))
UNARY(softplus_f32, float, softplus(x))
UNARY(softsign_f32, float, x / (1.0f + fabsf(x)))
/* float64 (ONNX's function bodies of e.g. ReduceLogSumExp compute in the input's type) */
UNARY(reciprocal_f64, double, 1.0 / x)
UNARY(floor_f64, double, floor(x))
UNARY(ceil_f64, double, ceil(x))
UNARY(sqrt_f64, double, sqrt(x))
UNARY(exp_f64, double, exp(x))
UNARY(log_f64, double, log(x))
UNARY(sigmoid_f64, double, 1.0 / (1.0 + exp(-x)))
UNARY(tanh_f64, double, tanh(x))

/* ---- Abs, Neg, Relu over several types; integers negate with wrap-around (no UB at MIN) ---- */
#define SIGNED_INTS(X)                                                                          \
    X(i8, int8_t, uint32_t, QCAL_DT_INT8)                                                       \
    X(i16, int16_t, uint32_t, QCAL_DT_INT16)                                                    \
    X(i32, int32_t, uint32_t, QCAL_DT_INT32)                                                    \
    X(i64, int64_t, uint64_t, QCAL_DT_INT64)
#define UNSIGNED_INTS(X)                                                                        \
    X(u8, uint8_t, uint32_t, QCAL_DT_UINT8)                                                     \
    X(u16, uint16_t, uint32_t, QCAL_DT_UINT16)                                                  \
    X(u32, uint32_t, uint32_t, QCAL_DT_UINT32)                                                  \
    X(u64, uint64_t, uint64_t, QCAL_DT_UINT64)

#define DEF_SIGNED(sfx, T, U, DT)                                                               \
    UNARY(abs_##sfx, T, x < 0 ? (T)(0u - (U)x) : x)                                             \
    UNARY(neg_##sfx, T, (T)(0u - (U)x))                                                         \
    UNARY(relu_##sfx, T, x < 0 ? 0 : x)
#define DEF_UNSIGNED(sfx, T, U, DT) UNARY(abs_##sfx, T, x)
SIGNED_INTS(DEF_SIGNED)
UNSIGNED_INTS(DEF_UNSIGNED)
UNARY(abs_f32, float, fabsf(x))
UNARY(abs_f64, double, fabs(x))
UNARY(neg_f32, float, -x)
UNARY(neg_f64, double, -x)

/*
 * Relu float32 (the hot activation of CNNs) is the same loop, also compiled for AVX-512 on x86-64
 * with glibc (target_clones: the copy is chosen once at load time); both copies give the same
 * results.
 */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__)
__attribute__((target_clones("avx512f", "default")))
#endif
static void relu_f32(void *o_, const void *x_, size_t n, const unary_params *p)
{
    float *o = o_;
    const float *in = x_;

    (void)p;
    for (size_t i = 0; i < n; i++)
        o[i] = in[i] < 0.0f ? 0.0f : in[i];
}
UNARY(relu_f64, double, x < 0.0 ? 0.0 : x)
UNARY(not_bool, uint8_t, x == 0)

#define E_ABS(sfx, T, U, DT) [DT] = abs_##sfx,
#define E_NEG(sfx, T, U, DT) [DT] = neg_##sfx,
#define E_RELU(sfx, T, U, DT) [DT] = relu_##sfx,

static const unary_fn ABS[NDT] = {
    SIGNED_INTS(E_ABS) UNSIGNED_INTS(E_ABS)[QCAL_DT_FLOAT] = abs_f32,
    [QCAL_DT_DOUBLE] = abs_f64,
};
static const unary_fn NEG[NDT] = {
    SIGNED_INTS(E_NEG)[QCAL_DT_FLOAT] = neg_f32,
    [QCAL_DT_DOUBLE] = neg_f64,
};
static const unary_fn RELU[NDT] = {
    SIGNED_INTS(E_RELU)[QCAL_DT_FLOAT] = relu_f32,
    [QCAL_DT_DOUBLE] = relu_f64,
};
static const unary_fn NOT[NDT] = { [QCAL_DT_BOOL] = not_bool };

/*
 * Shared infer: one input of a type fns supports, output of the same type and shape (Not: bool,
 * which is its input type too). Stores the kernel and constants in n->params.
 */
static qcal_status unary_setup(qcal__node *n, const unary_fn *fns, float alpha, float beta,
                               float gamma, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);
    const qcal__tensor *x;
    unary_params *p;
    unary_fn fn;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    fn = ((unsigned)x->dtype < NDT) ? fns[x->dtype] : NULL;
    if (!fn)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->fn = fn;
    p->alpha = alpha;
    p->beta = beta;
    p->gamma = gamma;
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static void unary_run(const qcal__node *n, void *scratch)
{
    const unary_params *p = n->params;

    (void)scratch;
    p->fn(n->out[0]->data, n->in[0]->data, n->out[0]->nelem, p);
}

qcal_status qcal__unary_setup(qcal__node *n, const qcal__unary_fn *fns, float alpha, float beta,
                              float gamma, qcal_error *err)
{
    return unary_setup(n, fns, alpha, beta, gamma, err);
}

void qcal__unary_run(const qcal__node *n, void *scratch)
{
    unary_run(n, scratch);
}

/* Infer of an op with a kernel table (float32-only ops pass a one-entry table). */
#define INFER_TABLE(name, fns)                                                                  \
    static qcal_status name##_infer(qcal__node *n, qcal_error *err)                             \
    {                                                                                           \
        return unary_setup(n, fns, 0.0f, 0.0f, 0.0f, err);                                      \
    }
#define INFER_F32(name)                                                                         \
    static qcal_status name##_infer(qcal__node *n, qcal_error *err)                             \
    {                                                                                           \
        static const unary_fn fns[NDT] = { [QCAL_DT_FLOAT] = name##_f32 };                      \
        return unary_setup(n, fns, 0.0f, 0.0f, 0.0f, err);                                      \
    }
#define INFER_F32_F64(name)                                                                     \
    static qcal_status name##_infer(qcal__node *n, qcal_error *err)                             \
    {                                                                                           \
        static const unary_fn fns[NDT] = { [QCAL_DT_FLOAT] = name##_f32,                        \
                                           [QCAL_DT_DOUBLE] = name##_f64 };                     \
        return unary_setup(n, fns, 0.0f, 0.0f, 0.0f, err);                                      \
    }
/* Same with attributes: A, B, G are expressions over n (the node). */
#define INFER_F32_ATTR(name, A, B, G)                                                           \
    static qcal_status name##_infer(qcal__node *n, qcal_error *err)                             \
    {                                                                                           \
        static const unary_fn fns[NDT] = { [QCAL_DT_FLOAT] = name##_f32 };                      \
        return unary_setup(n, fns, (A), (B), (G), err);                                         \
    }

INFER_TABLE(abs, ABS)
INFER_TABLE(neg, NEG)
INFER_TABLE(relu, RELU)
INFER_TABLE(not, NOT)
INFER_F32_F64(reciprocal)
INFER_F32_F64(floor)
INFER_F32_F64(ceil)
INFER_F32(round)
INFER_F32_F64(sqrt)
INFER_F32_F64(exp)
INFER_F32_F64(log)
INFER_F32(erf)
INFER_F32_F64(sigmoid)
INFER_F32_F64(tanh)
INFER_F32(softplus)
INFER_F32(softsign)
/* Attribute defaults are those of every ONNX version of the op. */
INFER_F32_ATTR(leaky_relu, qcal__attr_float(n, "alpha", 0.01f), 0.0f, 0.0f)
INFER_F32_ATTR(elu, qcal__attr_float(n, "alpha", 1.0f), 0.0f, 0.0f)
INFER_F32_ATTR(selu, qcal__attr_float(n, "alpha", 1.67326319217681884765625f), 0.0f,
               qcal__attr_float(n, "gamma", 1.05070102214813232421875f))
INFER_F32_ATTR(hard_sigmoid, qcal__attr_float(n, "alpha", 0.2f),
               qcal__attr_float(n, "beta", 0.5f), 0.0f)
/* ONNX HardSwish-14: HardSigmoid with alpha 1/6, beta 0.5, times x. */
INFER_F32_ATTR(hard_swish, 1.0f / 6.0f, 0.5f, 0.0f)

/* ---- Clip ---- */

/*
 * Opsets 1-10: bounds are the float attributes min/max (default: the float range). Opset 11+:
 * optional scalar inputs 1 and 2 of x's type, read at run time (they may be computed); an absent
 * bound does not clip. When min > max every element becomes max (ONNX Clip-13, numpy.clip).
 */
typedef void (*clip_fn)(void *o, const void *x, size_t n, const void *lo, const void *hi);

typedef struct clip_params {
    clip_fn fn;
    bool attrs; /* bounds from lo/hi below (opset < 11), else from inputs 1, 2 */
    float lo, hi;
} clip_params;

#define DEF_CLIP(sfx, T, LO, HI)                                                                \
    static void clip_##sfx(void *o_, const void *x_, size_t n, const void *lo_,                 \
                           const void *hi_)                                                     \
    {                                                                                           \
        T *o = o_;                                                                              \
        const T *in = x_;                                                                       \
        const T lo = lo_ ? *(const T *)lo_ : (LO), hi = hi_ ? *(const T *)hi_ : (HI);           \
        for (size_t i = 0; i < n; i++) {                                                        \
            T v = in[i] < lo ? lo : in[i];                                                      \
            o[i] = v > hi ? hi : v;                                                             \
        }                                                                                       \
    }

DEF_CLIP(f32, float, -FLT_MAX, FLT_MAX)
DEF_CLIP(f64, double, -DBL_MAX, DBL_MAX)
DEF_CLIP(i8, int8_t, INT8_MIN, INT8_MAX)
DEF_CLIP(i16, int16_t, INT16_MIN, INT16_MAX)
DEF_CLIP(i32, int32_t, INT32_MIN, INT32_MAX)
DEF_CLIP(i64, int64_t, INT64_MIN, INT64_MAX)
DEF_CLIP(u8, uint8_t, 0, UINT8_MAX)
DEF_CLIP(u16, uint16_t, 0, UINT16_MAX)
DEF_CLIP(u32, uint32_t, 0, UINT32_MAX)
DEF_CLIP(u64, uint64_t, 0, UINT64_MAX)

static const clip_fn CLIP[NDT] = {
    [QCAL_DT_FLOAT] = clip_f32, [QCAL_DT_DOUBLE] = clip_f64, [QCAL_DT_INT8] = clip_i8,
    [QCAL_DT_INT16] = clip_i16, [QCAL_DT_INT32] = clip_i32,  [QCAL_DT_INT64] = clip_i64,
    [QCAL_DT_UINT8] = clip_u8,  [QCAL_DT_UINT16] = clip_u16, [QCAL_DT_UINT32] = clip_u32,
    [QCAL_DT_UINT64] = clip_u64,
};

static qcal_status clip_infer(qcal__node *n, qcal_error *err)
{
    bool attrs = n->opset < 11;
    qcal_status st = qcal__check_inputs(n, 1, attrs ? 1 : 3, err);
    const qcal__tensor *x;
    clip_params *p;
    clip_fn fn;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    fn = ((unsigned)x->dtype < NDT) ? CLIP[x->dtype] : NULL;
    if (!fn || (attrs && x->dtype != QCAL_DT_FLOAT))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    for (int i = 1; i < n->n_in; i++) {
        const qcal__tensor *b = n->in[i];
        if (!b)
            continue;
        if (b->dtype != x->dtype || b->nelem != 1)
            return qcal__node_error(err, n, QCAL_E_INVALID,
                                    "bound input %d must be one %s value (is %s with %zu)", i,
                                    qcal_dtype_name(x->dtype), qcal_dtype_name(b->dtype),
                                    b->nelem);
    }
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->fn = fn;
    p->attrs = attrs;
    p->lo = qcal__attr_float(n, "min", -FLT_MAX);
    p->hi = qcal__attr_float(n, "max", FLT_MAX);
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static void clip_run(const qcal__node *n, void *scratch)
{
    const clip_params *p = n->params;
    const qcal__tensor *lo = qcal__in(n, 1), *hi = qcal__in(n, 2);

    (void)scratch;
    if (p->attrs)
        p->fn(n->out[0]->data, n->in[0]->data, n->out[0]->nelem, &p->lo, &p->hi);
    else
        p->fn(n->out[0]->data, n->in[0]->data, n->out[0]->nelem, lo ? lo->data : NULL,
              hi ? hi->data : NULL);
}

#define LAST QCAL__OPSET_LAST
#define RUN unary_run

/* Opset ranges start at each op's first version; older versions differ only in attributes we
 * ignore (consumed_inputs) or in the types they allow. */
const qcal__op qcal__ops_unary[] = {
    { "Abs", 1, LAST, abs_infer, RUN, 0 },
    { "Ceil", 1, LAST, ceil_infer, RUN, 0 },
    { "Clip", 1, 10, clip_infer, clip_run, 0 },
    { "Clip", 11, LAST, clip_infer, clip_run, 0 },
    { "Elu", 1, LAST, elu_infer, RUN, 0 },
    { "Erf", 9, LAST, erf_infer, RUN, 0 },
    { "Exp", 1, LAST, exp_infer, RUN, 0 },
    { "Floor", 1, LAST, floor_infer, RUN, 0 },
    { "HardSigmoid", 1, LAST, hard_sigmoid_infer, RUN, 0 },
    { "HardSwish", 14, LAST, hard_swish_infer, RUN, 0 },
    { "LeakyRelu", 1, LAST, leaky_relu_infer, RUN, 0 },
    { "Log", 1, LAST, log_infer, RUN, 0 },
    { "Neg", 1, LAST, neg_infer, RUN, 0 },
    { "Not", 1, LAST, not_infer, RUN, 0 },
    { "Reciprocal", 1, LAST, reciprocal_infer, RUN, 0 },
    { "Relu", 1, LAST, relu_infer, RUN, 0 },
    { "Round", 11, LAST, round_infer, RUN, 0 },
    { "Selu", 1, LAST, selu_infer, RUN, 0 },
    { "Sigmoid", 1, LAST, sigmoid_infer, RUN, 0 },
    { "Softplus", 1, LAST, softplus_infer, RUN, 0 },
    { "Softsign", 1, LAST, softsign_infer, RUN, 0 },
    { "Sqrt", 1, LAST, sqrt_infer, RUN, 0 },
    { "Tanh", 1, LAST, tanh_infer, RUN, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
