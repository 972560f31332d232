/*
 * More element-wise activations and tests: Celu-12, Mish-18, Gelu-20, Shrink-9,
 * ThresholdedRelu-10, Sign-9, IsInf-10, IsNaN-9 (later versions only add types: bfloat16 and
 * float16, which the loader widens to float32).
 *
 * Types: float32 and float64 (Celu: float32 as the spec says); Sign also every integer type;
 * IsInf and IsNaN output bool. Formulas follow the ONNX specification in the order written there.
 * Gelu runs the libm part (erff or tanhf) over a block into a local buffer, then the polynomial
 * part as a separate loop the compiler vectorises; both paths do the same float operations in
 * the same order, so every element gets the same bits whatever its position.
 */
#include <math.h>
#include <string.h>

#include "ops/unary_impl.h"

#define NDT QCAL__UNARY_NDT

/* ---- Celu-12: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) ---- */
static float celu(float x, float alpha)
{
    float neg = alpha * (expf(x / alpha) - 1.0f);
    return (x > 0.0f ? x : 0.0f) + (neg < 0.0f ? neg : 0.0f);
}
QCAL__UNARY(celu_f32, float, celu(x, p->alpha))

/* ---- Mish-18: x * tanh(softplus(x)); exp overflow gives log1p(inf) = inf, tanh(inf) = 1 ---- */
QCAL__UNARY(mish_f32, float, x * tanhf(log1pf(expf(x))))
QCAL__UNARY(mish_f64, double, x * tanh(log1p(exp(x))))

/* ---- Gelu-20 ---- */
#define GELU_BLOCK 64
#define GELU_SQRT2F 1.41421356237309504880f
#define GELU_SQRT2_PIF 0.79788456080286535588f /* sqrt(2 / pi) */
#define GELU_SQRT2 1.41421356237309504880
#define GELU_SQRT2_PI 0.79788456080286535588

/*
 * approximate "none": 0.5 * x * (1 + erf(x / sqrt(2))). The block buffer t makes the kernel
 * safe when o and x are the same buffer.
 */
#define DEF_GELU_ERF(name, T, ERF, SQRT2, HALF, ONE)                                            \
    static void name(void *o_, const void *x_, size_t n, const qcal__unary_params *p)           \
    {                                                                                           \
        T *o = o_;                                                                              \
        const T *x = x_;                                                                        \
        T t[GELU_BLOCK];                                                                        \
        (void)p;                                                                                \
        for (size_t i0 = 0; i0 < n; i0 += GELU_BLOCK) {                                         \
            size_t m = n - i0 < GELU_BLOCK ? n - i0 : GELU_BLOCK;                               \
            for (size_t i = 0; i < m; i++)                                                      \
                t[i] = ERF(x[i0 + i] / SQRT2);                                                  \
            for (size_t i = 0; i < m; i++)                                                      \
                o[i0 + i] = HALF * x[i0 + i] * (ONE + t[i]);                                    \
        }                                                                                       \
    }

/* approximate "tanh": 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))). */
#define DEF_GELU_TANH(name, T, TANH, SQRT2_PI, C, HALF, ONE)                                    \
    static void name(void *o_, const void *x_, size_t n, const qcal__unary_params *p)           \
    {                                                                                           \
        T *o = o_;                                                                              \
        const T *x = x_;                                                                        \
        T t[GELU_BLOCK];                                                                        \
        (void)p;                                                                                \
        for (size_t i0 = 0; i0 < n; i0 += GELU_BLOCK) {                                         \
            size_t m = n - i0 < GELU_BLOCK ? n - i0 : GELU_BLOCK;                               \
            for (size_t i = 0; i < m; i++) {                                                    \
                T v = x[i0 + i];                                                                \
                t[i] = SQRT2_PI * (v + C * (v * v * v));                                        \
            }                                                                                   \
            for (size_t i = 0; i < m; i++)                                                      \
                t[i] = TANH(t[i]);                                                              \
            for (size_t i = 0; i < m; i++)                                                      \
                o[i0 + i] = HALF * x[i0 + i] * (ONE + t[i]);                                    \
        }                                                                                       \
    }

DEF_GELU_ERF(gelu_erf_f32, float, erff, GELU_SQRT2F, 0.5f, 1.0f)
DEF_GELU_ERF(gelu_erf_f64, double, erf, GELU_SQRT2, 0.5, 1.0)
DEF_GELU_TANH(gelu_tanh_f32, float, tanhf, GELU_SQRT2_PIF, 0.044715f, 0.5f, 1.0f)
DEF_GELU_TANH(gelu_tanh_f64, double, tanh, GELU_SQRT2_PI, 0.044715, 0.5, 1.0)

/* ---- Shrink-9 (alpha = lambd, beta = bias), ThresholdedRelu-10 (alpha) ---- */
QCAL__UNARY(shrink_f32, float, x < -p->alpha ? x + p->beta : (x > p->alpha ? x - p->beta : 0.0f))
QCAL__UNARY(shrink_f64, double,
            x < -(double)p->alpha ? x + (double)p->beta
                                  : (x > (double)p->alpha ? x - (double)p->beta : 0.0))
QCAL__UNARY(thresholded_relu_f32, float, x > p->alpha ? x : 0.0f)
QCAL__UNARY(thresholded_relu_f64, double, x > (double)p->alpha ? x : 0.0)

/* ---- Sign-9: -1, 0 or 1; NaN stays NaN and -0 gives 0 (numpy.sign) ---- */
#define SIGN_EXPR(x) ((x) > 0 ? 1 : ((x) < 0 ? -1 : 0))
QCAL__UNARY(sign_f32, float, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x == 0.0f ? 0.0f : x)))
QCAL__UNARY(sign_f64, double, x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : (x == 0.0 ? 0.0 : x)))
QCAL__UNARY(sign_i8, int8_t, SIGN_EXPR(x))
QCAL__UNARY(sign_i16, int16_t, SIGN_EXPR(x))
QCAL__UNARY(sign_i32, int32_t, SIGN_EXPR(x))
QCAL__UNARY(sign_i64, int64_t, SIGN_EXPR(x))
QCAL__UNARY(sign_u8, uint8_t, x > 0)
QCAL__UNARY(sign_u16, uint16_t, x > 0)
QCAL__UNARY(sign_u32, uint32_t, x > 0)
QCAL__UNARY(sign_u64, uint64_t, x > 0)

/* ---- IsInf-10 (alpha: detect_negative, beta: detect_positive), IsNaN-9: output bool ---- */
#define DEF_TEST(name, T, EXPR)                                                                 \
    static void name(void *o_, const void *x_, size_t n, const qcal__unary_params *p)           \
    {                                                                                           \
        uint8_t *o = o_;                                                                        \
        const T *in = x_;                                                                       \
        const bool neg = p->alpha != 0.0f, pos = p->beta != 0.0f;                               \
        (void)neg;                                                                              \
        (void)pos;                                                                              \
        for (size_t i = 0; i < n; i++) {                                                        \
            T x = in[i];                                                                        \
            o[i] = (uint8_t)(EXPR);                                                             \
        }                                                                                       \
    }
DEF_TEST(isinf_f32, float, isinf(x) && (x > 0.0f ? pos : neg))
DEF_TEST(isinf_f64, double, isinf(x) && (x > 0.0 ? pos : neg))
DEF_TEST(isnan_f32, float, isnan(x))
DEF_TEST(isnan_f64, double, isnan(x))

/* A kernel table with the float32 and float64 kernels of name. */
#define FLOATS(name) { [QCAL_DT_FLOAT] = name##_f32, [QCAL_DT_DOUBLE] = name##_f64 }

static const qcal__unary_fn CELU[NDT] = { [QCAL_DT_FLOAT] = celu_f32 };
static const qcal__unary_fn MISH[NDT] = FLOATS(mish);
static const qcal__unary_fn GELU_ERF[NDT] = FLOATS(gelu_erf);
static const qcal__unary_fn GELU_TANH[NDT] = FLOATS(gelu_tanh);
static const qcal__unary_fn SHRINK[NDT] = FLOATS(shrink);
static const qcal__unary_fn THRESHOLDED_RELU[NDT] = FLOATS(thresholded_relu);
static const qcal__unary_fn SIGN[NDT] = {
    [QCAL_DT_FLOAT] = sign_f32, [QCAL_DT_DOUBLE] = sign_f64, [QCAL_DT_INT8] = sign_i8,
    [QCAL_DT_INT16] = sign_i16, [QCAL_DT_INT32] = sign_i32,  [QCAL_DT_INT64] = sign_i64,
    [QCAL_DT_UINT8] = sign_u8,  [QCAL_DT_UINT16] = sign_u16, [QCAL_DT_UINT32] = sign_u32,
    [QCAL_DT_UINT64] = sign_u64,
};
static const qcal__unary_fn ISINF[NDT] = FLOATS(isinf);
static const qcal__unary_fn ISNAN[NDT] = FLOATS(isnan);

static qcal_status celu_infer(qcal__node *n, qcal_error *err)
{
    float alpha = qcal__attr_float(n, "alpha", 1.0f);

    if (alpha == 0.0f)
        return qcal__node_error(err, n, QCAL_E_INVALID, "alpha must not be 0");
    return qcal__unary_setup(n, CELU, alpha, 0.0f, 0.0f, err);
}

static qcal_status mish_infer(qcal__node *n, qcal_error *err)
{
    return qcal__unary_setup(n, MISH, 0.0f, 0.0f, 0.0f, err);
}

static qcal_status gelu_infer(qcal__node *n, qcal_error *err)
{
    const char *approx = qcal__attr_str(n, "approximate", "none");

    if (strcmp(approx, "none") == 0)
        return qcal__unary_setup(n, GELU_ERF, 0.0f, 0.0f, 0.0f, err);
    if (strcmp(approx, "tanh") == 0)
        return qcal__unary_setup(n, GELU_TANH, 0.0f, 0.0f, 0.0f, err);
    return qcal__node_error(err, n, QCAL_E_INVALID, "approximate '%s' (expected none or tanh)",
                            approx);
}

static qcal_status shrink_infer(qcal__node *n, qcal_error *err)
{
    return qcal__unary_setup(n, SHRINK, qcal__attr_float(n, "lambd", 0.5f),
                             qcal__attr_float(n, "bias", 0.0f), 0.0f, err);
}

static qcal_status thresholded_relu_infer(qcal__node *n, qcal_error *err)
{
    return qcal__unary_setup(n, THRESHOLDED_RELU, qcal__attr_float(n, "alpha", 1.0f), 0.0f, 0.0f,
                             err);
}

static qcal_status sign_infer(qcal__node *n, qcal_error *err)
{
    return qcal__unary_setup(n, SIGN, 0.0f, 0.0f, 0.0f, err);
}

/* The output of IsInf and IsNaN is bool of the input's shape. */
static qcal_status test_infer(qcal__node *n, const qcal__unary_fn *fns, float alpha, float beta,
                              qcal_error *err)
{
    qcal_status st = qcal__unary_setup(n, fns, alpha, beta, 0.0f, err);
    const qcal__tensor *x = n->in[0];

    if (st != QCAL_OK)
        return st;
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_BOOL, x->rank, x->dims, err);
}

static qcal_status isinf_infer(qcal__node *n, qcal_error *err)
{
    return test_infer(n, ISINF, qcal__attr_int(n, "detect_negative", 1) != 0 ? 1.0f : 0.0f,
                      qcal__attr_int(n, "detect_positive", 1) != 0 ? 1.0f : 0.0f, err);
}

static qcal_status isnan_infer(qcal__node *n, qcal_error *err)
{
    return test_infer(n, ISNAN, 0.0f, 0.0f, err);
}

#define LAST QCAL__OPSET_LAST
#define RUN qcal__unary_run

const qcal__op qcal__ops_act[] = {
    { "Celu", 12, LAST, celu_infer, RUN, 0 },
    { "Gelu", 20, LAST, gelu_infer, RUN, 0 },
    { "IsInf", 10, LAST, isinf_infer, RUN, 0 },
    { "IsNaN", 9, LAST, isnan_infer, RUN, 0 },
    { "Mish", 18, LAST, mish_infer, RUN, 0 },
    { "Shrink", 9, LAST, shrink_infer, RUN, 0 },
    { "Sign", 9, LAST, sign_infer, RUN, 0 },
    { "ThresholdedRelu", 10, LAST, thresholded_relu_infer, RUN, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
