/*
 * Trigonometric and hyperbolic operators (ONNX Acos, Asin, Atan, Cos, Sin, Tan: opset 7;
 * Acosh, Asinh, Atanh, Cosh, Sinh: opset 9; opset 22 only adds bfloat16, which the loader widens).
 * Element-wise through the libm function of the element type: float32 calls the f-suffixed
 * function (acosf, ...), float64 the double one. Out-of-domain inputs give NaN as libm does.
 */
#include <math.h>

#include "ops/unary_impl.h"

/* X(op, float32 libm function, float64 libm function) */
#define TRIG_OPS(X)                                                                             \
    X(acos, acosf, acos)                                                                        \
    X(acosh, acoshf, acosh)                                                                     \
    X(asin, asinf, asin)                                                                        \
    X(asinh, asinhf, asinh)                                                                     \
    X(atan, atanf, atan)                                                                        \
    X(atanh, atanhf, atanh)                                                                     \
    X(cos, cosf, cos)                                                                           \
    X(cosh, coshf, cosh)                                                                        \
    X(sin, sinf, sin)                                                                           \
    X(sinh, sinhf, sinh)                                                                        \
    X(tan, tanf, tan)

#define DEF_TRIG(op, F32, F64)                                                                  \
    QCAL__UNARY(op##_f32, float, F32(x))                                                        \
    QCAL__UNARY(op##_f64, double, F64(x))                                                       \
    static qcal_status op##_infer(qcal__node *n, qcal_error *err)                               \
    {                                                                                           \
        static const qcal__unary_fn fns[QCAL__UNARY_NDT] = {                                    \
            [QCAL_DT_FLOAT] = op##_f32,                                                         \
            [QCAL_DT_DOUBLE] = op##_f64,                                                        \
        };                                                                                      \
        return qcal__unary_setup(n, fns, 0.0f, 0.0f, 0.0f, err);                                \
    }

TRIG_OPS(DEF_TRIG)

#define LAST QCAL__OPSET_LAST
#define RUN qcal__unary_run

const qcal__op qcal__ops_trig[] = {
    { "Acos", 7, LAST, acos_infer, RUN, 0 },
    { "Acosh", 9, LAST, acosh_infer, RUN, 0 },
    { "Asin", 7, LAST, asin_infer, RUN, 0 },
    { "Asinh", 9, LAST, asinh_infer, RUN, 0 },
    { "Atan", 7, LAST, atan_infer, RUN, 0 },
    { "Atanh", 9, LAST, atanh_infer, RUN, 0 },
    { "Cos", 7, LAST, cos_infer, RUN, 0 },
    { "Cosh", 9, LAST, cosh_infer, RUN, 0 },
    { "Sin", 7, LAST, sin_infer, RUN, 0 },
    { "Sinh", 9, LAST, sinh_infer, RUN, 0 },
    { "Tan", 7, LAST, tan_infer, RUN, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
